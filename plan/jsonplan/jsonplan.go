package jsonplan

import (
	"encoding/json"
	"io"

	"github.com/meshwave/meshwave/plan"
)

// FormatVersion is the version of the document this build writes, and the
// newest it reads. Bump the major part on incompatible changes.
const FormatVersion = plan.FormatVersion

// Plan is the document. Its fields appear in this order; lists that are nil
// here are written as null, so Encode fills them in and a saved plan keeps
// them as they were written.
type Plan struct {
	FormatVersion     string          `json:"format_version"`
	From              string          `json:"from"`
	To                string          `json:"to"`
	FromVersion       string          `json:"from_version,omitempty"`
	ToVersion         string          `json:"to_version,omitempty"`
	SettingsDiff      *SettingsDiff   `json:"settings_diff,omitempty"`
	Flavor            plan.Flavor     `json:"flavor"`
	Checks            []Check         `json:"checks"`
	Steps             []Step          `json:"steps"`
	Phases            []Phase         `json:"phases"`
	RollbackOrder     []RollbackPhase `json:"rollback_order"`
	ManualFollowUp    []FollowUp      `json:"manual_follow_up"`
	Summary           Summary         `json:"summary"`
	SourceHash        string          `json:"source_hash"`
	AutomaticRollback bool            `json:"automatic_rollback"`
}

// SettingsDiff is what differs between the source's and the target's mesh
// config and injection values (new in 1.4).
type SettingsDiff struct {
	Changes    []SettingChange `json:"changes"`
	More       int             `json:"more,omitempty"`
	Incomplete bool            `json:"incomplete,omitempty"`
}

