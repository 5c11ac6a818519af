// Package backyards_test runs the Backyards guide's whole flow from the
// cluster it starts from before `backyards install -a` (meshsim's
// backyards-1.6-only: only the 1.6 control plane mesh): the plan installs
// the 1.7 control plane from its Istio resource (examples/backyards-install,
// cp-v17x.yaml), which meshsim's operator reconciles into istiod, the
// istio-operator and the revision's injector, then moves the gateway and
// the apps and uninstalls mesh. A test process serves one meshsim scenario,
// so this is a package of its own.
package backyards_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
	"github.com/meshwave/meshwave/test/testenv"
)

const (
	img16 = "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc"
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
	rev16 = "mesh.istio-system"
	rev17 = "cp-v17x.istio-system"

	installStep = "install/" + rev17
	waitStep    = installStep + "/wait"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// TestBackyardsInstallFromOnlyTheOldControlPlane runs, on one cluster: the
// plan's refusal of an Istio resource of another revision, an install
// rolled back, then the guide's whole upgrade with the install, killed
// once during the install.
func TestBackyardsInstallFromOnlyTheOldControlPlane(t *testing.T) {
	env, _ := harness.Scenario(t, meshsim.ScenarioBackyardsOnly16)
	ctx := context.Background()
	if _, err := harness.Dynamic(t, env).Resource(meshsim.GVRIstio).Namespace("istio-system").Get(ctx, "cp-v17x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Istio istio-system/cp-v17x before the plan: err = %v, want NotFound", err)
	}
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(health.Close)
	vars := []string{"-var", "health_url=" + health.URL, "-var", "canary_soak=2s"}

	t.Run("refuses an Istio resource of another revision", func(t *testing.T) {
		refusesAnotherRevision(t, env, vars)
	})
	t.Run("rollback deletes the Istio resource and leaves mesh injecting", func(t *testing.T) {
		rollbackLeavesMesh(ctx, t, env)
	})
	t.Run("upgrades end to end with a kill during the install", func(t *testing.T) {
		upgradeEndToEnd(ctx, t, env, vars)
	})
}

type check struct {
	Code, Severity, Message string
	Range                   *struct {
		Filename string
		Start    struct{ Line int }
	}
}

type planJSON struct {
	Checks []check `json:"checks"`
	Steps  []struct {
		ID       string `json:"id"`
		Action   string `json:"action"`
		Manifest []struct {
			Kind, Namespace, Name, Action string
		} `json:"manifest"`
	} `json:"steps"`
}

func write(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refusesAnotherRevision: an Istio resource named cp-v18x installs
// cp-v18x.istio-system, not the plan's target (MW043, at its line).
func refusesAnotherRevision(t *testing.T, env *testenv.Cluster, vars []string) {
	dir := harness.CopyExample(t, "backyards-install")
	write(t, dir, "cp-v17x.yaml", []byte(strings.Replace(string(read(t, dir, "cp-v17x.yaml")), "name: cp-v17x", "name: cp-v18x", 1)))
	p, r := harness.PlanJSON[planJSON](t, env, dir, vars...)
	if r.Code != 1 {
		t.Errorf("plan: exit %d, want 1 (blocked)", r.Code)
	}
	var found []check
	for _, c := range p.Checks {
		if c.Code == "MW043" {
			found = append(found, c)
		}
	}
	if len(found) != 1 || found[0].Severity != "error" {
		t.Fatalf("checks %+v, want one error MW043", p.Checks)
	}
	want := `the manifest installs revision "cp-v18x.istio-system" (the name and namespace of Istio istio-system/cp-v18x), not the upgrade's target "cp-v17x.istio-system"`
	if c := found[0]; c.Message != want || c.Range == nil || filepath.Base(c.Range.Filename) != "cp-v17x.yaml" || c.Range.Start.Line < 1 {
		t.Errorf("MW043 %q at %+v\nwant %q at a line of cp-v17x.yaml", c.Message, c.Range, want)
	}
	if _, err := harness.Dynamic(t, env).Resource(meshsim.GVRIstio).Namespace("istio-system").Get(context.Background(), "cp-v18x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Istio istio-system/cp-v18x after a refused plan: err = %v, want NotFound", err)
	}
}

