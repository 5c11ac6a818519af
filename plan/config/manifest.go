package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// The install block names a manifest: the target revision's objects as the
// user's own tool rendered them (`istioctl manifest generate --set
// revision=R`, `helm template`), kept beside the plan. meshwave never
// renders charts; it applies what the file says.

// MaxManifestSize bounds the install's manifest. A revision with Istio's
// CRDs renders to about 1 MiB; a file many times that is not a manifest.
const MaxManifestSize = 32 << 20

// maxManifestObjects bounds the objects of one manifest.
const maxManifestObjects = 10000

// InstallConfig is the install block.
type InstallConfig struct {
	// Manifest is the path as the plan writes it; Path the file read: a
	// relative Manifest is relative to the directory of the plan file that
	// names it.
	Manifest string
	Path     string
	// Objects are the manifest's objects in the order it lists them.
	Objects []ManifestObject
	// DefRange is the block's; ManifestRange the manifest attribute's value.
	DefRange      hcl.Range
	ManifestRange hcl.Range
}

// ManifestObject is one object of a manifest, in plain types.
type ManifestObject struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Labels     map[string]string
	// JSON is the document as JSON, as the manifest wrote it.
	JSON []byte
	// Range is the document's first line in the manifest file.
	Range hcl.Range
}

// Group is the API group of the object's apiVersion ("" for the core group).
func (o ManifestObject) Group() string {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	return gv.Group
}

// String is "Kind namespace/name", or "Kind name" for a cluster-scoped object.
func (o ManifestObject) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

func (e *evaluator) decodeInstall(b *installBlock, up Upgrade) *InstallConfig {
	if lang, ok := flavors[up.Flavor]; ok {
		if summary, detail := lang.installProblem(); summary != "" {
			e.errorf(b.DefRange, summary, "%s", detail)
			return nil
		}
	}
	if !e.required(b.Manifest, "manifest", b.Body) {
		return nil
	}
	s, ok := e.str(b.Manifest)
	if !ok {
		return nil
	}
	rng := b.Manifest.Expr.Range()
	if strings.TrimSpace(s) == "" {
		e.errorf(rng, "Empty manifest path", "The install block's manifest must name the file that holds the target revision's objects, e.g. manifest = \"1-31.yaml\".")
		return nil
	}
	// A plan arrives in a pull request: the file it names is read and
	// shown, so it must be one of the plan's own, not any file of the
	// machine that runs it.
	if !filepath.IsLocal(s) {
		e.errorf(rng, "Manifest outside the plan's directory",
			"The install block's manifest must be a file in the plan's directory or below it, named by a relative path without \"..\" (%q is not): a plan may come from a pull request, and meshwave reads and shows what it names.", s)
		return nil
	}
	return &InstallConfig{Manifest: s, Path: filepath.Join(filepath.Dir(b.DefRange.Filename), s), DefRange: b.DefRange, ManifestRange: rng}
}

// manifestEscapes reports whether the manifest at path, within the plan's
// directory dir, is a symlink that leads out of it.
func manifestEscapes(dir, path string) bool {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false // reading it fails, and says why
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return true
	}
	rel, err := filepath.Rel(root, real)
	return err != nil || !filepath.IsLocal(rel)
}

// loadManifest reads and parses the install's manifest into in.Objects and
// returns its bytes (nil when it could not be read).
func (e *evaluator) loadManifest(in *InstallConfig, flavor Flavor, to string, readFile fileReader) []byte {
	if manifestEscapes(filepath.Dir(in.DefRange.Filename), in.Path) {
		e.errorf(in.ManifestRange, "Manifest outside the plan's directory",
			"%s is a symlink to a file outside the plan's directory: a plan may come from a pull request, and meshwave reads and shows what its manifest names.", in.Path)
		return nil
	}
	src, err := readFile(in.Path, MaxManifestSize)
	if err != nil {
		e.errorf(in.ManifestRange, "Failed to read manifest", "Cannot read %s: %s.", in.Path, err)
		return nil
	}
	objs, diags := ParseManifest(src, in.Path)
	e.diags = append(e.diags, diags...)
	if len(objs) == 0 && !diags.HasErrors() {
		example := "write the target revision's objects into it"
		if lang, ok := flavors[flavor]; ok {
			example = lang.manifestExample(to, in.Manifest)
		}
		e.errorf(in.ManifestRange, "Empty manifest", "%s holds no object: %s.", in.Path, example)
	}
	in.Objects = objs
	return src
}

