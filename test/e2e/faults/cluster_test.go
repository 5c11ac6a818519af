package faults_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/test/e2e/harness"
)

const (
	faultAPIServer = "API server stopped for 20 s"
	faultConflict  = "a conflicting write mid-wave"
	faultNSDeleted = "a namespace deleted mid-wave"
)

// TestAPIServerStopped freezes the cluster's kube-apiserver process
// (SIGSTOP: connections are accepted by the kernel and never answered, the
// worst case for a client) for 20 s while a wave restarts its workloads,
// then thaws it (SIGCONT). The plan asks for automatic rollback, so a step
// that gave up on the outage would roll the wave back: every request of a
// step is retried on transient errors within the step's deadline, so apply
// must ride the outage out and finish the wave, nothing rolled back, with
// every Deployment restarted once.
func TestAPIServerStopped(t *testing.T) {
	describe(faultAPIServer,
		"kube-apiserver frozen with SIGSTOP for 20 s, then SIGCONT, at the start of a wave's second restart; automatic rollback on (apply with -request-timeout 5s, and with the default 30 s)",
		"apply finishes the wave on its own, no step rolled back; every change recorded first; each Deployment restarted exactly once")
	for _, timeout := range []string{"5s", "30s"} {
		name := "api" + strings.TrimSuffix(timeout, "s")
		m := newMesh(t, meshSpec{name: name, sizes: []nsSize{{"a", 2}, {"b", 2}}})
		a, b := m.order[0], m.order[1]
		m.setWave("only", a, b)
		m.writePlan(fmt.Sprintf("wave \"only\" {\n  namespaces   = [%q, %q]\n  max_parallel = 2\n}\n\nrollback {\n  automatic = true\n}\n", a, b))
		pid, err := m.env.ComponentPID("kube-apiserver")
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		r := startApply(ctx, t, m.env, m.dir, "-request-timeout", timeout)
		frozen := false
		at := "wave/only/restart/" + a + "/deployment/app-1"
		for {
			ev, ok := r.next()
			if !ok {
				break
			}
			if !frozen && ev.Type == "step-start" && ev.Step == at {
				frozen = true
				if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				thawed := make(chan struct{})
				t.Cleanup(func() { <-thawed })
				go func() {
					defer close(thawed)
					// The 20 s outage is the fault under test.
					time.Sleep(20 * time.Second)
					_ = syscall.Kill(pid, syscall.SIGCONT)
				}()
			}
		}
		code := r.wait()
		if !frozen {
			_ = syscall.Kill(pid, syscall.SIGCONT)
			t.Fatalf("%s: %s never started:\n%s", name, at, r.transcript())
		}
		waitAPIServer(t, m)
		ok := true
		st := readState(t, m.statePath())
		if bad := m.checkRecordedFirst(ctx, st); len(bad) > 0 {
			ok = false
			t.Errorf("%s: the cluster changed without the state saying so:\n%s", name, strings.Join(bad, "\n"))
		}
		outcome := "finished the wave on its own, nothing rolled back"
		var rolledBack []string
		for _, s := range st.Steps {
			if s.Status == "rolled-back" {
				rolledBack = append(rolledBack, s.ID)
			}
		}
		if code != 0 || len(rolledBack) > 0 {
			ok = false
			outcome = fmt.Sprintf("exit %d, rolled back %v", code, rolledBack)
			t.Errorf("%s: apply through the outage: exit %d, steps rolled back %v; want exit 0 and none:\n%s", name, code, rolledBack, r.transcript())
		}
		if bad := m.checkMoved(ctx, readState(t, m.statePath())); len(bad) > 0 {
			ok = false
			t.Errorf("%s: after the outage:\n%s", name, strings.Join(bad, "\n"))
		}
		trial(faultAPIServer, "-request-timeout "+timeout+": "+outcome, ok)
		t.Logf("%s: %s", name, outcome)
	}
}

// waitAPIServer waits until the API server answers again.
func waitAPIServer(t *testing.T, m *mesh) {
	t.Helper()
	var last error
	answers := func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, last = m.env.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		return last == nil, nil
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, answers); err != nil {
		t.Fatalf("the API server does not answer a minute after SIGCONT: %v", last)
	}
}