// rollbackLeavesMesh installs cp-v17x and moves demo-a, rolls everything
// back, and checks that the Istio resource is gone, its operator removed
// istiod-cp-v17x and its injector, and demo-a runs on mesh again.
func rollbackLeavesMesh(ctx context.Context, t *testing.T, env *testenv.Cluster) {
	dir := t.TempDir()
	write(t, dir, "upgrade.mw.hcl", []byte(`upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

install {
  manifest = "cp-v17x.yaml"
}

wave "canary" {
  namespaces = ["demo-a"]
}
`))
	write(t, dir, "cp-v17x.yaml", read(t, filepath.Join(harness.RepoRoot(), "examples", "backyards-install"), "cp-v17x.yaml"))
	if r := harness.Meshwave(t, env, dir, "apply", "-auto-approve"); r.Code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", 30*time.Second, harness.AllOn(img17, rev17))
	if r := harness.Meshwave(t, env, dir, "rollback", "-auto-approve"); r.Code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := harness.Dynamic(t, env).Resource(meshsim.GVRIstio).Namespace("istio-system").Get(ctx, "cp-v17x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Istio istio-system/cp-v17x after the rollback: err = %v, want NotFound", err)
	}
	// The operator uninstalls what it made for the resource.
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, depErr := env.Client.AppsV1().Deployments("istio-system").Get(ctx, "istiod-cp-v17x", metav1.GetOptions{})
		hooks, err := env.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: "istio.io/rev=" + rev17})
		return apierrors.IsNotFound(depErr) && err == nil && len(hooks.Items) == 0, nil
	})
	if err != nil {
		t.Errorf("istiod-cp-v17x or the injector of %s is still there 30s after the rollback", rev17)
	}
	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", 30*time.Second, harness.AllOn(img16, rev16))
	harness.WaitPods(ctx, t, env, "demo-b", "app=app-b", 5*time.Second, harness.AllOn(img16, rev16))
}

// appliedLine is the progress line of an object the install sent.
var appliedLine = regexp.MustCompile(`^applied (.+) \(\d+/\d+\)$`)

