// SPDX-License-Identifier: Apache-2.0

//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package wal

import (
	"errors"
	"testing"
)

// TestOpenRefusedOnUnsupportedPlatform: where locking and no-follow opens
// are not implemented (Windows), Open fails with ErrUnsupportedPlatform.
func TestOpenRefusedOnUnsupportedPlatform(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err == nil {
		_ = l.Close()
		t.Fatal("Open succeeded")
	}
	if !errors.Is(err, ErrUnsupportedPlatform) {
		t.Fatalf("Open: %v, want ErrUnsupportedPlatform", err)
	}
}
