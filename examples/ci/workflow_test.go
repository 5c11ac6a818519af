// Package ci_test checks the example GitHub Actions workflow with actionlint
// (as a library, so `make test` needs nothing else installed): its syntax,
// expressions and their contexts, job dependencies, the inputs of the
// actions it uses, and untrusted input in scripts.
package ci_test

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

const workflow = "meshwave.yml"

// lint runs actionlint on src as the workflow file path. Shellcheck and
// pyflakes stay off: they are programs, not part of the library, and a
// check must not depend on what the machine has installed.
func lint(t *testing.T, path string, src []byte) []*actionlint.Error {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No project: the repository's own configuration, if it ever has one,
	// must not change what the example is held to.
	errs, err := l.Lint(path, src, &actionlint.Project{})
	if err != nil {
		t.Fatalf("actionlint %s: %v", path, err)
	}
	return errs
}

func TestWorkflowPassesActionlint(t *testing.T) {
	src, err := os.ReadFile(workflow)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range lint(t, workflow, src) {
		t.Errorf("%s", e)
	}
}

// The linter finds what it should in copies of the workflow with one
// mistake each, so a clean result above means something.
func TestActionlintCatchesMistakes(t *testing.T) {
	src, err := os.ReadFile(workflow)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		old, new string
		kind     string // the actionlint rule that reports it
	}{
		"an undefined step output": {
			old:  "steps.plan.outputs.exitcode == '1'",
			new:  "steps.planned.outputs.exitcode == '1'",
			kind: "expression",
		},
		"an input the action does not have": {
			old:  "retention-days: 30",
			new:  "retention: 30",
			kind: "action",
		},
		"a pull request's title in a script": {
			old:  `echo "exitcode=$code" >> "$GITHUB_OUTPUT"`,
			new:  `echo "${{ github.event.pull_request.title }}"`,
			kind: "expression",
		},
		"a job that needs one that does not exist": {
			old:  "    runs-on: ubuntu-latest\n    environment: mesh-production",
			new:  "    needs: review\n    runs-on: ubuntu-latest\n    environment: mesh-production",
			kind: "job-needs",
		},
		"broken YAML": {
			old:  "      - name: Plan\n",
			new:  "      - name: Plan\n     oops: [\n",
			kind: "syntax-check",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if bytes.Count(src, []byte(tc.old)) != 1 {
				t.Fatalf("the workflow has %q %d times, want once: the test needs updating", tc.old, bytes.Count(src, []byte(tc.old)))
			}
			broken := bytes.Replace(src, []byte(tc.old), []byte(tc.new), 1)
			errs := lint(t, "broken-"+workflow, broken)
			var kinds []string
			for _, e := range errs {
				kinds = append(kinds, e.Kind)
				if e.Kind == tc.kind {
					return
				}
			}
			t.Errorf("actionlint reports %d errors (%s), none of kind %q", len(errs), strings.Join(kinds, ", "), tc.kind)
		})
	}
}

// The apply job applies the reviewed saved plan only on the push of the
// merge; a run by hand (an approval gate, a follow-up) is after the first
// apply moved the state, when that plan is stale, so it applies the merge
// commit's plan files instead. Both run in the one job, behind its
// environment.
func TestApplyJobAppliesSavedPlanOnlyOnPush(t *testing.T) {
	src, err := os.ReadFile(workflow)
	if err != nil {
		t.Fatal(err)
	}
	w, errs := actionlint.Parse(src)
	if len(errs) > 0 {
		t.Fatalf("parse %s: %v", workflow, errs[0])
	}
	job := w.Jobs["apply"]
	if job == nil || job.Environment == nil || job.Environment.Name == nil || job.Environment.Name.Value != "mesh-production" {
		t.Fatalf("no apply job behind the mesh-production environment")
	}
	applies := map[string]string{} // the step's if -> its script
	for _, st := range job.Steps {
		run, ok := st.Exec.(*actionlint.ExecRun)
		if !ok || run.Run == nil || !strings.Contains(run.Run.Value, "meshwave apply") {
			continue
		}
		cond := ""
		if st.If != nil {
			cond = st.If.Value
		}
		applies[cond] = run.Run.Value
	}
	push, dispatch := applies["github.event_name == 'push'"], applies["github.event_name == 'workflow_dispatch'"]
	if len(applies) != 2 || push == "" || dispatch == "" {
		t.Fatalf("apply steps by condition: %q; want one for push and one for workflow_dispatch", applies)
	}
	if !strings.Contains(push, "upgrade.plan") || strings.Contains(push, "-state") {
		t.Errorf("on push, apply runs %q; want the saved plan, with the state backend it recorded", push)
	}
	if strings.Contains(dispatch, "upgrade.plan") || !strings.Contains(dispatch, "meshwave apply -auto-approve") {
		t.Errorf("by hand, apply runs %q; want meshwave apply -auto-approve of the plan files", dispatch)
	}
}

// The plan job's identity is read-only, so its RBAC preflight asks about
// the identity that will apply; otherwise check MW012 blocks every plan.
func TestPlanJobChecksTheApplyIdentity(t *testing.T) {
	src, err := os.ReadFile(workflow)
	if err != nil {
		t.Fatal(err)
	}
	w, errs := actionlint.Parse(src)
	if len(errs) > 0 {
		t.Fatalf("parse %s: %v", workflow, errs[0])
	}
	job := w.Jobs["plan"]
	if job == nil {
		t.Fatal("no plan job")
	}
	for _, st := range job.Steps {
		if run, ok := st.Exec.(*actionlint.ExecRun); ok && run.Run != nil && strings.Contains(run.Run.Value, "meshwave plan ") {
			if !strings.Contains(run.Run.Value, `-permissions-for "$MESHWAVE_APPLY_USER"`) {
				t.Errorf("the plan job runs %q; want -permissions-for \"$MESHWAVE_APPLY_USER\"", run.Run.Value)
			}
			return
		}
	}
	t.Error("the plan job runs no meshwave plan")
}
