// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// resolvConf is where the default resolver is read from.
var resolvConf = "/etc/resolv.conf"

// dnsSource resolves A/AAAA or SRV records, re-resolving when the answer's TTL
// (bounded by min_ttl and max_ttl) or the fixed interval expires. A failed
// resolution keeps the last good list and is retried with a backoff from
// min_ttl to max_ttl. An empty answer (NXDOMAIN or no records) is a valid,
// empty list.
type dnsSource struct {
	name     string
	typ      string
	port     int
	resolver string
	interval time.Duration
	minTTL   time.Duration
	maxTTL   time.Duration
	maxEPs   int
	udp      *dns.Client
	tcp      *dns.Client
}

func newDNSSource(cfg *DNSConfig) (*dnsSource, error) {
	resolver := cfg.Resolver
	if resolver == "" {
		cc, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil || len(cc.Servers) == 0 {
			return nil, fmt.Errorf("no DNS resolver configured and none found in %s (set \"dns.resolver\"): %w", resolvConf, err)
		}
		resolver = net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = defaultDNSTimeout
	}
	minTTL, maxTTL := cfg.ttlBounds()
	maxEPs := cfg.MaxEndpoints
	if maxEPs == 0 {
		maxEPs = defaultMaxEndpoints
	}
	return &dnsSource{
		maxEPs:   maxEPs,
		name:     dns.Fqdn(cfg.Name),
		typ:      cfg.recordType(),
		port:     cfg.Port,
		resolver: resolver,
		interval: cfg.Interval,
		minTTL:   minTTL,
		maxTTL:   maxTTL,
		udp:      &dns.Client{Net: "udp", Timeout: timeout},
		tcp:      &dns.Client{Net: "tcp", Timeout: timeout},
	}, nil
}

func (s *dnsSource) run(ctx context.Context, emit func([]target, error)) {
	backoff := s.minTTL
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		targets, ttl, err := s.resolve(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		if err != nil {
			emit(nil, err)
			wait = backoff
			backoff = min(2*backoff, s.maxTTL)
		} else {
			emit(targets, nil)
			backoff = s.minTTL
			wait = s.interval
			if wait == 0 {
				wait = min(max(ttl, s.minTTL), s.maxTTL)
			}
		}
		timer.Reset(wait)
	}
}

// resolve returns the endpoints and the lowest TTL of the records used
// (0 when there were none).
func (s *dnsSource) resolve(ctx context.Context) ([]target, time.Duration, error) {
	ttl := uint32(0)
	seen := false
	lowest := func(t uint32) {
		if !seen || t < ttl {
			ttl, seen = t, true
		}
	}
	if s.typ != dnsSRV {
		ips, err := s.lookupIPs(ctx, s.name, nil, lowest)
		if err != nil {
			return nil, 0, err
		}
		if len(ips) > s.maxEPs {
			return nil, 0, s.tooMany(len(ips))
		}
		// The certificate of the endpoints is verified against the name
		// resolved, not against their addresses.
		serverName := strings.TrimSuffix(s.name, ".")
		targets := make([]target, 0, len(ips))
		for _, ip := range ips {
			targets = append(targets, target{Address: net.JoinHostPort(ip, strconv.Itoa(s.port)), ServerName: serverName, Weight: 1})
		}
		return targets, time.Duration(ttl) * time.Second, nil
	}

	msg, err := s.exchange(ctx, s.name, dns.TypeSRV)
	if err != nil {
		return nil, 0, err
	}
	var targets []target
	for _, rr := range msg.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok {
			continue
		}
		if len(targets) >= s.maxEPs {
			// Checked before resolving the next target: a huge answer
			// costs no more queries.
			return nil, 0, s.tooMany(len(targets) + 1)
		}
		lowest(srv.Hdr.Ttl)
		ips, err := s.lookupIPs(ctx, srv.Target, msg.Extra, lowest)
		if err != nil {
			return nil, 0, fmt.Errorf("SRV target %s: %w", srv.Target, err)
		}
		name := strings.TrimSuffix(srv.Target, ".")
		for _, ip := range ips {
			targets = append(targets, target{
				Address: net.JoinHostPort(ip, strconv.Itoa(int(srv.Port))),
				// TLS verifies the target's name (a pod's DNS name under a
				// headless Service), not the pod IP it resolved to.
				ServerName: name,
				Weight:     max(int(srv.Weight), 1),
				Priority:   int(srv.Priority),
				Metadata:   map[string]string{"target": name},
			})
		}
	}
	if len(targets) > s.maxEPs {
		return nil, 0, s.tooMany(len(targets))
	}
	return targets, time.Duration(ttl) * time.Second, nil
}

// tooMany is the error of an answer with more than max_endpoints endpoints.
func (s *dnsSource) tooMany(n int) error {
	return fmt.Errorf("%s: at least %d endpoints, more than \"max_endpoints\" (%d)", strings.TrimSuffix(s.name, "."), n, s.maxEPs)
}

// lookupIPs returns the addresses of name for the source's record type, from
// extra (the additional section of an SRV answer) when it has them.
func (s *dnsSource) lookupIPs(ctx context.Context, name string, extra []dns.RR, lowest func(uint32)) ([]string, error) {
	name = dns.Fqdn(name)
	var ips []string
	collect := func(rrs []dns.RR) {
		for _, rr := range rrs {
			if !strings.EqualFold(rr.Header().Name, name) {
				continue
			}
			switch r := rr.(type) {
			case *dns.A:
				if s.typ != dnsAAAA {
					ips = append(ips, r.A.String())
					lowest(r.Hdr.Ttl)
				}
			case *dns.AAAA:
				if s.typ != dnsA {
					ips = append(ips, r.AAAA.String())
					lowest(r.Hdr.Ttl)
				}
			}
		}
	}
	collect(extra)
	if len(ips) > 0 {
		return ips, nil
	}
	var qtypes []uint16
	switch s.typ {
	case dnsA:
		qtypes = []uint16{dns.TypeA}
	case dnsAAAA:
		qtypes = []uint16{dns.TypeAAAA}
	default: // ip, and SRV targets
		qtypes = []uint16{dns.TypeA, dns.TypeAAAA}
	}
	for _, qt := range qtypes {
		msg, err := s.exchange(ctx, name, qt)
		if err != nil {
			return nil, err
		}
		collect(msg.Answer)
	}
	return ips, nil
}

// errDNS is wrapped by failed DNS answers (SERVFAIL, REFUSED...).
var errDNS = errors.New("DNS error")

// exchange sends one query over UDP, over TCP when the answer is truncated.
// NXDOMAIN is an empty answer, not an error.
func (s *dnsSource) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	q.SetEdns0(4096, false)
	in, _, err := s.udp.ExchangeContext(ctx, q, s.resolver)
	if err == nil && in.Truncated {
		in, _, err = s.tcp.ExchangeContext(ctx, q, s.resolver)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s %s at %s: %w", dns.TypeToString[qtype], name, s.resolver, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return in, nil
	default:
		return nil, fmt.Errorf("query %s %s at %s: %w: %s", dns.TypeToString[qtype], name, s.resolver, errDNS, dns.RcodeToString[in.Rcode])
	}
}
