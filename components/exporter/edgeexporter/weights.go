// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadata"
)

// zoneEnv holds the agent's own zone when zone_routing.prefer_zone is empty.
const zoneEnv = "OTELCOL_EDGE_ZONE"

// slowStartScale is the integer weight of a fully ramped endpoint of weight
// 1 while slow start is configured (weights are integers in the smooth
// round robin).
const slowStartScale = 1000

// Localities of a request, the attribute of the zone requests counter.
const (
	localityLocal  = "local"
	localityRemote = "remote"
	// localityNone: no preferred zone, or the endpoint has no zone.
	localityNone = "none"
)

// ZoneRoutingConfig prefers the endpoints of one zone (usually the agent's
// own): they get all traffic while enough of them are healthy, then every
// healthy endpoint shares it (spill-over).
type ZoneRoutingConfig struct {
	// PreferZone is the preferred zone. Default "": the value of the
	// environment variable OTELCOL_EDGE_ZONE; when both are empty, zones are
	// ignored.
	PreferZone string `mapstructure:"prefer_zone"`
	// MinHealthy is the number of healthy endpoints the preferred zone needs
	// to take all traffic (default 1).
	MinHealthy int `mapstructure:"min_healthy"`
	// MinHealthyPercent is the share of the preferred zone's endpoints that
	// must be healthy, in % (default 0: only MinHealthy counts).
	MinHealthyPercent int `mapstructure:"min_healthy_percent"`
}

// SlowStartConfig ramps the weight of an endpoint after it is admitted (it
// appears, or comes back after being removed or failing) so a freshly
// started backend is not flooded with a backlog replay.
type SlowStartConfig struct {
	// Window is how long the ramp lasts (default 0: no slow start).
	Window time.Duration `mapstructure:"window"`
	// MinWeightPercent is the weight at admission, in % of the endpoint's
	// weight (default 10); it grows linearly to 100 % over Window.
	MinWeightPercent int `mapstructure:"min_weight_percent"`
}

func (z *ZoneRoutingConfig) validate() error {
	var errs []error
	if z.MinHealthy < 0 {
		errs = append(errs, fmt.Errorf(`"zone_routing.min_healthy" must be >= 0, got %d`, z.MinHealthy))
	}
	if z.MinHealthyPercent < 0 || z.MinHealthyPercent > 100 {
		errs = append(errs, fmt.Errorf(`"zone_routing.min_healthy_percent" must be between 0 and 100, got %d`, z.MinHealthyPercent))
	}
	return errors.Join(errs...)
}

func (s *SlowStartConfig) validate() error {
	var errs []error
	if s.Window < 0 {
		errs = append(errs, fmt.Errorf(`"slow_start.window" must be >= 0, got %s`, s.Window))
	}
	if s.MinWeightPercent < 0 || s.MinWeightPercent > 100 {
		errs = append(errs, fmt.Errorf(`"slow_start.min_weight_percent" must be between 0 and 100, got %d`, s.MinWeightPercent))
	}
	return errors.Join(errs...)
}

// router applies zone preference and slow start to endpoint selection. Its
// methods are called by endpointSet with its mutex held, except setup.
type router struct {
	zone          string
	minHealthy    int
	minHealthyPct int
	window        time.Duration
	minWeightPct  int

	// panic mirrors the discovery registry's panic mode: zones are then
	// ignored (guarded by endpointSet.mu).
	panic bool

	requests metric.Int64Counter
	attrs    map[string]metric.AddOption
	cands    []*endpoint // reused by candidates
}

// newRouter resolves the preferred zone and creates the locality counter.
func newRouter(z ZoneRoutingConfig, ss SlowStartConfig, mp metric.MeterProvider) (*router, error) {
	r := &router{
		zone: z.PreferZone, minHealthy: max(z.MinHealthy, 1), minHealthyPct: z.MinHealthyPercent,
		window: ss.Window, minWeightPct: ss.MinWeightPercent,
		attrs: map[string]metric.AddOption{},
	}
	if r.zone == "" {
		r.zone = os.Getenv(zoneEnv)
	}
	for _, l := range []string{localityLocal, localityRemote, localityNone} {
		r.attrs[l] = metric.WithAttributeSet(attribute.NewSet(attribute.String("locality", l)))
	}
	if mp == nil {
		return r, nil
	}
	c, err := mp.Meter(metadata.ScopeName).Int64Counter("otelcol_exporter_edge_zone_requests",
		metric.WithDescription("Requests sent, by the zone of their endpoint: local (the preferred zone), remote, or none (no preferred zone or an endpoint without zone)."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	r.requests = c
	return r, nil
}

// candidates returns the endpoints that may get the next request: the
// healthy endpoints of the preferred zone while at least min_healthy (and
// min_healthy_percent) of that zone's endpoints are healthy, else every
// healthy endpoint. Zones are ignored in panic mode.
func (r *router) candidates(eps []*endpoint, now time.Time) []*endpoint {
	r.cands = r.cands[:0]
	if r.zone != "" && !r.panic {
		inZone := 0
		for _, e := range eps {
			if e.zone != r.zone {
				continue
			}
			inZone++
			if e.healthy(now) {
				r.cands = append(r.cands, e)
			}
		}
		n := len(r.cands)
		if n > 0 && n >= r.minHealthy && n*100 >= r.minHealthyPct*inZone {
			return r.cands
		}
		r.cands = r.cands[:0]
	}
	for _, e := range eps {
		if e.healthy(now) {
			r.cands = append(r.cands, e)
		}
	}
	return r.cands
}

// weight is the endpoint's weight for the smooth round robin at now: during
// its slow start window it grows linearly from min_weight_percent to 100 %.
func (r *router) weight(e *endpoint, now time.Time) int {
	w := max(e.weight, 1)
	if r.window <= 0 {
		return w
	}
	full := w * slowStartScale
	age := now.Sub(e.admitted)
	if e.admitted.IsZero() || age >= r.window {
		return full
	}
	frac := float64(r.minWeightPct)/100 + (1-float64(r.minWeightPct)/100)*float64(max(age, 0))/float64(r.window)
	return max(int(float64(full)*frac), 1)
}

// count records the locality of a request sent to e.
func (r *router) count(e *endpoint) {
	if r.requests == nil || e == nil {
		return
	}
	l := localityNone
	switch {
	case r.zone == "" || e.zone == "":
	case e.zone == r.zone:
		l = localityLocal
	default:
		l = localityRemote
	}
	r.requests.Add(context.Background(), 1, r.attrs[l])
}

// setPanic records the discovery registry's panic mode.
func (s *endpointSet) setPanic(p bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.router != nil {
		s.router.panic = p
	}
}
