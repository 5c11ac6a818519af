package jsonplan

import (
	"bytes"
	"encoding/json"

	"github.com/hashicorp/hcl/v2"

	"github.com/meshwave/meshwave/plan"
)

// The conversions keep nil and empty lists apart, both ways: a saved plan's
// content hash covers the document as written, so reading it back must
// write the same bytes.

// FromPlan is p's document, lists left nil where p's are (see Encode).
func FromPlan(p *plan.Plan) *Plan {
	if p == nil {
		return nil
	}
	return &Plan{
		FormatVersion: p.FormatVersion, From: p.From, To: p.To, FromVersion: p.FromVersion, ToVersion: p.ToVersion,
		SettingsDiff: fromSettingsDiff(p.Settings), Flavor: p.Flavor,
		Checks: convert(p.Checks, fromCheck), Steps: fromSteps(p),
		Phases:         convert(p.Phases, func(ph plan.Phase) Phase { return Phase(ph) }),
		RollbackOrder:  convert(p.RollbackOrder, func(rp plan.RollbackPhase) RollbackPhase { return RollbackPhase(rp) }),
		ManualFollowUp: convert(p.ManualFollowUp, fromFollowUp),
		Summary:        fromSummary(p.Summary), SourceHash: p.SourceHash, AutomaticRollback: p.AutomaticRollback,
	}
}

// Model is the plan d describes. The caller checks it (plan.WellFormed)
// before anything shows or applies it.
func (d *Plan) Model() *plan.Plan {
	return &plan.Plan{
		FormatVersion: d.FormatVersion, From: d.From, To: d.To, FromVersion: d.FromVersion, ToVersion: d.ToVersion,
		Settings: d.SettingsDiff.model(), Flavor: d.Flavor,
		Checks: convert(d.Checks, toCheck), Steps: convert(d.Steps, toStep),
		Phases:         convert(d.Phases, func(ph Phase) plan.Phase { return plan.Phase(ph) }),
		RollbackOrder:  convert(d.RollbackOrder, func(rp RollbackPhase) plan.RollbackPhase { return plan.RollbackPhase(rp) }),
		ManualFollowUp: convert(d.ManualFollowUp, toFollowUp),
		Summary:        toSummary(d.Summary), SourceHash: d.SourceHash, AutomaticRollback: d.AutomaticRollback,
	}
}