// SettingChange is one setting that differs: its value on each side as JSON
// text, omitted where it is unset.
type SettingChange struct {
	Source string `json:"source"`
	Path   string `json:"path"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// ObjectRef names one Kubernetes object.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Check is one finding of the plan's checks.
type Check struct {
	Code     string        `json:"code"`
	Severity plan.Severity `json:"severity"`
	Object   *ObjectRef    `json:"object,omitempty"`
	Message  string        `json:"message"`
	Hint     string        `json:"hint,omitempty"`
	Range    *Range        `json:"range,omitempty"`
}

// Range is where in the plan's files a check points (new in 1.3).
type Range struct {
	Filename string `json:"filename"`
	Start    Pos    `json:"start"`
	End      Pos    `json:"end"`
}

// Pos is a position in a file: line and column from 1, byte offset from 0.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// Step is one step of the plan.
type Step struct {
	ID           string            `json:"id"`
	Kind         plan.StepKind     `json:"kind"`
	Action       plan.Action       `json:"action"`
	Wave         string            `json:"wave,omitempty"`
	Object       *ObjectRef        `json:"object,omitempty"`
	FromRevision string            `json:"from_revision,omitempty"`
	ToRevision   string            `json:"to_revision,omitempty"`
	FromImage    string            `json:"from_image,omitempty"`
	ToImage      string            `json:"to_image,omitempty"`
	SetLabels    map[string]string `json:"set_labels,omitempty"`
	RemoveLabels []string          `json:"remove_labels,omitempty"`
	SourceLabels map[string]string `json:"source_labels,omitempty"`
	Objects      []ObjectRef       `json:"objects,omitempty"`
	// Manifest are the objects an install applies (new in 1.5).
	Manifest   []ManifestObject `json:"manifest,omitempty"`
	Namespaces []string         `json:"namespaces,omitempty"`
	Workloads  []ObjectRef      `json:"workloads,omitempty"`
	Pods       int              `json:"pods,omitempty"`
	// MaxParallel is, on a restart, its wave's max_parallel, kept for format
	// 1.0 and 1.1 readers: FromPlan fills it in from the wave's phase, Model
	// drops it (Phase.MaxParallel is the bound apply uses).
	MaxParallel   int    `json:"max_parallel,omitempty"`
	TimeoutSecond int64  `json:"timeout_seconds,omitempty"`
	Gate          *Gate  `json:"gate,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

// ManifestObject is one object of an install's manifest, what applying it
// does, and the object itself as the manifest writes it (new in 1.5).
type ManifestObject struct {
	Kind       string          `json:"kind"`
	Namespace  string          `json:"namespace,omitempty"`
	Name       string          `json:"name"`
	APIVersion string          `json:"api_version"`
	Action     plan.Action     `json:"action"`
	Shared     bool            `json:"shared,omitempty"`
	Changes    []FieldChange   `json:"changes,omitempty"`
	Object     json.RawMessage `json:"object"`
}

// FieldChange is one field an install changes (new in 1.5).
type FieldChange struct {
	Path string `json:"path"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// WaveSummary is a per-wave line of the summary.
type WaveSummary struct {
	Name       string `json:"name"`
	Namespaces int    `json:"namespaces"`
	Workloads  int    `json:"workloads"`
	Pods       int    `json:"pods"`
	FromImage  string `json:"from_image,omitempty"`
	ToImage    string `json:"to_image,omitempty"`
	// Deleted are the wave's namespaces deleted during the upgrade.
	Deleted []DeletedNamespace `json:"deleted_namespaces,omitempty"`
	// OptedOut are the workloads per namespace that opt out of injection
	// (new in 1.3).
	OptedOut []OptedOut `json:"opted_out,omitempty"`
}

// OptedOut are a namespace's workloads whose pod templates opt out of
// injection: the wave neither restarts nor verifies them.
type OptedOut struct {
	Namespace string      `json:"namespace"`
	Workloads []ObjectRef `json:"workloads"`
}

// DeletedNamespace is a wave's namespace deleted during the upgrade.
type DeletedNamespace struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Summary counts what the plan changes.
type Summary struct {
	Changes int `json:"changes"`
	Relabel int `json:"relabel"`
	Restart int `json:"restart"`
	// Evict counts the workloads rolled by evicting their pods (new in 1.4).
	Evict     int `json:"evict,omitempty"`
	Tags      int `json:"tags,omitempty"`
	Gateways  int `json:"gateways"`
	Uninstall int `json:"uninstall"`
	// Install counts the objects an install creates or changes (new in 1.5).
	Install  int           `json:"install,omitempty"`
	Errors   int           `json:"errors"`
	Warnings int           `json:"warnings"`
	Waves    []WaveSummary `json:"waves"`
}

// Phase is a part of the plan apply runs as a whole (new in 1.2).
type Phase struct {
	Kind        plan.PhaseKind `json:"kind"`
	Wave        string         `json:"wave,omitempty"`
	MaxParallel int            `json:"max_parallel,omitempty"`
	Groups      [][]string     `json:"groups"`
}

// RollbackPhase is how a rollback reverses one phase (new in 1.2).
type RollbackPhase struct {
	Kind         plan.PhaseKind `json:"kind"`
	Wave         string         `json:"wave,omitempty"`
	MaxParallel  int            `json:"max_parallel,omitempty"`
	Groups       [][]string     `json:"groups"`
	Reverify     []string       `json:"reverify,omitempty"`
	Rerun        []string       `json:"rerun,omitempty"`
	Irreversible []string       `json:"irreversible,omitempty"`
}

// FollowUp is a workload a wave leaves for the person applying the plan.
type FollowUp struct {
	Wave   string    `json:"wave"`
	Object ObjectRef `json:"object"`
	Pods   int       `json:"pods"`
	Reason string    `json:"reason"`
	Manual string    `json:"manual"`
}

// Encode writes p's document to w, indented. The output is deterministic:
// fields in declaration order, map keys sorted, and empty lists written as
// [] rather than null so consumers need not tell the two apart.
func Encode(w io.Writer, p *plan.Plan) error {
	doc := FromPlan(p)
	if doc.FormatVersion == "" {
		doc.FormatVersion = FormatVersion
	}
	doc.Checks = orEmpty(doc.Checks)
	doc.Steps = orEmpty(doc.Steps)
	doc.Phases = orEmpty(doc.Phases)
	doc.RollbackOrder = orEmpty(doc.RollbackOrder)
	doc.ManualFollowUp = orEmpty(doc.ManualFollowUp)
	doc.Summary.Waves = orEmpty(doc.Summary.Waves)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Queries and revisions hold "<", ">" and "&"; keep them readable.
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
