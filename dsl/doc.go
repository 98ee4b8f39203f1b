// Package dsl reads plan files (HCL) and turns them into a static graph of
// (task, host) nodes plus a late evaluator for each node's steps.
//
// The work happens in two phases. The static phase (Load) parses the files,
// resolves variables (defaults < PLAN_VAR_name < --var-file < --var), locals,
// hosts, groups and -H bindings, expands every task into one node per host of
// its `on`, derives dependencies from every reference to task.X plus
// depends_on, and type-checks every node with typed unknowns standing in for
// run-time values. The late phase (Plan.Evaluator) evaluates one node's steps
// in order, once the outputs of the nodes it depends on exist.
//
// A group that declares no hosts and that no -H binds is not bound yet:
// without any -H its hosts are unknown (a task whose `on` needs one has no
// node), and Load checks the tasks on it again with a placeholder host in
// each such group, so that validate misses nothing. for_each on a task or
// a step expands it, after the static phase, into one instance per key.
// Diagnostics are bounded (bounds.go) and never show a sensitive value.
//
// dsl knows HCL and cty and nothing of SSH: hosts are names, addresses, users
// and ports; resolving them is the hosts package's job.
package dsl
