package config

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/meshwave/meshwave/internal/safefile"
)

// FileSuffix is how a plan file's name ends. A directory's plan is every
// such file in it, read in name order.
const FileSuffix = ".mw.hcl"

// MaxFileSize bounds a plan or var file. A plan arrives in pull requests and
// runs in CI, so it is untrusted input; a hand-written plan is a few KiB,
// and a generated one of tens of thousands of waves still fits.
const MaxFileSize = 2 << 20

// VarEnvPrefix prefixes environment variables that set plan variables:
// MESHWAVE_VAR_canary=demo-a sets var.canary.
const VarEnvPrefix = "MESHWAVE_VAR_"

// VarInput is where variable values come from besides their defaults, in
// increasing precedence: Environ (MESHWAVE_VAR_NAME=VALUE entries), the
// VarFiles in order, then the Vars (NAME=VALUE, as given with -var) in order.
type VarInput struct {
	Vars     []string
	VarFiles []string
	// Environ is an os.Environ-like list; entries without the
	// MESHWAVE_VAR_ prefix are ignored.
	Environ []string
}

// FindFiles returns the plan files (*.mw.hcl) directly inside dir, sorted by
// name. Finding none is not an error; the caller decides what that means.
//
// A file found here is treated as if it were given with -f: a symlink is
// followed, and an entry that is not a regular file (a FIFO, a dangling
// link) is returned too, so that Load says what is wrong with it instead of
// the plan silently losing a file. Only directories are passed over.
func FindFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("find plan files: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), FileSuffix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if e.IsDir() {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				continue
			}
		}
		files = append(files, path)
	}
	sort.Strings(files)
	return files, nil
}

// Load reads, decodes and checks the plan made of files. It returns the
// parsed files (for hcl.NewDiagnosticTextWriter snippets, including var
// files) and every problem found, sorted by position. The Config is nil when
// any diagnostic is an error.
func Load(files []string, vars VarInput) (*Config, map[string]*hcl.File, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var srcs []planSource
	seen := map[string]bool{}
	for _, name := range files {
		if seen[filepath.Clean(name)] {
			continue // the same file twice is still one plan file
		}
		seen[filepath.Clean(name)] = true
		b, err := safefile.ReadFile(name, MaxFileSize)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Failed to read plan file",
				Detail:   fmt.Sprintf("Cannot read %s: %s.", name, err),
			})
			continue
		}
		srcs = append(srcs, planSource{name: name, src: b})
	}
	if diags.HasErrors() {
		return nil, map[string]*hcl.File{}, diags
	}
	return loadSources(srcs, vars, safefile.ReadFile)
}

// fileReader reads a file the plan names (a var file, a manifest), refusing
// one larger than limit bytes.
type fileReader func(name string, limit int64) ([]byte, error)

// planSource is one plan file's name and bytes.
type planSource struct {
	name string
	src  []byte
}

// parseSources parses every plan file, after checking it stays within the
// bounds an untrusted plan must keep.
func parseSources(parser *hclparse.Parser, srcs []planSource) ([]*hcl.File, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var bodies []*hcl.File
	for _, s := range srcs {
		if d := InputBounds(s.src, s.name); d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		f, d := parser.ParseHCL(s.src, s.name)
		diags = append(diags, d...)
		if f != nil {
			if body, ok := f.Body.(*hclsyntax.Body); ok && !d.HasErrors() {
				diags = append(diags, validateNumberLiterals(body)...)
			}
			bodies = append(bodies, f)
		}
	}
	return bodies, diags
}

