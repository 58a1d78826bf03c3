// SPDX-License-Identifier: Apache-2.0

package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"

import (
	"go.opentelemetry.io/collector/confmap"
)

// Config is the configuration of the filter processor.
//
// The processor has no options yet: until its OTTL conditions and redaction, static attributes and
// lookup tables land it passes data through unchanged. Unknown keys are rejected
// when the configuration is unmarshalled, so a config written for a later version
// fails loudly instead of being silently ignored.
type Config struct{}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration. There is nothing to check yet.
func (*Config) Validate() error {
	return nil
}
