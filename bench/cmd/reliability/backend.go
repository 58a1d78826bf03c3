// SPDX-License-Identifier: Apache-2.0

package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

// pair is ours and the anchor run side by side, each with its own sink, so
// that both see the same backend behaviour at the same time.
type pair struct {
	labels  [2]string
	anchor  [2]bool
	sinks   [2]*sink.Sink
	insts   [2]*instance
	tracks  [2]*tracker
	results [2]*row
}

func (h *harness) newPair(ctx context.Context) (*pair, error) {
	p := &pair{labels: [2]string{labelOurs, labelAnchor}, anchor: [2]bool{false, true}}
	for i := range 2 {
		sk, port, err := newSink(true)
		if err != nil {
			p.close()
			return nil, err
		}
		p.sinks[i] = sk
		in, err := h.newInstance(p.labels[i], p.anchor[i], port, "")
		if err != nil {
			p.close()
			return nil, err
		}
		p.insts[i] = in
		p.tracks[i] = h.newTracker()
		p.results[i] = newRow(p.labels[i])
	}
	return p, nil
}

func (p *pair) close() {
	for i := range 2 {
		if p.insts[i] != nil {
			p.insts[i].close()
		}
		if p.sinks[i] != nil {
			p.sinks[i].Stop()
		}
	}
}

