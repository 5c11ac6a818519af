package plan

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The records are what state files have held since 1.0, key for key and
// byte for byte: the labels as JSON inside a string, times in RFC 3339 with
// nanoseconds, UTC.
func TestRecordsKeepTheirStoredForm(t *testing.T) {
	relabel, err := RelabelRecord(map[string]string{LabelRevision: "1-31", LabelInjection: "enabled"})
	if err != nil {
		t.Fatal(err)
	}
	none, err := RelabelRecord(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	evict, err := EvictRecord(map[string]string{"cache-1": "uid-b", "cache-0": "uid-a"})
	if err != nil {
		t.Fatal(err)
	}
	noPods, err := EvictRecord(nil)
	if err != nil {
		t.Fatal(err)
	}
	install, err := InstallRecord([]InstalledRef{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "istio-system", Name: "istiod-1-31"}},
		[]json.RawMessage{json.RawMessage(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"istio-reader-service-account"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	nothing, err := InstallRecord(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 11, 0, 0, 500, time.FixedZone("CET", 3600))
	tests := map[string]struct {
		got, want Record
	}{
		"relabel":           {relabel, Record{"labels": `{"istio-injection":"enabled","istio.io/rev":"1-31"}`}},
		"relabel, none":     {none, Record{"labels": `{}`}},
		"restart":           {RestartRecord(at), Record{"restartedAt": "2026-12-01T10:00:00.0000005Z"}},
		"gateway-migrate":   {GatewayRecord("cp-v1.istio-system"), Record{"controlPlane": "cp-v1.istio-system"}},
		"tag-move":          {TagRecord("1-30"), Record{"revision": "1-30"}},
		"uninstall":         {UninstallRecord("uid-1"), Record{"uid": "uid-1"}},
		"uninstall of gone": {UninstallRecord(""), Record{"uid": ""}},
		"workload-evict":    {evict, Record{"pods": `{"cache-0":"uid-a","cache-1":"uid-b"}`}},
		"evict, no pods":    {noPods, Record{"pods": `{}`}},
		"control-plane-install": {install, Record{
			"created":  `[{"apiVersion":"apps/v1","kind":"Deployment","namespace":"istio-system","name":"istiod-1-31"}]`,
			"previous": `[{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"istio-reader-service-account"}}]`}},
		"install, nothing": {nothing, Record{"created": `[]`, "previous": `[]`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, tc.got); d != "" {
				t.Errorf("record (-want +got):\n%s", d)
			}
		})
	}
}

func TestRecordAccessors(t *testing.T) {
	rec := Record{"labels": `{"istio-injection":"enabled"}`, "restartedAt": "t0", "controlPlane": "cp", "revision": "1-30", "uid": "u"}
	labels, err := rec.RelabelLabels()
	if err != nil {
		t.Fatal(err)
	}
	got := []any{labels, rec.RestartedAt(), rec.RollbackRestartedAt(), rec.GatewayRevision(), rec.TagRevision(), rec.UninstallUID()}
	want := []any{map[string]string{LabelInjection: "enabled"}, "t0", "t0+rollback", "cp", "1-30", "u"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("accessors (-want +got):\n%s", d)
	}
	rec[RecordRollbackAt] = "t1"
	if got := rec.RollbackRestartedAt(); got != "t1" {
		t.Errorf("RollbackRestartedAt with %s set = %q, want t1", RecordRollbackAt, got)
	}
	if _, err := (Record{"labels": "{"}).RelabelLabels(); err == nil {
		t.Error("unreadable labels: no error")
	}
	pods, err := (Record{"pods": `{"cache-0":"uid-a"}`}).EvictPods()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"cache-0": "uid-a"}, pods); d != "" {
		t.Errorf("EvictPods (-want +got):\n%s", d)
	}
	if _, err := (Record{}).EvictPods(); err == nil {
		t.Error("no recorded pods: no error")
	}
}
