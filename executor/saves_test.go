package executor

import (
	"errors"
	"fmt"
	"sync"
	"testing"

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
	var wg sync.WaitGroup
	done := make(chan string, steps)
	for i := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("wave/w/restart/ns/deployment/d%d", i)
			if err := r.update(func() { r.state.Ensure(plan.Step{ID: id}) }); err != nil {
				t.Error(err)
				return
			}
			done <- id
		}()
	}
	writes := 0
	for finished := 0; finished < steps; {
		select {
		case g.release <- nil:
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
	wg.Wait()
	if writes >= steps {
		t.Errorf("%d writes for %d parallel changes, want them shared", writes, steps)
	}
	t.Logf("%d parallel changes in %d writes", steps, writes)
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
