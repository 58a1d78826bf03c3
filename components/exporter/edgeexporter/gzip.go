// Copyright The otelcol-edge Authors
// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"google.golang.org/grpc/encoding"
)

// gzip on the wire is most of the exporter's CPU when it sends to a backend
// (the shipped default, like upstream's OTLP exporters). The standard
// library's compress/gzip, which gRPC registers as its "gzip" compressor and
// confighttp uses, costs about twice what klauspost/compress/gzip does for
// the same output format: every gzip reader accepts what it writes (RFC
// 1952; fuzzed against the standard library's reader in gzip_test.go).
//
// Registering it replaces the process-wide gRPC "gzip" compressor: the
// OTLP receiver of the same collector then decompresses gzip requests with
// it too (also tested). OTLP/HTTP requests are compressed here rather than by
// confighttp (see newHTTPClient).

func init() {
	encoding.RegisterCompressor(fastGzip)
}

// fastGzip is the gRPC compressor named "gzip" backed by klauspost/compress.
var fastGzip = newGzipCodec()

type gzipCodec struct {
	writers sync.Pool // *gzipWriter
	readers sync.Pool // *gzipReader
}

func newGzipCodec() *gzipCodec {
	c := &gzipCodec{}
	c.writers.New = func() any {
		return &gzipWriter{Writer: gzip.NewWriter(io.Discard), pool: &c.writers}
	}
	return c
}

// Name implements encoding.Compressor.
func (c *gzipCodec) Name() string { return "gzip" }

// Compress implements encoding.Compressor: the writer goes back to the pool
// on Close.
func (c *gzipCodec) Compress(w io.Writer) (io.WriteCloser, error) {
	z := c.writers.Get().(*gzipWriter)
	z.Reset(w)
	return z, nil
}

// Decompress implements encoding.Compressor: the reader goes back to the
// pool when gRPC closes it.
func (c *gzipCodec) Decompress(r io.Reader) (io.Reader, error) {
	if z, ok := c.readers.Get().(*gzipReader); ok {
		if err := z.Reset(r); err != nil {
			c.readers.Put(z)
			return nil, err
		}
		return z, nil
	}
	z, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	return &gzipReader{Reader: z, pool: &c.readers}, nil
}

type gzipWriter struct {
	*gzip.Writer
	pool *sync.Pool
}

func (z *gzipWriter) Close() error {
	defer z.pool.Put(z)
	return z.Writer.Close()
}

type gzipReader struct {
	*gzip.Reader
	pool *sync.Pool
}

func (z *gzipReader) Close() error {
	defer z.pool.Put(z)
	return z.Reader.Close()
}

// gzipAppend appends the gzip encoding of p to dst with a pooled writer.
func gzipAppend(dst *sliceWriter, p []byte) error {
	w, _ := fastGzip.Compress(dst)
	if _, err := w.Write(p); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// sliceWriter is an io.Writer that appends to a byte slice.
type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// gzipBufs holds the buffers of compressed OTLP/HTTP bodies.
var gzipBufs = sync.Pool{New: func() any { return &sliceWriter{} }}
