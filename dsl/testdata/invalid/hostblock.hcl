host "bad" {
  address = "-oProxyCommand=touch /tmp/x"
  user    = "root;id"
}

group "g" {
  hosts = [host.bad]
}
