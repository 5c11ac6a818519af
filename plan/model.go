package plan

import "github.com/hashicorp/hcl/v2"

// FormatVersion is the version of the plan's JSON form (plan/jsonplan) that
// Compute stamps on a plan and the newest WellFormed accepts: a plan read
// back from a saved file keeps the version it was written with.
const FormatVersion = "1.5"

// Severity of a check result.
type Severity string

const (
	SeverityError   Severity = "error"   // blocks apply
	SeverityWarning Severity = "warning" // printed, does not block
)

// Check is one pre-upgrade check that found something.
type Check struct {
	// Code is stable across releases, e.g. "MW003".
	Code     string
	Severity Severity
	Object   *ObjectRef
	Message  string
	Hint     string
	// Range is where in the plan's files the setting the check is about
	// stands; nil when it concerns the cluster only.
	Range *hcl.Range
}

// StepKind says what a step does.
type StepKind string

const (
	StepTagMove          StepKind = "tag-move"
	StepGatewayMigrate   StepKind = "gateway-migrate"
	StepNamespaceRelabel StepKind = "namespace-relabel"
	StepWorkloadRestart  StepKind = "workload-restart"
	// StepWorkloadEvict rolls an OnDelete StatefulSet of a wave that opts
	// in (roll_on_delete) by evicting its pods one at a time (new in 1.4).
	StepWorkloadEvict StepKind = "workload-evict"
	StepWaveWait      StepKind = "wave-wait"
	StepWaveVerify    StepKind = "wave-verify"
	StepGate          StepKind = "gate"
	StepUninstall     StepKind = "uninstall"
	// StepInstall applies the target revision's manifest (new in 1.5);
	// StepInstallWait waits until its istiod is Ready and its injector
	// answers.
	StepInstall     StepKind = "control-plane-install"
	StepInstallWait StepKind = "control-plane-wait"
)

// Action is how a step changes the cluster, as the plan shows it.
type Action string

const (
	ActionUpdate  Action = "update"  // ~ relabel, gateway move
	ActionRestart Action = "restart" // ↻ rollout restart
	ActionDelete  Action = "delete"  // - uninstall
	// ActionEvict: ⇣ pods evicted one at a time through the Eviction API,
	// PodDisruptionBudgets honoured, each re-created by its controller
	// (new in 1.4).
	ActionEvict Action = "evict"
	// ActionRead: wait, verify, gate read only. Its JSON value has been
	// "check" since format 1.0; in the code a check is a finding.
	ActionRead Action = "check"
	ActionNoop Action = "no-op" // already in the target shape
	// ActionCreate: + an install that creates objects (new in 1.5); an
	// object of an install's manifest that does not exist yet.
	ActionCreate Action = "create"
)

// Step is one idempotent unit of an upgrade. ID is stable for the same plan
// and cluster, so state recorded against it survives a re-plan.
type Step struct {
	ID     string
	Kind   StepKind
	Action Action
	// Wave is the wave the step belongs to; empty for gateways and finalize.
	Wave   string
	Object *ObjectRef

	// FromRevision and ToRevision: the move this step makes (gateway,
	// relabel, restart, verify) or the revision it removes (uninstall).
	FromRevision string
	ToRevision   string
	FromImage    string
	ToImage      string

	// Labels the relabel step sets, and label keys it removes.
	SetLabels    map[string]string
	RemoveLabels []string
	// SourceLabels are the namespace's injection labels (InjectionLabels)
	// as the plan saw them: the relabel refuses to run over different ones,
	// which someone else set since. Nil in plans saved before it existed.
	SourceLabels map[string]string

	// Objects an uninstall deletes, in order.
	Objects []ObjectRef
	// Manifest are the objects an install applies, in order, each with
	// what it does to the cluster.
	Manifest []ManifestChange
	// Namespaces and Workloads a wave-wait or wave-verify step covers.
	Namespaces []string
	Workloads  []ObjectRef
	// Pods is the number of pods the step moves or verifies.
	Pods int

	TimeoutSecond int64
	Gate          *Gate
	Reason        string // why a step is a no-op
}

// ManifestChange is one object of an install's manifest and what applying
// it does: create it, update it (Changes), or nothing.
type ManifestChange struct {
	ObjectRef
	APIVersion string
	// Action is ActionCreate, ActionUpdate or ActionNoop.
	Action Action
	// Shared: a cluster-scoped object both revisions use (a CRD, the
	// default tag's validator), whose change changes the old revision's
	// too (SharedByRevisions).
	Shared bool
	// Changes are the fields an update changes, as a server-side dry-run
	// apply found them.
	Changes []FieldChange
	// JSON is the object as the manifest writes it: what apply sends.
	JSON []byte
}

// FieldChange is one field an apply changes: its JSON path and its values
// before and after as JSON text ("" where unset).
type FieldChange struct {
	Path string
	From string
	To   string
}

// WaveSummary is a per-wave line of the plan.
type WaveSummary struct {
	Name       string
	Namespaces int
	Workloads  int
	Pods       int
	FromImage  string
	ToImage    string
	// Deleted are the wave's namespaces deleted during the upgrade.
	Deleted []DeletedNamespace
	// OptedOut are, per namespace of the wave, the workloads whose pod
	// templates opt out of injection (InjectionOptedOut): the wave neither
	// restarts nor verifies them.
	OptedOut []OptedOut
}

// OptedOut are the workloads of one namespace that opt out of injection.
type OptedOut struct {
	Namespace string
	Workloads []ObjectRef
}

// Summary counts what the plan changes.
type Summary struct {
	Changes int
	Relabel int
	Restart int
	// Evict counts the workloads rolled by evicting their pods.
	Evict     int
	Tags      int
	Gateways  int
	Uninstall int
	// Install counts the objects the install creates or changes.
	Install  int
	Errors   int
	Warnings int
	Waves    []WaveSummary
}

// Plan is the computed upgrade: what was checked and what apply will do.
type Plan struct {
	FormatVersion string
	Upgrade       Upgrade
	From          string
	To            string
	// FromVersion and ToVersion are the Istio versions of the source and
	// target control planes; empty when one is not installed or unknown.
	FromVersion string
	ToVersion   string
	// Settings is what differs between the source's and the target's
	// settings (CompareSettings); nil when nothing does or one is not
	// installed.
	Settings *SettingsDiff
	Flavor   Flavor
	Checks   []Check
	Steps    []Step
	// Phases are the plan's structure: the parts apply runs, in order, and
	// the groups of steps that run at the same time.
	Phases []Phase
	// RollbackOrder is how a rollback reverses the plan.
	RollbackOrder []RollbackPhase
	// ManualFollowUp lists, per wave, what its restarts (and evictions,
	// where the wave opts in) cannot roll.
	ManualFollowUp []FollowUp
	Summary        Summary
	// SourceHash identifies the plan file the steps were computed from.
	SourceHash string
	// Rollback and Finalize settings the executor needs.
	AutomaticRollback bool
}

// HasChanges reports whether applying the plan would change the cluster.
func (p *Plan) HasChanges() bool { return p.Summary.Changes > 0 }

// Blocked reports whether an error-severity check forbids apply.
func (p *Plan) Blocked() bool { return p.Summary.Errors > 0 }
