package plan

import (
	"strings"
	"testing"
)

// A rollout restart rolls Deployments, StatefulSets and DaemonSets that
// update on their own, and Argo Rollouts that are neither paused nor take
// their template from another object; for everything else the rule says
// why not and what a person does instead.
func TestNotRollable(t *testing.T) {
	tests := map[string]struct {
		facts RolloutFacts
		// reason and manual are words both must contain; empty: rollable.
		reason, manual string
	}{
		"deployment":                  {RolloutFacts{Kind: KindDeployment}, "", ""},
		"paused deployment":           {RolloutFacts{Kind: KindDeployment, Paused: true}, "paused", "delete its pods one at a time"},
		"rolling statefulset":         {RolloutFacts{Kind: KindStatefulSet, UpdateStrategy: "RollingUpdate"}, "", ""},
		"statefulset, no strategy":    {RolloutFacts{Kind: KindStatefulSet}, "", ""},
		"ondelete statefulset":        {RolloutFacts{Kind: KindStatefulSet, UpdateStrategy: UpdateOnDelete}, "StatefulSet uses the OnDelete", "delete its pods one at a time"},
		"rolling daemonset":           {RolloutFacts{Kind: KindDaemonSet, UpdateStrategy: "RollingUpdate"}, "", ""},
		"ondelete daemonset":          {RolloutFacts{Kind: KindDaemonSet, UpdateStrategy: UpdateOnDelete}, "DaemonSet uses the OnDelete", "delete its pods one at a time"},
		"job":                         {RolloutFacts{Kind: KindJob}, "Job", "re-run the Job"},
		"bare pod":                    {RolloutFacts{Kind: KindBarePod}, "bare pod", "re-create the pod"},
		"unknown controller":          {RolloutFacts{Kind: "ReplicaSet"}, "ReplicaSet is not a workload meshwave can restart", "delete its pods"},
		"paused is a deployment fact": {RolloutFacts{Kind: KindStatefulSet, Paused: true}, "", ""},
		"argo rollout":                {RolloutFacts{Kind: KindRollout}, "", ""},
		"paused argo rollout":         {RolloutFacts{Kind: KindRollout, Paused: true}, "Rollout is paused", "kubectl argo rollouts promote"},
		"argo rollout with a workloadRef": {RolloutFacts{Kind: KindRollout, TemplateRef: "Deployment web"},
			"pod template from Deployment web (spec.workloadRef)", "kubectl argo rollouts restart"},
		"custom resource owner": {RolloutFacts{Kind: "Revision", Group: "serving.knative.dev", Name: "hello-00001"},
			"owned by Revision.serving.knative.dev hello-00001", "restart it through its owner Revision hello-00001"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reason, manual := NotRollable(tc.facts)
			if tc.reason == "" {
				if reason != "" || manual != "" {
					t.Errorf("NotRollable(%+v) = %q, %q; want rollable", tc.facts, reason, manual)
				}
				return
			}
			if !strings.Contains(reason, tc.reason) || !strings.Contains(manual, tc.manual) {
				t.Errorf("NotRollable(%+v) = %q, %q; want a reason with %q and a manual step with %q", tc.facts, reason, manual, tc.reason, tc.manual)
			}
		})
	}
}
