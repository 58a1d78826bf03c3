// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/exporter"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadata"
)

// Defaults, documented in README.md.
const (
	defaultTimeout            = 10 * time.Second
	defaultMaxDiskBytes       = 1 << 30
	defaultSegmentBytes       = 8 << 20
	defaultFsyncInterval      = 100 * time.Millisecond
	defaultMemoryBytes        = 16 << 20
	defaultDeadLetterMaxBytes = 64 << 20
	defaultMaxInFlight        = 2
	defaultBatchMaxItems      = 8192
	defaultBatchMaxBytes      = 4 << 20
	defaultFlushInterval      = 100 * time.Millisecond
	defaultReplayMinShare     = 0.2
	defaultDirectory          = "/var/lib/otelcol-edge"
	defaultMaxAttempts        = 10
	defaultSummaryInterval    = 15 * time.Minute
)

// NewFactory returns the factory of the edge exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
		exporter.WithMetrics(createMetrics, metadata.MetricsStability),
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	// gzip, like the upstream OTLP exporters: every OTLP backend accepts it
	// and metered uplinks want it. zstd costs less CPU where the backend
	// supports it; "none" costs nothing on a LAN.
	grpcCfg := configgrpc.NewDefaultClientConfig()
	grpcCfg.Compression = configcompression.TypeGzip
	httpCfg := confighttp.NewDefaultClientConfig()
	httpCfg.Compression = configcompression.TypeGzip
	return &Config{
		Protocol:  ProtocolGRPC,
		Balancing: BalancingFailover,
		GRPC:      grpcCfg,
		HTTP:      httpCfg,
		Timeout:   defaultTimeout,
		Buffer: BufferConfig{
			Directory:          defaultDirectory,
			MaxDiskBytes:       defaultMaxDiskBytes,
			SegmentBytes:       defaultSegmentBytes,
			WhenFull:           WhenFullDropOldest,
			Fsync:              FsyncInterval,
			FsyncInterval:      defaultFsyncInterval,
			MemoryBytes:        defaultMemoryBytes,
			Compression:        true,
			DeadLetterMaxBytes: defaultDeadLetterMaxBytes,
		},
		Sending: SendingConfig{
			MaxInFlight:   defaultMaxInFlight,
			BatchMaxItems: defaultBatchMaxItems,
			BatchMaxBytes: defaultBatchMaxBytes,
			FlushInterval: defaultFlushInterval,
		},
		Replay: ReplayConfig{Order: ReplayLiveFirst, MinShare: defaultReplayMinShare},
		Retry: RetryConfig{
			InitialInterval:      time.Second,
			MaxInterval:          30 * time.Second,
			Multiplier:           1.5,
			RandomizationFactor:  0.5,
			MaxAttemptsPerRecord: defaultMaxAttempts,
		},
		Status:      StatusConfig{SummaryInterval: defaultSummaryInterval},
		ZoneRouting: ZoneRoutingConfig{MinHealthy: 1},
		SlowStart:   SlowStartConfig{MinWeightPercent: 10},
	}
}

// One exporter instance (one log, one set of senders) is shared by the traces,
// metrics and logs pipelines that name the same component ID.
var (
	sharedMu sync.Mutex
	shared   = map[component.ID]*edgeExporter{}
)

func getOrCreate(set exporter.Settings, cfg *Config) (*edgeExporter, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if e, ok := shared[set.ID]; ok {
		return e, nil
	}
	e, err := newEdgeExporter(set, cfg)
	if err != nil {
		return nil, err
	}
	shared[set.ID] = e
	e.onFinalShutdown = func() {
		sharedMu.Lock()
		defer sharedMu.Unlock()
		if shared[set.ID] == e {
			delete(shared, set.ID)
		}
	}
	return e, nil
}

func createTraces(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	e, err := getOrCreate(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &tracesExporter{signalExporter{e}}, nil
}

func createMetrics(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	e, err := getOrCreate(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &metricsExporter{signalExporter{e}}, nil
}

func createLogs(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	e, err := getOrCreate(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &logsExporter{signalExporter{e}}, nil
}
