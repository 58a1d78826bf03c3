// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// deadLetter keeps requests the exporter gave up on (permanent errors, poison
// records), so an operator can inspect them or replay them with the contrib
// otlpjsonfile receiver. One file per signal, deadletter-<signal>.jsonl, each
// line one OTLP export request in the OTLP JSON encoding, as the upstream file
// exporter writes them:
//
//   - every entry is written with a single write(2) ending in a newline; a
//     failed or short write is cut off again, and a torn last line (a crash
//     during a write) is truncated at open, so the files always parse line by
//     line;
//   - fsync follows buffer.fsync: "always" before write returns, "interval"
//     every buffer.fsync_interval when something was written, "never" only at
//     close;
//   - the files together hold at most max bytes (buffer.dead_letter_max_bytes,
//     part of buffer.max_disk_bytes); once full, entries are refused (the
//     caller still counts their items as dropped).
type deadLetter struct {
	dir    string
	max    int64
	policy string // FsyncAlways, FsyncInterval or FsyncNever

	mu    sync.Mutex
	files map[string]*deadLetterFile // by file name
	size  int64                      // bytes of all files
	// keys, when it has an active key, encrypts the entries (written to
	// deadletter-<signal>.jsonl.enc, one base64 envelope per line).
	keys *keyring
	// closed is set by close; writes after it fail.
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup

	// syncs counts fsyncs of dead-letter files (for tests).
	syncs atomic.Int64
}

type deadLetterFile struct {
	f     *os.File
	size  int64
	dirty bool
	links uint64 // link count at open: above 1, it was copied to a private file
}

var (
	errDeadLetterFull   = errors.New("dead-letter files are full (buffer.dead_letter_max_bytes)")
	errDeadLetterClosed = errors.New("dead-letter files are closed")
)

// deadLetterName is the file of one signal's dead letters.
func deadLetterName(kind uint8) string { return "deadletter-" + kindName(kind) + ".jsonl" }

// deadLetterEncSuffix ends the name of a file of encrypted dead letters: each
// line is the base64 of an envelope (see encryption.go) whose plain text is
// one line of the plain file, without its newline.
const deadLetterEncSuffix = ".enc"

// openDeadLetter opens (and repairs) the dead-letter files in dir. Files are
// created on their first entry.
func openDeadLetter(dir string, maxBytes int64, fsyncPolicy string, interval time.Duration) (d *deadLetter, repaired []string, err error) {
	d = &deadLetter{dir: dir, max: maxBytes, policy: fsyncPolicy, files: map[string]*deadLetterFile{}, stop: make(chan struct{})}
	for _, kind := range []uint8{kindTraces, kindMetrics, kindLogs} {
		for _, name := range []string{deadLetterName(kind), deadLetterName(kind) + deadLetterEncSuffix} {
			path := filepath.Join(dir, name)
			_ = os.Remove(path + wal.PrivateTmpSuffix) // a crash while copying a hard-linked file
			if _, serr := os.Lstat(path); errors.Is(serr, os.ErrNotExist) {
				continue
			}
			df, cut, oerr := openDeadLetterFile(path)
			if oerr != nil {
				_ = d.close()
				return nil, nil, oerr
			}
			if df.links > 1 {
				repaired = append(repaired, fmt.Sprintf("%s had %d links (a hard link shares its data with another name): copied it to a private file before writing; the other name is left unchanged", path, df.links))
			}
			if cut > 0 {
				repaired = append(repaired, fmt.Sprintf("%s: cut %d bytes of a torn last line", path, cut))
			}
			d.files[name] = df
			d.size += df.size
		}
	}
	if fsyncPolicy == FsyncInterval && interval > 0 {
		d.wg.Go(func() { d.syncLoop(interval) })
	}
	return d, repaired, nil
}

