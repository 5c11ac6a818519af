// Package backend_test runs meshwave with its state in the cluster (the
// kubernetes state backend: a Secret, locked by a Lease) as two users with
// two kubeconfigs, on the real local control plane with meshsim: the two
// race for the lock, and one finishes an apply the other started and was
// killed in.
package backend_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshwave/meshwave/providers/kube"
	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/testenv"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

const (
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
	rev17 = "cp-v17x.istio-system"

	stateNamespace = "meshwave-state"
	alice          = "meshwave-e2e-alice"
	bob            = "meshwave-e2e-bob"
)

// user is one person running meshwave: a Kubernetes user bound by RBAC,
// and a kubeconfig that acts as that user.
type user struct {
	name, kubeconfig string
}

// setUp creates the state namespace and two users allowed to upgrade the
// mesh, each with a kubeconfig of its own. The test cluster's only
// credential is its admin's, so a kubeconfig acts as a user by
// impersonation; the API server authorizes each request as that user.
func setUp(ctx context.Context, t *testing.T, env *testenv.Cluster) (a, b user) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stateNamespace}}
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rbac := env.Client.RbacV1()
	const role = "meshwave-e2e-upgrader"
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}
	if _, err := rbac.ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{
			{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: alice},
			{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: bob},
		}}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return user{alice, kubeconfigAs(t, env, alice)}, user{bob, kubeconfigAs(t, env, bob)}
}

