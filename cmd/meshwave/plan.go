package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/meshwave/meshwave/cmd/meshwave/views"
	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/plan/planfile"
	"github.com/meshwave/meshwave/providers/kube"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statemgr"
)

// defaultStateFile is the state file's name beside the plan.
const defaultStateFile = "meshwave.state.json"

type planOptions struct {
	plan             planFlags
	kube             kubeFlags
	json             bool
	format           string
	out              string
	state            stateFlags
	detailedExitcode bool
}

func newPlanCommand(s streams) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what an upgrade would change, and what is risky, without changing anything",
		Long: `plan reads the cluster, runs the pre-upgrade checks and prints the steps apply
would take: gateways to move, namespaces to relabel, workloads to restart, the
old control plane to uninstall. It changes nothing.

Checks that find an error (a missing or unready target control plane, an
EnvoyFilter or gateway that would not start on the new Istio, a missing
permission, ...) block apply; warnings are printed.

The permission check (MW012) asks the API server whether the caller may do
what apply will do. When another identity applies, as in CI where a
read-only identity plans and another applies, -permissions-for USER (and
-permissions-for-group GROUP) asks about that identity instead, with
SubjectAccessReviews: the caller then needs only create on
subjectaccessreviews.authorization.k8s.io besides read access.

Exit codes: 0 success, 1 error or blocking check. With -detailed-exitcode:
0 no changes, 1 error, 2 changes to apply.`,
		Example: `  # review the upgrade in the working directory's *.mw.hcl files
  meshwave plan

  # save it for review and apply exactly that later
  meshwave plan -out upgrade.plan
  meshwave apply upgrade.plan

  # a pull-request comment
  meshwave plan -format=markdown > plan.md

  # planned by a read-only identity, checked for the one that applies
  meshwave plan -out upgrade.plan -permissions-for system:serviceaccount:ci:meshwave-apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), s) },
	}
	fs := cmd.Flags()
	o.plan.register(fs)
	o.kube.register(fs)
	fs.BoolVar(&o.json, "json", false, "print the plan as JSON (same as -format=json)")
	fs.StringVar(&o.format, "format", "", "output format: human (the default), json or markdown")
	fs.StringVar(&o.out, "out", "", "save the plan to this file for a later `meshwave apply FILE`")
	o.kube.registerPermissionsFor(fs)
	o.state.register(fs)
	fs.BoolVar(&o.detailedExitcode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on error")
	return cmd
}

// computed is a plan together with what it was computed from.
type computed struct {
	cfg     *config.Config
	plan    *plan.Plan
	snap    *plan.Snapshot
	prov    *kube.Provider
	cluster string
}

// computePlan reads the cluster and computes the plan of cfg (loaded with
// planFlags.load); hist is what the upgrade's state recorded
// (states.State.History).
func computePlan(ctx context.Context, cfg *config.Config, kf *kubeFlags, hist plan.History) (*computed, error) {
	prov, err := kf.provider(cfg.Upgrade.Flavor)
	if err != nil {
		return nil, err
	}
	snap, err := prov.Observe(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read the cluster: %w", err)
	}
	return &computed{cfg: cfg, plan: plan.ComputeWith(cfg, snap, hist), snap: snap, prov: prov, cluster: prov.Host()}, nil
}

// statePathFor is the state file of the local backend: path (from -state
// or the plan's state block), or meshwave.state.json in the directory of
// the first plan file.
func statePathFor(path string, pf *planFlags) string {
	if path != "" {
		return path
	}
	return filepath.Join(planDir(pf), defaultStateFile)
}

// planDir is the directory of the first plan file.
func planDir(pf *planFlags) string {
	if len(pf.files) > 0 {
		return filepath.Dir(pf.files[0])
	}
	return "."
}

func (o *planOptions) run(ctx context.Context, s streams) error {
	format, err := outputFormat(o.json, o.format)
	if err != nil {
		return err
	}
	if _, err := o.kube.permissionsIdentity(); err != nil {
		return err
	}
	if o.out != "" {
		// Before any work whose result could not be saved.
		if err := planfile.Writable(o.out); err != nil {
			return err
		}
	}
	store, cfg, err := o.state.open(s, &o.plan, &o.kube)
	if err != nil {
		return err
	}
	// The state, when there is one, tells the plan what earlier applies
	// did (a namespace deleted since is named) and ties a saved plan to it.
	st, err := store.Read()
	if err != nil && !errors.Is(err, statemgr.ErrNoState) {
		return err
	}
	if cfg, err = o.state.planConfig(s, &o.plan, cfg); err != nil {
		return err
	}
	c, err := computePlan(ctx, cfg, &o.kube, st.History())
	if err != nil {
		return err
	}
	if err := renderPlan(s, c.plan, format); err != nil {
		return err
	}
	if o.out != "" {
		if c.plan.Blocked() {
			fmt.Fprintf(s.Err, "Not saving the plan to %s: it is blocked by errors.\n", o.out)
		} else {
			f := &planfile.File{Cluster: c.cluster, Objects: c.snap.Objects, Plan: c.plan, State: states.RefOf(st),
				Backend: savedBackend(cfg.State, &o.plan)}
			if err := planfile.Write(o.out, f); err != nil {
				return err
			}
			if format == "human" {
				fmt.Fprintf(s.Out, "\nSaved the plan to %s. To apply exactly this plan, run:\n  meshwave apply %s\n", o.out, o.out)
			}
		}
	}
	switch {
	case c.plan.Blocked():
		return &exitError{code: 1}
	case o.detailedExitcode && c.plan.HasChanges():
		return &exitError{code: 2}
	}
	return nil
}

// outputFormat is the format -json and -format ask for together. Asking
// for two different formats is an error, not a silent choice of one.
func outputFormat(json bool, format string) (string, error) {
	switch {
	case json && format != "" && format != "json":
		return "", fmt.Errorf("-json and -format=%s ask for two formats: use one of them", format)
	case json:
		return "json", nil
	case format == "":
		return "human", nil
	case format != "human" && format != "json" && format != "markdown":
		return "", fmt.Errorf("unknown -format %q: use human, json or markdown", format)
	}
	return format, nil
}

func renderPlan(s streams, p *plan.Plan, format string) error {
	switch format {
	case "json":
		return views.JSON(s.Out, p)
	case "markdown":
		return views.Markdown(s.Out, p)
	}
	color := false
	if f, ok := s.Out.(*os.File); ok {
		color = views.ColorEnabled(f, nil)
	}
	return views.Human(s.Out, p, views.HumanOptions{Color: color})
}

type showOptions struct {
	json   bool
	format string
}

func newShowCommand(s streams) *cobra.Command {
	o := &showOptions{}
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Show a saved plan",
		Long: `show prints a plan saved with "meshwave plan -out FILE", in the same formats as
plan. It reads only the file, never the cluster.`,
		Example: `  meshwave show upgrade.plan
  meshwave show -json upgrade.plan | jq '.summary'`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			format, err := outputFormat(o.json, o.format)
			if err != nil {
				return err
			}
			f, err := planfile.Read(args[0])
			if err != nil {
				return err
			}
			return renderPlan(s, f.Plan, format)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&o.format, "format", "", "output format: human (the default), json or markdown")
	return cmd
}
