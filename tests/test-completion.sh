#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: the bash completion (data/virt-migrate.bash-completion), driven
# as bash drives it (COMP_LINE, COMP_POINT, COMP_WORDS split at ':' and '='),
# against a real daemon and real QEMUs: commands, a migration id the daemon
# lists, a tunable name from a domain's catalog, feature names.
# shellcheck shell=bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"

srcdir=${G_TEST_SRCDIR:?}
builddir=${G_TEST_BUILDDIR:?}
script="$srcdir/../data/virt-migrate.bash-completion"
qemu=${VMIG_TEST_QEMU:-qemu-system-x86_64}

if [ ! -r /usr/share/bash-completion/bash_completion ]; then
    echo "1..0 # SKIP bash-completion is not installed (scripts/install-deps.sh)"
    exit 0
fi
if ! command -v "$qemu" >/dev/null; then
    echo "1..0 # SKIP $qemu not found (scripts/install-deps.sh)"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmig-completion-XXXXXX") || exit 1
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

bail() {
    echo "Bail out! $*"
    exit 1
}

# Waits (5 s at most) until the unix socket $1 exists.
wait_socket() {
    local i
    for ((i = 0; i < 500; i++)); do
        [ -S "$1" ] && return 0
        sleep 0.01
    done
    return 1
}

# Starts a QEMU whose monitor is $tmp/$1.qmp (more arguments: QEMU's).
start_qemu() {
    local name=$1
    shift
    "$qemu" -machine none -nodefaults -display none "$@" \
        -qmp "unix:$tmp/$name.qmp,server=on,wait=off" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    wait_socket "$tmp/$name.qmp" || bail "QEMU $name did not open its monitor: $(cat "$tmp/$name.log")"
}

# The programs under test, found as a user's shell finds them.
PATH="$builddir/../tools:$PATH"
export VIRT_MIGRATE_SOCKET="$tmp/daemon/virt-migrated.sock"
"$builddir/../driver/virt-migrated" --runtime-dir "$tmp/daemon" --bus none --tls-x509-dir= \
    >"$tmp/daemon.log" 2>&1 &
pids+=($!)
wait_socket "$VIRT_MIGRATE_SOCKET" || bail "virt-migrated did not start: $(cat "$tmp/daemon.log")"

start_qemu src
start_qemu dst -incoming defer
virt-migrate incoming "qmp:$tmp/dst.qmp" "unix:$tmp/listen.sock" >"$tmp/incoming.out" ||
    bail "virt-migrate incoming failed"
id=$(sed -n 's/^Migration \([^ ]*\) .*/\1/p' "$tmp/incoming.out")
[ -n "$id" ] || bail "virt-migrate incoming named no migration: $(cat "$tmp/incoming.out")"

. /usr/share/bash-completion/bash_completion
. "$script"

# compopt works only inside a completion bash started; note what was asked.
compopt() {
    options="$options $*"
}

