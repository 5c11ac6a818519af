package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// Keys of the values a step records before it changes anything.
const (
	recLabels       = "labels"       // relabel: JSON of the original istio labels ({} when none)
	recRestartedAt  = "restartedAt"  // restart: the value the restart sends
	recControlPlane = "controlPlane" // gateway: the original revision
	recUID          = "uid"          // uninstall: the control plane object's uid
	recRevision     = "revision"     // tag: the revision the tag pointed at
)

// stepOps are one step kind's four operations; each kind has its file
// (relabel.go, restart.go, tag.go, gateway.go, wave.go, uninstall.go).
type stepOps struct {
	// prepare reads what the step will change; it changes nothing.
	prepare func(p *Provider, ctx context.Context, s plan.Step) (map[string]string, error)
	// run performs the step; with the same record it sends the same change.
	run func(p *Provider, ctx context.Context, s plan.Step, rec map[string]string, progress func(string)) error
	// verify confirms cheaply that a done step still holds.
	verify func(p *Provider, ctx context.Context, s plan.Step, rec map[string]string) error
	// rollback reverses the step with what prepare recorded.
	rollback func(p *Provider, ctx context.Context, s plan.Step, rec map[string]string, progress func(string)) error
}

var stepKinds = map[plan.StepKind]stepOps{
	plan.StepNamespaceRelabel: relabelOps,
	plan.StepWorkloadRestart:  restartOps,
	plan.StepTagMove:          tagOps,
	plan.StepGatewayMigrate:   gatewayOps,
	plan.StepWaveWait:         waitOps,
	plan.StepWaveVerify:       verifyOps,
	plan.StepUninstall:        uninstallOps,
}

func opsFor(s plan.Step) (stepOps, error) {
	ops, ok := stepKinds[s.Kind]
	if !ok {
		return stepOps{}, fmt.Errorf("step %s: kind %q is not performed by the cluster provider", s.ID, s.Kind)
	}
	return ops, nil
}

// Prepare reads what step will change; it changes nothing.
func (p *Provider) Prepare(ctx context.Context, step plan.Step) (map[string]string, error) {
	ops, err := opsFor(step)
	if err != nil {
		return nil, err
	}
	return ops.prepare(p, ctx, step)
}

// Run performs step. Given the same record it sends the same change, so a
// step interrupted half-way is re-run safely.
func (p *Provider) Run(ctx context.Context, step plan.Step, rec map[string]string, progress func(string)) error {
	ops, err := opsFor(step)
	if err != nil {
		return err
	}
	return ops.run(p, ctx, step, rec, progress)
}

// Verify confirms cheaply that a step recorded as done still holds.
func (p *Provider) Verify(ctx context.Context, step plan.Step, rec map[string]string) error {
	ops, err := opsFor(step)
	if err != nil {
		return err
	}
	return ops.verify(p, ctx, step, rec)
}

// Rollback reverses a step with what Prepare recorded.
func (p *Provider) Rollback(ctx context.Context, step plan.Step, rec map[string]string, progress func(string)) error {
	ops, err := opsFor(step)
	if err != nil {
		return err
	}
	return ops.rollback(p, ctx, step, rec, progress)
}

// noRecord is the prepare of a step that changes nothing.
func noRecord(*Provider, context.Context, plan.Step) (map[string]string, error) {
	return map[string]string{}, nil
}

func stepTimeout(step plan.Step) time.Duration {
	if step.TimeoutSecond > 0 {
		return time.Duration(step.TimeoutSecond) * time.Second
	}
	return config.DefaultWaveTimeout
}

// shortImage returns the tag of an image for progress lines.
func shortImage(image string) string {
	if i := strings.LastIndex(image, ":"); i >= 0 && !strings.Contains(image[i:], "/") {
		return image[i+1:]
	}
	return image
}
