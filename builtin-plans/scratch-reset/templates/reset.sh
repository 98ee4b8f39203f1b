# reset.sh: undo what the scratch plan did on this node (see reset.hcl).
# Inputs (set above by the plan): REMOVE_BINARIES, REMOVE_IMAGES (1 or 0).
set -u
units="kubelet kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd kube-apiserver-lb"

echo "stopping $units"
for u in $units; do
  systemctl disable --now "$u" >/dev/null 2>&1 || true
done

# Pod sandboxes and containers: stop them through the CRI, then containerd itself.
if [ -x /usr/local/bin/ctr ] && systemctl is-active -q containerd; then
  for t in $(/usr/local/bin/ctr -n k8s.io tasks ls -q 2>/dev/null); do
    /usr/local/bin/ctr -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
  done
  sleep 2
  for t in $(/usr/local/bin/ctr -n k8s.io tasks ls -q 2>/dev/null); do
    /usr/local/bin/ctr -n k8s.io tasks delete -f "$t" >/dev/null 2>&1 || true
  done
  for c in $(/usr/local/bin/ctr -n k8s.io containers ls -q 2>/dev/null); do
    /usr/local/bin/ctr -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
  done
fi
systemctl disable --now containerd >/dev/null 2>&1 || true
# shims left behind by KillMode=process
for pid in $(pgrep -f containerd-shim-runc-v2 2>/dev/null); do
  kill -9 "$pid" 2>/dev/null || true
done

# kubelet's volume mounts, deepest first
grep -E ' /(var/lib/kubelet|run/containerd|run/netns)/' /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null || true
done

# kube-proxy's and flannel's network state
if [ -x /usr/local/bin/kube-proxy ]; then
  /usr/local/bin/kube-proxy --cleanup >/dev/null 2>&1 || true
fi
for l in flannel.1 cni0; do
  ip link delete "$l" 2>/dev/null || true
done
if command -v iptables-save >/dev/null 2>&1; then
  for t in nat filter mangle; do
    for c in $(iptables-save -t "$t" 2>/dev/null | awk '/^:(FLANNEL|CNI-|KUBE-)/ {print substr($1, 2)}'); do
      iptables -t "$t" -S 2>/dev/null | grep -E -- "-j $c( |$)" | sed 's/^-A/-D/' | while read -r rule; do
        # shellcheck disable=SC2086
        iptables -t "$t" $rule 2>/dev/null || true
      done
      iptables -t "$t" -F "$c" 2>/dev/null || true
      iptables -t "$t" -X "$c" 2>/dev/null || true
    done
  done
fi
if command -v nft >/dev/null 2>&1; then
  for tbl in "ip kube-proxy" "ip6 kube-proxy" "ip flannel-ipv4" "ip6 flannel-ipv6"; do
    # shellcheck disable=SC2086
    nft delete table $tbl 2>/dev/null || true
  done
fi

echo "removing the cluster's files"
rm -rf /etc/kubernetes /etc/etcd /var/lib/etcd /var/lib/kubelet /var/lib/kube-proxy \
  /var/log/kubernetes /var/lib/cni /run/flannel /etc/cni/net.d/10-flannel.conflist \
  /etc/containerd/config.toml /var/lib/scratch/images /var/lib/scratch/applied /var/lib/scratch/install-id \
  /root/.kube/config \
  /etc/haproxy/kube-apiserver-lb.cfg /etc/haproxy/kube-apiserver-lb.pem
rm -f /etc/systemd/system/kubelet.service /etc/systemd/system/kube-proxy.service \
  /etc/systemd/system/kube-apiserver.service /etc/systemd/system/kube-controller-manager.service \
  /etc/systemd/system/kube-scheduler.service /etc/systemd/system/etcd.service \
  /etc/systemd/system/containerd.service /etc/systemd/system/kube-apiserver-lb.service \
  /etc/modules-load.d/k8s.conf /etc/sysctl.d/99-kubernetes.conf /etc/sysctl.d/90-kubelet.conf

if [ "$REMOVE_IMAGES" = 1 ]; then
  echo "removing containerd's state and images"
  if mountpoint -q /var/lib/containerd; then
    find /var/lib/containerd -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  else
    rm -rf /var/lib/containerd
  fi
fi

if [ "$REMOVE_BINARIES" = 1 ]; then
  echo "removing the binaries"
  rm -f /usr/local/bin/kube-apiserver /usr/local/bin/kube-controller-manager \
    /usr/local/bin/kube-scheduler /usr/local/bin/kubectl /usr/local/bin/kubelet \
    /usr/local/bin/kube-proxy /usr/local/bin/etcd /usr/local/bin/etcdctl \
    /usr/local/bin/containerd /usr/local/bin/containerd-shim-runc-v2 /usr/local/bin/ctr \
    /usr/local/sbin/runc
  for p in bridge host-local loopback portmap flannel; do rm -f "/opt/cni/bin/$p"; done
  rm -rf /var/lib/scratch
fi

for u in kube-admin kube-apiserver kube-controller-manager kube-scheduler kubernetes etcd; do
  if id -u "$u" >/dev/null 2>&1; then
    userdel "$u" 2>/dev/null || true
  fi
done
systemctl daemon-reload
echo "reset done"
