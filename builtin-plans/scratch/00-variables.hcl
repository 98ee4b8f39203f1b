# A Kubernetes cluster from scratch over SSH: every component a systemd unit, openssl PKI, TLS bootstrapping.
#
# This file holds the inputs (variables), the derived values (locals) and the two
# groups. The tasks live in one file per phase, numbered in the order they run:
#
#   00-variables.hcl     this file
#   10-os.hcl            facts, OS preparation, kernel modules and sysctls
#   20-pki.hcl           the three CAs and every certificate, made with openssl on the first master
#   30-binaries.hcl      Kubernetes, etcd, containerd, runc and CNI binaries
#   40-kubeconfigs.hcl   kubeconfigs for controller-manager, scheduler, admin
#   50-etcd.hcl          etcd with TLS and client-certificate auth, as its own user
#   60-control-plane.hcl kube-apiserver, kube-controller-manager, kube-scheduler
#   70-bootstrap.hcl     bootstrap token, CSR auto-approval bindings, node kubeconfigs
#   80-node.hcl          containerd (+ images offline), CNI, kubelet (TLS bootstrapping), kube-proxy
#   85-node-upgrade.hcl  new node binaries rolled out in batches: cordon, drain, restart, uncordon
#   90-addons.hcl        kubelet serving certificates, flannel, CoreDNS
#   99-checks.hcl        one screen that says whether the cluster works
#
# docs/scratch.md maps every step of the original 1.10 recipe to these tasks.

# ---------------------------------------------------------------------------
# Versions (the same pins as integration/artifacts/versions.go)
# ---------------------------------------------------------------------------

variable "kubernetes_version" {
  type        = string
  default     = "v1.36.3"
  description = "Kubernetes release (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl)"
}

variable "etcd_version" {
  type        = string
  default     = "v3.6.16"
  description = "etcd release"
}

variable "containerd_version" {
  type        = string
  default     = "v2.4.2"
  description = "containerd release (2.x: Kubernetes 1.36 needs containerd 2)"
}

variable "runc_version" {
  type        = string
  default     = "v1.5.3"
  description = "runc release"
}

variable "cni_plugins_version" {
  type        = string
  default     = "v1.10.0"
  description = "containernetworking/plugins release (bridge, host-local, loopback, portmap)"
}

variable "flannel_version" {
  type        = string
  default     = "v0.28.10"
  description = "flannel (flanneld image ghcr.io/flannel-io/flannel)"
}

variable "flannel_cni_plugin_version" {
  type        = string
  default     = "v1.9.1-flannel3"
  description = "flannel CNI plugin release (github.com/flannel-io/cni-plugin); used only when downloading, offline the plugin comes from the cni-plugins directory"
}

variable "coredns_version" {
  type        = string
  default     = "v1.15.0"
  description = "CoreDNS image tag (registry.k8s.io/coredns/coredns)"
}

variable "pause_version" {
  type        = string
  default     = "3.10.1"
  description = "pause (sandbox) image tag; containerd pins it"
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "CPU architecture of the hosts (amd64 or arm64)"
}

# ---------------------------------------------------------------------------
# Where binaries and images come from
# ---------------------------------------------------------------------------

variable "artifacts_dir" {
  type        = string
  default     = ""
  description = "Local artifacts directory to push binaries and images from (air-gapped). Empty: each node downloads from the upstream URLs and checks sha256"
}

variable "download_mirror" {
  type        = string
  default     = ""
  description = "Base URL of a mirror that serves the upstream files under HOST/PATH (e.g. http://mirror/dl.k8s.io/release/..., http://mirror/github.com/...). Empty: the upstream URLs"
}

variable "checksums" {
  type        = map(string)
  default     = {}
  description = "Pinned sha256 per downloaded file, keyed by file name (e.g. \"kubelet\", \"etcd-v3.6.16-linux-amd64.tar.gz\"). A file without an entry is checked against the checksum file its project publishes next to it"
}

