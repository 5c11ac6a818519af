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
	statePath        string
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

Exit codes: 0 success, 1 error or blocking check. With -detailed-exitcode:
0 no changes, 1 error, 2 changes to apply.`,
		Example: `  # review the upgrade in the working directory's *.mw.hcl files
  meshwave plan

  # save it for review and apply exactly that later
  meshwave plan -out upgrade.plan
  meshwave apply upgrade.plan

  # a pull-request comment
  meshwave plan -format=markdown > plan.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), s) },
	}
	fs := cmd.Flags()
	o.plan.register(fs)
	o.kube.register(fs)
	fs.BoolVar(&o.json, "json", false, "print the plan as JSON (same as -format=json)")
	fs.StringVar(&o.format, "format", "", "output format: human (the default), json or markdown")
	fs.StringVar(&o.out, "out", "", "save the plan to this file for a later `meshwave apply FILE`")
	fs.StringVar(&o.statePath, "state", "", "state file (default: "+defaultStateFile+" beside the plan)")
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

// computePlan loads the plan files, reads the cluster and computes the plan.
func computePlan(ctx context.Context, s streams, pf *planFlags, kf *kubeFlags) (*computed, error) {
	cfg, err := pf.load(s)
	if err != nil {
		return nil, err
	}
	prov, err := kf.provider(cfg.Upgrade.Flavor)
	if err != nil {
		return nil, err
	}
	snap, err := prov.Observe(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read the cluster: %w", err)
	}
	return &computed{cfg: cfg, plan: plan.Compute(cfg, snap), snap: snap, prov: prov, cluster: prov.Host()}, nil
}

// statePathFor is the state file: -state, or meshwave.state.json in the
// directory of the first plan file.
func statePathFor(flag string, pf *planFlags) string {
	if flag != "" {
		return flag
	}
	if len(pf.files) > 0 {
		return filepath.Join(filepath.Dir(pf.files[0]), defaultStateFile)
	}
	return defaultStateFile
}

func (o *planOptions) run(ctx context.Context, s streams) error {
	format, err := outputFormat(o.json, o.format)
	if err != nil {
		return err
	}
	if o.out != "" {
		// Before any work whose result could not be saved.
		if err := planfile.Writable(o.out); err != nil {
			return err
		}
	}
	c, err := computePlan(ctx, s, &o.plan, &o.kube)
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
			f := &planfile.File{Cluster: c.cluster, Objects: c.snap.Objects, Plan: c.plan}
			st, err := statemgr.NewFileStore(statePathFor(o.statePath, &o.plan)).Read()
			switch {
			case err == nil:
				f.State = states.RefOf(st)
			case errors.Is(err, statemgr.ErrNoState):
			default:
				return err
			}
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
