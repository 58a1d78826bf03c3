// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Defaults used by StartCollector when the corresponding option is zero.
const (
	DefaultStartTimeout = 30 * time.Second
	DefaultStopTimeout  = 15 * time.Second
	DefaultMinUptime    = 500 * time.Millisecond
)

// maxOutputBytes caps the in-memory copy of a run's output; the log file
// always holds everything.
const maxOutputBytes = 32 << 20

// CollectorOptions describes how to start a collector (or any other binary)
// with StartCollector.
type CollectorOptions struct {
	// Binary is the executable; empty means Binary(t). A name without a
	// slash is looked up in PATH.
	Binary string
	// ConfigPath, if set, is passed as `--config <path>`.
	ConfigPath string
	// ConfigPaths are passed, after ConfigPath, as one `--config <path>` each.
	ConfigPaths []string
	// Env holds variables added to (or overriding) the test's environment.
	Env map[string]string
	// Args are passed after the --config flags.
	Args []string
	// HealthURL, if set, is polled until it answers 200 (e.g. the
	// health_check extension's http://127.0.0.1:PORT/).
	HealthURL string
	// MetricsURL is the collector's Prometheus endpoint, used by
	// Collector.Metrics (e.g. http://127.0.0.1:PORT/metrics).
	MetricsURL string
	// StartTimeout bounds the wait for readiness; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM before SIGKILL is sent;
	// 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// MinUptime is, when HealthURL is empty, how long the process must stay
	// up to be taken as started; 0 means DefaultMinUptime, negative means
	// do not wait at all (for processes expected to exit by themselves).
	MinUptime time.Duration
	// Dir is the working directory; empty means the test's.
	Dir string
}

// Collector is a handle on a child process started by StartCollector. Its
// methods are safe for concurrent use, but the ones that can fail the test
// must be called from the test goroutine.
type Collector struct {
	t    testing.TB
	opts CollectorOptions
	dir  string // where log files go

	mu   sync.Mutex
	run  *run
	runs int
}

// run is one execution of the process.
type run struct {
	cmd     *exec.Cmd
	out     *outputBuffer
	logFile *os.File
	logPath string
	done    chan struct{} // closed when the process has been reaped
	state   *os.ProcessState
	waitErr error
}

// StartCollector starts opts.Binary as a child process in its own process
// group, captures stdout and stderr into memory and a log file in
// t.TempDir(), and waits until it is ready (HealthURL answers 200, or the
// process stays up for MinUptime). The process group is killed on cleanup if
// still running, and the tail of the log is printed if the test failed.
func StartCollector(t testing.TB, opts CollectorOptions) *Collector {
	t.Helper()
	if opts.Binary == "" {
		opts.Binary = Binary(t)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.MinUptime == 0 {
		opts.MinUptime = DefaultMinUptime
	}
	c := &Collector{t: t, opts: opts, dir: t.TempDir()}
	t.Cleanup(c.cleanup)
	c.start()
	return c
}

// cleanup kills a forgotten process and prints the log tail on failure.
func (c *Collector) cleanup() {
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r == nil {
		return
	}
	if !r.exited() {
		_ = r.signalGroup(syscall.SIGKILL)
		r.waitFor(10 * time.Second)
	}
	// Stray children left in the group.
	_ = r.signalGroup(syscall.SIGKILL)
	if c.t.Failed() {
		c.t.Logf("collector (pid %d) log %s, tail:\n%s", r.cmd.Process.Pid, r.logPath, tail(r.out.String(), 100, 16<<10))
	}
	_ = r.logFile.Close()
}

// start launches a new run and waits until it is ready.
func (c *Collector) start() {
	c.t.Helper()
	c.mu.Lock()
	c.runs++
	n := c.runs
	c.mu.Unlock()

	args := make([]string, 0, 2*len(c.opts.ConfigPaths)+2+len(c.opts.Args))
	if c.opts.ConfigPath != "" {
		args = append(args, "--config", c.opts.ConfigPath)
	}
	for _, p := range c.opts.ConfigPaths {
		args = append(args, "--config", p)
	}
	args = append(args, c.opts.Args...)

	logPath := filepath.Join(c.dir, fmt.Sprintf("collector-%d.log", n))
	logFile, err := os.Create(logPath)
	if err != nil {
		c.t.Fatalf("StartCollector: create log: %v", err)
	}
	out := &outputBuffer{file: logFile}
	cmd := exec.Command(c.opts.Binary, args...)
	cmd.Dir = c.opts.Dir
	cmd.Env = mergeEnv(os.Environ(), c.opts.Env)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second // children holding the pipe cannot block Wait
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		c.t.Fatalf("StartCollector: start %s %v: %v", c.opts.Binary, args, err)
	}
	r := &run{cmd: cmd, out: out, logFile: logFile, logPath: logPath, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		r.state = cmd.ProcessState
		r.waitErr = err
		close(r.done)
	}()
	c.mu.Lock()
	prev := c.run
	c.run = r
	c.mu.Unlock()
	if prev != nil && prev.exited() {
		_ = prev.logFile.Close()
	}
	c.t.Logf("started %s %s (pid %d), log %s", c.opts.Binary, strings.Join(args, " "), cmd.Process.Pid, logPath)

	if err := c.waitReady(r); err != nil {
		c.t.Fatalf("collector not ready: %v\noutput tail:\n%s", err, tail(out.String(), 60, 8<<10))
	}
}

