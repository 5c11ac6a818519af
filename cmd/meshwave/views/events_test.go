package views

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

func TestApplyLines(t *testing.T) {
	events := []executor.Event{
		{Kind: executor.EventApplyStart, Message: "starting"},
		{Kind: executor.EventWaveStart, Wave: "canary"},
		{Kind: executor.EventStepStart, StepKind: plan.StepNamespaceRelabel, Wave: "canary", Object: "demo-a"},
		{Kind: executor.EventStepDone, StepKind: plan.StepNamespaceRelabel, Wave: "canary", Object: "demo-a", Elapsed: 20 * time.Millisecond},
		{Kind: executor.EventStepStart, StepKind: plan.StepWorkloadRestart, Wave: "canary", Object: "demo-a/app-a"},
		{Kind: executor.EventStepProgress, StepKind: plan.StepWorkloadRestart, Wave: "canary", Object: "demo-a/app-a", Elapsed: 10400 * time.Millisecond, Message: "updated: 0/1"},
		{Kind: executor.EventStepDone, StepKind: plan.StepWorkloadRestart, Wave: "canary", Object: "demo-a/app-a", Elapsed: 12 * time.Second},
		{Kind: executor.EventStepStart, StepKind: plan.StepGate, Wave: "canary", StepID: "wave/canary/gate/1-pause"},
		{Kind: executor.EventStepFailed, StepKind: plan.StepGate, Wave: "canary", StepID: "wave/canary/gate/1-pause", Error: "context canceled"},
		{Kind: executor.EventWaveDone, Wave: "canary", Elapsed: 75 * time.Second, Totals: &executor.Totals{Changed: 2, Unchanged: 1, Pending: 3},
			ManualFollowUp: []plan.FollowUp{{Wave: "canary", Object: plan.ObjectRef{Kind: "StatefulSet", Namespace: "demo-a", Name: "db"}, Pods: 2,
				Reason: "StatefulSet uses the OnDelete update strategy", Manual: "delete its pods one at a time"}}},
		{Kind: executor.EventStepSkipped, StepKind: plan.StepUninstall, StepID: "finalize/uninstall/mesh.istio-system", Message: "not installed"},
		{Kind: executor.EventApplyDone, Elapsed: 61 * time.Second, Totals: &executor.Totals{Changed: 6, Unchanged: 2}},
	}
	var b bytes.Buffer
	v := NewApply(ViewHuman, &b, ApplyOptions{})
	for _, e := range events {
		v.Observe(e)
	}
	want := []string{
		"Applying: starting",
		"",
		`Wave "canary":`,
		"  demo-a: relabeling...",
		"  demo-a: relabeled after 20ms",
		"  demo-a/app-a: restarting...",
		"  demo-a/app-a: still restarting... [10s elapsed] updated: 0/1",
		"  demo-a/app-a: restart complete after 12s",
		"  canary pause gate: checking...",
		"  canary pause gate: failed: context canceled",
		`Wave "canary" complete: 2 changed, 1 unchanged, 3 pending. [1m15s]`,
		"  Manual follow-up: meshwave cannot restart these; move them by hand now:",
		"    StatefulSet demo-a/db, 2 pods: StatefulSet uses the OnDelete update strategy",
		"      delete its pods one at a time",
		"finalize/uninstall/mesh.istio-system: no change (not installed)",
		"",
		"Apply complete! 6 changed, 2 unchanged. [1m1s]",
		"",
		"Manual follow-up: apply left 1 workload to you (a restart cannot roll it):",
		"  [canary] StatefulSet demo-a/db, 2 pods: StatefulSet uses the OnDelete update strategy",
		"    delete its pods one at a time",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")); diff != "" {
		t.Errorf("apply lines (-want +got):\n%s", diff)
	}
	var colored bytes.Buffer
	NewApply(ViewHuman, &colored, ApplyOptions{Color: true}).Observe(events[len(events)-1])
	if !strings.Contains(colored.String(), "\x1b[") {
		t.Errorf("color on: no ANSI sequence in %q", colored.String())
	}
}

// Apply's lines show text from the plan and the state escaped, like every
// view: a wave name or an error with an ESC sequence cannot drive the
// terminal.
func TestApplyLinesArePrintable(t *testing.T) {
	var b bytes.Buffer
	v := NewApply(ViewHuman, &b, ApplyOptions{})
	v.Observe(executor.Event{Kind: executor.EventWaveStart, Wave: "canary\x1b[2J"})
	v.Observe(executor.Event{Kind: executor.EventStepFailed, StepKind: plan.StepGate, Wave: "canary\x1b[2J", StepID: "wave/canary/gate/0-http", Error: "got \x1b]0;owned\x07"})
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), `got \x1b]0;owned\x07`) {
		t.Errorf("apply lines:\n%q", b.String())
	}
}

// Apply stopped before the uninstall for the manual follow-up: one line that
// says the uninstall did not happen yet and what the executor said.
func TestApplyLineFollowUpRequired(t *testing.T) {
	var b bytes.Buffer
	NewApply(ViewHuman, &b, ApplyOptions{}).Observe(executor.Event{Kind: executor.EventFollowUpRequired, StepKind: plan.StepUninstall,
		StepID: "finalize/uninstall/1-30", Object: "istio-system/installed-1-30",
		Message: "the uninstall of 1-30 waits: still used by pod demo-b/cache-0. Move the manual follow-up by hand: StatefulSet demo-b/cache (delete its pods one at a time); then run apply again to uninstall"})
	want := "Not uninstalled yet: the uninstall of 1-30 waits: still used by pod demo-b/cache-0. Move the manual follow-up by hand: StatefulSet demo-b/cache (delete its pods one at a time); then run apply again to uninstall.\n"
	if got := b.String(); got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}
