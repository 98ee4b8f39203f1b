#!/usr/bin/env bash
# Installs from Debian's apt whatever the lab, the tests and the demo need and this machine lacks
# (nothing when all are there; PLAN_NO_APT=1 skips it). Used by .ci/run, integration/test.sh and
# integration/demo.sh, as root. Installing openssh-server must never leave an sshd running on the
# machine itself: service starts are denied while apt runs, and an sshd of the machine that
# appeared anyway is stopped. Lab hosts' sshd (chrooted, or in containers) are never touched.
set -euo pipefail

packages=(
	openssh-server openssh-client # the lab rootfs has its own sshd; the client runs ssh -G / ssh -F
	debootstrap systemd-container # the lab's rootfs and its systemd variant
	iproute2 util-linux sudo openssl ca-certificates tar xz-utils git
	shellcheck ruby # the tests: shell templates and `ruby -c Vagrantfile`
	busybox         # hosts' reused-shell framing test runs under dash, bash --posix and busybox sh
)

if [ -n "${PLAN_NO_APT:-}" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "prereqs: not root, not installing anything" >&2
	exit 0
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

# sshd processes of this machine itself: in its pid namespace, with its root directory.
machine_sshd() {
	local pid self_ns
	self_ns=$(readlink /proc/self/ns/pid)
	for pid in $(pgrep -x sshd || true); do
		[ "$(readlink "/proc/$pid/root" 2>/dev/null)" = / ] &&
			[ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" = "$self_ns" ] &&
			echo "$pid"
	done
	return 0
}

policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=1
fi
sshd_before=" $(machine_sshd | tr '\n' ' ') "
echo "prereqs: apt-get install ${missing[*]}"
status=0
{
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
} </dev/null >/tmp/plan-prereqs-apt.log 2>&1 || status=$?
if [ -n "$own_policy" ]; then
	rm -f "$policy"
fi
for pid in $(machine_sshd); do
	case "$sshd_before" in *" $pid "*) ;; *) kill "$pid" 2>/dev/null || true ;; esac
done
if [ "$status" -ne 0 ]; then
	tail -30 /tmp/plan-prereqs-apt.log >&2
	echo "prereqs: apt-get failed (log: /tmp/plan-prereqs-apt.log)" >&2
	exit "$status"
fi
