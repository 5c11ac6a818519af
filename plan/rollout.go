package plan

import "fmt"

// UpdateOnDelete is the update strategy under which a StatefulSet or a
// DaemonSet replaces a pod only when someone deletes it.
const UpdateOnDelete = "OnDelete"

// RolloutFacts are the facts of a pod owner that decide whether a rollout
// restart (a new restartedAt in its pod template) re-creates its pods.
type RolloutFacts struct {
	// Kind is the kind of the pod's controller, or Pod for a bare pod.
	Kind WorkloadKind
	// Paused is a Deployment's spec.paused; a Rollout's, or a Rollout in
	// its Paused phase (waiting at a pause step or for a promotion).
	Paused bool
	// UpdateStrategy is a StatefulSet's or DaemonSet's
	// spec.updateStrategy.type; empty means RollingUpdate.
	UpdateStrategy string
	// Name is the object's name, and Group its kind's API group when it is
	// a kind meshwave does not restart (Workload.Group).
	Name, Group string
	// TemplateRef is a Rollout's spec.workloadRef (Workload.TemplateRef).
	TemplateRef string
}

// NotRollable says why a rollout restart does not re-create the pods of a
// workload with these facts, and what a person does instead to move them;
// both are empty when a restart rolls it.
//
// It is the one rule for it: the plan's checks and manual follow-up, the
// observation of the cluster and the restart's live re-check all call it.
func NotRollable(f RolloutFacts) (reason, manual string) {
	const deletePods = "delete its pods one at a time after the wave, waiting for each to be Ready again, so they are re-created and re-injected"
	switch f.Kind {
	case KindDeployment:
		if f.Paused {
			return "Deployment is paused", deletePods + " (its ReplicaSet re-creates them; the Deployment stays paused)"
		}
	case KindStatefulSet, KindDaemonSet:
		if f.UpdateStrategy == UpdateOnDelete {
			return fmt.Sprintf("%s uses the OnDelete update strategy", f.Kind), deletePods
		}
	case KindRollout:
		const argoRestart = "kubectl argo rollouts restart"
		switch {
		case f.TemplateRef != "":
			return fmt.Sprintf("Rollout takes its pod template from %s (spec.workloadRef)", f.TemplateRef),
				"restart it after the wave (" + argoRestart + "), so its pods are re-created and injected by the target"
		case f.Paused:
			return "Rollout is paused", "promote or resume it (kubectl argo rollouts promote), then restart it after the wave (" + argoRestart + ")"
		}
	case KindJob:
		return "a Job's pods run to completion and are not restarted", "re-run the Job after the wave (delete it and create it again) so its new pods are injected by the target"
	case KindBarePod:
		return "bare pod without a controller", "delete and re-create the pod yourself after the wave (nothing re-creates a bare pod), or give it a controller"
	default:
		if f.Group != "" {
			// Its controller owns the pods' template: pods deleted by hand
			// come back as they were, and a patch of what it owns is undone.
			return fmt.Sprintf("owned by %s.%s %s, which meshwave does not restart", f.Kind, f.Group, f.Name),
				fmt.Sprintf("restart it through its owner %s %s after the wave (the way its controller rolls its pods out), so they are re-created and injected by the target", f.Kind, f.Name)
		}
		return fmt.Sprintf("%s is not a workload meshwave can restart", f.Kind), deletePods
	}
	return "", ""
}

// RollsByEviction reports whether a wave that opts in (roll_on_delete)
// rolls a workload with these facts by evicting its pods one at a time: an
// OnDelete StatefulSet, whose controller re-creates each evicted pod under
// its own name from the current pod template. What else a restart cannot
// roll stays manual follow-up: nothing re-creates a bare pod, a Job's pods
// run to completion, and a paused Deployment or an OnDelete DaemonSet is
// left to the person who chose that.
//
// It is the one rule for it: the plan's steps and checks and the eviction
// step's live re-check call it.
func RollsByEviction(f RolloutFacts) bool {
	return f.Kind == KindStatefulSet && f.UpdateStrategy == UpdateOnDelete
}

// Rollout returns the facts of w that NotRollable decides on.
func (w Workload) Rollout() RolloutFacts {
	return RolloutFacts{Kind: w.Kind, Paused: w.Paused, UpdateStrategy: w.UpdateStrategy, Name: w.Name, Group: w.Group, TemplateRef: w.TemplateRef}
}

// FollowUp is a workload a wave leaves on the source proxy because a
// rollout restart cannot roll it: apply does not restart it, wait for it or
// verify it, and the person applying the plan moves it by hand after the
// wave.
type FollowUp struct {
	Wave   string
	Object ObjectRef
	// Pods is the number of its pods not on the target proxy yet.
	Pods   int
	Reason string
	// Manual says what to do by hand.
	Manual string
}
