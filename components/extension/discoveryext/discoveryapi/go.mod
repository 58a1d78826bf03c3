module github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi

go 1.26.0
