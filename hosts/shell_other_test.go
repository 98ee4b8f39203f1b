//go:build !linux

package hosts_test

import "testing"

// waitPipeHasData needs Linux's /proc and FIONREAD on a pipe.
func waitPipeHasData(t *testing.T, path string) {
	t.Skip("needs Linux's /proc/PID/fd")
}
