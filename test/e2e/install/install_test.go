// Package install_test installs the target control plane as a plan step on
// real Istio (test/istiofix): a cluster with only revision 1-30, installed
// by the real `istioctl install`, and a plan whose install block names the
// manifest of 1-31 rendered by the real `istioctl manifest generate`. The
// fixture starts the real istiod of 1-31 when its Deployment appears, as a
// kubelet would.
package install_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/istiofix"
	"github.com/meshwave/meshwave/test/testenv"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

var rev30, rev31 = istiofix.Rev30, istiofix.Rev31

// installBlock is the plan file that installs 1-31 from 1-31.yaml.
const installBlock = `install {
  manifest = "1-31.yaml"
}
`

func setup(t *testing.T) (*testenv.Cluster, *istiofix.Mesh, []byte) {
	t.Helper()
	env, mesh := harness.RealIstio(t, (*istiofix.Mesh).LoadInstallScenario)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	manifest, err := mesh.Manifest(ctx, rev31)
	if err != nil {
		t.Fatal(err)
	}
	watch, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	errs := mesh.StartWhenDeployed(watch, rev31)
	t.Cleanup(func() {
		select {
		case err := <-errs:
			t.Errorf("istiod 1-31 did not start when its Deployment appeared: %v", err)
		default:
		}
	})
	return env, mesh, manifest
}

// planDir is the istio-tags example with an install block and manifest.
func planDir(t *testing.T, manifest []byte) string {
	t.Helper()
	dir := harness.CopyExample(t, "istio-tags")
	write(t, dir, "install.mw.hcl", []byte(installBlock))
	write(t, dir, "1-31.yaml", manifest)
	return dir
}

func write(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestInstallOnRealIstiod runs, on one cluster: the plan's refusals of bad
// manifests, an install rolled back, then the whole upgrade with the
// install, killed once during the install and once after it.
func TestInstallOnRealIstiod(t *testing.T) {
	env, mesh, manifest := setup(t)
	ctx := context.Background()

	t.Run("refuses a manifest for another revision", func(t *testing.T) {
		other, err := mesh.Manifest(ctx, istiofix.Revision{Name: "1-29", Tag: rev31.Tag})
		if err != nil {
			t.Fatal(err)
		}
		c := refused(t, env, other, "MW043")
		if !regexp.MustCompile(`^the manifest installs revision "1-29" \(label istio\.io/rev of [A-Za-z]+ [a-z0-9./-]+\), not the upgrade's target "1-31"$`).MatchString(c.Message) {
			t.Errorf("MW043 message %q", c.Message)
		}
	})
	t.Run("refuses a change of the old revision's webhook", func(t *testing.T) {
		// The new revision's injector under the old one's name.
		bad := withDocument(t, manifest, "MutatingWebhookConfiguration", "istio-sidecar-injector-1-31", func(obj map[string]any) {
			obj["metadata"].(map[string]any)["name"] = "istio-sidecar-injector-1-30"
		})
		bad = dropDocument(t, bad, "MutatingWebhookConfiguration", "istio-sidecar-injector-1-31")
		c := refused(t, env, bad, "MW044")
		if c.Object.Name != "istio-sidecar-injector-1-30" ||
			!regexp.MustCompile(`^the install would change this object of revision 1-30 \(changes .+\): an install must leave the old revision's objects as they are$`).MatchString(c.Message) {
			t.Errorf("MW044 on %+v: %q", c.Object, c.Message)
		}
	})
	t.Run("refuses a CRD downgrade", func(t *testing.T) {
		crd, version := servedNotStored(t, manifest)
		bad := withDocument(t, manifest, "CustomResourceDefinition", crd, func(obj map[string]any) {
			spec := obj["spec"].(map[string]any)
			versions := spec["versions"].([]any)
			spec["versions"] = slices.DeleteFunc(slices.Clone(versions), func(v any) bool { return v.(map[string]any)["name"] == version })
		})
		c := refused(t, env, bad, "MW045")
		want := "the install would downgrade this CRD: the manifest's CRD no longer serves " + version + ", which the cluster's serves or stores objects in ("
		if c.Object.Name != crd || !strings.HasPrefix(c.Message, want) {
			t.Errorf("MW045 on %+v: %q, want it to start %q", c.Object, c.Message, want)
		}
	})
	t.Run("refuses a broken manifest", func(t *testing.T) {
		// The real manifest with one document's indentation broken: the
		// plan stops before it reads the cluster, at that line.
		docs := documents(manifest)
		broken := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n   namespace: istio-system\n"
		docs[3] = append([]byte(broken), docs[3]...)
		joined := join(docs)
		start := bytes.Count(joined[:bytes.Index(joined, []byte(broken))], []byte("\n")) + 1
		dir := planDir(t, joined)
		r := harness.Meshwave(t, env, dir, "plan")
		want := fmt.Sprintf("The document starting at line %d is not valid YAML", start)
		if r.Code != 1 || !strings.Contains(r.Stderr, "Invalid YAML in manifest") || !strings.Contains(r.Stderr, "on 1-31.yaml line ") || !strings.Contains(r.Stderr, want) {
			t.Errorf("plan of a broken manifest: exit %d, want 1 with %q at a line of 1-31.yaml and %q\n%s%s", r.Code, "Invalid YAML in manifest", want, r.Stdout, r.Stderr)
		}
		installedNothing(ctx, t, env)
	})
	t.Run("rollback leaves the old revision injecting", func(t *testing.T) {
		rollbackLeavesTheOldRevision(ctx, t, env, mesh, manifest)
	})
	t.Run("upgrades end to end with kills", func(t *testing.T) {
		upgradeEndToEnd(ctx, t, env, mesh, manifest)
	})
}

// check is one check of `plan -json`.
type check struct {
	Code, Severity, Message string
	Object                  struct{ Kind, Namespace, Name string }
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
			Shared                        bool
		} `json:"manifest"`
	} `json:"steps"`
}

