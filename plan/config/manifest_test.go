package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseManifest(t *testing.T) {
	src := `# istioctl manifest generate --set revision=1-31
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: istiod-1-31
  namespace: istio-system
  labels:
    istio.io/rev: 1-31
--- # the CRD
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gateways.networking.istio.io
---
---
# only a comment
---
null
`
	objs, diags := ParseManifest([]byte(src), "1-31.yaml")
	if diags.HasErrors() {
		t.Fatalf("ParseManifest: %s", diags.Error())
	}
	type row struct {
		Obj  string
		Line int
		Rev  string
		Grp  string
	}
	var got []row
	for _, o := range objs {
		got = append(got, row{o.String(), o.Range.Start.Line, o.Labels["istio.io/rev"], o.Group()})
	}
	want := []row{
		{"ServiceAccount istio-system/istiod-1-31", 3, "1-31", ""},
		{"CustomResourceDefinition gateways.networking.istio.io", 11, "", "apiextensions.k8s.io"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(objs[0].JSON), `"name":"istiod-1-31"`) {
		t.Errorf("JSON = %s", objs[0].JSON)
	}
}

func TestParseManifestLocatesEachProblem(t *testing.T) {
	tests := map[string]struct {
		src     string
		summary string
		line    int
	}{
		"invalid YAML":  {"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: ConfigMap\n data: [\n", "Invalid YAML in manifest", 7},
		"not an object": {"- a\n- b\n", "Manifest document is not an object", 1},
		"no kind":       {"apiVersion: v1\nmetadata:\n  name: a\n", "Manifest object without kind", 1},
		"no name":       {"\n\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: a-\n", "Manifest object without name", 3},
		"a list":        {"apiVersion: v1\nkind: List\nitems: []\nmetadata:\n  name: x\n", "List in manifest", 1},
		"labels not strings": {"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    a: {b: c}\n",
			"Invalid object in manifest", 1},
		"bad apiVersion": {"apiVersion: a/b/c\nkind: ConfigMap\nmetadata:\n  name: a\n", "Invalid apiVersion in manifest", 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, diags := ParseManifest([]byte(tc.src), "m.yaml")
			if len(diags) != 1 {
				t.Fatalf("diagnostics = %v, want one", diags)
			}
			d := diags[0]
			if d.Summary != tc.summary || d.Subject == nil || d.Subject.Start.Line != tc.line || d.Subject.Filename != "m.yaml" {
				t.Errorf("got %q at %v, want %q at m.yaml line %d", d.Summary, d.Subject, tc.summary, tc.line)
			}
		})
	}
}

func TestInstallManifestIsReadBesideThePlan(t *testing.T) {
	dir := t.TempDir()
	plan := `upgrade {
  from   = "1-30"
  to     = "1-31"
  flavor = "istio"
}

install {
  manifest = "1-31.yaml"
}

wave "all" {
  namespaces = ["shop"]
}
`
	manifest := "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: istiod-1-31\n  namespace: istio-system\n"
	for name, content := range map[string]string{"upgrade.mw.hcl": plan, "1-31.yaml": manifest} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _, diags := Load([]string{filepath.Join(dir, "upgrade.mw.hcl")}, VarInput{})
	if diags.HasErrors() {
		t.Fatalf("Load: %s", diags.Error())
	}
	if cfg.Install == nil || cfg.Install.Path != filepath.Join(dir, "1-31.yaml") || len(cfg.Install.Objects) != 1 {
		t.Fatalf("Install = %+v, want the one object of %s/1-31.yaml", cfg.Install, dir)
	}

	// Another manifest is another plan.
	before := cfg.SourceHash
	if err := os.WriteFile(filepath.Join(dir, "1-31.yaml"), []byte(manifest+"---\n"+strings.ReplaceAll(manifest, "istiod-1-31", "other")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, diags = Load([]string{filepath.Join(dir, "upgrade.mw.hcl")}, VarInput{})
	if diags.HasErrors() {
		t.Fatalf("Load: %s", diags.Error())
	}
	if cfg.SourceHash == before {
		t.Error("SourceHash unchanged after the manifest changed")
	}
}

// A manifest that is a symlink leading out of the plan's directory is
// refused before it is read; one leading to a file beside the plan is read.
func TestManifestSymlinkOutsideThePlan(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(outside, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: secret\n  namespace: istio-system\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plan := "upgrade {\n  from   = \"1-30\"\n  to     = \"1-31\"\n  flavor = \"istio\"\n}\n\ninstall {\n  manifest = \"1-31.yaml\"\n}\n\nwave \"all\" {\n  namespaces = [\"shop\"]\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "p"+FileSuffix), []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "1-31.yaml")); err != nil {
		t.Fatal(err)
	}
	_, _, diags := Load([]string{filepath.Join(dir, "p"+FileSuffix)}, VarInput{})
	refused := false
	for _, d := range diags {
		refused = refused || d.Summary == "Manifest outside the plan's directory" && strings.Contains(d.Detail, "is a symlink to a file outside")
	}
	if !refused || len(diags) != 1 {
		t.Fatalf("a manifest symlinked out of the plan's directory: %v, want only its refusal", diags)
	}
	// The same file copied beside the plan is read.
	if err := os.Remove(filepath.Join(dir, "1-31.yaml")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(outside)
	if err := os.WriteFile(filepath.Join(dir, "1-31.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, diags := Load([]string{filepath.Join(dir, "p"+FileSuffix)}, VarInput{}); diags.HasErrors() {
		t.Errorf("the manifest beside the plan: %v", diags)
	}
}
