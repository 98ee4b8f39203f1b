package inventory

import (
	"strings"
	"testing"
)

func FuzzParseHostArg(f *testing.F) {
	for _, s := range []string{"h", "u@h:22", "[::1]:2222", "vagrant:m1", "a@b@c", "h:", ":22", "[::1", "u@vagrant:x:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseHostArg(s)
		if err != nil {
			return
		}
		if sp.Name == "" {
			t.Fatalf("%q: empty name", s)
		}
		if sp.Port < 0 || sp.Port > 65535 {
			t.Fatalf("%q: port %d", s, sp.Port)
		}
		if strings.Contains(s, "@") && sp.User == "" {
			t.Fatalf("%q: user lost", s)
		}
	})
}

func FuzzConfigParser(f *testing.F) {
	f.Add("Host a\n  HostName b\nMatch host b user x\n  Port 2\n", "a")
	f.Add("Host=\"quoted name\" other\n User=u # c\nInclude /nonexistent/*\n", "quoted name")
	f.Add("Match !all\nHost *\n IdentityFile %d/%h/%r\n", "x")
	f.Fuzz(func(t *testing.T, text, host string) {
		if strings.Contains(text, "exec") {
			return // Match exec runs commands: not in a fuzzer
		}
		p := &configParser{originalHost: host, localUser: "me", home: t.TempDir(), opts: sshOptions{}}
		_ = p.parseText(text, "fuzz") // must not panic or hang
	})
}
