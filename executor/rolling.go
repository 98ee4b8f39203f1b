package executor

import (
	"fmt"

	"github.com/plan-dev/plan/dsl"
)

// rollState is the scheduler's state of one rolling task (a task with
// serial): which batch is open, and per batch how many of its selected
// nodes are not done yet and how many did not succeed.
type rollState struct {
	r      *dsl.Rolling
	task   string
	open   int         // the batch whose nodes may start
	left   map[int]int // batch -> selected nodes not done
	total  map[int]int // batch -> selected nodes
	failed map[int]int // batch -> nodes done without success
	nodes  map[int][]*nodeRun
	held   []*nodeRun // ready, but their batch is not open yet
	// stopped says why no later batch starts ("" while rolling goes on).
	stopped string
}

// initRolling makes the state of every rolling task among the selected
// nodes. Batches are those of the plan (the task's hosts in order);
// --only and --limit leave some nodes out of them, not renumber them.
func (r *run) initRolling() {
	r.rolls = map[*dsl.Rolling]*rollState{}
	for _, nr := range r.nodes {
		rl := nr.n.Rolling
		if rl == nil {
			continue
		}
		st, ok := r.rolls[rl]
		if !ok {
			st = &rollState{r: rl, task: nr.n.Task, left: map[int]int{}, total: map[int]int{},
				failed: map[int]int{}, nodes: map[int][]*nodeRun{}}
			r.rolls[rl] = st
		}
		st.left[nr.n.Batch]++
		st.total[nr.n.Batch]++
		st.nodes[nr.n.Batch] = append(st.nodes[nr.n.Batch], nr)
	}
	for _, st := range r.rolls {
		r.advance(st) // past the batches with no node selected
	}
}

// gate returns the nodes of ready that may start now and holds back the
// others: the nodes of a rolling task's batch that is not open yet.
func (r *run) gate(ready []*nodeRun) []*nodeRun {
	out := ready[:0:0]
	for _, nr := range ready {
		if st := r.rolls[nr.n.Rolling]; st != nil && nr.n.Batch > st.open {
			st.held = append(st.held, nr)
			continue
		}
		out = append(out, nr)
	}
	return out
}

// rollFinished counts a done node of a rolling task. When that ends the
// open batch, the next batch opens (its held nodes go to r.released) or,
// when more than max_fail_percentage of the batch did not succeed, every
// node of the later batches is skipped.
func (r *run) rollFinished(nr *nodeRun, res *nodeResult) {
	st := r.rolls[nr.n.Rolling]
	if st == nil {
		return
	}
	b := nr.n.Batch
	st.left[b]--
	if !res.satisfies() {
		st.failed[b]++ // failed, or skipped because a dependency did not succeed
	}
	r.advance(st)
}

// advance opens the next batch once the open one is done, or stops the
// rolling when that batch failed too much.
func (r *run) advance(st *rollState) {
	if st.stopped != "" {
		return
	}
	for st.open < st.r.Batches && st.left[st.open] == 0 {
		done := st.open
		if f, n := st.failed[done], st.total[done]; f*100 > st.r.MaxFailPercentage*n {
			st.stopped = fmt.Sprintf("not started: rolling task %s stopped after batch %d of %d: %d of its %d nodes did not succeed (max_fail_percentage %d)",
				st.task, done+1, st.r.Batches, f, n, st.r.MaxFailPercentage)
			for later := done + 1; later < st.r.Batches; later++ {
				for _, x := range st.nodes[later] {
					r.skip(x, st.stopped)
				}
			}
			st.held = nil
			return
		}
		st.open++
	}
	kept := st.held[:0]
	for _, h := range st.held {
		switch {
		case h.done:
		case h.n.Batch <= st.open:
			r.released = append(r.released, h)
		default:
			kept = append(kept, h)
		}
	}
	st.held = kept
}