// loadSources is Load without touching the file system for the plan files;
// readFile reads var files and the install's manifest.
func loadSources(srcs []planSource, vars VarInput, readFile fileReader) (*Config, map[string]*hcl.File, hcl.Diagnostics) {
	parser := hclparse.NewParser()
	var diags hcl.Diagnostics
	if len(srcs) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No plan files",
			Detail:   "A plan needs at least one " + FileSuffix + " file. Pass one with -f FILE, or run in a directory that has some.",
		})
		return nil, parser.Files(), diags
	}

	bodies, diags := parseSources(parser, srcs)
	if diags.HasErrors() {
		// A syntax error makes everything after it guesswork; report
		// only what the parser found.
		return nil, parser.Files(), sortDiagnostics(diags)
	}

	var root rootSchema
	rootDiags := gohcl.DecodeBody(hcl.MergeFiles(bodies), nil, &root)
	diags = append(diags, rootDiags...)
	if len(root.Waves) == 0 && !rootDiags.HasErrors() {
		// With structural errors a wave may exist and have been
		// dropped; the warning would only add noise then.
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "No waves",
			Detail:   "The plan has no wave block, so no namespace moves to the new revision; only gateways and finalize run.",
		})
	}

	ev := newEvaluator()
	values, d := ev.declareVariables(root.Variables, vars, parser, readFile)
	diags = append(diags, d...)
	diags = append(diags, ev.resolveLocals(root.Locals)...)

	cfg, d := ev.decodeConfig(&root)
	diags = append(diags, d...)
	var manifest []byte
	if cfg.Install != nil && !ev.diags.HasErrors() {
		manifest = ev.loadManifest(cfg.Install, cfg.Upgrade.Flavor, cfg.Upgrade.To, readFile)
	}
	diags = append(diags, ev.diags...)
	ev.showValues(diags)
	diags = sortDiagnostics(diags)
	files := parser.Files()
	if manifest != nil {
		// Its diagnostics show their lines, as a plan file's do.
		files[cfg.Install.Path] = &hcl.File{Bytes: manifest}
		// The manifest is part of the plan: another manifest is another plan.
		srcs = append(slices.Clip(srcs), planSource{name: cfg.Install.Path, src: manifest})
	}
	if diags.HasErrors() {
		return nil, files, diags
	}
	cfg.SourceHash = sourceHash(srcs, values)
	return cfg, files, diags
}

// rootSchema is the top level of a plan file. Every attribute is kept as an
// *hcl.Attribute and evaluated by the evaluator, so that all values get the
// same checks and the same wording in diagnostics.
type rootSchema struct {
	Variables []*variableBlock `hcl:"variable,block"`
	Locals    []*localsBlock   `hcl:"locals,block"`
	Upgrades  []*upgradeBlock  `hcl:"upgrade,block"`
	Tags      []*tagBlock      `hcl:"tag,block"`
	Gateways  []*gatewayBlock  `hcl:"gateway,block"`
	Waves     []*waveBlock     `hcl:"wave,block"`
	Rollbacks []*rollbackBlock `hcl:"rollback,block"`
	Finalizes []*finalizeBlock `hcl:"finalize,block"`
	Installs  []*installBlock  `hcl:"install,block"`
	States    []*stateBlock    `hcl:"state,block"`
}

type variableBlock struct {
	Name        string         `hcl:"name,label"`
	Type        *hcl.Attribute `hcl:"type,attr"`
	Default     *hcl.Attribute `hcl:"default,attr"`
	Description *hcl.Attribute `hcl:"description,attr"`
	DefRange    hcl.Range      `hcl:",def_range"`
	LabelRange  hcl.Range      `hcl:"name,label_range"`
}

type localsBlock struct {
	Attrs hcl.Attributes `hcl:",remain"`
}

