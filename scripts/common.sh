# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# shellcheck disable=SC2154  # $top is the sourcing script's
# What scripts/demo.sh and scripts/example-app.sh share: the dependencies
# and the build, a work directory whose processes are stopped by pid on
# exit, waiting for sockets, and one-shot QMP commands.  Sourced, with
# $top set to the source tree.

# A section title: bold on a terminal, plain in a log.
say() {
    if [ -t 1 ]; then
        printf '\n\033[1m== %s\033[0m\n' "$*"
    else
        printf '\n== %s\n' "$*"
    fi
}

# Installs the packages when a command or pkg-config module the script needs
# is missing, and builds the tree in $1 when any of the files after it is
# not there yet.
#   vmig_prepare BUILD_DIR FILE... -- COMMAND... -- PKG_MODULE...
vmig_prepare() {
    local build=$1 need_build=0 need_deps=0 f
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        [ -x "$build/$1" ] || need_build=1
        shift
    done
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        command -v "$1" >/dev/null || need_deps=1
        shift
    done
    shift
    for f in "$@"; do
        pkg-config --exists "$f" 2>/dev/null || need_deps=1
    done
    if [ $need_deps = 1 ]; then
        say "installing dependencies"
        "$top/scripts/install-deps.sh"
    fi
    if [ $need_build = 1 ]; then
        say "building virt-migrate in $build"
        if [ ! -x "$top/configure" ]; then
            (cd "$top" && NOCONFIGURE=1 ./autogen.sh >/dev/null 2>&1)
        fi
        mkdir -p "$build"
        (cd "$build" && { [ -f Makefile ] || "$top/configure" >/dev/null; } &&
            make -j"$(nproc)" >/dev/null)
    fi
}

# Creates $work (/tmp/virt-migrate-$1.XXXXXX); every pid added to $pids is
# killed and reaped, and $work removed, when the script exits however it does.
vmig_workdir() {
    work=$(mktemp -d "/tmp/virt-migrate-$1.XXXXXX")
    pids=()
    trap vmig_cleanup EXIT
    trap 'exit 130' INT TERM
}

vmig_cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}

# Waits up to 10 s for the unix socket $1.
wait_socket() {
    local _
    for _ in $(seq 100); do
        [ -S "$1" ] && return 0
        sleep 0.1
    done
    echo "$(basename "$0"): $1 did not appear" >&2
    return 1
}

# One QMP command ($2, JSON) on a monitor socket $1 (a guest's spare monitor);
# prints its return value.
qmp() {
    python3 - "$1" "$2" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
# QEMU 7.2 can send an event before its greeting.
while "QMP" not in json.loads(f.readline()):
    pass
for cmd in ({"execute": "qmp_capabilities"}, json.loads(sys.argv[2])):
    f.write(json.dumps(cmd) + "\n")
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "event" not in reply:
            break
print(json.dumps(reply.get("return", reply)))
EOF
}

# The run state of the guest behind monitor $1, in QEMU's words ("running",
# "paused", "postmigrate", ...).
guest_state() {
    qmp "$1" '{"execute": "query-status"}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin).get("status", "?"))'
}
