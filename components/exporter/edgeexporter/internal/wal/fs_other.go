// SPDX-License-Identifier: Apache-2.0

//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"fmt"
	"io"
	"runtime"
)

// openFlags: this platform (Windows among others) has no O_NOFOLLOW. Lock
// refuses to open a log, so no file of a buffer is ever opened without it.
const openFlags = 0

// isLinkLoop: no O_NOFOLLOW, no such error.
func isLinkLoop(error) bool { return false }

// ErrUnsupportedPlatform is the error of Open on a platform where the log's
// guarantees are not implemented: it fails at start, naming what is missing,
// rather than run a buffer that two collectors could share or that could be
// redirected through a planted link.
var ErrUnsupportedPlatform = fmt.Errorf("the edge exporter's buffer is not supported on %s/%s: "+
	"it needs an exclusive non-blocking file lock (flock), opens that never follow a symbolic link (O_NOFOLLOW) "+
	"and directory fsync, implemented for Linux, macOS and the BSDs only", runtime.GOOS, runtime.GOARCH)

// Lock implements Locker by refusing: see ErrUnsupportedPlatform.
func (OSFS) Lock(string) (io.Closer, error) { return nil, ErrUnsupportedPlatform }
