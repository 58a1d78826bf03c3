// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// EncryptionNone as buffer.encryption.active writes new records in plain
// text; the configured keys then only read the records encrypted earlier.
const EncryptionNone = "none"

// EncryptionConfig configures the encryption at rest of the buffer: every
// record of the log and every dead-letter entry is sealed with AES-256-GCM
// under the active key, and carries that key's id so that records written
// under earlier keys still decrypt after a rotation.
type EncryptionConfig struct {
	// Active is the id (in Keys) of the key new records and dead-letter
	// entries are encrypted with, or "none" to write them in plain text.
	// Required when Keys is set.
	Active string `mapstructure:"active"`

	// Keys are the keys the exporter knows: the active one and the older ones
	// that records still in the buffer were written with. Every key is 32
	// bytes in base64 (`openssl rand -base64 32`).
	Keys []EncryptionKey `mapstructure:"keys"`

	_ struct{}
}

// EncryptionKey is one key of the buffer.
type EncryptionKey struct {
	// ID names the key in every record encrypted with it: 1 to 64 characters
	// among A-Z a-z 0-9 . _ - (for example the date it was introduced).
	ID string `mapstructure:"id"`
	// Key is the key itself, base64 of 32 bytes; use ${env:VAR} or
	// ${file:path} rather than writing it into the config. Exactly one of
	// Key and KeyFile is set.
	Key configopaque.String `mapstructure:"key"`
	// KeyFile is a file holding the key in base64 (surrounding white space
	// ignored), read at start.
	KeyFile string `mapstructure:"key_file"`

	_ struct{}
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// validate checks the encryption settings (shape only: key files are read
// at start).
func (c *EncryptionConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Keys) == 0 {
		if c.Active != "" && c.Active != EncryptionNone {
			add("\"buffer.encryption.active\" is %q but \"buffer.encryption.keys\" is empty", c.Active)
		}
		return errs
	}
	ids := map[string]bool{}
	for i, k := range c.Keys {
		if !keyIDPattern.MatchString(k.ID) || k.ID == EncryptionNone {
			add("\"buffer.encryption.keys[%d].id\" %q must be 1 to 64 characters among A-Z a-z 0-9 . _ - (and not %q)", i, k.ID, EncryptionNone)
		}
		if ids[k.ID] {
			add("\"buffer.encryption.keys[%d].id\" %q is listed twice", i, k.ID)
		}
		ids[k.ID] = true
		switch {
		case (k.Key == "") == (k.KeyFile == ""):
			add("\"buffer.encryption.keys[%d]\" (id %q) must set exactly one of \"key\" and \"key_file\"", i, k.ID)
		case k.Key != "":
			if _, err := decodeBufferKey(string(k.Key)); err != nil {
				add("\"buffer.encryption.keys[%d].key\" (id %q) %w", i, k.ID, err)
			}
		}
	}
	switch {
	case c.Active == "":
		add("\"buffer.encryption.active\" must be set when \"buffer.encryption.keys\" is: the id of the key new records are encrypted with, or %q", EncryptionNone)
	case c.Active != EncryptionNone && !ids[c.Active]:
		add("\"buffer.encryption.active\" %q is not the id of a key in \"buffer.encryption.keys\"", c.Active)
	}
	return errs
}

// decodeBufferKey decodes a key written in base64. The error never contains
// the key.
func decodeBufferKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("must be 32 bytes in base64 (openssl rand -base64 32): not valid base64")
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("must be 32 bytes in base64 (openssl rand -base64 32): it decodes to %d bytes", len(b))
	}
	return b, nil
}

// The envelope of an encrypted record (the payload the exporter hands to the
// log) and of an encrypted dead-letter entry:
//
//	offset      size  field
//	0           1     format, envFormatV1
//	1           1     flags: envCompressed (the plain text was zstd-compressed)
//	2           1     n, length of the key id
//	3           n     key id
//	3+n         4     key fingerprint: HMAC-SHA256(key, "otelcol-edge buffer key fingerprint")[:4]
//	7+n         16    salt: the record's AES-256-GCM key is HMAC-SHA256(key, "otelcol-edge buffer v1" || salt)
//	23+n        12    nonce: 4 zero bytes and a counter (unique per salt)
//	35+n        ...   ciphertext, then the 16-byte GCM tag
//
// The additional authenticated data is the envelope up to the ciphertext
// followed by the signal kind, so a record cannot be moved to another signal.
// Each process draws a new random salt per key at start, so GCM nonces never
// repeat under one AES key however many records a key encrypts and however
// often the process restarts.
const (
	envFormatV1   byte = 0xE1
	envCompressed byte = 1
	envSaltSize        = 16
	envNonceSize       = 12
	envFPSize          = 4
	envTagSize         = 16
)

