package hostarg

import "testing"

func TestParse(t *testing.T) {
	good := map[string]Host{
		"cp1":              {Name: "cp1"},
		"bob@cp1:2222":     {Name: "cp1", User: "bob", Port: 2222},
		"[::1]:22":         {Name: "::1", Port: 22},
		"u@[fe80::1]":      {Name: "fe80::1", User: "u"},
		"fe80::1":          {Name: "fe80::1"},
		"vagrant:m1":       {Name: "vagrant:m1"},
		"u@vagrant:m1":     {Name: "vagrant:m1", User: "u"},
		"10.0.0.1":         {Name: "10.0.0.1"},
		"host.example.com": {Name: "host.example.com"},
		"d_u.x-y@h_1":      {Name: "h_1", User: "d_u.x-y"},
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	// OpenSSH would refuse these, or they mean something else in -H.
	for _, bad := range []string{"", "@h", "h:0", "h:x", "h:", "u@:22", "a@b@c", "-h", "-u@h", "h1=h2",
		"vagrant:", "h;id", "h id", "h$(id)", "u`id`@h", "h|x", "h\x1b[2J", "[::1", "[x]:22", "[::1]x", "u:p@h", "a,b", "h/x"} {
		if h, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", bad, h)
		}
	}
}
