// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// probeFunc checks one address; nil means healthy.
type probeFunc func(ctx context.Context, addr string) error

// newProbe returns the probe of the configured check type.
func newProbe(cfg *HealthCheckConfig) probeFunc {
	var p probeFunc
	switch cfg.Type {
	case checkGRPC:
		p = grpcProbe(cfg.GRPC.Service)
	case checkHTTP:
		p = httpProbe(cfg.HTTP.Path, cfg.HTTP.ExpectedStatus)
	default:
		p = tcpProbe
	}
	if cfg.Port == 0 {
		return p
	}
	port := strconv.Itoa(cfg.Port)
	return func(ctx context.Context, addr string) error {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return err
		}
		return p(ctx, net.JoinHostPort(host, port))
	}
}

func tcpProbe(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func httpProbe(path string, expected int) probeFunc {
	// No keep-alive: a connection per check, nothing idle between checks.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	return func(ctx context.Context, addr string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, http.NoBody)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode != expected {
			return fmt.Errorf("HTTP status %d, want %d", resp.StatusCode, expected)
		}
		return nil
	}
}

func grpcProbe(service string) probeFunc {
	return func(ctx context.Context, addr string) error {
		conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return err
		}
		if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("gRPC health status %s", s)
		}
		return nil
	}
}

// checker schedules active health checks of the endpoints of the latest
// snapshot (draining ones excluded): each endpoint every interval ± jitter,
// at most one check per endpoint at a time and at most max_concurrent in all.
type checker struct {
	interval time.Duration
	timeout  time.Duration
	jitter   float64
	probe    probeFunc
	snapshot func() *discoveryapi.Snapshot
	wake     <-chan struct{}
	results  chan<- checkResult
	sem      chan struct{}
}

func newChecker(cfg *HealthCheckConfig, probe probeFunc, snapshot func() *discoveryapi.Snapshot, wake <-chan struct{}, results chan<- checkResult) *checker {
	return &checker{
		interval: cfg.Interval, timeout: cfg.Timeout, jitter: cfg.Jitter,
		probe: probe, snapshot: snapshot, wake: wake, results: results,
		sem: make(chan struct{}, cfg.MaxConcurrent),
	}
}

// spread returns d ± jitter*d at random.
func (c *checker) spread(d time.Duration) time.Duration {
	if c.jitter == 0 {
		return d
	}
	j := c.jitter * float64(d)
	return d + time.Duration((rand.Float64()*2-1)*j)
}

func (c *checker) run(ctx context.Context) {
	type job struct {
		addr     string
		next     time.Time
		inflight bool
	}
	jobs := map[string]*job{}
	done := make(chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		// Follow the endpoint list.
		present := map[string]bool{}
		for _, e := range c.snapshot().Endpoints {
			if e.Health == discoveryapi.HealthDraining {
				continue
			}
			present[e.ID] = true
			if _, ok := jobs[e.ID]; !ok {
				// The first check comes at once, spread by the jitter only.
				jobs[e.ID] = &job{addr: e.Address, next: now.Add(time.Duration(rand.Float64() * c.jitter * float64(c.interval)))}
			}
		}
		// Start the checks that are due and find the next one.
		var next time.Time
		for id, j := range jobs {
			if !present[id] && !j.inflight {
				delete(jobs, id)
				continue
			}
			if j.inflight || !present[id] {
				continue
			}
			if !j.next.After(now) {
				j.inflight = true
				j.next = now.Add(c.spread(c.interval))
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.check(ctx, id, j.addr, done)
				}()
				continue
			}
			if next.IsZero() || j.next.Before(next) {
				next = j.next
			}
		}
		if next.IsZero() {
			timer.Reset(time.Hour)
		} else {
			timer.Reset(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case id := <-done:
			if j, ok := jobs[id]; ok {
				j.inflight = false
			}
		case <-timer.C:
		}
	}
}

func (c *checker) check(ctx context.Context, id, addr string, done chan<- string) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	err := c.probe(cctx, addr)
	cancel()
	<-c.sem
	if ctx.Err() != nil {
		return
	}
	select {
	case c.results <- checkResult{id: id, err: err}:
	case <-ctx.Done():
		return
	}
	select {
	case done <- id:
	case <-ctx.Done():
	}
}
