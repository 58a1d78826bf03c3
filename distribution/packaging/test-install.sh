#!/usr/bin/env bash
# Install test of the otelcol-edge .deb on this machine (`make test-package`).
#
#   test-install.sh <deb> <rpm> <otlpcheck> <version>
#
# Needs root and dpkg; systemd need not run: the service is started the way its
# unit says (User/Group, EnvironmentFile, WorkingDirectory, UMask, ExecStart),
# with setpriv. Refuses to run if otelcol-edge is installed or its directories
# exist; leaves the machine as it found it (package purged; the otelcol-edge
# user and group, which purge keeps, deleted if this test created them).
set -euo pipefail

deb=$1 rpm=$2 otlpcheck=$3 version=$4
user=otelcol-edge
data=/var/lib/otelcol-edge
etc=/etc/otelcol-edge
unit=/usr/lib/systemd/system/otelcol-edge.service
started=$SECONDS
work=$(mktemp -d)
collector_pid= sink_pid=
user_existed=false

step() { printf '\n==> [%3ds] %s\n' $((SECONDS - started)) "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
check() { # check <description> <command...>
    local what=$1; shift
    if "$@"; then printf '  ok   %s\n' "$what"; else fail "$what"; fi
}
stat_is() { # stat_is <path> <mode owner group>
    local got; got=$(stat -c '%a %U %G' "$1")
    [ "$got" = "$2" ] || { echo "  $1: $got, want $2" >&2; return 1; }
}
pkg_status() { dpkg-query -W -f='${Status}' otelcol-edge 2>/dev/null || true; }
pkg_known() { case "$(pkg_status)" in "" | *not-installed) return 1 ;; esac; }
pkg_unknown() { ! pkg_known; }
user_exists() { getent passwd "$user" >/dev/null; }

cleanup() {
    local rc=$?
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
    [ -n "$collector_pid" ] && kill -9 "$collector_pid" 2>/dev/null || true
    if pkg_known; then dpkg -P otelcol-edge >/dev/null 2>&1 || true; fi
    rm -rf "$data"
    if [ "$user_existed" = false ]; then
        getent passwd "$user" >/dev/null && userdel "$user" 2>/dev/null || true
        getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null || true
    fi
    if [ $rc -ne 0 ] && [ -f "$work/collector.log" ]; then
        echo "--- last lines of the collector's output" >&2; tail -n 40 "$work/collector.log" >&2
    fi
    rm -rf "$work"
    [ $rc -eq 0 ] && printf '\nPASS: install test of %s in %ds\n' "$(basename "$deb")" $((SECONDS - started))
    exit $rc
}

if [ "$(id -u)" != 0 ]; then
    if [ "${OTELCOL_EDGE_SKIP_INSTALL_TEST:-}" = 1 ]; then
        echo "SKIP: install test (not root, OTELCOL_EDGE_SKIP_INSTALL_TEST=1); the packages were only inspected"
        exit 0
    fi
    fail "must run as root: it installs the package with dpkg (OTELCOL_EDGE_SKIP_INSTALL_TEST=1 skips it)"
fi
command -v dpkg >/dev/null && command -v setpriv >/dev/null || fail "needs dpkg and setpriv (util-linux)"
! pkg_known || fail "otelcol-edge is already known to dpkg ($(pkg_status)); remove it first"
[ ! -e "$data" ] && [ ! -e "$etc" ] || fail "$data or $etc exists; this test would delete it"
getent passwd "$user" >/dev/null && user_existed=true
trap cleanup EXIT

# Ports of this run (nothing of the machine's own 4317/4318/13133/8888 is touched).
read -r grpc_port http_port health_port zpages_port metrics_port sink_port <<<"$("$otlpcheck" freeports 6)"

step "inspect $(basename "$deb")"
check "deb version is $version (builder-config.yaml)" [ "$(dpkg-deb -f "$deb" Version)" = "$version" ]
check "deb name and architecture" [ "$(dpkg-deb -f "$deb" Package Architecture | tr '\n' ' ')" = "Package: otelcol-edge Architecture: $(dpkg --print-architecture) " ]
check "deb depends on passwd (useradd)" [ "$(dpkg-deb -f "$deb" Depends)" = passwd ]
dpkg-deb -e "$deb" "$work/control"
check "conffiles: config.yaml and otelcol-edge.conf" diff <(sort "$work/control/conffiles") <(printf '%s\n' "$etc/config.yaml" "$etc/otelcol-edge.conf")
check "the buffer directory is not a file of the package" bash -c "! dpkg-deb -c '$deb' | grep -q 'var/lib/otelcol-edge'"
dpkg-deb -c "$deb" | awk '{print "  " $1, $2, $NF}'

