package planfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A saved plan replaces only a saved plan: never the state, a plan source,
// any other file, and never through a symlink.
func TestWriteRefusesForeignFile(t *testing.T) {
	tests := map[string]struct {
		name    string
		content string
		link    bool // plant a symlink to the file at the -out path
		reason  string
	}{
		"the state file": {name: "meshwave.state.json", reason: "not a meshwave saved plan",
			content: `{"format_version": "1.0", "lineage": "0f8fad5b-d9cb-469f-a165-70867728950e", "serial": 3, "plan_hash": "", "steps": [], "approvals": []}` + "\n"},
		"a plan source":   {name: "upgrade.mw.hcl", content: "upgrade {\n  from = \"a\"\n}\n", reason: "not a meshwave saved plan"},
		"any other file":  {name: "notes.txt", content: "hello\n", reason: "not a meshwave saved plan"},
		"empty file":      {name: "empty.plan", content: "", reason: "not a meshwave saved plan"},
		"other JSON":      {name: "other.json", content: `{"format_version": "1", "plan": {}}`, reason: "not a meshwave saved plan"},
		"symlink to plan": {name: "target.plan", link: true, reason: "symbolic link"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, tc.name)
			if tc.link {
				if err := Write(target, sample()); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(target, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(target)
			out := target
			if tc.link {
				out = filepath.Join(dir, "link.plan")
				if err := os.Symlink(target, out); err != nil {
					t.Fatal(err)
				}
			}
			f := sample()
			f.Cluster = "https://changed.example:6443"
			err := Write(out, f)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("Write over %s: got %v, want an error saying %q", name, err, tc.reason)
			}
			after, _ := os.ReadFile(target)
			if diff := cmp.Diff(string(before), string(after)); diff != "" {
				t.Errorf("%s changed (-before +after):\n%s", tc.name, diff)
			}
		})
	}
}

// A saved plan is replaced by a newer one at the same path.
func TestWriteReplacesSavedPlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "up.plan")
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	f := sample()
	f.State.Serial = 4
	if err := Write(path, f); err != nil {
		t.Fatalf("Write over a saved plan: %v", err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Serial != 4 {
		t.Errorf("serial = %d, want 4", got.State.Serial)
	}
}
