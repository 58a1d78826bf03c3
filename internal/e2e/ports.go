// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free at the time of the
// call.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free at the
// time of the call. All listeners are held open until every port has been
// picked so that the returned ports are pairwise different.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	if n <= 0 {
		t.Fatalf("FreePorts: n must be positive, got %d", n)
	}
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("FreePorts: listen on 127.0.0.1:0: %v", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
