module github.com/otelcol-edge/otelcol-edge

go 1.26.0
