#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian package, checks it with lintian, installs it with
# apt-get, checks what it put where, and purges it again.
#
#   bash scripts/check-package.sh [TOP]
#
# Needs root on Debian 12 with the build dependencies (scripts/install-deps.sh).
#
#   1. copies the tree git tracks (uncommitted changes included) into a
#      temporary directory: dpkg-buildpackage writes into the parent of the
#      tree it builds, and a package build must start from a clean tree;
#   2. dpkg-buildpackage -us -uc -b;
#   3. lintian: any error or warning not overridden fails
#      (debian/virt-migrate.lintian-overrides says why each override is);
#   4. apt-get install ./virt-migrate_*.deb (so its dependencies come);
#   5. every file where Debian looks for it, the configuration a conffile,
#      the unit enabled (deb-systemd-helper, the multi-user.target.wants
#      symlink; started only where systemd runs), the installed programs'
#      --help and --version, and the installed daemon answering the
#      installed command line;
#   6. apt-get purge, and every package the install brought removed, so
#      the machine is as it was: nothing of the package left.
#
# Exits 0 when every check passed, 1 when one failed, 77 when it cannot
# run here (not root, not Debian, virt-migrate already installed), saying why.
set -uo pipefail

top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
pkg=virt-migrate
status=0

skip() {
    echo "check-package: SKIP: $*" >&2
    exit 77
}
fail() {
    echo "  FAILED: $*" >&2
    status=1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (apt-get install, dpkg --purge)"
for tool in dpkg-buildpackage lintian apt-get dh; do
    command -v "$tool" >/dev/null 2>&1 ||
        skip "$tool is not installed (scripts/install-deps.sh installs it)"
done
if dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q ' installed$'; then
    skip "$pkg is installed already: purging it afterwards would change this machine"
fi

work=$(mktemp -d /tmp/virt-migrate-package.XXXXXX)
daemon_pid=
installed=0
attempted=0
before="$work/packages-before"
dpkg-query -W -f='${Package}:${Architecture}\n' | sort >"$before"

# Purges the package and whatever its install brought, however this ends.
cleanup() {
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    if [ $installed = 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$pkg" >"$work/purge.log" 2>&1 ||
            { cat "$work/purge.log" >&2; status=1; }
    fi
    if [ $attempted = 1 ]; then
        dpkg-query -W -f='${Package}:${Architecture}\n' | sort >"$work/packages-after"
        brought=$(comm -13 "$before" "$work/packages-after")
        if [ -n "$brought" ]; then
            echo "  removing what the install brought: $(echo $brought)"
            # shellcheck disable=SC2086
            DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $brought >>"$work/purge.log" 2>&1 ||
                { cat "$work/purge.log" >&2; status=1; }
        fi
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

echo "check-package: building from a copy of $top"
src="$work/$pkg"
mkdir -p "$src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$top" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$src" ||
        { echo "check-package: cannot copy the tree" >&2; exit 1; }
else
    # A release tarball: everything but build directories.
    tar -C "$top" --exclude=./_build -cf - . | tar -xf - -C "$src" ||
        { echo "check-package: cannot copy the tree" >&2; exit 1; }
fi
# Files git tracks but the work tree removed are not there to copy.
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" >&2
    echo "check-package: dpkg-buildpackage failed" >&2
    exit 1
fi
deb=$(ls "$work"/${pkg}_*.deb 2>/dev/null | head -n 1)
changes=$(ls "$work"/${pkg}_*.changes 2>/dev/null | head -n 1)
[ -n "$deb" ] && [ -n "$changes" ] || { echo "check-package: no .deb/.changes in $work" >&2; exit 1; }
echo "  built $(basename "$deb")"
echo "  build-time tests (debian/rules): $(grep -c '^PASS:' "$work/build.log") passed," \
    "$(grep -c -E '^(FAIL|ERROR):' "$work/build.log") failed"

echo "check-package: lintian"
# --fail-on: an error or a warning that no override explains fails.
if lintian --allow-root --fail-on error,warning --info --display-level '>=warning' "$changes" \
    >"$work/lintian.log" 2>&1; then
    echo "  lintian: no error or warning"
else
    fail "lintian:"
    cat "$work/lintian.log" >&2
fi
sed 's/^/  /' "$work/lintian.log"

echo "check-package: apt-get install $(basename "$deb")"
installed=1
attempted=1
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" \
    >"$work/install.log" 2>&1; then
    cat "$work/install.log" >&2
    echo "check-package: installing the package failed" >&2
    exit 1
fi

# Each file the package must install, one a line.
expect_files="
/usr/share/polkit-1/actions/org.virtmigrate.policy
/usr/sbin/virt-migrated
/usr/bin/virt-migrate
/usr/share/man/man1/virt-migrate.1.gz
/usr/share/man/man8/virt-migrated.8.gz
/usr/share/bash-completion/completions/virt-migrate
/etc/virt-migrate/virt-migrated.conf
/lib/systemd/system/virt-migrated.service
/usr/share/dbus-1/system.d/org.virtmigrate.conf
/usr/share/dbus-1/system-services/org.virtmigrate.service
/usr/share/dbus-1/interfaces/org.virtmigrate.Driver1.xml
/usr/share/dbus-1/interfaces/org.virtmigrate.Migration1.xml
/usr/share/virt-migrate/schemas/tunables.rng
/usr/share/virt-migrate/schemas/record.rng
/usr/share/doc/virt-migrate/README.md
/usr/share/doc/virt-migrate/copyright
/usr/share/doc/virt-migrate/changelog.gz
"
for f in $expect_files; do
    if [ -f "$f" ] && dpkg -S "$f" >/dev/null 2>&1; then
        echo "  ok: $f"
    else
        fail "$f is not installed by $pkg"
    fi
done
if dpkg-query -W -f='${Conffiles}\n' "$pkg" | grep -q '^ /etc/virt-migrate/virt-migrated.conf '; then
    echo "  ok: /etc/virt-migrate/virt-migrated.conf is a conffile"
else
    fail "/etc/virt-migrate/virt-migrated.conf is not a conffile"
fi
# The unit and the activation file name the installed daemon.
for f in /lib/systemd/system/virt-migrated.service \
    /usr/share/dbus-1/system-services/org.virtmigrate.service; do
    grep -q '^Exec[A-Za-z]*=/usr/sbin/virt-migrated --bus system$' "$f" ||
        fail "$f does not run /usr/sbin/virt-migrated --bus system"
done
# deb-systemd-helper answers only "from dpkg", as in a maintainer script.
if DPKG_MAINTSCRIPT_PACKAGE=$pkg deb-systemd-helper is-enabled virt-migrated.service >/dev/null 2>&1; then
    echo "  ok: deb-systemd-helper: virt-migrated.service is enabled"
else
    fail "deb-systemd-helper: virt-migrated.service is not enabled"
fi
wants=/etc/systemd/system/multi-user.target.wants/virt-migrated.service
if [ "$(readlink "$wants")" = /lib/systemd/system/virt-migrated.service ]; then
    echo "  ok: $wants -> /lib/systemd/system/virt-migrated.service"
else
    fail "$wants is not a symlink to the unit"
fi
# The installed unit as systemd reads it, and its sandbox (tests/test-unit.sh
# rates the built one the same way).
if command -v systemd-analyze >/dev/null 2>&1; then
    if systemd-analyze verify /lib/systemd/system/virt-migrated.service >"$work/out" 2>&1 &&
        [ ! -s "$work/out" ]; then
        echo "  ok: systemd-analyze verify: nothing to say"
    else
        fail "systemd-analyze verify: $(cat "$work/out")"
    fi
    if systemd-analyze security --offline=true --threshold=49 \
        /lib/systemd/system/virt-migrated.service >"$work/out" 2>&1; then
        echo "  ok: $(grep 'Overall exposure' "$work/out" | sed 's/^→ *//')"
    else
        fail "systemd-analyze security: $(grep 'Overall exposure' "$work/out")"
    fi
fi
if [ -d /run/systemd/system ]; then
    if systemctl is-active --quiet virt-migrated.service; then
        echo "  ok: virt-migrated.service is running (systemd is PID 1 here)"
    else
        fail "virt-migrated.service did not start: $(systemctl status virt-migrated.service 2>&1 | tail -n 5)"
    fi
else
    echo "  (no systemd running here: the install did not start the unit, as it should not)"
fi

echo "check-package: the installed programs"
for cmd in "/usr/sbin/virt-migrated --help" "/usr/sbin/virt-migrated --version" \
    "/usr/bin/virt-migrate --help" "/usr/bin/virt-migrate --version"; do
    if $cmd >"$work/out" 2>&1 && [ -s "$work/out" ]; then
        echo "  ok: $cmd: $(head -n 1 "$work/out")"
    else
        fail "$cmd: $(head -n 5 "$work/out")"
    fi
done
# The installed daemon (no bus, a runtime directory of its own) and the
# installed command line talking to it.
run="$work/run"
/usr/sbin/virt-migrated --runtime-dir "$run" --bus none --tls-x509-dir= \
    >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
    [ -S "$run/virt-migrated.sock" ] && break
    sleep 0.1
done
if /usr/bin/virt-migrate --daemon-socket "$run/virt-migrated.sock" list --all >"$work/out" 2>&1; then
    echo "  ok: the installed virt-migrate lists the installed daemon's migrations"
else
    fail "virt-migrate list: $(cat "$work/out"); daemon: $(cat "$work/daemon.log")"
fi
kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=

echo "check-package: apt-get purge $pkg"
files=$(dpkg -L "$pkg" | grep -v '^/\.$')
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$pkg" >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log" >&2; fail "apt-get purge $pkg"; }
installed=0
left=
# Its files (dpkg -L also lists directories such as /lib, shared with others).
for f in $files; do
    if [ -f "$f" ]; then
        left="$left $f"
    fi
done
for f in /etc/virt-migrate "$wants"; do
    if [ -e "$f" ] || [ -L "$f" ]; then
        left="$left $f"
    fi
done
if [ -n "$left" ]; then
    fail "left after the purge:$left"
else
    echo "  ok: nothing of $pkg is left (the packages its install brought go next)"
fi
exit $status
