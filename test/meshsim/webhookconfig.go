// The MutatingWebhookConfigurations meshsim installs (webhook.go serves them).

package meshsim

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func (s *Sim) injectURL(path string) *string { return ptr.To(s.baseURL + "/inject/" + path) }

// webhookBase is one injection webhook, with the fields every flavor shares.
func (s *Sim) webhookBase(name, urlPath string) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{
		Name:                    name,
		ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: s.injectURL(urlPath), CABundle: s.caPEM},
		Rules:                   []admissionregistrationv1.RuleWithOperations{podCreateRule},
		FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1"},
		TimeoutSeconds:          ptr.To[int32](10),
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
	}
}

var podCreateRule = admissionregistrationv1.RuleWithOperations{
	Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
	Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
		Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
}

func expr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

// notOptedOut is the object selector that honours sidecar.istio.io/inject=false.
var notOptedOut = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr(LabelInjectPod, metav1.LabelSelectorOpNotIn, "false")}}

// banzaiWebhook is the 1.6/1.7-era injector of a Banzai control plane: the
// default one selects istio-injection=enabled namespaces, a revisioned one
// namespaces labeled istio.io/rev=<revision> without istio-injection.
func (s *Sim) banzaiWebhook(cp controlPlane) *admissionregistrationv1.MutatingWebhookConfiguration {
	w := s.webhookBase("sidecar-injector.istio.io", cp.Revision)
	if cp.Default {
		w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{LabelInjection: "enabled"}}
	} else {
		w.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			expr(LabelInjection, metav1.LabelSelectorOpDoesNotExist),
			expr(LabelRevision, metav1.LabelSelectorOpIn, cp.Revision),
		}}
	}
	w.ObjectSelector = notOptedOut
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-" + cp.Name + "-" + cp.Namespace,
			Labels: ownedLabels(cp.owner(), map[string]string{LabelRevision: cp.Revision, "app": "istio-sidecar-injector"})},
		Webhooks: []admissionregistrationv1.MutatingWebhook{w},
	}
}

// istioWebhooks are upstream Istio's injection webhooks for a revision (or
// a tag, which selects on its own name and injects its revision).
func (s *Sim) istioWebhooks(selectValue, urlPath string, isDefault bool) []admissionregistrationv1.MutatingWebhook {
	revNS := s.webhookBase("rev.namespace.sidecar-injector.istio.io", urlPath)
	revNS.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		expr(LabelRevision, metav1.LabelSelectorOpIn, selectValue),
		expr(LabelInjection, metav1.LabelSelectorOpDoesNotExist),
	}}
	revNS.ObjectSelector = notOptedOut
	revObj := s.webhookBase("rev.object.sidecar-injector.istio.io", urlPath)
	revObj.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		expr(LabelRevision, metav1.LabelSelectorOpDoesNotExist),
		expr(LabelInjection, metav1.LabelSelectorOpDoesNotExist),
	}}
	revObj.ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		expr(LabelInjectPod, metav1.LabelSelectorOpNotIn, "false"),
		expr(LabelRevision, metav1.LabelSelectorOpIn, selectValue),
	}}
	out := []admissionregistrationv1.MutatingWebhook{revNS, revObj}
	if isDefault {
		ns := s.webhookBase("namespace.sidecar-injector.istio.io", urlPath)
		ns.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			expr(LabelInjection, metav1.LabelSelectorOpIn, "enabled"),
		}}
		ns.ObjectSelector = notOptedOut
		obj := s.webhookBase("object.sidecar-injector.istio.io", urlPath)
		obj.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			expr(LabelInjection, metav1.LabelSelectorOpDoesNotExist),
			expr(LabelRevision, metav1.LabelSelectorOpDoesNotExist),
		}}
		obj.ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			expr(LabelInjectPod, metav1.LabelSelectorOpIn, "true"),
			expr(LabelRevision, metav1.LabelSelectorOpDoesNotExist),
		}}
		out = append(out, ns, obj)
	}
	return out
}

func (s *Sim) istioWebhook(cp controlPlane) *admissionregistrationv1.MutatingWebhookConfiguration {
	name := "istio-sidecar-injector-" + cp.Revision
	if cp.Default {
		name = "istio-sidecar-injector"
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: ownedLabels(cp.owner(), map[string]string{LabelRevision: cp.Revision, "app": "sidecar-injector"})},
		Webhooks: s.istioWebhooks(cp.Revision, cp.Revision, cp.Default),
	}
}

// TagWebhookName is the webhook configuration of an Istio revision tag.
func TagWebhookName(tag string) string { return "istio-revision-tag-" + tag }

// SetTag points an upstream Istio revision tag at a revision, as
// `istioctl tag set <tag> --revision <revision> --overwrite` does: a webhook
// configuration istio-revision-tag-<tag>, labeled istio.io/tag=<tag> and
// istio.io/rev=<revision>, that injects namespaces labeled
// istio.io/rev=<tag>. meshsim injects the revision that label names at
// admission time, so relabeling the configuration also re-points the tag.
func (s *Sim) SetTag(ctx context.Context, tag, revision string) error {
	wh := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: TagWebhookName(tag),
			Labels: map[string]string{labelManagedBy: managedBy, LabelTag: tag, LabelRevision: revision, "app": "sidecar-injector"}},
		Webhooks: s.istioWebhooks(tag, "tag/"+tag, tag == "default"),
	}
	return s.ensureWebhook(ctx, wh)
}

// RemoveTag deletes a revision tag.
func (s *Sim) RemoveTag(ctx context.Context, tag string) error {
	err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, TagWebhookName(tag), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// refreshWebhooks points every webhook meshsim made (also by an earlier
// meshsim process) at this server and its CA.
func (s *Sim) refreshWebhooks(ctx context.Context) error {
	if err := s.ensureWebhook(ctx, s.gatewayFaultWebhook()); err != nil {
		return err
	}
	whs, err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx,
		metav1.ListOptions{LabelSelector: labelManagedBy + "=" + managedBy})
	if err != nil {
		return fmt.Errorf("meshsim: list webhooks: %w", err)
	}
	for i := range whs.Items {
		wh := whs.Items[i].DeepCopy()
		for j := range wh.Webhooks {
			cc := &wh.Webhooks[j].ClientConfig
			if cc.URL == nil {
				continue
			}
			_, path, _ := strings.Cut(strings.TrimPrefix(*cc.URL, "https://"), "/")
			cc.URL = ptr.To(s.baseURL + "/" + path)
			cc.CABundle = s.caPEM
		}
		if err := s.ensureWebhook(ctx, wh); err != nil {
			return err
		}
	}
	return nil
}

// gatewayFaultWebhook sends MeshGateway pods through meshsim's fault checks;
// they are not injected (the operator renders their proxy container).
func (s *Sim) gatewayFaultWebhook() *admissionregistrationv1.MutatingWebhookConfiguration {
	w := s.webhookBase("gateway-faults.meshsim.meshwave.dev", "")
	w.ClientConfig.URL = ptr.To(s.baseURL + "/gateway-pod")
	w.ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr(labelGatewayPod, metav1.LabelSelectorOpExists)}}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "meshsim-gateway-faults", Labels: map[string]string{labelManagedBy: managedBy}},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{w},
	}
}