// openDeadLetterFile opens one file for appending and cuts a torn last line:
// everything after the last newline. It returns how many bytes it cut.
func openDeadLetterFile(path string) (*deadLetterFile, int64, error) {
	// Never through a symbolic link planted under the file's name.
	// Nor through a hard link: a file with another name is copied first.
	f, links, err := wal.OpenOwned(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600, math.MaxInt64)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	size := st.Size()
	keep, err := lastLineEnd(f, size)
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if keep < size {
		if err := f.Truncate(keep); err != nil {
			_ = f.Close()
			return nil, 0, fmt.Errorf("repairing %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, 0, fmt.Errorf("repairing %s: %w", path, err)
		}
	}
	return &deadLetterFile{f: f, size: keep, links: links}, size - keep, nil
}

// lastLineEnd returns the offset just after the last newline of the first size
// bytes of f (0 if there is none).
func lastLineEnd(f io.ReaderAt, size int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	for end := size; end > 0; {
		start := max(0, end-chunk)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == end-start) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// encodeDeadLetter turns a stored request (concatenated OTLP protobuf export
// requests of one signal) into one line of OTLP JSON.
func encodeDeadLetter(kind uint8, body []byte) ([]byte, error) {
	var (
		line []byte
		err  error
	)
	switch kind {
	case kindTraces:
		var td ptrace.Traces
		if td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body); err == nil {
			line, err = (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		}
	case kindMetrics:
		var md pmetric.Metrics
		if md, err = (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(body); err == nil {
			line, err = (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
		}
	case kindLogs:
		var ld plog.Logs
		if ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(body); err == nil {
			line, err = (&plog.JSONMarshaler{}).MarshalLogs(ld)
		}
	default:
		err = fmt.Errorf("unknown record kind %d", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding the dead letter as OTLP JSON: %w", err)
	}
	// The JSON marshalers write compact JSON: no newline inside a line.
	return append(line, '\n'), nil
}

// write appends one request. It returns errDeadLetterFull, and writes nothing,
// when the entry would exceed the bound.
func (d *deadLetter) write(kind uint8, body []byte) error {
	line, err := encodeDeadLetter(kind, body)
	if err != nil {
		return err
	}
	name := deadLetterName(kind)
	if d.keys != nil && d.keys.active != nil {
		env := d.keys.seal(nil, kind, line[:len(line)-1], false)
		line = base64.StdEncoding.AppendEncode(make([]byte, 0, base64.StdEncoding.EncodedLen(len(env))+1), env)
		line = append(line, '\n')
		name += deadLetterEncSuffix
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errDeadLetterClosed
	}
	if d.size+int64(len(line)) > d.max {
		return errDeadLetterFull
	}
	df := d.files[name]
	if df == nil {
		path := filepath.Join(d.dir, name)
		if df, _, err = openDeadLetterFile(path); err != nil {
			return err
		}
		d.files[name] = df
		d.size += df.size
		if d.size+int64(len(line)) > d.max {
			return errDeadLetterFull
		}
	}
	n, err := df.f.Write(line)
	if err != nil || n != len(line) {
		// Cut what was written so the file still ends with a whole line.
		if terr := df.f.Truncate(df.size); terr != nil {
			err = errors.Join(err, terr)
		}
		if err == nil {
			err = io.ErrShortWrite
		}
		return fmt.Errorf("writing %s: %w", df.f.Name(), err)
	}
	df.size += int64(n)
	d.size += int64(n)
	if d.policy == FsyncAlways {
		return d.syncFile(df)
	}
	df.dirty = true
	return nil
}

// syncFile fsyncs one file. Must hold mu.
func (d *deadLetter) syncFile(df *deadLetterFile) error {
	d.syncs.Add(1)
	if err := df.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", df.f.Name(), err)
	}
	df.dirty = false
	return nil
}

// syncDirty fsyncs the files written since their last fsync. Must hold mu.
func (d *deadLetter) syncDirty() error {
	var errs []error
	for _, df := range d.files {
		if df.dirty { // a failed fsync leaves it dirty: retried by the next tick or close
			errs = append(errs, d.syncFile(df))
		}
	}
	return errors.Join(errs...)
}

// syncLoop is the periodic fsync of fsync "interval".
func (d *deadLetter) syncLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.mu.Lock()
			_ = d.syncDirty() // reported again by close
			d.mu.Unlock()
		}
	}
}

// close fsyncs what is not synced yet and closes the files.
func (d *deadLetter) close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.stop)
	d.mu.Unlock()
	d.wg.Wait()

	d.mu.Lock()
	defer d.mu.Unlock()
	errs := []error{d.syncDirty()}
	for _, df := range d.files {
		errs = append(errs, df.f.Close())
	}
	return errors.Join(errs...)
}
