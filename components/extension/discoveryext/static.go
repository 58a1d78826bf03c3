// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
)

// staticSource reports a fixed list once.
type staticSource struct {
	targets []target
}

func newStaticSource(cfg *StaticConfig) *staticSource {
	s := &staticSource{}
	for _, e := range cfg.Endpoints {
		s.targets = append(s.targets, target{
			Address: e.Address, Weight: e.Weight, Priority: e.Priority, Zone: e.Zone, Metadata: e.Metadata,
		})
	}
	return s
}

func (s *staticSource) run(_ context.Context, emit func([]target, error)) {
	emit(s.targets, nil)
}
