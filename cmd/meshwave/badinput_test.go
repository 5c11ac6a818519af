package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/plan/planfile"
	"github.com/meshwave/meshwave/states/statemgr"
)

// badInput is one hostile input and how meshwave is run on it.
type badInput struct {
	class string
	// setup puts the input in dir and returns the arguments to run
	// meshwave with and the input's path.
	setup func(t *testing.T, dir string) (args []string, input string)
}

const corpusLineage = "0f8fad5b-d9cb-469f-a165-70867728950e"

// located says whether stderr points at a line of a plan or var file.
func located(stderr string) bool { return strings.Contains(stderr, ".hcl line ") }

// clearMessage says whether stderr is the message a user of class must get
// for input: for plans and var files a diagnostic located at a line, or,
// for a file that cannot be read at all, one that names it; for the other
// files an error that names the file and why it cannot be used.
func clearMessage(class, input, stderr string) bool {
	switch class {
	case "plan", "vars":
		return located(stderr) || strings.Contains(stderr, "Cannot read "+input+": ") ||
			strings.Contains(stderr, "Error: Missing upgrade block\n")
	case "state":
		return strings.HasPrefix(stderr, "Error: state file "+input+" cannot be used") ||
			strings.HasPrefix(stderr, "Error: read state: ") && strings.Contains(stderr, input)
	case "savedplan":
		return strings.HasPrefix(stderr, "Error: unusable saved plan "+input+": ") ||
			strings.HasPrefix(stderr, "Error: read saved plan: ") && strings.Contains(stderr, input)
	case "lock":
		return strings.HasPrefix(stderr, "Error: lock state: ") || strings.Contains(stderr, " is locked by ")
	}
	return false
}