// waitReady waits for the health URL or the minimum uptime.
func (c *Collector) waitReady(r *run) error {
	if c.opts.HealthURL == "" {
		if c.opts.MinUptime < 0 {
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("process exited within %v: %s", c.opts.MinUptime, describeExit(r.state))
		case <-time.After(c.opts.MinUptime):
			return nil
		}
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(c.opts.StartTimeout)
	const interval = 100 * time.Millisecond
	maxPolls := int(c.opts.StartTimeout/interval) + 1
	lastErr := errors.New("not polled yet")
	for range maxPolls {
		select {
		case <-r.done:
			return fmt.Errorf("process exited before becoming healthy: %s (last health check: %v)", describeExit(r.state), lastErr)
		default:
		}
		resp, err := client.Get(c.opts.HealthURL)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastErr = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-r.done:
		case <-time.After(interval):
		}
	}
	return fmt.Errorf("%s not healthy within %v: %v", c.opts.HealthURL, c.opts.StartTimeout, lastErr)
}

// current returns the latest run.
func (c *Collector) current() *run {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.run
}

// Stop sends SIGTERM to the process group and waits up to StopTimeout, then
// sends SIGKILL. It returns the exit code: the process's own exit status, or
// 128+signal number if it was killed by a signal (143 for SIGTERM, 137 for
// SIGKILL). Stopping an exited process just returns its exit code.
func (c *Collector) Stop() int {
	c.t.Helper()
	r := c.current()
	if !r.exited() {
		_ = r.signalGroup(syscall.SIGTERM)
		if !r.waitFor(c.opts.StopTimeout) {
			c.t.Logf("collector (pid %d) did not exit within %v after SIGTERM; sending SIGKILL", r.cmd.Process.Pid, c.opts.StopTimeout)
			_ = r.signalGroup(syscall.SIGKILL)
			if !r.waitFor(10 * time.Second) {
				c.t.Fatalf("collector (pid %d) did not exit after SIGKILL", r.cmd.Process.Pid)
			}
		}
	}
	_ = r.signalGroup(syscall.SIGKILL) // stray children
	return exitCode(r.state)
}

// Kill sends SIGKILL to the process group (kill -9), waits, and returns the
// exit code (137 unless the process had already exited).
func (c *Collector) Kill() int {
	c.t.Helper()
	r := c.current()
	_ = r.signalGroup(syscall.SIGKILL)
	if !r.waitFor(10 * time.Second) {
		c.t.Fatalf("collector (pid %d) did not exit after SIGKILL", r.cmd.Process.Pid)
	}
	return exitCode(r.state)
}

// Signal sends sig to the process group of the current run.
func (c *Collector) Signal(sig syscall.Signal) error {
	return c.current().signalGroup(sig)
}

// Restart stops the process gracefully if it is still running, then starts
// it again with the same options and waits until it is ready. Each run
// writes its own log file.
func (c *Collector) Restart() {
	c.t.Helper()
	if c.Running() {
		c.Stop()
	}
	c.start()
}

