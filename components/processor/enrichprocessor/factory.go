// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadata"
)

var processorCapabilities = consumer.Capabilities{MutatesData: true}

// NewFactory returns the factory of the enrich processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	cloud := func(endpoint string) CloudDetectorConfig {
		return CloudDetectorConfig{MetadataService: MetadataServiceConfig{
			Enabled:  true,
			Endpoint: endpoint,
			Timeout:  time.Second,
		}}
	}
	return &Config{
		Detectors: DetectorsConfig{
			Env: EnvDetectorConfig{DetectorCommon: DetectorCommon{Enabled: true}},
			Host: HostDetectorConfig{
				MachineIDFiles: []string{"/etc/machine-id", "/var/lib/dbus/machine-id"},
				OSReleaseFile:  "/etc/os-release",
			},
			Kubernetes: KubernetesDetectorConfig{
				PodNameEnv:       "K8S_POD_NAME",
				PodUIDEnv:        "K8S_POD_UID",
				NamespaceEnv:     "K8S_NAMESPACE_NAME",
				NodeNameEnv:      "K8S_NODE_NAME",
				ContainerNameEnv: "K8S_CONTAINER_NAME",
				ClusterNameEnv:   "K8S_CLUSTER_NAME",
				NamespaceFile:    "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
			},
			AWS:   cloud("http://169.254.169.254"),
			GCP:   cloud("http://metadata.google.internal"),
			Azure: cloud("http://169.254.169.254"),
		},
		Detection: DetectionConfig{
			Action:          ActionInsert,
			Timeout:         5 * time.Second,
			RefreshInterval: 10 * time.Minute,
			Retry: configretry.BackOffConfig{
				Enabled:             true,
				InitialInterval:     time.Second,
				MaxInterval:         time.Minute,
				Multiplier:          2,
				RandomizationFactor: 0.2,
			},
		},
		ApplyTo: []string{TargetResource},
		Registry: RegistryConfig{
			Key:           "service.name",
			MatchMetadata: "service.name",
			Action:        ActionInsert,
		},
	}
}

// shared hands the three signal processors of one component the same
// enricher (one set of detectors, watchers and instruments). It is keyed by
// the config, which the collector shares between the pipelines of a component.
type sharedEnricher struct {
	e       *enricher
	refs    int
	started bool
	startE  error
}

var (
	sharedMu sync.Mutex
	shared   = map[*Config]*sharedEnricher{}
)

func acquire(cfg *Config, set processor.Settings) *sharedEnricher {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	s, ok := shared[cfg]
	if !ok {
		s = &sharedEnricher{e: newEnricher(cfg, set)}
		shared[cfg] = s
	}
	s.refs++
	return s
}

func (s *sharedEnricher) start(ctx context.Context, host component.Host) error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s.started {
		s.e.addHost(host)
		return s.startE
	}
	s.started = true
	s.startE = s.e.start(ctx, host)
	return s.startE
}

func (s *sharedEnricher) shutdown(ctx context.Context, cfg *Config) error {
	sharedMu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(shared, cfg)
	}
	sharedMu.Unlock()
	if !last {
		return nil
	}
	return s.e.shutdown(ctx)
}

func helperOptions(s *sharedEnricher, cfg *Config) []processorhelper.Option {
	return []processorhelper.Option{
		processorhelper.WithCapabilities(processorCapabilities),
		processorhelper.WithStart(s.start),
		processorhelper.WithShutdown(func(ctx context.Context) error { return s.shutdown(ctx, cfg) }),
	}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	c := cfg.(*Config)
	s := acquire(c, set)
	p, err := processorhelper.NewTraces(ctx, set, cfg, next, s.e.processTraces, helperOptions(s, c)...)
	if err != nil {
		_ = s.shutdown(ctx, c)
	}
	return p, err
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	c := cfg.(*Config)
	s := acquire(c, set)
	p, err := processorhelper.NewMetrics(ctx, set, cfg, next, s.e.processMetrics, helperOptions(s, c)...)
	if err != nil {
		_ = s.shutdown(ctx, c)
	}
	return p, err
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	c := cfg.(*Config)
	s := acquire(c, set)
	p, err := processorhelper.NewLogs(ctx, set, cfg, next, s.e.processLogs, helperOptions(s, c)...)
	if err != nil {
		_ = s.shutdown(ctx, c)
	}
	return p, err
}
