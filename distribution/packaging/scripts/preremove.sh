#!/bin/sh
# otelcol-edge preremove: stop and disable the service when the package is
# removed (not on an upgrade: the new version's postinstall restarts it).
# deb: prerm remove|upgrade|deconfigure|failed-upgrade; rpm: %preun 0 (erase) | 1 (upgrade).
set -e

case "$1" in
    remove|deconfigure|0)
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl stop otelcol-edge.service || true
            systemctl disable otelcol-edge.service || true
        fi
        ;;
esac
exit 0
