package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "plan.mw.hcl")
	if err := os.WriteFile(regular, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.mw.hcl")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path  string
		limit int64
		want  string // content, or a part of the error
		fails bool
	}{
		"regular file":        {path: regular, limit: 10, want: "0123456789"},
		"through a symlink":   {path: link, limit: 10, want: "0123456789"},
		"over the limit":      {path: regular, limit: 9, want: "larger than the limit of 9 bytes", fails: true},
		"a FIFO, not blocked": {path: fifo, limit: 10, want: "named pipe (FIFO), not a regular file", fails: true},
		"a directory":         {path: dir, limit: 10, want: "a directory, not a regular file", fails: true},
		"a device":            {path: "/dev/null", limit: 10, want: "a device, not a regular file", fails: true},
		"missing":             {path: filepath.Join(dir, "nope"), limit: 10, want: "no such file", fails: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			var got []byte
			var err error
			go func() { got, err = ReadFile(tc.path, tc.limit); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("ReadFile blocked")
			}
			switch {
			case tc.fails && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ReadFile: got %v, want an error containing %q", err, tc.want)
			case !tc.fails && (err != nil || string(got) != tc.want):
				t.Errorf("ReadFile: got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	ours := func(b []byte) error {
		if !strings.HasPrefix(string(b), "ours") {
			return errors.New("it is not ours")
		}
		return nil
	}
	tests := map[string]struct {
		setup func(t *testing.T, path string)
		want  string // "" for success, else a part of the error
	}{
		"new file": {setup: func(*testing.T, string) {}},
		"replaces its own kind": {setup: func(t *testing.T, path string) {
			mustWrite(t, path, "ours, old")
		}},
		"refuses another kind": {setup: func(t *testing.T, path string) {
			mustWrite(t, path, "theirs")
		}, want: "refusing to replace " + "%s: it is not ours"},
		"refuses a symlink to its own kind": {setup: func(t *testing.T, path string) {
			mustWrite(t, path+".target", "ours, old")
			if err := os.Symlink(path+".target", path); err != nil {
				t.Fatal(err)
			}
		}, want: "symbolic link"},
		"refuses a dangling symlink": {setup: func(t *testing.T, path string) {
			if err := os.Symlink(path+".target", path); err != nil {
				t.Fatal(err)
			}
		}, want: "symbolic link"},
		"refuses a FIFO": {setup: func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: "named pipe"},
		"refuses a directory": {setup: func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, want: "a directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			tc.setup(t, path)
			before := snapshot(t, dir)
			err := WriteFile(path, []byte("ours, new"), 0o600, ours)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("WriteFile: %v", err)
				}
				got, _ := os.ReadFile(path)
				fi, _ := os.Lstat(path)
				if string(got) != "ours, new" || fi.Mode() != 0o600 {
					t.Errorf("got %q mode %v, want %q mode 0600", got, fi.Mode(), "ours, new")
				}
				return
			}
			want := strings.ReplaceAll(tc.want, "%s", path)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("WriteFile: got %v, want an error containing %q", err, want)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("directory changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists a directory's entries with their types and the content of
// its regular files, without following links or opening FIFOs.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Name() + " " + e.Type().String())
		if e.Type().IsRegular() {
			c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			b.WriteString(" " + string(c))
		}
		b.WriteString("; ")
	}
	return b.String()
}

func TestRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	asked := 0
	ours := func(b []byte) error {
		asked++
		if !strings.HasPrefix(string(b), "ours") {
			return errors.New("it is not ours")
		}
		return nil
	}
	mustWrite(t, path, "ours, first")
	written, err := Rewrite(path, []byte("ours, 1"), 0o600, ours, nil)
	if err != nil || asked != 1 {
		t.Fatalf("first Rewrite: %v, recognise asked %d times, want once", err, asked)
	}
	// The file it wrote, still there: not read back.
	if written, err = Rewrite(path, []byte("ours, 2"), 0o600, ours, written); err != nil || asked != 1 {
		t.Fatalf("Rewrite over its own file: %v, recognise asked %d times, want not again", err, asked)
	}
	// Replaced by someone else since: asked again, and refused.
	mustWrite(t, path+".theirs", "theirs")
	if err := os.Rename(path+".theirs", path); err != nil {
		t.Fatal(err)
	}
	if _, err := Rewrite(path, []byte("ours, 3"), 0o600, ours, written); err == nil || !strings.Contains(err.Error(), "it is not ours") || asked != 2 {
		t.Errorf("Rewrite over a replaced file: %v (recognise asked %d times), want it asked and the write refused", err, asked)
	}
	if got, _ := os.ReadFile(path); string(got) != "theirs" {
		t.Errorf("file = %q, want theirs untouched", got)
	}
	// Edited in place (same inode, another size): asked again too.
	mustWrite(t, path, "ours, edited")
	written, err = Rewrite(path, []byte("ours, 4"), 0o600, ours, nil)
	if err != nil {
		t.Fatal(err)
	}
	asked = 0
	if err := os.WriteFile(path, []byte("theirs, edited in place"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Rewrite(path, []byte("ours, 5"), 0o600, ours, written); err == nil || asked != 1 {
		t.Errorf("Rewrite over a file edited in place: %v (recognise asked %d times), want it asked and refused", err, asked)
	}
}
