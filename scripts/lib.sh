# SPDX-License-Identifier: MIT
# Shared by demo.sh and test.sh: install what is missing, configure, build.

PVCALLS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Debian packages the build and the tests need (build-essential for gcc/make;
# curl, redis, iperf3 and nginx are the real programs tests/preload runs).
# README.md and .ci/run name the same list (ctest pvcalls.packages checks).
PVCALLS_PACKAGES="build-essential cmake pkg-config check libsubunit-dev libxen-dev libinih-dev libjson-c-dev libc-ares-dev python3 curl redis-server redis-tools iperf3 nginx-light"

ensure_packages() {
	local missing=() p
	for p in $PVCALLS_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "Missing Debian packages. Install them with:" >&2
		echo "  sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "== installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Their install starts Debian's redis and nginx services (nginx on
	# 0.0.0.0:80); the tests start their own instances. Stop and disable
	# only the services just installed, never one someone already ran.
	local svc
	for p in "${missing[@]}"; do
		case "$p" in
		redis-server) svc=redis-server ;;
		nginx-light) svc=nginx ;;
		*) continue ;;
		esac
		if [ -d /run/systemd/system ]; then
			systemctl disable --now "$svc" >/dev/null 2>&1 || true
		else
			service "$svc" stop >/dev/null 2>&1 || true
		fi
	done
}

# configure_and_build BUILD_DIR [extra cmake args...]
configure_and_build() {
	local dir=$1
	shift
	echo "== configuring $dir $*"
	cmake -S "$PVCALLS_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
	echo "== building"
	cmake --build "$dir" -j "$(nproc)"
}