// kindEncrypted marks, in the kind stored in the log, a record whose payload
// is an envelope (the log's kinds go up to 127; the signals use 1 to 3).
const kindEncrypted uint8 = 0x40

var (
	// errKeyUnavailable: the record names a key that is not configured, or a
	// key configured under its id that is not the one it was written with.
	errKeyUnavailable = errors.New("encryption key not available")
	// errRecordTampered: the record names a configured key but does not
	// authenticate: damaged or altered.
	errRecordTampered = errors.New("encrypted record does not authenticate (damaged or altered)")
)

// bufferKey is one configured key.
type bufferKey struct {
	id     string
	master []byte
	fp     [envFPSize]byte
	// salt and aead: the key this process seals with.
	salt [envSaltSize]byte
	aead cipher.AEAD
}

// keyring seals and opens envelopes. Safe for concurrent use.
type keyring struct {
	keys   map[string]*bufferKey
	active *bufferKey // nil: new records are written in plain text
	// compress compresses the plain text inside the envelope (the log cannot
	// compress ciphertext).
	compress bool
	zenc     *zstd.Encoder
	zdec     *zstd.Decoder

	counter atomic.Uint64 // nonce counter of active.salt

	mu    sync.Mutex
	cache map[cacheKey]cipher.AEAD // AEADs of the salts of earlier runs

	// epochs are the key epochs of the log as of the start (nil: none),
	// for openRecord.
	epochs atomic.Pointer[keyEpochs]
}

type cacheKey struct {
	id   string
	salt [envSaltSize]byte
}

const keyCacheSize = 256

func fingerprint(master []byte) [envFPSize]byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("otelcol-edge buffer key fingerprint"))
	var fp [envFPSize]byte
	copy(fp[:], m.Sum(nil))
	return fp
}

func deriveAEAD(master []byte, salt []byte) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("otelcol-edge buffer v1"))
	m.Write(salt)
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// loadKeyring reads the configured keys (files at this point). It returns nil
// when no key is configured. Errors name the key id and file, never the key.
func loadKeyring(c EncryptionConfig, compress bool) (*keyring, error) {
	if len(c.Keys) == 0 {
		return nil, nil
	}
	kr := &keyring{keys: map[string]*bufferKey{}, compress: compress, cache: map[cacheKey]cipher.AEAD{}}
	for i, k := range c.Keys {
		raw := string(k.Key)
		if k.KeyFile != "" {
			b, err := readKeyFile(k.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("buffer.encryption.keys[%d] (id %q): reading key_file: %w", i, k.ID, err)
			}
			raw = string(b)
		}
		master, err := decodeBufferKey(raw)
		if err != nil {
			src := "key"
			if k.KeyFile != "" {
				src = "key_file " + k.KeyFile
			}
			return nil, fmt.Errorf("buffer.encryption.keys[%d] (id %q): %s %w", i, k.ID, src, err)
		}
		bk := &bufferKey{id: k.ID, master: master, fp: fingerprint(master)}
		if _, err := rand.Read(bk.salt[:]); err != nil {
			return nil, err
		}
		if bk.aead, err = deriveAEAD(master, bk.salt[:]); err != nil {
			return nil, err
		}
		kr.keys[k.ID] = bk
	}
	if c.Active != EncryptionNone {
		kr.active = kr.keys[c.Active]
	}
	var err error
	kr.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	kr.zdec, err = zstd.NewReader(nil, zstd.IgnoreChecksum(true), zstd.WithDecoderConcurrency(2),
		zstd.WithDecoderMaxMemory(uint64(wal.DefaultMaxRecordBytes)+1))
	if err != nil {
		_ = kr.zenc.Close()
		return nil, err
	}
	return kr, nil
}

// readKeyFile reads a key file. Unlike the buffer's files, a key file is
// the operator's and links are followed (a Kubernetes secret is a link to
// ..data/<name>); its size is bounded.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const maxKeyFile = 1024
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a key", path, maxKeyFile)
	}
	return b, nil
}

// close releases the compressors.
func (kr *keyring) close() {
	if kr == nil {
		return
	}
	_ = kr.zenc.Close()
	kr.zdec.Close()
}

// fingerprintHex is the fingerprint of a key as written in the key epochs.
func (k *bufferKey) fingerprintHex() string { return hex.EncodeToString(k.fp[:]) }

