// SPDX-License-Identifier: Apache-2.0

// Command benchtable reads the output of `go test -bench` for our processors
// and for the upstream ones (bench/procbench/run.sh) and prints a markdown
// table of the medians of ns/span and allocs/span over the repeated counts.
//
//	benchtable ours.txt upstream.txt
package main // import "github.com/otelcol-edge/otelcol-edge/bench/procbench/ours/cmd/benchtable"

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// gomaxprocs is the -N suffix go test adds to benchmark names.
var gomaxprocs = regexp.MustCompile(`-\d+$`)

type results struct {
	order  []string
	values map[string]map[string][]float64 // benchmark -> unit -> values
}

func parse(path string) (*results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &results{values: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue
		}
		name := gomaxprocs.ReplaceAllString(strings.TrimPrefix(fields[0], "Benchmark"), "")
		units, ok := r.values[name]
		if !ok {
			units = map[string][]float64{}
			r.values[name] = units
			r.order = append(r.order, name)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			units[fields[i+1]] = append(units[fields[i+1]], v)
		}
	}
	return r, sc.Err()
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func (r *results) median(name, unit string) (float64, bool) {
	return median(r.values[name][unit])
}

func format(v float64, ok bool, digits int) string {
	if !ok {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: benchtable ours.txt upstream.txt")
		os.Exit(2)
	}
	ours, err := parse(os.Args[1])
	if err == nil && len(ours.order) == 0 {
		err = fmt.Errorf("no benchmark results in %s", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	upstream, err := parse(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	names := slices.Clone(ours.order)
	for _, n := range upstream.order {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	fmt.Println("| benchmark | ours ns/span | upstream ns/span | ratio | ours allocs/span | upstream allocs/span | counts |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, n := range names {
		ons, ook := ours.median(n, "ns/span")
		uns, uok := upstream.median(n, "ns/span")
		oal, oaok := ours.median(n, "allocs/span")
		ual, uaok := upstream.median(n, "allocs/span")
		ratio := "—"
		if ook && uok && uns > 0 {
			ratio = fmt.Sprintf("%.2f", ons/uns)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %d / %d |\n", n,
			format(ons, ook, 1), format(uns, uok, 1), ratio,
			format(oal, oaok, 3), format(ual, uaok, 3),
			len(ours.values[n]["ns/span"]), len(upstream.values[n]["ns/span"]))
	}
	fmt.Println()
	fmt.Println("Medians over the counts (ours / upstream). ratio = ours ns/span / upstream ns/span (< 1: ours is faster).")
}
