package views

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// Symbols mark how a changing step touches the cluster. Reads (wait, verify,
// gates) and no-ops have none.
const (
	symbolUpdate  = "~"
	symbolRestart = "↻"
	symbolEvict   = "⇣"
	symbolDelete  = "-"
	symbolCreate  = "+"
)

// legend explains each symbol, in the order the legend lists them.
var legend = []struct{ symbol, meaning string }{
	{symbolUpdate, "update in place"},
	{symbolRestart, "rollout restart"},
	{symbolEvict, "evict pods one at a time (PodDisruptionBudgets honoured)"},
	{symbolDelete, "uninstall"},
	{symbolCreate, "create"},
}

func symbolOf(a plan.Action) string {
	switch a {
	case plan.ActionUpdate:
		return symbolUpdate
	case plan.ActionRestart:
		return symbolRestart
	case plan.ActionEvict:
		return symbolEvict
	case plan.ActionDelete:
		return symbolDelete
	case plan.ActionCreate:
		return symbolCreate
	}
	return ""
}

// markup formats the two kinds of text a step description holds: values
// (names, revisions, images, queries) and prose. The human view leaves both
// alone; markdown makes values code spans and escapes prose.
type markup interface {
	code(s string) string
	text(s string) string
}

type plainMarkup struct{}

func (plainMarkup) code(s string) string { return s }
func (plainMarkup) text(s string) string { return s }

// stepText is a step as both text views show it.
type stepText struct {
	symbol string // "" for reads and no-ops
	// head names what the step touches ("Namespace demo-a") or, for reads,
	// what it does ("verify 1 pod runs 1.7.0-bzc").
	head    string
	details []string // what changes, one line each
	noop    bool
	read    bool // a wait, verify or gate: changes nothing
}

// describe says what a step does in words. It uses only the step's fields,
// exactly as they appear in the JSON.
func describe(s plan.Step, m markup) stepText {
	t := stepText{symbol: symbolOf(s.Action), read: s.Action == plan.ActionRead}
	switch s.Kind {
	case plan.StepTagMove:
		t.head = objectText(s.Object, s.ID, m)
		t.details = []string{m.text("revision ") + move(s.FromRevision, s.ToRevision, m)}
	case plan.StepGatewayMigrate:
		t.head = objectText(s.Object, s.ID, m)
		t.details = []string{m.text("control plane ") + move(s.FromRevision, s.ToRevision, m)}
		if s.Pods > 0 {
			t.details = append(t.details, podsMove(s, m))
		}
	case plan.StepNamespaceRelabel:
		t.head = objectText(s.Object, s.ID, m)
		for _, k := range s.RemoveLabels {
			t.details = append(t.details, m.text("- label ")+m.code(k))
		}
		keys := make([]string, 0, len(s.SetLabels))
		for k := range s.SetLabels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.details = append(t.details, m.text("+ label ")+m.code(k+"="+s.SetLabels[k]))
		}
	case plan.StepWorkloadRestart:
		t.head = objectText(s.Object, s.ID, m)
		t.details = []string{podsMove(s, m)}
	case plan.StepWorkloadEvict:
		t.head = objectText(s.Object, s.ID, m)
		t.details = []string{podsMove(s, m) + m.text(", evicted one at a time, highest ordinal first")}
	case plan.StepWaveWait:
		h := "wait for rollouts"
		var extra []string
		if n := len(s.Workloads); n > 0 {
			extra = append(extra, count(n, "workload", "workloads"))
		}
		if s.TimeoutSecond > 0 {
			extra = append(extra, "timeout "+duration(time.Duration(s.TimeoutSecond)*time.Second))
		}
		if len(extra) > 0 && s.Action != plan.ActionNoop {
			h += " (" + strings.Join(extra, ", ") + ")"
		}
		t.head = m.text(h)
	case plan.StepWaveVerify:
		verb := "run"
		if s.Pods == 1 {
			verb = "runs"
		}
		h := m.text(fmt.Sprintf("verify %s %s ", count(s.Pods, "pod", "pods"), verb))
		switch {
		case s.ToImage != "":
			h += m.code(proxyVersion(s.ToImage))
		case s.ToRevision != "":
			h += m.text("revision ") + m.code(s.ToRevision)
		default:
			h += m.text("the target proxy")
		}
		t.head = h
	case plan.StepGate:
		t.head = m.text("gate: ") + gateText(s.Gate, m)
	case plan.StepUninstall:
		t.head = objectText(s.Object, s.ID, m)
		if s.FromRevision != "" {
			t.details = []string{m.text("revision ") + m.code(s.FromRevision)}
		}
		for _, o := range s.Objects {
			t.details = append(t.details, objectLine(symbolDelete, o, m))
		}
	case plan.StepInstall:
		t.head = objectText(s.Object, s.ID, m)
		if s.ToRevision != "" {
			t.details = []string{m.text("revision ") + m.code(s.ToRevision)}
		}
		t.details = append(t.details, manifestLines(s.Manifest, m)...)
	case plan.StepInstallWait:
		h := m.text("wait until istiod of ") + m.code(s.ToRevision) + m.text(" is Ready and its injector answers")
		if s.TimeoutSecond > 0 {
			h += m.text(" (timeout " + duration(time.Duration(s.TimeoutSecond)*time.Second) + ")")
		}
		t.head = h
	default:
		t.head = objectText(s.Object, s.ID, m)
		t.details = []string{m.text(string(s.Kind))}
	}
	if s.Action == plan.ActionNoop {
		t.noop = true
		t.symbol = ""
		t.details = nil
		reason := "no change"
		if s.Reason != "" {
			reason += ": " + s.Reason
		}
		t.head += m.text(" (" + reason + ")")
	}
	return t
}

