# rolling-restart.sh: make a control-plane unit run its current configuration, one master at a
# time. A unit that is not running is started (that takes nothing down). A running unit whose
# configuration changed since it last started is restarted only
#   - while this master holds the cluster's restart lock (an etcd lock, taken and kept alive
#     through the other masters' etcd members), so no two masters restart at once;
#   - once the gate holds: for etcd every member of the cluster is healthy (so this one going
#     down leaves a quorum and never two members down), for kube-apiserver another master's
#     API server is ready (so they are never all down);
# and the lock is released only when the restarted unit is healthy again. A gate that does not
# hold within TIMEOUT fails the step and leaves the unit running as it was; the next run tries
# again (the applied configuration is recorded only after a successful (re)start).
#
# Inputs (set above by the plan): UNIT, FILES (the unit's configuration files), OTHERS (the
# other masters' addresses, space-separated; empty on a single master), TIMEOUT (seconds).
set -eu
pki=/etc/kubernetes/pki
APPLIED=/var/lib/scratch/applied/$UNIT
# shellcheck disable=SC2086 # FILES is a list
WANT=$(cat $FILES | sha256sum | cut -c1-64)
ETCDCTL="/usr/local/bin/etcdctl --cacert=$pki/etcd-ca.crt --cert=$pki/etcd-client.crt --key=$pki/etcd-client.key --dial-timeout=3s --command-timeout=5s"
export UNIT OTHERS TIMEOUT APPLIED WANT ETCDCTL pki
mkdir -p /var/lib/scratch/applied
systemctl daemon-reload
systemctl enable -q "$UNIT"

# What runs under the lock, in a shell of its own (etcdctl lock runs it).
lib='
# healthy: the unit serves. (controller-manager and scheduler serve on 127.0.0.1 with
# self-signed certificates, as kubeadm has them: nothing to verify them against.)
healthy() {
  case $UNIT in
    etcd) $ETCDCTL --endpoints=https://127.0.0.1:2379 endpoint health ;;
    kube-apiserver) curl -fsS --max-time 5 --cacert $pki/ca.crt --cert $pki/admin.crt --key $pki/admin.key https://127.0.0.1:6443/readyz ;;
    kube-controller-manager) curl -fsSk --max-time 5 https://127.0.0.1:10257/healthz ;;
    kube-scheduler) curl -fsSk --max-time 5 https://127.0.0.1:10259/healthz ;;
    *) systemctl is-active "$UNIT" ;;
  esac
}
# gate: this unit may go down now.
gate() {
  case $UNIT in
    etcd) $ETCDCTL --endpoints=https://127.0.0.1:2379 endpoint health --cluster ;;
    kube-apiserver)
      for ip in $OTHERS; do
        curl -fsS --max-time 5 --cacert $pki/ca.crt --cert $pki/admin.crt --key $pki/admin.key "https://$ip:6443/readyz" && return 0
      done
      echo "no other API server is ready"; return 1 ;;
    *) true ;;
  esac
}
# wait_for WHAT FUNCTION: call FUNCTION every second until it succeeds, for up to TIMEOUT
# seconds; then fail with its last output.
wait_for() {
  i=0
  until out=$("$2" 2>&1); do
    i=$((i + 1))
    if [ "$i" -ge "$TIMEOUT" ]; then
      printf "%s: %s: not within %ss; last: %s\n" "$UNIT" "$1" "$TIMEOUT" "$out" >&2
      return 1
    fi
    sleep 1
  done
}
invocation() { systemctl show -p InvocationID --value "$UNIT"; }
# start_and_wait VERB: systemctl VERB the unit (start: it is not running, or still starting;
# restart: a new process must come), wait until it is healthy, record the configuration it runs.
start_and_wait() {
  before=$(invocation)
  systemctl "$1" --no-block "$UNIT"
  if [ "$1" = restart ]; then
    new_process() { [ "$(invocation)" != "$before" ]; }
    wait_for "a new process after the restart" new_process
  fi
  wait_for "healthy after $1" healthy
  echo "$WANT" > "$APPLIED"
}
gated_restart() {
  wait_for "the gate (safe to take $UNIT down on this master)" gate
  echo "$UNIT: restarting, $(date -u +%T)"
  start_and_wait restart
  echo "$UNIT: healthy again, $(date -u +%T)"
}
'
eval "$lib"

if ! systemctl is-active -q "$UNIT"; then
  echo "$UNIT: starting"
  start_and_wait start
  exit 0
fi
if [ -z "$OTHERS" ]; then
  echo "$UNIT: restarting (the only master)"
  start_and_wait restart
  exit 0
fi
peers=$(for ip in $OTHERS; do printf 'https://%s:2379,' "$ip"; done)
# shellcheck disable=SC2086 # ETCDCTL is a command line
timeout $((TIMEOUT * 3)) $ETCDCTL --endpoints="${peers%,}" lock --ttl=30 plan-scratch/rolling-restart -- \
  /bin/sh -c "$lib
gated_restart"
