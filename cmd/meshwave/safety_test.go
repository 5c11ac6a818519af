package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
