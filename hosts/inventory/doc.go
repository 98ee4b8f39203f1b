// Package inventory says where the hosts are: it turns hosts as a plan or
// -H names them (Spec) into hosts.Endpoints, through ssh_config and Vagrant.
// It reaches no host itself; hosts dials the Endpoints, and cmd/plan wires
// the two (hosts does not import this package).
//
// A Spec is Name (looked up in ssh_config; "vagrant:NAME" for a Vagrant
// machine) plus the plan's Address/User/Port, which override ssh_config
// like ssh's command line options do. ParseHostArg reads the
// "[user@]name[:port]" form into a Spec (the grammar of internal/hostarg).
// Resolver.Resolve turns Specs into Endpoints, several hosts in parallel,
// and reports every host's failure, not just the first:
//
//	eps, err := (&inventory.Resolver{}).Resolve(ctx, specs)
//	t, err := hosts.NewDialer(opts).Dial(ctx, eps[0])
//
// Resolution uses `ssh -G` when an OpenSSH client is on PATH (OpenSSH's own
// evaluation: Include, Match, tokens), else a built-in parser (sshconfig.go:
// Host, Match host/originalhost/user/localuser/exec/all, Include,
// %-tokens). Vagrant machines come from one `vagrant ssh-config NAME...`
// call for all of them (vagrant.go). ProxyJump chains are resolved hop by
// hop into Endpoint.Jump, at most hosts.MaxJumpDepth deep.
//
// Names that could reach a shell on the operator's machine (ProxyCommand,
// Match exec) are refused, as OpenSSH 9.6 does, and what is substituted
// into those commands is quoted besides (shellsafe.go). The programs it
// starts (`ssh -G`, Match exec, vagrant) get hosts.ChildEnv, without plan's
// secrets. docs/transport.md lists the ssh_config options honoured.
package inventory
