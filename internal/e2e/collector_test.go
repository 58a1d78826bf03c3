// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCollectorStopSendsSIGTERM(t *testing.T) {
	c := StartCollector(t, CollectorOptions{Binary: "sleep", Args: []string{"30"}, MinUptime: 100 * time.Millisecond})
	require.True(t, c.Running())
	require.Positive(t, c.PID())
	start := time.Now()
	assert.Equal(t, 143, c.Stop(), "128+SIGTERM")
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.False(t, c.Running())
	assert.Equal(t, 143, c.Stop(), "stopping again returns the same code")
}

func TestCollectorStopEscalatesToSIGKILL(t *testing.T) {
	c := StartCollector(t, CollectorOptions{
		Binary:      "sh",
		Args:        []string{"-c", `trap "" TERM; echo ready; while :; do sleep 0.1; done`},
		MinUptime:   200 * time.Millisecond,
		StopTimeout: 300 * time.Millisecond,
	})
	// The minimum uptime does not prove that the shell has set its trap: a
	// SIGTERM before it would end it with 143. It has once it says ready.
	Eventually(t, 10*time.Second, 10*time.Millisecond, func() bool { return strings.Contains(c.Output(), "ready") }, "the shell never said ready")
	assert.Equal(t, 137, c.Stop(), "128+SIGKILL")
	assert.Contains(t, c.Output(), "ready")
}

func TestCollectorKillKillsProcessGroup(t *testing.T) {
	// The shell waits on a child; killing only the shell would leave the
	// child holding the output pipe.
	c := StartCollector(t, CollectorOptions{Binary: "sh", Args: []string{"-c", "sleep 30 & wait"}, MinUptime: 100 * time.Millisecond})
	start := time.Now()
	assert.Equal(t, 137, c.Kill())
	assert.Less(t, time.Since(start), 2*time.Second, "children must die with the group")
}

func TestCollectorRestart(t *testing.T) {
	c := StartCollector(t, CollectorOptions{Binary: "sleep", Args: []string{"30"}, MinUptime: 50 * time.Millisecond})
	first, firstLog := c.PID(), c.LogPath()
	c.Restart()
	assert.True(t, c.Running())
	assert.NotEqual(t, first, c.PID())
	assert.NotEqual(t, firstLog, c.LogPath())
	c.Kill()
	c.Restart() // from a dead process
	assert.True(t, c.Running())
	// Left running on purpose: cleanup must kill it.
}

func TestCollectorWaitAndOutput(t *testing.T) {
	c := StartCollector(t, CollectorOptions{
		Binary:    "sh",
		Args:      []string{"-c", `echo "out $FOO"; echo err >&2; exit 3`},
		Env:       map[string]string{"FOO": "bar"},
		MinUptime: -1,
	})
	code, out := c.Wait(10 * time.Second)
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "out bar")
	assert.Contains(t, out, "err")
	logged, err := os.ReadFile(c.LogPath())
	require.NoError(t, err)
	assert.Equal(t, out, string(logged))
}

func TestCollectorWaitTimeout(t *testing.T) {
	f := &fakeTB{TB: t}
	c := StartCollector(f, CollectorOptions{Binary: "sleep", Args: []string{"30"}, MinUptime: -1})
	start := time.Now()
	c.Wait(100 * time.Millisecond)
	assert.Less(t, time.Since(start), 5*time.Second)
	require.Len(t, f.messages(), 1)
	assert.Contains(t, f.messages()[0], "did not exit")
	assert.False(t, c.Running(), "killed after the timeout")
}

func TestCollectorConfigArgs(t *testing.T) {
	script := filepath.Join(t.TempDir(), "fake-collector")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho \"args: $*\"\nexit 0\n"), 0o700))
	cfg1, cfg2 := WriteConfig(t, "a: 1\n"), WriteConfig(t, "b: 2\n")
	c := StartCollector(t, CollectorOptions{
		Binary:      script,
		ConfigPath:  cfg1,
		ConfigPaths: []string{cfg2},
		Args:        []string{"--feature-gates=foo"},
		MinUptime:   -1,
	})
	code, out := c.Wait(10 * time.Second)
	assert.Equal(t, 0, code)
	assert.Equal(t, "args: --config "+cfg1+" --config "+cfg2+" --feature-gates=foo\n", out)
}

func TestCollectorHealthURL(t *testing.T) {
	var hits atomic.Int32
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) < 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(health.Close)
	c := StartCollector(t, CollectorOptions{Binary: "sleep", Args: []string{"30"}, HealthURL: health.URL + "/"})
	assert.GreaterOrEqual(t, hits.Load(), int32(4))
	assert.True(t, c.Running())
	c.Stop()
}

func TestCollectorHealthFailures(t *testing.T) {
	t.Run("exits before healthy", func(t *testing.T) {
		f := &fakeTB{TB: t}
		port := FreePort(t)
		start := time.Now()
		StartCollector(f, CollectorOptions{
			Binary:       "sh",
			Args:         []string{"-c", "echo boom; exit 2"},
			HealthURL:    "http://127.0.0.1:" + strconv.Itoa(port) + "/",
			StartTimeout: 20 * time.Second,
		})
		assert.Less(t, time.Since(start), 10*time.Second)
		require.Len(t, f.messages(), 1)
		assert.Contains(t, f.messages()[0], "exited before becoming healthy")
		assert.Contains(t, f.messages()[0], "boom")
	})
	t.Run("never healthy", func(t *testing.T) {
		f := &fakeTB{TB: t}
		port := FreePort(t)
		StartCollector(f, CollectorOptions{
			Binary:       "sleep",
			Args:         []string{"30"},
			HealthURL:    "http://127.0.0.1:" + strconv.Itoa(port) + "/",
			StartTimeout: 300 * time.Millisecond,
		})
		require.Len(t, f.messages(), 1)
		assert.Contains(t, f.messages()[0], "not healthy within")
	})
	t.Run("exits within min uptime", func(t *testing.T) {
		f := &fakeTB{TB: t}
		StartCollector(f, CollectorOptions{Binary: "sh", Args: []string{"-c", "exit 1"}, MinUptime: 5 * time.Second})
		require.Len(t, f.messages(), 1)
		assert.Contains(t, f.messages()[0], "exit code 1")
	})
}

func TestRunCollectorExpectExit(t *testing.T) {
	code, out := RunCollectorExpectExit(t, "sh", 10*time.Second, "-c", "echo 'invalid config' >&2; exit 1")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "invalid config")

	code, _ = RunCollectorExpectExit(t, "true", 10*time.Second)
	assert.Equal(t, 0, code)

	f := &fakeTB{TB: t}
	start := time.Now()
	RunCollectorExpectExit(f, "sh", 200*time.Millisecond, "-c", "sleep 30 & wait")
	assert.Less(t, time.Since(start), 5*time.Second)
	require.Len(t, f.messages(), 1)
	assert.Contains(t, f.messages()[0], "did not exit")
}

func TestCollectorMetricsURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("up 1\n"))
	}))
	t.Cleanup(srv.Close)
	c := StartCollector(t, CollectorOptions{Binary: "sleep", Args: []string{"30"}, MetricsURL: srv.URL + "/metrics", MinUptime: -1})
	assert.InDelta(t, 1, c.Metrics()["up"], 0)
	assert.Equal(t, srv.URL+"/metrics", c.Options().MetricsURL)
}
