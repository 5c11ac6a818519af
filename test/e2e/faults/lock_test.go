package faults_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshwave/meshwave/test/e2e/harness"
)

const faultLock = "two applies racing for the lock"

// contender is one apply of a race, stopped at its confirmation prompt if
// it gets that far: the prompt comes after the lock, so a process at the
// prompt holds it.
type contender struct {
	r      *run
	stdin  io.WriteCloser
	prompt chan struct{}
	exited chan struct{}
	stdout *harness.SyncBuffer
}

func startContender(ctx context.Context, t *testing.T, m *mesh) *contender {
	t.Helper()
	cmd := harness.Command(ctx, t, m.env, m.dir, "apply")
	c := &contender{prompt: make(chan struct{}), exited: make(chan struct{}), stdout: &harness.SyncBuffer{}}
	c.r = &run{cmd: cmd, stderr: &harness.SyncBuffer{}}
	cmd.Stderr = c.r.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.exited)
		br := bufio.NewReader(out)
		prompted := false
		buf := make([]byte, 4096)
		for {
			n, err := br.Read(buf)
			_, _ = c.stdout.Write(buf[:n])
			if !prompted && strings.Contains(c.stdout.String(), "Enter a value:") {
				prompted = true
				close(c.prompt)
			}
			if err != nil {
				break
			}
		}
		_ = cmd.Wait()
	}()
	return c
}

// TestLockRace starts two applies of the same plan at once, 50 times: one
// must hold the lock (it reaches the confirmation prompt, which comes after
// the lock), the other must be refused naming the holder; the winner is
// then declined, so the cluster and the state are never touched.
func TestLockRace(t *testing.T) {
	describe(faultLock,
		"two `apply` of one plan and state started at the same instant; the one that gets the lock is held at its confirmation prompt, then declined",
		"exactly one reaches the prompt; the other exits 1 naming the holder's pid; no state written, the lock file removed, the cluster unchanged")
	m := newMesh(t, meshSpec{name: "lk", sizes: []nsSize{{"a", 1}}})
	m.setWave("only", m.order[0])
	m.writePlan(fmt.Sprintf("wave \"only\" {\n  namespaces = [%q]\n}\n", m.order[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const races = 50
	wins := map[int]int{}
	for i := range races {
		cs := [2]*contender{}
		start := make(chan struct{})
		done := make(chan int, 2)
		for j := range cs {
			go func() {
				<-start
				cs[j] = startContender(ctx, t, m)
				done <- j
			}()
		}
		close(start)
		<-done
		<-done
		ok, outcome := judgeRace(t, cs)
		trial(faultLock, outcome, ok)
		if !ok {
			t.Errorf("race %d: %s\n--- a stdout:\n%s\n--- a stderr:\n%s\n--- b stdout:\n%s\n--- b stderr:\n%s", i+1, outcome,
				cs[0].stdout.String(), cs[0].r.stderr.String(), cs[1].stdout.String(), cs[1].r.stderr.String())
			break
		}
		for j, c := range cs {
			select {
			case <-c.prompt:
				wins[j]++
			default:
			}
		}
	}
	if _, err := os.Stat(m.statePath()); !os.IsNotExist(err) {
		t.Errorf("state file after 50 declined applies: %v, want none", err)
	}
	if _, err := os.Stat(m.statePath() + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock file after the races: %v, want removed", err)
	}
	if bad := m.checkRecordedFirst(ctx, nil); len(bad) > 0 {
		t.Errorf("the cluster changed: %s", strings.Join(bad, "\n"))
	}
	t.Logf("first started won %d, second started won %d of %d races", wins[0], wins[1], races)
}

// judgeRace waits for a race to settle and says whether exactly one apply
// holds the lock.
func judgeRace(t *testing.T, cs [2]*contender) (bool, string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	prompted := [2]bool{}
	exited := [2]bool{}
	for {
		for j, c := range cs {
			select {
			case <-c.prompt:
				prompted[j] = true
			default:
			}
			select {
			case <-c.exited:
				exited[j] = true
			default:
			}
		}
		switch {
		case prompted[0] && prompted[1]:
			for _, c := range cs {
				_ = c.r.cmd.Process.Kill()
				<-c.exited
			}
			return false, "both applies held the lock"
		case exited[0] && exited[1] && !prompted[0] && !prompted[1]:
			return false, "neither apply got the lock"
		}
		for w := range 2 {
			l := 1 - w
			if !prompted[w] || !exited[l] {
				continue
			}
			// The loser is gone while the winner holds the lock: decline.
			loser, winner := cs[l], cs[w]
			_, _ = io.WriteString(winner.stdin, "no\n")
			<-winner.exited
			code := loser.r.cmd.ProcessState.ExitCode()
			msg := loser.r.stderr.String()
			pid := fmt.Sprintf("pid %d", winner.r.cmd.Process.Pid)
			switch {
			case code != 1:
				return false, fmt.Sprintf("the loser exited %d, want 1", code)
			case !strings.Contains(msg, "is locked by") || !strings.Contains(msg, pid):
				return false, fmt.Sprintf("the loser's message does not name the holder (%s): %q", pid, msg)
			case !strings.Contains(winner.r.stderr.String(), "Apply cancelled."):
				return false, "the winner did not cancel when declined"
			}
			return true, "one held the lock, the other was refused naming it"
		}
		select {
		case <-deadline:
			for _, c := range cs {
				_ = c.r.cmd.Process.Kill()
			}
			return false, "the race did not settle within 60 s"
		case <-time.After(20 * time.Millisecond):
		}
	}
}
