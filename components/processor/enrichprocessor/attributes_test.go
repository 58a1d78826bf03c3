// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// applyEntriesReference is applyEntries as it was before reserve: the
// behaviour applyEntries must keep.
func applyEntriesReference(m pcommon.Map, entries []entry) bool {
	changed := false
	for i := range entries {
		e := &entries[i]
		cur, ok := m.Get(e.key)
		switch e.act {
		case actInsert:
			if ok {
				continue
			}
			e.val.putTo(m, e.key)
		case actUpsert:
			if ok {
				if e.val.equals(cur) {
					continue
				}
				e.val.setOn(cur)
			} else {
				e.val.putTo(m, e.key)
			}
		case actUpdate:
			if !ok || e.val.equals(cur) {
				continue
			}
			e.val.setOn(cur)
		}
		changed = true
	}
	return changed
}

// TestApplyEntriesSameAsReference: on random maps (exactly full, as received,
// or with room to spare) and random entries (every action and value kind,
// keys present or not, duplicate keys), applyEntries produces the same
// attributes in the same order, and the same changed flag, as the reference.
func TestApplyEntriesSameAsReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	keys := []string{"a", "b", "c", "host.name", "team", "service.name", "k6", "k7"}
	vals := []value{
		strValue("x"), strValue("y"), strValue(""),
		{kind: kindInt, i: 7}, {kind: kindInt, i: 8},
		{kind: kindDouble, d: 1.5}, {kind: kindBool, b: true},
	}
	for n := range 5000 {
		src := pcommon.NewMap()
		for _, k := range keys {
			if rng.IntN(2) == 0 {
				vals[rng.IntN(len(vals))].putTo(src, k)
			}
		}
		entries := make([]entry, rng.IntN(6))
		for i := range entries {
			entries[i] = entry{key: keys[rng.IntN(len(keys))], val: vals[rng.IntN(len(vals))], act: action(rng.IntN(3))}
		}
		got, want := pcommon.NewMap(), pcommon.NewMap()
		src.CopyTo(got) // exactly full
		src.CopyTo(want)
		if n%2 == 1 {
			got.EnsureCapacity(got.Len() + 3) // room to spare
		}
		gotChanged := applyEntries(got, entries)
		wantChanged := applyEntriesReference(want, entries)
		if gotChanged != wantChanged || fmt.Sprint(ordered(got)) != fmt.Sprint(ordered(want)) {
			t.Fatalf("entries %v on %v:\n got  %v changed=%v\n want %v changed=%v",
				entries, ordered(src), ordered(got), gotChanged, ordered(want), wantChanged)
		}
	}
}

// ordered lists m's attributes in their order, with their types.
func ordered(m pcommon.Map) []string {
	var out []string
	for k, v := range m.All() {
		out = append(out, fmt.Sprintf("%s=%s(%s)", k, v.AsString(), v.Type()))
	}
	return out
}

// TestApplyEntriesAllocations: one inserted attribute on a received
// (exactly full) map of 10 costs two allocations, the value and a slice of
// exactly 11 attributes (448 bytes), not a doubled one (896 bytes).
func TestApplyEntriesAllocations(t *testing.T) {
	src := pcommon.NewMap()
	for i := range 10 {
		src.PutStr(fmt.Sprintf("attr.%d", i), "v")
	}
	entries := []entry{{key: "team", val: strValue("payments"), act: actInsert}}
	const n = 1000
	maps := make([]pcommon.Map, n)
	for i := range maps {
		maps[i] = pcommon.NewMap()
		src.CopyTo(maps[i])
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, m := range maps {
		applyEntries(m, entries)
	}
	runtime.ReadMemStats(&after)
	allocs := float64(after.Mallocs-before.Mallocs) / n
	bytes := float64(after.TotalAlloc-before.TotalAlloc) / n
	if allocs > 2.05 || bytes > 500 {
		t.Fatalf("%.2f allocations and %.0f bytes per map, want 2 and 448 + 16", allocs, bytes)
	}
	for _, m := range maps {
		if v, ok := m.Get("team"); !ok || v.Str() != "payments" || m.Len() != 11 {
			t.Fatalf("team not inserted: %v", ordered(m))
		}
	}
}
