// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// Protocols the exporter speaks.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// Balancing policies across several endpoints.
const (
	BalancingFailover   = "failover"
	BalancingRoundRobin = "round_robin"
)

// Disk-full policies.
const (
	WhenFullDropOldest = "drop_oldest"
	WhenFullDropNewest = "drop_newest"
	WhenFullBlock      = "block"
)

// Fsync policies.
const (
	FsyncAlways   = "always"
	FsyncInterval = "interval"
	FsyncNever    = "never"
)

// Config is the configuration of the edge exporter.
type Config struct {
	// Protocol is the OTLP transport: "grpc" (default) or "http" (HTTP/protobuf).
	Protocol string `mapstructure:"protocol"`

	// Endpoints are the backends data is sent to. With protocol grpc each is a
	// host:port; with protocol http each is a base URL (the signal paths
	// /v1/traces, /v1/metrics and /v1/logs are appended).
	Endpoints []string `mapstructure:"endpoints"`

	// Discovery names a discovery extension (for example `discovery/backends`)
	// whose healthy endpoints replace the static Endpoints and are followed at
	// run time. Exactly one of Endpoints and Discovery must be set.
	Discovery *component.ID `mapstructure:"discovery"`

	// Balancing chooses how records are spread over healthy endpoints:
	// "failover" (default: always the first healthy endpoint in list order) or
	// "round_robin".
	Balancing string `mapstructure:"balancing"`

	// GRPC holds the gRPC client settings (TLS, headers, compression, auth,
	// keepalive...) applied to every endpoint when protocol is grpc. Its
	// `endpoint` key must stay empty: use `endpoints`.
	GRPC configgrpc.ClientConfig `mapstructure:"grpc"`

	// HTTP holds the HTTP client settings applied to every endpoint when
	// protocol is http. Its `endpoint` key must stay empty: use `endpoints`.
	HTTP confighttp.ClientConfig `mapstructure:"http"`

	// Timeout bounds one export request.
	Timeout time.Duration `mapstructure:"timeout"`

	// MetadataKeys lists the client metadata keys (client.Info.Metadata, for
	// example the headers an OTLP receiver with include_metadata keeps)
	// stored with each record and restored when it is sent: as gRPC metadata
	// or HTTP headers of the request, and as client info on its context.
	// Records whose values differ are never sent in one request. Matched
	// case-insensitively; at most 32 keys (see metadata.go).
	MetadataKeys []string `mapstructure:"metadata_keys"`

	// Buffer configures the durable on-disk log.
	Buffer BufferConfig `mapstructure:"buffer"`

	// Sending configures batching, concurrency and replay.
	Sending SendingConfig `mapstructure:"sending"`

	// Replay configures the order of delivery after an outage: live data
	// first or the log in order.
	Replay ReplayConfig `mapstructure:"replay"`

	// Retry configures the backoff after retryable failures. An outage never
	// makes data expire; only a record a live backend keeps failing on with a
	// server error is given up (see RetryConfig.MaxAttemptsPerRecord).
	Retry RetryConfig `mapstructure:"retry"`

	// ZoneRouting prefers the endpoints of the agent's zone (weights.go).
	ZoneRouting ZoneRoutingConfig `mapstructure:"zone_routing"`

	// SlowStart ramps the weight of newly admitted endpoints (weights.go).
	SlowStart SlowStartConfig `mapstructure:"slow_start"`

	// Status configures what the exporter tells an operator while offline:
	// the periodic summary line and the local status endpoint (offline.go).
	Status StatusConfig `mapstructure:"status"`
}

// StatusConfig configures the offline summary and the status endpoint.
type StatusConfig struct {
	// SummaryInterval is the period of the summary line logged while the
	// exporter is offline or replaying (at most one per period). Default
	// 15m; 0 disables the summary.
	SummaryInterval time.Duration `mapstructure:"summary_interval"`

	// Endpoint, when set, serves the same summary as JSON over plain HTTP
	// at this host:port (GET /). It must be a loopback address (127.0.0.1,
	// [::1] or localhost): it is not authenticated. Default "": off.
	Endpoint string `mapstructure:"endpoint"`
}

