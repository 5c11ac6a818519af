package kube

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshwave/meshwave/plan"
)

// listing picks the list requests whose label selector holds sel.
func listing(sel string) func(k8stesting.Action) bool {
	return func(a k8stesting.Action) bool {
		l, ok := a.(k8stesting.ListAction)
		return ok && strings.Contains(l.GetListRestrictions().Labels.String(), sel)
	}
}

func TestTagStep(t *testing.T) {
	step := plan.Step{ID: "tag/prod-stable", Kind: plan.StepTagMove,
		Object:       &plan.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: plan.TagWebhookName("prod-stable")},
		FromRevision: "1-30", ToRevision: "1-31"}
	rec := plan.Record{"revision": "1-30"}
	injector := func(rev, port string) runtime.Object {
		wh := injectorWebhook(plan.InjectorWebhookName(rev), rev, "", "https://127.0.0.1:"+port)
		return &wh
	}
	tag := func(rev, port string) runtime.Object {
		wh := injectorWebhook(plan.TagWebhookName("prod-stable"), rev, "prod-stable", "https://127.0.0.1:"+port)
		return &wh
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod-prod-stable",
		Labels: map[string]string{plan.LabelTag: "prod-stable", plan.LabelRevision: "1-30"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{plan.LabelRevision: "1-30"}}}
	cluster := func(tagRev, tagPort string) []runtime.Object {
		return objs(injector("1-30", "15017"), injector("1-31", "15018"), tag(tagRev, tagPort), svc)
	}
	update := "update mutatingwebhookconfigurations istio-revision-tag-prod-stable"
	patchSvc := "patch services istio-system/istiod-prod-stable"
	tests := map[string]struct {
		stepCase
		wantOn string // the revision the tag webhook calls after the call
	}{
		"prepare records the tag's revision": {stepCase: stepCase{op: "prepare", objects: cluster("1-30", "15017"), wantRecord: rec}},
		"prepare of a tag that is gone":      {stepCase: stepCase{op: "prepare", wantErr: "read revision tag prod-stable: "}},
		"prepare on a failing read": {stepCase: stepCase{op: "prepare", objects: cluster("1-30", "15017"),
			fail:    []failure{{verb: "get", resource: "mutatingwebhookconfigurations", times: -1, err: forbidden("mutatingwebhookconfigurations", "")}},
			wantErr: "read revision tag prod-stable: "}},
		"run points the tag and its Service at the revision": {stepCase: stepCase{op: "run", rec: rec, objects: cluster("1-30", "15017"),
			wantWrites: []string{update, patchSvc}}, wantOn: "1-31"},
		"run reads again after a conflict": {stepCase: stepCase{op: "run", rec: rec, objects: cluster("1-30", "15017"),
			fail:       []failure{{verb: "update", resource: "mutatingwebhookconfigurations", times: 1, err: conflict("mutatingwebhookconfigurations", "")}},
			wantWrites: []string{update, update, patchSvc}}, wantOn: "1-31"},
		"run again sends nothing new": {stepCase: stepCase{op: "run", rec: rec, objects: cluster("1-30", "15017"), twice: true,
			wantWrites: []string{update, patchSvc}}, wantOn: "1-31"},
		"run when the old revision is gone": {stepCase: stepCase{op: "run", rec: rec,
			objects:    objs(injector("1-31", "15018"), tag("1-30", "15017")),
			wantWrites: []string{update}}, wantOn: "1-31"},
		"run when the old revision cannot be read": {stepCase: stepCase{op: "run", rec: rec, objects: cluster("1-30", "15017"),
			fail: []failure{{verb: "list", resource: "mutatingwebhookconfigurations", times: -1, err: forbidden("mutatingwebhookconfigurations", ""),
				only: listing("=1-30")}},
			wantErr: "move revision tag prod-stable to 1-31: list the injector webhooks of 1-30: "}, wantOn: "1-30"},
		"run of a tag that is gone": {stepCase: stepCase{op: "run", rec: rec, objects: objs(injector("1-31", "15018")),
			wantErr: "move revision tag prod-stable to 1-31: read revision tag prod-stable: "}},
		"run to a revision with no injector": {stepCase: stepCase{op: "run", rec: rec, objects: objs(tag("1-30", "15017")),
			wantErr: "revision 1-31 has no injector webhook"}},
		"verify of a moved tag": {stepCase: stepCase{op: "verify", rec: rec, objects: cluster("1-31", "15018")}},
		"verify sees it moved back": {stepCase: stepCase{op: "verify", rec: rec, objects: cluster("1-30", "15017"),
			wantErr: "revision tag prod-stable points at 1-30, want 1-31"}},
		"verify of a tag that is gone": {stepCase: stepCase{op: "verify", rec: rec, wantErr: "read revision tag prod-stable: "}},
		"verify on a failing read": {stepCase: stepCase{op: "verify", rec: rec, objects: cluster("1-31", "15018"),
			fail:    []failure{{verb: "get", resource: "mutatingwebhookconfigurations", times: -1, err: forbidden("mutatingwebhookconfigurations", "")}},
			wantErr: "read revision tag prod-stable: "}},
		"rollback points it back at the recorded revision": {stepCase: stepCase{op: "rollback", rec: rec, objects: cluster("1-31", "15018"),
			wantWrites: []string{update}}, wantOn: "1-30"},
		"rollback reads again after a conflict": {stepCase: stepCase{op: "rollback", rec: rec, objects: cluster("1-31", "15018"),
			fail:       []failure{{verb: "update", resource: "mutatingwebhookconfigurations", times: 1, err: conflict("mutatingwebhookconfigurations", "")}},
			wantWrites: []string{update, update}}, wantOn: "1-30"},
		"rollback of a tag that is gone": {stepCase: stepCase{op: "rollback", rec: rec, objects: objs(injector("1-30", "15017")),
			wantErr: "move revision tag prod-stable to 1-30: read revision tag prod-stable: "}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := tc.run(t, plan.FlavorIstio, step)
			if tc.wantOn == "" {
				return
			}
			wh, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), plan.TagWebhookName("prod-stable"), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.wantOn, wh.Labels[plan.LabelRevision]); d != "" {
				t.Errorf("tag revision (-want +got):\n%s", d)
			}
			if got, want := string(wh.Webhooks[0].ClientConfig.CABundle), "CA-"+tc.wantOn; got != want {
				t.Errorf("tag webhook calls with CA %q, want %q", got, want)
			}
		})
	}
}

