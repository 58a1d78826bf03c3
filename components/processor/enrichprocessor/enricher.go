// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadata"
	"github.com/otelcol-edge/otelcol-edge/components/resourceapi"
)

// Detector states, as reported by otelcol_processor_enrich_detector_state.
const (
	statePending     int64 = 0
	stateDetected    int64 = 1
	stateNotDetected int64 = 2
	stateFailing     int64 = 3
)

// snapshot is the immutable set of attributes from detectors and static
// configuration. The hot path loads it from an atomic pointer: no lock, no
// I/O.
type snapshot struct {
	entries []entry
}

// detectorRun is the state of one enabled detector. Its fields are written
// by the detector's goroutine and read, under enricher.mu, by the snapshot
// builder and the metric callbacks.
type detectorRun struct {
	d        detector
	disabled map[string]bool // attributes switched off

	state     int64
	result    map[string]value // last good result (filtered)
	lastError time.Time
	attrs     metric.MeasurementOption
}

// enricher holds everything the three signal processors of one component
// share: the detectors, the snapshot and the lookup tables.
type enricher struct {
	cfg    *Config
	set    processor.Settings
	logger *zap.Logger
	env    sysEnv
	tb     *metadata.TelemetryBuilder

	static  []entry
	runs    []*detectorRun
	lookups []*lookupTable

	toResource, toSpan, toLog, toDataPoint bool

	snap atomic.Pointer[snapshot]

	// wait_for handling: ready is closed when every detector finished its
	// first attempt; noWait turns true then or once the deadline passed.
	ready     chan struct{}
	readyOnce sync.Once
	pending   atomic.Int32
	noWait    atomic.Bool
	deadline  time.Time

	mu    sync.Mutex // guards detectorRun fields, hosts and failing
	hosts []component.Host

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// unsubscribe stops following the discovery registry (nil if unused).
	unsubscribe func()

	// pub hands the detected attributes to the extensions that report them
	// (resourceapi.Receiver, e.g. the opamp extension); guarded by mu.
	pub *resourceapi.Publisher

	signalAttrs map[string]metric.MeasurementOption
}

func newEnricher(cfg *Config, set processor.Settings) *enricher {
	e := &enricher{
		cfg:    cfg,
		set:    set,
		logger: set.Logger,
		env:    defaultSysEnv(),
		ready:  make(chan struct{}),
		signalAttrs: map[string]metric.MeasurementOption{
			"traces":  metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", "traces"))),
			"metrics": metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", "metrics"))),
			"logs":    metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", "logs"))),
		},
	}
	for _, t := range cfg.ApplyTo {
		switch t {
		case TargetResource:
			e.toResource = true
		case TargetSpan:
			e.toSpan = true
		case TargetLog:
			e.toLog = true
		case TargetDataPoint:
			e.toDataPoint = true
		}
	}
	for _, s := range cfg.Static {
		v, _ := staticValue(s.Value)
		e.static = append(e.static, entry{key: s.Key, val: v, act: parseAction(s.Action)})
	}
	e.snap.Store(&snapshot{entries: slices.Clone(e.static)})
	return e
}

// buildDetectors creates the enabled detectors in precedence order.
func (e *enricher) buildDetectors() {
	d := e.cfg.Detectors
	md := func(c CloudDetectorConfig) *metadataClient {
		if !c.MetadataService.Enabled {
			return nil
		}
		return newMetadataClient(c.MetadataService)
	}
	for _, name := range detectorOrder {
		var (
			det    detector
			common DetectorCommon
		)
		switch name {
		case detEnv:
			det, common = &envDetector{env: e.env}, d.Env.DetectorCommon
		case detKubernetes:
			det, common = &kubernetesDetector{env: e.env, cfg: d.Kubernetes}, d.Kubernetes.DetectorCommon
		case detAWS:
			det, common = &awsDetector{env: e.env, md: md(d.AWS)}, d.AWS.DetectorCommon
		case detGCP:
			det, common = &gcpDetector{env: e.env, md: md(d.GCP)}, d.GCP.DetectorCommon
		case detAzure:
			det, common = &azureDetector{env: e.env, md: md(d.Azure)}, d.Azure.DetectorCommon
		case detHost:
			det, common = &hostDetector{env: e.env, cfg: d.Host}, d.Host.DetectorCommon
		}
		if !common.Enabled {
			continue
		}
		disabled := map[string]bool{}
		for k, a := range common.ResourceAttributes {
			if !a.Enabled {
				disabled[k] = true
			}
		}
		e.runs = append(e.runs, &detectorRun{
			d:        det,
			disabled: disabled,
			state:    statePending,
			attrs:    metric.WithAttributeSet(attribute.NewSet(attribute.String("detector", name))),
		})
	}
}

