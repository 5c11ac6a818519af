package plan

import (
	"fmt"

	"github.com/meshwave/meshwave/internal/formatversion"
)

// The enums of the plan model, and the shape a plan read back from its JSON
// form (a saved plan) must have before anything shows or applies it. A value
// this build does not know is an error, never a guess: a newer meshwave may
// have given it a meaning this one would get wrong.

// Valid reports whether k is a step kind this build knows.
func (k StepKind) Valid() bool {
	switch k {
	case StepTagMove, StepGatewayMigrate, StepNamespaceRelabel, StepWorkloadRestart, StepWorkloadEvict,
		StepWaveWait, StepWaveVerify, StepGate, StepUninstall, StepInstall, StepInstallWait:
		return true
	}
	return false
}

// Valid reports whether a is an action this build knows.
func (a Action) Valid() bool {
	switch a {
	case ActionUpdate, ActionRestart, ActionEvict, ActionDelete, ActionRead, ActionNoop, ActionCreate:
		return true
	}
	return false
}

// Valid reports whether s is a severity this build knows.
func (s Severity) Valid() bool { return s == SeverityError || s == SeverityWarning }

// WellFormed says why p, decoded from its JSON form, cannot be shown or
// applied by this build; nil when it can. It checks what the views and the
// executor rely on: a format version this build reads, known enums, unique
// step ids, and the object or gate each step kind acts on.
func (p *Plan) WellFormed() error {
	if !formatversion.Readable(p.FormatVersion, FormatVersion) {
		return fmt.Errorf("plan format version %q is not supported (this meshwave reads %s)", p.FormatVersion, FormatVersion)
	}
	if !p.Flavor.Valid() {
		return fmt.Errorf("unknown flavor %q", p.Flavor)
	}
	for _, c := range p.Checks {
		if !c.Severity.Valid() {
			return fmt.Errorf("check %s has unknown severity %q", c.Code, c.Severity)
		}
	}
	seen := make(map[string]bool, len(p.Steps))
	for i, st := range p.Steps {
		switch {
		case st.ID == "":
			return fmt.Errorf("steps[%d] has no id", i)
		case seen[st.ID]:
			return fmt.Errorf("step %q appears twice", st.ID)
		case !st.Kind.Valid():
			return fmt.Errorf("step %q has unknown kind %q", st.ID, st.Kind)
		case !st.Action.Valid():
			return fmt.Errorf("step %q has unknown action %q", st.ID, st.Action)
		case st.Kind.actsOnObject() && (st.Object == nil || st.Object.Name == ""):
			return fmt.Errorf("step %q of kind %s has no object", st.ID, st.Kind)
		case st.Kind == StepGate && st.Gate == nil:
			return fmt.Errorf("step %q of kind %s has no gate", st.ID, st.Kind)
		case st.Kind == StepInstall && st.Action != ActionNoop && len(st.Manifest) == 0:
			return fmt.Errorf("step %q of kind %s has no manifest", st.ID, st.Kind)
		}
		seen[st.ID] = true
	}
	return nil
}

// actsOnObject reports whether a step of kind k changes one named object.
func (k StepKind) actsOnObject() bool {
	switch k {
	case StepTagMove, StepGatewayMigrate, StepNamespaceRelabel, StepWorkloadRestart, StepWorkloadEvict:
		return true
	}
	return false
}
