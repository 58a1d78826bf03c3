// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ScrapeMetrics fetches a Prometheus text exposition endpoint (such as the
// collector's http://127.0.0.1:8888/metrics) and parses it with
// ParsePrometheusText. It fails the test on any error.
func ScrapeMetrics(t testing.TB, url string) map[string]float64 {
	t.Helper()
	m, err := TryScrapeMetrics(url)
	if err != nil {
		t.Fatalf("ScrapeMetrics: %v", err)
	}
	return m
}

// TryScrapeMetrics is ScrapeMetrics returning the error instead of failing,
// for use inside polling loops.
func TryScrapeMetrics(url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Ask for the classic text format; the parser does not read protobuf.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, tail(string(body), 5, 1024))
	}
	return ParsePrometheusText(string(body))
}

// ParsePrometheusText parses the Prometheus text exposition format into a
// map from series key to value. The key is the metric name followed, if the
// series has labels, by its labels sorted by name and written as
// {name="value",...} with values escaped as in the exposition, e.g.
// otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"}.
// Comments, blank lines and timestamps are ignored; +Inf, -Inf and NaN are
// understood; UTF-8 metric names quoted inside the braces are accepted.
func ParsePrometheusText(text string) (map[string]float64, error) {
	out := make(map[string]float64)
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, rest, err := parseSeries(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", lineNo, line, err)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return nil, fmt.Errorf("line %d %q: want value and optional timestamp", lineNo, line)
		}
		v, err := parsePromFloat(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", lineNo, line, err)
		}
		out[seriesKey(name, labels)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// promLabel is one parsed label; value is kept in its escaped form.
type promLabel struct {
	name, value string
}

// parseSeries splits a sample line into name, labels and the remainder.
func parseSeries(line string) (string, []promLabel, string, error) {
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return "", nil, "", errors.New("no value")
	}
	name := line[:i]
	if line[i] != '{' {
		if rest := strings.TrimLeft(line[i:], " \t"); name != "" && strings.HasPrefix(rest, "{") {
			i = len(line) - len(rest)
		}
	}
	if line[i] != '{' {
		if name == "" {
			return "", nil, "", errors.New("empty metric name")
		}
		return name, nil, line[i:], nil
	}
	labels, rest, quotedName, err := parseLabels(line[i+1:])
	if err != nil {
		return "", nil, "", err
	}
	if name == "" {
		name = quotedName
	} else if quotedName != "" {
		return "", nil, "", errors.New("metric name given twice")
	}
	if name == "" {
		return "", nil, "", errors.New("empty metric name")
	}
	return name, labels, rest, nil
}

// parseLabels parses `a="x",b="y"}` (the opening brace already consumed) and
// returns the labels, the text after the closing brace, and a bare quoted
// metric name if the braces held one.
func parseLabels(s string) ([]promLabel, string, string, error) {
	var labels []promLabel
	quotedName := ""
	for range len(s) + 1 { // each iteration consumes at least one byte
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil, "", "", errors.New("unterminated label set")
		}
		if s[0] == '}' {
			return labels, s[1:], quotedName, nil
		}
		var lname string
		if s[0] == '"' {
			v, rest, err := readQuoted(s)
			if err != nil {
				return nil, "", "", err
			}
			lname, s = v, rest
		} else {
			j := strings.IndexAny(s, "= \t")
			if j <= 0 {
				return nil, "", "", fmt.Errorf("bad label near %q", s)
			}
			lname, s = s[:j], s[j:]
		}
		s = strings.TrimLeft(s, " \t")
		if s != "" && (s[0] == ',' || s[0] == '}') {
			// A bare quoted string is the metric name (UTF-8 names).
			if quotedName != "" || len(labels) > 0 {
				return nil, "", "", errors.New("unexpected bare string in label set")
			}
			quotedName = unescapeQuoted(lname)
			if s[0] == ',' {
				s = s[1:]
			}
			continue
		}
		if s == "" || s[0] != '=' {
			return nil, "", "", fmt.Errorf("missing '=' after label %q", lname)
		}
		s = strings.TrimLeft(s[1:], " \t")
		if s == "" || s[0] != '"' {
			return nil, "", "", fmt.Errorf("label %q: value not quoted", lname)
		}
		value, rest, err := readQuoted(s)
		if err != nil {
			return nil, "", "", err
		}
		labels = append(labels, promLabel{name: lname, value: value})
		s = strings.TrimLeft(rest, " \t")
		if s != "" && s[0] == ',' {
			s = s[1:]
		}
	}
	return nil, "", "", errors.New("label set too long")
}

// readQuoted reads a double-quoted string starting at s[0] and returns its
// content still escaped, plus the text after the closing quote.
func readQuoted(s string) (string, string, error) {
	for j := 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return s[1:j], s[j+1:], nil
		}
	}
	return "", "", errors.New("unterminated quoted string")
}

// unescapeQuoted resolves \\, \" and \n escapes.
func unescapeQuoted(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(s)
}

// parsePromFloat parses a sample value.
func parsePromFloat(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// seriesKey builds the canonical key of a series.
func seriesKey(name string, labels []promLabel) string {
	if len(labels) == 0 {
		return name
	}
	sorted := append([]promLabel(nil), labels...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, l := range sorted {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.name)
		b.WriteString(`="`)
		b.WriteString(l.value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// SeriesKey returns the key ParsePrometheusText uses for a series with the
// given name and (unescaped) labels.
func SeriesKey(name string, labels map[string]string) string {
	ls := make([]promLabel, 0, len(labels))
	for k, v := range labels {
		ls = append(ls, promLabel{name: k, value: escapeLabelValue(v)})
	}
	return seriesKey(name, ls)
}

// escapeLabelValue escapes a label value as the exposition format does.
func escapeLabelValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// ParseSeriesKey splits a key produced by ParsePrometheusText into the metric
// name and its labels, with values unescaped.
func ParseSeriesKey(key string) (string, map[string]string, error) {
	name, labels, rest, err := parseSeries(key + " 0")
	if err != nil {
		return "", nil, err
	}
	if strings.TrimSpace(rest) != "0" {
		return "", nil, fmt.Errorf("trailing text in series key %q", key)
	}
	m := make(map[string]string, len(labels))
	for _, l := range labels {
		m[l.name] = unescapeQuoted(l.value)
	}
	return name, m, nil
}

// SumMetric sums the values of all series named name whose labels include
// every name/value pair in labelFilter (nil matches all series).
func SumMetric(m map[string]float64, name string, labelFilter map[string]string) float64 {
	var sum float64
	for key, v := range m {
		if key != name && !strings.HasPrefix(key, name+"{") {
			continue
		}
		n, labels, err := ParseSeriesKey(key)
		if err != nil || n != name {
			continue
		}
		ok := true
		for fk, fv := range labelFilter {
			if got, has := labels[fk]; !has || got != fv {
				ok = false
				break
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}
