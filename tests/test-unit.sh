#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: the systemd unit as built (data/virt-migrated.service).
#
#   1. systemd-analyze verify finds nothing wrong with it (run on a copy
#      whose ExecStart= names the daemon of this build tree: the installed
#      path may not exist yet);
#   2. systemd-analyze security --offline=true rates its sandbox "OK" or
#      better (an overall exposure below 5.0: --threshold=49);
#   3. it is Type=notify (the daemon says READY=1: tests/test-notify.py);
#   4. LimitNOFILE= holds the descriptors docs/limits.md says the daemon's
#      documented maximum needs.
#
# 1 and 2 are skipped, saying why, without systemd-analyze (apt-get install
# systemd).
srcdir=${G_TEST_SRCDIR:?}
builddir=${G_TEST_BUILDDIR:?}
top_srcdir="$srcdir/.."
top_builddir="$builddir/.."
unit="$top_builddir/data/virt-migrated.service"
daemon=$(cd "$top_builddir/driver" && pwd)/virt-migrated
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-unit.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "1..4"
if [ ! -f "$unit" ]; then
    echo "Bail out! $unit is not built (make data/virt-migrated.service)"
    exit 1
fi
copy="$tmp/virt-migrated.service"
sed "s|^ExecStart=[^ ]*|ExecStart=$daemon|" "$unit" >"$copy"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "ok 1 /unit/verify # SKIP systemd-analyze is not installed (apt-get install systemd)"
    echo "ok 2 /unit/security # SKIP systemd-analyze is not installed (apt-get install systemd)"
else
    if systemd-analyze verify "$copy" >"$tmp/verify.log" 2>&1 && [ ! -s "$tmp/verify.log" ]; then
        echo "ok 1 /unit/verify"
    else
        echo "not ok 1 /unit/verify"
        sed 's/^/# /' "$tmp/verify.log"
    fi
    if systemd-analyze security --offline=true --threshold=49 "$copy" >"$tmp/security.log" 2>&1 &&
        grep -Eq 'Overall exposure level for virt-migrated.service: [0-4]\.[0-9] (OK|SAFE|PERFECT)' \
            "$tmp/security.log"; then
        echo "ok 2 /unit/security # $(grep 'Overall exposure' "$tmp/security.log" | sed 's/^→ *//')"
    else
        echo "not ok 2 /unit/security"
        grep -v '✓' "$tmp/security.log" | sed 's/^/# /'
    fi
fi

if grep -qx 'Type=notify' "$unit" && ! grep -q '^BusName=' "$unit"; then
    echo "ok 3 /unit/type-notify"
else
    echo "not ok 3 /unit/type-notify"
    grep '^Type=\|^BusName=' "$unit" | sed 's/^/# /'
fi

# docs/limits.md: "So the documented maximum needs ... = 49,536 descriptors."
need=$(tr '\n' ' ' <"$top_srcdir/docs/limits.md" |
    sed -n 's/.*documented maximum needs [^=]*= \([0-9,]*\) descriptors.*/\1/p' | tr -d ,)
limit=$(sed -n 's/^LimitNOFILE=\([0-9]*\)$/\1/p' "$unit")
if [ -n "$need" ] && [ -n "$limit" ] && [ "$limit" -ge "$need" ]; then
    echo "ok 4 /unit/limit-nofile # LimitNOFILE=$limit, docs/limits.md needs $need"
else
    echo "not ok 4 /unit/limit-nofile"
    echo "# LimitNOFILE='$limit', docs/limits.md's documented maximum needs '$need'"
fi
