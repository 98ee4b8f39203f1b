# etcd-cluster.sh: how this member joins the etcd cluster, written to /etc/etcd/cluster.env
# (ETCD_INITIAL_CLUSTER, ETCD_INITIAL_CLUSTER_STATE) for the unit. The first master starts
# a new one-member cluster; every other master adds itself to the running cluster with
# `etcdctl member add` (retrying while an earlier member is still joining) and starts as
# an existing member. A member that has data already is left alone.
#
# Inputs (set above by the plan): NAME, IP, FIRST (1 on the first master), FIRST_IP.
set -eu
env=/etc/etcd/cluster.env
mkdir -p /etc/etcd
if [ -d /var/lib/etcd/member ] && grep -q '^ETCD_INITIAL_CLUSTER=.' "$env" 2>/dev/null; then
  echo "etcd member $NAME has its data already"
  exit 0
fi
if [ "$FIRST" = 1 ]; then
  printf 'ETCD_INITIAL_CLUSTER=%s=https://%s:2380\nETCD_INITIAL_CLUSTER_STATE=new\n' "$NAME" "$IP" > "$env"
  exit 0
fi
# a joining member without a valid configuration never joined: start it afresh
systemctl stop etcd 2>/dev/null || true
rm -rf /var/lib/etcd/member

pki=/etc/kubernetes/pki
ctl() {
  /usr/local/bin/etcdctl --endpoints="https://$FIRST_IP:2379" --cacert=$pki/etcd-ca.crt \
    --cert=$pki/etcd-client.crt --key=$pki/etcd-client.key --command-timeout=10s "$@"
}
peer=https://$IP:2380
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Serializable reads: they answer even while an added member has not started yet (the
# cluster then has no quorum). `member add` itself is refused until the member added
# before this one has started, which orders the joins.
i=0
while :; do
  if ctl member list --consistency=s -w simple > "$tmp/list" 2> "$tmp/err"; then
    if grep -qF "$peer" "$tmp/list"; then
      break # added already (by this run or an earlier one)
    fi
    if ctl member add "$NAME" --peer-urls="$peer" > /dev/null 2> "$tmp/err"; then
      continue # read the list again, with this member in it
    fi
  fi
  i=$((i + 1))
  if [ "$i" -ge 150 ]; then
    echo "could not add $NAME to the etcd cluster at $FIRST_IP after 300s:" >&2
    cat "$tmp/err" >&2
    exit 1
  fi
  sleep 2
done

# The cluster as it is now, this member included (it has no name until it starts).
cluster=$(awk -F', ' -v n="$NAME" -v p="$peer" '
  { name = $3; if ($4 == p) name = n; if (name != "") { printf "%s%s=%s", sep, name, $4; sep = "," } }' "$tmp/list")
if [ -z "$cluster" ]; then
  echo "cannot read the etcd membership from $FIRST_IP" >&2
  exit 1
fi
printf 'ETCD_INITIAL_CLUSTER=%s\nETCD_INITIAL_CLUSTER_STATE=existing\n' "$cluster" > "$env"
echo "etcd member $NAME joins $cluster"
