// Package harness runs the meshwave binary against a testenv cluster with
// meshsim, for the end-to-end tests of plan and apply. It builds the binary
// once per test process and runs it as a separate process, so exit codes,
// signals and kill -9 are real.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/test/istiofix"
	"github.com/meshwave/meshwave/test/meshsim"
	"github.com/meshwave/meshwave/test/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Binary builds meshwave (once per test process) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meshwave-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "meshwave")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "./cmd/meshwave")
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Main is the TestMain of an end-to-end package: one cluster for the
// package (testenv.Main), and the built binary removed afterwards.
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
func Main(m *testing.M) int {
	code := testenv.Main(m)
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	return code
}

// Result is one finished meshwave run.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Meshwave runs the binary in dir with the cluster's kubeconfig and no color.
func Meshwave(t testing.TB, env *testenv.Cluster, dir string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := Command(ctx, t, env, dir, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run meshwave %v: %v", args, err)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// Command prepares a meshwave process without starting it.
func Command(ctx context.Context, t testing.TB, env *testenv.Cluster, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig, "NO_COLOR=1")
	return cmd
}

// CopyExample copies an example's plan files into a new temp directory, so
// the state file the test writes stays out of the repository.
func CopyExample(t testing.TB, name string) string {
	t.Helper()
	src := filepath.Join(RepoRoot(), "examples", name)
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// PodFacts is what the guide's `kubectl get po -o yaml | grep istio-proxyv2`
// and `-L istio.io/rev` show of one pod; Revision is the revision that
// injected it, read as meshwave reads it (plan.PodRevision).
type PodFacts struct {
	Name, ProxyImage, Revision string
	Ready                      bool
}

// Pods lists a namespace's live pods with a selector.
func Pods(ctx context.Context, t testing.TB, env *testenv.Cluster, ns, selector string) []PodFacts {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []PodFacts
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		f := PodFacts{Name: p.Name, Revision: plan.PodRevision(p.Labels, p.Annotations)}
		for _, c := range p.Spec.Containers {
			if c.Name == "istio-proxy" {
				f.ProxyImage = c.Image
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				f.Ready = true
			}
		}
		out = append(out, f)
	}
	return out
}

// WaitPods waits until the selected pods satisfy ok, and fails the test
// with the last pods seen otherwise.
func WaitPods(ctx context.Context, t testing.TB, env *testenv.Cluster, ns, selector string, timeout time.Duration, ok func([]PodFacts) bool) []PodFacts {
	t.Helper()
	var last []PodFacts
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last = Pods(ctx, t, env, ns, selector)
		return ok(last), nil
	})
	if err != nil {
		t.Fatalf("pods %s -l %s: condition not met within %s; last seen %+v", ns, selector, timeout, last)
	}
	return last
}

// AllOn reports whether there is at least one pod and every pod runs image
// with revision and is Ready.
func AllOn(image, revision string) func([]PodFacts) bool {
	return func(pods []PodFacts) bool {
		if len(pods) == 0 {
			return false
		}
		for _, p := range pods {
			if p.ProxyImage != image || p.Revision != revision || !p.Ready {
				return false
			}
		}
		return true
	}
}

// ReplicaSets counts a deployment's ReplicaSets: one per pod-template
// revision, so a workload restarted once has two.
func ReplicaSets(ctx context.Context, t testing.TB, env *testenv.Cluster, ns, deployment string) int {
	t.Helper()
	rss, err := env.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rs := range rss.Items {
		for _, o := range rs.OwnerReferences {
			if o.Kind == "Deployment" && o.Name == deployment {
				n++
			}
		}
	}
	return n
}

// Deployment creates a Deployment of replicas pods labeled app=name.
func Deployment(ctx context.Context, t testing.TB, env *testenv.Cluster, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "docker.io/library/nginx:1.25"}}},
			},
		},
	}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s/%s: %v", ns, name, err)
	}
}

