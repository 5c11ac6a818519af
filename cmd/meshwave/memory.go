package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is the garbage collector's target unless GOGC says otherwise:
// the heap may grow to 1.5 times what is live, not Go's default twice. A
// large apply's live heap is mostly its watch cache of the cluster's pods
// and workloads, which the default lets the process double; the price is
// more frequent collections (docs/benchmarks.md measures both).
const gcPercent = 50

// tuneGC applies gcPercent when the environment sets no GOGC.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}
