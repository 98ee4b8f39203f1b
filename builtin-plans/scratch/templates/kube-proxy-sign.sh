# kube-proxy-sign.sh: on the first master, sign each node's kube-proxy certificate request
# with the cluster CA (seed 2.7, one key per node instead of one shared key). The request
# comes from the node; only its public key is taken on trust: a request for any other
# subject than CN=system:kube-proxy, O=system:node-proxier is refused, and the certificate
# gets the plan's client extensions, none of the request's. A certificate is made again
# when its node sent another request (a new key), and renewed (signed again from the same
# request, so for the same key) when it expires within RENEW_SECONDS; the node gets it from
# certs.json (node_kubeconfigs) and kube-proxy restarts.
# Inputs (set above by the plan): CERT_DAYS, RENEW_SECONDS, NODES (names), and for each node a
# file $DIR/NAME.csr.new written before this script. The functions come from pki-lib.sh.
DIR=/etc/kubernetes/pki/kube-proxy
mkdir -p "$DIR"
for n in $NODES; do
  req=$DIR/$n.csr.new
  openssl req -in "$req" -noout -verify >/dev/null 2>&1 || { echo "kube-proxy request of $n: bad signature" >&2; exit 1; }
  subject=$(openssl req -in "$req" -noout -subject -nameopt RFC2253)
  subject=${subject#subject=}
  subject=${subject# }
  if [ "$subject" != "CN=system:kube-proxy,O=system:node-proxier" ]; then
    echo "kube-proxy request of $n asks for $subject, not CN=system:kube-proxy,O=system:node-proxier: refused" >&2
    exit 1
  fi
  renew=0
  if [ -s "$DIR/$n.crt" ] && ! openssl x509 -checkend "$RENEW_SECONDS" -noout -in "$DIR/$n.crt" >/dev/null; then
    echo "renewing kube-proxy's certificate of $n ($(openssl x509 -noout -enddate -in "$DIR/$n.crt"))"
    renew=1
  fi
  if ! cmp -s "$req" "$DIR/$n.csr" || [ ! -s "$DIR/$n.crt" ] || [ "$renew" = 1 ]; then
    openssl x509 -req -sha256 -in "$req" -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out "$DIR/$n.crt.new" -days "$CERT_DAYS" -extensions v3_req_client -extfile openssl.cnf 2>/dev/null
    chmod 0644 "$DIR/$n.crt.new"
    mv -f "$DIR/$n.crt.new" "$DIR/$n.crt"
    mv "$req" "$DIR/$n.csr"
    if [ "$renew" = 1 ]; then
      echo "renewed kube-proxy's certificate of $n: $(openssl x509 -noout -serial -enddate -in "$DIR/$n.crt" | tr '\n' ' ')"
    fi
  else
    rm -f "$req"
  fi
  chmod 0644 "$DIR/$n.crt"
done
# all certificates as one JSON object (PEM holds nothing to escape but newlines)
{
  printf '{'
  sep=''
  for n in $NODES; do
    printf '%s"%s":"%s"' "$sep" "$n" "$(awk '{ printf "%s\\n", $0 }' "$DIR/$n.crt")"
    sep=','
  done
  printf '}\n'
} > "$DIR/certs.json.new"
mv "$DIR/certs.json.new" "$DIR/certs.json"
# which certificates certs.json holds: the plan's guard makes it again when one was renewed
# since (a run interrupted between the renewal and certs.json)
for n in $NODES; do cat "$DIR/$n.crt"; done | sha256sum | cut -c1-64 > "$DIR/certs.json.sha256"