var sealScratch = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// seal encrypts plain (of signal kind) under the active key and appends the
// envelope to dst. compress allows compressing it first.
func (kr *keyring) seal(dst []byte, kind uint8, plain []byte, compress bool) []byte {
	k := kr.active
	flags := byte(0)
	var scratch *[]byte
	if compress && len(plain) >= 64 {
		scratch = sealScratch.Get().(*[]byte)
		z := kr.zenc.EncodeAll(plain, (*scratch)[:0])
		*scratch = z
		if len(z) < len(plain) {
			plain, flags = z, envCompressed
		}
	}
	hdrLen := 3 + len(k.id) + envFPSize + envSaltSize + envNonceSize
	start := len(dst)
	dst = append(dst, envFormatV1, flags, byte(len(k.id)))
	dst = append(dst, k.id...)
	dst = append(dst, k.fp[:]...)
	dst = append(dst, k.salt[:]...)
	var nonce [envNonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], kr.counter.Add(1))
	dst = append(dst, nonce[:]...)
	var aadBuf [3 + 64 + envFPSize + envSaltSize + envNonceSize + 1]byte
	aad := append(append(aadBuf[:0], dst[start:start+hdrLen]...), kind)
	dst = k.aead.Seal(dst, nonce[:], plain, aad)
	if scratch != nil {
		if cap(*scratch) <= 4<<20 {
			sealScratch.Put(scratch)
		}
	}
	return dst
}

// envelopeKeyID returns the key id an envelope names ("" if malformed).
func envelopeKeyID(env []byte) string {
	if len(env) < 3 || env[0] != envFormatV1 || len(env) < 3+int(env[2]) {
		return ""
	}
	return string(env[3 : 3+int(env[2])])
}

// open decrypts an envelope of signal kind into a new slice.
func (kr *keyring) open(kind uint8, env []byte) ([]byte, error) {
	if len(env) < 3 || env[0] != envFormatV1 {
		return nil, fmt.Errorf("%w: unknown envelope format", errRecordTampered)
	}
	n := int(env[2])
	hdrLen := 3 + n + envFPSize + envSaltSize + envNonceSize
	if len(env) < hdrLen+envTagSize {
		return nil, fmt.Errorf("%w: envelope too short", errRecordTampered)
	}
	id := string(env[3 : 3+n])
	if kr == nil {
		return nil, fmt.Errorf("%w: record encrypted with key id %q, and buffer.encryption.keys is empty", errKeyUnavailable, id)
	}
	k := kr.keys[id]
	fp := env[3+n : 3+n+envFPSize]
	if k == nil || !hmac.Equal(fp, k.fp[:]) {
		// The key id and fingerprint are read before anything
		// authenticates them: a record sealed by a configured key whose
		// id or fingerprint was edited on disk is altered, not waiting for
		// a key.
		if by := kr.sealedBy(kind, env, n); by != nil {
			return nil, fmt.Errorf("%w: it names key id %q (fingerprint %s) but was sealed with the key configured as id %q",
				errRecordTampered, id, hex.EncodeToString(fp), by.id)
		}
		if k == nil {
			return nil, fmt.Errorf("%w: record encrypted with key id %q, which is not in buffer.encryption.keys", errKeyUnavailable, id)
		}
		return nil, fmt.Errorf("%w: the key configured as id %q (fingerprint %s) is not the one the record was written with (fingerprint %s)",
			errKeyUnavailable, id, k.fingerprintHex(), hex.EncodeToString(fp))
	}
	var ck cacheKey
	ck.id = id
	copy(ck.salt[:], env[3+n+envFPSize:])
	aead, err := kr.aeadFor(k, ck)
	if err != nil {
		return nil, err
	}
	nonce := env[hdrLen-envNonceSize : hdrLen]
	var aadBuf [3 + 255 + envFPSize + envSaltSize + envNonceSize + 1]byte
	aad := append(append(aadBuf[:0], env[:hdrLen]...), kind)
	var scratch *[]byte
	var out []byte
	compressed := env[1]&envCompressed != 0
	if compressed {
		scratch = sealScratch.Get().(*[]byte)
		out, err = aead.Open((*scratch)[:0], nonce, env[hdrLen:], aad)
		*scratch = out
	} else {
		out, err = aead.Open(nil, nonce, env[hdrLen:], aad)
	}
	if err == nil && compressed {
		out, err = kr.zdec.DecodeAll(out, nil)
		if err != nil {
			err = fmt.Errorf("%w: decompressing: %w", errRecordTampered, err)
		}
	} else if err != nil {
		err = fmt.Errorf("%w (key id %q)", errRecordTampered, id)
	}
	if scratch != nil && cap(*scratch) <= 4<<20 {
		sealScratch.Put(scratch)
	}
	return out, err
}

