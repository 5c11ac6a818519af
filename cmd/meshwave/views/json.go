package views

import (
	"encoding/json"
	"io"

	"github.com/meshwave/meshwave/plan"
)

// JSON writes p in the documented plan format (docs/json-format.md): the
// Plan's own JSON encoding, indented. The output is deterministic: fields in
// declaration order, map keys sorted, and empty lists written as [] rather
// than null so consumers need not tell the two apart.
func JSON(w io.Writer, p *plan.Plan) error {
	out := *p
	if out.FormatVersion == "" {
		out.FormatVersion = plan.FormatVersion
	}
	if out.Checks == nil {
		out.Checks = []plan.Check{}
	}
	if out.Steps == nil {
		out.Steps = []plan.Step{}
	}
	if out.Phases == nil {
		out.Phases = []plan.Phase{}
	}
	if out.RollbackOrder == nil {
		out.RollbackOrder = []plan.RollbackPhase{}
	}
	if out.ManualFollowUp == nil {
		out.ManualFollowUp = []plan.FollowUp{}
	}
	if out.Summary.Waves == nil {
		out.Summary.Waves = []plan.WaveSummary{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Queries and revisions hold "<", ">" and "&"; keep them readable.
	enc.SetEscapeHTML(false)
	return enc.Encode(&out)
}
