package planfile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/states"
)

func sample() *File {
	p := &plan.Plan{FormatVersion: plan.FormatVersion, Flavor: plan.FlavorBackyards, From: "a.x", To: "b.x"}
	p.AddPhase(plan.Phase{Kind: plan.PhaseWave, Wave: "w"},
		[]plan.Step{{ID: "wave/w/relabel/demo-a", Kind: plan.StepNamespaceRelabel, Action: plan.ActionUpdate, Wave: "w", Object: &plan.ObjectRef{Kind: "Namespace", Name: "demo-a"}}})
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	return &File{
		Cluster: "https://127.0.0.1:6443",
		State:   states.Ref{Lineage: "abc", Serial: 3},
		Backend: StateBackend{Kind: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"},
		Objects: []plan.ObjectVersion{{ObjectRef: plan.ObjectRef{Kind: "Namespace", Name: "demo-a"}, UID: "u1", ResourceVersion: "10"}},
		Plan:    p,
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "up.plan")
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(), got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// The state backend a plan was computed against is kept, for either kind.
func TestWriteReadKeepsStateBackend(t *testing.T) {
	tests := map[string]StateBackend{
		"kubernetes":   {Kind: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"},
		"local":        {Kind: config.StateLocal, Path: "upgrade/meshwave.state.json"},
		"local, abs":   {Kind: config.StateLocal, Path: "/srv/mesh/meshwave.state.json"},
		"not recorded": {},
	}
	for name, backend := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "up.plan")
			want := sample()
			want.Backend = backend
			if err := Write(path, want); err != nil {
				t.Fatal(err)
			}
			body, _ := os.ReadFile(path)
			if !strings.Contains(string(body), `"format_version": "`+FormatVersion+`"`) {
				t.Errorf("written without format version %s:\n%s", FormatVersion, body)
			}
			got, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// A plan saved in format 1 (before minor versions, without state_backend)
// by an earlier meshwave is read as it was: its backend is not recorded.
func TestReadFormat1WithoutStateBackend(t *testing.T) {
	got, err := Read(filepath.Join("testdata", "format-1.plan"))
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	want.Backend = StateBackend{}
	// That meshwave wrote its plan in JSON format 1.4 (before the install).
	want.Plan.FormatVersion = "1.4"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read (-want +got):\n%s", diff)
	}
	if got.Backend.Recorded() {
		t.Errorf("Backend.Recorded() = true for a plan that records none")
	}
}

func TestReadRefusesDamagedFilesAndLeavesThem(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.plan")
	if err := Write(good, sample()); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(good)
	// A plan an older meshwave saved, hash and all: format 1.1, no phases.
	older := sample()
	older.Plan.FormatVersion, older.Plan.Phases, older.Plan.RollbackOrder = "1.1", nil, nil
	if err := Write(filepath.Join(dir, "older.plan"), older); err != nil {
		t.Fatal(err)
	}
	olderBody, _ := os.ReadFile(filepath.Join(dir, "older.plan"))
	tests := map[string]struct {
		content string
		want    string
	}{
		"edited":         {strings.Replace(string(body), `"b.x"`, `"c.x"`, 1), "content hash mismatch"},
		"not json":       {"hello", "not a meshwave saved plan"},
		"foreign json":   {`{"version": 4, "terraform_version": "1.9.0"}`, "not a meshwave saved plan"},
		"future version": {strings.Replace(string(body), `"format_version": "1.1"`, `"format_version": "9"`, 1), `format version "9"`},
		"future major":   {rehash(t, strings.Replace(string(body), `"format_version": "1.1"`, `"format_version": "2.0"`, 1)), `format version "2.0"`},
		"future minor":   {rehash(t, strings.Replace(string(body), `"format_version": "1.1"`, `"format_version": "1.9"`, 1)), `format version "1.9"`},
		"signed version": {rehash(t, strings.Replace(string(body), `"format_version": "1.1"`, `"format_version": "+1.1"`, 1)), `format version "+1.1"`},
		"unknown backend": {rehash(t, strings.Replace(string(body), `"backend": "kubernetes"`, `"backend": "s3"`, 1)),
			`state_backend: unknown backend "s3"`},
		"kubernetes backend without name": {rehash(t, strings.Replace(string(body), `"name": "upgrade"`, `"name": ""`, 1)),
			"state_backend: the kubernetes backend needs a namespace and a name"},
		"backend with unknown field": {strings.Replace(string(body), `"backend": "kubernetes"`, `"backend": "kubernetes", "bucket": "b"`, 1),
			`unknown field "bucket"`},
		"older plan format": {string(olderBody), "saved by an older meshwave"},
		"no plan":           {`{"format_version": "1", "content_hash": "", "cluster": "", "state_serial": 0, "objects": null, "plan": null}`, "holds no plan"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read error = %v, want ErrUnusable containing %q", err, tc.want)
			}
			after, _ := os.ReadFile(path)
			if string(after) != tc.content {
				t.Errorf("file was modified")
			}
		})
	}
}

