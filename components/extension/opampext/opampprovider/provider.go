// SPDX-License-Identifier: Apache-2.0

// Package opampprovider is the opamp: confmap provider of otelcol-edge:
// `--config opamp:<local config file>` runs the last configuration accepted
// from the OpAMP server (the local file until one is), validates and tries
// new ones and rolls back on failure. See the opamp extension's README.
package opampprovider // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext/opampprovider"

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/extension/opampext"
)

const scheme = "opamp"

type provider struct {
	logger *zap.Logger
}

// NewFactory returns the factory of the opamp: provider.
func NewFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(set confmap.ProviderSettings) confmap.Provider {
		return &provider{logger: set.Logger}
	})
}

// Retrieve returns the configuration to run now; watcher is called when the
// server sent a new one that validated (or to roll back a failed one).
func (p *provider) Retrieve(ctx context.Context, uri string, watcher confmap.WatcherFunc) (*confmap.Retrieved, error) {
	path, ok := strings.CutPrefix(uri, scheme+":")
	if !ok || path == "" {
		return nil, fmt.Errorf("%q: expected opamp:<path of the local config file>", uri)
	}
	body, err := opampext.RetrieveForProvider(ctx, p.logger, path, watcher)
	if err != nil {
		return nil, err
	}
	return confmap.NewRetrievedFromYAML(body)
}

// Scheme is "opamp".
func (*provider) Scheme() string { return scheme }

// Shutdown stops the OpAMP agent.
func (*provider) Shutdown(ctx context.Context) error {
	return opampext.ShutdownProvider(ctx)
}
