package main

import (
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// The profiles a run writes when asked, for finding where apply spends its
// time and memory (docs/benchmarks.md), not for users. Each variable names
// a prefix; the file is PREFIX.<pid>.pprof (CPU) or PREFIX.<pid>.heap.pprof
// (heap), so each process of a benchmark keeps its own.
const (
	envCPUProfile  = "MESHWAVE_CPU_PROFILE"
	envHeapProfile = "MESHWAVE_HEAP_PROFILE"
)

// startProfiles starts the profiles the environment asks for; stop writes
// them.
func startProfiles(stderr io.Writer) (stop func()) {
	stopCPU, stopHeap := startCPUProfile(stderr), startHeapProfile(stderr)
	return func() { stopHeap(); stopCPU() }
}

// createProfile creates the file of the profile env asks for, new: an
// existing file or a symlink is refused. It returns nil when none is asked
// for or the file cannot be made (said on stderr).
func createProfile(stderr io.Writer, env, suffix string) *os.File {
	prefix := os.Getenv(env)
	if prefix == "" {
		return nil
	}
	path := fmt.Sprintf("%s.%d%s", prefix, os.Getpid(), suffix)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "meshwave: %s: %v\n", env, err)
		return nil
	}
	return f
}

// startCPUProfile starts the CPU profile envCPUProfile asks for.
func startCPUProfile(stderr io.Writer) (stop func()) {
	f := createProfile(stderr, envCPUProfile, ".pprof")
	if f == nil {
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

// heapCheck is how often the heap profile looks for a new high.
var heapCheck = time.Second

// startHeapProfile writes the heap profile envHeapProfile asks for each
// time the heap's live objects reach a new high (10% over the last one,
// looked at every heapCheck), and once more at the end if that is higher:
// the file is the profile of the run's peak, where its peak RSS comes from.
func startHeapProfile(stderr io.Writer) (stop func()) {
	f := createProfile(stderr, envHeapProfile, ".heap.pprof")
	if f == nil {
		return func() {}
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var high uint64
	check := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); high == 0 || v > high+high/10 {
			high = v
			err := f.Truncate(0)
			if err == nil {
				_, err = f.Seek(0, io.SeekStart)
			}
			if err == nil {
				err = pprof.Lookup("heap").WriteTo(f, 0)
			}
			if err != nil {
				fmt.Fprintf(stderr, "meshwave: %s: %v\n", envHeapProfile, err)
			}
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(heapCheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				check()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		check()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "meshwave: %s: %v\n", envHeapProfile, err)
		}
	}
}
