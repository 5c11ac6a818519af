package views

import (
	"io"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/jsonplan"
)

// JSON writes p in the documented plan format (docs/json-format.md); the
// document and its encoder are package jsonplan's.
func JSON(w io.Writer, p *plan.Plan) error { return jsonplan.Encode(w, p) }
