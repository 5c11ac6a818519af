package faults_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/providers/kube"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/test/e2e/harness"
)

const faultAPIRestart = "API server restarted during a state write"

// restartPoint is an event of apply -json that a write of the state
// follows within milliseconds; the API server is killed delay after it.
type restartPoint struct {
	event, step string
	// write names the write of the state that follows the event.
	write string
	delay time.Duration
	// reached says the API server was restarted at this point.
	reached bool
}

// restartFinding is what the suite read from the state Secret around one
// restart of the API server.
type restartFinding struct {
	point         *restartPoint
	before, after uint64 // serials
	took          time.Duration
	ok            bool
}

// TestAPIServerRestartedDuringStateWrite keeps the state in the cluster (the
// Kubernetes backend: a Secret written by compare-and-swap, locked by a
// Lease) and kills kube-apiserver with SIGKILL, then starts it again with the
// same command line, four times during one upgrade, each time a few
// milliseconds after an event that a state write follows. A write in flight
// when the server dies either reached etcd or did not; the Secret must hold
// the old or the new state, never a torn one: after each restart it decodes
// strictly, keeps its lineage, and its serial is not below the one read just
// before the kill. apply, run again if it stopped, must finish the upgrade
// with every Deployment restarted exactly once.
func TestAPIServerRestartedDuringStateWrite(t *testing.T) {
	describe(faultAPIRestart,
		"state kept in the cluster (Kubernetes backend: Secret + Lease); kube-apiserver killed with SIGKILL and started again with the same command line, 4 times in one upgrade, 0–50 ms (seeded) after an event a state write follows: a relabel's start (its done write) in each of 2 waves, a wave wait's start (its done write), a restart's end (the next restart's running write)",
		"after each restart the state Secret decodes strictly (gzip, state format), same lineage, serial ≥ the one read just before the kill; apply (run again if it stopped) finishes the upgrade; each Deployment restarted exactly once (ReplicaSet count); the Lease released")
	rng := rand.New(rand.NewSource(seed))
	m := newMesh(t, meshSpec{name: "ar", sizes: []nsSize{{"a", 2}, {"b", 2}}})
	a, b := m.order[0], m.order[1]
	m.setWave("one", a)
	m.setWave("two", b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What the cluster shows, for a failure after the restarts: the
		// pods and ReplicaSets of the mesh, and each component's last lines.
		dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer dcancel()
		out, err := m.env.Kubectl(dctx, "get", "pods,replicasets", "-A", "-o", "wide")
		t.Logf("the cluster after the failure (%v):\n%s\n%s", err, out, m.env.ComponentLogs())
	})
	stateNS, stateName := m.name+"-state", "upgrade"
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stateNS}}
	if _, err := m.env.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	m.writePlan(fmt.Sprintf(`wave "one" {
  namespaces   = [%q]
  max_parallel = 2
}

wave "two" {
  namespaces   = [%q]
  max_parallel = 1
}

state {
  backend   = "kubernetes"
  namespace = %q
  name      = %q
}
`, a, b, stateNS, stateName))

	// A relabel is one PATCH between two state writes, and so is a wave's
	// wait once its restarts have rolled; wave two restarts one Deployment
	// at a time, so the end of one restart is followed by the next one's
	// running write (with its record).
	points := []*restartPoint{
		{event: "step-start", step: "wave/one/relabel/" + a, write: "a relabel's done write"},
		{event: "step-start", step: "wave/one/wait", write: "a wave wait's done write"},
		{event: "step-start", step: "wave/two/relabel/" + b, write: "a relabel's done write"},
		{event: "step-done", step: "wave/two/restart/" + b + "/deployment/app-0", write: "the next restart's running write"},
	}
	for _, p := range points {
		// Where the kill lands around the write is part of the fault.
		p.delay = time.Duration(rng.Intn(51)) * time.Millisecond
	}
	t.Logf("seed %d (set %s to replay)", seed, envSeed)

	var (
		findings []restartFinding
		lineage  string
		stops    []string
		// rechecks are apply's reads from the API server of what its
		// watch cache had missed.
		rechecks []string
		// started and slow time the steps, to say which ones the restarts
		// made slow.
		started = map[string]time.Time{}
		slow    []string
	)
	for attempt := 1; ; attempt++ {
		r := startApply(ctx, t, m.env, m.dir)
		for {
			ev, ok := r.next()
			if !ok {
				break
			}
			switch {
			case ev.Type == "step-progress" && strings.Contains(ev.Message, "shows what the watch did not"):
				rechecks = append(rechecks, ev.Step+": "+ev.Message)
			case ev.Type == "step-start":
				started[ev.Step] = time.Now()
			case ev.Type == "step-done" && time.Since(started[ev.Step]) > 10*time.Second:
				slow = append(slow, fmt.Sprintf("%s %s", ev.Step, time.Since(started[ev.Step]).Round(time.Second)))
			}
			p := pointOf(points, ev)
			if p == nil {
				continue
			}
			p.reached = true
			if n := len(r.events); n > 0 {
				t.Logf("%s %s: %d events already queued behind it (the kill may land after the write)", ev.Type, ev.Step, n)
			}
			f := restartAPIServerAt(ctx, t, m, stateNS, stateName, p, &lineage)
			findings = append(findings, f)
		}
		code := r.wait()
		if code == 0 {
			break
		}
		// The apply gave up (an outage longer than its retries): the state
		// and the cluster are still now, so what the cluster shows must be
		// recorded in the state.
		st, sf, err := readStateSecret(ctx, m, stateNS, stateName)
		if err != nil {
			t.Fatalf("after apply stopped (exit %d): %v\n%s", code, err, r.transcript())
		}
		if bad := m.checkRecordedFirst(ctx, sf); len(bad) > 0 {
			t.Errorf("apply stopped at serial %d: the cluster changed without the state saying so:\n%s", st.Serial, strings.Join(bad, "\n"))
		}
		stops = append(stops, fmt.Sprintf("exit %d: %s", code, lastLine(r.stderr.String())))
		t.Logf("apply %d stopped (exit %d); running it again:\n%s", attempt, code, r.transcript())
		if attempt == 3 {
			t.Fatalf("apply stopped %d times: %v", attempt, stops)
		}
	}

	// apply again: the upgrade is finished, and a resumed apply changes
	// nothing and restarts nothing.
	endOK := harnessApply(t, m) == 0
	if !endOK {
		t.Errorf("apply after the upgrade did not exit 0")
	}
	_, sf, err := readStateSecret(ctx, m, stateNS, stateName)
	if err != nil {
		t.Fatal(err)
	}
	if bad := m.checkMoved(ctx, sf); len(bad) > 0 {
		endOK = false
		t.Errorf("after %d restarts of the API server:\n%s", len(findings), strings.Join(bad, "\n"))
	}
	if _, err := m.env.Client.CoordinationV1().Leases(stateNS).Get(ctx, stateName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		endOK = false
		t.Errorf("the Lease after the upgrade: err = %v, want NotFound (released)", err)
	}
	if r := harness.Meshwave(t, m.env, m.dir, "plan", "-detailed-exitcode"); r.Code != 0 {
		endOK = false
		t.Errorf("plan after the upgrade: exit %d, want 0 (no changes)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	for _, p := range points {
		if !p.reached {
			t.Errorf("the API server was never restarted at %s of %s", p.event, p.step)
		}
	}
	end := "apply rode it out"
	if len(stops) > 0 {
		end = "apply stopped, run again to the end"
	}
	for _, f := range findings {
		outcome := fmt.Sprintf("restarted at a %s's %s, as %s was due: the Secret whole, %s",
			kindOfStep(f.point.step), map[string]string{"step-start": "start", "step-done": "end"}[f.point.event], f.point.write, end)
		if !f.ok || !endOK {
			outcome = fmt.Sprintf("restarted as %s was due: a promise broken", f.point.write)
		}
		trial(faultAPIRestart, outcome, f.ok && endOK)
		t.Logf("%s %s (+%s): serial %d before the kill, %d after the restart (%s)",
			f.point.event, f.point.step, f.point.delay, f.before, f.after, f.took.Round(time.Millisecond))
	}
	for _, c := range rechecks {
		t.Logf("read again from the API server: %s", c)
	}
	t.Logf("steps that took over 10 s: %v", slow)
	fmt.Fprintf(os.Stderr, "faults: API server restarted %d times; apply stops: %v; reads of what the watch missed: %d\n", len(findings), stops, len(rechecks))
}

