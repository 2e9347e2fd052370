# SPDX-License-Identifier: MIT
# Builds what the guests run: the base images (cached by package versions),
# the kernel modules (cached by kernel and source), the harness's helper
# programs (cached by source) and, every run, the overlay with the project's
# binaries and the scenarios. Sourced by run.sh.

# Bump when the layout of the base images changes.
XH_BASE_FORMAT=3

BB=                  # busybox on the host (from busybox-static): cpio, unxz
mkcpio() { # DIR OUT: newc archive of DIR, gzip -1 (the host has no cpio)
	(cd "$1" && find . | "$BB" cpio -o -H newc 2>/dev/null | gzip -1 > "$2")
}

# unpack PKG DEST: dpkg -x of a cached package.
unpack() { dpkg -x "$(deb "$1")" "$2"; }

# Drops what a test image does not need from an unpacked tree.
slim() {
	rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale \
		"$1"/usr/share/lintian "$1"/usr/share/bug "$1"/usr/share/info \
		"$1"/usr/lib/x86_64-linux-gnu/gconv "$1"/usr/share/zoneinfo
}

# Basenames of the libraries an unpacked tree provides (for the overlay's
# "copy only what the image lacks" rule).
lib_names() {
	find "$1/lib" "$1/usr/lib" \( -name '*.so' -o -name '*.so.*' \) 2>/dev/null |
		sed 's#.*/##' | sort -u
}

# vmlinux_of BZIMAGE: the uncompressed kernel ELF inside a bzImage (xz, as
# Debian builds it; the payload starts at the xz magic).
vmlinux_of() { # BZIMAGE OUT
	local off
	off=$(grep -abo -m1 $'\xfd7zXZ' "$1" | head -1 | cut -d: -f1)
	[ -n "$off" ] || return 1
	xz -dc --single-stream < <(tail -c +$((off + 1)) "$1") > "$2" 2>/dev/null || return 1
	[ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ]
}

