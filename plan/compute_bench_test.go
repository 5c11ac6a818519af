package plan

import (
	"fmt"
	"testing"
	"time"

	"github.com/meshwave/meshwave/plan/config"
)

// scaledSnapshot is the backyards scenario plus n injected namespaces with
// three one-pod deployments each, all selected by one wave.
func scaledSnapshot(n int) (*config.Config, *Snapshot) {
	cfg, snap := backyardsConfig(), backyardsSnapshot()
	cfg.Waves = append(cfg.Waves, config.WaveConfig{Name: "scale", Selector: "scale=yes", MaxParallel: 10, Timeout: 10 * time.Minute})
	for i := range n {
		ns := fmt.Sprintf("scale-%04d", i)
		snap.Namespaces = append(snap.Namespaces, Namespace{Name: ns, Labels: map[string]string{LabelInjection: "enabled", "scale": "yes"}})
		for j := range 3 {
			snap.Workloads = append(snap.Workloads, Workload{Kind: KindDeployment, Namespace: ns, Name: fmt.Sprintf("app-%d", j),
				Pods: []Pod{{Name: fmt.Sprintf("app-%d-x", j), ProxyImage: img16, Revision: "mesh.istio-system", Ready: true}}})
		}
	}
	return cfg, snap
}

// BenchmarkCompute measures planning time per namespace. The 10-namespace
// case is the baseline of the same run: compare ns/namespace across sizes
// to see whether planning stays linear.
func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		cfg, snap := scaledSnapshot(n)
		b.Run(fmt.Sprintf("namespaces=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compute(cfg, snap)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/namespace")
		})
	}
}
