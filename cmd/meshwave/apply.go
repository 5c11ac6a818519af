package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshwave/meshwave/cmd/meshwave/views"
	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/plan/planfile"
	"github.com/meshwave/meshwave/providers/kube"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statemgr"
)

var _ executor.Provider = (*kube.Provider)(nil)

type applyOptions struct {
	plan        planFlags
	kube        kubeFlags
	json        bool
	progress    string
	autoApprove bool
	approve     []string
	state       stateFlags
}

func newApplyCommand(s streams) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply [FILE]",
		Short: "Perform the upgrade, wave by wave, recording every step in the state file",
		Long: `apply performs the upgrade: it moves the gateways, then each wave's namespaces
(relabel, restart, wait for the rollouts, verify every proxy), runs the wave's
gates, and finally uninstalls the old control plane.

Without FILE it plans first, shows the plan and asks for "yes" (skip with
-auto-approve). With FILE it applies a plan saved by "meshwave plan -out FILE",
and refuses it when the cluster or the state changed since.

Every step is written to the state (meshwave.state.json beside the plan, or
where the plan's state block or the -state-* flags say) before and after it
runs, under a lock. If apply is interrupted (Ctrl-C, a lost connection, a
crash), run it again: it re-checks what was done and continues where it
stopped, without restarting any workload twice. With the kubernetes state
backend the run can be continued from another machine, with another
kubeconfig: the lock of a killed apply expires by itself (-lock-timeout
waits for it).

A saved plan (apply FILE) reads no plan files: it records the state backend
it was planned against (the plan's state block or the -state-* flags of
plan), and apply uses that one. -state-* flags that name another backend are
refused.

When the plan leaves workloads to manual follow-up (what a restart cannot
roll) and uninstalls the old control plane, apply stops before the uninstall
while they still use it: it says what to move, keeps the uninstall pending in
the state, and exits 1, as it does at an approval gate. Move them and run
apply again to uninstall.

Exit codes: 0 done, 1 error or not finished (a failed wave, a blocked plan, a
held lock, an approval still needed, manual follow-up still to do before the
uninstall), 130 or 143 when interrupted by SIGINT or SIGTERM.`,
		Example: `  meshwave apply
  meshwave apply -auto-approve -json > events.jsonl
  meshwave apply upgrade.plan
  meshwave apply -approve canary      # pass the canary wave's approval gate`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := ""
			if len(args) == 1 {
				file = args[0]
			}
			return o.run(cmd.Context(), s, file)
		},
	}
	fs := cmd.Flags()
	o.plan.register(fs)
	o.kube.register(fs)
	fs.BoolVar(&o.json, "json", false, "print events as JSON lines (one object per line) instead of text; needs -auto-approve or a saved plan")
	registerProgress(fs, &o.progress)
	fs.BoolVar(&o.autoApprove, "auto-approve", false, "do not ask for confirmation before applying")
	fs.StringArrayVar(&o.approve, "approve", nil, "approve the approval gate of this wave (repeatable)")
	o.state.register(fs)
	o.state.registerLock(fs)
	return cmd
}

func (o *applyOptions) run(ctx context.Context, s streams, file string) error {
	vt := views.ParseViewType(o.json)
	if vt == views.ViewJSON && file == "" && !o.autoApprove {
		return errors.New("-json needs -auto-approve or a saved plan: there is nobody to ask for confirmation")
	}
	view, err := applyView(s, vt, o.progress)
	if err != nil {
		return err
	}
	var (
		saved *planfile.File
		prov  *kube.Provider
		p     *plan.Plan
		store stateStore
		cfg   *config.Config
	)
	if file != "" {
		var err error
		if saved, prov, err = o.openSaved(file); err != nil {
			return err
		}
		// A saved plan is applied without its plan files: it says where
		// the state is.
		sc, err := o.state.forSavedPlan(saved, &o.plan)
		if err != nil {
			return err
		}
		if store, err = openStore(sc, &o.plan, &o.kube); err != nil {
			return err
		}
	} else if store, cfg, err = o.state.open(s, &o.plan, &o.kube); err != nil {
		return err
	}
	// Lock first, then read: the state read is the one the lock protects. A
	// corrupt or foreign state is refused and left as it is.
	if err := o.state.lock(ctx, store, "apply"); err != nil {
		return err
	}
	defer store.Unlock()
	current, err := store.Read()
	if err != nil && !errors.Is(err, statemgr.ErrNoState) {
		return err
	}

	if saved != nil {
		p = saved.Plan
		if err := approvalsOf(p, o.approve); err != nil {
			return err
		}
		if err := o.checkSaved(ctx, prov, saved, current); err != nil {
			return err
		}
	} else {
		if cfg, err = o.state.planConfig(s, &o.plan, cfg); err != nil {
			return err
		}
		if p, prov, err = o.computeAndConfirm(ctx, s, view, cfg, current); err != nil || p == nil {
			return err
		}
	}

	opts := executor.Options{Approved: o.approve}
	if isTTY(s.In) && vt == views.ViewHuman {
		opts.Prompter = &ttyPrompter{s: s, hold: view.Hold}
	}
	defer prov.Close()
	ex := executor.New(prov, store, view, opts)
	view.Begin(p)
	err = ex.Apply(ctx, p)
	view.Close()
	return applyResult(ctx, s, err)
}

