package dsl

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteGraph(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": pipelinePlan})
	p := mustLoad(t, dir, Options{Hosts: []string{"m1", "workers=w1,w2"}})
	edges := 0
	for _, n := range p.Nodes() {
		edges += len(n.Deps)
	}
	cases := []struct {
		format        GraphFormat
		level         GraphLevel
		arrow         string
		wantEdges     int
		wantFragments []string
	}{
		{GraphDot, GraphHosts, " -> ", edges, []string{"digraph plan {", `"gen[m1]" -> "use[w1]";`, `label="w2";`}},
		{GraphMermaid, GraphHosts, " --> ", edges, []string{"flowchart LR", `subgraph h0["m1"]`, `["after[w2]"]`}},
		// tasks: gen->use, prep->after, prep->pinned
		{GraphDot, GraphTasks, " -> ", 3, []string{`"gen" [label="gen (m1)"]`, `label="use (2 hosts)"`, `"prep" -> "after";`}},
		{GraphMermaid, GraphTasks, " --> ", 3, []string{`["prep (3 hosts)"]`}},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := WriteGraph(p, &buf, c.format, c.level); err != nil {
			t.Fatalf("%s/%s: %v", c.format, c.level, err)
		}
		out := buf.String()
		if got := strings.Count(out, c.arrow); got != c.wantEdges {
			t.Errorf("%s/%s: %d edges, want %d:\n%s", c.format, c.level, got, c.wantEdges, out)
		}
		for _, f := range c.wantFragments {
			if !strings.Contains(out, f) {
				t.Errorf("%s/%s lacks %q:\n%s", c.format, c.level, f, out)
			}
		}
	}
	if err := WriteGraph(p, &bytes.Buffer{}, "png", GraphTasks); err == nil {
		t.Errorf("unknown format should be an error")
	}
}
