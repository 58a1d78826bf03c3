// SPDX-License-Identifier: Apache-2.0

package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// invalidCase is one file of testdata/invalid/.
type invalidCase struct {
	file, component string
	wants           []string
}

// parseInvalidCase reads the `# want: <substring>` lines of a config; the
// component is the file name's prefix (edge_, filter_, enrich_, discovery_).
func parseInvalidCase(name string, content []byte) invalidCase {
	c := invalidCase{file: name, component: strings.SplitN(name, "_", 2)[0]}
	for _, line := range strings.Split(string(content), "\n") {
		if w, ok := strings.CutPrefix(strings.TrimSpace(line), "# want:"); ok && strings.TrimSpace(w) != "" {
			c.wants = append(c.wants, strings.TrimSpace(w))
		}
	}
	return c
}

// errorLine picks the line of validate's output that carries the error.
func errorLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// runInvalidConfigs is R7: every config in testdata/invalid/ must make
// `otelcol-edge validate` fail with an error containing its `# want:` lines.
func (h *harness) runInvalidConfigs(ctx context.Context) error {
	s := &scenario{id: "R7", title: "invalid configurations rejected by `otelcol-edge validate`"}
	h.rep.add(s)
	files, err := filepath.Glob(filepath.Join(h.o.invalidDir, "*.yaml"))
	if err != nil {
		return err
	}
	s.setup = fmt.Sprintf("Every file of `%s` (one full collector config per case, `# want: <substring>` lines) is run through "+
		"`otelcol-edge validate --config <file>`; it passes when the exit code is non-zero and the output contains every want "+
		"(which names the offending key). The same files are checked by `TestInvalidConfigsRejected` in `make test`.", h.o.invalidDir)
	var b strings.Builder
	b.WriteString("| config | component | want | exit code | error (last line of the output) | result |\n|---|---|---|---|---|---|\n")
	pass := 0
	perComp := map[string][2]int{}
	for _, f := range files {
		content, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		c := parseInvalidCase(filepath.Base(f), content)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := exec.CommandContext(cctx, h.o.oursBin, "validate", "--config", f)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		cancel()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		ok := code != 0 && len(c.wants) > 0
		for _, w := range c.wants {
			if !strings.Contains(out.String(), w) {
				ok = false
			}
		}
		res := "pass"
		if !ok {
			res = "FAIL"
		} else {
			pass++
		}
		pc := perComp[c.component]
		pc[1]++
		if ok {
			pc[0]++
		}
		perComp[c.component] = pc
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s |\n", esc(c.file), esc(c.component), esc("`"+strings.Join(c.wants, "` + `")+"`"),
			code, esc(cut(errorLine(out.String()), 220)), res)
	}
	s.custom = b.String()
	var comps []string
	for _, k := range []string{"edge", "filter", "enrich", "discovery"} {
		comps = append(comps, fmt.Sprintf("%s %d/%d", k, perComp[k][0], perComp[k][1]))
	}
	r := newRow(labelOurs)
	r.verdict = fmt.Sprintf("%d / %d invalid configs rejected with the key named (%s)", pass, len(files), strings.Join(comps, ", "))
	s.rows = append(s.rows, r)
	s.notes = append(s.notes, r.verdict)
	if len(files) < 25 {
		s.notes = append(s.notes, fmt.Sprintf("only %d configs: the suite wants 25 or more", len(files)))
	}
	h.logf("R7: %s", r.verdict)
	return nil
}
