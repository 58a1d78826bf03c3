// SPDX-License-Identifier: Apache-2.0

package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// damageKinds are applied in turn, trial i gets kind i % len.
var damageKinds = []string{"flip", "truncate", "zero-page", "flip-head"}

// damage applies damage kind to one randomly chosen file of files (paths
// relative to dir) and describes what it did.
func damage(rng *rand.Rand, dir string, files []string, kind string) (string, error) {
	if len(files) == 0 {
		return "", fmt.Errorf("no files to damage in %s", dir)
	}
	rel := files[rng.Intn(len(files))]
	p := filepath.Join(dir, rel)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := st.Size()
	if size == 0 {
		return "nothing (empty file " + rel + ")", nil
	}
	flip := func(n int, limit int64) error {
		for range n {
			off := rng.Int63n(limit)
			b := []byte{0}
			if _, err := f.ReadAt(b, off); err != nil {
				return err
			}
			b[0] ^= byte(1 + rng.Intn(255))
			if _, err := f.WriteAt(b, off); err != nil {
				return err
			}
		}
		return nil
	}
	switch kind {
	case "flip":
		n := 1 + rng.Intn(8)
		return fmt.Sprintf("flip %d random bytes of %s (%d bytes)", n, rel, size), flip(n, size)
	case "flip-head":
		n := 1 + rng.Intn(4)
		return fmt.Sprintf("flip %d bytes in the first 8 KiB of %s", n, rel), flip(n, min(size, 8192))
	case "truncate":
		at := rng.Int63n(size)
		return fmt.Sprintf("truncate %s from %d to %d bytes", rel, size, at), f.Truncate(at)
	case "zero-page":
		pages := (size + 4095) / 4096
		pg := rng.Int63n(pages)
		n := min(int64(4096), size-pg*4096)
		_, err := f.WriteAt(make([]byte, n), pg*4096)
		return fmt.Sprintf("zero 4 KiB page %d of %s (%d bytes)", pg, rel, size), err
	}
	return "", fmt.Errorf("unknown damage %q", kind)
}

