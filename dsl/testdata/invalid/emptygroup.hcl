# -H workers=w1
# masters stays empty: indexing its hosts in a step says how to fill it.
group "masters" {}
group "workers" {}

task "join" {
  on = group.workers.hosts
  run "x" {
    command = "join ${group.masters.hosts[0].address}"
  }
}
