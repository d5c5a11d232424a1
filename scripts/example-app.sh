#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The example management app (examples/vmig-example-app.c) against two real
# virt-migrated daemons, once over their control sockets, once over D-Bus.
#
#   bash scripts/example-app.sh
#
# Two "hosts" on one machine, A and B: each has its own virt-migrated (its
# own runtime directory) on its own private D-Bus bus, since each daemon
# owns the name org.virtmigrate on its bus, as it would on its host's
# system bus.  The app hands the daemons socket pairs for the main and the
# extra channels (fd mode):
#
#   1. --via control: A's guest migrates to B; the channel request is
#      answered over the control sockets (CHANNELS_REQUESTED, add-channels
#      with SCM_RIGHTS) and the end seen there;
#   2. --via dbus: the same guest migrates back from B to a new QEMU on A;
#      the channel request is answered with SupplyChannels, the end seen
#      with the Finished signal.
#   Both runs print what was negotiated as read back from the migration
#   objects' D-Bus properties (the app falls back to query-migration only
#   when it is given no bus).
#
# Exit status: non-zero when either run fails.  Like scripts/demo.sh it
# installs what it needs and builds the tree (in _build/demo) when the
# binaries are missing; VMIG_EXAMPLE_BUILD names another build directory.
# Everything it starts is stopped by pid, and its temporary directory
# removed, however it ends.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${VMIG_EXAMPLE_BUILD:-$top/_build/demo}
channels=${VMIG_EXAMPLE_CHANNELS:-4}

# shellcheck source=scripts/common.sh
. "$top/scripts/common.sh"

# ---- dependencies and build ------------------------------------------------
vmig_prepare "$build" driver/virt-migrated examples/vmig-example-app tests/guest-kernel -- qemu-system-x86_64 dbus-daemon -- json-glib-1.0 dbus-1
daemon=$build/driver/virt-migrated
app=$build/examples/vmig-example-app

# ---- everything below is cleaned up on exit --------------------------------
vmig_workdir example

# A private bus for host $1, in the foreground of a background job so that
# its pid is ours to stop.  Its address is written to $work/$1.bus-address
# once it listens.
start_bus() {
    dbus-daemon --session --nofork --address="unix:path=$work/$1.bus" \
        --print-address=3 3>"$work/$1.bus-address" 2>"$work/$1-bus.log" &
    pids+=($!)
    local _
    for _ in $(seq 100); do
        [ -s "$work/$1.bus-address" ] && return 0
        sleep 0.1
    done
    echo "example-app: the bus of host $1 did not start" >&2
    return 1
}

# A QEMU guest named $1 ("a1", ...), with -incoming defer when $2 says so.
machine=()
start_guest() {
    local incoming=()
    [ "${2:-}" = incoming ] && incoming=(-incoming defer)
    qemu-system-x86_64 "${machine[@]}" "${incoming[@]}" \
        -qmp "unix:$work/$1.qmp,server=on,wait=off" \
        -qmp "unix:$work/$1-aux.qmp,server=on,wait=off" 2>"$work/$1-qemu.log" &
    pids+=($!)
    wait_socket "$work/$1-aux.qmp"
}

# The app, its output shown; $1 names the run for the final verdict.  The
# tunables: QEMU's default bandwidth cap (32 MiB/s) is below the rate the
# test guest dirties its memory, so without them it never converges.
failed=()
run_app() {
    local name=$1
    shift
    echo "\$ vmig-example-app $*" | sed "s|$work/||g"
    if "$app" "$@"; then
        echo "-> exit status 0"
    else
        echo "-> exit status $?"
        failed+=("$name")
    fi
}

say "two hosts, A and B: a private bus and a virt-migrated each"
for host in a b; do
    start_bus "$host"
    # The interface XML is read at run time: from the source tree here,
    # as nothing is installed.
    DBUS_SESSION_BUS_ADDRESS=$(cat "$work/$host.bus-address") \
        VIRT_MIGRATE_INTERFACES_DIR="$top/data" "$daemon" --runtime-dir "$work/$host-host" --bus session \
        2>"$work/$host-daemon.log" &
    pids+=($!)
done
wait_socket "$work/a-host/virt-migrated.sock"
wait_socket "$work/b-host/virt-migrated.sock"
a_bus=$(cat "$work/a.bus-address")
b_bus=$(cat "$work/b.bus-address")
echo "host A: $work/a-host/virt-migrated.sock on $a_bus"
echo "host B: $work/b-host/virt-migrated.sock on $b_bus"

say "the guests: a1 runs on A, b1 waits on B (-incoming defer); 256 MiB each, TCG"
"$build/tests/guest-kernel" "$work/kernel.img"
machine=(-machine pc -accel tcg -nodefaults -display none -m 256
    -uuid 6b1f4c1e-7a8e-4d0c-9a57-3c1d2e5f8a90 -kernel "$work/kernel.img")
start_guest a1
start_guest b1 incoming
sleep 0.5

say "1. A -> B, --via control, $channels channels"
run_app control \
    --source-socket "$work/a-host/virt-migrated.sock" --source-bus "$a_bus" \
    --dest-socket "$work/b-host/virt-migrated.sock" --dest-bus "$b_bus" \
    --source-domain "qmp:$work/a1.qmp" --dest-domain "qmp:$work/b1.qmp" \
    --channels "$channels" --tunable max-bandwidth=4G --tunable downtime-limit=500 \
    --via control
echo "b1 (on B): $(qmp "$work/b1-aux.qmp" '{"execute": "query-status"}')"

say "2. B -> A, --via dbus, $channels channels: back to a new QEMU a2 on A"
start_guest a2 incoming
run_app dbus \
    --source-socket "$work/b-host/virt-migrated.sock" --source-bus "$b_bus" \
    --dest-socket "$work/a-host/virt-migrated.sock" --dest-bus "$a_bus" \
    --source-domain "qmp:$work/b1.qmp" --dest-domain "qmp:$work/a2.qmp" \
    --channels "$channels" --tunable max-bandwidth=4G --tunable downtime-limit=500 \
    --via dbus
echo "a2 (on A): $(qmp "$work/a2-aux.qmp" '{"execute": "query-status"}')"

if [ ${#failed[@]} -gt 0 ]; then
    say "failed: ${failed[*]}"
    for host in a b; do
        echo "--- host ${host^^} daemon log (last lines)"
        tail -n 5 "$work/$host-daemon.log" || true
    done
    exit 1
fi
say "done: the guest went to B and back to A, once per interface"
