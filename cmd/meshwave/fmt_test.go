package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const unformatted = `upgrade {
from = "1-26"
    to="1-27"
flavor = "istio"
}
wave "a" {
namespaces=["x"]
}
`

const formatted = `upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "a" {
  namespaces = ["x"]
}
`

func TestFmtCheckExamples(t *testing.T) {
	dirs, _ := filepath.Glob("../../examples/*")
	code, out, errOut := runCmd(t, append([]string{"fmt", "-check"}, dirs...)...)
	if code != 0 || out != "" || errOut != "" {
		t.Errorf("fmt -check examples: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "p.mw.hcl")
	vars := filepath.Join(dir, "v.mwvars.hcl")
	other := filepath.Join(dir, "other.hcl")
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(plan, unformatted)
	write(vars, "a=1\nbb = 2\n")
	write(other, "x=1\n")

	// -check reports and changes nothing.
	code, out, _ := runCmd(t, "fmt", "-check", dir)
	if code != exitUnformatted || out != plan+"\n"+vars+"\n" {
		t.Errorf("fmt -check: exit %d, stdout %q; want %d and both files", code, out, exitUnformatted)
	}
	if b, _ := os.ReadFile(plan); string(b) != unformatted {
		t.Error("fmt -check changed the file")
	}

	// -diff shows the change.
	code, out, _ = runCmd(t, "fmt", "-check", "-diff", plan)
	for _, want := range []string{"--- old/" + plan, "+++ new/" + plan, "@@ -1,8 +1,8 @@", "-from = \"1-26\"\n", "+  from   = \"1-26\"\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("fmt -diff output lacks %q:\n%s", want, out)
		}
	}
	if code != exitUnformatted {
		t.Errorf("fmt -check -diff: exit %d, want %d", code, exitUnformatted)
	}

	// Without -check the files are rewritten, and a second run is a no-op.
	if code, _, errOut := runCmd(t, "fmt", dir); code != 0 {
		t.Fatalf("fmt: exit %d: %s", code, errOut)
	}
	b, _ := os.ReadFile(plan)
	if diff := cmp.Diff(formatted, string(b)); diff != "" {
		t.Errorf("formatted file mismatch (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(other); string(b) != "x=1\n" {
		t.Error("fmt of a directory touched a file that is neither a plan nor a var file")
	}
	if code, out, _ := runCmd(t, "fmt", "-check", dir); code != 0 || out != "" {
		t.Errorf("fmt -check after fmt: exit %d, stdout %q; want 0 and nothing", code, out)
	}
}

func TestFmtSyntaxError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.mw.hcl")
	if err := os.WriteFile(bad, []byte("wave \"a\" {\n  namespaces = [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, "fmt", bad)
	if code != 1 || !strings.Contains(errOut, "Error: ") || !strings.Contains(errOut, "bad.mw.hcl line") {
		t.Errorf("fmt of a broken file: exit %d, stderr %q; want 1 and a located error", code, errOut)
	}
}

func TestFmtStdin(t *testing.T) {
	var out strings.Builder
	code := run(context.Background(), []string{"fmt", "-"}, streams{In: strings.NewReader(unformatted), Out: &out, Err: &out})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if diff := cmp.Diff(formatted, out.String()); diff != "" {
		t.Errorf("fmt - mismatch (-want +got):\n%s", diff)
	}
}

func TestUnifiedDiffHunks(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n"
	b := "1\nTWO\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\nFOURTEEN\n15\n"
	var out strings.Builder
	if err := writeUnifiedDiff(&out, "f", []byte(a), []byte(b)); err != nil {
		t.Fatal(err)
	}
	want := `--- old/f
+++ new/f
@@ -1,5 +1,5 @@
 1
-2
+TWO
 3
 4
 5
@@ -11,5 +11,5 @@
 11
 12
 13
-14
+FOURTEEN
 15
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("diff mismatch (-want +got):\n%s", diff)
	}
}

func TestUnifiedDiffNoFinalNewline(t *testing.T) {
	var out strings.Builder
	if err := writeUnifiedDiff(&out, "f", []byte("x=1"), []byte("x = 1")); err != nil {
		t.Fatal(err)
	}
	want := `--- old/f
+++ new/f
@@ -1,1 +1,1 @@
-x=1
\ No newline at end of file
+x = 1
\ No newline at end of file
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("diff mismatch (-want +got):\n%s", diff)
	}
}

// TestFmtDiffLargePlan is the crash of issue 14: a 30,000-line unformatted
// plan ran -diff out of memory in a table quadratic in the file's length.
func TestFmtDiffLargePlan(t *testing.T) {
	name := filepath.Join(t.TempDir(), "big.mw.hcl")
	var src strings.Builder
	src.WriteString(unformatted)
	for i := range 7_500 { // four lines each: 30,009 lines in all
		fmt.Fprintf(&src, "wave \"w%d\" {\nnamespaces=[\"ns-%d\"]\ntimeout =   \"10m\"\n}\n", i, i)
	}
	if err := os.WriteFile(name, []byte(src.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCmd(t, "fmt", "-check", "-diff", name)
	if code != exitUnformatted {
		t.Fatalf("fmt -check -diff: exit %d, want %d\nstderr: %s", code, exitUnformatted, errOut)
	}
	diff, ok := strings.CutPrefix(out, name+"\n")
	if !ok {
		t.Fatalf("fmt -check -diff does not name the file first:\n%.200s", out)
	}
	got, err := applyUnifiedDiff(src.String(), diff, name)
	if err != nil {
		t.Fatalf("fmt -diff printed no valid unified diff: %v", err)
	}
	if want, _, _ := format([]byte(src.String()), name); got != string(want) {
		t.Error("the diff applied to the plan is not the formatted plan")
	}
}

// applyUnifiedDiff applies a unified diff of one file to old and fails on
// anything a patch program would refuse: wrong headers, hunk counts that do
// not match their lines, context or removed lines that are not in old,
// hunks out of order.
func applyUnifiedDiff(old, diff, name string) (string, error) {
	lines := strings.SplitAfter(diff, "\n")
	if len(lines) < 3 || lines[0] != "--- old/"+name+"\n" || lines[1] != "+++ new/"+name+"\n" {
		return "", fmt.Errorf("headers are not --- old/%s and +++ new/%s", name, name)
	}
	oldLines := strings.SplitAfter(old, "\n")
	var out strings.Builder
	next := 0 // the first line of old not yet copied or replaced
	for i := 2; i < len(lines) && lines[i] != ""; {
		var aStart, aLen, bStart, bLen int
		if _, err := fmt.Sscanf(lines[i], "@@ -%d,%d +%d,%d @@\n", &aStart, &aLen, &bStart, &bLen); err != nil {
			return "", fmt.Errorf("line %d: hunk header %q: %v", i+1, lines[i], err)
		}
		if aLen > 0 {
			aStart-- // 1-based, except that an empty side names the line it follows
		}
		if aStart < next {
			return "", fmt.Errorf("line %d: hunk starts at old line %d, before the end of the last one", i+1, aStart+1)
		}
		for ; next < aStart; next++ {
			out.WriteString(oldLines[next])
		}
		for i++; i < len(lines) && (aLen > 0 || bLen > 0); i++ {
			l := lines[i]
			if i+1 < len(lines) && lines[i+1] == "\\ No newline at end of file\n" {
				l = strings.TrimSuffix(l, "\n")
				i++
			}
			if l == "" {
				return "", fmt.Errorf("hunk ends early, %d old and %d new lines missing", aLen, bLen)
			}
			kind, text := l[0], l[1:]
			if kind != '+' {
				if aLen--; next >= len(oldLines) || oldLines[next] != text {
					return "", fmt.Errorf("line %d: %q is not old line %d", i+1, l, next+1)
				}
				next++
			}
			if kind != '-' {
				bLen--
				out.WriteString(text)
			}
			if aLen < 0 || bLen < 0 || !strings.ContainsRune(" +-", rune(kind)) {
				return "", fmt.Errorf("line %d: %q does not fit its hunk", i+1, l)
			}
		}
	}
	for ; next < len(oldLines); next++ {
		out.WriteString(oldLines[next])
	}
	return out.String(), nil
}
