// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
)

// Actions decide what happens when the attribute is already present (or absent)
// on the telemetry.
const (
	// ActionInsert adds the attribute only when the telemetry does not carry it
	// yet (the default: a gateway never overwrites what an agent set).
	ActionInsert = "insert"
	// ActionUpsert adds the attribute or overwrites the existing value.
	ActionUpsert = "upsert"
	// ActionUpdate overwrites the attribute only when it is already present.
	ActionUpdate = "update"
)

// Targets say which attributes of the telemetry are enriched.
const (
	// TargetResource enriches resource attributes (all signals).
	TargetResource = "resource"
	// TargetSpan enriches the attributes of each span.
	TargetSpan = "span"
	// TargetLog enriches the attributes of each log record.
	TargetLog = "log"
	// TargetDataPoint enriches the attributes of each metric data point.
	TargetDataPoint = "datapoint"
)

// Lookup file formats and reload modes.
const (
	FormatCSV  = "csv"
	FormatYAML = "yaml"
	FormatJSON = "json"

	// ReloadWatch reloads the file on file-system notifications (fsnotify).
	ReloadWatch = "watch"
	// ReloadPoll reloads the file when its modification time or size changes,
	// checked every poll_interval.
	ReloadPoll = "poll"
	// ReloadNone loads the file once at start-up.
	ReloadNone = "none"
)

// Config is the configuration of the enrich processor.
type Config struct {
	// Detectors configures where the processor looks for resource attributes
	// about the environment it runs in. Only `env` is enabled by default.
	Detectors DetectorsConfig `mapstructure:"detectors"`

	// Detection configures how detectors run: in the background, with
	// retries, a refresh interval and an optional wait at start-up.
	Detection DetectionConfig `mapstructure:"detection"`

	// Static are attributes set from the configuration, each with its own
	// action. They take precedence over detected values for the same key.
	Static []StaticAttribute `mapstructure:"static"`

	// Lookups are tables loaded from files: the value of an attribute of the
	// telemetry (for example service.name) selects a row whose columns are
	// added as attributes (team, owner, tier...).
	Lookups []LookupConfig `mapstructure:"lookups"`

	// Registry adds attributes from the metadata of the discovery extension's
	// endpoints (see RegistryConfig). Off unless registry.extension is set.
	Registry RegistryConfig `mapstructure:"registry"`

	// ApplyTo lists where the attributes are written: "resource" (default),
	// "span", "log", "datapoint".
	ApplyTo []string `mapstructure:"apply_to"`
}

// DetectorsConfig holds one block per detector.
type DetectorsConfig struct {
	// Env reads OTEL_RESOURCE_ATTRIBUTES.
	Env EnvDetectorConfig `mapstructure:"env"`
	// Host reads the host name, machine id, OS and architecture.
	Host HostDetectorConfig `mapstructure:"host"`
	// Kubernetes reads the downward API environment variables and the
	// service-account namespace file.
	Kubernetes KubernetesDetectorConfig `mapstructure:"kubernetes"`
	// AWS reads AWS environment variables, then the EC2 instance metadata
	// service (IMDSv2).
	AWS CloudDetectorConfig `mapstructure:"aws"`
	// GCP reads Google Cloud environment variables, then the GCE metadata
	// server.
	GCP CloudDetectorConfig `mapstructure:"gcp"`
	// Azure reads Azure environment variables, then the Azure instance
	// metadata service.
	Azure CloudDetectorConfig `mapstructure:"azure"`
}

// DetectorCommon are the options every detector has.
type DetectorCommon struct {
	// Enabled switches the detector on.
	Enabled bool `mapstructure:"enabled"`
	// ResourceAttributes switches single attributes off (or back on):
	// `host.id: {enabled: false}`. Attributes not listed are enabled.
	ResourceAttributes map[string]AttributeConfig `mapstructure:"resource_attributes"`
}