type upgradeBlock struct {
	From     *hcl.Attribute `hcl:"from,attr"`
	To       *hcl.Attribute `hcl:"to,attr"`
	Flavor   *hcl.Attribute `hcl:"flavor,attr"`
	Body     hcl.Body       `hcl:",body"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type tagBlock struct {
	Name       string    `hcl:"name,label"`
	DefRange   hcl.Range `hcl:",def_range"`
	LabelRange hcl.Range `hcl:"name,label_range"`
}

type gatewayBlock struct {
	Name       string         `hcl:"name,label"`
	Namespace  *hcl.Attribute `hcl:"namespace,attr"`
	DefRange   hcl.Range      `hcl:",def_range"`
	LabelRange hcl.Range      `hcl:"name,label_range"`
}

type waveBlock struct {
	Name         string             `hcl:"name,label"`
	Namespaces   *hcl.Attribute     `hcl:"namespaces,attr"`
	Selector     *hcl.Attribute     `hcl:"selector,attr"`
	Exclude      *hcl.Attribute     `hcl:"exclude,attr"`
	MaxParallel  *hcl.Attribute     `hcl:"max_parallel,attr"`
	Timeout      *hcl.Attribute     `hcl:"timeout,attr"`
	RollOnDelete *hcl.Attribute     `hcl:"roll_on_delete,attr"`
	Pause        *hcl.Attribute     `hcl:"pause,attr"`
	Approval     *hcl.Attribute     `hcl:"approval,attr"`
	HTTP         []*httpBlock       `hcl:"http,block"`
	Prometheus   []*prometheusBlock `hcl:"prometheus,block"`
	Command      []*commandBlock    `hcl:"command,block"`
	DefRange     hcl.Range          `hcl:",def_range"`
	LabelRange   hcl.Range          `hcl:"name,label_range"`
}

type httpBlock struct {
	URL          *hcl.Attribute `hcl:"url,attr"`
	ExpectStatus *hcl.Attribute `hcl:"expect_status,attr"`
	BodyContains *hcl.Attribute `hcl:"body_contains,attr"`
	Retries      *hcl.Attribute `hcl:"retries,attr"`
	Interval     *hcl.Attribute `hcl:"interval,attr"`
	Timeout      *hcl.Attribute `hcl:"timeout,attr"`
	Body         hcl.Body       `hcl:",body"`
	DefRange     hcl.Range      `hcl:",def_range"`
}

type prometheusBlock struct {
	URL      *hcl.Attribute `hcl:"url,attr"`
	Query    *hcl.Attribute `hcl:"query,attr"`
	Max      *hcl.Attribute `hcl:"max,attr"`
	Min      *hcl.Attribute `hcl:"min,attr"`
	Body     hcl.Body       `hcl:",body"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type commandBlock struct {
	Argv     *hcl.Attribute `hcl:"argv,attr"`
	Timeout  *hcl.Attribute `hcl:"timeout,attr"`
	Body     hcl.Body       `hcl:",body"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type rollbackBlock struct {
	Automatic *hcl.Attribute `hcl:"automatic,attr"`
	Body      hcl.Body       `hcl:",body"`
	DefRange  hcl.Range      `hcl:",def_range"`
}

type installBlock struct {
	Manifest *hcl.Attribute `hcl:"manifest,attr"`
	Body     hcl.Body       `hcl:",body"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type finalizeBlock struct {
	UninstallOld *hcl.Attribute `hcl:"uninstall_old,attr"`
	Body         hcl.Body       `hcl:",body"`
	DefRange     hcl.Range      `hcl:",def_range"`
}

type stateBlock struct {
	Backend   *hcl.Attribute `hcl:"backend,attr"`
	Path      *hcl.Attribute `hcl:"path,attr"`
	Namespace *hcl.Attribute `hcl:"namespace,attr"`
	Name      *hcl.Attribute `hcl:"name,attr"`
	Body      hcl.Body       `hcl:",body"`
	DefRange  hcl.Range      `hcl:",def_range"`
}

// sortDiagnostics orders diagnostics by file and position, those without a
// position first, so output is stable and reads top to bottom.
func sortDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	out := slices.Clone(diags)
	slices.SortStableFunc(out, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil && b.Subject == nil:
			return 0
		case a.Subject == nil:
			return -1
		case b.Subject == nil:
			return 1
		}
		return cmp.Or(
			strings.Compare(a.Subject.Filename, b.Subject.Filename),
			cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte),
		)
	})
	return out
}

// sourceHash fingerprints a plan: its files' bytes in load order, then every
// variable's resolved value (with its type) in name order. Each part is
// length-prefixed so that moving bytes between parts changes the hash.
func sourceHash(srcs []planSource, values map[string]cty.Value) string {
	h := sha256.New()
	part := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, s := range srcs {
		part(s.src)
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		part([]byte(n))
		b, err := ctyjson.Marshal(values[n], cty.DynamicPseudoType)
		if err != nil {
			// Only values that are unknown fail to marshal, and a plan
			// with such values has errors and no hash.
			b = []byte(values[n].GoString())
		}
		part(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