// pointOf is the restart point ev reaches, if it is one not reached yet.
func pointOf(points []*restartPoint, ev event) *restartPoint {
	for _, p := range points {
		if !p.reached && ev.Type == p.event && ev.Step == p.step {
			return p
		}
	}
	return nil
}

// restartAPIServerAt reads the state Secret, kills kube-apiserver p.delay
// after the event, starts it again, and checks that the Secret holds a whole
// state of the same lineage, no older than the one read before the kill.
func restartAPIServerAt(ctx context.Context, t *testing.T, m *mesh, ns, name string, p *restartPoint, lineage *string) restartFinding {
	t.Helper()
	at := time.Now()
	f := restartFinding{point: p, ok: true}
	before, _, err := readStateSecret(ctx, m, ns, name)
	if err != nil {
		t.Fatalf("before the restart at %s %s: %v", p.event, p.step, err)
	}
	if *lineage == "" {
		*lineage = before.Lineage
	}
	f.before = before.Serial
	time.Sleep(time.Until(at.Add(p.delay)))
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := m.env.RestartComponent(rctx, "kube-apiserver"); err != nil {
		t.Fatalf("restart kube-apiserver at %s %s: %v", p.event, p.step, err)
	}
	f.took = time.Since(start)
	after, _, err := readStateSecret(ctx, m, ns, name)
	switch {
	case err != nil:
		f.ok = false
		t.Errorf("after the restart at %s %s: %v", p.event, p.step, err)
	case after.Lineage != *lineage:
		f.ok = false
		t.Errorf("after the restart at %s %s: lineage %s, want %s (unchanged)", p.event, p.step, after.Lineage, *lineage)
	case after.Serial < before.Serial:
		f.ok = false
		t.Errorf("after the restart at %s %s: serial %d, want ≥ %d (read just before the kill)", p.event, p.step, after.Serial, before.Serial)
	}
	if err == nil {
		f.after = after.Serial
	}
	return f
}

