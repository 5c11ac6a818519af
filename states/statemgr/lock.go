package statemgr

import (
	"fmt"
	"os"
	"os/user"
	"time"
)

// LockInfo says who holds a lock. It is the content of the lock file.
type LockInfo struct {
	ID string `json:"id"`
	// Holder is user@host.
	Holder    string    `json:"holder"`
	Operation string    `json:"operation"`
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	Created   time.Time `json:"created"`
	// Path is the state file the lock guards.
	Path string `json:"path"`
}

// LockedError says someone else holds the lock. Info is nil when the lock
// file could not be read.
type LockedError struct {
	Path string
	Info *LockInfo
}

func (e *LockedError) Error() string {
	if e.Info == nil {
		return fmt.Sprintf("state file %s is locked by another meshwave (lock file %s.lock unreadable)", e.Path, e.Path)
	}
	i := e.Info
	return fmt.Sprintf("state file %s is locked by %s (pid %d, operation %q, since %s, lock ID %s)",
		e.Path, i.Holder, i.PID, i.Operation, i.Created.Format(time.RFC3339), i.ID)
}

// LockIDMismatchError says ForceUnlock was given an ID that is not the
// current lock's.
type LockIDMismatchError struct {
	Want string
	Info *LockInfo
}

func (e *LockIDMismatchError) Error() string {
	return fmt.Sprintf("lock ID %q does not match the current lock %q held by %s", e.Want, e.Info.ID, e.Info.Holder)
}

// newLockInfo describes this process taking a lock for operation.
func newLockInfo(path, operation string, now time.Time) *LockInfo {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	name := "unknown-user"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return &LockInfo{ID: newID(), Holder: name + "@" + host, Operation: operation, PID: os.Getpid(),
		Host: host, Created: now.UTC(), Path: path}
}
