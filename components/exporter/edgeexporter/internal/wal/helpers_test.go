// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// makePayload builds a deterministic, OTLP-like (compressible) payload that
// embeds id so that its content can be verified.
func makePayload(id uint64, size int) []byte {
	if size < 8 {
		size = 8
	}
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, id)
	rng := rand.New(rand.NewPCG(id, 0x5eed))
	words := []string{"service.name", "http.method", "GET", "span", "trace_id", "resource", "k8s.pod.name", "edge-collector", "status", "OK"}
	pos := 8
	for pos < size {
		w := words[rng.IntN(len(words))]
		if rng.IntN(4) == 0 {
			w = fmt.Sprintf("%x", rng.Uint64())
		}
		pos += copy(b[pos:], w)
	}
	return b
}

func payloadOK(p []byte) bool {
	if len(p) < 8 {
		return false
	}
	id := binary.LittleEndian.Uint64(p)
	return string(makePayload(id, len(p))) == string(p)
}

func itemsFor(id uint64) uint32 { return uint32(id%7) + 1 }

func openT(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	require.NoError(t, err)
	return l
}

// readAll reads until no record arrives within idle.
func readAll(t testing.TB, r *Reader, idle time.Duration) []Record {
	t.Helper()
	var out []Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), idle)
		rec, err := r.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return out
		}
		require.NoError(t, err)
		out = append(out, rec)
	}
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	return m
}

func segBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range segFiles(t, dir) {
		fi, err := os.Stat(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // unlinked in the background meanwhile
		}
		require.NoError(t, err)
		n += fi.Size()
	}
	return n
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o700))
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		if e.Name() == lockFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
}

// faultFS injects failures into segment files.
type faultFS struct {
	OSFS
	mu           sync.Mutex
	failWrites   int
	writeErr     error
	partial      bool // write half of the data before failing
	failTruncate int
	failSyncs    int
	syncErr      error
	failDirSyncs int
	// onSync, if set, runs at the start of every segment fsync.
	onSync func()
}

func (f *faultFS) SyncDir(name string) error {
	if f.take(&f.failDirSyncs) {
		return syscall.EIO
	}
	return f.OSFS.SyncDir(name)
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, segmentSuffix) {
		return file, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) set(fn func(f *faultFS)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

func (f *faultFS) take(n *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *n > 0 {
		*n--
		return true
	}
	return false
}

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.take(&f.fs.failWrites) {
		f.fs.mu.Lock()
		werr, partial := f.fs.writeErr, f.fs.partial
		f.fs.mu.Unlock()
		if partial && len(p) > 1 {
			n, _ := f.File.Write(p[:len(p)/2])
			return n, werr
		}
		return 0, werr
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	hook := f.fs.onSync
	f.fs.mu.Unlock()
	if hook != nil {
		hook()
	}
	if f.fs.take(&f.fs.failSyncs) {
		f.fs.mu.Lock()
		defer f.fs.mu.Unlock()
		return f.fs.syncErr
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if f.fs.take(&f.fs.failTruncate) {
		return syscall.EIO
	}
	return f.File.Truncate(size)
}

var _ io.Writer = (*faultFile)(nil)
