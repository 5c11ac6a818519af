package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/meshwave/meshwave/cmd/meshwave/views"
	"github.com/meshwave/meshwave/plan"
)

type validateOptions struct {
	plan planFlags
	json bool
}

func newValidateCommand(s streams) *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a plan without reading the cluster",
		Long: `Validate decodes the plan files and checks everything that can be checked without
a cluster: syntax, unknown or missing settings, duplicate names, revision ids,
durations, label selectors, variables and types. Every problem is reported at
once, with the place in the file it comes from.

Exit status: 0 when the plan is valid (warnings allowed), 1 when it is not.`,
		Example: `  meshwave validate
  meshwave validate -f upgrade.mw.hcl -var-file staging.mwvars.hcl
  meshwave validate -json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return o.run(s) },
	}
	o.plan.register(cmd.Flags())
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	return cmd
}

func (o *validateOptions) run(s streams) error {
	if !o.json {
		cfg, err := o.plan.load(s)
		if err != nil {
			return err
		}
		tags := ""
		if len(cfg.Tags) > 0 {
			tags = plural(len(cfg.Tags), "revision tag") + ", "
		}
		_, err = fmt.Fprintf(s.Out, "Success! The plan is valid: %s -> %s (%s), %s%s, %s.\n",
			views.Printable(cfg.Upgrade.From), views.Printable(cfg.Upgrade.To), cfg.Upgrade.Flavor, tags,
			plural(len(cfg.Gateways), "gateway"), plural(len(cfg.Waves), "wave"))
		return err
	}

	_, files, diags := o.plan.loadDiagnostics()
	out := newValidateJSON(files, diags)
	enc := json.NewEncoder(s.Out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write validate result: %w", err)
	}
	if !out.Valid {
		return &exitError{code: 1}
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// validateJSON is the output of validate -json. Its shape is versioned with
// plan.FormatVersion.
type validateJSON struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []diagnosticJSON `json:"diagnostics"`
}

type diagnosticJSON struct {
	Severity string       `json:"severity"` // "error" or "warning"
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail,omitempty"`
	Range    *rangeJSON   `json:"range,omitempty"`
	Snippet  *snippetJSON `json:"snippet,omitempty"`
}

type rangeJSON struct {
	Filename string  `json:"filename"`
	Start    posJSON `json:"start"`
	End      posJSON `json:"end"`
}

type posJSON struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// snippetJSON is the source a diagnostic points at: the whole lines of its
// range, and the block it is in.
type snippetJSON struct {
	Context   string `json:"context,omitempty"`
	Code      string `json:"code"`
	StartLine int    `json:"start_line"`
}

func newValidateJSON(files map[string]*hcl.File, diags hcl.Diagnostics) validateJSON {
	out := validateJSON{FormatVersion: plan.FormatVersion, Diagnostics: []diagnosticJSON{}}
	// Each file is split into lines once, not once per diagnostic.
	lines := map[string][][]byte{}
	for name, f := range files {
		if f != nil {
			lines[name] = bytes.Split(f.Bytes, []byte("\n"))
		}
	}
	for _, d := range diags {
		dj := diagnosticJSON{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			dj.Severity = "warning"
			out.WarningCount++
		} else {
			out.ErrorCount++
		}
		if r := d.Subject; r != nil {
			dj.Range = &rangeJSON{
				Filename: r.Filename,
				Start:    posJSON{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:      posJSON{r.End.Line, r.End.Column, r.End.Byte},
			}
			dj.Snippet = snippet(files[r.Filename], lines[r.Filename], *r)
		}
		out.Diagnostics = append(out.Diagnostics, dj)
	}
	out.Valid = out.ErrorCount == 0
	return out
}

func snippet(f *hcl.File, lines [][]byte, r hcl.Range) *snippetJSON {
	if f == nil || r.Start.Line < 1 {
		return nil
	}
	end := max(r.End.Line, r.Start.Line)
	if r.Start.Line > len(lines) || end > len(lines) {
		return nil
	}
	var code []string
	for _, l := range lines[r.Start.Line-1 : end] {
		code = append(code, strings.TrimSuffix(string(l), "\r"))
	}
	s := &snippetJSON{Code: strings.Join(code, "\n"), StartLine: r.Start.Line}
	if cs, ok := f.Nav.(interface{ ContextString(int) string }); ok {
		s.Context = cs.ContextString(r.Start.Byte)
	}
	return s
}
