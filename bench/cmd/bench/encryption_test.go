// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestNewBufferKey(t *testing.T) {
	k1, err := newBufferKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := newBufferKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(k1)
	if err != nil || len(raw) != 32 {
		t.Fatalf("key %d bytes, err %v; want 32 bytes of base64", len(raw), err)
	}
	if k1 == k2 {
		t.Fatal("two keys are equal")
	}
}

// TestEncryptionArgs: only the encrypted variants of ours get the overlay and
// the key; the plain runs and the anchor get nothing.
func TestEncryptionArgs(t *testing.T) {
	h := &harness{o: options{encryption: true, encConfig: "/r/bench/configs/edge-encrypted.yaml"}, bufferKey: "S0VZ"}
	for _, v := range []variant{{label: labelOurs}, {label: labelAnchor, anchor: true, encrypted: true}} {
		if a, e := h.encryptionArgs(v); a != nil || e != nil {
			t.Errorf("%s: args %v env %v, want none", v.label, a, e)
		}
	}
	a, e := h.encryptionArgs(variant{label: labelOursIntervalEnc, encrypted: true})
	if !slices.Equal(a, []string{"--config", "/r/bench/configs/edge-encrypted.yaml"}) || !slices.Equal(e, []string{"BENCH_BUFFER_KEY=S0VZ"}) {
		t.Fatalf("args %v env %v", a, e)
	}
}

// TestEncryptionOverlay: the overlay only turns on buffer.encryption, takes
// the key from the variable the runner sets, and holds no key.
func TestEncryptionOverlay(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "edge-encrypted.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"key: ${env:" + bufferKeyEnv + "}", "active: bench", "- id: bench"} {
		if !strings.Contains(s, want) {
			t.Errorf("overlay lacks %q", want)
		}
	}
	var top []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, " ") {
			top = append(top, l)
		}
	}
	if !slices.Equal(top, []string{"exporters:"}) {
		t.Errorf("overlay top-level keys %v, want only exporters", top)
	}
	if regexp.MustCompile(`[A-Za-z0-9+/]{43}=`).MatchString(s) {
		t.Error("overlay seems to hold a base64 key")
	}
}

func TestEncryptedVariants(t *testing.T) {
	h := &harness{o: options{encryption: true}}
	vs := h.s2Variants()
	if len(vs) != 4 || vs[3].label != labelOursIntervalEnc || !vs[3].encrypted || vs[3].fsync != "interval" {
		t.Fatalf("S2 variants with -encryption: %+v", vs)
	}
	for _, v := range vs[:3] {
		if v.encrypted {
			t.Errorf("%s encrypted", v.label)
		}
	}
	h.o.s2Variants = "interval, encrypted"
	if vs := h.s2Variants(); len(vs) != 2 || vs[0].label != labelOursInterval || vs[1].label != labelOursIntervalEnc {
		t.Fatalf("-s2-variants interval,encrypted: %+v", vs)
	}
	h.o.s2Variants = ""
	h.o.encryption = false
	if vs := h.s2Variants(); len(vs) != 3 {
		t.Fatalf("S2 variants with -encryption=false: %+v", vs)
	}
	o := options{s1Variants: "ours, encrypted"}
	got := o.pickS1([]variant{{label: labelOurs}, {label: labelAnchor}, {label: labelOursEnc, encrypted: true}})
	if len(got) != 2 || got[0].label != labelOurs || got[1].label != labelOursEnc {
		t.Fatalf("pickS1(ours,encrypted): %+v", got)
	}
}

func TestEncryptionReport(t *testing.T) {
	h := &harness{o: options{runs: 2, encConfig: "edge-encrypted.yaml"}, res: newResults()}
	if s := h.encryptionReport(); s != "" {
		t.Fatalf("report without encrypted runs: %q", s)
	}
	for _, v := range []struct {
		label string
		rate  float64
	}{{labelOursInterval, 100_000}, {labelOursInterval, 120_000}, {labelOursIntervalEnc, 90_000}, {labelOursIntervalEnc, 108_000}} {
		m := h.res.add("S2", v.label)
		m["spans/s written"] = v.rate
	}
	h.res.add("S3", labelOursIntervalEnc)["CPU-s per M spans replayed"] = 6
	s := h.encryptionReport()
	for _, want := range []string{
		"| S2 offline, fsync interval | spans/s written | 99000 | 110000 | 0.900 |",
		"| S3 replay (after S2 fsync interval) | CPU-s per M spans replayed | 6.00 (1/2 runs) | n/a | n/a |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "| S1 ") || strings.Contains(s, "bytes on disk per span") {
		t.Errorf("rows without data:\n%s", s)
	}
}
