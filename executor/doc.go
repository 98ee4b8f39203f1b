// Package executor runs a plan's (task, host) nodes over one Transport per
// host: it walks the dependency graph as soon as each node's dependencies
// are done (a rolling task's nodes batch by batch, see rolling.go), bounds
// concurrency globally and per host, evaluates each node's
// steps late through the dsl Evaluator, runs them (with guards, retries and
// timeouts), passes outputs to downstream nodes, and reports everything as
// Events. It also keeps the run state on disk so a re-run skips nodes that
// already succeeded with the same inputs, writes one log file per node, and
// redacts every secret it knows of from everything it emits or stores.
//
// The executor depends only on small interfaces (Graph, Connector) so it can
// be tested with hand-written evaluators and hosts/hoststest's Fake.
// Rendering of events for people and machines lives in executor/render.
package executor
