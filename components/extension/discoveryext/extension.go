// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

// startWait bounds how long Start waits for every source's first answer.
const startWait = 5 * time.Second

// resultQueue is the capacity of the queue of reported results. ReportResult
// never blocks: when the queue is full the result is dropped.
const resultQueue = 4096

var (
	_ discoveryapi.Registry = (*discovery)(nil)
	_ extension.Extension   = (*discovery)(nil)
)

// errShutdown is returned by Subscribe after Shutdown.
var errShutdown = errors.New("discovery extension is shut down")

// sourceUpdate is a source's new list (err == nil) or a failed refresh.
type sourceUpdate struct {
	source  string
	targets []target
	err     error
}

// checkResult is the outcome of an active health check.
type checkResult struct {
	id  string
	err error
}

// source reports endpoints until ctx is done.
type source interface {
	run(ctx context.Context, emit func(targets []target, err error))
}

// discovery is the extension: an event loop that owns the registry state,
// fed by one goroutine per source, the health checker and ReportResult, and
// publishing immutable snapshots to subscribers.
type discovery struct {
	cfg *Config
	set extension.Settings
	tb  *metadata.TelemetryBuilder
	now func() time.Time

	sources map[string]source
	probe   probeFunc

	snap atomic.Pointer[discoveryapi.Snapshot]
	subs subscribers

	updates chan sourceUpdate
	checks  chan checkResult
	results chan checkResult
	ready   chan struct{}

	host       component.Host
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	status     *http.Server
	statusAddr string
	dropped    atomic.Int64
}

func newDiscovery(cfg *Config, set extension.Settings) (*discovery, error) {
	d := &discovery{
		cfg:     cfg,
		set:     set,
		now:     time.Now,
		sources: map[string]source{},
		updates: make(chan sourceUpdate),
		checks:  make(chan checkResult),
		results: make(chan checkResult, resultQueue),
		ready:   make(chan struct{}),
	}
	d.snap.Store(&discoveryapi.Snapshot{Endpoints: []discoveryapi.Endpoint{}})
	for i := range cfg.Sources {
		sc := &cfg.Sources[i]
		switch {
		case sc.Static.HasValue():
			d.sources[sc.Name] = newStaticSource(sc.Static.Get())
		case sc.DNS.HasValue():
			s, err := newDNSSource(sc.DNS.Get())
			if err != nil {
				return nil, fmt.Errorf("sources[%d] (%s): %w", i, sc.Name, err)
			}
			d.sources[sc.Name] = s
		case sc.File.HasValue():
			d.sources[sc.Name] = newFileSource(sc.File.Get(), set.Logger.With(zap.String("source", sc.Name)))
		case sc.Kubernetes.HasValue():
			d.sources[sc.Name] = newKubernetesSource(sc.Kubernetes.Get(), set.Logger.With(zap.String("source", sc.Name)))
		}
	}
	if cfg.HealthCheck.Type != checkNone {
		p, err := newProbe(context.Background(), &cfg.HealthCheck)
		if err != nil {
			return nil, err
		}
		d.probe = p
	}
	return d, nil
}

// Start starts the sources, the health checker and the status server, and
// waits (boundedly) for every source's first answer so components that start
// after the extension see its endpoints.
func (d *discovery) Start(ctx context.Context, host component.Host) error {
	tb, err := metadata.NewTelemetryBuilder(d.set.TelemetrySettings)
	if err != nil {
		return err
	}
	d.tb = tb
	if err := d.registerCallbacks(); err != nil {
		return err
	}
	d.host = host

	if st := d.cfg.Status.Get(); st != nil {
		if err := d.startStatus(ctx, host, st); err != nil {
			return err
		}
	}

	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	st := newState(stateConfig{
		drainPeriod:        d.cfg.DrainPeriod,
		healthyThreshold:   d.cfg.HealthCheck.HealthyThreshold,
		unhealthyThreshold: d.cfg.HealthCheck.UnhealthyThreshold,
		outlier:            d.cfg.OutlierDetection,
		panicThreshold:     d.cfg.PanicThreshold,
		precedence:         d.cfg.sourcePrecedence(),
	})
	var checkerWake chan struct{}
	if d.probe != nil {
		checkerWake = make(chan struct{}, 1)
		c := newChecker(&d.cfg.HealthCheck, d.probe, d.snap.Load, checkerWake, d.checks)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			c.run(runCtx)
		}()
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.loop(runCtx, st, checkerWake)
	}()
	for name, src := range d.sources {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			src.run(runCtx, func(targets []target, err error) {
				select {
				case d.updates <- sourceUpdate{source: name, targets: targets, err: err}:
				case <-runCtx.Done():
				}
			})
		}()
	}

	t := time.NewTimer(startWait)
	defer t.Stop()
	select {
	case <-d.ready:
	case <-t.C:
		d.set.Logger.Warn("Not every discovery source answered in time; starting with the endpoints known so far", zap.Duration("waited", startWait))
	case <-ctx.Done():
	}
	return nil
}

