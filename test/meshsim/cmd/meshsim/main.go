// Command meshsim serves the simulated Istio mesh for a long-lived cluster
// (the demo): it installs the CRDs and a scenario, then serves the injection
// webhooks and the operator controllers until SIGINT or SIGTERM.
//
//	meshsim --kubeconfig KUBECONFIG --scenario backyards-1.6-to-1.7 \
//	        --pid-file DIR/meshsim.pid --ready-file DIR/meshsim.ready
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshwave/meshwave/test/meshsim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "meshsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("meshsim", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	scenario := fs.String("scenario", "", "scenario to install on start ("+strings.Join(meshsim.ScenarioNames(), ", ")+"); empty installs only the CRDs")
	pidFile := fs.String("pid-file", "", "write the process id here while running")
	readyFile := fs.String("ready-file", "", "create this file once the scenario runs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(*pidFile)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sim, err := meshsim.Start(ctx, cfg, meshsim.WithLog(os.Stderr))
	if err != nil {
		return err
	}
	if *scenario != "" {
		loadCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err := sim.LoadScenario(loadCtx, *scenario)
		cancel()
		if err != nil {
			return err
		}
	}
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte(time.Now().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(*readyFile)
	}
	<-sim.Done()
	return nil
}
