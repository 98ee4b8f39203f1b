# -H workers=w1,w2
# -H web=web1
group "workers" {}
group "web" {}
group "empty" {}
task "per_worker" {
  on = group.workers.hosts
  output "v" {
    value = "x"
  }
}
task "nowhere" {
  on = group.empty.hosts
  output "v" {
    value = "y"
  }
}
task "reader" {
  on = group.web.hosts
  run "a" {
    command = "echo ${task.per_worker.output.v} ${task.nowhere.output.v}"
  }
}
task "fine" {
  on = group.workers.hosts
  run "b" {
    command = "echo ${task.per_worker.output.v}"
  }
}