// Shutdown stops every goroutine of the extension and its subscribers.
func (d *discovery) Shutdown(ctx context.Context) error {
	var errs []error
	if d.status != nil {
		errs = append(errs, d.status.Shutdown(ctx))
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	if n := d.dropped.Load(); n > 0 {
		d.set.Logger.Warn("Reported results dropped because the queue was full", zap.Int64("dropped", n))
	}
	errs = append(errs, d.subs.closeAll(ctx))
	if d.tb != nil {
		d.tb.Shutdown()
	}
	return errors.Join(errs...)
}

// Snapshot implements discoveryapi.Registry.
func (d *discovery) Snapshot() discoveryapi.Snapshot {
	return *d.snap.Load()
}

// Subscribe implements discoveryapi.Registry.
func (d *discovery) Subscribe(fn func(discoveryapi.Snapshot)) (func(), error) {
	return d.subs.add(fn, d.snap.Load)
}

// ReportResult implements discoveryapi.Registry. It never blocks.
func (d *discovery) ReportResult(endpointID string, err error) {
	select {
	case d.results <- checkResult{id: endpointID, err: err}:
	default:
		d.dropped.Add(1)
	}
}

// loop owns st: it applies every event and publishes a snapshot after each change.
func (d *discovery) loop(ctx context.Context, st *state, checkerWake chan struct{}) {
	pending := map[string]bool{}
	for name := range d.sources {
		pending[name] = true
	}
	if len(pending) == 0 {
		close(d.ready)
	}
	srcErrs := map[string]error{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if next := st.nextDeadline(); next.IsZero() {
			timer.Reset(time.Hour)
		} else {
			timer.Reset(max(next.Sub(d.now()), 0))
		}
		changed, ready := false, false
		select {
		case <-ctx.Done():
			return
		case u := <-d.updates:
			if pending[u.source] {
				delete(pending, u.source)
				// Start returns once every source answered and its
				// endpoints are published (below).
				ready = len(pending) == 0
			}
			if u.err != nil {
				d.tb.DiscoveryResolveErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("source", u.source)))
				d.set.Logger.Error("Discovery source failed, keeping its last good list of endpoints",
					zap.String("source", u.source), zap.Error(u.err))
			} else {
				changed = st.applySource(u.source, u.targets, d.now())
			}
			if (srcErrs[u.source] == nil) != (u.err == nil) {
				if u.err == nil {
					delete(srcErrs, u.source)
				} else {
					srcErrs[u.source] = u.err
				}
				d.reportSourceStatus(srcErrs)
			}
		case r := <-d.checks:
			changed = st.applyCheck(r.id, r.err, d.now())
		case r := <-d.results:
			changed = st.applyResult(r.id, r.err, d.now())
		case <-timer.C:
			changed = st.expire(d.now())
		}
		if changed {
			s := st.snapshot(d.now())
			d.snap.Store(&s)
			d.subs.notify()
			if checkerWake != nil {
				select {
				case checkerWake <- struct{}{}:
				default:
				}
			}
			d.recordEvents(ctx, st)
		}
		if ready {
			close(d.ready)
		}
	}
}

func (d *discovery) recordEvents(ctx context.Context, st *state) {
	transitions, ejections := st.takeEvents()
	for _, t := range transitions {
		d.tb.DiscoveryHealthTransitions.Add(ctx, 1, metric.WithAttributes(
			attribute.String("source", t.source), attribute.String("from", t.from.String()), attribute.String("to", t.to.String())))
	}
	for _, e := range ejections {
		d.tb.DiscoveryEjections.Add(ctx, 1, metric.WithAttributes(attribute.String("source", e.source)))
		d.set.Logger.Warn("Endpoint ejected after consecutive failed requests",
			zap.String("endpoint", e.id), zap.Time("until", e.until))
	}
}

// reportSourceStatus reports a recoverable error while any source fails.
func (d *discovery) reportSourceStatus(srcErrs map[string]error) {
	if d.host == nil {
		return
	}
	if len(srcErrs) == 0 {
		componentstatus.ReportStatus(d.host, componentstatus.NewEvent(componentstatus.StatusOK))
		return
	}
	names := make([]string, 0, len(srcErrs))
	for n := range srcErrs {
		names = append(names, n)
	}
	sort.Strings(names)
	msgs := make([]string, 0, len(names))
	for _, n := range names {
		msgs = append(msgs, fmt.Sprintf("source %s: %v", n, srcErrs[n]))
	}
	componentstatus.ReportStatus(d.host, componentstatus.NewRecoverableErrorEvent(
		fmt.Errorf("keeping last good endpoints: %s", strings.Join(msgs, "; "))))
}

func (d *discovery) registerCallbacks() error {
	return errors.Join(
		d.tb.RegisterDiscoveryEndpointsCallback(func(_ context.Context, o metric.Int64Observer) error {
			type key struct{ source, state string }
			counts := map[key]int64{}
			for _, e := range d.snap.Load().Endpoints {
				counts[key{e.Source, e.Health.String()}]++
			}
			for _, sc := range d.cfg.Sources {
				for _, h := range []discoveryapi.Health{discoveryapi.HealthUnknown, discoveryapi.HealthHealthy, discoveryapi.HealthUnhealthy, discoveryapi.HealthDraining} {
					o.Observe(counts[key{sc.Name, h.String()}], metric.WithAttributes(
						attribute.String("source", sc.Name), attribute.String("state", h.String())))
				}
			}
			return nil
		}),
		d.tb.RegisterDiscoveryPanicModeCallback(func(_ context.Context, o metric.Int64Observer) error {
			var v int64
			if d.snap.Load().Panic {
				v = 1
			}
			o.Observe(v)
			return nil
		}),
		d.tb.RegisterDiscoverySnapshotAgeCallback(func(_ context.Context, o metric.Float64Observer) error {
			if s := d.snap.Load(); !s.Time.IsZero() {
				o.Observe(d.now().Sub(s.Time).Seconds())
			}
			return nil
		}),
	)
}
