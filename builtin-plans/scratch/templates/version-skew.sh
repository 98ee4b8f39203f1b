# version-skew.sh: refuse, before any binary is replaced, a Kubernetes version the
# version-skew policy forbids: a minor version skipped (v1.34 -> v1.36), a downgrade of the
# minor version, another major version. A patch release up or down, or the next minor
# version, goes on. The order of the restarts (API servers one at a time before the
# controller managers, schedulers and kubelets) keeps every kubelet at most as new as the API
# servers.
# Inputs (set above by the plan): NEW (kubernetes_version, vX.Y.Z), BINARY (the installed
# binary to ask: kube-apiserver on masters, kubelet on every node).
set -eu
if [ ! -x "$BINARY" ]; then
  echo "no $BINARY yet: a first install of $NEW"
  exit 0
fi
old=$("$BINARY" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)
if [ -z "$old" ]; then
  echo "cannot tell the version of $BINARY ($("$BINARY" --version 2>&1 | head -n 1)): not replacing it" >&2
  exit 1
fi
new=${NEW#v}
omaj=${old%%.*} orest=${old#*.}
omin=${orest%%.*}
nmaj=${new%%.*} nrest=${new#*.}
nmin=${nrest%%.*}
case "$nmaj.$nmin" in
  *[!0-9.]*|.*|*.) echo "kubernetes_version $NEW is not vX.Y.Z" >&2; exit 1 ;;
esac
if [ "$nmaj" != "$omaj" ]; then
  echo "refused: kubernetes_version $NEW is another major version than the installed $BINARY (v$old)" >&2
  exit 1
fi
if [ "$nmin" -gt $((omin + 1)) ]; then
  echo "refused: kubernetes_version $NEW skips a minor version: $BINARY is v$old. The version-skew policy allows one minor version at a time: upgrade to v$omaj.$((omin + 1)).x first." >&2
  exit 1
fi
if [ "$nmin" -lt "$omin" ]; then
  echo "refused: kubernetes_version $NEW is an older minor version than the installed $BINARY (v$old): a minor downgrade is not supported (restore a backup instead)" >&2
  exit 1
fi
echo "$BINARY v$old -> $NEW: allowed by the version-skew policy"
