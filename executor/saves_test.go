package executor

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

// gatedStore holds each write until the test lets it go, and records which
// steps each write contained.
type gatedStore struct {
	memStore
	release chan error
	mu      sync.Mutex
	written []map[string]bool
}

func (g *gatedStore) Write(s *states.State) error {
	if err := <-g.release; err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, st := range s.Steps {
		seen[st.ID] = true
	}
	g.mu.Lock()
	g.written = append(g.written, seen)
	g.mu.Unlock()
	return g.memStore.Write(s)
}

// Changes made while a write is under way are written together by the next
// one, and no step goes on before a write holding its change is done.
func TestParallelChangesShareWrites(t *testing.T) {
	g := &gatedStore{release: make(chan error)}
	r := New(nil, g, nil, Options{}).newRun(states.New())
	const steps = 50
	done := make(chan string, steps)
	for i := range steps {
		go func() {
			id := fmt.Sprintf("wave/w/restart/ns/deployment/d%d", i)
			if err := r.update(func() { r.state.Ensure(plan.Step{ID: id}) }); err != nil {
				t.Error(err)
			}
			done <- id
		}()
	}
	// The first write waits in the store; every other step's change is
	// made meanwhile, since a write does not hold the state.
	first := g.release
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		n := r.changes
		r.mu.Unlock()
		if n == steps {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("%d of %d changes made while the first write waited", n, steps)
		case <-time.After(time.Millisecond):
		}
	}
	writes := 0
	for finished := 0; finished < steps; {
		select {
		case first <- nil:
			writes++
		case id := <-done:
			finished++
			g.mu.Lock()
			last := g.written[len(g.written)-1]
			g.mu.Unlock()
			if !last[id] {
				t.Errorf("%s went on before a write held its change", id)
			}
		}
	}
	if writes > 2 {
		t.Errorf("%d writes for %d parallel changes, want at most 2: the first, and one for every change made while it was written", writes, steps)
	}
}

// A state is written from a copy: changing the copy leaves the state as it
// was. A Record is replaced, never changed in place.
func TestCloneIsDeep(t *testing.T) {
	st := states.New()
	st.Ensure(plan.Step{ID: "a", Object: &plan.ObjectRef{Name: "x"}}).Record = map[string]string{"k": "v"}
	c := st.Clone()
	c.Steps[0].Record = map[string]string{"k": "changed"}
	c.Steps[0].Object.Name = "y"
	c.Steps[0].Status = states.StatusDone
	if got := st.Steps[0]; got.Record["k"] != "v" || got.Object.Name != "x" || got.Status == states.StatusDone {
		t.Errorf("the original changed with its copy: %+v", got)
	}
}

// A write that fails fails every step whose change it was to hold; the
// next change writes again.
func TestAFailedWriteFailsTheStepsItHeld(t *testing.T) {
	g := &gatedStore{release: make(chan error, 2)}
	r := New(nil, g, nil, Options{}).newRun(states.New())
	full := errors.New("no space left on device")
	g.release <- full
	err := r.update(func() { r.state.Ensure(plan.Step{ID: "a"}) })
	var save *SaveError
	if !errors.As(err, &save) || !errors.Is(save.Err, full) {
		t.Fatalf("error %v, want a SaveError wrapping %v", err, full)
	}
	g.release <- nil
	if err := r.update(func() { r.state.Ensure(plan.Step{ID: "b"}) }); err != nil {
		t.Fatalf("next change: %v", err)
	}
	if got := g.written[len(g.written)-1]; !got["a"] || !got["b"] {
		t.Errorf("last write holds %v, want both changes", got)
	}
}
