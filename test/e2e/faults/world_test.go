package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
	"github.com/meshwave/meshwave/test/testenv"
)

// The target every trial upgrades to: the backyards scenario's 1.7 control
// plane, installed once for the package.
const (
	img16 = "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc"
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
	rev17 = "cp-v17x.istio-system"
)

// A mesh is the cluster of one trial: its own 1.6 control plane old-NAME
// (so the trial's uninstall removes nothing another trial uses), its own
// namespaces on that revision and its own MeshGateway. Trials of the package
// share the cluster and the 1.7 target without disturbing each other.
type mesh struct {
	t    *testing.T
	env  *testenv.Cluster
	sim  *meshsim.Sim
	name string
	// namespaces maps each namespace to its Deployments.
	namespaces map[string][]string
	order      []string
	gateway    string // the MeshGateway's namespace; its name is "ingress"
	// before counts each Deployment's ReplicaSets (namespace/name) before
	// any apply; the gateway's under gateway+"/ingress".
	before map[string]int
	// waves maps each namespace to the wave of the plan that moves it.
	waves map[string]string
	dir   string
}

// meshSpec says how many Deployments each of a trial's namespaces holds.
type meshSpec struct {
	name string
	// sizes: namespace suffix -> number of Deployments.
	sizes []nsSize
	// gateway adds a MeshGateway on the old control plane.
	gateway bool
}

type nsSize struct {
	suffix string
	n      int
}

func (m *mesh) oldRevision() string { return "old-" + m.name + ".istio-system" }

// newMesh installs a trial's mesh and waits until every pod runs the 1.6
// proxy, and writes the trial's plan directory.
func newMesh(t *testing.T, spec meshSpec) *mesh {
	t.Helper()
	env, sim := harness.Backyards(t)
	m := &mesh{t: t, env: env, sim: sim, name: spec.name, namespaces: map[string][]string{}, before: map[string]int{},
		waves: map[string]string{}, dir: t.TempDir()}
	sc := meshsim.Scenario{Name: spec.name, ControlPlanes: []meshsim.ControlPlane{{
		Flavor: meshsim.FlavorBackyards, Name: "old-" + spec.name, Namespace: "istio-system", Version: "1.6.3", ProxyImage: img16,
	}}}
	for _, s := range spec.sizes {
		ns := spec.name + "-" + s.suffix
		sc.Namespaces = append(sc.Namespaces, meshsim.AppNamespace(ns, map[string]string{plan.LabelRevision: m.oldRevision()}, s.n))
		m.order = append(m.order, ns)
		for i := range s.n {
			m.namespaces[ns] = append(m.namespaces[ns], fmt.Sprintf("app-%d", i))
		}
	}
	if spec.gateway {
		m.gateway = spec.name + "-gw"
		sc.Gateways = []meshsim.Gateway{{Name: "ingress", Namespace: m.gateway, ControlPlaneName: "old-" + spec.name,
			ControlPlaneNamespace: "istio-system", RunAsRoot: ptr.To(true),
			Ports: []meshsim.GatewayPort{{Name: "http2", Port: 80, TargetPort: 8080}}}}
	}
	ctx := context.Background()
	if err := sim.Install(ctx, sc); err != nil {
		t.Fatal(err)
	}
	for _, ns := range m.order {
		for _, d := range m.namespaces[ns] {
			harness.WaitPods(ctx, t, env, ns, "app="+d, time.Minute, harness.AllOn(img16, m.oldRevision()))
			m.before[ns+"/"+d] = harness.ReplicaSets(ctx, t, env, ns, d)
		}
	}
	if m.gateway != "" {
		m.before[m.gateway+"/ingress"] = harness.ReplicaSets(ctx, t, env, m.gateway, "ingress")
	}
	return m
}

