package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults applied when a plan leaves a setting out; docs/plan-language.md
// lists the same values.
const (
	DefaultGatewayNamespace   = IstioNamespace
	DefaultMaxParallel        = 1
	DefaultWaveTimeout        = 10 * time.Minute
	DefaultHTTPExpectStatus   = 200
	DefaultHTTPAttempts       = 3
	DefaultHTTPInterval       = 5 * time.Second
	DefaultHTTPTimeout        = 10 * time.Second
	DefaultCommandGateTimeout = 5 * time.Minute
)

// Bounds of numeric settings: beyond them a value is a typo, not a plan.
const (
	maxMaxParallel  = 1000
	maxHTTPAttempts = 100
)

// decodeConfig evaluates the non-variable blocks into a Config and runs the
// checks that need more than one value. Problems are recorded on e.diags.
func (e *evaluator) decodeConfig(root *rootSchema) (*Config, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	cfg := &Config{}

	if len(root.Upgrades) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing upgrade block",
			Detail:   `A plan needs one upgrade block naming the revisions to move between, e.g. upgrade { from = "mesh.istio-system"  to = "cp-v17x.istio-system"  flavor = "backyards" }.`,
		})
	} else {
		diags = append(diags, duplicateBlocks("upgrade", defRanges(root.Upgrades, func(b *upgradeBlock) hcl.Range { return b.DefRange }))...)
		cfg.Upgrade = e.decodeUpgrade(root.Upgrades[0])
	}

	if len(root.Installs) > 0 {
		diags = append(diags, duplicateBlocks("install", defRanges(root.Installs, func(b *installBlock) hcl.Range { return b.DefRange }))...)
		cfg.Install = e.decodeInstall(root.Installs[0], cfg.Upgrade)
	}
	cfg.Tags = e.decodeTags(root.Tags, cfg.Upgrade)
	cfg.Gateways = e.decodeGateways(root.Gateways)
	cfg.Waves = e.decodeWaves(root.Waves)

	if len(root.Rollbacks) > 0 {
		diags = append(diags, duplicateBlocks("rollback", defRanges(root.Rollbacks, func(b *rollbackBlock) hcl.Range { return b.DefRange }))...)
		b := root.Rollbacks[0]
		if e.required(b.Automatic, "automatic", b.Body) {
			cfg.Rollback.Automatic, _ = e.boolean(b.Automatic)
		}
	}
	if len(root.Finalizes) > 0 {
		diags = append(diags, duplicateBlocks("finalize", defRanges(root.Finalizes, func(b *finalizeBlock) hcl.Range { return b.DefRange }))...)
		b := root.Finalizes[0]
		if e.required(b.UninstallOld, "uninstall_old", b.Body) {
			cfg.Finalize.UninstallOld, _ = e.boolean(b.UninstallOld)
		}
	}
	cfg.State = StateConfig{Backend: StateLocal}
	if len(root.States) > 0 {
		diags = append(diags, duplicateBlocks("state", defRanges(root.States, func(b *stateBlock) hcl.Range { return b.DefRange }))...)
		cfg.State = e.decodeState(root.States[0])
	}
	return cfg, diags
}

// decodeState decodes the state block: a backend and the attributes that
// backend reads; an attribute of the other backend is an error rather than
// a setting silently ignored.
func (e *evaluator) decodeState(b *stateBlock) StateConfig {
	st := StateConfig{Backend: StateLocal, DefRange: b.DefRange}
	if b.Backend != nil {
		if s, ok := e.str(b.Backend); ok {
			switch StateBackend(s) {
			case StateLocal, StateKubernetes:
				st.Backend = StateBackend(s)
			default:
				e.errorf(b.Backend.Expr.Range(), "Invalid state backend",
					"%q is not a state backend: use %q (a state file, the default) or %q (a Secret and a Lease in the cluster).", s, StateLocal, StateKubernetes)
				return st
			}
		}
	}
	notFor := func(attr *hcl.Attribute) {
		if attr != nil {
			e.errorf(attr.NameRange, "Argument not used by this backend",
				"The %s state backend has no %q argument.", st.Backend, attr.Name)
		}
	}
	switch st.Backend {
	case StateLocal:
		notFor(b.Namespace)
		notFor(b.Name)
		if b.Path != nil {
			if s, ok := e.str(b.Path); ok {
				if s == "" {
					e.errorf(b.Path.Expr.Range(), "Empty state path", "path names the state file; leave it out for %s beside the plan.", "meshwave.state.json")
				}
				st.Path = s
			}
		}
	case StateKubernetes:
		notFor(b.Path)
		if e.required(b.Namespace, "namespace", b.Body) {
			if s, ok := e.str(b.Namespace); ok && e.validateNamespace(s, b.Namespace.Expr.Range()) {
				st.Namespace = s
			}
		}
		if e.required(b.Name, "name", b.Body) {
			if s, ok := e.str(b.Name); ok && e.validateObjectName(s, "state name", b.Name.Expr.Range()) {
				st.Name = s
			}
		}
	}
	return st
}