if command -v rpm >/dev/null; then
    step "inspect $(basename "$rpm") with rpm"
    rpm -qp --qf '  %{NAME} %{VERSION}-%{RELEASE} %{ARCH}\n' "$rpm" 2>/dev/null
    rpm -qplv "$rpm" 2>/dev/null | sed 's/^/  /'
    check "rpm: the two files under $etc are %config(noreplace), nothing else is config" \
        diff <(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null | grep -E '^[a-z]*c[a-z]* ' | sort) \
        <(printf 'cn %s\n' "$etc/config.yaml" "$etc/otelcol-edge.conf")
    check "rpm version is $version" [ "$(rpm -qp --qf '%{VERSION}' "$rpm" 2>/dev/null)" = "$version" ]
    check "rpm has the four scriptlets" [ "$(rpm -qp --scripts "$rpm" 2>/dev/null | grep -c '^[a-z]* scriptlet')" = 4 ]
else
    step "rpm is not installed: the .rpm was inspected by TestRPMPackage only"
fi

step "dpkg -i (first install)"
dpkg -i "$deb" </dev/null
check "package installed" [ "$(pkg_status)" = "install ok installed" ]
check "/usr/bin/otelcol-edge --version prints $version" [ "$(/usr/bin/otelcol-edge --version)" = "otelcol-edge version $version" ]
check "binary 755 root root" stat_is /usr/bin/otelcol-edge "755 root root"
uid=$(id -u "$user")
check "system user $user (uid $uid), no login shell" bash -c "[ $uid -lt 1000 ] && getent passwd $user | grep -Eq ':(/usr/sbin/nologin|/sbin/nologin|/bin/false)$'"
check "$data 700 $user $user" stat_is "$data" "700 $user $user"
check "$etc/config.yaml 640 root $user" stat_is "$etc/config.yaml" "640 root $user"
check "$etc/otelcol-edge.conf 640 root $user" stat_is "$etc/otelcol-edge.conf" "640 root $user"
check "unit installed" stat_is "$unit" "644 root root"
if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify $unit" systemd-analyze verify --man=no "$unit"
fi
check "dpkg lists both conffiles" bash -c "[ \$(dpkg-query -W -f='\${Conffiles}' otelcol-edge | grep -c '$etc/') = 2 ]"
check "the installed config validates, read as $user" \
    setpriv --reuid="$user" --regid="$user" --init-groups -- /usr/bin/otelcol-edge validate --config="$etc/config.yaml"

# What the unit runs, read from the installed unit.
unit_get() { sed -n "s/^$1=//p" "$unit" | head -n 1; }
exec_start=$(unit_get ExecStart) env_file=$(unit_get EnvironmentFile) workdir=$(unit_get WorkingDirectory)
svc_user=$(unit_get User) svc_group=$(unit_get Group) umask_=$(unit_get UMask)
check "unit runs as $user:$user" [ "$svc_user:$svc_group" = "$user:$user" ]

step "configure through $env_file (an operator's edit: ports of this run, backend = the test sink)"
cat >>"$env_file" <<CONF
# --- added by test-install.sh
OTELCOL_EDGE_ENDPOINT=127.0.0.1:$sink_port
OTELCOL_EDGE_INSECURE=true
OTELCOL_EDGE_OTLP_GRPC_ENDPOINT=127.0.0.1:$grpc_port
OTELCOL_EDGE_OTLP_HTTP_ENDPOINT=127.0.0.1:$http_port
OTELCOL_EDGE_HEALTH_ENDPOINT=127.0.0.1:$health_port
OTELCOL_EDGE_ZPAGES_ENDPOINT=127.0.0.1:$zpages_port
OTELCOL_EDGE_METRICS_PORT=$metrics_port
CONF