// refused plans the istio-tags example with manifest and returns its error
// code, which must be located in 1-31.yaml.
func refused(t *testing.T, env *testenv.Cluster, manifest []byte, code string) check {
	t.Helper()
	dir := planDir(t, manifest)
	p, r := harness.PlanJSON[planJSON](t, env, dir)
	if r.Code != 1 {
		t.Errorf("plan: exit %d, want 1 (blocked)", r.Code)
	}
	installedNothing(context.Background(), t, env)
	var found []check
	for _, c := range p.Checks {
		switch {
		case c.Code == code:
			found = append(found, c)
		case c.Severity == "error":
			// A bad manifest may leave other rules with a cluster they
			// cannot read well; the one asked for must be there.
			t.Logf("also: %s %s", c.Code, c.Message)
		}
	}
	if len(found) != 1 || found[0].Severity != "error" {
		t.Fatalf("checks %+v, want one error %s", p.Checks, code)
	}
	c := found[0]
	if c.Range == nil || filepath.Base(c.Range.Filename) != "1-31.yaml" || c.Range.Start.Line < 1 {
		t.Errorf("%s range %+v, want a line of 1-31.yaml", code, c.Range)
	}
	return c
}

// installedNothing fails the test when anything of revision 1-31 is in the
// cluster: a refused plan changes nothing.
func installedNothing(ctx context.Context, t *testing.T, env *testenv.Cluster) {
	t.Helper()
	if _, err := env.Client.AppsV1().Deployments("istio-system").Get(ctx, "istiod-1-31", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("istiod-1-31 after a refused plan: err = %v, want NotFound", err)
	}
	whs, err := env.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: "istio.io/rev=1-31"})
	if err != nil || len(whs.Items) > 0 {
		t.Errorf("injectors of 1-31 after a refused plan: %d (err %v), want none", len(whs.Items), err)
	}
}

