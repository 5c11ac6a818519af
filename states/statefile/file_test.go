package statefile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

var update = flag.Bool("update", false, "rewrite golden files")

const lineage = "0f8fad5b-d9cb-469f-a165-70867728950e"

func sample() *states.State {
	at := time.Date(2026, 3, 1, 2, 3, 4, 0, time.UTC)
	return &states.State{
		Lineage: lineage, Serial: 12, PlanHash: "9c1e",
		Steps: []*states.StepState{
			{ID: "gateway/istio-system/ingress", Kind: plan.StepGatewayMigrate,
				Object: &plan.ObjectRef{Kind: "MeshGateway", Namespace: "istio-system", Name: "ingress"},
				Status: states.StatusDone, StartedAt: at, EndedAt: at.Add(20 * time.Second),
				Record: map[string]string{"controlPlane": "cp-v16x.istio-system"}, Attempts: 1},
			{ID: "wave/canary/relabel/demo-a", Kind: plan.StepNamespaceRelabel, Wave: "canary",
				Object: &plan.ObjectRef{Kind: "Namespace", Name: "demo-a"},
				Status: states.StatusRolledBack, StartedAt: at, EndedAt: at.Add(time.Minute),
				Record: map[string]string{"label.istio-injection": "enabled"}, Attempts: 1},
			{ID: "wave/canary/restart/demo-a/deployment/app-a", Kind: plan.StepWorkloadRestart, Wave: "canary",
				Object: &plan.ObjectRef{Kind: "Deployment", Namespace: "demo-a", Name: "app-a"},
				Status: states.StatusRunning, StartedAt: at, Error: "",
				Record: map[string]string{"restartedAt": "2026-03-01T02:03:04Z"}, Attempts: 2},
			{ID: "wave/canary/verify", Kind: plan.StepWaveVerify, Wave: "canary", Status: states.StatusFailed,
				StartedAt: at, EndedAt: at, Error: "demo-a/app-a-1: proxy 1.6.3, want 1.7.0", Attempts: 1},
			{ID: "wave/canary/gate/0-approval", Kind: plan.StepGate, Wave: "canary", Status: states.StatusPending},
		},
		Approvals: []states.Approval{{Wave: "canary", By: "flag", At: at}},
		ManualFollowUp: []plan.FollowUp{{Wave: "canary", Object: plan.ObjectRef{Kind: "StatefulSet", Namespace: "demo-a", Name: "db"}, Pods: 2,
			Reason: "StatefulSet uses the OnDelete update strategy", Manual: "delete its pods one at a time"}},
	}
}

func TestRoundTripAndGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "state.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("encoding (-golden +got):\n%s", diff)
	}
	got, err := Read(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(), got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

func TestReadRefuses(t *testing.T) {
	cases := map[string]struct {
		doc  string
		want string
	}{
		"array":           {`[]`, "not a meshwave state file: not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
		"no version":      {`{"lineage": "x"}`, `not a meshwave state file: no "format_version" field`},
		"numeric version": {`{"format_version": 1}`, `not a meshwave state file: "format_version" is not a string`},
		"major 2":         {`{"format_version": "2.0"}`, `state format version "2.0" is not supported (this meshwave reads 1.1)`},
		"garbage version": {`{"format_version": "one"}`, `state format version "one" is not supported (this meshwave reads 1.1)`},
		"no lineage":      {`{"format_version": "1.0", "serial": 1, "steps": []}`, "invalid state: lineage is empty"},
		"unknown field":   {`{"format_version": "1.0", "lineage": "L", "outputs": {}}`, `invalid state: json: unknown field "outputs"`},
		"duplicate step": {`{"format_version": "1.0", "lineage": "L", "steps": [{"id": "a", "kind": "gate", "status": "done"}, {"id": "a", "kind": "gate", "status": "done"}]}`,
			`invalid state: step "a" appears twice`},
		"bad status": {`{"format_version": "1.0", "lineage": "L", "steps": [{"id": "a", "kind": "gate", "status": "finished"}]}`, `invalid state: step "a" has unknown status "finished"`},
		"follow-up without object": {`{"format_version": "1.1", "lineage": "L", "manual_follow_up": [{"wave": "canary"}]}`,
			"invalid state: manual_follow_up[0] has no wave or object"},
		"trailing doc": {`{"format_version": "1.0", "lineage": "L"} {}`, "not a meshwave state file: not a JSON object: invalid character '{' after top-level value"},

		// A version is two unsigned decimal numbers, nothing else.
		"signed major":         {`{"format_version": "+1.0", "lineage": "L"}`, `state format version "+1.0" is not supported (this meshwave reads 1.1)`},
		"negative minor":       {`{"format_version": "1.-1", "lineage": "L"}`, `state format version "1.-1" is not supported (this meshwave reads 1.1)`},
		"leading zero":         {`{"format_version": "01.0", "lineage": "L"}`, `state format version "01.0" is not supported (this meshwave reads 1.1)`},
		"three parts":          {`{"format_version": "1.0.0", "lineage": "L"}`, `state format version "1.0.0" is not supported (this meshwave reads 1.1)`},
		"spaces":               {`{"format_version": " 1.0", "lineage": "L"}`, `state format version " 1.0" is not supported (this meshwave reads 1.1)`},
		"empty minor":          {`{"format_version": "1.", "lineage": "L"}`, `state format version "1." is not supported (this meshwave reads 1.1)`},
		"unicode digit":        {`{"format_version": "1.١", "lineage": "L"}`, `state format version "1.١" is not supported (this meshwave reads 1.1)`},
		"huge minor":           {`{"format_version": "1.99999999999999999999", "lineage": "L"}`, `state format version "1.99999999999999999999" is not supported (this meshwave reads 1.1)`},
		"unknown kind":         {`{"format_version": "1.1", "lineage": "L", "steps": [{"id": "a", "kind": "teleport", "status": "done"}]}`, `invalid state: step "a" has unknown kind "teleport"`},
		"no kind":              {`{"format_version": "1.1", "lineage": "L", "steps": [{"id": "a", "status": "done"}]}`, `invalid state: step "a" has unknown kind ""`},
		"lineage not UUID":     {`{"format_version": "1.1", "lineage": "x"}`, `invalid state: lineage "x" is not a UUID`},
		"lineage upper case":   {`{"format_version": "1.1", "lineage": "0F8FAD5B-D9CB-469F-A165-70867728950E"}`, `invalid state: lineage "0F8FAD5B-D9CB-469F-A165-70867728950E" is not a UUID`},
		"lineage with newline": {`{"format_version": "1.1", "lineage": "0f8fad5b-d9cb-469f-a165-70867728950e\n"}`, `invalid state: lineage "0f8fad5b-d9cb-469f-a165-70867728950e\n" is not a UUID`},
		"serial overflows":     {`{"format_version": "1.1", "lineage": "L", "serial": 18446744073709551616}`, `invalid state: json: cannot unmarshal number 18446744073709551616 into Go struct field fileV1.serial of type uint64`},
		"negative serial":      {`{"format_version": "1.1", "lineage": "L", "serial": -1}`, `invalid state: json: cannot unmarshal number -1 into Go struct field fileV1.serial of type uint64`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Read(strings.NewReader(strings.ReplaceAll(tc.doc, `"L"`, `"`+lineage+`"`)))
			if err == nil {
				t.Fatal("got nil error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// A state written before 1.1 has no manual follow-up and reads as such.
func TestReadsFormat10(t *testing.T) {
	doc := `{"format_version": "1.0", "lineage": "` + lineage + `", "serial": 3, "plan_hash": "", "steps": [], "approvals": []}`
	st, err := Read(bytes.NewReader([]byte(doc)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Lineage != lineage || st.Serial != 3 || len(st.ManualFollowUp) != 0 {
		t.Errorf("read %+v, want lineage %s, serial 3, no follow-up", st, lineage)
	}
}
