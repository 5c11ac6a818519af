package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
