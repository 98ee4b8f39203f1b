// Package hosts knows who the hosts are and how to reach them: SSH, sftp,
// ssh_config, known_hosts, sudo and Vagrant. It knows nothing of HCL.
//
// # Transport
//
// Transport (transport.go) is what the executor uses to talk to one host:
// Run a command, Push a file atomically, Fetch a file, Close. Two
// implementations pass the same conformance suite (hosts/conformance):
//
//   - Fake: in memory, for unit tests. The test supplies a FakeHandler for
//     commands; files live in a map; calls are recorded; Delay,
//     LoseConnection/Reconnect and FailNext simulate slow and broken hosts.
//   - the SSH transport (Dial): one connection per host, many sessions, one
//     sftp client, a bound on concurrent channels.
//
// # Errors
//
// Failures wrap the sentinels in errors.go (ErrAuth, ErrHostKeyUnknown,
// ErrHostKeyChanged, ErrTimeout, ErrConnLost, ErrSudoPassword); a command
// that ran and exited non-zero is an *ExitError. A cancelled context gives an
// error wrapping context.Canceled; a deadline wraps both ErrTimeout and
// context.DeadlineExceeded.
package hosts
