# Takes nodes built by the scratch plan back to before the install (for labs).
#
#   plan run scratch-reset -H masters=cp1 -H workers=w1,w2
#
# Stops and removes every unit the scratch plan made, the containers, the cluster's state
# (etcd data, PKI, kubeconfigs, kubelet and CNI state), its network links and rules, its
# files and users. Kept unless asked: the binaries and the imported images (so a lab can
# rebuild quickly) and the OS settings (packages, swap, SELinux, firewalld, cgroup v2).
# Every node forgets its cluster: run it on all of them, then scratch again with --force
# (the run state still records the first build as done).

variable "remove_binaries" {
  type        = bool
  default     = false
  description = "Also remove the Kubernetes, etcd, containerd, runc and CNI binaries"
}

variable "remove_images" {
  type        = bool
  default     = false
  description = "Also remove containerd's state, images included (/var/lib/containerd)"
}

group "masters" {}
group "workers" {}

task "reset" {
  on   = distinct(concat(group.masters.hosts, group.workers.hosts))
  sudo = true

  script "reset" {
    content = join("\n", [
      "REMOVE_BINARIES='${var.remove_binaries ? 1 : 0}'",
      "REMOVE_IMAGES='${var.remove_images ? 1 : 0}'",
      file("templates/reset.sh"),
    ])
    unless = "! test -e /etc/kubernetes && ! test -e /var/lib/kubelet && ! test -e /var/lib/etcd && ! test -e /etc/systemd/system/kubelet.service && { test '${var.remove_binaries}' = false || ! test -e /usr/local/bin/kubelet; } && { test '${var.remove_images}' = false || ! test -e /var/lib/containerd/io.containerd.metadata.v1.bolt; }"
  }
}
