// Package planfile reads and writes saved plans (plan -out FILE): the
// computed plan, the state it was computed against and the backend that
// state lives in, and a fingerprint of every cluster object it read, so
// apply can use the same state and refuse a plan that no longer matches the
// cluster or the state.
package planfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/meshwave/meshwave/internal/formatversion"
	"github.com/meshwave/meshwave/internal/safefile"
	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/plan/jsonplan"
	"github.com/meshwave/meshwave/states"
)

// FormatVersion of the saved plan file this build writes. A reader accepts
// the same major version with a minor version up to its own, and "1", the
// version before minor versions, as 1.0. 1.1 added state_backend.
const FormatVersion = "1.1"

// legacyVersion is the first format's version, written before minor
// versions existed: it reads as 1.0.
const legacyVersion = "1"

// File is a saved plan.
type File struct {
	// Cluster is the API server URL the plan was computed against.
	Cluster string
	// State is the state the plan builds on; the zero Ref means there was
	// no state yet.
	State states.Ref
	// Backend is where that state lives, as the plan command resolved it;
	// apply of the saved plan uses it. The zero value means it was not
	// recorded (a plan saved in format 1.0).
	Backend StateBackend
	// Objects fingerprints every cluster object the plan read.
	Objects []plan.ObjectVersion
	Plan    *plan.Plan
}

// StateBackend is the state backend a plan was computed against: Kind with
// Path (local) or Namespace and Name (kubernetes).
type StateBackend struct {
	Kind config.StateBackend
	// Path is the local state file as the plan command named it: a
	// relative path is relative to the directory the command ran in.
	Path string
	// Namespace and Name are the kubernetes backend's Secret and Lease.
	Namespace, Name string
}

// Recorded reports whether the saved plan says which backend it used.
func (b StateBackend) Recorded() bool { return b.Kind != "" }

// String names the backend's state in messages.
func (b StateBackend) String() string {
	if b.Kind == config.StateKubernetes {
		return fmt.Sprintf("the kubernetes state backend, Secret %s", qualified(b.Namespace, b.Name))
	}
	return fmt.Sprintf("the local state file %s", b.Path)
}

// fileV1 is the JSON document of format version 1.x. The plan inside is the
// public JSON plan (plan/jsonplan), in the form the plan was computed in:
// its lists are kept nil or empty as they were, since the content hash
// covers the document as written.
type fileV1 struct {
	FormatVersion string `json:"format_version"`
	// ContentHash is the SHA-256 of the document with this field empty.
	ContentHash  string `json:"content_hash"`
	Cluster      string `json:"cluster"`
	StateLineage string `json:"state_lineage,omitempty"`
	StateSerial  uint64 `json:"state_serial"`
	// StateBackend is new in 1.1; a 1.0 file has none.
	StateBackend *stateBackendV1 `json:"state_backend,omitempty"`
	Objects      []objectV1      `json:"objects"`
	Plan         *jsonplan.Plan  `json:"plan"`
}

// stateBackendV1 is where the state lives: backend "local" with path, or
// "kubernetes" with namespace and name.
type stateBackendV1 struct {
	Backend   config.StateBackend `json:"backend"`
	Path      string              `json:"path,omitempty"`
	Namespace string              `json:"namespace,omitempty"`
	Name      string              `json:"name,omitempty"`
}

func fromBackend(b StateBackend) *stateBackendV1 {
	if !b.Recorded() {
		return nil
	}
	return &stateBackendV1{Backend: b.Kind, Path: b.Path, Namespace: b.Namespace, Name: b.Name}
}

// backend checks and converts a decoded state_backend (nil: none recorded).
func (b *stateBackendV1) backend() (StateBackend, error) {
	if b == nil {
		return StateBackend{}, nil
	}
	switch b.Backend {
	case config.StateLocal:
		if b.Path == "" || b.Namespace != "" || b.Name != "" {
			return StateBackend{}, errors.New("state_backend: the local backend needs a path and no namespace or name")
		}
	case config.StateKubernetes:
		if b.Path != "" || b.Namespace == "" || b.Name == "" {
			return StateBackend{}, errors.New("state_backend: the kubernetes backend needs a namespace and a name and no path")
		}
	default:
		return StateBackend{}, fmt.Errorf("state_backend: unknown backend %q", b.Backend)
	}
	return StateBackend{Kind: b.Backend, Path: b.Path, Namespace: b.Namespace, Name: b.Name}, nil
}

// objectV1 fingerprints one cluster object the plan read.
type objectV1 struct {
	Kind            string `json:"kind"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name"`
	UID             string `json:"uid"`
	ResourceVersion string `json:"resource_version"`
}

func fromObjects(in []plan.ObjectVersion) []objectV1 {
	if in == nil {
		return nil
	}
	out := make([]objectV1, len(in))
	for i, o := range in {
		out[i] = objectV1{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}
	}
	return out
}

func toObjects(in []objectV1) []plan.ObjectVersion {
	if in == nil {
		return nil
	}
	out := make([]plan.ObjectVersion, len(in))
	for i, o := range in {
		out[i] = plan.ObjectVersion{ObjectRef: plan.ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name},
			UID: o.UID, ResourceVersion: o.ResourceVersion}
	}
	return out
}

