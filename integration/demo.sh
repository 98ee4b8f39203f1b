#!/usr/bin/env bash
# The main job end to end on this machine (README, command 1): build plan, fill the offline
# artifact cache, bring up a local lab of systemd hosts and run the built-in scratch plan on it
# (one master, the other hosts workers). Needs root. Re-running starts a fresh lab.
#
#   sudo ./integration/demo.sh            # 3 hosts
#   sudo HOSTS=1 ./integration/demo.sh    # a single-node cluster
#
# The lab's hosts are set up like the users' Oracle Linux 9 servers (sudoers' secure_path
# without /usr/local/bin, firewalld and NetworkManager running) and plan logs in as they do:
# an ordinary user with passwordless sudo, like Vagrant's vagrant user.
#
# Environment: HOSTS (default 3), LAB_NAME (default demo), LAB_USER (nopw: passwordless sudo,
# the default; plan: sudo asks for the lab's password, given to plan as PLAN_SUDO_PASSWORD;
# root), LAB_HOSTS (oracle-like, the default, or debian), PLAN_ARTIFACTS_DIR (default
# /var/cache/plan-artifacts), KEEP_LAB=0 to tear the lab down at the end (default: keep it so
# you can look at the cluster; `plan lab down --name demo` removes it). Extra arguments go to
# `plan run` (e.g. --var kubernetes_version=...).
set -euo pipefail
cd "$(dirname "$0")/.."

hosts=${HOSTS:-3}
name=${LAB_NAME:-demo}
user=${LAB_USER:-nopw}
profile=()
case "${LAB_HOSTS:-oracle-like}" in
oracle-like) profile=(--oracle-like) ;;
debian) ;;
*) echo "demo: LAB_HOSTS must be oracle-like or debian" >&2; exit 2 ;;
esac
artifacts=${PLAN_ARTIFACTS_DIR:-/var/cache/plan-artifacts}
plan=$PWD/bin/plan

step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (the lab makes network namespaces and mounts)" >&2
	exit 2
fi

./integration/prereqs.sh # apt packages the lab needs, only those missing

step "build plan"
mkdir -p bin
go build -o "$plan" ./cmd/plan

step "artifact cache in $artifacts (built only when missing; the first time ~20 min, with a progress line every 30 s)"
go run ./integration/artifacts/cmd/build-artifacts -dir "$artifacts"

step "lab: $hosts systemd hosts (${LAB_HOSTS:-oracle-like}), login $user"
"$plan" lab down --name "$name" >/dev/null 2>&1 || true
"$plan" lab up "$hosts" --systemd --name "$name" --user "$user" "${profile[@]}"
mapfile -t lab_hosts < <("$plan" lab hosts --name "$name")
if [ "${KEEP_LAB:-1}" = 0 ]; then
	trap '"$plan" lab down --name "$name"' EXIT
fi

# plan resolves -H names through ssh_config: make the lab's aliases known. A plan run that
# takes an ssh_config file directly gets the lab's own; otherwise ~/.ssh/config gets an
# Include of every lab's ssh_config (once).
ssh_config=$("$plan" lab ssh-config --name "$name" | sed -n 's/^# ssh_config: *//p')
ssh_args=()
if "$plan" run --help 2>&1 | grep -q -- '--ssh-config'; then
	ssh_args=(--ssh-config "$ssh_config")
else
	"$plan" lab ssh-config --install
fi

host_args=(-H "masters=${lab_hosts[0]}")
if [ "${#lab_hosts[@]}" -gt 1 ]; then
	host_args+=(-H "workers=$(IFS=,; echo "${lab_hosts[*]:1}")")
fi

if [ "$user" = plan ]; then
	# as a user gives it: from the environment (or plan's prompt), never on a command line
	PLAN_SUDO_PASSWORD=$(cat "$(dirname "$ssh_config")/plan-password")
	export PLAN_SUDO_PASSWORD
fi

step "plan run scratch.hcl ${host_args[*]}"
# The lab's hosts are cgroup v1 containers on a shared kernel, not VMs: kubelet must accept
# cgroup v1 and containerd must not ask for negative oom_score_adj (docs/lab.md).
"$plan" run scratch.hcl "${host_args[@]}" "${ssh_args[@]}" \
	--var artifacts_dir="$artifacts" \
	--var node_interface=eth0 \
	--var kubelet_fail_cgroup_v1=false \
	--var containerd_restrict_oom_score_adj=true \
	"$@"

step "done"
if [ "${KEEP_LAB:-1}" = 0 ]; then
	echo "the lab \"$name\" is torn down now (KEEP_LAB=0)"
else
	echo "the cluster runs on lab \"$name\": ssh -F $ssh_config ${lab_hosts[0]} sudo /usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig get nodes"
	echo "tear it down with: $plan lab down --name $name"
fi