// AttributeConfig switches one detected attribute.
type AttributeConfig struct {
	// Enabled keeps the attribute.
	Enabled bool `mapstructure:"enabled"`
}

// EnvDetectorConfig configures the env detector.
type EnvDetectorConfig struct {
	DetectorCommon `mapstructure:",squash"`
}

// HostDetectorConfig configures the host detector.
type HostDetectorConfig struct {
	DetectorCommon `mapstructure:",squash"`
	// MachineIDFiles are tried in order for host.id.
	MachineIDFiles []string `mapstructure:"machine_id_files"`
	// OSReleaseFile is read for os.description (its PRETTY_NAME).
	OSReleaseFile string `mapstructure:"os_release_file"`
}

// KubernetesDetectorConfig configures the kubernetes detector. The *_env
// options name the environment variables the pod spec fills from the
// downward API (fieldRef metadata.name, metadata.uid, metadata.namespace,
// spec.nodeName).
type KubernetesDetectorConfig struct {
	DetectorCommon `mapstructure:",squash"`
	// PodNameEnv holds k8s.pod.name; HOSTNAME is used when it is unset.
	PodNameEnv string `mapstructure:"pod_name_env"`
	// PodUIDEnv holds k8s.pod.uid.
	PodUIDEnv string `mapstructure:"pod_uid_env"`
	// NamespaceEnv holds k8s.namespace.name; NamespaceFile is read when it is unset.
	NamespaceEnv string `mapstructure:"namespace_env"`
	// NodeNameEnv holds k8s.node.name.
	NodeNameEnv string `mapstructure:"node_name_env"`
	// ContainerNameEnv holds k8s.container.name.
	ContainerNameEnv string `mapstructure:"container_name_env"`
	// ClusterNameEnv holds k8s.cluster.name.
	ClusterNameEnv string `mapstructure:"cluster_name_env"`
	// NamespaceFile is the service-account namespace file mounted into pods.
	NamespaceFile string `mapstructure:"namespace_file"`
}

// CloudDetectorConfig configures the aws, gcp and azure detectors.
type CloudDetectorConfig struct {
	DetectorCommon `mapstructure:",squash"`
	// MetadataService configures the query of the instance metadata service,
	// made after the environment variables were read.
	MetadataService MetadataServiceConfig `mapstructure:"metadata_service"`
}

// MetadataServiceConfig configures an instance metadata service client.
type MetadataServiceConfig struct {
	// Enabled queries the metadata service.
	Enabled bool `mapstructure:"enabled"`
	// Endpoint is the base URL of the service (tests point it at a local
	// server).
	Endpoint string `mapstructure:"endpoint"`
	// Timeout bounds each request.
	Timeout time.Duration `mapstructure:"timeout"`
}

// DetectionConfig configures the background detection.
type DetectionConfig struct {
	// Action applies to every detected attribute: "insert" (default),
	// "upsert" or "update".
	Action string `mapstructure:"action"`
	// Timeout bounds one attempt of one detector.
	Timeout time.Duration `mapstructure:"timeout"`
	// RefreshInterval re-runs successful detectors; 0 detects once.
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
	// WaitFor, when > 0, makes data arriving before every detector finished
	// its first attempt wait for it, at most this long after start. 0 (the
	// default) never waits: early data gets what is known.
	WaitFor time.Duration `mapstructure:"wait_for"`
	// Retry is the backoff after a failed attempt. With retry disabled a
	// failed detector is tried again at the next refresh.
	Retry configretry.BackOffConfig `mapstructure:"retry"`
}

// StaticAttribute is an attribute set from the configuration.
type StaticAttribute struct {
	// Key is the attribute name.
	Key string `mapstructure:"key"`
	// Value is a string, integer, float or boolean.
	Value any `mapstructure:"value"`
	// Action is "insert" (default), "upsert" or "update".
	Action string `mapstructure:"action"`
}