// readStateSecret reads the state Secret with the suite's own client and
// decodes it as meshwave does: a Secret of the state type whose key holds the
// gzip'd state document, read by the strict decoder. Right after a restart
// the API server may still refuse requests for a moment; they are tried
// again for 30 s.
func readStateSecret(ctx context.Context, m *mesh, ns, name string) (*states.State, *stateFile, error) {
	var (
		sec  *corev1.Secret
		last error
	)
	get := func(ctx context.Context) (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		sec, last = m.env.Client.CoreV1().Secrets(ns).Get(rctx, name, metav1.GetOptions{})
		return last == nil || apierrors.IsNotFound(last), nil
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, get); err != nil || last != nil {
		return nil, nil, fmt.Errorf("read the state Secret %s/%s: %v (last: %v)", ns, name, err, last)
	}
	if sec.Type != kube.StateSecretType {
		return nil, nil, fmt.Errorf("state Secret %s/%s has type %q, want %q", ns, name, sec.Type, kube.StateSecretType)
	}
	zr, err := gzip.NewReader(bytes.NewReader(sec.Data[kube.StateDataKey]))
	if err != nil {
		return nil, nil, fmt.Errorf("state Secret %s/%s: %s is not gzip: %w", ns, name, kube.StateDataKey, err)
	}
	doc, err := io.ReadAll(zr)
	if err != nil {
		return nil, nil, fmt.Errorf("state Secret %s/%s: %s does not decompress (torn?): %w", ns, name, kube.StateDataKey, err)
	}
	st, err := statefile.Read(bytes.NewReader(doc))
	if err != nil {
		return nil, nil, fmt.Errorf("state Secret %s/%s does not decode: %w\n%s", ns, name, err, doc)
	}
	var sf stateFile
	if err := json.Unmarshal(doc, &sf); err != nil {
		return nil, nil, err
	}
	return st, &sf, nil
}

// kindOfStep is the kind of step an id names, as the table says it.
func kindOfStep(id string) string {
	switch {
	case strings.Contains(id, "/relabel/"):
		return "relabel"
	case strings.Contains(id, "/restart/"):
		return "restart"
	case strings.HasSuffix(id, "/wait"):
		return "wave wait"
	}
	return id
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := harness.Lines(s)
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}
