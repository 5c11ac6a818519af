package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultSizes and DefaultRegimes are the full benchmark of issue 16.
var (
	DefaultSizes   = []int{20, 200, 1000}
	DefaultRegimes = []time.Duration{0, 3 * time.Second}
)

// Options configure Run.
type Options struct {
	Sizes   []int
	Regimes []time.Duration // how long each pod takes to start
	// ManualMaxN: procedure A runs at N ≤ ManualMaxN (0: never).
	ManualMaxN int
	// HalfDone measures the resume of an apply killed halfway.
	HalfDone bool
	// Samples is how many times apply and B are each measured in a case,
	// one after the other; their figures are the medians (0: once).
	Samples int
	// Meshwave is the binary under test; TestenvBin the control plane's
	// binaries (test/testenv/build.sh).
	Meshwave, TestenvBin string
	// WorkDir keeps the cluster (removed at the end), each case's plan,
	// state and output, and results/ with each case's figures as JSON.
	WorkDir string
	// Doc is the file whose generated section is rewritten after each case
	// ("" writes none).
	Doc string
	// Command is how the run was started, as the report shows it.
	Command string
	// Reuse takes the figures of a case from WorkDir/results when an
	// earlier run of the same commit measured it without error.
	Reuse bool
	// SetupTimeout bounds creating (or deleting) one set of namespaces;
	// RunTimeout one apply, baseline or manual procedure.
	SetupTimeout, RunTimeout time.Duration
	Log                      io.Writer
}

// ParseSizes reads "20,200,1000".
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 9999 {
			return nil, fmt.Errorf("bench: size %q: want a whole number of namespaces from 1 to 9999", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// ParseRegimes reads pod start delays, "0s,3s".
func ParseRegimes(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 || d > 10*time.Minute {
			return nil, fmt.Errorf("bench: regime %q: want a pod start delay such as 0s or 3s (at most 10m)", f)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}
