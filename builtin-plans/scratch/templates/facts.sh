# facts.sh: what the rest of the plan needs to know about this host, as one JSON line.
# Inputs (set above by the plan): NODE_INTERFACE, TARGET_ADDRESS. FACTS_ROOT (empty on a
# real host) prefixes the files it reads, so recorded hosts can be replayed in tests.
set -eu
root=${FACTS_ROOT:-}

# --- operating system --------------------------------------------------------
# shellcheck source=/dev/null
. "$root/etc/os-release"
os_id=${ID:-unknown}
os_major=${VERSION_ID%%.*}
os_like=" ${ID} ${ID_LIKE:-} "
case "$os_like" in
  *" rhel "*|*" fedora "*|*" centos "*|*" ol "*) os_family=rhel ;;
  *" debian "*|*" ubuntu "*) os_family=debian ;;
  *) os_family=unknown ;;
esac

if [ "$os_family" = rhel ] && [ "$os_major" -le 7 ]; then
  echo "refusing ${PRETTY_NAME:-$os_id $os_major}: Kubernetes >= 1.35 needs cgroup v2 and containerd 2;" >&2
  echo "systemd 219 on Oracle Linux 7 cannot run cgroup v2, and OL7 is past Premier Support." >&2
  echo "Use Oracle Linux 8 or 9." >&2
  exit 1
fi
if [ "$os_family" = unknown ]; then
  echo "unsupported OS ${PRETTY_NAME:-$os_id}: the scratch plan knows dnf hosts (Oracle Linux 8/9) and apt hosts (Debian)" >&2
  exit 1
fi
if ! command -v systemctl >/dev/null 2>&1; then
  echo "systemd is required: every component runs as a systemd unit" >&2
  exit 1
fi

# --- the address the cluster uses on this node --------------------------------
ip=""
if [ -n "$NODE_INTERFACE" ]; then
  ip=$(ip -4 -o addr show dev "$NODE_INTERFACE" scope global | awk '{split($4, a, "/"); print a[1]; exit}')
  if [ -z "$ip" ]; then
    echo "node_interface=$NODE_INTERFACE has no global IPv4 address on this host" >&2
    exit 1
  fi
fi
if [ -z "$ip" ] && [ -n "$TARGET_ADDRESS" ]; then
  # the address we were told to use, if it is one of this node's own
  if ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]}' | grep -qxF "$TARGET_ADDRESS"; then
    ip=$TARGET_ADDRESS
  fi
fi
if [ -z "$ip" ]; then
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") {print $(i + 1); exit}}') || true
fi
if [ -z "$ip" ]; then
  ip=$(ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}')
fi
if [ -z "$ip" ]; then
  echo "no IPv4 address found on this host; set node_interface" >&2
  exit 1
fi
iface=$(ip -4 -o addr show scope global | awk -v ip="$ip" '{split($4, a, "/"); if (a[1] == ip) {print $2; exit}}')

# --- the node name the kubelet registers with ---------------------------------
node_name=$(hostname | tr '[:upper:]' '[:lower:]')

cgroup=$(stat -fc %T "$root/sys/fs/cgroup")

# --- what Oracle Linux turns on by default ------------------------------------
pkg=none
if command -v dnf >/dev/null 2>&1; then pkg=dnf; elif command -v apt-get >/dev/null 2>&1; then pkg=apt; fi
# SELinux: the running mode and the mode the next boot gets (/etc/selinux/config)
selinux=absent
if command -v getenforce >/dev/null 2>&1; then
  selinux=$(getenforce 2>/dev/null | tr '[:upper:]' '[:lower:]')
fi
selinux_config=""
if [ -r "$root/etc/selinux/config" ]; then
  selinux_config=$(sed -n 's/^[[:space:]]*SELINUX[[:space:]]*=[[:space:]]*//p' "$root/etc/selinux/config" | tr -d '"[:space:]' | tail -n 1)
fi
# firewalld and NetworkManager: absent, or what systemctl says (active, inactive, failed)
unit_state() {
  if ! command -v "$2" >/dev/null 2>&1; then echo absent; return; fi
  systemctl is-active "$1" 2>/dev/null || true
}
firewalld=$(unit_state firewalld firewall-cmd)
network_manager=$(unit_state NetworkManager nmcli)

# can kube-proxy size the conntrack table? (not always from inside a container's network
# namespace): write the current value back, which changes nothing
conntrack_writable=true
f=$root/proc/sys/net/netfilter/nf_conntrack_max
if [ -e "$f" ]; then
  v=$(cat "$f")
  if ! { echo "$v" > "$f"; } 2>/dev/null; then
    conntrack_writable=false
  fi
fi

printf '{"ip":"%s","iface":"%s","node_name":"%s","hostname":"%s","os_family":"%s","os_id":"%s","os_major":"%s","cgroup":"%s","conntrack_writable":%s,"pkg":"%s","selinux":"%s","selinux_config":"%s","firewalld":"%s","network_manager":"%s"}\n' \
  "$ip" "$iface" "$node_name" "$(hostname)" "$os_family" "$os_id" "$os_major" "$cgroup" "$conntrack_writable" \
  "$pkg" "$selinux" "$selinux_config" "$firewalld" "$network_manager"
