# approve-serving.sh: approve the kubelets' serving-certificate requests, which no built-in
# controller approves. A request is approved only when it comes from the node it names
# (username system:node:NAME, subject CN system:node:NAME, O system:nodes), asks for
# server auth only, and every IP it asks for is one of that node's addresses.
set -eu
export KUBECONFIG=/etc/kubernetes/admin.kubeconfig
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/local/bin/kubectl get csr -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}{.metadata.name} {.spec.username} {.status.conditions[0].type}{"\n"}{end}' > "$tmp/csrs"
while read -r csr user state; do
  [ -n "$csr" ] || continue
  [ -z "$state" ] || continue # already approved or denied
  node=${user#system:node:}
  if [ "$node" = "$user" ]; then
    echo "skip $csr: requested by $user, not a node"
    continue
  fi
  /usr/local/bin/kubectl get csr "$csr" -o jsonpath='{.spec.request}' | base64 -d > "$tmp/req.pem"
  subject=$(openssl req -in "$tmp/req.pem" -noout -subject -nameopt RFC2253)
  case "$subject" in
    *"CN=system:node:$node"*) ;;
    *) echo "skip $csr: subject $subject does not name $node"; continue ;;
  esac
  usages=$(/usr/local/bin/kubectl get csr "$csr" -o jsonpath='{.spec.usages[*]}')
  case " $usages " in
    *" client auth "*) echo "skip $csr: asks for client auth"; continue ;;
    *" server auth "*) ;;
    *) echo "skip $csr: no server auth"; continue ;;
  esac
  addrs=$(/usr/local/bin/kubectl get node "$node" -o jsonpath='{.status.addresses[*].address}' 2>/dev/null || true)
  ok=1
  for ip in $(openssl req -in "$tmp/req.pem" -noout -text | grep -o 'IP Address:[0-9.]*' | cut -d: -f2); do
    case " $addrs " in
      *" $ip "*) ;;
      *) ok=0 ;;
    esac
  done
  if [ "$ok" = 1 ]; then
    /usr/local/bin/kubectl certificate approve "$csr"
  else
    echo "skip $csr: asks for addresses that are not $node's ($addrs)"
  fi
done < "$tmp/csrs"
