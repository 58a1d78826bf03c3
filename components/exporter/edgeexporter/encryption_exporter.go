// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// loadKeys reads the configured keys and, before the log is opened, checks
// that they decrypt every record that is not acknowledged (from the key
// epochs and the cursor, both read without changing anything): a missing or
// wrong key fails the start with the key id named and nothing read, repaired
// or deleted.
func (e *edgeExporter) loadKeys(dir string) error {
	kr, err := loadKeyring(e.cfg.Buffer.Encryption, e.cfg.Buffer.Compression)
	if err != nil {
		return err
	}
	ke, have, err := readKeyEpochs(dir)
	if err == nil && have {
		acked, last, _ := wal.PeekCursor(filepath.Join(dir, "wal"))
		err = ke.check(kr, acked, last)
	}
	if err != nil {
		kr.close()
		return err
	}
	e.keys = kr
	if kr != nil {
		active := EncryptionNone
		if kr.active != nil {
			active = kr.active.id
		}
		warnKeyFiles(e.logger, e.cfg.Buffer.Encryption)
		e.logger.Info("Buffer encryption at rest", zap.String("active_key", active), zap.Int("keys", len(kr.keys)))
	}
	return nil
}

// warnKeyFiles warns about key files other users can read (the key itself is
// never logged).
func warnKeyFiles(logger *zap.Logger, c EncryptionConfig) {
	for _, k := range c.Keys {
		if k.KeyFile == "" {
			continue
		}
		if fi, err := os.Stat(k.KeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			logger.Warn("A buffer key file is readable by group or other users; make it 0400 or 0600",
				zap.String("key_id", k.ID), zap.String("key_file", k.KeyFile), zap.String("mode", fi.Mode().String()))
		}
	}
}

// advanceKeyEpochs records the key new records are written with and forgets
// the keys no acknowledged record needs any more (logging them, so an
// operator knows when an old key can be removed). Nothing is written when
// encryption was never used.
func (e *edgeExporter) advanceKeyEpochs(dir string) error {
	ke, have, err := readKeyEpochs(dir)
	if err != nil {
		return err
	}
	var active *bufferKey
	if e.keys != nil {
		active = e.keys.active
	}
	if !have && active == nil {
		return nil
	}
	st := e.log.Stats()
	next, released := ke.advance(active, st.AckedSeq, st.LastSeq)
	// Which key wrote which sequences, for telling an altered record
	// from one whose key is missing (decrypt).
	e.keys.setEpochs(next)
	for _, id := range released {
		e.logger.Info("No record in the buffer needs this key any more: it can be removed from buffer.encryption.keys (dead-letter entries encrypted with it still need it to be read)",
			zap.String("key_id", id))
	}
	switch {
	case !next.encrypting():
		if err := os.Remove(filepath.Join(dir, keyEpochsName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	case have && next.equal(ke):
		return nil
	}
	return writeKeyEpochs(dir, next)
}

// decrypt opens an encrypted record. A record that does not authenticate
// under the key it names (damaged or altered on disk) is acknowledged and
// counted as dropped (reason corrupt): errRecordTampered. So is a record
// whose key id or fingerprint was altered: one that names another key than
// the key epoch of its sequence says wrote it, or that a configured key
// authenticates under another id or fingerprint (openRecord). A record whose
// is not available (which the check at start prevents, unless the key epochs
// were lost) is never dropped: the dispatcher stops sending, reports the
// error and retries every sending.flush_interval; a restart with the key
// configured sends it.
func (e *edgeExporter) decrypt(ctx context.Context, rec wal.Record) ([]byte, error) {
	kind := rec.Kind &^ kindEncrypted
	plain, err := e.keys.openRecord(kind, rec.Seq, rec.Payload)
	switch {
	case err == nil:
		return plain, nil
	case errors.Is(err, errRecordTampered):
		e.log.Ack(rec.Seq)
		e.poison.done(rec.Seq)
		e.countDropped(context.Background(), wal.DropReasonCorrupt, int64(rec.Items))
		e.warnLimiter.warn(e.logger, "Dropped an encrypted record that does not authenticate (damaged or altered on disk)",
			zap.Uint64("seq", rec.Seq), zap.String("key_id", envelopeKeyID(rec.Payload)), zap.Uint32("items", rec.Items))
		return nil, err
	}
	e.warnLimiter.warn(e.logger, "Cannot decrypt the buffer: sending is stopped until the key is configured (nothing is dropped)",
		zap.Uint64("seq", rec.Seq), zap.Error(err))
	e.reportStatus(componentstatus.NewRecoverableErrorEvent(fmt.Errorf("cannot decrypt the buffer: %w", err)))
	// Read it again after a pause (ctx is the batch's flush deadline).
	e.retryNeeded.Store(true)
	<-ctx.Done()
	return nil, err
}
