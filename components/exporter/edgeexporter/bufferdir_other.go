// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import "io/fs"

// ownerUID is the uid that owns a file: unknown (-1) where files have no
// uid (Windows, where os.Geteuid is -1 too). The buffer does not start on
// these platforms anyway (internal/wal fs_other.go).
func ownerUID(fs.FileInfo) int { return -1 }
