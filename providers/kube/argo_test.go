package kube

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// webRollout is the Argo Rollout shop/web with a pod template, with more
// spec fields and its status (nil: none).
func webRollout(spec, st map[string]any) *unstructured.Unstructured {
	full := map[string]any{
		"replicas": int64(2),
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{labelApp: "web"}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "app:1"}}},
		},
		"strategy": map[string]any{"canary": map[string]any{}},
	}
	for k, v := range spec {
		full[k] = v
	}
	u := argoRolloutObject("shop", "web", full, st)
	return &u
}

// healthy is a Rollout's status once its controller restarted every pod
// created before restartedAt.
func healthy(restartedAt string) map[string]any {
	st := map[string]any{"observedGeneration": "1", "phase": argoPhaseHealthy, "replicas": int64(2),
		"updatedReplicas": int64(2), "readyReplicas": int64(2), "availableReplicas": int64(2)}
	if restartedAt != "" {
		st["restartedAt"] = restartedAt
	}
	return st
}

func TestRolloutRestartStep(t *testing.T) {
	step := plan.Step{ID: "wave/canary/restart/shop/rollout/web", Kind: plan.StepWorkloadRestart,
		Object: &plan.ObjectRef{Kind: "Rollout", Namespace: "shop", Name: "web"}, ToImage: "proxyv2:1.2", TimeoutSecond: 1}
	// The recorded time has a fraction; the Rollout gets the next whole
	// second (argoRestartAt).
	const at, restartAt = "2026-12-01T10:00:00.25Z", "2026-12-01T10:00:01Z"
	rec := plan.Record{"restartedAt": at}
	restarted := map[string]any{"restartAt": restartAt}
	custom := func(ro *unstructured.Unstructured) []runtime.Object { return []runtime.Object{ro} }
	patch := "patch rollouts shop/web"
	probe := "dry-run create pods shop/"
	tests := map[string]struct {
		stepCase
		wantRestartAt string // spec.restartAt after the call
	}{
		"prepare proves injection with a dry-run pod of the Rollout's template": {stepCase: stepCase{op: "prepare",
			custom: custom(webRollout(nil, healthy(""))), injector: "proxyv2:1.2", wantRecord: plan.Record{"restartedAt": "2026-12-01T10:00:00Z"},
			wantWrites: []string{probe}}},
		"prepare refuses a Rollout paused since the plan": {stepCase: stepCase{op: "prepare",
			custom:  custom(webRollout(map[string]any{"paused": true}, healthy(""))),
			wantErr: "Rollout shop/web cannot be rolled by a restart any more (Rollout is paused)"}},
		"prepare refuses a Rollout paused at a step": {stepCase: stepCase{op: "prepare",
			custom:  custom(webRollout(nil, map[string]any{"phase": argoPhasePaused, "message": "CanaryPauseStep"})),
			wantErr: "Rollout shop/web cannot be rolled by a restart any more (Rollout is paused)"}},
		"prepare refuses a Rollout with a workloadRef": {stepCase: stepCase{op: "prepare",
			custom:  custom(webRollout(map[string]any{"template": nil, "workloadRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}, nil)),
			wantErr: "(Rollout takes its pod template from Deployment web (spec.workloadRef))"}},
		"prepare of a Rollout that is gone": {stepCase: stepCase{op: "prepare",
			wantErr: `read Rollout shop/web: rollouts.argoproj.io "web" not found`}},
		"run patches spec.restartAt and waits until the controller restarted every pod": {stepCase: stepCase{op: "run", rec: rec,
			custom: custom(webRollout(nil, healthy(restartAt))), wantWrites: []string{patch}}, wantRestartAt: restartAt},
		"run again re-sends the same value: no second restart": {stepCase: stepCase{op: "run", rec: rec, twice: true,
			custom: custom(webRollout(nil, healthy(restartAt))), wantWrites: []string{patch, patch}}, wantRestartAt: restartAt},
		"run sends again after a conflict": {stepCase: stepCase{op: "run", rec: rec,
			custom:     custom(webRollout(nil, healthy(restartAt))),
			fail:       []failure{{verb: "patch", resource: "rollouts", times: 1, err: conflict("rollouts", "web")}},
			wantWrites: []string{patch, patch}}, wantRestartAt: restartAt},
		"run waits while the restart is not done yet": {stepCase: stepCase{op: "run", rec: rec,
			custom:     custom(webRollout(nil, healthy("2026-11-30T08:00:00Z"))),
			wantErr:    "rollout of Rollout shop/web not finished within 1s (last status: rollout is replacing the pods created before the restart)",
			wantWrites: []string{patch}}, wantRestartAt: restartAt},
		"run stops when the Rollout is Degraded, quoting its controller": {stepCase: stepCase{op: "run", rec: rec,
			custom: custom(webRollout(nil, map[string]any{"observedGeneration": "1", "phase": argoPhaseDegraded,
				"message": "ProgressDeadlineExceeded: ReplicaSet \"web-6b\" has timed out progressing."})),
			wantErr:    `rollout of Rollout shop/web failed: Rollout is Degraded: ProgressDeadlineExceeded: ReplicaSet "web-6b" has timed out progressing.`,
			wantWrites: []string{patch}}, wantRestartAt: restartAt},
		"run of a Rollout that is gone": {stepCase: stepCase{op: "run", rec: rec,
			wantErr: `restart Rollout shop/web: rollouts.argoproj.io "web" not found`, wantWrites: []string{patch}}},
		"run with a recorded value that is not a time": {stepCase: stepCase{op: "run", rec: plan.Record{"restartedAt": "soon"},
			custom: custom(webRollout(nil, nil)), wantErr: `restart Rollout shop/web: recorded restartedAt "soon" is not a time`}},
		"verify of a restarted Rollout": {stepCase: stepCase{op: "verify", rec: rec, custom: custom(webRollout(restarted, nil))}},
		"verify sees another restart": {stepCase: stepCase{op: "verify", rec: rec,
			custom:  custom(webRollout(map[string]any{"restartAt": "2026-12-02T00:00:00Z"}, nil)),
			wantErr: `Rollout shop/web: spec.restartAt is "2026-12-02T00:00:00Z", want "` + restartAt + `"`}},
		"verify of a Rollout that is gone": {stepCase: stepCase{op: "verify", rec: rec, wantErr: "read Rollout shop/web: "}},
		"rollback restarts with the rollback's recorded time": {stepCase: stepCase{op: "rollback",
			rec:    plan.Record{"restartedAt": at, plan.RecordRollbackAt: "2026-12-01T11:00:00Z"},
			custom: custom(webRollout(restarted, healthy("2026-12-01T11:00:00Z"))), wantWrites: []string{patch}},
			wantRestartAt: "2026-12-01T11:00:00Z"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := tc.run(t, plan.FlavorIstio, step)
			if tc.wantRestartAt == "" {
				return
			}
			u, err := c.dyn.Resource(gvrRollout).Namespace("shop").Get(t.Context(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, _, _ := unstructured.NestedString(u.Object, "spec", "restartAt")
			if got != tc.wantRestartAt {
				t.Errorf("spec.restartAt = %q, want %q", got, tc.wantRestartAt)
			}
		})
	}
}

// Without Argo Rollouts' CRD, a wait for a Rollout says so at once
// instead of waiting out its timeout.
func TestWaitForRolloutWithoutCRD(t *testing.T) {
	c := newCluster(t, nil, nil)
	p := c.provider(t, plan.FlavorIstio)
	err := p.waitRollouts(t.Context(), []plan.ObjectRef{{Kind: "Rollout", Namespace: "shop", Name: "web"}}, time.Minute, nil)
	checkErr(t, err, "rollout of Rollout shop/web: the Rollout is gone: Rollouts are not watched: the API server does not serve rollouts.argoproj.io")
}

// Where the caller may not watch Rollouts, the cache leaves them out: waits
// for other workloads go on, and a wait for a Rollout says why it cannot.
func TestWaitForRolloutNotAllowed(t *testing.T) {
	c := newCluster(t, objs(readyDeployment("shop", "api", nil)), []runtime.Object{webRollout(nil, nil)})
	c.cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = r.Spec.ResourceAttributes.Resource != gvrRollout.Resource || r.Spec.ResourceAttributes.Verb != "watch"
		return true, r, nil
	})
	p := c.provider(t, plan.FlavorIstio)
	if err := p.waitRollouts(t.Context(), []plan.ObjectRef{{Kind: "Deployment", Namespace: "shop", Name: "api"}}, time.Minute, nil); err != nil {
		t.Fatalf("wait for a Deployment: %v", err)
	}
	err := p.waitRollouts(t.Context(), []plan.ObjectRef{{Kind: "Rollout", Namespace: "shop", Name: "web"}}, time.Minute, nil)
	checkErr(t, err, "Rollouts are not watched: not allowed to watch rollouts.argoproj.io cluster-wide")
}

// A Rollout's status, as `kubectl argo rollouts status` reads it, with the
// restart's own condition: every pod newer than spec.restartAt.
func TestArgoRolloutStatus(t *testing.T) {
	const at = "2026-12-01T10:00:01Z"
	restarting := map[string]any{"restartAt": at}
	with := func(st map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for kk, vv := range st {
			out[kk] = vv
		}
		out[k] = v
		return out
	}
	tests := map[string]struct {
		rollout *unstructured.Unstructured
		want    status.Status
		message string
	}{
		"healthy and restarted": {webRollout(restarting, healthy(at)), status.CurrentStatus, "Rollout is Healthy, its pods restarted"},
		"restarted later than asked": {webRollout(restarting, healthy("2026-12-01T10:05:00Z")), status.CurrentStatus,
			"Rollout is Healthy, its pods restarted"},
		"healthy, restart not done": {webRollout(restarting, healthy("")), status.InProgressStatus,
			"Rollout is replacing the pods created before the restart"},
		"healthy, an older restart": {webRollout(restarting, healthy("2026-11-30T10:00:00Z")), status.InProgressStatus,
			"Rollout is replacing the pods created before the restart"},
		"no restart asked": {webRollout(nil, healthy("")), status.InProgressStatus, "Rollout has no spec.restartAt yet"},
		"generation not observed": {webRollout(restarting, with(healthy(at), "observedGeneration", "0")), status.InProgressStatus,
			"Rollout generation 1 not observed yet (observed 0)"},
		"observedGeneration as a number": {webRollout(restarting, with(healthy(at), "observedGeneration", int64(1))), status.CurrentStatus,
			"Rollout is Healthy, its pods restarted"},
		"observedGeneration as a hash (before Argo Rollouts 0.10)": {webRollout(restarting, with(healthy(at), "observedGeneration", "7d9f5c")),
			status.CurrentStatus, "Rollout is Healthy, its pods restarted"},
		"progressing": {webRollout(restarting, with(with(healthy(at), "phase", "Progressing"), "message", "more replicas need to be updated")),
			status.InProgressStatus, "Rollout is Progressing: more replicas need to be updated"},
		"paused": {webRollout(restarting, with(with(healthy(at), "phase", argoPhasePaused), "message", "CanaryPauseStep")),
			status.InProgressStatus, "Rollout is Paused: CanaryPauseStep"},
		"being resumed": {webRollout(restarting, with(healthy(at), "controllerPause", true)), status.InProgressStatus, "Rollout is being resumed"},
		"degraded": {webRollout(restarting, with(with(healthy(""), "phase", argoPhaseDegraded), "message", "RolloutAborted: Rollout aborted update to revision 2")),
			status.FailedStatus, "Rollout is Degraded: RolloutAborted: Rollout aborted update to revision 2"},
		"no phase yet": {webRollout(restarting, map[string]any{"restartedAt": at}), status.InProgressStatus, "Rollout has no phase yet"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := rolloutStatus(tc.rollout)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.want || r.Message != tc.message {
				t.Errorf("status = %s %q, want %s %q", r.Status, r.Message, tc.want, tc.message)
			}
		})
	}
}

func TestArgoRestartAt(t *testing.T) {
	for in, want := range map[string]string{
		"2026-12-01T10:00:00Z":           "2026-12-01T10:00:00Z",
		"2026-12-01T10:00:00.000000001Z": "2026-12-01T10:00:01Z",
		"2026-12-01T10:59:59.5Z":         "2026-12-01T11:00:00Z",
		"2026-12-01T12:00:00.5+02:00":    "2026-12-01T10:00:01Z",
	} {
		got, err := argoRestartAt(in)
		if err != nil || got != want {
			t.Errorf("argoRestartAt(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := argoRestartAt("2026-12-01T10:00:00Z+rollback"); err == nil {
		t.Error("argoRestartAt of a value that is not a time: no error")
	}
}

// A cluster with Rollouts needs the right to patch them in the waves'
// namespaces and to watch them.
func TestPermissionNeedsOfRollouts(t *testing.T) {
	cfg := &config.Config{Waves: []config.WaveConfig{{Name: "canary", Namespaces: []string{"shop"}}}}
	rollouts := func(snap *plan.Snapshot) []permissionNeed {
		var out []permissionNeed
		for _, n := range (&Provider{flavor: upstreamIstio{}}).permissionNeeds(cfg, snap) {
			if n.group == gvrRollout.Group {
				out = append(out, n)
			}
		}
		return out
	}
	if got := rollouts(&plan.Snapshot{Workloads: []plan.Workload{{Kind: plan.KindDeployment, Namespace: "shop", Name: "web"}}}); got != nil {
		t.Errorf("without Rollouts: %v, want none", got)
	}
	want := []permissionNeed{{"patch", "argoproj.io", "rollouts", []string{"shop"}}, {"watch", "argoproj.io", "rollouts", nil}}
	got := rollouts(&plan.Snapshot{Workloads: []plan.Workload{{Kind: plan.KindRollout, Namespace: "shop", Name: "web"}}})
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(permissionNeed{})); diff != "" {
		t.Errorf("with a Rollout (-want +got):\n%s", diff)
	}
}
