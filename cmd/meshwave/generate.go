package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshwave/meshwave/internal/safefile"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/plan/generate"
)

type generateOptions struct {
	kube   kubeFlags
	gen    generate.Options
	flavor string
	out    string
	force  bool
}

func newGenerateCommand(s streams) *cobra.Command {
	o := &generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate --from REV --to REV",
		Short: "Write a plan from the live cluster",
		Long: `generate reads the cluster and writes a plan that moves everything the source
revision serves to the target: every namespace that uses the source (by its
istio.io/rev label, a revision tag, or istio-injection=enabled through the
default injector), the gateways on it, the revision tags pointing at it
(flavor istio), then waves of namespaces, and the uninstall of the source at
the end. It changes nothing in the cluster.

The first wave is the canary: one namespace alone (--canary, or the namespace
with the fewest workloads with a sidecar), with an approval gate. The other
namespaces follow in waves of --wave-size, by name, or one wave per value of
the namespace label --by-label (the namespaces without it last).

What the plan cannot place is written as comments at its top or above its
wave: a workload a restart cannot roll, a namespace labeled both
istio-injection and istio.io/rev, a workload pinned to the source by its pod
template's label. While something unplaced still uses the source, the plan
keeps it installed (finalize { uninstall_old = false }).

The flavor is the one the revisions are spelled in ("cp-v17x.istio-system"
is backyards, "1-27" istio); --flavor overrides it. The plan goes to standard
output, or to --out FILE, which must not exist; --force replaces a file only
when generate wrote it. The plan is formatted as meshwave fmt formats it:
review it, commit it, then run meshwave plan.`,
		Example: `  # the plan of an upstream canary upgrade, reviewed before it is applied
  meshwave generate --from 1-26 --to 1-27 --out upgrade.mw.hcl
  meshwave validate -f upgrade.mw.hcl
  meshwave plan -f upgrade.mw.hcl
  meshwave apply -f upgrade.mw.hcl -approve canary

  # Backyards, shop-dev as the canary, then one wave per team
  meshwave generate --from mesh.istio-system --to cp-v17x.istio-system \
    --canary shop-dev --by-label mesh.example.com/team

  # waves of 25 namespaces
  meshwave generate --from 1-26 --to 1-27 --wave-size 25 > upgrade.mw.hcl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), s) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.gen.From, "from", "", "the revision the data plane leaves (\"default\": the injector of istio-injection=enabled)")
	fs.StringVar(&o.gen.To, "to", "", "the revision the data plane moves to")
	fs.StringVar(&o.gen.Canary, "canary", "", "the namespace of the canary wave (default: the one with the fewest workloads with a sidecar)")
	fs.IntVar(&o.gen.WaveSize, "wave-size", generate.DefaultWaveSize, "namespaces in each wave after the canary, by name")
	fs.StringVar(&o.gen.ByLabel, "by-label", "", "one wave per value of this namespace label instead of --wave-size")
	fs.StringVar(&o.flavor, "flavor", "", "backyards or istio (default: the one the revisions are spelled in)")
	fs.StringVarP(&o.out, "out", "o", "", "write the plan to this new file instead of standard output")
	fs.BoolVar(&o.force, "force", false, "with --out, replace a file that meshwave generate wrote")
	o.kube.register(fs)
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func (o *generateOptions) run(ctx context.Context, s streams) error {
	if o.gen.WaveSize <= 0 {
		return fmt.Errorf("--wave-size must be positive, got %d", o.gen.WaveSize)
	}
	if o.force && o.out == "" {
		return errors.New("--force needs --out: it says which file may be replaced")
	}
	flavor := config.Flavor(o.flavor)
	if flavor == "" {
		f, err := generate.FlavorOf(o.gen.From, o.gen.To)
		if err != nil {
			return err
		}
		flavor = f
	}
	if !flavor.Valid() {
		return fmt.Errorf("unknown --flavor %q: use backyards or istio", flavor)
	}
	o.gen.Flavor = flavor
	if o.out != "" {
		// Before reading the cluster, whose result could not be written.
		if err := safefile.Replaceable(o.out, o.replaceable); err != nil {
			return err
		}
	}
	prov, err := o.kube.provider(flavor)
	if err != nil {
		return err
	}
	snap, err := prov.ObserveAll(ctx)
	if err != nil {
		return fmt.Errorf("read the cluster: %w", err)
	}
	out, err := generate.Generate(snap, o.gen)
	if err != nil {
		return err
	}
	if o.out == "" {
		_, err := s.Out.Write(out)
		return err
	}
	if err := safefile.WriteFile(o.out, out, 0o644, o.replaceable); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	_, err = fmt.Fprintf(s.Out, "Wrote the plan to %s. Review it, then run:\n  meshwave plan -f %s\n", o.out, o.out)
	return err
}

// replaceable says why an existing --out file must not be replaced: without
// --force none may, with it only a plan generate wrote.
func (o *generateOptions) replaceable(existing []byte) error {
	switch {
	case !o.force:
		return errors.New("the file exists (--force replaces a plan meshwave generate wrote)")
	case !generate.Written(existing):
		return errors.New("meshwave generate did not write it (its first line is not generate's)")
	}
	return nil
}
