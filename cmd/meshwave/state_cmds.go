package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshwave/meshwave/cmd/meshwave/views"
	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/states/statemgr"
)

type rollbackOptions struct {
	plan        planFlags
	kube        kubeFlags
	wave        string
	namespace   string
	autoApprove bool
	json        bool
	progress    string
	state       stateFlags
}

func newRollbackCommand(s streams) *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Move a wave, a namespace, or everything back to the old control plane",
		Long: `rollback reverses what apply did, using what the state file recorded before
each change: namespaces get their original injection labels back, their
workloads are restarted and verified on the old proxy, and gateways return to
their original control plane, revision tags to the revision they pointed at.
With no selector it moves the tags back first (so restarted pods of the
namespaces that follow them are injected by the old revision), then every
wave, last first, then the gateways. An uninstalled control plane cannot be
rolled back.`,
		Example: `  meshwave rollback -wave canary
  meshwave rollback -namespace demo-a -auto-approve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), s) },
	}
	fs := cmd.Flags()
	o.plan.register(fs)
	o.kube.register(fs)
	fs.StringVar(&o.wave, "wave", "", "roll back this wave")
	fs.StringVar(&o.namespace, "namespace", "", "roll back this namespace")
	fs.BoolVar(&o.autoApprove, "auto-approve", false, "do not ask for confirmation")
	fs.BoolVar(&o.json, "json", false, "print events as JSON lines")
	registerProgress(fs, &o.progress)
	o.state.register(fs)
	o.state.registerLock(fs)
	return cmd
}

func (o *rollbackOptions) run(ctx context.Context, s streams) error {
	view, err := applyView(s, views.ParseViewType(o.json), o.progress)
	if err != nil {
		return err
	}
	store, cfg, err := o.state.open(s, &o.plan, &o.kube)
	if err != nil {
		return err
	}
	// Lock first, then read, as apply does.
	if err := o.state.lock(ctx, store, "rollback"); err != nil {
		return err
	}
	defer store.Unlock()
	st, err := store.Read()
	if err != nil {
		if errors.Is(err, statemgr.ErrNoState) {
			return fmt.Errorf("no state at %s: nothing was applied, so there is nothing to roll back", store.Location())
		}
		return err
	}
	if cfg, err = o.state.planConfig(s, &o.plan, cfg); err != nil {
		return err
	}
	c, err := computePlan(ctx, cfg, &o.kube, st.History())
	if err != nil {
		return err
	}
	sel := executor.Scope{Wave: o.wave, Namespace: o.namespace}
	if !o.autoApprove {
		ok, err := confirm(ctx, s, fmt.Sprintf("Roll back %s to %s? Only 'yes' will be accepted: ", views.Printable(sel.String()), views.Printable(c.plan.From)))
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(s.Err, "Rollback cancelled.")
			return &exitError{code: 1}
		}
	}
	defer c.prov.Close()
	view.Begin(c.plan)
	err = executor.New(c.prov, store, view, executor.Options{}).Rollback(ctx, c.plan, sel)
	view.Close()
	return applyResult(ctx, s, err)
}

type statusOptions struct {
	plan  planFlags
	kube  kubeFlags
	state stateFlags
}

func newStatusCommand(s streams) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state and the live revision of every namespace in the plan",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), s) },
	}
	o.plan.register(cmd.Flags())
	o.kube.register(cmd.Flags())
	o.state.register(cmd.Flags())
	return cmd
}

func (o *statusOptions) run(ctx context.Context, s streams) error {
	view := views.NewStatus(s.Out)
	store, cfg, err := o.state.open(s, &o.plan, &o.kube)
	if err != nil {
		return err
	}
	st, err := store.Read()
	switch {
	case errors.Is(err, statemgr.ErrNoState):
		view.NoState(store.Location())
	case err != nil:
		return err
	default:
		if err := view.State(store.Location(), st); err != nil {
			return err
		}
	}
	if cfg, err = o.state.planConfig(s, &o.plan, cfg); err != nil {
		return err
	}
	c, err := computePlan(ctx, cfg, &o.kube, st.History())
	if err != nil {
		return err
	}
	return view.Live(c.plan, c.snap)
}

func newForceUnlockCommand(s streams) *cobra.Command {
	var (
		pf    planFlags
		kf    kubeFlags
		state stateFlags
	)
	cmd := &cobra.Command{
		Use:   "force-unlock LOCK_ID",
		Short: "Release a state lock left by a meshwave that is gone",
		Long: `force-unlock removes the state's lock: the lock file of a local state, the
Lease of a state kept in Kubernetes. Use it only when the meshwave that holds
it is not running any more; the lock error names its holder, pid and ID. A
Kubernetes lock whose holder died also expires by itself within 30 s.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			store, err := state.storeWithoutPlan(s, &pf, &kf)
			if err != nil {
				return err
			}
			if err := store.ForceUnlock(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Released the lock %s on %s.\n", args[0], store.Location())
			return nil
		},
	}
	pf.register(cmd.Flags())
	kf.register(cmd.Flags())
	state.register(cmd.Flags())
	return cmd
}
