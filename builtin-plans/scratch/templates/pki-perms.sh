# pki-perms.sh: owners and modes of the PKI on a master (the seed's chown/chmod lines).
# kube-apiserver, kube-controller-manager and kube-scheduler run as "kubernetes",
# etcd as "etcd"; admin's key belongs to "kube-admin"; everything else to root.
set -eu
# the directories are readable, the keys in them are not
chmod 0755 /etc/kubernetes /etc/kubernetes/pki
cd /etc/kubernetes/pki

own() { # own FILE USER MODE, when FILE exists
  if [ -f "$1" ]; then
    chown "$2:$2" "$1"
    chmod "$3" "$1"
  fi
}

for f in ./*.crt sa.pub; do own "$f" root 0644; done
for f in ca kube-apiserver apiserver-kubelet-client kube-controller-manager kube-scheduler front-proxy-client etcd-client sa; do
  own "$f.key" kubernetes 0600
done
own etcd.key etcd 0600
own etcd-peer.key etcd 0600
own admin.key kube-admin 0600
for f in front-proxy-ca etcd-ca kube-proxy; do own "$f.key" root 0600; done
own /etc/kubernetes/encryption-config.yaml kubernetes 0600
