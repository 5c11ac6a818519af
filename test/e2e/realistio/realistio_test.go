// Package realistio_test upgrades an upstream-Istio mesh served by the real
// istiod and managed with the real istioctl (test/istiofix): two revisions,
// 1-30 and 1-31, the default tag behind istio-injection=enabled, a
// prod-stable tag, a gateway injected with the gateway template, and three
// namespaces of apps.
package realistio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/istiofix"
	"github.com/meshwave/meshwave/test/testenv"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

var rev30, rev31 = istiofix.Rev30, istiofix.Rev31

func setup(t *testing.T) (*testenv.Cluster, *istiofix.Mesh) {
	t.Helper()
	return harness.RealIstio(t, (*istiofix.Mesh).LoadUpgradeScenario)
}

// applyKilledAt runs apply -json and kills it with SIGKILL when an event of
// type typ arrives for a step whose id starts with step. It fails the test
// when the run ends before that.
func applyKilledAt(t *testing.T, env *testenv.Cluster, dir, typ, step string) {
	t.Helper()
	killed, code, log := harness.ApplyKilledWhen(t, env, dir, func(ev harness.Event) bool {
		return ev.Type == typ && strings.HasPrefix(ev.Step, step)
	})
	if killed == nil {
		t.Fatalf("apply ended (exit %d) before %s %s\nevents: %s", code, typ, step, strings.Join(log, "; "))
	}
}

