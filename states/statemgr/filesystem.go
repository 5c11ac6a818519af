package statemgr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/meshwave/meshwave/internal/safefile"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statefile"
)

// FileStore keeps a state in a local file. Beside it live PATH.backup (the
// state as it was before this process first overwrote it) and PATH.lock (the
// lock, naming its holder).
//
// Writes are atomic: a reader, or a meshwave killed at any instant, sees
// either the previous complete file or the new complete file.
type FileStore struct {
	path string
	now  func() time.Time

	mu sync.Mutex
	// known says the file's content is known to be ours to replace: it did
	// not exist, or it decoded as a state of lineage onDisk.
	known  bool
	onDisk string
	// original is the file as first read, written to the backup before the
	// first overwrite; nil when there was no file.
	original []byte
	backedUp bool
	// written is the file as this store last wrote it: while the file is
	// still that one, it is not read back before the next write.
	written fs.FileInfo
	// enc encodes the state; it keeps each step's last encoding.
	enc statefile.Encoder

	lock *flock.Flock
	info *LockInfo
}

var _ Full = (*FileStore)(nil)

// NewFileStore returns a store for the state file at path.
func NewFileStore(path string) *FileStore {
	return &FileStore{path: path, now: time.Now}
}

// Path is the state file.
func (s *FileStore) Path() string { return s.path }

// BackupPath is where the previous version of the state is kept.
func (s *FileStore) BackupPath() string { return s.path + ".backup" }

// Location names the state in messages: its path.
func (s *FileStore) Location() string { return s.path }

// LockPath is the lock file.
func (s *FileStore) LockPath() string { return s.path + ".lock" }

// Read implements Persister.
func (s *FileStore) Read() (*states.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read()
}