// ParseManifest reads a multi-document YAML manifest into its objects. Each
// problem is located at its document's line in filename: a document that is
// not valid YAML, not an object, without apiVersion, kind or name, or the
// same object twice. Empty documents (only comments) are skipped.
func ParseManifest(src []byte, filename string) ([]ManifestObject, hcl.Diagnostics) {
	var objs []ManifestObject
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	for _, doc := range splitDocuments(src) {
		rng := doc.firstRange(filename)
		if len(objs) == maxManifestObjects {
			diags = append(diags, manifestError(rng, "Manifest too large",
				fmt.Sprintf("The manifest holds more than %d objects; a control plane is a few dozen.", maxManifestObjects)))
			break
		}
		o, d := parseDocument(doc, filename, rng)
		diags = append(diags, d...)
		if o == nil {
			continue
		}
		key := o.Group() + "/" + o.Kind + "/" + o.Namespace + "/" + o.Name
		if prev, dup := seen[key]; dup {
			diags = append(diags, manifestError(rng, "Duplicate object in manifest",
				fmt.Sprintf("%s is already in the manifest at line %d; each object may appear once.", o, prev.Start.Line)))
			continue
		}
		seen[key] = rng
		objs = append(objs, *o)
	}
	return objs, diags
}

// yamlDocument is one document of a multi-document YAML file.
type yamlDocument struct {
	src []byte
	// line is the line of src's first byte in the file (from 1), offset
	// its byte offset.
	line, offset int
}

// firstRange is the document's first line with content (not blank, not a
// comment) as a range of filename; its first line when it has none.
func (d yamlDocument) firstRange(filename string) hcl.Range {
	line, off := d.line, d.offset
	for rest := d.src; len(rest) > 0; {
		text, next, _ := bytes.Cut(rest, []byte("\n"))
		t := bytes.TrimSpace(text)
		if len(t) > 0 && t[0] != '#' {
			n := len(bytes.TrimRight(text, "\r"))
			return hcl.Range{Filename: filename, Start: hcl.Pos{Line: line, Column: 1, Byte: off},
				End: hcl.Pos{Line: line, Column: n + 1, Byte: off + n}}
		}
		line, off, rest = line+1, off+len(text)+1, next
	}
	return hcl.Range{Filename: filename, Start: hcl.Pos{Line: d.line, Column: 1, Byte: d.offset},
		End: hcl.Pos{Line: d.line, Column: 1, Byte: d.offset}}
}

// lineRange is the document's nth line (from 1) as a range of filename;
// its last line when it has fewer.
func (d yamlDocument) lineRange(filename string, n int) hcl.Range {
	line, off, rest := d.line, d.offset, d.src
	for ; n > 1; n-- {
		text, next, found := bytes.Cut(rest, []byte("\n"))
		if !found {
			break
		}
		line, off, rest = line+1, off+len(text)+1, next
	}
	text, _, _ := bytes.Cut(rest, []byte("\n"))
	w := len(bytes.TrimRight(text, "\r"))
	return hcl.Range{Filename: filename, Start: hcl.Pos{Line: line, Column: 1, Byte: off}, End: hcl.Pos{Line: line, Column: w + 1, Byte: off + w}}
}