// ErrUnusable says a saved plan cannot be read; it wraps the cause.
var ErrUnusable = errors.New("unusable saved plan")

// MaxSize bounds a saved plan file; a plan of a very large cluster stays
// far below it.
const MaxSize = 128 << 20

// Write saves f to path with mode 0600, atomically. It replaces only a saved
// plan: a state file, a plan source or any other file at path is refused
// and left as it was (see Writable).
func Write(path string, f *File) error {
	doc := &fileV1{FormatVersion: FormatVersion, Cluster: f.Cluster, StateLineage: f.State.Lineage,
		StateSerial: f.State.Serial, StateBackend: fromBackend(f.Backend), Objects: fromObjects(f.Objects),
		Plan: jsonplan.FromPlan(f.Plan)}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode saved plan: %w", err)
	}
	sum := sha256.Sum256(body)
	doc.ContentHash = hex.EncodeToString(sum[:])
	body, err = json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode saved plan: %w", err)
	}
	if err := safefile.WriteFile(path, append(body, '\n'), 0o600, recognise); err != nil {
		return fmt.Errorf("write saved plan: %w", err)
	}
	return nil
}

// Writable says why a saved plan must not be written to path, or nil: a
// command checks it before it does any work whose result it could not save.
func Writable(path string) error {
	if err := safefile.Replaceable(path, recognise); err != nil {
		return fmt.Errorf("write saved plan: %w", err)
	}
	return nil
}

// recognise accepts a saved plan of any format version, so that a newer or
// damaged one may be replaced, and nothing else.
func recognise(existing []byte) error {
	var probe map[string]json.RawMessage
	if json.Unmarshal(existing, &probe) == nil {
		_, version := probe["format_version"]
		_, hash := probe["content_hash"]
		_, p := probe["plan"]
		_, objects := probe["objects"]
		if version && hash && p && objects {
			return nil
		}
	}
	return errors.New("it is not a meshwave saved plan (plan -out replaces only a saved plan)")
}

// Read loads and verifies a saved plan. A file that is not a meshwave plan,
// has another format version, was edited, or holds a plan this build cannot
// show or apply (plan.WellFormed) gives an error wrapping ErrUnusable.
func Read(path string) (*File, error) {
	body, err := safefile.ReadFile(path, MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read saved plan: %w", err)
	}
	f, err := Decode(body)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrUnusable, path, err)
	}
	return f, nil
}

// Decode verifies and decodes the bytes of a saved plan; its error says
// why they are not one this build can use.
func Decode(body []byte) (*File, error) {
	var f fileV1
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a meshwave saved plan: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a meshwave saved plan: data after the JSON document")
	}
	if f.FormatVersion != legacyVersion && !formatversion.Readable(f.FormatVersion, FormatVersion) {
		return nil, fmt.Errorf("format version %q, this meshwave reads %q", f.FormatVersion, FormatVersion)
	}
	if f.Plan == nil {
		return nil, errors.New("it holds no plan")
	}
	if f.Cluster == "" {
		return nil, errors.New("it names no cluster")
	}
	want := f.ContentHash
	f.ContentHash = ""
	canon, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canon)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, errors.New("content hash mismatch (the file was edited or damaged); run meshwave plan -out again")
	}
	backend, err := f.StateBackend.backend()
	if err != nil {
		return nil, err
	}
	p := f.Plan.Model()
	if err := p.WellFormed(); err != nil {
		return nil, err
	}
	if p.Phases == nil {
		// Before plan format 1.2 the plan did not carry its phases, and apply
		// walks them: such a plan is not guessed at.
		return nil, fmt.Errorf("it was saved by an older meshwave (plan format %s, without phases); run meshwave plan -out again", p.FormatVersion)
	}
	return &File{Cluster: f.Cluster, State: states.Ref{Lineage: f.StateLineage, Serial: f.StateSerial},
		Backend: backend, Objects: toObjects(f.Objects), Plan: p}, nil
}

// Changes lists how the cluster objects differ from the saved fingerprint:
// changed, deleted, re-created and new objects. Empty means not stale.
func Changes(saved, current []plan.ObjectVersion) []string {
	key := func(o plan.ObjectVersion) string { return o.Kind + " " + qualified(o.Namespace, o.Name) }
	was := map[string]plan.ObjectVersion{}
	for _, o := range saved {
		was[key(o)] = o
	}
	var out []string
	seen := map[string]bool{}
	for _, o := range current {
		k := key(o)
		seen[k] = true
		old, ok := was[k]
		switch {
		case !ok:
			out = append(out, k+" was created")
		case old.UID != o.UID:
			out = append(out, k+" was deleted and re-created")
		case old.ResourceVersion != o.ResourceVersion:
			out = append(out, fmt.Sprintf("%s changed (resourceVersion %s → %s)", k, old.ResourceVersion, o.ResourceVersion))
		}
	}
	for k := range was {
		if !seen[k] {
			out = append(out, k+" was deleted")
		}
	}
	sort.Strings(out)
	return out
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return strings.Join([]string{ns, name}, "/")
}