// objectText is "Kind namespace/name", or the step id when a step names no
// object.
func objectText(o *plan.ObjectRef, id string, m markup) string {
	if o == nil {
		return m.code(id)
	}
	name := o.Name
	if o.Namespace != "" {
		name = o.Namespace + "/" + o.Name
	}
	if o.Kind == "" {
		return m.code(name)
	}
	return m.text(o.Kind+" ") + m.code(name)
}

// objectLine is one object an install or an uninstall creates, changes or
// deletes: "+ Deployment istio-system/istiod-1-31", the same words for both.
func objectLine(symbol string, o plan.ObjectRef, m markup) string {
	return m.text(symbol+" ") + objectText(&o, "", m)
}

// maxFieldChanges bounds the changes shown per object an install changes.
const maxFieldChanges = 8

// manifestLines are an install's objects: those it creates, those it
// changes with their changes, and how many it leaves as they are.
func manifestLines(objs []plan.ManifestChange, m markup) []string {
	var lines []string
	unchanged := 0
	for _, o := range objs {
		switch o.Action {
		case plan.ActionCreate:
			lines = append(lines, objectLine(symbolCreate, o.ObjectRef, m))
		case plan.ActionUpdate:
			l := objectLine(symbolUpdate, o.ObjectRef, m)
			if o.Shared {
				l += m.text(" (shared by both revisions)")
			}
			lines = append(lines, l)
			for i, ch := range o.Changes {
				if i == maxFieldChanges {
					lines = append(lines, m.text(fmt.Sprintf("    … and %d more", len(o.Changes)-maxFieldChanges)))
					break
				}
				lines = append(lines, m.text("    ")+m.code(ch.Path)+m.text(": ")+move(orUnset(ch.From), orUnset(ch.To), m))
			}
		default:
			unchanged++
		}
	}
	if unchanged > 0 {
		lines = append(lines, m.text(count(unchanged, "object", "objects")+" unchanged"))
	}
	return lines
}

func orUnset(v string) string {
	if v == "" {
		return "(unset)"
	}
	return v
}

// podsMove is "1 pod, proxy 1.6.3-bzc → 1.7.0-bzc".
func podsMove(s plan.Step, m markup) string {
	d := m.text(count(s.Pods, "pod", "pods"))
	if s.FromImage != "" || s.ToImage != "" {
		d += m.text(", proxy ") + move(proxyVersion(s.FromImage), proxyVersion(s.ToImage), m)
	}
	return d
}

func move(from, to string, m markup) string {
	if from == "" {
		from = "none"
	}
	if to == "" {
		to = "none"
	}
	return m.code(from) + m.text(" → ") + m.code(to)
}

func gateText(g *plan.Gate, m markup) string {
	if g == nil {
		return m.text("(unspecified)")
	}
	switch g.Kind {
	case config.GatePause:
		return m.text("pause " + duration(g.Pause))
	case config.GateApproval:
		return m.text("approval")
	case config.GateHTTP:
		if g.HTTP == nil {
			break
		}
		status := g.HTTP.ExpectStatus
		if status == 0 {
			status = config.DefaultHTTPExpectStatus
		}
		t := m.text("http GET ") + m.code(g.HTTP.URL) + m.text(" expect "+strconv.Itoa(status))
		if g.HTTP.BodyContains != "" {
			t += m.text(" with body containing ") + m.code(g.HTTP.BodyContains)
		}
		return t
	case config.GatePrometheus:
		if g.Prometheus == nil {
			break
		}
		pg := g.Prometheus
		t := m.text("prometheus ") + m.code(pg.Query)
		switch {
		case pg.Min != nil && pg.Max != nil:
			t += m.text(" within [" + number(*pg.Min) + ", " + number(*pg.Max) + "]")
		case pg.Max != nil:
			t += m.text(" <= " + number(*pg.Max))
		case pg.Min != nil:
			t += m.text(" >= " + number(*pg.Min))
		}
		return t
	case config.GateCommand:
		if g.Command == nil {
			break
		}
		return m.text("command ") + m.code(argvText(g.Command.Argv))
	}
	return m.text(string(g.Kind))
}

// argvText joins argv the way a shell user would type it, quoting arguments
// that would otherwise split or expand.
func argvText(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`*?[]{}()<>|&;#~") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// proxyVersion is the readable part of a proxy image: its tag
// ("docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc" is "1.7.0-bzc"), a short
// digest, or the whole reference when it has neither.
func proxyVersion(image string) string {
	if image == "" {
		return ""
	}
	if i := strings.LastIndex(image, "@"); i >= 0 {
		d := image[i+1:]
		if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
			d = algo + ":" + hex[:12]
		}
		return d
	}
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	return image
}

// duration prints whole minutes and hours without trailing zero units:
// "10m", "1h30m", "45s".
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func number(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
