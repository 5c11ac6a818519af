package statemgr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/meshwave/meshwave/executor/statefile"
	"github.com/meshwave/meshwave/executor/states"
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

// LockPath is the lock file.
func (s *FileStore) LockPath() string { return s.path + ".lock" }

// Read implements Persister.
func (s *FileStore) Read() (*states.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read()
}

func (s *FileStore) read() (*states.State, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
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
}

func (e *ForeignLineageError) Error() string {
	return fmt.Sprintf("state file %s belongs to lineage %s; refusing to replace it with lineage %s", e.Path, e.Have, e.Writing)
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
		if err := writeFileAtomic(s.BackupPath(), s.original); err != nil {
			return fmt.Errorf("write state backup: %w", err)
		}
		s.backedUp = true
	}
	st.Serial++
	var buf bytes.Buffer
	if err := statefile.Write(&buf, st); err != nil {
		st.Serial--
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeFileAtomic(s.path, buf.Bytes()); err != nil {
		st.Serial--
		return fmt.Errorf("write state: %w", err)
	}
	s.known, s.onDisk = true, st.Lineage
	return nil
}

// writeFileAtomic replaces path with data so that a crash at any instant
// leaves either the old or the new content: a temporary file in the same
// directory is written, synced, renamed over path, and the directory synced
// so the rename itself survives a power loss.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
		fl := flock.New(s.LockPath(), flock.SetPermissions(0o600))
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
		info := newLockInfo(s.path, operation, s.now())
		b, _ := json.MarshalIndent(info, "", "  ")
		if err := os.WriteFile(s.LockPath(), append(b, '\n'), 0o600); err != nil {
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
		b, err := os.ReadFile(path)
		var info LockInfo
		if err == nil && json.Unmarshal(b, &info) == nil && info.ID != "" {
			return &info
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func newID() string { return states.NewLineage() }
