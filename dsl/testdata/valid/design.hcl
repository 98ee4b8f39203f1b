# The example of the design brief, as written.
# -H workers=w1,w2
variable "pod_cidr" {
  type        = string
  default     = "10.244.0.0/16"
  description = "Pod network"
}
variable "service_cidr" {
  type    = string
  default = "10.96.0.0/12"
}
variable "encryption_key" {
  type      = string
  default   = "MDEyMzQ1Njc4OWFiY2RlZg=="
  sensitive = true
}

locals {
  service_ip = cidrhost(var.service_cidr, 1)
}

host "cp1" {
  address = "192.168.56.11"
  user    = "vagrant"
  port    = 22
}

group "masters" {
  hosts = [host.cp1]
}
group "workers" {}

task "swap_off" {
  on   = concat(group.masters.hosts, group.workers.hosts)
  sudo = true
  run "swapoff" {
    command = "swapoff -a && sed -i '/\\sswap\\s/s/^/#/' /etc/fstab"
    unless  = "test -z \"$(swapon --show)\""
  }
}

task "ca" {
  on         = group.masters.hosts[0]
  depends_on = [task.swap_off]
  sudo       = true
  file "openssl_cnf" {
    destination = "/etc/kubernetes/pki/openssl.cnf"
    content     = templatefile("templates/openssl.cnf", { ip = target.address })
    mode        = "0644"
  }
  run "ca_key" {
    command = "openssl ecparam -name secp521r1 -genkey -noout -out /etc/kubernetes/pki/ca.key"
    creates = "/etc/kubernetes/pki/ca.key"
  }
  fetch "ca_crt" {
    source = "/etc/kubernetes/pki/ca.crt"
  }
  output "ca_crt" {
    value = step.ca_crt.content
  }
}

task "token" {
  on = group.masters.hosts[0]
  run "make" {
    command = "echo \"$(openssl rand -hex 3).$(openssl rand -hex 8)\""
  }
  output "value" {
    value     = trimspace(step.make.stdout)
    sensitive = true
  }
}

task "worker_files" {
  on   = group.workers.hosts
  sudo = true
  file "ca" {
    destination = "/etc/kubernetes/pki/ca.crt"
    content     = task.ca.output.ca_crt
  }
  file "bootstrap" {
    destination = "/etc/kubernetes/bootstrap.kubeconfig"
    content     = templatefile("templates/bootstrap.kubeconfig", { token = task.token.output.value })
    mode        = "0600"
  }
  file "encryption" {
    destination = "/etc/kubernetes/encryption.yaml"
    content     = "secret: ${var.encryption_key}\nservice_ip: ${local.service_ip}\n"
  }
}
