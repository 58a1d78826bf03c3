// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	agent := createDefaultConfig().(*Config)
	agent.Detectors.Host.Enabled = true
	agent.Detectors.Host.MachineIDFiles = []string{"/etc/machine-id"}
	agent.Detectors.Host.ResourceAttributes = map[string]AttributeConfig{"os.description": {Enabled: false}}
	agent.Detectors.Kubernetes = KubernetesDetectorConfig{
		DetectorCommon:   DetectorCommon{Enabled: true},
		PodNameEnv:       "MY_POD_NAME",
		PodUIDEnv:        "MY_POD_UID",
		NamespaceEnv:     "MY_POD_NAMESPACE",
		NodeNameEnv:      "MY_NODE_NAME",
		ContainerNameEnv: "MY_CONTAINER_NAME",
		ClusterNameEnv:   "MY_CLUSTER_NAME",
		NamespaceFile:    "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
	}
	agent.Detectors.AWS.Enabled = true
	agent.Detectors.AWS.MetadataService.Timeout = 500 * time.Millisecond
	agent.Detectors.GCP.Enabled = true
	agent.Detectors.GCP.MetadataService.Enabled = false
	agent.Detectors.Azure.Enabled = true
	agent.Detectors.Azure.MetadataService.Timeout = 2 * time.Second
	agent.Detection = DetectionConfig{
		Action:          ActionInsert,
		Timeout:         3 * time.Second,
		RefreshInterval: 5 * time.Minute,
		WaitFor:         2 * time.Second,
		Retry: configretry.BackOffConfig{
			Enabled:             true,
			InitialInterval:     500 * time.Millisecond,
			MaxInterval:         30 * time.Second,
			Multiplier:          1.5,
			RandomizationFactor: 0.1,
		},
	}
	agent.Static = []StaticAttribute{
		{Key: "deployment.environment.name", Value: "production"},
		{Key: "site.id", Value: 42, Action: ActionUpsert},
		{Key: "edge", Value: true, Action: ActionUpdate},
	}
	agent.Lookups = []LookupConfig{
		{File: "/etc/otelcol-edge/services.csv", Key: "service.name", Attributes: []string{"team", "owner"}},
		{Name: "tiers", File: "/etc/otelcol-edge/tiers.json", Format: FormatJSON, Key: "service.name",
			Action: ActionUpsert, Reload: ReloadPoll, PollInterval: 30 * time.Second, MaxBytes: 1 << 20, MaxRows: 5000},
	}
	agent.ApplyTo = []string{TargetResource, TargetSpan, TargetLog, TargetDataPoint}

	gateway := createDefaultConfig().(*Config)
	gateway.Detectors.Env.Enabled = false
	gateway.Lookups = []LookupConfig{{File: "/etc/otelcol-edge/owners.yaml", Key: "service.name", Reload: ReloadNone}}

	registry := createDefaultConfig().(*Config)
	regID := component.MustNewIDWithName("discovery", "services")
	registry.Registry = RegistryConfig{Extension: &regID, Key: "service.name", MatchMetadata: "service.name",
		Attributes: []string{"team", "tier"}, Prefix: "owner.", Action: ActionUpsert}

	for _, tt := range []struct {
		id       component.ID
		expected *Config
	}{
		{component.NewIDWithName(metadata.Type, "registry"), registry},
		{component.NewID(metadata.Type), createDefaultConfig().(*Config)},
		{component.NewIDWithName(metadata.Type, "agent"), agent},
		{component.NewIDWithName(metadata.Type, "gateway"), gateway},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestLoadConfigInvalid(t *testing.T) {
	for _, tt := range []struct {
		file string
		want []string
	}{
		{"invalid_action.yaml", []string{
			`"detection.action" must be "insert", "upsert" or "update", got "overwrite"`,
			`"static[0].action" must be "insert", "upsert" or "update", got "replace"`,
		}},
		{"invalid_static.yaml", []string{
			`"static[0].key" must be set`,
			`"static[1].value" must be a string, integer, float or boolean, got []interface {}`,
			`"static[3].key" "tier" is already set by "static[2]"`,
		}},
		{"invalid_lookup.yaml", []string{
			`"lookups[0].format" must be set: the extension of "/etc/teams.txt" does not tell (.csv, .yaml, .yml, .json)`,
			`"lookups[0].reload" must be "watch", "poll" or "none", got "sometimes"`,
			`"lookups[1].key" must name the attribute whose value selects the row`,
			`"lookups[2].poll_interval" must be > 0 when "lookups[2].reload" is "poll"`,
			`"lookups[2].name" "owners" is already used by "lookups[1]": set distinct names`,
			`"lookups[3].max_bytes" must be >= 0 (0: the default, 4194304), got -1`,
			`"lookups[3].max_rows" must be >= 0 (0: the default, 100000), got -5`,
		}},
		{"invalid_detectors.yaml", []string{
			`"detectors.host.resource_attributes": "host.serial" is not an attribute of the host detector`,
			`"detectors.aws.metadata_service.endpoint" must be an http:// or https:// URL, got "169.254.169.254"`,
			`"detectors.aws.metadata_service.timeout" must be > 0`,
			`"detection.timeout" must be > 0`,
			`"detection.refresh_interval" must be >= 0 (0 detects once)`,
			`"detection.retry.max_interval" must be >= "detection.retry.initial_interval"`,
		}},
		{"invalid_apply_to.yaml", []string{
			`"apply_to[1]" must be "resource", "span", "log" or "datapoint", got "metric"`,
			`"apply_to[2]" "resource" is listed twice`,
		}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			sub, err := cm.Sub(component.NewID(metadata.Type).String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadConfigUnknownKey(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "invalid_unknown_key.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewID(metadata.Type).String())
	require.NoError(t, err)
	err = sub.Unmarshal(createDefaultConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "docker")
}

func TestValidateEmptyApplyTo(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.ApplyTo = nil
	assert.ErrorContains(t, confmap.Validate(cfg), `"apply_to" must list at least one of`)
}
