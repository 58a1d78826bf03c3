// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// tcpBackend accepts and closes connections until stopped.
type tcpBackend struct {
	ln   net.Listener
	done chan struct{}
}

func startTCPBackend(t *testing.T, addr string) *tcpBackend {
	t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(waitTimeout)
	for { // the port of a just closed listener can take a moment to be free
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, err)
	b := &tcpBackend{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *tcpBackend) stop() {
	_ = b.ln.Close()
	<-b.done
}

func TestHealthTCP(t *testing.T) {
	up := startTCPBackend(t, "127.0.0.1:0")
	upAddr := up.ln.Addr().String()
	down := closedAddr(t)
	cfg := fastConfig(staticSourceConfig("s", upAddr, down))
	cfg.HealthCheck.Type = checkTCP
	cfg.PanicThreshold = 0
	d := startExtension(t, cfg)

	snap := waitSnapshot(t, d, "first checks", hasStates(map[string]string{upAddr: "healthy", down: "unhealthy"}))
	assert.Contains(t, snap.Endpoints[indexOf(snap, down)].Reason, "health check failed")
	assert.Equal(t, []string{"s/" + upAddr}, ids(snap.Eligible()))

	// The backend dies: unhealthy after unhealthy_threshold (2) failed checks.
	up.stop()
	snap = waitSnapshot(t, d, "backend down", hasStates(map[string]string{upAddr: "unhealthy", down: "unhealthy"}))
	assert.Empty(t, snap.Eligible())

	// It comes back: healthy after healthy_threshold (2) passed checks.
	startTCPBackend(t, upAddr)
	waitSnapshot(t, d, "backend up", hasStates(map[string]string{upAddr: "healthy", down: "unhealthy"}))
}

func indexOf(s discoveryapi.Snapshot, addr string) int {
	for i, e := range s.Endpoints {
		if e.Address == addr {
			return i
		}
	}
	return -1
}

func TestHealthHTTP(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" || r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	cfg := fastConfig(staticSourceConfig("s", addr))
	cfg.HealthCheck.Type = checkHTTP
	cfg.HealthCheck.HTTP = HTTPCheckConfig{Path: "/health", ExpectedStatus: http.StatusOK}
	d := startExtension(t, cfg)
	waitSnapshot(t, d, "healthy", hasStates(map[string]string{addr: "healthy"}))

	status.Store(http.StatusServiceUnavailable)
	snap := waitSnapshot(t, d, "unhealthy", hasStates(map[string]string{addr: "unhealthy"}))
	assert.Contains(t, snap.Endpoints[0].Reason, "HTTP status 503, want 200")
	assert.True(t, snap.Panic, "no healthy endpoint: panic mode")
	assert.Len(t, snap.Eligible(), 1, "fail open")

	status.Store(http.StatusOK)
	snap = waitSnapshot(t, d, "healthy again", hasStates(map[string]string{addr: "healthy"}))
	assert.False(t, snap.Panic)
}

func TestHealthGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	hs := health.NewServer()
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(ln)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			gs.Stop()
			<-served
		}
	}
	defer stop()

	cfg := fastConfig(staticSourceConfig("s", addr))
	cfg.HealthCheck.Type = checkGRPC
	cfg.HealthCheck.GRPC.Service = "otlp"
	hs.SetServingStatus("otlp", healthpb.HealthCheckResponse_SERVING)
	d := startExtension(t, cfg)
	waitSnapshot(t, d, "serving", hasStates(map[string]string{addr: "healthy"}))

	hs.SetServingStatus("otlp", healthpb.HealthCheckResponse_NOT_SERVING)
	snap := waitSnapshot(t, d, "not serving", hasStates(map[string]string{addr: "unhealthy"}))
	assert.Contains(t, snap.Endpoints[0].Reason, "NOT_SERVING")

	hs.SetServingStatus("otlp", healthpb.HealthCheckResponse_SERVING)
	waitSnapshot(t, d, "serving again", hasStates(map[string]string{addr: "healthy"}))

	stop()
	waitSnapshot(t, d, "server gone", hasStates(map[string]string{addr: "unhealthy"}))
}

func TestHealthCheckPortOverride(t *testing.T) {
	b := startTCPBackend(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(b.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	cfg := &HealthCheckConfig{Type: checkTCP, Port: p}
	probe, err := newProbe(context.Background(), cfg)
	require.NoError(t, err)
	// The data port is closed; the health port is open.
	require.NoError(t, probe(context.Background(), "127.0.0.1:1", ""))
}

func TestCheckerConcurrencyBound(t *testing.T) {
	const endpoints, limit = 12, 3
	var running, peak atomic.Int32
	var mu sync.Mutex
	checked := map[string]int{}
	probe := func(ctx context.Context, addr, _ string) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		checked[addr]++
		mu.Unlock()
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	}
	snap := &discoveryapi.Snapshot{}
	for i := range endpoints {
		a := "127.0.0.1:" + strconv.Itoa(1000+i)
		snap.Endpoints = append(snap.Endpoints, discoveryapi.Endpoint{ID: "s/" + a, Address: a})
	}
	snap.Endpoints = append(snap.Endpoints, discoveryapi.Endpoint{ID: "s/draining", Address: "127.0.0.1:9", Health: discoveryapi.HealthDraining})
	results := make(chan checkResult)
	c := newChecker(&HealthCheckConfig{Interval: time.Hour, Timeout: time.Second, MaxConcurrent: limit},
		probe, func() *discoveryapi.Snapshot { return snap }, make(chan struct{}), results)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx)
	}()
	for range endpoints {
		select {
		case r := <-results:
			require.NoError(t, r.err)
		case <-time.After(waitTimeout):
			t.Fatal("timed out waiting for checks")
		}
	}
	cancel()
	<-done
	assert.LessOrEqual(t, peak.Load(), int32(limit))
	assert.Len(t, checked, endpoints, "every endpoint but the draining one checked once")
	assert.NotContains(t, checked, "127.0.0.1:9")
}

func TestCheckerJitter(t *testing.T) {
	c := &checker{jitter: 0.2}
	for range 100 {
		d := c.spread(time.Second)
		assert.GreaterOrEqual(t, d, 800*time.Millisecond)
		assert.LessOrEqual(t, d, 1200*time.Millisecond)
	}
	c.jitter = 0
	assert.Equal(t, time.Second, c.spread(time.Second))
}
