package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runCmd runs meshwave with args and returns the exit code, stdout and
// stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestValidateExamples(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(dir, "*.mw.hcl"))
			args := []string{"validate"}
			for _, f := range files {
				args = append(args, "-f", f)
			}
			code, out, errOut := runCmd(t, args...)
			if code != 0 || !strings.HasPrefix(out, "Success! The plan is valid") || errOut != "" {
				t.Errorf("validate %s: exit %d\nstdout: %s\nstderr: %s", dir, code, out, errOut)
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	type pos struct{ Line, Column int }
	type result struct {
		Valid        bool `json:"valid"`
		ErrorCount   int  `json:"error_count"`
		WarningCount int  `json:"warning_count"`
		Diagnostics  []struct {
			Severity string `json:"severity"`
			Summary  string `json:"summary"`
			Range    *struct {
				Filename string `json:"filename"`
				Start    pos    `json:"start"`
			} `json:"range"`
			Snippet *struct {
				Code string `json:"code"`
			} `json:"snippet"`
		} `json:"diagnostics"`
	}
	tests := map[string]struct {
		args     []string
		code     int
		valid    bool
		errors   int
		warnings int
		first    string // summary of the first diagnostic
		line     int    // its line, 0 for none
	}{
		"valid example": {
			args: []string{"-f", "../../examples/istio-revisions/upgrade.mw.hcl"},
			code: 0, valid: true,
		},
		"variables with a var file and -var": {
			args: []string{
				"-f", "../../examples/variables/variables.mw.hcl", "-f", "../../examples/variables/upgrade.mw.hcl",
				"-var-file", "../../examples/variables/staging.mwvars.hcl", "-var", `canary_namespaces=["a", "b"]`,
			},
			code: 0, valid: true,
		},
		"many errors": {
			args: []string{"-f", "../../plan/config/testdata/invalid/many-errors.mw.hcl"},
			code: 1, errors: 7, first: "Nothing to upgrade", line: 4,
		},
		"warnings only": {
			args: []string{"-f", "testdata/no-waves.mw.hcl"},
			code: 0, valid: true, warnings: 1, first: "No waves",
		},
		"undeclared -var": {
			args: []string{"-f", "../../examples/istio-revisions/upgrade.mw.hcl", "-var", "x=1"},
			code: 1, errors: 1, first: "Value for undeclared variable",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"validate", "-json"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			var got result
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, out)
			}
			gotSummary := []any{got.Valid, got.ErrorCount, got.WarningCount}
			wantSummary := []any{tc.valid, tc.errors, tc.warnings}
			if diff := cmp.Diff(wantSummary, gotSummary); diff != "" {
				t.Errorf("valid, error_count, warning_count mismatch (-want +got):\n%s", diff)
			}
			if len(got.Diagnostics) != tc.errors+tc.warnings {
				t.Fatalf("got %d diagnostics, want %d", len(got.Diagnostics), tc.errors+tc.warnings)
			}
			if tc.first == "" {
				return
			}
			d := got.Diagnostics[0]
			if d.Summary != tc.first {
				t.Errorf("first diagnostic = %q, want %q", d.Summary, tc.first)
			}
			if tc.line > 0 && (d.Range == nil || d.Range.Start.Line != tc.line || d.Snippet == nil || d.Snippet.Code == "") {
				t.Errorf("first diagnostic range = %+v, snippet = %+v; want line %d with a snippet", d.Range, d.Snippet, tc.line)
			}
		})
	}
}

func TestValidateText(t *testing.T) {
	code, out, errOut := runCmd(t, "validate", "-f", "../../plan/config/testdata/invalid/from-equals-to.mw.hcl")
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, want := range []string{"Error: Nothing to upgrade", `3:   to     = "cp-v17x.istio-system"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "\x1b[") {
		t.Error("stderr has color escapes though it is not a terminal")
	}
}

func TestValidateFindsFilesInWorkingDirectory(t *testing.T) {
	src, err := os.ReadFile("../../examples/backyards-1.6-to-1.7/upgrade.mw.hcl")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	code, _, errOut := runCmd(t, "validate")
	if code != 1 || !strings.Contains(errOut, "No plan files") {
		t.Errorf("empty directory: exit %d, stderr %q; want 1 and No plan files", code, errOut)
	}
	if err := os.WriteFile("upgrade.mw.hcl", src, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, "validate"); code != 0 {
		t.Errorf("directory with a plan: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

func TestValidateReadsVariablesFromEnvironment(t *testing.T) {
	args := []string{"validate", "-f", "../../examples/variables/variables.mw.hcl", "-f", "../../examples/variables/upgrade.mw.hcl"}
	t.Setenv("MESHWAVE_VAR_to_revision", "1-26")
	code, _, errOut := runCmd(t, args...)
	if code != 1 || !strings.Contains(errOut, "Error: Nothing to upgrade") {
		t.Errorf("MESHWAVE_VAR_to_revision=1-26: exit %d, stderr %q; want 1 and Nothing to upgrade", code, errOut)
	}
	// -var wins over the environment.
	if code, _, errOut := runCmd(t, append(args, "-var", "to_revision=1-28")...); code != 0 {
		t.Errorf("with -var: exit %d, stderr %q; want 0", code, errOut)
	}
}
