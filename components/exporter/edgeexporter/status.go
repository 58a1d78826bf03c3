// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// statusHosts are the hosts of every pipeline instance sharing this exporter.
// The collector builds one exporter instance per signal, each started with a
// host bound to its own instance ID; the shared exporter reports its status
// (offline, buffer I/O errors, back to OK) to each of them, so health
// extensions show it in every pipeline and not only in the first one started.
type statusHosts struct {
	mu    sync.Mutex
	hosts []component.Host
}

// add records the host of one pipeline instance (its Start).
func (s *statusHosts) add(h component.Host) {
	if h == nil {
		return
	}
	s.mu.Lock()
	s.hosts = append(s.hosts, h)
	s.mu.Unlock()
}

// report sends ev to every recorded host.
func (s *statusHosts) report(ev *componentstatus.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hosts {
		componentstatus.ReportStatus(h, ev)
	}
}