// upgradeEndToEnd applies examples/backyards-install, killed with SIGKILL
// as the install has sent the Istio resource (the install phase: its wait
// for the operator follows); the resumed apply finishes without sending it
// again, and the cluster ends as the guide's final listing, without mesh.
func upgradeEndToEnd(ctx context.Context, t *testing.T, env *testenv.Cluster, vars []string) {
	dir := harness.CopyExample(t, "backyards-install")
	p, r := harness.PlanJSON[planJSON](t, env, dir, vars...)
	if r.Code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, c := range p.Checks {
		if c.Severity == "error" {
			t.Errorf("plan error %s: %s", c.Code, c.Message)
		}
	}
	if len(p.Steps) < 3 || p.Steps[0].ID != installStep || p.Steps[0].Action != "create" || p.Steps[1].ID != waitStep ||
		p.Steps[2].ID != "gateway/istio-system/istio-ingressgateway" {
		t.Fatalf("the plan does not start with the install, its wait and the gateway: %+v", p.Steps[:min(3, len(p.Steps))])
	}
	if m := p.Steps[0].Manifest; len(m) != 1 || m[0].Kind != "Istio" || m[0].Namespace != "istio-system" || m[0].Name != "cp-v17x" || m[0].Action != "create" {
		t.Errorf("the install's manifest %+v, want the Istio resource cp-v17x created", m)
	}
	var restarts []string
	for _, s := range p.Steps {
		if strings.Contains(s.ID, "/restart/") {
			restarts = append(restarts, s.ID)
		}
	}
	if want := []string{"wave/canary/restart/demo-a/deployment/app-a", "wave/rest/restart/demo-b/deployment/app-b"}; strings.Join(restarts, " ") != strings.Join(want, " ") {
		t.Errorf("restarts %v, want %v: the waves see the new revision's injector before it exists", restarts, want)
	}

	apps := [][2]string{{"demo-a", "app-a"}, {"demo-b", "app-b"}}
	before := map[string]int{}
	for _, d := range apps {
		before[d[1]] = harness.ReplicaSets(ctx, t, env, d[0], d[1])
	}
	applied := map[string]int{}
	count := func(ev harness.Event) {
		if m := appliedLine.FindStringSubmatch(ev.Message); ev.Type == "step-progress" && ev.Step == installStep && m != nil {
			applied[m[1]]++
		}
	}
	args := append([]string{"-approve", "canary"}, vars...)
	killed, code, log := harness.ApplyKilledWhenArgs(t, env, dir, args, func(ev harness.Event) bool {
		count(ev)
		return ev.Step == installStep && appliedLine.MatchString(ev.Message)
	})
	if killed == nil {
		t.Fatalf("apply ended (exit %d) before the install sent the Istio resource\nevents: %s", code, strings.Join(log, "; "))
	}
	r = harness.Meshwave(t, env, dir, append([]string{"apply", "-auto-approve", "-json"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("apply after the kill: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	resumedInstall := false
	for _, line := range harness.Lines(r.Stdout) {
		var ev harness.Event
		if json.Unmarshal([]byte(line), &ev) == nil {
			count(ev)
			resumedInstall = resumedInstall || (ev.Step == installStep && strings.HasPrefix(ev.Message, "applied already "))
		}
	}
	if n := applied["Istio istio-system/cp-v17x"]; n != 1 {
		t.Errorf("the Istio resource was applied %d times, want once (applied: %v)", n, applied)
	}
	// The kill may land after the step was recorded done (its one object
	// sent, the next step starting); then the resumed run verifies it
	// rather than running it again. Either way nothing is sent twice.
	t.Logf("the resumed apply ran the install again, finding the Istio resource applied already: %v", resumedInstall)

	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", 5*time.Second, harness.AllOn(img17, rev17))
	harness.WaitPods(ctx, t, env, "demo-b", "app=app-b", 5*time.Second, harness.AllOn(img17, rev17))
	harness.WaitPods(ctx, t, env, "istio-system", "app=istio-ingressgateway", 5*time.Second, harness.AllOn(img17, rev17))
	for _, d := range apps {
		if n := harness.ReplicaSets(ctx, t, env, d[0], d[1]); n != before[d[1]]+1 {
			t.Errorf("%s/%s has %d ReplicaSets, want %d (restarted exactly once)", d[0], d[1], n, before[d[1]]+1)
		}
	}
	dyn := harness.Dynamic(t, env).Resource(meshsim.GVRIstio).Namespace("istio-system")
	if _, err := dyn.Get(ctx, "mesh", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Istio istio-system/mesh: err = %v, want NotFound", err)
	}
	if pods := harness.Pods(ctx, t, env, "istio-system", "app=istiod,istio.io/rev="+rev16); len(pods) != 0 {
		t.Errorf("old istiod pods remain: %+v", pods)
	}
	cp, err := dyn.Get(ctx, "cp-v17x", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st, _, _ := unstructured.NestedString(cp.Object, "status", "Status"); st != "Available" || cp.GetAnnotations()["meshwave.io/applied-manifest"] == "" {
		t.Errorf("Istio istio-system/cp-v17x: status %q, annotations %v; want Available and meshwave's mark of what it applied", st, cp.GetAnnotations())
	}
	if pods := harness.Pods(ctx, t, env, "istio-system", "app=istiod,istio.io/rev="+rev17); len(pods) == 0 {
		t.Error("no istiod pod of cp-v17x")
	}

	r = harness.Meshwave(t, env, dir, append([]string{"plan", "-detailed-exitcode"}, vars...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "No changes.") {
		t.Errorf("plan after apply: exit %d, want 0 and No changes\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
