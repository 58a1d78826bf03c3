// SPDX-License-Identifier: Apache-2.0

package procbench // import "github.com/otelcol-edge/otelcol-edge/bench/procbench/upstream"

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
)

// The upstream processors of the anchor build (contrib v0.161.0), created
// through their factories with the configuration of
// bench/anchor/pipeline.yaml. The names of the benchmarks are the same in
// bench/procbench/ours.

// resourceConfig is the anchor's resource processor.
func resourceConfig() map[string]any {
	return map[string]any{
		"attributes": []any{
			map[string]any{"key": "deployment.environment.name", "value": "edge", "action": "insert"},
			map[string]any{"key": "host.name", "value": "edge-01", "action": "upsert"},
		},
	}
}

// attributesConfig is the anchor's attributes processor.
func attributesConfig() map[string]any {
	return map[string]any{
		"actions": []any{
			map[string]any{"key": "team", "value": "payments", "action": "insert"},
		},
	}
}

// stagesFor returns the upstream processors doing work.
func stagesFor(work string) []stage {
	resource := stage{resourceprocessor.NewFactory(), resourceConfig()}
	attributes := stage{attributesprocessor.NewFactory(), attributesConfig()}
	switch work {
	case workAdditions:
		return []stage{resource, attributes}
	case workFilter:
		return []stage{{filterprocessor.NewFactory(), anchorFilterConfig()}}
	case workFiveRules:
		return []stage{{filterprocessor.NewFactory(), fiveRulesFilterConfig()}}
	case workPipeline:
		return []stage{resource, attributes, {filterprocessor.NewFactory(), anchorFilterConfig()}}
	}
	panic("unknown work " + work)
}