# ---------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------

variable "cluster_name" {
  type        = string
  default     = "k8s"
  description = "Cluster name (kubeconfigs, etcd cluster token, controller-manager --cluster-name)"
}

variable "service_cidr" {
  type        = string
  default     = "10.96.0.0/12"
  description = "Service IP range. The seed's 10.0.0.0/16 collides with VirtualBox NAT (10.0.2.15)"
}

variable "pod_cidr" {
  type        = string
  default     = "10.244.0.0/16"
  description = "Pod network (flannel's net-conf.json and controller-manager --cluster-cidr)"
}

variable "node_cidr_mask_size" {
  type        = number
  default     = 24
  description = "Size of each node's pod subnet"
}

variable "cluster_domain" {
  type        = string
  default     = "cluster.local"
  description = "DNS domain of the cluster"
}

variable "api_endpoint" {
  type        = string
  default     = ""
  description = "Address (IP or DNS name) of an external load balancer or VIP in front of the API servers: workers reach the API through it (masters through their own API server) and every API server certificate names it. Empty: every node uses its own load balancer (api_lb), the certificates name the first master"
}

variable "api_lb" {
  type        = string
  default     = "haproxy"
  description = "How nodes reach the API servers when api_endpoint is empty: haproxy (a load balancer on every node, on 127.0.0.1:api_lb_port, in front of every master's kube-apiserver) or none (masters use their own API server, workers the first master's)"
  validation {
    condition     = contains(["haproxy", "none"], var.api_lb)
    error_message = "api_lb must be haproxy or none."
  }
}

variable "api_lb_port" {
  type        = number
  default     = 6444
  description = "Port of the node-local API load balancer on 127.0.0.1 (kube-apiserver itself has 6443)"
}

variable "etcd_extra_args" {
  type        = map(string)
  default     = {}
  description = "Extra etcd flags, name (without --) = value, e.g. { \"snapshot-count\" = \"50000\" }. A change restarts the members one at a time"
}

variable "node_interface" {
  type        = string
  default     = ""
  description = "Network interface whose IPv4 address the cluster uses on every node (Vagrant: eth1). Empty: the host's address if it is an IP of the node, else the default-route source, else the first global address"
}

variable "key_curve" {
  type        = string
  default     = "secp521r1"
  description = "EC curve of every key openssl makes (the seed's secp521r1; prime256v1 and secp384r1 also work)"
  validation {
    condition     = contains(["secp521r1", "secp384r1", "prime256v1"], var.key_curve)
    error_message = "key_curve must be secp521r1, secp384r1 or prime256v1."
  }
}

variable "ca_days" {
  type        = number
  default     = 5475
  description = "Validity of the three CAs, in days (seed: 15 years)"
}

variable "cert_days" {
  type        = number
  default     = 365
  description = "Validity of the leaf certificates openssl signs, in days (one year, as kubeadm; the seed had 15 years). The CAs keep ca_days"
}

variable "cert_renew_before_days" {
  type        = number
  default     = 30
  description = "Every run reports the certificates that expire within this many days and renews the leaf certificates among them (same CA, same keys), restarting what reads them; the CAs are never renewed. A value of cert_days or more renews every leaf certificate on every run"
  validation {
    condition     = var.cert_renew_before_days >= 0 && floor(var.cert_renew_before_days) == var.cert_renew_before_days
    error_message = "cert_renew_before_days must be a whole number of days, 0 or more."
  }
}

variable "cluster_signing_duration" {
  type        = string
  default     = "8760h"
  description = "Validity of certificates the controller-manager signs (kubelet client and serving certificates)"
}

