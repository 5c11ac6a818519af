package views

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

// Status is the view of the status command: what the state file records,
// then the live revision of every namespace the plan relabels.
type Status struct{ w io.Writer }

// NewStatus returns the status view writing to w.
func NewStatus(w io.Writer) *Status { return &Status{w: w} }

// NoState says that nothing was applied yet: there is no state at path.
func (v *Status) NoState(path string) {
	fmt.Fprintf(v.w, "State: none at %s (nothing applied yet)\n", Printable(path))
}

// State lists the steps st, read from path, records.
func (v *Status) State(path string, st *states.State) error {
	fmt.Fprintf(v.w, "State: %s (lineage %s, serial %d)\n\n", Printable(path), st.Lineage, st.Serial)
	tw := tabwriter.NewWriter(v.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tENDED\tERROR")
	for _, ss := range st.Steps {
		ended := ""
		if !ss.EndedAt.IsZero() {
			ended = ss.EndedAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", Printable(ss.ID), ss.Status, ended, Printable(ss.Error))
	}
	return tw.Flush()
}

// Live lists, per namespace p relabels, its injection labels in snap and
// how many of its pods run p's target proxy.
func (v *Status) Live(p *plan.Plan, snap *plan.Snapshot) error {
	fmt.Fprintf(v.w, "\nLive revisions (%s → %s):\n", Printable(p.From), Printable(p.To))
	tw := tabwriter.NewWriter(v.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tNAMESPACE\tISTIO-INJECTION\tREV\tPODS ON TARGET")
	labels := map[string]map[string]string{}
	for _, ns := range snap.Namespaces {
		labels[ns.Name] = ns.Labels
	}
	// The plan resolved the target (a revision, a tag, the default alias)
	// to the proxy it injects; status counts pods against that.
	target := ""
	for _, st := range p.Steps {
		if st.ToImage != "" {
			target = st.ToImage
			break
		}
	}
	for _, step := range p.Steps {
		if step.Kind != plan.StepNamespaceRelabel {
			continue
		}
		ns := step.Object.Name
		on, all := podsOn(snap, ns, target)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\n", Printable(step.Wave), Printable(ns),
			Printable(labels[ns][plan.LabelInjection]), Printable(labels[ns][plan.LabelRevision]), on, all)
	}
	return tw.Flush()
}

// podsOn counts the pods with a proxy in namespace ns of snap (all) and
// those whose proxy is image (on).
func podsOn(snap *plan.Snapshot, ns, image string) (on, all int) {
	for _, w := range snap.Workloads {
		if w.Namespace != ns {
			continue
		}
		for _, p := range w.Pods {
			if p.ProxyImage == "" {
				continue
			}
			all++
			if p.ProxyImage == image {
				on++
			}
		}
	}
	return on, all
}
