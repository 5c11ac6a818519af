package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// plan -out never replaces a file that is not a saved plan; it says so
// before it reads the cluster (the kubeconfig here does not exist).
func TestPlanOutRefusesForeignFile(t *testing.T) {
	src, err := os.ReadFile("../../examples/istio-revisions/upgrade.mw.hcl")
	if err != nil {
		t.Fatal(err)
	}
	state := `{"format_version": "1.0", "lineage": "0f8fad5b-d9cb-469f-a165-70867728950e", "serial": 3, "plan_hash": "", "steps": [], "approvals": []}` + "\n"
	tests := map[string]struct {
		out     string // relative to the plan's directory
		content string // "" for the plan source itself
	}{
		"the state file":  {out: "meshwave.state.json", content: state},
		"the plan source": {out: "upgrade.mw.hcl"},
		"any other file":  {out: "README", content: "notes\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			planPath := filepath.Join(dir, "upgrade.mw.hcl")
			if err := os.WriteFile(planPath, src, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, tc.out)
			if tc.content != "" {
				if err := os.WriteFile(out, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(out)
			code, _, errOut := runCmd(t, "plan", "-f", planPath, "-out", out, "-kubeconfig", filepath.Join(dir, "no-kubeconfig"))
			if code != 1 || !strings.Contains(errOut, "refusing to replace "+out) {
				t.Errorf("plan -out over %s: exit %d, stderr %q; want exit 1 and a refusal naming it", name, code, errOut)
			}
			after, _ := os.ReadFile(out)
			if diff := cmp.Diff(string(before), string(after)); diff != "" {
				t.Errorf("%s changed (-before +after):\n%s", tc.out, diff)
			}
		})
	}
}

// A generated plan of 19,000 waves that repeat one namespace has 18,999
// errors; printing them scanned the whole file once per error (hours). Now
// the first 100 are printed from a window of their lines and the rest
// counted.
func TestValidateManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("upgrade {\n  from   = \"1-26\"\n  to     = \"1-27\"\n  flavor = \"istio\"\n}\n")
	for i := range 19000 {
		fmt.Fprintf(&b, "wave \"w%d\" {\n  namespaces = [\"same\"]\n}\n", i)
	}
	path := filepath.Join(t.TempDir(), "waves.mw.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, errOut := runCmd(t, "validate", "-f", path)
	took := time.Since(start)
	if code != 1 || !strings.Contains(errOut, "... and 18899 more diagnostics (18899 errors, 0 warnings) not shown.") ||
		!strings.Contains(errOut, "on "+path+" line 13, in wave \"w2\":\n  13:   namespaces = [\"same\"]") {
		t.Errorf("exit %d, stderr ends %q", code, errOut[max(0, len(errOut)-300):])
	}
	t.Logf("validate of %d bytes: %s", b.Len(), took)
}
