package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/states/statemgr"
)

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Observe(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) kinds(filter ...EventKind) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if len(filter) == 0 || slices.Contains(filter, e.Kind) {
			subject := e.StepID
			if subject == "" {
				subject = e.Wave
			}
			out = append(out, string(e.Kind)+" "+subject)
		}
	}
	return out
}

func statePath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "meshwave.state.json")
}

func readState(t *testing.T, path string) *states.State {
	t.Helper()
	st, err := statemgr.NewFileStore(path).Read()
	if err != nil {
		t.Fatalf("read state: %v", err)
	}
	return st
}

// statuses returns step id -> status.
func statuses(st *states.State) map[string]states.Status {
	m := map[string]states.Status{}
	for _, s := range st.Steps {
		m[s.ID] = s.Status
	}
	return m
}

func allStatus(p *plan.Plan, status states.Status) map[string]states.Status {
	m := map[string]states.Status{}
	for _, s := range p.Steps {
		m[s.ID] = status
	}
	return m
}

func fastOptions() Options { return Options{ProgressInterval: 5 * time.Millisecond} }

func TestApplyRunsStepsInOrder(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, []string{"ingress"},
		testWave{name: "canary", namespaces: map[string][]string{"demo-a": {"app-a", "app-b"}}},
		testWave{name: "rest", namespaces: map[string][]string{"demo-b": {"app-c"}, "demo-c": nil}})
	// A no-op step is recorded as done without reaching the provider.
	p.Steps[len(p.Steps)-2].Action, p.Steps[len(p.Steps)-2].Reason = plan.ActionNoop, "nothing restarted"
	path := statePath(t)
	rec := &recorder{}
	if err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var want []string
	for _, s := range p.Steps {
		if s.Action != plan.ActionNoop {
			want = append(want, "prepare "+s.ID, "run "+s.ID)
		}
	}
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
		t.Errorf("provider calls (-want +got):\n%s", diff)
	}
	st := readState(t, path)
	if diff := cmp.Diff(allStatus(p, states.StatusDone), statuses(st)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if st.PlanHash != "hash-1" || st.Lineage == "" {
		t.Errorf("plan hash %q lineage %q", st.PlanHash, st.Lineage)
	}
	wantEvents := []string{
		"apply-start ", "step-done gateway/istio-system/ingress",
		"wave-start canary", "step-done wave/canary/relabel/demo-a",
		"step-done wave/canary/restart/demo-a/deployment/app-a", "step-done wave/canary/restart/demo-a/deployment/app-b",
		"step-done wave/canary/wait", "step-done wave/canary/verify", "wave-done canary",
		"wave-start rest", "step-done wave/rest/relabel/demo-b", "step-done wave/rest/relabel/demo-c",
		"step-done wave/rest/restart/demo-b/deployment/app-c", "step-skipped wave/rest/wait",
		"step-done wave/rest/verify", "wave-done rest", "apply-done ",
	}
	got := rec.kinds(EventApplyStart, EventWaveStart, EventStepDone, EventStepSkipped, EventWaveDone, EventApplyDone)
	if diff := cmp.Diff(wantEvents, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	last := rec.events[len(rec.events)-1]
	if diff := cmp.Diff(&Totals{Changed: 10, Unchanged: 1}, last.Totals); diff != "" {
		t.Errorf("final totals (-want +got):\n%s", diff)
	}
}

func TestApplyBoundsParallelRestarts(t *testing.T) {
	for name, tc := range map[string]struct {
		maxParallel, workloads, want int
	}{
		"unset means one":  {0, 4, 1},
		"one":              {1, 4, 1},
		"two":              {2, 6, 2},
		"three":            {3, 7, 3},
		"more than needed": {10, 3, 3},
		"single workload":  {4, 1, 1},
	} {
		// On synctest's clock the bound is observed however slow the
		// machine is: time moves only once every Run that can start has.
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeCluster()
				f.runDelay = 100 * time.Millisecond
				var apps []string
				for i := range tc.workloads {
					apps = append(apps, string(rune('a'+i)))
				}
				p := testPlan(f, nil, testWave{name: "w", maxParallel: tc.maxParallel, namespaces: map[string][]string{"ns": apps}})
				path := statePath(t)
				if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p); err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if f.maxActive != tc.want {
					t.Errorf("most restarts at once: got %d, want %d", f.maxActive, tc.want)
				}
				if diff := cmp.Diff(allStatus(p, states.StatusDone), statuses(readState(t, path))); diff != "" {
					t.Errorf("statuses (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// A running step reports every ProgressInterval that it is still running,
// with the time since it started, and never once it is done.
func TestApplyReportsRunningStepsUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster()
		f.runDelay = 25 * time.Millisecond
		p := testPlan(f, nil, testWave{name: "w", maxParallel: 2, namespaces: map[string][]string{"ns": {"a", "b"}}})
		rec := &recorder{}
		if err := New(f, statemgr.NewFileStore(statePath(t)), rec, Options{ProgressInterval: 10 * time.Millisecond}).Apply(context.Background(), p); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		got := map[string][]string{}
		for _, e := range rec.events {
			switch {
			case e.Kind == EventStepProgress && e.Message == "still running":
				got[e.StepID] = append(got[e.StepID], e.Elapsed.String())
			case e.Kind == EventStepDone:
				got[e.StepID] = append(got[e.StepID], "done")
			}
		}
		want := map[string][]string{}
		for _, s := range p.Steps {
			want[s.ID] = []string{"10ms", "20ms", "done"}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("each step's heartbeats and end (-want +got):\n%s", diff)
		}
	})
}

// Before Run changes anything, the state file on disk already says the step
// is running and holds the Record Run is given.
func TestApplySavesRecordBeforeRun(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, []string{"ingress"}, testWave{name: "w", maxParallel: 2, namespaces: map[string][]string{"ns": {"a", "b", "c"}}})
	path := statePath(t)
	var mu sync.Mutex
	var problems []string
	f.onRun = func(s plan.Step, rec Record) {
		b, err := os.ReadFile(path)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		st, err := statefile.Read(bytes.NewReader(b))
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		ss := st.Step(s.ID)
		if ss.Status != states.StatusRunning || ss.Attempts != 1 {
			problems = append(problems, s.ID+": status "+string(ss.Status))
		}
		if diff := cmp.Diff(map[string]string(rec), ss.Record, cmpEmptyMap); diff != "" {
			problems = append(problems, s.ID+": record (-run +saved):\n"+diff)
		}
	}
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(problems) > 0 {
		t.Errorf("at Run time the saved state was wrong:\n%s", strings.Join(problems, "\n"))
	}
}

