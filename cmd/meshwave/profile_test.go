package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCPUProfile(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "mw")
	path := fmt.Sprintf("%s.%d.pprof", prefix, os.Getpid())
	errs, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envCPUProfile, prefix)

	// A profile is written where the variable says, with the process id.
	startCPUProfile(errs)()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: %v (want a non-empty file)", path, err)
	}

	// An existing file is not overwritten, and the run goes on.
	if err := os.WriteFile(path, []byte("not a profile"), 0o600); err != nil {
		t.Fatal(err)
	}
	startCPUProfile(errs)()
	if b, _ := os.ReadFile(path); string(b) != "not a profile" {
		t.Errorf("existing file overwritten: %q", b)
	}
	msg, _ := os.ReadFile(errs.Name())
	if !strings.Contains(string(msg), "MESHWAVE_CPU_PROFILE: open "+path+": file exists") {
		t.Errorf("stderr = %q, want the refusal naming the file", msg)
	}
}

// TestHeapProfile: the heap profile is written where the variable says,
// rewritten at a new high of the heap, and is a profile pprof reads.
func TestHeapProfile(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "mw")
	path := fmt.Sprintf("%s.%d.heap.pprof", prefix, os.Getpid())
	var errs strings.Builder
	t.Setenv(envHeapProfile, prefix)
	heapCheck = time.Millisecond
	t.Cleanup(func() { heapCheck = time.Second })

	stop := startHeapProfile(&errs)
	first := waitForFile(t, path)
	// A new high: 64 MiB more of live objects.
	grown := make([][]byte, 64)
	for i := range grown {
		grown[i] = make([]byte, 1<<20)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err == nil && !fi.ModTime().Equal(first.ModTime()) && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the profile was not rewritten after the heap grew by 64 MiB")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	runtime.KeepAlive(grown)
	if errs.Len() > 0 {
		t.Errorf("stderr: %s", errs.String())
	}
	// A profile is a gzip'd protobuf message.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("not a profile: %v", err)
	}
	if b, err := io.ReadAll(z); err != nil || len(b) == 0 {
		t.Errorf("not a profile: %d bytes, %v", len(b), err)
	}
}

func waitForFile(t *testing.T, path string) os.FileInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return fi
		}
		if time.Now().After(deadline) {
			t.Fatalf("no profile at %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
