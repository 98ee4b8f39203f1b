// Package hosts knows who the hosts are and how to reach them: SSH, sftp,
// ssh_config, known_hosts, sudo and Vagrant. It knows nothing of HCL.
//
// # Transport
//
// Transport (transport.go) is what the executor uses to talk to one host:
// Run a command, Push a file atomically, Fetch a file, Close. Two
// implementations pass the same conformance suite (hosts/conformance):
//
//   - hoststest.Fake (package hosts/hoststest, as net/http has httptest):
//     in memory, for unit tests. The test supplies a FakeHandler for
//     commands; files live in a map; calls are recorded; Delay,
//     LoseConnection/Reconnect and FailNext simulate slow and broken hosts.
//     FakeShell is a handler that runs commands with the local /bin/sh.
//     hosts exports NewExitError, ContextError and TailBuffer so that the
//     Fake reports exit statuses, stderr tails and cancellation exactly as
//     the SSH transport does.
//   - SSH (Dialer.Dial): one connection per host (through its ProxyJump
//     hops), many sessions, one sftp client, at most Options.MaxSessions
//     command channels; every dial, handshake, session open and sftp
//     request bounded; keepalives; a dead connection re-dialed before the
//     next call (outside the transport's lock: Close never waits for a
//     stuck dial); cancellation kills the remote process group; sudo with a
//     password fed on stdin once sudo's random prompt appears; pushes
//     written to an exclusive temp file beside the destination, verified,
//     given owner and mode through its descriptor and renamed (small files
//     in one session, content on stdin; big ones over sftp into a private
//     /tmp directory first).
//
// Every x/crypto/ssh or pkg/sftp call that takes no context (session
// open, sftp start and requests, the handshake, the remote kill) goes
// through bounded (bounded.go): raced against ctx and a limit, and what it
// returns after its caller gave up (a session, an sftp client or file) is
// closed, never leaked. Jump-host connections are shared per hop (jump.go);
// their lock guards the map only, never a dial, so chains of hops dial
// through each other.
//
// Names that could reach a shell on the operator's machine (ProxyCommand,
// Match exec) are refused and what is substituted is quoted; the secrets
// plan reads from its environment are kept from the programs it starts
// (shellsafe.go). SECURITY.md lists the guarantees.
//
// docs/transport.md is the user-facing description: ssh_config options
// honoured, auth order, host-key policy, sudo, push semantics, limits.
//
// # Inventory
//
// A Spec is a host as the plan or -H names it: Name (looked up in
// ssh_config; "vagrant:NAME" for a Vagrant machine) plus the plan's
// Address/User/Port, which override ssh_config like ssh's command line
// options do. ParseHostArg reads the "[user@]name[:port]" form into a Spec
// (the grammar of internal/hostarg). Resolver.Resolve turns Specs into Endpoints:
//
//	eps, err := (&hosts.Resolver{}).Resolve(ctx, specs)
//	d := hosts.NewDialer(hosts.Options{AcceptNewHostKeys: flag, Prompt: ask})
//	t, err := d.Dial(ctx, eps[0])   // *hosts.SSH, a Transport
//	defer t.Close()
//	fmt.Println(eps[0].SSHCommand("uptime")) // "reproduce by hand" line
//
// Resolution uses `ssh -G` when an OpenSSH client is on PATH (OpenSSH's own
// evaluation: Include, Match, tokens), else a built-in parser (Host, Match
// host/originalhost/user/localuser/exec/all, Include, %-tokens).
// Vagrant machines come from one `vagrant ssh-config NAME...` call for all
// of them. ProxyJump chains are resolved hop by hop into Endpoint.Jump.
//
// One Dialer serves a whole run: it asks a password or passphrase at most
// once (Options.Prompt) or takes PLAN_SSH_PASSWORD / PLAN_SUDO_PASSWORD from
// the environment, and Dialer.Secrets lists them for redaction.
//
// # Host keys
//
// Host keys: known_hosts (hashed entries, @cert-authority, @revoked) under
// StrictHostKeyChecking yes (default; "ask" too), accept-new or no, and
// Options.AcceptNewHostKeys; HostKeyAlias (the alias alone, no port) and
// CheckHostIP as OpenSSH does them, checked against `ssh` itself by a
// differential test (hosts/conformance/hostkeys_test.go). Unknown keys are refused with their SHA256
// fingerprint and how to accept them; changed keys are always refused.
//
// # Errors
//
// Failures wrap the sentinels in errors.go (ErrAuth, ErrHostKeyUnknown,
// ErrHostKeyChanged, ErrTimeout, ErrConnLost, ErrSudoPassword); a command
// that ran and exited non-zero is an *ExitError (a command killed by signal
// N: Code 128+N and Signal, the same through every path). A cancelled context gives an
// error wrapping context.Canceled; a deadline wraps both ErrTimeout and
// context.DeadlineExceeded.
package hosts