// Namespace creates a namespace with labels.
func Namespace(ctx context.Context, t testing.TB, env *testenv.Cluster, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// Lines splits output into non-empty lines.
func Lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// SyncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Dynamic returns a dynamic client for the cluster.
func Dynamic(t testing.TB, env *testenv.Cluster) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	meshOnce sync.Once
	meshSim  *meshsim.Sim
	meshErr  error
)

// Backyards returns the package's cluster with meshsim serving the
// backyards-1.6-to-1.7 scenario, started on first use and kept for the
// test process. It skips under -short like testenv.Require.
func Backyards(t testing.TB) (*testenv.Cluster, *meshsim.Sim) {
	t.Helper()
	return Scenario(t, meshsim.ScenarioBackyards)
}

// Scenario returns the package's cluster with meshsim serving a built-in
// scenario; a test process serves one scenario.
func Scenario(t testing.TB, name string) (*testenv.Cluster, *meshsim.Sim) {
	t.Helper()
	env := testenv.Require(t)
	meshOnce.Do(func() {
		ctx := context.Background()
		meshSim, meshErr = meshsim.Start(ctx, env.Config)
		if meshErr == nil {
			meshErr = meshSim.LoadScenario(ctx, name)
		}
	})
	if meshErr != nil {
		t.Fatalf("meshsim: %v", meshErr)
	}
	return env, meshSim
}

// PlanJSON runs `meshwave plan -json` with args in dir and decodes its
// output into a T (the fields a test reads), failing the test when it is
// not JSON.
func PlanJSON[T any](t testing.TB, env *testenv.Cluster, dir string, args ...string) (T, Result) {
	t.Helper()
	r := Meshwave(t, env, dir, append([]string{"plan", "-json"}, args...)...)
	var p T
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil {
		t.Fatalf("plan -json (exit %d): %v\n%s\n%s", r.Code, err, r.Stdout, r.Stderr)
	}
	return p, r
}

// RealIstio returns the package's cluster with real Istio (test/istiofix)
// in the state load leaves it (mesh.LoadUpgradeScenario, say), stopped
// when the test ends; load has 5 minutes.
func RealIstio(t *testing.T, load func(*istiofix.Mesh, context.Context) error) (*testenv.Cluster, *istiofix.Mesh) {
	t.Helper()
	env := testenv.Require(t)
	bin := os.Getenv(istiofix.EnvBinDir)
	if bin == "" {
		t.Fatal(istiofix.ErrNoBinaries)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mesh, err := istiofix.New(env, t.TempDir(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mesh.Stop)
	if err := load(mesh, ctx); err != nil {
		t.Fatal(err)
	}
	return env, mesh
}

// Event is one line of `apply -json`, the fields the kill tests read.
type Event struct {
	Type    string `json:"type"`
	Step    string `json:"step"`
	Message string `json:"message"`
}

// ApplyKilledWhen runs `apply -auto-approve -json` and kills it with SIGKILL
// at the first event kill accepts. It returns that event (nil when the run
// ended first), the exit code and the events seen, as "type step" lines.
func ApplyKilledWhen(t testing.TB, env *testenv.Cluster, dir string, kill func(Event) bool) (*Event, int, []string) {
	t.Helper()
	return ApplyKilledWhenArgs(t, env, dir, nil, kill)
}

// ApplyKilledWhenArgs is ApplyKilledWhen with more arguments to apply (a
// -kubeconfig, the -state-* flags).
func ApplyKilledWhenArgs(t testing.TB, env *testenv.Cluster, dir string, args []string, kill func(Event) bool) (*Event, int, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := Command(ctx, t, env, dir, append([]string{"apply", "-auto-approve", "-json"}, args...)...)
	stderr := &SyncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var killed *Event
	var log []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("apply -json wrote a line that is not JSON: %q", sc.Text())
		}
		log = append(log, ev.Type+" "+ev.Step)
		if killed == nil && kill(ev) {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = &ev
		}
	}
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if killed == nil && err != nil {
		t.Fatalf("apply failed on its own (exit %d):\n%s\n%s", code, strings.Join(log, "\n"), stderr.String())
	}
	return killed, code, log
}
