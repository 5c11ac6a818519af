package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/states/statemgr"
)

// The flags override the plan's state block; a flag of the other backend
// is an error, not ignored.
func TestStateFlagsResolve(t *testing.T) {
	kubeBlock := config.StateConfig{Backend: config.StateKubernetes, Namespace: "meshwave", Name: "up"}
	cases := map[string]struct {
		flags   stateFlags
		block   *config.StateConfig // nil: no plan read
		want    config.StateConfig
		wantErr string
	}{
		"nothing":                 {want: config.StateConfig{Backend: config.StateLocal}},
		"block":                   {block: &kubeBlock, want: kubeBlock},
		"flag name over block":    {flags: stateFlags{name: "other"}, block: &kubeBlock, want: config.StateConfig{Backend: config.StateKubernetes, Namespace: "meshwave", Name: "other"}},
		"flags alone":             {flags: stateFlags{backend: "kubernetes", namespace: "ns", name: "n"}, want: config.StateConfig{Backend: config.StateKubernetes, Namespace: "ns", Name: "n"}},
		"local flag over block":   {flags: stateFlags{backend: "local", path: "s.json"}, block: &kubeBlock, want: config.StateConfig{Backend: config.StateLocal, Path: "s.json"}},
		"local path in plan":      {block: &config.StateConfig{Backend: config.StateLocal, Path: "s.json"}, want: config.StateConfig{Backend: config.StateLocal, Path: filepath.Join("plans", "s.json")}},
		"-state with kubernetes":  {flags: stateFlags{path: "s.json"}, block: &kubeBlock, wantErr: "-state names a state file"},
		"kubernetes without name": {flags: stateFlags{backend: "kubernetes", namespace: "ns"}, wantErr: "needs a namespace and a name"},
		"namespace for local":     {flags: stateFlags{namespace: "ns"}, wantErr: "are for the kubernetes state backend"},
		"unknown backend":         {flags: stateFlags{backend: "s3"}, wantErr: `-state-backend "s3"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var cfg *config.Config
			if tc.block != nil {
				cfg = &config.Config{State: *tc.block}
			}
			got, err := tc.flags.resolve(cfg, &planFlags{files: []string{"plans/upgrade.mw.hcl"}})
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
			if cfg != nil && !cmp.Equal(cfg.State, got) {
				t.Errorf("cfg.State = %+v, want it set to %+v for the RBAC preflight", cfg.State, got)
			}
		})
	}
}

// state push writes a state file to the store, refusing what CheckPush
// refuses; state pull prints it back.
func TestStatePushAndPull(t *testing.T) {
	dir := t.TempDir()
	stored := filepath.Join(dir, "stored.json")
	file := filepath.Join(dir, "local.json")
	st := states.New()
	st.Serial = 7
	st.PlanHash = "abc"
	writeState := func(path string, s *states.State) {
		var b bytes.Buffer
		if err := statefile.Write(&b, s); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeState(file, st)

	code, out, errOut := runCmd(t, "state", "push", "-state", stored, file)
	if code != 0 || !strings.Contains(out, "now serial 8") {
		t.Fatalf("push to an empty store: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, "state", "pull", "-state", stored)
	if code != 0 {
		t.Fatalf("pull: exit %d\n%s", code, errOut)
	}
	pulled, err := statefile.Read(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if pulled.Lineage != st.Lineage || pulled.Serial != 8 || pulled.PlanHash != "abc" {
		t.Errorf("pulled lineage %s serial %d hash %q, want %s 8 abc", pulled.Lineage, pulled.Serial, pulled.PlanHash, st.Lineage)
	}

	older := *st
	older.Serial = 3
	writeState(file, &older)
	if code, _, errOut := runCmd(t, "state", "push", "-state", stored, file); code != 1 || !strings.Contains(errOut, "older than the stored serial 8") {
		t.Errorf("push of an older serial: exit %d %q", code, errOut)
	}
	writeState(file, states.New())
	if code, _, errOut := runCmd(t, "state", "push", "-state", stored, file); code != 1 || !strings.Contains(errOut, "belongs to lineage "+st.Lineage) {
		t.Errorf("push of another lineage: exit %d %q", code, errOut)
	}
	if code, out, _ := runCmd(t, "state", "push", "-state", stored, stored); code != 0 || !strings.Contains(out, "nothing pushed") {
		t.Errorf("push of the stored state itself: exit %d %q", code, out)
	}

	holder := statemgr.NewFileStore(stored)
	if _, err := holder.Lock("apply"); err != nil {
		t.Fatal(err)
	}
	defer holder.Unlock()
	writeState(file, &states.State{Lineage: st.Lineage, Serial: 20})
	if code, _, errOut := runCmd(t, "state", "push", "-state", stored, file); code != 1 || !strings.Contains(errOut, "is locked by") {
		t.Errorf("push while locked: exit %d %q", code, errOut)
	}
}
