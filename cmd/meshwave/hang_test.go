package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// silentAPIServer is an API server that accepts connections and never
// answers; it returns a kubeconfig pointing at it.
func silentAPIServer(t *testing.T) string {
	t.Helper()
	kubeconfig, _ := silentAPIServerRequests(t)
	return kubeconfig
}

// silentAPIServerRequests is silentAPIServer that also tells when a request
// has arrived: a test that interrupts a blocked request waits on it instead
// of sleeping and hoping the request was sent.
func silentAPIServerRequests(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	requests := make(chan struct{}, 1)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				// The first bytes of a request: it is sent and now waits.
				if _, err := c.Read(make([]byte, 1)); err == nil {
					select {
					case requests <- struct{}{}:
					default:
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: silent
  cluster:
    server: http://%s
contexts:
- name: silent
  context:
    cluster: silent
    user: someone
users:
- name: someone
  user:
    token: not-a-secret
current-context: silent
`, ln.Addr())
	if err := os.WriteFile(kubeconfig, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, requests
}

// runWithin runs meshwave and fails the test if it has not returned within
// limit.
func runWithin(t *testing.T, ctx context.Context, limit time.Duration, args ...string) (int, string, time.Duration) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- run(ctx, args, streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	}()
	select {
	case code := <-done:
		return code, errOut.String(), time.Since(start)
	case <-time.After(limit):
		t.Fatalf("meshwave %s still running after %s", strings.Join(args, " "), limit)
		return 0, "", 0
	}
}

// An API server that never answers gives a clear error within the request
// timeout instead of a hang.
func TestPlanSilentAPIServerTimesOut(t *testing.T) {
	kubeconfig := silentAPIServer(t)
	code, errOut, took := runWithin(t, context.Background(), 20*time.Second,
		"plan", "-f", "../../examples/istio-revisions/upgrade.mw.hcl", "-kubeconfig", kubeconfig, "-request-timeout", "1s")
	if code != 1 || !strings.Contains(errOut, "did not answer within 1s") {
		t.Errorf("exit %d after %s, stderr %q; want exit 1 and an error saying the server did not answer within 1s", code, took, errOut)
	}
}

// An interrupt reaches a request that is blocked on the API server, long
// before the request timeout.
func TestPlanSilentAPIServerInterrupted(t *testing.T) {
	kubeconfig, requests := silentAPIServerRequests(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-requests: // the interrupt comes while the request waits
			cancel()
		case <-ctx.Done():
		}
	}()
	code, errOut, took := runWithin(t, ctx, 10*time.Second,
		"plan", "-f", "../../examples/istio-revisions/upgrade.mw.hcl", "-kubeconfig", kubeconfig)
	if code == 0 || took > 5*time.Second {
		t.Errorf("exit %d after %s, stderr %q; want a failure within 5s of the interrupt", code, took, errOut)
	}
}

func TestRequestTimeoutMustBePositive(t *testing.T) {
	code, _, errOut := runCmd(t, "plan", "-f", "../../examples/istio-revisions/upgrade.mw.hcl", "-request-timeout", "0s")
	if code != 1 || !strings.Contains(errOut, "-request-timeout must be positive") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// The first signal cancels the context; the second ends the process (here:
// calls again) with the signal, whatever still runs.
func TestInterruptContext(t *testing.T) {
	for name, sig := range map[string]syscall.Signal{"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM} {
		t.Run(name, func(t *testing.T) {
			again := make(chan os.Signal, 1)
			ctx, stop := interruptContext(func(s os.Signal) { again <- s })
			defer stop()
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the first signal did not cancel the context")
			}
			if got := interruptedBy(ctx); got != sig {
				t.Errorf("interruptedBy = %v, want %v", got, sig)
			}
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-again:
				if code, want := signalExitCode(got), map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143}[sig]; code != want {
					t.Errorf("exit code %d, want %d", code, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the second signal was not acted on")
			}
		})
	}
}

// Plan, state and var files that are FIFOs are refused before they are
// opened; opening one would wait for a writer forever.
func TestFIFOInputsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "input.mw.hcl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	example := "../../examples/variables/"
	tests := map[string][]string{
		"plan file":  {"validate", "-f", fifo},
		"var file":   {"validate", "-f", example + "variables.mw.hcl", "-f", example + "upgrade.mw.hcl", "-var-file", fifo},
		"state file": {"status", "-f", example + "upgrade.mw.hcl", "-state", fifo},
		"saved plan": {"show", fifo},
		"fmt":        {"fmt", fifo},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			code, errOut, _ := runWithin(t, context.Background(), 10*time.Second, args...)
			if code != 1 || !strings.Contains(errOut, "named pipe (FIFO), not a regular file") {
				t.Errorf("exit %d, stderr %q; want exit 1 and the FIFO named", code, errOut)
			}
		})
	}
}

// The built binary, waiting on an API server that never answers, ends with
// exit 130 soon after one SIGINT, long before the request timeout.
func TestPlanSilentAPIServerSIGINT(t *testing.T) {
	bin := buildMeshwave(t)
	kubeconfig, requests := silentAPIServerRequests(t)
	cmd := exec.Command(bin, "plan", "-f", "../../examples/istio-revisions/upgrade.mw.hcl", "-kubeconfig", kubeconfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// A request on the server means main has set up its signal handling and
	// the plan is blocked on the API server.
	select {
	case <-requests:
	case err := <-done:
		t.Fatalf("meshwave ended (%v) before it sent a request; stderr %q", err, stderr.String())
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no request reached the API server within 10s; stderr %q", stderr.String())
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("exit %d after SIGINT, want 130; stderr %q", code, stderr.String())
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("ended %s after SIGINT, want within 5s", took)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running 10s after SIGINT; stderr %q", stderr.String())
	}
}
