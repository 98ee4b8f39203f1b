# -H g=h1,h2
# -H other=o1
group "g" {}
group "other" {}
task "multi" {
  on = group.g.hosts
  run "x" {
    command = "hostname"
  }
  output "name" {
    value = step.x.stdout
  }
}
task "reader" {
  on = group.other.hosts
  run "a" {
    command = "echo ${task.multi.output.name}"
  }
  run "b" {
    command = "echo ${task.multi["h9"].output.name} ${task.multi["h1"].output.nam}"
  }
}
task "static" {
  on   = target
  when = task.multi.output.name == "x"
  run "c" {
    command = "echo"
  }
}
task "self" {
  on         = group.g.hosts
  depends_on = [task.self, task.nope]
  output "o" {
    value = task.self.output.o
  }
}
task "pin" {
  on         = group.g.hosts
  depends_on = [task.multi["h7"], task.multi.x]
}
