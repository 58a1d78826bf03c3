module github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor

go 1.26.0
