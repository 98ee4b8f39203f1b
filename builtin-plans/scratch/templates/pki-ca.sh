# pki-ca.sh: the three CAs, the client certificates, the service-account key pair and the
# encryption key, with openssl, on the first master (seed step 2). Idempotent: an existing
# key or certificate is kept, but a client certificate that expires within RENEW_SECONDS is
# renewed (same CA, same key; pki-lib.sh's cert), and the bundle then carries the new one.
# The CAs are never renewed. The functions come from pki-lib.sh, prepended by the plan.
#
# Inputs (set above by the plan): CURVE, CA_DAYS, CERT_DAYS, RENEW_SECONDS, ENC_PROVIDER,
# SHARE (1: other masters get the bundle).
#
# Layout (as in the seed, plus sa.key/sa.pub):
#   /etc/kubernetes/pki/{ca,front-proxy-ca,etcd-ca,kubelet-serving-ca}.{key,crt} the CAs
#   /etc/kubernetes/pki/super-admin.{key,crt}                            break-glass, never shared
#   /etc/kubernetes/pki/{apiserver-kubelet-client,admin,kube-controller-manager,
#     kube-scheduler,front-proxy-client,etcd-client}.{key,crt}            clients
#   /etc/kubernetes/pki/sa.{key,pub}                                     service-account keys
#   /etc/kubernetes/encryption-config.yaml                               encryption at rest
#   /etc/kubernetes/pki/bundle.tgz.b64                                   what other masters get (three masters)
# --- the CAs (seed 2.2, 2.8, 2.10), plus one that signs only kubelet serving
# certificates: the API server trusts it for kubelets and nothing else trusts it, so a
# node's serving certificate can never pass for the API server's --------------------
ca ca kubernetes-ca
ca front-proxy-ca front-proxy-ca
ca etcd-ca etcd-ca
ca kubelet-serving-ca kubelet-serving-ca

# --- client certificates, the same on every master (seed 2.4-2.7, 2.9, 2.12) -------
# As current kubeadm: the admin is cluster-admin through the group kubeadm:cluster-admins
# (an RBAC binding that can be removed), the API server reaches kubelets as a plain user
# bound to system:kubelet-api-admin, and only the break-glass super-admin, kept on this
# master alone, is in system:masters (which no RBAC change can restrict).
cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" ca v3_req_client
cert admin "/O=kubeadm:cluster-admins/CN=kubernetes-admin" ca v3_req_client
cert super-admin "/O=system:masters/CN=kubernetes-super-admin" ca v3_req_client
cert kube-controller-manager "/CN=system:kube-controller-manager" ca v3_req_client
cert kube-scheduler "/CN=system:kube-scheduler" ca v3_req_client
cert front-proxy-client "/CN=front-proxy-client" front-proxy-ca v3_req_client
cert etcd-client "/O=system:masters/CN=kube-apiserver-etcd-client" etcd-ca v3_req_client

# --- service-account key pair (the seed reused the controller-manager key; since 1.20
# the API server also needs the private key to issue tokens) --------------------------
key sa.key
if [ ! -f sa.pub ]; then
  openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
fi

# --- encryption at rest: a random 32-byte key, made here once, never in the plan -------
enc=/etc/kubernetes/encryption-config.yaml
if [ ! -f "$enc" ]; then
  secret=$(head -c 32 /dev/urandom | base64)
  cat > "$enc" <<ENC
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
    providers:
      - $ENC_PROVIDER:
          keys:
            - name: key1
              secret: $secret
      - identity: {}
ENC
  unset secret
fi
chmod 0600 "$enc"

# --- the bundle for the other masters (three masters, SHARE=1): the kubernetes and
# kubelet-serving CA keys (every controller-manager signs kubelet certificates), the etcd CA
# key (each master signs its own etcd certificates), the service-account keys, the
# encryption configuration and the client certificates. The front-proxy CA key and the
# super-admin stay here. Deterministic (sorted, numeric owners, no gzip timestamp), so a
# re-run pushes nothing. A single master (SHARE=0) makes none, and removes an older one.
b=$PKI/bundle
rm -rf "$b"
if [ "$SHARE" = 1 ]; then
  mkdir -p "$b/pki"
  for f in ca.crt ca.key etcd-ca.crt etcd-ca.key front-proxy-ca.crt kubelet-serving-ca.crt kubelet-serving-ca.key sa.key sa.pub; do
    cp -p "$f" "$b/pki/$f"
  done
  for c in apiserver-kubelet-client admin kube-controller-manager kube-scheduler front-proxy-client etcd-client; do
    cp -p "$c.crt" "$b/pki/$c.crt"
    cp -p "$c.key" "$b/pki/$c.key"
  done
  cp -p "$enc" "$b/encryption-config.yaml"
  tar -C "$b" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . | gzip -n | base64 > bundle.tgz.b64.new
  rm -rf "$b"
  if cmp -s bundle.tgz.b64.new bundle.tgz.b64; then rm -f bundle.tgz.b64.new; else mv bundle.tgz.b64.new bundle.tgz.b64; fi
  # which client certificates the bundle holds: the plan's guard makes it again when one was
  # renewed since (a run interrupted between the renewal and the bundle)
  cat apiserver-kubelet-client.crt admin.crt kube-controller-manager.crt kube-scheduler.crt front-proxy-client.crt etcd-client.crt | sha256sum | cut -c1-64 > bundle.certs.sha256
else
  rm -f bundle.tgz.b64 bundle.tgz.b64.new bundle.certs.sha256
fi
# kube-proxy's key is made on each node now (kube_proxy_cert); an older plan made one here
# and shared it
rm -f kube-proxy.key kube-proxy.crt kube-proxy.subject

for f in ./*.crt; do chmod 0644 "$f"; done
chmod 0644 sa.pub
