// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"fmt"
	"testing"
	"time"
)

// Eventually polls cond every interval until it returns true, failing the
// test (with msgAndArgs: a format string and its arguments, if given) when
// timeout passes first. The number of polls is bounded by
// timeout/interval+2.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	for range int(timeout/interval) + 2 {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(interval)
	}
	if cond() {
		return
	}
	t.Fatalf("Eventually: %s (within %v)", messageOf(msgAndArgs), timeout)
}

// messageOf renders testify-style msgAndArgs: a format string and its
// arguments, or a single value.
func messageOf(msgAndArgs []any) string {
	switch {
	case len(msgAndArgs) == 0:
		return "condition not met"
	case len(msgAndArgs) == 1:
		if s, ok := msgAndArgs[0].(string); ok {
			return s
		}
		return fmt.Sprintf("%+v", msgAndArgs[0])
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	return fmt.Sprintf("%+v", msgAndArgs)
}
