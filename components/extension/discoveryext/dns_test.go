// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

// dnsServer is a real DNS server on 127.0.0.1 whose answers the test changes.
type dnsServer struct {
	addr string

	mu      sync.Mutex
	records map[string][]string // "name type" -> RR text
	rcode   int
	queries int
}

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &dnsServer{addr: pc.LocalAddr().String(), records: map[string][]string{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return s
}

// set replaces the answers to name/qtype with rrs (zone-file syntax).
func (s *dnsServer) set(name string, qtype uint16, rrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[dns.Fqdn(name)+" "+dns.TypeToString[qtype]] = rrs
}

// del removes the answers to name/qtype: the server answers NXDOMAIN.
func (s *dnsServer) del(name string, qtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, dns.Fqdn(name)+" "+dns.TypeToString[qtype])
}

func (s *dnsServer) setRcode(rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode = rcode
}

func (s *dnsServer) queryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func (s *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	if s.rcode != dns.RcodeSuccess {
		m.Rcode = s.rcode
		_ = w.WriteMsg(m)
		return
	}
	rrs, ok := s.records[q.Name+" "+dns.TypeToString[q.Qtype]]
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	for _, text := range rrs {
		rr, err := dns.NewRR(text)
		if err == nil {
			m.Answer = append(m.Answer, rr)
		}
	}
	_ = w.WriteMsg(m)
}

func dnsSourceConfig(name string, d DNSConfig) SourceConfig {
	return SourceConfig{Name: name, DNS: configoptional.Some(d)}
}

func TestDNSSourceA(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("gw.test", dns.TypeA, "gw.test. 1 IN A 127.0.0.1", "gw.test. 1 IN A 127.0.0.2")
	cfg := fastConfig(dnsSourceConfig("gw", DNSConfig{
		Name: "gw.test", Type: "a", Port: 4317, Resolver: srv.addr, MinTTL: 20 * time.Millisecond, MaxTTL: 50 * time.Millisecond,
	}))
	d := startExtension(t, cfg)

	// Start waits for the first answer.
	snap := d.Snapshot()
	require.Equal(t, map[string]string{"127.0.0.1:4317": "unknown", "127.0.0.2:4317": "unknown"}, states(snap))
	assert.Equal(t, "gw/127.0.0.1:4317", snap.Endpoints[0].ID)
	assert.Equal(t, "gw.test", snap.Endpoints[0].ServerName, "the name resolved is the TLS server name")

	// The answer changes: .2 drains then goes, .3 arrives.
	srv.set("gw.test", dns.TypeA, "gw.test. 1 IN A 127.0.0.1", "gw.test. 1 IN A 127.0.0.3")
	waitSnapshot(t, d, "127.0.0.2 draining", hasStates(map[string]string{
		"127.0.0.1:4317": "unknown", "127.0.0.2:4317": "draining", "127.0.0.3:4317": "unknown",
	}))
	waitSnapshot(t, d, "127.0.0.2 gone", hasStates(map[string]string{"127.0.0.1:4317": "unknown", "127.0.0.3:4317": "unknown"}))

	// SERVFAIL: the last good list stays.
	srv.setRcode(dns.RcodeServerFailure)
	n := srv.queryCount()
	waitSnapshot(t, d, "retries", func(discoveryapi.Snapshot) bool { return srv.queryCount() > n+2 })
	assert.Equal(t, map[string]string{"127.0.0.1:4317": "unknown", "127.0.0.3:4317": "unknown"}, states(d.Snapshot()))

	// NXDOMAIN is an answer: the list becomes empty (after draining).
	srv.setRcode(dns.RcodeSuccess)
	srv.del("gw.test", dns.TypeA)
	waitSnapshot(t, d, "empty", hasStates(map[string]string{}))
}

