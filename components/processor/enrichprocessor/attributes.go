// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"cmp"
	"maps"
	"slices"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Semantic-convention attribute names produced by the detectors.
const (
	attrHostName      = "host.name"
	attrHostID        = "host.id"
	attrHostArch      = "host.arch"
	attrHostType      = "host.type"
	attrOSType        = "os.type"
	attrOSDescription = "os.description"
	attrK8sPodName    = "k8s.pod.name"
	attrK8sPodUID     = "k8s.pod.uid"
	attrK8sNamespace  = "k8s.namespace.name"
	attrK8sNodeName   = "k8s.node.name"
	attrK8sContainer  = "k8s.container.name"
	attrK8sCluster    = "k8s.cluster.name"
	attrCloudProvider = "cloud.provider"
	attrCloudPlatform = "cloud.platform"
	attrCloudRegion   = "cloud.region"
	attrCloudZone     = "cloud.availability_zone"
	attrCloudAccount  = "cloud.account.id"
)

// action is a compiled per-key policy.
type action uint8

const (
	actInsert action = iota
	actUpsert
	actUpdate
)

func parseAction(s string) action {
	switch s {
	case ActionUpsert:
		return actUpsert
	case ActionUpdate:
		return actUpdate
	}
	return actInsert
}

// valueKind is the type of an attribute value.
type valueKind uint8

const (
	kindStr valueKind = iota
	kindInt
	kindDouble
	kindBool
)

// value is an immutable attribute value; it is written into pdata without
// going through pcommon.Value so the hot path allocates only what pdata
// itself needs to store it.
type value struct {
	kind valueKind
	s    string
	i    int64
	d    float64
	b    bool
}

func strValue(s string) value { return value{kind: kindStr, s: s} }

// String renders the value for logs and tests.
func (v value) String() string {
	switch v.kind {
	case kindInt:
		return strconv.FormatInt(v.i, 10)
	case kindDouble:
		return strconv.FormatFloat(v.d, 'g', -1, 64)
	case kindBool:
		return strconv.FormatBool(v.b)
	}
	return v.s
}

// putTo sets key to v in m (adding or overwriting).
func (v value) putTo(m pcommon.Map, key string) {
	switch v.kind {
	case kindInt:
		m.PutInt(key, v.i)
	case kindDouble:
		m.PutDouble(key, v.d)
	case kindBool:
		m.PutBool(key, v.b)
	default:
		m.PutStr(key, v.s)
	}
}

// setOn overwrites an existing pcommon.Value.
func (v value) setOn(dst pcommon.Value) {
	switch v.kind {
	case kindInt:
		dst.SetInt(v.i)
	case kindDouble:
		dst.SetDouble(v.d)
	case kindBool:
		dst.SetBool(v.b)
	default:
		dst.SetStr(v.s)
	}
}

// equals reports whether dst already holds v (so an upsert that changes
// nothing is not counted as enrichment).
func (v value) equals(dst pcommon.Value) bool {
	switch v.kind {
	case kindInt:
		return dst.Type() == pcommon.ValueTypeInt && dst.Int() == v.i
	case kindDouble:
		return dst.Type() == pcommon.ValueTypeDouble && dst.Double() == v.d
	case kindBool:
		return dst.Type() == pcommon.ValueTypeBool && dst.Bool() == v.b
	}
	return dst.Type() == pcommon.ValueTypeStr && dst.Str() == v.s
}

// staticValue converts a configured value.
func staticValue(x any) (value, bool) {
	switch t := x.(type) {
	case string:
		return strValue(t), true
	case bool:
		return value{kind: kindBool, b: t}, true
	case int:
		return value{kind: kindInt, i: int64(t)}, true
	case int64:
		return value{kind: kindInt, i: t}, true
	case uint64:
		return value{kind: kindInt, i: int64(t)}, true
	case float64:
		return value{kind: kindDouble, d: t}, true
	case float32:
		return value{kind: kindDouble, d: float64(t)}, true
	}
	return value{}, false
}

// entry is one attribute to apply with its policy.
type entry struct {
	key string
	val value
	act action
}

// applyEntries applies entries to m and reports whether m changed.
func applyEntries(m pcommon.Map, entries []entry) bool {
	present := reserve(m, entries)
	changed := false
	for i := range entries {
		e := &entries[i]
		if e.act == actInsert && i < 64 && present&(1<<i) != 0 {
			continue // keys are never removed here: still present, nothing to insert
		}
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

// reserve grows m once to hold the keys that applyEntries will add to it.
// The attribute slice of a received item is usually exactly full (the OTLP
// decoder and Map.CopyTo size it to its length), so the first insert would
// otherwise make append double it: 10 attributes plus one inserted is a
// 448-byte allocation when sized, 896 bytes (and past the 512 bytes from
// which a pointer-carrying allocation needs a header, a slower path) when
// doubled. Counting costs one lookup per entry, far less than the
// allocation it saves. reserve returns a bit per entry (the first 64) whose
// key m already has, so that applyEntries does not look up an insert again
// (the common case of a gateway behind agents that set the attributes).
func reserve(m pcommon.Map, entries []entry) (present uint64) {
	add := 0
	for i := range entries {
		if entries[i].act == actUpdate {
			continue // never adds a key
		}
		if _, ok := m.Get(entries[i].key); ok {
			if i < 64 {
				present |= 1 << i
			}
		} else {
			add++
		}
	}
	if add > 0 {
		m.EnsureCapacity(m.Len() + add)
	}
	return present
}

// sortedKeys returns the keys of m in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), cmp.Compare[string])
}
