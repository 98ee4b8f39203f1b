package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// User is an account on the test server.
type User struct {
	Password       string          // "" disables password login
	AuthorizedKeys []ssh.PublicKey // keys that may log in
	// SudoPassword is what the sudo stand-in asks; "" means passwordless.
	SudoPassword string
	NoSudo       bool
	// SudoShellNoPassword makes the sudo stand-in ask no password for
	// /bin/sh while it still asks one for other commands (`sudo -n true`
	// fails), as a sudoers NOPASSWD rule for some commands does.
	SudoShellNoPassword bool
	// UserCA, when set, accepts user certificates it signed (principal:
	// the user name).
	UserCA ssh.PublicKey
}

// Server is a running test server.
type Server struct {
	Addr  string // 127.0.0.1:PORT
	Dir   string // commands' working directory, sftp's too
	Users map[string]*User
	// MaxSessions, when > 0, refuses a session channel while that many are
	// open on the connection, as sshd's MaxSessions does. Set it before
	// clients connect.
	MaxSessions int

	ln     net.Listener
	binDir string

	mu      sync.Mutex
	hostKey ssh.Signer
	// hostCert, when set, is offered next to the plain host key.
	hostCert ssh.Signer
	conns    map[net.Conn]bool
	closed   bool
	// ExecCount counts exec requests, for tests that assert how many
	// commands ran.
	execs    int
	accepted int
}

// AddCommand puts an executable script name first in the commands' PATH
// (to stand in for a host's own command, e.g. a failing mktemp).
func (s *Server) AddCommand(name, script string) error {
	return os.WriteFile(filepath.Join(s.binDir, name), []byte(script), 0o755)
}

// Start starts a server with users; dir is the work directory.
func Start(dir string, users map[string]*User) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), Dir: dir, Users: users, ln: ln, conns: map[net.Conn]bool{}}
	if err := s.NewHostKey(); err != nil {
		ln.Close()
		return nil, err
	}
	s.binDir, err = os.MkdirTemp("", "sshtest-bin-")
	if err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.binDir, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		ln.Close()
		return nil, err
	}
	go s.serve()
	return s, nil
}

// NewHostKey replaces the host key (a reinstalled host, or an attacker).
func (s *Server) NewHostKey() error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.hostKey, s.hostCert = signer, nil
	s.mu.Unlock()
	return nil
}

// UseHostCertificate makes the server present its host key as a
// certificate signed by ca for the given principals (host names).
func (s *Server) UseHostCertificate(ca ssh.Signer, principals ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cert := &ssh.Certificate{Key: s.hostKey.PublicKey(), CertType: ssh.HostCert, KeyId: "sshtest",
		ValidPrincipals: principals, ValidAfter: 0, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		return err
	}
	cs, err := ssh.NewCertSigner(cert, s.hostKey)
	if err != nil {
		return err
	}
	s.hostCert = cs
	return nil
}

// HostKey is the current public host key.
func (s *Server) HostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostKey.PublicKey()
}

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Execs is the number of exec requests served so far.
func (s *Server) Execs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execs
}

// Accepted is the number of TCP connections accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// DropConnections closes every open connection (sshd killed) but keeps
// listening (sshd restarted).
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Close stops the server and drops every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	s.DropConnections()
	os.RemoveAll(s.binDir)
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.accepted++
		s.mu.Unlock()
		go func() {
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *Server) config() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(m ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if u := s.Users[m.User()]; u != nil && u.Password != "" && string(pw) == u.Password {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("denied")
		},
		PublicKeyCallback: func(m ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if cert, ok := k.(*ssh.Certificate); ok {
				u := s.Users[m.User()]
				if u == nil || u.UserCA == nil {
					return nil, errors.New("denied")
				}
				checker := &ssh.CertChecker{IsUserAuthority: func(auth ssh.PublicKey) bool {
					return string(auth.Marshal()) == string(u.UserCA.Marshal())
				}}
				if !checker.IsUserAuthority(cert.SignatureKey) {
					return nil, errors.New("denied")
				}
				if err := checker.CheckCert(m.User(), cert); err != nil {
					return nil, err
				}
				return &ssh.Permissions{}, nil
			}
			if u := s.Users[m.User()]; u != nil {
				for _, ak := range u.AuthorizedKeys {
					if string(ak.Marshal()) == string(k.Marshal()) {
						return &ssh.Permissions{}, nil
					}
				}
			}
			return nil, errors.New("denied")
		},
	}
	s.mu.Lock()
	cfg.AddHostKey(s.hostKey)
	if s.hostCert != nil {
		cfg.AddHostKey(s.hostCert)
	}
	s.mu.Unlock()
	return cfg
}

