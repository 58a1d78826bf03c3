// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"net"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// plaintextTargets lists what the exporter sends to without TLS although it
// is not on this machine: each static endpoint that is dialled in plain text
// and whose host is not a loopback address, or, with discovery without TLS,
// the discovery extension's ID (its endpoints are only known at run time). Plain text is an explicit choice (grpc.tls.insecure: true, or an
// http:// URL with protocol http); start logs it so it is never silent.
func plaintextTargets(cfg *Config) []string {
	if cfg.Discovery != nil {
		plain := grpcPlaintext(cfg, "")
		if cfg.Protocol == ProtocolHTTP {
			plain = discoveryScheme(cfg) == "http"
		}
		if plain {
			return []string{cfg.Discovery.String()}
		}
		return nil
	}
	var out []string
	for _, ep := range cfg.Endpoints {
		plain := grpcPlaintext(cfg, ep)
		if cfg.Protocol == ProtocolHTTP {
			plain = strings.HasPrefix(strings.ToLower(ep), "http://")
		}
		if plain && !isLocalEndpoint(ep) {
			out = append(out, ep)
		}
	}
	return out
}

// grpcPlaintext reports whether configgrpc dials endpoint without TLS:
// tls.insecure set, no CA configured and no https:// prefix.
func grpcPlaintext(cfg *Config, endpoint string) bool {
	return tlsPlain(cfg.GRPC.TLS) && !strings.HasPrefix(strings.ToLower(endpoint), "https://")
}

// isLocalEndpoint reports whether an endpoint (host:port, a URL, a gRPC
// target such as dns:///host:port, or a Unix socket) stays on this machine.
func isLocalEndpoint(endpoint string) bool {
	s := endpoint
	if strings.HasPrefix(s, "unix:") || strings.HasPrefix(s, "unix-abstract:") {
		return true
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
		if scheme == "dns" || scheme == "passthrough" {
			// dns://[authority]/host:port: the target is after the next slash.
			if _, target, ok := strings.Cut(rest, "/"); ok {
				s = target
			}
		}
	}
	s, _, _ = strings.Cut(s, "/")
	if i := strings.LastIndex(s, "@"); i >= 0 { // user info of a URL
		s = s[i+1:]
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnPlaintext logs, at start, each target reached in plain text over the
// network, and TLS without certificate verification.
func (e *edgeExporter) warnPlaintext() {
	for _, target := range plaintextTargets(e.cfg) {
		e.logger.Warn("Sending to a non-loopback endpoint in plain text (no TLS): telemetry and any credentials "+
			"in headers can be read and changed on the way; configure TLS unless this network is trusted",
			zap.String("endpoint", withoutUserInfo(target)))
	}
	skipVerify := e.cfg.GRPC.TLS.InsecureSkipVerify
	if e.cfg.Protocol == ProtocolHTTP {
		skipVerify = e.cfg.HTTP.TLS.InsecureSkipVerify
	}
	if skipVerify {
		e.logger.Warn("TLS without verifying the server's certificate (insecure_skip_verify): anyone on the path can impersonate the backend")
	}
}

// withoutUserInfo drops the user info of a URL (https://user:token@host) so a
// credential is never logged.
func withoutUserInfo(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.User == nil {
		return endpoint
	}
	u.User = nil
	return u.String()
}
