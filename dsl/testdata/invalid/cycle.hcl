group "g" {}
task "a" {
  on = group.g.hosts
  run "x" {
    command = "echo ${task.b.output.y}"
  }
  output "o" {
    value = "a"
  }
}
task "b" {
  on         = group.g.hosts
  depends_on = [task.c]
  output "y" {
    value = "b"
  }
}
task "c" {
  on = group.g.hosts
  run "x" {
    command = "echo ${task.a.output.o}"
  }
}