// BufferConfig configures the durable log every accepted item is written to
// before the exporter reports success.
type BufferConfig struct {
	// Directory holds the log. Each exporter instance uses a sub-directory named
	// after its component ID, created with mode 0700 and locked so two collectors
	// cannot share it.
	Directory string `mapstructure:"directory"`

	// MaxDiskBytes is the disk budget of the instance: the log's segment files
	// get MaxDiskBytes minus DeadLetterMaxBytes, the dead-letter files the rest.
	// Default 1 GiB. 0 means no limit for the log (the disk may fill up: appends
	// then fail with I/O errors instead of evicting old data).
	MaxDiskBytes int64 `mapstructure:"max_disk_bytes"`

	// SegmentBytes is the size at which a segment file is closed and a new one
	// started. Eviction under the budget works in whole segments.
	SegmentBytes int64 `mapstructure:"segment_bytes"`

	// WhenFull is what happens when an append would exceed MaxDiskBytes:
	// "drop_oldest" (default: evict the oldest segment), "drop_newest" (reject the
	// new data) or "block" (wait for the backend to drain the log).
	WhenFull string `mapstructure:"when_full"`

	// Fsync is the durability policy: "always" (fsync before acknowledging each
	// append, shared by concurrent appends), "interval" (default: fsync every
	// FsyncInterval) or "never" (leave it to the operating system).
	Fsync string `mapstructure:"fsync"`

	// FsyncInterval is the group-commit period of fsync "interval".
	FsyncInterval time.Duration `mapstructure:"fsync_interval"`

	// MemoryBytes bounds the in-memory copy of the newest records, which lets the
	// sender skip reading back and decompressing while it keeps up. 0 disables it.
	MemoryBytes int64 `mapstructure:"memory_bytes"`

	// Compression compresses records on disk with zstd.
	Compression bool `mapstructure:"compression"`

	// MaxAge, when set, drops records older than this instead of sending them.
	// 0 (default) never drops data for age.
	MaxAge time.Duration `mapstructure:"max_age"`

	// DeadLetterMaxBytes bounds the dead-letter files (OTLP JSON lines, one file
	// per signal) that keep data the backend rejected permanently or that was
	// given up as poison. It is part of MaxDiskBytes and at most a quarter of
	// it. When not set: 64 MiB, or MaxDiskBytes/16 when that is smaller. 0
	// disables keeping them (the items are still counted).
	DeadLetterMaxBytes int64 `mapstructure:"dead_letter_max_bytes"`

	// Encryption, when it lists keys, encrypts the buffer at rest (records of
	// the log and dead-letter entries) with AES-256-GCM. Off by default.
	Encryption EncryptionConfig `mapstructure:"encryption"`

	// Priorities lists priority classes, highest first (at most 8; items
	// matching none are in the implicit lowest class "default"). Each class
	// has its own log sharing MaxDiskBytes: drop_oldest evicts the lowest
	// class's oldest data first, and the dispatcher sends the highest class
	// first (priorities.go, classes.go). Empty (default): one log, no
	// classification.
	Priorities []PriorityClass `mapstructure:"priorities"`
}

var _ confmap.Unmarshaler = (*BufferConfig)(nil)

// Unmarshal scales the default of dead_letter_max_bytes to a small
// max_disk_bytes (a sixteenth of it, as 64 MiB is of the 1 GiB default), so
// setting only the budget never makes the config invalid.
func (b *BufferConfig) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(b); err != nil {
		return err
	}
	if !conf.IsSet("dead_letter_max_bytes") && b.MaxDiskBytes > 0 {
		b.DeadLetterMaxBytes = min(b.DeadLetterMaxBytes, b.MaxDiskBytes/16)
	}
	return nil
}

// logMaxBytes is the part of the disk budget left to the log's segment files
// (0: unlimited).
func (b *BufferConfig) logMaxBytes() int64 {
	if b.MaxDiskBytes <= 0 {
		return 0
	}
	return b.MaxDiskBytes - b.DeadLetterMaxBytes
}

