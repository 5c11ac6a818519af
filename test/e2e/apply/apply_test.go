// Package apply_test runs meshwave apply against the real local control
// plane with the simulated Backyards mesh. Tests run in file order: the ones
// that leave the scenario as they found it come first, the full upgrade last.
package apply_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/testenv"
)

const (
	img16 = "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc"
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
	rev16 = "mesh.istio-system"
	rev17 = "cp-v17x.istio-system"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// canaryPlan is a one-wave plan for demo-a with a short timeout.
const canaryPlan = `
upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
  timeout    = "25s"
}

rollback {
  automatic = true
}
`

func writePlan(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "upgrade.mw.hcl"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func namespaceLabels(ctx context.Context, t *testing.T, env *testenv.Cluster, name string) map[string]string {
	t.Helper()
	ns, err := env.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"istio-injection": ns.Labels["istio-injection"], "istio.io/rev": ns.Labels["istio.io/rev"]}
}

// A wave whose target control plane injects proxies that never become Ready
// fails, is rolled back automatically, and demo-a ends on the old proxy.
func TestUnhealthyTargetRollsBackAutomatically(t *testing.T) {
	env, sim := harness.Backyards(t)
	ctx := context.Background()
	if err := sim.SetUnhealthy(ctx, rev17, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sim.SetUnhealthy(context.Background(), rev17, false); err != nil {
			t.Error(err)
		}
	})
	dir := writePlan(t, canaryPlan)
	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	if r.Code != 1 {
		t.Fatalf("exit code = %d, want 1\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, `wave "canary" failed and was rolled back`) {
		t.Errorf("stderr does not say the wave was rolled back:\n%s", r.Stderr)
	}
	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", time.Minute, harness.AllOn(img16, rev16))
	want := map[string]string{"istio-injection": "enabled", "istio.io/rev": ""}
	if got := namespaceLabels(ctx, t, env, "demo-a"); !equal(got, want) {
		t.Errorf("demo-a labels = %v, want %v", got, want)
	}
	st := readState(t, filepath.Join(dir, "meshwave.state.json"))
	if got := st["wave/canary/relabel/demo-a"]; got != "rolled-back" {
		t.Errorf("state of the relabel step = %q, want rolled-back", got)
	}
}

// A second apply while one holds the lock fails at once, naming the holder.
func TestConcurrentApplyFailsNamingHolder(t *testing.T) {
	env, _ := harness.Backyards(t)
	dir := writePlan(t, canaryPlan)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first apply waits at its confirmation prompt, holding the lock.
	first := harness.Command(ctx, t, env, dir, "apply")
	stdin, err := first.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	firstOut := &harness.SyncBuffer{}
	first.Stdout = firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = first.Process.Kill()
		_ = first.Wait()
	}()
	waitFile(t, filepath.Join(dir, "meshwave.state.json.lock"), 30*time.Second)
	waitOutput(t, firstOut, "Enter a value", 60*time.Second)

	start := time.Now()
	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	if r.Code != 1 {
		t.Fatalf("second apply exit code = %d, want 1\n%s", r.Code, r.Stderr)
	}
	for _, want := range []string{"is locked by", "operation \"apply\"", "pid " + strconv.Itoa(first.Process.Pid)} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("second apply's error lacks %q:\n%s", want, r.Stderr)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("second apply took %s to fail; it must fail at once", d)
	}
	// It changed nothing.
	want := map[string]string{"istio-injection": "enabled", "istio.io/rev": ""}
	if got := namespaceLabels(context.Background(), t, env, "demo-a"); !equal(got, want) {
		t.Errorf("demo-a labels = %v, want %v", got, want)
	}
}

// A saved plan is refused once an object it read changed.
func TestStaleSavedPlanIsRefused(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	dir := writePlan(t, canaryPlan)
	r := harness.Meshwave(t, env, dir, "plan", "-out", "canary.plan")
	if r.Code != 0 {
		t.Fatalf("plan -out exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	patch := []byte(`{"metadata":{"labels":{"team":"payments"}}}`)
	if _, err := env.Client.CoreV1().Namespaces().Patch(ctx, "demo-a", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.Client.CoreV1().Namespaces().Patch(context.Background(), "demo-a", types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"team":null}}}`), metav1.PatchOptions{})
	})
	r = harness.Meshwave(t, env, dir, "apply", "canary.plan")
	if r.Code != 1 {
		t.Fatalf("apply of a stale plan: exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"saved plan is stale", "Namespace demo-a changed"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, r.Stderr)
		}
	}
	if got := namespaceLabels(ctx, t, env, "demo-a"); got["istio-injection"] != "enabled" || got["istio.io/rev"] != "" {
		t.Errorf("demo-a was relabeled by a refused plan: %v", got)
	}
}

// A corrupt state file is refused and left byte-identical.
func TestCorruptStateIsRefusedAndUntouched(t *testing.T) {
	env, _ := harness.Backyards(t)
	dir := writePlan(t, canaryPlan)
	statePath := filepath.Join(dir, "meshwave.state.json")
	tests := map[string][]byte{
		"truncated": []byte(`{"format_version": "1", "lineage": "0f3a`),
		"foreign":   []byte(`{"version": 4, "terraform_version": "1.9.5", "serial": 7, "resources": []}`),
		"binary":    {0x00, 0xff, 0x13, 0x37},
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(statePath, content, 0o600); err != nil {
				t.Fatal(err)
			}
			r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
			if r.Code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(r.Stderr, "meshwave.state.json") {
				t.Errorf("error does not name the state file:\n%s", r.Stderr)
			}
			after, err := os.ReadFile(statePath)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(content) {
				t.Errorf("state file changed: %q, want %q", after, content)
			}
			if _, err := os.Stat(statePath + ".backup"); err == nil {
				t.Errorf("a backup was written for a refused state")
			}
		})
	}
	if got := namespaceLabels(context.Background(), t, env, "demo-a"); got["istio-injection"] != "enabled" {
		t.Errorf("demo-a was relabeled: %v", got)
	}
}

