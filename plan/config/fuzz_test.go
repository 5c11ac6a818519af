package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// FuzzLoad feeds arbitrary plan source (and one -var option) to the loader.
// It must never panic, and must return a config exactly when there are no
// errors. Seeds are the examples and the invalid golden plans.
//
//	go test -run '^$' -fuzz FuzzLoad -fuzztime 60s ./plan/config
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../../examples/*/*.mw.hcl")
	invalid, _ := filepath.Glob("testdata/invalid/*.mw.hcl")
	for _, p := range append(seeds, invalid...) {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, "")
		f.Add(src, "to=1-28")
	}
	noFiles := func(string, int64) ([]byte, error) { return nil, errors.New("no files while fuzzing") }
	f.Fuzz(func(t *testing.T, src []byte, varOpt string) {
		in := VarInput{Environ: []string{VarEnvPrefix + "to=1-29"}}
		if varOpt != "" {
			in.Vars = []string{varOpt}
		}
		cfg, files, diags := loadSources([]planSource{{name: "fuzz.mw.hcl", src: src}}, in, noFiles)
		if diags.HasErrors() != (cfg == nil) {
			t.Fatalf("errors: %v, config: %v; want a config exactly when there are no errors", diags.HasErrors(), cfg != nil)
		}
		if cfg != nil && len(cfg.SourceHash) != 64 {
			t.Fatalf("SourceHash = %q", cfg.SourceHash)
		}
		// Rendering with snippets must work for whatever ranges came back.
		if err := hcl.NewDiagnosticTextWriter(io.Discard, files, 78, true).WriteDiagnostics(diags); err != nil {
			t.Fatal(err)
		}
	})
}
