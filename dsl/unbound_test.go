package dsl

import (
	"strings"
	"testing"
)

// With -H for some groups only, a value made from a group that -H left
// empty is unknown; using it at run time says which group to bind.
func TestUnknownFromUnboundGroupSaysWhy(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `group "masters" {}
group "workers" {}
locals {
  api = group.masters.hosts[0].address
}
task "join" {
  on = group.workers.hosts
  run "x" {
    command = "join ${local.api}"
  }
}
task "ca" {
  on = group.masters.hosts[0]
  run "x" {
    command = "true"
  }
}
`})
	p, diags := Load([]string{dir + "/plan.hcl"}, Options{Hosts: []string{"workers=w1"}})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	if got := strings.Join(p.Deferred(), ","); got != "ca" {
		t.Errorf("deferred tasks %q", got)
	}
	ev, d := p.Evaluator(p.Nodes()[0], fuzzUpstream{p: p})
	if d.HasErrors() {
		t.Fatal(diagText(d))
	}
	_, _, d = ev.Step(0)
	if !d.HasErrors() || !strings.Contains(diagText(d), "-H masters=HOST") {
		t.Errorf("want an error naming -H masters=HOST, got %s", diagText(d))
	}
}
