// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadatatest"
	"github.com/otelcol-edge/otelcol-edge/components/resourceapi"
)

// resourceReceiver is an extension implementing resourceapi.Receiver (as the
// opamp extension does).
type resourceReceiver struct {
	component.StartFunc
	component.ShutdownFunc
	mu    sync.Mutex
	byKey map[string]map[string]string
	calls int
}

var _ resourceapi.Receiver = (*resourceReceiver)(nil)

func (r *resourceReceiver) SetDetectedResource(source string, attrs map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.byKey == nil {
		r.byKey = map[string]map[string]string{}
	}
	if len(attrs) == 0 {
		delete(r.byKey, source)
		return
	}
	r.byKey[source] = maps.Clone(attrs)
}

func (r *resourceReceiver) get(source string) (map[string]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.byKey[source]), r.calls
}

// TestDetectedAttributesPublished: the detectors' merged result (precedence
// as in the data: env before host; static attributes not included) reaches
// every resourceapi.Receiver among the extensions, and is withdrawn at
// shutdown.
func TestDetectedAttributesPublished(t *testing.T) {
	cfg := testConfig()
	cfg.Detectors.Env.Enabled = true
	cfg.Detectors.Host.Enabled = true
	idFile := filepath.Join(t.TempDir(), "machine-id")
	require.NoError(t, os.WriteFile(idFile, []byte("0123456789abcdef\n"), 0o600))
	cfg.Detectors.Host.MachineIDFiles = []string{idFile}
	cfg.Detectors.Host.ResourceAttributes = map[string]AttributeConfig{"os.description": {Enabled: false}}
	cfg.Static = []StaticAttribute{{Key: "site.id", Value: "shop-042"}}
	require.NoError(t, cfg.Validate())

	recv := &resourceReceiver{}
	host := extHost{
		component.MustNewID("opamp"):  recv,
		component.MustNewID("zpages"): &fakeRegistry{}, // not a resourceapi.Receiver: ignored
	}
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := metadatatest.NewSettings(tel)
	set.ID = component.MustNewIDWithName("enrich", "agent")
	e := newEnricher(cfg, set)
	e.env = fakeEnv(map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,host.name=from-env"})
	require.NoError(t, e.start(context.Background(), host))

	want := map[string]string{
		"deployment.environment.name": "prod",
		"host.name":                   "from-env", // env beats host
		"host.id":                     "0123456789abcdef",
		"os.type":                     "linux",
		"host.arch":                   "amd64",
	}
	require.Eventually(t, func() bool {
		got, _ := recv.get("enrich/agent")
		return maps.Equal(got, want)
	}, 5*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	_, calls := recv.get("enrich/agent")

	require.NoError(t, e.shutdown(context.Background()))
	got, after := recv.get("enrich/agent")
	assert.Nil(t, got, "withdrawn at shutdown")
	assert.Equal(t, calls+1, after)
	assert.LessOrEqual(t, calls, 2, "published only when the set changed (one call per detector at most)")
}
