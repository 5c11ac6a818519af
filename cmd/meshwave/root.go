package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshwave/meshwave/cmd/meshwave/views"
)

// streams are the standard input and outputs a command writes to; tests pass
// buffers instead of the process's files.
type streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

func defaultStreams() streams { return streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr} }

// exitError carries a process exit code through cobra without printing a
// second message; the command has already written what the user must read.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes meshwave with args and returns the process exit code. ctx
// is cancelled when the user interrupts (see interruptContext).
func run(ctx context.Context, args []string, s streams) int {
	root := newRootCommand(s)
	root.SetArgs(terraformStyleArgs(args))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// An error can quote a file (a lock holder, a state's field): it is
	// printed like every other text from a file.
	fmt.Fprintf(s.Err, "Error: %s\n", views.Printable(err.Error()))
	if sig := interruptedBy(ctx); sig != nil {
		return signalExitCode(sig)
	}
	return 1
}

func newRootCommand(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "meshwave",
		Short: "Plan and apply Istio control-plane canary upgrades",
		Long: `meshwave moves an Istio data plane from one control-plane revision to another,
the canary way: gateways first, then namespaces in waves, each wave restarted and
its sidecar proxies verified before the next one starts, and the old control
plane removed once nothing uses it.

Write the upgrade as an HCL plan (*.mw.hcl), review it with "meshwave plan",
and run it with "meshwave apply". Every step is recorded in a local state file,
so an interrupted apply continues where it stopped.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(newVersionCommand(s))
	root.AddCommand(newValidateCommand(s))
	root.AddCommand(newFmtCommand(s))
	root.AddCommand(newGenerateCommand(s))
	root.AddCommand(newPlanCommand(s))
	root.AddCommand(newShowCommand(s))
	root.AddCommand(newApplyCommand(s))
	root.AddCommand(newRollbackCommand(s))
	root.AddCommand(newStatusCommand(s))
	root.AddCommand(newForceUnlockCommand(s))
	root.AddCommand(newStateCommand(s))
	return root
}

// terraformStyleArgs lets users write flags the way Terraform documents them
// (-json, -out=FILE, -var NAME=VALUE) as well as the GNU way (--json): a
// single-dash argument longer than one letter is read as a long flag.
// Arguments after "--" are left alone.
func terraformStyleArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && !(a[2] == '=') {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

// interruptSignal is the signal that cancelled the command's context, if any.
type interruptSignal struct {
	mu  sync.Mutex
	sig os.Signal
}

type interruptKey struct{}

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM; the signal is kept so a command can exit with 130 or 143 after
// saving its state. A second signal calls again with it: the user wants
// out now, whatever is still running.
func interruptContext(again func(os.Signal)) (context.Context, func()) {
	is := &interruptSignal{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), interruptKey{}, is))
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			is.mu.Lock()
			is.sig = sig
			is.mu.Unlock()
			cancel()
		case <-stopped:
			return
		}
		select {
		case sig := <-ch:
			again(sig)
		case <-stopped:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(stopped)
			cancel()
		})
	}
}

// interruptedBy returns the signal that interrupted ctx, or nil.
func interruptedBy(ctx context.Context) os.Signal {
	is, ok := ctx.Value(interruptKey{}).(*interruptSignal)
	if !ok {
		return nil
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.sig
}

// signalExitCode is the shell's exit code for a process ended by sig.
func signalExitCode(sig os.Signal) int {
	if sig == syscall.SIGTERM {
		return 143
	}
	return 130
}
