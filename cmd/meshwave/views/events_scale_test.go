package views

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

// bigWave is the plan of one wave over n namespaces of 3 Deployments of 2
// pods each, shaped like the Backyards plan of the cluster benchmark
// (docs/benchmarks.md): n relabels in one group (istio-injection →
// istio.io/rev=cp-v17x.istio-system), the 3n restarts in the next (each at
// most 1000 at once), the wait and the verify.
func bigWave(wave string, n int) *plan.Plan {
	p := &plan.Plan{FormatVersion: plan.FormatVersion, From: byFrom, To: byTo, Flavor: plan.FlavorBackyards}
	addBigWave(p, wave, n)
	return p
}

func addBigWave(p *plan.Plan, wave string, n int) {
	w := "wave/" + wave + "/"
	const timeout = 90 * 60 // seconds
	var relabels, restarts []plan.Step
	var namespaces []string
	var workloads []plan.ObjectRef
	for i := range n {
		ns := fmt.Sprintf("%s-%03d", wave, i)
		namespaces = append(namespaces, ns)
		relabels = append(relabels, plan.Step{ID: w + "relabel/" + ns, Kind: plan.StepNamespaceRelabel, Action: plan.ActionUpdate,
			Wave: wave, Object: ref("Namespace", "", ns), FromRevision: byFrom, ToRevision: byTo,
			SetLabels: map[string]string{"istio.io/rev": byTo}, RemoveLabels: []string{"istio-injection"},
			SourceLabels: map[string]string{"istio-injection": "enabled"}})
		for _, app := range []string{"app-a", "app-b", "app-c"} {
			restarts = append(restarts, plan.Step{ID: w + "restart/" + ns + "/deployment/" + app, Kind: plan.StepWorkloadRestart,
				Action: plan.ActionRestart, Wave: wave, Object: ref("Deployment", ns, app), Pods: 2,
				FromRevision: byFrom, ToRevision: byTo, FromImage: byFromImage, ToImage: byToImage,
				TimeoutSecond: timeout})
			workloads = append(workloads, *ref("Deployment", ns, app))
		}
	}
	wait := plan.Step{ID: w + "wait", Kind: plan.StepWaveWait, Action: plan.ActionRead, Wave: wave,
		Namespaces: namespaces, Workloads: workloads, TimeoutSecond: timeout, ToRevision: byTo}
	verify := plan.Step{ID: w + "verify", Kind: plan.StepWaveVerify, Action: plan.ActionRead, Wave: wave,
		Namespaces: namespaces, Workloads: workloads, Pods: 2 * len(workloads),
		FromRevision: byFrom, ToRevision: byTo, FromImage: byFromImage, ToImage: byToImage, TimeoutSecond: timeout}
	groups := append([][]plan.Step{relabels, restarts}, plan.OneByOne(wait, verify)...)
	p.AddPhase(plan.Phase{Kind: plan.PhaseWave, Wave: wave, MaxParallel: 1000}, groups...)
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	p.Summary.Changes += len(relabels) + len(restarts)
	p.Summary.Relabel += len(relabels)
	p.Summary.Restart += len(restarts)
	p.Summary.Waves = append(p.Summary.Waves, plan.WaveSummary{Name: wave, Namespaces: n, Workloads: len(workloads),
		Pods: 2 * len(workloads), FromImage: byFromImage, ToImage: byToImage})
}

// stream records events the way the executor reports them: in order, each
// with its time.
type stream struct {
	t0     time.Time
	events []executor.Event
}

func (s *stream) add(at time.Duration, e executor.Event) {
	e.Time = s.t0.Add(at)
	s.events = append(s.events, e)
}

func stepEv(kind executor.EventKind, st plan.Step) executor.Event {
	obj := ""
	if st.Object != nil {
		obj = st.Object.Name
		if st.Object.Namespace != "" {
			obj = st.Object.Namespace + "/" + obj
		}
	}
	return executor.Event{Kind: kind, StepID: st.ID, StepKind: st.Kind, Wave: st.Wave, Object: obj}
}

