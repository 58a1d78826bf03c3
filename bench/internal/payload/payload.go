// SPDX-License-Identifier: Apache-2.0

// Package payload builds the pre-encoded OTLP trace export request the load
// generator sends: realistic service spans with 10-20 attributes each, encoded
// once with pdata.
package payload // import "github.com/otelcol-edge/otelcol-edge/bench/internal/payload"

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

var routes = []string{
	"/api/v1/orders/{id}", "/api/v1/orders", "/api/v1/payments/{id}/capture",
	"/api/v1/cart", "/api/v1/users/{id}/profile", "/api/v2/inventory/{sku}",
	"/checkout", "/api/v1/shipping/quote",
}

var methods = []string{"GET", "POST", "PUT", "GET", "GET", "DELETE"}

var dbStatements = []string{
	"SELECT id, total FROM orders WHERE id=$1",
	"UPDATE carts SET ts=now() WHERE uid=$1",
	"INSERT INTO payments VALUES ($1,$2)",
	"SELECT qty FROM stock WHERE sku=$1",
}

var userAgents = []string{
	"Mozilla/5.0 Chrome/126.0",
	"okhttp/4.12.0",
	"Go-http-client/2.0",
}

// HealthCheckRoute is the http.route of the health-check spans of
// BuildWithHealthChecks; the benchmark pipelines of both collectors drop them
// with the filter condition `attributes["http.route"] == "/healthz"`.
const HealthCheckRoute = "/healthz"

// Build returns the encoded ExportTraceServiceRequest with n spans (one
// resource, one scope). The content is deterministic. No span has
// http.route "/healthz", so filters that drop health checks never match: every
// span sent must arrive (the reliability suite).
func Build(n int) ([]byte, error) {
	return build(n, false)
}

// BuildWithHealthChecks returns the request of Build with every tenth span
// (index 9, 19, 29, ...) replaced by a health-check span: a server span
// "GET /healthz" in a trace of its own, with http.route "/healthz" and a
// kube-probe user agent, as a Kubernetes liveness probe produces. With n a
// multiple of 10, exactly 10 % of the spans are health checks. The other spans
// are the first spans of Build's sequence (their traces stay whole: a health
// check may sit between two spans of one trace, as in a real SDK batch).
func BuildWithHealthChecks(n int) ([]byte, error) {
	return build(n, true)
}

