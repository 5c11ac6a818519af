package generate

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// maxInlineList is the longest list of namespaces written on one line;
// longer lists get a line per namespace, so a review diff shows each.
const maxInlineList = 3

// hcl writes the draft as a plan file, in the layout `meshwave fmt` gives
// it: blocks in the order they run, each after its comment.
func (d *draft) hcl() []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	comment(b, d.header...)
	if len(d.unplaced) > 0 {
		b.AppendNewline()
		comment(b, "Not placed in the plan (move these yourself):")
		for _, l := range d.unplaced {
			comment(b, "  "+l)
		}
	}

	b.AppendNewline()
	up := b.AppendNewBlock("upgrade", nil).Body()
	up.SetAttributeValue("from", cty.StringVal(d.from))
	up.SetAttributeValue("to", cty.StringVal(d.to))
	up.SetAttributeValue("flavor", cty.StringVal(string(d.flavor)))

	if len(d.tags) > 0 {
		b.AppendNewline()
		comment(b, fmt.Sprintf("The revision tags on %s move to %s first: the namespaces that follow them", d.source, d.to),
			"then need no relabel, only a restart.")
		for _, t := range d.tags {
			emptyBlock(b, "tag", t)
		}
	}

	for i, g := range d.gateways {
		b.AppendNewline()
		if i == 0 {
			comment(b, fmt.Sprintf("The gateways on %s move before any namespace.", d.source))
		}
		gb := b.AppendNewBlock("gateway", []string{g.Name}).Body()
		gb.SetAttributeValue("namespace", cty.StringVal(g.Namespace))
	}

	if len(d.waves) == 0 {
		b.AppendNewline()
		comment(b, fmt.Sprintf("No namespace uses %s: the plan has no wave.", d.source))
	}
	for _, w := range d.waves {
		b.AppendNewline()
		comment(b, w.about...)
		wb := b.AppendNewBlock("wave", []string{w.name}).Body()
		wb.SetAttributeRaw("namespaces", stringList(w.namespaces))
		if w.approval {
			wb.SetAttributeValue("approval", cty.True)
		}
	}

	b.AppendNewline()
	comment(b, fmt.Sprintf("A failed wave stays as it failed; automatic = true moves its namespaces back to %s.", d.source))
	b.AppendNewBlock("rollback", nil).Body().SetAttributeValue("automatic", cty.False)

	b.AppendNewline()
	if d.uninstall {
		comment(b, fmt.Sprintf("Once nothing uses %s, its control plane is uninstalled.", d.source))
	} else {
		comment(b, fmt.Sprintf("%s stays installed: what the plan does not place (above) still uses it.", d.source),
			"Set uninstall_old = true once it is moved; meshwave plan says what still uses it (MW015).")
	}
	b.AppendNewBlock("finalize", nil).Body().SetAttributeValue("uninstall_old", cty.BoolVal(d.uninstall))
	return hclwrite.Format(f.Bytes())
}

// comment appends "# line" comment lines.
func comment(b *hclwrite.Body, lines ...string) {
	var toks hclwrite.Tokens
	for _, l := range lines {
		toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComment, Bytes: []byte(strings.TrimRight("# "+printable(l), " ") + "\n")})
	}
	b.AppendUnstructuredTokens(toks)
}

// printable keeps a comment one line: text from the cluster (a reason, a
// label) with a line break or another control character would end the
// comment and start plan text.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			return ' '
		}
		return r
	}, s)
}

// emptyBlock appends `TYPE "LABEL" {}` on one line, as the examples write
// a tag block.
func emptyBlock(b *hclwrite.Body, typ, label string) {
	toks := hclwrite.Tokens{{Type: hclsyntax.TokenIdent, Bytes: []byte(typ)}}
	toks = append(toks, hclwrite.TokensForValue(cty.StringVal(label))...)
	toks = append(toks,
		&hclwrite.Token{Type: hclsyntax.TokenOBrace, Bytes: []byte("{")},
		&hclwrite.Token{Type: hclsyntax.TokenCBrace, Bytes: []byte("}")},
		&hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")})
	b.AppendUnstructuredTokens(toks)
}

// stringList is a list of strings, on one line when short, else one
// element a line.
func stringList(items []string) hclwrite.Tokens {
	vals := make([]cty.Value, len(items))
	for i, s := range items {
		vals[i] = cty.StringVal(s)
	}
	if len(items) <= maxInlineList {
		return hclwrite.TokensForValue(cty.ListVal(vals))
	}
	toks := hclwrite.Tokens{{Type: hclsyntax.TokenOBrack, Bytes: []byte("[")}, {Type: hclsyntax.TokenNewline, Bytes: []byte("\n")}}
	for _, v := range vals {
		toks = append(toks, hclwrite.TokensForValue(v)...)
		toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")}, &hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")})
	}
	return append(toks, &hclwrite.Token{Type: hclsyntax.TokenCBrack, Bytes: []byte("]")})
}
