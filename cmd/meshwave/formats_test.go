package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/planfile"
	"github.com/meshwave/meshwave/states/statemgr"
)

// savedPlan writes a saved plan (with a correct content hash) of one
// namespace relabel, after edit, and returns its path.
func savedPlan(t *testing.T, edit func(*planfile.File)) string {
	t.Helper()
	p := &plan.Plan{FormatVersion: plan.FormatVersion, Flavor: plan.FlavorIstio, From: "1-26", To: "1-27"}
	p.AddPhase(plan.Phase{Kind: plan.PhaseWave, Wave: "canary"},
		[]plan.Step{{ID: "wave/canary/relabel/demo-a", Kind: plan.StepNamespaceRelabel, Action: plan.ActionUpdate,
			Wave: "canary", Object: &plan.ObjectRef{Kind: "Namespace", Name: "demo-a"}}})
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	f := &planfile.File{Cluster: "https://127.0.0.1:6443", Plan: p}
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
		"newer plan format": {func(f *planfile.File) { f.Plan.FormatVersion = "2.0" }, `plan format version "2.0" is not supported (this meshwave reads ` + plan.FormatVersion + ")"},
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

// A saved plan applied against another cluster is refused with one line
// that names both, before any request to the cluster (the API server here
// never answers) and before the state is locked or read.
func TestApplySavedPlanToOtherCluster(t *testing.T) {
	kubeconfig := silentAPIServer(t)
	path := savedPlan(t, func(f *planfile.File) { f.Cluster = "https://prod.example:6443" })
	before, _ := os.ReadFile(path)
	dir := t.TempDir()
	statePath := filepath.Join(dir, "meshwave.state.json")
	code, stderr, took := runWithin(t, context.Background(), 10*time.Second,
		"apply", path, "-kubeconfig", kubeconfig, "-state", statePath, "-request-timeout", "5s")
	host := serverOf(t, kubeconfig)
	want := "Error: this plan was made for cluster https://prod.example:6443, you are talking to " + host +
		`; select that cluster (-kubeconfig, -context) or run "meshwave plan" against this one` + "\n"
	if code != 1 || stderr != want {
		t.Errorf("apply: exit %d, stderr %q\nwant exit 1, stderr %q", code, stderr, want)
	}
	if took > 4*time.Second {
		t.Errorf("apply took %s: it waited for the cluster", took)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("apply changed the saved plan")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("apply left files beside the state: %v", entries)
	}
}

func serverOf(t *testing.T, kubeconfig string) string {
	t.Helper()
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "server: ")
	server, _, _ := strings.Cut(rest, "\n")
	return server
}

