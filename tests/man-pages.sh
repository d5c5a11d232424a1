#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: the man pages built from docs/*.rst render with man without a
# single groff warning, and each names every command and option that the
# programs' --help lists, so the pages cannot drift from the code.
srcdir=${G_TEST_SRCDIR:?}
builddir=${G_TEST_BUILDDIR:?}
top_srcdir="$srcdir/.."
top_builddir="$builddir/.."
cli="$top_builddir/tools/virt-migrate"
daemon="$top_builddir/driver/virt-migrated"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/man-pages.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "1..4"
n=0

# ok/not ok for test $n called $1, with the diagnostics in $2 (empty: ok).
report() {
    if [ -s "$2" ]; then
        echo "not ok $n $1"
        sed 's/^/# /' "$2"
    else
        echo "ok $n $1"
    fi
}

# Renders each page as man-db shows it (lintian's way), with every groff
# warning on but "break", which groff gives by default and MANROFFOPT
# turns off: "cannot adjust line" comes from an installed path longer than
# 80 columns (distcheck's --prefix), not from the page; at --prefix=/usr
# the pages have none.  Anything on stderr, or a failure, is a problem.
warnings=char,number,delim,el,scale,range,syntax,di,mac,reg,tab,right-brace
warnings=$warnings,missing,input,escape,space,font,ig,color,file
for page in virt-migrate.1 virt-migrated.8; do
    n=$((n + 1))
    name="/docs/man/$page/renders"
    if ! command -v man >/dev/null 2>&1; then
        echo "ok $n $name # SKIP man is not installed (apt-get install man-db)"
        continue
    fi
    if LC_ALL=C.UTF-8 MANWIDTH=80 MANROFFOPT=-Wbreak \
        man --warnings="$warnings" -E UTF-8 -l "$top_builddir/docs/$page" \
        >"$tmp/out" 2>"$tmp/err"; then
        [ -s "$tmp/out" ] || echo "man printed nothing for $page" >>"$tmp/err"
    else
        echo "man -l $page failed" >>"$tmp/err"
    fi
    report "$name" "$tmp/err"
done

# Prints the long and short options (--name, -x) in the option lines of a
# help text on stdin: lines that start with spaces and a dash.
help_options() {
    sed -n 's/^  *\(-[^ =,]*\)\(, \(--[^ =]*\)\)\{0,1\}.*/\1 \3/p' | tr ' ' '\n' | grep .
}

# Prints the lines of section $2 of rst file $1: from its title (a line
# equal to $2 over a line of = or -) to the next title.
rst_section() {
    awk -v title="$2" '
        /^[-=]+$/ { if (inside) exit; if (prev == title) inside = 1; prev = ""; next }
        inside && prev != "" { print prev }
        { prev = $0 }
    ' "$1"
}

# Checks that each option read on stdin starts a term of a definition list
# in $1 (rst text): a line "**OPTION** ..." or "**-X**, **OPTION** ...", so
# that a mention in a synopsis is not taken for its description.
expect_options() {
    while read -r option; do
        printf '%s\n' "$1" |
            grep -q -e "^\*\*$option\*\*" -e "^\*\*-[a-zA-Z]\*\*, \*\*$option\*\*" ||
            echo "$2 does not describe $option"
    done
}

# virt-migrate(1): the global options in OPTIONS, each command in a section
# of COMMANDS with its options (--help is said once for them all).
n=$((n + 1))
rst="$top_srcdir/docs/virt-migrate.rst"
: >"$tmp/err"
"$cli" --help >"$tmp/help" 2>>"$tmp/err" || echo "virt-migrate --help failed" >>"$tmp/err"
text=$(rst_section "$rst" OPTIONS)
help_options <"$tmp/help" | expect_options "$text" "OPTIONS" >>"$tmp/err"
commands=$(sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' "$tmp/help")
[ -n "$commands" ] || echo "no commands in virt-migrate --help" >>"$tmp/err"
for command in $commands; do
    text=$(rst_section "$rst" "$command")
    if [ -z "$text" ]; then
        echo "no section for the command '$command'" >>"$tmp/err"
        continue
    fi
    "$cli" "$command" --help >"$tmp/help" 2>>"$tmp/err" ||
        echo "virt-migrate $command --help failed" >>"$tmp/err"
    help_options <"$tmp/help" | grep -v -x -e -h -e --help |
        expect_options "$text" "the section of '$command'" >>"$tmp/err"
done
report "/docs/man/virt-migrate.1/options" "$tmp/err"

# virt-migrated(8): every option in OPTIONS.
n=$((n + 1))
: >"$tmp/err"
"$daemon" --help >"$tmp/help" 2>>"$tmp/err" || echo "virt-migrated --help failed" >>"$tmp/err"
text=$(rst_section "$top_srcdir/docs/virt-migrated.rst" OPTIONS)
options=$(help_options <"$tmp/help")
[ -n "$options" ] || echo "no options in virt-migrated --help" >>"$tmp/err"
echo "$options" | expect_options "$text" "OPTIONS" >>"$tmp/err"
report "/docs/man/virt-migrated.8/options" "$tmp/err"
