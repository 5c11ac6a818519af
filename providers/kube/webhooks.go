package kube

import (
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/plan"
)

// Names of Istio's webhooks.
const (
	validatorDefaultName = "istiod-default-validator"
	injectionWebhookTail = "sidecar-injector.istio.io"
)

// hasInjectionWebhook reports whether a webhook configuration holds a
// sidecar-injection webhook.
func hasInjectionWebhook(wh *admissionregistrationv1.MutatingWebhookConfiguration) bool {
	for _, w := range wh.Webhooks {
		if strings.HasSuffix(w.Name, injectionWebhookTail) {
			return true
		}
	}
	return false
}

func endpointOf(cc admissionregistrationv1.WebhookClientConfig) string {
	if cc.Service != nil {
		return plan.WebhookEndpoint("", cc.Service.Namespace, cc.Service.Name)
	}
	if cc.URL != nil {
		return plan.WebhookEndpoint(*cc.URL, "", "")
	}
	return ""
}

// webhooksOf lists the webhook configurations that concern Istio: those
// labeled with a revision, those that call an istiod Service, and those that
// hold a sidecar-injection webhook.
func webhooksOf(mutating []admissionregistrationv1.MutatingWebhookConfiguration, validating []admissionregistrationv1.ValidatingWebhookConfiguration) []plan.Webhook {
	var out []plan.Webhook
	add := func(kind string, m metav1.ObjectMeta, ccs []admissionregistrationv1.WebhookClientConfig, injectors []plan.InjectorSelectors) {
		w := plan.Webhook{Kind: kind, Name: m.Name, Revision: m.Labels[plan.LabelRevision], Tag: m.Labels[plan.LabelTag], Injectors: injectors}
		istiod := false
		for _, cc := range ccs {
			w.Endpoints = append(w.Endpoints, endpointOf(cc))
			istiod = istiod || (cc.Service != nil && strings.HasPrefix(cc.Service.Name, "istiod"))
		}
		if w.Revision == "" && !istiod && len(injectors) == 0 {
			return
		}
		sort.Strings(w.Endpoints)
		w.Endpoints = slices.Compact(w.Endpoints)
		out = append(out, w)
	}
	for _, wh := range mutating {
		var ccs []admissionregistrationv1.WebhookClientConfig
		var injectors []plan.InjectorSelectors
		for _, w := range wh.Webhooks {
			ccs = append(ccs, w.ClientConfig)
			if strings.HasSuffix(w.Name, injectionWebhookTail) {
				injectors = append(injectors, plan.InjectorSelectors{Name: w.Name,
					NamespaceSelector: w.NamespaceSelector.DeepCopy(), ObjectSelector: w.ObjectSelector.DeepCopy()})
			}
		}
		add("MutatingWebhookConfiguration", wh.ObjectMeta, ccs, injectors)
	}
	for _, wh := range validating {
		var ccs []admissionregistrationv1.WebhookClientConfig
		for _, w := range wh.Webhooks {
			ccs = append(ccs, w.ClientConfig)
		}
		add("ValidatingWebhookConfiguration", wh.ObjectMeta, ccs, nil)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+"/"+out[i].Name < out[j].Kind+"/"+out[j].Name })
	return out
}
