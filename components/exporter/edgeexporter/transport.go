// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/config/configtls"
)

// tlsPlain reports whether a client TLS setting dials without TLS, as
// configgrpc does: insecure set and no CA configured. With discovery and
// protocol http it also chooses the scheme of the discovered endpoints.
func tlsPlain(c configtls.ClientConfig) bool {
	return c.Insecure && c.CAFile == "" && c.CAPem == ""
}

// tlsKeys returns the keys of a client TLS setting that are set, except
// insecure.
func tlsKeys(c configtls.ClientConfig) []string {
	var keys []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"ca_file", c.CAFile != ""},
		{"ca_pem", c.CAPem != ""},
		{"cert_file", c.CertFile != ""},
		{"cert_pem", c.CertPem != ""},
		{"key_file", c.KeyFile != ""},
		{"key_pem", c.KeyPem != ""},
		{"server_name_override", c.ServerName != ""},
		{"insecure_skip_verify", c.InsecureSkipVerify},
		{"include_system_ca_certs_pool", c.IncludeSystemCACertsPool},
		{"min_version", c.MinVersion != ""},
		{"max_version", c.MaxVersion != ""},
		{"cipher_suites", len(c.CipherSuites) > 0},
		{"include_insecure_cipher_suites", c.IncludeInsecureCipherSuites},
		{"curve_preferences", len(c.CurvePreferences) > 0},
		{"reload_interval", c.ReloadInterval != 0},
		{"tpm", c.TPMConfig.Enabled},
	} {
		if k.set {
			keys = append(keys, k.name)
		}
	}
	return keys
}

// validateTransport rejects TLS settings that would be silently ignored
// because the exporter ends up sending in plain text.
func (cfg *Config) validateTransport() []error {
	var errs []error
	switch cfg.Protocol {
	case ProtocolHTTP:
		keys := tlsKeys(cfg.HTTP.TLS)
		if len(keys) == 0 {
			return nil
		}
		if cfg.Discovery != nil {
			if tlsPlain(cfg.HTTP.TLS) {
				errs = append(errs, fmt.Errorf(`"http.tls.insecure" is true, so discovered endpoints are sent plain http://, but "http.tls" also sets %s, which would be ignored: remove "insecure" (discovered endpoints then use https://) or remove them`,
					strings.Join(keys, ", ")))
			}
			return errs
		}
		for i, ep := range cfg.Endpoints {
			if strings.HasPrefix(strings.ToLower(ep), "http://") {
				errs = append(errs, fmt.Errorf(`"endpoints[%d]" %q is plain http://, but "http.tls" sets %s, which would be ignored: use https:// or remove them`,
					i, redactURL(ep), strings.Join(keys, ", ")))
			}
		}
	case ProtocolGRPC:
		if keys := tlsKeys(cfg.GRPC.TLS); tlsPlain(cfg.GRPC.TLS) && len(keys) > 0 {
			errs = append(errs, fmt.Errorf(`"grpc.tls.insecure" is true, so endpoints are dialled in plain text, but "grpc.tls" also sets %s, which would be ignored: remove "insecure" to use TLS, or remove them`,
				strings.Join(keys, ", ")))
		}
	}
	return errs
}

// hasUserInfo reports whether an endpoint carries user info
// (https://user:token@host, user@host:port).
func hasUserInfo(ep string) bool { return redactURL(ep) != ep }

// redactURL replaces the user info of an endpoint shown in an error with
// "xxxxx", so a credential written into a URL never reaches a log.
func redactURL(ep string) string {
	prefix, rest := "", ep
	if i := strings.Index(ep, "://"); i >= 0 {
		prefix, rest = ep[:i+3], ep[i+3:]
	}
	// gRPC target schemes put the authority after a third slash
	// (dns:///user:token@host): skip the slashes that lead the rest.
	for strings.HasPrefix(rest, "/") {
		prefix, rest = prefix+"/", rest[1:]
	}
	host, path := rest, ""
	if i := strings.Index(rest, "/"); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	i := strings.LastIndex(host, "@")
	if i < 0 {
		return ep
	}
	return prefix + "xxxxx" + host[i:] + path
}

// discoveryScheme is the scheme of discovered endpoints with protocol http:
// https, unless http.tls is plain (insecure without a CA).
func discoveryScheme(cfg *Config) string {
	if tlsPlain(cfg.HTTP.TLS) {
		return "http"
	}
	return "https"
}

// newNamedClient makes the OTLP client of a discovered endpoint whose TLS
// certificate is verified against serverName (the SRV target name...) unless
// tls.server_name_override is configured.
func (e *edgeExporter) newNamedClient(ctx context.Context, address, serverName string) (endpointClient, error) {
	cfg := e.cfg
	if serverName != "" {
		c := *e.cfg
		if c.GRPC.TLS.ServerName == "" {
			c.GRPC.TLS.ServerName = serverName
		}
		if c.HTTP.TLS.ServerName == "" {
			c.HTTP.TLS.ServerName = serverName
		}
		cfg = &c
	}
	if cfg.Protocol == ProtocolHTTP {
		return newHTTPClient(ctx, cfg, address, e.host, e.set.TelemetrySettings, e.userAgent)
	}
	return newGRPCClient(ctx, cfg, address, e.host, e.set.TelemetrySettings, e.userAgent)
}
