package faults_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Markers of the generated table in docs/reliability.md.
const (
	reportBegin = "<!-- BEGIN fault suite table: written by `MESHWAVE_FAULTS_REPORT=docs/reliability.md make test-faults` -->"
	reportEnd   = "<!-- END fault suite table -->"
)

// fault is one row of the table: a kind of fault and what was done.
type fault struct {
	order   int
	name    string
	how     string
	promise string
	// outcomes counts trials by what happened; failed counts trials whose
	// outcome broke a promise (the test failed).
	outcomes map[string]int
	trials   int
	failed   int
}

var (
	reportMu sync.Mutex
	faults   = map[string]*fault{}
)

// describe registers a row; the first description wins.
func describe(name, how, promise string) {
	reportMu.Lock()
	defer reportMu.Unlock()
	if _, ok := faults[name]; !ok {
		faults[name] = &fault{order: len(faults), name: name, how: how, promise: promise, outcomes: map[string]int{}}
	}
}

// trial records one trial of a registered fault and its outcome; ok false
// means a promise was broken (the test also fails).
func trial(name, outcome string, ok bool) {
	reportMu.Lock()
	defer reportMu.Unlock()
	f := faults[name]
	if f == nil {
		panic("trial of an undescribed fault " + name)
	}
	f.trials++
	f.outcomes[outcome]++
	if !ok {
		f.failed++
	}
}

// writeReport replaces the table between the markers in path.
func writeReport(path string, code int, elapsed time.Duration) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := bytes.Index(old, []byte(reportBegin)), bytes.Index(old, []byte(reportEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q ... %q markers", path, reportBegin, reportEnd)
	}
	reportMu.Lock()
	rows := make([]*fault, 0, len(faults))
	for _, f := range faults {
		rows = append(rows, f)
	}
	reportMu.Unlock()
	sort.Slice(rows, func(a, b int) bool { return rows[a].order < rows[b].order })

	var b strings.Builder
	fmt.Fprintln(&b, reportBegin)
	fmt.Fprintln(&b)
	result := "passed"
	if code != 0 {
		result = fmt.Sprintf("FAILED (exit %d)", code)
	}
	total, broken := 0, 0
	for _, f := range rows {
		total += f.trials
		broken += f.failed
	}
	fmt.Fprintf(&b, "Run: seed %d, %d trials, %d broken promises, suite %s in %s (%s/%s, %d CPUs).\n\n",
		seed, total, broken, result, elapsed.Round(time.Second), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintln(&b, "| Fault | What the suite does | Checked after every trial | Trials | Outcomes | Broken |")
	fmt.Fprintln(&b, "|---|---|---|---:|---|---:|")
	for _, f := range rows {
		keys := make([]string, 0, len(f.outcomes))
		for k := range f.outcomes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var outs []string
		for _, k := range keys {
			outs = append(outs, fmt.Sprintf("%d× %s", f.outcomes[k], k))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %d |\n", f.name, f.how, f.promise, f.trials, strings.Join(outs, "; "), f.failed)
	}
	fmt.Fprintln(&b)
	out := append([]byte{}, old[:i]...)
	out = append(out, b.String()...)
	out = append(out, old[j:]...)
	return os.WriteFile(path, out, 0o644)
}