func TestUpgradeOnRealIstiod(t *testing.T) {
	env, mesh := setup(t)
	ctx := context.Background()
	// The example users copy, applied as it is.
	dir := harness.CopyExample(t, "istio-tags")

	overlapIsReported(ctx, t, env, dir)
	pinnedBlocksTheUninstall(ctx, t, env, mesh, dir)
	missingTemplateIsReported(ctx, t, env, mesh, dir)
	secondInjectorIsReported(ctx, t, env, dir)
	settingsDriftIsShown(ctx, t, env, dir)
	rollbackOnRealIstiod(ctx, t, env, mesh)
	before := map[istiofix.App]int{}
	for _, a := range append(slices.Clone(istiofix.Apps), istiofix.OptedOut) {
		before[a] = rollouts(ctx, t, env, a)
	}

	r := harness.Meshwave(t, env, dir, "plan", "-json")
	if r.Code != 0 {
		t.Fatalf("plan: exit %d, want 0\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	var planned struct {
		Checks []struct{ Code, Severity, Message string } `json:"checks"`
		Steps  []struct {
			ID      string                                   `json:"id"`
			Action  string                                   `json:"action"`
			Objects []struct{ Kind, Namespace, Name string } `json:"objects"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &planned); err != nil {
		t.Fatal(err)
	}
	if len(planned.Checks) != 0 {
		t.Errorf("plan checks: %+v, want none", planned.Checks)
	}
	var uninstall []string
	for _, s := range planned.Steps {
		if s.ID == "finalize/uninstall/1-30" {
			for _, o := range s.Objects {
				uninstall = append(uninstall, o.Kind+" "+o.Namespace+"/"+o.Name)
			}
		}
	}
	compareWithIstioctlUninstall(ctx, t, mesh, uninstall)

	// Killed just as the default tag starts to move, then as a parallel
	// restart of the second wave starts: each run resumes the last.
	applyKilledAt(t, env, dir, "step-start", "tag/default")
	applyKilledAt(t, env, dir, "step-start", "wave/rest/restart/")
	targetDownStopsTheApply(ctx, t, env, mesh, dir, "")
	start := time.Now()
	r = harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	if r.Code != 0 {
		t.Fatalf("apply after the kills: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("the apply after istiod 1-31 came back took %s", time.Since(start).Round(100*time.Millisecond))

	for _, a := range istiofix.Apps {
		if err := mesh.WaitInjected(ctx, a, rev31, 90*time.Second); err != nil {
			t.Error(err)
		}
		// One rollout each, whatever the kills.
		if n := rollouts(ctx, t, env, a); n != before[a]+1 {
			t.Errorf("%s/%s is at rollout %d, want %d (rolled exactly once)", a.Namespace, a.Name, n, before[a]+1)
		}
	}
	// Opted out in a moved namespace: never restarted, still without a proxy.
	if n := rollouts(ctx, t, env, istiofix.OptedOut); n != before[istiofix.OptedOut] {
		t.Errorf("opted-out shop/batch is at rollout %d, want %d (never restarted)", n, before[istiofix.OptedOut])
	}
	if pods, err := mesh.Pods(ctx, istiofix.OptedOut); err != nil || len(pods) != 1 || pods[0].Image != "" {
		t.Errorf("opted-out shop/batch pods %+v (err %v), want one without a proxy", pods, err)
	}
	adm := env.Client.AdmissionregistrationV1()
	for _, tag := range []string{"prod-stable", "default"} {
		wh, err := adm.MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-"+tag, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := wh.Labels["istio.io/rev"]; got != rev31.Name {
			t.Errorf("tag %s points at %q, want %s", tag, got, rev31.Name)
		}
	}
	gone := []struct {
		get  func() error
		what string
	}{
		{func() error {
			_, err := adm.MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-1-30", metav1.GetOptions{})
			return err
		}, "MutatingWebhookConfiguration istio-sidecar-injector-1-30"},
		{func() error {
			_, err := adm.ValidatingWebhookConfigurations().Get(ctx, "istio-validator-1-30-istio-system", metav1.GetOptions{})
			return err
		}, "ValidatingWebhookConfiguration istio-validator-1-30-istio-system"},
		{func() error {
			_, err := env.Client.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio-1-30", metav1.GetOptions{})
			return err
		}, "ConfigMap istio-system/istio-1-30"},
		{func() error {
			_, err := env.Client.CoreV1().ConfigMaps("istio-system").Get(ctx, "istio-sidecar-injector-1-30", metav1.GetOptions{})
			return err
		}, "ConfigMap istio-system/istio-sidecar-injector-1-30"},
		{func() error {
			_, err := env.Client.AppsV1().Deployments("istio-system").Get(ctx, "istiod-1-30", metav1.GetOptions{})
			return err
		}, "Deployment istio-system/istiod-1-30"},
	}
	for _, g := range gone {
		if err := g.get(); !apierrors.IsNotFound(err) {
			t.Errorf("%s: err = %v, want NotFound", g.what, err)
		}
	}
	oldURL := fmt.Sprintf("127.0.0.1:%d", mesh.Ports[rev30.Name])
	if refs := webhooksReferring(ctx, t, env, rev30.Name, oldURL); len(refs) > 0 {
		t.Errorf("webhooks still referring to 1-30 after the upgrade: %v", refs)
	}
	// What validates Istio resources now calls 1-31, and refuses a request
	// when it cannot (failurePolicy Fail, as istiod sets it once it serves):
	// left on 1-30 it would reject the DestinationRule below.
	v, err := adm.ValidatingWebhookConfigurations().Get(ctx, "istiod-default-validator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newURL := fmt.Sprintf("127.0.0.1:%d", mesh.Ports[rev31.Name])
	for _, w := range v.Webhooks {
		if w.ClientConfig.URL == nil || !strings.Contains(*w.ClientConfig.URL, newURL) || w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("istiod-default-validator webhook %s: url %v failurePolicy %v; want 1-31's %s and Fail", w.Name, w.ClientConfig.URL, w.FailurePolicy, newURL)
		}
	}
	// The old istiod is gone on a real cluster with its Deployment; here it
	// is a local process, so stop it before asking the API server to
	// validate an Istio resource.
	mesh.StopRevision(rev30.Name)
	dr := filepath.Join(dir, "dr.yaml")
	if err := os.WriteFile(dr, []byte(destinationRule), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := env.Kubectl(ctx, "apply", "-f", dr); err != nil {
		t.Errorf("DestinationRule after the upgrade: %v\n%s", err, out)
	}

	r = harness.Meshwave(t, env, dir, "plan", "-detailed-exitcode")
	if r.Code != 0 {
		t.Errorf("plan after apply: exit %d, want 0 (no changes)\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	compareTagsWithIstioctl(ctx, t, env, mesh)
}

// targetDownStopsTheApply applies with the target istiod stopped: its
// injection webhook (failurePolicy Fail) refuses every pod the steps
// create. Apply must stop within a minute quoting the webhook failure, in a
// line that also says what (when set), not wait out the step's timeout;
// istiod is then started again.
func targetDownStopsTheApply(ctx context.Context, t *testing.T, env *testenv.Cluster, mesh *istiofix.Mesh, dir, what string) {
	t.Helper()
	mesh.StopRevision(rev31.Name)
	start := time.Now()
	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	took := time.Since(start)
	t.Logf("apply with istiod 1-31 stopped: exit %d after %s", r.Code, took.Round(100*time.Millisecond))
	out := r.Stdout + r.Stderr
	if r.Code != 1 {
		t.Errorf("apply with istiod 1-31 stopped: exit %d, want 1\n%s", r.Code, out)
	}
	if took > time.Minute {
		t.Errorf("apply with istiod 1-31 stopped took %s, want it to stop within 1m0s", took)
	}
	quoted := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "failed calling webhook") && strings.Contains(line, "sidecar-injector.istio.io") && strings.Contains(line, what) {
			t.Logf("apply with istiod 1-31 stopped says: %s", strings.TrimSpace(line))
			quoted = true
			break
		}
	}
	if !quoted {
		t.Errorf("apply with istiod 1-31 stopped does not quote the API server's webhook failure:\n%s", out)
	}
	if err := mesh.StartRevision(ctx, rev31); err != nil {
		t.Fatal(err)
	}
}

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web
  namespace: shop
spec:
  host: web.shop.svc.cluster.local
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL
`

// webhooksReferring lists the webhook configurations labeled with revision
// rev or calling the server at hostPort.
func webhooksReferring(ctx context.Context, t *testing.T, env *testenv.Cluster, rev, hostPort string) []string {
	t.Helper()
	adm := env.Client.AdmissionregistrationV1()
	var out []string
	mwcs, err := adm.MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range mwcs.Items {
		if w.Labels["istio.io/rev"] == rev || callsMutating(w.Webhooks, hostPort) {
			out = append(out, "MutatingWebhookConfiguration "+w.Name)
		}
	}
	vwcs, err := adm.ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range vwcs.Items {
		calls := false
		for _, wh := range w.Webhooks {
			calls = calls || (wh.ClientConfig.URL != nil && strings.Contains(*wh.ClientConfig.URL, hostPort))
		}
		if w.Labels["istio.io/rev"] == rev || calls {
			out = append(out, "ValidatingWebhookConfiguration "+w.Name)
		}
	}
	return out
}

func callsMutating(whs []admissionregistrationv1.MutatingWebhook, hostPort string) bool {
	for _, wh := range whs {
		if wh.ClientConfig.URL != nil && strings.Contains(*wh.ClientConfig.URL, hostPort) {
			return true
		}
	}
	return false
}

// overlapIsReported copies the default tag's real webhook under another name,
// so two injectors select istio-injection=enabled. Which injectors a new pod
// gets follows from their selectors (plan.PodInjections): with the copy,
// namespace legacy's pods would be injected by 1-31 through the moved tag
// and by 1-30 through the copy, so the plan does not leave legacy on the
// tag but relabels it istio.io/rev=1-31, which only 1-31's webhook selects
// (no overlap is left for MW020 to report), and refuses (MW018) the copy
// left calling 1-30. The copy then goes.
func overlapIsReported(ctx context.Context, t *testing.T, env *testenv.Cluster, dir string) {
	t.Helper()
	mwcs := env.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	orig, err := mwcs.Get(ctx, "istio-revision-tag-default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cp := orig.DeepCopy()
	cp.ObjectMeta = metav1.ObjectMeta{Name: "copied-default-injector"}
	if _, err := mwcs.Create(ctx, cp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := harness.Meshwave(t, env, dir, "plan", "-json")
	if err := mwcs.Delete(ctx, cp.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Checks []struct {
			Code, Message string
			Object        struct{ Kind, Name string }
		} `json:"checks"`
		Steps []struct{ ID, Action string } `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("plan -json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	dangling := false
	for _, c := range out.Checks {
		dangling = dangling || c.Code == "MW018" && c.Object.Kind == "MutatingWebhookConfiguration" && c.Object.Name == "copied-default-injector"
	}
	relabeled := false
	for _, s := range out.Steps {
		relabeled = relabeled || s.ID == "wave/rest/relabel/legacy" && s.Action == "update"
	}
	if !dangling || !relabeled || r.Code != 1 || len(out.Checks) != 1 {
		t.Errorf("with a copy of the default tag's webhook: exit %d, checks %+v, legacy relabeled %v; want exit 1, only MW018 naming the copy, and legacy relabeled to 1-31", r.Code, out.Checks, relabeled)
	}
}

// pinnedBlocksTheUninstall runs a Deployment pinned to 1-30 by its own pod
// template's istio.io/rev label, in a namespace with no injection label:
// the real injector's object selector injects it with 1-30, so the plan,
// which uninstalls 1-30 and moves no wave there, must refuse naming it
// (MW041). The Deployment then goes.
func pinnedBlocksTheUninstall(ctx context.Context, t *testing.T, env *testenv.Cluster, mesh *istiofix.Mesh, dir string) {
	t.Helper()
	pinned := istiofix.App{Namespace: "pinned", Name: "cache", Replicas: 1}
	if err := mesh.CreatePinned(ctx, pinned, rev30); err != nil {
		t.Fatal(err)
	}
	if err := mesh.WaitInjected(ctx, pinned, rev30, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	r := harness.Meshwave(t, env, dir, "plan")
	out := r.Stdout + r.Stderr
	if r.Code != 1 || !strings.Contains(out, "[MW041] Deployment pinned/cache") || !strings.Contains(out, "istio.io/rev=1-30") {
		t.Errorf("plan with a Deployment pinned to 1-30 by its pod template: exit %d, want 1 with MW041 naming Deployment pinned/cache and its label\n%s", r.Code, out)
	}
	if err := env.Client.CoreV1().Namespaces().Delete(ctx, pinned.Namespace, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := env.Client.CoreV1().Namespaces().Get(ctx, pinned.Namespace, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("namespace pinned not gone within 1m: %v", err)
	}
}

// rollbackOnRealIstiod applies the example without its finalize block and
// rolls everything back: the tags return to 1-30 first, so the restarted
// pods of the namespaces that follow them are injected by 1-30 again, as are
// those of the relabeled namespace and the gateway.
func rollbackOnRealIstiod(ctx context.Context, t *testing.T, env *testenv.Cluster, mesh *istiofix.Mesh) {
	t.Helper()
	dir := harness.CopyExample(t, "istio-tags")
	file := filepath.Join(dir, "upgrade.mw.hcl")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), "finalize {\n  uninstall_old = true\n}\n", "", 1)
	if src == string(b) {
		t.Fatal("the example's finalize block was not found")
	}
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// The first change that needs 1-31's injector is the gateway's move,
	// which has no dry-run probe: its Deployment's new pods are refused, and
	// the wait stops on its controller's FailedCreate events. The apply
	// after istiod is back finds the rollout its controller gave up on.
	targetDownStopsTheApply(ctx, t, env, mesh, dir, "Deployment istio-ingress/istio-ingressgateway cannot create pods")
	start := time.Now()
	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	t.Logf("the apply after istiod 1-31 came back (the gateway's rollout left stuck) took %s", time.Since(start).Round(100*time.Millisecond))
	if r.Code != 0 {
		t.Fatalf("apply without finalize: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, a := range istiofix.Apps {
		if err := mesh.WaitInjected(ctx, a, rev31, 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	r = harness.Meshwave(t, env, dir, "rollback", "-auto-approve")
	if r.Code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, a := range istiofix.Apps {
		if err := mesh.WaitInjected(ctx, a, rev30, 90*time.Second); err != nil {
			t.Errorf("after rollback: %v", err)
		}
	}
	for _, tag := range []string{"prod-stable", "default"} {
		wh, err := env.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-"+tag, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := wh.Labels["istio.io/rev"]; got != rev30.Name {
			t.Errorf("after rollback, tag %s points at %q, want %s", tag, got, rev30.Name)
		}
	}
	ns, err := env.Client.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Labels["istio.io/rev"]; got != rev30.Name {
		t.Errorf("after rollback, namespace shop has istio.io/rev=%q, want %s", got, rev30.Name)
	}
}

// rollouts is a Deployment's rollout count, the revision the Deployment
// controller bumps on every rollout (also one that returns to an earlier
// ReplicaSet, as a gateway moved back and forth does).
func rollouts(ctx context.Context, t *testing.T, env *testenv.Cluster, a istiofix.App) int {
	t.Helper()
	d, err := env.Client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(d.Annotations["deployment.kubernetes.io/revision"])
	if err != nil {
		t.Fatalf("%s/%s: rollout revision %q: %v", a.Namespace, a.Name, d.Annotations["deployment.kubernetes.io/revision"], err)
	}
	return n
}
