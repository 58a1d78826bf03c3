module github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext

go 1.26.0
