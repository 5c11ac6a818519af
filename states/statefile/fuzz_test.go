package statefile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/states"
)

// FuzzRead feeds arbitrary bytes to the state decoder. It must never panic,
// only accept a state with a valid lineage, and a state it accepts must
// survive a write and a read unchanged. Seeds are the golden state and the
// bad-input corpus.
//
//	go test -run '^$' -fuzz FuzzRead -fuzztime 60s ./states/statefile
func FuzzRead(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	corpus, _ := filepath.Glob("../../cmd/meshwave/testdata/badinput/state/*")
	for _, p := range append(seeds, corpus...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		st, err := Read(bytes.NewReader(doc))
		if err != nil {
			return
		}
		if !states.ValidLineage(st.Lineage) {
			t.Fatalf("accepted lineage %q", st.Lineage)
		}
		var buf bytes.Buffer
		if err := Write(&buf, st); err != nil {
			t.Fatalf("write back: %v", err)
		}
		if want := reference(t, st); buf.String() != want {
			t.Fatalf("Write and the reference encoding differ:\n%s\n%s", buf.Bytes(), want)
		}
		again, err := Read(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("read back: %v\n%s", err, buf.Bytes())
		}
		if diff := cmp.Diff(st, again); diff != "" {
			t.Fatalf("round trip (-read +read back):\n%s", diff)
		}
	})
}
