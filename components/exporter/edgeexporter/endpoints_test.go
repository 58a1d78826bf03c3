// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestEndpointBackoff: each retryable failure parks the endpoint for the
// current interval times a factor in [1-f, 1+f]; the interval starts at
// retry.initial_interval, grows by retry.multiplier up to
// retry.max_interval, a backend's hint is a floor, and a success resets it.
// The clock is fixed: downUntil - now is the wait.
func TestEndpointBackoff(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	retry := RetryConfig{InitialInterval: time.Second, MaxInterval: 4 * time.Second, Multiplier: 2, RandomizationFactor: 0.25}
	s := newEndpointSet(BalancingFailover, retry)
	s.now = func() time.Time { return now }
	ep := &endpoint{id: "a", weight: 1}
	s.setEndpoints([]*endpoint{ep})
	errDown := errors.New("down")

	for round := range 2 {
		for i, interval := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
			s.failure(ep, errDown, 0, time.Time{})
			wait := ep.downUntil.Sub(now)
			lo, hi := time.Duration(float64(interval)*0.75), time.Duration(float64(interval)*1.25)+time.Nanosecond
			assert.True(t, wait >= lo && wait <= hi, "round %d failure %d: wait %v, want in [%v, %v]", round, i, wait, lo, hi)
		}
		s.failure(ep, errDown, time.Minute, time.Time{})
		assert.Equal(t, time.Minute, ep.downUntil.Sub(now), "round %d: the backend's hint is a floor", round)
		s.success(ep) // the next round starts again at initial_interval
	}
}
