package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
		Webhooks: []Webhook{
			istioInjector("istio-sidecar-injector-1-30", "1-30", "", "1-30", false),
			istioInjector("istio-revision-tag-prod-stable", "1-30", "prod-stable", "prod-stable", false),
			istioInjector("istio-sidecar-injector-1-31", "1-31", "", "1-31", false),
		},
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
	// The same users by kind, as meshwave generate places them.
	wantByKind := Users{Namespaces: []string{"shop", "tagged"},
		Pods: []ObjectRef{{Kind: "Pod", Namespace: "moved", Name: "legacy-1"}, {Kind: "Pod", Namespace: "moved", Name: "web-1"}},
		Tags: []string{"prod-stable"}}
	if d := cmp.Diff(wantByKind, RevisionUsersOf(snap, old, Move{})); d != "" {
		t.Errorf("users by kind (-want +got):\n%s", d)
	}
	got = RevisionUsers(snap, old, Move{Namespaces: map[string]bool{"shop": true, "tagged": true, "moved": true}, Tags: map[string]bool{"prod-stable": true}})
	if len(got) != 0 {
		t.Errorf("users once the plan moved everything: %v, want none", got)
	}
}

// Who injects a new pod, as the API server decides it from the selectors of
// Istio's own webhooks: revision 1-30 is the default (through the default
// tag), 1-31 the canary, prod-stable a tag on 1-30.
func TestPodInjections(t *testing.T) {
	webhooks := []Webhook{
		istioInjector("istio-sidecar-injector-1-30", "1-30", "", "1-30", false),
		istioInjector("istio-revision-tag-default", "1-30", config.DefaultRevision, config.DefaultRevision, true),
		istioInjector("istio-revision-tag-prod-stable", "1-30", "prod-stable", "prod-stable", false),
		istioInjector("istio-sidecar-injector-1-31", "1-31", "", "1-31", false),
		{Name: "unreadable", Injectors: []InjectorSelectors{{Name: "x.sidecar-injector.istio.io",
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}}}},
	}
	route := Injectors{Tags: map[string]string{config.DefaultRevision: "1-30", "prod-stable": "1-30"}, Default: "1-30"}
	labels := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := map[string]struct {
		ns, pod, podAnnotations map[string]string
		want                    []string
		wantRev                 string
	}{
		"namespace revision label": {ns: labels(LabelRevision, "1-31"),
			want: []string{"istio-sidecar-injector-1-31/rev.namespace.sidecar-injector.istio.io"}, wantRev: "1-31"},
		"namespace tag label injects the tag's revision": {ns: labels(LabelRevision, "prod-stable"),
			want: []string{"istio-revision-tag-prod-stable/rev.namespace.sidecar-injector.istio.io"}, wantRev: "1-30"},
		"istio-injection=enabled: the default tag": {ns: labels(LabelInjection, "enabled"),
			want: []string{"istio-revision-tag-default/namespace.sidecar-injector.istio.io"}, wantRev: "1-30"},
		// istio#37088: the namespace's istio.io/rev beats the pod's.
		"namespace istio.io/rev beats the pod's": {ns: labels(LabelRevision, "1-31"), pod: labels(LabelRevision, "1-30"),
			want: []string{"istio-sidecar-injector-1-31/rev.namespace.sidecar-injector.istio.io"}, wantRev: "1-31"},
		// istio#48316: istio-injection beats both.
		"istio-injection beats both revision labels": {ns: labels(LabelInjection, "enabled", LabelRevision, "1-31"), pod: labels(LabelRevision, "1-31"),
			want: []string{"istio-revision-tag-default/namespace.sidecar-injector.istio.io"}, wantRev: "1-30"},
		"istio-injection=disabled: nothing, whatever the pod says": {ns: labels(LabelInjection, "disabled"), pod: labels(LabelRevision, "1-31")},
		"pod opted out": {ns: labels(LabelRevision, "1-31"), pod: labels(LabelInjectPod, "false")},
		"pod opted out of its own revision label": {pod: labels(LabelRevision, "1-30", LabelInjectPod, "false")},
		// The object selectors read the label "false" only; the injector
		// they call reads the annotation and any other value too.
		"pod opted out by its annotation": {ns: labels(LabelRevision, "1-31"), podAnnotations: labels(LabelInjectPod, "false")},
		"pod opted out by another value":  {ns: labels(LabelRevision, "1-31"), pod: labels(LabelInjectPod, "disabled")},
		"pod label true wins over annotation false": {ns: labels(LabelRevision, "1-31"), pod: labels(LabelInjectPod, "true"),
			podAnnotations: labels(LabelInjectPod, "false"),
			want:           []string{"istio-sidecar-injector-1-31/rev.namespace.sidecar-injector.istio.io"}, wantRev: "1-31"},
		// istio#50834: a pod's istio.io/rev in an unlabeled namespace is
		// injected through the object selector.
		"pod revision label in an unlabeled namespace": {pod: labels(LabelRevision, "1-30"),
			want: []string{"istio-sidecar-injector-1-30/rev.object.sidecar-injector.istio.io"}, wantRev: "1-30"},
		"pod tag label in an unlabeled namespace": {pod: labels(LabelRevision, "prod-stable"),
			want: []string{"istio-revision-tag-prod-stable/rev.object.sidecar-injector.istio.io"}, wantRev: "1-30"},
		"pod inject=true in an unlabeled namespace: the default": {pod: labels(LabelInjectPod, "true"),
			want: []string{"istio-revision-tag-default/object.sidecar-injector.istio.io"}, wantRev: "1-30"},
		"unlabeled namespace, plain pod": {},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := PodInjections(webhooks, route, "shop", tt.ns, tt.pod, tt.podAnnotations)
			var names []string
			for _, in := range got {
				names = append(names, in.String())
			}
			if d := cmp.Diff(tt.want, names); d != "" {
				t.Errorf("PodInjections (-want +got):\n%s", d)
			}
			if rev := InjectedBy(got); rev != tt.wantRev {
				t.Errorf("InjectedBy = %q, want %q", rev, tt.wantRev)
			}
		})
	}

	moved := route.Moved([]config.TagConfig{{Name: config.DefaultRevision}}, "1-31")
	if rev := InjectedBy(PodInjections(webhooks, moved, "shop", labels(LabelInjection, "enabled"), nil, nil)); rev != "1-31" {
		t.Errorf("after moving the default tag, istio-injection=enabled is injected by %q, want 1-31", rev)
	}
	if route.Tags[config.DefaultRevision] != "1-30" {
		t.Errorf("Moved changed the original table")
	}

	// A namespace selector on the name the API server sets.
	named := []Webhook{{Name: "not-kube-system", Revision: "1-30", Injectors: []InjectorSelectors{{Name: "auto.sidecar-injector.istio.io",
		NamespaceSelector: matching(notIn(LabelNamespaceName, "kube-system"))}}}}
	if got := PodInjections(named, route, "kube-system", nil, nil, nil); len(got) != 0 {
		t.Errorf("kube-system injected by %v, want nothing", got)
	}
	if got := PodInjections(named, route, "shop", nil, nil, nil); InjectedBy(got) != "1-30" {
		t.Errorf("shop injected by %v, want 1-30", got)
	}

	// Two revisions select the namespace: which injects is undefined.
	both := PodInjections(webhooks, route, "shop", labels(LabelRevision, "1-31"), nil, nil)
	both = append(both, Injection{Configuration: "copy", Webhook: "w", Revision: "1-30"})
	if rev := InjectedBy(both); rev != "" {
		t.Errorf("InjectedBy of two revisions = %q, want empty", rev)
	}
}

