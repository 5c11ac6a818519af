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
	// KubeUser is the Kubernetes user the holder acts as, when the lock is
	// kept in a cluster (a Lease); empty for a lock file.
	KubeUser string `json:"kube_user,omitempty"`
}

// LockedError says someone else holds the lock. Info is nil when the lock
// file could not be read.
type LockedError struct {
	Path string
	Info *LockInfo
	// Store names a state kept elsewhere than in a file ("Kubernetes
	// Secret ns/name"); empty for a state file at Path.
	Store string
	// Expires is when a lock that must be renewed (a Lease) lapses unless
	// its holder renews it; zero for a lock file.
	Expires time.Time
}

func (e *LockedError) Error() string {
	where := "state file " + e.Path
	if e.Store != "" {
		where = "state " + e.Store
	}
	if e.Info == nil {
		return fmt.Sprintf("%s is locked by another meshwave (lock file %s.lock unreadable)", where, e.Path)
	}
	i := e.Info
	holder := i.Holder
	if i.KubeUser != "" {
		holder += " as Kubernetes user " + i.KubeUser
	}
	msg := fmt.Sprintf("%s is locked by %s (pid %d, operation %q, since %s, lock ID %s)",
		where, holder, i.PID, i.Operation, i.Created.Format(time.RFC3339), i.ID)
	if !e.Expires.IsZero() {
		msg += fmt.Sprintf("; the lock expires at %s unless its holder renews it (-lock-timeout waits for it)", e.Expires.UTC().Format(time.RFC3339))
	}
	return msg
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

// NewLockInfo describes this process taking a lock for operation on the
// state at path, for a store that keeps its lock elsewhere than in a file.
func NewLockInfo(path, operation string, now time.Time) *LockInfo {
	return newLockInfo(path, operation, now)
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