// empty reports whether the document holds only blank lines and comments.
func (d yamlDocument) empty() bool {
	for _, l := range bytes.Split(d.src, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

// splitDocuments cuts src at its document separators: lines that are "---",
// alone or followed by a space and a comment. Empty documents are dropped.
func splitDocuments(src []byte) []yamlDocument {
	var docs []yamlDocument
	cur := yamlDocument{line: 1}
	line, off := 1, 0
	for rest := src; len(rest) > 0; {
		text, next, found := bytes.Cut(rest, []byte("\n"))
		n := len(text)
		if found {
			n++
		}
		if isSeparator(text) {
			cur.src = src[cur.offset:off]
			docs = append(docs, cur)
			cur = yamlDocument{line: line + 1, offset: off + n}
		}
		line, off, rest = line+1, off+n, next
	}
	cur.src = src[min(cur.offset, len(src)):]
	docs = append(docs, cur)
	out := docs[:0]
	for _, d := range docs {
		if !d.empty() {
			out = append(out, d)
		}
	}
	return out
}

func isSeparator(line []byte) bool {
	t := bytes.TrimRight(line, " \t\r")
	if !bytes.HasPrefix(t, []byte("---")) {
		return false
	}
	rest := t[3:]
	return len(rest) == 0 || ((rest[0] == ' ' || rest[0] == '\t') && bytes.HasPrefix(bytes.TrimSpace(rest), []byte("#")))
}

// yamlLine finds the line a YAML parser's error names, counted from the
// document's first line.
var yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): `)

// parseDocument reads one document into an object; nil for a document that
// holds only null.
func parseDocument(doc yamlDocument, filename string, rng hcl.Range) (*ManifestObject, hcl.Diagnostics) {
	j, err := yaml.YAMLToJSON(doc.src)
	if err != nil {
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			rng = doc.lineRange(filename, n)
			msg = msg[len(m[0]):]
		}
		msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
		return nil, hcl.Diagnostics{manifestError(rng, "Invalid YAML in manifest",
			fmt.Sprintf("The document starting at line %d is not valid YAML: %s.", doc.line, msg))}
	}
	if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, nil
	}
	var header struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if j[0] != '{' {
		return nil, hcl.Diagnostics{manifestError(rng, "Manifest document is not an object",
			"Each document of a manifest is one Kubernetes object (a mapping with apiVersion, kind and metadata).")}
	}
	if err := json.Unmarshal(j, &header); err != nil {
		return nil, hcl.Diagnostics{manifestError(rng, "Invalid object in manifest",
			fmt.Sprintf("The object's apiVersion, kind or metadata cannot be read: %s.", err))}
	}
	md := header.Metadata
	switch {
	case header.Kind == "" || header.APIVersion == "":
		return nil, hcl.Diagnostics{manifestError(rng, "Manifest object without kind",
			"Each object of a manifest names its apiVersion and kind, e.g. apiVersion: apps/v1 and kind: Deployment.")}
	case header.Kind == "List" || strings.HasSuffix(header.Kind, "List"):
		return nil, hcl.Diagnostics{manifestError(rng, "List in manifest",
			fmt.Sprintf("A %s is a list of objects, not an object; write each of its items as a document of its own.", header.Kind))}
	case md.Name == "":
		return nil, hcl.Diagnostics{manifestError(rng, "Manifest object without name",
			fmt.Sprintf("The %s has no metadata.name; meshwave applies objects by name, so it records what it created and removes exactly that on rollback.", header.Kind))}
	}
	if _, err := schema.ParseGroupVersion(header.APIVersion); err != nil {
		return nil, hcl.Diagnostics{manifestError(rng, "Invalid apiVersion in manifest",
			fmt.Sprintf("%q is not an API version: %s.", header.APIVersion, err))}
	}
	return &ManifestObject{APIVersion: header.APIVersion, Kind: header.Kind, Namespace: md.Namespace, Name: md.Name,
		Labels: md.Labels, JSON: j, Range: rng}, nil
}

func manifestError(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}
