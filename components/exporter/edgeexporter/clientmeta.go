// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/client"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// Client metadata through the buffer (metadata_keys).
//
// A record whose request carried a value for any of the configured keys has
// kindMetadata in the kind the log stores, and its payload starts with a
// metadata block:
//
//	uvarint   n, length of the block
//	n bytes   block:
//	            1 byte   version, metaVersion1
//	            uvarint  count of keys, then per key (lower case, in
//	                     metadata_keys order, keys without a value left out):
//	                     uvarint length, key, uvarint count of values, and per
//	                     value uvarint length, value
//
// and then the serialized OTLP request, as without metadata. Under
// buffer.encryption the whole payload, block included, is sealed in the
// envelope and the kind given to seal as additional data includes
// kindMetadata: tenant values are encrypted at rest like the data, and a flag
// flipped on disk fails authentication. A record without the flag (written by
// an earlier version, or whose request had none of the keys) is read as
// before. The block, length prefix included, is the record's partition key:
// the dispatcher only joins records whose blocks are equal byte for byte.
const (
	// kindMetadata marks, in the kind stored in the log, a payload that
	// starts with a metadata block (the signals use 1 to 3, kindEncrypted
	// is 0x40).
	kindMetadata uint8 = 0x20
	metaVersion1 byte  = 1
	// maxMetadataKeys bounds metadata_keys.
	maxMetadataKeys = 32
	// maxMetadataBlock bounds the block of one record: values beyond it are
	// not kept (the record is stored without them, and a warning logged).
	maxMetadataBlock = 16 << 10
)

var errMetadataBlock = errors.New("malformed client metadata block")

// validateMetadataKeys checks metadata_keys: header-safe names, no
// duplicates (case-insensitively), at most maxMetadataKeys.
func validateMetadataKeys(keys []string) []error {
	var errs []error
	if len(keys) > maxMetadataKeys {
		errs = append(errs, fmt.Errorf("\"metadata_keys\" lists %d keys, at most %d", len(keys), maxMetadataKeys))
	}
	seen := map[string]bool{}
	for i, k := range keys {
		if !validHeaderName(k) {
			errs = append(errs, fmt.Errorf("\"metadata_keys[%d]\" %q must be a header name (letters, digits and !#$%%&'*+-.^_`|~)", i, k))
		}
		if seen[strings.ToLower(k)] {
			errs = append(errs, fmt.Errorf("\"metadata_keys[%d]\" %q is listed twice (keys are case-insensitive)", i, k))
		}
		seen[strings.ToLower(k)] = true
	}
	return errs
}

// validHeaderName reports whether k is an HTTP field name (RFC 9110 token),
// which gRPC metadata accepts too.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// appendMetadataBlock appends to dst the length-prefixed block of the values
// the request on ctx carries for keys; ok is false (and dst unchanged) when
// it carries none.
func appendMetadataBlock(dst []byte, keys []string, info client.Info) (out []byte, ok bool) {
	count := 0
	for _, k := range keys {
		if len(info.Metadata.Get(k)) > 0 {
			count++
		}
	}
	if count == 0 {
		return dst, false
	}
	block := binary.AppendUvarint(append(make([]byte, 0, 128), metaVersion1), uint64(count))
	for _, k := range keys {
		vals := info.Metadata.Get(k)
		if len(vals) == 0 {
			continue
		}
		block = binary.AppendUvarint(block, uint64(len(k)))
		block = append(block, strings.ToLower(k)...)
		block = binary.AppendUvarint(block, uint64(len(vals)))
		for _, v := range vals {
			block = binary.AppendUvarint(block, uint64(len(v)))
			block = append(block, v...)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(block)))
	return append(dst, block...), true
}

// splitMetadata returns a record's partition key (its length-prefixed
// metadata block; nil without kindMetadata) and its OTLP payload. A block
// that does not parse leaves the payload whole: sent as it is, the backend
// refuses it and it goes to the dead letter.
func splitMetadata(rec wal.Record) (key, body []byte) {
	if rec.Kind&kindMetadata == 0 {
		return nil, rec.Payload
	}
	n, w := binary.Uvarint(rec.Payload)
	if w <= 0 || n > uint64(len(rec.Payload)-w) {
		return nil, rec.Payload
	}
	end := w + int(n)
	return rec.Payload[:end], rec.Payload[end:]
}

