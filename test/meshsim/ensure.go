package meshsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func ownedLabels(owner string, extra map[string]string) map[string]string {
	l := map[string]string{labelManagedBy: managedBy, labelOwner: owner}
	for k, v := range extra {
		l[k] = v
	}
	return l
}
func (s *Sim) ensureWebhook(ctx context.Context, want *admissionregistrationv1.MutatingWebhookConfiguration) error {
	api := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	return retryConflict(func() error {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			if err == nil {
				s.log.Printf("created webhook %s", want.Name)
			}
			return err
		}
		if err != nil {
			return err
		}
		next := cur.DeepCopy()
		next.Labels = want.Labels
		next.Webhooks = want.Webhooks
		// Compare after the API server's defaulting by round-tripping once.
		if reflect.DeepEqual(cur.Labels, want.Labels) && webhooksEqual(cur.Webhooks, want.Webhooks) {
			return nil
		}
		_, err = api.Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
}

// webhooksEqual compares the fields meshsim sets.
func webhooksEqual(a, b []admissionregistrationv1.MutatingWebhook) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !reflect.DeepEqual(a[i].ClientConfig, b[i].ClientConfig) ||
			!reflect.DeepEqual(a[i].NamespaceSelector, b[i].NamespaceSelector) ||
			!reflect.DeepEqual(a[i].ObjectSelector, b[i].ObjectSelector) {
			return false
		}
	}
	return true
}

// ensureDeployment creates the Deployment or updates it when meshsim's
// rendering of it changed (a changed pod template rolls it over).
func (s *Sim) ensureDeployment(ctx context.Context, want *appsv1.Deployment) error {
	setSpecHash(&want.ObjectMeta, want.Spec)
	api := s.kube.AppsV1().Deployments(want.Namespace)
	return retryConflict(func() error {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		if cur.Annotations[annotationSpecHash] == want.Annotations[annotationSpecHash] {
			return nil
		}
		next := cur.DeepCopy()
		next.Labels, next.Annotations = want.Labels, want.Annotations
		next.Spec.Replicas, next.Spec.Template = want.Spec.Replicas, want.Spec.Template
		_, err = api.Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
}

func (s *Sim) ensureStatefulSet(ctx context.Context, want *appsv1.StatefulSet) error {
	setSpecHash(&want.ObjectMeta, want.Spec)
	api := s.kube.AppsV1().StatefulSets(want.Namespace)
	return retryConflict(func() error {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		if cur.Annotations[annotationSpecHash] == want.Annotations[annotationSpecHash] {
			return nil
		}
		next := cur.DeepCopy()
		next.Labels, next.Annotations = want.Labels, want.Annotations
		next.Spec.Replicas, next.Spec.Template = want.Spec.Replicas, want.Spec.Template
		_, err = api.Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
}

// setStatus merges fields into a custom resource's status when they differ.
func (s *Sim) setStatus(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured, fields map[string]any) error {
	cur, _, _ := unstructured.NestedMap(u.Object, "status")
	changed := false
	for k, v := range fields {
		if cur[k] != v {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	next := u.DeepCopy()
	for k, v := range fields {
		if err := unstructured.SetNestedField(next.Object, v, "status", k); err != nil {
			return err
		}
	}
	_, err := s.dyn.Resource(gvr).Namespace(u.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// A newer version is on its way through the informer; it requeues.
		return nil
	}
	return err
}

// setSpecHash records a digest of the rendered spec, so an update happens
// only when meshsim's rendering changed, not on every reconcile.
func setSpecHash(m *metav1.ObjectMeta, spec any) {
	raw, _ := json.Marshal(spec)
	sum := sha256.Sum256(raw)
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[annotationSpecHash] = hex.EncodeToString(sum[:8])
}
