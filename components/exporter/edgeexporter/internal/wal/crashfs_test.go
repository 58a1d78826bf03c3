// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// simFS is an in-memory FS that models what the kernel keeps across a crash.
//
// Every mutating operation (write, pwrite, truncate, fsync, create, rename,
// unlink, directory fsync) gets a number. With crashAt = k the process
// "dies" at operation k: that operation and every later one (reads
// included) fail with errSimCrashed and change nothing, so the image is
// frozen at the crash. From the frozen image:
//
//   - afterKill9 keeps everything issued before the crash (the page cache
//     survives the death of the process); what was not yet durable stays
//     non-durable, so a later power loss can still lose it.
//   - afterPowerLoss keeps, for each file, its content as of its last
//     successful Sync plus a random prefix of its later writes/truncates (the
//     last kept write possibly torn at a random byte), and for the directory
//     its namespace as of the last SyncDir plus a random prefix of the later
//     namespace operations (create, rename, unlink), in order. With dropAll
//     nothing that was not synced survives.
//
// Linux semantics: File.Sync makes the file's data durable, not its
// directory entry; SyncDir makes the entries of the directory durable (the
// simulation holds one directory, so SyncDir commits every pending
// namespace operation). A Sync that fails (failSync) leaves the writes it
// should have covered non-durable for good: a later successful Sync does not
// make them durable (the kernel marked the pages clean), as on Linux.
type simFS struct {
	mu        sync.Mutex
	dirs      map[string]bool
	names     map[string]*simInode // current namespace (full paths)
	durNames  map[string]*simInode // namespace as of the last SyncDir
	nsPending []simNSOp            // namespace ops since the last SyncDir
	nextIno   int
	clock     time.Time

	ops     int // mutating operations performed or attempted
	crashAt int // the operation number at which the process dies (0 = never)
	crashed bool
	// failSyncs holds operation numbers of fsyncs that fail with EIO
	// without killing the process.
	failSyncs map[int]bool
	// syncLatency is slept before a Sync takes effect (like a real fsync,
	// during which other goroutines write). Set before use.
	syncLatency time.Duration
	opCounts    map[string]int
	trace       []string // last operations, for failure messages
	traceOn     bool

	// maxReadAt is the largest buffer passed to ReadAt since resetReadStats.
	maxReadAt int
	// segWrites maps record sequences to the write that carried their frame,
	// found by parsing the documented frame header of writes to *.seg files.
	segWrites map[uint64]simWriteRef
	segWriteN int // writes to segment files
}

type simWriteRef struct {
	ino *simInode
	op  int
}

type simInode struct {
	id       int
	data     []byte // what reads return (page cache)
	durable  []byte // content as of the last successful Sync
	pending  []simDataOp
	syncedOp int          // the number of the last successful Sync
	lost     map[int]bool // writes covered by a failed Sync: never durable
	mtime    time.Time
	nlink    int // open handles are not counted
}

type simDataOp struct {
	op    int
	trunc bool
	off   int64
	data  []byte
	size  int64
}

type simNSOp struct {
	kind     string // "create", "rename", "unlink"
	name, to string
	ino      *simInode
}

var errSimCrashed = errors.New("simfs: process crashed")

var simCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcC is CRC32C, computed here so that the tests do not depend on the
// package's internals.
func crcC(b []byte) uint32 { return crc32.Checksum(b, simCastagnoli) }

var _ FS = (*simFS)(nil)

func newSimFS() *simFS {
	return &simFS{
		dirs:      map[string]bool{},
		names:     map[string]*simInode{},
		durNames:  map[string]*simInode{},
		clock:     time.Unix(1_700_000_000, 0),
		opCounts:  map[string]int{},
		segWrites: map[uint64]simWriteRef{},
		failSyncs: map[int]bool{},
	}
}

// step accounts for one mutating operation. It fails if the process is dead
// or dies now. Must hold mu.
func (s *simFS) step(kind, what string) error {
	if s.crashed {
		return errSimCrashed
	}
	s.ops++
	if s.traceOn {
		s.trace = append(s.trace, fmt.Sprintf("#%d %s %s", s.ops, kind, what))
		if len(s.trace) > 64 {
			s.trace = s.trace[1:]
		}
	}
	if s.crashAt > 0 && s.ops >= s.crashAt {
		s.crashed = true
		return errSimCrashed
	}
	s.opCounts[kind]++
	s.clock = s.clock.Add(time.Millisecond)
	return nil
}

