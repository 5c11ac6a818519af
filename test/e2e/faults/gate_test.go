package faults_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const faultGate = "a gate endpoint that hangs"

// hangingServer accepts connections and never answers.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read or written
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/healthz"
}

// stallingServer sends a 200 and its headers, then never sends the body.
func stallingServer(t *testing.T) string {
	t.Helper()
	stop := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(stop); srv.Close() })
	return "http://" + ln.Addr().String() + "/healthz"
}

// TestGateThatHangs runs a wave whose gate never answers — a server that
// accepts and is silent, one that stalls in the body, a command that never
// ends and leaves a child holding its output — and checks that each is
// bounded by its timeout: apply fails the wave in time, says why, and the
// state records the failed gate. A working gate then finishes the wave.
func TestGateThatHangs(t *testing.T) {
	describe(faultGate,
		"a wave's gate is an http server that accepts and never answers, one that sends headers and stalls the body (timeout 2 s, 2 attempts 1 s apart), a command that sleeps forever with a child holding its output (timeout 2 s)",
		"apply fails the wave within the gate's bound (+ 5 s for a command's orphaned output, + 10 s slack) saying it timed out; the state records the gate failed; a passing gate then finishes the wave")
	// Each case moves its own namespace, so its wave has work to do and its
	// gate runs.
	m := newMesh(t, meshSpec{name: "gh", sizes: []nsSize{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}})
	m.setWave("canary", m.order...)
	httpGate := func(url string) string {
		return fmt.Sprintf("http {\n    url      = %q\n    retries  = 2\n    interval = \"1s\"\n    timeout  = \"2s\"\n  }", url)
	}
	cases := []struct {
		name, gate, id, want string
		bound                time.Duration
	}{
		{"silent server", httpGate(hangingServer(t)), "wave/canary/gate/0-http", "context deadline exceeded", 5 * time.Second},
		{"stalled body", httpGate(stallingServer(t)), "wave/canary/gate/0-http", "context deadline exceeded", 5 * time.Second},
		{"command that never ends", "command {\n    argv    = [\"sh\", \"-c\", \"sleep 600 & sleep 600\"]\n    timeout = \"2s\"\n  }",
			"wave/canary/gate/0-command", "timed out after 2s", 2*time.Second + 5*time.Second},
	}
	for i, c := range cases {
		m.writePlan(fmt.Sprintf("wave \"canary\" {\n  namespaces = [%q]\n\n  %s\n}\n", m.order[i], c.gate))
		// Time only the gate: the wave's restart comes first.
		r := startApply(context.Background(), t, m.env, m.dir, "-state", filepath.Join(m.dir, fmt.Sprintf("case%d.state.json", i)))
		var gateStart time.Time
		var failed *event
		for {
			ev, ok := r.next()
			if !ok {
				break
			}
			if ev.Step == c.id && ev.Type == "step-start" {
				gateStart = time.Now()
			}
			if ev.Step == c.id && ev.Type == "step-failed" && failed == nil {
				e := ev
				failed = &e
			}
		}
		code := r.wait()
		took := time.Since(gateStart)
		ok := true
		switch {
		case gateStart.IsZero():
			ok = false
			t.Errorf("%s: the gate never started (exit %d):\n%s", c.name, code, r.transcript())
		case code != 1 || failed == nil:
			ok = false
			t.Errorf("%s: exit %d, gate failed event %v; want exit 1 and the gate failed:\n%s", c.name, code, failed, r.transcript())
		case took > c.bound+10*time.Second:
			ok = false
			t.Errorf("%s: the gate took %s, more than its bound %s", c.name, took.Round(time.Millisecond), c.bound)
		case !strings.Contains(failed.Error, c.want):
			ok = false
			t.Errorf("%s: the gate's error %q does not say %q", c.name, failed.Error, c.want)
		}
		st := readState(t, filepath.Join(m.dir, fmt.Sprintf("case%d.state.json", i)))
		if status, _ := st.step(c.id); status != "failed" {
			ok = false
			t.Errorf("%s: the state records the gate %q, want failed", c.name, status)
		}
		outcome := fmt.Sprintf("%s: failed the wave after %s", c.name, took.Round(time.Second))
		if !ok {
			outcome = c.name + ": not bounded or not reported"
		}
		trial(faultGate, c.name+": bounded, wave failed, state saved", ok)
		t.Log(outcome)
	}
	// The same wave with a gate that answers finishes.
	m.writePlan(fmt.Sprintf("wave \"canary\" {\n  namespaces = [%q]\n\n  %s\n}\n", m.order[3], httpGate(gateServer(t))))
	if code := harnessApply(t, m); code != 0 {
		t.Errorf("apply with a working gate: exit %d", code)
	}
	ns, err := m.env.Client.CoreV1().Namespaces().Get(context.Background(), m.order[3], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels["istio.io/rev"] != rev17 {
		t.Errorf("namespace %s after a passing gate: %v", m.order[3], ns.Labels)
	}
}
