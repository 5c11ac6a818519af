package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// A tag step re-points a revision tag at another revision, writing what
// `istioctl tag set TAG --revision REV --overwrite` writes: the tag's
// webhook takes the revision's injector endpoint, CA bundle, reinvocation
// policy, labels and annotations; the tag's Service selects the revision's
// istiod; for the default tag the default validator calls the revision too.
// Re-pointing is idempotent: a resumed step sends nothing new.

// tagOps move a revision tag; the record is the revision it pointed at,
// and its rollback points it back there.
var tagOps = stepOps{
	prepare: (*Provider).prepareTag,
	run: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, _ func(string)) error {
		return p.repointTag(ctx, tagName(s), s.ToRevision)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record) error {
		return p.verifyTag(ctx, s)
	},
	rollback: func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, _ func(string)) error {
		return p.repointTag(ctx, tagName(s), rec.TagRevision())
	},
}

func (p *Provider) prepareTag(ctx context.Context, step plan.Step) (plan.Record, error) {
	wh, err := p.tagWebhook(ctx, tagName(step))
	if err != nil {
		return nil, err
	}
	return plan.TagRecord(wh.Labels[plan.LabelRevision]), nil
}

func (p *Provider) verifyTag(ctx context.Context, step plan.Step) error {
	tag := tagName(step)
	wh, err := p.tagWebhook(ctx, tag)
	if err != nil {
		return err
	}
	if got := wh.Labels[plan.LabelRevision]; got != step.ToRevision {
		return fmt.Errorf("revision tag %s points at %s, want %s", tag, got, step.ToRevision)
	}
	return nil
}