func (s *simFS) alive() error {
	if s.crashed {
		return errSimCrashed
	}
	return nil
}

// crashNow kills the process at once (used when a workload ends before its
// crash point).
func (s *simFS) crashNow() {
	s.mu.Lock()
	s.crashed = true
	s.mu.Unlock()
}

func (s *simFS) isCrashed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crashed
}

func (s *simFS) opCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops
}

func (s *simFS) segWriteCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.segWriteN
}

func (s *simFS) setCrashAt(k int) {
	s.mu.Lock()
	s.crashAt = k
	s.mu.Unlock()
}

func (s *simFS) resetReadStats() {
	s.mu.Lock()
	s.maxReadAt = 0
	s.mu.Unlock()
}

func (s *simFS) readStats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxReadAt
}

func (s *simFS) lastOps() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.trace, "\n")
}

func simPathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// OpenFile implements FS.
func (s *simFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	name = filepath.Clean(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return nil, simPathErr("open", name, err)
	}
	if !s.dirs[filepath.Dir(name)] {
		return nil, simPathErr("open", name, os.ErrNotExist)
	}
	ino, ok := s.names[name]
	if !ok {
		if flag&os.O_CREATE == 0 {
			return nil, simPathErr("open", name, os.ErrNotExist)
		}
		if err := s.step("create", name); err != nil {
			return nil, simPathErr("open", name, err)
		}
		s.nextIno++
		ino = &simInode{id: s.nextIno, mtime: s.clock, lost: map[int]bool{}}
		s.link(name, ino)
		s.nsPending = append(s.nsPending, simNSOp{kind: "create", name: name, ino: ino})
	} else if flag&os.O_EXCL != 0 && flag&os.O_CREATE != 0 {
		return nil, simPathErr("open", name, os.ErrExist)
	} else if flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 && len(ino.data) > 0 {
		if err := s.step("truncate", name+" 0"); err != nil {
			return nil, simPathErr("open", name, err)
		}
		s.truncLocked(ino, 0)
	}
	return &simFile{fs: s, ino: ino, name: name, flag: flag}, nil
}

func (s *simFS) link(name string, ino *simInode) {
	if old, ok := s.names[name]; ok {
		old.nlink--
	}
	s.names[name] = ino
	ino.nlink++
}

func (s *simFS) truncLocked(ino *simInode, size int64) {
	ino.pending = append(ino.pending, simDataOp{op: s.ops, trunc: true, size: size})
	ino.data = simResize(ino.data, size)
	ino.mtime = s.clock
}

