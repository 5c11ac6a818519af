package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// envCPUProfile, when set, names the prefix of a CPU profile of the run:
// PREFIX.<pid>.pprof, so each process of a benchmark keeps its own. For
// finding where apply spends its time (docs/benchmarks.md), not for users.
const envCPUProfile = "MESHWAVE_CPU_PROFILE"

// startCPUProfile starts the profile envCPUProfile asks for; stop writes
// it. The file is created new: an existing file or a symlink is refused.
func startCPUProfile(stderr *os.File) (stop func()) {
	prefix := os.Getenv(envCPUProfile)
	if prefix == "" {
		return func() {}
	}
	path := fmt.Sprintf("%s.%d.pprof", prefix, os.Getpid())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "meshwave: %s: %v\n", envCPUProfile, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(stderr, "meshwave: %s: %v\n", envCPUProfile, err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "meshwave: %s: %v\n", envCPUProfile, err)
		}
	}
}
