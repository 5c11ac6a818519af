package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// A plan is untrusted input: it arrives in pull requests and runs in CI. The
// bounds below keep a hostile plan from crashing or exhausting meshwave; a
// plan written by a person stays far inside them. The HCL parser and
// evaluator recurse once per level of nesting, and a Go stack overflow is a
// fatal error, not a panic, so nesting is checked on the tokens before
// anything is parsed.
const (
	// maxNesting bounds brackets, braces, parentheses, quotes and template
	// sequences inside one another.
	maxNesting = 64
	// maxOperators bounds the operators (unary, binary, conditional) in one
	// expression between brackets or separators: the parser and evaluator
	// recurse once per operator of a chain such as !!!!x or 1+1+1.
	maxOperators = 1000
	// maxTemplateParts bounds the literal pieces of one quoted string or
	// heredoc (split at escapes and template sequences): the parser joins
	// them pairwise, in time that grows with the square of their number.
	maxTemplateParts = 4096
)

// InputBounds reports, before src is parsed, a plan or var file beyond the
// input bounds above (one whose nesting would overflow the parser's stack).
// fmt calls it too, since it parses the same files.
func InputBounds(src []byte, filename string) hcl.Diagnostics {
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	return tokenInputBounds(tokens)
}

// expressionInputBounds is InputBounds for a lone expression (a -var value).
func expressionInputBounds(src []byte, filename string) hcl.Diagnostics {
	tokens, _ := hclsyntax.LexExpression(src, filename, hcl.InitialPos)
	return tokenInputBounds(tokens)
}

func tokenInputBounds(tokens hclsyntax.Tokens) hcl.Diagnostics {
	// operators[i] counts the operators at nesting level i since its last
	// separator.
	operators := []int{0}
	parts := []int{0} // literal pieces per level, like operators
	for _, tok := range tokens {
		top := len(operators) - 1
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			operators = append(operators, 0)
			parts = append(parts, 0)
			if len(operators)-1 > maxNesting {
				return hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Nesting too deep",
					Detail: fmt.Sprintf("Brackets, braces, parentheses, quotes and template sequences are nested more than %d levels deep here. "+
						"A plan never needs that many; write the value with fewer levels or with locals.", maxNesting),
					Subject: tok.Range.Ptr(),
				}}
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if top > 0 {
				operators, parts = operators[:top], parts[:top]
			}
		case hclsyntax.TokenQuotedLit, hclsyntax.TokenStringLit:
			parts[top]++
			if parts[top] > maxTemplateParts {
				return hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "String too long",
					Detail: fmt.Sprintf("This string or heredoc is made of more than %d pieces (lines, escapes and template sequences). "+
						"A plan never needs that many.", maxTemplateParts),
					Subject: tok.Range.Ptr(),
				}}
			}
		case hclsyntax.TokenComma, hclsyntax.TokenNewline, hclsyntax.TokenEqual:
			operators[top] = 0
		case hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenStar, hclsyntax.TokenSlash, hclsyntax.TokenPercent,
			hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq,
			hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr,
			hclsyntax.TokenBang, hclsyntax.TokenQuestion:
			operators[top]++
			if operators[top] > maxOperators {
				return hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Expression too long",
					Detail: fmt.Sprintf("This expression chains more than %d operators. "+
						"A plan never needs that many; split it with parentheses or locals.", maxOperators),
					Subject: tok.Range.Ptr(),
				}}
			}
		}
	}
	return nil
}
