// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadata"
)

// csvRows is a CSV lookup file of n rows: svc0..svc<n-1> -> team0..
func csvRows(n int) string {
	var b strings.Builder
	b.WriteString("service.name,team\n")
	for i := range n {
		fmt.Fprintf(&b, "svc%d,team%d\n", i, i)
	}
	return b.String()
}

// yamlRows is the same table in YAML.
func yamlRows(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "svc%d: {team: team%d}\n", i, i)
	}
	return b.String()
}

// startWithLookup starts an enricher with one lookup table and returns the
// start error (the enricher is shut down either way).
func startWithLookup(t *testing.T, lc LookupConfig) error {
	t.Helper()
	cfg := testConfig()
	cfg.Lookups = []LookupConfig{lc}
	require.NoError(t, cfg.Validate())
	e := newEnricher(cfg, processortest.NewNopSettings(metadata.Type))
	errc := make(chan error, 1)
	go func() { errc <- e.start(context.Background(), componenttest.NewNopHost()) }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("start did not return: the lookup file was not refused in time")
	}
	require.NoError(t, e.shutdown(context.Background()))
	return err
}

// TestLookupFileCapsAtStart: a lookup file over lookups[].max_bytes or
// lookups[].max_rows (or their defaults, 4 MiB and 100000 rows), or a file that
// is not a regular file, fails the start with an error naming the table, the
// file and the cap; a file exactly at the caps loads.
func TestLookupFileCapsAtStart(t *testing.T) {
	dir := t.TempDir()
	small := csvRows(3) // 3 rows, 63 bytes
	for _, tc := range []struct {
		name    string
		file    string
		content string
		lc      LookupConfig
		want    []string // "" = loads
	}{
		{name: "csv at both caps", file: "at.csv", content: small, lc: LookupConfig{MaxBytes: int64(len(small)), MaxRows: 3}},
		{name: "csv over max_bytes", file: "big.csv", content: small, lc: LookupConfig{MaxBytes: int64(len(small)) - 1},
			want: []string{`lookup table "big"`, filepath.Join(dir, "big.csv"), fmt.Sprintf("is %d bytes, over the cap of %d bytes (lookups[].max_bytes)", len(small), len(small)-1)}},
		{name: "csv over max_rows", file: "rows.csv", content: small, lc: LookupConfig{MaxRows: 2},
			want: []string{`lookup table "rows"`, filepath.Join(dir, "rows.csv"), "line 4: more than 2 rows, over the cap (lookups[].max_rows)"}},
		{name: "yaml over max_rows", file: "rows.yaml", content: yamlRows(3), lc: LookupConfig{MaxRows: 2},
			want: []string{`lookup table "rows"`, filepath.Join(dir, "rows.yaml"), "line 3: more than 2 rows, over the cap (lookups[].max_rows)"}},
		{name: "json over max_rows", file: "rows.json", content: `{"a": {"team": "x"}, "b": {"team": "y"}}`, lc: LookupConfig{MaxRows: 1},
			want: []string{filepath.Join(dir, "rows.json"), "more than 1 rows, over the cap (lookups[].max_rows)"}},
		{name: "default max_bytes", file: "huge.csv", content: "service.name,team\n" + strings.Repeat("#\n", defaultLookupMaxBytes/2),
			want: []string{filepath.Join(dir, "huge.csv"), fmt.Sprintf("over the cap of %d bytes (lookups[].max_bytes)", defaultLookupMaxBytes)}},
		{name: "default max_rows", file: "many.csv", content: csvRows(defaultLookupMaxRows + 1),
			want: []string{filepath.Join(dir, "many.csv"), fmt.Sprintf("more than %d rows, over the cap (lookups[].max_rows)", defaultLookupMaxRows)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := tc.lc
			lc.File = writeFile(t, dir, tc.file, tc.content)
			lc.Key = "service.name"
			lc.Reload = ReloadNone
			err := startWithLookup(t, lc)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	t.Run("not a regular file", func(t *testing.T) {
		// Reading a FIFO would block the start until someone writes to it.
		path := filepath.Join(dir, "fifo.csv")
		require.NoError(t, syscall.Mkfifo(path, 0o600))
		err := startWithLookup(t, LookupConfig{File: path, Key: "service.name", Reload: ReloadNone})
		require.Error(t, err)
		assert.Contains(t, err.Error(), fmt.Sprintf("file %q is not a regular file", path))
	})
}

// TestLookupFileCapsOnReload: a watched or polled table whose file is
// replaced by one over a cap keeps the last good table, and the warning
// names the file and the cap; a file within the caps is loaded again.
func TestLookupFileCapsOnReload(t *testing.T) {
	for _, mode := range []string{ReloadWatch, ReloadPoll} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "teams.csv", "service.name,team\ncheckout,payments\n")
			cfg := testConfig()
			cfg.Lookups = []LookupConfig{{File: path, Key: "service.name", Reload: mode, PollInterval: 20 * time.Millisecond,
				MaxBytes: 200, MaxRows: 5}}
			e, _, logs := testEnricher(t, cfg, fakeEnv(nil))
			ctx := context.Background()
			team := func(service string) any {
				td, err := e.processTraces(ctx, traceWithService(service))
				require.NoError(t, err)
				return resourceOf(td)["team"]
			}
			require.Equal(t, "payments", team("checkout"))

			const rejected = "Lookup table rejected; keeping the last good table"
			for i, bad := range []struct{ content, want string }{
				{"service.name,team\ncheckout,huge\n" + strings.Repeat("# padding\n", 20), "over the cap of 200 bytes (lookups[].max_bytes)"},
				{"service.name,team\ncheckout,many\n" + csvRows(5)[len("service.name,team\n"):], "more than 5 rows, over the cap (lookups[].max_rows)"},
			} {
				replaceFile(t, path, bad.content)
				require.Eventually(t, func() bool { return logs.FilterMessage(rejected).Len() > i }, 5*time.Second, 10*time.Millisecond,
					"case %d: the file over the cap was not rejected", i)
				msg := logs.FilterMessage(rejected).All()[i].ContextMap()["error"]
				assert.Contains(t, msg, path, "case %d", i)
				assert.Contains(t, msg, bad.want, "case %d", i)
				assert.Equal(t, "payments", team("checkout"), "case %d: the last good table is kept", i)
			}

			replaceFile(t, path, "service.name,team\ncheckout,fixed\n")
			require.Eventually(t, func() bool { return team("checkout") == "fixed" }, 5*time.Second, 10*time.Millisecond)
		})
	}
}
