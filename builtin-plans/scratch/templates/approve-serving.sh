# approve-serving.sh: approve the kubelets' serving-certificate requests, which no built-in
# controller approves. A request is approved only when everything in it is exactly what the
# plan knows of the node that asks (ALLOWLIST, one line per node: NAME DNS[,DNS...]
# IP[,IP...], made by the plan from each node's facts):
#   - asked for by the user system:node:NAME, in the group system:nodes, NAME in the list;
#   - subject exactly CN=system:node:NAME, O=system:nodes;
#   - usages server auth, and digital signature or key encipherment, nothing else;
#   - every subject alternative name a DNS name or an IP address of NAME's line, compared
#     as strings (an IPv6 address, an email, a URI or any other name is never in the list).
# Anything else is left pending, with the reason on stdout. The kubelet-serving signer has
# a CA of its own (kubelet-serving-ca), which only the API server trusts, for kubelets.
set -eu
export KUBECONFIG=/etc/kubernetes/admin.kubeconfig
ALLOWLIST=${ALLOWLIST:-/etc/kubernetes/addons/kubelet-serving-allowlist}
kubectl=${KUBECTL:-/usr/local/bin/kubectl} # KUBECTL: for tests (builtin-plans/approve_serving_test.go)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$kubectl get csr -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}{.metadata.name} {.spec.username} {.status.conditions[0].type}{"\n"}{end}' > "$tmp/csrs"
# listed WORD LIST: is WORD one of the comma-separated LIST?
listed() { case ",$2," in *",$1,"*) return 0 ;; esac; return 1; }
while read -r csr user state; do
  [ -n "$csr" ] || continue
  [ -z "$state" ] || continue # already approved or denied
  node=${user#system:node:}
  if [ "$node" = "$user" ] || [ -z "$node" ]; then
    echo "skip $csr: requested by $user, not a node"
    continue
  fi
  line=$(awk -v n="$node" '$1 == n { print; exit }' "$ALLOWLIST")
  if [ -z "$line" ]; then
    echo "skip $csr: $node is not a node of this cluster ($ALLOWLIST)"
    continue
  fi
  dns=$(echo "$line" | awk '{ print $2 }')
  ips=$(echo "$line" | awk '{ print $3 }')
  groups=$($kubectl get csr "$csr" -o jsonpath='{range .spec.groups[*]}{@}{","}{end}')
  if ! listed system:nodes "$groups"; then
    echo "skip $csr: $user is not in system:nodes ($groups)"
    continue
  fi
  $kubectl get csr "$csr" -o jsonpath='{.spec.request}' | base64 -d > "$tmp/req.pem"
  subject=$(openssl req -in "$tmp/req.pem" -noout -subject -nameopt RFC2253)
  subject=${subject#subject=}
  subject=${subject# }
  if [ "$subject" != "CN=system:node:$node,O=system:nodes" ]; then
    echo "skip $csr: subject $subject is not CN=system:node:$node,O=system:nodes"
    continue
  fi
  usages=$($kubectl get csr "$csr" -o jsonpath='{range .spec.usages[*]}{@}{","}{end}')
  ok=1
  server=0
  old_ifs=$IFS
  IFS=,
  for u in $usages; do
    case "$u" in
      "server auth") server=1 ;;
      "digital signature" | "key encipherment") ;;
      *) ok=0 ;;
    esac
  done
  IFS=$old_ifs
  if [ "$ok" = 0 ] || [ "$server" = 0 ]; then
    echo "skip $csr: usages $usages, want server auth (and digital signature, key encipherment) only"
    continue
  fi
  # The names, one per line: "DNS:x", "IPAddress:y" (openssl prints "IP Address:"),
  # anything else as openssl names it.
  openssl req -in "$tmp/req.pem" -noout -text |
    awk '/X509v3 Subject Alternative Name/ { getline; print; exit }' |
    tr -d ' ' | tr ',' '\n' | sed '/^$/d' > "$tmp/sans"
  bad=""
  while read -r san; do
    case "$san" in
      DNS:*) listed "${san#DNS:}" "$dns" || bad="$bad $san" ;;
      IPAddress:*) listed "${san#IPAddress:}" "$ips" || bad="$bad $san" ;;
      *) bad="$bad $san" ;;
    esac
  done < "$tmp/sans"
  if [ -n "$bad" ]; then
    echo "skip $csr: names that are not $node's ($dns $ips):$bad"
    continue
  fi
  $kubectl certificate approve "$csr"
done < "$tmp/csrs"
