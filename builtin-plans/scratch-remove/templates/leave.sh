# leave.sh: take nodes out of the cluster, one after the other, from a master that stays:
# cordon and drain (DaemonSet pods stay, emptyDir data goes), delete the Node, and remove
# the node's etcd member when it has one. An etcd member is removed only while the cluster
# is healthy and never when it is the last one.
# Inputs (set above by the plan): NODES ("NODE:ETCD_MEMBER ...", the member empty for a
# worker), KUBECTL, ETCDCTL (command lines with their credentials), DRAIN_TIMEOUT.
set -eu
for n in $NODES; do
  node=${n%%:*}
  member=${n#*:}
  if $KUBECTL get node "$node" >/dev/null 2>&1; then
    $KUBECTL cordon "$node"
    $KUBECTL drain "$node" --ignore-daemonsets --delete-emptydir-data --force --timeout="$DRAIN_TIMEOUT"
    $KUBECTL delete node "$node" --wait=true
    echo "node $node drained and deleted"
  else
    echo "node $node is not in the cluster"
  fi
  [ -n "$member" ] || continue
  list=$($ETCDCTL member list -w simple)
  id=$(printf '%s\n' "$list" | awk -F', ' -v m="$member" '$3 == m {print $1}')
  if [ -z "$id" ]; then
    echo "etcd member $member is not in the cluster"
    continue
  fi
  if [ "$(printf '%s\n' "$list" | grep -c .)" -le 1 ]; then
    echo "etcd member $member is the only member: removing it would end the cluster" >&2
    exit 1
  fi
  $ETCDCTL endpoint health --cluster >&2 || {
    echo "the etcd cluster is not healthy: not removing member $member (that could lose quorum)" >&2
    exit 1
  }
  $ETCDCTL member remove "$id"
  echo "etcd member $member ($id) removed"
done
