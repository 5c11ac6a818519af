package views

import "os"

// ColorEnabled reports whether output written to f may use ANSI colors: only
// when f is a terminal, NO_COLOR is unset or empty (https://no-color.org) and
// TERM is not "dumb". env looks up environment variables; nil means
// os.Getenv.
//
// A terminal is recognised as a character device. That is also true of
// /dev/null, where colors are harmless.
func ColorEnabled(f *os.File, env func(string) string) bool {
	if env == nil {
		env = os.Getenv
	}
	return colorAllowed(env) && isTerminal(f)
}

// colorAllowed applies the environment's opt-outs.
func colorAllowed(env func(string) string) bool {
	return env("NO_COLOR") == "" && env("TERM") != "dumb"
}

func isTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}

// painter wraps text in ANSI SGR sequences when on; off, it returns the text
// unchanged, so a colorless rendering has no escape bytes at all.
type painter struct{ on bool }

const (
	sgrBold   = "1"
	sgrDim    = "2"
	sgrRed    = "31"
	sgrGreen  = "32"
	sgrYellow = "33"
	sgrCyan   = "36"
)

func (p painter) paint(s string, codes ...string) string {
	if !p.on || s == "" || len(codes) == 0 {
		return s
	}
	seq := "\x1b["
	for i, c := range codes {
		if i > 0 {
			seq += ";"
		}
		seq += c
	}
	return seq + "m" + s + "\x1b[0m"
}