base_images() {
	phase base "dom0/domU base images (Xen, kernel, busybox, glibc, Xen tools)"
	local key dir tmp
	key=$(ls "$CACHE/debs" | grep -v -e '^linux-source' -e '^linux-headers' -e '^linux-kbuild' |
		sort | { cat; echo "format=$XH_BASE_FORMAT"; } | sha256sum | cut -c1-16)
	dir=$CACHE/base/$key
	BASE=$dir
	BB=$dir/busybox
	if [ -f "$dir/done" ]; then
		phase_end "cached ($key)"
		return 0
	fi
	rm -rf "$CACHE/base"
	tmp=$CACHE/base/tmp.$$
	mkdir -p "$tmp/x" "$tmp/dom0" "$tmp/domu"
	unpack busybox-static "$tmp/x"
	cp "$tmp/x/bin/busybox" "$tmp/busybox"
	BB=$tmp/busybox
	# Xen: Debian ships a gzipped ELF; QEMU's multiboot loader wants it plain.
	unpack "xen-hypervisor-$XV-amd64" "$tmp/x"
	zcat "$tmp/x/boot/xen-$XV-amd64.gz" > "$tmp/xen"
	# The kernel package is 70 MB / 400 MB unpacked: take /boot and drivers/xen.
	dpkg-deb --fsys-tarfile "$(deb "linux-image-$KVER")" |
		tar -x -C "$tmp/x" --wildcards './boot/*' "./lib/modules/$KVER/kernel/drivers/xen/*"
	cp "$tmp/x/boot/vmlinuz-$KVER" "$tmp/vmlinuz"
	local m xmods=$tmp/x/lib/modules/$KVER/kernel/drivers/xen

	# dom0: glibc, busybox, xenstored/xl/xen-init-dom0, xenstore-*, the libraries.
	for p in libc6 libgcc-s1 libuuid1 zlib1g liblzma5 libzstd1 libbz2-1.0 libtinfo6 \
		libncurses6 libyajl2 libxenstore4 libxengnttab1 libxenevtchn1 "libxenmisc$XV" \
		libxentoolcore1 libxentoollog1 libxencall1 libxenforeignmemory1 \
		libxendevicemodel1 libxenhypfs1 "xen-utils-$XV" xen-utils-common \
		xenstore-utils busybox-static; do
		unpack "$p" "$tmp/dom0"
	done
	slim "$tmp/dom0"
	mkdir -p "$tmp/dom0/lib/modules/xen" "$tmp/dom0/boot"
	for m in xenfs/xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd; do
		cp "$xmods/$m.ko" "$tmp/dom0/lib/modules/xen/"
	done
	# The domUs' kernel, decompressed here: xl would otherwise unpack the
	# xz payload inside dom0, which takes long under TCG.
	vmlinux_of "$tmp/vmlinuz" "$tmp/dom0/boot/vmlinux" ||
		cp "$tmp/vmlinuz" "$tmp/dom0/boot/vmlinux"
	lib_names "$tmp/dom0" > "$tmp/dom0.libs"

	# domU: glibc, busybox, the stable Xen libraries, xenstore-*.
	for p in libc6 libgcc-s1 libxenstore4 libxengnttab1 libxenevtchn1 libxentoolcore1 \
		libxentoollog1 xenstore-utils busybox-static; do
		unpack "$p" "$tmp/domu"
	done
	slim "$tmp/domu"
	mkdir -p "$tmp/domu/lib/modules/xen"
	for m in xen-evtchn xen-gntdev xen-gntalloc; do
		cp "$xmods/$m.ko" "$tmp/domu/lib/modules/xen/"
	done
	lib_names "$tmp/domu" > "$tmp/domu.libs"

	mkcpio "$tmp/dom0" "$tmp/dom0-base.cpio.gz"
	mkcpio "$tmp/domu" "$tmp/domu-base.cpio.gz"
	rm -rf "$tmp/x" "$tmp/dom0" "$tmp/domu"
	mv "$tmp" "$dir"
	BB=$dir/busybox
	touch "$dir/done"
	phase_end "dom0 $(du -h "$dir/dom0-base.cpio.gz" | cut -f1), domU $(du -h "$dir/domu-base.cpio.gz" | cut -f1)"
}