// LookupConfig configures one lookup table.
type LookupConfig struct {
	// Name identifies the table in logs and metrics; defaults to the file's
	// base name without extension.
	Name string `mapstructure:"name"`
	// File is the path of the table.
	File string `mapstructure:"file"`
	// Format is "csv", "yaml" or "json"; by default taken from the file
	// extension (.csv, .yaml/.yml, .json).
	Format string `mapstructure:"format"`
	// Key is the attribute of the telemetry whose value selects the row.
	Key string `mapstructure:"key"`
	// KeyColumn is the CSV column holding the key; defaults to the first
	// column.
	KeyColumn string `mapstructure:"key_column"`
	// Attributes restricts the columns copied; empty copies every column
	// except the key column.
	Attributes []string `mapstructure:"attributes"`
	// Action is "insert" (default), "upsert" or "update".
	Action string `mapstructure:"action"`
	// Reload is "watch" (default when empty: fsnotify), "poll" or "none".
	Reload string `mapstructure:"reload"`
	// PollInterval is the check period of reload "poll".
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// MaxBytes caps the size of the file: a larger file is refused, at start
	// (the processor does not start) and on reload (the last good table
	// stays). 0 means the default, 4 MiB.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// MaxRows caps the number of rows (keys) of the table, refused as
	// MaxBytes. 0 means the default, 100000.
	MaxRows int `mapstructure:"max_rows"`
}

// RegistryConfig enriches telemetry with the metadata of the endpoint of the
// discovery extension that it matches: telemetry whose attribute Key equals the
// endpoint's metadata value MatchMetadata (or its address, with
// match_metadata "address") gets the endpoint's metadata as attributes.
type RegistryConfig struct {
	// Extension is the component ID of the discovery extension, e.g.
	// "discovery/backends". Empty disables the registry source.
	Extension *component.ID `mapstructure:"extension"`
	// Key is the attribute of the telemetry that selects the endpoint;
	// default "service.name".
	Key string `mapstructure:"key"`
	// MatchMetadata is the endpoint metadata key compared with the value of
	// Key; "address" compares with the endpoint's address (host:port), "host"
	// with its host. Default "service.name".
	MatchMetadata string `mapstructure:"match_metadata"`
	// Attributes restricts the metadata keys copied; empty copies all but the
	// match key.
	Attributes []string `mapstructure:"attributes"`
	// Prefix is put in front of every copied key, e.g. "registry.".
	Prefix string `mapstructure:"prefix"`
	// Action is "insert" (default), "upsert" or "update".
	Action string `mapstructure:"action"`
}

var _ confmap.Validator = (*Config)(nil)

// knownAttributes lists, per detector, the attributes it can produce; the env
// detector produces whatever OTEL_RESOURCE_ATTRIBUTES holds.
var knownAttributes = map[string][]string{
	detHost:       {attrHostName, attrHostID, attrOSType, attrOSDescription, attrHostArch},
	detKubernetes: {attrK8sPodName, attrK8sPodUID, attrK8sNamespace, attrK8sNodeName, attrK8sContainer, attrK8sCluster},
	detAWS:        cloudAttributes,
	detGCP:        cloudAttributes,
	detAzure:      cloudAttributes,
}

var cloudAttributes = []string{attrCloudProvider, attrCloudPlatform, attrCloudRegion, attrCloudZone, attrCloudAccount, attrHostID, attrHostType, attrHostName}

