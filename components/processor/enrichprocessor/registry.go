// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"context"
	"fmt"
	"net"
	"slices"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// registryTableName names the registry source in logs and metrics.
const registryTableName = "registry"

// followRegistry turns the discovery extension's endpoint metadata into one
// more lookup table. The table is rebuilt from every snapshot the registry
// pushes (in the registry's subscriber goroutine), so the hot path does a map
// lookup behind an atomic pointer: no lock, no I/O, no cache miss that would
// have to go to the network.
func (e *enricher) followRegistry(host component.Host) error {
	rc := e.cfg.Registry
	ext, ok := host.GetExtensions()[*rc.Extension]
	if !ok {
		return fmt.Errorf("\"registry.extension\": extension %q not found: configure it under extensions and list it in service.extensions", *rc.Extension)
	}
	reg, ok := ext.(discoveryapi.Registry)
	if !ok {
		return fmt.Errorf("\"registry.extension\": extension %q is not a discovery extension (it is a %T)", *rc.Extension, ext)
	}
	lt := &lookupTable{
		name:   registryTableName,
		key:    rc.Key,
		act:    parseAction(rc.Action),
		logger: e.logger.With(zap.String("table", registryTableName)),
		attrs:  metric.WithAttributeSet(attribute.NewSet(attribute.String("table", registryTableName))),
	}
	apply := func(s discoveryapi.Snapshot) {
		lt.cur.Store(&table{rows: registryRows(s, rc, lt.act)})
		if e.tb != nil {
			e.tb.ProcessorEnrichLookupReloads.Add(context.Background(), 1,
				metric.WithAttributes(attribute.String("table", registryTableName), attribute.String("result", "ok")))
		}
	}
	apply(reg.Snapshot())
	unsub, err := reg.Subscribe(apply)
	if err != nil {
		return fmt.Errorf("\"registry.extension\": subscribing to %q: %w", *rc.Extension, err)
	}
	e.unsubscribe = unsub
	e.lookups = append(e.lookups, lt)
	e.logger.Info("Following the discovery registry", zap.Stringer("extension", *rc.Extension), zap.Int("rows", len(lt.cur.Load().rows)))
	return nil
}

// registryRows indexes a snapshot: match value -> attributes from the
// endpoint's metadata. Draining endpoints are left out; when two endpoints
// share a match value the first by ID wins.
func registryRows(s discoveryapi.Snapshot, rc RegistryConfig, act action) map[string][]entry {
	rows := make(map[string][]entry, len(s.Endpoints))
	for _, ep := range s.Endpoints {
		if ep.Health == discoveryapi.HealthDraining {
			continue
		}
		var match string
		switch rc.MatchMetadata {
		case "address":
			match = ep.Address
		case "host":
			match = ep.Address
			if h, _, err := net.SplitHostPort(ep.Address); err == nil {
				match = h
			}
		default:
			match = ep.Metadata[rc.MatchMetadata]
		}
		if match == "" {
			continue
		}
		if _, dup := rows[match]; dup {
			continue
		}
		var row []entry
		for k, v := range ep.Metadata {
			if k == rc.MatchMetadata || (len(rc.Attributes) > 0 && !slices.Contains(rc.Attributes, k)) {
				continue
			}
			row = append(row, entry{key: rc.Prefix + k, val: strValue(v), act: act})
		}
		rows[match] = sortRow(row)
	}
	return rows
}
