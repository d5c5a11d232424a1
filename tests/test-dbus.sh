#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: the D-Bus service, from outside (tests/dbus-suite.py, python3-dbus),
# on a private session bus that dbus-run-session starts and stops (as root it
# also runs the real polkitd on a private system-like bus: /dbus/polkit).
srcdir=${G_TEST_SRCDIR:?}
if ! command -v dbus-run-session >/dev/null || ! /usr/bin/python3 -c 'import dbus, gi' 2>/dev/null; then
    echo "1..0 # SKIP dbus-run-session or python3-dbus/python3-gi missing (scripts/install-deps.sh)"
    exit 0
fi
exec dbus-run-session -- /usr/bin/python3 "$srcdir/dbus-suite.py"
