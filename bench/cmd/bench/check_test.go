// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
)

func TestCheckProcessed(t *testing.T) {
	raw, err := payload.Build(10)
	if err != nil {
		t.Fatal(err)
	}
	if msg := checkProcessed(raw); !strings.Contains(msg, "span team=payments") || !strings.Contains(msg, "host.name") {
		t.Fatalf("unprocessed request: %q", msg)
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		t.Fatal(err)
	}
	rs := req.Traces().ResourceSpans().At(0)
	rs.Resource().Attributes().PutStr("deployment.environment.name", "edge")
	rs.Resource().Attributes().PutStr("host.name", "edge-01")
	spans := rs.ScopeSpans().At(0).Spans()
	for i := range spans.Len() {
		spans.At(i).Attributes().PutStr("team", "payments")
	}
	processed, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if msg := checkProcessed(processed); msg != "" {
		t.Fatalf("processed request: %q", msg)
	}
	if checkProcessed(nil) == "" {
		t.Fatal("nil request passed")
	}
}