// kubeconfigAs writes a kubeconfig that acts as name.
func kubeconfigAs(t *testing.T, env *testenv.Cluster, name string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = name
	}
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePlan writes plan, keeping its state in the Secret and Lease name.
func writePlan(t *testing.T, plan, name string) string {
	t.Helper()
	dir := t.TempDir()
	src := plan + fmt.Sprintf("\nstate {\n  backend   = \"kubernetes\"\n  namespace = %q\n  name      = %q\n}\n", stateNamespace, name)
	if err := os.WriteFile(filepath.Join(dir, "upgrade.mw.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const racePlan = `
upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
}
`

// contender is one apply of a race, stopped at its confirmation prompt if
// it gets that far: the prompt comes after the lock, so a process at the
// prompt holds the Lease.
type contender struct {
	who    user
	cmd    *os.Process
	pid    int
	stdin  io.WriteCloser
	prompt chan struct{}
	exited chan struct{}
	code   int
	stdout *harness.SyncBuffer
	stderr *harness.SyncBuffer
}

func startContender(ctx context.Context, t *testing.T, env *testenv.Cluster, dir string, who user) *contender {
	t.Helper()
	cmd := harness.Command(ctx, t, env, dir, "apply", "-kubeconfig", who.kubeconfig)
	c := &contender{who: who, prompt: make(chan struct{}), exited: make(chan struct{}), stdout: &harness.SyncBuffer{}, stderr: &harness.SyncBuffer{}}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.cmd, c.pid = cmd.Process, cmd.Process.Pid
	go func() {
		defer close(c.exited)
		br := bufio.NewReader(out)
		prompted := false
		buf := make([]byte, 4096)
		for {
			n, err := br.Read(buf)
			_, _ = c.stdout.Write(buf[:n])
			if !prompted && strings.Contains(c.stdout.String(), "Enter a value:") {
				prompted = true
				close(c.prompt)
			}
			if err != nil {
				break
			}
		}
		_ = cmd.Wait()
		c.code = cmd.ProcessState.ExitCode()
	}()
	return c
}

// TestLeaseRaceBetweenTwoUsers starts an apply as alice and one as bob at
// the same instant, 50 times, both keeping the state in one Secret locked
// by one Lease: exactly one must hold the Lease (it reaches the
// confirmation prompt, which comes after the lock), the other must be
// refused naming the holder (its Kubernetes user and pid). The winner is
// then declined, so nothing is applied and the Lease is released.
func TestLeaseRaceBetweenTwoUsers(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	a, b := setUp(ctx, t, env)
	dir := writePlan(t, racePlan, "race")
	const races = 50
	wins := map[string]int{}
	for i := range races {
		cs := [2]*contender{}
		start := make(chan struct{})
		done := make(chan struct{}, 2)
		for j, who := range []user{a, b} {
			go func() {
				<-start
				cs[j] = startContender(ctx, t, env, dir, who)
				done <- struct{}{}
			}()
		}
		close(start)
		<-done
		<-done
		winner, outcome := judgeRace(cs)
		if winner == "" {
			t.Fatalf("race %d: %s\n--- %s stdout:\n%s\n--- %s stderr:\n%s\n--- %s stdout:\n%s\n--- %s stderr:\n%s", i+1, outcome,
				cs[0].who.name, cs[0].stdout, cs[0].who.name, cs[0].stderr, cs[1].who.name, cs[1].stdout, cs[1].who.name, cs[1].stderr)
		}
		wins[winner]++
		if _, err := env.Client.CoordinationV1().Leases(stateNamespace).Get(ctx, "race", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("race %d: the Lease after the winner was declined: err = %v, want NotFound (released)", i+1, err)
		}
	}
	if _, err := env.Client.CoreV1().Secrets(stateNamespace).Get(ctx, "race", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("state Secret after %d declined applies: err = %v, want NotFound (nothing written)", races, err)
	}
	if n := harness.ReplicaSets(ctx, t, env, "demo-a", "app-a"); n != 1 {
		t.Errorf("demo-a/app-a has %d ReplicaSets, want 1: a declined apply restarted it", n)
	}
	t.Logf("wins: %v of %d races", wins, races)
}

// judgeRace waits for a race to settle; it returns the winner's user, or
// "" and what went wrong.
func judgeRace(cs [2]*contender) (string, string) {
	kill := func() {
		for _, c := range cs {
			_ = c.cmd.Kill()
			<-c.exited
		}
	}
	deadline := time.After(90 * time.Second)
	prompted, exited := [2]bool{}, [2]bool{}
	for {
		for j, c := range cs {
			select {
			case <-c.prompt:
				prompted[j] = true
			default:
			}
			select {
			case <-c.exited:
				exited[j] = true
			default:
			}
		}
		switch {
		case prompted[0] && prompted[1]:
			kill()
			return "", "both applies held the lock"
		case exited[0] && exited[1] && !prompted[0] && !prompted[1]:
			return "", "neither apply got the lock"
		}
		for w := range 2 {
			l := 1 - w
			if !prompted[w] || !exited[l] {
				continue
			}
			loser, winner := cs[l], cs[w]
			_, _ = io.WriteString(winner.stdin, "no\n")
			<-winner.exited
			msg := loser.stderr.String()
			switch {
			case loser.code != 1:
				return "", fmt.Sprintf("the loser exited %d, want 1", loser.code)
			case !strings.Contains(msg, "is locked by") || !strings.Contains(msg, "as Kubernetes user "+winner.who.name) ||
				!strings.Contains(msg, fmt.Sprintf("pid %d", winner.pid)):
				return "", fmt.Sprintf("the loser's message does not name the holder (%s, pid %d): %q", winner.who.name, winner.pid, msg)
			case !strings.Contains(winner.stderr.String(), "Apply cancelled."):
				return "", "the winner did not cancel when declined"
			}
			return winner.who.name, ""
		}
		select {
		case <-deadline:
			kill()
			return "", "the race did not settle within 90 s"
		case <-time.After(20 * time.Millisecond):
		}
	}
}

const resumePlan = `
upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

gateway "istio-ingressgateway" {
  namespace = "istio-system"
}

wave "canary" {
  namespaces = ["demo-a"]
}

wave "rest" {
  namespaces = ["demo-b"]
}
`

// TestKilledApplyFinishedByAnotherUser kills alice's apply with SIGKILL in
// the middle of a restart, while it holds the Lease. Bob, with his own
// kubeconfig, is first told who holds the lock and when it expires; then,
// waiting for it (-lock-timeout), takes the expired Lease over and finishes
// the upgrade from the state in the Secret, without a second restart of
// any workload (ReplicaSets counted).
func TestKilledApplyFinishedByAnotherUser(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a, b := setUp(ctx, t, env)
	dir := writePlan(t, resumePlan, "resume")
	deployments := [][2]string{{"demo-a", "app-a"}, {"demo-b", "app-b"}}
	before := map[string]int{}
	for _, d := range deployments {
		before[d[0]+"/"+d[1]] = harness.ReplicaSets(ctx, t, env, d[0], d[1])
	}

	killedAt, log := applyKilledAtRestart(t, env, dir, a)
	t.Logf("%s's apply killed at %s", a.name, killedAt)
	lease, err := env.Client.CoordinationV1().Leases(stateNamespace).Get(ctx, "resume", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the killed apply's Lease: %v\n%s", err, strings.Join(log, "\n"))
	}
	if lease.Annotations["meshwave.io/lock-kube-user"] != a.name {
		t.Errorf("the Lease names %v, want %s", lease.Annotations, a.name)
	}

	// alice's killed apply left nothing beside its plan: the state and the
	// lock are in the cluster.
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
		t.Errorf("%s's working directory after the kill holds %v (err %v), want only upgrade.mw.hcl", a.name, ents, err)
	}
	// bob works on another machine: his own working directory with only the
	// plan (as checked out from git), his own kubeconfig.
	bobDir := writePlan(t, resumePlan, "resume")
	r := harness.Meshwave(t, env, bobDir, "apply", "-auto-approve", "-kubeconfig", b.kubeconfig)
	if r.Code != 1 || !strings.Contains(r.Stderr, "is locked by") || !strings.Contains(r.Stderr, "as Kubernetes user "+a.name) ||
		!strings.Contains(r.Stderr, "the lock expires at") {
		t.Fatalf("%s's apply while the killed holder's Lease is live: exit %d, want 1 naming %s and the expiry\n%s", b.name, r.Code, a.name, r.Stderr)
	}

	start := time.Now()
	r = harness.Meshwave(t, env, bobDir, "apply", "-auto-approve", "-lock-timeout", "2m", "-kubeconfig", b.kubeconfig)
	if r.Code != 0 {
		t.Fatalf("%s's apply waiting for the lock: exit %d\n%s\n%s", b.name, r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("%s took the expired Lease over and finished in %s", b.name, time.Since(start).Round(time.Second))

	for _, d := range deployments {
		harness.WaitPods(ctx, t, env, d[0], "app="+d[1], 5*time.Second, harness.AllOn(img17, rev17))
		if n, want := harness.ReplicaSets(ctx, t, env, d[0], d[1]), before[d[0]+"/"+d[1]]+1; n != want {
			t.Errorf("%s/%s has %d ReplicaSets, want %d: restarted more than once", d[0], d[1], n, want)
		}
	}
	if _, err := env.Client.CoordinationV1().Leases(stateNamespace).Get(ctx, "resume", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Lease after the finished apply: err = %v, want NotFound (released)", err)
	}
	sec, err := env.Client.CoreV1().Secrets(stateNamespace).Get(ctx, "resume", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != kube.StateSecretType {
		t.Errorf("state Secret type %q, want %q", sec.Type, kube.StateSecretType)
	}

	// The state moves out of the cluster as it is, and every step is done.
	r = harness.Meshwave(t, env, dir, "state", "pull", "-kubeconfig", a.kubeconfig)
	if r.Code != 0 {
		t.Fatalf("state pull: exit %d\n%s", r.Code, r.Stderr)
	}
	st, err := statefile.Read(strings.NewReader(r.Stdout))
	if err != nil {
		t.Fatalf("state pull printed no state: %v\n%s", err, r.Stdout)
	}
	for _, ss := range st.Steps {
		if ss.Status != "done" {
			t.Errorf("step %s is %s, want done", ss.ID, ss.Status)
		}
	}
	r = harness.Meshwave(t, env, dir, "plan", "-detailed-exitcode", "-kubeconfig", a.kubeconfig)
	if r.Code != 0 {
		t.Errorf("plan after the upgrade: exit %d, want 0 (no changes)\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// applyKilledAtRestart runs `apply -auto-approve -json` as who and kills it
// with SIGKILL as its first workload restart starts. It returns the event
// it was killed at and the events seen.
func applyKilledAtRestart(t *testing.T, env *testenv.Cluster, dir string, who user) (string, []string) {
	t.Helper()
	killed, code, log := harness.ApplyKilledWhenArgs(t, env, dir, []string{"-kubeconfig", who.kubeconfig}, func(ev harness.Event) bool {
		return ev.Type == "step-start" && strings.Contains(ev.Step, "/restart/")
	})
	if killed == nil {
		t.Fatalf("the apply finished (exit %d) before its first restart:\n%s", code, strings.Join(log, "\n"))
	}
	return killed.Type + " " + killed.Step, log
}
