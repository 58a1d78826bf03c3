// SPDX-License-Identifier: Apache-2.0

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// instanceKey names a component in the health map: "<kind>:<id>", e.g.
// "exporter:edge", "receiver:otlp".
func instanceKey(id *componentstatus.InstanceID) string {
	return strings.ToLower(id.Kind().String()) + ":" + id.ComponentID().String()
}

// healthLocked is the health reported to the server: healthy when the
// current service is ready and no component is in a permanent or fatal
// error (a recoverable error, e.g. a backend down, is reported but healthy).
func (a *agent) healthLocked() *protobufs.ComponentHealth {
	h := &protobufs.ComponentHealth{
		Healthy:            a.ready,
		StartTimeUnixNano:  uint64(a.startTime.UnixNano()),
		ComponentHealthMap: map[string]*protobufs.ComponentHealth{},
	}
	var last time.Time
	for key, ev := range a.components {
		s := ev.Status()
		ok := s != componentstatus.StatusPermanentError && s != componentstatus.StatusFatalError
		ch := &protobufs.ComponentHealth{
			Healthy:            ok,
			Status:             s.String(),
			StatusTimeUnixNano: uint64(ev.Timestamp().UnixNano()),
		}
		if err := ev.Err(); err != nil {
			ch.LastError = err.Error()
		}
		if !ok {
			h.Healthy = false
			h.LastError = key + ": " + ch.LastError
		}
		if ev.Timestamp().After(last) {
			last = ev.Timestamp()
		}
		h.ComponentHealthMap[key] = ch
	}
	for id, e := range a.edge {
		key := "exporter:" + id
		ch := h.ComponentHealthMap[key]
		if ch == nil {
			ch = &protobufs.ComponentHealth{Healthy: true}
			h.ComponentHealthMap[key] = ch
		}
		ch.Status = e.String()
	}
	switch {
	case !a.ready:
		h.Status = "Starting"
	case h.Healthy:
		h.Status = "StatusOK"
	default:
		h.Status = "Unhealthy"
	}
	if !last.IsZero() {
		h.StatusTimeUnixNano = uint64(last.UnixNano())
	}
	return h
}

// descriptionLocked is the agent description: identifying service.name,
// service.version, service.instance.id; non-identifying host, OS,
// architecture, the attributes of OTEL_RESOURCE_ATTRIBUTES, the attributes
// the current service's enrich detectors found (resourceapi) and
// non_identifying_attributes, later ones winning. A value under a key that
// looks secret (secretFragments, redact_keys) is never sent: [REDACTED].
func (a *agent) descriptionLocked() *protobufs.AgentDescription {
	kv := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	uid := a.st.InstanceUID
	if len(uid) == 32 {
		uid = uid[0:8] + "-" + uid[8:12] + "-" + uid[12:16] + "-" + uid[16:20] + "-" + uid[20:]
	}
	d := &protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{
			kv("service.name", a.buildInfo.Command),
			kv("service.version", a.buildInfo.Version),
			kv("service.instance.id", uid),
		},
	}
	attrs := map[string]string{"os.type": runtime.GOOS, "host.arch": runtime.GOARCH}
	if h, err := os.Hostname(); err == nil {
		attrs["host.name"] = h
	}
	for pair := range strings.SplitSeq(os.Getenv("OTEL_RESOURCE_ATTRIBUTES"), ",") {
		if k, v, ok := strings.Cut(pair, "="); ok && strings.TrimSpace(k) != "" {
			attrs[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if a.detectedGen == a.generation {
		// In source order, so that two enrich processors give a stable result.
		for _, src := range slices.Sorted(maps.Keys(a.detected)) {
			maps.Copy(attrs, a.detected[src])
		}
	}
	for k, v := range a.cfg.NonIdentifyingAttributes {
		attrs[k] = v
	}
	frags := secretKeyFragments(a.cfg.RedactKeys)
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[k]
		if v != "" && isSecretKey(k, frags) {
			v = redactedValue
		}
		d.NonIdentifyingAttributes = append(d.NonIdentifyingAttributes, kv(k, v))
	}
	return d
}

// edgeInfo is what the collector's own metrics say about one edge exporter.
type edgeInfo struct {
	state     float64 // 0 online, 1 offline, 2 replaying
	items     float64
	bytes     float64
	oldestAge float64
}

// edgeState is keyed by the exporter's component ID.
type edgeState map[string]edgeInfo

func (e edgeInfo) String() string {
	state := "online"
	switch e.state {
	case 1:
		state = "offline"
	case 2:
		state = "replaying"
	}
	return fmt.Sprintf("%s; backlog %.0f items, %.0f bytes, oldest %.0fs", state, e.items, e.bytes, e.oldestAge)
}

// scrapeEdge reads the edge exporters' state and backlog from the
// collector's own Prometheus endpoint (metrics_endpoint).
func (a *agent) scrapeEdge() {
	if a.cfg.MetricsEndpoint == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.MetricsEndpoint, http.NoBody)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	state := parseEdgeMetrics(bufio.NewScanner(resp.Body))
	a.mu.Lock()
	a.edge = state
	a.mu.Unlock()
}

func parseEdgeMetrics(sc *bufio.Scanner) edgeState {
	out := edgeState{}
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "otelcol_exporter_edge_") {
			continue
		}
		// name{labels} value, or name value (the collector drops the
		// component labels of its own metrics: the exporter is then "edge").
		var name, labels, value string
		if n, rest, ok := strings.Cut(line, "{"); ok {
			l, v, ok := strings.Cut(rest, "} ")
			if !ok {
				continue
			}
			name, labels, value = n, l, v
		} else if n, v, ok := strings.Cut(line, " "); ok {
			name, value = n, v
		} else {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		id := labelValue(labels, "otelcol_component_id")
		if id == "" {
			id = labelValue(labels, "exporter")
		}
		if id == "" {
			id = "edge"
		}
		e := out[id]
		// One exporter may show once per signal, all on one buffer: keep the largest.
		switch {
		case strings.HasPrefix(name, "otelcol_exporter_edge_state"):
			e.state = max(e.state, v)
		case strings.HasPrefix(name, "otelcol_exporter_edge_buffer_items"):
			e.items = max(e.items, v)
		case strings.HasPrefix(name, "otelcol_exporter_edge_buffer_bytes"):
			e.bytes = max(e.bytes, v)
		case strings.HasPrefix(name, "otelcol_exporter_edge_buffer_oldest_age"):
			e.oldestAge = max(e.oldestAge, v)
		default:
			continue
		}
		out[id] = e
	}
	return out
}

func labelValue(labels, name string) string {
	for part := range strings.SplitSeq(labels, ",") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