// waveEvents appends to s, from at, what the executor reports for the wave
// of p: every relabel, then every restart at once with a status change of
// its rollout every 2 s and a heartbeat every 10 s, each rollout taking 5
// to 70 s; the workloads in fail fail. Without failures the wait and the
// verify follow (the verify reporting its pods as it counts them) and the
// wave is done; with failures the wave fails and is rolled back, as
// automatic_rollback does. It returns when the wave ended and whether it
// failed.
func waveEvents(s *stream, p *plan.Plan, ph plan.Phase, at time.Duration, fail map[string]bool) (end time.Duration, failed bool) {
	rnd := rand.New(rand.NewPCG(1, 2))
	steps := p.PhaseSteps(ph)
	s.add(at, executor.Event{Kind: executor.EventWaveStart, Wave: ph.Wave})
	var relabels, restarts []plan.Step
	var wait, verify plan.Step
	for _, st := range steps {
		switch st.Kind {
		case plan.StepNamespaceRelabel:
			relabels = append(relabels, st)
		case plan.StepWorkloadRestart:
			restarts = append(restarts, st)
		case plan.StepWaveWait:
			wait = st
		case plan.StepWaveVerify:
			verify = st
		}
	}
	for _, st := range relabels {
		s.add(at, stepEv(executor.EventStepStart, st))
		at += 40 * time.Millisecond
		done := stepEv(executor.EventStepDone, st)
		done.Elapsed = 40 * time.Millisecond
		s.add(at, done)
	}
	// The restarts run at the same time: their events interleave by time.
	var timed []executor.Event
	start := at
	end = at
	for _, st := range restarts {
		ev := stepEv(executor.EventStepStart, st)
		ev.Time = s.t0.Add(start)
		timed = append(timed, ev)
		took := 5*time.Second + time.Duration(rnd.IntN(65_000))*time.Millisecond
		for e := 2 * time.Second; e < took; e += 2 * time.Second {
			pr := stepEv(executor.EventStepProgress, st)
			pr.Elapsed, pr.Time = e, s.t0.Add(start+e)
			pr.Message = fmt.Sprintf("%s: waiting for rollout to finish: %d of 2 updated replicas are available", pr.Object, int(e/time.Second)%2)
			timed = append(timed, pr)
			if e%(10*time.Second) == 0 {
				hb := pr
				hb.Message = "still running"
				timed = append(timed, hb)
			}
		}
		fin := stepEv(executor.EventStepDone, st)
		if fail[fin.Object] {
			failed = true
			fin = stepEv(executor.EventStepFailed, st)
			fin.Error = fmt.Sprintf("rollout of Deployment %s failed: progress deadline exceeded", fin.Object)
		}
		fin.Elapsed, fin.Time = took, s.t0.Add(start+took)
		timed = append(timed, fin)
		end = max(end, start+took)
	}
	slices.SortStableFunc(timed, func(a, b executor.Event) int { return a.Time.Compare(b.Time) })
	s.events = append(s.events, timed...)
	at = end
	if failed {
		s.add(at, executor.Event{Kind: executor.EventWaveFailed, Wave: ph.Wave, Error: "restart: 1 step failed"})
		s.add(at, executor.Event{Kind: executor.EventRollbackStart, Wave: ph.Wave, Message: "everything"})
		for _, st := range slices.Concat(restarts, relabels) {
			if fail[stepEv("", st).Object] {
				continue
			}
			s.add(at, stepEv(executor.EventStepRollbackStart, st))
			at += 20 * time.Millisecond
			s.add(at, stepEv(executor.EventStepRolledBack, st))
		}
		s.add(at, executor.Event{Kind: executor.EventRollbackDone, Wave: ph.Wave, Message: "everything"})
		return at, true
	}
	for _, st := range []plan.Step{wait, verify} {
		s.add(at, stepEv(executor.EventStepStart, st))
		for e := time.Second; e <= 12*time.Second; e += time.Second {
			pr := stepEv(executor.EventStepProgress, st)
			pr.Elapsed = e
			pr.Message = fmt.Sprintf("%d/%d pods run proxyv2:1.7.0", min(st.Pods, int(e/time.Second)*st.Pods/12), st.Pods)
			if st.Kind == plan.StepWaveWait {
				pr.Message = "canary-004/app-a: waiting for rollout to finish: 1 old replicas are pending termination"
			}
			s.add(at+e, pr)
		}
		at += 12 * time.Second
		done := stepEv(executor.EventStepDone, st)
		done.Elapsed = 12 * time.Second
		s.add(at, done)
	}
	changed := len(steps)
	s.add(at, executor.Event{Kind: executor.EventWaveDone, Wave: ph.Wave, Elapsed: at, Totals: &executor.Totals{Changed: changed}})
	return at, false
}