func build(n int, healthChecks bool) ([]byte, error) {
	if n < 1 {
		return nil, fmt.Errorf("payload: need at least one span, got %d", n)
	}
	rng := rand.New(rand.NewPCG(42, 7))
	hcRng := rand.New(rand.NewPCG(4242, 9))
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "checkout-api")
	ra.PutStr("service.version", "2.14.3")
	ra.PutStr("service.instance.id", "checkout-api-7d9f8b6c5-x2k4q")
	ra.PutStr("telemetry.sdk.language", "go")
	ra.PutStr("telemetry.sdk.name", "opentelemetry")
	ra.PutStr("telemetry.sdk.version", "1.38.0")
	ra.PutStr("host.arch", "amd64")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	ss.Scope().SetVersion("0.63.0")

	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	spans := ss.Spans()
	spans.EnsureCapacity(n)
	var tid [16]byte
	var sid, psid [8]byte
	i := -1 // index of the span among the non-health-check spans
	for k := range n {
		sp := spans.AppendEmpty()
		if healthChecks && k%10 == 9 {
			healthCheckSpan(sp, hcRng, base.Add(time.Duration(k)*137*time.Microsecond))
			continue
		}
		i++
		// Five spans per trace: one server span and four children.
		if i%5 == 0 {
			binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
			binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
		}
		binary.BigEndian.PutUint64(sid[:], rng.Uint64()|1)
		sp.SetTraceID(pcommon.TraceID(tid))
		sp.SetSpanID(pcommon.SpanID(sid))
		start := base.Add(time.Duration(i) * 137 * time.Microsecond)
		dur := time.Duration(200+rng.IntN(50000)) * time.Microsecond
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur)))
		a := sp.Attributes()
		route := routes[rng.IntN(len(routes))]
		method := methods[rng.IntN(len(methods))]
		if i%5 == 0 {
			psid = sid
			sp.SetName(method + " " + route)
			sp.SetKind(ptrace.SpanKindServer)
			a.PutStr("http.request.method", method)
			a.PutStr("http.route", route)
			a.PutStr("url.path", fmt.Sprintf("/api/v1/orders/%d", 100000+rng.IntN(900000)))
			a.PutStr("server.address", "checkout.svc")
			a.PutInt("server.port", 8443)
			a.PutStr("client.address", fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256)))
			a.PutStr("user_agent.original", userAgents[rng.IntN(len(userAgents))])
			a.PutInt("http.response.status_code", int64([]int{200, 200, 200, 201, 404, 500}[rng.IntN(6)]))
			a.PutInt("http.response.body.size", int64(rng.IntN(16384)))
			a.PutStr("tenant.id", fmt.Sprintf("tenant-%04d", rng.IntN(500)))
		} else {
			sp.SetParentSpanID(pcommon.SpanID(psid))
			if i%5 == 1 || i%5 == 3 {
				sp.SetName("SELECT orders")
				sp.SetKind(ptrace.SpanKindClient)
				a.PutStr("db.system.name", "postgresql")
				a.PutStr("db.namespace", "shop")
				a.PutStr("db.operation.name", "SELECT")
				a.PutStr("db.collection.name", "orders")
				a.PutStr("db.query.text", dbStatements[rng.IntN(len(dbStatements))])
				a.PutStr("server.address", "pg-primary")
				a.PutInt("server.port", 5432)
				a.PutStr("network.peer.address", "10.20.0.15")
				a.PutInt("db.response.returned_rows", int64(rng.IntN(100)))
				a.PutInt("thread.id", int64(rng.IntN(64)))
			} else {
				sp.SetName("HTTP POST")
				sp.SetKind(ptrace.SpanKindClient)
				a.PutStr("http.request.method", "POST")
				a.PutStr("url.full", "https://payments/v1/charge")
				a.PutStr("server.address", "payments")
				a.PutInt("server.port", 9443)
				a.PutInt("http.response.status_code", 200)
				a.PutStr("network.peer.address", "10.20.3.7")
				a.PutStr("network.protocol.version", "1.1")
				a.PutStr("peer.service", "payments")
				a.PutStr("code.function", "charge")
				a.PutInt("thread.id", int64(rng.IntN(64)))
			}
		}
		if rng.IntN(10) == 0 {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage("timeout")
		} else {
			sp.Status().SetCode(ptrace.StatusCodeOk)
		}
	}
	return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
}

// healthCheckSpan fills sp as a liveness probe's server span, in a trace of
// its own.
func healthCheckSpan(sp ptrace.Span, rng *rand.Rand, start time.Time) {
	var tid [16]byte
	var sid [8]byte
	binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
	binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
	binary.BigEndian.PutUint64(sid[:], rng.Uint64()|1)
	sp.SetTraceID(pcommon.TraceID(tid))
	sp.SetSpanID(pcommon.SpanID(sid))
	sp.SetName("GET " + HealthCheckRoute)
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(40+rng.IntN(200)) * time.Microsecond)))
	a := sp.Attributes()
	a.PutStr("http.request.method", "GET")
	a.PutStr("http.route", HealthCheckRoute)
	a.PutStr("url.path", HealthCheckRoute)
	a.PutStr("server.address", "checkout.svc")
	a.PutInt("server.port", 8443)
	a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", rng.IntN(4), 1+rng.IntN(254)))
	a.PutStr("user_agent.original", "kube-probe/1.31")
	a.PutInt("http.response.status_code", 200)
	a.PutInt("http.response.body.size", 2)
	a.PutStr("network.protocol.version", "1.1")
}
