package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aymanbagabas/go-udiff"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"

	"github.com/meshwave/meshwave/internal/safefile"
	"github.com/meshwave/meshwave/plan/config"
)

// varFileSuffix is the conventional ending of a var file; fmt formats those
// too when it looks through a directory.
const varFileSuffix = ".mwvars.hcl"

// exitUnformatted is fmt -check's exit status when a file needs formatting,
// distinct from 1 (a file could not be read or parsed), as in terraform fmt.
const exitUnformatted = 3

type fmtOptions struct {
	check bool
	diff  bool
}

func newFmtCommand(s streams) *cobra.Command {
	o := &fmtOptions{}
	cmd := &cobra.Command{
		Use:   "fmt [FILE|DIR|-]...",
		Short: "Rewrite plan files in the canonical format",
		Long: `Fmt rewrites plan files (*.mw.hcl) and var files (*.mwvars.hcl) in the canonical
HCL layout: two-space indents, aligned equals signs. With no argument it formats
the files in the working directory; a directory argument means its files; "-"
formats standard input to standard output. Formatting never changes meaning.

Exit status: 0 when done (or, with -check, when every file is formatted), 3 when
-check finds a file that needs formatting, 1 when a file cannot be read or
parsed.`,
		Example: `  meshwave fmt
  meshwave fmt -check -diff examples/backyards-1.6-to-1.7`,
		RunE: func(_ *cobra.Command, args []string) error { return o.run(s, args) },
	}
	cmd.Flags().BoolVar(&o.check, "check", false, "only check: list files that need formatting and exit 3 if any, change nothing")
	cmd.Flags().BoolVar(&o.diff, "diff", false, "print the changes as a unified diff")
	return cmd
}

func (o *fmtOptions) run(s streams, args []string) error {
	if len(args) == 1 && args[0] == "-" {
		return o.stdin(s)
	}
	files, err := fmtTargets(args)
	if err != nil {
		return err
	}
	unformatted, failed := 0, false
	for _, name := range files {
		changed, err := o.file(s, name)
		if err != nil {
			var ee *exitError
			if !errors.As(err, &ee) {
				return err
			}
			failed = true
			continue
		}
		if changed {
			unformatted++
		}
	}
	switch {
	case failed:
		return &exitError{code: 1}
	case o.check && unformatted > 0:
		return &exitError{code: exitUnformatted}
	}
	return nil
}

// fmtTargets expands the arguments into files; no argument means the
// working directory.
func fmtTargets(args []string) ([]string, error) {
	if len(args) == 0 {
		args = []string{"."}
	}
	var files []string
	for _, a := range args {
		if a == "-" {
			return nil, fmt.Errorf(`"-" (standard input) cannot be combined with other arguments`)
		}
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("fmt: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("fmt: %w", err)
		}
		var inDir []string
		for _, e := range entries {
			n := e.Name()
			if e.Type().IsRegular() && (strings.HasSuffix(n, config.FileSuffix) || strings.HasSuffix(n, varFileSuffix)) {
				inDir = append(inDir, filepath.Join(a, n))
			}
		}
		sort.Strings(inDir)
		files = append(files, inDir...)
	}
	return files, nil
}

// format returns src in canonical form, or the syntax errors that prevent
// formatting it (with the parsed file, for snippets).
func format(src []byte, name string) ([]byte, map[string]*hcl.File, hcl.Diagnostics) {
	if diags := config.InputBounds(src, name); diags.HasErrors() {
		return nil, map[string]*hcl.File{}, diags
	}
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, map[string]*hcl.File{name: f}, diags
	}
	return hclwrite.Format(src), nil, nil
}