// computeAndConfirm computes the plan, shows it and asks whether to apply
// it. A nil plan without an error means there is nothing to apply.
func (o *applyOptions) computeAndConfirm(ctx context.Context, s streams, view views.Apply, cfg *config.Config, current *states.State) (*plan.Plan, *kube.Provider, error) {
	c, err := computePlan(ctx, cfg, &o.kube, current.History())
	if err != nil {
		return nil, nil, err
	}
	if err := approvalsOf(c.plan, o.approve); err != nil {
		return nil, nil, err
	}
	if err := view.Plan(c.plan); err != nil {
		return nil, nil, err
	}
	if c.plan.Blocked() {
		return nil, nil, &exitError{code: 1}
	}
	if !c.plan.HasChanges() && !unfinished(current, c.plan) {
		return nil, nil, nil
	}
	if !o.autoApprove {
		ok, err := confirm(ctx, s, "\nDo you want to perform these actions?\n  meshwave will perform the actions described above.\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			fmt.Fprintln(s.Err, "Apply cancelled.")
			return nil, nil, &exitError{code: 1}
		}
	}
	return c.plan, c.prov, nil
}

// The provider tells the executor what still uses a revision, so apply
// stops before an uninstall that waits for manual follow-up.
var _ executor.UsersReader = (*kube.Provider)(nil)

// applyResult turns the executor's error into the command's outcome.
func applyResult(ctx context.Context, s streams, err error) error {
	var approval *executor.ApprovalRequiredError
	var followUp *executor.FollowUpRequiredError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, executor.ErrInterrupted):
		fmt.Fprintf(s.Err, "\nInterrupted. The state file records where apply stopped; run the same command again to continue.\n")
		if sig := interruptedBy(ctx); sig != nil {
			return &exitError{code: signalExitCode(sig)}
		}
		return &exitError{code: 130}
	case errors.As(err, &approval):
		fmt.Fprintf(s.Err, "\nWave %q needs approval before the next wave starts. The state is saved.\nTo continue, run apply again with -approve %s\n", approval.Wave, views.Printable(approval.Wave))
		return &exitError{code: 1}
	case errors.As(err, &followUp):
		fmt.Fprintf(s.Err, "\nThe uninstall of %s waits for the manual follow-up: still used by %s. The state is saved.\nMove them by hand, then run apply again to uninstall.\n",
			views.Printable(followUp.Revision), views.Printable(strings.Join(followUp.Users, ", ")))
		return &exitError{code: 1}
	}
	return err
}

// approvalsOf refuses an -approve of a wave p does not have: a misspelt
// name would otherwise approve nothing, and the apply would stop at the gate
// the user meant to pass.
func approvalsOf(p *plan.Plan, approve []string) error {
	var waves []string
	for _, st := range p.Steps {
		if st.Wave != "" && !slices.Contains(waves, st.Wave) {
			waves = append(waves, st.Wave)
		}
	}
	for _, w := range approve {
		switch {
		case slices.Contains(waves, w):
		case len(waves) == 0:
			return fmt.Errorf("-approve %s: the plan has no waves", w)
		default:
			return fmt.Errorf("-approve %s: the plan has no wave %q (its waves: %s)", w, w, strings.Join(waves, ", "))
		}
	}
	return nil
}

// openSaved reads a saved plan and connects to the cluster it was made
// for, refusing any other cluster before a request is sent.
func (o *applyOptions) openSaved(file string) (*planfile.File, *kube.Provider, error) {
	f, err := planfile.Read(file)
	if err != nil {
		return nil, nil, err
	}
	prov, err := o.kube.provider(f.Plan.Flavor)
	if err != nil {
		return nil, nil, err
	}
	if err := f.CheckCluster(prov.Host()); err != nil {
		return nil, nil, err
	}
	return f, prov, nil
}

// checkSaved refuses a saved plan whose state or objects changed; current is
// the state read under the lock.
func (o *applyOptions) checkSaved(ctx context.Context, prov *kube.Provider, f *planfile.File, current *states.State) error {
	snap, err := prov.Observe(ctx, observeScope(f.Plan))
	if err != nil {
		return fmt.Errorf("read the cluster: %w", err)
	}
	return planfile.CheckSavedPlan(f.State, current,
		planfile.Changes(f.Objects, snap.Objects)...)
}

