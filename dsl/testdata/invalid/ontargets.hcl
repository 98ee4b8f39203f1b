# -H workers=w1
host "h1" {}
group "workers" {}
group "masters" {}
task "first_master" {
  on = group.masters.hosts[0]
  run "x" {
    command = "echo ${target.adress}"
  }
}
task "ambiguous" {
  on = host.h1
  run "y" {
    command = "echo ${task.per_worker.output.v}"
  }
}
task "per_worker" {
  on = concat(group.workers.hosts, [host.h1])
  output "v" {
    value = "x"
  }
}
task "bad_on" {
  on = { name = 1 }
}