variable "encryption_provider" {
  type        = string
  default     = "secretbox"
  description = "Provider of encryption at rest for Secrets: secretbox (recommended) or aescbc (the seed's; documented as weak today). aesgcm is refused: with a key the plan never rotates it is unsafe (docs/scratch.md, Encryption at rest; KMS v2 for production)"
  validation {
    condition     = contains(["secretbox", "aescbc"], var.encryption_provider)
    error_message = "encryption_provider must be secretbox or aescbc. aesgcm needs its key rotated before about 2^32 writes, which the plan never does; see docs/scratch.md (Encryption at rest) for KMS v2, the production choice."
  }
}

variable "bootstrap_token_ttl_hours" {
  type        = number
  default     = 24
  description = "Lifetime of the bootstrap token; a re-run makes a new one when the old one has expired"
}

variable "kubelet_server_tls_bootstrap" {
  type        = bool
  default     = true
  description = "Kubelets ask for CA-signed serving certificates (serverTLSBootstrap); the plan approves each node's own request and the API server verifies kubelets with the CA"
}

variable "terminated_pod_gc_threshold" {
  type        = number
  default     = 1000
  description = "kube-controller-manager --terminated-pod-gc-threshold: terminated pods kept before the garbage collector deletes them (CIS 1.3.1; the built-in default 12500 is set nowhere)"
}

variable "kubelet_protect_kernel_defaults" {
  type        = bool
  default     = true
  description = "KubeletConfiguration protectKernelDefaults (CIS 4.2.6): the kubelet refuses to start unless the kernel settings it needs are already set; the plan sets them (kernel task, /etc/sysctl.d/90-kubelet.conf)"
}

variable "pod_security_enforce" {
  type        = string
  default     = "baseline"
  description = "Pod Security admission level enforced in every namespace without its own label: privileged, baseline or restricted"
  validation {
    condition     = contains(["privileged", "baseline", "restricted"], var.pod_security_enforce)
    error_message = "pod_security_enforce must be privileged, baseline or restricted."
  }
}

variable "pod_security_warn" {
  type        = string
  default     = "restricted"
  description = "Pod Security level whose violations are returned to the client as warnings: privileged, baseline or restricted"
  validation {
    condition     = contains(["privileged", "baseline", "restricted"], var.pod_security_warn)
    error_message = "pod_security_warn must be privileged, baseline or restricted."
  }
}

variable "pod_security_audit" {
  type        = string
  default     = "restricted"
  description = "Pod Security level whose violations are annotated in the audit log: privileged, baseline or restricted"
  validation {
    condition     = contains(["privileged", "baseline", "restricted"], var.pod_security_audit)
    error_message = "pod_security_audit must be privileged, baseline or restricted."
  }
}

variable "pod_security_exempt_namespaces" {
  type        = list(string)
  default     = ["kube-system", "kube-flannel"]
  description = "Namespaces Pod Security admission does not check: the cluster's own add-ons (flannel needs host networking and NET_ADMIN)"
}

variable "kube_proxy_mode" {
  type        = string
  default     = "iptables"
  description = "kube-proxy mode: iptables (works on OL8's 4.18 kernel) or nftables (kernel >= 5.13)"
  validation {
    condition     = contains(["iptables", "nftables"], var.kube_proxy_mode)
    error_message = "kube_proxy_mode must be iptables or nftables."
  }
}

variable "taint_masters" {
  type        = bool
  default     = false
  description = "Taint masters node-role.kubernetes.io/control-plane:NoSchedule (the seed ran everything on its one node)"
}

variable "coredns_replicas" {
  type        = number
  default     = 2
  description = "CoreDNS replicas"
}

variable "node_upgrade_serial" {
  type        = string
  default     = "1"
  description = "Nodes whose containerd, kubelet or kube-proxy must restart for a new binary roll in batches of this many nodes, or this percentage of the nodes (\"25%\"), masters first: each node cordoned, drained, restarted, Ready and uncordoned before the next batch"
}

variable "node_upgrade_max_fail_percentage" {
  type        = number
  default     = 0
  description = "No later batch of the node rollout starts once more than this percentage of a batch's nodes failed (0: the first failure stops it)"
}

