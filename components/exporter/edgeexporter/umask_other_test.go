// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package edgeexporter

// umask: no umask on this platform (the tests compile here; the buffer does
// not start on it, see internal/wal/fs_other.go).
func umask(int) int { return 0 }
