package statemgr

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statefile"
)

func TestFileStoreConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meshwave.state.json")
	TestFull(t, func() Full { return NewFileStore(path) })
}

func TestFileStoreRefusesUnusableState(t *testing.T) {
	cases := map[string]struct {
		content string
		want    any
	}{
		"truncated":           {`{"format_version": "1.0", "lineage": "x", "ser`, new(*statefile.NotStateError)},
		"not json":            {"lineage = x\n", new(*statefile.NotStateError)},
		"terraform state":     {`{"version": 4, "terraform_version": "1.9.0", "serial": 3, "lineage": "x"}`, new(*statefile.NotStateError)},
		"newer format":        {`{"format_version": "2.0", "lineage": "x", "serial": 1}`, new(*statefile.UnsupportedVersionError)},
		"newer minor":         {`{"format_version": "1.9", "lineage": "x", "serial": 1}`, new(*statefile.UnsupportedVersionError)},
		"unknown field":       {`{"format_version": "1.0", "lineage": "x", "serial": 1, "plan_hash": "", "steps": [], "approvals": [], "extra": 1}`, new(*statefile.InvalidError)},
		"unknown step status": {`{"format_version": "1.0", "lineage": "x", "serial": 1, "plan_hash": "", "steps": [{"id": "a", "kind": "gate", "status": "almost", "attempts": 0}], "approvals": []}`, new(*statefile.InvalidError)},
		"empty file":          {"", new(*statefile.NotStateError)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meshwave.state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			fs := NewFileStore(path)
			_, err := fs.Read()
			var unusable *UnusableStateError
			if !errors.As(err, &unusable) {
				t.Fatalf("Read: got %v, want *UnusableStateError", err)
			}
			if !errors.As(err, tc.want) {
				t.Errorf("Read: got %v, want it to wrap %T", err, tc.want)
			}
			if err := fs.Write(states.New()); !errors.As(err, &unusable) {
				t.Errorf("Write over it: got %v, want *UnusableStateError", err)
			}
			// A fresh store that never read must refuse too.
			if err := NewFileStore(path).Write(states.New()); !errors.As(err, &unusable) {
				t.Errorf("Write without Read: got %v, want *UnusableStateError", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.content, string(got)); diff != "" {
				t.Errorf("state file changed (-before +after):\n%s", diff)
			}
			if _, err := os.Stat(fs.BackupPath()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a backup was written: %v", err)
			}
		})
	}
}

func TestFileStoreModeAndBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meshwave.state.json")
	s := states.New()
	first := NewFileStore(path)
	if err := first.Write(s); err != nil {
		t.Fatal(err)
	}
	if err := first.Write(s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first.BackupPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup written though there was nothing before: %v", err)
	}
	before, _ := os.ReadFile(path)

	// A second run reads serial 2 and writes twice: the backup keeps what it
	// read, not its own first write.
	second := NewFileStore(path)
	read, err := second.Read()
	if err != nil {
		t.Fatal(err)
	}
	read.PlanHash = "changed"
	for range 2 {
		if err := second.Write(read); err != nil {
			t.Fatal(err)
		}
	}
	backup, err := os.ReadFile(second.BackupPath())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(before), string(backup)); diff != "" {
		t.Errorf("backup (-read +backup):\n%s", diff)
	}
	for _, p := range []string{path, second.BackupPath()} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// A reader racing with many writes always sees a complete state.
func TestFileStoreWriteIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meshwave.state.json")
	fs := NewFileStore(path)
	s := states.New()
	for i := range 200 {
		s.Ensure(plan.Step{ID: fmt.Sprintf("wave/w/restart/ns/deployment/app-%03d", i), Kind: plan.StepWorkloadRestart})
	}
	if err := fs.Write(s); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err == nil {
				_, err = statefile.Read(bytes.NewReader(b))
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	for i := range 100 {
		s.Steps[i].Status = states.StatusDone
		if err := fs.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("a reader saw an incomplete state: %v", readErr)
	}
}

