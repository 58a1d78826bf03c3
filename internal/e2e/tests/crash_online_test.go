// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// onlineOverlay is merged over distribution/config.yaml (a second --config):
// it only moves the shipped fixed ports to free ones, so that the test can
// run beside other collectors, and states the edge exporter's sending limits
// explicitly (with the documented default values) so the test reads the
// duplicate bound from the config it runs. Everything else is the shipped
// default pipeline and the edge exporter's defaults.
const onlineOverlay = `extensions:
  healthcheckv2:
    http:
      endpoint: 127.0.0.1:%[1]d
  zpages:
    endpoint: 127.0.0.1:%[2]d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[3]d
      http:
        endpoint: 127.0.0.1:%[4]d
exporters:
  edge:
    sending:
      max_in_flight: 2
      batch_max_items: 8192
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[5]d
`

// configInt returns the integer value of the first "key: N" line of a YAML
// text.
func configInt(t *testing.T, yaml, key string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `:\s*(\d+)\s*$`).FindStringSubmatch(yaml)
	if m == nil {
		t.Fatalf("no %q in the config:\n%s", key, yaml)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return n
}

// recoveryReport is what one life of the collector logged when it opened
// its buffer.
type recoveryReport struct {
	found          bool   // "Opened the buffer" or "Recovered the buffer with repairs"
	repaired       bool   // "Recovered the buffer with repairs"
	corruptRecords uint64 // corrupt_records of the repair warning
	corruptItems   uint64 // corrupt_items of the repair warning
	line           string // the line itself
	// dropCorrupt are the "Dropped buffered data" warnings with reason
	// corrupt of the whole life (the exporter logs them for recovery losses
	// and for damage found while sending alike).
	dropCorrupt []string
}

var (
	corruptRecordsRE = regexp.MustCompile(`"corrupt_records":\s*(\d+)`)
	corruptItemsRE   = regexp.MustCompile(`"corrupt_items":\s*(\d+)`)
)

// parseRecovery reads the edge exporter's buffer-opening line from the
// output of one life of the collector.
func parseRecovery(out string) recoveryReport {
	var r recoveryReport
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(l, "Recovered the buffer with repairs"):
			r.found, r.repaired, r.line = true, true, l
			if m := corruptRecordsRE.FindStringSubmatch(l); m != nil {
				r.corruptRecords, _ = strconv.ParseUint(m[1], 10, 64)
			}
			if m := corruptItemsRE.FindStringSubmatch(l); m != nil {
				r.corruptItems, _ = strconv.ParseUint(m[1], 10, 64)
			}
		case strings.Contains(l, "Opened the buffer"):
			if !r.found {
				r.found, r.line = true, l
			}
		case strings.Contains(l, "Dropped buffered data") && strings.Contains(l, "corrupt"):
			r.dropCorrupt = append(r.dropCorrupt, l)
		}
	}
	return r
}

// segNames returns the names of the *.seg files in dir.
func segNames(dir string) map[string]bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make(map[string]bool, len(ents))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".seg") {
			out[e.Name()] = true
		}
	}
	return out
}

// waitSegmentDeleted polls dir until a segment file that existed disappears
// (the exporter deletes a segment once all its records are acknowledged) or
// timeout passes; it returns the deleted name ("" on timeout).
func waitSegmentDeleted(dir string, timeout time.Duration) string {
	prev := segNames(dir)
	deadline := time.Now().Add(timeout)
	for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
		time.Sleep(2 * time.Millisecond)
		cur := segNames(dir)
		if cur == nil {
			continue
		}
		for name := range prev {
			if !cur[name] {
				return name
			}
		}
		prev = cur
	}
	return ""
}

// waitCursorWritten polls the cursor file in dir until it is written again
// (replaced or modified) or timeout passes; it reports whether it was.
func waitCursorWritten(dir string, timeout time.Duration) bool {
	path := filepath.Join(dir, "cursor")
	stamp := func() string {
		fi, err := os.Stat(path)
		if err != nil {
			return ""
		}
		return fmt.Sprintf("%v %d %d", fi.ModTime().UnixNano(), fi.Size(), inode(fi))
	}
	prev := stamp()
	deadline := time.Now().Add(timeout)
	for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
		time.Sleep(2 * time.Millisecond)
		if cur := stamp(); cur != prev && cur != "" && prev != "" {
			return true
		} else if prev == "" {
			prev = cur
		}
	}
	return false
}

