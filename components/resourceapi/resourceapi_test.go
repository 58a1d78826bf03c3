// SPDX-License-Identifier: Apache-2.0

package resourceapi

import (
	"maps"
	"testing"
)

type recv struct {
	calls []map[string]string
	srcs  []string
}

func (r *recv) SetDetectedResource(source string, attrs map[string]string) {
	r.srcs = append(r.srcs, source)
	r.calls = append(r.calls, attrs)
}

type other struct{}

func TestPublisher(t *testing.T) {
	r := &recv{}
	p := NewPublisher("enrich/a", map[string]any{"opamp": r, "zpages": other{}})
	if p.Receivers() != 1 {
		t.Fatalf("receivers = %d, want 1", p.Receivers())
	}
	in := map[string]string{"host.name": "h1"}
	p.Publish(in)
	in["host.name"] = "changed by the caller"
	p.Publish(map[string]string{"host.name": "h1"}) // unchanged: not sent
	p.Publish(map[string]string{"host.name": "h1", "os.type": "linux"})
	p.Withdraw()
	p.Withdraw() // already withdrawn: not sent
	if len(r.calls) != 3 {
		t.Fatalf("calls = %v, want 3", r.calls)
	}
	if !maps.Equal(r.calls[0], map[string]string{"host.name": "h1"}) {
		t.Errorf("first call %v: the publisher must copy", r.calls[0])
	}
	if r.calls[2] != nil || r.srcs[2] != "enrich/a" {
		t.Errorf("withdraw = %q %v", r.srcs[2], r.calls[2])
	}
}

func TestPublisherWithoutReceivers(t *testing.T) {
	p := NewPublisher("enrich", map[string]any{"zpages": other{}})
	p.Publish(map[string]string{"a": "b"})
	p.Withdraw()
	var nilP *Publisher
	nilP.Publish(nil)
	nilP.Withdraw()
}
