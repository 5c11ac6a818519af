// Command testenv starts and deletes a long-lived local control plane, the
// same one the tests use, for the demo:
//
//	testenv up   --name NAME --dir DIR --bin BINDIR   # prints the kubeconfig path
//	testenv down --name NAME --dir DIR --bin BINDIR
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/meshwave/meshwave/test/testenv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		return fmt.Errorf("usage: testenv up|down --name NAME --dir DIR [--bin BINDIR]")
	}
	fs := flag.NewFlagSet("testenv "+args[0], flag.ContinueOnError)
	var opts testenv.Options
	fs.StringVar(&opts.Name, "name", "meshwave-demo", "kwokctl cluster name")
	fs.StringVar(&opts.Dir, "dir", "", "directory that holds the cluster's state")
	fs.StringVar(&opts.BinDir, "bin", os.Getenv(testenv.EnvBinDir), "directory of the control plane binaries")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	switch args[0] {
	case "up":
		c, err := testenv.Start(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Println(c.Kubeconfig)
		return nil
	default:
		return testenv.Attach(opts).Delete(ctx)
	}
}
