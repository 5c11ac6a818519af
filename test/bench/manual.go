package bench

import (
	"context"
	"fmt"
	"time"
)

// manual is A, the guide's procedure typed by a person, with the cluster's
// kubectl: for each namespace in turn, relabel it to revision to, restart its Deployments,
// and wait for each rollout before going on. It returns the wall time of
// the whole procedure.
func (b *bench) manual(ctx context.Context, s set, to string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.RunTimeout)
	defer cancel()
	add, remove := relabel(to)
	label := []string{"label", "namespace", "NAMESPACE"}
	for k, v := range add {
		label = append(label, k+"="+v)
	}
	for _, k := range remove {
		label = append(label, k+"-")
	}
	label = append(label, "--overwrite")
	start := time.Now()
	for _, ns := range s.namespaceNames() {
		label[2] = ns
		steps := [][]string{
			label,
			{"rollout", "restart", "deployment", "-n", ns},
		}
		for j := range deploymentsPerNamespace {
			steps = append(steps, []string{"rollout", "status", fmt.Sprintf("deployment/app-%d", j), "-n", ns, "--timeout=10m"})
		}
		for _, args := range steps {
			if _, err := b.env.Kubectl(ctx, args...); err != nil {
				return 0, fmt.Errorf("A: %w%s", err, timedOut(ctx))
			}
		}
	}
	return time.Since(start), nil
}
