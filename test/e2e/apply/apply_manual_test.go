package apply_test

// This file sorts before apply_test.go, so its tests run before the full
// upgrade there uninstalls the old control plane; each leaves the scenario
// as it found it.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/providers/kube"
	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/testenv"
)

// mixedPlan moves the namespace "mixed" with a wave timeout far above what
// its ordinary Deployments need, so waiting for a workload a restart cannot
// roll would show as minutes.
const mixedPlan = `
upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "mixed" {
  namespaces = ["mixed"]
  timeout    = "5m"
}

rollback {
  automatic = true
}
`

// followUpJSON is a manual follow-up entry as the plan JSON, the state file
// and the wave-done event write it.
type followUpJSON struct {
	Wave   string `json:"wave"`
	Object struct {
		Kind, Namespace, Name string
	} `json:"object"`
	Pods   int    `json:"pods"`
	Reason string `json:"reason"`
	Manual string `json:"manual"`
}

func (f followUpJSON) String() string {
	return f.Wave + " " + f.Object.Kind + " " + f.Object.Namespace + "/" + f.Object.Name
}

func followUpNames(fs []followUpJSON) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	slices.Sort(out)
	return out
}

// A wave holding an OnDelete StatefulSet, a Job and a paused Deployment,
// each with injected pods, beside ordinary Deployments finishes as soon as
// the ordinary ones are verified; the plan, the apply output and the state
// name the three as manual follow-up, and doing what it says moves them.
func TestWaveLeavesWhatARestartCannotRollAsManualFollowUp(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	const ns = "mixed"
	harness.Namespace(ctx, t, env, ns, map[string]string{"istio-injection": "enabled"})
	t.Cleanup(func() { deleteNamespace(t, env, ns) })
	harness.Deployment(ctx, t, env, ns, "web", 1)
	harness.Deployment(ctx, t, env, ns, "api", 2)
	harness.Deployment(ctx, t, env, ns, "frozen", 1)
	onDeleteStatefulSet(ctx, t, env, ns, "db")
	runningJob(ctx, t, env, ns, "migrate")
	for _, app := range []string{"web", "api", "frozen", "db", "migrate"} {
		harness.WaitPods(ctx, t, env, ns, "app="+app, time.Minute, harness.AllOn(img16, rev16))
	}
	if _, err := env.Client.AppsV1().Deployments(ns).Patch(ctx, "frozen", types.MergePatchType,
		[]byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	wantFollowUp := []string{"mixed Deployment mixed/frozen", "mixed Job mixed/migrate", "mixed StatefulSet mixed/db"}
	dir := writePlan(t, mixedPlan)

	// The plan: the three are follow-ups, not steps, and verify leaves them out.
	r := harness.Meshwave(t, env, dir, "plan", "-json")
	if r.Code != 0 {
		t.Fatalf("plan -json: exit %d\n%s", r.Code, r.Stderr)
	}
	var planned struct {
		Steps []struct {
			ID        string `json:"id"`
			Kind      string `json:"kind"`
			Workloads []struct{ Name string }
		} `json:"steps"`
		ManualFollowUp []followUpJSON `json:"manual_follow_up"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &planned); err != nil {
		t.Fatalf("plan -json: %v\n%s", err, r.Stdout)
	}
	if got := followUpNames(planned.ManualFollowUp); !slices.Equal(got, wantFollowUp) {
		t.Errorf("plan's manual_follow_up = %v, want %v", got, wantFollowUp)
	}
	for _, f := range planned.ManualFollowUp {
		if f.Pods != 1 || f.Reason == "" || f.Manual == "" {
			t.Errorf("follow-up %s: pods %d, reason %q, manual %q; want 1 pod, a reason and what to do", f, f.Pods, f.Reason, f.Manual)
		}
	}
	for _, s := range planned.Steps {
		for _, name := range []string{"frozen", "db", "migrate"} {
			if strings.Contains(s.ID, "/"+name) {
				t.Errorf("plan has step %s for a workload a restart cannot roll", s.ID)
			}
		}
		if s.Kind == "wave-verify" {
			var names []string
			for _, w := range s.Workloads {
				names = append(names, w.Name)
			}
			if !slices.Equal(names, []string{"api", "web"}) {
				t.Errorf("verify covers %v, want [api web]", names)
			}
		}
	}
	human := harness.Meshwave(t, env, dir, "plan")
	for _, want := range []string{"Manual follow-up", "StatefulSet mixed/db", "Job mixed/migrate", "Deployment mixed/frozen", "re-run the Job"} {
		if !strings.Contains(human.Stdout, want) {
			t.Errorf("plan output lacks %q:\n%s", want, human.Stdout)
		}
	}

	// Apply: done as soon as web and api are verified.
	start := time.Now()
	r = harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	took := time.Since(start)
	if r.Code != 0 {
		t.Fatalf("apply: exit %d after %s\nstdout:\n%s\nstderr:\n%s", r.Code, took, r.Stdout, r.Stderr)
	}
	waveDone := regexp.MustCompile(`Wave "mixed" complete: .*\[(.*)\]`).FindStringSubmatch(r.Stdout)
	if waveDone == nil {
		t.Fatalf("apply output lacks the wave's completion:\n%s", r.Stdout)
	}
	t.Logf("apply took %s; the wave took %s (its timeout is 5m)", took.Round(time.Millisecond), waveDone[1])
	t.Logf("apply output:\n%s", r.Stdout)
	if took > 2*time.Minute {
		t.Errorf("apply took %s; it must not wait for what it cannot roll (wave timeout 5m)", took)
	}
	for _, want := range []string{"Apply complete!", "Manual follow-up", "StatefulSet mixed/db", "Job mixed/migrate", "Deployment mixed/frozen"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r.Stdout)
		}
	}
	for _, name := range []string{"frozen", "db", "migrate"} {
		if strings.Contains(r.Stdout, "mixed/"+name+": restarting") {
			t.Errorf("apply restarted %s:\n%s", name, r.Stdout)
		}
	}
	harness.WaitPods(ctx, t, env, ns, "app=web", 5*time.Second, harness.AllOn(img17, rev17))
	harness.WaitPods(ctx, t, env, ns, "app=api", 5*time.Second, harness.AllOn(img17, rev17))
	for _, app := range []string{"frozen", "db", "migrate"} {
		harness.WaitPods(ctx, t, env, ns, "app="+app, 5*time.Second, harness.AllOn(img16, rev16))
	}

	// The state names them.
	b, err := os.ReadFile(filepath.Join(dir, "meshwave.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		ManualFollowUp []followUpJSON `json:"manual_follow_up"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if got := followUpNames(st.ManualFollowUp); !slices.Equal(got, wantFollowUp) {
		t.Errorf("state's manual_follow_up = %v, want %v", got, wantFollowUp)
	}

	// The restart's live re-check applies the plan's rule to the workload
	// as it is now: a Deployment paused after the plan is refused at once.
	prov, err := kube.New(env.Config, plan.FlavorBackyards)
	if err != nil {
		t.Fatal(err)
	}
	for name, wantErr := range map[string]string{"web": "", "frozen": "cannot be rolled by a restart any more (Deployment is paused)"} {
		_, err := prov.Prepare(ctx, plan.Step{Kind: plan.StepWorkloadRestart, Object: &plan.ObjectRef{Kind: "Deployment", Namespace: ns, Name: name}})
		if (wantErr == "" && err != nil) || (wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr))) {
			t.Errorf("Prepare restart of %s: error %v, want %q", name, err, wantErr)
		}
	}

	// Doing what the follow-up says moves the StatefulSet's and the paused
	// Deployment's pods; the next plan lists only the Job.
	for _, app := range []string{"db", "frozen"} {
		if err := env.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: "app=" + app}); err != nil {
			t.Fatal(err)
		}
		harness.WaitPods(ctx, t, env, ns, "app="+app, time.Minute, harness.AllOn(img17, rev17))
	}
	r = harness.Meshwave(t, env, dir, "plan", "-json")
	planned.ManualFollowUp = nil
	if err := json.Unmarshal([]byte(r.Stdout), &planned); err != nil {
		t.Fatalf("plan -json after the manual moves: %v\n%s", err, r.Stdout)
	}
	if got, want := followUpNames(planned.ManualFollowUp), []string{"mixed Job mixed/migrate"}; !slices.Equal(got, want) {
		t.Errorf("manual_follow_up after moving db and frozen = %v, want %v", got, want)
	}
}

