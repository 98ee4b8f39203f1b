group "g" {}

task "null_on" {
  on = null
}
