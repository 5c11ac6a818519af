package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// generate refuses, before it reads the cluster (the kubeconfig here does
// not exist), what it could not finish: an --out it must not replace, and
// flags that ask for no plan.
func TestGenerateRefusesBeforeReadingTheCluster(t *testing.T) {
	const generated = "# Written by meshwave generate from the cluster as it was:\nupgrade {}\n"
	tests := map[string]struct {
		args []string
		// existing is the content of out.mw.hcl before the run ("" none);
		// link makes it a symlink to a file of that content.
		existing string
		link     bool
		want     string
	}{
		"an existing file":                 {args: []string{"--out", "out.mw.hcl"}, existing: "upgrade {}\n", want: "refusing to replace"},
		"an existing generated file":       {args: []string{"--out", "out.mw.hcl"}, existing: generated, want: "--force replaces a plan meshwave generate wrote"},
		"a hand-written file with --force": {args: []string{"--out", "out.mw.hcl", "--force"}, existing: "upgrade {}\n", want: "meshwave generate did not write it"},
		"a symlink":                        {args: []string{"--out", "out.mw.hcl", "--force"}, existing: generated, link: true, want: "symbolic link"},
		"--force without --out":            {args: []string{"--force"}, want: "--force needs --out"},
		"revisions of two flavors":         {want: "are not revisions of one flavor", args: []string{"--to", "cp-v17x.istio-system"}},
		"an unknown flavor":                {args: []string{"--flavor", "sail"}, want: `unknown --flavor "sail"`},
		"a wave size of zero":              {args: []string{"--wave-size", "0"}, want: "--wave-size must be positive"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.mw.hcl")
			if tc.existing != "" {
				target := out
				if tc.link {
					target = filepath.Join(dir, "target")
					if err := os.Symlink(target, out); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(target, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"generate", "--from", "1-26", "--to", "1-27", "--kubeconfig", filepath.Join(dir, "no-kubeconfig")}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "out.mw.hcl", out))
			}
			code, stdout, errOut := runCmd(t, args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if tc.existing != "" {
				if b, _ := os.ReadFile(out); string(b) != tc.existing {
					t.Errorf("out.mw.hcl changed to %q", b)
				}
			}
		})
	}
}

func TestGenerateNeedsBothRevisions(t *testing.T) {
	code, _, errOut := runCmd(t, "generate", "--to", "1-27")
	if code != 1 || !strings.Contains(errOut, `"from" not set`) {
		t.Errorf("exit %d, stderr %q; want exit 1 naming --from", code, errOut)
	}
}

func TestGenerateHelpTeaches(t *testing.T) {
	code, out, _ := runCmd(t, "generate", "--help")
	for _, want := range []string{"meshwave generate --from 1-26 --to 1-27 --out upgrade.mw.hcl", "--by-label", "--canary", "uninstall_old = false"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("generate --help: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
}
