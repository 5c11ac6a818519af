package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// IstioNamespace is the namespace istioctl and the charts install a
// control plane into unless told otherwise; meshwave assumes it for a
// revision whose objects do not say, and for a gateway block without one.
const IstioNamespace = "istio-system"

// DefaultRevision is the revision id meaning "the control plane that serves
// namespaces labeled istio-injection=enabled".
const DefaultRevision = "default"

// Config is a decoded, validated plan file. Ranges point into the source so
// later checks can report where a setting came from.
type Config struct {
	Upgrade Upgrade
	// Install is the install block: the target revision's objects, applied
	// before anything moves to it; nil without one.
	Install  *InstallConfig
	Tags     []TagConfig
	Gateways []GatewayConfig
	Waves    []WaveConfig
	Rollback RollbackConfig
	Finalize FinalizeConfig
	State    StateConfig
	// SourceHash is the SHA-256 (hex) of the plan's source files and the
	// variable values they were evaluated with.
	SourceHash string
}

// Upgrade is the upgrade block: which revision the data plane leaves and
// which it moves to.
type Upgrade struct {
	From     string
	To       string
	Flavor   Flavor
	DefRange hcl.Range
}

// TagConfig is a tag block: an Istio revision tag moved to the target
// revision before the gateways and waves, so that the namespaces labeled
// with the tag follow it once their workloads restart.
type TagConfig struct {
	Name     string
	DefRange hcl.Range
}

// GatewayConfig is a gateway block: a gateway moved before the data plane.
type GatewayConfig struct {
	Name      string
	Namespace string
	DefRange  hcl.Range
}

// WaveConfig is a wave block. Waves run in file order.
type WaveConfig struct {
	Name       string
	Namespaces []string
	// Selector is a Kubernetes label selector over namespaces; empty means
	// none (only Namespaces are taken).
	Selector    string
	Exclude     []string
	MaxParallel int           // workloads restarted at once; default 1
	Timeout     time.Duration // for the wave's rollouts; default 10m
	// RollOnDelete opts the wave in to rolling OnDelete StatefulSets by
	// evicting their pods one at a time (plan.RollsByEviction); without
	// it they are manual follow-up.
	RollOnDelete bool
	Gates        []Gate // run in file order after the wave's rollouts
	DefRange     hcl.Range
}

// GateKind names a gate.
type GateKind string

const (
	GatePause      GateKind = "pause"
	GateApproval   GateKind = "approval"
	GateHTTP       GateKind = "http"
	GatePrometheus GateKind = "prometheus"
	GateCommand    GateKind = "command"
)

// Valid reports whether k is a gate kind this build knows.
func (k GateKind) Valid() bool {
	switch k {
	case GatePause, GateApproval, GateHTTP, GatePrometheus, GateCommand:
		return true
	}
	return false
}

// Gate is a check that must pass after a wave before the next one starts.
// Exactly the field that matches Kind is set. Its JSON form is package
// plan/jsonplan's.
type Gate struct {
	Kind       GateKind
	Pause      time.Duration
	HTTP       *HTTPGate
	Prometheus *PrometheusGate
	Command    *CommandGate
}

// HTTPGate passes when a GET of URL answers ExpectStatus (and, if set, a
// body containing BodyContains) within Attempts attempts.
type HTTPGate struct {
	URL          string
	ExpectStatus int // default 200
	BodyContains string
	// Attempts is how many GETs the gate makes at most. The plan language
	// and the JSON call it retries (a public name since format 1.0); it has
	// always counted attempts, the first one included.
	Attempts int           // default 3
	Interval time.Duration // between attempts; default 5s
	Timeout  time.Duration // per attempt; default 10s
}

// PrometheusGate passes when the instant query's every sample is within
// [Min, Max] (nil bounds are open).
type PrometheusGate struct {
	URL   string
	Query string
	Max   *float64
	Min   *float64
}

// CommandGate passes when Argv exits 0 within Timeout.
type CommandGate struct {
	Argv    []string
	Timeout time.Duration // default 5m
}

// RollbackConfig is the rollback block.
type RollbackConfig struct {
	// Automatic moves a failed wave's namespaces back to the source revision.
	Automatic bool
}

// FinalizeConfig is the finalize block.
type FinalizeConfig struct {
	// UninstallOld removes the source control plane once nothing uses it.
	UninstallOld bool
}

// StateBackend names where apply keeps the state and its lock.
type StateBackend string

const (
	// StateLocal is a state file on the local disk, locked with flock.
	StateLocal StateBackend = "local"
	// StateKubernetes is a Secret in the cluster, locked with a Lease.
	StateKubernetes StateBackend = "kubernetes"
)

// StateConfig is the state block: where the upgrade's state lives. Without
// the block it is the local file beside the plan.
type StateConfig struct {
	Backend StateBackend
	// Path is the local state file; empty means meshwave.state.json beside
	// the plan.
	Path string
	// Namespace and Name are the Kubernetes backend's Secret (the state)
	// and Lease (its lock).
	Namespace, Name string
	DefRange        hcl.Range
}
