package generate

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// DefaultWaveSize is how many namespaces a wave after the canary holds when
// Options.WaveSize is zero.
const DefaultWaveSize = 10

// CanaryWave is the name of the first wave.
const CanaryWave = "canary"

// Options are what meshwave generate is asked for.
type Options struct {
	// From and To are the revisions, as an upgrade block spells them.
	From, To string
	// Flavor is the upgrade's flavor; empty means the one whose revisions
	// are spelled like From and To (FlavorOf).
	Flavor config.Flavor
	// Canary is the namespace of the canary wave; empty means the namespace
	// with the fewest workloads with a sidecar (at least one), the first by
	// name among equals: the smallest that still proves something.
	Canary string
	// WaveSize is how many namespaces each wave after the canary holds, in
	// name order; zero means DefaultWaveSize. ByLabel replaces it.
	WaveSize int
	// ByLabel makes one wave per value of this namespace label, in the
	// order of the values, then one of the namespaces without the label.
	ByLabel string
}

// FlavorOf is the flavor whose revisions are spelled like from and to
// (a Backyards revision is "NAME.NAMESPACE", an upstream one has no dot);
// an error when none or several are, which a --flavor settles.
func FlavorOf(from, to string) (config.Flavor, error) {
	var fits []config.Flavor
	var problems []string
	for _, f := range config.Flavors() {
		p := f.RevisionProblem(from)
		if p == "" {
			p = f.RevisionProblem(to)
		}
		if p == "" {
			fits = append(fits, f)
		} else {
			problems = append(problems, fmt.Sprintf("not %s: %s", f, p))
		}
	}
	switch len(fits) {
	case 1:
		return fits[0], nil
	case 0:
		return "", fmt.Errorf("%q and %q are not revisions of one flavor (%s)", from, to, strings.Join(problems, "; "))
	}
	return "", fmt.Errorf("%q and %q are revisions of the flavors %s alike: say which with --flavor", from, to, joinFlavors(fits))
}