// onDeleteStatefulSet creates a one-pod StatefulSet labeled app=name that
// replaces pods only when they are deleted.
func onDeleteStatefulSet(ctx context.Context, t *testing.T, env *testenv.Cluster, ns, name string) {
	t.Helper()
	labels := map[string]string{"app": name}
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:       ptr.To[int32](1),
			ServiceName:    name,
			Selector:       &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "docker.io/library/postgres:16"}}},
			},
		},
	}
	if _, err := env.Client.AppsV1().StatefulSets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create statefulset %s/%s: %v", ns, name, err)
	}
}

// runningJob creates a Job of one pod labeled app=name; the local cluster's
// pods never finish, so it keeps running.
func runningJob(ctx context.Context, t *testing.T, env *testenv.Cluster, ns, name string) {
	t.Helper()
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "migrate", Image: "docker.io/library/busybox:1.36"}}},
			},
		},
	}
	if _, err := env.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create job %s/%s: %v", ns, name, err)
	}
}

// deleteNamespace deletes a namespace and waits until it is gone, so later
// tests do not find its pods on either control plane.
func deleteNamespace(t *testing.T, env *testenv.Cluster, name string) {
	ctx := context.Background()
	err := env.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", name, err)
		return
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := env.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("namespace %s not gone within 2m", name)
	}
}
