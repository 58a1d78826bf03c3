// SPDX-License-Identifier: Apache-2.0

// Command otlpcheck is the OTLP client and sink of `make test-package`: it sends
// traces to an installed collector and receives them on a sink standing in for
// the backend, with nothing but the collector's own pdata and gRPC.
//
//	otlpcheck freeports N                      print N free TCP ports on 127.0.0.1
//	otlpcheck wait-health -url URL             wait until URL answers 200
//	otlpcheck send -endpoint ADDR -prefix P -spans N [-protocol grpc|http]
//	otlpcheck sink -listen ADDR -want P1:N1,P2:N2 [-timeout D]
//
// Span names are <prefix>-<i>, so the sink counts distinct spans per prefix and
// ignores duplicates (the edge exporter delivers at least once).
package main // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging/cmd/otlpcheck"

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the edge exporter compresses with gzip by default
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: otlpcheck freeports|wait-health|send|sink [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "freeports":
		err = freePorts(args)
	case "wait-health":
		err = waitHealth(args)
	case "send":
		err = send(args)
	case "sink":
		err = sink(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "otlpcheck:", err)
		os.Exit(1)
	}
}

func freePorts(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return fmt.Errorf("freeports: want a positive count, got %q", args[0])
		}
	}
	// Hold every listener until all ports are chosen, so they are distinct.
	var ports []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}

func waitHealth(args []string) error {
	fs := flag.NewFlagSet("wait-health", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:13133/", "health_check URL")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	last := errors.New("no answer")
	for time.Now().Before(deadline) {
		resp, err := client.Get(*url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("healthy: %s\n", *url)
				return nil
			}
			err = fmt.Errorf("HTTP status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy after %s: %w", *url, *timeout, last)
}

// traces builds n spans named <prefix>-<i>, batch spans per request.
func traces(prefix string, from, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "otlpcheck")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("otlpcheck")
	now := time.Now()
	seed := uint64(now.UnixNano())
	for i := from; i < from+n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(fmt.Sprintf("%s-%d", prefix, i))
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], seed)
		binary.BigEndian.PutUint64(tid[8:], uint64(i)+1)
		sp.SetTraceID(tid)
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], uint64(i)+1)
		sp.SetSpanID(sid)
		sp.SetKind(ptrace.SpanKindInternal)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		sp.Attributes().PutStr("otlpcheck.prefix", prefix)
	}
	return td
}

func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "127.0.0.1:4317", "collector OTLP endpoint host:port")
	protocol := fs.String("protocol", "grpc", "grpc or http")
	prefix := fs.String("prefix", "span", "span name prefix")
	spans := fs.Int("spans", 100, "number of spans")
	batch := fs.Int("batch", 50, "spans per request")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on the whole send")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var export func(ptraceotlp.ExportRequest) error
	switch *protocol {
	case "grpc":
		conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		client := ptraceotlp.NewGRPCClient(conn)
		export = func(req ptraceotlp.ExportRequest) error {
			_, err := client.Export(ctx, req, grpc.WaitForReady(true))
			return err
		}
	case "http":
		url := "http://" + *endpoint + "/v1/traces"
		export = func(req ptraceotlp.ExportRequest) error {
			body, err := req.MarshalProto()
			if err != nil {
				return err
			}
			hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			hreq.Header.Set("Content-Type", "application/x-protobuf")
			resp, err := http.DefaultClient.Do(hreq)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("POST %s: HTTP status %d", url, resp.StatusCode)
			}
			return nil
		}
	default:
		return fmt.Errorf("send: -protocol must be grpc or http, got %q", *protocol)
	}
	for from := 0; from < *spans; from += *batch {
		n := min(*batch, *spans-from)
		if err := export(ptraceotlp.NewExportRequestFromTraces(traces(*prefix, from, n))); err != nil {
			return fmt.Errorf("send: spans %d-%d over %s to %s: %w", from, from+n-1, *protocol, *endpoint, err)
		}
	}
	fmt.Printf("sent %d spans %q over OTLP/%s to %s\n", *spans, *prefix, *protocol, *endpoint)
	return nil
}

type sinkServer struct {
	ptraceotlp.UnimplementedGRPCServer
	mu    sync.Mutex
	seen  map[string]map[string]bool // prefix -> span names
	other int
	done  chan struct{}
	want  map[string]int
	once  sync.Once
}

func (s *sinkServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				name := spans.At(k).Name()
				cut := strings.LastIndex(name, "-")
				if cut <= 0 {
					s.other++
					continue
				}
				p := name[:cut]
				if _, wanted := s.want[p]; !wanted {
					s.other++
					continue
				}
				if s.seen[p] == nil {
					s.seen[p] = map[string]bool{}
				}
				s.seen[p][name] = true
			}
		}
	}
	if s.completeLocked() {
		s.once.Do(func() { close(s.done) })
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (s *sinkServer) completeLocked() bool {
	for p, n := range s.want {
		if len(s.seen[p]) < n {
			return false
		}
	}
	return true
}

func (s *sinkServer) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for p, n := range s.want {
		parts = append(parts, fmt.Sprintf("%s %d/%d", p, len(s.seen[p]), n))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%s (other spans: %d)", strings.Join(parts, ", "), s.other)
}

func sink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4319", "OTLP/gRPC listen address")
	wantFlag := fs.String("want", "", "prefix:count,... of distinct spans to receive before exiting")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	want := map[string]int{}
	for _, item := range strings.Split(*wantFlag, ",") {
		p, c, ok := strings.Cut(item, ":")
		n, err := strconv.Atoi(c)
		if !ok || p == "" || err != nil || n < 1 {
			return fmt.Errorf("sink: -want wants prefix:count,..., got %q", *wantFlag)
		}
		want[p] = n
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &sinkServer{seen: map[string]map[string]bool{}, done: make(chan struct{}), want: want}
	gs := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(gs, srv)
	go func() { _ = gs.Serve(l) }()
	defer gs.Stop()
	fmt.Printf("sink listening on %s, waiting for %s\n", *listen, *wantFlag)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-srv.done:
		fmt.Printf("sink received everything: %s\n", srv.summary())
		return nil
	case <-time.After(*timeout):
		return fmt.Errorf("sink: timeout after %s: %s", *timeout, srv.summary())
	case s := <-sig:
		return fmt.Errorf("sink: %s: %s", s, srv.summary())
	}
}
