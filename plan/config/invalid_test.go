package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// TestInvalidPlans loads every testdata/invalid/NAME.mw.hcl (with
// NAME.mwvars.hcl as its var file when there is one) and compares the
// rendered diagnostics, snippets included, with NAME.golden. Refresh the
// golden files with: go test ./plan/config -run TestInvalidPlans -update
func TestInvalidPlans(t *testing.T) {
	plans, err := filepath.Glob("testdata/invalid/*.mw.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) < 30 {
		t.Fatalf("found %d invalid plans, want at least 30", len(plans))
	}
	for _, path := range plans {
		name := strings.TrimSuffix(filepath.Base(path), FileSuffix)
		t.Run(name, func(t *testing.T) {
			var in VarInput
			varFile := strings.TrimSuffix(path, FileSuffix) + ".mwvars.hcl"
			if _, err := os.Stat(varFile); err == nil {
				in.VarFiles = []string{varFile}
			}
			cfg, files, diags := Load([]string{path}, in)
			if !diags.HasErrors() {
				t.Fatalf("Load(%s) found no errors", path)
			}
			if cfg != nil {
				t.Errorf("Load(%s) returned a config along with errors", path)
			}
			got := renderDiagnostics(t, files, diags)

			golden := strings.TrimSuffix(path, FileSuffix) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("diagnostics for %s mismatch (-want +got):\n%s", path, diff)
			}
		})
	}
}

func renderDiagnostics(t *testing.T, files map[string]*hcl.File, diags hcl.Diagnostics) string {
	t.Helper()
	var buf bytes.Buffer
	w := hcl.NewDiagnosticTextWriter(&buf, files, 0, false)
	if err := w.WriteDiagnostics(diags); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestEveryCheckHasAGoldenCase keeps the golden cases covering every check
// the loader can report: each summary below must appear in some .golden file.
func TestEveryCheckHasAGoldenCase(t *testing.T) {
	goldens, err := filepath.Glob("testdata/invalid/*.golden")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	summaries := []string{
		"Unsupported argument", "Unsupported block type", "Missing required argument",
		"Missing upgrade block", "Duplicate upgrade block", "Duplicate rollback block", "Duplicate finalize block",
		"Duplicate wave name", "Duplicate gateway", "Namespace in two waves", "Duplicate namespace",
		"Nothing to upgrade", "Invalid target revision", "Invalid revision", "Invalid flavor",
		"Invalid duration", "Invalid label selector", "Empty label selector",
		"Reference to undeclared input variable", "Reference to undeclared local value", "Call to unknown function",
		"Incorrect attribute value type", "Invalid number", "Number out of range",
		"Wave selects no namespaces", "Invalid namespace name", "Invalid wave name", "Invalid gateway name",
		"Invalid URL", "Prometheus gate without bounds", "Empty range", "Empty query", "Empty command",
		"Namespace included and excluded", "No value for required variable", "Invalid value for variable",
		"Duplicate variable declaration", "Cycle in local values", "Value for undeclared variable",
		"Exclude without selector", "No waves", "Variables not allowed",
	}
	for _, s := range summaries {
		if !strings.Contains(all.String(), ": "+s+"\n") {
			t.Errorf("no golden case reports %q", s)
		}
	}
}
