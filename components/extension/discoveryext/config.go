// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"go.opentelemetry.io/collector/confmap"
)

// Config is the configuration of the discovery extension.
//
// The extension has no options yet: its sources, health checks and API land with
// the registry. Unknown keys are rejected when the configuration is unmarshalled.
type Config struct{}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration. There is nothing to check yet.
func (*Config) Validate() error {
	return nil
}
