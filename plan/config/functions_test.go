package config

import "testing"

func TestLargestWidth(t *testing.T) {
	tests := map[string]int{
		"http://host:8080/%s":  0,
		"%5d and %-12.3f":      12,
		"100%% of %s":          0,
		"%[2]*d":               0,
		"%[1]40s":              40,
		"%099999999999999999d": maxFormatWidth + 1,
		"%.2000f":              maxFormatWidth + 1,
		"trailing %":           0,
	}
	for format, want := range tests {
		if got := largestWidth(format); got != want {
			t.Errorf("largestWidth(%q) = %d, want %d", format, got, want)
		}
	}
}

func TestFormatWidthLimit(t *testing.T) {
	_, diags := loadString(t, minimalPlan+`wave "w" { namespaces = [format("%2000d", 1)] }`, VarInput{})
	if !diags.HasErrors() || !containsSummary(diags, "Invalid function argument") {
		t.Errorf("diagnostics = %v, want Invalid function argument", diags)
	}
}
