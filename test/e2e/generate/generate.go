// Package generate holds what the end-to-end tests of meshwave generate
// share: a plan generated from the live cluster and held to what generate
// promises before it is applied. Each scenario is a package of its own
// (backyards, istio): a test process serves one meshsim scenario.
package generate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/testenv"
)

// PlanFile is the file the tests generate into.
const PlanFile = "upgrade.mw.hcl"

// Generate runs `meshwave generate ARGS --out upgrade.mw.hcl` in a new
// directory and checks that the plan is valid, fmt-clean and plans without a
// blocking check; it returns the directory and the plan.
func Generate(t *testing.T, env *testenv.Cluster, args ...string) (dir, src string) {
	t.Helper()
	dir = t.TempDir()
	r := harness.Meshwave(t, env, dir, append(append([]string{"generate"}, args...), "--out", PlanFile)...)
	if r.Code != 0 {
		t.Fatalf("generate %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.Code, r.Stdout, r.Stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, PlanFile))
	if err != nil {
		t.Fatal(err)
	}
	src = string(b)
	t.Logf("generated plan:\n%s", src)
	if r := harness.Meshwave(t, env, dir, "validate"); r.Code != 0 || r.Stderr != "" {
		t.Fatalf("validate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := harness.Meshwave(t, env, dir, "fmt", "-check", "-diff"); r.Code != 0 {
		t.Fatalf("fmt -check: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := harness.Meshwave(t, env, dir, "plan", "-detailed-exitcode"); r.Code != 2 {
		t.Fatalf("plan: exit %d, want 2 (changes, no blocking check)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Generating again over the plan needs --force, which replaces it.
	if r := harness.Meshwave(t, env, dir, append(append([]string{"generate"}, args...), "--out", PlanFile)...); r.Code != 1 || !strings.Contains(r.Stderr, "refusing to replace") {
		t.Errorf("generate over its plan without --force: exit %d, want 1 and a refusal\n%s", r.Code, r.Stderr)
	}
	if r := harness.Meshwave(t, env, dir, append(append([]string{"generate"}, args...), "--out", PlanFile, "--force")...); r.Code != 0 {
		t.Errorf("generate --force over its plan: exit %d\n%s", r.Code, r.Stderr)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, PlanFile)); string(again) != src {
		t.Errorf("generated again from the same cluster, the plan differs:\n%s", again)
	}
	return dir, src
}

// Contains fails the test for each line of want that is not a line of src.
func Contains(t *testing.T, src string, want ...string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(src, "\n") {
		lines[l] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("the generated plan lacks the line %q", w)
		}
	}
}

// ApplyToTheEnd applies the plan in dir, approving its canary wave, and
// fails unless apply completes; a plan afterwards has no changes.
func ApplyToTheEnd(t *testing.T, env *testenv.Cluster, dir string) {
	t.Helper()
	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve", "-approve", "canary")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Apply complete!") {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := harness.Meshwave(t, env, dir, "plan", "-detailed-exitcode"); r.Code != 0 {
		t.Errorf("plan after apply: exit %d, want 0 (no changes)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
