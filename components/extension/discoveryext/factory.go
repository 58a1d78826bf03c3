// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

// defaultStatusEndpoint is where the status server listens when enabled
// without an endpoint.
const defaultStatusEndpoint = "127.0.0.1:55690"

// NewFactory returns the factory of the discovery extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	status := confighttp.NewDefaultServerConfig()
	status.NetAddr.Endpoint = defaultStatusEndpoint
	return &Config{
		DrainPeriod: 30 * time.Second,
		HealthCheck: HealthCheckConfig{
			Type:               checkTCP,
			Interval:           10 * time.Second,
			Timeout:            2 * time.Second,
			Jitter:             0.1,
			HealthyThreshold:   2,
			UnhealthyThreshold: 3,
			MaxConcurrent:      16,
			HTTP:               HTTPCheckConfig{Path: "/", ExpectedStatus: 200},
			TLS:                defaultCheckTLS(),
		},
		OutlierDetection: OutlierDetectionConfig{
			ConsecutiveFailures: 5,
			BaseEjectionTime:    30 * time.Second,
			MaxEjectionTime:     5 * time.Minute,
			MaxEjectionPercent:  50,
		},
		PanicThreshold: 50,
		Status:         configoptional.Default(status),
	}
}

// defaultCheckTLS is the TLS setting of health checks by default: plain
// text, as the health port (a health_check extension) usually is.
func defaultCheckTLS() configtls.ClientConfig {
	c := configtls.NewDefaultClientConfig()
	c.Insecure = true
	return c
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newDiscovery(cfg.(*Config), set)
}
