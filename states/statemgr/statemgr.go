package statemgr

import (
	"errors"
	"fmt"

	"github.com/meshwave/meshwave/states"
)

// ErrNoState is returned by Read when there is no state yet.
var ErrNoState = errors.New("no state")

// UnusableStateError says a state exists but cannot be used: it is corrupt,
// foreign, from a newer meshwave, or belongs to another upgrade. The store
// never overwrites it.
type UnusableStateError struct {
	Path string
	Err  error
	// Store names a state kept elsewhere than in a file; empty for a
	// state file at Path.
	Store string
}

func (e *UnusableStateError) Error() string {
	where := "state file " + e.Path
	if e.Store != "" {
		where = "state " + e.Store
	}
	return fmt.Sprintf("%s cannot be used (it was left untouched): %v", where, e.Err)
}

func (e *UnusableStateError) Unwrap() error { return e.Err }

// Persister reads and writes a state.
type Persister interface {
	// Read returns the stored state, ErrNoState, or an error wrapping
	// *UnusableStateError.
	Read() (*states.State, error)
	// Write stores s durably, bumping s.Serial first. It refuses to replace a
	// stored state it could not read or one of another lineage.
	Write(s *states.State) error
}

// Locker keeps a second meshwave away from a state.
type Locker interface {
	// Lock takes the lock for operation or fails at once with *LockedError
	// naming the holder.
	Lock(operation string) (*LockInfo, error)
	// Unlock releases a lock taken by Lock.
	Unlock() error
	// ForceUnlock breaks the lock with the given ID, whoever holds it.
	ForceUnlock(id string) error
}

// Full is a store that persists and locks.
type Full interface {
	Persister
	Locker
}
