// SPDX-License-Identifier: Apache-2.0

package opampprovider

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestProvider(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(local, []byte(`extensions:
  opamp:
    server:
      endpoint: ws://127.0.0.1:1/v1/opamp
    storage_directory: `+filepath.Join(dir, "opamp")+`
receivers:
  otlp: {}
`), 0o600))
	p := NewFactory().Create(confmap.ProviderSettings{Logger: zap.NewNop()})
	assert.Equal(t, "opamp", p.Scheme())

	_, err := p.Retrieve(context.Background(), "opamp:", nil)
	assert.ErrorContains(t, err, "expected opamp:<path of the local config file>")

	ret, err := p.Retrieve(context.Background(), "opamp:"+local, func(*confmap.ChangeEvent) {})
	require.NoError(t, err)
	conf, err := ret.AsConf()
	require.NoError(t, err)
	assert.Equal(t, []any{"opamp"}, conf.Get("service::extensions"), "the extension is enabled")
	assert.Equal(t, "ws://127.0.0.1:1/v1/opamp", conf.Get("extensions::opamp::server::endpoint"))
	assert.FileExists(t, filepath.Join(dir, "opamp", "state.json"))

	_, err = p.Retrieve(context.Background(), "opamp:"+filepath.Join(dir, "other.yaml"), nil)
	assert.ErrorContains(t, err, "only one opamp: URI per process")
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestProviderWithoutSection(t *testing.T) {
	local := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(local, []byte("receivers: {}\n"), 0o600))
	p := NewFactory().Create(confmap.ProviderSettings{})
	_, err := p.Retrieve(context.Background(), "opamp:"+local, nil)
	assert.ErrorContains(t, err, "has no extensions::opamp section")
	require.NoError(t, p.Shutdown(context.Background()))
}