// decodeTags decodes the tag blocks; a tag declared twice is an error.
func (e *evaluator) decodeTags(blocks []*tagBlock, up Upgrade) []TagConfig {
	var out []TagConfig
	tags := map[string]hcl.Range{}
	for _, b := range blocks {
		if prev, dup := tags[b.Name]; dup {
			e.errorf(b.LabelRange, "Duplicate tag",
				"The revision tag %q is already declared at %s.", b.Name, prev)
			continue
		}
		tags[b.Name] = b.DefRange
		if e.validateTag(up, b.Name, b.LabelRange) {
			out = append(out, TagConfig{Name: b.Name, DefRange: b.DefRange})
		}
	}
	return out
}

// decodeGateways decodes the gateway blocks; a gateway declared twice is an
// error.
func (e *evaluator) decodeGateways(blocks []*gatewayBlock) []GatewayConfig {
	var out []GatewayConfig
	gateways := map[string]hcl.Range{}
	for _, b := range blocks {
		g := e.decodeGateway(b)
		key := g.Namespace + "/" + g.Name
		if prev, dup := gateways[key]; dup {
			e.errorf(b.LabelRange, "Duplicate gateway",
				"The gateway %q in namespace %q is already declared at %s.", g.Name, g.Namespace, prev)
			continue
		}
		gateways[key] = b.DefRange
		out = append(out, g)
	}
	return out
}

// decodeWaves decodes the wave blocks. Wave names are unique, and a
// namespace is listed in one wave only.
func (e *evaluator) decodeWaves(blocks []*waveBlock) []WaveConfig {
	var out []WaveConfig
	waves := map[string]hcl.Range{}
	claimed := map[string]claim{} // namespace -> the wave that lists it first
	for _, b := range blocks {
		w, nsRanges := e.decodeWave(b)
		if prev, dup := waves[w.Name]; dup {
			e.errorf(b.LabelRange, "Duplicate wave name",
				"A wave named %q is already declared at %s. Wave names identify steps and must be unique.", w.Name, prev)
			continue
		}
		waves[w.Name] = b.DefRange
		for i, ns := range w.Namespaces {
			if prev, dup := claimed[ns]; dup {
				e.errorf(nsRanges[i], "Namespace in two waves",
					"The namespace %q is already in wave %q (%s). A namespace moves once; list it in one wave only.", ns, prev.wave, prev.rng)
				continue
			}
			claimed[ns] = claim{wave: w.Name, rng: nsRanges[i]}
		}
		out = append(out, w)
	}
	return out
}

type claim struct {
	wave string
	rng  hcl.Range
}

func defRanges[B any](blocks []B, def func(B) hcl.Range) []hcl.Range {
	out := make([]hcl.Range, len(blocks))
	for i, b := range blocks {
		out[i] = def(b)
	}
	return out
}

// duplicateBlocks reports every block of a kind that may appear once, after
// the first, across all plan files.
func duplicateBlocks(kind string, ranges []hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, r := range ranges[1:] {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s block", kind),
			Detail:   fmt.Sprintf("A plan has at most one %s block; the first is at %s.", kind, ranges[0]),
			Subject:  r.Ptr(),
		})
	}
	return diags
}

func (e *evaluator) decodeUpgrade(b *upgradeBlock) Upgrade {
	up := Upgrade{DefRange: b.DefRange}
	flavorOK := false
	if e.required(b.Flavor, "flavor", b.Body) {
		if s, ok := e.str(b.Flavor); ok {
			up.Flavor = Flavor(s)
			flavorOK = e.validateFlavor(up.Flavor, b.Flavor.Expr.Range())
		}
	}
	fromOK, toOK := false, false
	if e.required(b.From, "from", b.Body) {
		if s, ok := e.str(b.From); ok {
			up.From = s
			fromOK = !flavorOK || e.validateRevision(up.Flavor, s, "from", b.From.Expr.Range())
		}
	}
	if e.required(b.To, "to", b.Body) {
		if s, ok := e.str(b.To); ok {
			up.To = s
			toOK = !flavorOK || e.validateRevision(up.Flavor, s, "to", b.To.Expr.Range())
		}
	}
	if toOK && up.To == DefaultRevision {
		e.errorf(b.To.Expr.Range(), "Invalid target revision",
			"The target must be a named revision (the new control plane), not %q, which means the namespaces labeled istio-injection=enabled.", DefaultRevision)
	} else if fromOK && toOK && up.From == up.To {
		e.errorf(b.To.Expr.Range(), "Nothing to upgrade",
			"from and to are both %q; the data plane would move to the revision it already uses.", up.To)
	}
	return up
}

