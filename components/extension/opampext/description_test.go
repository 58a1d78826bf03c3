// SPDX-License-Identifier: Apache-2.0

package opampext

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/prototext"
)

func descAttrs(a *agent) (map[string]string, string) {
	a.mu.Lock()
	d := a.descriptionLocked()
	a.mu.Unlock()
	out := map[string]string{}
	for _, kv := range d.NonIdentifyingAttributes {
		out[kv.Key] = kv.Value.GetStringValue()
	}
	return out, prototext.Format(d)
}

// TestDescriptionDetectedAttributes: what the enrich processors of the
// current service publish through resourceapi joins the agent description
// (detected beats OTEL_RESOURCE_ATTRIBUTES and the built-in host.name,
// non_identifying_attributes beat both); secret-looking keys are redacted;
// a stale service's publications are ignored; a withdrawal removes them.
func TestDescriptionDetectedAttributes(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,auth.token=s3cr3t-env,site.id=from-env")
	h := newHarness(t, "")
	h.a.cfg.NonIdentifyingAttributes = map[string]string{"site.id": "shop-042"}
	h.a.cfg.RedactKeys = []string{"pin_code"}
	h.retrieve()
	ext := &opampExtension{cfg: h.a.cfg, agent: h.a, gen: h.a.generationNow()}

	before, _ := descAttrs(h.a)
	assert.NotContains(t, before, "host.id")

	ext.SetDetectedResource("enrich", map[string]string{
		"host.name": "detected-host", "host.id": "0123abcd", "cloud.provider": "aws",
		"cloud.region": "eu-west-1", "db.password": "hunter2", "device.pin_code": "4711",
	})
	ext.SetDetectedResource("enrich/k8s", map[string]string{"k8s.pod.name": "edge-0", "cloud.region": "eu-west-2"})
	got, text := descAttrs(h.a)
	assert.Equal(t, "detected-host", got["host.name"])
	assert.Equal(t, "0123abcd", got["host.id"])
	assert.Equal(t, "aws", got["cloud.provider"])
	assert.Equal(t, "eu-west-2", got["cloud.region"], "sources merged in ID order, the later wins")
	assert.Equal(t, "edge-0", got["k8s.pod.name"])
	assert.Equal(t, "prod", got["deployment.environment.name"])
	assert.Equal(t, "shop-042", got["site.id"], "non_identifying_attributes win")
	assert.Equal(t, redactedValue, got["db.password"])
	assert.Equal(t, redactedValue, got["device.pin_code"], "redact_keys applies")
	assert.Equal(t, redactedValue, got["auth.token"])
	for _, s := range []string{"hunter2", "4711", "s3cr3t-env"} {
		assert.NotContains(t, text, s, "a secret in the agent description")
	}

	// A new service (generation) replaces the old one: the old service's
	// late publications are ignored, and its attributes are not reported.
	h.retrieve()
	ext.SetDetectedResource("enrich", map[string]string{"host.id": "stale"})
	got, _ = descAttrs(h.a)
	assert.NotContains(t, got, "host.id")
	assert.NotContains(t, got, "k8s.pod.name")
	ext2 := &opampExtension{cfg: h.a.cfg, agent: h.a, gen: h.a.generationNow()}
	ext2.SetDetectedResource("enrich", map[string]string{"host.id": "fresh"})
	ext.SetDetectedResource("enrich", nil) // the old service's late withdrawal
	got, _ = descAttrs(h.a)
	assert.Equal(t, "fresh", got["host.id"])

	ext2.SetDetectedResource("enrich", nil)
	got, _ = descAttrs(h.a)
	assert.NotContains(t, got, "host.id")
	require.Equal(t, "prod", got["deployment.environment.name"])
}