// tagWebhook reads the webhook configuration of revision tag tag.
func (p *Provider) tagWebhook(ctx context.Context, tag string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	var wh *admissionregistrationv1.MutatingWebhookConfiguration
	err := p.call(ctx, func(ctx context.Context) (err error) {
		wh, err = p.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, plan.TagWebhookName(tag), metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read revision tag %s: %w", tag, err)
	}
	return wh, nil
}

func tagName(step plan.Step) string {
	return strings.TrimPrefix(step.Object.Name, plan.TagWebhookName(""))
}

// canonicalInjector returns a revision's own injection webhook
// configuration (labeled with the revision, not a tag).
func (p *Provider) canonicalInjector(ctx context.Context, rev string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	var list *admissionregistrationv1.MutatingWebhookConfigurationList
	err := p.call(ctx, func(ctx context.Context) (err error) {
		list, err = p.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{
			LabelSelector: plan.LabelRevision + "=" + rev + ",!" + plan.LabelTag})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list the injector webhooks of %s: %w", rev, err)
	}
	var found []*admissionregistrationv1.MutatingWebhookConfiguration
	for i := range list.Items {
		if hasInjectionWebhook(&list.Items[i]) {
			found = append(found, &list.Items[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("revision %s has no injector webhook (a MutatingWebhookConfiguration labeled %s=%s): %w",
			rev, plan.LabelRevision, rev, errNoInjector)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("revision %s has %d injector webhooks; expected one", rev, len(found))
}

// errNoInjector is the error of a revision that has no injector webhook.
var errNoInjector = errors.New("no injector")

// formerInjector is the injector webhook configuration of the revision a
// tag's object points at now (from), nil when that revision is gone: its
// labels then cannot be told from the object's own, and only the target's
// are needed. A failed read is an error.
func (p *Provider) formerInjector(ctx context.Context, from, rev string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	if from == "" || from == rev {
		return nil, nil
	}
	src, err := p.canonicalInjector(ctx, from)
	if errors.Is(err, errNoInjector) {
		return nil, nil
	}
	return src, err
}

// repointTag moves revision tag tag to revision rev.
func (p *Provider) repointTag(ctx context.Context, tag, rev string) error {
	dst, err := p.canonicalInjector(ctx, rev)
	if err != nil {
		return err
	}
	mwcs := p.cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := p.tagWebhook(ctx, tag)
		if err != nil {
			return err
		}
		src, err := p.formerInjector(ctx, cur.Labels[plan.LabelRevision], rev)
		if err != nil {
			return err
		}
		want, err := repointedTagWebhook(cur, src, dst, rev)
		if err != nil || equality.Semantic.DeepEqual(want, cur) {
			return err
		}
		return p.call(ctx, func(ctx context.Context) error {
			_, err := mwcs.Update(ctx, want, metav1.UpdateOptions{})
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("move revision tag %s to %s: %w", tag, rev, err)
	}
	if err := p.repointTagService(ctx, tag, rev); err != nil {
		return err
	}
	if tag == config.DefaultRevision {
		return p.repointDefaultValidator(ctx, dst, rev)
	}
	return nil
}

// repointTagService points the tag's Service, where istioctl created one,
// at the revision's istiod.
func (p *Provider) repointTagService(ctx context.Context, tag, rev string) error {
	var svcs *corev1.ServiceList
	err := p.call(ctx, func(ctx context.Context) (err error) {
		svcs, err = p.cs.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: plan.LabelTag + "=" + tag})
		return err
	})
	if err != nil {
		return fmt.Errorf("list the Services of revision tag %s: %w", tag, err)
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"labels": map[string]string{plan.LabelRevision: rev}},
		"spec":     map[string]any{"selector": map[string]string{plan.LabelRevision: rev}},
	})
	if err != nil {
		return fmt.Errorf("point the Services of revision tag %s at %s: %w", tag, rev, err)
	}
	for _, s := range svcs.Items {
		if s.Labels[plan.LabelRevision] == rev && s.Spec.Selector[plan.LabelRevision] == rev {
			continue
		}
		err := p.send(ctx, func(ctx context.Context) error {
			_, err := p.cs.CoreV1().Services(s.Namespace).Patch(ctx, s.Name, types.MergePatchType, body, metav1.PatchOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("point Service %s/%s of revision tag %s at %s: %w", s.Namespace, s.Name, tag, rev, err)
		}
	}
	return nil
}

// repointDefaultValidator points istiod-default-validator, which validates
// Istio resources of every namespace, at the revision: left on a removed
// revision it rejects (or silently skips) every Istio resource.
func (p *Provider) repointDefaultValidator(ctx context.Context, dst *admissionregistrationv1.MutatingWebhookConfiguration, rev string) error {
	vwcs := p.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur *admissionregistrationv1.ValidatingWebhookConfiguration
		err := p.call(ctx, func(ctx context.Context) (err error) {
			cur, err = vwcs.Get(ctx, validatorDefaultName, metav1.GetOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			return nil // istioctl installed none: nothing to point
		}
		if err != nil {
			return err
		}
		src, err := p.formerInjector(ctx, cur.Labels[plan.LabelRevision], rev)
		if err != nil {
			return err
		}
		want, err := repointedValidator(cur, src, dst, rev)
		if err != nil || equality.Semantic.DeepEqual(want, cur) {
			return err
		}
		return p.call(ctx, func(ctx context.Context) error {
			_, err := vwcs.Update(ctx, want, metav1.UpdateOptions{})
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("point %s at %s: %w", validatorDefaultName, rev, err)
	}
	return nil
}

// injectorEndpoint is what a revision's injection webhook calls.
type injectorEndpoint struct {
	cc           admissionregistrationv1.WebhookClientConfig
	reinvocation *admissionregistrationv1.ReinvocationPolicyType
}

func injectorOf(wh *admissionregistrationv1.MutatingWebhookConfiguration) (injectorEndpoint, error) {
	for _, w := range wh.Webhooks {
		if strings.HasSuffix(w.Name, injectionWebhookTail) {
			return injectorEndpoint{cc: *w.ClientConfig.DeepCopy(), reinvocation: w.ReinvocationPolicy}, nil
		}
	}
	return injectorEndpoint{}, fmt.Errorf("%s holds no sidecar-injector webhook", wh.Name)
}

// repointedMeta moves the labels and annotations a tag's objects take from
// their revision's injector (all but "app"): those that came from the old
// revision's injector go, the new one's come.
func repointedMeta(m *metav1.ObjectMeta, src, dst *admissionregistrationv1.MutatingWebhookConfiguration, rev string) {
	move := func(have map[string]string, from, to map[string]string, skip string) map[string]string {
		out := map[string]string{}
		for k, v := range have {
			out[k] = v
		}
		for k, v := range from {
			if k != skip && out[k] == v {
				delete(out, k)
			}
		}
		for k, v := range to {
			if k != skip {
				out[k] = v
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	var srcLabels, srcAnno map[string]string
	if src != nil {
		srcLabels, srcAnno = src.Labels, src.Annotations
	}
	m.Labels = move(m.Labels, srcLabels, dst.Labels, labelApp)
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[plan.LabelRevision] = rev
	m.Annotations = move(m.Annotations, srcAnno, dst.Annotations, "")
}

// repointedTagWebhook is the tag webhook cur pointed at revision rev, whose
// injector webhook configuration is dst (src: the old revision's, nil when
// it is gone).
func repointedTagWebhook(cur, src, dst *admissionregistrationv1.MutatingWebhookConfiguration, rev string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	in, err := injectorOf(dst)
	if err != nil {
		return nil, err
	}
	out := cur.DeepCopy()
	repointedMeta(&out.ObjectMeta, src, dst, rev)
	for i := range out.Webhooks {
		w := &out.Webhooks[i]
		w.ClientConfig = *in.cc.DeepCopy()
		if in.reinvocation != nil {
			r := *in.reinvocation
			w.ReinvocationPolicy = &r
		}
	}
	return out, nil
}

// repointedValidator is the default validator cur pointed at revision rev:
// the injector's server, on the /validate path.
func repointedValidator(cur *admissionregistrationv1.ValidatingWebhookConfiguration, src, dst *admissionregistrationv1.MutatingWebhookConfiguration, rev string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	in, err := injectorOf(dst)
	if err != nil {
		return nil, err
	}
	cc := *in.cc.DeepCopy()
	if cc.URL != nil {
		u, err := url.Parse(*cc.URL)
		if err != nil {
			return nil, fmt.Errorf("injector URL of %s: %w", rev, err)
		}
		u.Path = "/validate"
		s := u.String()
		cc.URL = &s
	}
	if cc.Service != nil {
		path := "/validate"
		cc.Service.Path = &path
	}
	out := cur.DeepCopy()
	repointedMeta(&out.ObjectMeta, src, dst, rev)
	for i := range out.Webhooks {
		out.Webhooks[i].ClientConfig = *cc.DeepCopy()
	}
	return out, nil
}