// each runs fn for ours and the anchor concurrently.
func (p *pair) each(fn func(i int)) {
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

// runFlapping is R3: the backend goes up and down every few seconds while a
// moderate fixed load is sent; afterwards it stays up and the backlog must
// arrive, once.
func (h *harness) runFlapping(ctx context.Context) error {
	s := &scenario{
		id:        "R3",
		title:     "flapping backend",
		extraCols: []string{"backend down phases", "drain s"},
	}
	s.setup = fmt.Sprintf("Ours and the anchor run at the same time, each with its own sink, both at %.0f spans/s for %s. "+
		"The sinks go down and up together on one random schedule (phases of %s to %s, seed %d); going down is abrupt "+
		"(listener and connections closed, requests in flight fail: a request the sink counted may still look failed to the collector, "+
		"so duplicates are legitimate at-least-once behaviour). Afterwards the sinks stay up and the drain is awaited. Configs unchanged.",
		h.o.flapRate, h.o.flapDuration, h.o.flapMin, h.o.flapMax, h.o.seed)
	h.rep.add(s)
	p, err := h.newPair(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	var startErr [2]error
	p.each(func(i int) {
		if err := p.sinks[i].Start(); err != nil {
			startErr[i] = err
			return
		}
		startErr[i] = p.insts[i].start(ctx, 60*time.Second)
	})
	for _, err := range startErr {
		if err != nil {
			return err
		}
	}
	// The schedule.
	rng := rand.New(rand.NewSource(h.o.seed))
	flapCtx, cancel := context.WithTimeout(ctx, h.o.flapDuration)
	defer cancel()
	downs := 0
	flapDone := make(chan struct{})
	go func() {
		defer close(flapDone)
		up := true
		for {
			d := h.o.flapMin + time.Duration(rng.Int63n(int64(h.o.flapMax-h.o.flapMin)+1))
			select {
			case <-flapCtx.Done():
				return
			case <-time.After(d):
			}
			if up {
				for _, sk := range p.sinks {
					sk.Kill()
				}
				downs++
			} else {
				for _, sk := range p.sinks {
					_ = sk.Start()
				}
			}
			up = !up
		}
	}()
	var lerr [2]error
	var accepted [2]int64
	p.each(func(i int) {
		lr, err := h.load(ctx, loadSpec{addr: p.insts[i].inAddr(), rate: h.o.flapRate, dur: h.o.flapDuration, track: p.tracks[i]})
		lerr[i], accepted[i] = err, lr.Accepted
	})
	<-flapDone
	for _, sk := range p.sinks {
		if !sk.Running() {
			if err := sk.Start(); err != nil {
				return err
			}
		}
	}
	h.logf("R3: load done (%d / %d acknowledged), %d down phases; draining", accepted[0], accepted[1], downs)
	p.each(func(i int) {
		r := p.results[i]
		if lerr[i] != nil {
			r.note("load failed: " + lerr[i].Error())
		}
		all, drain := h.waitDrain(ctx, p.sinks[i], p.tracks[i], h.o.drainIdle, h.o.drainMax)
		if all {
			time.Sleep(2 * time.Second) // let late duplicates show
		} else {
			r.note(fmt.Sprintf("drain incomplete after %.0f s", drain.Seconds()))
		}
		o := p.tracks[i].outcome(p.sinks[i])
		r.fromOutcome(o)
		r.maxDisk = p.insts[i].maxDisk.Load()
		r.extra["backend down phases"] = fmt.Sprintf("%d", downs)
		r.extra["drain s"] = fmt.Sprintf("%.1f", drain.Seconds())
		if !p.insts[i].alive() {
			r.note(fmt.Sprintf("collector exited: %v", p.insts[i].proc.ExitError()))
		}
		r.note(p.insts[i].metricNote(ctx, collectorMetrics(p.anchor[i])...))
		for _, l := range p.insts[i].logLines(2, "Dropping", "dropped", "panic") {
			r.note("log: " + l)
		}
		r.verdict = verdictLoss(o)
	})
	s.rows = append(s.rows, p.results[0], p.results[1])
	for i := range 2 {
		h.logf("  %s: sent %d received %d lost %d dup %d", p.labels[i], p.results[i].sent, p.results[i].received, p.results[i].lost, p.results[i].dup)
	}
	return nil
}

// runPermanentErrors is R5: the backend answers every n-th request with
// InvalidArgument (a permanent error). Those spans are lost by design; the
// question is whether the collector counts every one of them.
func (h *harness) runPermanentErrors(ctx context.Context) error {
	s := &scenario{
		id:        "R5",
		title:     "backend answering permanent errors for some requests",
		extraCols: []string{"rejected by the backend (spans)", "counted by the collector", "counted == lost"},
	}
	s.setup = fmt.Sprintf("Ours and the anchor at the same time, each with its own sink, %.0f spans/s for %s. Each sink answers every %d-th export "+
		"request it receives with gRPC InvalidArgument (a permanent error: no retry) and does not count its spans. "+
		"Lost spans must equal the spans the backend rejected, and the collector must count them: ours "+
		"`otelcol_exporter_edge_items_dropped{reason=\"dead_letter\"}` (the requests also go to deadletter.log), the anchor "+
		"`otelcol_exporter_send_failed_spans`.", h.o.errorRate, h.o.errorDuration, h.o.errorEvery)
	h.rep.add(s)
	p, err := h.newPair(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	var errs [2]error
	p.each(func(i int) {
		p.sinks[i].FailEvery(h.o.errorEvery, codes.InvalidArgument)
		if err := p.sinks[i].Start(); err != nil {
			errs[i] = err
			return
		}
		if err := p.insts[i].start(ctx, 60*time.Second); err != nil {
			errs[i] = err
			return
		}
		lr, err := h.load(ctx, loadSpec{addr: p.insts[i].inAddr(), rate: h.o.errorRate, dur: h.o.errorDuration, track: p.tracks[i]})
		if err != nil {
			errs[i] = err
			return
		}
		sk := p.sinks[i]
		// Wait until received + rejected covers what was acknowledged, or idle.
		idle := 15 * time.Second
		deadline := time.Now().Add(h.o.drainMax)
		last, lastChange := int64(-1), time.Now()
		for time.Now().Before(deadline) && ctx.Err() == nil {
			n := sk.Spans() + sk.FailedSpans()
			if n >= lr.Accepted {
				break
			}
			if n != last {
				last, lastChange = n, time.Now()
			}
			if time.Since(lastChange) > idle {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // metrics settle
		r := p.results[i]
		o := p.tracks[i].outcome(sk)
		r.fromOutcome(o)
		r.maxDisk = p.insts[i].maxDisk.Load()
		r.extra["rejected by the backend (spans)"] = fmt.Sprintf("%d in %d requests", sk.FailedSpans(), sk.FailedRequests())
		samples, err := scrape(ctx, p.insts[i].metricsURL())
		counted := float64(-1)
		if err == nil {
			if p.anchor[i] {
				counted, _ = metricSum(samples, mAnchorSendFailed.name, nil)
			} else {
				counted, _ = metricSum(samples, "otelcol_exporter_edge_items_dropped", map[string]string{"reason": "dead_letter"})
			}
		} else {
			r.note("metrics not scraped: " + err.Error())
		}
		r.extra["counted by the collector"] = fmt.Sprintf("%.0f", counted)
		ok := int64(counted) == o.lost && o.lost == sk.FailedSpans()
		r.extra["counted == lost"] = map[bool]string{true: "yes", false: "NO"}[ok]
		r.note(p.insts[i].metricNote(ctx, collectorMetrics(p.anchor[i])...))
		for _, l := range p.insts[i].logLines(1, "InvalidArgument", "Permanent", "permanent", "dead") {
			r.note("log: " + l)
		}
		switch {
		case ok:
			r.verdict = fmt.Sprintf("every lost span counted (%d)", o.lost)
		default:
			r.verdict = fmt.Sprintf("MISCOUNT: lost %d, backend rejected %d, counted %.0f", o.lost, sk.FailedSpans(), counted)
		}
	})
	for i := range 2 {
		if errs[i] != nil {
			p.results[i].failed(errs[i])
		}
		h.logf("  %s: sent %d received %d lost %d counted %s", p.labels[i], p.results[i].sent, p.results[i].received, p.results[i].lost, p.results[i].extra["counted by the collector"])
	}
	s.rows = append(s.rows, p.results[0], p.results[1])
	return nil
}