// SendingConfig configures how the log is drained to the backends.
type SendingConfig struct {
	// MaxInFlight is the number of export requests in flight at once, for
	// the exporter instance (shared by its endpoints). Default 2. While fewer are in
	// flight, records are sent as soon as they are in the log; while all are,
	// records accumulate into the next request (adaptive batching).
	MaxInFlight int `mapstructure:"max_in_flight"`

	// BatchMaxItems bounds the items (spans, data points, log records) per request.
	BatchMaxItems int `mapstructure:"batch_max_items"`

	// BatchMaxBytes bounds the uncompressed protobuf bytes per request.
	BatchMaxBytes int `mapstructure:"batch_max_bytes"`

	// FlushInterval bounds how long a batch that is not full keeps waiting
	// for new records while every in-flight slot is busy (records already in
	// the log still join it); it is never waited for while a slot is free. It is also how often an idle dispatcher checks its state.
	FlushInterval time.Duration `mapstructure:"flush_interval"`

	// ReplayBytesPerSecond limits the send rate (uncompressed protobuf bytes per
	// second) while a backlog is being replayed after an outage. 0 means no limit.
	ReplayBytesPerSecond int64 `mapstructure:"replay_bytes_per_second"`
}

// Replay orders.
const (
	// ReplayInOrder sends the log in append order: live data waits behind
	// the backlog.
	ReplayInOrder = "in_order"
	// ReplayLiveFirst sends the data appended after the backend answered
	// again first, and the backlog (oldest first) in the capacity left,
	// with at least ReplayConfig.MinShare of the requests.
	ReplayLiveFirst = "live_first"
)

// ReplayConfig configures the order of delivery after an outage.
type ReplayConfig struct {
	// Order is "live_first" (default: data appended after the backend
	// answered again first, the backlog in the remaining capacity) or
	// "in_order" (the log in append order).
	Order string `mapstructure:"order"`

	// MinShare is the share of requests that goes to the backlog while
	// live data keeps coming, with live_first (0 to 1, default 0.2): the
	// backlog cannot starve under constant live load. 1 sends the backlog
	// whenever it has data (in order, as before, except that live data
	// still goes ahead when the backlog has none).
	MinShare float64 `mapstructure:"min_share"`

	// MaxBytesPerSecond is the link budget (0: unlimited): one cap on the
	// uncompressed protobuf bytes of every request (live data and backlog
	// alike, online or replaying), the metered-link case. With live_first
	// the next request is chosen when the budget allows one, so the backlog
	// gets MinShare of the capped link while live data keeps it busy.
	// sending.replay_bytes_per_second still paces the backlog alone on top.
	MaxBytesPerSecond int64 `mapstructure:"max_bytes_per_second"`
}

