#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A real live migration on one machine, through two virt-migrate drivers.
#
#   bash scripts/demo.sh
#
# Two TCG QEMU guests: the source runs a tiny kernel that keeps dirtying
# memory and counting its passes, the destination waits with -incoming
# defer.  Two virt-migrated daemons, one per "host", each with its own
# runtime directory and x509 credentials (scripts/make-tls-certs.sh); the
# destination listens on a unix socket, and `virt-migrate migrate --tls
# --verbose` asks the source to migrate there with 4 channels, every
# connection between the drivers in TLS (docs/tls.md).  The drivers
# negotiate before any guest byte moves; the demo prints what they agreed
# on, the result, and proves the guest runs on in its new home (its
# counter keeps rising there).
#
# On a fresh Debian 12 machine (as root) it installs what it needs and
# builds the tree first (in _build/demo).  Everything it starts is stopped
# by pid, and its temporary directory removed, however it ends.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${VMIG_DEMO_BUILD:-$top/_build/demo}
channels=${VMIG_DEMO_CHANNELS:-4}

# shellcheck source=scripts/common.sh
. "$top/scripts/common.sh"

# ---- dependencies and build ------------------------------------------------
vmig_prepare "$build" driver/virt-migrated tools/virt-migrate tests/guest-kernel -- qemu-system-x86_64 certtool -- json-glib-1.0 libvirt gnutls
daemon=$build/driver/virt-migrated
cli=$build/tools/virt-migrate

# ---- everything below is cleaned up on exit --------------------------------
vmig_workdir demo

# The guest's pass counter, read from its memory (4 bytes, little endian).
counter() {
    local out=$work/counter.$RANDOM
    qmp "$1" "{\"execute\": \"pmemsave\", \"arguments\": {\"val\": $counter_addr, \"size\": 4, \"filename\": \"$out\"}}" >/dev/null
    od -An -tu4 "$out" | tr -d ' '
}

say "the guests: 256 MiB each, TCG"
"$build/tests/guest-kernel" "$work/kernel.img"
counter_addr=$("$build/tests/guest-kernel" --counter-address)
machine=(-machine pc -accel tcg -nodefaults -display none -m 256
    -uuid 6b1f4c1e-7a8e-4d0c-9a57-3c1d2e5f8a90 -kernel "$work/kernel.img")
qemu-system-x86_64 "${machine[@]}" \
    -qmp "unix:$work/src.qmp,server=on,wait=off" \
    -qmp "unix:$work/src-aux.qmp,server=on,wait=off" 2>"$work/src-qemu.log" &
pids+=($!)
qemu-system-x86_64 "${machine[@]}" -incoming defer \
    -qmp "unix:$work/dst.qmp,server=on,wait=off" \
    -qmp "unix:$work/dst-aux.qmp,server=on,wait=off" 2>"$work/dst-qemu.log" &
pids+=($!)
wait_socket "$work/src-aux.qmp"
wait_socket "$work/dst-aux.qmp"
sleep 0.5
echo "source guest running, dirtying 64 MiB; its pass counter: $(counter "$work/src-aux.qmp")"

say "two drivers, one per \"host\", each with its certificates (one CA)"
"$top/scripts/make-tls-certs.sh" "$work/pki" src-host dst-host >/dev/null
"$daemon" --runtime-dir "$work/src-host" --bus none \
    --tls-x509-dir "$work/pki/src-host" 2>"$work/src-daemon.log" &
pids+=($!)
"$daemon" --runtime-dir "$work/dst-host" --bus none \
    --tls-x509-dir "$work/pki/dst-host" 2>"$work/dst-daemon.log" &
pids+=($!)
wait_socket "$work/src-host/virt-migrated.sock"
wait_socket "$work/dst-host/virt-migrated.sock"
echo "source driver:      $work/src-host/virt-migrated.sock"
echo "destination driver: $work/dst-host/virt-migrated.sock"

say "what the source QEMU really offers (virt-migrate tunables)"
"$cli" --daemon-socket "$work/src-host/virt-migrated.sock" tunables "qmp:$work/src.qmp"

say "the destination driver listens for the migration"
"$cli" --daemon-socket "$work/dst-host/virt-migrated.sock" \
    incoming "qmp:$work/dst.qmp" "unix:$work/migration.sock"

say "virt-migrate migrate --tls --verbose --channels $channels"
"$cli" --daemon-socket "$work/src-host/virt-migrated.sock" \
    migrate "qmp:$work/src.qmp" "unix:$work/migration.sock" --tls \
    --channels "$channels" --tunable max-bandwidth=4G --tunable downtime-limit=500 --verbose

say "the negotiation record (virt-migrate features)"
"$cli" --daemon-socket "$work/src-host/virt-migrated.sock" features m1

say "the guest runs on at its destination"
echo "source guest:       $(guest_state "$work/src-aux.qmp")"
echo "destination guest:  $(guest_state "$work/dst-aux.qmp")"
first=$(counter "$work/dst-aux.qmp")
sleep 1
second=$(counter "$work/dst-aux.qmp")
echo "destination pass counter: $first, one second later $second"
if [ "$second" -gt "$first" ]; then
    say "done: the guest migrated live and keeps running on the destination"
else
    echo "demo: the destination guest is not running" >&2
    exit 1
fi
