# -H web=127.0.0.1:2222,127.0.0.1:2200
# -H web=a@h1,b@h1
# -H web=-oProxyCommand=x
# -H web=a@b@c
# -H web=h1=h2
# -H web=vagrant:
# -H web=h;id
# -H web=u$(id)@h2
# -H web=-admin@h3
# -H web=ok@h4:2222
group "web" {}

task "t" {
  on = group.web.hosts
  run "r" {
    command = "true"
  }
}
