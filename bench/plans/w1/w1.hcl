# W1 (bench/, docs/performance.md): 20 chained tasks per host, 5 of them small
# file pushes, the rest short commands. bench/ansible/w1.yml and the OpenSSH
# floor in bench/w1.go do the same 20 steps.

group "all" {}

task "t01" {
  on = group.all.hosts
  run "cmd" {
    command = "mkdir -p /tmp/bench && echo t01 >> /tmp/bench/log"
  }
}

task "t02" {
  on         = group.all.hosts
  depends_on = [task.t01]
  run "cmd" {
    command = "echo t02 >> /tmp/bench/log"
  }
}

task "t03" {
  on         = group.all.hosts
  depends_on = [task.t02]
  run "cmd" {
    command = "echo t03 >> /tmp/bench/log"
  }
}

task "t04" {
  on         = group.all.hosts
  depends_on = [task.t03]
  file "push" {
    source      = "files/f1.txt"
    destination = "/tmp/bench/f1.txt"
    mode        = "0644"
  }
}

task "t05" {
  on         = group.all.hosts
  depends_on = [task.t04]
  run "cmd" {
    command = "echo t05 >> /tmp/bench/log"
  }
}

task "t06" {
  on         = group.all.hosts
  depends_on = [task.t05]
  run "cmd" {
    command = "echo t06 >> /tmp/bench/log"
  }
}

task "t07" {
  on         = group.all.hosts
  depends_on = [task.t06]
  run "cmd" {
    command = "echo t07 >> /tmp/bench/log"
  }
}

task "t08" {
  on         = group.all.hosts
  depends_on = [task.t07]
  file "push" {
    source      = "files/f2.txt"
    destination = "/tmp/bench/f2.txt"
    mode        = "0644"
  }
}

task "t09" {
  on         = group.all.hosts
  depends_on = [task.t08]
  run "cmd" {
    command = "echo t09 >> /tmp/bench/log"
  }
}

task "t10" {
  on         = group.all.hosts
  depends_on = [task.t09]
  run "cmd" {
    command = "echo t10 >> /tmp/bench/log"
  }
}

task "t11" {
  on         = group.all.hosts
  depends_on = [task.t10]
  run "cmd" {
    command = "echo t11 >> /tmp/bench/log"
  }
}

task "t12" {
  on         = group.all.hosts
  depends_on = [task.t11]
  file "push" {
    source      = "files/f3.txt"
    destination = "/tmp/bench/f3.txt"
    mode        = "0644"
  }
}

task "t13" {
  on         = group.all.hosts
  depends_on = [task.t12]
  run "cmd" {
    command = "echo t13 >> /tmp/bench/log"
  }
}

task "t14" {
  on         = group.all.hosts
  depends_on = [task.t13]
  run "cmd" {
    command = "echo t14 >> /tmp/bench/log"
  }
}

task "t15" {
  on         = group.all.hosts
  depends_on = [task.t14]
  run "cmd" {
    command = "echo t15 >> /tmp/bench/log"
  }
}

task "t16" {
  on         = group.all.hosts
  depends_on = [task.t15]
  file "push" {
    source      = "files/f4.txt"
    destination = "/tmp/bench/f4.txt"
    mode        = "0644"
  }
}

task "t17" {
  on         = group.all.hosts
  depends_on = [task.t16]
  run "cmd" {
    command = "echo t17 >> /tmp/bench/log"
  }
}

task "t18" {
  on         = group.all.hosts
  depends_on = [task.t17]
  run "cmd" {
    command = "echo t18 >> /tmp/bench/log"
  }
}

task "t19" {
  on         = group.all.hosts
  depends_on = [task.t18]
  run "cmd" {
    command = "echo t19 >> /tmp/bench/log"
  }
}

task "t20" {
  on         = group.all.hosts
  depends_on = [task.t19]
  file "push" {
    source      = "files/f5.txt"
    destination = "/tmp/bench/f5.txt"
    mode        = "0644"
  }
}