func (e *evaluator) decodeGateway(b *gatewayBlock) GatewayConfig {
	g := GatewayConfig{Name: b.Name, Namespace: DefaultGatewayNamespace, DefRange: b.DefRange}
	e.validateObjectName(b.Name, "gateway name", b.LabelRange)
	if b.Namespace != nil {
		if s, ok := e.str(b.Namespace); ok && e.validateNamespace(s, b.Namespace.Expr.Range()) {
			g.Namespace = s
		}
	}
	return g
}

// decodeWave returns the wave and the source range of each of its
// namespaces.
func (e *evaluator) decodeWave(b *waveBlock) (WaveConfig, []hcl.Range) {
	w := WaveConfig{
		Name:        b.Name,
		MaxParallel: DefaultMaxParallel,
		Timeout:     DefaultWaveTimeout,
		DefRange:    b.DefRange,
	}
	e.validateWaveName(b.Name, b.LabelRange)

	nsRanges := e.decodeWaveNamespaces(b, &w)
	if (b.Namespaces == nil || isEmptyList(b.Namespaces)) && b.Selector == nil {
		e.errorf(b.DefRange, "Wave selects no namespaces",
			"The wave %q needs namespaces = [...], a selector = \"<label selector>\", or both.", b.Name)
	}

	if b.MaxParallel != nil {
		if n, ok := e.integer(b.MaxParallel, 1, maxMaxParallel); ok {
			w.MaxParallel = n
		}
	}
	if b.Timeout != nil {
		if d, ok := e.duration(b.Timeout, false); ok {
			w.Timeout = d
		}
	}
	if b.RollOnDelete != nil {
		w.RollOnDelete, _ = e.boolean(b.RollOnDelete)
	}
	w.Gates = e.decodeGates(b)
	return w, nsRanges
}

// decodeWaveNamespaces decodes what a wave selects: its namespaces (listed
// once each), its selector and its exclude list. It returns the source
// range of each namespace.
func (e *evaluator) decodeWaveNamespaces(b *waveBlock, w *WaveConfig) []hcl.Range {
	var nsRanges []hcl.Range
	listed := map[string]bool{}
	if b.Namespaces != nil {
		if names, ranges, ok := e.stringList(b.Namespaces); ok {
			for i, ns := range names {
				switch {
				case !e.validateNamespace(ns, ranges[i]):
				case listed[ns]:
					e.errorf(ranges[i], "Duplicate namespace", "The namespace %q is listed twice in wave %q.", ns, b.Name)
				default:
					listed[ns] = true
					w.Namespaces = append(w.Namespaces, ns)
					nsRanges = append(nsRanges, ranges[i])
				}
			}
		}
	}
	if b.Selector != nil {
		if s, ok := e.str(b.Selector); ok && e.validateSelector(s, b.Selector.Expr.Range()) {
			w.Selector = s
		}
	}
	if b.Exclude != nil {
		e.decodeExclude(b, w, listed)
	}
	return nsRanges
}

// decodeExclude decodes a wave's exclude list: a namespace both listed and
// excluded is an error, an exclude without a selector has no effect.
func (e *evaluator) decodeExclude(b *waveBlock, w *WaveConfig, listed map[string]bool) {
	names, ranges, ok := e.stringList(b.Exclude)
	if !ok {
		return
	}
	for i, ns := range names {
		switch {
		case !e.validateNamespace(ns, ranges[i]):
		case listed[ns]:
			e.errorf(ranges[i], "Namespace included and excluded",
				"The namespace %q is in this wave's namespaces and in its exclude list; remove it from one.", ns)
		default:
			w.Exclude = append(w.Exclude, ns)
		}
	}
	if b.Selector == nil {
		e.diags = append(e.diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Exclude without selector",
			Detail:   "exclude removes namespaces a selector matches; this wave has no selector, so it has no effect.",
			Subject:  b.Exclude.NameRange.Ptr(),
		})
	}
}

// isEmptyList reports whether attr is written as a literal empty list.
func isEmptyList(attr *hcl.Attribute) bool {
	exprs, d := hcl.ExprList(attr.Expr)
	return !d.HasErrors() && len(exprs) == 0
}

