// Command istiofix loads the real-Istio upgrade scenario onto a running
// testenv cluster for the demo (make demo SCENARIO=istio) and keeps its
// istiod processes running until it gets SIGTERM or SIGINT:
//
//	istiofix --cluster-dir DIR --bin TESTENV_BIN --istio-bin ISTIO_BIN --work DIR --ready-file F --pid-file F
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/meshwave/meshwave/test/istiofix"
	"github.com/meshwave/meshwave/test/testenv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("istiofix", flag.ContinueOnError)
	var opts testenv.Options
	var istioBin, work, readyFile, pidFile string
	fs.StringVar(&opts.Name, "name", "meshwave-demo", "kwokctl cluster name")
	fs.StringVar(&opts.Dir, "cluster-dir", "", "directory of the running testenv cluster")
	fs.StringVar(&opts.BinDir, "bin", os.Getenv(testenv.EnvBinDir), "directory of the control plane binaries")
	fs.StringVar(&istioBin, "istio-bin", os.Getenv(istiofix.EnvBinDir), "directory of istioctl and pilot-discovery")
	fs.StringVar(&work, "work", "", "directory for certificates, rendered manifests and istiod logs")
	fs.StringVar(&readyFile, "ready-file", "", "file created once the scenario is loaded")
	fs.StringVar(&pidFile, "pid-file", "", "file that receives this process's pid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if opts.Dir == "" || work == "" || istioBin == "" {
		return fmt.Errorf("usage: istiofix --cluster-dir DIR --work DIR --istio-bin DIR [--bin DIR] [--ready-file F] [--pid-file F]")
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := testenv.Attach(opts)
	if env.Client == nil {
		return fmt.Errorf("istiofix: no readable kubeconfig in %s", opts.Dir)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	mesh, err := istiofix.New(env, work, istioBin)
	if err != nil {
		return err
	}
	defer mesh.Stop()
	loadCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = mesh.LoadUpgradeScenario(loadCtx)
	cancel()
	if err != nil {
		return err
	}
	if readyFile != "" {
		if err := os.WriteFile(readyFile, nil, 0o644); err != nil {
			return err
		}
	}
	fmt.Println("istiofix: scenario loaded; istiod 1-30 and 1-31 serve until SIGTERM")
	<-ctx.Done()
	return nil
}
