# -H web1
# Timeouts show one way (5m, 30s, 1h30m) at task and step level, and a
# step's own retry shows.
group "web" {}

task "t" {
  on      = group.web.hosts
  timeout = 300
  run "seconds" {
    command = "true"
    timeout = 30
  }
  run "text" {
    command = "true"
    timeout = "1h30m"
    retry {
      attempts = 4
      delay    = "90s"
    }
  }
}
