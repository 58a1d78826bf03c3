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
	// cursorFileSizeV1 is the size of the first format (acknowledged
	// sequence only), still read.
	cursorFileSizeV1 = 20
	// cursorFileSize is the size of the current format.
	cursorFileSize = 44
)

var (
	cursorMagicV1 = [8]byte{'O', 'E', 'C', 'U', 'R', 0, 0, 1}
	cursorMagic   = [8]byte{'O', 'E', 'C', 'U', 'R', 0, 0, 2}
)

var errCursorCorrupt = errors.New("wal: cursor file corrupt")

// cursorState is what the cursor file holds: the acknowledged sequence and a
// watermark of what was on disk beyond it when it was written. The watermark
// lets recovery count exactly the items lost to damage it cannot see
// record by record (a destroyed header, a truncated or deleted segment).
type cursorState struct {
	// Acked: every record with seq <= Acked is acknowledged.
	Acked uint64
	// HasWatermark is false for files of the first format.
	HasWatermark bool
	// Last is the last sequence appended when the file was written.
	Last uint64
	// TailRecords and TailItems count the intact records (and their items)
	// with Acked < seq <= Last at that time.
	TailRecords, TailItems uint64
}

// Layout (little endian): magic[8] | acked u64 | last u64 | tail records u64 |
// tail items u64 | CRC32C of the preceding bytes u32.
func encodeCursor(s cursorState) []byte {
	b := make([]byte, cursorFileSize)
	copy(b, cursorMagic[:])
	binary.LittleEndian.PutUint64(b[8:16], s.Acked)
	binary.LittleEndian.PutUint64(b[16:24], s.Last)
	binary.LittleEndian.PutUint64(b[24:32], s.TailRecords)
	binary.LittleEndian.PutUint64(b[32:40], s.TailItems)
	binary.LittleEndian.PutUint32(b[40:44], crc(b[:40]))
	return b
}

func decodeCursor(b []byte) (cursorState, error) {
	switch {
	case len(b) == cursorFileSize && [8]byte(b[:8]) == cursorMagic &&
		binary.LittleEndian.Uint32(b[40:44]) == crc(b[:40]):
		return cursorState{
			Acked:        binary.LittleEndian.Uint64(b[8:16]),
			HasWatermark: true,
			Last:         binary.LittleEndian.Uint64(b[16:24]),
			TailRecords:  binary.LittleEndian.Uint64(b[24:32]),
			TailItems:    binary.LittleEndian.Uint64(b[32:40]),
		}, nil
	case len(b) == cursorFileSizeV1 && [8]byte(b[:8]) == cursorMagicV1 &&
		binary.LittleEndian.Uint32(b[16:20]) == crc(b[:16]):
		return cursorState{Acked: binary.LittleEndian.Uint64(b[8:16])}, nil
	}
	return cursorState{}, errCursorCorrupt
}

func readCursor(fsys FS, dir string) (cursorState, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, cursorFileName), os.O_RDONLY, 0)
	if err != nil {
		return cursorState{}, err
	}
	defer f.Close()
	b := make([]byte, cursorFileSize+1)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return cursorState{}, err
	}
	return decodeCursor(b[:n])
}

// writeCursor persists seq atomically: write cursor.tmp, fsync, rename over
// cursor, fsync the directory.
func writeCursor(fsys FS, dir string, s cursorState) error {
	tmp := filepath.Join(dir, cursorTmpName)
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	if _, err := f.Write(encodeCursor(s)); err != nil {
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
