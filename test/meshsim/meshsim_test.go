package meshsim_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/meshwave/meshwave/test/meshsim"
	"github.com/meshwave/meshwave/test/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// One simulator and the backyards scenario for the package, loaded on first
// use; it stops with the test binary.
var (
	simOnce sync.Once
	sim     *meshsim.Sim
	simErr  error
)

func backyards(t *testing.T) (*testenv.Cluster, *meshsim.Sim) {
	t.Helper()
	env := testenv.Require(t)
	simOnce.Do(func() {
		ctx := context.Background()
		start := time.Now()
		sim, simErr = meshsim.Start(ctx, env.Config, meshsim.WithLog(testLog{}))
		if simErr != nil {
			return
		}
		t.Logf("meshsim started in %s", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		simErr = sim.LoadScenario(ctx, meshsim.ScenarioBackyards)
		t.Logf("scenario %s loaded in %s", meshsim.ScenarioBackyards, time.Since(start).Round(time.Millisecond))
	})
	if simErr != nil {
		t.Fatalf("meshsim: %v", simErr)
	}
	return env, sim
}

// testLog prints meshsim's log with -v only.
type testLog struct{}

func (testLog) Write(p []byte) (int, error) {
	if testing.Verbose() {
		return os.Stderr.Write(p)
	}
	return len(p), nil
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// podFacts is what a test reads of a pod.
type podFacts struct {
	Name, Revision, ProxyImage, Fault string
	Ready, Terminating                bool
	Phase                             corev1.PodPhase
	ProxyState                        string
}

func pods(t *testing.T, env *testenv.Cluster, ns, selector string) []podFacts {
	t.Helper()
	list, err := env.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []podFacts
	for i := range list.Items {
		p := &list.Items[i]
		// The revision a pod was injected by: a label for Backyards, an
		// annotation for upstream Istio.
		rev := p.Labels[meshsim.LabelRevision]
		if r := p.Annotations[meshsim.LabelRevision]; r != "" {
			rev = r
		}
		f := podFacts{Name: p.Name, Revision: rev, Ready: meshsim.PodReady(p),
			Terminating: p.DeletionTimestamp != nil, Phase: p.Status.Phase, Fault: p.Annotations[meshsim.AnnotationFault]}
		for _, c := range p.Spec.Containers {
			if c.Name == "istio-proxy" {
				f.ProxyImage = c.Image
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "istio-proxy" {
				switch {
				case cs.State.Waiting != nil:
					f.ProxyState = cs.State.Waiting.Reason
				case cs.State.Running != nil:
					f.ProxyState = "Running"
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// live drops terminating pods.
func live(ps []podFacts) []podFacts {
	var out []podFacts
	for _, p := range ps {
		if !p.Terminating {
			out = append(out, p)
		}
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, state := cond()
		last = state
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s; last state: %s", what, timeout, last)
	}
}

// restart does what `kubectl rollout restart deployment` does.
func restart(t *testing.T, env *testenv.Cluster, ns, name string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := env.Client.AppsV1().Deployments(ns).Patch(context.Background(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createNamespace(t *testing.T, env *testenv.Cluster, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := env.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func deploy(t *testing.T, env *testenv.Cluster, ns, name string) {
	t.Helper()
	labels := map[string]string{"app": name}
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.meshwave.test/" + name + ":1.0"}}}}},
	}
	// The namespace's default service account may still be on its way.
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err), nil
	})
	if err != nil {
		t.Fatalf("create deployment %s/%s: %v", ns, name, err)
	}
}

// stuckAndControl asserts the guide-like fault: the victim's pod runs but
// stays NotReady with istio-proxy crash-looping for a time well past a
// normal 1-2 s start, while the control pod becomes Ready.
func stuckAndControl(t *testing.T, env *testenv.Cluster, victimNS, victimSel, wantFault, controlNS, controlSel string) {
	t.Helper()
	waitFor(t, 30*time.Second, "control pod Ready", func() (bool, string) {
		ps := live(pods(t, env, controlNS, controlSel))
		return len(ps) == 1 && ps[0].Ready, fmt.Sprintf("%+v", ps)
	})
	waitFor(t, 30*time.Second, "victim pod Running", func() (bool, string) {
		ps := live(pods(t, env, victimNS, victimSel))
		return len(ps) == 1 && ps[0].Phase == corev1.PodRunning, fmt.Sprintf("%+v", ps)
	})
	// What is tested is that the victim stays unready: it is watched for 8 s,
	// and the watch ending at that deadline is the pass.
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 8*time.Second, true, func(context.Context) (bool, error) {
		if ps := live(pods(t, env, victimNS, victimSel)); len(ps) != 1 || ps[0].Ready {
			return false, fmt.Errorf("victim pod became Ready (or vanished): %+v", ps)
		}
		return false, nil
	})
	if !wait.Interrupted(err) {
		t.Fatal(err)
	}
	p := live(pods(t, env, victimNS, victimSel))[0]
	if p.Fault != wantFault || p.ProxyState != "CrashLoopBackOff" {
		t.Errorf("victim pod: fault %q, istio-proxy %q; want fault %q, istio-proxy CrashLoopBackOff", p.Fault, p.ProxyState, wantFault)
	}
}

// Fault (a): pods injected by an unhealthy control plane never become Ready.
func TestFaultUnhealthyControlPlane(t *testing.T) {
	env, sim := backyards(t)
	ctx := ctxFor(t, 2*time.Minute)
	if err := sim.SetUnhealthy(ctx, "cp-v17x.istio-system", true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.SetUnhealthy(context.Background(), "cp-v17x.istio-system", false) })
	createNamespace(t, env, "fault-a", map[string]string{meshsim.LabelRevision: "cp-v17x.istio-system"})
	createNamespace(t, env, "fault-a-control", map[string]string{meshsim.LabelInjection: "enabled"})
	deploy(t, env, "fault-a", "victim")
	deploy(t, env, "fault-a-control", "control")
	stuckAndControl(t, env, "fault-a", "app=victim", meshsim.FaultUnhealthyControlPlane, "fault-a-control", "app=control")
}

// Fault (b): on 1.7, an EnvoyFilter with the old Lua syntax and no proxy
// version match keeps proxies from starting; one whose proxyVersion only
// matches 1.6 proxies does not.
func TestFaultOldLuaEnvoyFilter(t *testing.T) {
	env, sim := backyards(t)
	ctx := ctxFor(t, 2*time.Minute)
	rev := map[string]string{meshsim.LabelRevision: "cp-v17x.istio-system"}
	createNamespace(t, env, "fault-b", rev)
	createNamespace(t, env, "fault-b-control", rev)
	if err := sim.AddLuaEnvoyFilter(ctx, "fault-b", "lua-headers", meshsim.LuaFilter{OldSyntax: true}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddLuaEnvoyFilter(ctx, "fault-b-control", "lua-headers", meshsim.LuaFilter{OldSyntax: true, ProxyVersion: `^1\.6.*`}); err != nil {
		t.Fatal(err)
	}
	deploy(t, env, "fault-b", "victim")
	deploy(t, env, "fault-b-control", "control")
	stuckAndControl(t, env, "fault-b", "app=victim", meshsim.FaultOldLuaEnvoyFilter, "fault-b-control", "app=control")
}

// Fault (c): on 1.7, a MeshGateway that runs as non-root (runAsRoot
// omitted) and binds port 80 never becomes Ready; one with targetPort 8080
// does.
func TestFaultGatewayPrivilegedPort(t *testing.T) {
	env, sim := backyards(t)
	ctx := ctxFor(t, 2*time.Minute)
	for _, gw := range []meshsim.Gateway{
		{Name: "fault-gw", Namespace: "istio-system", ControlPlaneName: "cp-v17x", ControlPlaneNamespace: "istio-system",
			Ports: []meshsim.GatewayPort{{Name: "http2", Port: 80, TargetPort: 80}}},
		{Name: "fault-gw-control", Namespace: "istio-system", ControlPlaneName: "cp-v17x", ControlPlaneNamespace: "istio-system",
			Ports: []meshsim.GatewayPort{{Name: "http2", Port: 80, TargetPort: 8080}}},
	} {
		if err := sim.AddGateway(ctx, gw); err != nil {
			t.Fatal(err)
		}
	}
	stuckAndControl(t, env, "istio-system", "app=fault-gw", meshsim.FaultPrivilegedGatewayPort, "istio-system", "app=fault-gw-control")
	dyn := dynamic.NewForConfigOrDie(env.Config)
	for _, name := range []string{"fault-gw", "fault-gw-control"} {
		if err := dyn.Resource(meshsim.GVRMeshGateway).Namespace("istio-system").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "fault gateways removed", func() (bool, string) {
		ps := live(pods(t, env, "istio-system", "app in (fault-gw,fault-gw-control)"))
		return len(ps) == 0, fmt.Sprintf("%+v", ps)
	})
}

// The guide, step by step: what it observes before the upgrade, then the
// manual data-plane migration of demo-a, the gateway move, and the
// uninstall of the old control plane.
func TestBackyardsGuide(t *testing.T) {
	env, _ := backyards(t)
	ctx := ctxFor(t, 3*time.Minute)

	t.Run("two control planes are installed", func(t *testing.T) {
		istiod := live(pods(t, env, "istio-system", "app=istiod"))
		var revs []string
		for _, p := range istiod {
			if !p.Ready {
				t.Errorf("istiod pod %s not Ready", p.Name)
			}
			revs = append(revs, p.Revision)
		}
		if got, want := strings.Join(revs, ","), "cp-v17x.istio-system,mesh.istio-system"; len(istiod) != 2 || !sameSet(revs, want) {
			t.Errorf("istiod pods: got %d with revisions %s, want 2 with %s", len(istiod), got, want)
		}
		ops, err := env.Client.CoreV1().Pods("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "control-plane=controller-manager"})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range ops.Items {
			names = append(names, p.Name)
		}
		if got, want := strings.Join(names, ","), "istio-operator-v16x-0,istio-operator-v17x-0"; got != want {
			t.Errorf("operator pods: got %s, want %s", got, want)
		}
	})

	t.Run("backyards already runs on cp-v17x", func(t *testing.T) {
		for _, p := range live(pods(t, env, "backyards-system", "")) {
			if strings.HasPrefix(p.Name, "prometheus-node-exporter") {
				if p.Revision != "" || p.ProxyImage != "" {
					t.Errorf("%s opted out of injection but has revision %q proxy %q", p.Name, p.Revision, p.ProxyImage)
				}
				continue
			}
			if p.Revision != "cp-v17x.istio-system" || !strings.HasSuffix(p.ProxyImage, ":1.7.0-bzc") || !p.Ready {
				t.Errorf("%s: revision %q proxy %q ready %v; want cp-v17x.istio-system, 1.7.0-bzc, Ready", p.Name, p.Revision, p.ProxyImage, p.Ready)
			}
		}
	})

	t.Run("demo apps run the 1.6 proxy", func(t *testing.T) {
		for ns, app := range map[string]string{"demo-a": "app-a", "demo-b": "app-b"} {
			ps := live(pods(t, env, ns, "app="+app))
			if len(ps) != 1 || ps[0].ProxyImage != "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc" || ps[0].Revision != "mesh.istio-system" {
				t.Errorf("%s/%s pods: %+v; want one with proxyv2:1.6.3-bzc and revision mesh.istio-system", ns, app, ps)
			}
		}
	})

	t.Run("migrate demo-a by relabel and restart", func(t *testing.T) {
		// kubectl label ns demo-a istio-injection- istio.io/rev=cp-v17x.istio-system --overwrite
		patch := `{"metadata":{"labels":{"istio-injection":null,"istio.io/rev":"cp-v17x.istio-system"}}}`
		if _, err := env.Client.CoreV1().Namespaces().Patch(ctx, "demo-a", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		old := live(pods(t, env, "demo-a", "app=app-a"))
		restart(t, env, "demo-a", "app-a")
		waitFor(t, 60*time.Second, "demo-a rolled out to cp-v17x", func() (bool, string) {
			ps := pods(t, env, "demo-a", "app=app-a")
			return len(ps) == 1 && ps[0].Name != old[0].Name && ps[0].Ready, fmt.Sprintf("%+v", ps)
		})
		p := pods(t, env, "demo-a", "app=app-a")[0]
		if p.ProxyImage != "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc" || p.Revision != "cp-v17x.istio-system" {
			t.Errorf("new demo-a pod: proxy %q revision %q; want proxyv2:1.7.0-bzc and cp-v17x.istio-system", p.ProxyImage, p.Revision)
		}
		b := live(pods(t, env, "demo-b", "app=app-b"))
		if len(b) != 1 || b[0].Revision != "mesh.istio-system" {
			t.Errorf("demo-b must stay on the old control plane: %+v", b)
		}
	})

	t.Run("move the ingress gateway", func(t *testing.T) {
		dyn := dynamic.NewForConfigOrDie(env.Config)
		patch := `{"spec":{"istioControlPlane":{"name":"cp-v17x","namespace":"istio-system"}}}`
		if _, err := dyn.Resource(meshsim.GVRMeshGateway).Namespace("istio-system").Patch(ctx, "istio-ingressgateway", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "gateway rolled over to cp-v17x", func() (bool, string) {
			ps := pods(t, env, "istio-system", "app=istio-ingressgateway")
			return len(ps) == 1 && ps[0].Ready && ps[0].Revision == "cp-v17x.istio-system" &&
				ps[0].ProxyImage == "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc", fmt.Sprintf("%+v", ps)
		})
	})

	t.Run("uninstall the old control plane", func(t *testing.T) {
		dyn := dynamic.NewForConfigOrDie(env.Config)
		if err := dyn.Resource(meshsim.GVRIstio).Namespace("istio-system").Delete(ctx, "mesh", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "old istiod, operator and webhook removed", func() (bool, string) {
			istiod := live(pods(t, env, "istio-system", "app=istiod"))
			whs, err := env.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: "istio.io/rev=mesh.istio-system"})
			if err != nil {
				return false, err.Error()
			}
			_, opErr := env.Client.AppsV1().StatefulSets("istio-system").Get(ctx, "istio-operator-v16x", metav1.GetOptions{})
			return len(istiod) == 1 && istiod[0].Revision == "cp-v17x.istio-system" && len(whs.Items) == 0 && apierrors.IsNotFound(opErr),
				fmt.Sprintf("istiod %+v, webhooks %d, operator err %v", istiod, len(whs.Items), opErr)
		})
	})
}

// The upstream flavor: revisions, a tag, pod-level gateway injection, and a
// tag re-pointed to the new revision.
func TestIstioScenario(t *testing.T) {
	env, sim := backyards(t)
	ctx := ctxFor(t, 3*time.Minute)
	start := time.Now()
	if err := sim.LoadScenario(ctx, meshsim.ScenarioIstio); err != nil {
		t.Fatal(err)
	}
	t.Logf("scenario %s loaded in %s", meshsim.ScenarioIstio, time.Since(start).Round(time.Millisecond))
	for _, ns := range []string{"shop-frontend", "shop-backend", "billing", "edge", "istio-ingress"} {
		for _, p := range live(pods(t, env, ns, "")) {
			if p.Revision != "1-26" || p.ProxyImage != "docker.io/istio/proxyv2:1.26.3" || !p.Ready {
				t.Errorf("%s/%s: revision %q proxy %q ready %v; want 1-26, proxyv2:1.26.3, Ready", ns, p.Name, p.Revision, p.ProxyImage, p.Ready)
			}
		}
	}
	if err := sim.SetTag(ctx, "prod", "1-27"); err != nil {
		t.Fatal(err)
	}
	restart(t, env, "shop-frontend", "web")
	waitFor(t, 60*time.Second, "web on 1-27 through the tag", func() (bool, string) {
		ps := pods(t, env, "shop-frontend", "app=web")
		return len(ps) == 1 && ps[0].Ready && ps[0].Revision == "1-27" && ps[0].ProxyImage == "docker.io/istio/proxyv2:1.27.1", fmt.Sprintf("%+v", ps)
	})
}

func sameSet(got []string, want string) bool {
	w := strings.Split(want, ",")
	if len(got) != len(w) {
		return false
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for _, x := range w {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}
