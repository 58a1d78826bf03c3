// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const (
	cursorFileName = "cursor"
	cursorTmpName  = "cursor.tmp"
	cursorFileSize = 20
)

// cursorMagic starts the cursor file: "OECUR", two reserved bytes, version.
var cursorMagic = [8]byte{'O', 'E', 'C', 'U', 'R', 0, 0, 1}

var errCursorCorrupt = errors.New("wal: cursor file corrupt")

func encodeCursor(seq uint64) []byte {
	b := make([]byte, cursorFileSize)
	copy(b, cursorMagic[:])
	binary.LittleEndian.PutUint64(b[8:16], seq)
	binary.LittleEndian.PutUint32(b[16:20], crc(b[:16]))
	return b
}

func decodeCursor(b []byte) (uint64, error) {
	if len(b) != cursorFileSize || [8]byte(b[:8]) != cursorMagic ||
		binary.LittleEndian.Uint32(b[16:20]) != crc(b[:16]) {
		return 0, errCursorCorrupt
	}
	return binary.LittleEndian.Uint64(b[8:16]), nil
}

// readCursor loads the persisted acknowledgement cursor. It returns
// os.ErrNotExist when there is none and errCursorCorrupt when it is garbled.
func readCursor(fsys FS, dir string) (uint64, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, cursorFileName), os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b := make([]byte, cursorFileSize+1)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return decodeCursor(b[:n])
}

// writeCursor persists seq atomically: write cursor.tmp, fsync, rename over
// cursor, fsync the directory.
func writeCursor(fsys FS, dir string, seq uint64) error {
	tmp := filepath.Join(dir, cursorTmpName)
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	if _, err := f.Write(encodeCursor(seq)); err != nil {
		_ = f.Close()
		return fmt.Errorf("wal: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("wal: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", tmp, err)
	}
	dst := filepath.Join(dir, cursorFileName)
	if err := fsys.Rename(tmp, dst); err != nil {
		return fmt.Errorf("wal: rename %s: %w", dst, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: fsync dir %s: %w", dir, err)
	}
	return nil
}