// The bad-input corpus: every hostile plan, var file, state file, lock and
// saved plan in testdata/badinput (and those only a test can make: FIFOs,
// symlinks, huge and deeply nested files, held locks) is run through the
// built binary. Each must end with exit code 1 and a clear message, without
// a panic, a Go fatal error or a hang, with no raw control character on the
// terminal, and leave every file it was given byte-identical.
//
// With MESHWAVE_BADINPUT_SUMMARY=FILE the counts are written to FILE as JSON;
// with MESHWAVE_BADINPUT_REPORT=docs/reliability.md (make test-badinput
// REPORT=1) they replace that page's bad-input table.
func TestBadInputCorpus(t *testing.T) {
	bin := buildMeshwave(t)
	cases := badInputCases(t)
	type outcome struct {
		Cases     int `json:"cases"`
		ExitOK    int `json:"exit_code_1"`
		MessageOK int `json:"clear_message"`
		// Located counts plan and var-file cases whose message points at
		// a line.
		Located int `json:"located,omitempty"`
	}
	var summary struct {
		Cases        int                 `json:"cases"`
		ByClass      map[string]*outcome `json:"by_class"`
		Panics       int                 `json:"panics"`
		FatalErrors  int                 `json:"fatal_errors"`
		Hangs        int                 `json:"hangs"`
		FilesChanged int                 `json:"files_changed"`
		RawControl   int                 `json:"raw_control_characters"`
		Failures     []string            `json:"failures"`
	}
	summary.ByClass = map[string]*outcome{}
	summary.Failures = []string{}
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := cases[name]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			args, input := tc.setup(t, dir)
			before := snapshot(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "no-kubeconfig"), "NO_COLOR=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			out := stdout.String() + stderr.String()

			o := summary.ByClass[tc.class]
			if o == nil {
				o = &outcome{}
				summary.ByClass[tc.class] = o
			}
			summary.Cases++
			o.Cases++
			fail := func(format string, a ...any) {
				summary.Failures = append(summary.Failures, name+": "+fmt.Sprintf(format, a...))
				t.Errorf(format, a...)
			}
			switch {
			case ctx.Err() != nil:
				summary.Hangs++
				fail("still running after 30s")
			case strings.Contains(out, "panic:") || strings.Contains(out, "goroutine "):
				summary.Panics++
				fail("panicked:\n%s", out)
			case strings.Contains(out, "fatal error:"):
				summary.FatalErrors++
				fail("Go fatal error:\n%s", out)
			}
			if code == 1 {
				o.ExitOK++
			} else {
				fail("exit %d (%v), want 1\nstderr: %s", code, err, stderr.String())
			}
			if (tc.class == "plan" || tc.class == "vars") && located(stderr.String()) {
				o.Located++
			}
			if clearMessage(tc.class, input, stderr.String()) {
				o.MessageOK++
			} else {
				fail("no clear message for %s:\n%s", input, stderr.String())
			}
			if strings.ContainsAny(out, "\x1b\x07\x9b") {
				summary.RawControl++
				fail("raw control characters on the terminal:\n%q", out)
			}
			if after := snapshot(t, dir); !equalSnapshots(before, after) {
				summary.FilesChanged++
				fail("files changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	t.Logf("%d bad inputs: %d panics, %d fatal errors, %d hangs, %d with files changed", summary.Cases,
		summary.Panics, summary.FatalErrors, summary.Hangs, summary.FilesChanged)
	if path := os.Getenv("MESHWAVE_BADINPUT_SUMMARY"); path != "" {
		b, _ := json.MarshalIndent(summary, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
	if path := os.Getenv("MESHWAVE_BADINPUT_REPORT"); path != "" {
		var table strings.Builder
		fmt.Fprintf(&table, "Run: %d bad inputs, %d panics, %d Go fatal errors, %d hangs (30 s limit each), %d with a file changed, %d with raw control characters on the terminal.\n\n",
			summary.Cases, summary.Panics, summary.FatalErrors, summary.Hangs, summary.FilesChanged, summary.RawControl)
		table.WriteString("| Input | Cases | Exit code 1 | Clear message | Message names the line |\n|---|---:|---:|---:|---:|\n")
		classes := make([]string, 0, len(summary.ByClass))
		for c := range summary.ByClass {
			classes = append(classes, c)
		}
		sort.Strings(classes)
		for _, c := range classes {
			o := summary.ByClass[c]
			line := "—"
			if c == "plan" || c == "vars" {
				line = fmt.Sprint(o.Located)
			}
			fmt.Fprintf(&table, "| %s | %d | %d | %d | %s |\n", c, o.Cases, o.ExitOK, o.MessageOK, line)
		}
		if err := replaceSection(path, "<!-- BEGIN bad-input corpus table", "<!-- END bad-input corpus table -->", table.String()); err != nil {
			t.Error(err)
		}
	}
}

// replaceSection rewrites what lies between the line that starts with begin
// and the line end in the file at path.
func replaceSection(path, begin, end, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q ... %q section", path, begin, end)
	}
	i += strings.IndexByte(s[i:], '\n') + 1
	return os.WriteFile(path, []byte(s[:i]+"\n"+body+"\n"+s[j:]), 0o644)
}

func buildMeshwave(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meshwave")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// snapshot records every entry under dir: its type, and the SHA-256 of a
// regular file's content or a link's target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	s := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			s[rel] = "link " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			s[rel] = fmt.Sprintf("file %x", sha256.Sum256(b))
		default:
			s[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func equalSnapshots(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// badInputCases are the corpus files, each run the way a user would meet
// it, and the inputs only a test can make.
func badInputCases(t *testing.T) map[string]badInput {
	t.Helper()
	cases := map[string]badInput{}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	variables := abs("../../examples/variables/variables.mw.hcl")
	variablesPlan := abs("../../examples/variables/upgrade.mw.hcl")
	copyTo := func(t *testing.T, src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Each class: how a file of it is put in place and run.
	run := map[string]func(dir, input string) []string{
		"plan": func(dir, input string) []string { return []string{"validate", "-f", input} },
		"vars": func(dir, input string) []string {
			return []string{"validate", "-f", variablesPlan, "-f", variables, "-var-file", input}
		},
		"state": func(dir, input string) []string {
			return []string{"status", "-state", input, "-f", variablesPlan, "-f", variables}
		},
		"savedplan": func(dir, input string) []string { return []string{"show", input} },
	}
	names := map[string]string{"plan": "upgrade.mw.hcl", "vars": "values.mwvars.hcl", "state": "meshwave.state.json", "savedplan": "upgrade.plan"}
	for class := range run {
		files, err := filepath.Glob(filepath.Join("testdata", "badinput", class, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s cases: %v", class, err)
		}
		for _, f := range files {
			base := strings.SplitN(filepath.Base(f), ".", 2)[0]
			cases[class+"/"+base] = badInput{class: class, setup: func(t *testing.T, dir string) ([]string, string) {
				input := filepath.Join(dir, names[class])
				copyTo(t, abs(f), input)
				return run[class](dir, input), input
			}}
		}
	}

	// What no file in testdata can be.
	special := func(class, name string, make func(t *testing.T, path string)) {
		cases[class+"/"+name] = badInput{class: class, setup: func(t *testing.T, dir string) ([]string, string) {
			input := filepath.Join(dir, names[class])
			make(t, input)
			return run[class](dir, input), input
		}}
	}
	fifo := func(t *testing.T, path string) {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dangling := func(t *testing.T, path string) {
		if err := os.Symlink(filepath.Join(filepath.Dir(path), "nowhere"), path); err != nil {
			t.Fatal(err)
		}
	}
	sparse := func(size int64) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
		}
	}
	directory := func(t *testing.T, path string) {
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(content string) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, class := range []string{"plan", "vars", "state", "savedplan"} {
		special(class, "fifo", fifo)
		special(class, "dangling-symlink", dangling)
		special(class, "directory", directory)
	}
	special("plan", "huge-file", sparse(config.MaxFileSize+1))
	special("state", "huge-file", sparse(statemgr.MaxStateSize+1))
	special("savedplan", "huge-file", sparse(planfile.MaxSize+1))
	special("plan", "nested-parentheses", write("upgrade {\n  from = "+strings.Repeat("(", 70000)+"\"1-26\""+strings.Repeat(")", 70000)+"\n}\n"))
	special("plan", "nested-lists", write("upgrade {\n  from = "+strings.Repeat("[", 70000)+strings.Repeat("]", 70000)+"\n}\n"))
	special("plan", "nested-objects", write("locals {\n  x = "+strings.Repeat("{a = ", 50000)+"1"+strings.Repeat("}", 50000)+"\n}\n"))
	special("plan", "long-line", write("upgrade {\n  from = \""+strings.Repeat("a", 1<<20)+"\"\n  to = \"1-27\"\n  flavor = \"istio\"\n}\n"))
	special("vars", "nested-lists", write("canary_namespaces = "+strings.Repeat("[", 70000)+strings.Repeat("]", 70000)+"\n"))

	// Saved plans with a correct content hash whose content this build
	// does not know.
	hashed := func(name string, edit func(*plan.Plan)) {
		special("savedplan", name, func(t *testing.T, path string) {
			p := &plan.Plan{FormatVersion: plan.FormatVersion, Flavor: plan.FlavorIstio, From: "1-26", To: "1-27",
				Steps: []plan.Step{{ID: "wave/canary/relabel/demo-a", Kind: plan.StepNamespaceRelabel, Action: plan.ActionUpdate,
					Wave: "canary", Object: &plan.ObjectRef{Kind: "Namespace", Name: "demo-a"}}}}
			edit(p)
			if err := planfile.Write(path, &planfile.File{Cluster: "https://127.0.0.1:6443", Plan: p}); err != nil {
				t.Fatal(err)
			}
		})
	}
	hashed("hashed-unknown-step-kind", func(p *plan.Plan) { p.Steps[0].Kind = "teleport" })
	hashed("hashed-newer-plan-format", func(p *plan.Plan) { p.FormatVersion = "1.9" })
	hashed("hashed-signed-plan-format", func(p *plan.Plan) { p.FormatVersion = "+1.1" })
	hashed("hashed-unknown-action", func(p *plan.Plan) { p.Steps[0].Action = "explode" })
	hashed("hashed-relabel-without-object", func(p *plan.Plan) { p.Steps[0].Object = nil })
	hashed("hashed-gate-step-without-gate", func(p *plan.Plan) { p.Steps[0].Kind = plan.StepGate })
	hashed("hashed-duplicate-step", func(p *plan.Plan) { p.Steps = append(p.Steps, p.Steps[0]) })
	hashed("hashed-unknown-flavor", func(p *plan.Plan) { p.Flavor = "linkerd" })
	hashed("hashed-unknown-severity", func(p *plan.Plan) {
		p.Checks = []plan.Check{{Code: "MW001\x1b[2J", Severity: "fatal", Message: "m"}}
	})

	// Locks: a state that is fine, behind a lock path meshwave must not use.
	lock := func(name string, make func(t *testing.T, lockPath string)) {
		cases["lock/"+name] = badInput{class: "lock", setup: func(t *testing.T, dir string) ([]string, string) {
			state := filepath.Join(dir, "meshwave.state.json")
			write(`{"format_version": "1.1", "lineage": "`+corpusLineage+`", "serial": 3, "plan_hash": "", "steps": [], "approvals": [], "manual_follow_up": []}`+"\n")(t, state)
			make(t, state+".lock")
			return []string{"rollback", "-auto-approve", "-state", state, "-f", variablesPlan, "-f", variables}, state + ".lock"
		}}
	}
	lock("symlink-to-a-file", func(t *testing.T, p string) {
		target := filepath.Join(filepath.Dir(p), "precious.txt")
		write("do not overwrite\n")(t, target)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	})
	lock("dangling-symlink", dangling)
	lock("fifo", fifo)
	lock("directory", directory)
	lock("held-by-another-meshwave", func(t *testing.T, p string) {
		holder := statemgr.NewFileStore(strings.TrimSuffix(p, ".lock"))
		if _, err := holder.Lock("apply"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := holder.Unlock(); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Error(err)
			}
		})
	})
	return cases
}
