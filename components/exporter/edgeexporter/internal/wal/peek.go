// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import "math"

// PeekCursor reads the cursor file of the log in dir without opening the log:
// no lock, no recovery, nothing written. It returns the acknowledged sequence
// (every record at or below it is acknowledged or counted) and the last
// sequence appended (math.MaxUint64 when the cursor does not record it). ok
// is false when there is no valid cursor: then nothing is known (acked 0,
// last math.MaxUint64). The cursor may lag behind the log after a power loss,
// never run ahead of it, so the range (acked, last] it gives holds every
// record that is not acknowledged, except records appended after the cursor
// was last written.
func PeekCursor(dir string) (acked, last uint64, ok bool) {
	cs, err := readCursor(OSFS{}, dir)
	if err != nil {
		return 0, math.MaxUint64, false
	}
	last = math.MaxUint64
	if cs.HasWatermark {
		last = cs.Last
	}
	return cs.Acked, last, true
}
