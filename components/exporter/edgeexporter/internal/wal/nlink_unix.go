// SPDX-License-Identifier: Apache-2.0

//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import "syscall"

// sysLinkCount reads the link count from the Sys() of an os.FileInfo.
func sysLinkCount(sys any) (uint64, bool) {
	if st, ok := sys.(*syscall.Stat_t); ok {
		return uint64(st.Nlink), true //nolint:unconvert // uint16 on darwin, uint32 on some BSDs
	}
	return 0, false
}
