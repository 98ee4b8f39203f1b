// Package hostarg is the one grammar of a host on the command line and in
// ProxyJump: "[user@]name[:port]", "[user@][v6addr][:port]", a bare IPv6
// address, or "vagrant:NAME". Both the plan language (dsl, for -H) and the
// SSH layer (hosts) parse hosts with it, so the two never split the same
// text differently; it knows neither HCL nor SSH.
package hostarg
