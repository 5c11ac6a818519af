package views

import (
	"io"
	"time"

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
	// Begin tells the view the plan the executor runs now, once it is
	// confirmed: its phases and how many steps and pods each has. The live
	// view starts drawing here.
	Begin(p *plan.Plan)
	// Hold stops the live view from drawing, and clears it, until release
	// is called: a prompt can then be written to the same terminal.
	Hold() (release func())
	// Close ends the view once the executor returned: the live view stops
	// drawing and leaves its final summary with every failure.
	Close()
}

// ApplyOptions configure the human Apply view.
type ApplyOptions struct {
	// Color adds ANSI colors; set it from ColorEnabled.
	Color bool
	// Progress is ProgressLive or ProgressPlain, resolved by
	// ResolveProgress; empty means plain.
	Progress Progress
}

// NewApply returns the Apply view of type vt writing to w.
func NewApply(vt ViewType, w io.Writer, o ApplyOptions) Apply {
	if vt == ViewJSON {
		return newJSONApply(w)
	}
	if o.Progress == ProgressLive {
		return newLiveApply(w, painter{on: o.Color}, time.Now)
	}
	return newHumanApply(w, painter{on: o.Color}, false)
}