// file formats one file and reports whether it was (or, with -check, would
// be) changed.
func (o *fmtOptions) file(s streams, name string) (bool, error) {
	src, err := safefile.ReadFile(name, config.MaxFileSize)
	if err != nil {
		return false, fmt.Errorf("fmt: %w", err)
	}
	out, files, diags := format(src, name)
	if diags.HasErrors() {
		if err := writeDiagnostics(s.Err, files, diags); err != nil {
			return false, err
		}
		return false, &exitError{code: 1}
	}
	if bytes.Equal(src, out) {
		return false, nil
	}
	if _, err := fmt.Fprintln(s.Out, name); err != nil {
		return true, err
	}
	if o.diff {
		if err := writeUnifiedDiff(s.Out, name, src, out); err != nil {
			return true, err
		}
	}
	if !o.check {
		fi, err := os.Stat(name)
		if err != nil {
			return true, fmt.Errorf("fmt: %w", err)
		}
		// Replace the file only while it is what was formatted.
		unchanged := func(existing []byte) error {
			if !bytes.Equal(existing, src) {
				return errors.New("it changed while fmt was formatting it")
			}
			return nil
		}
		if err := safefile.WriteFile(name, out, fi.Mode().Perm(), unchanged); err != nil {
			return true, fmt.Errorf("fmt: write %s: %w", name, err)
		}
	}
	return true, nil
}

func (o *fmtOptions) stdin(s streams) error {
	src, err := io.ReadAll(io.LimitReader(s.In, config.MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("fmt: read standard input: %w", err)
	}
	if len(src) > config.MaxFileSize {
		return fmt.Errorf("fmt: standard input is larger than the limit of %d MiB for a plan file", config.MaxFileSize>>20)
	}
	out, files, diags := format(src, "<stdin>")
	if diags.HasErrors() {
		if err := writeDiagnostics(s.Err, files, diags); err != nil {
			return err
		}
		return &exitError{code: 1}
	}
	switch {
	case o.diff:
		err = writeUnifiedDiff(s.Out, "<stdin>", src, out)
	case !o.check:
		_, err = s.Out.Write(out)
	}
	if err != nil {
		return err
	}
	if o.check && !bytes.Equal(src, out) {
		return &exitError{code: exitUnformatted}
	}
	return nil
}

// writeUnifiedDiff prints the line changes from a to b as a unified diff
// with three lines of context. The diff itself is Myers' algorithm with a
// bounded search (memory linear in the files' size and bounded time, so a file
// of any size the loader accepts diffs; past a few dozen separate changes the
// diff may be longer than the shortest one, never wrong); the layout is kept
// as meshwave has always printed it: both counts in every hunk header (GNU
// diff leaves out a count of one).
func writeUnifiedDiff(w io.Writer, name string, a, b []byte) error {
	old := string(a)
	d, err := udiff.ToUnifiedDiff("old/"+name, "new/"+name, old, udiff.Lines(old, string(b)), udiff.DefaultContextLines)
	if err != nil {
		return fmt.Errorf("fmt: diff %s: %w", name, err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "--- %s\n+++ %s\n", d.From, d.To)
	for _, h := range d.Hunks {
		aLen, bLen := 0, 0
		for _, l := range h.Lines {
			if l.Kind != udiff.Insert {
				aLen++
			}
			if l.Kind != udiff.Delete {
				bLen++
			}
		}
		fmt.Fprintf(&buf, "@@ -%s +%s @@\n", hunkRange(h.FromLine, aLen), hunkRange(h.ToLine, bLen))
		for _, l := range h.Lines {
			buf.WriteByte(diffMarks[l.Kind])
			buf.WriteString(l.Content)
			if !strings.HasSuffix(l.Content, "\n") {
				buf.WriteString("\n\\ No newline at end of file\n")
			}
		}
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// diffMarks starts each line of a hunk.
var diffMarks = map[udiff.OpKind]byte{udiff.Equal: ' ', udiff.Delete: '-', udiff.Insert: '+'}

// hunkRange is one side of a hunk header: the 1-based first line and the
// count, or for an empty side the line it follows (0 at the top of the
// file), as diff -u writes it.
func hunkRange(first, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", first-1)
	}
	return fmt.Sprintf("%d,%d", first, n)
}
