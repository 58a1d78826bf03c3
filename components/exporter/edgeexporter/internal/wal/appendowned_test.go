// SPDX-License-Identifier: Apache-2.0

package wal

import (
	"bytes"
	"context"
	"testing"
)

// TestAppendOwnedSameAsAppend: a record appended with AppendOwned is stored
// and read back exactly as one appended with Append, from the memory tier
// (which keeps the caller's buffer instead of a copy) and from disk after a
// reopen.
func TestAppendOwnedSameAsAppend(t *testing.T) {
	for _, opts := range []Options{
		{SegmentBytes: 1 << 20},
		{SegmentBytes: 1 << 20, MemoryBytes: -1},
		{SegmentBytes: 1 << 20, DisableCompression: true},
	} {
		dir := t.TempDir()
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		want := [][]byte{
			bytes.Repeat([]byte("owned payload "), 100),
			bytes.Repeat([]byte("copied payload "), 100),
			[]byte("small"),
		}
		owned := append([]byte(nil), want[0]...)
		if _, err := l.AppendOwned(ctx, 1, 3, owned); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, 1, 4, want[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendOwned(ctx, 2, 1, append([]byte(nil), want[2]...)); err != nil {
			t.Fatal(err)
		}
		check := func(l *Log) {
			t.Helper()
			r := l.NewReader()
			for i, w := range want {
				rec, err := r.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(rec.Payload, w) {
					t.Fatalf("%+v: record %d payload differs", opts, i)
				}
			}
		}
		check(l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		check(l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