// dataFiles lists the regular, non-empty files under dir except LOCK files.
func dataFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || d.Name() == "LOCK" {
			return nil
		}
		if info, err := d.Info(); err != nil || info.Size() == 0 {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out, err
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// trialResult is one corruption trial.
type trialResult struct {
	kind, desc string
	started    bool
	crashed    bool // started, then exited during the trial
	reason     string
	o          outcome
	counted    int64 // ours: items_dropped{reason="corrupt"}; -1 unknown
}

func (t trialResult) delivered() float64 {
	if t.o.sent == 0 {
		return 0
	}
	return float64(t.o.sent-t.o.lost) / float64(t.o.sent)
}

// runCorruption is R4: buffered data, the collector stopped, files damaged,
// the collector started again with the backend up.
func (h *harness) runCorruption(ctx context.Context) error {
	s := &scenario{
		id:    "R4",
		title: "corrupted buffer files",
		extraCols: []string{"trials", "starts OK", "crashed after start", "trials with full delivery",
			"delivered (mean over trials)", "control (no damage) delivered", "lost spans counted"},
	}
	s.setup = fmt.Sprintf("Per collector: with the sink down, %d spans are buffered, then the collector is stopped with SIGTERM. "+
		"That buffer directory is the template; each trial copies it, damages one randomly chosen data file (ours: wal/*.seg and wal/cursor; "+
		"anchor: the bbolt file of file_storage) in one of four ways in turn — %s (flip 1-8 random bytes anywhere; truncate at a random length; "+
		"zero one 4 KiB page; flip 1-4 bytes in the first 8 KiB, where headers and bbolt's meta pages are) — and starts the collector with the sink up. "+
		"\"starts OK\" = ready (health / metrics endpoint and OTLP port) within 20 s; a trial then waits until every span arrived, or 3 s without "+
		"progress (10 s if nothing arrived), at most 20 s. sent / received / lost / duplicated are summed over the trials. Up to %d trials per "+
		"collector (seed %d), both collectors at the same time, time cap %s. The control trial starts the undamaged template.",
		h.o.corruptSpans, strings.Join(damageKinds, ", "), h.o.corruptTrials, h.o.seed, h.o.corruptMaxTime)
	h.rep.add(s)
	rows := [2]*row{newRow(labelOurs), newRow(labelAnchor)}
	var kindNotes [2][]string
	var wgErr [2]error
	deadline := time.Now().Add(h.o.corruptMaxTime)
	p := &pair{}
	p.each(func(i int) {
		anchor := i == 1
		notes, err := h.corruptionRun(ctx, rows[i], anchor, rand.New(rand.NewSource(h.o.seed+int64(i))), deadline)
		kindNotes[i], wgErr[i] = notes, err
	})
	for i := range 2 {
		if wgErr[i] != nil {
			rows[i].note("run failed: " + cut(wgErr[i].Error(), 600))
			rows[i].verdict = "run failed"
		}
		s.rows = append(s.rows, rows[i])
		for _, n := range kindNotes[i] {
			s.notes = append(s.notes, rows[i].collector+": "+n)
		}
	}
	return nil
}

func (h *harness) corruptionRun(ctx context.Context, r *row, anchor bool, rng *rand.Rand, deadline time.Time) ([]string, error) {
	sk, port, err := newSink(true)
	if err != nil {
		return nil, err
	}
	defer sk.Stop()
	in, err := h.newInstance(r.collector, anchor, port, "")
	if err != nil {
		return nil, err
	}
	defer in.close()
	if err := in.start(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	tr := h.newTracker()
	if _, err := h.load(ctx, loadSpec{addr: in.inAddr(), track: tr, maxSpans: h.o.corruptSpans, dur: 2 * time.Minute}); err != nil {
		return nil, err
	}
	time.Sleep(1500 * time.Millisecond)
	t0 := time.Now()
	in.stop(30 * time.Second)
	h.logf("R4 %s: %d spans buffered; SIGTERM took %.1fs", r.collector, tr.len(), time.Since(t0).Seconds())
	template := filepath.Join(in.runDir, "template")
	if err := os.Rename(in.bufDir, template); err != nil {
		return nil, err
	}
	files, err := dataFiles(template)
	if err != nil {
		return nil, err
	}
	var sizes []string
	for _, f := range files {
		if st, err := os.Stat(filepath.Join(template, f)); err == nil {
			sizes = append(sizes, fmt.Sprintf("%s (%d bytes)", f, st.Size()))
		}
	}
	if err := sk.Start(); err != nil {
		return nil, err
	}
	trial := func(kind string) (trialResult, error) {
		res := trialResult{kind: kind, desc: "no damage", counted: -1}
		_ = os.RemoveAll(in.bufDir)
		if err := copyDir(template, in.bufDir); err != nil {
			return res, err
		}
		if kind != "" {
			d, err := damage(rng, in.bufDir, files, kind)
			if err != nil {
				return res, err
			}
			res.desc = d
		}
		sk.Reset()
		defer in.kill9()
		if err := in.start(ctx, 20*time.Second); err != nil {
			res.reason = failureReason(in, err)
			res.o = tr.outcome(sk)
			return res, nil
		}
		res.started = true
		ready := time.Now()
		last, lastChange := int64(-1), time.Now()
		lastExact := time.Time{}
		for time.Since(ready) < 20*time.Second && ctx.Err() == nil {
			n := sk.Spans()
			if n != last {
				last, lastChange = n, time.Now()
			}
			if sk.UniqueSpans() >= tr.len() && time.Since(lastExact) > 500*time.Millisecond {
				lastExact = time.Now()
				if tr.outcome(sk).lost == 0 {
					break
				}
			}
			if !in.alive() {
				break
			}
			if (n > 0 && time.Since(lastChange) > 3*time.Second) || (n == 0 && time.Since(ready) > 10*time.Second) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !in.alive() {
			res.crashed = true
			res.reason = failureReason(in, in.proc.ExitError())
		} else if !anchor {
			if samples, err := scrape(ctx, in.metricsURL()); err == nil {
				if v, ok := metricSum(samples, "otelcol_exporter_edge_items_dropped", map[string]string{"reason": "corrupt"}); ok {
					res.counted = int64(v)
				} else {
					res.counted = 0
				}
			}
		}
		res.o = tr.outcome(sk)
		return res, nil
	}
	control, err := trial("")
	if err != nil {
		return nil, err
	}
	r.extra["control (no damage) delivered"] = pct(control.delivered())
	if !control.started {
		r.note("control trial did not start: " + control.reason)
	}
	var results []trialResult
	for i := 0; i < h.o.corruptTrials; i++ {
		if ctx.Err() != nil || time.Now().After(deadline) {
			r.note(fmt.Sprintf("time cap hit after %d trials", i))
			break
		}
		res, err := trial(damageKinds[i%len(damageKinds)])
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	// Summary.
	var started, crashed, full, miscounted int
	var counted int64
	var sumDelivered float64
	reasons := map[string]int{}
	byKind := map[string][]trialResult{}
	for _, t := range results {
		r.sent += t.o.sent
		r.received += t.o.sent - t.o.lost
		r.lost += t.o.lost
		r.dup += t.o.dup
		if t.started {
			started++
		}
		if t.crashed {
			crashed++
		}
		if t.o.lost == 0 && t.started && !t.crashed {
			full++
		}
		sumDelivered += t.delivered()
		if t.counted >= 0 {
			counted += t.counted
			if t.counted != t.o.lost {
				miscounted++
			}
		}
		if t.reason != "" {
			reasons[t.reason]++
		}
		byKind[t.kind] = append(byKind[t.kind], t)
	}
	r.maxDisk = in.maxDisk.Load()
	n := len(results)
	r.extra["trials"] = fmt.Sprintf("%d", n)
	r.extra["starts OK"] = fmt.Sprintf("%d / %d", started, n)
	r.extra["crashed after start"] = fmt.Sprintf("%d", crashed)
	r.extra["trials with full delivery"] = fmt.Sprintf("%d / %d", full, n)
	if n > 0 {
		r.extra["delivered (mean over trials)"] = pct(sumDelivered / float64(n))
	}
	if anchor {
		r.extra["lost spans counted"] = "no metric (undecodable items are deleted with a debug log)"
	} else {
		r.extra["lost spans counted"] = fmt.Sprintf("%d (items_dropped{reason=corrupt}); trials where counted != lost: %d", counted, miscounted)
	}
	r.note("buffered files: " + strings.Join(sizes, ", "))
	type kv struct {
		k string
		v int
	}
	var rs []kv
	for k, v := range reasons {
		rs = append(rs, kv{k, v})
	}
	sort.Slice(rs, func(a, b int) bool { return rs[a].v > rs[b].v || (rs[a].v == rs[b].v && rs[a].k < rs[b].k) })
	for i, x := range rs {
		if i >= 3 {
			break
		}
		r.note(fmt.Sprintf("%dx: %s", x.v, x.k))
	}
	if n > 0 {
		r.verdict = fmt.Sprintf("started %d/%d, crashed later %d, delivered %.1f %% on average", started, n, crashed, 100*sumDelivered/float64(n))
	}
	var notes []string
	for _, k := range damageKinds {
		ts := byKind[k]
		if len(ts) == 0 {
			continue
		}
		var st, cr, fu int
		var d float64
		var worst *trialResult
		for j := range ts {
			t := ts[j]
			if t.started {
				st++
			}
			if t.crashed {
				cr++
			}
			if t.o.lost == 0 && t.started && !t.crashed {
				fu++
			}
			d += t.delivered()
			if worst == nil || t.delivered() < worst.delivered() {
				worst = &ts[j]
			}
		}
		notes = append(notes, fmt.Sprintf("%s: %d trials, started %d, crashed after start %d, full delivery %d, delivered %.1f %% on average; worst: %s -> delivered %.1f %%%s",
			k, len(ts), st, cr, fu, 100*d/float64(len(ts)), worst.desc, 100*worst.delivered(), reasonSuffix(worst.reason)))
	}
	h.logf("R4 %s: %s", r.collector, r.verdict)
	return notes, nil
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

// failureReason finds why a collector did not start or died: its first panic
// or fatal line, else err.
func failureReason(in *instance, err error) string {
	tail := in.proc.LogTail(64 << 10)
	for _, l := range strings.Split(tail, "\n") {
		for _, w := range []string{"panic:", "fatal error:", "Error:", "\terror\t"} {
			if strings.Contains(l, w) {
				return cut(logKey(l), 160)
			}
		}
	}
	if err != nil {
		return cut(strings.SplitN(err.Error(), "\n", 2)[0], 160)
	}
	return "exited"
}
