// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func benchState(n int) *state {
	st := testState()
	ts := make([]target, n)
	for i := range ts {
		ts[i] = target{Address: "10.0.0." + strconv.Itoa(i%250) + ":" + strconv.Itoa(4000+i)}
	}
	st.applySource("s", ts, t0)
	return st
}

// BenchmarkApplyResult is the cost of one reported result in the event loop.
func BenchmarkApplyResult(b *testing.B) {
	st := benchState(100)
	err := errors.New("refused")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			st.applyResult("s/10.0.0.7:4007", err, t0)
		} else {
			st.applyResult("s/10.0.0.7:4007", nil, t0)
		}
	}
}

// BenchmarkSnapshot is the cost of publishing a snapshot of 1000 endpoints.
func BenchmarkSnapshot(b *testing.B) {
	st := benchState(1000)
	b.ReportAllocs()
	for b.Loop() {
		_ = st.snapshot(t0)
	}
}

// BenchmarkReportResult is the cost of ReportResult for the calling component.
func BenchmarkReportResult(b *testing.B) {
	cfg := fastConfig(staticSourceConfig("s", "127.0.0.1:4317"))
	cfg.OutlierDetection.ConsecutiveFailures = 1 << 30
	ext, err := NewFactory().Create(b.Context(), benchSettings(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := ext.Start(b.Context(), benchHost()); err != nil {
		b.Fatal(err)
	}
	d := ext.(*discovery)
	b.ReportAllocs()
	for b.Loop() {
		d.ReportResult("s/127.0.0.1:4317", nil)
	}
	b.StopTimer()
	time.Sleep(10 * time.Millisecond)
	if err := ext.Shutdown(b.Context()); err != nil {
		b.Fatal(err)
	}
}
