package render

import (
	"encoding/json"
	"io"

	"github.com/plan-dev/plan/executor"
)

// JSON writes one JSON object per event, one per line. The last one has
// "event": "run_finished" and carries the summary.
type JSON struct {
	enc *json.Encoder
}

// NewJSON returns a JSON renderer writing to w.
func NewJSON(w io.Writer) *JSON {
	return &JSON{enc: json.NewEncoder(w)}
}

// Event implements executor.Sink.
func (j *JSON) Event(ev executor.Event) {
	_ = j.enc.Encode(ev)
}

// Close implements Renderer; nothing to flush.
func (j *JSON) Close() {}
