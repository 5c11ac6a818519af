package bench

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// envRSSChild makes this test binary a child that holds rssChildMiB
// touched MiB for a moment, for TestRunMeasuresTheChildsOwnPeak.
const (
	envRSSChild = "MESHWAVE_BENCH_RSS_CHILD"
	rssChildMiB = 64
)

func TestMain(m *testing.M) {
	if os.Getenv(envRSSChild) != "" {
		b := make([]byte, rssChildMiB<<20)
		for i := range b {
			b[i] = 1
		}
		time.Sleep(200 * time.Millisecond)
		os.Exit(int(b[len(b)-1]) - 1)
	}
	os.Exit(m.Run())
}

// A child's peak RSS is its own: neither the larger peak of this process
// (which wait4's ru_maxrss would report for a small child) nor less than
// what the child touched.
func TestRunMeasuresTheChildsOwnPeak(t *testing.T) {
	parent := make([]byte, 256<<20)
	for i := range parent {
		parent[i] = 1
	}
	for _, tc := range []struct {
		name     string
		cmd      *exec.Cmd
		min, max int64 // KiB; max 0: no bound (under -race, the test
		// binary's shadow memory multiplies what it touches)
	}{
		{"small child", exec.Command("sleep", "0.2"), 1, 32 << 10},
		{"child of 64 MiB", exec.Command(os.Args[0], "-test.run=^$"), rssChildMiB << 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cmd.Env = append(os.Environ(), envRSSChild+"=1")
			r, err := run(tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if r.Exit != 0 || r.Wall < 200*time.Millisecond {
				t.Errorf("exit %d after %s; want 0 after at least 200ms", r.Exit, r.Wall)
			}
			if r.MaxRSSKB < tc.min || tc.max > 0 && r.MaxRSSKB > tc.max {
				t.Errorf("peak RSS %d KiB; want at least %d KiB and at most %d (0: any) (this process holds %d MiB)", r.MaxRSSKB, tc.min, tc.max, len(parent)>>20)
			}
		})
	}
}
