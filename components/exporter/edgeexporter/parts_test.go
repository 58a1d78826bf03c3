// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"bytes"
	"testing"
)

// TestBatchPartsJoinedOnDemand: a batch of several records keeps their
// payloads as parts (sent by gRPC without joining them, rawCodecV2) and
// joins them, once, only for a client that needs one buffer.
func TestBatchPartsJoinedOnDemand(t *testing.T) {
	b := &batch{parts: [][]byte{[]byte("ab"), nil, []byte("cde")}, size: 5}
	if got := b.bytes(); string(got) != "abcde" {
		t.Fatalf("bytes() = %q", got)
	}
	if &b.bytes()[0] != &b.body[0] {
		t.Fatal("joined twice")
	}
	msg, err := rawCodecV2{}.Marshal(&b.parts)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Len() != 5 || !bytes.Equal(msg.Materialize(), []byte("abcde")) {
		t.Fatalf("message %q", msg.Materialize())
	}
	body := []byte("xyz")
	msg, err = rawCodecV2{}.Marshal(&body)
	if err != nil || !bytes.Equal(msg.Materialize(), body) {
		t.Fatalf("message %q, %v", msg.Materialize(), err)
	}
	if _, err := (rawCodecV2{}).Marshal("x"); err == nil {
		t.Fatal("no error for an unexpected type")
	}
}
