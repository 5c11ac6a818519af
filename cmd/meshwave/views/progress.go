package views

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// Progress is how the human view of apply and rollback shows a run: a live
// screen redrawn in place, or a log of lines that can be kept.
type Progress string

const (
	// ProgressAuto is live on a terminal and plain anywhere else.
	ProgressAuto Progress = "auto"
	// ProgressLive redraws, per wave, what is done, what runs and how long
	// it has been running, in place at the bottom of the terminal; what
	// must stay (wave results, failures) scrolls above it.
	ProgressLive Progress = "live"
	// ProgressPlain writes a bounded log: transitions, failures, and a
	// periodic summary of a wave's restarts instead of a line per status
	// change of every rollout.
	ProgressPlain Progress = "plain"
)

// ParseProgress reads the -progress flag.
func ParseProgress(s string) (Progress, error) {
	switch p := Progress(s); p {
	case ProgressAuto, ProgressLive, ProgressPlain:
		return p, nil
	}
	return "", fmt.Errorf("-progress %q: want auto, live or plain", s)
}

// ResolveProgress turns auto into live or plain for output w: live only on a
// terminal that can move its cursor (TERM is not "dumb"). Colors do not
// matter: a live view without colors is still live. A live view asked for
// where there is no terminal is refused, since its cursor movements would
// garble a file or a pipe. env looks up environment variables; nil means
// os.Getenv.
func ResolveProgress(p Progress, w io.Writer, env func(string) string) (Progress, error) {
	if env == nil {
		env = os.Getenv
	}
	f, ok := w.(*os.File)
	terminal := ok && term.IsTerminal(int(f.Fd())) && env("TERM") != "dumb"
	switch {
	case p == ProgressAuto && terminal:
		return ProgressLive, nil
	case p == ProgressAuto:
		return ProgressPlain, nil
	case p == ProgressLive && !terminal:
		return "", fmt.Errorf("-progress live needs a terminal that can move its cursor; the output is not one (use -progress plain)")
	}
	return p, nil
}
