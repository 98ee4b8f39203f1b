# restore.sh: restore this master's etcd member from /var/lib/scratch/restore/snapshot.db.
# The control plane and etcd stop; the snapshot becomes a new data directory for member NAME
# of the cluster CLUSTER (NAME=PEER_URL,...); the old one is kept as
# /var/lib/etcd.before-restore (an earlier one of those is removed); the backup's encryption
# configuration replaces the API server's (the old one kept beside it). etcd starts as a
# new cluster from that data: cluster.env says so until the plan's next run.
# Inputs (set above by the plan): NAME, PEER_URL, TOKEN, CLUSTER.
set -eu
dir=/var/lib/scratch/restore
test -n "$NAME" && test -n "$PEER_URL" && test -n "$TOKEN" || {
  echo "no etcd name, peer URL or cluster token in /etc/systemd/system/etcd.service: is this a master built by the scratch plan?" >&2
  exit 1
}
test -x /usr/local/bin/etcdutl || {
  echo "no /usr/local/bin/etcdutl: give one with --var etcdutl=/path/to/etcdutl (from etcd's release archive)" >&2
  exit 1
}
/usr/local/bin/etcdutl snapshot status "$dir/snapshot.db" -w table
systemctl stop kube-apiserver kube-controller-manager kube-scheduler etcd
rm -rf /var/lib/etcd.restoring
/usr/local/bin/etcdutl snapshot restore "$dir/snapshot.db" --name "$NAME" \
  --initial-cluster "$CLUSTER" --initial-cluster-token "$TOKEN" \
  --initial-advertise-peer-urls "$PEER_URL" --data-dir /var/lib/etcd.restoring
rm -rf /var/lib/etcd.before-restore
mv /var/lib/etcd /var/lib/etcd.before-restore
mv /var/lib/etcd.restoring /var/lib/etcd
chown -R etcd:etcd /var/lib/etcd
chmod 0700 /var/lib/etcd
command -v restorecon >/dev/null 2>&1 && restorecon -R /var/lib/etcd || true
printf 'ETCD_INITIAL_CLUSTER=%s\nETCD_INITIAL_CLUSTER_STATE=new\n' "$CLUSTER" > /etc/etcd/cluster.env
cp -p /etc/kubernetes/encryption-config.yaml /etc/kubernetes/encryption-config.yaml.before-restore
install -m 0600 -o "$(stat -c %U /etc/kubernetes/encryption-config.yaml)" "$dir/encryption-config.yaml" /etc/kubernetes/encryption-config.yaml
rm -f "$dir/snapshot.db"
echo "etcd member $NAME restored from the snapshot"
