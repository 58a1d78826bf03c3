// SPDX-License-Identifier: Apache-2.0

// Command sink is an OTLP/gRPC trace backend that only counts spans. It prints
// the count every second and exits after -duration or once -want spans arrived.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

func main() {
	port := flag.Int("port", 4319, "port on 127.0.0.1")
	want := flag.Int64("want", 0, "exit once this many spans arrived (0: run until -duration)")
	dur := flag.Duration("duration", 5*time.Minute, "maximum run time")
	flag.Parse()

	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", *port))
	if err := sk.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
	defer sk.Stop()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			fmt.Printf("spans=%d requests=%d bytes=%d elapsed=%s\n", sk.Spans(), sk.Requests(), sk.Bytes(), time.Since(start).Round(time.Millisecond))
			return
		case <-tick.C:
			n := sk.Spans()
			fmt.Printf("spans=%d\n", n)
			if *want > 0 && n >= *want {
				first, last := sk.FirstLast()
				fmt.Printf("reached %d spans; first-to-last %s\n", n, last.Sub(first).Round(time.Millisecond))
				return
			}
		}
	}
}
