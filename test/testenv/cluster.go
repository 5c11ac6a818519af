package testenv

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// EnvBinDir names the environment variable that holds the directory of the
// control plane's binaries (what test/testenv/build.sh prints).
const EnvBinDir = "MESHWAVE_TESTENV_BIN"

// Pod annotations the cluster's kwok Stages read.
const (
	// AnnotationNotReady makes a pod run but never become Ready; the value
	// says why and shows as the failing container's waiting message.
	AnnotationNotReady = "testenv.meshwave.dev/not-ready"
	// AnnotationNotReadyContainer names the one container that fails;
	// without it every container fails.
	AnnotationNotReadyContainer = "testenv.meshwave.dev/not-ready-container"
	// AnnotationStartDelay is the least time (a Go duration, "1s") before a
	// pod runs; default 1s.
	AnnotationStartDelay = "testenv.meshwave.dev/start-delay"
	// AnnotationStartDelayMax is the most time before a pod runs; default
	// 2s. Set both to change the delay.
	AnnotationStartDelayMax = "testenv.meshwave.dev/start-delay-max"
)

// NodeName is the fake node every pod is scheduled to.
const NodeName = "testenv-node"

// tools are the binaries a cluster needs from the bin directory.
var tools = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwokctl"}

//go:embed stages.yaml
var stagesYAML string

// Options configure Start.
type Options struct {
	// Name is the kwokctl cluster name; it must be unique on the machine.
	Name string
	// Dir holds everything of the cluster: kwokctl's work directory, its
	// config, the kubeconfig and logs. It is created if missing.
	Dir string
	// BinDir holds the binaries build.sh built.
	BinDir string
	// Log receives kwokctl's output; nil discards it (it is also kept in
	// Dir/kwokctl.log).
	Log io.Writer
}

// Cluster is a running local control plane.
type Cluster struct {
	Name       string
	Dir        string
	BinDir     string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
}

// Attach returns the cluster a previous Start created with these options,
// without starting anything; Delete removes it. Config and Client are set
// when its kubeconfig is readable.
func Attach(opts Options) *Cluster {
	c := &Cluster{Name: opts.Name, Dir: opts.Dir, BinDir: opts.BinDir, Kubeconfig: filepath.Join(opts.Dir, "kubeconfig")}
	if cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err == nil {
		c.Config = cfg
		c.Client, _ = kubernetes.NewForConfig(cfg)
	}
	return c
}

