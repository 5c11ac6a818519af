package faults_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshwave/meshwave/test/e2e/harness"
)

const faultKill = "kill -9"

// killPoint says when a run is killed: at the first event of kind for step
// (any step when empty), or at the first event of a step later in the plan
// than step (the point was passed without the event), then after delay.
type killPoint struct {
	step, event string
	index       int
	delay       time.Duration
}

func (k killPoint) String() string {
	s := k.step
	if s == "" {
		s = "the first step"
	}
	return fmt.Sprintf("%s of %s + %s", k.event, s, k.delay)
}

// Kinds of steps that report progress while they run.
var reportsProgress = map[string]bool{
	"gateway-migrate": true, "workload-restart": true, "wave-wait": true, "wave-verify": true, "gate": true,
}

// window is how many of the next steps not yet done a kill point is chosen
// from: near enough that every upgrade is killed many times on its way, in
// every kind of step.
const window = 3

// choose picks a random point among the events the next steps not yet done
// will emit.
func choose(rng *rand.Rand, st *stateFile) killPoint {
	// Half the kills follow their event at once, to land inside the short
	// steps (a relabel is one PATCH between two state writes).
	delay := time.Duration(0)
	if rng.Intn(2) == 0 {
		delay = time.Duration(rng.Intn(300)) * time.Millisecond
	}
	if st == nil {
		events := []string{"apply-start", "step-start", "step-progress", "step-done"}
		return killPoint{event: events[rng.Intn(len(events))], index: -1, delay: delay}
	}
	var points []killPoint
	steps := 0
	for i, s := range st.Steps {
		if s.Status == "done" {
			continue
		}
		if steps++; steps > window {
			break
		}
		points = append(points, killPoint{step: s.ID, event: "step-start", index: i}, killPoint{step: s.ID, event: "step-done", index: i})
		if reportsProgress[s.Kind] {
			points = append(points, killPoint{step: s.ID, event: "step-progress", index: i})
		}
	}
	if len(points) == 0 {
		return killPoint{}
	}
	p := points[rng.Intn(len(points))]
	p.delay = delay
	return p
}

