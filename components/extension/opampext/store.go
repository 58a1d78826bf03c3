// SPDX-License-Identifier: Apache-2.0

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Files of the storage directory. Every write goes through a temporary file,
// fsync and rename, then an fsync of the directory: a crash leaves the old or
// the new file, never a torn one.
const (
	stateFile    = "state.json"
	currentFile  = "current.yaml"  // the last accepted remote config
	previousFile = "previous.yaml" // the one before it
	trialFile    = "trial.yaml"    // a config being tried (not yet accepted)
	lockFile     = "LOCK"          // flock held by the process whose agent owns the directory
)

// errLocked: another process's agent owns the storage directory (e.g.
// `otelcol-edge validate --config opamp:...` while the service runs).
var errLocked = errors.New("the storage directory is used by another otelcol-edge process")

// persistedState is state.json.
type persistedState struct {
	// InstanceUID is the agent's OpAMP instance_uid, generated once.
	InstanceUID string `json:"instance_uid"`
	// CurrentHash is the hash of current.yaml (empty: no remote config accepted yet).
	CurrentHash string `json:"current_hash,omitempty"`
	// PreviousHash is the hash of previous.yaml.
	PreviousHash string `json:"previous_hash,omitempty"`
	// TrialHash is set while trial.yaml is being tried; found at start-up it
	// means the process ended during the trial: the trial failed.
	TrialHash string `json:"trial_hash,omitempty"`
	// TrialFailure is the reason the trial failed, written just before the
	// process re-executes itself after a failed start.
	TrialFailure string `json:"trial_failure,omitempty"`
	// Status is the last remote config status reported to the server.
	Status string `json:"status,omitempty"`
	// StatusHash is the hash the status refers to.
	StatusHash string `json:"status_hash,omitempty"`
	// StatusError is the error of a FAILED status.
	StatusError string `json:"status_error,omitempty"`
}

// store is the storage directory: the persisted state and the configs.
type store struct {
	dir  string
	lock *os.File // nil: read-only (not the owner)
}

func openStore(dir string) (s *store, st persistedState, err error) {
	defer func() {
		if err != nil && s != nil {
			s.close()
			s = nil
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, st, fmt.Errorf("create the storage directory: %w", err)
	}
	// Configs may carry secrets: only the collector's user reads them.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, st, fmt.Errorf("restrict the storage directory: %w", err)
	}
	s = &store{dir: dir}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, st, err
	}
	s.lock = lock
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, st, fmt.Errorf("read %s: %w", stateFile, err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, st, fmt.Errorf("decode %s: %w", filepath.Join(dir, stateFile), err)
		}
	}
	if st.InstanceUID == "" {
		var uid [16]byte
		if _, err := rand.Read(uid[:]); err != nil {
			return nil, st, err
		}
		uid[6] = uid[6]&0x0f | 0x70 // UUID v7 layout bits, random content
		uid[8] = uid[8]&0x3f | 0x80
		st.InstanceUID = fmt.Sprintf("%x", uid[:])
		if err := s.saveState(st); err != nil {
			return nil, st, err
		}
	}
	return s, st, nil
}

// close releases the directory.
func (s *store) close() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

func (s *store) saveState(st persistedState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return s.write(stateFile, b)
}

func (s *store) read(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, name))
}

func (s *store) remove(name string) error {
	err := os.Remove(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// rename moves one of our files over another, durably.
func (s *store) rename(from, to string) error {
	if err := os.Rename(filepath.Join(s.dir, from), filepath.Join(s.dir, to)); err != nil {
		return err
	}
	return s.syncDir()
}

func (s *store) write(name string, data []byte) error {
	tmp, err := os.CreateTemp(s.dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, name)); err != nil {
		return err
	}
	return s.syncDir()
}

func (s *store) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