// RetryConfig configures the backoff after retryable failures.
type RetryConfig struct {
	// InitialInterval is the first backoff.
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	// MaxInterval caps the backoff.
	MaxInterval time.Duration `mapstructure:"max_interval"`
	// Multiplier grows the backoff after each failure.
	Multiplier float64 `mapstructure:"multiplier"`
	// RandomizationFactor adds jitter: each wait is the backoff times a random
	// factor in [1-f, 1+f].
	RandomizationFactor float64 `mapstructure:"randomization_factor"`
	// MaxAttemptsPerRecord bounds the attempts to send one record, alone, that
	// a live backend answers with a server error (gRPC Internal or Unknown,
	// HTTP 500) every time. After that many such answers the record is held
	// aside and the data behind it is sent; if the backend accepts that data
	// and still fails on the record once more, the record goes to the dead
	// letter (reason "poison") so it no longer holds up the log. Outages
	// (connection errors, timeouts, Unavailable, 502/503/504, 429...) never
	// count, and a backend that fails on everything gives no evidence, so
	// nothing is given up. 0 retries such a record forever.
	MaxAttemptsPerRecord int `mapstructure:"max_attempts_per_record"`
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration and names the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch cfg.Protocol {
	case ProtocolGRPC, ProtocolHTTP:
	default:
		add("\"protocol\" must be %q or %q, got %q", ProtocolGRPC, ProtocolHTTP, cfg.Protocol)
	}
	switch {
	case len(cfg.Endpoints) == 0 && cfg.Discovery == nil:
		add("\"endpoints\" must list at least one endpoint (or set \"discovery\")")
	case len(cfg.Endpoints) > 0 && cfg.Discovery != nil:
		add("\"endpoints\" and \"discovery\" cannot both be set")
	}
	seen := map[string]bool{}
	for i, ep := range cfg.Endpoints {
		if err := validateEndpoint(cfg.Protocol, ep); err != nil {
			add("\"endpoints[%d]\" %w", i, err)
		}
		if seen[ep] {
			add("\"endpoints[%d]\" %q is listed twice", i, redactURL(ep))
		}
		seen[ep] = true
	}
	errs = append(errs, cfg.validateTransport()...)
	if cfg.GRPC.Endpoint != "" {
		add("\"grpc.endpoint\" must be empty: list backends under \"endpoints\"")
	}
	if cfg.HTTP.Endpoint != "" {
		add("\"http.endpoint\" must be empty: list backends under \"endpoints\"")
	}
	switch cfg.Balancing {
	case BalancingFailover, BalancingRoundRobin:
	default:
		add("\"balancing\" must be %q or %q, got %q", BalancingFailover, BalancingRoundRobin, cfg.Balancing)
	}
	if cfg.Timeout <= 0 {
		add("\"timeout\" must be > 0")
	}
	errs = append(errs, validateMetadataKeys(cfg.MetadataKeys)...)

	b := cfg.Buffer
	if strings.TrimSpace(b.Directory) == "" {
		add("\"buffer.directory\" must be set")
	}
	if b.MaxDiskBytes < 0 {
		add("\"buffer.max_disk_bytes\" must be >= 0")
	}
	if b.SegmentBytes < 64<<10 {
		add("\"buffer.segment_bytes\" must be >= 65536")
	}
	if b.SegmentBytes > wal.MaxSegmentBytes {
		add("\"buffer.segment_bytes\" must be <= %d (256 MiB): recovery sets aside larger files", wal.MaxSegmentBytes)
	}
	switch {
	case b.MaxDiskBytes <= 0 || b.DeadLetterMaxBytes < 0:
	case b.DeadLetterMaxBytes == 0 && b.MaxDiskBytes < 2*b.SegmentBytes:
		add("\"buffer.max_disk_bytes\" (%d) must be at least twice \"buffer.segment_bytes\" (%d): eviction works in whole segments", b.MaxDiskBytes, b.SegmentBytes)
	case b.DeadLetterMaxBytes > 0 && b.MaxDiskBytes-b.DeadLetterMaxBytes < 2*b.SegmentBytes:
		add("\"buffer.max_disk_bytes\" (%d) must be at least twice \"buffer.segment_bytes\" (%d) plus \"buffer.dead_letter_max_bytes\" (%d): eviction works in whole segments", b.MaxDiskBytes, b.SegmentBytes, b.DeadLetterMaxBytes)
	}
	if b.MaxDiskBytes > 0 && b.DeadLetterMaxBytes > b.MaxDiskBytes/4 {
		add("\"buffer.dead_letter_max_bytes\" (%d) must be at most a quarter of \"buffer.max_disk_bytes\" (%d): the dead-letter files are part of the disk budget", b.DeadLetterMaxBytes, b.MaxDiskBytes)
	}
	switch b.WhenFull {
	case WhenFullDropOldest, WhenFullDropNewest, WhenFullBlock:
	default:
		add("\"buffer.when_full\" must be one of %q, %q, %q, got %q", WhenFullDropOldest, WhenFullDropNewest, WhenFullBlock, b.WhenFull)
	}
	switch b.Fsync {
	case FsyncAlways, FsyncNever:
	case FsyncInterval:
		if b.FsyncInterval <= 0 {
			add("\"buffer.fsync_interval\" must be > 0 when \"buffer.fsync\" is %q", FsyncInterval)
		}
	default:
		add("\"buffer.fsync\" must be one of %q, %q, %q, got %q", FsyncAlways, FsyncInterval, FsyncNever, b.Fsync)
	}
	if b.MemoryBytes < 0 {
		add("\"buffer.memory_bytes\" must be >= 0")
	}
	if b.MaxAge < 0 {
		add("\"buffer.max_age\" must be >= 0")
	}
	if b.DeadLetterMaxBytes < 0 {
		add("\"buffer.dead_letter_max_bytes\" must be >= 0")
	}
	errs = append(errs, b.Encryption.validate()...)
	errs = append(errs, validatePriorities(b.Priorities)...)
	if len(b.Priorities) > 0 && b.Encryption.encrypts() {
		add("\"buffer.priorities\" cannot be used with \"buffer.encryption\" yet (the key epochs follow one log)")
	}

	s := cfg.Sending
	if s.MaxInFlight < 1 {
		add("\"sending.max_in_flight\" must be >= 1")
	}
	if s.BatchMaxItems < 1 {
		add("\"sending.batch_max_items\" must be >= 1")
	}
	if s.BatchMaxBytes < 1 {
		add("\"sending.batch_max_bytes\" must be >= 1")
	}
	if s.FlushInterval < 0 {
		add("\"sending.flush_interval\" must be >= 0")
	}
	if s.ReplayBytesPerSecond < 0 {
		add("\"sending.replay_bytes_per_second\" must be >= 0")
	}

	switch cfg.Replay.Order {
	case ReplayInOrder, ReplayLiveFirst:
	default:
		add("\"replay.order\" must be one of %q, %q, got %q", ReplayInOrder, ReplayLiveFirst, cfg.Replay.Order)
	}
	if cfg.Replay.MinShare < 0 || cfg.Replay.MinShare > 1 {
		add("\"replay.min_share\" must be between 0 and 1, got %v", cfg.Replay.MinShare)
	}
	if cfg.Replay.MaxBytesPerSecond < 0 {
		add("\"replay.max_bytes_per_second\" must be >= 0, got %d", cfg.Replay.MaxBytesPerSecond)
	}
	if cfg.Status.SummaryInterval < 0 {
		add("\"status.summary_interval\" must be >= 0, got %s", cfg.Status.SummaryInterval)
	}
	if err := checkLoopback(cfg.Status.Endpoint); err != nil {
		add("\"status.endpoint\" %q: %w", cfg.Status.Endpoint, err)
	}
	r := cfg.Retry
	if r.InitialInterval <= 0 {
		add("\"retry.initial_interval\" must be > 0")
	}
	if r.MaxInterval < r.InitialInterval {
		add("\"retry.max_interval\" must be >= \"retry.initial_interval\"")
	}
	if r.Multiplier < 1 {
		add("\"retry.multiplier\" must be >= 1")
	}
	if r.RandomizationFactor < 0 || r.RandomizationFactor > 1 {
		add("\"retry.randomization_factor\" must be between 0 and 1")
	}
	if r.MaxAttemptsPerRecord < 0 {
		add("\"retry.max_attempts_per_record\" must be >= 0")
	}
	errs = append(errs, cfg.ZoneRouting.validate(), cfg.SlowStart.validate())
	return errors.Join(errs...)
}

func validateEndpoint(protocol, ep string) error {
	if strings.TrimSpace(ep) == "" {
		return errors.New("must not be empty")
	}
	if hasUserInfo(ep) {
		// Rejected rather than redacted: endpoints name the backends in
		// metrics, logs and component status.
		return fmt.Errorf("%q must not contain user info (credentials before \"@\"): send them in headers or with an authenticator extension", redactURL(ep))
	}
	if protocol == ProtocolHTTP {
		if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
			return fmt.Errorf("%q must start with http:// or https://", ep)
		}
		u, err := url.Parse(ep)
		if err != nil {
			return fmt.Errorf("%q is not a URL: %w", ep, err)
		}
		if u.Host == "" {
			return fmt.Errorf("%q has no host", ep)
		}
		return nil
	}
	if strings.Contains(ep, "://") {
		return fmt.Errorf("%q must be host:port for protocol grpc", ep)
	}
	if i := strings.LastIndex(ep, ":"); i <= 0 || i == len(ep)-1 {
		return fmt.Errorf("%q must be host:port", ep)
	}
	return nil
}