// Moving the default tag also points the default validator at the
// revision, re-reading it after a conflict.
func TestDefaultTagMovesTheValidator(t *testing.T) {
	step := plan.Step{ID: "tag/default", Kind: plan.StepTagMove,
		Object: &plan.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: plan.TagWebhookName("default")}, ToRevision: "1-31"}
	inj := injectorWebhook(plan.InjectorWebhookName("1-31"), "1-31", "", "https://127.0.0.1:15018")
	tag := injectorWebhook(plan.TagWebhookName("default"), "1-30", "default", "https://127.0.0.1:15017")
	validator := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: validatorDefaultName, Labels: map[string]string{plan.LabelRevision: "1-30"}},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "validation.istio.io"}}}
	tc := stepCase{op: "run", objects: objs(&inj, &tag, validator),
		fail: []failure{{verb: "update", resource: "validatingwebhookconfigurations", times: 1, err: conflict("validatingwebhookconfigurations", "")}},
		wantWrites: []string{"update mutatingwebhookconfigurations istio-revision-tag-default",
			"update validatingwebhookconfigurations istiod-default-validator", "update validatingwebhookconfigurations istiod-default-validator"}}
	c := tc.run(t, plan.FlavorIstio, step)
	got, err := c.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(t.Context(), validatorDefaultName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff("https://127.0.0.1:15018/validate", *got.Webhooks[0].ClientConfig.URL); d != "" {
		t.Errorf("validator URL (-want +got):\n%s", d)
	}
}
