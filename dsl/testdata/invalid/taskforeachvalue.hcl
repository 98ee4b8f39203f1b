# -H w1
group "g" {}
task "deploy" {
  on = group.g.hosts
}
task "bad" {
  for_each = 3
  on       = group.g.hosts
}
task "late" {
  for_each = task.deploy
  on       = group.g.hosts
}
