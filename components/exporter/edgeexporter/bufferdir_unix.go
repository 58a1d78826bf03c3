// SPDX-License-Identifier: Apache-2.0

//go:build unix

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"io/fs"
	"syscall"
)

// ownerUID is the uid that owns a file (-1 when unknown).
func ownerUID(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