// applyKilledAt runs apply and kills it with SIGKILL at kp. It returns the
// event the kill was triggered by (nil when the run ended first) and the
// run.
func applyKilledAt(t *testing.T, m *mesh, kp killPoint, order map[string]int) (*event, *run) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := startApply(ctx, t, m.env, m.dir)
	var trigger *event
	for {
		ev, ok := r.next()
		if !ok {
			break
		}
		if ev.Type == "not-json" {
			t.Errorf("apply -json wrote a line that is not JSON: %q", ev.Message)
		}
		if trigger != nil {
			continue
		}
		hit := ev.Type == kp.event && (kp.step == "" || ev.Step == kp.step)
		if i, ok := order[ev.Step]; ok && kp.index >= 0 && i > kp.index && strings.HasPrefix(ev.Type, "step-") {
			hit = true // passed the point without its event
		}
		if hit {
			e := ev
			trigger = &e
			// The delay after the event is part of the kill point under
			// test: where in the step the kill -9 lands.
			time.Sleep(kp.delay)
			if err := r.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.wait()
	return trigger, r
}

// diedIn says where a killed run was by what its state records: the kinds
// of the steps it left running, or "between steps".
func diedIn(st *stateFile) string {
	var kinds []string
	if st != nil {
		for _, s := range st.Steps {
			if s.Status == "running" && !slices.Contains(kinds, s.Kind) {
				kinds = append(kinds, s.Kind)
			}
		}
	}
	sort.Strings(kinds)
	if len(kinds) == 0 {
		return "between steps"
	}
	return strings.Join(kinds, "+")
}

// TestKill9AtRandomPoints kills apply at seeded random points of three whole
// upgrades — the gateway move, relabels, parallel restarts, waits and
// verifies, http, command and pause gates, the uninstall — and after every
// kill checks that the state decodes strictly and records every change the
// cluster shows. Then apply runs to the end: the cluster must be where an
// uninterrupted upgrade leaves it, every Deployment restarted exactly once.
func TestKill9AtRandomPoints(t *testing.T) {
	describe(faultKill,
		"SIGKILL at a seeded random event of a running `apply -json` (+0–300 ms), then apply again; repeated through 3 whole upgrades (gateway, canary wave with http, command and pause gates, a wave of 5 Deployments restarted 3 at a time, uninstall)",
		"state decodes strictly; every change in the cluster is recorded in the state first; the resumed upgrade ends like an uninterrupted one; no Deployment restarted twice (ReplicaSet count)")
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d (set %s to replay)", seed, envSeed)
	fmt.Fprintf(os.Stderr, "faults: kill -9 seed %d\n", seed)
	const rounds, killsPerRound = 3, 20
	url := gateServer(t)
	ctx := context.Background()
	var all, points []string
	for round := 1; round <= rounds; round++ {
		m := newMesh(t, meshSpec{name: fmt.Sprintf("k%d", round), gateway: true,
			sizes: []nsSize{{"a", 1}, {"b", 2}, {"c", 3}}})
		a, b, c := m.order[0], m.order[1], m.order[2]
		m.setWave("canary", a)
		m.setWave("rest", b, c)
		m.writePlan(fmt.Sprintf(`
wave "canary" {
  namespaces = [%q]

  http {
    url      = %q
    retries  = 2
    interval = "1s"
    timeout  = "2s"
  }

  command {
    argv    = ["sh", "-c", "sleep 0.3"]
    timeout = "10s"
  }

  pause = "2s"
}

wave "rest" {
  namespaces   = [%q, %q]
  max_parallel = 3
}

finalize {
  uninstall_old = true
}
`, a, url, b, c))

		var kills []string
		for k := 0; k < killsPerRound; k++ {
			st := readState(t, m.statePath())
			order := map[string]int{}
			if st != nil {
				for i, s := range st.Steps {
					order[s.ID] = i
				}
			}
			kp := choose(rng, st)
			if kp.event == "" {
				break // every step is done: the last apply below confirms it
			}
			trigger, r := applyKilledAt(t, m, kp, order)
			if trigger == nil {
				if r.code != 0 {
					p := harness.Meshwave(t, m.env, m.dir, "plan")
					t.Fatalf("round %d: apply failed on its own (exit %d) before %v:\n%s\n--- plan:\n%s%s", round, r.code, kp, r.transcript(), p.Stdout, p.Stderr)
				}
				t.Logf("round %d: apply finished before %v", round, kp)
				break
			}
			after := readState(t, m.statePath())
			where := diedIn(after)
			kills = append(kills, where)
			points = append(points, trigger.StepKind, where)
			t.Logf("round %d kill %d: at %s %s (+%s), in %s", round, k+1, trigger.Type, trigger.Step, kp.delay, where)
			if r.code != -1 {
				t.Errorf("round %d: exit code %d after SIGKILL, want -1\n%s", round, r.code, r.transcript())
			}
			if bad := m.checkRecordedFirst(ctx, after); len(bad) > 0 {
				t.Errorf("round %d, after the kill at %s %s: the cluster changed without the state saying so:\n%s",
					round, trigger.Type, trigger.Step, strings.Join(bad, "\n"))
				trial(faultKill, "changed the cluster before recording it", false)
			}
		}
		res := harnessApply(t, m)
		ok := res == 0
		if !ok {
			t.Errorf("round %d: the final apply exited %d", round, res)
		}
		if bad := m.checkFinal(ctx); len(bad) > 0 {
			ok = false
			t.Errorf("round %d: after %d kills the upgrade did not end like an uninterrupted one:\n%s", round, len(kills), strings.Join(bad, "\n"))
		}
		for _, k := range kills {
			if ok {
				trial(faultKill, "killed in "+k+", resumed to the same end", true)
			} else {
				trial(faultKill, "killed in "+k+", resume did not reach the same end", false)
			}
		}
		fmt.Fprintf(os.Stderr, "faults: round %d: %d kills in %v\n", round, len(kills), kills)
		all = append(all, kills...)
	}
	// The promise is only shown by many kills, in every kind of step.
	if len(all) < 30 {
		t.Errorf("%d kills, want at least 30", len(all))
	}
	for _, kind := range []string{"gateway-migrate", "namespace-relabel", "workload-restart", "gate", "uninstall"} {
		n := 0
		for _, k := range points {
			if strings.Contains(k, kind) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no kill was aimed at or landed in a %s step (seed %d): %v", kind, seed, points)
		}
	}
}

// harnessApply runs apply to its end and returns its exit code.
func harnessApply(t *testing.T, m *mesh) int {
	t.Helper()
	r := startApply(context.Background(), t, m.env, m.dir)
	for {
		if _, ok := r.next(); !ok {
			break
		}
	}
	code := r.wait()
	if code != 0 {
		t.Logf("apply exit %d:\n%s", code, r.transcript())
	}
	return code
}
