// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"testing"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi/discoveryapitest"
)

// testCA is the certificate authority of the TLS tests (shared with the
// discovery extension's tests through discoveryapitest).
type testCA = discoveryapitest.TestCA

func newTestCA(t testing.TB) *testCA { return discoveryapitest.NewTestCA(t) }