// convert maps in through f; nil stays nil.
func convert[S, T any](in []S, f func(S) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func fromSettingsDiff(s *plan.SettingsDiff) *SettingsDiff {
	if s == nil {
		return nil
	}
	return &SettingsDiff{More: s.More, Incomplete: s.Incomplete,
		Changes: convert(s.Changes, func(c plan.SettingChange) SettingChange { return SettingChange(c) })}
}

func (d *SettingsDiff) model() *plan.SettingsDiff {
	if d == nil {
		return nil
	}
	return &plan.SettingsDiff{More: d.More, Incomplete: d.Incomplete,
		Changes: convert(d.Changes, func(c SettingChange) plan.SettingChange { return plan.SettingChange(c) })}
}

func fromRef(o plan.ObjectRef) ObjectRef {
	return ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

func toRef(o ObjectRef) plan.ObjectRef {
	return plan.ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

func fromRefPtr(o *plan.ObjectRef) *ObjectRef {
	if o == nil {
		return nil
	}
	r := fromRef(*o)
	return &r
}

func toRefPtr(o *ObjectRef) *plan.ObjectRef {
	if o == nil {
		return nil
	}
	r := toRef(*o)
	return &r
}

func fromCheck(c plan.Check) Check {
	out := Check{Code: c.Code, Severity: c.Severity, Object: fromRefPtr(c.Object), Message: c.Message, Hint: c.Hint}
	if r := c.Range; r != nil {
		out.Range = &Range{Filename: r.Filename, Start: Pos(r.Start), End: Pos(r.End)}
	}
	return out
}

func toCheck(c Check) plan.Check {
	out := plan.Check{Code: c.Code, Severity: c.Severity, Object: toRefPtr(c.Object), Message: c.Message, Hint: c.Hint}
	if r := c.Range; r != nil {
		out.Range = &hcl.Range{Filename: r.Filename, Start: hcl.Pos(r.Start), End: hcl.Pos(r.End)}
	}
	return out
}

// fromSteps are p's steps. A restart carries its wave's max_parallel, which
// format 1.0 and 1.1 readers take the bound from; the model keeps the bound
// on the wave's phase only.
func fromSteps(p *plan.Plan) []Step {
	maxParallel := map[string]int{}
	for _, ph := range p.Phases {
		if ph.Kind == plan.PhaseWave {
			maxParallel[ph.Wave] = ph.MaxParallel
		}
	}
	return convert(p.Steps, func(s plan.Step) Step {
		j := fromStep(s)
		if s.Kind == plan.StepWorkloadRestart {
			j.MaxParallel = maxParallel[s.Wave]
		}
		return j
	})
}

func fromStep(s plan.Step) Step {
	return Step{ID: s.ID, Kind: s.Kind, Action: s.Action, Wave: s.Wave, Object: fromRefPtr(s.Object),
		FromRevision: s.FromRevision, ToRevision: s.ToRevision, FromImage: s.FromImage, ToImage: s.ToImage,
		SetLabels: s.SetLabels, RemoveLabels: s.RemoveLabels, SourceLabels: s.SourceLabels,
		Objects: convert(s.Objects, fromRef), Manifest: convert(s.Manifest, fromManifestChange),
		Namespaces: s.Namespaces, Workloads: convert(s.Workloads, fromRef),
		Pods: s.Pods, TimeoutSecond: s.TimeoutSecond, Gate: fromGate(s.Gate), Reason: s.Reason}
}

func toStep(s Step) plan.Step {
	return plan.Step{ID: s.ID, Kind: s.Kind, Action: s.Action, Wave: s.Wave, Object: toRefPtr(s.Object),
		FromRevision: s.FromRevision, ToRevision: s.ToRevision, FromImage: s.FromImage, ToImage: s.ToImage,
		SetLabels: s.SetLabels, RemoveLabels: s.RemoveLabels, SourceLabels: s.SourceLabels,
		Objects: convert(s.Objects, toRef), Manifest: convert(s.Manifest, toManifestChange),
		Namespaces: s.Namespaces, Workloads: convert(s.Workloads, toRef),
		Pods: s.Pods, TimeoutSecond: s.TimeoutSecond, Gate: s.Gate.model(), Reason: s.Reason}
}

func fromManifestChange(m plan.ManifestChange) ManifestObject {
	return ManifestObject{Kind: m.Kind, Namespace: m.Namespace, Name: m.Name, APIVersion: m.APIVersion, Action: m.Action,
		Shared: m.Shared, Changes: convert(m.Changes, func(c plan.FieldChange) FieldChange { return FieldChange(c) }), Object: m.JSON}
}

// toManifestChange reads an object back compact, as the manifest's JSON
// was before Encode indented it: apply marks what it sends with the hash of
// those bytes (plan.ManifestHash).
func toManifestChange(m ManifestObject) plan.ManifestChange {
	obj := []byte(m.Object)
	var compact bytes.Buffer
	if json.Compact(&compact, obj) == nil {
		obj = compact.Bytes()
	}
	return plan.ManifestChange{ObjectRef: plan.ObjectRef{Kind: m.Kind, Namespace: m.Namespace, Name: m.Name}, APIVersion: m.APIVersion,
		Action: m.Action, Shared: m.Shared, Changes: convert(m.Changes, func(c FieldChange) plan.FieldChange { return plan.FieldChange(c) }),
		JSON: obj}
}

func fromSummary(s plan.Summary) Summary {
	return Summary{Changes: s.Changes, Relabel: s.Relabel, Restart: s.Restart, Evict: s.Evict, Tags: s.Tags, Gateways: s.Gateways,
		Uninstall: s.Uninstall, Install: s.Install, Errors: s.Errors, Warnings: s.Warnings,
		Waves: convert(s.Waves, fromWaveSummary)}
}

func toSummary(s Summary) plan.Summary {
	return plan.Summary{Changes: s.Changes, Relabel: s.Relabel, Restart: s.Restart, Evict: s.Evict, Tags: s.Tags, Gateways: s.Gateways,
		Uninstall: s.Uninstall, Install: s.Install, Errors: s.Errors, Warnings: s.Warnings,
		Waves: convert(s.Waves, toWaveSummary)}
}

func fromFollowUp(f plan.FollowUp) FollowUp {
	return FollowUp{Wave: f.Wave, Object: fromRef(f.Object), Pods: f.Pods, Reason: f.Reason, Manual: f.Manual}
}

func toFollowUp(f FollowUp) plan.FollowUp {
	return plan.FollowUp{Wave: f.Wave, Object: toRef(f.Object), Pods: f.Pods, Reason: f.Reason, Manual: f.Manual}
}

func fromWaveSummary(w plan.WaveSummary) WaveSummary {
	return WaveSummary{Name: w.Name, Namespaces: w.Namespaces, Workloads: w.Workloads, Pods: w.Pods,
		FromImage: w.FromImage, ToImage: w.ToImage,
		Deleted: convert(w.Deleted, func(d plan.DeletedNamespace) DeletedNamespace { return DeletedNamespace(d) }),
		OptedOut: convert(w.OptedOut, func(o plan.OptedOut) OptedOut {
			return OptedOut{Namespace: o.Namespace, Workloads: convert(o.Workloads, fromRef)}
		})}
}

func toWaveSummary(w WaveSummary) plan.WaveSummary {
	return plan.WaveSummary{Name: w.Name, Namespaces: w.Namespaces, Workloads: w.Workloads, Pods: w.Pods,
		FromImage: w.FromImage, ToImage: w.ToImage,
		Deleted: convert(w.Deleted, func(d DeletedNamespace) plan.DeletedNamespace { return plan.DeletedNamespace(d) }),
		OptedOut: convert(w.OptedOut, func(o OptedOut) plan.OptedOut {
			return plan.OptedOut{Namespace: o.Namespace, Workloads: convert(o.Workloads, toRef)}
		})}
}
