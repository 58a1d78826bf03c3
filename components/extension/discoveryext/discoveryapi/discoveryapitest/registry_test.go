// SPDX-License-Identifier: Apache-2.0

package discoveryapitest

import (
	"errors"
	"testing"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry(discoveryapi.Endpoint{ID: "a"})
	var got []uint64
	unsub, err := r.Subscribe(func(s discoveryapi.Snapshot) { got = append(got, s.Version) })
	if err != nil {
		t.Fatal(err)
	}
	r.Publish(discoveryapi.Endpoint{ID: "b"})
	unsub()
	r.Publish()
	if len(got) != 1 || got[0] != 2 || r.Snapshot().Version != 3 || len(r.Snapshot().Endpoints) != 0 {
		t.Fatalf("versions seen %v, snapshot %+v", got, r.Snapshot())
	}
	r.ReportResult("a", nil)
	r.ReportResult("a", errors.New("refused"))
	if r.Failures("a") != 1 || r.Failures("b") != 0 {
		t.Fatal("Failures")
	}
}