// Start creates a cluster with one fake node and waits until pods can be
// scheduled on it. On error everything started is removed again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Name == "" || opts.Dir == "" || opts.BinDir == "" {
		return nil, errors.New("testenv: Name, Dir and BinDir are required")
	}
	for _, t := range tools {
		if _, err := os.Stat(filepath.Join(opts.BinDir, t)); err != nil {
			return nil, fmt.Errorf("testenv: %s missing in %s (run `make testenv`): %w", t, opts.BinDir, err)
		}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	c := Attach(opts)
	kubeVersion, err := c.kubeVersion(ctx)
	if err != nil {
		return nil, err
	}
	configPath := filepath.Join(c.Dir, "kwokctl.yaml")
	if err := os.WriteFile(configPath, []byte(kwokctlConfig(kubeVersion)), 0o644); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	b := func(name string) string { return filepath.Join(c.BinDir, name) }
	_, err = c.kwokctl(ctx, opts.Log, "--config", configPath, "create", "cluster",
		"--name", c.Name,
		"--runtime", "binary",
		"--disable-qps-limits",
		"--kubeconfig", c.Kubeconfig,
		"--wait", "60s",
		"--etcd-binary", b("etcd"),
		"--kube-apiserver-binary", b("kube-apiserver"),
		"--kube-controller-manager-binary", b("kube-controller-manager"),
		"--kube-scheduler-binary", b("kube-scheduler"),
		"--kwok-controller-binary", b("kwok"),
	)
	if err != nil {
		_ = c.Delete(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := c.connect(ctx); err != nil {
		_ = c.Delete(context.WithoutCancel(ctx))
		return nil, err
	}
	return c, nil
}

// kwokctlConfig is the kwokctl configuration: offline, no client-side rate
// limits, no leader election (under CPU load the controllers lose their 5 s
// lease, exit and are not restarted), and this package's Stages.
func kwokctlConfig(kubeVersion string) string {
	return fmt.Sprintf(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: %s
  disableQPSLimits: true
componentsPatches:
- name: kube-controller-manager
  extraArgs:
  - key: leader-elect
    value: "false"
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
---
%s`, kubeVersion, stagesYAML)
}

// kubeVersion asks the API server binary for its version, so kwokctl picks
// flags for exactly that release and never looks one up.
func (c *Cluster) kubeVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kube-apiserver"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("testenv: kube-apiserver --version: %w", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 || !strings.HasPrefix(fields[len(fields)-1], "v") {
		return "", fmt.Errorf("testenv: kube-apiserver --version printed %q", out)
	}
	return fields[len(fields)-1], nil
}

// kwokctl runs kwokctl with the cluster's work directory, appending its
// output to Dir/kwokctl.log (and log, when set).
func (c *Cluster) kwokctl(ctx context.Context, log io.Writer, args ...string) ([]byte, error) {
	f, err := os.OpenFile(filepath.Join(c.Dir, "kwokctl.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	w := io.MultiWriter(f, &buf)
	if log != nil {
		w = io.MultiWriter(f, &buf, log)
	}
	fmt.Fprintf(f, "+ kwokctl %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kwokctl"), args...)
	cmd.Env = c.env()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return buf.Bytes(), fmt.Errorf("testenv: kwokctl %s: %w\n%s", args[0], err, tail(buf.String(), 40))
	}
	return buf.Bytes(), nil
}

// env is the environment of kwokctl: its state stays in the cluster's
// directory and it finds the cached binaries first.
func (c *Cluster) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KWOK_") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"KWOK_WORKDIR="+c.workdir(),
		"KUBECONFIG="+c.Kubeconfig,
		"PATH="+c.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
}

func (c *Cluster) workdir() string { return filepath.Join(c.Dir, "kwok") }

// connect builds the clients, adds the fake node and waits until it is Ready
// and the default service account exists (pods need it).
func (c *Cluster) connect(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("testenv: load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	c.Config = cfg
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("testenv: client: %w", err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        NodeName,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		Labels: map[string]string{
			"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"type": "kwok",
		},
	}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("testenv: create node: %w", err)
	}
	missing := "node"
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			missing = "node: " + err.Error()
			return false, nil
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			missing = "node Ready condition"
			return false, nil
		}
		_, err = c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		missing = "default service account"
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("testenv: wait for node %s Ready and the default service account: %w (still missing: %s)\n%s",
			NodeName, err, missing, c.ComponentLogs())
	}
	return nil
}

// ComponentLogs returns the last lines of each component's log, for errors.
func (c *Cluster) ComponentLogs() string {
	files, _ := filepath.Glob(filepath.Join(c.workdir(), "clusters", c.Name, "logs", "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), tail(string(data), 8))
	}
	return b.String()
}

// Kubectl runs the cluster's kubectl with its kubeconfig and returns the
// combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// Delete deletes the cluster and makes sure none of its processes is left:
// any process kwokctl recorded that still runs afterwards is killed by pid.
func (c *Cluster) Delete(ctx context.Context) error {
	pids := c.pids()
	_, err := c.kwokctl(ctx, nil, "delete", "cluster", "--name", c.Name)
	for _, pid := range pids {
		if !alive(pid) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			err = errors.Join(err, fmt.Errorf("testenv: process %d of cluster %s still runs", pid, c.Name))
		}
	}
	return err
}

// ComponentPID returns the pid of one of the cluster's running components,
// named as kwokctl names them ("kube-apiserver", "etcd",
// "kube-controller-manager", "kube-scheduler", "kwok-controller"), so a
// test can stop, freeze or kill exactly that process.
func (c *Cluster) ComponentPID(component string) (int, error) {
	f := filepath.Join(c.workdir(), "clusters", c.Name, "pids", component+".pid")
	b, err := os.ReadFile(f)
	if err != nil {
		return 0, fmt.Errorf("testenv: pid of %s: %w", component, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("testenv: pid file %s holds %q", f, b)
	}
	if !alive(pid) {
		return 0, fmt.Errorf("testenv: %s (pid %d) is not running", component, pid)
	}
	return pid, nil
}

// RestartComponent kills one of the cluster's components with SIGKILL, as a
// crash or an OOM kill would, and starts it again with the command line
// kwokctl recorded for it when it created the cluster: `kwokctl start
// cluster` starts only the components that are not running, and waits
// until the API server serves again. The killed process's log is kept as
// logs/COMPONENT.PID.log (kwokctl truncates COMPONENT.log). It returns once
// a restarted kube-apiserver answers /readyz, or ctx ends.
func (c *Cluster) RestartComponent(ctx context.Context, component string) error {
	pid, err := c.ComponentPID(component)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("testenv: kill %s (pid %d): %w", component, pid, err)
	}
	dead := func(context.Context) (bool, error) { return !alive(pid), nil }
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, dead); err != nil {
		return fmt.Errorf("testenv: %s (pid %d) still runs 10 s after SIGKILL: %w", component, pid, err)
	}
	dir := filepath.Join(c.workdir(), "clusters", c.Name)
	// kwokctl starts a component whose pid file is missing or names no
	// process; a pid reused since, or a zombie, must not look like it.
	if err := os.Remove(filepath.Join(dir, "pids", component+".pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("testenv: %w", err)
	}
	logs := filepath.Join(dir, "logs")
	_ = os.Rename(filepath.Join(logs, component+".log"), filepath.Join(logs, fmt.Sprintf("%s.%d.log", component, pid)))
	if _, err := c.kwokctl(ctx, nil, "start", "cluster", "--name", c.Name); err != nil {
		return err
	}
	if _, err := c.ComponentPID(component); err != nil {
		return fmt.Errorf("testenv: %s not running after kwokctl start cluster: %w\n%s", component, err, c.ComponentLogs())
	}
	if component != "kube-apiserver" || c.Client == nil {
		return nil
	}
	var last error
	ready := func(ctx context.Context) (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, last = c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		return last == nil, nil
	}
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, ready); err != nil {
		return fmt.Errorf("testenv: restarted kube-apiserver not ready: %w (last: %v)\n%s", err, last, c.ComponentLogs())
	}
	return nil
}

// pids reads the pid files kwokctl keeps for the cluster's components.
func (c *Cluster) pids() []int {
	files, _ := filepath.Glob(filepath.Join(c.workdir(), "clusters", c.Name, "pids", "*.pid"))
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
