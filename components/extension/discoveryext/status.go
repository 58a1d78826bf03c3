// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// startStatus starts the HTTP server that serves the current snapshot as JSON.
func (d *discovery) startStatus(ctx context.Context, host component.Host, cfg *confighttp.ServerConfig) error {
	ln, err := cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("discovery status server: %w", err)
	}
	srv, err := cfg.ToServer(ctx, host.GetExtensions(), d.set.TelemetrySettings, http.HandlerFunc(d.serveStatus))
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("discovery status server: %w", err)
	}
	d.status = srv
	d.statusAddr = ln.Addr().String()
	d.set.Logger.Info("Discovery status server listening", zap.String("endpoint", ln.Addr().String()))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

// statusBody is the JSON served by the status server: the snapshot and the
// IDs of the endpoints eligible for new traffic.
type statusBody struct {
	discoveryapi.Snapshot
	Eligible []string `json:"eligible"`
}

// serveStatus writes the current snapshot, with eligible endpoint IDs.
func (d *discovery) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	snap := d.Snapshot()
	eligible := []string{}
	for _, e := range snap.Eligible() {
		eligible = append(eligible, e.ID)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(statusBody{Snapshot: snap, Eligible: eligible})
}
