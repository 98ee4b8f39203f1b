# pki-server.sh: this master's own server certificates (seed steps 2.3, 2.11, 2.13),
# signed on the master itself with the CA keys the first master made or shared: the
# kube-apiserver certificate (the kubernetes Service names, localhost, the node, the API
# endpoint) and the etcd server and peer certificates (the node and localhost). A
# certificate made for other names is made again, one that expires within RENEW_SECONDS is
# renewed (same CA, same key). The functions come from pki-lib.sh.
#
# Inputs (set above by the plan): NAME, IP, HOST, API_ENDPOINT, SERVICE_IP,
# CLUSTER_DOMAIN, CURVE, CERT_DAYS, RENEW_SECONDS.

api_sans="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
api_sans="$api_sans,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost"
api_sans="$api_sans,DNS:$NAME,DNS:$HOST,IP:$IP,IP:127.0.0.1,IP:$SERVICE_IP"
if echo "$API_ENDPOINT" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$'; then
  api_sans="$api_sans,IP:$API_ENDPOINT"
else
  api_sans="$api_sans,DNS:$API_ENDPOINT"
fi
SANS=$api_sans
renew_if_sans_changed kube-apiserver
cert kube-apiserver "/CN=kube-apiserver" ca v3_req_apiserver

SANS="DNS:localhost,DNS:$NAME,DNS:$HOST,IP:$IP,IP:127.0.0.1"
renew_if_sans_changed etcd
cert etcd "/CN=$NAME" etcd-ca v3_req_etcd
renew_if_sans_changed etcd-peer
cert etcd-peer "/CN=$NAME" etcd-ca v3_req_etcd
chmod 0644 kube-apiserver.crt etcd.crt etcd-peer.crt
printf '%s %s %s %s %s %s' "$NAME" "$IP" "$HOST" "$API_ENDPOINT" "$SERVICE_IP" "$CLUSTER_DOMAIN" > server-certs.inputs
