// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// scanWindow is the read buffer of recovery: a segment is scanned through a
// window of this size, whatever the size of the segment or of its records,
// so recovery's memory does not grow with the backlog's bytes.
const scanWindow = 1 << 20

// scanRecord describes one record found by a scan.
type scanRecord struct {
	off int64
	h   recordHeader
}

// scanResult is the outcome of scanning one segment.
type scanResult struct {
	badHeader    bool          // segment magic missing or garbled (records are still resynchronised)
	records      int           // records with valid header and payload
	corrupt      []scanRecord  // records with valid header but corrupt payload
	corruptBytes int64         // bytes skipped while resynchronising or in corrupt payloads
	goodEnd      int64         // end of the last framed record (or the segment header)
	tailBytes    int64         // bytes after goodEnd that hold no complete record
	lastSeq      uint64        // highest sequence seen (good or corrupt), or the input lastSeq
	torn         *recordHeader // header of a record cut short at the end (torn write), if any
	crcBytes     int64         // payload bytes checksummed (the scan's work beyond one pass)
}

// scanner reads a segment through a bounded window.
type scanner struct {
	r      io.ReaderAt
	size   int64
	buf    []byte
	bufOff int64
	bufLen int
}

// at returns n bytes at off (n <= len(buf)), refilling the window if needed.
func (s *scanner) at(off int64, n int) ([]byte, error) {
	if off >= s.bufOff && off+int64(n) <= s.bufOff+int64(s.bufLen) {
		i := int(off - s.bufOff)
		return s.buf[i : i+n], nil
	}
	want := int(min(int64(len(s.buf)), s.size-off))
	if want < n {
		return nil, io.ErrUnexpectedEOF
	}
	got, err := s.r.ReadAt(s.buf[:want], off)
	if got < want && err == nil {
		err = io.ErrUnexpectedEOF
	}
	if got < n {
		s.bufLen = 0
		return nil, err
	}
	s.bufOff, s.bufLen = off, got
	return s.buf[:n], nil
}

// errScanIO wraps a read error met while scanning (not corruption).
type errScanIO struct{ err error }

func (e *errScanIO) Error() string { return "wal: read segment: " + e.err.Error() }
func (e *errScanIO) Unwrap() error { return e.err }

// scan parses a segment of size bytes whose file name says its first record
// is first. Only records with lastSeq < seq <= first+size/recordHeaderSize
// are accepted (a segment's sequences are contiguous from first), which
// rejects stale or garbage headers during resynchronisation before any
// payload checksum is computed. A record whose header is damaged is skipped
// by resynchronising on the next valid record header; a damaged segment
// header does not discard the records behind it. visit is called for every
// record with an intact header, with ok=false when its payload is corrupt.
// Time is linear in size and memory bounded by buf. It never panics.
func scan(r io.ReaderAt, size int64, first, lastSeq uint64, maxLen int, buf []byte,
	visit func(off int64, h recordHeader, ok bool)) (scanResult, error) {
	res := scanResult{lastSeq: lastSeq}
	sc := &scanner{r: r, size: size, buf: buf}
	if size < segmentHeaderSize {
		res.badHeader = true
		res.tailBytes = size
		return res, nil
	}
	hdr, err := sc.at(0, segmentHeaderSize)
	if err != nil {
		return res, &errScanIO{err}
	}
	pos := int64(segmentHeaderSize)
	res.goodEnd = pos
	if !bytes.Equal(hdr, segmentMagic[:]) {
		res.badHeader = true
		res.corruptBytes += segmentHeaderSize
	}
	hi := first + uint64(size/recordHeaderSize)
	resyncStart := int64(-1)
	for pos < size {
		if size-pos < recordHeaderSize {
			break
		}
		b, err := sc.at(pos, recordHeaderSize)
		if err != nil {
			return res, &errScanIO{err}
		}
		seq := binary.LittleEndian.Uint64(b[8:16])
		var h recordHeader
		valid := seq > res.lastSeq && seq >= first && seq <= hi
		if valid {
			h, valid = parseHeader(b, maxLen)
		}
		if !valid {
			if resyncStart < 0 {
				resyncStart = pos
			}
			pos++
			continue
		}
		n := recordHeaderSize + int64(h.length)
		if pos+n > size {
			// Valid header whose payload runs past the end: torn write.
			// Everything from goodEnd on is tail; the record is lost.
			resyncStart = -1
			th := h
			res.torn = &th
			break
		}
		c := uint32(0)
		for o, end := pos+recordHeaderSize, pos+n; o < end; {
			k := int(min(int64(len(buf)), end-o))
			w, err := sc.at(o, k)
			if err != nil {
				return res, &errScanIO{err}
			}
			c = crc32.Update(c, castagnoli, w)
			o += int64(k)
			res.crcBytes += int64(k)
		}
		if resyncStart >= 0 {
			res.corruptBytes += pos - resyncStart
			resyncStart = -1
		}
		ok := c == h.pcrc
		if ok {
			res.records++
		} else {
			res.corrupt = append(res.corrupt, scanRecord{off: pos, h: h})
			res.corruptBytes += n
		}
		if visit != nil {
			visit(pos, h, ok)
		}
		res.lastSeq = h.seq
		pos += n
		res.goodEnd = pos
	}
	res.tailBytes = size - res.goodEnd
	return res, nil
}

// scanSegment scans a whole segment image held in memory (tests and fuzzing);
// its records are expected to start at lastSeq+1.
func scanSegment(data []byte, lastSeq uint64, maxLen int) (scanResult, []scanRecord) {
	var recs []scanRecord
	res, err := scan(bytes.NewReader(data), int64(len(data)), lastSeq+1, lastSeq, maxLen, make([]byte, scanWindow),
		func(off int64, h recordHeader, ok bool) {
			if ok {
				recs = append(recs, scanRecord{off: off, h: h})
			}
		})
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		panic(err) // a bytes.Reader does not fail
	}
	return res, recs
}
