# A small example: a templated motd on every host, a script, and values passed between tasks.
#
#   plan render hello -H web1,web2
#   plan run hello -H admin@web1 -H admin@web2:2222

variable "greeting" {
  type        = string
  default     = "hello"
  description = "What every host says."
  validation {
    condition     = length(var.greeting) > 0
    error_message = "The greeting must not be empty."
  }
}

locals {
  motd = "${var.greeting} from plan"
}

group "hosts" {}

task "facts" {
  on = group.hosts.hosts
  run "uname" {
    command = "uname -sr"
  }
  output "kernel" {
    value = trimspace(step.uname.stdout)
  }
}

task "greet" {
  on = group.hosts.hosts
  run "dir" {
    command = "mkdir -p /tmp/plan-hello"
    creates = "/tmp/plan-hello"
  }
  file "motd" {
    destination = "/tmp/plan-hello/motd"
    content     = templatefile("templates/motd.tpl", { motd = local.motd, host = target.name, kernel = task.facts.output.kernel })
    mode        = "0644"
  }
  script "show" {
    content = <<-EOT
      echo "$(cat /tmp/plan-hello/motd)"
      ls -l /tmp/plan-hello
    EOT
  }
}

task "report" {
  on         = group.hosts.hosts
  depends_on = [task.greet]
  script "report" {
    source = "files/report.sh"
  }
}