func (s *Server) handle(c net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config())
	if err != nil {
		return
	}
	defer sc.Close()
	go func() {
		for r := range reqs {
			r.Reply(r.Type == "keepalive@openssh.com", nil)
		}
	}()
	user := s.Users[sc.User()]
	var open atomic.Int32
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			if s.MaxSessions > 0 && int(open.Load()) >= s.MaxSessions {
				nc.Reject(ssh.ResourceShortage, "too many sessions")
				continue
			}
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			open.Add(1)
			go func() {
				defer open.Add(-1)
				s.session(ch, creqs, user)
			}()
		case "direct-tcpip":
			go s.directTCPIP(nc)
		default:
			nc.Reject(ssh.UnknownChannelType, "no")
		}
	}
}

func (s *Server) directTCPIP(nc ssh.NewChannel) {
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
		nc.Reject(ssh.ConnectionFailed, "bad request")
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(p.Host, fmt.Sprint(p.Port)))
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		target.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() { io.Copy(ch, target); ch.CloseWrite(); ch.Close() }()
	io.Copy(target, ch)
	target.(*net.TCPConn).CloseWrite()
}

func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request, user *User) {
	defer ch.Close()
	var proc *exec.Cmd
	var procMu sync.Mutex
	for r := range reqs {
		switch r.Type {
		case "exec":
			var p struct{ Command string }
			if ssh.Unmarshal(r.Payload, &p) != nil {
				r.Reply(false, nil)
				continue
			}
			r.Reply(true, nil)
			s.mu.Lock()
			s.execs++
			s.mu.Unlock()
			cmd := exec.Command("/bin/sh", "-c", p.Command)
			cmd.Dir = s.Dir
			cmd.Env = []string{"PATH=" + s.binDir + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + s.Dir, "LANG=C"}
			if user != nil {
				cmd.Env = append(cmd.Env, "SSHTEST_SUDO_PASSWORD="+user.SudoPassword)
				if user.NoSudo {
					cmd.Env = append(cmd.Env, "SSHTEST_SUDO=none")
				}
				if user.SudoShellNoPassword {
					cmd.Env = append(cmd.Env, "SSHTEST_SUDO_NOPASSWD_SH=1")
				}
			}
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			// Like sshd, end the session when the process exits even if
			// the client keeps stdin open: Wait closes this pipe and does
			// not wait for the copy (cmd.Stdin = ch would).
			stdin, err := cmd.StdinPipe()
			if err != nil {
				ch.Close()
				continue
			}
			go func() { io.Copy(stdin, ch); stdin.Close() }()
			// like sshd: every session is its own session and group
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			procMu.Lock()
			proc = cmd
			procMu.Unlock()
			go func() {
				err := cmd.Run()
				sendExit(ch, cmd, err)
				ch.Close()
			}()
		case "subsystem":
			var p struct{ Name string }
			if ssh.Unmarshal(r.Payload, &p) != nil || p.Name != "sftp" {
				r.Reply(false, nil)
				continue
			}
			r.Reply(true, nil)
			go func() {
				srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.Dir))
				if err == nil {
					srv.Serve()
					srv.Close()
				}
				ch.Close()
			}()
		case "signal":
			var p struct{ Signal string }
			ssh.Unmarshal(r.Payload, &p)
			procMu.Lock()
			if proc != nil && proc.Process != nil && p.Signal == "KILL" {
				proc.Process.Kill()
			}
			procMu.Unlock()
			r.Reply(true, nil)
		default:
			r.Reply(r.Type == "env", nil)
		}
	}
}

func sendExit(ch ssh.Channel, cmd *exec.Cmd, err error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig := strings.TrimPrefix(unixSignalName(ws.Signal()), "SIG")
			ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Msg, Lang  string
			}{sig, false, "", ""}))
			return
		}
	}
	code := uint32(0)
	if cmd.ProcessState != nil {
		code = uint32(cmd.ProcessState.ExitCode())
	} else if err != nil {
		code = 127
	}
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, code)
	ch.SendRequest("exit-status", false, b)
}

func unixSignalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "KILL"
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGHUP:
		return "HUP"
	}
	return fmt.Sprintf("%d", int(s))
}
