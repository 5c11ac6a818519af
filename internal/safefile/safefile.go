package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// NotRegularError says a path is not a regular file: a directory, FIFO,
// device, socket or, for a write, a symlink.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, describeMode(e.Mode))
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link (meshwave never writes through one)"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return fmt.Sprintf("a special file (mode %s)", m.Type())
}

// TooLargeError says a file is bigger than the reader accepts.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the limit of %s", e.Path, byteSize(e.Limit))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ForeignFileError says a write would replace a file that is not of the
// kind being written.
type ForeignFileError struct {
	Path string
	// Reason says what the file is not, from the caller's check.
	Reason error
}

func (e *ForeignFileError) Error() string {
	return fmt.Sprintf("refusing to replace %s: %v", e.Path, e.Reason)
}

func (e *ForeignFileError) Unwrap() error { return e.Reason }

// ReadFile returns the content of the regular file at path, which may be
// reached through a symlink. A FIFO, device, socket or directory is refused
// before it is opened, and a file over limit bytes is refused without being
// read whole.
func ReadFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	// O_NONBLOCK: should a FIFO replace the file between the check and the
	// open, the open returns at once instead of waiting for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	if fi.Size() > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	return b, nil
}

// maxExisting bounds how much of an existing file is read to recognise it;
// no file meshwave writes is larger.
const maxExisting = 256 << 20

// Replaceable reports, as an error, why a write to path must not happen: a
// symlink or non-regular file is there, or a regular file that recognise
// does not accept as the caller's own kind (recognise returns why not). A
// missing file is writable. recognise nil means only a new file may be
// created.
func Replaceable(path string, recognise func(existing []byte) error) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	if recognise == nil {
		return &ForeignFileError{Path: path, Reason: errors.New("the file exists")}
	}
	existing, err := ReadFile(path, maxExisting)
	var tooLarge *TooLargeError
	if errors.As(err, &tooLarge) {
		return &ForeignFileError{Path: path, Reason: err}
	}
	if err != nil {
		return err
	}
	if err := recognise(existing); err != nil {
		return &ForeignFileError{Path: path, Reason: err}
	}
	return nil
}

// WriteFile creates path with data and mode perm, or replaces it when
// Replaceable allows, atomically: a reader or a meshwave killed at any
// instant sees the old complete file or the new one. A temporary file in the
// same directory is written and synced, renamed over path, and the directory
// synced so that the rename survives a power loss.
//
// The check and the rename are separate steps, so a file swapped in between
// by someone with write access to the directory is replaced; the rename
// itself never follows a symlink, it replaces the link.
func WriteFile(path string, data []byte, perm fs.FileMode, recognise func(existing []byte) error) error {
	_, err := Rewrite(path, data, perm, recognise, nil)
	return err
}

// Rewrite is WriteFile for a file the caller writes again and again: ours
// is the file as its last Rewrite left it (nil: none), and when path still
// holds that file unchanged (the same inode, size and modification time)
// recognise is not asked again: reading back and decoding what it wrote
// itself would cost each save of a large state as much as the save. It
// returns the file it wrote, for the next call.
func Rewrite(path string, data []byte, perm fs.FileMode, recognise func(existing []byte) error, ours fs.FileInfo) (_ fs.FileInfo, err error) {
	if !unchanged(path, ours) {
		if err := Replaceable(path, recognise); err != nil {
			return nil, err
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return nil, err
	}
	if _, err = tmp.Write(data); err != nil {
		return nil, err
	}
	if err = tmp.Sync(); err != nil {
		return nil, err
	}
	// The rename keeps the inode and the times: this is path's file after it.
	written, err := tmp.Stat()
	if err != nil {
		return nil, err
	}
	if err = tmp.Close(); err != nil {
		return nil, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return nil, err
	}
	return written, syncDir(dir)
}

// unchanged says path is still the regular file ours describes.
func unchanged(path string, ours fs.FileInfo) bool {
	if ours == nil {
		return false
	}
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular() && os.SameFile(fi, ours) && fi.Size() == ours.Size() && fi.ModTime().Equal(ours.ModTime())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LockFlag opens a lock file for flock: created if missing, and never
// through a symlink (the open fails on one).
const LockFlag = os.O_CREATE | os.O_RDWR | syscall.O_NOFOLLOW

// CheckLockPath refuses a lock path that is a symlink or not a regular
// file, with a clearer message than the open's "too many levels of
// symbolic links". A missing file is fine: the lock creates it.
func CheckLockPath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	return nil
}

// RewriteHeld replaces the content of the file at path in place, provided
// path still names held (the file the caller has open and locked; a lock
// lives on its inode, so it cannot be renamed over). It never follows a
// symlink.
func RewriteHeld(path string, held fs.FileInfo, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(fi, held) {
		return fmt.Errorf("%s was replaced while locked", path)
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	return f.Sync()
}