// start loads the lookup tables (a table that cannot be loaded fails the
// start: it is configuration) and starts detection in the background. It
// never waits for a detector.
func (e *enricher) start(_ context.Context, host component.Host) error {
	tb, err := metadata.NewTelemetryBuilder(e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.tb = tb
	e.buildDetectors()

	for _, lc := range e.cfg.Lookups {
		lt, err := newLookupTable(lc, e.logger)
		if err != nil {
			return err
		}
		if err := lt.load(); err != nil {
			return fmt.Errorf("lookup table %q: %w", lt.name, err)
		}
		lt.onReload = func(ok bool) {
			result := "ok"
			if !ok {
				result = "error"
			}
			e.tb.ProcessorEnrichLookupReloads.Add(context.Background(), 1,
				metric.WithAttributes(attribute.String("table", lt.name), attribute.String("result", result)))
		}
		e.lookups = append(e.lookups, lt)
		e.logger.Info("Lookup table loaded", zap.String("table", lt.name), zap.Int("rows", len(lt.cur.Load().rows)))
	}

	err = errors.Join(
		tb.RegisterProcessorEnrichDetectorStateCallback(func(_ context.Context, o metric.Int64Observer) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, r := range e.runs {
				o.Observe(r.state, r.attrs)
			}
			return nil
		}),
		tb.RegisterProcessorEnrichDetectorLastErrorCallback(func(_ context.Context, o metric.Int64Observer) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, r := range e.runs {
				var ts int64
				if !r.lastError.IsZero() {
					ts = r.lastError.Unix()
				}
				o.Observe(ts, r.attrs)
			}
			return nil
		}),
	)
	if err != nil {
		return err
	}

	e.addHost(host)
	if host != nil {
		e.pub = resourceapi.NewPublisher(e.set.ID.String(), host.GetExtensions())
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.deadline = time.Now().Add(e.cfg.Detection.WaitFor)
	e.pending.Store(int32(len(e.runs)))
	if len(e.runs) == 0 {
		e.markReady()
	}
	for _, r := range e.runs {
		e.wg.Go(func() { e.runDetector(ctx, r) })
	}
	for _, lt := range e.lookups {
		lt.run(ctx, &e.wg)
	}
	if e.cfg.Registry.Extension != nil {
		if err := e.followRegistry(host); err != nil {
			cancel()
			e.wg.Wait()
			return err
		}
	}
	return nil
}

// addHost remembers a host to report component status to (one per pipeline
// sharing this enricher).
func (e *enricher) addHost(host component.Host) {
	if host == nil {
		return
	}
	e.mu.Lock()
	e.hosts = append(e.hosts, host)
	e.mu.Unlock()
}

// shutdown stops the detectors and watchers and waits for them.
func (e *enricher) shutdown(context.Context) error {
	if e.unsubscribe != nil {
		e.unsubscribe()
	}
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	e.mu.Lock()
	e.pub.Withdraw()
	e.mu.Unlock()
	if e.tb != nil {
		e.tb.Shutdown()
	}
	return nil
}

func (e *enricher) markReady() {
	e.readyOnce.Do(func() {
		close(e.ready)
		e.noWait.Store(true)
	})
}

// awaitDetection makes early data wait, when wait_for is set, until every
// detector finished its first attempt or the deadline passed.
func (e *enricher) awaitDetection(ctx context.Context) {
	if e.noWait.Load() {
		return
	}
	remaining := time.Until(e.deadline)
	if e.cfg.Detection.WaitFor <= 0 || remaining <= 0 {
		e.noWait.Store(true)
		return
	}
	t := time.NewTimer(remaining)
	defer t.Stop()
	select {
	case <-e.ready:
	case <-t.C:
		e.noWait.Store(true)
	case <-ctx.Done():
	}
}

