# -H web1
group "web" {}
task "t" {
  on = group.web.hosts
  run "a" {
    command = "ls"
  }
  run "late" {
    for_each = step.a.stdout
    command  = "echo ${each.key}"
  }
  run "no_each" {
    command = "echo ${each.key}"
  }
  run "dup" {
    for_each = ["x", "x"]
    command  = "echo ${each.value}"
  }
  run "null" {
    for_each = null
    command  = "true"
  }
  run "attr" {
    for_each = ["x"]
    command  = "echo ${each.name}"
  }
  run "use" {
    command = "echo ${step.dup.stdout}"
  }
}