// sealedBy returns the configured key that sealed env (whose key id is n
// bytes long) under another key id or fingerprint than env names, or nil:
// it tries each key with its own id and fingerprint in the authenticated
// data in place of the stored ones. Used only when the named key is not
// configured or its fingerprint differs: a record that authenticates this
// way was sealed by that key and its header altered afterwards.
func (kr *keyring) sealedBy(kind uint8, env []byte, n int) *bufferKey {
	hdrLen := 3 + n + envFPSize + envSaltSize + envNonceSize
	salt := env[3+n+envFPSize : 3+n+envFPSize+envSaltSize]
	nonce := env[hdrLen-envNonceSize : hdrLen]
	var aadBuf [3 + 255 + envFPSize + envSaltSize + envNonceSize + 1]byte
	for _, k := range kr.keys {
		aad := append(aadBuf[:0], env[0], env[1], byte(len(k.id)))
		aad = append(aad, k.id...)
		aad = append(aad, k.fp[:]...)
		aad = append(aad, salt...)
		aad = append(aad, nonce...)
		aad = append(aad, kind)
		var ck cacheKey
		ck.id = k.id
		copy(ck.salt[:], salt)
		aead, err := kr.aeadFor(k, ck)
		if err != nil {
			continue
		}
		if _, err := aead.Open(nil, nonce, env[hdrLen:], aad); err == nil {
			return k
		}
	}
	return nil
}

// setEpochs gives the keyring the key epochs of the log (see openRecord).
func (kr *keyring) setEpochs(ke keyEpochs) {
	if kr != nil {
		kr.epochs.Store(&ke)
	}
}

// openRecord decrypts the envelope of the log record seq of signal kind,
// like open (which already drops, as altered, a record that a configured key
// authenticates under another id or fingerprint: that is proof). A record
// whose key is not available is compared with the key epochs only to explain
// the wait: key-epochs.json is not authenticated, so an edited epochs file
// must never turn "key missing, wait" into a drop of genuine data. When the
// epoch covering seq names another key (or plain text), the error stays
// errKeyUnavailable and says so; sending stops until the key is configured
// or the operator deals with the record.
func (kr *keyring) openRecord(kind uint8, seq uint64, env []byte) ([]byte, error) {
	plain, err := kr.open(kind, env)
	if err == nil || !errors.Is(err, errKeyUnavailable) || kr == nil {
		return plain, err
	}
	ke := kr.epochs.Load()
	if ke == nil {
		return nil, err
	}
	i, ok := ke.covering(seq)
	if !ok {
		return nil, err
	}
	ep := ke.Epochs[i]
	n := int(env[2]) // open checked the envelope's length
	id, fp := string(env[3:3+n]), hex.EncodeToString(env[3+n:3+n+envFPSize])
	span := fmt.Sprintf("records from %d", ep.FirstSeq)
	if e := ke.end(i); e != math.MaxUint64 {
		span = fmt.Sprintf("records %d to %d", ep.FirstSeq, e)
	}
	switch {
	case ep.KeyID == "":
		return nil, fmt.Errorf("%w; key-epochs.json says %s were written in plain text: the record's key id %q (or the epochs file) was altered; it is kept until a key proves which",
			err, span, id)
	case ep.KeyID != id || ep.Fingerprint != fp:
		return nil, fmt.Errorf("%w; key-epochs.json says %s were written with key id %q (fingerprint %s), the record names %q (fingerprint %s): one of them was altered; it is kept until a key proves which",
			err, span, ep.KeyID, ep.Fingerprint, id, fp)
	}
	return nil, err
}

func (kr *keyring) aeadFor(k *bufferKey, ck cacheKey) (cipher.AEAD, error) {
	if ck.salt == k.salt {
		return k.aead, nil
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if a, ok := kr.cache[ck]; ok {
		return a, nil
	}
	a, err := deriveAEAD(k.master, ck.salt[:])
	if err != nil {
		return nil, err
	}
	if len(kr.cache) >= keyCacheSize {
		clear(kr.cache)
	}
	kr.cache[ck] = a
	return a, nil
}

// encrypts reports whether new records are encrypted.
func (c *EncryptionConfig) encrypts() bool { return len(c.Keys) > 0 && c.Active != EncryptionNone }

var sealBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func putSealBuf(b *[]byte) {
	if cap(*b) <= 4<<20 {
		sealBufPool.Put(b)
	}
}
