// Package hoststest provides an in-memory hosts.Transport for tests, as
// net/http/httptest does for net/http: packages above hosts (executor,
// builtin-plans, cmd/plan) test what they do to hosts without SSH.
//
//   - Fake keeps files in memory, records every call (Calls) and simulates
//     delays, exit codes, queued failures (FailNext) and connection loss
//     (LoseConnection, Reconnect). The test supplies a FakeHandler for
//     commands; FakeExit makes a non-zero exit status.
//   - FakeShell is a FakeHandler that runs each command with the local
//     /bin/sh, for tests about commands rather than pushed files.
//
// The Fake reports errors as the SSH transport does (hosts.ExitError with a
// stderr tail, hosts.ErrConnLost, hosts.ErrTimeout with the context's
// error), through the constructors hosts exports for that; the conformance
// suite (hosts/conformance) runs the same cases against it and against
// real sshd. Nothing outside tests should import this package.
package hoststest