var cmpEmptyMap = cmp.Comparer(func(a, b map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal(map[string]string(a), map[string]string(b))
})

// memStore keeps the state file's bytes in memory: the crash matrix writes
// thousands of times, and FileStore's fsyncs are tested in statemgr.
type memStore struct {
	mu    sync.Mutex
	bytes []byte
}

func (m *memStore) Read() (*states.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bytes == nil {
		return nil, statemgr.ErrNoState
	}
	return statefile.Read(bytes.NewReader(m.bytes))
}

func (m *memStore) Write(s *states.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.Serial++
	var buf bytes.Buffer
	if err := statefile.Write(&buf, s); err != nil {
		return err
	}
	m.bytes = buf.Bytes()
	return nil
}

// crashStore is a store inside a process that gets killed: at write
// number killAt it either fails the write (the kill came before the rename)
// or completes it (the kill came right after), and from then on the process
// writes nothing and its provider does nothing.
type crashStore struct {
	t       *testing.T
	inner   *memStore
	cluster *fakeCluster
	killAt  int
	after   bool
	writes  int
	dead    bool
	mu      sync.Mutex
}

func (c *crashStore) Read() (*states.State, error) { return c.inner.Read() }

func (c *crashStore) Write(s *states.State) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return errKilled
	}
	c.writes++
	if c.writes == c.killAt && !c.after {
		c.dead = true
		c.cluster.dead.Store(true)
		return errKilled
	}
	if err := c.inner.Write(s); err != nil {
		return err
	}
	// The file must be a valid state at every instant.
	if _, err := c.inner.Read(); err != nil {
		c.t.Errorf("after write %d the state file is not valid: %v", c.writes, err)
	}
	if c.writes == c.killAt {
		c.dead = true
		c.cluster.dead.Store(true)
	}
	return nil
}

// kill -9 at every step boundary, including between "running" and "done",
// then apply again: the second apply finishes, no workload rolls twice, and
// every retry of a restart sends the Record first saved.
func TestApplyResumesAfterCrashAtEveryPoint(t *testing.T) {
	build := func(f *fakeCluster, mp int) *plan.Plan {
		return testPlan(f, []string{"ingress"},
			testWave{name: "canary", maxParallel: mp, namespaces: map[string][]string{"demo-a": {"app-a", "app-b", "app-c"}},
				gates: []config.Gate{{Kind: config.GatePause, Pause: time.Millisecond}}},
			testWave{name: "rest", maxParallel: mp, namespaces: map[string][]string{"demo-b": {"app-d"}, "demo-c": {"app-e"}}})
	}
	for _, mp := range []int{1, 2} {
		// Count the writes of an uninterrupted run: parallel steps share
		// writes (group commit), so a run with max_parallel=2 may write less.
		f := newFakeCluster()
		counter := &crashStore{t: t, inner: &memStore{}, cluster: f, killAt: -1}
		if err := New(f, counter, nil, fastOptions()).Apply(context.Background(), build(f, mp)); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		total := counter.writes
		if mp == 1 && total < 2*len(build(newFakeCluster(), 1).Steps) {
			t.Fatalf("only %d writes for %d steps", total, len(build(newFakeCluster(), 1).Steps))
		}
		for killAt := 1; killAt <= total; killAt++ {
			for _, after := range []bool{false, true} {
				name := fmt.Sprintf("max_parallel=%d/kill_before_write_%d", mp, killAt)
				if after {
					name = fmt.Sprintf("max_parallel=%d/kill_after_write_%d", mp, killAt)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					f := newFakeCluster()
					p := build(f, mp)
					file := &memStore{}
					crash := &crashStore{t: t, inner: file, cluster: f, killAt: killAt, after: after}
					// With parallel steps the number of writes depends on how
					// they interleave: a run that ends before write killAt was
					// not killed, and the second apply must find it finished.
					err := New(f, crash, nil, fastOptions()).Apply(context.Background(), p)
					if reached := crash.writes >= killAt; err == nil && reached && !(after && killAt == crash.writes) {
						t.Fatalf("first Apply: no error though killed at write %d", killAt)
					}
					f.dead.Store(false)
					if err := New(f, file, nil, fastOptions()).Apply(context.Background(), p); err != nil {
						t.Fatalf("second Apply: %v", err)
					}
					final, err := file.Read()
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(allStatus(p, states.StatusDone), statuses(final)); diff != "" {
						t.Errorf("statuses (-want +got):\n%s", diff)
					}
					for _, s := range p.Steps {
						switch s.Kind {
						case plan.StepWorkloadRestart:
							if n := f.rolls[key(s.Object)]; n != 1 {
								t.Errorf("%s rolled %d times, want 1", key(s.Object), n)
							}
							for i, r := range f.runRecords[s.ID] {
								if diff := cmp.Diff(f.runRecords[s.ID][0], r); diff != "" {
									t.Errorf("%s run %d used another Record (-first +this):\n%s", s.ID, i+1, diff)
								}
							}
						case plan.StepNamespaceRelabel:
							if f.labels[s.Object.Name] != "new" {
								t.Errorf("namespace %s label %q, want new", s.Object.Name, f.labels[s.Object.Name])
							}
						}
					}
				})
			}
		}
	}
}

