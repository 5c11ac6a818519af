package views

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
)

// Each differing setting is one line, its unset side written as such, then
// how many more differ and whether the comparison was cut short; a plan
// without differences has no section.
func TestSettingsLines(t *testing.T) {
	p := &plan.Plan{From: "1-30", To: "1-31", Settings: &plan.SettingsDiff{Changes: []plan.SettingChange{
		{Source: plan.SettingsMesh, Path: "defaultConfig.holdApplicationUntilProxyStarts", From: "true"},
		{Source: plan.SettingsSpec, Path: "proxy.resources.limits.cpu", From: `"2"`, To: `"1"`},
	}, More: 4, Incomplete: true}}
	want := []string{
		"mesh: defaultConfig.holdApplicationUntilProxyStarts: true → (unset)",
		`spec: proxy.resources.limits.cpu: "2" → "1"`,
		"and 4 more",
		"(a revision has more than 2000 settings: only the first 2000 were compared)",
	}
	if d := cmp.Diff(want, settingsLines(p, plainMarkup{})); d != "" {
		t.Errorf("lines (-want +got):\n%s", d)
	}
	if got := settingsLines(&plan.Plan{}, plainMarkup{}); got != nil {
		t.Errorf("lines without differences: %q", got)
	}
	var b bytes.Buffer
	if err := Human(&b, &plan.Plan{From: "1-30", To: "1-31"}, HumanOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Settings") {
		t.Errorf("a plan without differences shows a settings section:\n%s", b.String())
	}
}

// A setting's path and values come from the cluster: a terminal escape in
// them is printed escaped.
func TestSettingsArePrintable(t *testing.T) {
	p := &plan.Plan{From: "1-30", To: "1-31", Settings: &plan.SettingsDiff{Changes: []plan.SettingChange{
		{Source: plan.SettingsValues, Path: "global.x\x1b]0;pwned\x07", To: "\"\x1b[2J\""}}}}
	var b bytes.Buffer
	if err := Human(&b, p, HumanOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || !strings.Contains(b.String(), `values: global.x\x1b]0;pwned\x07: (unset) → "\x1b[2J"`) {
		t.Errorf("settings printed as:\n%s", b.String())
	}
}