// writePlan writes upgrade.mw.hcl: the upgrade header, the gateway block when
// the mesh has one, and body.
func (m *mesh) writePlan(body string) {
	m.t.Helper()
	head := fmt.Sprintf("upgrade {\n  from   = %q\n  to     = %q\n  flavor = \"backyards\"\n}\n\n", m.oldRevision(), rev17)
	if m.gateway != "" {
		head += fmt.Sprintf("gateway \"ingress\" {\n  namespace = %q\n}\n\n", m.gateway)
	}
	if err := os.WriteFile(filepath.Join(m.dir, "upgrade.mw.hcl"), []byte(head+body), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

func (m *mesh) statePath() string { return filepath.Join(m.dir, "meshwave.state.json") }

// stateFile is the part of the state file the suite reads, decoded after the
// strict decoder accepted the file.
type stateFile struct {
	Serial uint64 `json:"serial"`
	Steps  []struct {
		ID     string            `json:"id"`
		Kind   string            `json:"kind"`
		Status string            `json:"status"`
		Error  string            `json:"error"`
		Record map[string]string `json:"record"`
	} `json:"steps"`
}

func (s *stateFile) step(id string) (status string, rec map[string]string) {
	if s == nil {
		return "", nil
	}
	for _, st := range s.Steps {
		if st.ID == id {
			return st.Status, st.Record
		}
	}
	return "", nil
}

// readState reads the state file with meshwave's strict decoder; nil when
// there is none yet. A file that does not decode fails the test: the state
// must be usable at every instant.
func readState(t testing.TB, path string) *stateFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := statefile.Read(bytes.NewReader(b)); err != nil {
		t.Fatalf("the state file does not decode: %v\n%s", err, b)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// recorded reports whether the state says a step is changing or has changed
// the cluster.
func recorded(status string) bool {
	return status == "running" || status == "done" || status == "failed"
}

// checkRecordedFirst checks the promise that the cluster is never changed
// without the state saying so first: every change the cluster shows belongs
// to a step the state records as started, with the value the state
// recorded. It returns the problems found.
func (m *mesh) checkRecordedFirst(ctx context.Context, st *stateFile) []string {
	t := m.t
	var bad []string
	for _, ns := range m.order {
		got, err := m.env.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Labels[plan.LabelRevision] != m.oldRevision() {
			if status, _ := st.step("wave/" + m.waveOf(ns) + "/relabel/" + ns); !recorded(status) {
				bad = append(bad, fmt.Sprintf("namespace %s is relabeled (%v) but its relabel step is %q", ns, got.Labels, status))
			}
		}
		for _, d := range m.namespaces[ns] {
			dep, err := m.env.Client.AppsV1().Deployments(ns).Get(ctx, d, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			at := dep.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
			id := "wave/" + m.waveOf(ns) + "/restart/" + ns + "/deployment/" + d
			status, rec := st.step(id)
			if at != "" && (!recorded(status) || rec["restartedAt"] != at) {
				bad = append(bad, fmt.Sprintf("%s/%s was restarted (restartedAt %s) but its step is %q with record %v", ns, d, at, status, rec))
			}
			if n := harness.ReplicaSets(ctx, t, m.env, ns, d); n > m.before[ns+"/"+d]+1 {
				bad = append(bad, fmt.Sprintf("%s/%s has %d ReplicaSets, had %d: restarted more than once", ns, d, n, m.before[ns+"/"+d]))
			}
		}
	}
	if m.gateway != "" {
		mgw, err := harness.Dynamic(t, m.env).Resource(meshsim.GVRMeshGateway).Namespace(m.gateway).Get(ctx, "ingress", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cp, _, _ := unstructured.NestedString(mgw.Object, "spec", "istioControlPlane", "name")
		if cp != "old-"+m.name {
			if status, _ := st.step("gateway/" + m.gateway + "/ingress"); !recorded(status) {
				bad = append(bad, fmt.Sprintf("gateway %s/ingress is on %s but its step is %q", m.gateway, cp, status))
			}
		}
	}
	istio, err := harness.Dynamic(t, m.env).Resource(meshsim.GVRIstio).Namespace("istio-system").Get(ctx, "old-"+m.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && istio.GetDeletionTimestamp() != nil) {
		if status, _ := m.uninstallStep(st); !recorded(status) {
			bad = append(bad, fmt.Sprintf("control plane old-%s is deleted but the uninstall step is %q", m.name, status))
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return bad
}

func (m *mesh) uninstallStep(st *stateFile) (string, map[string]string) {
	if st == nil {
		return "", nil
	}
	for _, s := range st.Steps {
		if s.Kind == string(plan.StepUninstall) {
			return s.Status, s.Record
		}
	}
	return "", nil
}

func (m *mesh) waveOf(ns string) string { return m.waves[ns] }

// setWave says which wave of the trial's plan moves namespaces.
func (m *mesh) setWave(wave string, namespaces ...string) {
	for _, ns := range namespaces {
		m.waves[ns] = wave
	}
}

// checkMoved checks the end of a finished wave or upgrade: every namespace
// of the mesh relabeled, its pods on the 1.7 proxy, every Deployment
// restarted exactly once, every step of the state done.
func (m *mesh) checkMoved(ctx context.Context, st *stateFile) []string {
	t := m.t
	var bad []string
	for _, ns := range m.order {
		got, err := m.env.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Labels[plan.LabelRevision] != rev17 {
			bad = append(bad, fmt.Sprintf("namespace %s labels %v, want istio.io/rev=%s", ns, got.Labels, rev17))
		}
		for _, d := range m.namespaces[ns] {
			harness.WaitPods(ctx, t, m.env, ns, "app="+d, 30*time.Second, harness.AllOn(img17, rev17))
			if n, want := harness.ReplicaSets(ctx, t, m.env, ns, d), m.before[ns+"/"+d]+1; n != want {
				bad = append(bad, fmt.Sprintf("%s/%s has %d ReplicaSets, want %d (restarted exactly once)", ns, d, n, want))
			}
		}
	}
	if st == nil {
		bad = append(bad, "no state file")
	} else {
		for _, s := range st.Steps {
			if s.Status != "done" {
				bad = append(bad, fmt.Sprintf("step %s is %s, want done", s.ID, s.Status))
			}
		}
	}
	return bad
}

// checkFinal checks the end of a finished upgrade: checkMoved, the gateway
// moved, the old control plane gone, and a new plan with nothing to do.
func (m *mesh) checkFinal(ctx context.Context) []string {
	t := m.t
	bad := m.checkMoved(ctx, readState(t, m.statePath()))
	if m.gateway != "" {
		harness.WaitPods(ctx, t, m.env, m.gateway, "app=ingress", 30*time.Second, harness.AllOn(img17, rev17))
		if n, want := harness.ReplicaSets(ctx, t, m.env, m.gateway, "ingress"), m.before[m.gateway+"/ingress"]+1; n != want {
			bad = append(bad, fmt.Sprintf("gateway %s/ingress has %d ReplicaSets, want %d", m.gateway, n, want))
		}
	}
	// The uninstall deletes in the foreground: the Istio resource goes once
	// the garbage collector has removed what it owns.
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := harness.Dynamic(t, m.env).Resource(meshsim.GVRIstio).Namespace("istio-system").Get(ctx, "old-"+m.name, metav1.GetOptions{})
		last = u
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		meta := ""
		if last != nil {
			meta = fmt.Sprintf("deletionTimestamp %v, finalizers %v", last.GetDeletionTimestamp(), last.GetFinalizers())
		}
		bad = append(bad, fmt.Sprintf("Istio istio-system/old-%s still exists 30 s after the upgrade (%s)", m.name, meta))
	}
	if r := harness.Meshwave(t, m.env, m.dir, "plan", "-detailed-exitcode"); r.Code != 0 {
		bad = append(bad, fmt.Sprintf("plan after the upgrade: exit %d, want 0 (no changes)\n%s%s", r.Code, r.Stdout, r.Stderr))
	}
	return bad
}

// event is one line of apply -json.
type event struct {
	Type     string `json:"type"`
	Step     string `json:"step"`
	StepKind string `json:"step_kind"`
	Wave     string `json:"wave"`
	Message  string `json:"message"`
	Error    string `json:"error"`
}

// run is one apply process whose events the test reads as they come.
type run struct {
	cmd    *exec.Cmd
	stderr *harness.SyncBuffer
	events chan event
	log    []string
	done   chan struct{}
	code   int
}

// startApply starts apply -auto-approve -json with extra arguments.
func startApply(ctx context.Context, t testing.TB, env *testenv.Cluster, dir string, args ...string) *run {
	t.Helper()
	cmd := harness.Command(ctx, t, env, dir, append([]string{"apply", "-auto-approve", "-json"}, args...)...)
	r := &run{cmd: cmd, stderr: &harness.SyncBuffer{}, events: make(chan event, 1024), done: make(chan struct{})}
	cmd.Stderr = r.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.events)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = event{Type: "not-json", Message: sc.Text()}
			}
			r.events <- ev
		}
	}()
	return r
}

// wait waits for the process and returns its exit code (-1 when killed).
func (r *run) wait() int {
	for range r.events {
	}
	_ = r.cmd.Wait()
	r.code = r.cmd.ProcessState.ExitCode()
	return r.code
}

// next returns the next event, or false when the process closed its output.
func (r *run) next() (event, bool) {
	ev, ok := <-r.events
	if ok {
		r.log = append(r.log, ev.Type+" "+ev.Step+" "+ev.Message+" "+ev.Error)
	}
	return ev, ok
}

func (r *run) transcript() string {
	return strings.Join(r.log, "\n") + "\n--- stderr\n" + r.stderr.String()
}

// gateServer is an HTTP gate endpoint that answers 200.
func gateServer(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// deployment reads a Deployment.
func (m *mesh) deployment(ctx context.Context, ns, name string) *appsv1.Deployment {
	m.t.Helper()
	d, err := m.env.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		m.t.Fatal(err)
	}
	return d
}
