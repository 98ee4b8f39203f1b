# -H workers=w1
host "h1" {
  port = 70000
  vars = { x = [1] }
}
group "workers" {
  hosts = [42]
}
group "masters" {}
