// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// A backend may ask for a minimum wait before the next attempt: HTTP
// Retry-After (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) and gRPC
// google.rpc.RetryInfo. Both are untrusted input: the hint is honoured, but
// never beyond retry.max_interval (capRetryAfter), so a backend cannot park
// an endpoint for longer than the exporter's own backoff would
// ("Retry-After: 2000000000" is 63 years), and garbage, negative values and
// dates in the past count as no hint.

// parseRetryAfter reads an HTTP Retry-After value relative to now. It returns
// 0 for an empty, negative, malformed or past value; a very large value
// saturates instead of overflowing (the caller caps it).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		// delay-seconds = 1*DIGIT: no sign, no fraction.
		secs, err := strconv.ParseUint(v, 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return math.MaxInt64
		}
		if err != nil {
			return 0
		}
		if secs > uint64(math.MaxInt64/int64(time.Second)) {
			return math.MaxInt64
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return max(t.Sub(now), 0) // Sub saturates
}

// grpcRetryDelay returns the delay of a google.rpc.RetryInfo detail of a gRPC
// status, or 0 when there is none or it is negative or malformed.
func grpcRetryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		ri, ok := d.(*errdetails.RetryInfo)
		if !ok || ri.GetRetryDelay() == nil {
			continue
		}
		if ri.GetRetryDelay().CheckValid() != nil {
			return 0
		}
		return max(ri.GetRetryDelay().AsDuration(), 0) // AsDuration saturates
	}
	return 0
}

// capRetryAfter bounds a backend's hint by retry.max_interval.
func capRetryAfter(hint, maxInterval time.Duration) time.Duration {
	return min(max(hint, 0), maxInterval)
}
