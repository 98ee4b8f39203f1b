package dsl

import (
	"fmt"
	"io"
	"strings"
)

// GraphFormat is an output format of WriteGraph.
type GraphFormat string

// GraphLevel says what the graph's nodes are.
type GraphLevel string

const (
	GraphDot     GraphFormat = "dot"
	GraphMermaid GraphFormat = "mermaid"

	GraphTasks GraphLevel = "tasks" // one node per task
	GraphHosts GraphLevel = "hosts" // one node per (task, host)
)

type graphEdge struct{ from, to int }

// WriteGraph writes the plan's graph. Edges point from a node to the nodes
// that wait for it (the order things run in).
func WriteGraph(p *Plan, w io.Writer, format GraphFormat, level GraphLevel) error {
	var labels []string
	var ids []string // dot node names: the task name, or TASK[HOST]
	var edges []graphEdge
	var clusters []string         // host names, in first-node order (hosts level)
	clusterOf := map[int]string{} // node index -> host name
	switch level {
	case GraphTasks:
		index := map[string]int{}
		order := p.taskOrder()
		for i, t := range order {
			index[t.name] = i
			label := t.name
			switch len(t.hosts) {
			case 0:
				label += " (no host)"
			case 1:
				label += " (" + t.hosts[0].Name + ")"
			default:
				label += fmt.Sprintf(" (%d hosts)", len(t.hosts))
			}
			if len(t.hosts) > 0 {
				if r := p.nodeByID[nodeID(t.name, t.hosts[0].Name)].Rolling; r != nil {
					label += fmt.Sprintf(" [serial %s: %d batches]", r.Serial, r.Batches)
				}
			}
			labels = append(labels, label)
			ids = append(ids, t.name)
		}
		for _, t := range order {
			seen := map[string]bool{}
			for _, r := range t.refs {
				if !seen[r.task] {
					seen[r.task] = true
					edges = append(edges, graphEdge{index[r.task], index[t.name]})
				}
			}
		}
	case GraphHosts:
		index := map[*Node]int{}
		seen := map[string]bool{}
		for i, n := range p.nodes {
			index[n] = i
			label := n.ID
			if n.Rolling != nil {
				label += fmt.Sprintf(" (batch %d of %d)", n.Batch+1, n.Rolling.Batches)
			}
			labels = append(labels, label)
			ids = append(ids, n.ID)
			clusterOf[i] = n.Host.Name
			if !seen[n.Host.Name] {
				seen[n.Host.Name] = true
				clusters = append(clusters, n.Host.Name)
			}
		}
		for _, n := range p.nodes {
			for _, d := range n.Deps {
				edges = append(edges, graphEdge{index[d], index[n]})
			}
		}
	default:
		return fmt.Errorf("unknown graph level %q (want tasks or hosts)", level)
	}
	var b strings.Builder
	switch format {
	case GraphDot:
		b.WriteString("digraph plan {\n  rankdir=LR;\n  node [shape=box];\n")
		for i, l := range labels {
			fmt.Fprintf(&b, "  %q [label=%q];\n", ids[i], l)
		}
		for ci, host := range clusters {
			fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=%q;\n   ", ci, host)
			for i := range labels {
				if clusterOf[i] == host {
					fmt.Fprintf(&b, " %q;", ids[i])
				}
			}
			b.WriteString("\n  }\n")
		}
		for _, e := range edges {
			fmt.Fprintf(&b, "  %q -> %q;\n", ids[e.from], ids[e.to])
		}
		b.WriteString("}\n")
	case GraphMermaid:
		b.WriteString("flowchart LR\n")
		for i, l := range labels {
			if len(clusters) == 0 {
				fmt.Fprintf(&b, "  n%d[\"%s\"]\n", i, mermaidText(l))
			}
		}
		for ci, host := range clusters {
			fmt.Fprintf(&b, "  subgraph h%d[\"%s\"]\n", ci, mermaidText(host))
			for i, l := range labels {
				if clusterOf[i] == host {
					fmt.Fprintf(&b, "    n%d[\"%s\"]\n", i, mermaidText(l))
				}
			}
			b.WriteString("  end\n")
		}
		for _, e := range edges {
			fmt.Fprintf(&b, "  n%d --> n%d\n", e.from, e.to)
		}
	default:
		return fmt.Errorf("unknown graph format %q (want dot or mermaid)", format)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// taskOrder returns the tasks in the order of their first node, then the
// tasks without nodes in declaration order.
func (p *Plan) taskOrder() []*task {
	var out []*task
	seen := map[string]bool{}
	for _, n := range p.nodes {
		if !seen[n.Task] {
			seen[n.Task] = true
			out = append(out, p.taskByName[n.Task])
		}
	}
	for _, t := range p.tasks {
		if !seen[t.name] {
			out = append(out, t)
		}
	}
	return out
}

func mermaidText(s string) string { return strings.ReplaceAll(s, `"`, "#quot;") }