func (s *FileStore) read() (*states.State, error) {
	b, err := safefile.ReadFile(s.path, MaxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		// A link to nowhere is not "no state": the state may be on a
		// disk that is not mounted, and a write would be refused anyway.
		if fi, lerr := os.Lstat(s.path); lerr == nil {
			return nil, fmt.Errorf("read state: %w", &safefile.NotRegularError{Path: s.path, Mode: fi.Mode()})
		}
		s.known, s.onDisk = true, ""
		return nil, ErrNoState
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	st, err := statefile.Read(bytes.NewReader(b))
	if err != nil {
		s.known = false
		return nil, &UnusableStateError{Path: s.path, Err: err}
	}
	s.known, s.onDisk = true, st.Lineage
	if !s.backedUp && s.original == nil {
		s.original = b
	}
	return st, nil
}

// ForeignLineageError says a write would replace the state of another
// upgrade.
type ForeignLineageError struct {
	Path          string
	Have, Writing string
	// Store names a state kept elsewhere than in a file; empty for a
	// state file at Path.
	Store string
}

func (e *ForeignLineageError) Error() string {
	where := "state file " + e.Path
	if e.Store != "" {
		where = "state " + e.Store
	}
	return fmt.Sprintf("%s belongs to lineage %s; refusing to replace it with lineage %s", where, e.Have, e.Writing)
}

// Write implements Persister.
func (s *FileStore) Write(st *states.State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known {
		// Never replace what we have not seen: read it first, and refuse if
		// it is not a usable state.
		if _, err := s.read(); err != nil && !errors.Is(err, ErrNoState) {
			return err
		}
	}
	if s.onDisk != "" && s.onDisk != st.Lineage {
		return &ForeignLineageError{Path: s.path, Have: s.onDisk, Writing: st.Lineage}
	}
	if !s.backedUp && s.original != nil {
		if err := safefile.WriteFile(s.BackupPath(), s.original, 0o600, recogniseState); err != nil {
			return fmt.Errorf("write state backup: %w", err)
		}
		s.backedUp = true
	}
	if st.Serial == math.MaxUint64 {
		// Wrapping to 0 would make the state look older than every saved
		// plan made against it.
		return fmt.Errorf("write state: serial %d is the largest a state can have; it cannot record another change", st.Serial)
	}
	st.Serial++
	var buf bytes.Buffer
	if err := s.enc.Encode(&buf, st); err != nil {
		st.Serial--
		return fmt.Errorf("encode state: %w", err)
	}
	written, err := safefile.Rewrite(s.path, buf.Bytes(), 0o600, recogniseState, s.written)
	if err != nil {
		st.Serial--
		return fmt.Errorf("write state: %w", err)
	}
	s.written = written
	s.known, s.onDisk = true, st.Lineage
	return nil
}

// MaxStateSize bounds a state file: a hundred thousand steps fit in it.
const MaxStateSize = 64 << 20

// maxLockSize bounds a lock file, which holds one LockInfo.
const maxLockSize = 64 << 10

// recogniseState lets a write replace only a usable meshwave state (the
// state file or its backup); the store has refused anything else earlier,
// this catches a file swapped in since.
func recogniseState(existing []byte) error {
	if _, err := statefile.Read(bytes.NewReader(existing)); err != nil {
		return fmt.Errorf("it is not a usable meshwave state: %w", err)
	}
	return nil
}

// Lock implements Locker. The lock is an flock(2) on PATH.lock, so the kernel
// releases it when its holder dies, even by kill -9; the file's content
// names the holder for the error a second meshwave gets.
func (s *FileStore) Lock(operation string) (*LockInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != nil {
		return nil, &LockedError{Path: s.path, Info: s.info}
	}
	for range 5 {
		// A link planted at the lock path would make the lock info
		// overwrite its target: refuse it, and open without following.
		if err := safefile.CheckLockPath(s.LockPath()); err != nil {
			return nil, fmt.Errorf("lock state: %w", err)
		}
		fl := flock.New(s.LockPath(), flock.SetFlag(safefile.LockFlag), flock.SetPermissions(0o600))
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("lock state: %w", err)
		}
		if !ok {
			return nil, &LockedError{Path: s.path, Info: readLockInfo(s.LockPath())}
		}
		// An Unlock or ForceUnlock may have removed the file between our
		// open and our lock; a lock on a removed file guards nothing.
		if !isCurrent(fl) {
			fl.Unlock()
			continue
		}
		held, err := fl.Stat()
		if err != nil {
			fl.Unlock()
			return nil, fmt.Errorf("lock state: %w", err)
		}
		if !held.Mode().IsRegular() {
			fl.Unlock()
			return nil, fmt.Errorf("lock state: %w", &safefile.NotRegularError{Path: s.LockPath(), Mode: held.Mode()})
		}
		info := newLockInfo(s.path, operation, s.now())
		b, _ := json.MarshalIndent(info, "", "  ")
		if err := safefile.RewriteHeld(s.LockPath(), held, append(b, '\n')); err != nil {
			fl.Unlock()
			return nil, fmt.Errorf("write lock info: %w", err)
		}
		s.lock, s.info = fl, info
		return info, nil
	}
	return nil, fmt.Errorf("lock state: lock file %s keeps being replaced", s.LockPath())
}

func isCurrent(fl *flock.Flock) bool {
	held, err := fl.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(fl.Path())
	return err == nil && os.SameFile(held, now)
}

// Unlock implements Locker.
func (s *FileStore) Unlock() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	// Remove the file only if it is still ours: after a ForceUnlock it may
	// be someone else's lock.
	if isCurrent(s.lock) {
		if err := os.Remove(s.LockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unlock state: %w", err)
		}
	}
	err := s.lock.Unlock()
	s.lock, s.info = nil, nil
	return err
}

// ForceUnlock implements Locker. It removes the lock file if it names id;
// the next Lock creates a new one.
func (s *FileStore) ForceUnlock(id string) error {
	info := readLockInfo(s.LockPath())
	if info == nil {
		return fmt.Errorf("force-unlock: no readable lock file at %s", s.LockPath())
	}
	if info.ID != id {
		return &LockIDMismatchError{Want: id, Info: info}
	}
	if err := os.Remove(s.LockPath()); err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	return nil
}

// readLockInfo reads the holder from a lock file. The holder writes it just
// after taking the lock, so an empty or partial file is retried briefly.
func readLockInfo(path string) *LockInfo {
	for range 20 {
		b, err := safefile.ReadFile(path, maxLockSize)
		var info LockInfo
		if err == nil && json.Unmarshal(b, &info) == nil && info.ID != "" {
			return &info
		}
		var notRegular *safefile.NotRegularError
		if errors.Is(err, fs.ErrNotExist) || errors.As(err, &notRegular) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func newID() string { return states.NewLineage() }
