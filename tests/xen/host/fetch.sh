# SPDX-License-Identifier: MIT
# Host prerequisites, version resolution and package downloads.
# Sourced by run.sh; uses host/lib.sh.

# Debian packages the host needs (installed by the harness when run as root):
#   qemu-system-x86   qemu-system-x86_64 (TCG)
#   build-essential   gcc/make to build the helpers and the kernel modules
#   libxen-dev        headers and libraries for the harness's env probe
#   libelf1 libssl3   the linux-kbuild tools (objtool, sign-file) link them
#   xz-utils          unpacks linux-source's .tar.xz
# The guest side (busybox, glibc, Xen, the kernel) is never installed on the
# host: it is fetched with `apt-get download` and unpacked with `dpkg -x`.
XH_HOST_PACKAGES="qemu-system-x86 build-essential libxen-dev libelf1 libssl3 xz-utils"

xh_missing_host_packages() {
	local p missing=()
	for p in $XH_HOST_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	echo "${missing[*]}"
}

# xh_meta: the two metapackages' records; they name the current kernel ABI
# (linux-image-amd64 -> linux-image-6.1.0-N-amd64 (= version)) and Xen
# series (xen-system-amd64 -> xen-hypervisor-4.17-amd64). As root, runs
# apt-get update once if apt's index does not know them.
xh_meta() {
	local m
	m=$(apt-cache show --no-all-versions linux-image-amd64 xen-system-amd64 2>/dev/null) || m=
	if [ -z "$m" ] && is_root; then
		log "   apt's index lacks the Xen/kernel packages: apt-get update" >&2
		apt-get update -qq >/dev/null 2>&1 || true
		m=$(apt-cache show --no-all-versions linux-image-amd64 xen-system-amd64 2>/dev/null) || m=
	fi
	echo "$m"
}

prereqs() {
	phase prereqs "host tools"
	command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
		skip "no apt-get/dpkg: not a Debian host"
	[ "$(dpkg --print-architecture)" = amd64 ] ||
		skip "host architecture $(dpkg --print-architecture), the harness needs amd64"
	local missing
	missing=$(xh_missing_host_packages)
	if [ -n "$missing" ]; then
		if ! is_root || [ -n "${XH_NO_INSTALL:-}" ]; then
			skip "missing host packages; install them with: apt-get install --no-install-recommends $missing"
		fi
		log "   installing: $missing"
		export DEBIAN_FRONTEND=noninteractive
		local t0=$SECONDS
		if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
			apt-get update -qq >/dev/null 2>&1 || true
			apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
				skip "cannot install host packages ($missing): no access to a Debian mirror?"
		fi
		log "   installed in $((SECONDS - t0)) s"
	fi
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found"
	phase_end
}

# Sets XV (Xen series), KVER (kernel ABI name), KPKG (its package version),
# KSER (6.1) from the apt index, or from the cache's last manifest when the
# index is unusable (offline, non-root, no apt-get update ever run).
resolve_versions() {
	phase resolve "package versions"
	local manifest=$CACHE/manifest meta
	meta=$(xh_meta)
	KVER=$(echo "$meta" | sed -n 's/^Depends: linux-image-\([0-9][^ ,]*\) (= \([^)]*\)).*/\1/p' | head -1)
	KPKG=$(echo "$meta" | sed -n 's/^Depends: linux-image-\([0-9][^ ,]*\) (= \([^)]*\)).*/\2/p' | head -1)
	XV=$(echo "$meta" | sed -n 's/^Depends: .*xen-hypervisor-\([0-9.]*\)-amd64.*/\1/p' | head -1)
	if [ -z "${XV:-}" ] || [ -z "${KVER:-}" ] || [ -z "${KPKG:-}" ]; then
		[ -f "$manifest" ] ||
			skip "apt cannot resolve the Xen/kernel packages and the cache ($CACHE) is empty"
		log "   apt index unusable: using the cached manifest"
		. "$manifest"
		XH_OFFLINE=1
	fi
	KSER=$(echo "$KVER" | cut -d. -f1-2)
	KABI=${KVER%-amd64}
	log "   Xen $XV, kernel $KVER ($KPKG)"
	phase_end
}

