package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The package's cluster, set up by Main.
var (
	current *Cluster
	// unavailable says why there is no cluster; Require skips or fails with it.
	unavailable string
	skip        bool
)

// Main runs a test package's tests against one cluster started for the
// package. Use it from TestMain: os.Exit(testenv.Main(m)).
//
// Under -short, or without MESHWAVE_TESTENV_BIN, no cluster is started and
// the tests run anyway; those that call Require skip (-short) or fail (no
// binaries). The cluster is deleted when the tests end, and on SIGINT or
// SIGTERM; a reaper process deletes it if the test binary dies first.
func Main(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		skip = true
		unavailable = "testenv: -short skips tests that need the local control plane (run `make test` for them)"
		return m.Run()
	}
	bin := os.Getenv(EnvBinDir)
	if bin == "" {
		unavailable = "testenv: " + EnvBinDir + " is not set, so there is no local control plane for this test: " +
			"run `make test` (it builds the binaries once and sets it), or use -short to skip cluster tests"
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "meshwave-testenv-")
	if err != nil {
		unavailable = "testenv: " + err.Error()
		return m.Run()
	}
	opts := Options{Name: clusterName(), Dir: dir, BinDir: bin}

	// The reaper starts before the cluster so that no window exists in which
	// a dying test binary would leave the cluster behind.
	reaper, err := StartReaper(opts)
	if err != nil {
		unavailable = "testenv: " + err.Error()
		_ = os.RemoveAll(dir)
		return m.Run()
	}

	var once sync.Once
	teardown := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := Attach(opts).Delete(ctx); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			// The reaper leads its own process group: kill it and its sleep.
			_ = syscall.Kill(-reaper.Pid, syscall.SIGKILL)
			_, _ = reaper.Wait()
			_ = os.RemoveAll(dir)
		})
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "testenv: %v: deleting cluster %s\n", s, opts.Name)
		teardown()
		os.Exit(2)
	}()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	c, err := Start(ctx, opts)
	cancel()
	if err != nil {
		unavailable = err.Error()
	} else {
		current = c
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "testenv: cluster %s up in %s (kubeconfig %s)\n", c.Name, time.Since(start).Round(time.Millisecond), c.Kubeconfig)
		}
	}
	code := m.Run()
	teardown()
	return code
}

// Current returns the package's cluster, or nil when Main started none.
func Current() *Cluster { return current }

// Require returns the package's cluster. It skips the test under -short and
// fails it when there is no cluster, saying why.
func Require(t testing.TB) *Cluster {
	t.Helper()
	if current != nil {
		return current
	}
	if skip {
		t.Skip(unavailable)
	}
	if unavailable == "" {
		t.Fatal("testenv: no cluster: call testenv.Main from the package's TestMain")
	}
	t.Fatal(unavailable)
	return nil
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// clusterName is unique per run and says which test binary owns it.
func clusterName() string {
	base := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	base = strings.Trim(nonName.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if len(base) > 20 {
		base = base[:20]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "mw-" + base + "-" + hex.EncodeToString(b)
}

// StartReaper starts a process that waits for this process (a test binary,
// the benchmark) to exit and then deletes the cluster and its directory, so
// a kill -9 or a panic leaves nothing running. Teardown kills it by pid
// after deleting the cluster itself: it leads its own process group (so that
// a Ctrl-C does not stop it before it has cleaned up), so kill the group,
// -pid, to stop its sleep too.
func StartReaper(opts Options) (*os.Process, error) {
	script := `
while kill -0 "$PARENT" 2>/dev/null; do sleep 1; done
"$BIN/kwokctl" delete cluster --name "$NAME" >>"$DIR/reaper.log" 2>&1
for f in "$KWOK_WORKDIR/clusters/$NAME/pids/"*.pid; do
  [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
done
rm -rf "$DIR"
`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("PARENT=%d", os.Getpid()),
		"BIN="+opts.BinDir, "NAME="+opts.Name, "DIR="+opts.Dir,
		"KWOK_WORKDIR="+filepath.Join(opts.Dir, "kwok"),
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start reaper: %w", err)
	}
	return cmd.Process, nil
}
