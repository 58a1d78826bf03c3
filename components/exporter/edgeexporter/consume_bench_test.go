// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
)

// benchLogs is a request of n log records, one in errEvery at severity
// error (0: none), the others debug.
func benchLogs(n, errEvery int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "edge")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < n; i++ {
		lr := lrs.AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberDebug)
		if errEvery > 0 && i%errEvery == 0 {
			lr.SetSeverityNumber(plog.SeverityNumberError)
		}
		lr.Body().SetStr(fmt.Sprintf("request %d served in 12ms", i))
		lr.Attributes().PutStr("http.route", "/cart")
	}
	return ld
}

// startBenchLogs starts an offline logs exporter (its endpoint refuses
// connections): ConsumeLogs measures the append path alone.
func startBenchLogs(b *testing.B, cfg *Config) exporter.Logs {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	addr := l.Addr().String()
	require.NoError(b, l.Close())
	cfg.Endpoints = []string{addr}
	cfg.GRPC.TLS = configtls.ClientConfig{Insecure: true}
	cfg.Buffer.Directory = b.TempDir()
	cfg.Buffer.Fsync = FsyncNever
	cfg.Buffer.MaxDiskBytes = 256 << 20
	cfg.Retry = RetryConfig{InitialInterval: time.Hour, MaxInterval: time.Hour, Multiplier: 1}
	require.NoError(b, cfg.Validate())
	tt := componenttest.NewTelemetry()
	le, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(b, err)
	require.NoError(b, le.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() {
		_ = le.Shutdown(context.Background())
		_ = tt.Shutdown(context.Background())
	})
	return le
}

// BenchmarkConsumeLogs is the append path of a request of 100 log records
// (marshal, log append) without buffer.priorities: the baseline that
// priorities must not change when unset.
func BenchmarkConsumeLogs(b *testing.B) {
	le := startBenchLogs(b, createDefaultConfig().(*Config))
	ld := benchLogs(100, 50)
	b.ReportAllocs()
	for b.Loop() {
		if err := le.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/item")
}
