package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/plan/planfile"
	"github.com/meshwave/meshwave/states/statemgr"
)

// Apply that stopped before the uninstall for the manual follow-up exits 1,
// as at an approval gate: the run is not finished, nothing failed, and the
// message says what still uses the revision and how to continue.
func TestApplyResultFollowUpRequired(t *testing.T) {
	var stderr bytes.Buffer
	err := applyResult(context.Background(), streams{Err: &stderr},
		&executor.FollowUpRequiredError{StepID: "finalize/uninstall/1-30", Revision: "1-30", Users: []string{"pod demo-b/cache-0"}})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("applyResult = %v, want exit status 1", err)
	}
	for _, want := range []string{"uninstall of 1-30 waits for the manual follow-up", "pod demo-b/cache-0", "The state is saved", "run apply again"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not say %q", stderr.String(), want)
		}
	}
}

// apply FILE takes the state backend the plan recorded; -state-* flags may
// repeat it but not name another one. A plan saved without one (format
// 1.0) takes the flags alone, as before.
func TestStateForSavedPlan(t *testing.T) {
	kubeRec := planfile.StateBackend{Kind: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"}
	kubeState := config.StateConfig{Backend: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"}
	localRec := planfile.StateBackend{Kind: config.StateLocal, Path: "upgrade/meshwave.state.json"}
	localState := config.StateConfig{Backend: config.StateLocal, Path: "upgrade/meshwave.state.json"}
	tests := map[string]struct {
		recorded planfile.StateBackend
		flags    stateFlags
		want     config.StateConfig
		wantErr  string
	}{
		"kubernetes, no flags":      {recorded: kubeRec, want: kubeState},
		"local, no flags":           {recorded: localRec, want: localState},
		"the same flags":            {recorded: kubeRec, flags: stateFlags{backend: "kubernetes", namespace: "meshwave", name: "upgrade"}, want: kubeState},
		"a flag repeating a part":   {recorded: kubeRec, flags: stateFlags{backend: "kubernetes"}, want: kubeState},
		"the same file":             {recorded: localRec, flags: stateFlags{path: "./upgrade/meshwave.state.json"}, want: config.StateConfig{Backend: config.StateLocal, Path: "./upgrade/meshwave.state.json"}},
		"not recorded, no flags":    {want: config.StateConfig{Backend: config.StateLocal}},
		"not recorded, flags alone": {flags: stateFlags{backend: "kubernetes", namespace: "ns", name: "n"}, want: config.StateConfig{Backend: config.StateKubernetes, Namespace: "ns", Name: "n"}},
		"another secret": {recorded: kubeRec, flags: stateFlags{name: "other"},
			wantErr: "this plan was made against the kubernetes state backend, Secret meshwave/upgrade, but the -state-* flags name the kubernetes state backend, Secret meshwave/other; apply it without the -state-* flags"},
		"the local backend instead": {recorded: kubeRec, flags: stateFlags{backend: "local"},
			wantErr: "this plan was made against the kubernetes state backend, Secret meshwave/upgrade, but the -state-* flags name the local state file meshwave.state.json"},
		"a state file instead": {recorded: kubeRec, flags: stateFlags{path: "s.json"},
			wantErr: "this plan was made against the kubernetes state backend, Secret meshwave/upgrade: -state names a state file, but the state backend is kubernetes"},
		"another file": {recorded: localRec, flags: stateFlags{path: "meshwave.state.json"},
			wantErr: "this plan was made against the local state file upgrade/meshwave.state.json, but the -state-* flags name the local state file meshwave.state.json"},
		"the kubernetes backend instead": {recorded: localRec, flags: stateFlags{backend: "kubernetes", namespace: "meshwave", name: "upgrade"},
			wantErr: "this plan was made against the local state file upgrade/meshwave.state.json, but the -state-* flags name the kubernetes state backend, Secret meshwave/upgrade"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			saved := &planfile.File{Backend: tc.recorded}
			got, err := tc.flags.forSavedPlan(saved, &planFlags{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
}

// apply FILE opens the state the plan recorded, not the default file: here
// the recorded state file is locked by another meshwave, and apply, given
// no -state flag, names that file's holder. With a -state flag naming
// another file it is refused before any state is opened.
func TestApplySavedPlanUsesRecordedBackend(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, "elsewhere", "meshwave.state.json")
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		t.Fatal(err)
	}
	holder := statemgr.NewFileStore(statePath)
	if _, err := holder.Lock("apply"); err != nil {
		t.Fatal(err)
	}
	defer holder.Unlock()
	kubeconfig := silentAPIServer(t)
	path := savedPlan(t, func(f *planfile.File) {
		f.Cluster = serverOf(t, kubeconfig)
		f.Backend = planfile.StateBackend{Kind: config.StateLocal, Path: statePath}
	})

	code, _, errOut := runCmd(t, "apply", path, "-kubeconfig", kubeconfig, "-request-timeout", "2s")
	if code != 1 || !strings.HasPrefix(errOut, "Error: state file "+statePath+" is locked by ") {
		t.Errorf("apply: exit %d, stderr %q; want exit 1 and the lock of %s", code, errOut, statePath)
	}

	other := filepath.Join(dir, "other.json")
	code, _, errOut = runCmd(t, "apply", path, "-kubeconfig", kubeconfig, "-request-timeout", "2s", "-state", other)
	want := "Error: this plan was made against the local state file " + statePath + ", but the -state-* flags name the local state file " + other +
		`; apply it without the -state-* flags, or run "meshwave plan -out" against that state` + "\n"
	if code != 1 || errOut != want {
		t.Errorf("apply -state %s: exit %d, stderr %q\nwant exit 1, stderr %q", other, code, errOut, want)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("apply created %s: %v", other, err)
	}
}

// plan records the state backend it resolved in the saved plan: the local
// file as it named it, or the kubernetes Secret.
func TestSavedBackend(t *testing.T) {
	pf := &planFlags{files: []string{filepath.Join("upgrade", "upgrade.mw.hcl")}}
	tests := map[string]struct {
		st   config.StateConfig
		want planfile.StateBackend
	}{
		"default file": {config.StateConfig{Backend: config.StateLocal},
			planfile.StateBackend{Kind: config.StateLocal, Path: filepath.Join("upgrade", defaultStateFile)}},
		"a file": {config.StateConfig{Backend: config.StateLocal, Path: "/srv/s.json"},
			planfile.StateBackend{Kind: config.StateLocal, Path: "/srv/s.json"}},
		"kubernetes": {config.StateConfig{Backend: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"},
			planfile.StateBackend{Kind: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, savedBackend(tc.st, pf)); diff != "" {
				t.Errorf("savedBackend (-want +got):\n%s", diff)
			}
		})
	}
}
