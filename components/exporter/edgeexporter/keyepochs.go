// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// keyEpochsName is the file, beside the dead-letter files, that says which
// key wrote which records of the log, so that a missing or wrong key is
// found at start, before the log is opened, rather than when the records are
// read. It holds no key material: ids and fingerprints only.
const keyEpochsName = "key-epochs.json"

// keyEpochs lists, in sequence order, the key each run of records of the
// log was written with. Epoch i covers the sequences from its FirstSeq up to
// the next epoch's FirstSeq - 1 (the last one is open-ended). Records below
// the first epoch were written before the file existed: in plain text.
type keyEpochs struct {
	Version int        `json:"version"`
	Epochs  []keyEpoch `json:"epochs"`
}

type keyEpoch struct {
	FirstSeq uint64 `json:"first_seq"`
	// KeyID is the key the records were encrypted with; empty: plain text.
	KeyID string `json:"key_id,omitempty"`
	// Fingerprint identifies the key's bytes (see the envelope), so a
	// different key under the same id is caught.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// errKeyMissing is matched by the start error when the buffer needs a key
// that is not configured (or not the one configured under its id).
var errKeyMissing = errors.New("the buffer holds records that the configured keys cannot decrypt")

func readKeyEpochs(dir string) (keyEpochs, bool, error) {
	var ke keyEpochs
	path := filepath.Join(dir, keyEpochsName)
	f, err := wal.OpenNoFollow(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return ke, false, nil
	}
	if err != nil {
		return ke, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return ke, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &ke); err != nil || ke.Version != 1 {
		// Without it, which keys are needed is not known: refuse rather
		// than find out record by record.
		return ke, false, fmt.Errorf("%s is damaged (%v): restore it, or delete it to find missing keys only when records are read", path, err)
	}
	return ke, true, nil
}

// writeKeyEpochs replaces the file atomically and durably: a new temporary
// file (O_EXCL, never through a link), fsync, rename, fsync of the directory.
func writeKeyEpochs(dir string, ke keyEpochs) error {
	path := filepath.Join(dir, keyEpochsName)
	tmp := path + ".tmp"
	b, err := json.MarshalIndent(ke, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := wal.OpenNoFollow(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// end is the last sequence epoch i covers.
func (ke keyEpochs) end(i int) uint64 {
	if i+1 < len(ke.Epochs) {
		return ke.Epochs[i+1].FirstSeq - 1
	}
	return math.MaxUint64
}

// covering returns the epoch that covers seq; false when seq is below the
// first epoch (written before the file existed or was last recreated: the
// key it was written with is not known).
func (ke keyEpochs) covering(seq uint64) (int, bool) {
	for i := len(ke.Epochs) - 1; i >= 0; i-- {
		if ke.Epochs[i].FirstSeq <= seq {
			return i, true
		}
	}
	return 0, false
}

// needed reports whether epoch i may hold records that are not acknowledged:
// sequences in (acked, last].
func (ke keyEpochs) needed(i int, acked, last uint64) bool {
	return last > acked && ke.Epochs[i].FirstSeq <= last && ke.end(i) > acked
}

// check returns an error naming every key id that records in (acked, last]
// were written with and that kr cannot decrypt.
func (ke keyEpochs) check(kr *keyring, acked, last uint64) error {
	var missing []string
	for i, ep := range ke.Epochs {
		if ep.KeyID == "" || !ke.needed(i, acked, last) {
			continue
		}
		span := fmt.Sprintf("records from %d", ep.FirstSeq)
		if e := ke.end(i); e != math.MaxUint64 {
			span = fmt.Sprintf("records %d to %d", ep.FirstSeq, e)
		}
		var k *bufferKey
		if kr != nil {
			k = kr.keys[ep.KeyID]
		}
		switch {
		case k == nil:
			missing = append(missing, fmt.Sprintf("key id %q (%s) is not configured", ep.KeyID, span))
		case k.fingerprintHex() != ep.Fingerprint:
			missing = append(missing, fmt.Sprintf("the key configured as id %q (fingerprint %s) is not the one %s were written with (fingerprint %s)",
				ep.KeyID, k.fingerprintHex(), span, ep.Fingerprint))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; add the key(s) under buffer.encryption.keys (with active: %s to stop encrypting new data) and restart: nothing was read or deleted",
		errKeyMissing, strings.Join(missing, "; "), EncryptionNone)
}

// advance drops the epochs whose records are all acknowledged (at or below
// acked, with last the last sequence of the log) and starts a new epoch at
// last+1 when the key new records are written with changed. It returns the
// new epochs and the ids of the keys no longer needed.
func (ke keyEpochs) advance(active *bufferKey, acked, last uint64) (keyEpochs, []string) {
	out := keyEpochs{Version: 1}
	var released []string
	for i, ep := range ke.Epochs {
		if ke.needed(i, acked, last) {
			out.Epochs = append(out.Epochs, ep)
		} else if ep.KeyID != "" {
			released = append(released, ep.KeyID)
		}
	}
	cur := keyEpoch{FirstSeq: last + 1}
	if active != nil {
		cur.KeyID, cur.Fingerprint = active.id, active.fingerprintHex()
	}
	if n := len(out.Epochs); n == 0 || out.Epochs[n-1].KeyID != cur.KeyID || out.Epochs[n-1].Fingerprint != cur.Fingerprint {
		if n > 0 && out.Epochs[n-1].FirstSeq == cur.FirstSeq {
			out.Epochs = out.Epochs[:n-1] // the previous key wrote nothing
		}
		out.Epochs = append(out.Epochs, cur)
	}
	// Released ids that a kept epoch still uses are still needed.
	kept := map[string]bool{}
	for _, ep := range out.Epochs {
		kept[ep.KeyID] = true
	}
	rel := released[:0]
	seen := map[string]bool{}
	for _, id := range released {
		if !kept[id] && !seen[id] {
			rel = append(rel, id)
			seen[id] = true
		}
	}
	return out, rel
}

// encrypting reports whether any epoch holds or will hold encrypted records.
func (ke keyEpochs) encrypting() bool {
	for _, ep := range ke.Epochs {
		if ep.KeyID != "" {
			return true
		}
	}
	return false
}

// equal compares two epoch lists.
func (ke keyEpochs) equal(o keyEpochs) bool {
	if len(ke.Epochs) != len(o.Epochs) {
		return false
	}
	for i := range ke.Epochs {
		if ke.Epochs[i] != o.Epochs[i] {
			return false
		}
	}
	return true
}
