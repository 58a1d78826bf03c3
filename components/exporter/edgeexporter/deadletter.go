// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"
)

// deadLetter keeps requests the backend rejected permanently, so an operator can
// inspect or replay them. It is bounded: once full, further requests are only
// counted. Each entry: uint32 length, uint32 CRC32C of the rest, kind byte,
// uint32 item count, the encoded OTLP request (little endian).
type deadLetter struct {
	mu   sync.Mutex
	f    *os.File
	size int64
	max  int64
}

var errDeadLetterFull = errors.New("dead-letter file is full (buffer.dead_letter_max_bytes)")

func openDeadLetter(path string, maxBytes int64) (*deadLetter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &deadLetter{f: f, size: st.Size(), max: maxBytes}, nil
}

func (d *deadLetter) write(kind uint8, items int, body []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := int64(13 + len(body))
	if d.size+n > d.max {
		return errDeadLetterFull
	}
	buf := make([]byte, 13, n)
	buf[8] = kind
	binary.LittleEndian.PutUint32(buf[9:13], uint32(items))
	buf = append(buf, body...)
	binary.LittleEndian.PutUint32(buf[0:4], uint32(len(buf)-8))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(buf[8:], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := d.f.Write(buf); err != nil {
		return fmt.Errorf("writing %s: %w", d.f.Name(), err)
	}
	d.size += n
	return nil
}

func (d *deadLetter) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.f.Close()
}
