package hosts

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A result that arrives after the caller gave up (ctx ended, the limit
// passed) is handed to late, which closes it: nothing opened is leaked.
func TestBoundedClosesLateResults(t *testing.T) {
	for _, c := range []struct {
		name    string
		limit   time.Duration
		cancel  bool
		wantErr func(error) bool
	}{
		{"ctx", 0, true, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"limit", 20 * time.Millisecond, false, expiredAfter},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancel {
				cancel()
			}
			release := make(chan struct{})
			closed := make(chan int, 1)
			aborted := false
			v, err := bounded(ctx, c.limit, nil, func() (int, error) { <-release; return 42, nil },
				func() { aborted = true }, func(v int) { closed <- v })
			if v != 0 || !c.wantErr(err) || !aborted {
				t.Fatalf("got %d, %v, aborted %v", v, err, aborted)
			}
			close(release)
			select {
			case v := <-closed:
				if v != 42 {
					t.Fatalf("late got %d", v)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the late result was never handed to late")
			}
		})
	}
	// In time: the call's own result and error, late never called.
	want := errors.New("its own")
	v, err := bounded(context.Background(), time.Minute, nil, func() (int, error) { return 7, want }, nil,
		func(int) { t.Error("late called for a result in time") })
	if v != 7 || err != want {
		t.Fatalf("got %d %v", v, err)
	}
	// expired closing gives up as the limit does.
	expired := make(chan struct{})
	close(expired)
	block := make(chan struct{})
	defer close(block)
	if _, err := bounded(context.Background(), 0, expired, func() (int, error) { <-block; return 0, nil }, nil, nil); !expiredAfter(err) {
		t.Fatalf("expired: %v", err)
	}
}
