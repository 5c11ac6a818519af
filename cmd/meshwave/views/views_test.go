package views

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/jsonplan"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// plans are the scenarios every view is checked against.
func plans() map[string]*plan.Plan {
	return map[string]*plan.Plan{
		"backyards":           backyardsPlan(),
		"backyards-lua-error": backyardsLuaErrorPlan(),
		"backyards-done":      backyardsDonePlan(),
		"istio-gates":         istioPlan(),
		"istio-blocked":       istioBlockedPlan(),
		"istio-evict":         istioEvictPlan(),
		"istio-install":       istioInstallPlan(),
	}
}

// renderers are the views, by golden-file suffix.
var renderers = map[string]func(io.Writer, *plan.Plan) error{
	"human": func(w io.Writer, p *plan.Plan) error { return Human(w, p, HumanOptions{}) },
	"human-color": func(w io.Writer, p *plan.Plan) error {
		return Human(w, p, HumanOptions{Color: true})
	},
	"json": JSON,
	"md":   Markdown,
}

func TestGolden(t *testing.T) {
	for name, p := range plans() {
		for format, render := range renderers {
			t.Run(name+"/"+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := render(&b, p); err != nil {
					t.Fatalf("render: %v", err)
				}
				golden(t, filepath.Join("testdata", name+"."+format+".golden"), b.String())
			})
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); run go test -update if the change is intended:\n%s", path, diff)
	}
}

func TestColorOnlyWhenAsked(t *testing.T) {
	for name, p := range plans() {
		t.Run(name, func(t *testing.T) {
			for format, render := range renderers {
				var b bytes.Buffer
				if err := render(&b, p); err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				got := strings.Contains(b.String(), "\x1b[")
				if want := format == "human-color"; got != want {
					t.Errorf("%s: ANSI escapes present = %v, want %v", format, got, want)
				}
			}
		})
	}
}

