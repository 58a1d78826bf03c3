module github.com/otelcol-edge/otelcol-edge/components/resourceapi

go 1.26.0