# Linux's pvcalls-back.ko and pvcalls-front.ko, built out of tree from
# linux-source's drivers/xen/pvcalls-*.c against the matching linux-headers,
# and the harness's test module (kmod/), which compiles pvcalls-front.c in.
kernel_modules() {
	phase kmod "pvcalls-back/pvcalls-front/pvcalls_kmod_test modules"
	local ksrc=$CACHE/ksrc/$KPKG kh=$CACHE/kh/$KVER key out b
	KMOD_DIR=
	KMOD_ERR=
	key=$(hash_of "$HERE"/kmod/*)${PVCALLS_XEN_FIX_LINUX:+-fixed}
	out=$CACHE/kmod/$KVER-$key
	if [ -f "$out/done" ]; then
		KMOD_DIR=$out
		phase_end "cached"
		return 0
	fi
	# Only the three pvcalls files are kept from linux-source (139 MB).
	if [ ! -f "$ksrc/pvcalls-front.c" ]; then
		log "   extracting drivers/xen/pvcalls* from linux-source-$KSER"
		rm -rf "$CACHE/ksrc" && mkdir -p "$ksrc"
		local src
		src=$(deb "linux-source-$KSER")
		if ! dpkg-deb --fsys-tarfile "$src" |
			tar -xO "./usr/src/linux-source-$KSER.tar.xz" |
			tar -xJ -C "$ksrc" --strip-components=3 --wildcards \
				"linux-source-$KSER/drivers/xen/pvcalls*"; then
			KMOD_ERR="cannot extract pvcalls sources from $src"
		fi
		# The sources are cached: the 139 MB package is not needed again.
		[ -f "$ksrc/pvcalls-front.c" ] && rm -f "$src"
	fi
	if [ -z "$KMOD_ERR" ] && [ ! -f "$kh/done" ]; then
		log "   unpacking linux-headers-$KVER"
		rm -rf "$CACHE/kh" && mkdir -p "$kh"
		for b in "linux-headers-$KVER" "linux-headers-$KABI-common" "linux-kbuild-$KSER"; do
			unpack "$b" "$kh"
		done
		# The headers' Makefile includes the common part by absolute path.
		sed -i "s#^include /usr/src/#include $kh/usr/src/#" \
			"$kh/usr/src/linux-headers-$KVER/Makefile"
		touch "$kh/done"
	fi
	if [ -z "$KMOD_ERR" ]; then
		b=$WORK/kmod-build
		rm -rf "$b" && mkdir -p "$b"
		cp "$ksrc"/pvcalls-* "$HERE"/kmod/* "$b/"
		# Linux's pvcalls-back with its lost late EOI fixed, as a module
		# of its own (pvcalls_back_fixed): scenario 6's reference run.
		cp "$b/pvcalls-back.c" "$b/pvcalls-back-fixed.c"
		if ! patch -s "$b/pvcalls-back-fixed.c" < "$b/pvcalls-back-lateeoi.patch"; then
			log "   WARNING: pvcalls-back-lateeoi.patch does not apply: no pvcalls-back-fixed"
			sed -i 's/ pvcalls-back-fixed\.o//' "$b/Kbuild"
			rm -f "$b/pvcalls-back-fixed.c"
		fi
		if [ -n "${PVCALLS_XEN_FIX_LINUX:-}" ]; then
			# Opt-in: pvcalls-back with its lost late EOI fixed
			# (docs/xen-harness.md, "Linux's pvcalls drivers").
			if ! (cd "$b" && patch -s -p3 < pvcalls-back-lateeoi.patch); then
				log "   WARNING: pvcalls-back-lateeoi.patch does not apply: pvcalls-back unpatched"
			fi
		fi
		if make -C "$kh/usr/src/linux-headers-$KVER" M="$b" modules \
			> "$WORK/kmod-build.log" 2>&1; then
			rm -rf "$out" && mkdir -p "$out"
			for m in pvcalls-back pvcalls-back-fixed pvcalls-front pvcalls_kmod_test; do
				[ -f "$b/$m.ko" ] || continue
				strip --strip-debug -o "$out/$m.ko" "$b/$m.ko"
			done
			touch "$out/done"
			KMOD_DIR=$out
			# 83 MB unpacked; the .debs stay cached for the next rebuild.
			rm -rf "$CACHE/kh"
		else
			KMOD_ERR="module build failed, see $WORK/kmod-build.log"
			tail -20 "$WORK/kmod-build.log" >&2
		fi
	fi
	if [ -n "$KMOD_ERR" ]; then
		log "   WARNING: $KMOD_ERR (scenarios needing the modules will fail)"
		phase_end "FAILED"
	else
		phase_end "built"
	fi
}

# The harness's own helper programs (tools/), built with the host compiler.
helpers() {
	phase helpers "xh-peer, xh-env"
	local key out
	key=$(hash_of "$HERE"/tools/*.c)
	out=$CACHE/tools/$key
	TOOLS_DIR=$out
	if [ -f "$out/done" ]; then
		phase_end "cached"
		return 0
	fi
	rm -rf "$CACHE/tools" && mkdir -p "$out"
	gcc -O2 -Wall -Wextra -static -o "$out/xh-peer" "$HERE/tools/xh_peer.c" ||
		die "cannot build xh-peer"
	# Dynamic on purpose: a static libxenstore breaks watches.
	gcc -O2 -Wall -Wextra -o "$out/xh-env" "$HERE/tools/xh_env.c" \
		-lxenstore -lxengnttab -lxenevtchn || die "cannot build xh-env (libxen-dev?)"
	touch "$out/done"
	phase_end "built"
}
