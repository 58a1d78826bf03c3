// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

const segmentSuffix = ".seg"

// segment is one segment file. Its records are kept in an in-memory index so
// that acks, eviction and reads need no disk access to locate data.
type segment struct {
	first uint64 // sequence in the file name
	path  string
	size  int64 // bytes on disk
	recs  []recMeta
	mtime int64 // unix nanos; append time of recovered records
	born  int64 // unix nanos; creation time of a segment created by this process

	// w is the append handle. Writes happen under Log.mu while the segment
	// is active; once sealed (rolled) or removed, the handle is fsynced
	// and/or closed by syncAll under Log.syncMu.
	w      File
	sealed bool // guarded by Log.mu: no more appends
	broken atomic.Bool

	// Durability, guarded by Log.gc.mu.
	durable   uint64 // every record with seq <= durable is fsynced
	dirSynced bool   // the directory entry is durable
	failErr   error  // an fsync failed: records above durable never become durable
	gone      bool   // removed from the log (acknowledged or evicted): waiters stop waiting
}

// recMeta is the in-memory index entry of one record.
// 32 bytes: a 1 GiB backlog of 512-byte records costs 64 MiB of index.
type recMeta struct {
	seq    uint64
	off    uint32 // offset of the frame header within the segment (segments are < 4 GiB)
	length uint32
	items  uint32
	atMs   uint32 // append time: milliseconds after the segment's birth + 1; 0 = use segment mtime
	kind   uint8  // stored kind byte (including the compressed flag)
}

func (m recMeta) frameSize() int { return recordHeaderSize + int(m.length) }

func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
}

// parseSegmentName returns the first sequence of a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(base) != 20 {
		return 0, false
	}
	for _, c := range base {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(base, 10, 64)
	return v, err == nil
}

// lastSeq returns the sequence of the last indexed record, or 0.
func (s *segment) lastSeq() uint64 {
	if len(s.recs) == 0 {
		return 0
	}
	return s.recs[len(s.recs)-1].seq
}

// find returns the index of the first record with seq >= seq.
func (s *segment) find(seq uint64) int {
	return sort.Search(len(s.recs), func(i int) bool { return s.recs[i].seq >= seq })
}

// dirListing is the classified content of a log directory.
type dirListing struct {
	segments    []uint64 // sorted first sequences
	ignored     []string
	quarantined []string // files set aside by an earlier recovery
	privateTmp  []string // leftover copies of breakLink (a crash while making one)
}

func listDir(fsys FS, dir string) (dirListing, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return dirListing{}, err
	}
	var out dirListing
	for _, e := range ents {
		name := e.Name()
		if first, ok := parseSegmentName(name); ok && e.Type().IsRegular() {
			out.segments = append(out.segments, first)
			continue
		}
		switch {
		case name == lockFileName, name == cursorFileName, name == cursorTmpName:
			continue
		case isPrivateTmp(name):
			out.privateTmp = append(out.privateTmp, name)
			continue
		case strings.HasSuffix(name, quarantineSuffix):
			out.quarantined = append(out.quarantined, name)
			continue
		}
		out.ignored = append(out.ignored, name)
	}
	sort.Slice(out.segments, func(i, j int) bool { return out.segments[i] < out.segments[j] })
	return out, nil
}

func (l *Log) segPath(first uint64) string { return filepath.Join(l.dir, segmentName(first)) }
