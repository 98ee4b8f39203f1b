# W6 (bench/, docs/performance.md): 5 chained short commands per host, on as
# many hosts as one lab holds: what grows with the host count.

group "all" {}

task "s1" {
  on = group.all.hosts
  run "cmd" {
    command = "mkdir -p /tmp/bench && echo s1 >> /tmp/bench/log"
  }
}

task "s2" {
  on         = group.all.hosts
  depends_on = [task.s1]
  run "cmd" {
    command = "echo s2 >> /tmp/bench/log"
  }
}

task "s3" {
  on         = group.all.hosts
  depends_on = [task.s2]
  run "cmd" {
    command = "echo s3 >> /tmp/bench/log"
  }
}

task "s4" {
  on         = group.all.hosts
  depends_on = [task.s3]
  run "cmd" {
    command = "echo s4 >> /tmp/bench/log"
  }
}

task "s5" {
  on         = group.all.hosts
  depends_on = [task.s4]
  run "cmd" {
    command = "echo s5 >> /tmp/bench/log"
  }
}
