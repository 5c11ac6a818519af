package statemgr

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

// TestFull is the behaviour every Full store must have. open returns a new
// handle on the same, initially empty, storage each time it is called, as a
// second meshwave process would get.
//
// It is longer than 60 lines on purpose: it is the one conformance test
// every store implementation runs (as terraform's statemgr.TestFull), and
// reads as one specification, case after case, in the order a store is used.
func TestFull(t *testing.T, open func() Full) {
	t.Helper()
	a := open()

	if _, err := a.Read(); !errors.Is(err, ErrNoState) {
		t.Fatalf("Read of empty storage: got %v, want ErrNoState", err)
	}

	s := states.New()
	s.PlanHash = "abc"
	s.Ensure(plan.Step{ID: "wave/a/relabel/demo", Kind: plan.StepNamespaceRelabel, Wave: "a"})
	s.Steps[0].Status = states.StatusRunning
	s.Steps[0].StartedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Steps[0].Record = map[string]string{"label.istio-injection": "enabled"}
	s.Steps[0].Attempts = 1
	s.Approve("a", "flag", time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC))
	for want := uint64(1); want <= 3; want++ {
		if err := a.Write(s); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if s.Serial != want {
			t.Fatalf("serial after write %d: got %d", want, s.Serial)
		}
	}

	got, err := open().Read()
	if err != nil {
		t.Fatalf("Read from a second handle: %v", err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("read back (-wrote +read):\n%s", diff)
	}

	other := states.New()
	if err := open().Write(other); err == nil {
		t.Errorf("Write of another lineage over an existing state: got nil error")
	}

	info, err := a.Lock("apply")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if info.ID == "" || info.Holder == "" || info.Operation != "apply" || info.PID == 0 || info.Created.IsZero() {
		t.Errorf("lock info is incomplete: %+v", info)
	}
	b := open()
	_, err = b.Lock("rollback")
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second Lock: got %v, want *LockedError", err)
	}
	if locked.Info == nil || locked.Info.ID != info.ID || locked.Info.Holder != info.Holder {
		t.Errorf("second Lock names holder %+v, want %+v", locked.Info, info)
	}
	if err := a.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if _, err := b.Lock("rollback"); err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	if err := b.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}

	held, err := a.Lock("apply")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := open().ForceUnlock("not-" + held.ID); err == nil {
		t.Errorf("ForceUnlock with a wrong ID: got nil error")
	}
	if err := open().ForceUnlock(held.ID); err != nil {
		t.Fatalf("ForceUnlock: %v", err)
	}
	c := open()
	if _, err := c.Lock("apply"); err != nil {
		t.Fatalf("Lock after ForceUnlock: %v", err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatalf("Unlock of a broken lock: %v", err)
	}
	if _, err := open().Lock("apply"); err == nil {
		t.Errorf("the broken lock's Unlock released the new holder's lock")
	}
	if err := c.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}
