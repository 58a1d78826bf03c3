#!/bin/sh
# otelcol-edge postinstall: create the buffer directory, then enable and start
# the service on a first install, restart it on an upgrade (when systemd runs).
# deb: postinst configure [<old version>] | abort-*; rpm: %post 1 (install) | 2 (upgrade).
set -e

SERVICE_USER=otelcol-edge
DATA_DIR=/var/lib/otelcol-edge

case "$1" in
    abort-*) exit 0 ;;
esac

# The edge exporter's durable buffer: 0700, owned by the service user. Only the
# directory itself is touched: what it holds is never changed or deleted here.
mkdir -p "$DATA_DIR"
chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
chmod 0700 "$DATA_DIR"

first_install=false
if [ "$1" = "1" ] || { [ "$1" = "configure" ] && [ -z "$2" ]; }; then
    first_install=true
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || true
    if [ "$first_install" = true ]; then
        systemctl enable otelcol-edge.service || true
        systemctl start otelcol-edge.service || true
    else
        systemctl try-restart otelcol-edge.service || true
    fi
fi
exit 0
