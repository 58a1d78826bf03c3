#!/bin/sh
# otelcol-edge postremove.
# deb: postrm remove|purge|upgrade|disappear|abort-*; rpm: %postun 0 (erase) | 1 (upgrade).
#
# The buffer /var/lib/otelcol-edge holds telemetry not yet delivered: it is kept
# on remove and upgrade (reinstalling picks it up and sends it). Only a deb purge
# (dpkg -P, apt purge) deletes it. The otelcol-edge user and group are kept even
# on purge (Debian policy: files elsewhere may still carry their ids).
set -e

DATA_DIR=/var/lib/otelcol-edge

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || true
fi

case "$1" in
    purge)
        rm -rf "$DATA_DIR"
        ;;
esac
exit 0
