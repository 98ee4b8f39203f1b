# download.sh: fetch release files from their upstream URLs, check each against its
# sha256 (pinned in the plan's `checksums`, else the checksum file the project publishes
# next to it) and install them. Used when no artifacts directory is given.
#
# Inputs (set above by the plan): COMPONENT, VERSION, ARCH, BINS (for kubernetes),
# CHECKSUMS (lines "file-name sha256"), MIRROR (download_mirror, may be empty), MARKER (a
# file made when done: the step's guard).
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

get() { # get URL CHECKSUM-URL...: download URL into $tmp and verify it against the pinned
  # sha256, else the first checksum file that can be fetched
  url=$1
  shift
  name=$(basename "$url")
  curl -fsSL --retry 3 -o "$tmp/$name" "$url"
  want=$(echo "$CHECKSUMS" | awk -v f="$name" '$1 == f {print $2; exit}')
  for sum in "$@"; do
    [ -z "$want" ] || break
    if curl -fsSL --retry 3 -o "$tmp/$name.sum" "$sum"; then
      want=$(awk -v f="$name" 'NF == 1 {print $1; exit} $2 == f || $2 == "*" f || $2 ~ ("/" f "$") {print $1; exit}' "$tmp/$name.sum")
    fi
  done
  if [ -z "$want" ]; then
    echo "no sha256 for $name" >&2
    exit 1
  fi
  have=$(sha256sum "$tmp/$name" | awk '{print $1}')
  if [ "$have" != "$want" ]; then
    echo "sha256 mismatch for $name: got $have, want $want" >&2
    exit 1
  fi
}

# A mirror (download_mirror) serves the same paths under MIRROR/HOST/...
dl=https://dl.k8s.io
gh=https://github.com
if [ -n "$MIRROR" ]; then
  dl=$MIRROR/dl.k8s.io
  gh=$MIRROR/github.com
fi
case "$COMPONENT" in
  kubernetes)
    for b in $BINS; do
      url=$dl/release/$VERSION/bin/linux/$ARCH/$b
      get "$url" "$url.sha256"
      install -m 0755 "$tmp/$b" "/usr/local/bin/$b"
    done
    ;;
  etcd)
    f=etcd-$VERSION-linux-$ARCH.tar.gz
    get "$gh/etcd-io/etcd/releases/download/$VERSION/$f" "$gh/etcd-io/etcd/releases/download/$VERSION/SHA256SUMS"
    tar -xzf "$tmp/$f" -C "$tmp"
    install -m 0755 "$tmp/etcd-$VERSION-linux-$ARCH/etcd" "$tmp/etcd-$VERSION-linux-$ARCH/etcdctl" /usr/local/bin/
    ;;
  containerd)
    # the static build: the dynamic one needs a newer glibc than Oracle Linux 8's 2.28
    f=containerd-static-${VERSION#v}-linux-$ARCH.tar.gz
    url=$gh/containerd/containerd/releases/download/$VERSION/$f
    get "$url" "$url.sha256sum"
    tar -xzf "$tmp/$f" -C "$tmp"
    install -m 0755 "$tmp/bin/containerd" "$tmp/bin/containerd-shim-runc-v2" "$tmp/bin/ctr" /usr/local/bin/
    ;;
  runc)
    get "$gh/opencontainers/runc/releases/download/$VERSION/runc.$ARCH" "$gh/opencontainers/runc/releases/download/$VERSION/runc.sha256sum"
    install -m 0755 "$tmp/runc.$ARCH" /usr/local/sbin/runc
    ;;
  cni-plugins)
    f=cni-plugins-linux-$ARCH-$VERSION.tgz
    url=$gh/containernetworking/plugins/releases/download/$VERSION/$f
    get "$url" "$url.sha256"
    mkdir -p /opt/cni/bin
    tar -xzf "$tmp/$f" -C /opt/cni/bin
    ;;
  flannel-cni-plugin)
    # the tarball is named with the full tag (v1.5.1-flannel3) or, in newer releases,
    # without its -flannelN suffix; it holds flannel-ARCH (or flannel)
    base=$gh/flannel-io/cni-plugin/releases/download/$VERSION
    f=cni-plugin-flannel-linux-$ARCH-$VERSION.tgz
    if ! curl -fsSI --retry 3 -o /dev/null "$base/$f"; then
      f=cni-plugin-flannel-linux-$ARCH-${VERSION%-flannel*}.tgz
    fi
    get "$base/$f" "$base/$f.sha256" "$base/$f.sha256sum"
    mkdir -p "$tmp/flannel"
    tar -xzf "$tmp/$f" -C "$tmp/flannel"
    bin=$(find "$tmp/flannel" -type f \( -name "flannel-$ARCH" -o -name flannel \) | head -n 1)
    if [ -z "$bin" ]; then
      echo "no flannel plugin in $f" >&2
      exit 1
    fi
    install -m 0755 "$bin" /opt/cni/bin/flannel
    ;;
  *)
    echo "unknown component $COMPONENT" >&2
    exit 1
    ;;
esac
mkdir -p "$(dirname "$MARKER")"
touch "$MARKER"