# The guest packages: name=version list, resolved by apt (candidate).
guest_packages() {
	echo "xen-hypervisor-$XV-amd64 linux-image-$KVER busybox-static"
	echo "xen-utils-$XV xen-utils-common xenstore-utils"
	echo "libxenstore4 libxengnttab1 libxenevtchn1 libxenmisc$XV libxentoolcore1"
	echo "libxentoollog1 libxencall1 libxenforeignmemory1 libxendevicemodel1 libxenhypfs1"
	echo "libyajl2 libc6 libgcc-s1 libuuid1 zlib1g liblzma5 libzstd1 libbz2-1.0"
	echo "libtinfo6 libncurses6"
}
# Only to build pvcalls-back.ko/pvcalls-front.ko (linux-source is the big one,
# and only drivers/xen/pvcalls* is kept from it).
kbuild_packages() {
	echo "linux-headers-$KVER linux-headers-$KABI-common linux-kbuild-$KSER=$KPKG"
	[ -f "$CACHE/ksrc/$KPKG/pvcalls-front.c" ] || echo "linux-source-$KSER=$KPKG"
}

# deb_files PKG...: prints "package=version file size" per candidate, where
# file is the name apt-get download gives it (an epoch's ':' becomes %3a).
deb_files() {
	apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
		/^Package:/ { p = $2 } /^Version:/ { v = $2 } /^Architecture:/ { a = $2 }
		/^Size:/ { f = v; sub(":", "%3a", f); print p "=" v, p "_" f "_" a ".deb", $2 }'
}

fetch() {
	phase fetch "apt-get download into $CACHE/debs"
	mkdir -p "$CACHE/debs"
	XH_DOWNLOADED=0
	if [ -n "${XH_OFFLINE:-}" ]; then
		local p
		for p in $(guest_packages) $(kbuild_packages); do
			p=${p%%=*}
			ls "$CACHE/debs/${p}"_*.deb > /dev/null 2>&1 ||
				skip "apt cannot resolve packages (offline?) and $p is not in the cache"
		done
		phase_end "offline: using cached packages"
		return 0
	fi
	local pkgs list want=() keep=() total=0 spec f s
	# shellcheck disable=SC2207
	pkgs=($(guest_packages) $(kbuild_packages))
	list=$(deb_files "${pkgs[@]}")
	[ "$(echo "$list" | grep -c .)" -ge "${#pkgs[@]}" ] ||
		skip "apt knows only some of: ${pkgs[*]} (not Debian bookworm?)"
	while read -r spec f s; do
		total=$((total + s))
		keep+=("$f")
		[ -f "$CACHE/debs/$f" ] || want+=("$spec")
	done <<< "$list"
	# Drop packages of older versions (security updates) so the cache stays small.
	for f in "$CACHE"/debs/*.deb; do
		[ -e "$f" ] || continue
		case " ${keep[*]} " in *" ${f##*/} "*) ;; *) rm -f "$f" ;; esac
	done
	# The manifest lets a later run work offline from this cache.
	printf 'XV=%s\nKVER=%s\nKPKG=%s\n' "$XV" "$KVER" "$KPKG" > "$CACHE/manifest"
	if [ ${#want[@]} -eq 0 ]; then
		phase_end "all ${#pkgs[@]} packages cached ($(human $total))"
		return 0
	fi
	log "   downloading ${#want[@]} of ${#pkgs[@]} packages ($(human $total) in all)"
	local t0=$SECONDS before after
	before=$(du -sb "$CACHE/debs" | cut -f1)
	# apt-get download writes into the current directory. As root apt warns
	# that it cannot drop privileges for a root-owned directory: harmless.
	(cd "$CACHE/debs" && apt-get download -q "${want[@]}" 2>&1) |
		grep -vE 'unsandboxed|^Get:|^$' >&2 || true
	while read -r spec f s; do
		[ -f "$CACHE/debs/$f" ] || skip "download of $spec failed: no access to Debian's mirror?"
	done <<< "$list"
	after=$(du -sb "$CACHE/debs" | cut -f1)
	XH_DOWNLOADED=$((after - before))
	phase_end "$(human $XH_DOWNLOADED) downloaded in $((SECONDS - t0)) s"
}

# deb PKG: the cached .deb of a package (newest if several).
deb() {
	local f
	f=$(ls -1 "$CACHE/debs/$1"_*.deb 2>/dev/null | sort -V | tail -1)
	[ -n "$f" ] || die "package $1 is not in the cache"
	echo "$f"
}
