// Package conformance is the one test suite every hosts.Transport passes:
// the in-memory Fake (hosts/hoststest), the SSH transport against the in-process test server,
// and the SSH transport against real OpenSSH sshd lab hosts. A backend
// provides a Factory; Run runs every case as a subtest.
package conformance
