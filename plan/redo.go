package plan

import "fmt"

// RedoAfterDrift says why step s, which an interrupted apply left running,
// must make its change anew (with a new Record) rather than re-send the one
// it recorded, now that step d, done earlier, was found drifted and made
// again; "" when re-sending it is right.
//
// A namespace's relabel set back while its restarts or evictions were under
// way (by a GitOps controller's self-heal, say) means the pods created
// meanwhile were injected by the revision it was set back to. Re-sending
// the same restartedAt rolls nothing, so those pods would stay on it.
func RedoAfterDrift(s, d Step) string {
	if d.Kind != StepNamespaceRelabel || d.Object == nil || s.Object == nil || s.Wave != d.Wave || s.Object.Namespace != d.Object.Name {
		return ""
	}
	var what string
	switch s.Kind {
	case StepWorkloadRestart:
		what = "its rollout"
	case StepWorkloadEvict:
		what = "its evictions"
	default:
		return ""
	}
	return fmt.Sprintf("namespace %s's relabel was set back after this step began: the pods %s created meanwhile may have been injected by the revision it was set back to", d.Object.Name, what)
}
