// Package render turns executor events into what people and programs read:
// a live view on a terminal (TTY), plain "host task/step: status" lines
// otherwise, or one JSON object per event (--output json), plus the end
// summary as text. Events arrive already redacted.
package render
