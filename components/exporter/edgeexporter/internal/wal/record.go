// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

const (
	// recordHeaderSize is the size of the per-record frame header.
	recordHeaderSize = 25
	// segmentHeaderSize is the size of the magic+version header of a segment.
	segmentHeaderSize = 8
	// kindCompressed is the high bit of the kind byte: payload is zstd.
	kindCompressed = 0x80
	// MaxKind is the largest caller-defined record kind.
	MaxKind = 0x7f
)

// segmentMagic starts every segment file: "OEWAL", two reserved bytes and the
// format version.
var segmentMagic = [segmentHeaderSize]byte{'O', 'E', 'W', 'A', 'L', 0, 0, 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// recordHeader is the decoded form of a record frame header.
//
//	[0:4]   CRC32C of bytes [4:25]
//	[4:8]   stored payload length
//	[8:16]  sequence number
//	[16:20] item count
//	[20]    kind (low 7 bits) | compressed flag (high bit)
//	[21:25] CRC32C of the stored payload
type recordHeader struct {
	length uint32
	seq    uint64
	items  uint32
	kind   uint8
	pcrc   uint32
}

// putHeader encodes h into b[:recordHeaderSize], including the header CRC.
func putHeader(b []byte, h recordHeader) {
	_ = b[recordHeaderSize-1]
	binary.LittleEndian.PutUint32(b[4:8], h.length)
	binary.LittleEndian.PutUint64(b[8:16], h.seq)
	binary.LittleEndian.PutUint32(b[16:20], h.items)
	b[20] = h.kind
	binary.LittleEndian.PutUint32(b[21:25], h.pcrc)
	binary.LittleEndian.PutUint32(b[0:4], crc(b[4:recordHeaderSize]))
}

// parseHeader decodes and validates a header. It reports false when the
// header CRC does not match or the length exceeds maxLen.
func parseHeader(b []byte, maxLen int) (recordHeader, bool) {
	if len(b) < recordHeaderSize {
		return recordHeader{}, false
	}
	length := binary.LittleEndian.Uint32(b[4:8])
	if uint64(length) > uint64(maxLen) {
		return recordHeader{}, false
	}
	if binary.LittleEndian.Uint32(b[0:4]) != crc(b[4:recordHeaderSize]) {
		return recordHeader{}, false
	}
	return recordHeader{
		length: length,
		seq:    binary.LittleEndian.Uint64(b[8:16]),
		items:  binary.LittleEndian.Uint32(b[16:20]),
		kind:   b[20],
		pcrc:   binary.LittleEndian.Uint32(b[21:25]),
	}, true
}

var (
	errShortRecord = errors.New("wal: short record")
	errHeaderCRC   = errors.New("wal: record header corrupt")
	errPayloadCRC  = errors.New("wal: record payload corrupt")
)

// decodeRecord decodes one record frame at the start of b. On success it
// returns the header, the stored payload (aliasing b) and the frame size.
// errPayloadCRC is returned together with a valid header and frame size so
// that the caller can skip the record exactly.
func decodeRecord(b []byte, maxLen int) (recordHeader, []byte, int, error) {
	if len(b) < recordHeaderSize {
		return recordHeader{}, nil, 0, errShortRecord
	}
	h, ok := parseHeader(b, maxLen)
	if !ok {
		return recordHeader{}, nil, 0, errHeaderCRC
	}
	n := recordHeaderSize + int(h.length)
	if len(b) < n {
		return h, nil, 0, errShortRecord
	}
	p := b[recordHeaderSize:n]
	if crc(p) != h.pcrc {
		return h, nil, n, errPayloadCRC
	}
	return h, p, n, nil
}