func TestApplyInterruptedLeavesStepRunningAndResumes(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, nil, testWave{name: "w", namespaces: map[string][]string{"ns": {"a", "b"}}})
	blocked := "wave/w/restart/ns/deployment/b"
	f.blockRun[blocked] = true
	path := statePath(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for id := range f.started {
			if id == blocked {
				cancel()
				return
			}
		}
	}()
	rec := &recorder{}
	err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(ctx, p)
	var ie *InterruptedError
	if !errors.Is(err, ErrInterrupted) || !errors.As(err, &ie) {
		t.Fatalf("Apply: got %v, want ErrInterrupted", err)
	}
	if diff := cmp.Diff([]string{blocked}, ie.Steps); diff != "" {
		t.Errorf("interrupted steps (-want +got):\n%s", diff)
	}
	st := readState(t, path)
	want := allStatus(p, states.StatusPending)
	want["wave/w/relabel/ns"], want["wave/w/restart/ns/deployment/a"], want[blocked] = states.StatusDone, states.StatusDone, states.StatusRunning
	if diff := cmp.Diff(want, statuses(st)); diff != "" {
		t.Errorf("statuses after interrupt (-want +got):\n%s", diff)
	}
	if st.Step(blocked).Record["restartedAt"] == "" {
		t.Errorf("running step has no record: %+v", st.Step(blocked))
	}
	if got := rec.kinds(EventInterrupted); len(got) != 1 {
		t.Errorf("interrupted events: %v", got)
	}

	delete(f.blockRun, blocked)
	rec = &recorder{}
	if err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	runs := f.runRecords[blocked]
	if len(runs) != 2 || !cmp.Equal(runs[0], runs[1]) {
		t.Errorf("resumed step ran with %v, want the same Record twice", runs)
	}
	if diff := cmp.Diff([]string{"step-verified wave/w/relabel/ns", "step-verified wave/w/restart/ns/deployment/a"},
		rec.kinds(EventStepVerified)); diff != "" {
		t.Errorf("re-verified steps (-want +got):\n%s", diff)
	}
	if got := readState(t, path).Step(blocked).Attempts; got != 2 {
		t.Errorf("attempts: got %d, want 2", got)
	}
}

// A done step that no longer holds runs again, with its Record.
func TestApplyRerunsDriftedStep(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, nil, testWave{name: "w", namespaces: map[string][]string{"ns": {"a"}}})
	path := statePath(t)
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	f.labels["ns"] = "old" // someone relabeled it back
	rec := &recorder{}
	if err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if f.labels["ns"] != "new" {
		t.Errorf("label %q, want new", f.labels["ns"])
	}
	if diff := cmp.Diff([]string{"step-drifted wave/w/relabel/ns"}, rec.kinds(EventStepDrifted)); diff != "" {
		t.Errorf("drift events (-want +got):\n%s", diff)
	}
	if n := f.rolls["ns/a"]; n != 1 {
		t.Errorf("workload rolled %d times, want 1", n)
	}
}

