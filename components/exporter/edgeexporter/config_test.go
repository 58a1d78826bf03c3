// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	defaults := createDefaultConfig().(*Config)
	defaults.Endpoints = []string{"backend.example.com:4317"}

	site := createDefaultConfig().(*Config)
	site.Protocol = ProtocolHTTP
	site.Endpoints = []string{"https://primary.example.com:4318", "https://secondary.example.com:4318"}
	site.Balancing = BalancingRoundRobin
	site.HTTP.Compression = configcompression.TypeZstd
	site.HTTP.Headers = configopaque.MapList{{Name: "x-site", Value: "shop-042"}}
	site.Timeout = 5 * time.Second
	site.Buffer = BufferConfig{
		Directory:          "/var/lib/otelcol-edge",
		MaxDiskBytes:       512 << 20,
		SegmentBytes:       4 << 20,
		WhenFull:           WhenFullDropNewest,
		Fsync:              FsyncAlways,
		FsyncInterval:      50 * time.Millisecond,
		MemoryBytes:        8 << 20,
		Compression:        false,
		MaxAge:             72 * time.Hour,
		DeadLetterMaxBytes: 1 << 20,
	}
	site.Sending = SendingConfig{MaxInFlight: 4, BatchMaxItems: 2000, BatchMaxBytes: 1 << 20, FlushInterval: 200 * time.Millisecond, ReplayBytesPerSecond: 256 << 10}
	site.Replay = ReplayConfig{Order: ReplayLiveFirst, MinShare: 0.3, MaxBytesPerSecond: 1 << 20}
	site.Retry = RetryConfig{InitialInterval: 500 * time.Millisecond, MaxInterval: time.Minute, Multiplier: 2, RandomizationFactor: 0.2, MaxAttemptsPerRecord: 5}
	site.Status = StatusConfig{SummaryInterval: 5 * time.Minute, Endpoint: "127.0.0.1:13134"}

	// Only the budget set: the dead-letter bound shrinks with it (1/16).
	small := createDefaultConfig().(*Config)
	small.Endpoints = []string{"backend.example.com:4317"}
	small.Buffer.MaxDiskBytes = 128 << 20
	small.Buffer.DeadLetterMaxBytes = 8 << 20

	// 0: no budget for the log; the dead letter keeps its own bound.
	unlimited := createDefaultConfig().(*Config)
	unlimited.Endpoints = []string{"backend.example.com:4317"}
	unlimited.Buffer.MaxDiskBytes = 0

	for _, tt := range []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), defaults},
		{component.NewIDWithName(metadata.Type, "site"), site},
		{component.NewIDWithName(metadata.Type, "small"), small},
		{component.NewIDWithName(metadata.Type, "unlimited"), unlimited},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestInvalidConfigs(t *testing.T) {
	for file, wants := range map[string][]string{
		"invalid_no_endpoints.yaml":  {`"endpoints" must list at least one endpoint`},
		"invalid_protocol.yaml":      {`"protocol" must be "grpc" or "http", got "udp"`},
		"invalid_http_endpoint.yaml": {`"endpoints[0]" "127.0.0.1:4318" must start with http:// or https://`},
		"invalid_when_full.yaml":     {`"buffer.when_full" must be one of "drop_oldest", "drop_newest", "block", got "drop_all"`},
		"invalid_fsync.yaml":         {`"buffer.fsync" must be one of "always", "interval", "never", got "sometimes"`},
		"invalid_budget.yaml":        {`"buffer.max_disk_bytes" (1048576) must be at least twice "buffer.segment_bytes" (8388608) plus "buffer.dead_letter_max_bytes" (65536)`},
		"invalid_dead_letter.yaml":   {`"buffer.dead_letter_max_bytes" (134217728) must be at most a quarter of "buffer.max_disk_bytes" (268435456)`, `"retry.max_attempts_per_record" must be >= 0`},
		"invalid_segment.yaml":       {`"buffer.segment_bytes" must be <= 268435456 (256 MiB)`},
		"invalid_sending.yaml":       {`"sending.max_in_flight" must be >= 1`, `"sending.replay_bytes_per_second" must be >= 0`},
		"invalid_status.yaml":        {`"status.summary_interval" must be >= 0, got -1s`, `"status.endpoint" "0.0.0.0:13134"`},
		"invalid_replay.yaml":        {`"replay.order" must be one of "in_order", "live_first", got "newest"`, `"replay.min_share" must be between 0 and 1, got 1.5`, `"replay.max_bytes_per_second" must be >= 0, got -1`},
		"invalid_grpc_endpoint.yaml": {`"grpc.endpoint" must be empty: list backends under "endpoints"`},
		"invalid_transport.yaml": {
			`"endpoints[0]" "http://backend.example.com:4318" is plain http://, but "http.tls" sets ca_file, which would be ignored`,
			`"endpoints[1]" "https://xxxxx@backend.example.com:4318" must not contain user info`,
		},
	} {
		t.Run(file, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
			require.NoError(t, err)
			sub, err := cm.Sub(component.NewID(metadata.Type).String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			require.Error(t, err)
			for _, w := range wants {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestDefaultConfigBudget(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoints = []string{"127.0.0.1:4317"}
	require.NoError(t, cfg.Validate())
	assert.Equal(t, int64(1<<30), cfg.Buffer.MaxDiskBytes, "finite by default")
	assert.Equal(t, int64(1<<30-64<<20), cfg.Buffer.logMaxBytes(), "the dead letter is inside the budget")
	assert.Equal(t, 10, cfg.Retry.MaxAttemptsPerRecord)
}

func TestValidateEndpointShapes(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoints = []string{"127.0.0.1:4317", "127.0.0.1:4317", "http://x:1", "nohost"}
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"endpoints[1]" "127.0.0.1:4317" is listed twice`)
	assert.Contains(t, err.Error(), `"endpoints[2]" "http://x:1" must be host:port for protocol grpc`)
	assert.Contains(t, err.Error(), `"endpoints[3]" "nohost" must be host:port`)
}
