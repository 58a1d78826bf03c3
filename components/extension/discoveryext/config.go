// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
)

// Health check types.
const (
	checkNone = "none"
	checkTCP  = "tcp"
	checkGRPC = "grpc"
	checkHTTP = "http"
)

// DNS record types.
const (
	dnsSRV  = "srv"
	dnsA    = "a"
	dnsAAAA = "aaaa"
	dnsIP   = "ip"
)

// Defaults of options inside list elements (sources), applied when the value is zero.
const (
	defaultDNSMinTTL        = 5 * time.Second
	defaultDNSMaxTTL        = 5 * time.Minute
	defaultDNSTimeout       = 2 * time.Second
	defaultFilePollInterval = 10 * time.Second
	// defaultMaxEndpoints caps the endpoints of one DNS or file source.
	defaultMaxEndpoints = 1000
	// defaultFileMaxBytes caps the size of an endpoints file.
	defaultFileMaxBytes = 1 << 20
)

// Config is the configuration of the discovery extension.
type Config struct {
	// Sources report endpoints. Each has a unique name and exactly one of
	// static, dns or file.
	Sources []SourceConfig `mapstructure:"sources"`

	// DrainPeriod is how long an endpoint removed from its source stays in
	// the registry as draining, so requests in flight can finish. 0 removes
	// it at once.
	DrainPeriod time.Duration `mapstructure:"drain_period"`

	// HealthCheck configures the active health checks.
	HealthCheck HealthCheckConfig `mapstructure:"health_check"`

	// OutlierDetection configures passive health from results reported by
	// components (ReportResult).
	OutlierDetection OutlierDetectionConfig `mapstructure:"outlier_detection"`

	// PanicThreshold is a percentage: when fewer than this share of the
	// endpoints that are not draining are healthy (or not checked yet), the
	// registry is in panic mode and every endpoint that is not draining is
	// eligible (fail open). 0 disables panic mode.
	PanicThreshold int `mapstructure:"panic_threshold"`

	// Status is an optional HTTP server that serves the registry as JSON.
	// Disabled unless the key is present.
	Status configoptional.Optional[confighttp.ServerConfig] `mapstructure:"status"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SourceConfig is one source of endpoints.
type SourceConfig struct {
	// Name identifies the source; it is the first part of the IDs of its
	// endpoints (`<name>/<address>`).
	Name string `mapstructure:"name"`
	// Static is a fixed list of endpoints.
	Static configoptional.Optional[StaticConfig] `mapstructure:"static"`
	// DNS resolves A/AAAA or SRV records.
	DNS configoptional.Optional[DNSConfig] `mapstructure:"dns"`
	// File reads a watched YAML or JSON file.
	File configoptional.Optional[FileConfig] `mapstructure:"file"`
	// Kubernetes watches the EndpointSlices of a Service.
	Kubernetes configoptional.Optional[KubernetesConfig] `mapstructure:"kubernetes"`
}

// EndpointConfig is an endpoint of a static source (the same fields are used
// in the file of a file source).
type EndpointConfig struct {
	// Address is host:port.
	Address string `mapstructure:"address"`
	// Weight is the relative share of traffic; 0 means 1.
	Weight int `mapstructure:"weight"`
	// Priority orders endpoints for failover, lower first.
	Priority int `mapstructure:"priority"`
	// Zone is an optional locality label.
	Zone string `mapstructure:"zone"`
	// Metadata holds free-form labels.
	Metadata map[string]string `mapstructure:"metadata"`
}

// StaticConfig is a static source.
type StaticConfig struct {
	// Endpoints is the list of endpoints.
	Endpoints []EndpointConfig `mapstructure:"endpoints"`
}

// DNSConfig is a DNS source.
type DNSConfig struct {
	// Name is the name to resolve, as a fully qualified name (search domains
	// are not applied), e.g. `_otlp._tcp.gateway.observability.svc.cluster.local`.
	Name string `mapstructure:"name"`
	// Type is the record type: srv, a, aaaa or ip (A and AAAA). Default: srv
	// when the name starts with "_", else ip.
	Type string `mapstructure:"type"`
	// Port is the port of the endpoints for a, aaaa and ip (SRV records carry
	// their own).
	Port int `mapstructure:"port"`
	// Resolver is the DNS server as host:port. Default: the first nameserver
	// of /etc/resolv.conf.
	Resolver string `mapstructure:"resolver"`
	// Interval, when set, re-resolves at this fixed period. When 0 (default)
	// the name is re-resolved when the lowest TTL of the answer expires,
	// bounded by MinTTL and MaxTTL.
	Interval time.Duration `mapstructure:"interval"`
	// MinTTL is the shortest time between two resolutions and the first retry
	// delay after an error (default 5s).
	MinTTL time.Duration `mapstructure:"min_ttl"`
	// MaxTTL is the longest time between two resolutions and the longest retry
	// delay after errors (default 5m).
	MaxTTL time.Duration `mapstructure:"max_ttl"`
	// Timeout bounds one DNS exchange (default 2s).
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxEndpoints caps the endpoints of one answer (default 1000). A larger
	// answer is an error: the last good list is kept.
	MaxEndpoints int `mapstructure:"max_endpoints"`
}

// FileConfig is a file source.
type FileConfig struct {
	// Path is the YAML or JSON file holding a list of endpoints.
	Path string `mapstructure:"path"`
	// PollInterval is how often the file is checked for changes in addition to
	// file-system notifications (default 10s).
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// MaxBytes caps the size of the file (default 1 MiB). A larger file is an
	// error: the last good list is kept.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// MaxEndpoints caps the endpoints listed in the file (default 1000). A
	// longer list is an error: the last good list is kept.
	MaxEndpoints int `mapstructure:"max_endpoints"`
}

// KubernetesConfig is a kubernetes source: the EndpointSlices of a Service,
// watched with client-go informers.
type KubernetesConfig struct {
	// Namespace of the Service. Default: the namespace of the collector's own
	// pod (from its service account), else "default".
	Namespace string `mapstructure:"namespace"`
	// Service is the name of the Service whose EndpointSlices are watched.
	Service string `mapstructure:"service"`
	// PortName is the name of the Service port the endpoints are reached on.
	// Default "": the port without a name, or the only port of a slice.
	PortName string `mapstructure:"port_name"`
	// Kubeconfig is a kubeconfig file (for development outside the cluster).
	// Default "": the in-cluster configuration of the pod's service account.
	Kubeconfig string `mapstructure:"kubeconfig"`
	// ClusterDomain completes the TLS server name of endpoints with a
	// hostname: <hostname>.<service>.<namespace>.svc.<cluster_domain>
	// (default cluster.local).
	ClusterDomain string `mapstructure:"cluster_domain"`
	// MaxEndpoints caps the endpoints of the Service (default 1000). More is
	// an error: the last good list is kept.
	MaxEndpoints int `mapstructure:"max_endpoints"`
}

// HealthCheckConfig configures active health checks.
type HealthCheckConfig struct {
	// Type is tcp (connect), grpc (grpc.health.v1), http (GET) or none.
	Type string `mapstructure:"type"`
	// Interval is the time between two checks of one endpoint.
	Interval time.Duration `mapstructure:"interval"`
	// Timeout bounds one check.
	Timeout time.Duration `mapstructure:"timeout"`
	// Jitter is a fraction of Interval (0 to 1) added or removed at random to
	// spread checks.
	Jitter float64 `mapstructure:"jitter"`
	// HealthyThreshold is the number of consecutive passed checks that make an
	// unhealthy endpoint healthy.
	HealthyThreshold int `mapstructure:"healthy_threshold"`
	// UnhealthyThreshold is the number of consecutive failed checks that make
	// a healthy endpoint unhealthy. An endpoint never checked takes the state
	// of its first check.
	UnhealthyThreshold int `mapstructure:"unhealthy_threshold"`
	// MaxConcurrent bounds the checks running at the same time.
	MaxConcurrent int `mapstructure:"max_concurrent"`
	// Port, when set, is checked instead of the endpoint's port.
	Port int `mapstructure:"port"`
	// HTTP configures http checks.
	HTTP HTTPCheckConfig `mapstructure:"http"`
	// GRPC configures grpc checks.
	GRPC GRPCCheckConfig `mapstructure:"grpc"`
	// TLS is the client TLS setting of grpc and http checks. Default:
	// `insecure: true` (plain text); with `insecure: false` the checks use
	// TLS and verify the certificate against tls.server_name_override, else
	// the endpoint's server name (DNS sources), else its host.
	TLS configtls.ClientConfig `mapstructure:"tls"`
}

// HTTPCheckConfig configures http checks.
type HTTPCheckConfig struct {
	// Path is the path requested with GET.
	Path string `mapstructure:"path"`
	// ExpectedStatus is the status code of a healthy endpoint.
	ExpectedStatus int `mapstructure:"expected_status"`
}

// GRPCCheckConfig configures grpc checks.
type GRPCCheckConfig struct {
	// Service is the service name sent in the grpc.health.v1 request ("" is
	// the server as a whole).
	Service string `mapstructure:"service"`
}

// OutlierDetectionConfig configures passive outlier ejection.
type OutlierDetectionConfig struct {
	// ConsecutiveFailures reported for an endpoint eject it. 0 disables
	// ejection.
	ConsecutiveFailures int `mapstructure:"consecutive_failures"`
	// BaseEjectionTime is multiplied by the number of times the endpoint was
	// ejected (which decays by one per base time without ejection).
	BaseEjectionTime time.Duration `mapstructure:"base_ejection_time"`
	// MaxEjectionTime caps the ejection time.
	MaxEjectionTime time.Duration `mapstructure:"max_ejection_time"`
	// MaxEjectionPercent caps the share of endpoints (not draining) ejected at
	// once; at least one endpoint may always be ejected.
	MaxEjectionPercent int `mapstructure:"max_ejection_percent"`
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration and names the key of every problem.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(cfg.Sources) == 0 {
		add(`"sources" must contain at least one source`)
	}
	names := map[string]int{}
	for i := range cfg.Sources {
		errs = append(errs, cfg.Sources[i].validate(fmt.Sprintf("sources[%d]", i), names, i)...)
	}
	if cfg.DrainPeriod < 0 {
		add(`"drain_period" must be >= 0`)
	}
	errs = append(errs, cfg.HealthCheck.validate()...)
	errs = append(errs, cfg.OutlierDetection.validate()...)
	if cfg.PanicThreshold < 0 || cfg.PanicThreshold > 100 {
		add(`"panic_threshold" must be between 0 and 100`)
	}
	if st := cfg.Status.Get(); st != nil && st.NetAddr.Endpoint == "" {
		add(`"status.endpoint" must be set`)
	}
	return errors.Join(errs...)
}

// sourcePrecedence maps each source name to its index: an earlier source
// wins when two list the same address.
func (cfg *Config) sourcePrecedence() map[string]int {
	out := make(map[string]int, len(cfg.Sources))
	for i, sc := range cfg.Sources {
		out[sc.Name] = i
	}
	return out
}

func (s *SourceConfig) validate(p string, names map[string]int, i int) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case s.Name == "":
		add(`"%s.name" must be set`, p)
	case strings.ContainsAny(s.Name, "/ "):
		add(`"%s.name" must not contain "/" or spaces`, p)
	default:
		if j, ok := names[s.Name]; ok {
			add(`"%s.name" %q is already used by sources[%d]`, p, s.Name, j)
		} else {
			names[s.Name] = i
		}
	}
	n := 0
	if st := s.Static.Get(); st != nil {
		n++
		if len(st.Endpoints) == 0 {
			add(`"%s.static.endpoints" must not be empty`, p)
		}
		for j := range st.Endpoints {
			errs = append(errs, st.Endpoints[j].validate(fmt.Sprintf("%s.static.endpoints[%d]", p, j))...)
		}
	}
	if d := s.DNS.Get(); d != nil {
		n++
		errs = append(errs, d.validate(p+".dns")...)
	}
	if f := s.File.Get(); f != nil {
		n++
		if f.Path == "" {
			add(`"%s.file.path" must be set`, p)
		}
		if f.PollInterval < 0 {
			add(`"%s.file.poll_interval" must be >= 0`, p)
		}
		if f.MaxBytes < 0 {
			add(`"%s.file.max_bytes" must be >= 0`, p)
		}
		if f.MaxEndpoints < 0 {
			add(`"%s.file.max_endpoints" must be >= 0`, p)
		}
	}
	if k := s.Kubernetes.Get(); k != nil {
		n++
		if k.Service == "" {
			add(`"%s.kubernetes.service" must be set`, p)
		}
		if k.MaxEndpoints < 0 {
			add(`"%s.kubernetes.max_endpoints" must be >= 0`, p)
		}
	}
	if n != 1 {
		add(`"%s" must set exactly one of "static", "dns", "file" or "kubernetes"`, p)
	}
	return errs
}

func (e *EndpointConfig) validate(p string) []error {
	var errs []error
	if err := checkAddress(e.Address); err != nil {
		errs = append(errs, fmt.Errorf(`"%s.address" %w`, p, err))
	}
	if e.Weight < 0 {
		errs = append(errs, fmt.Errorf(`"%s.weight" must be >= 0`, p))
	}
	if e.Priority < 0 {
		errs = append(errs, fmt.Errorf(`"%s.priority" must be >= 0`, p))
	}
	return errs
}

// checkAddress returns an error completing `"<key>" ...` when addr is not
// host:port. An address with user info ("user:token@host:port") is rejected,
// and errors show it redacted, so a credential never reaches logs, component
// status or the status page.
func checkAddress(addr string) error {
	if addr == "" {
		return errors.New("must be set")
	}
	if strings.Contains(addr, "@") {
		return fmt.Errorf("must not contain user info (credentials before \"@\"), got %q", redactAddress(addr))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("must have a port between 1 and 65535, got %q", addr)
	}
	return nil
}

// redactAddress replaces everything up to the last "@" of an address (user
// info) with "xxxxx".
func redactAddress(addr string) string {
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		return "xxxxx" + addr[i:]
	}
	return addr
}

func (d *DNSConfig) validate(p string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.Name == "" {
		add(`"%s.name" must be set`, p)
	}
	typ := d.recordType()
	switch typ {
	case dnsSRV:
	case dnsA, dnsAAAA, dnsIP:
		if d.Port == 0 {
			add(`"%s.port" must be set for type %q`, p, typ)
		}
	default:
		add(`"%s.type" must be one of srv, a, aaaa, ip, got %q`, p, d.Type)
	}
	if d.Port < 0 || d.Port > 65535 {
		add(`"%s.port" must be between 1 and 65535`, p)
	}
	if d.Resolver != "" {
		if err := checkAddress(d.Resolver); err != nil {
			add(`"%s.resolver" %w`, p, err)
		}
	}
	if d.Interval < 0 {
		add(`"%s.interval" must be >= 0`, p)
	}
	if d.MinTTL < 0 {
		add(`"%s.min_ttl" must be >= 0`, p)
	}
	if d.MaxTTL < 0 {
		add(`"%s.max_ttl" must be >= 0`, p)
	}
	if d.Timeout < 0 {
		add(`"%s.timeout" must be >= 0`, p)
	}
	if d.MaxEndpoints < 0 {
		add(`"%s.max_endpoints" must be >= 0`, p)
	}
	if minTTL, maxTTL := d.ttlBounds(); d.MinTTL >= 0 && d.MaxTTL >= 0 && maxTTL < minTTL {
		add(`"%s.max_ttl" must be >= "%s.min_ttl"`, p, p)
	}
	return errs
}

// recordType returns the configured record type or its default.
func (d *DNSConfig) recordType() string {
	if d.Type != "" {
		return strings.ToLower(d.Type)
	}
	if strings.HasPrefix(d.Name, "_") {
		return dnsSRV
	}
	return dnsIP
}

// ttlBounds returns MinTTL and MaxTTL with their defaults.
func (d *DNSConfig) ttlBounds() (time.Duration, time.Duration) {
	minTTL, maxTTL := d.MinTTL, d.MaxTTL
	if minTTL == 0 {
		minTTL = defaultDNSMinTTL
	}
	if maxTTL == 0 {
		maxTTL = max(defaultDNSMaxTTL, minTTL)
	}
	return minTTL, maxTTL
}

func (h *HealthCheckConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch h.Type {
	case checkNone:
		return nil
	case checkTCP:
		if keys := tlsKeys(h.TLS); len(keys) > 0 || !h.TLS.Insecure {
			add(`"health_check.tls" is used by grpc and http checks only, not by %q checks: remove it`, h.Type)
		}
	case checkGRPC:
	case checkHTTP:
		if !strings.HasPrefix(h.HTTP.Path, "/") {
			add(`"health_check.http.path" must start with "/"`)
		}
		if h.HTTP.ExpectedStatus < 100 || h.HTTP.ExpectedStatus > 599 {
			add(`"health_check.http.expected_status" must be between 100 and 599`)
		}
	default:
		add(`"health_check.type" must be one of tcp, grpc, http, none, got %q`, h.Type)
	}
	if h.Interval <= 0 {
		add(`"health_check.interval" must be > 0`)
	}
	if h.Timeout <= 0 {
		add(`"health_check.timeout" must be > 0`)
	}
	if h.Jitter < 0 || h.Jitter > 1 {
		add(`"health_check.jitter" must be between 0 and 1`)
	}
	if h.HealthyThreshold < 1 {
		add(`"health_check.healthy_threshold" must be >= 1`)
	}
	if h.UnhealthyThreshold < 1 {
		add(`"health_check.unhealthy_threshold" must be >= 1`)
	}
	if h.MaxConcurrent < 1 {
		add(`"health_check.max_concurrent" must be >= 1`)
	}
	if h.Port < 0 || h.Port > 65535 {
		add(`"health_check.port" must be between 0 and 65535`)
	}
	if h.Type == checkGRPC || h.Type == checkHTTP {
		if keys := tlsKeys(h.TLS); h.TLS.Insecure && h.TLS.CAFile == "" && h.TLS.CAPem == "" && len(keys) > 0 {
			add(`"health_check.tls.insecure" is true, so checks are plain text, but "health_check.tls" also sets %s, which would be ignored: set "insecure: false" to check over TLS, or remove them`,
				strings.Join(keys, ", "))
		}
	}
	return errs
}

// tlsKeys returns the keys of a client TLS setting that are set, except
// insecure.
func tlsKeys(c configtls.ClientConfig) []string {
	var keys []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"ca_file", c.CAFile != ""},
		{"ca_pem", c.CAPem != ""},
		{"cert_file", c.CertFile != ""},
		{"cert_pem", c.CertPem != ""},
		{"key_file", c.KeyFile != ""},
		{"key_pem", c.KeyPem != ""},
		{"server_name_override", c.ServerName != ""},
		{"insecure_skip_verify", c.InsecureSkipVerify},
		{"include_system_ca_certs_pool", c.IncludeSystemCACertsPool},
		{"min_version", c.MinVersion != ""},
		{"max_version", c.MaxVersion != ""},
		{"cipher_suites", len(c.CipherSuites) > 0},
		{"include_insecure_cipher_suites", c.IncludeInsecureCipherSuites},
		{"curve_preferences", len(c.CurvePreferences) > 0},
		{"reload_interval", c.ReloadInterval != 0},
		{"tpm", c.TPMConfig.Enabled},
	} {
		if k.set {
			keys = append(keys, k.name)
		}
	}
	return keys
}

func (o *OutlierDetectionConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.ConsecutiveFailures < 0 {
		add(`"outlier_detection.consecutive_failures" must be >= 0`)
	}
	if o.ConsecutiveFailures == 0 {
		return errs
	}
	if o.BaseEjectionTime <= 0 {
		add(`"outlier_detection.base_ejection_time" must be > 0`)
	}
	if o.MaxEjectionTime < o.BaseEjectionTime {
		add(`"outlier_detection.max_ejection_time" must be >= "outlier_detection.base_ejection_time"`)
	}
	if o.MaxEjectionPercent < 0 || o.MaxEjectionPercent > 100 {
		add(`"outlier_detection.max_ejection_percent" must be between 0 and 100`)
	}
	return errs
}
