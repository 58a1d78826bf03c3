// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

// fileDebounce delays a reload after a file-system event, so a burst of
// events (truncate, write, chmod) costs one read.
const fileDebounce = 50 * time.Millisecond

// fileSource reads a YAML or JSON list of endpoints and follows its changes:
// fsnotify events on its directory (which survive atomic renames and
// Kubernetes ConfigMap symlink swaps) plus a periodic stat as a fallback.
// A missing, empty or invalid file keeps the last good list.
type fileSource struct {
	path     string
	poll     time.Duration
	maxBytes int64
	maxEPs   int
	logger   *zap.Logger
}

func newFileSource(cfg *FileConfig, logger *zap.Logger) *fileSource {
	s := &fileSource{path: filepath.Clean(cfg.Path), poll: cfg.PollInterval, maxBytes: cfg.MaxBytes, maxEPs: cfg.MaxEndpoints, logger: logger}
	if s.poll == 0 {
		s.poll = defaultFilePollInterval
	}
	if s.maxBytes == 0 {
		s.maxBytes = defaultFileMaxBytes
	}
	if s.maxEPs == 0 {
		s.maxEPs = defaultMaxEndpoints
	}
	return s
}

// read returns the content of the file, or an error naming the file and the
// cap when it is larger than max_bytes (reading no more than the cap). Only a
// regular file is read (O_NONBLOCK: a FIFO planted at the path cannot block
// the source).
func (s *fileSource) read() ([]byte, error) {
	f, err := os.OpenFile(s.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", s.path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, s.maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > s.maxBytes {
		size := ""
		if fi, err := f.Stat(); err == nil && fi.Size() > s.maxBytes {
			size = fmt.Sprintf(" (%d bytes)", fi.Size())
		}
		return nil, fmt.Errorf("%s: file is larger%s than \"max_bytes\" (%d bytes)", s.path, size, s.maxBytes)
	}
	return data, nil
}

// fileStamp identifies a version of the file for the stat fallback.
type fileStamp struct {
	exists bool
	size   int64
	mod    time.Time
}

func (s *fileSource) stamp() fileStamp {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{exists: true, size: fi.Size(), mod: fi.ModTime()}
}

func (s *fileSource) run(ctx context.Context, emit func([]target, error)) {
	var events chan fsnotify.Event
	var watchErrs chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(s.path)); err != nil {
			_ = w.Close()
		} else {
			defer w.Close()
			events, watchErrs = w.Events, w.Errors
		}
	}
	if err != nil {
		s.logger.Warn("Cannot watch the directory of the endpoints file; polling only", zap.String("path", s.path), zap.Error(err))
	}

	var last []byte // content of the last good list
	failed := false
	load := func() {
		data, err := s.read()
		switch {
		case errors.Is(err, os.ErrNotExist):
			err = fmt.Errorf("%s: file does not exist", s.path)
		case err != nil:
		case len(bytes.TrimSpace(data)) == 0:
			err = fmt.Errorf("%s: file is empty (write [] for no endpoints)", s.path)
		}
		if err == nil && !failed && last != nil && bytes.Equal(data, last) {
			return
		}
		var targets []target
		if err == nil {
			if targets, err = parseEndpoints(data, s.maxEPs); err != nil {
				err = fmt.Errorf("%s: %w", s.path, err)
			}
		}
		if err != nil {
			failed = true
			emit(nil, err)
			return
		}
		failed, last = false, data
		emit(targets, nil)
	}

	stamp := s.stamp()
	load()
	ticker := time.NewTicker(s.poll)
	defer ticker.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			debounce.Reset(fileDebounce)
		case err := <-watchErrs:
			s.logger.Warn("File watch error; polling continues", zap.String("path", s.path), zap.Error(err))
		case <-debounce.C:
			stamp = s.stamp()
			load()
		case <-ticker.C:
			if st := s.stamp(); st != stamp {
				stamp = st
				load()
			}
		}
	}
}

// fileEndpoint is one entry of an endpoints file.
type fileEndpoint struct {
	Address  string            `yaml:"address"`
	Weight   int               `yaml:"weight"`
	Priority int               `yaml:"priority"`
	Zone     string            `yaml:"zone"`
	Metadata map[string]string `yaml:"metadata"`
}

var fileEndpointKeys = map[string]bool{"address": true, "weight": true, "priority": true, "zone": true, "metadata": true}

// parseEndpoints parses a YAML or JSON list of at most maxEPs endpoints.
// Errors name the line and the field.
func parseEndpoints(data []byte, maxEPs int) ([]target, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("no endpoints list")
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of endpoints", root.Line)
	}
	if len(root.Content) > maxEPs {
		return nil, fmt.Errorf("%d endpoints, more than \"max_endpoints\" (%d)", len(root.Content), maxEPs)
	}
	targets := make([]target, 0, len(root.Content))
	var errs []error
	for i, item := range root.Content {
		if item.Kind != yaml.MappingNode {
			errs = append(errs, fmt.Errorf("line %d: [%d]: want a mapping with an address", item.Line, i))
			continue
		}
		var fe fileEndpoint
		ok := true
		addrLine := item.Line
		for k := 0; k+1 < len(item.Content); k += 2 {
			key, val := item.Content[k], item.Content[k+1]
			if !fileEndpointKeys[key.Value] {
				errs = append(errs, fmt.Errorf("line %d: [%d].%s: unknown field (want address, weight, priority, zone, metadata)", key.Line, i, key.Value))
				ok = false
				continue
			}
			if key.Value == "address" {
				addrLine = val.Line
			}
			if err := val.Decode(fieldPtr(&fe, key.Value)); err != nil {
				errs = append(errs, fmt.Errorf("line %d: [%d].%s: %s", val.Line, i, key.Value, trimYAMLError(err)))
				ok = false
			}
		}
		if !ok {
			continue
		}
		if err := checkAddress(fe.Address); err != nil {
			errs = append(errs, fmt.Errorf("line %d: [%d].address: %w", addrLine, i, err))
			continue
		}
		if fe.Weight < 0 || fe.Priority < 0 {
			errs = append(errs, fmt.Errorf("line %d: [%d]: weight and priority must be >= 0", item.Line, i))
			continue
		}
		targets = append(targets, target{Address: fe.Address, Weight: fe.Weight, Priority: fe.Priority, Zone: fe.Zone, Metadata: fe.Metadata})
	}
	return targets, errors.Join(errs...)
}

func fieldPtr(fe *fileEndpoint, key string) any {
	switch key {
	case "address":
		return &fe.Address
	case "weight":
		return &fe.Weight
	case "priority":
		return &fe.Priority
	case "zone":
		return &fe.Zone
	default:
		return &fe.Metadata
	}
}

// trimYAMLError drops the "yaml: unmarshal errors:\n  line N: " prefix the
// caller replaces with its own.
func trimYAMLError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": cannot"); i >= 0 {
		return msg[i+2:]
	}
	return strings.TrimPrefix(msg, "yaml: ")
}