// TestConflictingWrites has someone else write to a wave's objects while
// apply runs: scale a Deployment during its restart, restart it themselves
// during meshwave's rollout, and move a later wave's namespace to another
// revision. No write may be lost: the scale and the other restart stay, and
// the moved namespace is not relabeled over; apply must report it.
func TestConflictingWrites(t *testing.T) {
	describe(faultConflict,
		"while apply runs: a Deployment scaled 1→3 as its restart starts; another restarted by `kubectl rollout restart` as meshwave's restart starts; a later wave's namespace relabeled to another revision (mesh.istio-system)",
		"the scale and the other restart are kept (no lost update) and the waves finish; the relabeled namespace is not overwritten, apply stops saying why, the state records it")
	m := newMesh(t, meshSpec{name: "cw", sizes: []nsSize{{"a", 1}, {"b", 1}, {"c", 1}}})
	a, b, c := m.order[0], m.order[1], m.order[2]
	m.setWave("scaled", a)
	m.setWave("restarted", b)
	m.setWave("moved", c)
	m.writePlan(fmt.Sprintf("wave \"scaled\" {\n  namespaces = [%q]\n}\n\nwave \"restarted\" {\n  namespaces = [%q]\n}\n\nwave \"moved\" {\n  namespaces = [%q]\n}\n", a, b, c))
	ctx := context.Background()
	cs := m.env.Client
	theirs := "someone-else-" + time.Now().UTC().Format(time.RFC3339)
	r := startApply(ctx, t, m.env, m.dir)
	var scaled, restarted, moved bool
	for {
		ev, ok := r.next()
		if !ok {
			break
		}
		switch {
		case !scaled && ev.Type == "step-start" && ev.Step == "wave/scaled/restart/"+a+"/deployment/app-0":
			scaled = true
			patch := []byte(`{"spec":{"replicas":3}}`)
			if _, err := cs.AppsV1().Deployments(a).Patch(ctx, "app-0", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		case !restarted && ev.Type == "step-start" && ev.Step == "wave/restarted/restart/"+b+"/deployment/app-0":
			restarted = true
			// After meshwave's own patch, as a person would: during the
			// rollout. Its restartedAt on the template says the patch landed.
			patched := func(ctx context.Context) (bool, error) {
				d, err := cs.AppsV1().Deployments(b).Get(ctx, "app-0", metav1.GetOptions{})
				return err == nil && d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "", nil
			}
			if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, patched); err != nil {
				t.Fatalf("meshwave's restart of %s/app-0 did not land within 30s: %v", b, err)
			}
			patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, theirs)
			if _, err := cs.AppsV1().Deployments(b).Patch(ctx, "app-0", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		case !moved && ev.Type == "wave-start" && ev.Wave == "restarted":
			moved = true
			patch := []byte(`{"metadata":{"labels":{"istio.io/rev":"mesh.istio-system"}}}`)
			if _, err := cs.CoreV1().Namespaces().Patch(ctx, c, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	code := r.wait()
	if !scaled || !restarted || !moved {
		t.Fatalf("the writes were not all made (scaled %v, restarted %v, moved %v):\n%s", scaled, restarted, moved, r.transcript())
	}

	// The scale is kept and the scaled wave finished on the new proxy.
	okScale := true
	if d := m.deployment(ctx, a, "app-0"); d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		okScale = false
		t.Errorf("%s/app-0 replicas = %v after apply, want 3 (the other writer's scale)", a, d.Spec.Replicas)
	}
	pods := harnessWaitAll(t, m, a, "app-0")
	if pods != 3 {
		okScale = false
		t.Errorf("%s/app-0 has %d pods on the new proxy, want 3", a, pods)
	}
	trial(faultConflict, "Deployment scaled during its restart: scale kept, wave finished", okScale)

	// The other restart is kept, the wave finished.
	okRestart := true
	if got := m.deployment(ctx, b, "app-0").Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; got != theirs {
		okRestart = false
		t.Errorf("%s/app-0 restartedAt = %q after apply, want the other writer's %q", b, got, theirs)
	}
	harnessWaitAll(t, m, b, "app-0")
	trial(faultConflict, "Deployment restarted by someone else during meshwave's rollout: both restarts kept, wave finished", okRestart)

	// The moved namespace is not relabeled over, and apply says so.
	okMoved := true
	ns, err := cs.CoreV1().Namespaces().Get(ctx, c, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Labels[plan.LabelRevision]; got != "mesh.istio-system" {
		okMoved = false
		t.Errorf("namespace %s istio.io/rev = %q after apply, want the other writer's mesh.istio-system: their update was lost", c, got)
	}
	st := readState(t, m.statePath())
	status, _ := st.step("wave/moved/relabel/" + c)
	if code != 1 || status != "failed" || !strings.Contains(r.transcript(), c) {
		okMoved = false
		t.Errorf("apply after the namespace was moved: exit %d, relabel step %q; want exit 1, the step failed, and a message naming %s:\n%s", code, status, c, r.transcript())
	}
	trial(faultConflict, "namespace moved to another revision before its wave: not overwritten, apply stopped and said why", okMoved)
}

// harnessWaitAll waits until every pod of a Deployment runs the 1.7 proxy and
// returns how many there are.
func harnessWaitAll(t *testing.T, m *mesh, ns, name string) int {
	t.Helper()
	return len(harness.WaitPods(context.Background(), t, m.env, ns, "app="+name, 30*time.Second, harness.AllOn(img17, rev17)))
}

// TestNamespaceDeleted deletes a wave's namespace while its workloads
// restart: apply must stop with an error that names what went away, the
// state saved and decodable.
func TestNamespaceDeleted(t *testing.T) {
	describe(faultNSDeleted,
		"a wave's namespace (3 Deployments, restarted 1 at a time) deleted as its second restart starts",
		"apply exits 1 with an error that names the namespace or its workload; the state decodes and records the failure; every later plan and apply names the namespace (MW021), terminating while a finalizer holds it and gone after, and none says \"No changes\"")
	m := newMesh(t, meshSpec{name: "nd", sizes: []nsSize{{"a", 3}}})
	a := m.order[0]
	m.setWave("only", a)
	m.writePlan(fmt.Sprintf("wave \"only\" {\n  namespaces = [%q]\n}\n", a))
	ctx := context.Background()
	// A finalizer of the test's own holds the namespace in Terminating
	// after its deletion, until the test removes it: plan and apply are
	// then seen both while it terminates and after it is gone.
	hold := []byte(`{"metadata":{"finalizers":["meshwave.test/hold"]}}`)
	if _, err := m.env.Client.CoreV1().Namespaces().Patch(ctx, a, types.MergePatchType, hold, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	r := startApply(ctx, t, m.env, m.dir)
	deleted := false
	for {
		ev, ok := r.next()
		if !ok {
			break
		}
		if !deleted && ev.Type == "step-start" && ev.Step == "wave/only/restart/"+a+"/deployment/app-1" {
			deleted = true
			if err := m.env.Client.CoreV1().Namespaces().Delete(ctx, a, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	code := r.wait()
	if !deleted {
		t.Fatalf("the restart never started:\n%s", r.transcript())
	}
	ok := true
	st := readState(t, m.statePath())
	failed := ""
	for _, s := range st.Steps {
		if s.Status == "failed" {
			failed = s.ID + ": " + s.Error
		}
	}
	if code != 1 || failed == "" || !strings.Contains(failed, a) {
		ok = false
		t.Errorf("apply with its namespace deleted: exit %d, failed step %q; want exit 1 and a failed step whose error names %s:\n%s", code, failed, a, r.transcript())
	}
	t.Logf("the state records: %s", failed)
	// Every later plan and apply names the namespace, terminating while the
	// cluster deletes it and gone after, and never says "No changes".
	ok = namesDeleted(t, m, "plan", a, "terminating") && ok
	ok = namesDeleted(t, m, "apply", a, "terminating") && ok
	release := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := m.env.Client.CoreV1().Namespaces().Patch(ctx, a, types.MergePatchType, release, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := m.env.Client.CoreV1().Namespaces().Get(ctx, a, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("namespace %s still exists 2 minutes after its deletion: %v", a, err)
	}
	ok = namesDeleted(t, m, "plan", a, "gone") && ok
	ok = namesDeleted(t, m, "apply", a, "gone") && ok
	trial(faultNSDeleted, "stopped with an error naming the deleted workload, state saved; later plans and applies name the namespace", ok)
}

// namesDeleted runs plan (or apply) after namespace ns was deleted mid-wave
// and reports whether its output names ns in its state (terminating or
// gone), and does not say "No changes".
func namesDeleted(t *testing.T, m *mesh, command, ns, state string) bool {
	t.Helper()
	args := []string{command}
	if command == "apply" {
		args = append(args, "-auto-approve")
	}
	r := harness.Meshwave(t, m.env, m.dir, args...)
	named := strings.Contains(r.Stdout, "[MW021] Namespace "+ns) && strings.Contains(r.Stdout, ns+" ("+state+")")
	if r.Code != 0 || !named || strings.Contains(r.Stdout, "No changes") {
		t.Errorf("%s after %s was deleted: exit %d; want exit 0, MW021 naming it %s, and no \"No changes\":\n%s%s", command, ns, r.Code, state, r.Stdout, r.Stderr)
		return false
	}
	t.Logf("%s names the deleted namespace:\n%s", command, r.Stdout)
	return true
}
