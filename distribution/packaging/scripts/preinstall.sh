#!/bin/sh
# otelcol-edge preinstall: create the otelcol-edge system group and user before
# the files are unpacked (config files are group-owned by it).
# deb: preinst install|upgrade|abort-upgrade; rpm: %pre 1 (install) | 2 (upgrade).
# Idempotent; an existing user or group is kept as it is.
set -e

SERVICE_USER=otelcol-edge
SERVICE_HOME=/var/lib/otelcol-edge

if ! getent group "$SERVICE_USER" >/dev/null 2>&1; then
    groupadd --system "$SERVICE_USER"
fi
if ! getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
    shell=/usr/sbin/nologin
    [ -x "$shell" ] || shell=/sbin/nologin
    [ -x "$shell" ] || shell=/bin/false
    useradd --system --gid "$SERVICE_USER" --home-dir "$SERVICE_HOME" --no-create-home \
        --shell "$shell" --comment "otelcol-edge collector" "$SERVICE_USER"
fi
exit 0
