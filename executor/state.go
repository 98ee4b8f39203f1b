package executor

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/plan-dev/plan/dsl"

	"github.com/plan-dev/plan/internal/atomicfile"
)

// stateVersion is bumped when the file format changes incompatibly; a file
// of another version is ignored (everything runs again), never misread.
const stateVersion = 1

// stateFile is the run state on disk: the nodes that succeeded, with the
// fingerprint of their inputs and their outputs.
type stateFile struct {
	Version int                   `json:"version"`
	Nodes   map[string]*nodeState `json:"nodes"`
}

type nodeState struct {
	Fingerprint string                 `json:"fingerprint"`
	Finished    time.Time              `json:"finished"`
	Outputs     map[string]storedValue `json:"outputs,omitempty"`
	// Sources are the local files the node pushed (file steps with a
	// local source), with their size and modification time: the
	// fingerprint covers a source's path, not its bytes, so a rebuilt
	// binary at the same path must make the node run again.
	Sources map[string]string `json:"sources,omitempty"`
}

// storedValue is one output. Plain values are cty JSON with their type;
// sensitive ones are the same JSON sealed with AES-256-GCM under the key in
// the state key file, so the state never holds them in clear.
type storedValue struct {
	Value  json.RawMessage `json:"value,omitempty"`
	Sealed string          `json:"sealed,omitempty"`
}

// State is the run state store: the JSON file at Path and its key file
// Path+".key" (0600, made on first need). Safe for concurrent use; every
// file is written atomically (temp file, fsync, rename), successes a moment
// after they are recorded, so a run that dies keeps the progress it made
// up to then.
type State struct {
	path string
	lock *os.File
	mu   sync.Mutex // guards file, gen, key
	file stateFile
	gen  uint64 // bumped by every change of file
	key  []byte

	// A success is saved in the background: record changes the state in
	// memory and returns, and one saver writes whole files (temp, fsync,
	// rename) as long as there are changes it has not written, so the
	// changes that arrive while a file is being written go out together in
	// the next one. A node's dependants do not wait for a disk write, yet
	// the order is kept: every file holding a node's record also holds the
	// records of the nodes it depended on (they were recorded in memory
	// before it started). Flush (and Close) writes what is left and says
	// whether every save succeeded. Forgetting a node is written at once:
	// a node about to run again must not be taken for done after a crash.
	saveMu sync.Mutex // one writer at a time
	saved  uint64     // the generation on disk (guarded by saveMu)

	bgMu   sync.Mutex
	bgDone chan struct{} // while a saver goroutine runs: closed when it ends
	bgErr  error         // the first failed save, reported by Flush
}

// OpenState locks and reads the state at path; a missing or
// unreadable-version file gives an empty state. A corrupt file is an error
// (the user should see it), and so is a state another run holds. Close
// releases it.
func OpenState(path string) (*State, error) {
	lock, err := lockState(path)
	if err != nil {
		return nil, err
	}
	s := &State{path: path, lock: lock, file: stateFile{Version: stateVersion, Nodes: map[string]*nodeState{}}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("read run state: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		s.Close()
		return nil, fmt.Errorf("read run state %s: %w (delete it to start afresh)", path, err)
	}
	if f.Version == stateVersion && f.Nodes != nil {
		s.file = f
	}
	return s, nil
}

// Close writes what is not saved yet (see Flush) and releases the
// state's lock. It returns the first error of either.
func (s *State) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.Flush()
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	s.lock = nil
	return err
}

// Flush returns once the file on disk holds every change made so far. Its
// error is the first save that failed since the last Flush, if any.
func (s *State) Flush() error {
	s.bgMu.Lock()
	done := s.bgDone
	s.bgMu.Unlock()
	if done != nil {
		<-done
	}
	err := s.save(s.generation())
	s.bgMu.Lock()
	if err == nil {
		err = s.bgErr
	}
	s.bgErr = nil
	s.bgMu.Unlock()
	if err != nil {
		return fmt.Errorf("save run state %s: %w", s.path, err)
	}
	return nil
}

// saveLater makes sure a saver is writing the changes made so far.
func (s *State) saveLater() {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgDone != nil {
		return // it checks for newer changes before it ends
	}
	s.bgDone = make(chan struct{})
	go s.saver()
}

// generation is the number of changes made so far.
func (s *State) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

func (s *State) saver() {
	for {
		gen := s.generation()
		err := s.save(gen)
		s.bgMu.Lock()
		if err != nil && s.bgErr == nil {
			s.bgErr = err
		}
		if s.generation() == gen || err != nil {
			// On an error the next change starts a new saver: a full disk
			// is retried, not spun on.
			close(s.bgDone)
			s.bgDone = nil
			s.bgMu.Unlock()
			return
		}
		s.bgMu.Unlock()
	}
}

// dirOfLocal is filepath.Dir (kept apart from dirOf, which is for remote
// POSIX paths).
func dirOfLocal(p string) string { return filepath.Dir(p) }

// Path is where the state is kept.
func (s *State) Path() string { return s.path }

