variable "pod_cidr" {
  default = "10.244.0.0/16"
}
group "masters" {}
task "a" {
  on = group.mastrs.hosts
  run "x" {
    command = "echo ${var.pod_cdir} ${local.nope} ${targte.name}"
  }
  run "y" {
    command = "echo ${step.z.stdout} ${step.x.stdot}"
  }
  run "z" {
    command = "echo"
  }
}
