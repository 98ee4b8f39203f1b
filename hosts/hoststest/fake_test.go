package hoststest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
)

func TestFakeRunHandlerAndExit(t *testing.T) {
	f := NewFake("h1")
	f.Handler = func(ctx context.Context, r *FakeRun) error {
		in, _ := io.ReadAll(r.Stdin)
		fmt.Fprintf(r.Stdout, "%s|%s|%v", r.Cmd, in, r.Sudo)
		if r.Cmd == "fail" {
			fmt.Fprintln(r.Stderr, "boom")
			return FakeExit(3, "")
		}
		return nil
	}
	var out bytes.Buffer
	if err := f.Run(context.Background(), &hosts.Command{Cmd: "echo", Stdin: strings.NewReader("in"), Stdout: &out, Sudo: true}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "echo|in|true" {
		t.Fatalf("stdout %q", out.String())
	}
	err := f.Run(context.Background(), &hosts.Command{Cmd: "fail"})
	var ee *hosts.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.StderrTail != "boom" {
		t.Fatalf("want exit 3 with tail boom, got %#v", err)
	}
	calls := f.Calls()
	if len(calls) != 2 || calls[0].Cmd != "echo" || !calls[0].Sudo || calls[1].Err == nil {
		t.Fatalf("calls %+v", calls)
	}
}

func TestFakeRunHonoursCtxEvenIfHandlerDoesNot(t *testing.T) {
	f := NewFake("h1")
	release := make(chan struct{})
	defer close(release)
	f.Handler = func(ctx context.Context, r *FakeRun) error {
		<-release // ignores ctx on purpose
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	err := f.Run(ctx, &hosts.Command{Cmd: "sleep 1000"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	f.Delay = time.Hour
	if err := f.Run(ctx2, &hosts.Command{Cmd: "x"}); !errors.Is(err, hosts.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want timeout, got %v", err)
	}
}

func TestFakeConnectionLossAndFailNext(t *testing.T) {
	f := NewFake("h1")
	f.LoseConnection()
	if err := f.Run(context.Background(), &hosts.Command{Cmd: "true"}); !errors.Is(err, hosts.ErrConnLost) {
		t.Fatalf("want ErrConnLost, got %v", err)
	}
	f.Reconnect()
	f.FailNext(hosts.ErrAuth)
	if err := f.Run(context.Background(), &hosts.Command{Cmd: "true"}); !errors.Is(err, hosts.ErrAuth) {
		t.Fatalf("want ErrAuth, got %v", err)
	}
	if err := f.Run(context.Background(), &hosts.Command{Cmd: "true"}); err != nil {
		t.Fatalf("after the queued failure: %v", err)
	}
	f.Close()
	if _, err := f.Fetch(context.Background(), &hosts.Download{Path: "/x"}); !errors.Is(err, hosts.ErrConnLost) {
		t.Fatalf("after close: %v", err)
	}
}

func TestFakePushChangedAndFetch(t *testing.T) {
	f := NewFake("h1")
	f.User = "plan"
	ctx := context.Background()
	u := &hosts.Upload{Path: "/etc/a", Content: []byte("one"), Mode: 0o600, Sudo: true}
	if r, err := f.Push(ctx, u); err != nil || !r.Changed || len(r.SHA256) != 64 {
		t.Fatalf("first push %+v %v", r, err)
	}
	if r, err := f.Push(ctx, u); err != nil || r.Changed {
		t.Fatalf("second push %+v %v", r, err)
	}
	ff, _ := f.File("/etc/a")
	if ff.Owner != "root" || ff.Mode != 0o600 {
		t.Fatalf("file %+v", ff)
	}
	dry := *u
	dry.Content, dry.DryRun = []byte("two"), true
	if r, err := f.Push(ctx, &dry); err != nil || !r.Changed {
		t.Fatalf("dry run %+v %v", r, err)
	}
	if got, _ := f.Fetch(ctx, &hosts.Download{Path: "/etc/a"}); string(got) != "one" {
		t.Fatalf("dry run wrote: %q", got)
	}
	if _, err := f.Push(ctx, &hosts.Upload{Path: "/etc/b", Content: []byte("x"), Owner: "root"}); err == nil {
		t.Fatal("non-root push to another owner without sudo should fail")
	}
	if _, err := f.Fetch(ctx, &hosts.Download{Path: "/nope"}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