// decodeGates returns a wave's gates in the order they are written: pause
// and approval are attributes, http, prometheus and command are blocks, and
// all of them run in source order.
func (e *evaluator) decodeGates(b *waveBlock) []Gate {
	type placed struct {
		at   int // byte offset in the wave's file
		gate Gate
	}
	var gates []placed
	if b.Pause != nil {
		if d, ok := e.duration(b.Pause, true); ok && d > 0 {
			gates = append(gates, placed{b.Pause.Range.Start.Byte, Gate{Kind: GatePause, Pause: d}})
		}
	}
	if b.Approval != nil {
		if yes, ok := e.boolean(b.Approval); ok && yes {
			gates = append(gates, placed{b.Approval.Range.Start.Byte, Gate{Kind: GateApproval}})
		}
	}
	for _, h := range b.HTTP {
		if g, ok := e.decodeHTTPGate(h); ok {
			gates = append(gates, placed{h.DefRange.Start.Byte, Gate{Kind: GateHTTP, HTTP: g}})
		}
	}
	for _, p := range b.Prometheus {
		if g, ok := e.decodePrometheusGate(p); ok {
			gates = append(gates, placed{p.DefRange.Start.Byte, Gate{Kind: GatePrometheus, Prometheus: g}})
		}
	}
	for _, c := range b.Command {
		if g, ok := e.decodeCommandGate(c); ok {
			gates = append(gates, placed{c.DefRange.Start.Byte, Gate{Kind: GateCommand, Command: g}})
		}
	}
	if len(gates) == 0 {
		return nil
	}
	slices.SortStableFunc(gates, func(a, b placed) int { return a.at - b.at })
	out := make([]Gate, len(gates))
	for i, g := range gates {
		out[i] = g.gate
	}
	return out
}

func (e *evaluator) decodeHTTPGate(b *httpBlock) (*HTTPGate, bool) {
	g := &HTTPGate{
		ExpectStatus: DefaultHTTPExpectStatus,
		Attempts:     DefaultHTTPAttempts,
		Interval:     DefaultHTTPInterval,
		Timeout:      DefaultHTTPTimeout,
	}
	before := len(e.diags)
	if e.required(b.URL, "url", b.Body) {
		if s, ok := e.str(b.URL); ok && e.validateURL(s, b.URL.Expr.Range()) {
			g.URL = s
		}
	}
	if b.ExpectStatus != nil {
		g.ExpectStatus, _ = e.integer(b.ExpectStatus, 100, 599)
	}
	if b.BodyContains != nil {
		g.BodyContains, _ = e.str(b.BodyContains)
	}
	if b.Retries != nil {
		g.Attempts, _ = e.integer(b.Retries, 1, maxHTTPAttempts)
	}
	if b.Interval != nil {
		g.Interval, _ = e.duration(b.Interval, true)
	}
	if b.Timeout != nil {
		g.Timeout, _ = e.duration(b.Timeout, false)
	}
	return g, len(e.diags) == before
}

func (e *evaluator) decodePrometheusGate(b *prometheusBlock) (*PrometheusGate, bool) {
	g := &PrometheusGate{}
	before := len(e.diags)
	if e.required(b.URL, "url", b.Body) {
		if s, ok := e.str(b.URL); ok && e.validateURL(s, b.URL.Expr.Range()) {
			g.URL = s
		}
	}
	if e.required(b.Query, "query", b.Body) {
		if s, ok := e.str(b.Query); ok {
			if strings.TrimSpace(s) == "" {
				e.errorf(b.Query.Expr.Range(), "Empty query", "The prometheus gate needs a PromQL query.")
			}
			g.Query = s
		}
	}
	if b.Max != nil {
		if f, ok := e.number(b.Max); ok {
			g.Max = &f
		}
	}
	if b.Min != nil {
		if f, ok := e.number(b.Min); ok {
			g.Min = &f
		}
	}
	switch {
	case b.Max == nil && b.Min == nil:
		e.errorf(b.DefRange, "Prometheus gate without bounds",
			"Set max, min or both: the gate passes when every sample of the query is within them.")
	case g.Max != nil && g.Min != nil && *g.Min > *g.Max:
		e.errorf(b.Min.Expr.Range(), "Empty range", "min (%g) is greater than max (%g), so no sample can pass.", *g.Min, *g.Max)
	}
	return g, len(e.diags) == before
}

func (e *evaluator) decodeCommandGate(b *commandBlock) (*CommandGate, bool) {
	g := &CommandGate{Timeout: DefaultCommandGateTimeout}
	before := len(e.diags)
	if e.required(b.Argv, "argv", b.Body) {
		if argv, _, ok := e.stringList(b.Argv); ok {
			if len(argv) == 0 || argv[0] == "" {
				e.errorf(b.Argv.Expr.Range(), "Empty command",
					"argv needs at least the program to run, e.g. [\"./smoke-test.sh\", \"demo-a\"].")
			}
			g.Argv = argv
		}
	}
	if b.Timeout != nil {
		g.Timeout, _ = e.duration(b.Timeout, false)
	}
	return g, len(e.diags) == before
}