// rehash gives an edited saved plan the content hash of its new content, as
// someone who means to get an edit past the hash would.
func rehash(t *testing.T, body string) string {
	t.Helper()
	var doc fileV1
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	doc.ContentHash = ""
	canon, err := json.MarshalIndent(&doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canon)
	doc.ContentHash = hex.EncodeToString(sum[:])
	out, err := json.MarshalIndent(&doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// apply of a saved plan refuses a state backend other than the recorded one.
func TestCheckBackend(t *testing.T) {
	kube := StateBackend{Kind: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"}
	local := StateBackend{Kind: config.StateLocal, Path: "upgrade/meshwave.state.json"}
	tests := map[string]struct {
		recorded, given StateBackend
		wantErr         string
	}{
		"same secret":       {recorded: kube, given: kube},
		"same file":         {recorded: local, given: StateBackend{Kind: config.StateLocal, Path: "./upgrade//meshwave.state.json"}},
		"not recorded":      {given: local},
		"other kind":        {recorded: kube, given: local, wantErr: "this plan was made against the kubernetes state backend, Secret meshwave/upgrade, but the -state-* flags name the local state file upgrade/meshwave.state.json"},
		"other secret name": {recorded: kube, given: StateBackend{Kind: config.StateKubernetes, Namespace: "meshwave", Name: "other"}, wantErr: "flags name the kubernetes state backend, Secret meshwave/other"},
		"other namespace":   {recorded: kube, given: StateBackend{Kind: config.StateKubernetes, Namespace: "istio-system", Name: "upgrade"}, wantErr: "Secret istio-system/upgrade"},
		"other file":        {recorded: local, given: StateBackend{Kind: config.StateLocal, Path: "meshwave.state.json"}, wantErr: "made against the local state file upgrade/meshwave.state.json, but the -state-* flags name the local state file meshwave.state.json"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := sample()
			f.Backend = tc.recorded
			err := f.CheckBackend(tc.given)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("CheckBackend = %v, want nil", err)
				}
				return
			}
			var other *OtherBackendError
			if !errors.As(err, &other) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CheckBackend = %v, want an *OtherBackendError containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestChanges(t *testing.T) {
	ov := func(kind, ns, name, uid, rv string) plan.ObjectVersion {
		return plan.ObjectVersion{ObjectRef: plan.ObjectRef{Kind: kind, Namespace: ns, Name: name}, UID: uid, ResourceVersion: rv}
	}
	saved := []plan.ObjectVersion{ov("Namespace", "", "a", "1", "5"), ov("Deployment", "a", "app", "2", "7"), ov("Namespace", "", "b", "3", "1"), ov("Namespace", "", "c", "4", "1")}
	current := []plan.ObjectVersion{ov("Namespace", "", "a", "1", "5"), ov("Deployment", "a", "app", "2", "8"), ov("Namespace", "", "b", "9", "2"), ov("Namespace", "", "d", "5", "1")}
	want := []string{
		"Deployment a/app changed (resourceVersion 7 → 8)",
		"Namespace b was deleted and re-created",
		"Namespace c was deleted",
		"Namespace d was created",
	}
	if diff := cmp.Diff(want, Changes(saved, current)); diff != "" {
		t.Errorf("Changes (-want +got):\n%s", diff)
	}
	if got := Changes(saved, saved); len(got) != 0 {
		t.Errorf("Changes(same) = %v, want none", got)
	}
}

// A saved plan whose content this meshwave does not know is refused, even
// when its hash is right: a newer plan format, or a step kind, action or
// check severity that would be shown, or applied, as a guess.
func TestReadRefusesUnknownContent(t *testing.T) {
	tests := map[string]struct {
		edit func(p *plan.Plan)
		want string
	}{
		"newer plan format":  {func(p *plan.Plan) { p.FormatVersion = "2.0" }, `plan format version "2.0" is not supported (this meshwave reads ` + plan.FormatVersion + ")"},
		"newer plan minor":   {func(p *plan.Plan) { p.FormatVersion = "1.9" }, `plan format version "1.9" is not supported (this meshwave reads ` + plan.FormatVersion + ")"},
		"signed plan format": {func(p *plan.Plan) { p.FormatVersion = "+1.1" }, `plan format version "+1.1" is not supported (this meshwave reads ` + plan.FormatVersion + ")"},
		"no plan format":     {func(p *plan.Plan) { p.FormatVersion = "" }, `plan format version "" is not supported (this meshwave reads ` + plan.FormatVersion + ")"},
		"unknown step kind":  {func(p *plan.Plan) { p.Steps[0].Kind = "teleport" }, `step "wave/w/relabel/demo-a" has unknown kind "teleport"`},
		"unknown action":     {func(p *plan.Plan) { p.Steps[0].Action = "explode" }, `step "wave/w/relabel/demo-a" has unknown action "explode"`},
		"step without id":    {func(p *plan.Plan) { p.Steps[0].ID = "" }, `steps[0] has no id`},
		"unknown severity": {func(p *plan.Plan) { p.Checks = []plan.Check{{Code: "MW001", Severity: "fatal", Message: "m"}} },
			`check MW001 has unknown severity "fatal"`},
		"unknown flavor":         {func(p *plan.Plan) { p.Flavor = "linkerd" }, `unknown flavor "linkerd"`},
		"relabel without object": {func(p *plan.Plan) { p.Steps[0].Object = nil }, `step "wave/w/relabel/demo-a" of kind namespace-relabel has no object`},
		"gate without gate": {func(p *plan.Plan) { p.Steps[0].Kind, p.Steps[0].Action = plan.StepGate, plan.ActionRead },
			`step "wave/w/relabel/demo-a" of kind gate has no gate`},
		"duplicate step": {func(p *plan.Plan) { p.Steps = append(p.Steps, p.Steps[0]) }, `step "wave/w/relabel/demo-a" appears twice`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "up.plan")
			f := sample()
			tc.edit(f.Plan)
			if err := Write(path, f); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			_, err := Read(path)
			want := "unusable saved plan " + path + ": " + tc.want
			if !errors.Is(err, ErrUnusable) || err.Error() != want {
				t.Errorf("Read error:\n got %v\nwant %s", err, want)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Errorf("file was modified")
			}
		})
	}
}
