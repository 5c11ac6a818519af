package statemgr

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwave/meshwave/states"
)

func TestCheckPush(t *testing.T) {
	stored := states.New()
	stored.Serial = 5
	with := func(f func(s *states.State)) *states.State {
		c := *stored
		f(&c)
		return &c
	}
	cases := map[string]struct {
		stored, incoming *states.State
		want             string // "" nil, "unchanged" ErrPushUnchanged, else a part of the error
	}{
		"nothing stored":       {nil, stored, ""},
		"newer serial":         {stored, with(func(s *states.State) { s.Serial = 6 }), ""},
		"same state":           {stored, with(func(*states.State) {}), "unchanged"},
		"older serial":         {stored, with(func(s *states.State) { s.Serial = 4 }), "serial 4, older than the stored serial 5"},
		"same serial, differs": {stored, with(func(s *states.State) { s.PlanHash = "x" }), "both have serial 5 but differ"},
		"another lineage":      {stored, states.New(), "belongs to lineage " + stored.Lineage},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckPush(tc.stored, tc.incoming)
			switch tc.want {
			case "":
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
			case "unchanged":
				if !errors.Is(err, ErrPushUnchanged) {
					t.Errorf("got %v, want ErrPushUnchanged", err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got %v, want an error containing %q", err, tc.want)
				}
			}
		})
	}
}

func TestLockWithinWaitsForTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meshwave.state.json")
	holder := NewFileStore(path)
	if _, err := holder.Lock("apply"); err != nil {
		t.Fatal(err)
	}
	var locked *LockedError
	if _, err := LockWithin(context.Background(), NewFileStore(path), "apply", 0, time.Millisecond); !errors.As(err, &locked) {
		t.Fatalf("no wait: got %v, want *LockedError", err)
	}
	if _, err := LockWithin(context.Background(), NewFileStore(path), "apply", 30*time.Millisecond, 5*time.Millisecond); !errors.As(err, &locked) {
		t.Fatalf("wait shorter than the hold: got %v, want *LockedError", err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(20 * time.Millisecond)
		holder.Unlock()
		close(released)
	}()
	waiter := NewFileStore(path)
	if _, err := LockWithin(context.Background(), waiter, "apply", time.Minute, 5*time.Millisecond); err != nil {
		t.Fatalf("wait longer than the hold: %v", err)
	}
	<-released
	waiter.Unlock()
}
