# SPDX-License-Identifier: MIT
# Boots Xen with the harness's dom0 under QEMU, streams the serial console
# into a log while showing progress, and turns the log into the result.
# Sourced by run.sh.

# serial_reader LOG: reads QEMU's serial output on stdin; writes every line,
# time-stamped from the start of the boot, to LOG; shows markers as they come
# and a heartbeat while nothing visible happens.
serial_reader() {
	local log=$1 line buf='' eof='' r t0 us where="Xen" since=$SECONDS last=$SECONDS seen_linux=
	t0=${EPOCHREALTIME/./}
	exec 3>> "$log"
	while [ -z "$eof" ]; do
		if IFS= read -r -t 5 line; then
			line=$buf$line
			buf=
		else
			r=$?
			if [ $r -gt 128 ]; then # timeout; keep a partial line
				buf=$buf$line
				if [ $((SECONDS - last)) -ge 30 ]; then
					log "   ... $where, for $((SECONDS - since))s (serial log: $(wc -l < "$log") lines)"
					last=$SECONDS
				fi
				continue
			fi
			line=$buf$line
			eof=1
			[ -n "$line" ] || break
		fi
		line=${line//$'\r'/}
		us=$((${EPOCHREALTIME/./} - t0))
		printf '[%4d.%02d] %s\n' $((us / 1000000)) $((us % 1000000 / 10000)) "$line" >&3
		if [ -n "$VERBOSE" ]; then
			printf '      | %s\n' "$line"
		fi
		case $line in
		*"(XEN) Xen version"*)
			log "   Xen is booting: ${line#*Xen version }"; where="Xen boot"; last=$SECONDS ;;
		*"Linux version"*)
			if [ -z "$seen_linux" ]; then
				log "   dom0 kernel is booting"; where="dom0 kernel boot"; last=$SECONDS
				seen_linux=1
			fi ;;
		*PVCALLS-PHASE*)
			line=${line#*PVCALLS-PHASE }
			log "   dom0: $line"; where="dom0 ${line%% *}"; last=$SECONDS; since=$SECONDS ;;
		*PVCALLS-SCENARIO-BEGIN*)
			line=${line#*PVCALLS-SCENARIO-BEGIN }
			log "-- scenario $line"; where="scenario ${line%% timeout*}"; last=$SECONDS; since=$SECONDS ;;
		*PVCALLS-SCENARIO-END*)
			log "   scenario ${line#*PVCALLS-SCENARIO-END } s"; last=$SECONDS ;;
		*PVCALLS-RESULT*)
			line=${line#*PVCALLS-RESULT }
			local name=${line%% *} rest=${line#* }
			log "   ${rest%% *} $name ${rest#* }"; last=$SECONDS ;;
		*PVCALLS-STEP*)
			log "   .. ${line#*PVCALLS-STEP }"; last=$SECONDS ;;
		*PVCALLS-WATCHDOG* | *"Kernel panic"* | *"(XEN) Panic"* | *"BUG: "* | *"Oops"* | \
		*"general protection"* | *"(XEN) ****"*)
			log "   !! $line"; last=$SECONDS ;;
		esac
	done
	exec 3>&-
}

boot() {
	phase boot "Xen + dom0 under qemu-system-x86_64 -accel tcg -cpu qemu64"
	SERIAL_LOG=$WORK/serial.log
	: > "$SERIAL_LOG"
	XH_QEMU_TIMEOUT=$((XH_WATCHDOG + 90))
	# QEMU's multiboot modules are "file cmdline" items separated by commas:
	# no commas in the dom0 command line, nor in the paths.
	case "$BASE$WORK" in
	*,* | *" "*) die "the cache and build paths must not contain commas or spaces" ;;
	esac
	log "   serial log: $SERIAL_LOG (time limit ${XH_QEMU_TIMEOUT}s)"
	set +e
	# The pid file lets run.sh's exit trap stop QEMU if the harness is
	# interrupted (timeout puts QEMU in a process group of its own).
	sh -c 'echo $$ > "$0"; exec "$@"' "$WORK/qemu.pid" \
		timeout -k 5 "$XH_QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu qemu64 -m 2048 -smp 2 \
		-nographic -display none -monitor none -serial stdio -no-reboot \
		-kernel "$BASE/xen" \
		-append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all" \
		-initrd "$BASE/vmlinuz console=hvc0 earlyprintk=xen panic=-1,$WORK/dom0.cpio.gz" \
		< /dev/null 2>&1 | serial_reader "$SERIAL_LOG"
	QEMU_RC=${PIPESTATUS[0]}
	rm -f "$WORK/qemu.pid"
	set -e
	case $QEMU_RC in
	0) phase_end "dom0 powered off" ;;
	124 | 137) phase_end "killed after ${XH_QEMU_TIMEOUT}s" ;;
	*) phase_end "qemu exit status $QEMU_RC" ;;
	esac
}

# report: the result lines of the log, a FAIL for each scenario that did not
# finish, the notes, the timings, and the closing "N passed, N failed".
report() {
	local log=$SERIAL_LOG res n name pass=0 failc=0 v
	res=$WORK/results
	grep -a -o 'PVCALLS-RESULT .*' "$log" | sed 's/^PVCALLS-RESULT //' > "$res" || true
	if ! grep -q 'PVCALLS-PHASE ready' "$log"; then
		echo "harness.boot FAIL dom0 did not get ready (qemu exit $QEMU_RC); last lines of $log:" >> "$res"
		tail -8 "$log" | sed 's/^/    /' >&2
	fi
	for n in "${SCENARIOS[@]}"; do
		grep -q "PVCALLS-SCENARIO-END $n " "$log" && continue
		name=$(basename "$(scenario_file "$n")" .sh)
		if grep -q "PVCALLS-SCENARIO-BEGIN $n " "$log"; then
			echo "s$n.incomplete FAIL scenario ${name#*-} did not finish (qemu exit $QEMU_RC)" >> "$res"
		else
			echo "s$n.not-run FAIL scenario ${name#*-} never started (qemu exit $QEMU_RC)" >> "$res"
		fi
	done
	echo
	echo "== results (serial log: $log)"
	while read -r name v rest; do
		case $v in
		PASS) pass=$((pass + 1)) ;;
		*) failc=$((failc + 1)); v=FAIL ;;
		esac
		printf '%s %-34s %s\n' "$v" "$name" "$rest"
	done < "$res"
	if grep -q 'PVCALLS-NOTE' "$log"; then
		echo "== notes (DIVERGES: a backend does what its conformance profile documents)"
		grep -a -o 'PVCALLS-NOTE .*' "$log" | sed 's/^PVCALLS-NOTE /  /'
	fi
	echo "== timings: ${XH_TIMINGS[*]/%/;} total $((SECONDS - XH_T0))s; downloaded $(human "${XH_DOWNLOADED:-0}")"
	echo "$pass passed, $failc failed"
	[ "$failc" -eq 0 ] && [ "$pass" -gt 0 ]
}
