package plan

// FormatVersion is the version of the plan's JSON form (plan -json, saved
// plans, show -json). Bump the major part on incompatible changes.
const FormatVersion = "1.2"

// Severity of a check result.
type Severity string

const (
	SeverityError   Severity = "error"   // blocks apply
	SeverityWarning Severity = "warning" // printed, does not block
)

// Check is one pre-upgrade check that found something.
type Check struct {
	// Code is stable across releases, e.g. "MW003".
	Code     string     `json:"code"`
	Severity Severity   `json:"severity"`
	Object   *ObjectRef `json:"object,omitempty"`
	Message  string     `json:"message"`
	Hint     string     `json:"hint,omitempty"`
}

// StepKind says what a step does.
type StepKind string

const (
	StepTagMove          StepKind = "tag-move"
	StepGatewayMigrate   StepKind = "gateway-migrate"
	StepNamespaceRelabel StepKind = "namespace-relabel"
	StepWorkloadRestart  StepKind = "workload-restart"
	StepWaveWait         StepKind = "wave-wait"
	StepWaveVerify       StepKind = "wave-verify"
	StepGate             StepKind = "gate"
	StepUninstall        StepKind = "uninstall"
)

// Action is how a step changes the cluster, as the plan shows it.
type Action string

const (
	ActionUpdate  Action = "update"  // ~ relabel, gateway move
	ActionRestart Action = "restart" // ↻ rollout restart
	ActionDelete  Action = "delete"  // - uninstall
	// ActionRead: wait, verify, gate read only. Its JSON value has been
	// "check" since format 1.0; in the code a check is a finding.
	ActionRead Action = "check"
	ActionNoop Action = "no-op" // already in the target shape
)

// Step is one idempotent unit of an upgrade. ID is stable for the same plan
// and cluster, so state recorded against it survives a re-plan.
type Step struct {
	ID     string   `json:"id"`
	Kind   StepKind `json:"kind"`
	Action Action   `json:"action"`
	// Wave is the wave the step belongs to; empty for gateways and finalize.
	Wave   string     `json:"wave,omitempty"`
	Object *ObjectRef `json:"object,omitempty"`

	// FromRevision and ToRevision: the move this step makes (gateway,
	// relabel, restart, verify) or the revision it removes (uninstall).
	FromRevision string `json:"from_revision,omitempty"`
	ToRevision   string `json:"to_revision,omitempty"`
	FromImage    string `json:"from_image,omitempty"`
	ToImage      string `json:"to_image,omitempty"`

	// Labels the relabel step sets, and label keys it removes.
	SetLabels    map[string]string `json:"set_labels,omitempty"`
	RemoveLabels []string          `json:"remove_labels,omitempty"`
	// SourceLabels are the namespace's injection labels (InjectionLabels)
	// as the plan saw them: the relabel refuses to run over different ones,
	// which someone else set since. Nil in plans saved before it existed.
	SourceLabels map[string]string `json:"source_labels,omitempty"`

	// Objects an uninstall deletes, in order.
	Objects []ObjectRef `json:"objects,omitempty"`
	// Namespaces and Workloads a wave-wait or wave-verify step covers.
	Namespaces []string    `json:"namespaces,omitempty"`
	Workloads  []ObjectRef `json:"workloads,omitempty"`
	// Pods is the number of pods the step moves or verifies.
	Pods int `json:"pods,omitempty"`

	// MaxParallel is, on a restart, its wave's max_parallel, kept in the
	// JSON for format 1.0 and 1.1 readers. Nothing in meshwave reads it: the
	// wave's Phase holds the bound apply and rollback use.
	MaxParallel   int    `json:"max_parallel,omitempty"`
	TimeoutSecond int64  `json:"timeout_seconds,omitempty"`
	Gate          *Gate  `json:"gate,omitempty"`
	Reason        string `json:"reason,omitempty"` // why a step is a no-op
}

// WaveSummary is a per-wave line of the plan.
type WaveSummary struct {
	Name       string `json:"name"`
	Namespaces int    `json:"namespaces"`
	Workloads  int    `json:"workloads"`
	Pods       int    `json:"pods"`
	FromImage  string `json:"from_image,omitempty"`
	ToImage    string `json:"to_image,omitempty"`
	// Deleted are the wave's namespaces deleted during the upgrade.
	Deleted []DeletedNamespace `json:"deleted_namespaces,omitempty"`
}

// Summary counts what the plan changes.
type Summary struct {
	Changes   int           `json:"changes"`
	Relabel   int           `json:"relabel"`
	Restart   int           `json:"restart"`
	Tags      int           `json:"tags,omitempty"`
	Gateways  int           `json:"gateways"`
	Uninstall int           `json:"uninstall"`
	Errors    int           `json:"errors"`
	Warnings  int           `json:"warnings"`
	Waves     []WaveSummary `json:"waves"`
}

// Plan is the computed upgrade: what was checked and what apply will do.
type Plan struct {
	FormatVersion string  `json:"format_version"`
	Upgrade       Upgrade `json:"-"`
	From          string  `json:"from"`
	To            string  `json:"to"`
	Flavor        Flavor  `json:"flavor"`
	Checks        []Check `json:"checks"`
	Steps         []Step  `json:"steps"`
	// Phases are the plan's structure: the parts apply runs, in order, and
	// the groups of steps that run at the same time.
	Phases []Phase `json:"phases"`
	// RollbackOrder is how a rollback reverses the plan.
	RollbackOrder []RollbackPhase `json:"rollback_order"`
	// ManualFollowUp lists, per wave, what its restarts cannot roll.
	ManualFollowUp []FollowUp `json:"manual_follow_up"`
	Summary        Summary    `json:"summary"`
	// SourceHash identifies the plan file the steps were computed from.
	SourceHash string `json:"source_hash"`
	// Rollback and Finalize settings the executor needs.
	AutomaticRollback bool `json:"automatic_rollback"`
}

// HasChanges reports whether applying the plan would change the cluster.
func (p *Plan) HasChanges() bool { return p.Summary.Changes > 0 }

// Blocked reports whether an error-severity check forbids apply.
func (p *Plan) Blocked() bool { return p.Summary.Errors > 0 }
