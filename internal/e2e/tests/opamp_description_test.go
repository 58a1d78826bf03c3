// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// enrichDetectors is an enrich processor (in the processors section of
// opampConfig) whose detectors find known attributes without a network:
// host.id from a machine-id file of the test, Kubernetes from the downward
// API variables, AWS from AWS_REGION with the metadata service off.
func enrichDetectors(aws bool) string {
	return `  enrich:
    detectors:
      env: {enabled: true}
      host:
        enabled: true
        machine_id_files:
          - ${env:MACHINE_ID_FILE}
      kubernetes: {enabled: true}
      aws:
        enabled: ` + map[bool]string{true: "true", false: "false"}[aws] + `
        metadata_service: {enabled: false}
`
}

func descriptionAttrs(desc *protobufs.AgentDescription) map[string]string {
	attrs := map[string]string{}
	for _, kv := range desc.GetNonIdentifyingAttributes() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return attrs
}

// TestOpAMPDescriptionHasEnrichDetectorAttributes: the agent description the
// fleet server sees carries what the enrich processor's detectors found in
// the collector (host.id, k8s.*, cloud.*), never a secret-looking value; a
// pushed config that turns a detector off changes the description after the
// in-process reload.
func TestOpAMPDescriptionHasEnrichDetectorAttributes(t *testing.T) {
	const (
		machineID   = "5f0c1d2e3a4b45c6a7b8c9d0e1f2a3b4"
		envSecret   = "env-secret-9d8c7b6a5f4e3d2c1b0a"
		enrichConds = `span.attributes["http.route"] == "/never"`
	)
	dir := t.TempDir()
	idFile := filepath.Join(dir, "machine-id")
	if err := os.WriteFile(idFile, []byte(machineID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet := newFleetServer(t, opampToken)
	sink := e2e.NewSink(t, e2e.SinkOptions{})
	opts := opampConfigOpts{extra: enrichDetectors(true), processors: []string{"enrich", "filter"}}
	c := startOpAMPCollectorWith(t, sink, fleet.wsURL(), dir, opts, map[string]string{
		"MACHINE_ID_FILE":          idFile,
		"KUBERNETES_SERVICE_HOST":  "10.96.0.1",
		"K8S_POD_NAME":             "edge-pod-7",
		"K8S_NAMESPACE_NAME":       "shops",
		"K8S_NODE_NAME":            "node-3",
		"AWS_REGION":               "eu-central-1",
		"AWS_DEFAULT_REGION":       "",
		"AWS_ACCOUNT_ID":           "",
		"AWS_EXECUTION_ENV":        "",
		"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e,fleet.api_token=" + envSecret,
	})
	pid := c.PID()

	want := map[string]string{
		"host.id":                     machineID,
		"k8s.pod.name":                "edge-pod-7",
		"k8s.namespace.name":          "shops",
		"k8s.node.name":               "node-3",
		"cloud.provider":              "aws",
		"cloud.region":                "eu-central-1",
		"deployment.environment.name": "e2e",
		"fleet.api_token":             "[REDACTED]",
	}
	matches := func(attrs map[string]string) bool {
		for k, v := range want {
			if attrs[k] != v {
				return false
			}
		}
		return true
	}
	var desc *protobufs.AgentDescription
	e2e.Eventually(t, 20*time.Second, 20*time.Millisecond, func() bool {
		_, _, desc, _ = fleet.snapshot()
		return matches(descriptionAttrs(desc))
	}, "the enrich detectors' attributes in the agent description")
	_, _, desc, _ = fleet.snapshot()
	t.Logf("agent description: %s", prototext.Format(desc))
	text := prototext.Format(desc)
	for _, s := range []string{envSecret, opampToken, opampHashKey, opampAuthTok} {
		if strings.Contains(text, s) {
			t.Fatalf("the agent description holds the secret %q:\n%s", s, text)
		}
	}

	// A pushed config without the AWS detector: after the reload, the
	// description no longer claims AWS, and still has what the others find.
	hash := fleet.push(opampConfig(opampConfigOpts{
		conditions: []string{enrichConds},
		extra:      enrichDetectors(false),
		processors: []string{"enrich", "filter"},
	}))
	fleet.waitStatus(t, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, 40*time.Second)
	if c.PID() != pid || !c.Running() {
		t.Fatalf("the collector was restarted (pid %d -> %d)", pid, c.PID())
	}
	e2e.Eventually(t, 20*time.Second, 20*time.Millisecond, func() bool {
		_, _, desc, _ = fleet.snapshot()
		attrs := descriptionAttrs(desc)
		return attrs["cloud.provider"] == "" && attrs["cloud.region"] == "" &&
			attrs["host.id"] == machineID && attrs["k8s.pod.name"] == "edge-pod-7"
	}, "the description after the reload: no cloud.*, host and k8s still there")
}
