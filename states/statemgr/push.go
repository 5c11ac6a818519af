package statemgr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statefile"
)

// ErrPushUnchanged says a pushed state is the stored one already: same
// lineage, same serial, same content. There is nothing to write.
var ErrPushUnchanged = errors.New("the stored state is already this state")

// CheckPush says whether incoming may replace stored (nil: there is no
// stored state), the rule of `meshwave state push`: a state of another
// lineage is never replaced, an older serial never replaces a newer one, and
// at the same serial only the very same content is accepted (as
// ErrPushUnchanged): two states of one serial that differ are two histories.
func CheckPush(stored, incoming *states.State) error {
	if stored == nil {
		return nil
	}
	switch {
	case stored.Lineage != incoming.Lineage:
		return fmt.Errorf("refusing to push: the stored state belongs to lineage %s, the pushed one to lineage %s (another upgrade)", stored.Lineage, incoming.Lineage)
	case incoming.Serial < stored.Serial:
		return fmt.Errorf("refusing to push: the pushed state has serial %d, older than the stored serial %d", incoming.Serial, stored.Serial)
	case incoming.Serial == stored.Serial:
		var a, b bytes.Buffer
		if err := statefile.Write(&a, stored); err != nil {
			return err
		}
		if err := statefile.Write(&b, incoming); err != nil {
			return err
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			return fmt.Errorf("refusing to push: the pushed state and the stored one both have serial %d but differ", incoming.Serial)
		}
		return ErrPushUnchanged
	}
	return nil
}

// LockWithin takes l's lock for operation, trying again while someone else
// holds it, until wait has passed or ctx ends; a wait of zero tries once. A
// lock whose holder died without releasing it (a Lease no longer renewed)
// is taken once it expires. The last *LockedError is returned when the wait
// is over.
func LockWithin(ctx context.Context, l Locker, operation string, wait, every time.Duration) (*LockInfo, error) {
	deadline := time.Now().Add(wait)
	for {
		info, err := l.Lock(operation)
		var locked *LockedError
		if err == nil || !errors.As(err, &locked) || wait <= 0 {
			return info, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, err
		}
		t := time.NewTimer(min(every, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (gave up waiting: %v)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}