# Completes the line $1 with the cursor at its end, as bash would: the words
# are split at blanks and at the word-breaking ':' and '=' (a run of them is
# a word of its own).  Sets COMPREPLY, and options (compopt's).
complete_line() {
    local line=$1 word="" c i
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMP_WORDS=()
    for ((i = 0; i < ${#line}; i++)); do
        c=${line:i:1}
        if [[ $c == ' ' ]]; then
            [[ $word ]] && COMP_WORDS+=("$word")
            word=""
        elif [[ $c == [:=] ]] && [[ $word && $word != *[:=] ]]; then
            COMP_WORDS+=("$word")
            word=$c
        elif [[ $c != [:=] && $word == *[:=] ]]; then
            COMP_WORDS+=("$word")
            word=$c
        else
            word+=$c
        fi
    done
    COMP_WORDS+=("$word")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    options=""
    _virt_migrate virt-migrate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}

n=0
# check NAME LINE EXPECTED: ok when COMPREPLY, sorted and joined by spaces, is EXPECTED.
check() {
    local name=$1 line=$2 expected=$3 got
    complete_line "$line"
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
    got=${got% }
    n=$((n + 1))
    if [[ $got == "$expected" ]]; then
        echo "ok $n /completion/$name"
    else
        echo "not ok $n /completion/$name"
        echo "# line:     '$line'"
        echo "# expected: '$expected'"
        echo "# got:      '$got'"
    fi
}

echo "1..23"
check commands "virt-migrate mi" "migrate"
check commands-all "virt-migrate " \
    "cancel events features help incoming jobinfo list migrate postcopy resolve set tunables version"
check global-options "virt-migrate --c" "--connect"
check global-socket "virt-migrate --da" "--daemon-socket"
# A global -c URI makes DOMAIN libvirt's (nothing offered), as the command's own -c does.
check domain-qmp "virt-migrate tunables q" "qmp:"
check domain-global-uri "virt-migrate -c test:///default tunables q" ""
check options "virt-migrate incoming qmp:/x unix:/y --max" "--max-channels"
check migrate-allow-legacy "virt-migrate migrate qmp:/x unix:/y --allow" "--allow-legacy"
check migration-id "virt-migrate features " "$id"
check migration-id-cancel "virt-migrate cancel " "$id"
check migration-id-jobinfo "virt-migrate jobinfo " "$id"
check migration-id-postcopy "virt-migrate postcopy " "$id"
check jobinfo-options "virt-migrate jobinfo m1 --j" "--json"
check list-options "virt-migrate list --" "--all --help --json --xml"
check events-options "virt-migrate events --j" "--json"
check migration-id-option "virt-migrate events --migration " "$id"
check tunable "virt-migrate migrate qmp:$tmp/src.qmp unix:/x --tunable max-ban" \
    "max-bandwidth="
check tunable-value "virt-migrate migrate qmp:$tmp/src.qmp unix:/x --tunable multifd-compression=z" \
    "zlib zstd"
check feature "virt-migrate migrate qmp:$tmp/src.qmp unix:/x --no-feature mul" \
    "multifd multifd-compression"
check set-tunable "virt-migrate set m1 --tunable max-" \
    "max-bandwidth= max-cpu-throttle= max-postcopy-bandwidth="

# A daemon that is not there: nothing offered, nothing printed, quickly.
n=$((n + 1))
start=$(date +%s%N)
complete_line "virt-migrate --daemon-socket $tmp/nothing.sock features " 2>"$tmp/stderr"
elapsed=$((($(date +%s%N) - start) / 1000000))
if [[ ${#COMPREPLY[@]} == 0 && ! -s $tmp/stderr && $elapsed -lt 2500 ]]; then
    echo "ok $n /completion/no-daemon"
else
    echo "not ok $n /completion/no-daemon"
    echo "# offered '${COMPREPLY[*]}' in $elapsed ms, printed: $(cat "$tmp/stderr")"
fi

# The feature names written in the script are driver/features.c's, less the
# internal ones: the table's rows are {VMIG_FEATURE_X, "name", ..., internal}.
n=$((n + 1))
table=$(sed -n '/^static const VmigFeatureInfo feature_table/,/^};/p' \
    "$srcdir/../driver/features.c" | tr -d '\n' | sed 's/{VMIG_FEATURE_/\n&/g' |
    sed -n 's/^{VMIG_FEATURE_[A-Z_]*, *"\([^"]*\)".*, *FALSE}.*/\1/p' | sort | tr '\n' ' ')
ours=$(printf '%s\n' $_virt_migrate_features | sort | tr '\n' ' ')
if [[ $table && $table == "$ours" ]]; then
    echo "ok $n /completion/features-match-table"
else
    echo "not ok $n /completion/features-match-table"
    echo "# driver/features.c: '$table'; the completion: '$ours'"
fi

# The tunables `set` offers are driver/migration-set.c's live ones: its rows
# are {"name", TRUE, "why"}.
n=$((n + 1))
table=$(sed -n '/^static const VmigLiveParameter live_parameters/,/^};/p' \
    "$srcdir/../driver/migration-set.c" | tr -d '\n' | sed 's/{"/\n&/g' |
    sed -n 's/^{"\([^"]*\)", *TRUE,.*/\1/p' | sort | tr '\n' ' ')
ours=$(printf '%s\n' $_virt_migrate_live | sort | tr '\n' ' ')
if [[ $table && $table == "$ours" ]]; then
    echo "ok $n /completion/live-tunables-match-table"
else
    echo "not ok $n /completion/live-tunables-match-table"
    echo "# driver/migration-set.c: '$table'; the completion: '$ours'"
fi
