#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# record-qmp-fixture.sh: record tests/data/qmp/ from the installed QEMU
#
#   scripts/record-qmp-fixture.sh [BUILDDIR]
#
# Starts qemu-system-x86_64 (-machine none -nodefaults -display none) with
# QMP on a socket in a temporary directory, runs BUILDDIR/tests/qmp-record
# against it to write the fixture into tests/data/qmp/ of the source tree,
# stops QEMU by pid and lists what was written.  BUILDDIR defaults to
# ./_build when it holds tests/qmp-record, else the current directory.
# $QEMU overrides the binary.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
outdir="$srcdir/tests/data/qmp"
qemu_bin=${QEMU:-qemu-system-x86_64}

if [ $# -gt 1 ]; then
    echo "usage: $0 [BUILDDIR]" >&2
    exit 2
fi
if [ $# -eq 1 ]; then
    builddir=$1
elif [ -x ./_build/tests/qmp-record ]; then
    builddir=./_build
else
    builddir=.
fi
record="$builddir/tests/qmp-record"
if [ ! -x "$record" ]; then
    echo "$0: '$record' not found: build it first (make tests/qmp-record)" >&2
    exit 1
fi
if ! command -v "$qemu_bin" >/dev/null 2>&1; then
    echo "$0: '$qemu_bin' not found: apt-get install qemu-system-x86" >&2
    exit 1
fi

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/vmig-record-XXXXXX")
qemu_pid=

# Stop QEMU (by pid: SIGTERM, then SIGKILL after 5 s) and remove the
# temporary directory, whatever happened.
cleanup() {
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -TERM "$qemu_pid" 2>/dev/null || true
        i=0
        while kill -0 "$qemu_pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$qemu_pid" 2>/dev/null || true
    fi
    if [ -n "$qemu_pid" ]; then
        wait "$qemu_pid" 2>/dev/null || true
    fi
    rm -rf "$tmpdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sock="$tmpdir/qmp.sock"
"$qemu_bin" -machine none -nodefaults -display none \
    -qmp "unix:$sock,server=on,wait=off" 2>"$tmpdir/qemu.log" &
qemu_pid=$!

# Returns success once something listens on $sock (/proc/net/unix: the
# flags column is 00010000, __SO_ACCEPTCON, for a listening socket).
listening() {
    awk -v path="$sock" '$NF == path && $4 == "00010000" { found = 1 } END { exit !found }' \
        /proc/net/unix
}

# Wait (at most 10 s) for QEMU to listen on the socket.
i=0
while ! listening; do
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
        echo "$0: QEMU exited before opening its QMP socket:" >&2
        cat "$tmpdir/qemu.log" >&2
        exit 1
    fi
    if [ $i -ge 100 ]; then
        echo "$0: QEMU did not open its QMP socket '$sock' within 10 s" >&2
        exit 1
    fi
    sleep 0.1
    i=$((i + 1))
done

mkdir -p "$outdir"
# qmp-record prints the files it wrote and the hypervisor it recorded.
"$record" "$sock" "$outdir" >"$tmpdir/record.out"

echo "recorded from $("$qemu_bin" --version | head -n 1):"
for f in query-version query-qmp-schema query-migrate-parameters query-migrate-capabilities; do
    path="$outdir/$f.json"
    printf '  %-60s %8s bytes\n' "${path#"$srcdir"/}" "$(wc -c <"$path" | tr -d ' ')"
done