// Validate checks the configuration and names the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for _, d := range []struct {
		name string
		c    *DetectorCommon
	}{
		{detEnv, &cfg.Detectors.Env.DetectorCommon},
		{detHost, &cfg.Detectors.Host.DetectorCommon},
		{detKubernetes, &cfg.Detectors.Kubernetes.DetectorCommon},
		{detAWS, &cfg.Detectors.AWS.DetectorCommon},
		{detGCP, &cfg.Detectors.GCP.DetectorCommon},
		{detAzure, &cfg.Detectors.Azure.DetectorCommon},
	} {
		known, ok := knownAttributes[d.name]
		if !ok {
			continue
		}
		for _, k := range sortedKeys(d.c.ResourceAttributes) {
			if !slices.Contains(known, k) {
				add("\"detectors.%s.resource_attributes\": %q is not an attribute of the %s detector (one of %s)", d.name, k, d.name, strings.Join(known, ", "))
			}
		}
	}
	h := cfg.Detectors.Host
	if h.Enabled && len(h.MachineIDFiles) == 0 {
		add("\"detectors.host.machine_id_files\" must list at least one file")
	}
	k := cfg.Detectors.Kubernetes
	if k.Enabled {
		for _, e := range []struct{ key, v string }{
			{"pod_name_env", k.PodNameEnv}, {"pod_uid_env", k.PodUIDEnv}, {"namespace_env", k.NamespaceEnv},
			{"node_name_env", k.NodeNameEnv}, {"container_name_env", k.ContainerNameEnv}, {"cluster_name_env", k.ClusterNameEnv},
		} {
			if strings.ContainsAny(e.v, "= \t") {
				add("\"detectors.kubernetes.%s\" %q is not an environment variable name", e.key, e.v)
			}
		}
	}
	for _, c := range []struct {
		name string
		c    *CloudDetectorConfig
	}{{detAWS, &cfg.Detectors.AWS}, {detGCP, &cfg.Detectors.GCP}, {detAzure, &cfg.Detectors.Azure}} {
		m := c.c.MetadataService
		if !c.c.Enabled || !m.Enabled {
			continue
		}
		u, err := url.Parse(m.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("\"detectors.%s.metadata_service.endpoint\" must be an http:// or https:// URL, got %q", c.name, m.Endpoint)
		}
		if m.Timeout <= 0 {
			add("\"detectors.%s.metadata_service.timeout\" must be > 0", c.name)
		}
	}

	d := cfg.Detection
	if !validAction(d.Action) {
		add("\"detection.action\" must be %q, %q or %q, got %q", ActionInsert, ActionUpsert, ActionUpdate, d.Action)
	}
	if d.Timeout <= 0 {
		add("\"detection.timeout\" must be > 0")
	}
	if d.RefreshInterval < 0 {
		add("\"detection.refresh_interval\" must be >= 0 (0 detects once)")
	}
	if d.WaitFor < 0 {
		add("\"detection.wait_for\" must be >= 0")
	}
	if d.Retry.Enabled {
		if d.Retry.InitialInterval <= 0 {
			add("\"detection.retry.initial_interval\" must be > 0")
		}
		if d.Retry.MaxInterval < d.Retry.InitialInterval {
			add("\"detection.retry.max_interval\" must be >= \"detection.retry.initial_interval\"")
		}
		if d.Retry.Multiplier < 1 {
			add("\"detection.retry.multiplier\" must be >= 1")
		}
	}

	seenStatic := map[string]int{}
	for i, s := range cfg.Static {
		if strings.TrimSpace(s.Key) == "" {
			add("\"static[%d].key\" must be set", i)
		} else if j, dup := seenStatic[s.Key]; dup {
			add("\"static[%d].key\" %q is already set by \"static[%d]\"", i, s.Key, j)
		} else {
			seenStatic[s.Key] = i
		}
		if _, ok := staticValue(s.Value); !ok {
			add("\"static[%d].value\" must be a string, integer, float or boolean, got %T", i, s.Value)
		}
		if !validAction(s.Action) {
			add("\"static[%d].action\" must be %q, %q or %q, got %q", i, ActionInsert, ActionUpsert, ActionUpdate, s.Action)
		}
	}

	seenTables := map[string]int{}
	if r := cfg.Registry; r.Extension != nil {
		if r.Key == "" {
			add("\"registry.key\" must not be empty")
		}
		if r.MatchMetadata == "" {
			add("\"registry.match_metadata\" must not be empty")
		}
		switch r.Action {
		case ActionInsert, ActionUpsert, ActionUpdate:
		default:
			add("\"registry.action\" must be one of %q, %q, %q, got %q", ActionInsert, ActionUpsert, ActionUpdate, r.Action)
		}
	}
	for i, l := range cfg.Lookups {
		p := fmt.Sprintf("lookups[%d]", i)
		if strings.TrimSpace(l.File) == "" {
			add("\"%s.file\" must be set", p)
		} else if _, err := lookupFormat(l); err != nil {
			add("\"%s.format\" %w", p, err)
		}
		if strings.TrimSpace(l.Key) == "" {
			add("\"%s.key\" must name the attribute whose value selects the row", p)
		}
		if !validAction(l.Action) {
			add("\"%s.action\" must be %q, %q or %q, got %q", p, ActionInsert, ActionUpsert, ActionUpdate, l.Action)
		}
		switch l.Reload {
		case "", ReloadWatch, ReloadNone:
		case ReloadPoll:
			if l.PollInterval <= 0 {
				add("\"%s.poll_interval\" must be > 0 when \"%s.reload\" is %q", p, p, ReloadPoll)
			}
		default:
			add("\"%s.reload\" must be %q, %q or %q, got %q", p, ReloadWatch, ReloadPoll, ReloadNone, l.Reload)
		}
		if l.MaxBytes < 0 {
			add("\"%s.max_bytes\" must be >= 0 (0: the default, %d), got %d", p, defaultLookupMaxBytes, l.MaxBytes)
		}
		if l.MaxRows < 0 {
			add("\"%s.max_rows\" must be >= 0 (0: the default, %d), got %d", p, defaultLookupMaxRows, l.MaxRows)
		}
		for j, a := range l.Attributes {
			if strings.TrimSpace(a) == "" {
				add("\"%s.attributes[%d]\" must not be empty", p, j)
			}
		}
		name := tableName(l)
		if j, dup := seenTables[name]; dup {
			add("\"%s.name\" %q is already used by \"lookups[%d]\": set distinct names", p, name, j)
		}
		seenTables[name] = i
	}

	if len(cfg.ApplyTo) == 0 {
		add("\"apply_to\" must list at least one of %q, %q, %q, %q", TargetResource, TargetSpan, TargetLog, TargetDataPoint)
	}
	seenTargets := map[string]bool{}
	for i, t := range cfg.ApplyTo {
		switch t {
		case TargetResource, TargetSpan, TargetLog, TargetDataPoint:
		default:
			add("\"apply_to[%d]\" must be %q, %q, %q or %q, got %q", i, TargetResource, TargetSpan, TargetLog, TargetDataPoint, t)
		}
		if seenTargets[t] {
			add("\"apply_to[%d]\" %q is listed twice", i, t)
		}
		seenTargets[t] = true
	}
	return errors.Join(errs...)
}

// validAction accepts the three actions; empty means insert.
func validAction(a string) bool {
	switch a {
	case "", ActionInsert, ActionUpsert, ActionUpdate:
		return true
	}
	return false
}

// lookupFormat returns the table's format, from the option or the extension.
func lookupFormat(l LookupConfig) (string, error) {
	switch l.Format {
	case FormatCSV, FormatYAML, FormatJSON:
		return l.Format, nil
	case "":
	default:
		return "", fmt.Errorf("must be %q, %q or %q, got %q", FormatCSV, FormatYAML, FormatJSON, l.Format)
	}
	switch strings.ToLower(filepath.Ext(l.File)) {
	case ".csv":
		return FormatCSV, nil
	case ".yaml", ".yml":
		return FormatYAML, nil
	case ".json":
		return FormatJSON, nil
	}
	return "", fmt.Errorf("must be set: the extension of %q does not tell (.csv, .yaml, .yml, .json)", l.File)
}

// tableName is the name of a lookup table in logs and metrics.
func tableName(l LookupConfig) string {
	if l.Name != "" {
		return l.Name
	}
	base := filepath.Base(l.File)
	return strings.TrimSuffix(base, filepath.Ext(base))
}
