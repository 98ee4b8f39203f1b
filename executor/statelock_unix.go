//go:build unix

package executor

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockState takes an exclusive, non-blocking lock on path+".lock", so two
// runs in the same directory cannot overwrite each other's state. The lock
// goes with the process, even when it dies.
func lockState(path string) (*os.File, error) {
	if err := os.MkdirAll(dirOfLocal(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock run state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another plan run is using %s (wait for it to end)", path)
		}
		return nil, fmt.Errorf("lock run state: %w", err)
	}
	return f, nil
}
