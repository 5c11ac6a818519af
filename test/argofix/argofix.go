// Package argofix runs the real Argo Rollouts controller against a testenv
// cluster: Argo Rollouts' CRDs of the pinned version are installed as its
// release installs them, and the controller (rollouts-controller, built by
// test/testenv/build-argo-rollouts.sh from the module pinned in
// test/testenv/tools/argo-rollouts) runs as a local process with the
// cluster's kubeconfig, cluster-wide, without leader election, as istiod
// does in test/istiofix. Its ReplicaSets' pods run on the kwok node.
//
// What it does not cover: traffic routing (no Service mesh, ingress or SMI
// integration is configured), analysis (no metric provider answers), and
// notifications.
package argofix

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/meshwave/meshwave/test/testenv"
)

// EnvBinDir names the environment variable that holds the directory of the
// controller and its CRDs (what test/testenv/build-argo-rollouts.sh
// prints).
const EnvBinDir = "MESHWAVE_ARGO_BIN"

// GVR is the resource of Argo Rollouts' Rollout.
var GVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

const (
	binary = "rollouts-controller"
	// crdDir is where the build script copies the module's CRDs, beside
	// the binary.
	crdDir = "crds"
	// started is what the controller logs once its informers' caches are
	// in sync and its workers run.
	started = "Started controller"
)

// Controller is the Argo Rollouts controller running against a cluster.
type Controller struct {
	env *testenv.Cluster
	dir string
	bin string
	dyn dynamic.Interface
	cmd *exec.Cmd
	// exited receives the process's end.
	exited chan error
}

// New prepares a controller for env; dir receives its log, binDir holds
// the controller and its CRDs.
func New(env *testenv.Cluster, dir, binDir string) (*Controller, error) {
	for _, f := range []string{binary, filepath.Join(crdDir, "rollout-crd.yaml")} {
		if _, err := os.Stat(filepath.Join(binDir, f)); err != nil {
			return nil, fmt.Errorf("argofix: %s missing in %s (run `make testenv-argo`, which builds it with test/testenv/build-argo-rollouts.sh): %w", f, binDir, err)
		}
	}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		return nil, fmt.Errorf("argofix: dynamic client: %w", err)
	}
	return &Controller{env: env, dir: dir, bin: binDir, dyn: dyn}, nil
}

// Install installs Argo Rollouts' CRDs (server-side: they are too large
// for kubectl's last-applied annotation) and waits until they are served.
func (c *Controller) Install(ctx context.Context) error {
	dir := filepath.Join(c.bin, crdDir)
	if _, err := c.env.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-f", dir); err != nil {
		return fmt.Errorf("argofix: install CRDs: %w", err)
	}
	if _, err := c.env.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "-f", dir); err != nil {
		return fmt.Errorf("argofix: CRDs not established: %w", err)
	}
	return nil
}

// Start runs the controller as a local process and waits until it has
// started its workers (its caches synced). The process dies with the test
// binary, whatever kills it; Stop ends it earlier.
func (c *Controller) Start(ctx context.Context) error {
	if c.cmd != nil {
		return errors.New("argofix: the controller is already running")
	}
	ports, err := testenv.FreePorts(2)
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.bin, binary),
		"--kubeconfig", c.env.Kubeconfig,
		"--leader-elect=false",
		"--metricsPort", fmt.Sprint(ports[0]),
		"--healthzPort", fmt.Sprint(ports[1]),
		"--loglevel", "info",
	)
	cmd.Dir = c.dir
	// Its own namespace (leases, notification config) need not exist.
	cmd.Env = append(os.Environ(), "HOME="+c.dir, "POD_NAMESPACE=argo-rollouts")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("argofix: start %s: %w", binary, err)
	}
	logFile.Close()
	c.cmd, c.exited = cmd, make(chan error, 1)
	go func() { c.exited <- cmd.Wait() }()
	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[1])
	client := &http.Client{Timeout: 2 * time.Second}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-c.exited:
			c.cmd = nil
			return false, fmt.Errorf("%s exited: %v", binary, err)
		default:
		}
		resp, err := client.Get(healthz)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && strings.Contains(c.Log(0), started), nil
	})
	if err != nil {
		c.Stop()
		return fmt.Errorf("argofix: controller not started: %w\n%s", err, c.Log(30))
	}
	return nil
}

// Stop ends the controller process, by its process group's id.
func (c *Controller) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.exited
	c.cmd = nil
}

func (c *Controller) logPath() string { return filepath.Join(c.dir, "rollouts-controller.log") }

// Log returns the last lines of the controller's log (lines <= 0: all).
func (c *Controller) Log(lines int) string {
	b, _ := os.ReadFile(c.logPath())
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if lines > 0 && len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// App is a Rollout to create: replicas pods of template, labeled
// app=Name, in namespace Namespace (which must exist).
type App struct {
	Namespace, Name string
	Replicas        int64
	Template        corev1.PodTemplateSpec
}

// Create creates a's Rollout with the canary strategy and no steps: a
// change of its template is promoted at once, and a restart (spec.restartAt)
// evicts its pods, one at a time, to be re-created by its ReplicaSet.
func (c *Controller) Create(ctx context.Context, a App) error {
	tmpl := a.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels["app"] = a.Name
	t, err := runtime.DefaultUnstructuredConverter.ToUnstructured(tmpl)
	if err != nil {
		return err
	}
	unstructured.RemoveNestedField(t, "metadata", "creationTimestamp")
	ro := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": GVR.GroupVersion().String(), "kind": "Rollout",
		"metadata": map[string]any{"namespace": a.Namespace, "name": a.Name},
		"spec": map[string]any{
			"replicas": a.Replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"app": a.Name}},
			"template": t,
			"strategy": map[string]any{"canary": map[string]any{}},
		},
	}}
	if _, err := c.dyn.Resource(GVR).Namespace(a.Namespace).Create(ctx, ro, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("argofix: create Rollout %s/%s: %w", a.Namespace, a.Name, err)
	}
	return nil
}

// Status is what a Rollout's controller reports.
type Status struct {
	Phase, Message, RestartedAt string
	AvailableReplicas           int64
}

// Get reads a Rollout's status and spec.restartAt.
func (c *Controller) Get(ctx context.Context, ns, name string) (st Status, restartAt string, err error) {
	u, err := c.dyn.Resource(GVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Status{}, "", err
	}
	st.Phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
	st.Message, _, _ = unstructured.NestedString(u.Object, "status", "message")
	st.RestartedAt, _, _ = unstructured.NestedString(u.Object, "status", "restartedAt")
	st.AvailableReplicas, _, _ = unstructured.NestedInt64(u.Object, "status", "availableReplicas")
	restartAt, _, _ = unstructured.NestedString(u.Object, "spec", "restartAt")
	return st, restartAt, nil
}

// WaitHealthy waits until the controller reports a's Rollout Healthy with
// all its replicas available.
func (c *Controller) WaitHealthy(ctx context.Context, a App, timeout time.Duration) error {
	var last Status
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		st, _, err := c.Get(ctx, a.Namespace, a.Name)
		if err != nil {
			return false, nil
		}
		last = st
		return st.Phase == "Healthy" && st.AvailableReplicas == a.Replicas, nil
	})
	if err != nil {
		return fmt.Errorf("argofix: Rollout %s/%s not Healthy with %d available within %s; last status %+v\n%s",
			a.Namespace, a.Name, a.Replicas, timeout, last, c.Log(20))
	}
	return nil
}