// runDetector runs one detector until ctx is done: an attempt bounded by
// detection.timeout, then the refresh interval after a success or the
// backoff after a failure. A failure keeps the last good result.
func (e *enricher) runDetector(ctx context.Context, r *detectorRun) {
	retry := e.cfg.Detection.Retry
	failures := 0
	var firstFailure time.Time
	first := true
	for {
		actx, cancel := context.WithTimeout(ctx, e.cfg.Detection.Timeout)
		attrs, err := r.d.detect(actx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		e.record(r, attrs, err, failures == 0)
		if first {
			first = false
			if e.pending.Add(-1) == 0 {
				e.markReady()
			}
		}

		var wait time.Duration
		if err == nil {
			failures = 0
			wait = e.cfg.Detection.RefreshInterval
			if wait <= 0 {
				return
			}
		} else {
			if failures == 0 {
				firstFailure = time.Now()
			}
			failures++
			giveUp := !retry.Enabled || (retry.MaxElapsedTime > 0 && time.Since(firstFailure) > retry.MaxElapsedTime)
			if giveUp {
				wait = e.cfg.Detection.RefreshInterval
				failures = 0
				if wait <= 0 {
					return
				}
			} else {
				wait = backoff(retry.InitialInterval, retry.MaxInterval, retry.Multiplier, retry.RandomizationFactor, failures)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is the wait after the n-th consecutive failure (n >= 1).
func backoff(initial, maxInterval time.Duration, mult, jitter float64, n int) time.Duration {
	d := float64(initial)
	for i := 1; i < n && d < float64(maxInterval); i++ {
		d *= mult
	}
	d = min(d, float64(maxInterval))
	if jitter > 0 {
		d *= 1 - jitter + 2*jitter*rand.Float64()
	}
	return time.Duration(d)
}

// record stores the outcome of an attempt and rebuilds the snapshot.
func (e *enricher) record(r *detectorRun, attrs map[string]value, err error, firstInRow bool) {
	filtered := make(map[string]value, len(attrs))
	for k, v := range attrs {
		if !r.disabled[k] {
			filtered[k] = v
		}
	}
	e.mu.Lock()
	prev := r.state
	switch {
	case err != nil:
		r.state = stateFailing
		r.lastError = time.Now()
		if r.result == nil && len(filtered) > 0 {
			r.result = filtered // partial result until a good one
		}
	case attrs == nil:
		r.state = stateNotDetected
		r.result = nil
	default:
		r.state = stateDetected
		r.result = filtered
	}
	e.rebuildLocked()
	if e.pub.Receivers() > 0 { // most builds have none: do not build the set
		e.pub.Publish(e.detectedLocked())
	}
	anyFailing := false
	for _, o := range e.runs {
		anyFailing = anyFailing || o.state == stateFailing
	}
	hosts := slices.Clone(e.hosts)
	e.mu.Unlock()

	name := r.d.name()
	if err != nil {
		e.tb.ProcessorEnrichDetectorErrors.Add(context.Background(), 1, r.attrs)
		if firstInRow {
			e.logger.Warn("Detector failed; retrying in the background", zap.String("detector", name), zap.Error(err))
		} else {
			e.logger.Debug("Detector failed again", zap.String("detector", name), zap.Error(err))
		}
		for _, h := range hosts {
			componentstatus.ReportStatus(h, componentstatus.NewRecoverableErrorEvent(fmt.Errorf("detector %s: %w", name, err)))
		}
		return
	}
	if prev != r.state || prev == statePending {
		e.logger.Info("Detector finished", zap.String("detector", name),
			zap.Bool("detected", r.state == stateDetected), zap.Int("attributes", len(filtered)))
	}
	if prev == stateFailing && !anyFailing {
		for _, h := range hosts {
			componentstatus.ReportStatus(h, componentstatus.NewEvent(componentstatus.StatusOK))
		}
	}
}

// rebuildLocked merges static attributes and detector results into a new
// snapshot: static first, then detectors in precedence order; the first
// source of a key wins.
func (e *enricher) rebuildLocked() {
	act := parseAction(e.cfg.Detection.Action)
	entries := slices.Clone(e.static)
	seen := make(map[string]bool, len(entries))
	for _, s := range entries {
		seen[s.key] = true
	}
	for _, r := range e.runs {
		for _, k := range sortedKeys(r.result) {
			if seen[k] {
				continue
			}
			seen[k] = true
			entries = append(entries, entry{key: k, val: r.result[k], act: act})
		}
	}
	e.snap.Store(&snapshot{entries: entries})
}

// detectedLocked is what the detectors found (static attributes and lookup
// tables excluded), merged in precedence order as in the snapshot, as text:
// what is published to resourceapi receivers.
func (e *enricher) detectedLocked() map[string]string {
	out := map[string]string{}
	for _, r := range e.runs {
		for k, v := range r.result {
			if _, ok := out[k]; !ok {
				out[k] = v.String()
			}
		}
	}
	return out
}
