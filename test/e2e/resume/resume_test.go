// Package resume_test kills meshwave apply with SIGKILL at many points of a
// real upgrade and checks that apply, run again, finishes it as if nothing
// had happened.
package resume_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
	"github.com/meshwave/meshwave/test/testenv"
)

const (
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
	rev17 = "cp-v17x.istio-system"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

const upgradePlan = `
upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

gateway "istio-ingressgateway" {
  namespace = "istio-system"
}

wave "canary" {
  namespaces = ["demo-a"]
  pause      = "3s"
}

wave "rest" {
  namespaces   = ["demo-b", "demo-c"]
  max_parallel = 2
}

finalize {
  uninstall_old = true
}
`

// killPoint kills apply when the n-th event of a kind arrives in a run.
type killPoint struct {
	event string
	n     int
}

// The points cover both sides of step boundaries: a step just marked
// running (before or while its change is sent), a rollout or pause under
// way, and a step just recorded done.
var killPoints = func() []killPoint {
	pattern := []killPoint{
		{"step-start", 1}, {"step-progress", 1}, {"step-done", 1}, {"step-done", 2},
		{"step-progress", 2}, {"step-start", 2}, {"step-progress", 1}, {"step-done", 1},
		{"step-start", 3}, {"step-progress", 1}, {"step-done", 2}, {"step-start", 1},
		{"step-progress", 3}, {"step-done", 1}, {"step-skipped", 3},
	}
	return append(pattern, pattern...)
}()

// applyUntil runs apply -json and kills it with SIGKILL at the point; it
// returns the step the run was killed in (empty when it finished first) and
// the run's exit code.
func applyUntil(t *testing.T, env *testenv.Cluster, dir string, kp killPoint) (string, int, []string) {
	t.Helper()
	seen := map[string]int{}
	killed, code, log := harness.ApplyKilledWhen(t, env, dir, func(ev harness.Event) bool {
		seen[ev.Type]++
		return ev.Type == kp.event && seen[ev.Type] == kp.n
	})
	if killed == nil {
		return "", code, log
	}
	return killed.Type + " " + killed.Step, code, log
}

func TestKilledApplyResumesToTheSameEnd(t *testing.T) {
	env, sim := harness.Backyards(t)
	ctx := context.Background()
	demoC := meshsim.AppNamespace("demo-c", map[string]string{"istio-injection": "enabled"}, 8)
	if err := sim.Install(ctx, meshsim.Scenario{Name: "demo-c", Namespaces: []meshsim.Namespace{demoC}}); err != nil {
		t.Fatal(err)
	}
	deployments := [][2]string{{"demo-a", "app-a"}, {"demo-b", "app-b"}}
	for i := range 8 {
		deployments = append(deployments, [2]string{"demo-c", fmt.Sprintf("app-%d", i)})
	}
	before := map[string]int{}
	for _, d := range deployments {
		before[d[0]+"/"+d[1]] = harness.ReplicaSets(ctx, t, env, d[0], d[1])
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "upgrade.mw.hcl"), []byte(upgradePlan), 0o644); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, "meshwave.state.json")
	var kills []string
	for i, kp := range killPoints {
		at, code, log := applyUntil(t, env, dir, kp)
		if at == "" {
			t.Logf("run %d finished (exit %d) before %s #%d", i+1, code, kp.event, kp.n)
			break
		}
		kills = append(kills, at)
		t.Logf("run %d: killed at %s", i+1, at)
		if code != -1 {
			t.Errorf("run %d: exit code %d, want -1 (killed by SIGKILL)\n%s", i+1, code, strings.Join(log, "\n"))
		}
		// The state file is valid, strictly decodable, at every point.
		b, err := os.ReadFile(statePath)
		if err != nil {
			if os.IsNotExist(err) && i == 0 {
				continue
			}
			t.Fatalf("after kill %d: %v", i+1, err)
		}
		if !json.Valid(b) {
			t.Fatalf("after kill %d the state file is not valid JSON:\n%s", i+1, b)
		}
		if _, err := statefile.Read(strings.NewReader(string(b))); err != nil {
			t.Fatalf("after kill %d the state file does not decode: %v", i+1, err)
		}
	}
	distinct := map[string]bool{}
	for _, k := range kills {
		distinct[k] = true
	}
	if len(distinct) < 10 {
		t.Errorf("killed at %d distinct points, want at least 10: %v", len(distinct), kills)
	}

	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	if r.Code != 0 {
		t.Fatalf("final apply: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// The end is the uninterrupted run's end.
	for _, d := range deployments {
		harness.WaitPods(ctx, t, env, d[0], "app="+d[1], 5*time.Second, harness.AllOn(img17, rev17))
		if n, want := harness.ReplicaSets(ctx, t, env, d[0], d[1]), before[d[0]+"/"+d[1]]+1; n != want {
			t.Errorf("%s/%s has %d ReplicaSets, want %d: restarted more than once", d[0], d[1], n, want)
		}
	}
	harness.WaitPods(ctx, t, env, "istio-system", "app=istio-ingressgateway", 5*time.Second, harness.AllOn(img17, rev17))
	for _, ns := range []string{"demo-a", "demo-b", "demo-c"} {
		got, err := env.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, inj := got.Labels["istio-injection"]; inj || got.Labels["istio.io/rev"] != rev17 {
			t.Errorf("namespace %s labels = %v, want istio.io/rev=%s and no istio-injection", ns, got.Labels, rev17)
		}
	}
	if _, err := harness.Dynamic(t, env).Resource(meshsim.GVRIstio).Namespace("istio-system").Get(ctx, "mesh", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Istio istio-system/mesh: err = %v, want NotFound", err)
	}
	b, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := statefile.Read(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ss := range st.Steps {
		if ss.Status != "done" {
			t.Errorf("step %s is %s after the final apply, want done", ss.ID, ss.Status)
		}
	}
	r = harness.Meshwave(t, env, dir, "plan", "-detailed-exitcode")
	if r.Code != 0 {
		t.Errorf("plan after the upgrade: exit %d, want 0 (no changes)\n%s", r.Code, r.Stdout)
	}
	fmt.Fprintf(os.Stderr, "resume: %d kills at %v\n", len(kills), kills)
}