// inode returns the inode number of fi (0 where not available).
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// lifeStats is what the test saw of one life of the collector.
type lifeStats struct {
	recovery recoveryReport
	// corruptMetric is items_dropped{reason="corrupt"} scraped just before
	// the kill (or the clean stop); -1 if the scrape failed.
	corruptMetric float64
	// dupsAtEnd is the sink's duplicate count when the life ended.
	dupsAtEnd int
	appended  float64
	sent      float64
	end       string // how it ended
}

// TestKill9WhileOnline: the shipped default config (distribution/config.yaml,
// ports moved) with the backend up the whole time and a steady load of
// unique spans (50k spans/s offered); the collector is killed with SIGKILL
// twice and restarted on the same buffer each time: kill #1 right after the
// exporter deleted an acknowledged segment (a deletion the persisted cursor
// may not cover yet shows as false corrupt records at the next start), kill
// #2 900ms after the cursor file was last written (the most acknowledged
// records not yet in a cursor persisted once a second show as duplicates).
// Then it drains and stops cleanly, and, by span ID: every span the
// collector acknowledged reached the backend; duplicates are at most kills x
// max_in_flight x batch_max_items in total and max_in_flight x
// batch_max_items after each kill (the requests that can be in flight when
// the process dies; both read from the config the test writes); and no life
// counted anything as corrupt (items_dropped{reason="corrupt"} scraped before
// each kill and at the end, and each start's recovery line in the log, which
// the scrape before a kill cannot miss).
func TestKill9WhileOnline(t *testing.T) {
	const (
		perRequest = 500
		workers    = 4
		kills      = 2
		rate       = 50_000 // spans/s offered
		maxBlocks  = 40_000 // bound on requests (20M spans)
	)
	warm := 3 * time.Second // load before each kill and after the last restart
	if long() {
		warm = 10 * time.Second
	}

	sink := e2e.NewSink(t, e2e.SinkOptions{})
	root := e2e.RepoRoot(t)
	ports := e2e.FreePorts(t, 5)
	overlay := fmt.Sprintf(onlineOverlay, ports[0], ports[1], ports[2], ports[3], ports[4])
	overlayPath := e2e.WriteConfig(t, overlay)
	maxInFlight := configInt(t, overlay, "max_in_flight")
	batchMaxItems := configInt(t, overlay, "batch_max_items")
	bufferDir := filepath.Join(t.TempDir(), "buffer")
	walDir := filepath.Join(bufferDir, "edge", "wal")
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[4])
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPaths: []string{filepath.Join(root, "distribution", "config.yaml"), overlayPath},
		Env: map[string]string{
			"OTELCOL_EDGE_ENDPOINT": sink.GRPCEndpoint(),
			"OTELCOL_EDGE_DATA_DIR": bufferDir,
			"OTELCOL_EDGE_MAX_DISK": "1073741824", // the shipped default, whatever the caller's environment says
		},
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ports[0]),
		MetricsURL: metricsURL,
	})

	var lives []*lifeStats
	newLife := func() {
		// The buffer is opened before the collector reports healthy; give
		// the copy of its output a moment to catch up.
		r := parseRecovery(c.Output())
		for i := 0; i < 50 && !r.found; i++ {
			time.Sleep(100 * time.Millisecond)
			r = parseRecovery(c.Output())
		}
		lives = append(lives, &lifeStats{recovery: r, corruptMetric: -1})
	}
	scrape := func(l *lifeStats) {
		m, err := e2e.TryScrapeMetrics(metricsURL)
		if err != nil {
			t.Logf("scrape of life %d failed: %v", len(lives), err)
			return
		}
		l.corruptMetric = metricValue(m, "exporter_edge_items_dropped", map[string]string{"reason": "corrupt"})
		l.appended = metricValue(m, "exporter_edge_items_appended", nil)
		l.sent = metricValue(m, "exporter_edge_items_sent", nil)
	}
	newLife()

	// Load: workers send requests of perRequest new span IDs each (an ID is
	// never sent twice, even after a failed request, so every duplicate at
	// the sink is the collector's), paced to rate in total.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		nextBlock atomic.Uint64
		acked     = make([]atomic.Bool, maxBlocks)
		nAcked    atomic.Int64
		nFailed   atomic.Int64
		wg        sync.WaitGroup
	)
	interval := time.Duration(workers*perRequest) * time.Second / rate
	for range workers {
		client := e2e.NewGRPCClient(t, fmt.Sprintf("127.0.0.1:%d", ports[2]))
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now()
			for ctx.Err() == nil {
				b := nextBlock.Add(1) - 1
				if b >= maxBlocks {
					return
				}
				td := e2e.GenTraces(1, perRequest, b*perRequest)
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				err := client.SendTraces(rctx, td)
				rcancel()
				if err == nil {
					acked[b].Store(true)
					nAcked.Add(1)
				} else {
					nFailed.Add(1)
				}
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(d):
					}
				} else if d < -time.Second {
					next = time.Now() // far behind (collector down): no burst to catch up
				}
			}
		}()
	}
	stopLoad := func() {
		cancel()
		wg.Wait()
	}
	defer stopLoad()

	loadStart := time.Now()
	for k := 1; k <= kills; k++ {
		time.Sleep(warm)
		if nAcked.Load() == 0 {
			stopLoad()
			t.Fatalf("no request acknowledged after %v of load (failed %d)", time.Since(loadStart), nFailed.Load())
		}
		// Kill #1 right after the exporter deleted an acknowledged segment
		// (a deletion the persisted cursor may not cover yet: false
		// corrupt), the others late in the cursor's persist interval (the
		// most acknowledged records not yet in the cursor: duplicates).
		l := lives[len(lives)-1]
		if k%2 == 1 {
			if deleted := waitSegmentDeleted(walDir, 20*time.Second); deleted != "" {
				l.end = fmt.Sprintf("kill -9 #%d right after %s was deleted", k, deleted)
			} else {
				l.end = fmt.Sprintf("kill -9 #%d (no segment deletion seen within 20s)", k)
			}
		} else {
			if waitCursorWritten(walDir, 10*time.Second) {
				time.Sleep(900 * time.Millisecond)
				l.end = fmt.Sprintf("kill -9 #%d 900ms after the cursor file was last written", k)
			} else {
				l.end = fmt.Sprintf("kill -9 #%d (no cursor write seen within 10s)", k)
			}
		}
		scrape(l)
		dupsBefore := sink.DuplicateSpanCount()
		code := c.Kill()
		if code != 137 {
			t.Errorf("kill -9 #%d: exit code %d, want 137", k, code)
		}
		l.recovery.dropCorrupt = parseRecovery(c.Output()).dropCorrupt
		l.dupsAtEnd = dupsBefore
		t.Logf("%s, %v into the load, %d requests acknowledged, %d failed; life %d had appended %v, sent %v, corrupt %v",
			l.end, time.Since(loadStart).Round(time.Millisecond), nAcked.Load(), nFailed.Load(), len(lives), l.appended, l.sent, l.corruptMetric)
		c.Restart()
		newLife()
		t.Logf("life %d: %s", len(lives), strings.TrimSpace(lives[len(lives)-1].recovery.line))
	}
	time.Sleep(warm)
	stopLoad()
	loadTime := time.Since(loadStart)

	var ids []uint64
	issued := min(nextBlock.Load(), maxBlocks)
	for b := range issued {
		if acked[b].Load() {
			ids = append(ids, seqRange(b*perRequest, (b+1)*perRequest)...)
		}
	}
	t.Logf("load: %d spans acknowledged by the collector in %v (%.0f spans/s, offered %d/s); %d requests failed (%d spans of unknown fate, never resent)",
		len(ids), loadTime.Round(time.Millisecond), float64(len(ids))/loadTime.Seconds(), rate, nFailed.Load(), nFailed.Load()*perRequest)

	waitAllSpans(t, sink, ids, 2*time.Minute)
	last := lives[len(lives)-1]
	e2e.Eventually(t, 60*time.Second, 100*time.Millisecond, func() bool {
		return scrapeEdgeMetric(metricsURL, "exporter_edge_buffer_items") == 0
	}, "buffer drained (buffer_items %v)", scrapeEdgeMetric(metricsURL, "exporter_edge_buffer_items"))
	time.Sleep(500 * time.Millisecond)
	scrape(last)
	if code := c.Stop(); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}
	last.recovery.dropCorrupt = parseRecovery(c.Output()).dropCorrupt // the whole output, the process has exited
	last.end = "clean stop"
	last.dupsAtEnd = sink.DuplicateSpanCount()

	spanIDs := sink.SpanIDs()
	received, unique := sink.SpanCount(), len(spanIDs)
	dups := 0
	unknown := 0
	for id, n := range spanIDs {
		dups += n - 1
		if seq, ok := e2e.SpanIDSeq(id); !ok || seq >= issued*perRequest {
			unknown++
		}
	}
	missing, firstMissing := missingSpans(spanIDs, ids)
	bound := kills * maxInFlight * batchMaxItems
	var corruptMetric float64
	var corruptLog uint64
	prevDups := 0
	for i, l := range lives {
		r := l.recovery
		t.Logf("life %d: corrupt metric %v, recovery repaired=%v corrupt_records=%d corrupt_items=%d, %d corrupt drop warnings, %d duplicates arrived during it (replay after the previous kill); ended by %s",
			i+1, l.corruptMetric, r.repaired, r.corruptRecords, r.corruptItems, len(r.dropCorrupt), l.dupsAtEnd-prevDups, l.end)
		if i > 0 && l.dupsAtEnd-prevDups > maxInFlight*batchMaxItems {
			t.Errorf("%d duplicate spans arrived in life %d, after kill -9 #%d: more than the requests one crash can leave in flight (max_in_flight %d x batch_max_items %d = %d)",
				l.dupsAtEnd-prevDups, i+1, i, maxInFlight, batchMaxItems, maxInFlight*batchMaxItems)
		}
		prevDups = l.dupsAtEnd
		if l.corruptMetric > 0 {
			corruptMetric += l.corruptMetric
		}
		corruptLog += r.corruptItems
		if !r.found {
			t.Errorf("life %d: no \"Opened the buffer\" or \"Recovered the buffer with repairs\" line in the collector's log", i+1)
		}
		if r.corruptRecords > 0 || r.corruptItems > 0 {
			t.Errorf("life %d recovered the buffer with %d corrupt records (%d items) after a kill -9 while online, want 0:\n%s",
				i+1, r.corruptRecords, r.corruptItems, r.line)
		}
		if len(r.dropCorrupt) > 0 {
			t.Errorf("life %d logged %d \"Dropped buffered data\" warnings with reason corrupt:\n%s", i+1, len(r.dropCorrupt), strings.Join(r.dropCorrupt, "\n"))
		}
		if l.corruptMetric < 0 {
			t.Errorf("life %d: the metrics scrape before its end failed", i+1)
		}
	}
	t.Logf("RESULT kill9-online: acknowledged %d, received %d unique (%d total), lost %d, duplicates %d (%.2f%% of acknowledged; bound %d = %d kills x max_in_flight %d x batch_max_items %d), unknown IDs %d, corrupt items: metric %v, recovery logs %d",
		len(ids), unique, received, missing, dups, 100*float64(dups)/float64(max(len(ids), 1)), bound, kills, maxInFlight, batchMaxItems, unknown, corruptMetric, corruptLog)

	if missing > 0 {
		t.Errorf("%d of %d acknowledged spans never reached the backend (first missing seq %d)", missing, len(ids), firstMissing)
	}
	if unknown > 0 {
		t.Errorf("the sink received %d span IDs that were never sent", unknown)
	}
	if dups > bound {
		t.Errorf("%d duplicate spans after %d kills, more than kills x max_in_flight x batch_max_items = %d: acknowledged data was sent again",
			dups, kills, bound)
	}
	if corruptMetric != 0 {
		t.Errorf("items_dropped{reason=\"corrupt\"} summed over the %d lives = %v, want 0 (nothing was damaged, only kill -9)", len(lives), corruptMetric)
	}
}

// scrapeEdgeMetric scrapes url and returns the edge metric name (without the
// otelcol_ prefix) summed over its series; -1 if the scrape fails.
func scrapeEdgeMetric(url, name string) float64 {
	m, err := e2e.TryScrapeMetrics(url)
	if err != nil {
		return -1
	}
	return metricValue(m, name, nil)
}
