package hosts

import (
	"os"
	"strings"
)

// secretEnv are the variables that carry secrets to plan itself; they are
// removed from the environment of every program plan starts locally
// (ProxyCommand, `ssh -G`, Match exec, vagrant), which have no use for them.
var secretEnv = []string{EnvSudoPassword, EnvSSHPassword}

// ChildEnv is os.Environ() without secretEnv, with extra appended: the
// environment of every program plan starts on the operator's machine (the
// inventory's `ssh -G`, Match exec and vagrant use it too).
func ChildEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		secret := false
		for _, s := range secretEnv {
			if k == s {
				secret = true
			}
		}
		if !secret {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}
