# -H masters=cp1
# -H workers=w1,w2
# for_each on a task: one instance per key, task.X["key"] in references.
variable "apps" {
  default = {
    web = { port = 8080 }
    api = { port = 9090 }
  }
}
group "masters" {}
group "workers" {}

task "deploy" {
  for_each    = var.apps
  description = "deploy ${each.key}"
  on          = group.workers.hosts
  run "start" {
    command = "start ${shellquote(each.key)} --port ${each.value.port}"
  }
  output "url" {
    value = "http://${target.address}:${each.value.port}/${trimspace(step.start.stdout)}"
  }
}

task "check" {
  on         = group.masters.hosts[0]
  depends_on = [task.deploy]
  run "web" {
    command = "curl ${task.deploy["web"]["w1"].output.url}"
  }
  run "all" {
    command = join(" ", [for k in ["api", "web"] : task.deploy[k]["w2"].output.url])
  }
}

task "after_api" {
  on         = group.workers.hosts
  depends_on = [task.deploy["api"]]
  run "x" {
    command = "echo ${task.deploy["api"].output.url}"
  }
}