func joinFlavors(fs []config.Flavor) string {
	var names []string
	for _, f := range fs {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// Generate writes the plan of an upgrade from o.From to o.To for the
// cluster of snap, formatted as `meshwave fmt` formats it. An error says
// why no plan can be written (a revision the cluster does not have, a
// canary that does not use the source); what the plan cannot place is in
// its comments instead.
func Generate(snap *plan.Snapshot, o Options) ([]byte, error) {
	d, err := draftOf(snap, o)
	if err != nil {
		return nil, err
	}
	return d.hcl(), nil
}

// draft is the plan before it is written: its blocks and their comments.
type draft struct {
	header   []string
	unplaced []string
	from, to string
	// source is the source control plane's revision, which the comments
	// name (from may be "default").
	source   string
	flavor   config.Flavor
	tags     []string
	gateways []plan.ObjectRef
	waves    []wave
	// uninstall is finalize's uninstall_old, and keep says why it is false.
	uninstall bool
	keep      []string
}

// wave is one wave block: its comment lines, name and namespaces.
type wave struct {
	about      []string
	name       string
	namespaces []string
	approval   bool
}

func draftOf(snap *plan.Snapshot, o Options) (*draft, error) {
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	src := plan.FindControlPlane(snap.ControlPlanes, o.From)
	if src == nil {
		return nil, fmt.Errorf("no control plane of revision %q in the cluster (it has %s)", o.From, revisionsOf(snap))
	}
	dst := plan.FindControlPlane(snap.ControlPlanes, o.To)
	if dst == nil {
		return nil, fmt.Errorf("no control plane of revision %q in the cluster (it has %s): %s", o.To, revisionsOf(snap), plan.RulesOf(o.Flavor).InstallHint(o.To))
	}
	if src.Revision == dst.Revision {
		return nil, fmt.Errorf("%q and %q are the same control plane, %s: nothing to upgrade", o.From, o.To, src.Revision)
	}
	d := &draft{from: o.From, to: o.To, flavor: o.Flavor, source: src.Revision}
	if d.from != config.DefaultRevision && d.from != src.Revision {
		// A revision tag: the plan moves the tag, so it names the revision.
		d.from = src.Revision
	}
	users := plan.RevisionUsersOf(snap, *src, plan.Move{})
	p := &placer{snap: snap, src: src, dst: dst, d: d, placed: map[string]bool{}}
	p.tags(users.Tags)
	for _, g := range users.Gateways {
		ns, name, _ := strings.Cut(g, "/")
		d.gateways = append(d.gateways, plan.ObjectRef{Namespace: ns, Name: name})
	}
	nss := p.namespaces(users.Namespaces)
	p.pinned(users.Pinned)
	p.strayPods(users.Pods)
	if err := p.waves(nss, o); err != nil {
		return nil, err
	}
	d.uninstall = len(d.keep) == 0
	d.header = header(o, src, len(nss))
	return d, nil
}

// checkOptions completes o with its defaults and refuses what no plan can
// be written for.
func checkOptions(o *Options) error {
	if o.From == "" || o.To == "" {
		return errors.New("both --from and --to are needed")
	}
	if o.From == o.To {
		return fmt.Errorf("--from and --to are both %q: nothing to upgrade", o.From)
	}
	if o.To == config.DefaultRevision {
		return fmt.Errorf("--to must name a revision, not %q", config.DefaultRevision)
	}
	if o.Flavor == "" {
		f, err := FlavorOf(o.From, o.To)
		if err != nil {
			return err
		}
		o.Flavor = f
	}
	if !o.Flavor.Valid() {
		return fmt.Errorf("unknown flavor %q (known: %s)", o.Flavor, joinFlavors(config.Flavors()))
	}
	for _, rev := range []string{o.From, o.To} {
		if p := o.Flavor.RevisionProblem(rev); p != "" {
			return fmt.Errorf("%q is not a revision of flavor %s: %s", rev, o.Flavor, p)
		}
	}
	switch {
	case o.WaveSize < 0:
		return fmt.Errorf("the wave size must be positive, got %d", o.WaveSize)
	case o.WaveSize == 0:
		o.WaveSize = DefaultWaveSize
	}
	if o.ByLabel != "" {
		if errs := validation.IsQualifiedName(o.ByLabel); len(errs) > 0 {
			return fmt.Errorf("--by-label %q is not a label key: %s", o.ByLabel, errs[0])
		}
	}
	return nil
}

func revisionsOf(snap *plan.Snapshot) string {
	var revs []string
	for _, cp := range snap.ControlPlanes {
		revs = append(revs, cp.Revision)
	}
	if len(revs) == 0 {
		return "none"
	}
	sort.Strings(revs)
	return strings.Join(revs, ", ")
}

// firstLine opens every plan Generate writes.
const firstLine = "# Written by meshwave generate from the cluster as it was:\n"

// Written reports whether a file's content is a plan meshwave generate
// wrote (its first line says so), which generate --force may replace.
func Written(content []byte) bool { return bytes.HasPrefix(content, []byte(firstLine)) }

// header is the plan's opening comment: how it was made and from what.
func header(o Options, src *plan.ControlPlane, namespaces int) []string {
	cmd := fmt.Sprintf("meshwave generate --from %s --to %s", o.From, o.To)
	if o.Canary != "" {
		cmd += " --canary " + o.Canary
	}
	if o.ByLabel != "" {
		cmd += " --by-label " + o.ByLabel
	} else {
		cmd += fmt.Sprintf(" --wave-size %d", o.WaveSize)
	}
	uses := fmt.Sprintf("%d namespaces use", namespaces)
	if namespaces == 1 {
		uses = "1 namespace uses"
	}
	return []string{
		strings.TrimSuffix(strings.TrimPrefix(firstLine, "# "), "\n"),
		"  " + cmd,
		fmt.Sprintf("%s revision %s (by its label, a revision tag or the default injector).", uses, src.Revision),
		"Review it, then run meshwave plan.",
	}
}

// placer puts the users of the source control plane into the draft's
// blocks, and what it cannot place into its comments.
type placer struct {
	snap     *plan.Snapshot
	src, dst *plan.ControlPlane
	d        *draft
	// placed are the namespaces the waves move.
	placed map[string]bool
}

// tags moves the revision tags on the source, where the flavor has tags.
func (p *placer) tags(tags []string) {
	if p.d.flavor.HasTags() {
		p.d.tags = tags
		return
	}
	for _, t := range tags {
		p.unplace(fmt.Sprintf("revision tag %s points at %s, and flavor %s has no tag blocks", t, p.src.Revision, p.d.flavor))
	}
}

// namespaces returns the namespaces the waves can move: those whose labels
// select the source, except those with two injection labels.
func (p *placer) namespaces(users []string) []string {
	byName := map[string]plan.Namespace{}
	for _, ns := range p.snap.Namespaces {
		byName[ns.Name] = ns
	}
	var out []string
	for _, name := range users {
		ls := byName[name].Labels
		inj, hasInj := ls[plan.LabelInjection]
		rev, hasRev := ls[plan.LabelRevision]
		if hasInj && hasRev {
			p.unplace(fmt.Sprintf("namespace %s: labeled both %s=%s and %s=%s; which injector serves it depends on the webhooks' selectors. Keep one label, then generate again.",
				name, plan.LabelInjection, inj, plan.LabelRevision, rev))
			continue
		}
		out = append(out, name)
		p.placed[name] = true
	}
	return out
}

// pinned names the workloads whose own pod-template label keeps them on
// the source whatever their namespace's labels.
func (p *placer) pinned(pinned []plan.Pinned) {
	for _, pin := range pinned {
		w := pin.Workload
		p.unplace(fmt.Sprintf("%s %s/%s: its pod template's label %s pins it to %s. Label the template %s=%s (or remove the label and move its namespace), then generate again.",
			w.Kind, w.Namespace, w.Name, pin.Label, p.src.Revision, plan.LabelRevision, p.dst.Revision))
	}
}

// strayPods names, by namespace, the pods on the source in namespaces
// whose labels do not select it: a wave would relabel those namespaces.
func (p *placer) strayPods(pods []plan.ObjectRef) {
	byNS := map[string][]string{}
	var order []string
	for _, pod := range pods {
		if p.placed[pod.Namespace] {
			continue
		}
		if byNS[pod.Namespace] == nil {
			order = append(order, pod.Namespace)
		}
		byNS[pod.Namespace] = append(byNS[pod.Namespace], pod.Name)
	}
	for _, ns := range order {
		p.unplace(fmt.Sprintf("namespace %s: pods %s run %s's proxy, but the namespace's labels do not select %s. Restart their workloads, then generate again.",
			ns, strings.Join(byNS[ns], ", "), p.src.Revision, p.src.Revision))
	}
}

// unplace records what the plan cannot move; the source then stays
// installed at the end of the plan.
func (p *placer) unplace(line string) {
	p.d.unplaced = append(p.d.unplaced, line)
	p.d.keep = append(p.d.keep, line)
}

// waves are the canary wave and the waves of the rest.
func (p *placer) waves(nss []string, o Options) error {
	if len(nss) == 0 {
		if o.Canary != "" {
			return fmt.Errorf("--canary %s: no namespace uses %s", o.Canary, p.src.Revision)
		}
		return nil
	}
	canary, err := p.canary(nss, o.Canary)
	if err != nil {
		return err
	}
	how := "the namespace with the fewest workloads with a sidecar"
	if o.Canary != "" {
		how = "chosen with --canary"
	}
	first := wave{name: CanaryWave, namespaces: []string{canary}, approval: true,
		about: []string{fmt.Sprintf("The canary: %s alone, %s.", canary, how),
			fmt.Sprintf("A person approves the rest once it runs well on %s (meshwave apply -approve %s).", p.dst.Revision, CanaryWave)}}
	p.addWave(first)
	rest := slices.DeleteFunc(slices.Clone(nss), func(n string) bool { return n == canary })
	if o.ByLabel != "" {
		p.wavesByLabel(rest, o.ByLabel)
		return nil
	}
	for i := 0; i < len(rest); i += o.WaveSize {
		end := min(i+o.WaveSize, len(rest))
		about := fmt.Sprintf("Namespaces %d to %d of the %d after the canary, by name.", i+1, end, len(rest))
		switch {
		case len(rest) <= o.WaveSize:
			about = "The other namespaces."
		case end == i+1:
			about = fmt.Sprintf("Namespace %d of the %d after the canary, by name.", end, len(rest))
		}
		p.addWave(wave{name: fmt.Sprintf("wave-%d", i/o.WaveSize+1), namespaces: rest[i:end], about: []string{about}})
	}
	return nil
}

// canary is the namespace of the canary wave: the one asked for, or the
// one with the fewest workloads with a sidecar (at least one; a namespace
// being deleted is no canary), the first by name among equals.
func (p *placer) canary(nss []string, asked string) (string, error) {
	if asked != "" {
		if !p.placed[asked] {
			return "", fmt.Errorf("--canary %s: the namespace is not one the plan can move from %s (those are %s)", asked, p.src.Revision, strings.Join(nss, ", "))
		}
		return asked, nil
	}
	sidecars := map[string]int{}
	for _, w := range p.snap.Workloads {
		if p.placed[w.Namespace] && slices.ContainsFunc(w.Pods, func(pod plan.Pod) bool { return pod.ProxyImage != "" }) {
			sidecars[w.Namespace]++
		}
	}
	terminating := map[string]bool{}
	for _, ns := range p.snap.Namespaces {
		terminating[ns.Name] = ns.Terminating
	}
	best := ""
	for _, n := range nss {
		if terminating[n] || sidecars[n] == 0 {
			continue
		}
		if best == "" || sidecars[n] < sidecars[best] {
			best = n
		}
	}
	if best == "" {
		best = nss[0]
	}
	return best, nil
}

// wavesByLabel adds one wave per value of key among nss, in the values'
// order, and a last one of the namespaces without the label.
func (p *placer) wavesByLabel(nss []string, key string) {
	labels := map[string]map[string]string{}
	for _, ns := range p.snap.Namespaces {
		labels[ns.Name] = ns.Labels
	}
	byValue := map[string][]string{}
	var without []string
	for _, n := range nss {
		v, ok := labels[n][key]
		if !ok {
			without = append(without, n)
			continue
		}
		byValue[v] = append(byValue[v], n)
	}
	taken := map[string]bool{CanaryWave: true}
	for _, v := range slices.Sorted(maps.Keys(byValue)) {
		p.addWave(wave{name: uniqueName(waveName(v), taken), namespaces: byValue[v],
			about: []string{fmt.Sprintf("The namespaces labeled %s=%s.", key, v)}})
	}
	if len(without) > 0 {
		p.addWave(wave{name: uniqueName("unlabeled", taken), namespaces: without,
			about: []string{fmt.Sprintf("The namespaces without the label %s.", key)}})
	}
}

// addWave adds w, with a comment line for each of its workloads that a
// restart does not move to the target.
func (p *placer) addWave(w wave) {
	for _, n := range w.namespaces {
		w.about = append(w.about, p.notMoved(n)...)
	}
	p.d.waves = append(p.d.waves, w)
}

// notMoved says, one line each, which workloads on the source in
// namespace ns a restart does not move to the target, and what to do:
// plan.NotRollable's and plan.ProxyPin's rules.
func (p *placer) notMoved(ns string) []string {
	var out []string
	for _, w := range p.snap.Workloads {
		if w.Namespace != ns || !slices.ContainsFunc(w.Pods, func(pod plan.Pod) bool { return plan.PodUses(pod, *p.src) }) {
			continue
		}
		name := fmt.Sprintf("%s %s/%s", w.Kind, w.Namespace, w.Name)
		if reason, manual := plan.NotRollable(w.Rollout()); reason != "" {
			line := fmt.Sprintf("Not moved by a restart: %s (%s): %s.", name, reason, manual)
			if plan.RollsByEviction(w.Rollout()) {
				line += " Or set roll_on_delete = true in this wave."
			}
			out = append(out, line)
			continue
		}
		if reason, _ := plan.ProxyPin(w, *p.dst); reason != "" {
			out = append(out, fmt.Sprintf("Not moved by a restart: %s (%s).", name, reason))
		}
	}
	return out
}

// waveName is a label value as a wave name: a DNS-1123 label.
func waveName(value string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(value) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimRight(b.String(), "-")
	if len(name) > 50 {
		name = strings.TrimRight(name[:50], "-")
	}
	if name == "" {
		name = "value"
	}
	return name
}

// uniqueName is name, or name-2, name-3, ... when it is taken; it takes it.
func uniqueName(name string, taken map[string]bool) string {
	out := name
	for i := 2; taken[out]; i++ {
		out = fmt.Sprintf("%s-%d", name, i)
	}
	taken[out] = true
	return out
}
