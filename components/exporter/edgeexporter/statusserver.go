// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// The status endpoint (status.endpoint) serves the offline summary as JSON,
// so a technician on site can `curl 127.0.0.1:13134`. It belongs to the
// exporter, not to the discovery extension: a site with static endpoints
// has no discovery extension, and each edge instance has its own backlog.
// It binds loopback addresses only: it is not authenticated.

// checkLoopback accepts "" (off) or a host:port whose host is a loopback
// address or localhost.
func checkLoopback(endpoint string) error {
	if endpoint == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("must be a loopback address (127.0.0.1, [::1] or localhost): the status endpoint is not authenticated")
	}
	return nil
}

// statusServer serves GET / with the summary.
type statusServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// statusPage is the JSON of the status endpoint.
type statusPage struct {
	// Exporter is the component ID.
	Exporter string `json:"exporter"`
	// Time is when the page was made.
	Time time.Time `json:"time"`
	offlineSummary
}

func (e *edgeExporter) startStatusServer() error {
	if e.cfg.Status.Endpoint == "" {
		return nil
	}
	ln, err := net.Listen("tcp", e.cfg.Status.Endpoint)
	if err != nil {
		return fmt.Errorf("status endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(statusPage{Exporter: e.set.ID.String(), Time: time.Now().UTC(), offlineSummary: e.currentSummary(false)})
	})
	s := &statusServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.logger.Warn("Status endpoint stopped", zap.Error(err))
		}
	}()
	e.statusSrv = s
	e.logger.Info("Status endpoint listening", zap.String("endpoint", ln.Addr().String()))
	return nil
}

func (e *edgeExporter) stopStatusServer() {
	if e.statusSrv == nil {
		return
	}
	_ = e.statusSrv.srv.Close()
	<-e.statusSrv.done
	e.statusSrv = nil
}
