// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

// NewFactory returns the factory of the discovery extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{}
}

func createExtension(_ context.Context, _ extension.Settings, _ component.Config) (extension.Extension, error) {
	return &discovery{}, nil
}

// discovery is the extension instance. It holds no endpoints yet.
type discovery struct {
	component.StartFunc
	component.ShutdownFunc
}