// A restart left running by a killed apply, in a namespace whose relabel
// was set back before the next apply: the pods its rollout created
// meanwhile may come from the old revision, so it restarts with a new
// restartedAt (re-sending the recorded one would roll nothing); a restart
// left running elsewhere re-sends its own.
func TestApplyRedoesRunningRestartAfterItsRelabelDrifted(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, nil, testWave{name: "w", namespaces: map[string][]string{"ns": {"a"}, "other": {"b"}}, maxParallel: 2})
	setBack, elsewhere := "wave/w/restart/ns/deployment/a", "wave/w/restart/other/deployment/b"
	f.blockRun[setBack], f.blockRun[elsewhere] = true, true
	path := statePath(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		started := map[string]bool{}
		for id := range f.started {
			started[id] = true
			if started[setBack] && started[elsewhere] {
				cancel()
				return
			}
		}
	}()
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(ctx, p); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Apply: got %v, want ErrInterrupted", err)
	}
	f.labels["ns"] = "old" // a GitOps controller's self-heal

	delete(f.blockRun, setBack)
	delete(f.blockRun, elsewhere)
	rec := &recorder{}
	if err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if runs := f.runRecords[setBack]; len(runs) != 2 || runs[0]["restartedAt"] == runs[1]["restartedAt"] {
		t.Errorf("%s ran with %v, want a new restartedAt the second time", setBack, runs)
	}
	if runs := f.runRecords[elsewhere]; len(runs) != 2 || !cmp.Equal(runs[0], runs[1]) {
		t.Errorf("%s ran with %v, want the same Record twice", elsewhere, runs)
	}
	if n := f.rolls["ns/a"]; n != 1 {
		t.Errorf("ns/a rolled %d times, want 1 (the first run's restart never reached it)", n)
	}
	if diff := cmp.Diff([]string{"step-drifted wave/w/relabel/ns", "step-drifted " + setBack}, rec.kinds(EventStepDrifted)); diff != "" {
		t.Errorf("drift events (-want +got):\n%s", diff)
	}
	for _, e := range rec.events {
		if e.Kind == EventStepDrifted && e.StepID == setBack && !strings.Contains(e.Error, "namespace ns's relabel was set back after this step began") {
			t.Errorf("the restart's drift says %q, not why", e.Error)
		}
	}
	if got := readState(t, path).Step(setBack).Record["restartedAt"]; got != f.restartedAt["ns/a"] {
		t.Errorf("state records restartedAt %q, the workload holds %q", got, f.restartedAt["ns/a"])
	}
}

