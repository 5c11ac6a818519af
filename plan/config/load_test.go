package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// ignoreRanges compares configs by meaning, not by where they were written.
var ignoreRanges = cmpopts.IgnoreTypes(hcl.Range{})

// loadString loads one in-memory plan file named plan.mw.hcl.
func loadString(t *testing.T, src string, vars VarInput) (*Config, hcl.Diagnostics) {
	t.Helper()
	cfg, _, diags := loadSources([]planSource{{name: "plan.mw.hcl", src: []byte(src)}}, vars, readTestFile)
	return cfg, diags
}

func mustLoad(t *testing.T, src string, vars VarInput) *Config {
	t.Helper()
	cfg, diags := loadString(t, src, vars)
	if diags.HasErrors() {
		t.Fatalf("load: unexpected errors:\n%s", diags.Error())
	}
	return cfg
}

func ptr[T any](v T) *T { return &v }

func TestExamplesLoad(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 3 {
		t.Fatalf("found %d example directories, want at least 3", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, err := FindFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Fatalf("no %s files in %s", FileSuffix, dir)
			}
			cfg, _, diags := Load(files, VarInput{})
			if len(diags) > 0 {
				t.Fatalf("diagnostics for %s:\n%s", dir, diags.Error())
			}
			if cfg.SourceHash == "" || len(cfg.Waves) == 0 {
				t.Errorf("config = %+v, want waves and a source hash", cfg)
			}
			varFiles, _ := filepath.Glob(filepath.Join(dir, "*.mwvars.hcl"))
			for _, vf := range varFiles {
				if _, _, diags := Load(files, VarInput{VarFiles: []string{vf}}); len(diags) > 0 {
					t.Errorf("diagnostics with -var-file %s:\n%s", vf, diags.Error())
				}
			}
			// meshwave fmt -check passes on every example.
			all, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
			for _, f := range all {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if got := hclwrite.Format(src); !bytes.Equal(got, src) {
					t.Errorf("%s is not formatted; run meshwave fmt", f)
				}
			}
		})
	}
}

