# pki-perms.sh: owners and modes of the PKI on a master (the seed's chown/chmod lines).
# kube-apiserver, kube-controller-manager and kube-scheduler each run as their own user and
# can read their own keys only; etcd runs as "etcd"; admin's key belongs to "kube-admin";
# everything else (the super-admin, front-proxy and etcd CA keys) to root.
set -eu
# the directories are readable, the keys in them are not
chmod 0755 /etc/kubernetes /etc/kubernetes/pki
cd /etc/kubernetes/pki

own() { # own FILE USER GROUP MODE, when FILE exists
  if [ -f "$1" ]; then
    chown "$2:$3" "$1"
    chmod "$4" "$1"
  fi
}

for f in ./*.crt sa.pub; do own "$f" root root 0644; done
for f in kube-apiserver apiserver-kubelet-client front-proxy-client etcd-client; do
  own "$f.key" kube-apiserver kube-apiserver 0600
done
# the controller-manager signs kubelet client (ca) and serving (kubelet-serving-ca)
# certificates
for f in ca kubelet-serving-ca kube-controller-manager; do
  own "$f.key" kube-controller-manager kube-controller-manager 0600
done
own kube-scheduler.key kube-scheduler kube-scheduler 0600
# the API server signs service-account tokens with it, the controller-manager too
own sa.key kube-apiserver kube-controller-manager 0640
own etcd.key etcd etcd 0600
own etcd-peer.key etcd etcd 0600
own admin.key kube-admin kube-admin 0600
for f in super-admin front-proxy-ca etcd-ca; do own "$f.key" root root 0600; done
own /etc/kubernetes/encryption-config.yaml kube-apiserver kube-apiserver 0600