func TestDNSSourceSRV(t *testing.T) {
	srv := newDNSServer(t)
	const name = "_otlp._tcp.gateway.observability.svc.cluster.local"
	srv.set(name, dns.TypeSRV,
		name+". 5 IN SRV 0 30 4317 gw-0.test.",
		name+". 5 IN SRV 0 10 4318 gw-1.test.",
		name+". 5 IN SRV 1 0 4319 gw-2.test.")
	srv.set("gw-0.test", dns.TypeA, "gw-0.test. 5 IN A 127.0.0.10")
	srv.set("gw-1.test", dns.TypeA, "gw-1.test. 5 IN A 127.0.0.11")
	srv.set("gw-1.test", dns.TypeAAAA, "gw-1.test. 5 IN AAAA ::1")
	srv.set("gw-2.test", dns.TypeA, "gw-2.test. 5 IN A 127.0.0.12")

	// The TTL (5s) is clamped to max_ttl (40ms).
	cfg := fastConfig(dnsSourceConfig("k8s", DNSConfig{Name: name, Resolver: srv.addr, MinTTL: 10 * time.Millisecond, MaxTTL: 40 * time.Millisecond}))
	d := startExtension(t, cfg)
	snap := d.Snapshot()
	byAddr := map[string]discoveryapi.Endpoint{}
	for _, e := range snap.Endpoints {
		byAddr[e.Address] = e
	}
	require.Len(t, byAddr, 4, "%+v", snap.Endpoints)
	assert.Equal(t, 30, byAddr["127.0.0.10:4317"].Weight)
	assert.Equal(t, 0, byAddr["127.0.0.10:4317"].Priority)
	assert.Equal(t, "gw-0.test", byAddr["127.0.0.10:4317"].Metadata["target"])
	// TLS verifies the SRV target's name, not the address it resolved to.
	assert.Equal(t, "gw-0.test", byAddr["127.0.0.10:4317"].ServerName)
	assert.Equal(t, "gw-1.test", byAddr["[::1]:4318"].ServerName)
	assert.Equal(t, 10, byAddr["[::1]:4318"].Weight)
	assert.Equal(t, 1, byAddr["127.0.0.12:4319"].Weight, "SRV weight 0 becomes 1")
	assert.Equal(t, 1, byAddr["127.0.0.12:4319"].Priority)
	assert.Equal(t, "127.0.0.10:4317", snap.Eligible()[0].Address)

	// A pod moves and the weights change.
	srv.set(name, dns.TypeSRV,
		name+". 5 IN SRV 0 50 4317 gw-0.test.",
		name+". 5 IN SRV 0 10 4317 gw-3.test.")
	srv.set("gw-3.test", dns.TypeA, "gw-3.test. 5 IN A 127.0.0.13")
	waitSnapshot(t, d, "new SRV answer", func(s discoveryapi.Snapshot) bool {
		st := states(s)
		return len(st) == 2 && st["127.0.0.13:4317"] == "unknown" && s.Endpoints[0].Weight == 50
	})

	// A target that cannot be resolved fails the refresh: the list stays.
	srv.set(name, dns.TypeSRV, name+". 5 IN SRV 0 50 4317 gw-9.test.")
	srv.setRcode(dns.RcodeRefused)
	n := srv.queryCount()
	waitSnapshot(t, d, "retries", func(discoveryapi.Snapshot) bool { return srv.queryCount() > n+2 })
	assert.Len(t, d.Snapshot().Endpoints, 2)
}

