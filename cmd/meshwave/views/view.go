package views

import (
	"io"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

// ViewType is what a command writes: text for a person or JSON for a
// program. A command chooses it once, from its flags (ParseViewType), and
// every output of the run goes through the view made for it.
type ViewType int

const (
	ViewHuman ViewType = iota
	ViewJSON
)

// ParseViewType is the view the -json flag asks for.
func ParseViewType(json bool) ViewType {
	if json {
		return ViewJSON
	}
	return ViewHuman
}

// Apply is the view of apply and rollback: the plan before it is confirmed,
// then the executor's events as they happen.
type Apply interface {
	executor.Observer
	// Plan shows the plan apply is about to confirm and run. The JSON view
	// writes nothing: its output is the event lines alone.
	Plan(p *plan.Plan) error
}

// NewApply returns the Apply view of type vt writing to w; color applies to
// the human view.
func NewApply(vt ViewType, w io.Writer, color bool) Apply {
	if vt == ViewJSON {
		return newJSONApply(w)
	}
	return &humanApply{w: w, p: painter{on: color}}
}
