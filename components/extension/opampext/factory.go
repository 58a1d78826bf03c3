// SPDX-License-Identifier: Apache-2.0

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-edge/otelcol-edge/components/extension/opampext/internal/metadata"
)

// NewFactory returns the factory of the opamp extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, func() component.Config { return createDefaultConfig() }, create, metadata.ExtensionStability)
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return &opampExtension{cfg: cfg.(*Config), set: set, gen: currentGeneration()}, nil
}
