package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/planfile"
)

// savedPlan writes a saved plan (with a correct content hash) of one
// namespace relabel, after edit, and returns its path.
func savedPlan(t *testing.T, edit func(*planfile.File)) string {
	t.Helper()
	f := &planfile.File{Cluster: "https://127.0.0.1:6443", Plan: &plan.Plan{FormatVersion: plan.FormatVersion,
		Flavor: plan.FlavorIstio, From: "1-26", To: "1-27",
		Steps: []plan.Step{{ID: "wave/canary/relabel/demo-a", Kind: plan.StepNamespaceRelabel, Action: plan.ActionUpdate,
			Wave: "canary", Object: &plan.ObjectRef{Kind: "Namespace", Name: "demo-a"}}}}}
	if edit != nil {
		edit(f)
	}
	path := filepath.Join(t.TempDir(), "upgrade.plan")
	if err := planfile.Write(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

// show prints only plans this build understands; anything newer or unknown
// is refused with the reason, and the file is left as it was.
func TestShowRefusesUnknownContent(t *testing.T) {
	tests := map[string]struct {
		edit func(*planfile.File)
		want string // after "unusable saved plan PATH: "
	}{
		"newer plan format": {func(f *planfile.File) { f.Plan.FormatVersion = "2.0" }, `plan format version "2.0" is not supported (this meshwave reads 1.1)`},
		"unknown step kind": {func(f *planfile.File) { f.Plan.Steps[0].Kind = "teleport" }, `step "wave/canary/relabel/demo-a" has unknown kind "teleport"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := savedPlan(t, tc.edit)
			before, _ := os.ReadFile(path)
			code, out, errOut := runCmd(t, "show", path)
			want := "Error: unusable saved plan " + path + ": " + tc.want + "\n"
			if code != 1 || out != "" || errOut != want {
				t.Errorf("show: exit %d, stdout %q, stderr %q; want exit 1, no output, stderr %q", code, out, errOut, want)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Errorf("show changed %s", path)
			}
		})
	}
}