// SIGTERM during a wave's gate: apply saves where it stopped and exits 143;
// status shows the live revisions; rollback by hand puts demo-a back.
func TestInterruptedApplyThenManualRollback(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	dir := writePlan(t, strings.Replace(canaryPlan, `timeout    = "25s"`, `timeout    = "60s"
  pause      = "5m"`, 1))
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := harness.Command(cctx, t, env, dir, "apply", "-auto-approve")
	out, errb := &harness.SyncBuffer{}, &harness.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "canary pause gate: checking", 2*time.Minute)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("exit code after SIGTERM = %d, want 143\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "run the same command again to continue") {
		t.Errorf("apply did not say how to continue:\n%s", errb.String())
	}
	st := readState(t, filepath.Join(dir, "meshwave.state.json"))
	if st["wave/canary/verify"] != "done" || st["wave/canary/gate/0-pause"] == "done" {
		t.Errorf("state after SIGTERM = %v, want verify done and the pause not done", st)
	}

	r := harness.Meshwave(t, env, dir, "status")
	if r.Code != 0 || !strings.Contains(r.Stdout, "canary  demo-a") || !strings.Contains(r.Stdout, rev17) {
		t.Errorf("status (exit %d) does not show demo-a on %s:\n%s%s", r.Code, rev17, r.Stdout, r.Stderr)
	}

	r = harness.Meshwave(t, env, dir, "rollback", "-wave", "canary", "-auto-approve")
	if r.Code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", time.Minute, harness.AllOn(img16, rev16))
	want := map[string]string{"istio-injection": "enabled", "istio.io/rev": ""}
	if got := namespaceLabels(ctx, t, env, "demo-a"); !equal(got, want) {
		t.Errorf("demo-a labels after rollback = %v, want %v", got, want)
	}
	if got := readState(t, filepath.Join(dir, "meshwave.state.json"))["wave/canary/relabel/demo-a"]; got != "rolled-back" {
		t.Errorf("relabel step after rollback = %q, want rolled-back", got)
	}
}

// A saved plan shows the same plan as plan -json.
func TestShowSavedPlan(t *testing.T) {
	env, _ := harness.Backyards(t)
	dir := writePlan(t, canaryPlan)
	planned := harness.Meshwave(t, env, dir, "plan", "-json", "-out", "canary.plan")
	if planned.Code != 0 {
		t.Fatalf("plan: exit %d\n%s", planned.Code, planned.Stderr)
	}
	fi, err := os.Stat(filepath.Join(dir, "canary.plan"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("saved plan mode = %v, want 0600", fi.Mode().Perm())
	}
	shown := harness.Meshwave(t, env, dir, "show", "-json", "canary.plan")
	if shown.Code != 0 || shown.Stdout != planned.Stdout {
		t.Errorf("show -json (exit %d) differs from plan -json:\n%s\n---\n%s", shown.Code, shown.Stdout, planned.Stdout)
	}
	human := harness.Meshwave(t, env, dir, "show", "canary.plan")
	if !strings.Contains(human.Stdout, "Namespace demo-a") {
		t.Errorf("show does not render the plan:\n%s", human.Stdout)
	}
}

func readState(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Steps []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file is not valid JSON: %v", err)
	}
	out := map[string]string{}
	for _, s := range st.Steps {
		out[s.ID] = s.Status
	}
	return out
}

func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	exists := func(context.Context) (bool, error) {
		_, err := os.Stat(path)
		return err == nil, nil
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, exists); err != nil {
		t.Fatalf("%s did not appear within %s", path, timeout)
	}
}

func waitOutput(t *testing.T, b *harness.SyncBuffer, want string, timeout time.Duration) {
	t.Helper()
	written := func(context.Context) (bool, error) { return strings.Contains(b.String(), want), nil }
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, written); err != nil {
		t.Fatalf("output lacks %q after %s:\n%s", want, timeout, b.String())
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
