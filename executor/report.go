package executor

import (
	"sync"
	"time"

	"github.com/meshwave/meshwave/plan"
)

// What a run tells its observer: events, a step's progress and its
// heartbeat while it runs.

// emit stamps ev with the run's clock and hands it to the observer, one
// event at a time.
func (r *run) emit(ev Event) {
	ev.Time = r.opts.Now()
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.observer.Observe(ev)
}

func stepEvent(kind EventKind, s plan.Step) Event {
	return Event{Kind: kind, StepID: s.ID, StepKind: s.Kind, Wave: s.Wave, Object: objectName(s.Object)}
}

func objectName(o *plan.ObjectRef) string {
	switch {
	case o == nil:
		return ""
	case o.Namespace == "":
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}

// progress turns a provider's progress messages into events.
func (r *run) progress(s plan.Step, start time.Time) Progress {
	return func(msg string) {
		ev := stepEvent(EventStepProgress, s)
		ev.Message, ev.Elapsed = msg, r.opts.Now().Sub(start)
		r.emit(ev)
	}
}

// heartbeat reports every ProgressInterval that s is still running, until
// the returned stop is called. It holds a timer, not a goroutine: a wave
// of 1,000 restarts waiting for their rollouts would otherwise hold 1,000
// more idle goroutines and their stacks. Once stop returns, no report of
// s follows.
func (r *run) heartbeat(s plan.Step, start time.Time) (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(r.opts.ProgressInterval, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		ev := stepEvent(EventStepProgress, s)
		ev.Message, ev.Elapsed = "still running", r.opts.Now().Sub(start)
		r.emit(ev)
		t.Reset(r.opts.ProgressInterval)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}
