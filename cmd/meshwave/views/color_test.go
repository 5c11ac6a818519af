package views

import (
	"os"
	"path/filepath"
	"testing"
)

func TestColorAllowed(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		want bool
	}{
		"plain terminal":   {env: map[string]string{"TERM": "xterm-256color"}, want: true},
		"no TERM":          {env: map[string]string{}, want: true},
		"NO_COLOR set":     {env: map[string]string{"TERM": "xterm", "NO_COLOR": "1"}, want: false},
		"NO_COLOR any":     {env: map[string]string{"NO_COLOR": "false"}, want: false},
		"NO_COLOR empty":   {env: map[string]string{"TERM": "xterm", "NO_COLOR": ""}, want: true},
		"dumb terminal":    {env: map[string]string{"TERM": "dumb"}, want: false},
		"dumb and NOCOLOR": {env: map[string]string{"TERM": "dumb", "NO_COLOR": "1"}, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := colorAllowed(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("colorAllowed(%v) = %v, want %v", tc.env, got, tc.want)
			}
		})
	}
}

func TestColorEnabledNeedsATerminal(t *testing.T) {
	noEnv := func(string) string { return "" }
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tests := map[string]*os.File{"pipe": w, "regular file": file, "nil file": nil}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			if ColorEnabled(f, noEnv) {
				t.Errorf("ColorEnabled(%s) = true, want false", name)
			}
		})
	}
}
