// Package argo_test upgrades a namespace whose workload is an Argo Rollouts
// Rollout, on the real local control plane with the real Argo Rollouts
// controller running as a local process (test/argofix).
package argo_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshwave/meshwave/test/argofix"
	"github.com/meshwave/meshwave/test/e2e/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

const (
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
	rev17 = "cp-v17x.istio-system"
)

const argoPlan = `
upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "argo" {
  namespaces = ["rollouts"]
  timeout    = "3m"
}
`

// A Rollout is restarted the way Argo Rollouts restarts one (spec.restartAt:
// its controller evicts the pods, its ReplicaSet re-creates them), waited on
// through the status its controller reports, and its pods end on the
// target proxy; a second plan has nothing left to do.
func TestRolloutRestartedThroughRestartAt(t *testing.T) {
	env, _ := harness.Backyards(t)
	bin := os.Getenv(argofix.EnvBinDir)
	if bin == "" {
		t.Fatalf("%s is not set: run `make test`, which builds the Argo Rollouts controller once (make testenv-argo)", argofix.EnvBinDir)
	}
	ctx := context.Background()
	argo, err := argofix.New(env, t.TempDir(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := argo.Install(ctx); err != nil {
		t.Fatal(err)
	}
	if err := argo.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(argo.Stop)
	harness.Namespace(ctx, t, env, "rollouts", map[string]string{"istio-injection": "enabled"})
	app := argofix.App{Namespace: "rollouts", Name: "checkout", Replicas: 3,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "docker.io/library/nginx:1.25"}}}}}
	if err := argo.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := argo.WaitHealthy(ctx, app, 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "upgrade.mw.hcl"), []byte(argoPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	r := harness.Meshwave(t, env, dir, "plan", "-json")
	var planned struct {
		Steps []struct{ ID, Action string } `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &planned); err != nil {
		t.Fatalf("plan -json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	restart := false
	for _, s := range planned.Steps {
		restart = restart || s.ID == "wave/argo/restart/rollouts/rollout/checkout" && s.Action == "restart"
	}
	if r.Code != 0 || !restart {
		t.Fatalf("plan: exit %d, restart of the Rollout planned: %v; want exit 0 and the restart\n%s\n%s", r.Code, restart, r.Stdout, r.Stderr)
	}

	start := time.Now()
	r = harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	if r.Code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s\ncontroller log:\n%s", r.Code, r.Stdout, r.Stderr, argo.Log(30))
	}
	t.Logf("apply restarted the Rollout in %s", time.Since(start).Round(100*time.Millisecond))
	st, restartAt, err := argo.Get(ctx, "rollouts", "checkout")
	if err != nil {
		t.Fatal(err)
	}
	if restartAt == "" || st.RestartedAt != restartAt || st.Phase != "Healthy" {
		t.Errorf("Rollout: spec.restartAt %q, status %+v; want the controller to report that restart done and Healthy", restartAt, st)
	}
	harness.WaitPods(ctx, t, env, "rollouts", "app=checkout", 10*time.Second, func(p []harness.PodFacts) bool {
		return len(p) == 3 && harness.AllOn(img17, rev17)(p)
	})
	if r := harness.Meshwave(t, env, dir, "plan", "-detailed-exitcode"); r.Code != 0 {
		t.Errorf("plan after apply: exit %d, want 0 (nothing left)\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
