// Package plan_test runs meshwave plan against the real local control plane
// with the simulated Backyards mesh: golden output of the example, one case
// per pre-upgrade check, RBAC, and the request count of one plan.
package plan_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
	"github.com/meshwave/meshwave/test/testenv"
)

const defaultWait = 90 * time.Second

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// exampleVars keep the example's plan output independent of its defaults.
var exampleVars = []string{"-var", "health_url=http://app-a.demo-a.svc.cluster.local:8080/", "-var", "canary_soak=10m"}

// The example plan on the guide's starting point: gateway migration, demo-a
// relabel and restart of app-a (1 pod 1.6.3-bzc→1.7.0-bzc), demo-b likewise,
// uninstall of mesh.
func TestPlanBackyardsExampleGolden(t *testing.T) {
	env, _ := harness.Backyards(t)
	dir := harness.CopyExample(t, "backyards-1.6-to-1.7")
	for _, format := range []struct{ name, flag, file string }{
		{"human", "-format=human", "backyards.human.golden"},
		{"json", "-json", "backyards.json.golden"},
		{"markdown", "-format=markdown", "backyards.md.golden"},
	} {
		t.Run(format.name, func(t *testing.T) {
			r := harness.Meshwave(t, env, dir, append([]string{"plan", format.flag, "-detailed-exitcode"}, exampleVars...)...)
			if r.Code != 2 {
				t.Fatalf("exit %d, want 2 (changes)\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			golden(t, format.file, r.Stdout)
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./test/e2e/plan -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

type planJSON struct {
	Checks []struct {
		Code     string `json:"code"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
		Object   *struct {
			Kind, Namespace, Name string
		} `json:"object"`
	} `json:"checks"`
	Steps []struct {
		ID     string `json:"id"`
		Action string `json:"action"`
	} `json:"steps"`
}

const header = `
upgrade {
  from   = "mesh.istio-system"
  to     = "%s"
  flavor = "backyards"
}
`

func planText(to, body string) string { return fmt.Sprintf(header, to) + body }

const waves = `
wave "canary" {
  namespaces = ["demo-a"]
}
wave "rest" {
  namespaces = ["demo-b"]
}
`

// Each pre-upgrade check, made true on the real cluster, shows up in plan
// -json with its code and severity; an error makes plan exit 1.
func TestChecksOnTheCluster(t *testing.T) {
	env, sim := harness.Backyards(t)
	ctx := context.Background()
	cs := env.Client
	tests := []struct {
		name     string
		plan     string
		setup    func(t *testing.T)
		code     string
		severity string
		object   string
	}{
		{name: "MW001 target missing", plan: planText("cp-v18x.istio-system", waves), code: "MW001", severity: "error"},
		{name: "MW002 target not ready", plan: planText("cp-v17x.istio-system", waves), code: "MW002", severity: "error",
			object: "Deployment/istio-system/istiod-cp-v17x",
			setup:  func(t *testing.T) { breakIstiod(ctx, t, env, "istiod-cp-v17x") }},
		{name: "MW003 source missing", plan: strings.Replace(planText("cp-v17x.istio-system", waves), "mesh.istio-system", "old.istio-system", 1),
			code: "MW003", severity: "error"},
		{name: "MW004 backyards release", plan: planText("cp-v17x.istio-system", waves), code: "MW004", severity: "error",
			object: "Istio/istio-system/cp-v17x",
			setup: func(t *testing.T) {
				labelDeployment(ctx, t, env, "backyards-system", "backyards", "app.kubernetes.io/version", "1.3.2")
			}},
		{name: "MW005 old Lua EnvoyFilter", plan: planText("cp-v17x.istio-system", waves), code: "MW005", severity: "error",
			object: "EnvoyFilter/demo-a/lua-headers",
			setup: func(t *testing.T) {
				if err := sim.AddLuaEnvoyFilter(ctx, "demo-a", "lua-headers", meshsim.LuaFilter{OldSyntax: true}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = harness.Dynamic(t, env).Resource(meshsim.GVREnvoyFilter).Namespace("demo-a").Delete(context.Background(), "lua-headers", metav1.DeleteOptions{})
				})
			}},
		{name: "MW006 non-root gateway on port 80", code: "MW006", severity: "error", object: "MeshGateway/istio-system/edge",
			plan: planText("cp-v17x.istio-system", `
gateway "edge" {
  namespace = "istio-system"
}
`+waves),
			setup: func(t *testing.T) { meshGateway(ctx, t, env, "edge", false, 80, 0) }},
		{name: "MW007 headless service on 1.7.0", plan: planText("cp-v17x.istio-system", waves), code: "MW007", severity: "warning",
			object: "Service/demo-b/db",
			setup: func(t *testing.T) {
				svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "demo-b"},
					Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "tcp", Port: 5432}}}}
				if _, err := cs.CoreV1().Services("demo-b").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cs.CoreV1().Services("demo-b").Delete(context.Background(), "db", metav1.DeleteOptions{}) })
			}},
		{name: "MW008 namespace not labeled", code: "MW008", severity: "error", object: "Namespace//plain",
			plan: planText("cp-v17x.istio-system", waves+`
wave "more" {
  namespaces = ["plain"]
}
`),
			setup: func(t *testing.T) { tempNamespace(ctx, t, env, "plain", nil) }},
		{name: "MW009 both labels", code: "MW009", severity: "warning", object: "Namespace//both",
			plan: planText("cp-v17x.istio-system", waves+`
wave "more" {
  namespaces = ["both"]
}
`),
			setup: func(t *testing.T) {
				tempNamespace(ctx, t, env, "both", map[string]string{"istio-injection": "enabled", "istio.io/rev": "cp-v17x.istio-system"})
			}},
		{name: "MW010 pod without the source proxy", code: "MW010", severity: "warning",
			plan: planText("cp-v17x.istio-system", waves+`
wave "more" {
  namespaces = ["late"]
}
`),
			setup: func(t *testing.T) {
				// Workloads that started before the namespace was labeled
				// have no sidecar.
				tempNamespace(ctx, t, env, "late", nil)
				harness.Deployment(ctx, t, env, "late", "legacy", 1)
				harness.WaitPods(ctx, t, env, "late", "app=legacy", defaultWait, func(p []harness.PodFacts) bool { return len(p) == 1 && p[0].Ready })
				patchNamespace(ctx, t, env, "late", `{"metadata":{"labels":{"istio-injection":"enabled"}}}`)
			}},
		{name: "MW011 bare pod", code: "MW011", severity: "warning", object: "Pod/demo-a/debug",
			plan: planText("cp-v17x.istio-system", waves),
			setup: func(t *testing.T) {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: "demo-a"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sh", Image: "docker.io/library/busybox:1.36"}}}}
				if _, err := cs.CoreV1().Pods("demo-a").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = cs.CoreV1().Pods("demo-a").Delete(context.Background(), "debug", metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
				})
			}},
		{name: "MW013 namespace missing", code: "MW013", severity: "error", object: "Namespace//nowhere",
			plan: planText("cp-v17x.istio-system", waves+`
wave "more" {
  namespaces = ["nowhere"]
}
`)},
		{name: "MW014 gateway missing", code: "MW014", severity: "error", object: "MeshGateway/istio-system/nope",
			plan: planText("cp-v17x.istio-system", `
gateway "nope" {
  namespace = "istio-system"
}
`+waves)},
		{name: "MW015 old control plane still used", code: "MW015", severity: "error", object: "Istio/istio-system/mesh",
			plan: planText("cp-v17x.istio-system", `
wave "canary" {
  namespaces = ["demo-a"]
}
finalize {
  uninstall_old = true
}
`)},
		{name: "MW030 namespace managed by Argo CD", code: "MW030", severity: "warning", object: "Namespace//demo-a",
			plan: planText("cp-v17x.istio-system", waves),
			setup: func(t *testing.T) {
				patchNamespace(ctx, t, env, "demo-a", `{"metadata":{"annotations":{"argocd.argoproj.io/tracking-id":"shop:/Namespace:/demo-a"}}}`)
				t.Cleanup(func() {
					patchNamespace(context.Background(), t, env, "demo-a", `{"metadata":{"annotations":{"argocd.argoproj.io/tracking-id":null}}}`)
				})
			}},
		// Back from 1.7 to 1.6 as a new plan: the gateway and the proxies it
		// moves would run ahead of the control plane they talk to.
		{name: "MW033 downgrade", code: "MW033", severity: "error",
			plan: strings.Replace(planText("mesh.istio-system", waves+`
gateway "backyards-ingressgateway" {
  namespace = "backyards-system"
}
`), `from   = "mesh.istio-system"`, `from   = "cp-v17x.istio-system"`, 1)},
		// Two minors at once (1.6 to 1.9) with automatic rollback: a failed
		// wave would move its proxies back across more than one minor.
		{name: "MW034 automatic rollback across two minors", code: "MW034", severity: "error",
			plan:  planText("cp-v19x.istio-system", waves+"\nrollback {\n  automatic = true\n}\n"),
			setup: func(t *testing.T) { controlPlane19(ctx, t, sim) }},
		// The same jump without automatic rollback, istio-cni installed: it
		// serves every revision's proxies.
		{name: "MW035 istio-cni across two minors", code: "MW035", severity: "warning", object: "DaemonSet/kube-system/istio-cni-node",
			plan: planText("cp-v19x.istio-system", waves),
			setup: func(t *testing.T) {
				controlPlane19(ctx, t, sim)
				cniDaemonSet(ctx, t, env)
			}},
		{name: "MW031 proxy image pinned by the pod template", code: "MW031", severity: "warning", object: "Deployment/demo-a/pinned",
			plan: planText("cp-v17x.istio-system", waves),
			setup: func(t *testing.T) {
				harness.Deployment(ctx, t, env, "demo-a", "pinned", 1)
				t.Cleanup(func() {
					_ = cs.AppsV1().Deployments("demo-a").Delete(context.Background(), "pinned", metav1.DeleteOptions{})
				})
				b := `{"spec":{"template":{"metadata":{"annotations":{"sidecar.istio.io/proxyImage":"docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc"}}}}}`
				if _, err := cs.AppsV1().Deployments("demo-a").Patch(ctx, "pinned", types.StrategicMergePatchType, []byte(b), metav1.PatchOptions{}); err != nil {
					t.Fatal(err)
				}
				harness.WaitPods(ctx, t, env, "demo-a", "app=pinned", defaultWait, func(p []harness.PodFacts) bool { return len(p) == 1 && p[0].Ready })
			}},
		{name: "MW042 uninstall waits for the manual follow-up", code: "MW042", severity: "warning", object: "Istio/istio-system/mesh",
			plan: planText("cp-v17x.istio-system", waves+`
finalize {
  uninstall_old = true
}
`),
			setup: func(t *testing.T) { onDeleteStatefulSet(ctx, t, env, "demo-b", "cache") }},
		{name: "MW016 wave selects nothing", code: "MW016", severity: "warning",
			plan: planText("cp-v17x.istio-system", waves+`
wave "none" {
  selector = "tier=nothing-has-this"
}
`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "p.mw.hcl"), []byte(tc.plan), 0o644); err != nil {
				t.Fatal(err)
			}
			r := harness.Meshwave(t, env, dir, "plan", "-json")
			var p planJSON
			if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil {
				t.Fatalf("plan -json is not JSON (%v):\n%s\n%s", err, r.Stdout, r.Stderr)
			}
			found := false
			var codes []string
			for _, c := range p.Checks {
				codes = append(codes, c.Code)
				if c.Code != tc.code {
					continue
				}
				obj := ""
				if c.Object != nil {
					obj = c.Object.Kind + "/" + c.Object.Namespace + "/" + c.Object.Name
				}
				if c.Severity == tc.severity && (tc.object == "" || obj == tc.object) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no %s %s check on %q; checks: %s\n%s", tc.severity, tc.code, tc.object, codes, r.Stdout)
			}
			wantCode := 0
			for _, c := range p.Checks {
				if c.Severity == "error" {
					wantCode = 1
				}
			}
			if tc.severity == "error" && wantCode != 1 {
				t.Fatalf("an error check must block")
			}
			if r.Code != wantCode {
				t.Errorf("exit %d, want %d\n%s", r.Code, wantCode, r.Stderr)
			}
		})
	}
}

func labelDeployment(ctx context.Context, t *testing.T, env *testenv.Cluster, ns, name, key, value string) {
	t.Helper()
	d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s/%s: %v", ns, name, err)
	}
	old, had := d.Labels[key]
	patch := func(v any) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{key: v}}})
		if _, err := env.Client.AppsV1().Deployments(ns).Patch(context.Background(), name, types.MergePatchType, b, metav1.PatchOptions{}); err != nil {
			t.Error(err)
		}
	}
	patch(value)
	t.Cleanup(func() {
		if had {
			patch(old)
		} else {
			patch(nil)
		}
	})
}

// onDeleteStatefulSet runs a StatefulSet a restart cannot roll
// (updateStrategy OnDelete) in namespace ns, until the test ends.
func onDeleteStatefulSet(ctx context.Context, t *testing.T, env *testenv.Cluster, ns, name string) {
	t.Helper()
	one := int32(1)
	labels := map[string]string{"app": name}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}, ServiceName: name,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "docker.io/library/redis:7"}}}}}}
	if _, err := env.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.AppsV1().StatefulSets(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	harness.WaitPods(ctx, t, env, ns, "app="+name, defaultWait, func(p []harness.PodFacts) bool { return len(p) == 1 && p[0].Ready })
}

// controlPlane19 installs a third Backyards control plane, cp-v19x on
// Istio 1.9.0, until the test ends.
func controlPlane19(ctx context.Context, t *testing.T, sim *meshsim.Sim) {
	t.Helper()
	cp := meshsim.ControlPlane{Flavor: meshsim.FlavorBackyards, Name: "cp-v19x", Namespace: "istio-system", Version: "1.9.0"}
	if err := sim.AddControlPlane(ctx, cp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sim.RemoveControlPlane(context.Background(), cp); err != nil {
			t.Error(err)
		}
	})
}

// cniDaemonSet creates istio-cni's node agent as its chart names it, until
// the test ends.
func cniDaemonSet(ctx context.Context, t *testing.T, env *testenv.Cluster) {
	t.Helper()
	labels := map[string]string{"k8s-app": "istio-cni-node"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "istio-cni-node", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "install-cni", Image: "docker.io/istio/install-cni:1.6.3"}}}}}}
	if _, err := env.Client.AppsV1().DaemonSets("kube-system").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.AppsV1().DaemonSets("kube-system").Delete(context.Background(), ds.Name, metav1.DeleteOptions{})
	})
}

func patchNamespace(ctx context.Context, t *testing.T, env *testenv.Cluster, name, patch string) {
	t.Helper()
	if _, err := env.Client.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func tempNamespace(ctx context.Context, t *testing.T, env *testenv.Cluster, name string, labels map[string]string) {
	t.Helper()
	harness.Namespace(ctx, t, env, name, labels)
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

func meshGateway(ctx context.Context, t *testing.T, env *testenv.Cluster, name string, runAsRoot bool, port, target int64) {
	t.Helper()
	ports := map[string]any{"name": "http", "port": port, "protocol": "TCP"}
	if target > 0 {
		ports["targetPort"] = target
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "istio.banzaicloud.io/v1beta1", "kind": "MeshGateway",
		"metadata": map[string]any{"name": name, "namespace": "istio-system"},
		"spec": map[string]any{
			"istioControlPlane": map[string]any{"name": "mesh", "namespace": "istio-system"},
			"runAsRoot":         runAsRoot, "type": "ingress",
			"ports": []any{ports},
		},
	}}
	dyn := harness.Dynamic(t, env)
	if _, err := dyn.Resource(meshsim.GVRMeshGateway).Namespace("istio-system").Create(ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(meshsim.GVRMeshGateway).Namespace("istio-system").Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// breakIstiod rolls an istiod Deployment to a pod that never becomes
// Ready; the old pod stays, so the control plane has one Ready pod of two.
func breakIstiod(ctx context.Context, t *testing.T, env *testenv.Cluster, name string) {
	t.Helper()
	patch := func(v any) {
		b, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]any{testenv.AnnotationNotReady: v}}}}})
		if _, err := env.Client.AppsV1().Deployments("istio-system").Patch(context.Background(), name, types.StrategicMergePatchType, b, metav1.PatchOptions{}); err != nil {
			t.Fatalf("patch deployment istio-system/%s: %v", name, err)
		}
	}
	patch("pilot discovery failed to start")
	harness.WaitPods(ctx, t, env, "istio-system", "app=istiod,istio.io/rev=cp-v17x.istio-system", defaultWait, func(p []harness.PodFacts) bool {
		return len(p) == 2
	})
	t.Cleanup(func() {
		patch(nil)
		harness.WaitPods(context.Background(), t, env, "istio-system", "app=istiod,istio.io/rev=cp-v17x.istio-system", defaultWait, func(p []harness.PodFacts) bool {
			return len(p) == 1 && p[0].Ready
		})
	})
}
