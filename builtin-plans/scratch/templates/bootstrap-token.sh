# bootstrap-token.sh: the bootstrap token kubelets join with (seed step 7.1), made here on
# the first master and kept in /etc/kubernetes/bootstrap-token (root, 0600). A token
# whose Secret is gone (the tokencleaner removes expired ones, bootstrap_token_cleanup the
# used one) or that expires within MIN_LEFT seconds is replaced, while a node has still to
# join.
# Inputs (set above by the plan): TTL_SECONDS, MIN_LEFT, NODES (the node names).
set -eu
umask 077
export KUBECONFIG=/etc/kubernetes/admin.kubeconfig
file=/etc/kubernetes/bootstrap-token

if [ -s "$file" ]; then
  id=$(cut -d. -f1 "$file")
  # Every node registered: no token is needed (bootstrap_token_cleanup deleted its Secret);
  # the file keeps the old, dead token.
  # shellcheck disable=SC2086 # NODES is a list of names
  if /usr/local/bin/kubectl get nodes $NODES >/dev/null 2>&1; then
    echo "every node has joined: no bootstrap token needed"
    exit 0
  fi
  exp=$(/usr/local/bin/kubectl -n kube-system get secret "bootstrap-token-$id" -o jsonpath='{.data.expiration}' 2>/dev/null | base64 -d) || exp=
  if [ -n "$exp" ]; then
    left=$(( $(date -u -d "$exp" +%s) - $(date -u +%s) ))
    if [ "$left" -ge "$MIN_LEFT" ]; then
      echo "bootstrap token $id kept (valid for ${left}s more)"
      exit 0
    fi
    echo "bootstrap token $id expires in ${left}s: replaced"
    /usr/local/bin/kubectl -n kube-system delete secret "bootstrap-token-$id" --ignore-not-found >/dev/null
  else
    echo "bootstrap token $id is gone (expired and cleaned up?): replaced"
  fi
fi

# [a-z0-9]{6}.[a-z0-9]{16}, from the kernel's random source; never printed
id=$(openssl rand -hex 3)
secret=$(openssl rand -hex 8)
expiration=$(date -u -d "+$TTL_SECONDS seconds" +%Y-%m-%dT%H:%M:%SZ)
/usr/local/bin/kubectl -n kube-system apply -f - >/dev/null <<SECRET
apiVersion: v1
kind: Secret
metadata:
  name: bootstrap-token-$id
  namespace: kube-system
type: bootstrap.kubernetes.io/token
stringData:
  description: "scratch plan: kubelet TLS bootstrapping"
  token-id: "$id"
  token-secret: "$secret"
  expiration: "$expiration"
  usage-bootstrap-authentication: "true"
  usage-bootstrap-signing: "true"
  auth-extra-groups: "system:bootstrappers:worker"
SECRET
printf '%s.%s\n' "$id" "$secret" > "$file.new"
mv "$file.new" "$file"
echo "bootstrap token $id made, expires $expiration"
