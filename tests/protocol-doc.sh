#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: the annotated dumps in docs/protocol.md are exactly what
# tests/frame-dump prints for the golden GREETING and REPLY, so the page
# cannot drift from the bytes the encoder really produces.
srcdir=${G_TEST_SRCDIR:?}
builddir=${G_TEST_BUILDDIR:?}
doc="$srcdir/../docs/protocol.md"

# Prints the first fenced block after the heading that starts with $1.
block_after() {
    awk -v h="$1" '
        index($0, h) == 1 { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }
    ' "$doc"
}

echo "1..2"
n=0
for pair in "greeting:## 5. A real GREETING" "reply:## 6. A real REPLY"; do
    name=${pair%%:*}
    heading=${pair#*:}
    n=$((n + 1))
    expected=$("$builddir/frame-dump" "$srcdir/data/negotiate/$name.bin")
    actual=$(block_after "$heading")
    if [ "$expected" = "$actual" ]; then
        echo "ok $n /docs/protocol/$name-dump"
    else
        echo "not ok $n /docs/protocol/$name-dump"
        echo "# docs/protocol.md's $name dump differs from tests/frame-dump's output;"
        echo "# regenerate it (docs/protocol.md section 8)"
    fi
done
