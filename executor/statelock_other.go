//go:build !unix

package executor

import "os"

// lockState is a no-op where flock is not available.
func lockState(path string) (*os.File, error) { return nil, nil }
