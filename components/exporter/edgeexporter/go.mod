module github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter

go 1.26.0
