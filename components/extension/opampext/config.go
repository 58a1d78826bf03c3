// SPDX-License-Identifier: Apache-2.0

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
)

// Config is the configuration of the opamp extension. With the opamp: config
// provider, the provider reads this section from the local (bootstrap) config
// file and it wins over any opamp section of a remote config: a fleet server
// cannot redirect the agent or change its credentials.
type Config struct {
	// Server is the connection to the OpAMP server.
	Server ServerConfig `mapstructure:"server"`
	// StorageDirectory holds the instance UID, the last accepted remote config,
	// the previous one and the config being tried.
	StorageDirectory string `mapstructure:"storage_directory"`
	// ApplyTimeout bounds a remote config's trial: from the reload to healthy.
	ApplyTimeout time.Duration `mapstructure:"apply_timeout"`
	// StableFor is how long the reloaded collector must run without a
	// permanent or fatal component error before the config is accepted.
	StableFor time.Duration `mapstructure:"stable_for"`
	// ValidateTimeout bounds the validation of a remote config (`otelcol-edge validate`).
	ValidateTimeout time.Duration `mapstructure:"validate_timeout"`
	// ReportInterval is how often health is recomputed and sent when it changed.
	ReportInterval time.Duration `mapstructure:"report_interval"`
	// NonIdentifyingAttributes are added to the agent description.
	NonIdentifyingAttributes map[string]string `mapstructure:"non_identifying_attributes"`
	// RedactKeys are extra key name fragments (case-insensitive) whose values
	// are replaced by [REDACTED] in the effective config sent to the server.
	RedactKeys []string `mapstructure:"redact_keys"`
	// MetricsEndpoint is the collector's own Prometheus endpoint, scraped for
	// the edge exporter's state and backlog ("" = none reported).
	MetricsEndpoint string `mapstructure:"metrics_endpoint"`

	_ struct{}
}

// ServerConfig is the connection to the OpAMP server.
type ServerConfig struct {
	// Endpoint is the server URL: ws:// or wss:// (WebSocket), http:// or
	// https:// (plain HTTP polling).
	Endpoint string `mapstructure:"endpoint"`
	// Headers are sent with every request (e.g. an API key).
	Headers map[string]configopaque.String `mapstructure:"headers"`
	// BearerToken is sent as "Authorization: Bearer <token>".
	BearerToken configopaque.String `mapstructure:"bearer_token"`
	// TLS for wss:// and https:// (system CAs by default).
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// HeartbeatInterval is the WebSocket heartbeat and the HTTP polling interval.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval"`

	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Server.Endpoint == "" {
		errs = append(errs, errors.New(`"server.endpoint" must be set (ws://, wss://, http:// or https://)`))
	} else if u, err := url.Parse(cfg.Server.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf(`"server.endpoint" %q: %w`, cfg.Server.Endpoint, err))
	} else if s := u.Scheme; s != "ws" && s != "wss" && s != "http" && s != "https" {
		errs = append(errs, fmt.Errorf(`"server.endpoint" %q: scheme must be ws, wss, http or https`, cfg.Server.Endpoint))
	}
	if cfg.StorageDirectory == "" {
		errs = append(errs, errors.New(`"storage_directory" must be set`))
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"server.heartbeat_interval", cfg.Server.HeartbeatInterval}, {"apply_timeout", cfg.ApplyTimeout},
		{"stable_for", cfg.StableFor}, {"validate_timeout", cfg.ValidateTimeout}, {"report_interval", cfg.ReportInterval},
	} {
		if d.val <= 0 {
			errs = append(errs, fmt.Errorf("%q must be > 0, got %s", d.key, d.val))
		}
	}
	if cfg.StableFor >= cfg.ApplyTimeout && cfg.ApplyTimeout > 0 {
		errs = append(errs, fmt.Errorf(`"stable_for" (%s) must be shorter than "apply_timeout" (%s)`, cfg.StableFor, cfg.ApplyTimeout))
	}
	return errors.Join(errs...)
}

func createDefaultConfig() *Config {
	return &Config{
		StorageDirectory: "/var/lib/otelcol-edge/opamp",
		ApplyTimeout:     30 * time.Second,
		StableFor:        2 * time.Second,
		ValidateTimeout:  30 * time.Second,
		ReportInterval:   10 * time.Second,
		Server: ServerConfig{
			HeartbeatInterval: 30 * time.Second,
		},
	}
}
