// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// probeFunc checks one address; nil means healthy. serverName, when not
// empty, is the name the endpoint's TLS certificate is verified against
// (unless tls.server_name_override is set).
type probeFunc func(ctx context.Context, addr, serverName string) error

// newProbe returns the probe of the configured check type.
func newProbe(ctx context.Context, cfg *HealthCheckConfig) (probeFunc, error) {
	var tlsCfg *tls.Config
	if cfg.Type == checkGRPC || cfg.Type == checkHTTP {
		var err error
		if tlsCfg, err = cfg.TLS.LoadTLSConfig(ctx); err != nil {
			return nil, fmt.Errorf("\"health_check.tls\": %w", err)
		}
	}
	withName := func(serverName string) *tls.Config {
		if tlsCfg == nil || serverName == "" || cfg.TLS.ServerName != "" {
			return tlsCfg
		}
		c := tlsCfg.Clone()
		c.ServerName = serverName
		return c
	}
	var p probeFunc
	switch cfg.Type {
	case checkGRPC:
		p = grpcProbe(cfg.GRPC.Service, withName)
	case checkHTTP:
		p = httpProbe(cfg.HTTP.Path, cfg.HTTP.ExpectedStatus, withName)
	default:
		p = tcpProbe
	}
	if cfg.Port == 0 {
		return p, nil
	}
	port := strconv.Itoa(cfg.Port)
	return func(ctx context.Context, addr, serverName string) error {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return err
		}
		return p(ctx, net.JoinHostPort(host, port), serverName)
	}, nil
}

func tcpProbe(ctx context.Context, addr, _ string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// httpProbe GETs path over HTTPS when TLS is configured, else plain HTTP. It
// does not follow redirects: a redirect is a status like any other, so a
// probe is never sent to a host other than the endpoint.
func httpProbe(path string, expected int, tlsFor func(serverName string) *tls.Config) probeFunc {
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// No keep-alive: a connection per check, nothing idle between checks. The
	// plain-text client is shared; a TLS one is per server name.
	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}, CheckRedirect: noRedirect}
	return func(ctx context.Context, addr, serverName string) error {
		scheme, client := "http://", plain
		if tc := tlsFor(serverName); tc != nil {
			scheme = "https://"
			client = &http.Client{
				Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil, TLSClientConfig: tc},
				CheckRedirect: noRedirect,
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+addr+path, http.NoBody)
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

func grpcProbe(service string, tlsFor func(serverName string) *tls.Config) probeFunc {
	return func(ctx context.Context, addr, serverName string) error {
		creds := insecure.NewCredentials()
		if tc := tlsFor(serverName); tc != nil {
			creds = credentials.NewTLS(tc)
		}
		conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
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
		addr       string
		serverName string
		next       time.Time
		inflight   bool
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
				jobs[e.ID] = &job{addr: e.Address, serverName: e.ServerName, next: now.Add(time.Duration(rand.Float64() * c.jitter * float64(c.interval)))}
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
					c.check(ctx, id, j.addr, j.serverName, done)
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

func (c *checker) check(ctx context.Context, id, addr, serverName string, done chan<- string) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	err := c.probe(cctx, addr, serverName)
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
