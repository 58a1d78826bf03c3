// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// File is the subset of *os.File used by the log. Implementations must be
// safe for a concurrent Sync and Write on the same file.
type File interface {
	io.Writer
	// WriteAt writes in place (pwrite); used for the cursor file's slots.
	io.WriterAt
	io.ReaderAt
	io.Closer
	// Sync flushes the file's data to stable storage (fsync).
	Sync() error
	// Truncate changes the size of the file.
	Truncate(size int64) error
	// Stat returns file information.
	Stat() (os.FileInfo, error)
}

// FS abstracts the file-system operations of the log so that faults can be
// injected in tests. The zero value of Options uses the real OS.
type FS interface {
	// OpenFile opens a file like os.OpenFile. The log creates new files
	// (segments, cursor.tmp) with O_EXCL. An implementation backed by a real
	// file system must never follow a symbolic link in the last element of
	// name: OSFS adds O_NOFOLLOW|O_CLOEXEC to every open and fails with an
	// error matching ErrSymlink.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Rename renames a file like os.Rename.
	Rename(oldpath, newpath string) error
	// Remove removes a file like os.Remove.
	Remove(name string) error
	// ReadDir lists a directory like os.ReadDir.
	ReadDir(name string) ([]os.DirEntry, error)
	// MkdirAll creates a directory tree like os.MkdirAll.
	MkdirAll(path string, perm os.FileMode) error
	// SyncDir fsyncs a directory so that renames and creations are durable.
	SyncDir(name string) error
}

// Locker is optionally implemented by an FS to provide an exclusive,
// inter-process lock on a file. Lock must fail without blocking when the lock
// is held elsewhere.
type Locker interface {
	// Lock acquires the lock on name; closing the result releases it.
	Lock(name string) (io.Closer, error)
}

// OSFS is the FS backed by the operating system.
type OSFS struct{}

var _ FS = OSFS{}
var _ Locker = OSFS{}

// ErrSymlink is matched by the error of opening a path whose last element is
// a symbolic link: the log never reads or writes through one, since a link
// planted in its directory (as a segment, cursor, cursor.tmp or LOCK) could
// otherwise make it truncate, overwrite or disclose any file the process can
// open. It also matches os.ErrPermission, so every step of the log that stops
// on a permission error stops on it (Open fails, nothing is deleted).
var ErrSymlink = errors.New("refusing to follow a symbolic link")

// SymlinkError reports a path that is a symbolic link.
type SymlinkError struct {
	Op   string // "open" or "create"
	Path string
}

func (e *SymlinkError) Error() string {
	return fmt.Sprintf("%s %s: %v (a file of the buffer must be a regular file)", e.Op, e.Path, ErrSymlink)
}

// Is makes the error match ErrSymlink and os.ErrPermission.
func (e *SymlinkError) Is(target error) bool {
	return target == ErrSymlink || target == os.ErrPermission
}

// OpenNoFollow opens name like os.OpenFile, adding O_NOFOLLOW|O_CLOEXEC (on
// the platforms of fs_unix.go; elsewhere the buffer refuses to start, see
// fs_other.go): a
// symbolic link as the last element of name is never followed, whatever
// flag asks for (creating, truncating, appending or reading), and the error
// then matches ErrSymlink. With O_CREATE|O_EXCL an existing link fails the
// same way. Exported for the exporter's other files (dead letter).
func OpenNoFollow(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag|openFlags, perm)
	if err == nil {
		return f, nil
	}
	// ELOOP: the last element is a link (O_NOFOLLOW); EEXIST under O_EXCL may
	// be a link too: say so rather than "file exists".
	if isLinkLoop(err) || errors.Is(err, os.ErrExist) {
		if fi, lerr := os.Lstat(name); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			op := "open"
			if flag&os.O_CREATE != 0 {
				op = "create"
			}
			return nil, &SymlinkError{Op: op, Path: name}
		}
	}
	return nil, err
}

// OpenFile implements FS with OpenNoFollow.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := OpenNoFollow(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// ReadDir implements FS.
func (OSFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

// SyncDir implements FS.
func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// errLocked is returned by Lock when another process holds the lock.
var errLocked = errors.New("lock held by another process")
