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
// dsl knows HCL and cty and nothing of SSH: hosts are names, addresses, users
// and ports; resolving them is the hosts package's job.
package dsl
