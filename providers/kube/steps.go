package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// stepOps are one step kind's four operations; each kind has its file
// (relabel.go, restart.go, evict.go, tag.go, gateway.go, wave.go,
// uninstall.go, install.go).
type stepOps struct {
	// prepare reads what the step will change; it changes nothing.
	prepare func(p *Provider, ctx context.Context, s plan.Step) (plan.Record, error)
	// run performs the step; with the same record it sends the same change.
	run func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, progress func(string)) error
	// verify confirms cheaply that a done step still holds.
	verify func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record) error
	// rollback reverses the step with what prepare recorded.
	rollback func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, progress func(string)) error
}

var stepKinds = map[plan.StepKind]stepOps{
	plan.StepNamespaceRelabel: relabelOps,
	plan.StepWorkloadRestart:  restartOps,
	plan.StepWorkloadEvict:    evictOps,
	plan.StepTagMove:          tagOps,
	plan.StepGatewayMigrate:   gatewayOps,
	plan.StepWaveWait:         waitOps,
	plan.StepWaveVerify:       verifyOps,
	plan.StepUninstall:        uninstallOps,
	plan.StepInstall:          installOps,
	plan.StepInstallWait:      installWaitOps,
}

func opsFor(s plan.Step) (stepOps, error) {
	ops, ok := stepKinds[s.Kind]
	if !ok {
		return stepOps{}, fmt.Errorf("step %s: kind %q is not performed by the cluster provider", s.ID, s.Kind)
	}
	return ops, nil
}

// Prepare reads what step will change; it changes nothing. Its requests,
// as every step operation's, are retried on transient errors (see call);
// Prepare and Verify have no progress to report them on.
func (p *Provider) Prepare(ctx context.Context, step plan.Step) (map[string]string, error) {
	ops, err := opsFor(step)
	if err != nil {
		return nil, err
	}
	ctx, _ = withRetryNote(ctx)
	return ops.prepare(p, ctx, step)
}

// Run performs step. Given the same record it sends the same change, so a
// step interrupted half-way is re-run safely. Requests that failed for a
// transient reason and were sent again are reported once, at the end.
func (p *Provider) Run(ctx context.Context, step plan.Step, rec map[string]string, progress func(string)) error {
	ops, err := opsFor(step)
	if err != nil {
		return err
	}
	ctx, note := withRetryNote(ctx)
	defer note.report(progress)
	return ops.run(p, ctx, step, rec, progress)
}

// Verify confirms cheaply that a step recorded as done still holds.
func (p *Provider) Verify(ctx context.Context, step plan.Step, rec map[string]string) error {
	ops, err := opsFor(step)
	if err != nil {
		return err
	}
	ctx, _ = withRetryNote(ctx)
	return ops.verify(p, ctx, step, rec)
}

// Rollback reverses a step with what Prepare recorded; its retries are
// reported as Run's are.
func (p *Provider) Rollback(ctx context.Context, step plan.Step, rec map[string]string, progress func(string)) error {
	ops, err := opsFor(step)
	if err != nil {
		return err
	}
	ctx, note := withRetryNote(ctx)
	defer note.report(progress)
	return ops.rollback(p, ctx, step, rec, progress)
}

// noRecord is the prepare of a step that changes nothing.
func noRecord(*Provider, context.Context, plan.Step) (plan.Record, error) {
	return plan.Record{}, nil
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
