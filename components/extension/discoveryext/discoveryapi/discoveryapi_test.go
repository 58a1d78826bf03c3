// SPDX-License-Identifier: Apache-2.0

package discoveryapi

import (
	"testing"
)

func TestEligible(t *testing.T) {
	s := Snapshot{Endpoints: []Endpoint{
		{ID: "c", Priority: 1, Health: HealthHealthy},
		{ID: "a", Priority: 1, Health: HealthUnknown},
		{ID: "b", Priority: 0, Health: HealthHealthy},
		{ID: "d", Priority: 0, Health: HealthUnhealthy},
		{ID: "e", Priority: 0, Health: HealthDraining},
	}}
	ids := func(eps []Endpoint) (out []string) {
		for _, e := range eps {
			out = append(out, e.ID)
		}
		return out
	}
	if got := ids(s.Eligible()); len(got) != 3 || got[0] != "b" || got[1] != "a" || got[2] != "c" {
		t.Fatalf("eligible = %v, want [b a c]", got)
	}
	s.Panic = true
	if got := ids(s.Eligible()); len(got) != 4 || got[0] != "b" || got[1] != "d" {
		t.Fatalf("panic eligible = %v, want [b d a c]", got)
	}
	if HealthDraining.String() != "draining" || Health(42).String() != "unknown" {
		t.Fatal("Health.String")
	}
}
