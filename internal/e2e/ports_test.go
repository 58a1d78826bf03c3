// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	require.Positive(t, p)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	require.NoError(t, err)
	require.NoError(t, ln.Close())
}

func TestFreePortsDistinct(t *testing.T) {
	ports := FreePorts(t, 10)
	require.Len(t, ports, 10)
	seen := map[int]bool{}
	for _, p := range ports {
		assert.False(t, seen[p], "port %d returned twice", p)
		seen[p] = true
	}
}

func TestFreePortsInvalid(t *testing.T) {
	f := &fakeTB{TB: t}
	assert.Empty(t, FreePorts(f, 0))
	require.NotEmpty(t, f.messages())
}

func TestLockFixedPortsHeldDuringTheTest(t *testing.T) {
	LockFixedPorts(t)
	// flock conflicts between two open files, even in one process.
	f, err := os.Open(filepath.Join(os.TempDir(), "otelcol-edge-fixed-ports.lock"))
	require.NoError(t, err)
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	assert.ErrorIs(t, err, syscall.EWOULDBLOCK, "another run cannot take the lock while the test holds it")
}