// Wait waits up to timeout for a process that is expected to exit by itself
// and returns its exit code (see Stop) and output. It fails the test (after
// killing the process) on timeout.
func (c *Collector) Wait(timeout time.Duration) (int, string) {
	c.t.Helper()
	r := c.current()
	if !r.waitFor(timeout) {
		_ = r.signalGroup(syscall.SIGKILL)
		r.waitFor(10 * time.Second)
		c.t.Fatalf("collector (pid %d) did not exit within %v\noutput tail:\n%s", r.cmd.Process.Pid, timeout, tail(r.out.String(), 60, 8<<10))
	}
	return exitCode(r.state), r.out.String()
}

// Running reports whether the current run's process has not exited yet.
func (c *Collector) Running() bool {
	return !c.current().exited()
}

// Output returns the combined stdout and stderr of the current run so far
// (the in-memory copy keeps at most the last 32 MiB; LogPath has all).
func (c *Collector) Output() string {
	return c.current().out.String()
}

// LogPath returns the path of the current run's log file.
func (c *Collector) LogPath() string {
	return c.current().logPath
}

// PID returns the process id of the current run.
func (c *Collector) PID() int {
	return c.current().cmd.Process.Pid
}

// Options returns the options the collector was started with, defaults
// filled in.
func (c *Collector) Options() CollectorOptions {
	return c.opts
}

// Metrics scrapes MetricsURL (see ScrapeMetrics); it fails the test when
// MetricsURL is empty or the scrape fails.
func (c *Collector) Metrics() map[string]float64 {
	c.t.Helper()
	if c.opts.MetricsURL == "" {
		c.t.Fatalf("Collector.Metrics: CollectorOptions.MetricsURL is empty")
	}
	return ScrapeMetrics(c.t, c.opts.MetricsURL)
}

// exited reports whether the process has been reaped.
func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// waitFor waits up to d for the process to be reaped.
func (r *run) waitFor(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-r.done:
		return true
	case <-timer.C:
		return false
	}
}

// signalGroup sends sig to the whole process group; ESRCH is not an error.
func (r *run) signalGroup(sig syscall.Signal) error {
	err := syscall.Kill(-r.cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// RunCollectorExpectExit runs binary with args (e.g. "validate", "--config",
// path) in its own process group, waits up to timeout for it to exit by
// itself, and returns its exit code (see Collector.Stop) and combined output.
// On timeout the process group is killed and the test fails.
func RunCollectorExpectExit(t testing.TB, binary string, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out outputBuffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("RunCollectorExpectExit: start %s %v: %v", binary, args, err)
	}
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stray children
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not exit within %v\noutput tail:\n%s", binary, args, timeout, tail(out.String(), 60, 8<<10))
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("RunCollectorExpectExit: wait %s: %v", binary, err)
	}
	return exitCode(cmd.ProcessState), out.String()
}

// exitCode maps a process state to an exit code, 128+signal when signaled.
func exitCode(st *os.ProcessState) int {
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// describeExit renders a process state for messages.
func describeExit(st *os.ProcessState) string {
	if st == nil {
		return "unknown exit status"
	}
	return fmt.Sprintf("%s (exit code %d)", st.String(), exitCode(st))
}

// mergeEnv returns base with the variables in extra set (overriding).
func mergeEnv(base []string, extra map[string]string) []string {
	if len(extra) == 0 {
		return base
	}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := extra[k]; !ok {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+extra[k])
	}
	return out
}

// tail returns at most the last maxLines lines and maxBytes bytes of s.
func tail(s string, maxLines, maxBytes int) string {
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "")
}

// outputBuffer is a concurrency-safe writer that keeps the last
// maxOutputBytes in memory and copies everything to an optional file.
type outputBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	file    *os.File
	dropped int64
}

// Write implements io.Writer.
func (o *outputBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.file != nil {
		_, _ = o.file.Write(p)
	}
	o.buf.Write(p)
	if over := o.buf.Len() - maxOutputBytes; over > 0 {
		o.buf.Next(over)
		o.dropped += int64(over)
	}
	return len(p), nil
}

// String returns the buffered output.
func (o *outputBuffer) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dropped > 0 {
		return fmt.Sprintf("[... %d bytes dropped, see log file ...]\n", o.dropped) + o.buf.String()
	}
	return o.buf.String()
}