// TestHumanSameTextWithoutColor checks that color only decorates: removing
// the escapes from the colored output gives the plain output.
func TestHumanSameTextWithoutColor(t *testing.T) {
	sgr := regexp.MustCompile("\x1b\\[[0-9;]*m")
	for name, p := range plans() {
		t.Run(name, func(t *testing.T) {
			var plain, colored bytes.Buffer
			if err := Human(&plain, p, HumanOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := Human(&colored, p, HumanOptions{Color: true}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(plain.String(), sgr.ReplaceAllString(colored.String(), "")); diff != "" {
				t.Errorf("colored output without escapes differs from plain (-plain +stripped):\n%s", diff)
			}
		})
	}
}

func TestHumanLastLines(t *testing.T) {
	tests := map[string]struct {
		plan *plan.Plan
		want []string // the last lines, in order
	}{
		"changes": {
			plan: backyardsPlan(),
			want: []string{"Plan: 1 gateway to move, 2 namespaces to relabel, 2 workloads to restart, 1 control plane to uninstall."},
		},
		"manual follow-up": {
			plan: istioPlan(),
			want: []string{
				"Manual follow-up: 1 workload cannot be restarted by meshwave and stays on 1-26 until you move it by hand after its wave.",
				"Plan: 1 gateway to move, 3 namespaces to relabel, 4 workloads to restart, 1 control plane to uninstall.",
			},
		},
		"evictions": {
			plan: istioEvictPlan(),
			want: []string{
				"Manual follow-up: 1 workload cannot be restarted by meshwave and stays on 1-26 until you move it by hand after its wave.",
				"Plan: 1 gateway to move, 3 namespaces to relabel, 4 workloads to restart, 1 workload to roll by eviction, 1 control plane to uninstall.",
			},
		},
		"no changes": {
			plan: backyardsDonePlan(),
			want: []string{"No changes. The data plane already runs cp-v17x.istio-system."},
		},
		"blocked": {
			plan: istioBlockedPlan(),
			want: []string{
				"Plan: 1 gateway to move, 3 namespaces to relabel, 4 workloads to restart, 1 control plane to uninstall.",
				"",
				"Error: apply is blocked by 3 errors; fix the checks above and plan again.",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Human(&b, tc.plan, HumanOptions{}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(lines) < len(tc.want) {
				t.Fatalf("output has %d lines, want at least %d", len(lines), len(tc.want))
			}
			if diff := cmp.Diff(tc.want, lines[len(lines)-len(tc.want):]); diff != "" {
				t.Errorf("last lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHumanChecksFirst: check results come before any step.
func TestHumanChecksFirst(t *testing.T) {
	var b bytes.Buffer
	if err := Human(&b, backyardsLuaErrorPlan(), HumanOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	check, step := strings.Index(out, "Error: [MW005]"), strings.Index(out, "istio-ingressgateway")
	if check < 0 || step < 0 || check > step {
		t.Errorf("check at %d, first step at %d; want the check first:\n%s", check, step, out)
	}
}

func TestJSONRoundTrips(t *testing.T) {
	for name, p := range plans() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := JSON(&b, p); err != nil {
				t.Fatal(err)
			}
			got, err := decodePlan(b.Bytes())
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, b.String())
			}
			if diff := cmp.Diff(p, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(plan.Plan{}, "Upgrade")); diff != "" {
				t.Errorf("plan after a JSON round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONIsDeterministic(t *testing.T) {
	p := istioPlan()
	var first bytes.Buffer
	if err := JSON(&first, p); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		var again bytes.Buffer
		if err := JSON(&again, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), again.Bytes()) {
			t.Fatalf("two renderings of one plan differ:\n%s", cmp.Diff(first.String(), again.String()))
		}
	}
}

func TestJSONEmptyListsAreArrays(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, &plan.Plan{}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["format_version"] != plan.FormatVersion {
		t.Errorf("format_version = %v, want %q", got["format_version"], plan.FormatVersion)
	}
	for _, key := range []string{"checks", "steps", "phases", "rollback_order"} {
		if _, ok := got[key].([]any); !ok {
			t.Errorf("%s = %#v, want an array", key, got[key])
		}
	}
	if waves, _ := got["summary"].(map[string]any); waves == nil {
		t.Errorf("summary missing")
	} else if _, ok := waves["waves"].([]any); !ok {
		t.Errorf("summary.waves = %#v, want an array", waves["waves"])
	}
}

// TestJSONFormatDocumented: every field name the JSON can hold appears in
// docs/json-format.md, so the format cannot grow undocumented.
func TestJSONFormatDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "json-format.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range jsonFieldNames(reflect.TypeFor[jsonplan.Plan](), map[reflect.Type]bool{}) {
		if !bytes.Contains(doc, []byte("`"+name+"`")) {
			t.Errorf("docs/json-format.md does not document field `%s`", name)
		}
	}
}

// TestJSONFormatExamplesDecode: the examples in docs/json-format.md are
// valid plans (or steps) with no field the model does not have.
func TestJSONFormatExamplesDecode(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "json-format.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/json-format.md has no ```json example")
	}
	for i, b := range blocks {
		var target any = &jsonplan.Plan{}
		switch {
		case bytes.Contains(b[1], []byte(`"manual"`)):
			target = &jsonplan.FollowUp{}
		case !bytes.Contains(b[1], []byte(`"format_version"`)):
			target = &jsonplan.Step{}
		}
		dec := json.NewDecoder(bytes.NewReader(b[1]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			t.Errorf("example %d does not decode as %T: %v", i+1, target, err)
		}
	}
}

// TestJSONFormatExampleIsTheBackyardsPlan: the documented example is the
// backyards plan minus what the document says it leaves out.
func TestJSONFormatExampleIsTheBackyardsPlan(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "json-format.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```json\\n(.*?)```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/json-format.md has no ```json example")
	}
	got, err := decodePlan(block[1])
	if err != nil {
		t.Fatal(err)
	}
	want := backyardsPlan()
	var steps []plan.Step
	for _, s := range want.Steps {
		if s.Kind != plan.StepGate && s.Wave != "rest" {
			steps = append(steps, s)
		}
	}
	want.Steps = steps
	var phases []plan.Phase
	for _, ph := range want.Phases {
		if ph.Wave != "rest" {
			ph.Groups = slices.DeleteFunc(ph.Groups, func(g []string) bool { return strings.Contains(g[0], "/gate/") })
			phases = append(phases, ph)
		}
	}
	want.Phases = phases
	want.RollbackOrder = plan.RollbackOrder(want.Steps, want.Phases)
	want.Summary.Waves = want.Summary.Waves[:1]
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("docs/json-format.md example (-backyards plan +doc):\n%s", diff)
	}
}

// jsonFieldNames lists the JSON names of t's fields and of the structs they
// hold, as encoding/json names them.
func jsonFieldNames(t reflect.Type, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t.PkgPath() != reflect.TypeFor[jsonplan.Plan]().PkgPath() {
		return nil
	}
	seen[t] = true
	var names []string
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			names = append(names, jsonFieldNames(f.Type, seen)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		names = append(names, jsonFieldNames(f.Type, seen)...)
	}
	return names
}

func TestProxyVersion(t *testing.T) {
	tests := map[string]struct{ image, want string }{
		"tag":              {"docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc", "1.7.0-bzc"},
		"registry port":    {"registry.local:5000/istio/proxyv2:1.27.1", "1.27.1"},
		"no tag":           {"registry.local:5000/istio/proxyv2", "registry.local:5000/istio/proxyv2"},
		"digest":           {"istio/proxyv2@sha256:0123456789abcdef0123456789abcdef", "sha256:0123456789ab"},
		"tag and digest":   {"istio/proxyv2:1.27.1@sha256:0123456789abcdef0123", "sha256:0123456789ab"},
		"no image":         {"", ""},
		"bare name:tag":    {"proxyv2:1.6.3", "1.6.3"},
		"short digest":     {"istio/proxyv2@sha256:abc", "sha256:abc"},
		"single component": {"proxyv2", "proxyv2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := proxyVersion(tc.image); got != tc.want {
				t.Errorf("proxyVersion(%q) = %q, want %q", tc.image, got, tc.want)
			}
		})
	}
}

func TestMarkdownEscapesCells(t *testing.T) {
	tests := map[string]struct{ code, text, wantCode, wantText string }{
		"pipe":     {"a|b", "a|b", "`a\\|b`", `a\|b`},
		"html":     {"x <= 1", "x <= 1", "`x <= 1`", "x &lt;= 1"},
		"newline":  {"a", "line one\nline two", "`a`", "line one line two"},
		"backtick": {"a`b", "a`b", "a\\`b", "a\\`b"},
		"emphasis": {"*_x_*", "*_x_*", "`*_x_*`", `\*\_x\_\*`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := mdMarkup{}
			if got := m.code(tc.code); got != tc.wantCode {
				t.Errorf("code(%q) = %q, want %q", tc.code, got, tc.wantCode)
			}
			if got := m.text(tc.text); got != tc.wantText {
				t.Errorf("text(%q) = %q, want %q", tc.text, got, tc.wantText)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteErrorsAreReturned(t *testing.T) {
	for format, render := range renderers {
		if err := render(failingWriter{}, backyardsPlan()); err == nil {
			t.Errorf("%s: writing to a closed writer returned no error", format)
		}
	}
}

// decodePlan reads a plan document strictly, as a saved plan is read.
func decodePlan(b []byte) (*plan.Plan, error) {
	var doc jsonplan.Plan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return doc.Model(), nil
}
