package views

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshwave/meshwave/plan"
)

func TestResolveProgress(t *testing.T) {
	tests := map[string]struct {
		flag    string
		want    Progress
		wantErr string
	}{
		"auto, no terminal": {flag: "auto", want: ProgressPlain},
		"plain":             {flag: "plain", want: ProgressPlain},
		"live, no terminal": {flag: "live", wantErr: "needs a terminal"},
		"a word of its own": {flag: "fancy", wantErr: `-progress "fancy": want auto, live or plain`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := ParseProgress(tc.flag)
			if err == nil {
				p, err = ResolveProgress(p, &bytes.Buffer{}, func(string) string { return "" })
			}
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error with %q", err, tc.wantErr)
			case tc.wantErr == "" && (err != nil || p != tc.want):
				t.Errorf("got %q, %v; want %q", p, err, tc.want)
			}
		})
	}
}

// The live screen fits any terminal height: with more waves than rows, the
// waves done and to come are counted on a line each, and the slowest steps
// take the rows left.
func TestLiveScreenFitsTheTerminal(t *testing.T) {
	p := &plan.Plan{}
	for i := range 12 {
		addBigWave(p, fmt.Sprintf("w%02d", i), 20)
	}
	events := applyEvents(p, nil)
	// Stop in the middle of the seventh wave's restarts.
	m := newRunModel()
	m.begin(p)
	a := newHumanApply(&bytes.Buffer{}, painter{}, true)
	var now time.Time
	for _, e := range events {
		if e.Wave == "w06" && e.Kind == "step-done" && e.StepKind == plan.StepWorkloadRestart {
			break
		}
		m.observe(e, a.subject(e))
		now = e.Time
	}
	for _, height := range []int{0, 3, 8, 14, 30, 60} {
		screen := renderLive(m, now, height, painter{})
		lines := strings.Split(screen, "\n")
		room := height - 1
		if height == 0 {
			room = defaultHeight - 1
		}
		if testing.Verbose() {
			t.Logf("height %d:\n%s", height, screen)
		}
		if len(lines) > max(room, 1) {
			t.Errorf("height %d: %d lines:\n%s", height, len(lines), screen)
		}
		if !strings.Contains(screen, `> wave "w06": 0/60 workloads restarted`) {
			t.Errorf("height %d: the current wave is not on the screen:\n%s", height, screen)
		}
		if height >= 14 && !strings.Contains(screen, "w06-000/app-a: restarting [") {
			t.Errorf("height %d: no slowest rollout on the screen:\n%s", height, screen)
		}
	}
}
