package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshwave/meshwave/internal/safefile"
	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/states/statemgr"
)

// stateOptions are the flags of the state subcommands: where the state is.
type stateOptions struct {
	plan  planFlags
	kube  kubeFlags
	state stateFlags
}

func (o *stateOptions) register(cmd *cobra.Command) {
	o.plan.register(cmd.Flags())
	o.kube.register(cmd.Flags())
	o.state.register(cmd.Flags())
}

func newStateCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Read or replace the stored state (move it between a local file and the cluster)",
		Long: `state pull prints the stored state; state push replaces it with a state file.
Together they move a state between backends:

  local file -> cluster:  meshwave state push -state-backend kubernetes -state-namespace NS -state-name NAME meshwave.state.json
  cluster -> local file:  meshwave state pull -state-backend kubernetes -state-namespace NS -state-name NAME > meshwave.state.json

Without -state-* flags both use the state the plan's state block names, as
apply does.`,
	}
	cmd.AddCommand(newStatePullCommand(s), newStatePushCommand(s))
	return cmd
}

func newStatePullCommand(s streams) *cobra.Command {
	o := &stateOptions{}
	cmd := &cobra.Command{
		Use:   "pull",
		Short: "Print the stored state as a state file (JSON) on standard output",
		Long: `pull reads the state (a local file, or the Secret of the kubernetes backend)
and prints it in the state file format (docs/state-format.md), as it is
stored: same lineage, same serial. It takes no lock.`,
		Example: `  meshwave state pull -state-backend kubernetes -state-namespace meshwave -state-name upgrade > meshwave.state.json`,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			store, err := o.state.storeWithoutPlan(s, &o.plan, &o.kube)
			if err != nil {
				return err
			}
			st, err := store.Read()
			if errors.Is(err, statemgr.ErrNoState) {
				return fmt.Errorf("no state at %s", store.Location())
			}
			if err != nil {
				return err
			}
			return statefile.Write(s.Out, st)
		},
	}
	o.register(cmd)
	return cmd
}

func newStatePushCommand(s streams) *cobra.Command {
	o := &stateOptions{}
	cmd := &cobra.Command{
		Use:   "push FILE",
		Short: "Replace the stored state with a state file",
		Long: `push writes the state file FILE to the state (a local file, or the Secret of the
kubernetes backend), under the state's lock. It refuses a state of another
lineage (another upgrade's), one with an older serial than the stored state,
and one with the same serial but other content; pushing the stored state
again changes nothing. As every write, it bumps the serial.`,
		Example: `  meshwave state push -state-backend kubernetes -state-namespace meshwave -state-name upgrade meshwave.state.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.push(cmd.Context(), s, args[0])
		},
	}
	o.register(cmd)
	o.state.registerLock(cmd.Flags())
	return cmd
}

func (o *stateOptions) push(ctx context.Context, s streams, file string) error {
	b, err := safefile.ReadFile(file, statemgr.MaxStateSize)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	incoming, err := statefile.Read(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s is not a usable meshwave state: %w", file, err)
	}
	store, err := o.state.storeWithoutPlan(s, &o.plan, &o.kube)
	if err != nil {
		return err
	}
	if err := o.state.lock(ctx, store, "state push"); err != nil {
		return err
	}
	defer store.Unlock()
	stored, err := store.Read()
	if err != nil && !errors.Is(err, statemgr.ErrNoState) {
		return err
	}
	switch err := statemgr.CheckPush(stored, incoming); {
	case errors.Is(err, statemgr.ErrPushUnchanged):
		fmt.Fprintf(s.Out, "%s already holds this state (lineage %s, serial %d); nothing pushed.\n", store.Location(), incoming.Lineage, incoming.Serial)
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", store.Location(), err)
	}
	if err := store.Write(incoming); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "Pushed %s to %s (lineage %s, now serial %d).\n", file, store.Location(), incoming.Lineage, incoming.Serial)
	return nil
}
