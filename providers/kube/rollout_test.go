package kube

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/plan"
)

// rollingDeployment is web in the middle of a rollout, with its ReplicaSet.
func rollingDeployment() (*appsv1.Deployment, *appsv1.ReplicaSet) {
	d := readyDeployment("shop", "web", nil)
	d.Status.UpdatedReplicas = 0
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-5d4", OwnerReferences: owned("Deployment", "web"),
		Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}}}
	return d, rs
}

// failedCreate is the event the ReplicaSet controller sends when the API
// server refuses the pod it creates.
func failedCreate(name, msg string) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Reason: reasonFailedCreate, Count: 3, Message: msg,
		InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "shop", Name: "web-5d4"}}
}

const webhookRefused = `Error creating: Internal error occurred: failed calling webhook "rev.object.sidecar-injector.istio.io": connection refused`

// waitInBackground starts a wait for web and returns, once the wait has
// read web a first time, a function that returns the wait's error.
func waitInBackground(t *testing.T, p *Provider, timeout time.Duration) (wait func() error, progress func() []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	started := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- p.waitRollouts(t.Context(), []plan.ObjectRef{{Kind: "Deployment", Namespace: "shop", Name: "web"}}, timeout, func(s string) {
			mu.Lock()
			lines = append(lines, s)
			mu.Unlock()
			once.Do(func() { close(started) })
		})
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("the wait ended before it read web: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the wait did not read web within 10s")
	}
	return func() error {
			select {
			case err := <-errc:
				return err
			case <-time.After(20 * time.Second):
				t.Fatal("the wait did not end within 20s")
				return nil
			}
		}, func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), lines...)
		}
}

func TestWaitStopsWhenPodsCannotBeCreated(t *testing.T) {
	d, rs := rollingDeployment()
	c := newCluster(t, objs(d, rs), nil)
	p := c.provider(t, plan.FlavorBackyards)
	wait, _ := waitInBackground(t, p, time.Minute)
	if _, err := c.cs.CoreV1().Events("shop").Create(t.Context(), failedCreate("web-5d4.1", webhookRefused), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait()
	want := "rollout of Deployment shop/web cannot create pods: " + webhookRefused + " (FailedCreate, 3 times)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}

func TestWaitIgnoresAFailureAPodCreationCleared(t *testing.T) {
	d, rs := rollingDeployment()
	c := newCluster(t, objs(d, rs), nil)
	p := c.provider(t, plan.FlavorBackyards)
	p.failGrace = time.Hour // a failure would have to persist: the pod below clears it first
	wait, _ := waitInBackground(t, p, time.Minute)
	ctx := t.Context()
	if _, err := c.cs.CoreV1().Events("shop").Create(ctx, failedCreate("web-5d4.1", webhookRefused), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := proxyPod("shop", "web-5d4-x", "web", "proxyv2:1.2", "", true, owned("ReplicaSet", "web-5d4")...)
	if _, err := c.cs.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cs.AppsV1().Deployments("shop").Update(ctx, readyDeployment("shop", "web", nil), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("error %v, want none: the rollout finished", err)
	}
}

func TestWaitAsksAControllerThatFailedBeforeToRetryNow(t *testing.T) {
	d, rs := rollingDeployment()
	// An earlier apply's failure: the controller now backs off for minutes.
	c := newCluster(t, objs(d, rs, failedCreate("web-5d4.1", webhookRefused)), nil)
	p := c.provider(t, plan.FlavorBackyards)
	wait, progress := waitInBackground(t, p, time.Minute)
	if _, err := c.cs.AppsV1().Deployments("shop").Update(t.Context(), readyDeployment("shop", "web", nil), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("error %v, want none: the earlier failure is not this wait's", err)
	}
	got, err := c.cs.AppsV1().ReplicaSets("shop").Get(context.Background(), "web-5d4", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[annoRetriedAt] == "" {
		t.Errorf("ReplicaSet annotations %v: want %s set, to requeue it in its controller", got.Annotations, annoRetriedAt)
	}
	if lines := strings.Join(progress(), "\n"); !strings.Contains(lines, "asked ReplicaSet web-5d4 to create its pods again now: it had failed to create pods: "+webhookRefused) {
		t.Errorf("progress does not say the controller was asked to retry:\n%s", lines)
	}
}

func TestWaitOnARolloutFailedBeforeItBegan(t *testing.T) {
	d, rs := rollingDeployment()
	d.Status.Conditions[1].Status, d.Status.Conditions[1].Reason = corev1.ConditionFalse, "ProgressDeadlineExceeded"
	c := newCluster(t, objs(d, rs), nil)
	p := c.provider(t, plan.FlavorBackyards)
	p.failGrace = time.Hour // the retry has this long to make progress
	wait, _ := waitInBackground(t, p, time.Minute)
	if _, err := c.cs.AppsV1().Deployments("shop").Update(t.Context(), readyDeployment("shop", "web", nil), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("error %v, want none: the rollout resumed after the retry", err)
	}
	got, err := c.cs.AppsV1().ReplicaSets("shop").Get(context.Background(), "web-5d4", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[annoRetriedAt] == "" {
		t.Errorf("ReplicaSet annotations %v: want %s set", got.Annotations, annoRetriedAt)
	}
}
