# SPDX-License-Identifier: MIT
# Assembles, every run, what changes between runs: the project's binaries
# and the libraries they need, the harness's guest scripts and scenarios, the
# kernel modules, and the domU image. Sourced by run.sh.

# find_bin NAME: the project's executable NAME in the build directory.
find_bin() {
	find "$BUILD" -type f -name "$1" -perm -u+x -not -path '*/CMakeFiles/*' \
		-not -path "$WORK/*" 2>/dev/null | head -1
}

# install_bin FILE ROOT LIBLIST [DEST]: copies an executable (or a library)
# into ROOT/opt/pvcalls/bin (or ROOT/DEST) and every shared library it loads
# (ldd on the host) that the image's base does not provide (LIBLIST:
# basenames in the base) into ROOT's libdir.
install_bin() {
	local f=$1 root=$2 libs=$3 dest=${4:-opt/pvcalls/bin} lib name
	mkdir -p "$root/$dest" "$root/usr/lib/x86_64-linux-gnu"
	cp -L "$f" "$root/$dest/"
	{ ldd "$f" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
	while read -r lib; do
		name=${lib##*/}
		grep -qxF "$name" "$libs" && continue
		[ -e "$root/usr/lib/x86_64-linux-gnu/$name" ] && continue
		cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/$name"
		echo "$name" >> "$WORK/copied-libs"
	done
	if ldd "$f" 2>/dev/null | grep -q 'not found'; then
		log "   WARNING: $(basename "$f"): $(ldd "$f" | grep 'not found' | tr -s ' \t' ' ')"
	fi
}

# scenario_meta FILE KEY: the value of a "# KEY: value" header line.
scenario_meta() {
	sed -n "s/^# $2: *//p" "$1" | head -1
}

overlay() {
	phase overlay "project binaries, scenarios, domU image"
	local d0=$WORK/dom0-overlay du=$WORK/domu-overlay f n name needs b path r
	rm -rf "$d0" "$du" "$WORK/copied-libs"
	mkdir -p "$d0/harness/scenarios" "$du/harness/scenarios" "$d0/lib/modules/pvcalls" \
		"$du/lib/modules/pvcalls" "$d0/boot" "$d0/opt/pvcalls/bin" "$du/opt/pvcalls/bin"
	: > "$WORK/copied-libs"

	# Scenarios, and the project binaries they declare ("# needs:").
	needs=
	XH_TIMEOUT_SUM=0
	for n in "${SCENARIOS[@]}"; do
		for f in "$HERE"/scenarios/$(printf '%02d' "$n")-*.sh; do
			[ -e "$f" ] || continue
			case $f in
			*.domu.sh) cp "$f" "$du/harness/scenarios/" ;;
			*) cp "$f" "$d0/harness/scenarios/"
			   XH_TIMEOUT_SUM=$((XH_TIMEOUT_SUM + $(scenario_meta "$f" timeout))) ;;
			esac
			needs="$needs $(scenario_meta "$f" needs)"
		done
	done
	local found=() missing=()
	for b in $(echo "$needs" | tr ' ' '\n' | sort -u); do
		path=$(find_bin "$b")
		if [ -n "$path" ]; then
			install_bin "$path" "$d0" "$BASE/dom0.libs"
			install_bin "$path" "$du" "$BASE/domu.libs"
			found+=("$b")
		else
			missing+=("$b")
		fi
	done
	# pvcalls-run needs the shim next to it (its search path) and the
	# shim dlopen()s the Xen transport by soname (ldd cannot see that).
	case " ${found[*]} " in *" pvcalls-run "*)
		for b in libpvcalls-preload.so libpvcalls-xen.so.0; do
			path=$(find "$BUILD" -name "$b" \( -type f -o -type l \) -not -path '*/CMakeFiles/*' \
				-not -path "$WORK/*" 2>/dev/null | head -1)
			if [ -z "$path" ]; then
				missing+=("$b")
				continue
			fi
			for r in "$d0:$BASE/dom0.libs" "$du:$BASE/domu.libs"; do
				if [ "$b" = libpvcalls-preload.so ]; then
					install_bin "$path" "${r%%:*}" "${r#*:}"
				else
					install_bin "$path" "${r%%:*}" "${r#*:}" usr/lib/x86_64-linux-gnu
				fi
			done
			found+=("$b")
		done ;;
	esac
	# Unmodified Debian programs from the host ("# host-programs:" of a
	# scenario's script: into dom0's image; of a .domu.sh: into the domU's),
	# with the libraries they load that the image lacks.
	for n in "${SCENARIOS[@]}"; do
		for f in "$HERE"/scenarios/$(printf '%02d' "$n")-*.sh; do
			[ -e "$f" ] || continue
			for b in $(scenario_meta "$f" host-programs); do
				path=$(command -v "$b" 2>/dev/null) || path=
				if [ -z "$path" ]; then
					missing+=("host:$b")
					continue
				fi
				case $f in
				*.domu.sh) install_bin "$path" "$du" "$BASE/domu.libs" ;;
				*) install_bin "$path" "$d0" "$BASE/dom0.libs" ;;
				esac
				found+=("host:$b")
			done
		done
	done
	log "   project binaries from $BUILD: ${found[*]:-none}"
	[ ${#missing[@]} -eq 0 ] || log "   not built (their checks will FAIL): ${missing[*]}"
	local copied
	copied=$(sort -u "$WORK/copied-libs" | tr '\n' ' ')
	[ -z "$copied" ] || log "   libraries added to the images: $copied"

	# Helpers, modules, guest scripts.
	for b in xh-peer xh-env; do
		install_bin "$TOOLS_DIR/$b" "$d0" "$BASE/dom0.libs"
		install_bin "$TOOLS_DIR/$b" "$du" "$BASE/domu.libs"
	done
	if [ -n "$KMOD_DIR" ]; then
		cp "$KMOD_DIR"/*.ko "$d0/lib/modules/pvcalls/"
		cp "$KMOD_DIR/pvcalls_kmod_test.ko" "$du/lib/modules/pvcalls/"
	fi
	cp "$HERE/guest/lib.sh" "$d0/harness/lib.sh"
	cp "$HERE/guest/lib.sh" "$du/harness/lib.sh"
	cp "$HERE/guest/dom0-init.sh" "$d0/init"
	cp "$HERE/guest/domu-init.sh" "$du/init"
	chmod +x "$d0/init" "$du/init" "$d0"/opt/pvcalls/bin/* "$du"/opt/pvcalls/bin/*

	XH_WATCHDOG=$((XH_TIMEOUT_SUM + 120))
	local cfg
	cfg=$(printf 'XH_XV=%s\nXH_WATCHDOG=%s\nXH_MISSING="%s"\nXH_KMOD_ERR="%s"\n' \
		"$XV" "$XH_WATCHDOG" "${missing[*]}" "$KMOD_ERR")
	echo "$cfg" > "$d0/harness/config"
	echo "$cfg" > "$du/harness/config"

	mkcpio "$du" "$WORK/domu-overlay.cpio.gz"
	# Linux unpacks concatenated archives in order: base, then overlay.
	# The domU's are concatenated uncompressed, in one gzip stream: xl's
	# domain builder (libxenguest) inflates a gzipped ramdisk itself, sized
	# by the gzip trailer at the end of the file (the last stream's) and
	# inflating only the first stream; with two streams and an overlay
	# bigger than the base, the domU got the base alone (no /init: "VFS:
	# Unable to mount root fs").
	{ gzip -dc "$BASE/domu-base.cpio.gz" && gzip -dc "$WORK/domu-overlay.cpio.gz"; } |
		gzip -1 > "$d0/boot/domu.cpio.gz"
	mkcpio "$d0" "$WORK/dom0-overlay.cpio.gz"
	cat "$BASE/dom0-base.cpio.gz" "$WORK/dom0-overlay.cpio.gz" > "$WORK/dom0.cpio.gz"
	phase_end "dom0 initrd $(du -h "$WORK/dom0.cpio.gz" | cut -f1)"
}