// documents splits a rendered manifest into its objects, as YAML.
func documents(manifest []byte) [][]byte {
	var out [][]byte
	for _, d := range bytes.Split(manifest, []byte("\n---")) {
		d = bytes.TrimPrefix(bytes.TrimLeft(d, "\n"), []byte("---\n"))
		if len(bytes.TrimSpace(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func join(docs [][]byte) []byte {
	var b bytes.Buffer
	for _, d := range docs {
		b.WriteString("---\n")
		b.Write(d)
		if !bytes.HasSuffix(d, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func identity(t *testing.T, doc []byte) (kind, name string, obj map[string]any) {
	t.Helper()
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		t.Fatal(err)
	}
	kind, _ = obj["kind"].(string)
	if md, ok := obj["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	return kind, name, obj
}

// withDocument is manifest with the object kind/name changed by change.
func withDocument(t *testing.T, manifest []byte, kind, name string, change func(map[string]any)) []byte {
	t.Helper()
	docs := documents(manifest)
	found := false
	for i, d := range docs {
		k, n, obj := identity(t, d)
		if k != kind || n != name {
			continue
		}
		change(obj)
		b, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		docs[i], found = b, true
	}
	if !found {
		t.Fatalf("the manifest has no %s %s", kind, name)
	}
	return join(docs)
}

func dropDocument(t *testing.T, manifest []byte, kind, name string) []byte {
	t.Helper()
	return join(slices.DeleteFunc(documents(manifest), func(d []byte) bool {
		k, n, _ := identity(t, d)
		return k == kind && n == name
	}))
}

// servedNotStored finds a CRD of the manifest with a served version that is
// not its storage version: dropping it is a downgrade the API server
// itself accepts.
func servedNotStored(t *testing.T, manifest []byte) (crd, version string) {
	t.Helper()
	for _, d := range documents(manifest) {
		kind, name, obj := identity(t, d)
		if kind != "CustomResourceDefinition" {
			continue
		}
		spec, _ := obj["spec"].(map[string]any)
		versions, _ := spec["versions"].([]any)
		for _, v := range versions {
			m := v.(map[string]any)
			if m["served"] == true && m["storage"] != true && len(versions) > 1 {
				return name, m["name"].(string)
			}
		}
	}
	t.Fatal("no CRD of the manifest serves a version it does not store")
	return "", ""
}

// rollbackLeavesTheOldRevision installs 1-31 and moves the canary wave,
// rolls everything back, and checks that what the install created is gone,
// and that 1-30 injects shop's pods again.
func rollbackLeavesTheOldRevision(ctx context.Context, t *testing.T, env *testenv.Cluster, mesh *istiofix.Mesh, manifest []byte) {
	dir := t.TempDir()
	write(t, dir, "upgrade.mw.hcl", []byte(`upgrade {
  from   = "1-30"
  to     = "1-31"
  flavor = "istio"
}

wave "canary" {
  namespaces = ["shop"]
}
`))
	write(t, dir, "install.mw.hcl", []byte(installBlock))
	write(t, dir, "1-31.yaml", manifest)
	inCluster := func() string {
		t.Helper()
		out, err := env.Kubectl(ctx, "get", "-f", filepath.Join(dir, "1-31.yaml"), "--ignore-not-found", "-o", "name")
		if err != nil {
			t.Fatalf("kubectl get -f 1-31.yaml: %v\n%s", err, out)
		}
		return string(out)
	}
	before := inCluster()
	if r := harness.Meshwave(t, env, dir, "apply", "-auto-approve"); r.Code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, a := range istiofix.Apps {
		if a.Namespace == "shop" {
			if err := mesh.WaitInjected(ctx, a, rev31, 90*time.Second); err != nil {
				t.Error(err)
			}
		}
	}
	if r := harness.Meshwave(t, env, dir, "rollback", "-auto-approve"); r.Code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// Of the manifest's objects, exactly those there before the install
	// (the CRDs both revisions share) are there after its rollback.
	if after := inCluster(); after != before {
		t.Errorf("the manifest's objects in the cluster after the rollback:\n%s\nwant those before the install:\n%s", after, before)
	}
	cs := env.Client
	if _, err := cs.AppsV1().Deployments("istio-system").Get(ctx, "istiod-1-31", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("istiod-1-31 after the rollback: err = %v, want NotFound", err)
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-1-31", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("istio-sidecar-injector-1-31 after the rollback: err = %v, want NotFound", err)
	}
	for _, a := range istiofix.Apps {
		if err := mesh.WaitInjected(ctx, a, rev30, 90*time.Second); err != nil {
			t.Error(err)
		}
	}
	// A new pod of shop is injected by 1-30.
	if out, err := env.Kubectl(ctx, "-n", "shop", "rollout", "restart", "deployment/cart"); err != nil {
		t.Fatalf("restart cart: %v\n%s", err, out)
	}
	if err := mesh.WaitInjected(ctx, istiofix.App{Namespace: "shop", Name: "cart", Replicas: 1}, rev30, 90*time.Second); err != nil {
		t.Error(err)
	}
}

// appliedLine is the progress line of an object the install sent.
var appliedLine = regexp.MustCompile(`^applied (.+) \(\d+/\d+\)$`)

// upgradeEndToEnd applies the istio-tags example with the install, killed
// with SIGKILL once during the install and once after it; the resumed
// apply finishes, and no object of the manifest was sent twice.
func upgradeEndToEnd(ctx context.Context, t *testing.T, env *testenv.Cluster, mesh *istiofix.Mesh, manifest []byte) {
	dir := planDir(t, manifest)
	p, r := harness.PlanJSON[planJSON](t, env, dir)
	if r.Code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, c := range p.Checks {
		if c.Severity == "error" {
			t.Errorf("plan error %s: %s", c.Code, c.Message)
		}
	}
	if len(p.Steps) < 2 || p.Steps[0].ID != "install/1-31" || p.Steps[0].Action != "create" || p.Steps[1].ID != "install/1-31/wait" {
		t.Fatalf("the plan does not start with the install and its wait: %+v", p.Steps[:min(2, len(p.Steps))])
	}

	applied := map[string]int{}
	count := func(ev harness.Event) {
		if m := appliedLine.FindStringSubmatch(ev.Message); ev.Type == "step-progress" && m != nil {
			applied[m[1]]++
		}
	}
	sent := 0
	killed, code, log := harness.ApplyKilledWhen(t, env, dir, func(ev harness.Event) bool {
		count(ev)
		if ev.Step == "install/1-31" && appliedLine.MatchString(ev.Message) {
			sent++
		}
		return sent == 5
	})
	if killed == nil {
		t.Fatalf("apply ended (exit %d) before its fifth object\nevents: %s", code, strings.Join(log, "; "))
	}
	killed, code, log = harness.ApplyKilledWhen(t, env, dir, func(ev harness.Event) bool {
		count(ev)
		return ev.Type == "step-start" && ev.Step == "tag/default"
	})
	if killed == nil {
		t.Fatalf("apply ended (exit %d) before the default tag\nevents: %s", code, strings.Join(log, "; "))
	}
	r = harness.Meshwave(t, env, dir, "apply", "-auto-approve", "-json")
	if r.Code != 0 {
		t.Fatalf("apply after the kills: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, line := range harness.Lines(r.Stdout) {
		var ev harness.Event
		if json.Unmarshal([]byte(line), &ev) == nil {
			count(ev)
		}
	}
	for obj, n := range applied {
		if n > 1 {
			t.Errorf("%s was applied %d times", obj, n)
		}
	}
	if len(applied) == 0 {
		t.Error("no object was reported applied")
	}

	for _, a := range istiofix.Apps {
		if err := mesh.WaitInjected(ctx, a, rev31, 90*time.Second); err != nil {
			t.Error(err)
		}
	}
	cs := env.Client
	for _, name := range []string{"istio-sidecar-injector-1-30"} {
		if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s after the upgrade: err = %v, want NotFound", name, err)
		}
	}
	d, err := cs.AppsV1().Deployments("istio-system").Get(ctx, "istiod-1-31", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Annotations["meshwave.io/applied-manifest"] == "" {
		t.Errorf("istiod-1-31 does not carry meshwave's mark of what it applied")
	}
	mesh.StopRevision(rev30.Name)
	if r := harness.Meshwave(t, env, dir, "plan", "-detailed-exitcode"); r.Code != 0 {
		t.Errorf("plan after apply: exit %d, want 0 (no changes)\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
