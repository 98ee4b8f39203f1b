task "a" {
  on = [
  run "x" { command = "echo }
