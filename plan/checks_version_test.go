package plan

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/meshwave/meshwave/plan/config"
)

// The plan shows each revision's Istio version, refuses to put proxies
// ahead of their control plane (a downgrade, an automatic rollback across
// more than one minor) at the upgrade block, and warns of a jump of more
// than one minor where istio-cni or ztunnel serve every revision.
func TestComputeVersionSkew(t *testing.T) {
	upgradeBlock := hcl.Range{Filename: "upgrade.mw.hcl", Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 8, Byte: 7}}
	cni := ObjectRef{Kind: "DaemonSet", Namespace: "kube-system", Name: "istio-cni-node"}
	tests := map[string]struct {
		from, to  string
		automatic bool
		shared    []ObjectRef
		want      []string // code and object of each version check
	}{
		"one minor up":                         {"1.26.3", "1.27.1", true, []ObjectRef{cni}, nil},
		"a patch release back":                 {"1.27.1", "1.27.0", false, nil, []string{"MW033 "}},
		"one minor back":                       {"1.27.1", "1.26.3", false, nil, []string{"MW033 "}},
		"two minors up, rollback by hand":      {"1.25.2", "1.27.1", false, nil, nil},
		"two minors up, automatic rollback":    {"1.25.2", "1.27.1", true, nil, []string{"MW034 "}},
		"two minors up with istio-cni":         {"1.25.2", "1.27.1", false, []ObjectRef{cni}, []string{"MW035 DaemonSet/istio-cni-node"}},
		"unknown version":                      {"", "1.27.1", true, []ObjectRef{cni}, nil},
		"backyards build suffixes, minor up":   {"1.6.3-bzc", "1.7.0-bzc", true, nil, nil},
		"backyards build suffixes, minor back": {"1.7.0-bzc", "1.6.3-bzc", true, nil, []string{"MW033 "}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := &config.Config{
				Upgrade:  Upgrade{From: "old", To: "new", Flavor: FlavorIstio, DefRange: upgradeBlock},
				Waves:    []config.WaveConfig{{Name: "all", Namespaces: []string{"shop"}, MaxParallel: 1, Timeout: time.Minute}},
				Rollback: config.RollbackConfig{Automatic: tc.automatic},
			}
			snap := cluster().
				withNamespace("shop", LabelRevision, "old").
				withRevision("old", tc.from, "proxyv2:"+tc.from).
				withRevision("new", tc.to, "proxyv2:"+tc.to).
				build()
			snap.SharedProxies = tc.shared
			p := Compute(cfg, snap)
			if p.FromVersion != tc.from || p.ToVersion != tc.to {
				t.Errorf("versions %q → %q, want %q → %q", p.FromVersion, p.ToVersion, tc.from, tc.to)
			}
			var got []string
			for _, c := range p.Checks {
				switch c.Code {
				case CodeDowngrade, CodeRollbackSkew, CodeSharedProxySkew:
				default:
					continue
				}
				obj := ""
				if c.Object != nil {
					obj = c.Object.Kind + "/" + c.Object.Name
				}
				got = append(got, c.Code+" "+obj)
				if c.Range == nil || *c.Range != upgradeBlock {
					t.Errorf("%s points at %v, want the upgrade block", c.Code, c.Range)
				}
				if (c.Code == CodeSharedProxySkew) != (c.Severity == SeverityWarning) {
					t.Errorf("%s has severity %s", c.Code, c.Severity)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("version checks (-want +got):\n%s", diff)
			}
		})
	}
}