func TestApplyRefusesUnusableState(t *testing.T) {
	for name, content := range map[string]string{
		"corrupt": `{"format_version": "1.0", "lineage": "abc", "serial": 4, "steps": [{"id": `,
		"foreign": `{"version": 4, "terraform_version": "1.9.0", "lineage": "abc", "serial": 4}`,
		"newer":   `{"format_version": "7.0", "lineage": "abc", "serial": 4}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeCluster()
			p := testPlan(f, nil, testWave{name: "w", namespaces: map[string][]string{"ns": {"a"}}})
			path := statePath(t)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p)
			var unusable *statemgr.UnusableStateError
			if !errors.As(err, &unusable) {
				t.Fatalf("Apply: got %v, want *UnusableStateError", err)
			}
			if calls := f.Calls(); len(calls) != 0 {
				t.Errorf("provider was called: %v", calls)
			}
			got, _ := os.ReadFile(path)
			if diff := cmp.Diff(content, string(got)); diff != "" {
				t.Errorf("state file changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyWaveFailure(t *testing.T) {
	newPlan := func(f *fakeCluster, automatic bool) *plan.Plan {
		p := testPlan(f, []string{"ingress"},
			testWave{name: "canary", namespaces: map[string][]string{"demo-a": {"app-a"}}},
			testWave{name: "rest", maxParallel: 2, namespaces: map[string][]string{"demo-b": {"app-b", "app-c"}, "demo-c": {"app-d"}},
				gates: []config.Gate{{Kind: config.GateCommand, Command: &config.CommandGate{Argv: []string{"false"}}}}},
			testWave{name: "last", namespaces: map[string][]string{"demo-d": {"app-e"}}})
		p.AutomaticRollback = automatic
		return p
	}

	t.Run("automatic rollback", func(t *testing.T) {
		f := newFakeCluster()
		p := newPlan(f, true)
		path := statePath(t)
		rec := &recorder{}
		err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(context.Background(), p)
		var wf *WaveFailedError
		if !errors.As(err, &wf) || wf.Wave != "rest" || !wf.RolledBack {
			t.Fatalf("Apply: got %v, want wave rest failed and rolled back", err)
		}
		if !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "command gate") {
			t.Errorf("message: %v", err)
		}
		var undos []string
		for _, c := range f.Calls() {
			if strings.HasPrefix(c, "undo ") {
				undos = append(undos, c)
			}
		}
		// Labels first (last first), then restarts (any order), then the checks.
		if diff := cmp.Diff([]string{"undo wave/rest/relabel/demo-c", "undo wave/rest/relabel/demo-b"}, undos[:2]); diff != "" {
			t.Errorf("first undos (-want +got):\n%s", diff)
		}
		restarts := slices.Clone(undos[2:5])
		slices.Sort(restarts)
		if diff := cmp.Diff([]string{"undo wave/rest/restart/demo-b/deployment/app-b", "undo wave/rest/restart/demo-b/deployment/app-c",
			"undo wave/rest/restart/demo-c/deployment/app-d"}, restarts); diff != "" {
			t.Errorf("restart undos (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"undo wave/rest/wait", "undo wave/rest/verify"}, undos[5:]); diff != "" {
			t.Errorf("last undos (-want +got):\n%s", diff)
		}
		want := allStatus(p, states.StatusDone)
		for _, s := range p.Steps {
			switch s.Wave {
			case "rest":
				want[s.ID] = states.StatusRolledBack
			case "last":
				want[s.ID] = states.StatusPending
			}
		}
		if diff := cmp.Diff(want, statuses(readState(t, path))); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		for ns, wantLabel := range map[string]string{"demo-a": "new", "demo-b": "old", "demo-c": "old", "demo-d": "old"} {
			if f.labels[ns] != wantLabel {
				t.Errorf("namespace %s: label %q, want %q", ns, f.labels[ns], wantLabel)
			}
		}
		for w, n := range map[string]int{"demo-a/app-a": 1, "demo-b/app-b": 2, "demo-b/app-c": 2, "demo-c/app-d": 2, "demo-d/app-e": 0} {
			if f.rolls[w] != n {
				t.Errorf("%s rolled %d times, want %d", w, f.rolls[w], n)
			}
		}
		if diff := cmp.Diff([]string{"wave-failed rest", "rollback-start rest", "rollback-done rest"},
			rec.kinds(EventWaveFailed, EventRollbackStart, EventRollbackDone)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("no automatic rollback, then retry", func(t *testing.T) {
		f := newFakeCluster()
		p := newPlan(f, false)
		failing := "wave/rest/restart/demo-b/deployment/app-c"
		f.fail[failing] = errors.New("rollout did not finish")
		path := statePath(t)
		err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p)
		var wf *WaveFailedError
		if !errors.As(err, &wf) || wf.Wave != "rest" || wf.RolledBack || wf.RollbackErr != nil {
			t.Fatalf("Apply: got %v, want wave rest failed, not rolled back", err)
		}
		st := readState(t, path)
		if ss := st.Step(failing); ss.Status != states.StatusFailed || ss.Error != "rollout did not finish" {
			t.Errorf("failed step: %+v", ss)
		}
		if st.Step("wave/rest/wait").Status != states.StatusPending {
			t.Errorf("the wave went on after a failure")
		}
		for _, c := range f.Calls() {
			if strings.HasPrefix(c, "undo") {
				t.Errorf("rolled back without automatic rollback: %s", c)
			}
		}

		delete(f.fail, failing)
		p.Steps[slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.Kind == plan.StepGate })].Gate.Command.Argv = []string{"true"}
		if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p); err != nil {
			t.Fatalf("retry: %v", err)
		}
		runs := f.runRecords[failing]
		if len(runs) != 2 || !cmp.Equal(runs[0], runs[1]) {
			t.Errorf("failed step retried with %v, want its Record again", runs)
		}
	})

	t.Run("gateway failure is not a wave failure", func(t *testing.T) {
		f := newFakeCluster()
		p := newPlan(f, true)
		f.fail["gateway/istio-system/ingress"] = errors.New("no such control plane")
		err := New(f, statemgr.NewFileStore(statePath(t)), nil, fastOptions()).Apply(context.Background(), p)
		var se *StepError
		var wf *WaveFailedError
		if !errors.As(err, &se) || errors.As(err, &wf) || se.StepID != "gateway/istio-system/ingress" {
			t.Fatalf("Apply: got %v, want a StepError of the gateway", err)
		}
	})
}

func TestRollback(t *testing.T) {
	build := func(f *fakeCluster) *plan.Plan {
		return testPlan(f, []string{"ingress", "egress"},
			testWave{name: "canary", namespaces: map[string][]string{"demo-a": {"app-a"}},
				gates: []config.Gate{{Kind: config.GateApproval}}},
			testWave{name: "rest", namespaces: map[string][]string{"demo-b": {"app-b"}, "demo-c": {"app-c"}}})
	}
	cases := map[string]struct {
		sel        Scope
		wantUndos  []string
		rolledBack []string // step ids; the rest stay done
		wantErr    string
	}{
		"one wave": {
			sel: Scope{Wave: "canary"},
			wantUndos: []string{"undo wave/canary/relabel/demo-a", "undo wave/canary/restart/demo-a/deployment/app-a",
				"undo wave/canary/wait", "undo wave/canary/verify"},
			rolledBack: []string{"wave/canary/relabel/demo-a", "wave/canary/restart/demo-a/deployment/app-a",
				"wave/canary/wait", "wave/canary/verify", "wave/canary/gate/0-approval"},
		},
		"one namespace": {
			sel:        Scope{Namespace: "demo-c"},
			wantUndos:  []string{"undo wave/rest/relabel/demo-c", "undo wave/rest/restart/demo-c/deployment/app-c", "undo wave/rest/wait", "undo wave/rest/verify"},
			rolledBack: []string{"wave/rest/relabel/demo-c", "wave/rest/restart/demo-c/deployment/app-c", "wave/rest/wait", "wave/rest/verify"},
		},
		"everything": {
			wantUndos: []string{
				"undo wave/rest/relabel/demo-c", "undo wave/rest/relabel/demo-b",
				"undo wave/rest/restart/demo-b/deployment/app-b", "undo wave/rest/restart/demo-c/deployment/app-c",
				"undo wave/rest/wait", "undo wave/rest/verify",
				"undo wave/canary/relabel/demo-a", "undo wave/canary/restart/demo-a/deployment/app-a",
				"undo wave/canary/wait", "undo wave/canary/verify",
				"undo gateway/istio-system/egress", "undo gateway/istio-system/ingress"},
		},
		"unknown wave":      {sel: Scope{Wave: "nope"}, wantErr: "wave nope is not in the state"},
		"unknown namespace": {sel: Scope{Namespace: "nope"}, wantErr: "namespace nope is not in the state"},
		"both":              {sel: Scope{Wave: "rest", Namespace: "demo-b"}, wantErr: "not both"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFakeCluster()
			p := build(f)
			path := statePath(t)
			opts := fastOptions()
			opts.Approved = []string{"canary"}
			if err := New(f, statemgr.NewFileStore(path), nil, opts).Apply(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			f.calls = nil
			err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Rollback(context.Background(), p, tc.sel)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Rollback: got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			if diff := cmp.Diff(tc.wantUndos, f.Calls()); diff != "" {
				t.Errorf("undo calls (-want +got):\n%s", diff)
			}
			want := allStatus(p, states.StatusDone)
			rolled := tc.rolledBack
			if rolled == nil {
				rolled = slices.Collect(func(yield func(string) bool) {
					for _, s := range p.Steps {
						if !yield(s.ID) {
							return
						}
					}
				})
			}
			for _, id := range rolled {
				want[id] = states.StatusRolledBack
			}
			st := readState(t, path)
			if diff := cmp.Diff(want, statuses(st)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			for _, id := range tc.wantUndos {
				id = strings.TrimPrefix(id, "undo ")
				if st.Step(id).Record[plan.RecordRollbackAt] == "" {
					t.Errorf("%s: undo time not recorded", id)
				}
			}
			if (tc.sel == Scope{}) {
				for g, cp := range f.gateways {
					if cp != "old" {
						t.Errorf("gateway %s on %q, want old", g, cp)
					}
				}
			}
		})
	}

	t.Run("re-apply after rollback runs the wave again", func(t *testing.T) {
		f := newFakeCluster()
		p := build(f)
		path := statePath(t)
		opts := fastOptions()
		opts.Approved = []string{"canary"}
		if err := New(f, statemgr.NewFileStore(path), nil, opts).Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if err := New(f, statemgr.NewFileStore(path), nil, opts).Rollback(context.Background(), p, Scope{Wave: "rest"}); err != nil {
			t.Fatal(err)
		}
		if err := New(f, statemgr.NewFileStore(path), nil, opts).Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(allStatus(p, states.StatusDone), statuses(readState(t, path))); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		if f.labels["demo-b"] != "new" || f.rolls["demo-b/app-b"] != 3 || f.rolls["demo-a/app-a"] != 1 {
			t.Errorf("labels %v rolls %v", f.labels, f.rolls)
		}
	})

	t.Run("uninstalled source is not rolled back", func(t *testing.T) {
		f := newFakeCluster()
		p := build(f)
		p.AddPhase(plan.Phase{Kind: plan.PhaseFinalize}, []plan.Step{{ID: "finalize/uninstall/old", Kind: plan.StepUninstall, Action: plan.ActionDelete,
			Object: &plan.ObjectRef{Kind: "Istio", Namespace: "istio-system", Name: "old"}}})
		p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
		path := statePath(t)
		opts := fastOptions()
		opts.Approved = []string{"canary"}
		if err := New(f, statemgr.NewFileStore(path), nil, opts).Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		f.calls = nil
		err := New(f, statemgr.NewFileStore(path), nil, opts).Rollback(context.Background(), p, Scope{})
		if err == nil || !strings.Contains(err.Error(), "uninstalled") {
			t.Fatalf("Rollback: got %v, want a refusal", err)
		}
		if len(f.Calls()) != 0 {
			t.Errorf("provider called: %v", f.Calls())
		}
	})

	t.Run("no state", func(t *testing.T) {
		f := newFakeCluster()
		err := New(f, statemgr.NewFileStore(statePath(t)), nil, fastOptions()).Rollback(context.Background(), build(f), Scope{})
		if err == nil || !strings.Contains(err.Error(), "no state") {
			t.Fatalf("Rollback: got %v", err)
		}
	})
}

// A full rollback moves revision tags back before it undoes the waves: a
// pod restarted in a namespace that follows a tag is injected by whatever
// the tag points at when the pod starts.
func TestRollbackMovesTagsFirst(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, []string{"ingress"}, testWave{name: "all", namespaces: map[string][]string{"demo-a": {"app-a"}}})
	tag := plan.Step{ID: "tag/prod", Kind: plan.StepTagMove, Action: plan.ActionUpdate,
		Object: &plan.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: "istio-revision-tag-prod"}, FromRevision: "old", ToRevision: "new"}
	p.Steps = append([]plan.Step{tag}, p.Steps...)
	p.Phases = append([]plan.Phase{{Kind: plan.PhaseTags, Groups: [][]string{{tag.ID}}}}, p.Phases...)
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	path := statePath(t)
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Rollback(context.Background(), p, Scope{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"undo tag/prod",
		"undo wave/all/relabel/demo-a", "undo wave/all/restart/demo-a/deployment/app-a", "undo wave/all/wait", "undo wave/all/verify",
		"undo gateway/istio-system/ingress"}
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
		t.Errorf("undo calls (-want +got):\n%s", diff)
	}
}

// The install of the target runs first and is rolled back last, once
// nothing of the plan uses the target any more; its wait only reads.
func TestInstallRunsFirstAndIsRolledBackLast(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, []string{"ingress"}, testWave{name: "all", namespaces: map[string][]string{"demo-a": {"app-a"}}})
	istiod := &plan.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-new"}
	install := plan.Step{ID: "install/new", Kind: plan.StepInstall, Action: plan.ActionCreate, Object: istiod, ToRevision: "new",
		Manifest: []plan.ManifestChange{{ObjectRef: *istiod, APIVersion: "apps/v1", Action: plan.ActionCreate, JSON: []byte(`{}`)}}}
	wait := plan.Step{ID: "install/new/wait", Kind: plan.StepInstallWait, Action: plan.ActionRead, Object: istiod, ToRevision: "new"}
	p.Steps = append([]plan.Step{install, wait}, p.Steps...)
	p.Phases = append([]plan.Phase{{Kind: plan.PhaseInstall, Groups: [][]string{{install.ID}, {wait.ID}}}}, p.Phases...)
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	path := statePath(t)
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if calls := f.Calls(); len(calls) < 4 || !slices.Equal(calls[:4], []string{"prepare install/new", "run install/new", "prepare install/new/wait", "run install/new/wait"}) {
		t.Errorf("apply calls %v, want the install and its wait first", calls)
	}
	f.calls = nil
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Rollback(context.Background(), p, Scope{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"undo wave/all/relabel/demo-a", "undo wave/all/restart/demo-a/deployment/app-a", "undo wave/all/wait", "undo wave/all/verify",
		"undo gateway/istio-system/ingress", "undo install/new"}
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
		t.Errorf("undo calls (-want +got):\n%s", diff)
	}
}

// What the plan leaves to the person applying it reaches neither the
// provider nor the wave's steps: the wave-done event and the state list
// it once the wave is done, and a rollback of the wave forgets it.
func TestApplyRecordsManualFollowUp(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, nil,
		testWave{name: "canary", namespaces: map[string][]string{"demo-a": {"app-a"}}},
		testWave{name: "rest", namespaces: map[string][]string{"demo-b": {"app-b"}}})
	db := plan.FollowUp{Wave: "canary", Object: plan.ObjectRef{Kind: "StatefulSet", Namespace: "demo-a", Name: "db"}, Pods: 2,
		Reason: "StatefulSet uses the OnDelete update strategy", Manual: "delete its pods one at a time"}
	job := plan.FollowUp{Wave: "canary", Object: plan.ObjectRef{Kind: "Job", Namespace: "demo-a", Name: "migrate"}, Pods: 1,
		Reason: "a Job's pods run to completion", Manual: "re-run the Job"}
	p.ManualFollowUp = []plan.FollowUp{db, job}
	path := statePath(t)
	rec := &recorder{}
	if err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for _, c := range f.Calls() {
		if strings.Contains(c, "db") || strings.Contains(c, "migrate") {
			t.Errorf("provider was asked about a follow-up: %s", c)
		}
	}
	got := map[string][]plan.FollowUp{}
	for _, e := range rec.events {
		if e.Kind == EventWaveDone {
			got[e.Wave] = e.ManualFollowUp
		}
	}
	if diff := cmp.Diff(map[string][]plan.FollowUp{"canary": {db, job}, "rest": nil}, got); diff != "" {
		t.Errorf("wave-done follow-ups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]plan.FollowUp{db, job}, readState(t, path).ManualFollowUp); diff != "" {
		t.Errorf("state follow-ups (-want +got):\n%s", diff)
	}

	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Rollback(context.Background(), p, Scope{Wave: "canary"}); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if fs := readState(t, path).ManualFollowUp; len(fs) != 0 {
		t.Errorf("state follow-ups after rolling canary back = %+v, want none", fs)
	}
}

// A relabel that was a no-op (the namespace follows a tag the plan moves)
// recorded nothing, so a rollback leaves the namespace alone instead of
// failing on a record that is not there.
func TestRollbackSkipsNoopSteps(t *testing.T) {
	f := newFakeCluster()
	p := testPlan(f, nil, testWave{name: "all", namespaces: map[string][]string{"demo-a": {"app-a"}}})
	for i := range p.Steps {
		if p.Steps[i].Kind == plan.StepNamespaceRelabel {
			p.Steps[i].Action, p.Steps[i].Reason = plan.ActionNoop, "namespace follows revision tag prod"
		}
	}
	path := statePath(t)
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Rollback(context.Background(), p, Scope{Wave: "all"}); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	want := []string{"undo wave/all/restart/demo-a/deployment/app-a", "undo wave/all/wait", "undo wave/all/verify"}
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
		t.Errorf("undo calls (-want +got):\n%s", diff)
	}
}

// usersCluster is the fake cluster with a live answer to who still uses a
// revision, as providers/kube gives it.
type usersCluster struct {
	*fakeCluster
	users []string
	asked int
}

var _ UsersReader = (*usersCluster)(nil)

func (u *usersCluster) RevisionUsers(_ context.Context, rev string) ([]string, error) {
	u.asked++
	return u.users, nil
}

// A plan that leaves a workload to manual follow-up and uninstalls the old
// revision: apply stops before the uninstall while the workload still uses
// the revision, saying what to move, with the uninstall pending rather than
// failed; once it is moved, applying again uninstalls. A plan without
// follow-up does not ask.
func TestApplyStopsBeforeUninstallUntilFollowUpIsDone(t *testing.T) {
	f := &usersCluster{fakeCluster: newFakeCluster(), users: []string{"pod demo-b/cache-0"}}
	p := testPlan(f.fakeCluster, nil, testWave{name: "rest", namespaces: map[string][]string{"demo-b": {"app-b"}}})
	uninstall := plan.Step{ID: "finalize/uninstall/old", Kind: plan.StepUninstall, Action: plan.ActionDelete,
		Object: &plan.ObjectRef{Kind: "IstioOperator", Namespace: "istio-system", Name: "old"}, FromRevision: "old"}
	p.AddPhase(plan.Phase{Kind: plan.PhaseFinalize}, []plan.Step{uninstall})
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	cache := plan.FollowUp{Wave: "rest", Object: plan.ObjectRef{Kind: "StatefulSet", Namespace: "demo-b", Name: "cache"}, Pods: 1,
		Reason: "StatefulSet uses the OnDelete update strategy", Manual: "delete its pods one at a time"}
	p.ManualFollowUp = []plan.FollowUp{cache}
	path := statePath(t)
	rec := &recorder{}

	err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(context.Background(), p)
	var fr *FollowUpRequiredError
	if !errors.As(err, &fr) {
		t.Fatalf("Apply = %v, want a FollowUpRequiredError", err)
	}
	if diff := cmp.Diff(&FollowUpRequiredError{StepID: uninstall.ID, Revision: "old", Users: []string{"pod demo-b/cache-0"}}, fr); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	for _, c := range f.Calls() {
		if strings.Contains(c, "uninstall") {
			t.Errorf("the provider was asked to %s before the follow-up was done", c)
		}
	}
	var msg string
	for _, e := range rec.events {
		switch e.Kind {
		case EventFollowUpRequired:
			msg = e.Message
		case EventStepFailed, EventWaveFailed:
			t.Errorf("event %s %s: waiting for the follow-up is not a failure", e.Kind, e.StepID)
		}
	}
	for _, want := range []string{"pod demo-b/cache-0", "StatefulSet demo-b/cache", "delete its pods one at a time", "run apply again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("follow-up-required message %q does not say %q", msg, want)
		}
	}
	if ss := readState(t, path).Step(uninstall.ID); ss.Status != states.StatusPending || ss.Error != "waiting for the manual follow-up" {
		t.Errorf("uninstall in the state: %s %q, want pending, waiting for the manual follow-up", ss.Status, ss.Error)
	}

	f.users = nil
	if err := New(f, statemgr.NewFileStore(path), nil, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatalf("Apply once the follow-up is done: %v", err)
	}
	if ss := readState(t, path).Step(uninstall.ID); ss.Status != states.StatusDone {
		t.Errorf("uninstall %s, want done", ss.Status)
	}

	asked := f.asked
	p.ManualFollowUp = nil
	if err := New(f, statemgr.NewFileStore(statePath(t)), nil, fastOptions()).Apply(context.Background(), p); err != nil {
		t.Fatalf("Apply without follow-up: %v", err)
	}
	if f.asked != asked {
		t.Errorf("a plan without follow-up asked who uses the revision")
	}
}

// A rollback of one namespace reverses the evictions of its workloads as it
// does their restarts.
func TestScopeTouchesWorkloadSteps(t *testing.T) {
	sts := &plan.ObjectRef{Kind: "StatefulSet", Namespace: "demo-b", Name: "cache"}
	for _, kind := range []plan.StepKind{plan.StepWorkloadRestart, plan.StepWorkloadEvict} {
		s := plan.Step{ID: "x", Kind: kind, Object: sts}
		if !(Scope{Namespace: "demo-b"}).touches(s) || (Scope{Namespace: "demo-a"}).touches(s) {
			t.Errorf("%s of demo-b/cache: touches demo-b %v, demo-a %v; want true, false", kind,
				Scope{Namespace: "demo-b"}.touches(s), Scope{Namespace: "demo-a"}.touches(s))
		}
	}
}