// samePartition reports whether two records may be sent in one request: the
// same kind and the same client metadata.
func samePartition(a, b wal.Record) bool {
	if a.Kind != b.Kind {
		return false
	}
	if a.Kind&kindMetadata == 0 {
		return true
	}
	ka, _ := splitMetadata(a)
	kb, _ := splitMetadata(b)
	return bytes.Equal(ka, kb)
}

// decodeMetadata reads a length-prefixed block.
func decodeMetadata(key []byte) (map[string][]string, error) {
	n, w := binary.Uvarint(key)
	if w <= 0 || n != uint64(len(key)-w) {
		return nil, errMetadataBlock
	}
	b := key[w:]
	if len(b) == 0 || b[0] != metaVersion1 {
		return nil, errMetadataBlock
	}
	b = b[1:]
	next := func() (uint64, bool) {
		v, w := binary.Uvarint(b)
		if w <= 0 {
			return 0, false
		}
		b = b[w:]
		return v, true
	}
	str := func() (string, bool) {
		l, ok := next()
		if !ok || l > uint64(len(b)) {
			return "", false
		}
		s := string(b[:l])
		b = b[l:]
		return s, true
	}
	keys, ok := next()
	if !ok || keys > maxMetadataKeys {
		return nil, errMetadataBlock
	}
	md := make(map[string][]string, keys)
	for range keys {
		k, ok := str()
		if !ok {
			return nil, errMetadataBlock
		}
		nv, ok := next()
		if !ok || nv > uint64(len(b)) {
			return nil, errMetadataBlock
		}
		vals := make([]string, 0, nv)
		for range nv {
			v, ok := str()
			if !ok {
				return nil, errMetadataBlock
			}
			vals = append(vals, v)
		}
		md[k] = vals
	}
	if len(b) != 0 {
		return nil, errMetadataBlock
	}
	return md, nil
}

var metaBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// prefixMetadata returns the kind and payload to store for a request on ctx:
// with metadata_keys set and a value for any of them, the kind with
// kindMetadata and the block followed by payload (in a pooled buffer given
// back by release, once the log has copied it); otherwise kind and payload
// unchanged.
func (e *edgeExporter) prefixMetadata(ctx context.Context, kind uint8, payload []byte) (uint8, []byte, func()) {
	if len(e.cfg.MetadataKeys) == 0 {
		return kind, payload, func() {}
	}
	bp := metaBufPool.Get().(*[]byte)
	buf, ok := appendMetadataBlock((*bp)[:0], e.cfg.MetadataKeys, client.FromContext(ctx))
	if !ok || len(buf) > maxMetadataBlock {
		if ok {
			e.warnLimiter.warn(e.logger, fmt.Sprintf("Client metadata of a request over %d bytes: stored without it", maxMetadataBlock))
		}
		metaBufPool.Put(bp)
		return kind, payload, func() {}
	}
	*bp = append(buf, payload...)
	return kind | kindMetadata, *bp, func() {
		if cap(*bp) <= 4<<20 {
			metaBufPool.Put(bp)
		}
	}
}

// withClientMetadata restores a batch's client metadata on the context of
// its request, as client info; the clients send it as gRPC metadata or HTTP
// headers (outgoingMetadata).
func withClientMetadata(ctx context.Context, key []byte) context.Context {
	if key == nil {
		return ctx
	}
	md, err := decodeMetadata(key)
	if err != nil {
		return ctx
	}
	return client.NewContext(ctx, client.Info{Metadata: client.NewMetadata(md)})
}

// outgoingMetadata calls set for every key and value of the client metadata
// on ctx (restored by withClientMetadata).
func outgoingMetadata(ctx context.Context, set func(k string, v ...string)) {
	md := client.FromContext(ctx).Metadata
	for k := range md.Keys() {
		set(k, md.Get(k)...)
	}
}
