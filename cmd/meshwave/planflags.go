package main

import (
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/pflag"

	"github.com/meshwave/meshwave/cmd/meshwave/views"
	"github.com/meshwave/meshwave/plan"
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
		"plan file to read (repeatable); default: every *"+plan.FileSuffix+" file in the working directory")
	fs.StringArrayVar(&f.vars, "var", nil,
		"set a plan variable, NAME=VALUE (repeatable; later wins)")
	fs.StringArrayVar(&f.varFiles, "var-file", nil,
		"read plan variables from an HCL file of NAME = VALUE lines (repeatable)")
}

// loadDiagnostics loads the plan and returns every problem as a diagnostic,
// including not finding any plan file, so that JSON output can carry them.
func (f *planFlags) loadDiagnostics() (*plan.Config, map[string]*hcl.File, hcl.Diagnostics) {
	files := f.files
	if len(files) == 0 {
		found, err := plan.FindFiles(".")
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
				Detail:   fmt.Sprintf("There is no *%s file in the working directory. Pass one with -f FILE.", plan.FileSuffix),
			}}
		}
		files = found
	}
	environ := f.environ
	if environ == nil {
		environ = os.Environ()
	}
	return plan.Load(files, plan.VarInput{Vars: f.vars, VarFiles: f.varFiles, Environ: environ})
}

// load loads the plan and prints its diagnostics to s.Err. Warnings do not
// stop the command; errors do, with exit code 1.
func (f *planFlags) load(s streams) (*plan.Config, error) {
	cfg, files, diags := f.loadDiagnostics()
	if err := writeDiagnostics(s.Err, files, diags); err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, &exitError{code: 1}
	}
	return cfg, nil
}

// writeDiagnostics prints diagnostics with source snippets, in color and
// wrapped only when w is a terminal that allows color.
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	if len(diags) == 0 {
		return nil
	}
	color, width := false, uint(0)
	if f, ok := w.(*os.File); ok && views.ColorEnabled(f, nil) {
		color, width = true, 100
	}
	if err := hcl.NewDiagnosticTextWriter(w, files, width, color).WriteDiagnostics(diags); err != nil {
		return fmt.Errorf("write diagnostics: %w", err)
	}
	return nil
}