func TestDNSSourceTTL(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("gw.test", dns.TypeA, "gw.test. 0 IN A 127.0.0.1")
	// TTL 0 is raised to min_ttl: 100ms gives at most a handful of queries in 350ms.
	s, err := newDNSSource(&DNSConfig{Name: "gw.test", Type: "a", Port: 1, Resolver: srv.addr, MinTTL: 100 * time.Millisecond, MaxTTL: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	defer cancel()
	var mu sync.Mutex
	emits := 0
	s.run(ctx, func([]target, error) {
		mu.Lock()
		emits++
		mu.Unlock()
	})
	assert.GreaterOrEqual(t, emits, 2)
	assert.LessOrEqual(t, emits, 5)

	// A fixed interval ignores the TTL.
	s2, err := newDNSSource(&DNSConfig{Name: "gw.test", Type: "ip", Port: 1, Resolver: srv.addr, Interval: time.Hour})
	require.NoError(t, err)
	targets, ttl, err := s2.resolve(context.Background())
	require.NoError(t, err)
	assert.Equal(t, time.Duration(0), ttl)
	assert.Len(t, targets, 1)
}

func TestDNSResolverFromResolvConf(t *testing.T) {
	f := t.TempDir() + "/resolv.conf"
	require.NoError(t, writeFile(f, "nameserver 127.0.0.53\n"))
	old := resolvConf
	resolvConf = f
	defer func() { resolvConf = old }()
	s, err := newDNSSource(&DNSConfig{Name: "x.test", Port: 1})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.53:53", s.resolver)
	resolvConf = f + ".missing"
	_, err = newDNSSource(&DNSConfig{Name: "x.test", Port: 1})
	require.ErrorContains(t, err, "dns.resolver")
}

// TestDNSSourceMaxEndpoints: an answer with more endpoints than max_endpoints
// is an error naming the name and the cap, and the last good list stays; SRV
// targets beyond the cap are not even resolved.
func TestDNSSourceMaxEndpoints(t *testing.T) {
	srv := newDNSServer(t)
	const name = "_otlp._tcp.gw.test"
	srv.set(name, dns.TypeSRV, name+". 1 IN SRV 0 1 4317 gw-0.test.", name+". 1 IN SRV 0 1 4317 gw-1.test.")
	for i := range 5 {
		host := fmt.Sprintf("gw-%d.test", i)
		srv.set(host, dns.TypeA, fmt.Sprintf("%s. 1 IN A 127.0.0.%d", host, 10+i))
	}
	srv.set("a.test", dns.TypeA, "a.test. 1 IN A 127.0.0.1", "a.test. 1 IN A 127.0.0.2")

	core, logs := observer.New(zap.InfoLevel)
	set := extensiontest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	cfg := fastConfig(
		dnsSourceConfig("srv", DNSConfig{Name: name, Resolver: srv.addr, MinTTL: 10 * time.Millisecond, MaxTTL: 20 * time.Millisecond, MaxEndpoints: 2}),
		dnsSourceConfig("a", DNSConfig{Name: "a.test", Type: "a", Port: 4317, Resolver: srv.addr, MinTTL: 10 * time.Millisecond, MaxTTL: 20 * time.Millisecond, MaxEndpoints: 2}),
	)
	d := startExtensionWith(t, cfg, set)
	good := map[string]string{"127.0.0.10:4317": "unknown", "127.0.0.11:4317": "unknown", "127.0.0.1:4317": "unknown", "127.0.0.2:4317": "unknown"}
	require.Equal(t, good, states(d.Snapshot()))

	srv.set(name, dns.TypeSRV,
		name+". 1 IN SRV 0 1 4317 gw-0.test.", name+". 1 IN SRV 0 1 4317 gw-2.test.",
		name+". 1 IN SRV 0 1 4317 gw-3.test.", name+". 1 IN SRV 0 1 4317 gw-4.test.")
	srv.set("a.test", dns.TypeA, "a.test. 1 IN A 127.0.0.1", "a.test. 1 IN A 127.0.0.3", "a.test. 1 IN A 127.0.0.4")
	for _, want := range []string{
		`gw.test: at least 3 endpoints, more than "max_endpoints" (2)`,
		`a.test: at least 3 endpoints, more than "max_endpoints" (2)`,
	} {
		waitSnapshot(t, d, want, func(discoveryapi.Snapshot) bool {
			for _, e := range logs.FilterMessageSnippet("keeping its last good list").All() {
				if strings.Contains(fmt.Sprint(e.ContextMap()["error"]), want) {
					return true
				}
			}
			return false
		})
	}
	assert.Equal(t, good, states(d.Snapshot()), "the last good lists stay")
}
