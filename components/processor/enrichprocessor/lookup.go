// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

// Default caps of a lookup file (lookups[].max_bytes, lookups[].max_rows).
// The file is read from disk, perhaps written by another program: its size
// bounds the memory the processor spends on it.
const (
	defaultLookupMaxBytes = 4 << 20
	defaultLookupMaxRows  = 100_000
)

// maxBytes is the size cap of the table's file.
func (l LookupConfig) maxBytes() int64 {
	if l.MaxBytes > 0 {
		return l.MaxBytes
	}
	return defaultLookupMaxBytes
}

// maxRows is the row cap of the table.
func (l LookupConfig) maxRows() int {
	if l.MaxRows > 0 {
		return l.MaxRows
	}
	return defaultLookupMaxRows
}

// table is an immutable, loaded lookup table: key value -> attributes.
type table struct {
	rows map[string][]entry
}

// lookupTable is one configured table: the current table behind an atomic
// pointer (read without a lock on the hot path) and the goroutine that
// reloads it.
type lookupTable struct {
	name   string
	path   string
	format string
	key    string
	cfg    LookupConfig
	act    action
	logger *zap.Logger
	cur    atomic.Pointer[table]

	// set by the enricher for its counters
	attrs metric.MeasurementOption

	onReload func(ok bool)

	// owned by the reload goroutine
	lastMod  time.Time
	lastSize int64
}

func newLookupTable(cfg LookupConfig, logger *zap.Logger) (*lookupTable, error) {
	format, err := lookupFormat(cfg)
	if err != nil {
		return nil, err
	}
	name := tableName(cfg)
	return &lookupTable{
		name:   name,
		path:   filepath.Clean(cfg.File),
		format: format,
		key:    cfg.Key,
		cfg:    cfg,
		act:    parseAction(cfg.Action),
		logger: logger.With(zap.String("table", name), zap.String("file", cfg.File)),
		attrs:  metric.WithAttributeSet(attribute.NewSet(attribute.String("table", name))),
	}, nil
}

// lookup returns the row for key (nil when absent).
func (lt *lookupTable) lookup(key string) ([]entry, bool) {
	t := lt.cur.Load()
	if t == nil {
		return nil, false
	}
	row, ok := t.rows[key]
	return row, ok
}

// load reads and parses the file; on success the new table replaces the
// current one, on failure the current one stays. Errors name the file.
func (lt *lookupTable) load() error {
	data, err := lt.read()
	if err != nil {
		return err
	}
	rows, err := parseTable(lt.format, data, lt.cfg, lt.act)
	if err != nil {
		return fmt.Errorf("file %q: %w", lt.path, err)
	}
	lt.cur.Store(&table{rows: rows})
	return nil
}

// read returns the file's content, refusing anything but a regular file of
// at most max_bytes (checked before reading, and while reading in case the
// file grows).
func (lt *lookupTable) read() ([]byte, error) {
	st, err := os.Stat(lt.path)
	if err != nil {
		return nil, err
	}
	// Remembered even when the file is refused, so polling does not reload
	// the same file again and again.
	lt.lastMod, lt.lastSize = st.ModTime(), st.Size()
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("file %q is not a regular file (%s)", lt.path, st.Mode().Type())
	}
	maxBytes := lt.cfg.maxBytes()
	if st.Size() > maxBytes {
		return nil, fmt.Errorf("file %q is %d bytes, over the cap of %d bytes (lookups[].max_bytes)", lt.path, st.Size(), maxBytes)
	}
	f, err := os.Open(lt.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("file %q: %w", lt.path, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("file %q grew over the cap of %d bytes (lookups[].max_bytes) while being read", lt.path, maxBytes)
	}
	return data, nil
}

// reload loads the file and logs and counts the outcome.
func (lt *lookupTable) reload() {
	err := lt.load()
	if err != nil {
		lt.logger.Warn("Lookup table rejected; keeping the last good table", zap.Error(err))
	} else {
		lt.logger.Info("Lookup table reloaded", zap.Int("rows", len(lt.cur.Load().rows)))
	}
	if lt.onReload != nil {
		lt.onReload(err == nil)
	}
}

// run watches the file until ctx is done.
func (lt *lookupTable) run(ctx context.Context, wg *sync.WaitGroup) {
	switch lt.cfg.Reload {
	case ReloadNone:
		return
	case ReloadPoll:
		wg.Go(func() { lt.poll(ctx, lt.cfg.PollInterval) })
		return
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		// The directory is watched, not the file: editors and config
		// management replace files by renaming a new one over them.
		err = w.Add(filepath.Dir(lt.path))
		if err != nil {
			_ = w.Close()
		}
	}
	if err != nil {
		interval := lt.cfg.PollInterval
		if interval <= 0 {
			interval = 10 * time.Second
		}
		lt.logger.Warn("Cannot watch the lookup file; polling it instead", zap.Error(err), zap.Duration("interval", interval))
		wg.Go(func() { lt.poll(ctx, interval) })
		return
	}
	wg.Go(func() { lt.watch(ctx, w) })
}

// watch reloads the file after file-system events on it, debounced so that
// a write in several steps is loaded once.
func (lt *lookupTable) watch(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	const debounce = 100 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) != lt.path || ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			lt.logger.Warn("Lookup file watcher error", zap.Error(err))
		case <-timer.C:
			if _, err := os.Stat(lt.path); err != nil {
				// Removed: wait for the new file; the last good table stays.
				lt.logger.Warn("Lookup file is gone; keeping the last good table", zap.Error(err))
				continue
			}
			lt.reload()
		}
	}
}

