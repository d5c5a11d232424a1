#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install every build and test dependency of virt-migrate on Debian 12.
#
# Idempotent and non-interactive: packages already present are left alone,
# so running it twice is cheap.  Needs root (or sudo without a password).
set -eu

PACKAGES="
    autoconf automake autoconf-archive make pkg-config gcc
    clang libclang-rt-14-dev clang-format
    libglib2.0-dev libglib2.0-dev-bin libjson-glib-dev libxml2-dev libxml2-utils
    libdbus-1-dev libvirt-dev libgnutls28-dev gnutls-bin libsystemd-dev
    valgrind
    python3-docutils man-db
    qemu-system-x86 qemu-utils
    dbus dbus-daemon dbus-bin libglib2.0-bin systemd
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    python3-dbus python3-gi polkitd
    bash-completion
    debhelper dpkg-dev fakeroot lintian
    util-linux iproute2 procps
"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=
else
    SUDO=sudo
fi

missing=
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages already installed"
    exit 0
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
