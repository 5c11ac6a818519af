package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/pflag"

	"github.com/meshwave/meshwave/cmd/meshwave/views"
	"github.com/meshwave/meshwave/plan/config"
)

// planFlags are the flags of every command that reads a plan: which files,
// and the values of its variables.
type planFlags struct {
	files    []string
	vars     []string
	varFiles []string
	// environ lists the environment the MESHWAVE_VAR_* values come from;
	// nil means the process's.
	environ []string
}

func (f *planFlags) register(fs *pflag.FlagSet) {
	// StringArray, not StringSlice: a value such as namespaces=["a","b"]
	// contains commas that must not split it.
	fs.StringArrayVarP(&f.files, "file", "f", nil,
		"plan file to read (repeatable); default: every *"+config.FileSuffix+" file in the working directory")
	fs.StringArrayVar(&f.vars, "var", nil,
		"set a plan variable, NAME=VALUE (repeatable; later wins)")
	fs.StringArrayVar(&f.varFiles, "var-file", nil,
		"read plan variables from an HCL file of NAME = VALUE lines (repeatable)")
}

// loadDiagnostics loads the plan and returns every problem as a diagnostic,
// including not finding any plan file, so that JSON output can carry them.
func (f *planFlags) loadDiagnostics() (*config.Config, map[string]*hcl.File, hcl.Diagnostics) {
	files := f.files
	if len(files) == 0 {
		found, err := config.FindFiles(".")
		if err != nil {
			return nil, map[string]*hcl.File{}, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Failed to find plan files",
				Detail:   err.Error() + ".",
			}}
		}
		if len(found) == 0 {
			return nil, map[string]*hcl.File{}, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "No plan files",
				Detail:   fmt.Sprintf("There is no *%s file in the working directory. Pass one with -f FILE.", config.FileSuffix),
			}}
		}
		files = found
	}
	environ := f.environ
	if environ == nil {
		environ = os.Environ()
	}
	return config.Load(files, config.VarInput{Vars: f.vars, VarFiles: f.varFiles, Environ: environ})
}

// load loads the plan and prints its diagnostics to s.Err. Warnings do not
// stop the command; errors do, with exit code 1.
func (f *planFlags) load(s streams) (*config.Config, error) {
	cfg, files, diags := f.loadDiagnostics()
	if err := writeDiagnostics(s.Err, files, diags); err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, &exitError{code: 1}
	}
	return cfg, nil
}

// maxShownDiagnostics bounds the diagnostics printed as text: a generated
// plan can have thousands of errors, nobody reads past the first ones, and
// each snippet costs a scan of its file.
const maxShownDiagnostics = 100

// writeDiagnostics prints diagnostics with source snippets, in color and
// wrapped only when w is a terminal that allows color. Past
// maxShownDiagnostics it only counts what it did not print.
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	if len(diags) == 0 {
		return nil
	}
	color, width := false, uint(0)
	if f, ok := w.(*os.File); ok && views.ColorEnabled(f, nil) {
		color, width = true, 100
	}
	shown := diags
	if len(shown) > maxShownDiagnostics {
		shown = shown[:maxShownDiagnostics]
	}
	for _, d := range shown {
		d, window := snippetWindow(d, files)
		if err := hcl.NewDiagnosticTextWriter(w, window, width, color).WriteDiagnostic(d); err != nil {
			return fmt.Errorf("write diagnostics: %w", err)
		}
	}
	if rest := diags[len(shown):]; len(rest) > 0 {
		errs := len(rest.Errs())
		if _, err := fmt.Fprintf(w, "... and %d more diagnostics (%d errors, %d warnings) not shown.\n", len(rest), errs, len(rest)-errs); err != nil {
			return fmt.Errorf("write diagnostics: %w", err)
		}
	}
	return nil
}

// snippetWindow returns d, and files reduced to the lines d's snippet shows,
// ready to print: lines before the snippet become empty, lines after it are
// dropped, so printing one diagnostic does not scan its whole file; and
// every text taken from the plan (summary, detail, file name, the snippet,
// the "in wave ..." context) is views.Printable, with byte offsets moved to
// match. Without a usable source range there is no snippet.
func snippetWindow(d *hcl.Diagnostic, files map[string]*hcl.File) (*hcl.Diagnostic, map[string]*hcl.File) {
	moved := *d
	moved.Summary, moved.Detail = views.Printable(d.Summary), views.Printable(d.Detail)
	moved.Subject, moved.Context = printableName(d.Subject), printableName(d.Context)
	if d.Subject == nil || files[d.Subject.Filename] == nil {
		return &moved, nil
	}
	f := files[d.Subject.Filename]
	src := f.Bytes
	snip := *d.Subject
	ranges := []*hcl.Range{d.Subject}
	if d.Context != nil && d.Context.Filename == snip.Filename {
		snip = hcl.RangeOver(snip, *d.Context)
		ranges = append(ranges, d.Context)
	}
	if snip.Start.Byte < 0 || snip.End.Byte > len(src) || snip.Start.Byte > snip.End.Byte || snip.Start.Line < 1 {
		return &moved, nil
	}
	from := bytes.LastIndexByte(src[:snip.Start.Byte], '\n') + 1
	to := len(src)
	if i := bytes.IndexByte(src[snip.End.Byte:], '\n'); i >= 0 {
		to = snip.End.Byte + i
	}
	// The window is the snippet's lines, cut at every offset a range needs
	// and made printable piece by piece, so each offset can be moved to
	// where its byte now is.
	var cuts []int
	for _, r := range ranges {
		cuts = append(cuts, r.Start.Byte, r.End.Byte)
	}
	slices.Sort(cuts)
	window := bytes.Repeat([]byte{'\n'}, snip.Start.Line-1)
	moves := map[int]int{}
	at := from
	for _, c := range slices.Compact(cuts) {
		window = append(window, views.Printable(string(src[at:c]))...)
		moves[c], at = len(window), c
	}
	window = append(window, views.Printable(string(src[at:to]))...)
	moved.Subject = movedRange(moved.Subject, moves)
	if len(ranges) > 1 {
		moved.Context = movedRange(moved.Context, moves)
	}
	nav := fixedContext("")
	if cs, ok := f.Nav.(interface{ ContextString(int) string }); ok {
		nav = fixedContext(views.Printable(cs.ContextString(d.Subject.Start.Byte)))
	}
	return &moved, map[string]*hcl.File{moved.Subject.Filename: {Bytes: window, Nav: nav}}
}

func printableName(r *hcl.Range) *hcl.Range {
	if r == nil {
		return nil
	}
	c := *r
	c.Filename = views.Printable(r.Filename)
	return &c
}

func movedRange(r *hcl.Range, moves map[int]int) *hcl.Range {
	c := *r
	c.Start.Byte, c.End.Byte = moves[r.Start.Byte], moves[r.End.Byte]
	return &c
}

// fixedContext answers the "in wave ..." context of the one diagnostic a
// window is made for.
type fixedContext string

func (c fixedContext) ContextString(int) string { return string(c) }
