// SPDX-License-Identifier: Apache-2.0

package sink // import "github.com/otelcol-edge/otelcol-edge/bench/internal/sink"

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// zstdCompressor lets the sink accept zstd-compressed requests, as the
// collector's OTLP receiver does.
type zstdCompressor struct {
	decoders sync.Pool
}

func init() {
	encoding.RegisterCompressor(&zstdCompressor{})
}

func (*zstdCompressor) Name() string { return "zstd" }

func (*zstdCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
}

type pooledDecoder struct {
	*zstd.Decoder
	pool *sync.Pool
	done bool
}

func (d *pooledDecoder) Read(p []byte) (int, error) {
	n, err := d.Decoder.Read(p)
	if err == io.EOF && !d.done {
		d.done = true
		d.pool.Put(d.Decoder)
	}
	return n, err
}

func (c *zstdCompressor) Decompress(r io.Reader) (io.Reader, error) {
	if d, ok := c.decoders.Get().(*zstd.Decoder); ok {
		if err := d.Reset(r); err == nil {
			return &pooledDecoder{Decoder: d, pool: &c.decoders}, nil
		}
	}
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	return &pooledDecoder{Decoder: d, pool: &c.decoders}, nil
}
