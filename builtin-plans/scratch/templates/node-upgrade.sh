# node-upgrade.sh: make this node's containerd, kubelet and kube-proxy run their installed
# binaries, with the node drained around the restart (node_upgrade task, one batch at a time).
#
#   1. cordon the node and drain it: kubectl drain evicts (PodDisruptionBudgets hold it up),
#      DaemonSet pods stay, emptyDir data goes, at most DRAIN_TIMEOUT seconds; a drain that
#      fails uncordons the node again (nothing was restarted) and fails the step. The only
#      node of a cluster is not drained: its pods would have nowhere to go.
#   2. restart those of containerd, kubelet and kube-proxy whose running process is not the
#      installed file, each healthy before the next;
#   3. wait until the Node is Ready with the installed kubelet's version;
#   4. uncordon it (only if this script cordoned it: a node the operator cordoned stays so),
#      record the binaries it now runs: the Node's annotation scratch.plan/node-binaries (the
#      first master reads it to know which nodes are done) and /var/lib/scratch/applied.
#
# Inputs (set above by the plan): TOKEN (a short-lived ServiceAccount token, never on a
# command line: it goes into a 0600 kubeconfig in a private directory, removed on exit),
# NODE, DIGEST (what the annotation and the record say once done), SERVER (the API server
# URL this node uses), DRAIN_TIMEOUT and READY_TIMEOUT (seconds).
set -eu
umask 077
dir=$(mktemp -d /run/plan-node-upgrade.XXXXXX)
trap 'rm -rf "$dir"' EXIT
kc=$dir/kubeconfig
# printf is a shell builtin: the token is on no command line (and in no here-document file)
printf '%s\n' \
  'apiVersion: v1' 'kind: Config' \
  'clusters:' '- name: cluster' '  cluster:' "    server: $SERVER" '    certificate-authority: /etc/kubernetes/pki/ca.crt' \
  'users:' '- name: plan-node-upgrade' '  user:' "    token: $TOKEN" \
  'contexts:' '- name: plan-node-upgrade' '  context:' '    cluster: cluster' '    user: plan-node-upgrade' \
  'current-context: plan-node-upgrade' > "$kc"
TOKEN=
k() { /usr/local/bin/kubectl --kubeconfig "$kc" --request-timeout=20s "$@"; }
say() { echo "$NODE: $*, $(date -u +%T)"; }
RECORD=/var/lib/scratch/applied/node-binaries
CORDONED=scratch.plan/cordoned-for-upgrade

# until_ok WHAT SECONDS COMMAND...: run COMMAND every second until it succeeds.
until_ok() {
  what=$1 secs=$2
  shift 2
  i=0
  until out=$("$@" 2>&1); do
    i=$((i + 1))
    if [ "$i" -ge "$secs" ]; then
      printf '%s: %s: not within %ss; last: %s\n' "$NODE" "$what" "$secs" "$out" >&2
      return 1
    fi
    sleep 1
  done
}

runs_installed() { # UNIT: its main process runs /usr/local/bin/UNIT as installed now (or none runs)
  p=$(systemctl show -p MainPID --value "$1")
  [ "${p:-0}" = 0 ] || [ "$(stat -L -c %d:%i "/proc/$p/exe")" = "$(stat -c %d:%i "/usr/local/bin/$1")" ]
}
stale=
for u in containerd kubelet kube-proxy; do
  runs_installed "$u" || stale="$stale $u"
done

node_field() { k get node "$NODE" -o jsonpath="$1"; }
until_ok "the Node object" 60 node_field '{.metadata.name}'

if [ -n "$stale" ]; then
  say "to restart:$stale"
  nodes=$(k get nodes -o name) # (a failure stops the script here, not below as "one node")
  if [ "$(printf '%s\n' "$nodes" | grep -c .)" -le 1 ]; then
    say "the cluster's only node: not drained"
  else
    if [ "$(node_field '{.spec.unschedulable}')" != true ]; then
      k annotate node "$NODE" --overwrite "$CORDONED=true" >/dev/null
      k cordon "$NODE"
    fi
    say "draining (at most ${DRAIN_TIMEOUT}s)"
    if ! k drain "$NODE" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT}s"; then
      echo "$NODE: the drain did not finish within ${DRAIN_TIMEOUT}s (a PodDisruptionBudget that allows no eviction, a pod no controller manages?); nothing was restarted, the node is uncordoned" >&2
      if [ -n "$(node_field "{.metadata.annotations.scratch\\.plan/cordoned-for-upgrade}")" ]; then
        k uncordon "$NODE" || true
        k annotate node "$NODE" "$CORDONED-" >/dev/null || true
      fi
      exit 1
    fi
    say "drained"
  fi
  for u in $stale; do
    systemctl restart "$u"
    case $u in
      containerd) until_ok "containerd answering" 60 /usr/local/bin/ctr version ;;
      kubelet) until_ok "the kubelet healthy" 120 curl -fsS --max-time 3 http://127.0.0.1:10248/healthz ;;
      kube-proxy) until_ok "kube-proxy healthy" 120 curl -fsS --max-time 3 http://127.0.0.1:10256/healthz ;;
    esac
    say "$u restarted on its new binary"
  done
fi

# Ready, with the installed kubelet's version (a kubelet restarted by the crash of the old one
# comes here too).
want="$(/usr/local/bin/kubelet --version | awk '{print $2}') True"
node_ready() {
  got=$(node_field '{.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}')
  [ "$got" = "$want" ] || { echo "kubelet version and Ready: $got, want $want"; return 1; }
}
until_ok "the Node Ready with the new kubelet" "$READY_TIMEOUT" node_ready
say "Ready, kubelet ${want% True}"

if [ -n "$(node_field "{.metadata.annotations.scratch\\.plan/cordoned-for-upgrade}")" ]; then
  k uncordon "$NODE"
  k annotate node "$NODE" "$CORDONED-" >/dev/null
  say "uncordoned"
fi
k annotate node "$NODE" --overwrite "scratch.plan/node-binaries=$DIGEST" >/dev/null
mkdir -p /var/lib/scratch/applied
echo "$DIGEST" > "$RECORD"
