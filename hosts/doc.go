// Package hosts is how plan reaches a host once it knows where the host
// is: the Transport interface, the SSH transport (SSH, sftp, known_hosts,
// sudo, pushes and fetches) and the Endpoint that says how to reach one
// host. It knows nothing of HCL.
//
// Its neighbours, one capability each (as net/http has httptest):
//
//   - hosts/inventory turns what the plan or -H names into Endpoints
//     (ssh_config, `ssh -G`, Vagrant). hosts does not import it; cmd/plan
//     wires the two: inventory.Resolver.Resolve, then Dialer.Dial.
//   - hosts/hoststest is the in-memory Fake Transport for unit tests.
//   - hosts/conformance is the suite every Transport passes.
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
// The secrets plan reads from its environment are kept from the programs
// it starts on the operator's machine (ChildEnv in childenv.go, used by
// ProxyCommand here and by the inventory's `ssh -G`, Match exec and
// vagrant); names that could reach a shell there are refused by the
// inventory (hosts/inventory/shellsafe.go). SECURITY.md lists the
// guarantees.
//
// docs/transport.md is the user-facing description: ssh_config options
// honoured, auth order, host-key policy, sudo, push semantics, limits.
//
// # Endpoints
//
// An Endpoint is everything needed to reach one host, fully resolved
// (address, port, user, identities, ProxyJump hops in Endpoint.Jump,
// ProxyCommand, host-key policy and files, timeouts). The inventory makes
// them; the transport only reads them:
//
//	eps, err := (&inventory.Resolver{}).Resolve(ctx, specs)
//	d := hosts.NewDialer(hosts.Options{AcceptNewHostKeys: flag, Prompt: ask})
//	t, err := d.Dial(ctx, eps[0])   // *hosts.SSH, a Transport
//	defer t.Close()
//	fmt.Println(eps[0].SSHCommand("uptime")) // "reproduce by hand" line
//
// hosts exports for the inventory what both sides must agree on:
// DefaultIdentityFiles, MaxJumpDepth, LocalUserName and ChildEnv.
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