// lookup returns the outputs of node id when it succeeded earlier with
// fingerprint fp.
func (s *State) lookup(id, fp string) (map[string]cty.Value, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.file.Nodes[id]
	if !ok || fp == "" || ns.Fingerprint != digest(fp) {
		return nil, false, nil
	}
	for path, stamp := range ns.Sources {
		if sourceStamp(path) != stamp {
			return nil, false, nil
		}
	}
	outs := map[string]cty.Value{}
	for name, sv := range ns.Outputs {
		v, err := s.decode(sv)
		if err != nil {
			// Unusable stored outputs: run the node again rather than fail.
			return nil, false, nil
		}
		outs[name] = v
	}
	return outs, true, nil
}

// record stores a successful node; the file is written in the background
// (see State).
func (s *State) record(id, fp string, outs map[string]cty.Value, sources map[string]string) error {
	s.mu.Lock()
	ns := &nodeState{Fingerprint: digest(fp), Finished: time.Now().UTC(), Outputs: map[string]storedValue{}, Sources: sources}
	for name, v := range outs {
		sv, err := s.encode(v)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("store output %s of %s: %w", name, id, err)
		}
		ns.Outputs[name] = sv
	}
	s.file.Nodes[id] = ns
	s.gen++
	s.mu.Unlock()
	s.saveLater()
	return nil
}

// forget removes a node (it failed, or is about to run again).
func (s *State) forget(id string) error {
	s.mu.Lock()
	if _, ok := s.file.Nodes[id]; !ok {
		s.mu.Unlock()
		return nil
	}
	delete(s.file.Nodes, id)
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	return s.save(gen)
}

// save returns once the file on disk holds generation gen of the state (or
// a later one): it writes the current state unless a save that finished
// while it waited already did.
func (s *State) save(gen uint64) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.saved >= gen {
		return nil
	}
	s.mu.Lock()
	data, err := json.MarshalIndent(s.file, "", "  ")
	cur := s.gen
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, data, 0o600); err != nil {
		return err
	}
	s.saved = cur
	return nil
}

func (s *State) encode(v cty.Value) (storedValue, error) {
	plain, marks := v.UnmarkDeep()
	raw, err := ctyjson.Marshal(plain, cty.DynamicPseudoType)
	if err != nil {
		return storedValue{}, err
	}
	if _, sensitive := marks[dsl.Sensitive]; !sensitive {
		return storedValue{Value: raw}, nil
	}
	sealed, err := s.seal(raw)
	if err != nil {
		return storedValue{}, err
	}
	return storedValue{Sealed: sealed}, nil
}

func (s *State) decode(sv storedValue) (cty.Value, error) {
	if sv.Sealed == "" {
		return ctyjson.Unmarshal(sv.Value, cty.DynamicPseudoType)
	}
	raw, err := s.open(sv.Sealed)
	if err != nil {
		return cty.NilVal, err
	}
	v, err := ctyjson.Unmarshal(raw, cty.DynamicPseudoType)
	if err != nil {
		return cty.NilVal, err
	}
	return v.Mark(dsl.Sensitive), nil
}

func (s *State) gcm(create bool) (cipher.AEAD, error) {
	if s.key == nil {
		keyPath := s.path + ".key"
		key, err := os.ReadFile(keyPath)
		switch {
		case err == nil && len(key) == 32:
		case create:
			key = make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return nil, err
			}
			if err := writeFileAtomic(keyPath, key, 0o600); err != nil {
				return nil, fmt.Errorf("write state key: %w", err)
			}
		default:
			return nil, fmt.Errorf("state key %s unusable", keyPath)
		}
		s.key = key
	}
	block, err := aes.NewCipher(s.key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (s *State) seal(plain []byte) (string, error) {
	aead, err := s.gcm(true)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, nil)), nil
}

func (s *State) open(sealed string) ([]byte, error) {
	aead, err := s.gcm(false)
	if err != nil {
		return nil, err
	}
	data, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(data) < aead.NonceSize() {
		return nil, errors.New("sealed value malformed")
	}
	return aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], nil)
}

// sourceStamp identifies a local file's version cheaply (size and
// modification time); "" when it cannot be read.
func sourceStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", fi.Size(), fi.ModTime().UnixNano())
}

// digest hashes a fingerprint before it is stored: the evaluator's
// fingerprint is meant to be a digest already, but the state must not
// depend on that to keep sensitive inputs out of the file.
func digest(fp string) string {
	sum := sha256.Sum256([]byte(fp))
	return hex.EncodeToString(sum[:])
}

// writeFileAtomic makes path's directory (private) when missing and
// replaces path atomically.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, mode)
}

// secretStrings lists the string leaves of v (all of them: the caller
// passes only values marked sensitive).
func secretStrings(v cty.Value) []string {
	var out []string
	v, _ = v.UnmarkDeep()
	_ = cty.Walk(v, func(_ cty.Path, leaf cty.Value) (bool, error) {
		if leaf.IsKnown() && !leaf.IsNull() && leaf.Type() == cty.String {
			out = append(out, leaf.AsString())
		}
		return true, nil
	})
	return out
}

// isSensitive reports whether v or anything inside it is marked sensitive.
func isSensitive(v cty.Value) bool {
	_, marks := v.UnmarkDeep()
	_, ok := marks[dsl.Sensitive]
	return ok
}
