package plan

import (
	"encoding/json"
	"fmt"
	"time"
)

// Record is what a step read before it changed anything, saved in the state
// before the change: a namespace's original labels, a gateway's original
// revision, the restartedAt value a restart sends. A resumed step re-sends
// the same change from it, and a rollback restores exactly what was there.
//
// It is stored as string keys and values, the shape state files have held
// since 1.0; this file is the only place that knows the keys and how each
// value is written. Each step kind records its own keys through the
// functions below, and the executor adds RecordRollbackAt and
// RecordPauseUntil.
type Record map[string]string

// The keys of a Record. Their spelling is part of the state file format and
// never changes.
const (
	// RecordRollbackAt is the time of a step's rollback, set and saved by the
	// executor before it asks the provider to roll the step back. The
	// provider uses it as the rollback restart's restartedAt, so a rollback
	// resumed after a crash re-sends the same patch instead of rolling the
	// workload a third time. The key keeps its 1.0 spelling.
	RecordRollbackAt = "undo.at"
	// RecordPauseUntil is when a pause gate ends. Recording it makes a
	// resumed pause wait only for what is left.
	RecordPauseUntil = "pause.until"

	recordLabels       = "labels"       // namespace-relabel: JSON of the original istio labels
	recordRestartedAt  = "restartedAt"  // workload-restart: the value the restart sends
	recordControlPlane = "controlPlane" // gateway-migrate: the original revision
	recordUID          = "uid"          // uninstall: the control plane object's uid
	recordRevision     = "revision"     // tag-move: the revision the tag pointed at
	recordPods         = "pods"         // workload-evict: JSON of the uid of each pod, by name, before the first eviction
	recordCreated      = "created"      // control-plane-install: JSON of the objects it creates (InstalledRef)
	recordPrevious     = "previous"     // control-plane-install: JSON of each object it changes, as it was before
)

// RelabelRecord is the record of a namespace relabel: the namespace's istio
// labels before it (an empty map when it had none), kept as their JSON.
func RelabelRecord(labels map[string]string) (Record, error) {
	return mapRecord(recordLabels, "labels", labels)
}

// RelabelLabels are the labels a relabel recorded.
func (r Record) RelabelLabels() (map[string]string, error) { return r.mapOf(recordLabels, "labels") }

// mapRecord records m under key as its JSON, "{}" when m is empty or nil.
func mapRecord(key, what string, m map[string]string) (Record, error) {
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", what, err)
	}
	return Record{key: string(b)}, nil
}

// mapOf reads back what mapRecord recorded under key.
func (r Record) mapOf(key, what string) (map[string]string, error) {
	m := map[string]string{}
	if err := json.Unmarshal([]byte(r[key]), &m); err != nil {
		return nil, fmt.Errorf("recorded %s are unreadable: %w", what, err)
	}
	return m, nil
}

// RestartRecord is the record of a workload restart: the restartedAt value
// it sends, the time it was prepared.
func RestartRecord(at time.Time) Record {
	return Record{recordRestartedAt: at.UTC().Format(time.RFC3339Nano)}
}

// RestartedAt is the restartedAt value a restart sends ("" if none was
// recorded).
func (r Record) RestartedAt() string { return r[recordRestartedAt] }

// RollbackRestartedAt is the restartedAt value a restart's rollback sends:
// the rollback's recorded time, or else one derived from the restart's own,
// so that re-running the rollback sends the same patch.
func (r Record) RollbackRestartedAt() string {
	if v := r[RecordRollbackAt]; v != "" {
		return v
	}
	return r[recordRestartedAt] + "+rollback"
}

// GatewayRecord is the record of a gateway move: the revision the gateway
// was on.
func GatewayRecord(revision string) Record { return Record{recordControlPlane: revision} }

// GatewayRevision is the revision a gateway move found.
func (r Record) GatewayRevision() string { return r[recordControlPlane] }

// TagRecord is the record of a tag move: the revision the tag pointed at.
func TagRecord(revision string) Record { return Record{recordRevision: revision} }

// TagRevision is the revision a tag move found.
func (r Record) TagRevision() string { return r[recordRevision] }

// UninstallRecord is the record of an uninstall: the uid of the object it
// removes ("" when it was gone already).
func UninstallRecord(uid string) Record { return Record{recordUID: uid} }

// UninstallUID is the uid an uninstall recorded.
func (r Record) UninstallUID() string { return r[recordUID] }

// EvictRecord is the record of a workload eviction: the uid of each of the
// workload's pods, by name, as prepare found them. Only those pods are ever
// evicted, each once: a pod whose uid differs was re-created since (by an
// eviction of an earlier run, say), so a resumed step waits for it rather
// than evicting it again. An empty map for a workload without pods.
func EvictRecord(uids map[string]string) (Record, error) { return mapRecord(recordPods, "pods", uids) }

// EvictPods are the pod uids, by name, an eviction recorded.
func (r Record) EvictPods() (map[string]string, error) { return r.mapOf(recordPods, "pods") }

// InstalledRef names an object of an install's manifest with its API
// version, as its record keeps it.
type InstalledRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// InstallRecord is the record of an install, read before it applies
// anything: the objects of the manifest that did not exist, which it
// creates, and each object it changes as it was (its JSON, without what
// the API server sets: status, managed fields, uid, resourceVersion). A
// rollback deletes exactly the first and restores the second; a resumed
// install keeps the record of its first start, so an object it created
// before it was interrupted is still one it created.
func InstallRecord(created []InstalledRef, previous []json.RawMessage) (Record, error) {
	if created == nil {
		created = []InstalledRef{}
	}
	if previous == nil {
		previous = []json.RawMessage{}
	}
	c, err := json.Marshal(created)
	if err != nil {
		return nil, fmt.Errorf("record created objects: %w", err)
	}
	p, err := json.Marshal(previous)
	if err != nil {
		return nil, fmt.Errorf("record changed objects: %w", err)
	}
	return Record{recordCreated: string(c), recordPrevious: string(p)}, nil
}

// InstallCreated are the objects an install recorded it creates.
func (r Record) InstallCreated() ([]InstalledRef, error) {
	var out []InstalledRef
	if err := json.Unmarshal([]byte(r[recordCreated]), &out); err != nil {
		return nil, fmt.Errorf("recorded created objects are unreadable: %w", err)
	}
	return out, nil
}

// InstallPrevious are the objects an install changes, as it recorded them
// before.
func (r Record) InstallPrevious() ([]json.RawMessage, error) {
	var out []json.RawMessage
	if err := json.Unmarshal([]byte(r[recordPrevious]), &out); err != nil {
		return nil, fmt.Errorf("recorded previous objects are unreadable: %w", err)
	}
	return out, nil
}
