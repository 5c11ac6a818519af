package planfile

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecode feeds arbitrary bytes to the saved-plan decoder. It must never
// panic, and a plan it accepts must be well formed and survive a write and
// a read unchanged. Seeds are a written plan and the bad-input corpus.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 60s ./plan/planfile
func FuzzDecode(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.plan")
	if err := Write(path, sample()); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(bytes.Replace(seed, []byte(`"namespace-relabel"`), []byte(`"teleport"`), 1))
	corpus, _ := filepath.Glob("../../cmd/meshwave/testdata/badinput/savedplan/*")
	for _, p := range corpus {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := Decode(body)
		if err != nil {
			return
		}
		if err := got.Plan.WellFormed(); err != nil {
			t.Fatalf("accepted a plan that is not well formed: %v", err)
		}
		path := filepath.Join(t.TempDir(), "again.plan")
		if err := Write(path, got); err != nil {
			t.Fatalf("write back: %v", err)
		}
		again, err := Read(path)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if diff := cmp.Diff(canonical(t, got), canonical(t, again)); diff != "" {
			t.Fatalf("round trip (-decoded +read back):\n%s", diff)
		}
	})
}

// canonical is f's JSON form, which is what a saved plan promises to keep.
func canonical(t *testing.T, f *File) string {
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
