// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// PrivateTmpSuffix names the copy of a hard-linked file while openOwned
// makes it private (see breakLink); recovery removes a leftover one.
const PrivateTmpSuffix = ".private.tmp"

// linkCounter is implemented by the FileInfo.Sys() of an FS that is not
// backed by the OS but counts hard links (the tests' simulated file system).
type linkCounter interface{ LinkCount() uint64 }

// linkCount returns the number of names (hard links) of the file fi
// describes; false when the FS does not say.
func linkCount(fi os.FileInfo) (uint64, bool) {
	if c, ok := fi.Sys().(linkCounter); ok {
		return c.LinkCount(), true
	}
	return sysLinkCount(fi.Sys())
}

// openOwned opens the existing file path of the log to modify it (flag
// holds O_WRONLY or O_RDWR, maybe O_APPEND; never O_CREATE or O_TRUNC) and
// makes sure the file has no other name: O_NOFOLLOW refuses a symbolic link
// but not a hard link, and a hard link planted in the directory (or left by
// a hard-link backup, cp -al, rsnapshot) would make every write, truncation
// or append reach the file under its other name, outside the buffer. When
// fstat counts more than one link, the link is broken (breakLink): the
// content is copied to a new private file that replaces the name, and the
// handle returned is the copy's, so the other name is never modified. The
// log's state does not change (same bytes, same size: every count stays
// exact); the event is logged as a warning naming the file (a recovery note
// when rec is not nil).
//
// Files the log only reads (a segment being scanned or read) and files it
// creates with O_EXCL (new segments, cursor.tmp, the copy here) need no
// check: a new file has one link, and a rename over a name replaces the
// name only. The LOCK file is opened O_RDWR|O_CREATE but never written: it
// is only flocked.
func (l *Log) openOwned(path string, flag int, rec *Recovery) (File, error) {
	f, err := l.fs.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("wal: stat %s: %w", path, err)
	}
	n, known := linkCount(fi)
	if !known || n <= 1 {
		return f, nil
	}
	// Nothing was written through f (maybe not readable): close it and
	// copy from a handle that reads.
	_ = f.Close()
	nf, err := breakLink(l.fs, path, flag, l.maxSegmentFile())
	if err != nil {
		return nil, fmt.Errorf("wal: %s has %d links (a hard link shares its data with another name): making a private copy before writing: %w", path, n, err)
	}
	msg := fmt.Sprintf("%s had %d links (a hard link shares its data with another name, e.g. a planted link or a hard-link backup): "+
		"copied it to a private file before writing; the other name is left unchanged", path, n)
	if rec != nil {
		l.note(rec, "%s", msg)
	} else {
		l.logf("wal: %s", msg)
	}
	return nf, nil
}

// breakLink replaces the name path by a private copy of its file and returns
// the copy opened with flag: the copy is created with O_EXCL and mode 0600
// in the same directory, written, fsynced, renamed over path, and the
// directory fsynced before anything is written through the returned handle.
// Crash-safe: until the rename path names the original file, after it an
// identical copy, fsynced before the rename (a power loss before the
// directory fsync may bring back the original: same content); a leftover
// copy is removed by the next start (recovery; the dead letter's open). The file at path is only
// read; a file larger than maxSize is refused.
func breakLink(fsys FS, path string, flag int, maxSize int64) (File, error) {
	src, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size > maxSize {
		return nil, fmt.Errorf("%d bytes, larger than any file of the buffer", size)
	}
	tmp := path + PrivateTmpSuffix
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	wflag := flag&^(os.O_TRUNC) | os.O_CREATE | os.O_EXCL
	dst, err := fsys.OpenFile(tmp, wflag, 0o600)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (File, error) {
		_ = dst.Close()
		_ = fsys.Remove(tmp)
		return nil, err
	}
	buf := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size; {
		n, rerr := src.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return fail(werr)
			}
			off += int64(n)
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) && off < size {
				return fail(fmt.Errorf("%s shrank while being copied", path))
			}
			if !errors.Is(rerr, io.EOF) {
				return fail(rerr)
			}
		}
	}
	if err := dst.Sync(); err != nil {
		return fail(err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		// path names the copy already, maybe not durably: a power loss may
		// bring back the original name, with the same content. Writing
		// through the copy before that is durable could lose the writes:
		// refuse, as for any other failure to open.
		_ = dst.Close()
		return nil, err
	}
	return dst, nil
}

// isPrivateTmp reports whether name is a leftover copy of breakLink.
func isPrivateTmp(name string) bool { return strings.HasSuffix(name, PrivateTmpSuffix) }

// OpenOwned opens path like OpenNoFollow, to write it (flag holds O_WRONLY
// or O_RDWR, maybe O_CREATE and O_APPEND; not O_TRUNC), and makes sure no
// other name shares the file, as the log does for its own files (see
// Log.openOwned): a file with more than one link is first replaced by a
// private copy (files up to maxSize bytes; a larger one is refused), so the
// other name, a planted victim or a hard-link backup, is never modified.
// links is the link count found: above 1, the copy was made and the caller
// should say so. Exported for the exporter's other files (dead letter).
func OpenOwned(path string, flag int, perm os.FileMode, maxSize int64) (f *os.File, links uint64, err error) {
	f, err = OpenNoFollow(path, flag, perm)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	n, known := linkCount(fi)
	if !known || n <= 1 {
		return f, n, nil
	}
	_ = f.Close()
	nf, err := breakLink(OSFS{}, path, flag&^os.O_CREATE, maxSize)
	if err != nil {
		return nil, n, fmt.Errorf("%s has %d links (a hard link shares its data with another name): making a private copy before writing: %w", path, n, err)
	}
	return nf.(*os.File), n, nil
}