// poll reloads the file when its modification time or size changed.
func (lt *lookupTable) poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := os.Stat(lt.path)
			if err != nil || (st.ModTime().Equal(lt.lastMod) && st.Size() == lt.lastSize) {
				continue
			}
			lt.reload()
		}
	}
}

// parseTable parses a lookup file into rows of entries.
func parseTable(format string, data []byte, cfg LookupConfig, act action) (map[string][]entry, error) {
	switch format {
	case FormatCSV:
		return parseCSV(data, cfg, act)
	case FormatJSON:
		// Check the syntax with the JSON decoder (its errors are JSON's),
		// then read the structure as YAML, a superset that keeps line numbers.
		var probe any
		if err := json.Unmarshal(data, &probe); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("line %d: %w", lineOf(data, se.Offset), err)
			}
			return nil, err
		}
		return parseYAML(data, cfg, act)
	default:
		return parseYAML(data, cfg, act)
	}
}

// lineOf returns the 1-based line of a byte offset.
func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return bytes.Count(data[:offset], []byte{'\n'}) + 1
}

// allowed returns the attribute filter (nil: every column).
func allowed(cfg LookupConfig) map[string]bool {
	if len(cfg.Attributes) == 0 {
		return nil
	}
	m := make(map[string]bool, len(cfg.Attributes))
	for _, a := range cfg.Attributes {
		m[a] = true
	}
	return m
}

// sortRow orders a row's entries by key, so output is deterministic.
func sortRow(row []entry) []entry {
	slices.SortFunc(row, func(a, b entry) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return row
}

// parseCSV reads a CSV file with a header line. Lines starting with # are
// comments; empty cells add no attribute.
func parseCSV(data []byte, cfg LookupConfig, act action) (map[string][]entry, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("line 1: empty file, a header line is expected")
	}
	if err != nil {
		return nil, err
	}
	headerLine, _ := r.FieldPos(0)
	keyCol := 0
	if cfg.KeyColumn != "" {
		keyCol = slices.Index(header, cfg.KeyColumn)
		if keyCol < 0 {
			return nil, fmt.Errorf("line %d: key column %q is not in the header %q", headerLine, cfg.KeyColumn, header)
		}
	}
	allow := allowed(cfg)
	for _, a := range cfg.Attributes {
		if !slices.Contains(header, a) {
			return nil, fmt.Errorf("line %d: attribute column %q is not in the header %q", headerLine, a, header)
		}
	}
	for i, h := range header {
		if h == "" {
			return nil, fmt.Errorf("line %d: column %d has no name", headerLine, i+1)
		}
	}
	rows := map[string][]entry{}
	maxRows := cfg.maxRows()
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err // *csv.ParseError names the line
		}
		line, _ := r.FieldPos(0)
		if len(rows) == maxRows {
			return nil, fmt.Errorf("line %d: more than %d rows, over the cap (lookups[].max_rows)", line, maxRows)
		}
		key := rec[keyCol]
		if key == "" {
			return nil, fmt.Errorf("line %d: the key column %q is empty", line, header[keyCol])
		}
		if _, dup := rows[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", line, key)
		}
		row := make([]entry, 0, len(rec)-1)
		for i, cell := range rec {
			if i == keyCol || cell == "" || (allow != nil && !allow[header[i]]) {
				continue
			}
			row = append(row, entry{key: header[i], val: strValue(cell), act: act})
		}
		rows[key] = sortRow(row)
	}
	return rows, nil
}

// parseYAML reads a mapping of key -> mapping of attribute -> scalar.
func parseYAML(data []byte, cfg LookupConfig, act action) (map[string][]entry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err // yaml errors name the line
	}
	rows := map[string][]entry{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return rows, nil // empty file: an empty table
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected a mapping of %s values to attributes", root.Line, cfg.Key)
	}
	if maxRows := cfg.maxRows(); len(root.Content)/2 > maxRows {
		return nil, fmt.Errorf("line %d: more than %d rows, over the cap (lookups[].max_rows)", root.Content[2*maxRows].Line, maxRows)
	}
	allow := allowed(cfg)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, fmt.Errorf("line %d: a key must be a non-empty scalar", k.Line)
		}
		if _, dup := rows[k.Value]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
		}
		if v.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: the value of %q must be a mapping of attributes", v.Line, k.Value)
		}
		row := make([]entry, 0, len(v.Content)/2)
		for j := 0; j+1 < len(v.Content); j += 2 {
			ak, av := v.Content[j], v.Content[j+1]
			if ak.Kind != yaml.ScalarNode || ak.Value == "" {
				return nil, fmt.Errorf("line %d: an attribute name must be a non-empty scalar", ak.Line)
			}
			if av.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: attribute %q of %q must be a string, number or boolean", av.Line, ak.Value, k.Value)
			}
			if allow != nil && !allow[ak.Value] {
				continue
			}
			val, ok, err := scalarValue(av)
			if err != nil {
				return nil, fmt.Errorf("line %d: attribute %q of %q: %w", av.Line, ak.Value, k.Value, err)
			}
			if ok {
				row = append(row, entry{key: ak.Value, val: val, act: act})
			}
		}
		rows[k.Value] = sortRow(row)
	}
	return rows, nil
}

// scalarValue converts a YAML scalar; null adds no attribute.
func scalarValue(n *yaml.Node) (value, bool, error) {
	switch n.ShortTag() {
	case "!!null":
		return value{}, false, nil
	case "!!bool":
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			var yb bool
			if err := n.Decode(&yb); err != nil {
				return value{}, false, err
			}
			b = yb
		}
		return value{kind: kindBool, b: b}, true, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return value{}, false, err
		}
		return value{kind: kindInt, i: i}, true, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return value{}, false, err
		}
		return value{kind: kindDouble, d: f}, true, nil
	}
	return strValue(n.Value), true, nil
}
