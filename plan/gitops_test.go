package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan/config"
)

func TestGitOpsOf(t *testing.T) {
	tests := map[string]struct {
		m    Management
		want string // "" when no GitOps controller manages it
	}{
		"argo tracking annotation": {Management{Marks: map[string]string{AnnotationArgoTrackingID: "shop:/Namespace:/shop"}}, "Argo CD (Application shop)"},
		"argo instance label":      {Management{Marks: map[string]string{LabelArgoInstance: "mesh"}}, "Argo CD (Application mesh)"},
		"argo manager and the app.kubernetes.io/instance label": {Management{Marks: map[string]string{LabelAppInstance: "shop"},
			Managers: []string{"argocd-controller"}}, "Argo CD (Application shop)"},
		"argo manager alone":               {Management{Managers: []string{"kubectl", "argocd-application-controller"}}, "Argo CD"},
		"app.kubernetes.io/instance alone": {Management{Marks: map[string]string{LabelAppInstance: "shop"}, Managers: []string{"helm"}}, ""},
		"flux kustomization labels":        {Management{Marks: map[string]string{LabelFluxKustomizationName: "apps", LabelFluxKustomizationNamespace: "flux-system"}}, "Flux (Kustomization flux-system/apps)"},
		"flux helm release label":          {Management{Marks: map[string]string{LabelFluxHelmReleaseName: "istio-ingress", LabelFluxHelmReleaseNamespace: "istio-system"}}, "Flux (HelmRelease istio-system/istio-ingress)"},
		"flux manager alone":               {Management{Managers: []string{"kustomize-controller"}}, "Flux"},
		"nothing":                          {Management{Managers: []string{"kubectl-client-side-apply"}}, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			owner, ok := GitOpsOf(tt.m)
			got := ""
			if ok {
				got = owner.String()
			}
			if got != tt.want {
				t.Errorf("GitOpsOf = %q, want %q", got, tt.want)
			}
		})
	}
}

// A namespace the plan relabels and a gateway it moves warn when a GitOps
// controller manages them; a namespace that needs no relabel does not.
func TestComputeGitOpsManaged(t *testing.T) {
	cfg := &config.Config{
		Upgrade:  Upgrade{From: "1-26", To: "1-27", Flavor: FlavorIstio},
		Gateways: []config.GatewayConfig{{Name: "ingress", Namespace: "istio-system"}},
		Waves:    []config.WaveConfig{{Name: "all", Namespaces: []string{"shop", "moved", "plain"}, MaxParallel: 1}},
	}
	snap := cluster().
		withNamespace("shop", LabelRevision, "1-26").
		withNamespace("moved", LabelRevision, "1-27").
		withNamespace("plain", LabelRevision, "1-26").
		withRevision("1-26", "1.26.3", "istio/proxyv2:1.26.3").
		withRevision("1-27", "1.27.1", "istio/proxyv2:1.27.1").
		withGateway(MeshGateway{Name: "ingress", Namespace: "istio-system", ControlPlane: "1-26",
			Management: Management{Managers: []string{"helm-controller"}, Marks: map[string]string{LabelFluxHelmReleaseName: "ingress", LabelFluxHelmReleaseNamespace: "istio-system"}}}).
		build()
	argo := Management{Marks: map[string]string{AnnotationArgoTrackingID: "shop:/Namespace:/shop"}}
	snap.Namespaces[0].Management = argo
	snap.Namespaces[1].Management = argo // already on the target: nothing to set back
	p := Compute(cfg, snap)
	var got []string
	for _, c := range p.Checks {
		if c.Code == CodeGitOpsManaged {
			if c.Severity != SeverityWarning || c.Hint == "" {
				t.Errorf("MW030 %+v: want a warning with a hint", c)
			}
			got = append(got, c.Object.Kind+" "+c.Object.Name+": "+c.Message)
		}
	}
	want := []string{
		"Deployment ingress: gateway is managed by Flux (HelmRelease istio-system/ingress), which will move it back to the revision git says",
		"Namespace shop: namespace is managed by Argo CD (Application shop), which will set its injection labels back to what git says (istio/istio#28967)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MW030 checks (-want +got):\n%s", diff)
	}
}
