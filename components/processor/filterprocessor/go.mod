module github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor

go 1.26.0
