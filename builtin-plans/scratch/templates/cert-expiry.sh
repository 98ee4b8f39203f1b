# cert-expiry.sh: the certificates on this host that expire within RENEW_DAYS days, one line
# each (only reads files; the step says changed = false). The first word says who renews it:
#   renew    a leaf certificate the plan renews in this run (pki, server_certs,
#            kube_proxy_certs), with the same CA and the same key;
#   kubelet  the kubelet's own client or serving certificate: the kubelet rotates it itself
#            (rotateCertificates, serverTLSBootstrap) before it expires;
#   manual   the kubelet's self-signed serving certificate (kubelet_server_tls_bootstrap =
#            false): remove /var/lib/kubelet/pki/kubelet.{crt,key} and restart the kubelet;
#   ca       a CA: the plan never renews one.
# The plan reads the paths of the `renew` lines (task.cert_expiry.output.renew), so those
# lines start with "renew " and nothing else does.
#
# Inputs (set above by the plan): HOST (the host's name), RENEW_DAYS.
set -eu
now=$(date -u +%s)
within=$((RENEW_DAYS * 86400))
checked=0
due=0
soonest=''
soonest_days=''
for f in /etc/kubernetes/pki/*.crt /etc/kubernetes/pki/kube-proxy/*.crt \
  /var/lib/kube-proxy/kube-proxy.crt /etc/haproxy/kube-apiserver-lb.pem \
  /var/lib/kubelet/pki/kubelet-client-current.pem /var/lib/kubelet/pki/kubelet-server-current.pem \
  /var/lib/kubelet/pki/kubelet.crt; do
  [ -f "$f" ] || continue
  if ! end=$(openssl x509 -noout -enddate -in "$f" 2>/dev/null); then
    echo "unreadable $f: not a PEM certificate" >&2
    continue
  fi
  checked=$((checked + 1))
  end=${end#notAfter=}
  end_s=$(date -u -d "$end" +%s)
  days=$(((end_s - now) / 86400))
  if [ -z "$soonest_days" ] || [ "$days" -lt "$soonest_days" ]; then
    soonest=$f
    soonest_days=$days
  fi
  [ $((end_s - now)) -lt "$within" ] || continue
  due=$((due + 1))
  case $f in
    /etc/kubernetes/pki/ca.crt | /etc/kubernetes/pki/front-proxy-ca.crt | /etc/kubernetes/pki/etcd-ca.crt | /etc/kubernetes/pki/kubelet-serving-ca.crt) who=ca ;;
    /var/lib/kubelet/pki/kubelet.crt) who=manual ;;
    /var/lib/kubelet/pki/*) who=kubelet ;;
    *) who=renew ;;
  esac
  subject=$(openssl x509 -noout -subject -nameopt RFC2253 -in "$f")
  subject=${subject#subject=}
  subject=${subject# }
  printf '%-7s %s  %s  not after %s  %s days left\n' "$who" "$f" "$subject" "$(date -u -d "$end" +%Y-%m-%dT%H:%M:%SZ)" "$days"
done
if [ "$checked" = 0 ]; then
  echo "$HOST: no certificates yet"
elif [ "$due" = 0 ]; then
  echo "$HOST: $checked certificates, none expires within $RENEW_DAYS days (the soonest: $soonest, $soonest_days days left)"
else
  echo "$HOST: $checked certificates, $due expire within $RENEW_DAYS days (cert_renew_before_days)"
fi
