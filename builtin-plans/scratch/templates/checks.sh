# checks.sh: one screen that says whether the cluster works (the seed's "確認" steps, made
# current). Waits up to TIMEOUT seconds for everything to settle, then prints each check
# and exits 1 when one failed.
# Inputs (set above by the plan): EXPECTED_NODES, DNS_IP, API_IP, CLUSTER_DOMAIN, TIMEOUT.
set -u
export KUBECONFIG=/etc/kubernetes/admin.kubeconfig
pki=/etc/kubernetes/pki
name=kubernetes.default.svc.$CLUSTER_DOMAIN

# dns_lookup NAME SERVER: the first A record, with dig when there is one, else a raw
# query over bash's /dev/udp (no DNS tools needed on the node).
dns_lookup() {
  if command -v dig >/dev/null 2>&1; then
    dig +short +time=2 +tries=1 "@$2" "$1" A | grep -E '^[0-9.]+$' | head -n 1
    return
  fi
  bash -c '
    q=""
    IFS=. read -ra labels <<< "$1"
    for l in "${labels[@]}"; do q+=$(printf "\\\\x%02x" "${#l}")$l; done
    exec 3<>"/dev/udp/$2/53" || exit 1
    printf "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00${q}\x00\x00\x01\x00\x01" >&3
    timeout 3 dd bs=512 count=1 status=none <&3 | od -An -tu1 -v | tr -s " \n" " " |
      awk "{ if (\$4 % 16 == 0 && (\$7 * 256 + \$8) > 0) print \$(NF-3) \".\" \$(NF-2) \".\" \$(NF-1) \".\" \$NF }"
  ' dns "$1" "$2"
}

run_checks() {
  failed=0
  out=""
  line() { out="$out$(printf '%-6s %-34s %s' "$1" "$2" "$3")
"; [ "$1" = ok ] || failed=1; }

  if /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=$pki/etcd-ca.crt --cert=$pki/etcd-client.crt \
      --key=$pki/etcd-client.key endpoint health --cluster >/dev/null 2>&1; then
    members=$(/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=$pki/etcd-ca.crt --cert=$pki/etcd-client.crt \
      --key=$pki/etcd-client.key member list 2>/dev/null | grep -c started)
    line ok "etcd" "healthy, $members member(s)"
  else
    line FAIL "etcd" "endpoint health --cluster failed"
  fi

  readyz=$(curl -s --cacert $pki/ca.crt --cert $pki/admin.crt --key $pki/admin.key "https://127.0.0.1:6443/readyz?verbose" 2>/dev/null | tail -n 1)
  if [ "$readyz" = "readyz check passed" ]; then line ok "kube-apiserver /readyz" "$readyz"; else line FAIL "kube-apiserver /readyz" "${readyz:-no answer}"; fi

  anon=$(curl -s -o /dev/null -w '%{http_code}' --cacert $pki/ca.crt https://127.0.0.1:6443/api 2>/dev/null)
  if [ "$anon" = 401 ]; then line ok "anonymous request refused" "HTTP $anon"; else line FAIL "anonymous request refused" "HTTP $anon"; fi

  for l in kube-controller-manager kube-scheduler; do
    holder=$(/usr/local/bin/kubectl -n kube-system get lease "$l" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)
    if [ -n "$holder" ]; then line ok "$l lease" "$holder"; else line FAIL "$l lease" "no holder"; fi
  done

  ready=$(/usr/local/bin/kubectl get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)
  if [ "$ready" -ge "$EXPECTED_NODES" ]; then line ok "nodes Ready" "$ready/$EXPECTED_NODES"; else line FAIL "nodes Ready" "$ready/$EXPECTED_NODES"; fi

  pending=$(/usr/local/bin/kubectl get csr --no-headers 2>/dev/null | grep -c Pending)
  approved=$(/usr/local/bin/kubectl get csr --no-headers 2>/dev/null | grep -c 'Approved,Issued')
  if [ "$pending" -eq 0 ]; then line ok "CSRs approved" "$approved issued, none pending"; else line FAIL "CSRs approved" "$pending pending"; fi

  flannel=$(/usr/local/bin/kubectl -n kube-flannel get pods -l app=flannel --no-headers 2>/dev/null | awk '$3 == "Running"' | wc -l)
  if [ "$flannel" -ge "$EXPECTED_NODES" ]; then line ok "flannel pods Running" "$flannel/$EXPECTED_NODES"; else line FAIL "flannel pods Running" "$flannel/$EXPECTED_NODES"; fi

  dns_pods=$(/usr/local/bin/kubectl -n kube-system get pods -l k8s-app=kube-dns --no-headers 2>/dev/null | awk '{ split($2, r, "/") } $3 == "Running" && r[1] == r[2] && r[1] > 0' | wc -l)
  if [ "$dns_pods" -ge 1 ]; then line ok "CoreDNS pods Running and ready" "$dns_pods"; else line FAIL "CoreDNS pods Running and ready" "0"; fi

  answer=$(dns_lookup "$name" "$DNS_IP" 2>/dev/null)
  if [ "$answer" = "$API_IP" ]; then line ok "DNS $name" "$answer (via $DNS_IP)"; else line FAIL "DNS $name" "${answer:-no answer} (want $API_IP via $DNS_IP)"; fi
}

start=$(date +%s)
# First wait, without polling, for what most checks need: kubectl wait watches and returns as
# soon as the condition holds. Pods that do not exist yet are not waited for here; the loop
# below is what decides.
wait_for() {
  left=$((TIMEOUT - ($(date +%s) - start)))
  [ "$left" -gt 0 ] || return 0
  /usr/local/bin/kubectl wait "$@" --timeout="${left}s" >/dev/null 2>&1 || true
}
wait_for --for=condition=Ready nodes --all
wait_for -n kube-flannel --for=condition=Ready pods -l app=flannel
wait_for -n kube-system --for=condition=Ready pods -l k8s-app=kube-dns
while :; do
  run_checks
  [ "$failed" = 0 ] && break
  [ $(($(date +%s) - start)) -lt "$TIMEOUT" ] || break
  sleep 2
done

echo "== cluster checks =="
printf '%s' "$out"
echo
/usr/local/bin/kubectl get nodes -o wide 2>/dev/null
echo
/usr/local/bin/kubectl get pods -A -o wide 2>/dev/null
if [ "$failed" = 0 ]; then
  echo
  echo "The cluster works. kubectl on a master: sudo /usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig get nodes"
else
  echo
  echo "Some checks failed (after ${TIMEOUT}s); see above, and journalctl -u kubelet / kube-apiserver on the nodes."
  # the failure summary shows the end of stderr: the table
  printf '%s' "$out" >&2
  exit 1
fi
