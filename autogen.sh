#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Regenerate the autotools build system, then run configure with any
# arguments given (unless NOCONFIGURE is set).
set -e
srcdir=$(dirname "$0")
test -n "$srcdir" || srcdir=.
(cd "$srcdir" && autoreconf --force --install --verbose)
if [ -z "$NOCONFIGURE" ]; then
    exec "$srcdir/configure" "$@"
fi