// observeScope rebuilds, from a saved plan's phases, the parts of a config
// the cluster reader needs (tags, gateways, wave namespaces, the uninstall).
func observeScope(p *plan.Plan) *config.Config {
	cfg := &config.Config{Upgrade: config.Upgrade{From: p.From, To: p.To, Flavor: p.Flavor}}
	for _, ph := range p.Phases {
		steps := p.PhaseSteps(ph)
		switch ph.Kind {
		case plan.PhaseInstall:
			// The manifest's objects are read again as the plan read them.
			for _, st := range steps {
				if st.Kind != plan.StepInstall {
					continue
				}
				in := &config.InstallConfig{Manifest: st.ID}
				for _, o := range st.Manifest {
					in.Objects = append(in.Objects, config.ManifestObject{APIVersion: o.APIVersion, Kind: o.Kind,
						Namespace: o.Namespace, Name: o.Name, JSON: o.JSON})
				}
				cfg.Install = in
			}
		case plan.PhaseTags:
			for _, st := range steps {
				cfg.Tags = append(cfg.Tags, config.TagConfig{Name: strings.TrimPrefix(st.Object.Name, plan.TagWebhookName(""))})
			}
		case plan.PhaseGateways:
			for _, st := range steps {
				cfg.Gateways = append(cfg.Gateways, config.GatewayConfig{Name: st.Object.Name, Namespace: st.Object.Namespace})
			}
		case plan.PhaseWave:
			w := config.WaveConfig{Name: ph.Wave, MaxParallel: ph.MaxParallel}
			for _, st := range steps {
				if st.Kind == plan.StepNamespaceRelabel {
					w.Namespaces = append(w.Namespaces, st.Object.Name)
				}
			}
			cfg.Waves = append(cfg.Waves, w)
		case plan.PhaseFinalize:
			cfg.Finalize.UninstallOld = true
		}
	}
	return cfg
}

// unfinished reports whether the state holds steps of p that are not done:
// an apply stopped at a gate, or in a step the cluster has finished since,
// must still run so the state records where the upgrade really is.
func unfinished(st *states.State, p *plan.Plan) bool {
	if st == nil {
		return false
	}
	for _, step := range p.Steps {
		if ss := st.Step(step.ID); ss != nil && ss.Status != states.StatusDone {
			return true
		}
	}
	return false
}

// confirm asks question and reports whether the answer is "yes". An
// interrupt ends the wait: a read from a terminal does not see the context,
// so it runs aside and is abandoned.
func confirm(ctx context.Context, s streams, question string) (bool, error) {
	fmt.Fprint(s.Out, question)
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(s.In).ReadString('\n')
		ch <- answer{line, err}
	}()
	select {
	case <-ctx.Done():
		return false, fmt.Errorf("read confirmation: %w", context.Cause(ctx))
	case a := <-ch:
		if a.err != nil && !errors.Is(a.err, io.EOF) {
			return false, fmt.Errorf("read confirmation: %w", a.err)
		}
		return strings.TrimSpace(a.line) == "yes", nil
	}
}

// ttyPrompter asks for a wave's approval on the terminal; hold keeps the
// view from drawing over the question.
type ttyPrompter struct {
	s    streams
	hold func() (release func())
}

func (t *ttyPrompter) Approve(ctx context.Context, wave string) (bool, error) {
	defer t.hold()()
	return confirm(ctx, t.s, fmt.Sprintf("\nWave %q is done. Approve it and start the next wave? Only 'yes' approves: ", wave))
}

func isTTY(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// registerProgress adds the -progress flag of the commands that run a plan.
func registerProgress(fs *pflag.FlagSet, progress *string) {
	fs.StringVar(progress, "progress", string(views.ProgressAuto),
		"how the text output follows the run: live (redrawn in place on a terminal), plain (a log of transitions and periodic summaries, no line per status change) or auto (live on a terminal, plain otherwise)")
}

// applyView is the view of a command that runs a plan, from its -json and
// -progress flags.
func applyView(s streams, vt views.ViewType, progress string) (views.Apply, error) {
	pr, err := views.ParseProgress(progress)
	if err != nil {
		return nil, err
	}
	if vt == views.ViewHuman {
		if pr, err = views.ResolveProgress(pr, s.Out, nil); err != nil {
			return nil, err
		}
	}
	return views.NewApply(vt, s.Out, views.ApplyOptions{Color: colorFor(s.Out), Progress: pr}), nil
}

func colorFor(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && views.ColorEnabled(f, nil)
}
