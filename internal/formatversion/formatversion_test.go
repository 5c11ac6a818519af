package formatversion

import "testing"

func TestReadable(t *testing.T) {
	tests := map[string]bool{
		"1.0": true, "1.1": true, "0.1": false, "1.2": false, "2.0": false,
		"+1.0": false, "1.-1": false, "-1.0": false, "1.+0": false, "01.0": false, "1.01": false,
		"1.0.0": false, "1": false, "1.": false, ".1": false, "": false, " 1.0": false, "1.0 ": false,
		"1.0\n": false, "1.1e0": false, "1_0.0": false, "0x1.0": false, "1.18446744073709551616": false,
		"١.٠": false,
	}
	for v, want := range tests {
		if got := Readable(v, "1.1"); got != want {
			t.Errorf("Readable(%q, 1.1) = %v, want %v", v, got, want)
		}
	}
}
