// Command bench is the cluster benchmark of `make bench-cluster` (package
// test/bench): it starts a local control plane with meshsim, measures
// meshwave against a bare client and the manual procedure for each size and
// pod start regime, and rewrites the generated section of
// docs/benchmarks.md.
//
//	bench -meshwave bin/meshwave -sizes 20,200,1000 -regimes 0s,3s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/meshwave/meshwave/test/bench"
	"github.com/meshwave/meshwave/test/testenv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sizes := fs.String("sizes", "20,200,1000", "numbers of namespaces N, comma-separated")
	regimes := fs.String("regimes", "0s,3s", "how long each pod takes to start, comma-separated (0s: at once)")
	opts := bench.Options{Log: os.Stderr}
	fs.IntVar(&opts.ManualMaxN, "manual-max-n", 20, "run the manual kubectl procedure (A) at N up to this (0: never)")
	fs.BoolVar(&opts.HalfDone, "half-done", true, "measure the resume of an apply killed halfway")
	fs.IntVar(&opts.Samples, "samples", 1, "measure apply and B this many times each, alternately, and report the medians")
	fs.StringVar(&opts.Meshwave, "meshwave", "bin/meshwave", "the meshwave binary under test")
	fs.StringVar(&opts.TestenvBin, "testenv-bin", os.Getenv(testenv.EnvBinDir), "the control plane's binaries (test/testenv/build.sh)")
	fs.StringVar(&opts.WorkDir, "workdir", defaultWorkDir(), "where the cluster, each run's plan, state and output, and results/ are kept")
	fs.StringVar(&opts.Doc, "doc", "docs/benchmarks.md", "document whose generated section is rewritten (empty: none)")
	fs.StringVar(&opts.Command, "command", "", "the command line to report (default: this one)")
	fs.BoolVar(&opts.Reuse, "reuse", false, "reuse the figures of a case an earlier run of the same clean commit measured without error")
	fs.DurationVar(&opts.SetupTimeout, "setup-timeout", 30*time.Minute, "limit for creating or deleting one set of N namespaces")
	fs.DurationVar(&opts.RunTimeout, "run-timeout", 90*time.Minute, "limit for one apply, B or A (also the plan's wave timeout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if opts.Sizes, err = bench.ParseSizes(*sizes); err != nil {
		return err
	}
	if opts.Regimes, err = bench.ParseRegimes(*regimes); err != nil {
		return err
	}
	if opts.Command == "" {
		opts.Command = strings.Join(append([]string{"bench"}, args...), " ")
	}
	// Children run in other directories: every path they get is absolute.
	if opts.Meshwave, err = filepath.Abs(opts.Meshwave); err != nil {
		return err
	}
	if opts.WorkDir, err = filepath.Abs(opts.WorkDir); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, opts)
	if rep != nil && opts.Doc != "" {
		fmt.Fprintf(os.Stderr, "bench: %s rewritten (%d cases); figures of each case in %s\n", opts.Doc, len(rep.Results), filepath.Join(opts.WorkDir, "results"))
	}
	return err
}

func defaultWorkDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "meshwave", "bench")
}
