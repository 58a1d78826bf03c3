// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
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

// LockFixedPorts serializes, between the processes of this machine, the
// tests that bind fixed ports (those of distribution/config.yaml). Two test
// runs at once (CI beside another run of make test on a shared machine)
// would otherwise both find the ports free and then collide: one collector
// fails to bind, or its test talks to the other run's collector. It waits
// up to two minutes for a run holding the lock and skips the test after
// that; the lock is released when the test ends.
func LockFixedPorts(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "otelcol-edge-fixed-ports.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("LockFixedPorts: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			t.Fatalf("LockFixedPorts: flock %s: %v", path, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			t.Skipf("SKIPPED: the fixed ports are held by another test run (lock %s) for 2 minutes", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() { _ = f.Close() }) // closing the file releases the lock
}
