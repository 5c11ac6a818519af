package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/meshwave/meshwave/executor"
)

// Apply that stopped before the uninstall for the manual follow-up exits 1,
// as at an approval gate: the run is not finished, nothing failed, and the
// message says what still uses the revision and how to continue.
func TestApplyResultFollowUpRequired(t *testing.T) {
	var stderr bytes.Buffer
	err := applyResult(context.Background(), streams{Err: &stderr},
		&executor.FollowUpRequiredError{StepID: "finalize/uninstall/1-30", Revision: "1-30", Users: []string{"pod demo-b/cache-0"}})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("applyResult = %v, want exit status 1", err)
	}
	for _, want := range []string{"uninstall of 1-30 waits for the manual follow-up", "pod demo-b/cache-0", "The state is saved", "run apply again"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not say %q", stderr.String(), want)
		}
	}
}
