//go:build linux

package views

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

// screen is a terminal emulator fed by a pseudo-terminal's master: what a
// person would see on the pty the view writes to.
type screen struct {
	mu   sync.Mutex
	emu  *vt.Emulator
	read chan struct{} // closed when the master's reader ends
}

const screenRows, screenCols = 30, 110

// newScreen opens a pty of screenRows x screenCols and returns its tty, for
// the view to write to, and the screen that shows it.
func newScreen(t *testing.T) (*os.File, *screen) {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	if err := pty.Setsize(master, &pty.Winsize{Rows: screenRows, Cols: screenCols}); err != nil {
		t.Fatal(err)
	}
	s := &screen{emu: vt.NewEmulator(screenCols, screenRows), read: make(chan struct{})}
	// The emulator answers a program's queries on its input side: drain it
	// so that an answer never blocks a write.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, s.emu)
	}()
	go func() {
		defer close(s.read)
		buf := make([]byte, 32*1024)
		for {
			n, err := master.Read(buf)
			s.mu.Lock()
			_, _ = s.emu.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		tty.Close()
		master.Close()
		<-s.read
		// Closing the emulator's input side ends the drain (Close would
		// race with the Read in progress).
		if c, ok := s.emu.InputPipe().(io.Closer); ok {
			c.Close()
		}
		<-drained
	})
	return tty, s
}

// lines are the screen's rows, trailing blanks trimmed, and the lines that
// scrolled off its top.
func (s *screen) lines() (rows, scrolled []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for y := range s.emu.Height() {
		var b strings.Builder
		for x := range s.emu.Width() {
			if c := s.emu.CellAt(x, y); c != nil && c.Content != "" {
				b.WriteString(c.Content)
			} else if c != nil && c.Width == 0 {
				continue
			} else {
				b.WriteByte(' ')
			}
		}
		rows = append(rows, strings.TrimRight(b.String(), " "))
	}
	for _, l := range s.emu.Scrollback().Lines() {
		scrolled = append(scrolled, strings.TrimRight(l.String(), " "))
	}
	return rows, scrolled
}