// The lock dies with its holder, even on kill -9, and while it lives a
// second meshwave learns who holds it.
func TestFileStoreLockReleasedWhenHolderIsKilled(t *testing.T) {
	if os.Getenv("MESHWAVE_TEST_LOCK_HOLDER") != "" {
		return
	}
	path := filepath.Join(t.TempDir(), "meshwave.state.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "MESHWAVE_TEST_LOCK_HOLDER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "locked") {
		t.Fatalf("helper: %q, %v", line, err)
	}

	_, err = NewFileStore(path).Lock("apply")
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Info == nil {
		t.Fatalf("Lock while held: got %v, want *LockedError with info", err)
	}
	if locked.Info.PID != cmd.Process.Pid || locked.Info.Operation != "rollback" {
		t.Errorf("lock info: got pid %d op %q, want pid %d op rollback", locked.Info.PID, locked.Info.Operation, cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), locked.Info.Holder) || !strings.Contains(err.Error(), fmt.Sprint(cmd.Process.Pid)) {
		t.Errorf("message does not name the holder: %v", err)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := NewFileStore(path).Lock("apply"); err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
}

func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv("MESHWAVE_TEST_LOCK_HOLDER")
	if path == "" {
		t.Skip("helper process for TestFileStoreLockReleasedWhenHolderIsKilled")
	}
	if _, err := NewFileStore(path).Lock("rollback"); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	// The lock holder under test: it holds the lock until it is killed.
	time.Sleep(time.Minute)
	os.Exit(0)
}

// A symlink planted at the lock path is refused, never written through.
func TestFileStoreLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meshwave.state.json")
	target := filepath.Join(dir, "precious.txt")
	const content = "do not touch\n"
	if err := os.WriteFile(target, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := NewFileStore(path)
	if err := os.Symlink(target, fs.LockPath()); err != nil {
		t.Fatal(err)
	}
	_, err := fs.Lock("apply")
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Lock with a symlink at the lock path: got %v, want an error naming the symbolic link", err)
	}
	got, _ := os.ReadFile(target)
	if string(got) != content {
		t.Errorf("symlink target changed: %q, want %q", got, content)
	}
	if fi, err := os.Lstat(fs.LockPath()); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was removed or replaced: %v", err)
	}
}

// A state path that is a symlink is never written through: the link's
// target keeps its content.
func TestFileStoreWriteRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere.json")
	path := filepath.Join(dir, "meshwave.state.json")
	if err := NewFileStore(target).Write(states.New()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(target)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	fs := NewFileStore(path)
	st, err := fs.Read()
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Write(st); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Write through a symlink: got %v, want an error naming the symbolic link", err)
	}
	after, _ := os.ReadFile(target)
	if diff := cmp.Diff(string(before), string(after)); diff != "" {
		t.Errorf("target changed (-before +after):\n%s", diff)
	}
}

// A serial at its largest value cannot grow: the write is refused, the file
// is left as it was, and the serial does not wrap to 0 (which a saved plan
// made at serial 0 would take for "unchanged").
func TestFileStoreRefusesSerialOverflow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meshwave.state.json")
	content := `{"format_version": "1.1", "lineage": "0f8fad5b-d9cb-469f-a165-70867728950e", "serial": 18446744073709551615, "plan_hash": "", "steps": [], "approvals": []}` + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := NewFileStore(path)
	st, err := fs.Read()
	if err != nil {
		t.Fatal(err)
	}
	err = fs.Write(st)
	want := "write state: serial 18446744073709551615 is the largest a state can have; it cannot record another change"
	if err == nil || err.Error() != want {
		t.Errorf("Write: got %v, want %q", err, want)
	}
	if st.Serial != math.MaxUint64 {
		t.Errorf("serial after the refused write: %d, want %d", st.Serial, uint64(math.MaxUint64))
	}
	got, _ := os.ReadFile(path)
	if diff := cmp.Diff(content, string(got)); diff != "" {
		t.Errorf("state file changed (-before +after):\n%s", diff)
	}
}
