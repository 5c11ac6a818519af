package testenv_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/meshwave/meshwave/test/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// A Deployment's pods start after the configured delay and become Ready, and
// kubectl's rollout restart and rollout status work.
func TestPodsBecomeReadyAndRollOut(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rollout"}}
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "rollout"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example/web:1"}}},
			},
		},
	}
	if _, err := env.Client.AppsV1().Deployments("rollout").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-n", "rollout", "rollout", "status", "deployment/web", "--timeout=60s"},
		{"-n", "rollout", "rollout", "restart", "deployment/web"},
		{"-n", "rollout", "rollout", "status", "deployment/web", "--timeout=60s"},
	} {
		if out, err := env.Kubectl(ctx, args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	pods, err := env.Client.CoreV1().Pods("rollout").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil && podReady(&pods.Items[i]) {
			ready++
		}
	}
	if ready != 2 {
		t.Errorf("ready pods after restart: got %d, want 2", ready)
	}
}

// A pod annotated not-ready runs, but its named container crash-loops and
// the pod stays NotReady, while a pod beside it becomes Ready.
func TestNotReadyAnnotation(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mk := func(name string, ann map[string]string) {
		t.Helper()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: ann},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: "example/app:1"}, {Name: "sidecar", Image: "example/sidecar:1"},
			}},
		}
		if _, err := env.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("stuck", map[string]string{
		testenv.AnnotationNotReady: "sidecar: boom", testenv.AnnotationNotReadyContainer: "sidecar",
		testenv.AnnotationStartDelay: "100ms", testenv.AnnotationStartDelayMax: "200ms",
	})
	mk("fine", nil)
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := env.Client.CoreV1().Pods("default").Get(ctx, "fine", metav1.GetOptions{})
		return err == nil && podReady(p), nil
	})
	if err != nil {
		t.Fatalf("control pod never became Ready: %v", err)
	}
	// The stuck pod has started when its sidecar reports the crash loop;
	// from then on it must stay Running and not Ready.
	var p *corev1.Pod
	crashLooping := func(ctx context.Context) (bool, error) {
		var err error
		if p, err = env.Client.CoreV1().Pods("default").Get(ctx, "stuck", metav1.GetOptions{}); err != nil {
			return false, nil
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "sidecar" && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
				return true, nil
			}
		}
		return false, nil
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, crashLooping); err != nil {
		t.Fatalf("the stuck pod's sidecar never reported CrashLoopBackOff: %v; last seen %+v", err, p)
	}
	if p.Status.Phase != corev1.PodRunning || podReady(p) {
		t.Fatalf("stuck pod: phase %s ready %v, want Running and not Ready", p.Status.Phase, podReady(p))
	}
	var states []string
	for _, cs := range p.Status.ContainerStatuses {
		st := "running"
		if cs.State.Waiting != nil {
			st = cs.State.Waiting.Reason
		}
		states = append(states, cs.Name+"="+st)
	}
	if got, want := strings.Join(states, ","), "app=running,sidecar=CrashLoopBackOff"; got != want {
		t.Errorf("container states: got %s, want %s", got, want)
	}
}

// A kube-apiserver killed with SIGKILL and restarted serves again as the
// same cluster: a new process, what was written before still there, and
// writes accepted.
func TestRestartAPIServer(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-restart", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := env.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	old, err := env.ComponentPID("kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.RestartComponent(ctx, "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	pid, err := env.ComponentPID("kube-apiserver")
	if err != nil || pid == old {
		t.Fatalf("kube-apiserver pid after the restart = %d (err %v), want a new process (was %d)", pid, err, old)
	}
	got, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "before-restart", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("ConfigMap written before the restart: %v, err %v", got, err)
	}
	cm.Name = "after-restart"
	if _, err := env.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
}
