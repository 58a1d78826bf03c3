// SPDX-License-Identifier: Apache-2.0

//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

// sysLinkCount: the log does not open on this platform (see
// ErrUnsupportedPlatform), so no link count is needed.
func sysLinkCount(any) (uint64, bool) { return 0, false }
