package faults_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	faultReadOnly = "read-only state directory"
	faultDiskFull = "disk full"
)

// mount mounts a file system for a test and unmounts it afterwards; it
// skips the test where the process may not mount (not root). A remount
// changes the mount made before and adds no unmount.
func mount(t *testing.T, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := syscall.Mount(source, target, fstype, flags, data); err != nil {
		t.Skipf("cannot mount %s on %s (%v): this trial needs root (a tmpfs or a read-only bind mount)", fstype, target, err)
	}
	if flags&syscall.MS_REMOUNT != 0 {
		return
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(target, 0); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
}

// TestReadOnlyStateDirectory stops an upgrade at an approval gate, makes the
// state's directory read-only (a read-only bind mount: root ignores file
// modes), and approves: apply must refuse before it changes anything.
func TestReadOnlyStateDirectory(t *testing.T) {
	describe(faultReadOnly,
		"an upgrade stopped at an approval gate; its state directory bind-mounted read-only; `apply -approve` run against it",
		"apply exits 1 saying the directory is read-only; no namespace relabeled and no workload restarted; the state file byte-identical")
	m := newMesh(t, meshSpec{name: "ro", sizes: []nsSize{{"a", 1}, {"b", 1}}})
	a, b := m.order[0], m.order[1]
	m.setWave("first", a)
	m.setWave("second", b)
	stateDir := t.TempDir()
	state := filepath.Join(stateDir, "meshwave.state.json")
	m.writePlan(fmt.Sprintf("wave \"first\" {\n  namespaces = [%q]\n  approval   = true\n}\n\nwave \"second\" {\n  namespaces = [%q]\n}\n", a, b))
	r := startApply(context.Background(), t, m.env, m.dir, "-state", state)
	for {
		if _, ok := r.next(); !ok {
			break
		}
	}
	if code := r.wait(); code != 1 {
		t.Fatalf("apply up to the approval: exit %d, want 1:\n%s", code, r.transcript())
	}
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	mount(t, stateDir, stateDir, "", syscall.MS_BIND, "")
	mount(t, "", stateDir, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")

	r = startApply(context.Background(), t, m.env, m.dir, "-state", state, "-approve", "first")
	for {
		if _, ok := r.next(); !ok {
			break
		}
	}
	code := r.wait()
	ok := true
	if code != 1 || !strings.Contains(r.stderr.String(), "read-only file system") {
		ok = false
		t.Errorf("apply into a read-only directory: exit %d; want 1 and a message that says read-only:\n%s", code, r.transcript())
	}
	after, _ := os.ReadFile(state)
	if string(after) != string(before) {
		ok = false
		t.Errorf("the state file changed")
	}
	st := readState(t, state)
	if bad := m.checkRecordedFirst(context.Background(), st); len(bad) > 0 {
		ok = false
		t.Errorf("the cluster changed without the state saying so:\n%s", strings.Join(bad, "\n"))
	}
	// The second wave did not start: its namespace is as it was.
	got, err := m.env.Client.CoreV1().Namespaces().Get(context.Background(), b, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels["istio.io/rev"] != m.oldRevision() {
		ok = false
		t.Errorf("namespace %s was relabeled: %v", b, got.Labels)
	}
	trial(faultReadOnly, "refused before changing the cluster", ok)
}

// TestDiskFull runs an upgrade with its state on a small tmpfs and fills the
// file system as a step starts: a state write after it fails, and apply must
// stop without changing what it could not record. With space again, apply
// finishes the upgrade. Every point has a rollout after it, so apply cannot
// finish before the test has filled the disk: the last wave's wait cannot
// be a point, since its restarts already waited for their rollouts and it
// ends, state written, within a millisecond of its start.
func TestDiskFull(t *testing.T) {
	describe(faultDiskFull,
		"the state on a 256 KiB tmpfs; the tmpfs filled to the last byte when the first wave's wait, the second wave's relabel or its first restart starts; space freed; apply again",
		"apply stops with an error that says no space is left; the state decodes (the last complete version); every change in the cluster was recorded first; the resumed upgrade ends with each Deployment restarted once")
	stateDir := t.TempDir()
	mount(t, "tmpfs", stateDir, "tmpfs", 0, "size=256k")
	ctx := context.Background()
	// The points are step-start events: the first wave's wait, the second
	// wave's relabel and its first restart.
	points := []struct{ label, step string }{
		{"relabel", "wave/second/relabel/NAME-b"},
		{"restart", "wave/second/restart/NAME-b/deployment/app-0"},
		{"wait", "wave/first/wait"},
	}
	for i, p := range points {
		name := fmt.Sprintf("df%d", i)
		m := newMesh(t, meshSpec{name: name, sizes: []nsSize{{"a", 1}, {"b", 3}}})
		a, b := m.order[0], m.order[1]
		m.setWave("first", a)
		m.setWave("second", b)
		state := filepath.Join(stateDir, name+".state.json")
		m.writePlan(fmt.Sprintf("wave \"first\" {\n  namespaces = [%q]\n}\n\nwave \"second\" {\n  namespaces   = [%q]\n  max_parallel = 2\n}\n", a, b))
		filler := filepath.Join(stateDir, "filler")
		at := strings.ReplaceAll(p.step, "NAME", name)

		r := startApply(ctx, t, m.env, m.dir, "-state", state)
		filled := false
		for {
			ev, ok := r.next()
			if !ok {
				break
			}
			if !filled && ev.Type == "step-start" && ev.Step == at {
				fill(t, filler)
				filled = true
			}
		}
		code := r.wait()
		ok := true
		if !filled {
			t.Fatalf("%s: the start of %s never came:\n%s", name, at, r.transcript())
		}
		if code != 1 || !strings.Contains(r.stderr.String(), "no space left on device") {
			ok = false
			t.Errorf("%s: apply with a full disk: exit %d; want 1 and a message that says no space is left:\n%s", name, code, r.transcript())
		}
		st := readState(t, state)
		if bad := m.checkRecordedFirst(ctx, st); len(bad) > 0 {
			ok = false
			t.Errorf("%s: the cluster changed without the state saying so:\n%s", name, strings.Join(bad, "\n"))
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		r = startApply(ctx, t, m.env, m.dir, "-state", state)
		for {
			if _, ok := r.next(); !ok {
				break
			}
		}
		if code := r.wait(); code != 0 {
			ok = false
			t.Errorf("%s: apply after space was freed: exit %d:\n%s", name, code, r.transcript())
		}
		if bad := m.checkMoved(ctx, readState(t, state)); len(bad) > 0 {
			ok = false
			t.Errorf("%s: after the resumed apply:\n%s", name, strings.Join(bad, "\n"))
		}
		trial(faultDiskFull, "filled as a "+p.label+" started: stopped, resumed once space was back", ok)
	}
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	// Fill the last partial block too.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			return
		}
	}
}
