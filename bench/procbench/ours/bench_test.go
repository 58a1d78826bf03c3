// SPDX-License-Identifier: Apache-2.0

package procbench // import "github.com/otelcol-edge/otelcol-edge/bench/procbench/ours"

import (
	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"
	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"
)

// Our processors, created through their factories with the configuration a
// collector would unmarshal from YAML. The names of the benchmarks are the
// same in bench/procbench/upstream.

// enrichResourceConfig: the anchor's resource processor. The env detector is
// switched off so that only the static attributes are applied.
func enrichResourceConfig() map[string]any {
	return map[string]any{
		"detectors": map[string]any{"env": map[string]any{"enabled": false}},
		"static": []any{
			map[string]any{"key": "deployment.environment.name", "value": "edge", "action": "insert"},
			map[string]any{"key": "host.name", "value": "edge-01", "action": "upsert"},
		},
		"apply_to": []any{"resource"},
	}
}

// enrichSpanConfig: the anchor's attributes processor. apply_to applies every
// attribute of an instance to every target, so the span attribute needs a
// second instance.
func enrichSpanConfig() map[string]any {
	return map[string]any{
		"detectors": map[string]any{"env": map[string]any{"enabled": false}},
		"static": []any{
			map[string]any{"key": "team", "value": "payments", "action": "insert"},
		},
		"apply_to": []any{"span"},
	}
}

// stagesFor returns our processors doing work.
func stagesFor(work string) []stage {
	resource := stage{enrichprocessor.NewFactory(), enrichResourceConfig()}
	span := stage{enrichprocessor.NewFactory(), enrichSpanConfig()}
	switch work {
	case workAdditions:
		return []stage{resource, span}
	case workFilter:
		return []stage{{filterprocessor.NewFactory(), anchorFilterConfig()}}
	case workFiveRules:
		return []stage{{filterprocessor.NewFactory(), fiveRulesFilterConfig()}}
	case workPipeline:
		return []stage{resource, span, {filterprocessor.NewFactory(), anchorFilterConfig()}}
	}
	panic("unknown work " + work)
}
