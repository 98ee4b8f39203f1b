package executor

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Node log files are written off the nodes' path. Creating a file costs the
// kernel 0.1-0.6 ms on a loaded machine, and it used to sit between a node's
// end and its dependants' start; it was the largest part of plan's own CPU
// on runs of many short nodes. Now a node builds and redacts its log's text
// (so the content is what it was), hands it to a small pool of writers, and
// its result, events and state go on at once. The run waits for every
// pending write before it makes its summary, however it ends.

// logWriters bounds the goroutines that create log files. A host's files
// all go to one of them, in the order its nodes ended, so one file is only
// ever written by one goroutine and a host's directory is made once.
const logWriters = 4

// logQueue is how many finished logs a writer may have waiting before a
// node that ends has to wait for room (which bounds the memory they hold:
// a log is usually a few KiB, at most 32 MiB).
const logQueue = 256

// logHost is one host's log directory. made is set once the directory
// exists, so MkdirAll runs once per host, not once per node.
type logHost struct {
	dir   string // LOG_DIR/HOST
	queue int    // index of the writer that owns the host's files
	made  atomic.Bool
}

func (h *logHost) ensureDir() error {
	if h.made.Load() {
		return nil
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return err
	}
	h.made.Store(true)
	return nil
}

// path is filepath.Join(LOG_DIR, safeName(host), safeName(task)+".log"):
// dir is already clean and the file name is one plain element.
func (h *logHost) path(task string) string {
	return h.dir + string(filepath.Separator) + safeName(task) + ".log"
}

type logJob struct {
	host    *logHost
	path    string
	content string // already redacted
	res     *nodeResult
}

// logFailure is a log file that could not be written.
type logFailure struct {
	res *nodeResult
	err error
}

// logWriter writes node log files in the background.
type logWriter struct {
	hosts  map[string]*logHost
	queues []chan logJob

	mu      sync.RWMutex // held shared to enqueue, exclusively to close
	started bool
	closed  bool
	wg      sync.WaitGroup

	failMu   sync.Mutex
	failures []logFailure
}

// newLogWriter prepares one logHost per host, spread over the writers in
// the order the hosts come.
func newLogWriter(logDir string, hostNames []string) *logWriter {
	n := min(logWriters, max(len(hostNames), 1))
	w := &logWriter{hosts: make(map[string]*logHost, len(hostNames)), queues: make([]chan logJob, n)}
	for i := range w.queues {
		w.queues[i] = make(chan logJob, logQueue)
	}
	for _, h := range hostNames {
		if _, ok := w.hosts[h]; ok {
			continue
		}
		w.hosts[h] = &logHost{dir: filepath.Join(logDir, safeName(h)), queue: len(w.hosts) % n}
	}
	return w
}

// start starts the writers.
func (w *logWriter) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.closed {
		return
	}
	w.started = true
	for _, q := range w.queues {
		w.wg.Add(1)
		go func(q chan logJob) {
			defer w.wg.Done()
			for j := range q {
				w.write(j)
			}
		}(q)
	}
}

// enqueue hands a log to its host's writer. After close (only on a path
// that is already going wrong: a panic out of the scheduler), or before
// start, it writes the file itself.
func (w *logWriter) enqueue(j logJob) {
	w.mu.RLock()
	if w.started && !w.closed {
		w.queues[j.host.queue] <- j
		w.mu.RUnlock()
		return
	}
	w.mu.RUnlock()
	w.write(j)
}

// close waits until every log handed over so far is on disk. It may be
// called more than once.
func (w *logWriter) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		if w.started {
			for _, q := range w.queues {
				close(q)
			}
		}
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// failed returns the logs that could not be written. Call it after close.
func (w *logWriter) failed() []logFailure {
	w.failMu.Lock()
	defer w.failMu.Unlock()
	return w.failures
}

// testLogHook, when set (by tests only), runs before each log file is
// written: a slow disk, for the tests that check the run waits for it.
var testLogHook func(path string)

func (w *logWriter) write(j logJob) {
	if testLogHook != nil {
		testLogHook(j.path)
	}
	err := j.host.ensureDir()
	if err == nil {
		err = writeLogFile(j.path, j.content)
		if errors.Is(err, fs.ErrNotExist) {
			// The directory went away during the run: make it again, once.
			j.host.made.Store(false)
			if err = j.host.ensureDir(); err == nil {
				err = writeLogFile(j.path, j.content)
			}
		}
	}
	if err != nil {
		w.failMu.Lock()
		w.failures = append(w.failures, logFailure{res: j.res, err: err})
		w.failMu.Unlock()
	}
}

// writeLogFile is os.WriteFile(path, content, 0o600) without copying the
// content into a byte slice.
func writeLogFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