func TestBackyardsExample(t *testing.T) {
	files, err := FindFiles("../../examples/backyards-1.6-to-1.7")
	if err != nil {
		t.Fatal(err)
	}
	got, _, diags := Load(files, VarInput{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want := &Config{
		Upgrade:  Upgrade{From: "mesh.istio-system", To: "cp-v17x.istio-system", Flavor: FlavorBackyards},
		Gateways: []GatewayConfig{{Name: "istio-ingressgateway", Namespace: "istio-system"}},
		Waves: []WaveConfig{
			{
				Name: "canary", Namespaces: []string{"demo-a"}, MaxParallel: 1, Timeout: 10 * time.Minute,
				Gates: []Gate{
					{Kind: GateHTTP, HTTP: &HTTPGate{
						URL: "http://app-a.demo-a.svc.cluster.local:8080/", ExpectStatus: 200,
						Attempts: 5, Interval: 10 * time.Second, Timeout: 10 * time.Second,
					}},
					{Kind: GatePause, Pause: 10 * time.Minute},
					{Kind: GateApproval},
				},
			},
			{Name: "rest", Namespaces: []string{"demo-b"}, MaxParallel: 2, Timeout: 15 * time.Minute},
		},
		Rollback: RollbackConfig{Automatic: true},
		Finalize: FinalizeConfig{UninstallOld: true},
		State:    StateConfig{Backend: StateLocal},
	}
	if diff := cmp.Diff(want, got, ignoreRanges, cmpopts.IgnoreFields(Config{}, "SourceHash")); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

const minimalPlan = `
upgrade {
  from   = "default"
  to     = "1-27"
  flavor = "istio"
}
`

func TestDefaults(t *testing.T) {
	got := mustLoad(t, minimalPlan+`
gateway "gw" {}
wave "all" {
  selector = "env=prod"
  http { url = "http://x.y:80/" }
  command { argv = ["true"] }
}
`, VarInput{})
	want := &Config{
		Upgrade:  Upgrade{From: "default", To: "1-27", Flavor: FlavorIstio},
		Gateways: []GatewayConfig{{Name: "gw", Namespace: "istio-system"}},
		Waves: []WaveConfig{{
			Name: "all", Selector: "env=prod", MaxParallel: 1, Timeout: 10 * time.Minute,
			Gates: []Gate{
				{Kind: GateHTTP, HTTP: &HTTPGate{URL: "http://x.y:80/", ExpectStatus: 200, Attempts: 3, Interval: 5 * time.Second, Timeout: 10 * time.Second}},
				{Kind: GateCommand, Command: &CommandGate{Argv: []string{"true"}, Timeout: 5 * time.Minute}},
			},
		}},
		State: StateConfig{Backend: StateLocal},
	}
	if diff := cmp.Diff(want, got, ignoreRanges, cmpopts.IgnoreFields(Config{}, "SourceHash")); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

// The state block chooses where the state lives; a backend reads only its
// own attributes.
func TestStateBlock(t *testing.T) {
	cases := map[string]struct {
		block string
		want  StateConfig
	}{
		"kubernetes": {`state {
  backend   = "kubernetes"
  namespace = "meshwave"
  name      = "upgrade-1-7"
}`, StateConfig{Backend: StateKubernetes, Namespace: "meshwave", Name: "upgrade-1-7"}},
		"local with a path": {`state {
  path = "states/prod.json"
}`, StateConfig{Backend: StateLocal, Path: "states/prod.json"}},
		"no block": {"", StateConfig{Backend: StateLocal}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := mustLoad(t, minimalPlan+"wave \"w\" {\n  namespaces = [\"a\"]\n}\n"+tc.block+"\n", VarInput{})
			if diff := cmp.Diff(tc.want, got.State, ignoreRanges); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
}

// roll_on_delete opts one wave in to evicting the pods of its OnDelete
// StatefulSets; a wave without it does not.
func TestRollOnDelete(t *testing.T) {
	cfg := mustLoad(t, minimalPlan+`
wave "in" {
  namespaces     = ["a"]
  roll_on_delete = true
}
wave "out" {
  namespaces = ["b"]
}
`, VarInput{})
	if got := []bool{cfg.Waves[0].RollOnDelete, cfg.Waves[1].RollOnDelete}; !slices.Equal(got, []bool{true, false}) {
		t.Errorf("roll_on_delete of the waves = %v, want [true false]", got)
	}
	_, diags := loadString(t, minimalPlan+`
wave "w" {
  namespaces     = ["a"]
  roll_on_delete = "sometimes"
}
`, VarInput{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "roll_on_delete") && !strings.Contains(diags.Error(), "bool") {
		t.Errorf("roll_on_delete = \"sometimes\": diagnostics %v, want an error", diags)
	}
}

func TestGatesRunInSourceOrder(t *testing.T) {
	tests := map[string]struct {
		wave string
		want []GateKind
	}{
		"attributes first": {
			`pause = "1m"
			 approval = true
			 command { argv = ["a"] }`,
			[]GateKind{GatePause, GateApproval, GateCommand},
		},
		"approval last": {
			`command { argv = ["a"] }
			 pause = "1m"
			 prometheus {
			   url = "http://p:9090"
			   query = "up"
			   min = 1
			 }
			 approval = true`,
			[]GateKind{GateCommand, GatePause, GatePrometheus, GateApproval},
		},
		"zero pause and false approval are no gates": {
			`pause = "0s"
			 approval = false`,
			nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := mustLoad(t, minimalPlan+"wave \"w\" {\nnamespaces = [\"a\"]\n"+tc.wave+"\n}\n", VarInput{})
			var got []GateKind
			for _, g := range cfg.Waves[0].Gates {
				got = append(got, g.Kind)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("gate order mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

const variablePlan = `
variable "to" {
  type    = string
  default = "1-27"
}
variable "namespaces" {
  type    = list(string)
  default = ["a"]
}
variable "parallel" {
  type    = number
  default = 1
}
upgrade {
  from   = "1-26"
  to     = var.to
  flavor = "istio"
}
wave "w" {
  namespaces   = var.namespaces
  max_parallel = var.parallel
}
`

func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	varFile := filepath.Join(dir, "x.mwvars.hcl")
	if err := os.WriteFile(varFile, []byte("to = \"1-28\"\nnamespaces = [\"f1\", \"f2\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		in              VarInput
		to              string
		namespaces      []string
		maxParallelWant int
	}{
		"defaults": {VarInput{}, "1-27", []string{"a"}, 1},
		"environment": {
			VarInput{Environ: []string{"MESHWAVE_VAR_to=1-29", "MESHWAVE_VAR_parallel=4", "MESHWAVE_VAR_other=x", "PATH=/bin"}},
			"1-29", []string{"a"}, 4,
		},
		"var file over environment": {
			VarInput{Environ: []string{"MESHWAVE_VAR_to=1-29"}, VarFiles: []string{varFile}},
			"1-28", []string{"f1", "f2"}, 1,
		},
		"-var over var file, last wins": {
			VarInput{VarFiles: []string{varFile}, Vars: []string{"to=1-30", `namespaces=["v"]`, "to=1-31"}},
			"1-31", []string{"v"}, 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := mustLoad(t, variablePlan, tc.in)
			got := []any{cfg.Upgrade.To, cfg.Waves[0].Namespaces, cfg.Waves[0].MaxParallel}
			want := []any{tc.to, tc.namespaces, tc.maxParallelWant}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("values mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVariableInputErrors(t *testing.T) {
	tests := map[string]struct {
		in   VarInput
		want []string // summaries
	}{
		"undeclared -var":        {VarInput{Vars: []string{"tto=1-28"}}, []string{"Value for undeclared variable"}},
		"-var without equals":    {VarInput{Vars: []string{"to"}}, []string{"Invalid -var option"}},
		"-var of the wrong type": {VarInput{Vars: []string{"parallel=many"}}, []string{"Invalid value for variable"}},
		"-var list not a list":   {VarInput{Vars: []string{`namespaces={a = 1}`}}, []string{"Invalid value for variable"}},
		"missing var file":       {VarInput{VarFiles: []string{"testdata/no-such.mwvars.hcl"}}, []string{"Failed to read var file"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, diags := loadString(t, variablePlan, tc.in)
			var got []string
			for _, d := range diags {
				got = append(got, d.Summary)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("diagnostics mismatch (-want +got):\n%s\n%s", diff, diags.Error())
			}
		})
	}
}

func TestSourceHash(t *testing.T) {
	a := mustLoad(t, variablePlan, VarInput{})
	b := mustLoad(t, variablePlan, VarInput{})
	c := mustLoad(t, variablePlan, VarInput{Vars: []string{"to=1-28"}})
	d := mustLoad(t, variablePlan+"\n", VarInput{})
	if len(a.SourceHash) != 64 {
		t.Errorf("SourceHash = %q, want 64 hex digits", a.SourceHash)
	}
	if a.SourceHash != b.SourceHash {
		t.Errorf("same input, different hashes: %s, %s", a.SourceHash, b.SourceHash)
	}
	if a.SourceHash == c.SourceHash {
		t.Error("a different variable value kept the hash")
	}
	if a.SourceHash == d.SourceHash {
		t.Error("different source bytes kept the hash")
	}
}

func TestMultipleFiles(t *testing.T) {
	srcs := []planSource{
		{name: "a.mw.hcl", src: []byte(minimalPlan + `wave "one" { namespaces = ["x"] }`)},
		{name: "b.mw.hcl", src: []byte(`wave "two" { namespaces = ["y"] }
wave "three" { namespaces = ["x"] }`)},
	}
	_, files, diags := loadSources(srcs, VarInput{}, readTestFile)
	if len(files) != 2 {
		t.Errorf("got %d files, want 2", len(files))
	}
	if len(diags) != 1 || diags[0].Summary != "Namespace in two waves" || diags[0].Subject.Filename != "b.mw.hcl" {
		t.Errorf("diagnostics = %s, want one \"Namespace in two waves\" in b.mw.hcl", diags.Error())
	}
}

func TestFindFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.mw.hcl", "a.mw.hcl", "c.hcl", "d.mwvars.hcl"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "e.mw.hcl"), 0o700); err != nil {
		t.Fatal(err)
	}
	// What -f would read, discovery reads too: links are followed, and a
	// link that leads nowhere or a FIFO is found so that loading it says
	// what is wrong, instead of the plan silently losing a file.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "shared.hcl"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"f.mw.hcl": filepath.Join(other, "shared.hcl"), "g.mw.hcl": filepath.Join(other, "gone"), "h.mw.hcl": other} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "i.mw.hcl"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := FindFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.mw.hcl"), filepath.Join(dir, "b.mw.hcl"), filepath.Join(dir, "f.mw.hcl"),
		filepath.Join(dir, "g.mw.hcl"), filepath.Join(dir, "i.mw.hcl")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindFiles mismatch (-want +got):\n%s", diff)
	}
}

func TestFunctions(t *testing.T) {
	cfg := mustLoad(t, `
locals {
  base = ["a", "b"]
  all  = concat(local.base, split(",", "c,d"))
}
upgrade {
  from   = lower("MESH.istio-system")
  to     = format("cp-v%dx.%s", 17, "istio-system")
  flavor = "backyards"
}
wave "w" {
  namespaces = distinct(concat(local.all, ["a"]))
  selector   = join(",", [for k in ["x", "y"] : "${k}=${upper(k)}"])
}
`, VarInput{})
	want := []any{"mesh.istio-system", "cp-v17x.istio-system", []string{"a", "b", "c", "d"}, "x=X,y=Y"}
	got := []any{cfg.Upgrade.From, cfg.Upgrade.To, cfg.Waves[0].Namespaces, cfg.Waves[0].Selector}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if strings.Join(FunctionNames(), ",") == "" {
		t.Error("no functions")
	}
}

func containsSummary(diags hcl.Diagnostics, summary string) bool {
	for _, d := range diags {
		if d.Summary == summary {
			return true
		}
	}
	return false
}

func TestHugeNumbers(t *testing.T) {
	tests := map[string]struct {
		src string
		in  VarInput
	}{
		"literal":              {minimalPlan + `wave "w" { namespaces = ["${1.5e99999999}"] }`, VarInput{}},
		"tiny literal":         {minimalPlan + `wave "w" { namespaces = ["${1.5e-99999999}"] }`, VarInput{}},
		"in a -var":            {variablePlan, VarInput{Vars: []string{"parallel=1e999999"}}},
		"string for a number":  {variablePlan, VarInput{Environ: []string{"MESHWAVE_VAR_parallel=1e999999"}}},
		"max_parallel too big": {minimalPlan + `wave "w" {` + "\n" + `namespaces = ["a"]` + "\n" + `max_parallel = 1e300` + "\n}", VarInput{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			done := make(chan hcl.Diagnostics)
			go func() {
				_, diags := loadString(t, tc.src, tc.in)
				done <- diags
			}()
			select {
			case diags := <-done:
				if !containsSummary(diags, "Number out of range") {
					t.Errorf("diagnostics = %v, want Number out of range", diags)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("loading took more than 20s")
			}
		})
	}
}

// readTestFile reads a file the plan names, without loadSources' bound.
func readTestFile(name string, _ int64) ([]byte, error) { return os.ReadFile(name) }