variable "drain_timeout_seconds" {
  type        = number
  default     = 300
  description = "How long kubectl drain may take per node in the node rollout (pods with a PodDisruptionBudget that forbids eviction hold it up); a drain that does not finish uncordons the node and fails it"
}

variable "check_timeout_seconds" {
  type        = number
  default     = 300
  description = "How long the final checks wait for nodes, flannel, CoreDNS and DNS before they report failure"
}

# ---------------------------------------------------------------------------
# Operating system
# ---------------------------------------------------------------------------

variable "selinux_mode" {
  type        = string
  default     = "permissive"
  description = "SELinux mode on dnf hosts: permissive (the seed) or enforcing (containerd runs with enable_selinux; needs container-selinux)"
  validation {
    condition     = contains(["permissive", "enforcing"], var.selinux_mode)
    error_message = "selinux_mode must be permissive or enforcing."
  }
}

variable "firewalld" {
  type        = string
  default     = "open"
  description = "firewalld, on any host where it is installed: open (keep it running and open what the cluster needs: API, etcd, kubelet, kube-proxy health, NodePorts, VXLAN, the pod and service networks as trusted sources), disable (stop and disable it, as the seed did) or leave (touch nothing)"
  validation {
    condition     = contains(["disable", "open", "leave"], var.firewalld)
    error_message = "firewalld must be disable, open or leave."
  }
}

variable "cgroup_v2_reboot" {
  type        = bool
  default     = true
  description = "On dnf hosts still on cgroup v1 (Oracle Linux 8), switch the kernel command line to cgroup v2 and reboot"
}

variable "packages_dnf" {
  type        = list(string)
  default     = ["openssl", "curl", "tar", "gzip", "diffutils", "iproute", "procps-ng", "kmod", "iptables", "nftables", "container-selinux", "policycoreutils", "policycoreutils-python-utils"]
  description = "Packages installed on dnf hosts (Oracle Linux 8/9). conntrack-tools and socat are no longer needed (kube-proxy cleans conntrack entries over netlink since 1.32; containerd forwards ports itself)"
}

variable "packages_apt" {
  type        = list(string)
  default     = ["openssl", "curl", "ca-certificates", "tar", "gzip", "iproute2", "procps", "kmod", "iptables", "nftables"]
  description = "Packages installed on apt hosts (Debian). A host that already has them all is not touched (the lab has no network)"
}

# ---------------------------------------------------------------------------
# Settings a lab (containers instead of VMs) must override; defaults are right for real hosts
# ---------------------------------------------------------------------------

variable "kubelet_fail_cgroup_v1" {
  type        = bool
  default     = true
  description = "KubeletConfiguration failCgroupV1: refuse to run on cgroup v1 (the lab's hosts are cgroup v1 and set false)"
}

variable "containerd_restrict_oom_score_adj" {
  type        = bool
  default     = false
  description = "containerd CRI restrict_oom_score_adj (set true where negative oom_score_adj is refused, e.g. unprivileged containers)"
}

variable "kube_proxy_conntrack_max_per_core" {
  type        = number
  default     = -1
  description = "kube-proxy conntrack.maxPerCore. -1: kube-proxy's default (32768) where the node can set nf_conntrack_max, else 0 (leave it alone: a container's network namespace, e.g. the lab)"
}

variable "kubelet_resolv_conf" {
  type        = string
  default     = "/etc/resolv.conf"
  description = "resolv.conf the kubelet gives pods with dnsPolicy Default (systemd-resolved hosts: /run/systemd/resolve/resolv.conf)"
}

variable "kubelet_extra_config" {
  type        = map(string)
  default     = {}
  description = "Extra top-level KubeletConfiguration fields, as YAML values (e.g. { podPidsLimit = \"4096\" })"
}

# ---------------------------------------------------------------------------
# Derived values
# ---------------------------------------------------------------------------