// The state is read under its lock, never before it (as Terraform does): a
// state read before the lock may be replaced by the holder before the lock
// is ours, and a saved plan would be checked against a state that is gone.
// While another meshwave holds the lock, apply and rollback report the
// holder and do not read the state at all: here a state they could not use
// would otherwise be the error.
func TestStateReadOnlyUnderLock(t *testing.T) {
	for _, args := range [][]string{{"apply"}, {"rollback", "-auto-approve"}} {
		t.Run(args[0], func(t *testing.T) {
			dir := t.TempDir()
			statePath := filepath.Join(dir, "meshwave.state.json")
			if err := os.WriteFile(statePath, []byte("not a state\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			holder := statemgr.NewFileStore(statePath)
			if _, err := holder.Lock("apply"); err != nil {
				t.Fatal(err)
			}
			defer holder.Unlock()
			kubeconfig := silentAPIServer(t)
			cmdArgs := append(args, "-state", statePath, "-kubeconfig", kubeconfig, "-request-timeout", "2s")
			if args[0] == "apply" {
				cmdArgs = append(cmdArgs, savedPlan(t, func(f *planfile.File) { f.Cluster = serverOf(t, kubeconfig) }))
			}
			code, _, errOut := runCmd(t, cmdArgs...)
			if code != 1 || !strings.HasPrefix(errOut, "Error: state file "+statePath+" is locked by ") {
				t.Errorf("%s: exit %d, stderr %q; want exit 1 and the lock error", args[0], code, errOut)
			}
		})
	}
}

// Text read from a file never reaches the terminal as control characters:
// an ESC sequence in a saved plan, a state file or a plan source is shown
// escaped, as \x1b.
func TestNoTerminalInjection(t *testing.T) {
	const esc = "\x1b]0;owned\x07\x1b[2J"
	const shown = `\x1b]0;owned\x07\x1b[2J`
	lineage := "0f8fad5b-d9cb-469f-a165-70867728950e"
	tests := map[string]struct {
		files map[string]string // name -> content, in a fresh directory
		args  func(dir string) []string
	}{
		"show a saved plan": {args: func(dir string) []string {
			return []string{"show", savedPlan(t, func(f *planfile.File) {
				f.Plan.Steps[0].Wave = "canary" + esc
				f.Plan.Steps[0].Object.Name = "demo-a" + esc
				f.Plan.Checks = []plan.Check{{Code: "MW001", Severity: plan.SeverityWarning, Message: "m" + esc, Hint: "h" + esc}}
			})}
		}},
		"show -format=markdown": {args: func(dir string) []string {
			return []string{"show", "-format=markdown", savedPlan(t, func(f *planfile.File) { f.Plan.From = "1-26" + esc })}
		}},
		"status of a state": {
			files: map[string]string{"meshwave.state.json": `{"format_version": "1.1", "lineage": "` + lineage + `", "serial": 3, "plan_hash": "",
  "steps": [{"id": "wave/canary` + jsonEsc(esc) + `/verify", "kind": "wave-verify", "status": "failed", "error": "pod ` + jsonEsc(esc) + `", "attempts": 1}],
  "approvals": [], "manual_follow_up": []}`},
			args: func(dir string) []string {
				return []string{"status", "-state", filepath.Join(dir, "meshwave.state.json"), "-f", filepath.Join(dir, "missing.mw.hcl")}
			}},
		"diagnostics of a plan source": {
			files: map[string]string{"upgrade.mw.hcl": "# note " + esc + "\nupgrade {\n  from = \"1-26\" # " + esc + "\n  to = 3" + esc + "\n}\nwave \"canary" + esc + "\" {\n  namespaces = [\"a\"]\n  bogus = 1\n}\n"},
			args:  func(dir string) []string { return []string{"validate", "-f", filepath.Join(dir, "upgrade.mw.hcl")} }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, out, errOut := runCmd(t, tc.args(dir)...)
			for stream, text := range map[string]string{"stdout": out, "stderr": errOut} {
				if strings.ContainsAny(text, "\x1b\x07") {
					t.Errorf("%s carries raw control characters:\n%q", stream, text)
				}
			}
			if !strings.Contains(out+errOut, shown) {
				t.Errorf("the escaped text %s is not shown:\nstdout %q\nstderr %q", shown, out, errOut)
			}
		})
	}
}

// jsonEsc writes s's control characters as JSON escapes.
func jsonEsc(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// A kubeconfig that defines no cluster gets a message that says which one,
// not client-go's advice to set KUBERNETES_MASTER.
func TestEmptyKubeconfig(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty-kubeconfig")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "upgrade.mw.hcl")
	src, err := os.ReadFile("../../examples/istio-revisions/upgrade.mw.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plan, src, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		env  string
		args []string
		want string
	}{
		"-kubeconfig of an empty file": {args: []string{"-kubeconfig", empty},
			want: "Error: load kubeconfig: the kubeconfig " + empty + " defines no cluster; pass -kubeconfig FILE, or set KUBECONFIG to the kubeconfig of the cluster to upgrade\n"},
		"KUBECONFIG of an empty file": {env: empty,
			want: "Error: load kubeconfig: the kubeconfig files in KUBECONFIG (" + empty + ") define no cluster; pass -kubeconfig FILE, or set KUBECONFIG to the kubeconfig of the cluster to upgrade\n"},
	}
	// client-go reads the home kubeconfig chosen when it was loaded; the
	// case runs only where that file does not exist.
	if home, err := os.UserHomeDir(); err == nil {
		if _, err := os.Stat(filepath.Join(home, ".kube", "config")); os.IsNotExist(err) {
			tests["KUBECONFIG empty, no ~/.kube/config"] = struct {
				env  string
				args []string
				want string
			}{want: "Error: load kubeconfig: KUBECONFIG is empty and " + filepath.Join(home, ".kube", "config") +
				" does not exist or defines no cluster; pass -kubeconfig FILE, or set KUBECONFIG to the kubeconfig of the cluster to upgrade\n"}
		}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			code, _, errOut := runCmd(t, append([]string{"plan", "-f", plan}, tc.args...)...)
			if code != 1 || errOut != tc.want {
				t.Errorf("plan: exit %d, stderr %q\nwant exit 1, stderr %q", code, errOut, tc.want)
			}
		})
	}
}

// Flags that contradict each other, or name what is not there, are errors
// that say so, before anything is read or changed.
func TestContradictoryFlags(t *testing.T) {
	kubeconfig := silentAPIServer(t)
	saved := savedPlan(t, func(f *planfile.File) { f.Cluster = serverOf(t, kubeconfig) })
	dir := t.TempDir()
	state := filepath.Join(dir, "meshwave.state.json")
	tests := map[string]struct {
		args []string
		want string
	}{
		"plan -json -format=markdown": {[]string{"plan", "-json", "-format=markdown"},
			"Error: -json and -format=markdown ask for two formats: use one of them\n"},
		"plan -json -format=human": {[]string{"plan", "-json", "-format=human"},
			"Error: -json and -format=human ask for two formats: use one of them\n"},
		"show -json -format=markdown": {[]string{"show", "-json", "-format=markdown", saved},
			"Error: -json and -format=markdown ask for two formats: use one of them\n"},
		"apply -approve of no wave": {[]string{"apply", saved, "-approve", "canry", "-kubeconfig", kubeconfig, "-state", state},
			"Error: -approve canry: the plan has no wave \"canry\" (its waves: canary)\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runWithinOut(t, tc.args...)
			if code != 1 || out != "" || errOut != tc.want {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit 1, no output, stderr %q", code, out, errOut, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files left beside the state: %v", entries)
			}
		})
	}
}

// runWithinOut is runCmd bounded in time: a command that should refuse at
// once must not wait for the (silent) cluster.
func runWithinOut(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCmd(t, args...)
		done <- result{code, out, errOut}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("meshwave %s still running after 10s", strings.Join(args, " "))
		return 0, "", ""
	}
}
