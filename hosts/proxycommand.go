package hosts

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proxyCommandConn runs an ssh_config ProxyCommand with /bin/sh (as ssh
// does, in its own process group) and speaks SSH over its stdin/stdout.
// Closing the conn kills the command's whole group.
// The handshake that follows is bounded by the caller closing the conn.
func proxyCommandConn(ep *Endpoint) (net.Conn, error) {
	cmd := exec.Command("/bin/sh", "-c", "exec "+ep.ProxyCommand)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = ChildEnv()
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &pipeConn{cmd: cmd, in: in, out: out, addr: proxyAddr(ep.Addr())}
	cmd.Stderr = &c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ProxyCommand %q: %w", ep.ProxyCommand, err)
	}
	return c, nil
}

type pipeConn struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    io.ReadCloser
	addr   proxyAddr
	stderr lockedBuffer
	once   sync.Once
}

func (c *pipeConn) Read(p []byte) (int, error) {
	n, err := c.out.Read(p)
	if err == io.EOF && c.stderr.Len() > 0 {
		return n, fmt.Errorf("ProxyCommand ended: %s: %w", firstLine(c.stderr.String()), io.EOF)
	}
	return n, err
}

func (c *pipeConn) Write(p []byte) (int, error) { return c.in.Write(p) }

func (c *pipeConn) Close() error {
	c.once.Do(func() {
		c.in.Close()
		if c.cmd.Process != nil {
			syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { c.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
	})
	return nil
}

func (c *pipeConn) LocalAddr() net.Addr              { return c.addr }
func (c *pipeConn) RemoteAddr() net.Addr             { return c.addr }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// proxyAddr is the target's host:port, so known_hosts checks can parse it.
type proxyAddr string

func (a proxyAddr) Network() string { return "proxycommand" }
func (a proxyAddr) String() string  { return string(a) }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4096 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// firstLine is s's first line, trimmed: enough of a program's stderr for
// an error message.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
