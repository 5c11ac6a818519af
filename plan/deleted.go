package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshwave/meshwave/plan/config"
)

// History is what earlier applies of this upgrade recorded that the planner
// needs: the namespaces each wave's steps worked in. The state holds it and
// cmd passes it in, so plan stays pure and free of the state's types.
type History struct {
	// WaveNamespaces maps a wave to the namespaces its recorded steps touched.
	WaveNamespaces map[string][]string
}

// Namespace deletion states, as the plan names them.
const (
	// NamespaceTerminating: the namespace's deletion has started; nothing
	// new can be created in it, so no restart in it can succeed.
	NamespaceTerminating = "terminating"
	// NamespaceGone: the namespace no longer exists.
	NamespaceGone = "gone"
)

// DeletedNamespace is a namespace of a wave that is being deleted, or that an
// earlier apply worked in and no longer exists.
type DeletedNamespace struct {
	Name  string
	State string // NamespaceTerminating or NamespaceGone
}

// indexDeleted finds, once per wave, the namespaces deletedNamespaces names,
// for the checks, the steps and the summary to look up.
func (c *computer) indexDeleted() {
	c.deletedIn = map[string][]DeletedNamespace{}
	c.isDeleted = map[string]map[string]bool{}
	for _, w := range c.cfg.Waves {
		ds := c.deletedNamespaces(w)
		c.deletedIn[w.Name] = ds
		c.isDeleted[w.Name] = map[string]bool{}
		for _, d := range ds {
			c.isDeleted[w.Name][d.Name] = true
		}
	}
}

// deletedNamespaces are the wave's namespaces the plan must name instead of
// moving: those the cluster is deleting, and those the history recorded that
// the cluster no longer has. A namespace that was never recorded and does
// not exist is not here: that is a mistake in the plan (MW013).
func (c *computer) deletedNamespaces(w config.WaveConfig) []DeletedNamespace {
	var out []DeletedNamespace
	for _, name := range c.waveNamespaces(w) {
		if ns, ok := c.namespaces[name]; ok && ns.Terminating {
			out = append(out, DeletedNamespace{Name: name, State: NamespaceTerminating})
		}
	}
	for _, name := range c.hist.WaveNamespaces[w.Name] {
		if _, ok := c.namespaces[name]; !ok && !slices.Contains(w.Exclude, name) {
			out = append(out, DeletedNamespace{Name: name, State: NamespaceGone})
		}
	}
	slices.SortFunc(out, func(a, b DeletedNamespace) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b DeletedNamespace) bool { return a.Name == b.Name })
}

// deleted reports whether the wave's namespace is one deletedNamespaces names.
func (c *computer) deleted(w config.WaveConfig, name string) bool { return c.isDeleted[w.Name][name] }

// deletedChecks name every deleted namespace of every wave: a later plan or
// apply must say what went away, not report "no changes" for its wave.
func (c *computer) deletedChecks() {
	for _, w := range c.cfg.Waves {
		for _, d := range c.deletedIn[w.Name] {
			msg := fmt.Sprintf("namespace of wave %q was deleted during the upgrade: it no longer exists", w.Name)
			hint := "its steps are not run again; if it is recreated, plan again and the wave moves it"
			if d.State == NamespaceTerminating {
				msg = fmt.Sprintf("namespace of wave %q is being deleted (terminating): nothing in it can be restarted", w.Name)
				hint = "meshwave leaves it alone; once it is gone the wave is complete without it"
			}
			c.add(Check{Code: CodeNamespaceDeleted, Severity: SeverityWarning,
				Object: &ObjectRef{Kind: "Namespace", Name: d.Name}, Message: msg, Hint: hint})
		}
	}
}