// applyEvents is a whole apply of p, which stops at the first wave with a
// workload in fail.
func applyEvents(p *plan.Plan, fail map[string]bool) []executor.Event {
	s := &stream{t0: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.add(0, executor.Event{Kind: executor.EventApplyStart, Message: "starting"})
	at := time.Duration(0)
	for _, ph := range p.Phases {
		var failed bool
		if at, failed = waveEvents(s, p, ph, at, fail); failed {
			return s.events
		}
	}
	s.add(at, executor.Event{Kind: executor.EventApplyDone, Elapsed: at, Totals: &executor.Totals{Changed: len(p.Steps)}})
	return s.events
}

// Without a terminal, an apply of 200 namespaces of 3 Deployments writes
// output a person reads: the plan it shows first, then the log, under 300
// lines however many status changes the rollouts report, and every failed
// workload named with its error.
func TestApplyLogIsBounded(t *testing.T) {
	failed := []string{"canary-007/app-b", "canary-050/app-a", "canary-123/app-c", "canary-199/app-a", "canary-000/app-c"}
	tests := map[string]struct {
		fail []string
		want []string
	}{
		"succeeds": {want: []string{
			"relabeling 200 namespaces...", "200/200 namespaces relabeled",
			"restarting 600 workloads, at most 1000 at once...", "600/600 workloads restarted",
			"wave canary: proxies verified", `Wave "canary" complete`, "Apply complete!"}},
		"five restarts fail and the wave is rolled back": {fail: failed, want: []string{
			"595/600 workloads restarted, 5 failed", `Wave "canary" failed`,
			"rolling back workloads...", "595 workloads rolled back", "200 namespaces rolled back", "Rollback complete."}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := bigWave("canary", 200)
			fail := map[string]bool{}
			for _, f := range tc.fail {
				fail[f] = true
			}
			events := applyEvents(p, fail)
			progress := 0
			for _, e := range events {
				if e.Kind == executor.EventStepProgress {
					progress++
				}
			}
			var b bytes.Buffer
			v := NewApply(ViewHuman, &b, ApplyOptions{Progress: ProgressPlain})
			if err := v.Plan(p); err != nil {
				t.Fatal(err)
			}
			planLines := strings.Count(b.String(), "\n")
			v.Begin(p)
			for _, e := range events {
				v.Observe(e)
			}
			v.Close()
			out := b.String()
			lines := strings.Count(out, "\n")
			t.Logf("the plan in %d lines; %d events (%d of them step-progress) written as %d more", planLines, len(events), progress, lines-planLines)
			if testing.Verbose() {
				t.Logf("the log:\n%s", out)
			}
			if progress < 5000 {
				t.Fatalf("the stream has %d progress events; the test wants a flood", progress)
			}
			if lines >= 300 {
				t.Errorf("the output has %d lines, want fewer than 300:\n%s", lines, out)
			}
			if planLines >= planLinesMax {
				t.Errorf("the plan has %d lines, want fewer than %d:\n%s", planLines, planLinesMax, out)
			}
			for _, f := range tc.fail {
				want := fmt.Sprintf("  %s: failed: rollout of Deployment %s failed: progress deadline exceeded\n", f, f)
				if !strings.Contains(out, want) {
					t.Errorf("the log does not name the failed workload %s with its error (%q):\n%s", f, want, out)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the log lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "still restarting") {
				t.Errorf("the log has a line per status change of a rollout:\n%s", out)
			}
		})
	}
}