start_service() { # as systemd would: clean environment, EnvironmentFile, User/Group, WorkingDirectory, UMask, ExecStart
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        bash -c 'set -a; . "$1"; set +a; cd "$2"; umask "$3"
                 eval "exec setpriv --reuid=$4 --regid=$5 --init-groups --no-new-privs -- $6"' \
        _ "$env_file" "$workdir" "${umask_:-0022}" "$svc_user" "$svc_group" "$exec_start" \
        >>"$work/collector.log" 2>&1 &
    collector_pid=$!
    "$otlpcheck" wait-health -url "http://127.0.0.1:$health_port/" -timeout 30s
    check "the collector runs as $user" [ "$(awk '/^Uid:/ {print $2}' /proc/$collector_pid/status)" = "$uid" ]
    check "the collector is /usr/bin/otelcol-edge with the installed config" \
        bash -c "tr '\0' ' ' </proc/$collector_pid/cmdline | grep -qx '/usr/bin/otelcol-edge --config=$etc/config.yaml '"
}
stop_service() { # systemctl stop: SIGTERM, then wait (TimeoutStopSec=30s)
    kill -TERM "$collector_pid"
    local rc=0; timeout 30 tail --pid="$collector_pid" -f /dev/null || rc=$?
    [ $rc -eq 0 ] || fail "the collector did not stop within 30 s of SIGTERM"
    wait "$collector_pid" 2>/dev/null || rc=$?
    collector_pid=
    check "the collector exited cleanly on SIGTERM (status $rc)" [ $rc -eq 0 ]
}
start_sink() { # start_sink <prefix:count,...>
    "$otlpcheck" sink -listen "127.0.0.1:$sink_port" -want "$1" -timeout 90s &
    sink_pid=$!
}
wait_sink() {
    local rc=0; wait "$sink_pid" || rc=$?
    sink_pid=
    check "the sink received every span" [ $rc -eq 0 ]
}

step "start the service: $exec_start (as $svc_user, from $workdir)"
start_service

step "send while the backend is down: the edge exporter buffers on disk"
"$otlpcheck" send -endpoint "127.0.0.1:$grpc_port" -protocol grpc -prefix offline -spans 300
check "the buffer holds a log, owned by $user" bash -c "[ -d $data/edge/wal ] && [ -z \"\$(find $data ! -user $user)\" ]"
check "$data/edge is 700" stat_is "$data/edge" "700 $user $user"
check "no file of the buffer is readable by others" bash -c "[ -z \"\$(find $data -type f -perm /044)\" ]"

step "the backend comes up: the backlog is replayed, new data (OTLP/HTTP) delivered"
start_sink "offline:300,online:200"
"$otlpcheck" send -endpoint "127.0.0.1:$http_port" -protocol http -prefix online -spans 200
wait_sink

step "backend down again; data accepted, then the service stops with it still buffered"
"$otlpcheck" send -endpoint "127.0.0.1:$grpc_port" -protocol grpc -prefix pending -spans 150
stop_service
buffered=$(du -sb "$data" | cut -f1)
echo "  buffer: $buffered bytes"

step "dpkg -i again (upgrade path): the edited conffile is kept, the buffer untouched"
dpkg -i "$deb" </dev/null
check "the edited $env_file survived" grep -q "OTELCOL_EDGE_ENDPOINT=127.0.0.1:$sink_port" "$env_file"
check "$user kept its uid" [ "$(id -u "$user")" = "$uid" ]
check "$data still 700 $user $user" stat_is "$data" "700 $user $user"

step "dpkg -r (remove): binary gone, buffer and conffiles kept"
dpkg -r otelcol-edge </dev/null
check "package state config-files" [ "$(pkg_status)" = "deinstall ok config-files" ]
check "binary removed" [ ! -e /usr/bin/otelcol-edge ]
check "unit removed" [ ! -e "$unit" ]
check "conffiles kept" test -f "$etc/config.yaml" -a -f "$env_file"
check "$data survived, 700 $user $user" stat_is "$data" "700 $user $user"
check "the buffered data survived" [ "$(du -sb "$data" | cut -f1)" -ge "$buffered" ]
check "$user kept" user_exists

step "dpkg -i after remove: the kept buffer is delivered"
dpkg -i "$deb" </dev/null
check "the edited $env_file is still in use" grep -q "OTELCOL_EDGE_ENDPOINT=127.0.0.1:$sink_port" "$env_file"
start_sink "pending:150"
start_service
wait_sink
stop_service

step "dpkg -P (purge): config and buffer deleted, user kept"
dpkg -P otelcol-edge </dev/null
check "package purged from dpkg's database" pkg_unknown
check "$etc deleted" [ ! -e "$etc" ]
check "$data deleted" [ ! -e "$data" ]
check "$user kept (Debian policy: system users are not deleted)" user_exists
