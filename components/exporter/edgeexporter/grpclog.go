// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zapgrpc"
	"google.golang.org/grpc/grpclog"
)

// The gRPC core logs "grpc: addrConn.createTransport failed to connect to
// {Addr: ...}" at WARN on its global logger for every failed connection
// attempt: about once a second per endpoint while a backend is down. The
// collector (otelcol v0.165.0, otelcol/internal/grpclog.SetLogger, called
// before the service starts unless CollectorSettings.SkipSettingGRPCLogger)
// routes that global logger to its own zap logger with the field
// grpc_log=true, at WARN or above when the collector logs at INFO.
//
// grpc-go has no per-connection logger and no getter for the global one, so
// the edge exporter, when it starts with gRPC endpoints, installs an
// equivalent logger built the same way from the service's logger (the
// exporter's logger without the attributes the collector injected) with one
// filter in front: a connection-failure message that names an address of an
// edge endpoint is dropped, and counted. The endpoint's own "Endpoint down"
// and "Endpoint up" lines and the offline summary say the same once. Every
// other gRPC message, including connection failures of other components to
// other addresses, passes unchanged, at the level and with the fields the
// collector gives it.
//
// When the logger is not the collector's (no injected attributes to drop:
// tests, another host), nothing is installed.

// injectedAttributeKeys are the attributes the collector adds to a
// component's logger (internal/telemetry/componentattribute).
var injectedAttributeKeys = []string{"otelcol.component.id", "otelcol.component.kind", "otelcol.signal", "otelcol.signal.output", "otelcol.pipeline.id"}

// injectorCore is the collector's zap core that adds component attributes
// and can drop them (as upstream's telemetry.DropInjectedAttributes uses it).
type injectorCore interface {
	DropInjectedAttributes(droppedAttrs ...string) zapcore.Core
}

// dropInjected returns l without the injected attributes keys, and whether
// l's core supports it.
func dropInjected(l *zap.Logger, keys ...string) (*zap.Logger, bool) {
	ok := false
	out := l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		if ic, is := c.(injectorCore); is {
			ok = true
			return ic.DropInjectedAttributes(keys...)
		}
		return c
	}))
	return out, ok
}

// withoutSignal is the logger of the shared instance: it serves every
// signal's pipeline, so its lines do not carry the otelcol.signal of the
// pipeline that created it; lines about one signal name it themselves.
func withoutSignal(l *zap.Logger) *zap.Logger {
	out, _ := dropInjected(l, "otelcol.signal")
	return out
}

// grpcConnectFailure is the text of the gRPC core's connection failures.
const grpcConnectFailure = "addrConn.createTransport failed to connect to"

// grpcLogFilter holds the addresses of the edge endpoints whose connection
// failures are left out of the gRPC log, shared by every edge instance of the
// process.
var grpcLogFilter = &grpcAddrFilter{addrs: map[string]int{}}

type grpcAddrFilter struct {
	mu         sync.Mutex
	addrs      map[string]int // quoted address -> references
	suppressed atomic.Uint64
}

func (f *grpcAddrFilter) add(addr string) {
	f.mu.Lock()
	f.addrs[`"`+addr+`"`]++
	f.mu.Unlock()
}

func (f *grpcAddrFilter) remove(addr string) {
	f.mu.Lock()
	k := `"` + addr + `"`
	if f.addrs[k]--; f.addrs[k] <= 0 {
		delete(f.addrs, k)
	}
	f.mu.Unlock()
}

// drop reports whether msg is a connection failure naming one of the
// addresses (as gRPC quotes them: {Addr: "host:port", ServerName: "..."}).
func (f *grpcAddrFilter) drop(msg string) bool {
	if !strings.Contains(msg, grpcConnectFailure) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for a := range f.addrs {
		if strings.Contains(msg, a) {
			f.suppressed.Add(1)
			return true
		}
	}
	return false
}

// filteredGRPCLogger is a grpclog.LoggerV2 that leaves out what the filter
// drops and passes the rest to next.
type filteredGRPCLogger struct {
	next      grpclog.LoggerV2
	f         *grpcAddrFilter
	verbosity int
}

var _ grpclog.LoggerV2 = (*filteredGRPCLogger)(nil)

func (l *filteredGRPCLogger) Info(args ...any) {
	if !l.f.drop(fmt.Sprint(args...)) {
		l.next.Info(args...)
	}
}

func (l *filteredGRPCLogger) Infoln(args ...any) {
	if !l.f.drop(fmt.Sprintln(args...)) {
		l.next.Infoln(args...)
	}
}

func (l *filteredGRPCLogger) Infof(format string, args ...any) {
	if !l.f.drop(fmt.Sprintf(format, args...)) {
		l.next.Infof(format, args...)
	}
}

func (l *filteredGRPCLogger) Warning(args ...any) {
	if !l.f.drop(fmt.Sprint(args...)) {
		l.next.Warning(args...)
	}
}

func (l *filteredGRPCLogger) Warningln(args ...any) {
	if !l.f.drop(fmt.Sprintln(args...)) {
		l.next.Warningln(args...)
	}
}

func (l *filteredGRPCLogger) Warningf(format string, args ...any) {
	if !l.f.drop(fmt.Sprintf(format, args...)) {
		l.next.Warningf(format, args...)
	}
}

func (l *filteredGRPCLogger) Error(args ...any) {
	if !l.f.drop(fmt.Sprint(args...)) {
		l.next.Error(args...)
	}
}

func (l *filteredGRPCLogger) Errorln(args ...any) {
	if !l.f.drop(fmt.Sprintln(args...)) {
		l.next.Errorln(args...)
	}
}

func (l *filteredGRPCLogger) Errorf(format string, args ...any) {
	if !l.f.drop(fmt.Sprintf(format, args...)) {
		l.next.Errorf(format, args...)
	}
}

// Fatal, Fatalln and Fatalf are never filtered.
func (l *filteredGRPCLogger) Fatal(args ...any) { l.next.Fatal(args...) }

func (l *filteredGRPCLogger) Fatalln(args ...any) { l.next.Fatalln(args...) }

func (l *filteredGRPCLogger) Fatalf(format string, args ...any) { l.next.Fatalf(format, args...) }

// V reports verbosity against a fixed threshold, as the collector's logger
// does (see otelcol/internal/grpclog).
func (l *filteredGRPCLogger) V(level int) bool { return level <= l.verbosity }

// newCollectorGRPCLogger builds the gRPC logger the collector installs, from
// the service's logger base (otelcol/internal/grpclog.SetLogger at v0.165.0),
// with one more frame skipped for the filter.
func newCollectorGRPCLogger(base *zap.Logger) grpclog.LoggerV2 {
	return zapgrpc.NewLogger(base.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		level := base.Level()
		if level == zapcore.InfoLevel {
			level = zapcore.WarnLevel
		}
		c, err := zapcore.NewIncreaseLevelCore(core, level)
		if err != nil {
			c = core
		}
		return c.With([]zapcore.Field{zap.Bool("grpc_log", true)})
	}), zap.AddCallerSkip(6)))
}

// installGRPCLogFilter installs the filtered gRPC logger, built from the
// component logger l; it returns false (and installs nothing) when l is not
// the collector's.
func installGRPCLogFilter(l *zap.Logger) bool {
	base, ok := dropInjected(l, injectedAttributeKeys...)
	if !ok {
		return false
	}
	grpclog.SetLoggerV2(&filteredGRPCLogger{next: newCollectorGRPCLogger(base), f: grpcLogFilter})
	return true
}
