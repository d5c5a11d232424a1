#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks what `make install` puts where: the programs, their manual pages,
# the configuration example, the bash completion, and the D-Bus and
# systemd files where Debian's dbus-daemon and systemd look for them.
#
#   bash scripts/check-install.sh BUILD_DIR
#
# Installs BUILD_DIR into a temporary DESTDIR, checks every file under the
# build's prefix (configure --prefix=/usr for what Debian's dbus-daemon and
# systemd read: /usr/share/dbus-1/..., and the unit in configure's
# systemdsystemunitdir, /lib/systemd/system on Debian 12), and
# removes it again.
set -euo pipefail

build=${1:?usage: check-install.sh BUILD_DIR}
root=$(mktemp -d /tmp/virt-migrate-install.XXXXXX)
trap 'rm -rf "$root"' EXIT
status=0

p=$(sed -n 's/^prefix = //p' "$build/Makefile")
etc=$(sed -n 's/^sysconfdir = //p' "$build/Makefile" | sed "s|\${prefix}|$p|")
completions=$(sed -n 's/^bashcompletiondir = //p' "$build/Makefile" |
    sed -e "s|\$(datadir)|$p/share|" -e "s|\${datadir}|$p/share|" -e "s|\${prefix}|$p|")
unitdir=$(sed -n 's/^systemdsystemunitdir = //p' "$build/Makefile" | sed "s|\${prefix}|$p|")
make -C "$build" -s install DESTDIR="$root" >"$root.log" 2>&1 ||
    { cat "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

expect() {
    if [ -f "$root$1" ]; then
        echo "  ok: $1"
    else
        echo "  MISSING: $1" >&2
        status=1
    fi
}

expect "$p"/sbin/virt-migrated
expect "$p"/bin/virt-migrate
expect "$p"/share/dbus-1/system.d/org.virtmigrate.conf
expect "$p"/share/polkit-1/actions/org.virtmigrate.policy
expect "$p"/share/dbus-1/system-services/org.virtmigrate.service
expect "$p"/share/dbus-1/interfaces/org.virtmigrate.Driver1.xml
expect "$p"/share/dbus-1/interfaces/org.virtmigrate.Migration1.xml
expect "$unitdir"/virt-migrated.service
expect "$p"/share/man/man1/virt-migrate.1
expect "$p"/share/man/man8/virt-migrated.8
expect "$etc"/virt-migrate/virt-migrated.conf
expect "$completions"/virt-migrate

# The substituted files name the installed daemon, and nothing is left unsubstituted.
for f in "$p"/share/dbus-1/system-services/org.virtmigrate.service \
    "$unitdir"/virt-migrated.service; do
    if grep -q '@[a-z]*@' "$root$f" || ! grep -q "$p/sbin/virt-migrated --bus system" "$root$f"; then
        echo "  BAD: $f does not run $p/sbin/virt-migrated --bus system" >&2
        status=1
    fi
done
for f in "$p"/share/dbus-1/system.d/org.virtmigrate.conf \
    "$p"/share/polkit-1/actions/org.virtmigrate.policy \
    "$p"/share/dbus-1/interfaces/org.virtmigrate.Driver1.xml \
    "$p"/share/dbus-1/interfaces/org.virtmigrate.Migration1.xml; do
    xmllint --noout "$root$f" || status=1
done
# The installed daemon carries the interface files compiled in (a GResource).
if ! grep -aq '<interface name="org.virtmigrate.Driver1">' "$root$p/sbin/virt-migrated"; then
    echo "  BAD: virt-migrated does not carry data/org.virtmigrate.Driver1.xml" >&2
    status=1
fi
if command -v systemd-analyze >/dev/null && [ -d /run/systemd/system ]; then
    systemd-analyze verify "$root$unitdir/virt-migrated.service" || status=1
fi
exit $status