func simResize(b []byte, size int64) []byte {
	if int64(len(b)) >= size {
		return b[:size:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

func simApply(b []byte, o simDataOp) []byte {
	if o.trunc {
		return simResize(b, o.size)
	}
	end := o.off + int64(len(o.data))
	if int64(len(b)) < end {
		b = simResize(b, end)
	}
	copy(b[o.off:], o.data)
	return b
}

// Rename implements FS.
func (s *simFS) Rename(oldpath, newpath string) error {
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	ino, ok := s.names[oldpath]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrNotExist}
	}
	if err := s.step("rename", oldpath+" -> "+newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	delete(s.names, oldpath)
	ino.nlink--
	s.link(newpath, ino)
	s.nsPending = append(s.nsPending, simNSOp{kind: "rename", name: oldpath, to: newpath, ino: ino})
	return nil
}

// Remove implements FS.
func (s *simFS) Remove(name string) error {
	name = filepath.Clean(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return simPathErr("remove", name, err)
	}
	ino, ok := s.names[name]
	if !ok {
		return simPathErr("remove", name, os.ErrNotExist)
	}
	if err := s.step("unlink", name); err != nil {
		return simPathErr("remove", name, err)
	}
	delete(s.names, name)
	ino.nlink--
	s.nsPending = append(s.nsPending, simNSOp{kind: "unlink", name: name, ino: ino})
	return nil
}

// ReadDir implements FS.
func (s *simFS) ReadDir(name string) ([]os.DirEntry, error) {
	name = filepath.Clean(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return nil, simPathErr("readdir", name, err)
	}
	if !s.dirs[name] {
		return nil, simPathErr("readdir", name, os.ErrNotExist)
	}
	var out []os.DirEntry
	for p, ino := range s.names {
		if filepath.Dir(p) == name {
			out = append(out, simDirEntry{simFileInfo{name: filepath.Base(p), size: int64(len(ino.data)), mtime: ino.mtime}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// MkdirAll implements FS. Directories are durable at once.
func (s *simFS) MkdirAll(path string, perm os.FileMode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return simPathErr("mkdir", path, err)
	}
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		s.dirs[p] = true
		if p == filepath.Dir(p) {
			break
		}
	}
	return nil
}

// SyncDir implements FS: every pending namespace operation becomes durable.
func (s *simFS) SyncDir(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return simPathErr("fsyncdir", name, err)
	}
	if err := s.step("syncdir", name); err != nil {
		return simPathErr("fsyncdir", name, err)
	}
	s.durNames = make(map[string]*simInode, len(s.names))
	for k, v := range s.names {
		s.durNames[k] = v
	}
	s.nsPending = nil
	return nil
}

// corrupt flips bytes of a file in place, in the page cache and on the
// medium alike (bit rot), without counting an operation. It reports false if
// the range is not durable yet or out of bounds.
func (s *simFS) corrupt(name string, off int64, xor []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ino, ok := s.names[filepath.Clean(name)]
	if !ok || len(ino.pending) > 0 || off+int64(len(xor)) > int64(len(ino.durable)) || len(ino.data) != len(ino.durable) {
		return false
	}
	for i, x := range xor {
		ino.data[off+int64(i)] ^= x
		ino.durable[off+int64(i)] ^= x
	}
	return true
}

// fileNames returns the current names of the directory, with contents.
func (s *simFS) snapshot() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for p, ino := range s.names {
		out[p] = append([]byte(nil), ino.data...)
	}
	return out
}

// putFile writes a durable file without counting operations (to build test
// directories).
func (s *simFS) putFile(name string, data []byte) {
	name = filepath.Clean(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirs[filepath.Dir(name)] = true
	s.nextIno++
	ino := &simInode{id: s.nextIno, data: append([]byte(nil), data...), durable: append([]byte(nil), data...), mtime: s.clock, lost: map[int]bool{}}
	s.link(name, ino)
	s.durNames[name] = ino
}

// durableSeq reports whether the frame of record seq is durable: written by
// a write that a successful Sync covered, in a file whose directory entry is
// durable. Records not written through this FS instance (carried over from
// an earlier image, where everything kept is durable after power loss) are
// reported durable when known=false.
func (s *simFS) durableSeq(seq uint64) (durable, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, ok := s.segWrites[seq]
	if !ok {
		return true, false
	}
	if ref.op > ref.ino.syncedOp || ref.ino.lost[ref.op] {
		return false, true
	}
	for _, ino := range s.durNames {
		if ino == ref.ino {
			return true, true
		}
	}
	return false, true
}

// noteFrames records the sequences of the record frames in a write to a
// segment file (documented layout: 25-byte header, seq at [8:16]).
func (s *simFS) noteFrames(ino *simInode, op int, off int64, p []byte) {
	if off == 0 && len(p) >= 8 && string(p[:5]) == "OEWAL" {
		p = p[8:]
	}
	for len(p) >= 25 {
		if binary.LittleEndian.Uint32(p[0:4]) != crc32.Checksum(p[4:25], simCastagnoli) {
			return
		}
		n := 25 + int(binary.LittleEndian.Uint32(p[4:8]))
		s.segWrites[binary.LittleEndian.Uint64(p[8:16])] = simWriteRef{ino: ino, op: op}
		if n > len(p) {
			return
		}
		p = p[n:]
	}
}

// afterKill9 returns the disk as the next process sees it after the
// process died: everything issued is kept, durability unchanged.
func (s *simFS) afterKill9() *simFS {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := newSimFS()
	n.clock = s.clock.Add(time.Second)
	n.nextIno = s.nextIno
	n.ops = s.ops
	for d := range s.dirs {
		n.dirs[d] = true
	}
	m := map[*simInode]*simInode{}
	clone := func(o *simInode) *simInode {
		if c, ok := m[o]; ok {
			return c
		}
		c := &simInode{
			id: o.id, data: append([]byte(nil), o.data...), durable: append([]byte(nil), o.durable...),
			pending: append([]simDataOp(nil), o.pending...), syncedOp: o.syncedOp, lost: map[int]bool{}, mtime: o.mtime,
		}
		for k := range o.lost {
			c.lost[k] = true
		}
		m[o] = c
		return c
	}
	for p, ino := range s.names {
		n.link(p, clone(ino))
	}
	for p, ino := range s.durNames {
		n.durNames[p] = clone(ino)
	}
	for _, o := range s.nsPending {
		o.ino = clone(o.ino)
		n.nsPending = append(n.nsPending, o)
	}
	for seq, ref := range s.segWrites {
		if c, ok := m[ref.ino]; ok {
			n.segWrites[seq] = simWriteRef{ino: c, op: ref.op}
		}
	}
	return n
}

// afterPowerLoss returns the disk after a power loss at the crash: see the
// type's documentation. dropAll keeps only what was synced.
func (s *simFS) afterPowerLoss(rng *rand.Rand, dropAll bool) *simFS {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := newSimFS()
	n.clock = s.clock.Add(time.Second)
	n.nextIno = s.nextIno
	n.ops = s.ops
	for d := range s.dirs {
		n.dirs[d] = true
	}
	ns := make(map[string]*simInode, len(s.durNames))
	for k, v := range s.durNames {
		ns[k] = v
	}
	keep := 0
	if !dropAll && len(s.nsPending) > 0 {
		keep = rng.IntN(len(s.nsPending) + 1)
	}
	for _, o := range s.nsPending[:keep] {
		switch o.kind {
		case "create":
			ns[o.name] = o.ino
		case "rename":
			delete(ns, o.name)
			ns[o.to] = o.ino
		case "unlink":
			delete(ns, o.name)
		}
	}
	built := map[*simInode]*simInode{}
	for p, o := range ns {
		c, ok := built[o]
		if !ok {
			data := append([]byte(nil), o.durable...)
			k := 0
			if !dropAll && len(o.pending) > 0 {
				k = rng.IntN(len(o.pending) + 1)
			}
			for i, op := range o.pending[:k] {
				if i == k-1 && !op.trunc && len(op.data) > 1 && rng.IntN(2) == 0 {
					op.data = op.data[:rng.IntN(len(op.data))] // torn write
				}
				data = simApply(data, op)
			}
			c = &simInode{id: o.id, data: data, durable: append([]byte(nil), data...), lost: map[int]bool{}, mtime: o.mtime}
			built[o] = c
		}
		n.link(p, c)
		n.durNames[p] = c
	}
	return n
}

type simFile struct {
	fs     *simFS
	ino    *simInode
	name   string
	flag   int
	pos    int64
	closed bool
}

var _ File = (*simFile)(nil)

func (f *simFile) writable() bool { return f.flag&(os.O_WRONLY|os.O_RDWR) != 0 }

func (f *simFile) Write(p []byte) (int, error) {
	s := f.fs
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.closed {
		return 0, simPathErr("write", f.name, os.ErrClosed)
	}
	if !f.writable() {
		return 0, simPathErr("write", f.name, syscall.EBADF)
	}
	off := f.pos
	if f.flag&os.O_APPEND != 0 {
		off = int64(len(f.ino.data))
	}
	if err := s.step("write", fmt.Sprintf("%s @%d +%d", filepath.Base(f.name), off, len(p))); err != nil {
		return 0, simPathErr("write", f.name, err)
	}
	f.writeLocked(off, p)
	f.pos = off + int64(len(p))
	return len(p), nil
}

func (f *simFile) writeLocked(off int64, p []byte) {
	s := f.fs
	o := simDataOp{op: s.ops, off: off, data: append([]byte(nil), p...)}
	f.ino.pending = append(f.ino.pending, o)
	f.ino.data = simApply(f.ino.data, o)
	f.ino.mtime = s.clock
	if strings.HasSuffix(f.name, ".seg") {
		s.segWriteN++
		s.noteFrames(f.ino, s.ops, off, p)
	}
}

func (f *simFile) WriteAt(p []byte, off int64) (int, error) {
	s := f.fs
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.closed {
		return 0, simPathErr("pwrite", f.name, os.ErrClosed)
	}
	if !f.writable() {
		return 0, simPathErr("pwrite", f.name, syscall.EBADF)
	}
	if f.flag&os.O_APPEND != 0 {
		return 0, simPathErr("pwrite", f.name, errors.New("WriteAt on O_APPEND file"))
	}
	if off < 0 {
		return 0, simPathErr("pwrite", f.name, syscall.EINVAL)
	}
	if err := s.step("pwrite", fmt.Sprintf("%s @%d +%d", filepath.Base(f.name), off, len(p))); err != nil {
		return 0, simPathErr("pwrite", f.name, err)
	}
	f.writeLocked(off, p)
	return len(p), nil
}

func (f *simFile) ReadAt(p []byte, off int64) (int, error) {
	s := f.fs
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return 0, simPathErr("read", f.name, err)
	}
	if f.closed {
		return 0, simPathErr("read", f.name, os.ErrClosed)
	}
	if len(p) > s.maxReadAt {
		s.maxReadAt = len(p)
	}
	if off < 0 {
		return 0, simPathErr("read", f.name, syscall.EINVAL)
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *simFile) Close() error {
	s := f.fs
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.closed {
		return simPathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return s.alive()
}

func (f *simFile) Sync() error {
	s := f.fs
	if s.syncLatency > 0 {
		time.Sleep(s.syncLatency)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.closed {
		return simPathErr("sync", f.name, os.ErrClosed)
	}
	if err := s.step("fsync", filepath.Base(f.name)); err != nil {
		return simPathErr("sync", f.name, err)
	}
	ino := f.ino
	if s.failSyncs[s.ops] {
		// The writeback failed: the pages are marked clean, the data is
		// readable until evicted but will never reach the medium.
		for _, o := range ino.pending {
			ino.lost[o.op] = true
		}
		ino.pending = nil
		return simPathErr("sync", f.name, syscall.EIO)
	}
	for _, o := range ino.pending {
		if !ino.lost[o.op] {
			ino.durable = simApply(ino.durable, o)
		}
	}
	ino.pending = nil
	ino.syncedOp = s.ops
	return nil
}

func (f *simFile) Truncate(size int64) error {
	s := f.fs
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.closed {
		return simPathErr("truncate", f.name, os.ErrClosed)
	}
	if !f.writable() || size < 0 {
		return simPathErr("truncate", f.name, syscall.EINVAL)
	}
	if err := s.step("truncate", fmt.Sprintf("%s %d", filepath.Base(f.name), size)); err != nil {
		return simPathErr("truncate", f.name, err)
	}
	s.truncLocked(f.ino, size)
	return nil
}

func (f *simFile) Stat() (os.FileInfo, error) {
	s := f.fs
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return nil, simPathErr("stat", f.name, err)
	}
	return simFileInfo{name: filepath.Base(f.name), size: int64(len(f.ino.data)), mtime: f.ino.mtime, nlink: f.ino.nlink}, nil
}

type simFileInfo struct {
	name  string
	size  int64
	mtime time.Time
	nlink int // names of the inode (0: not known, directory listings)
}

func (i simFileInfo) Name() string       { return i.name }
func (i simFileInfo) Size() int64        { return i.size }
func (i simFileInfo) Mode() os.FileMode  { return 0o600 }
func (i simFileInfo) ModTime() time.Time { return i.mtime }
func (i simFileInfo) IsDir() bool        { return false }
func (i simFileInfo) Sys() any {
	if i.nlink > 0 {
		return simLinks(i.nlink)
	}
	return nil
}

// simLinks is the link count of a simulated file, seen by the log's
// linkCount (hard links: simFS.hardLink).
type simLinks int

func (n simLinks) LinkCount() uint64 { return uint64(n) }

type simDirEntry struct{ fi simFileInfo }

func (e simDirEntry) Name() string               { return e.fi.name }
func (e simDirEntry) IsDir() bool                { return false }
func (e simDirEntry) Type() os.FileMode          { return 0 }
func (e simDirEntry) Info() (os.FileInfo, error) { return e.fi, nil }
