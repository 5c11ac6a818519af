// Package faults_test is the fault suite: it runs meshwave apply against the
// real local control plane while things go wrong — kill -9 at random points,
// the API server frozen, someone else writing to the same objects, a
// namespace deleted, a gate that never answers, a full or read-only state
// directory, two applies racing for the lock — and checks what meshwave
// promises: the state is never lost or overwritten, the cluster is never
// changed without the state saying so first, and apply run again finishes
// the upgrade without restarting any workload twice.
//
// Every trial is recorded; with MESHWAVE_FAULTS_REPORT=FILE the suite writes
// the table of trials and outcomes into FILE (docs/reliability.md) between
// its markers.
package faults_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/meshwave/meshwave/test/e2e/harness"
)

// envSeed overrides the seed of the random kill points.
const envSeed = "MESHWAVE_FAULTS_SEED"

// envReport names the file the suite writes its table into.
const envReport = "MESHWAVE_FAULTS_REPORT"

var suiteStart time.Time

func TestMain(m *testing.M) {
	suiteStart = time.Now()
	code := harness.Main(m)
	if path := os.Getenv(envReport); path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(harness.RepoRoot(), path)
		}
		if err := writeReport(path, code, time.Since(suiteStart)); err != nil {
			fmt.Fprintf(os.Stderr, "faults: write report: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// seed is the seed of this run's random choices: MESHWAVE_FAULTS_SEED, or
// the clock. It is printed so a failing run can be replayed.
var seed = func() int64 {
	if s := os.Getenv(envSeed); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "faults: %s=%q is not an integer\n", envSeed, s)
			os.Exit(2)
		}
		return n
	}
	return time.Now().UnixNano() % 1_000_000
}()
