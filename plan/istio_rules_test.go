package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan/config"
)

func TestPodRevision(t *testing.T) {
	tests := map[string]struct {
		labels, annotations map[string]string
		want                string
	}{
		"upstream istiod: status annotation, no label": {
			annotations: map[string]string{AnnotationSidecarStatus: `{"initContainers":["istio-init"],"containers":["istio-proxy"],"revision":"1-30"}`, LabelRevision: "1-30"},
			want:        "1-30"},
		"status wins over a stale label": {
			labels:      map[string]string{LabelRevision: "1-29"},
			annotations: map[string]string{AnnotationSidecarStatus: `{"revision":"1-30"}`},
			want:        "1-30"},
		"revision annotation only": {annotations: map[string]string{LabelRevision: "canary"}, want: "canary"},
		"backyards: label only":    {labels: map[string]string{LabelRevision: "cp-v17x.istio-system"}, want: "cp-v17x.istio-system"},
		"unreadable status falls back": {
			labels:      map[string]string{LabelRevision: "1-30"},
			annotations: map[string]string{AnnotationSidecarStatus: `{not json`},
			want:        "1-30"},
		"not injected": {},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := PodRevision(tt.labels, tt.annotations); got != tt.want {
				t.Errorf("PodRevision = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNamespaceRevision(t *testing.T) {
	in := Injectors{Tags: map[string]string{"prod-stable": "1-30", config.DefaultRevision: "1-30"}, Default: "1-30"}
	tests := map[string]struct {
		labels map[string]string
		want   string
	}{
		"revision label":                {map[string]string{LabelRevision: "1-31"}, "1-31"},
		"tag label":                     {map[string]string{LabelRevision: "prod-stable"}, "1-30"},
		"injection enabled":             {map[string]string{LabelInjection: "enabled"}, "1-30"},
		"injection wins over rev":       {map[string]string{LabelInjection: "enabled", LabelRevision: "1-31"}, "1-30"},
		"injection disabled":            {map[string]string{LabelInjection: "disabled", LabelRevision: "1-31"}, ""},
		"no label":                      {nil, ""},
		"rev=default follows the tag":   {map[string]string{LabelRevision: config.DefaultRevision}, "1-30"},
		"unknown tag is taken verbatim": {map[string]string{LabelRevision: "nope"}, "nope"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := in.NamespaceRevision(tt.labels); got != tt.want {
				t.Errorf("NamespaceRevision(%v) = %q, want %q", tt.labels, got, tt.want)
			}
		})
	}
	moved := in.Moved([]config.TagConfig{{Name: config.DefaultRevision}, {Name: "prod-stable"}}, "1-31")
	if got := moved.NamespaceRevision(map[string]string{LabelInjection: "enabled"}); got != "1-31" {
		t.Errorf("after moving the default tag, istio-injection=enabled selects %q, want 1-31", got)
	}
	if in.Tags["prod-stable"] != "1-30" {
		t.Errorf("Moved changed the original table")
	}
}

// The rule behind MW015 and the uninstall's live re-check. Before it was one
// function, plan matched pods by proxy image and left istiod out by name,
// while the re-check matched pods by the istio.io/rev label and left istiod
// out by app=istiod; this snapshot is one where the two disagreed.
func TestRevisionUsers(t *testing.T) {
	old := ControlPlane{Revision: "1-30", Namespace: "istio-system", ProxyImage: "docker.io/istio/proxyv2:1.30.0",
		Kind: "Deployment", Name: "istiod-1-30", Tags: []string{"prod-stable"},
		// istiod's pod is named otherwise than "istiod-*".
		Istiod: []Pod{{Name: "pilot-7c9d-x", Ready: true}}}
	next := ControlPlane{Revision: "1-31", Namespace: "istio-system", ProxyImage: "docker.io/istio/proxyv2:1.31.0"}
	snap := &Snapshot{
		Namespaces: []Namespace{
			{Name: "istio-system"},
			{Name: "shop", Labels: map[string]string{LabelRevision: "1-30"}},
			{Name: "tagged", Labels: map[string]string{LabelRevision: "prod-stable"}},
			{Name: "moved", Labels: map[string]string{LabelRevision: "1-31"}},
		},
		Workloads: []Workload{
			{Kind: KindDeployment, Namespace: "istio-system", Name: "pilot", Pods: []Pod{{Name: "pilot-7c9d-x", Revision: "1-30", Ready: true}}},
			// The label says 1-31 (a stale copy), the injector recorded 1-30:
			// the pod talks to 1-30.
			{Kind: KindDeployment, Namespace: "moved", Name: "web", Pods: []Pod{{Name: "web-1", ProxyImage: "docker.io/istio/proxyv2:1.30.0", Revision: "1-30"}}},
			// Image of 1-30 but injected by 1-31 (a pinned proxy image).
			{Kind: KindDeployment, Namespace: "moved", Name: "pinned", Pods: []Pod{{Name: "pinned-1", ProxyImage: "docker.io/istio/proxyv2:1.30.0", Revision: "1-31"}}},
			// An old injector that recorded no revision: the image decides.
			{Kind: KindDeployment, Namespace: "moved", Name: "legacy", Pods: []Pod{{Name: "legacy-1", ProxyImage: "docker.io/istio/proxyv2:1.30.0"}}},
			{Kind: KindDeployment, Namespace: "moved", Name: "plain", Pods: []Pod{{Name: "plain-1"}}},
		},
		ControlPlanes: []ControlPlane{old, next},
	}
	got := RevisionUsers(snap, old, Move{})
	want := []string{
		"namespace shop", "namespace tagged",
		"pod moved/legacy-1", "pod moved/web-1",
		"revision tag prod-stable",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("users before the plan (-want +got):\n%s", d)
	}
	got = RevisionUsers(snap, old, Move{Namespaces: map[string]bool{"shop": true, "tagged": true, "moved": true}, Tags: map[string]bool{"prod-stable": true}})
	if len(got) != 0 {
		t.Errorf("users once the plan moved everything: %v, want none", got)
	}
}

// Which injection webhooks inject a plain pod, with the real webhooks' selectors.
func TestInjecting(t *testing.T) {
	revNS := func(rev string) InjectorSelectors {
		return InjectorSelectors{Name: "rev.namespace.sidecar-injector.istio.io",
			NamespaceSelector: "!istio-injection,istio.io/rev in (" + rev + ")", ObjectSelector: "sidecar.istio.io/inject notin (false)"}
	}
	revObj := func(rev string) InjectorSelectors {
		return InjectorSelectors{Name: "rev.object.sidecar-injector.istio.io",
			NamespaceSelector: "!istio-injection,!istio.io/rev", ObjectSelector: "istio.io/rev in (" + rev + "),sidecar.istio.io/inject notin (false)"}
	}
	defaultNS := InjectorSelectors{Name: "namespace.sidecar-injector.istio.io", NamespaceSelector: "istio-injection in (enabled)", ObjectSelector: "sidecar.istio.io/inject notin (false)"}
	webhooks := []Webhook{
		{Name: "istio-sidecar-injector-1-30", Injectors: []InjectorSelectors{revNS("1-30"), revObj("1-30")}},
		{Name: "istio-revision-tag-default", Injectors: []InjectorSelectors{revNS("default"), revObj("default"), defaultNS}},
		{Name: "copied-default", Injectors: []InjectorSelectors{defaultNS}},
		{Name: "unreadable", Injectors: []InjectorSelectors{{Name: "x.sidecar-injector.istio.io", NamespaceSelector: SelectsNothing}}},
	}
	tests := map[string]struct {
		labels map[string]string
		want   []string
	}{
		"revision label":    {map[string]string{LabelRevision: "1-30"}, []string{"istio-sidecar-injector-1-30/rev.namespace.sidecar-injector.istio.io"}},
		"injection enabled": {map[string]string{LabelInjection: "enabled"}, []string{"istio-revision-tag-default/namespace.sidecar-injector.istio.io", "copied-default/namespace.sidecar-injector.istio.io"}},
		"no label":          {nil, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, Injecting(webhooks, tt.labels)); d != "" {
				t.Errorf("Injecting (-want +got):\n%s", d)
			}
		})
	}
}

func TestInjectionOptedOut(t *testing.T) {
	tests := map[string]struct {
		labels, annotations map[string]string
		want                bool
	}{
		"nothing set":              {want: false},
		"label false":              {labels: map[string]string{SidecarInject: "false"}, want: true},
		"annotation false":         {annotations: map[string]string{SidecarInject: "false"}, want: true},
		"any other value opts out": {labels: map[string]string{SidecarInject: "no"}, want: true},
		"label true":               {labels: map[string]string{SidecarInject: "TRUE"}, want: false},
		"annotation on":            {annotations: map[string]string{SidecarInject: "on"}, want: false},
		"label wins over annotation": {labels: map[string]string{SidecarInject: "true"},
			annotations: map[string]string{SidecarInject: "false"}, want: false},
		"empty label leaves it to the namespace": {labels: map[string]string{SidecarInject: ""},
			annotations: map[string]string{SidecarInject: "false"}, want: false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := InjectionOptedOut(tt.labels, tt.annotations); got != tt.want {
				t.Errorf("InjectionOptedOut = %t, want %t", got, tt.want)
			}
		})
	}
}