// A Backyards control plane's injector selects namespaces only: a pod's
// istio.io/rev does not pin it.
func TestPodInjectionsBackyards(t *testing.T) {
	snap := cluster().withBackyardsInjector("mesh.istio-system", true).withBackyardsInjector("cp-v17x.istio-system", false).build()
	route := Injectors{Tags: map[string]string{}}
	tests := map[string]struct {
		ns, pod, podAnnotations map[string]string
		want                    string
	}{
		"default":           {ns: map[string]string{LabelInjection: "enabled"}, want: "mesh.istio-system"},
		"revisioned":        {ns: map[string]string{LabelRevision: "cp-v17x.istio-system"}, want: "cp-v17x.istio-system"},
		"both: injection":   {ns: map[string]string{LabelInjection: "enabled", LabelRevision: "cp-v17x.istio-system"}, want: "mesh.istio-system"},
		"pod label ignored": {pod: map[string]string{LabelRevision: "cp-v17x.istio-system"}},
		"opted out":         {ns: map[string]string{LabelInjection: "enabled"}, pod: optedOut},
		"opted out by its annotation, which the selector does not read": {ns: map[string]string{LabelInjection: "enabled"},
			podAnnotations: map[string]string{LabelInjectPod: "false"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := InjectedBy(PodInjections(snap.Webhooks, route, "demo", tt.ns, tt.pod, tt.podAnnotations)); got != tt.want {
				t.Errorf("injected by %q, want %q", got, tt.want)
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
		"label false":              {labels: map[string]string{LabelInjectPod: "false"}, want: true},
		"annotation false":         {annotations: map[string]string{LabelInjectPod: "false"}, want: true},
		"any other value opts out": {labels: map[string]string{LabelInjectPod: "no"}, want: true},
		"label true":               {labels: map[string]string{LabelInjectPod: "TRUE"}, want: false},
		"annotation on":            {annotations: map[string]string{LabelInjectPod: "on"}, want: false},
		"label wins over annotation": {labels: map[string]string{LabelInjectPod: "true"},
			annotations: map[string]string{LabelInjectPod: "false"}, want: false},
		"empty label leaves it to the namespace": {labels: map[string]string{LabelInjectPod: ""},
			annotations: map[string]string{LabelInjectPod: "false"}, want: false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := InjectionOptedOut(tt.labels, tt.annotations); got != tt.want {
				t.Errorf("InjectionOptedOut = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestIsGateway(t *testing.T) {
	tests := map[string]struct {
		labels, annotations map[string]string
		want                bool
	}{
		"injected with the gateway template": {annotations: map[string]string{AnnotationInjectTemplates: "gateway"}, want: true},
		"among other templates":              {annotations: map[string]string{AnnotationInjectTemplates: "sidecar, gateway"}, want: true},
		"installed by istioctl":              {labels: map[string]string{LabelComponent: "IngressGateways"}, want: true},
		"an egress gateway":                  {labels: map[string]string{LabelComponent: "EgressGateways"}, want: true},
		"an app":                             {labels: map[string]string{"app": "web", LabelRevision: "1-30"}},
		"istiod":                             {labels: map[string]string{LabelComponent: "Pilot"}},
		"another template":                   {annotations: map[string]string{AnnotationInjectTemplates: "gateways"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := IsGateway(tt.labels, tt.annotations); got != tt.want {
				t.Errorf("IsGateway = %t, want %t", got, tt.want)
			}
		})
	}
}