// waitFor polls the screen until ok holds of its rows, for at most 10 s.
func (s *screen) waitFor(t *testing.T, what string, ok func(rows, scrolled []string) bool) (rows, scrolled []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, scrolled = s.lines()
		if ok(rows, scrolled) {
			return rows, scrolled
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %s; it shows:\n%s\nabove it:\n%s", what, strings.Join(rows, "\n"), strings.Join(scrolled, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsAll(rows []string, want ...string) bool {
	text := strings.Join(rows, "\n")
	for _, w := range want {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// fakeClock is the live view's clock, set to the time of the event the
// test just fed: the screen's elapsed times are those of the stream.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// On a terminal, an apply of two waves (20 and 200 namespaces of 3
// Deployments) is one screen redrawn in place, within the terminal's
// height: each wave's done/total and the slowest rollouts mid-run, a clean
// summary with every failure at the end.
func TestLiveViewInAPseudoTerminal(t *testing.T) {
	tty, scr := newScreen(t)
	p := bigWave("canary", 20)
	addBigWave(p, "prod", 200)
	// prod's failures come after canary is done; the apply ends with them.
	failed := []string{"prod-013/app-b", "prod-150/app-a"}
	fail := map[string]bool{}
	for _, f := range failed {
		fail[f] = true
	}
	events := applyEvents(p, fail)

	clock := &fakeClock{}
	v := newLiveApply(tty, painter{}, clock.now)
	v.Begin(p)

	// Mid-run: half of prod's restarts finished.
	mid, done := 0, 0
	for i, e := range events {
		if e.Wave == "prod" && e.StepKind == plan.StepWorkloadRestart && (e.Kind == executor.EventStepDone || e.Kind == executor.EventStepFailed) {
			if done++; done == 300 {
				mid = i + 1
				break
			}
		}
	}
	for _, e := range events[:mid] {
		clock.set(e.Time)
		v.Observe(e)
	}
	slowest := slowestRunning(events[:mid], "prod")
	prod := "> wave \"prod\": 300/600 workloads restarted; 0/1200 pods verified; 300 running ["
	if n := countFailedBy(events[:mid], "prod"); n > 0 {
		prod = fmt.Sprintf("> wave \"prod\": %d/600 workloads restarted, %d failed; 0/1200 pods verified; 300 running [", 300-n, n)
	}
	want := []string{
		`wave "canary": 60/60 workloads restarted; 120/120 pods verified (done after`,
		prod,
		"left]",
		"    " + slowest + ": restarting [",
		"... and ",
	}
	rows, scrolled := scr.waitFor(t, "each wave's done/total and the slowest rollouts", func(rows, _ []string) bool {
		return containsAll(rows, want...)
	})
	if testing.Verbose() {
		t.Logf("mid-run, the screen (%d rows):\n%s", screenRows, strings.Join(rows, "\n"))
	}
	// The screen is drawn in place: its first line is the first wave's, and
	// it is there once, not once per redraw.
	top := slices.IndexFunc(rows, func(r string) bool { return strings.HasPrefix(r, `  wave "canary": `) })
	used := len(rows)
	for used > 0 && rows[used-1] == "" {
		used--
	}
	if top < 0 || used-top > screenRows-1 {
		t.Errorf("the live screen takes rows %d to %d of %d, want at most %d:\n%s", top, used, screenRows, screenRows-1, strings.Join(rows, "\n"))
	}
	for _, l := range scrolled {
		if strings.Contains(l, `wave "prod": `) || strings.Contains(l, ": restarting [") {
			t.Errorf("a line of the live screen scrolled off: %q; the screen is not redrawn in place", l)
		}
	}
	// What must last scrolled above it: the first wave's result, the
	// failures so far.
	all := slices.Concat(scrolled, rows)
	if !containsAll(all, `Wave "canary" complete: `, "restarting 600 workloads, at most 1000 at once...") {
		t.Errorf("the log's lines are not above the screen:\n%s", strings.Join(all, "\n"))
	}

	for _, e := range events[mid:] {
		clock.set(e.Time)
		v.Observe(e)
	}
	v.Close()
	rows, scrolled = scr.waitFor(t, "the final summary", func(rows, _ []string) bool {
		return containsAll(rows, "Summary:", "Failed (2):")
	})
	if testing.Verbose() {
		t.Logf("at the end, the screen:\n%s", strings.Join(rows, "\n"))
	}
	summary := unwrap(rows[slices.IndexFunc(rows, func(r string) bool { return r == "Summary:" }):])
	wantSummary := []string{
		"Summary:",
		`  wave "canary": 60/60 workloads restarted; 120/120 pods verified (done after 1m33s)`,
		`  wave "prod": 598/600 workloads restarted, 2 failed; 598 workloads rolled back; 200 namespaces rolled back; 0/1200 pods verified (failed after 1m18s)`,
		"Failed (2):",
	}
	for _, f := range failed {
		wantSummary = append(wantSummary, fmt.Sprintf("  %s: rollout of Deployment %s failed: progress deadline exceeded", f, f))
	}
	got := slices.DeleteFunc(slices.Clone(summary), func(r string) bool { return r == "" })
	slices.Sort(got[4:])
	if !slices.Equal(got, wantSummary) {
		t.Errorf("the screen ends with:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSummary, "\n"))
	}
	all = slices.Concat(scrolled, rows)
	for _, l := range all {
		if strings.HasPrefix(l, "> wave") || strings.Contains(l, "running") {
			t.Errorf("the live screen left %q behind", l)
		}
	}
	scr.mu.Lock()
	hidden := scr.emu.CursorHidden()
	scr.mu.Unlock()
	if hidden {
		t.Error("the cursor is still hidden after the view closed")
	}
}

// unwrap joins the rows a line too long for the screen wrapped onto.
func unwrap(rows []string) []string {
	var out []string
	wrapped := false
	for _, r := range rows {
		if wrapped {
			out[len(out)-1] += r
		} else {
			out = append(out, r)
		}
		wrapped = len(r) == screenCols
	}
	return out
}

// slowestRunning is the restart of wave that has run longest at the end of
// events, ties broken by name, as the screen orders them.
func slowestRunning(events []executor.Event, wave string) string {
	start := map[string]time.Time{}
	for _, e := range events {
		if e.Wave != wave || e.StepKind != plan.StepWorkloadRestart {
			continue
		}
		switch e.Kind {
		case executor.EventStepStart:
			start[e.Object] = e.Time
		case executor.EventStepDone, executor.EventStepFailed:
			delete(start, e.Object)
		}
	}
	names := make([]string, 0, len(start))
	for n := range start {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := start[a].Compare(start[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return names[0]
}

func countFailedBy(events []executor.Event, wave string) int {
	n := 0
	for _, e := range events {
		if e.Wave == wave && e.Kind == executor.EventStepFailed {
			n++
		}
	}
	return n
}

// The live view leaves the terminal as it found it: not in raw mode, so
// Ctrl-C is still the SIGINT that ends the apply; and it clears itself
// while a prompt (an approval) is on the terminal, and comes back after.
func TestLiveViewKeepsCtrlCAndHoldsForAPrompt(t *testing.T) {
	tty, scr := newScreen(t)
	p := bigWave("canary", 20)
	events := applyEvents(p, nil)
	clock := &fakeClock{}
	v := newLiveApply(tty, painter{}, clock.now)
	v.Begin(p)
	for _, e := range events[:30] {
		clock.set(e.Time)
		v.Observe(e)
	}
	live := `> wave "canary": `
	scr.waitFor(t, "the live screen", func(rows, _ []string) bool { return containsAll(rows, live) })
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&unix.ISIG == 0 || tio.Lflag&unix.ICANON == 0 {
		t.Errorf("the terminal is in raw mode while the view draws (lflag %#x): Ctrl-C would not interrupt", tio.Lflag)
	}

	release := v.Hold()
	fmt.Fprint(tty, "Approve it? ")
	scr.waitFor(t, "the prompt alone", func(rows, _ []string) bool {
		return containsAll(rows, "Approve it?") && !containsAll(rows, live)
	})
	fmt.Fprintln(tty, "yes")
	release()
	scr.waitFor(t, "the live screen back under the prompt", func(rows, _ []string) bool {
		return containsAll(rows, "Approve it? yes", live)
	})
	v.Close()
	scr.waitFor(t, "the summary", func(rows, _ []string) bool {
		return containsAll(rows, "Summary:") && !containsAll(rows, live)
	})
}