locals {
  # Every host of the cluster, masters first. A host in both groups counts once.
  all_hosts = distinct(concat(group.masters.hosts, group.workers.hosts))

  # The first master makes the PKI and applies the cluster's objects; the others (three
  # masters) get its bundle. Lists, so that `on` is simply empty when there is no such host.
  first_master  = slice(group.masters.hosts, 0, min(1, length(group.masters.hosts)))
  other_masters = slice(group.masters.hosts, min(1, length(group.masters.hosts)), length(group.masters.hosts))

  # Hosts that are only workers (a host given in both groups is a master).
  only_workers = [for h in group.workers.hosts : h if !contains(local.master_names, h.name)]

  offline = var.artifacts_dir != ""

  # Every node reaches the API through its own load balancer (HAProxy on 127.0.0.1) unless
  # api_endpoint names an external one, or api_lb = "none".
  api_lb = var.api_lb == "haproxy" && var.api_endpoint == ""

  api_service_ip = cidrhost(var.service_cidr, 1)
  dns_service_ip = cidrhost(var.service_cidr, 10)

  pki = "/etc/kubernetes/pki"

  # TLS 1.2 with ECDHE and AES-GCM only (the seed's choice; ECDSA suites because the keys are EC).
  tls_cipher_suites = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  ]

  k8s_dir        = "${var.artifacts_dir}/kubernetes/${var.kubernetes_version}"
  etcd_dir       = "${var.artifacts_dir}/etcd/${var.etcd_version}"
  containerd_dir = "${var.artifacts_dir}/containerd/${var.containerd_version}"
  runc_dir       = "${var.artifacts_dir}/runc/${var.runc_version}"
  cni_dir        = "${var.artifacts_dir}/cni-plugins/${var.cni_plugins_version}"
  images_dir     = "${var.artifacts_dir}/images"

  pause_image   = "registry.k8s.io/pause:${var.pause_version}"
  flannel_image = "ghcr.io/flannel-io/flannel:${var.flannel_version}"
  coredns_image = "registry.k8s.io/coredns/coredns:${var.coredns_version}"

  # Image archives pushed offline: file name in images_dir => the reference it is tagged with.
  images = {
    "pause-${var.pause_version}.tar"     = local.pause_image
    "flannel-${var.flannel_version}.tar" = local.flannel_image
    "coredns-${var.coredns_version}.tar" = local.coredns_image
  }

  cni_plugins = ["bridge", "host-local", "loopback", "portmap", "flannel"]

  # client certificates made on the first master (pki-ca.sh)
  client_certs = ["apiserver-kubelet-client", "admin", "kube-controller-manager", "kube-scheduler", "front-proxy-client", "etcd-client"]

  # A certificate that expires within cert_renew_before_days is renewed: `openssl x509
  # -checkend` fails for it.
  cert_renew_seconds = floor(var.cert_renew_before_days * 86400)

  # What each control-plane unit reads at start, besides its unit file: a renewed
  # certificate changes the digest its rollout compares, so the unit restarts (one master at a
  # time, templates/rolling-restart.sh). Their keys are kept on renewal.
  etcd_certs                    = "/etc/kubernetes/pki/etcd.crt /etc/kubernetes/pki/etcd-peer.crt"
  kube_apiserver_certs          = "/etc/kubernetes/pki/kube-apiserver.crt /etc/kubernetes/pki/apiserver-kubelet-client.crt /etc/kubernetes/pki/front-proxy-client.crt /etc/kubernetes/pki/etcd-client.crt"
  kube_controller_manager_certs = "/etc/kubernetes/pki/kube-controller-manager.crt"
  kube_scheduler_certs          = "/etc/kubernetes/pki/kube-scheduler.crt"
}

# ---------------------------------------------------------------------------
# Groups: bind hosts with -H masters=cp1,cp2,cp3 -H workers=w1,w2.
# A bare -H k8s-master binds to masters (the first group): a single-node cluster.
# ---------------------------------------------------------------------------

group "masters" {}
group "workers" {}
