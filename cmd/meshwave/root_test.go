package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTerraformStyleArgs(t *testing.T) {
	tests := map[string]struct {
		in, want []string
	}{
		"single dash long flag": {[]string{"plan", "-json"}, []string{"plan", "--json"}},
		"with value":            {[]string{"-out=x.plan", "-var", "a=b"}, []string{"--out=x.plan", "--var", "a=b"}},
		"shorthand kept":        {[]string{"-f", "p.mw.hcl"}, []string{"-f", "p.mw.hcl"}},
		"shorthand with equals": {[]string{"-f=p.mw.hcl"}, []string{"-f=p.mw.hcl"}},
		"double dash kept":      {[]string{"--json"}, []string{"--json"}},
		"after terminator":      {[]string{"-json", "--", "-x"}, []string{"--json", "--", "-x"}},
		"stdin dash":            {[]string{"-"}, []string{"-"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, terraformStyleArgs(tc.in)); diff != "" {
				t.Errorf("terraformStyleArgs(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
