#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run each libFuzzer target on a corpus seeded from the golden files, and
# report what each did (docs/fuzzing.md).
#
#   fuzz/run.sh SECONDS SRCDIR TARGET...
#
# Each target runs for SECONDS, or until FUZZ_RUNS executions when that is
# set in the environment (make fuzz-long), whichever comes first.  Run it
# from the build directory: corpora (fuzz/corpus-NAME, kept from run to
# run), logs (fuzz/NAME.log) and crash artifacts (fuzz/crash-*, leak-*,
# timeout-*, oom-*) go to fuzz/ there.  Inputs too large to mutate quickly
# (the recorded QMP schema) are run once each, before fuzzing
# (fuzz/inputs-NAME).  One line per target:
#
#   fuzz: NAME: EXECS executions in SECS s (RATE/s), cov: C, ft: F, no crash
#
# Exit status: 0 when every target ran clean (no crash, leak, timeout).
set -u
seconds=$1
srcdir=$2
shift 2
runs=${FUZZ_RUNS:-}
data="$srcdir/tests/data"
status=0

# Prints the JSON document in file $1 on one line: the golden files are
# pretty-printed, and a newline never occurs inside a JSON string.
one_line() {
    tr -d '\n' <"$1"
}

# Copies the files $2... (globs that match nothing are skipped) into $1.
copy_seeds() {
    dir=$1
    shift
    for f in "$@"; do
        [ -f "$f" ] && cp "$f" "$dir/"
    done
    return 0
}

# Writes, into file $1, a reply line carrying the JSON document in file $2
# as its "return" value, with id $3 (JSON) and line end $4 (printf %b).
reply_seed() {
    printf '{"return": %s, "id": %s}%b' "$(one_line "$2")" "$3" "$4" >"$1"
}

# Writes, into file $1, a catalog input (fuzz/fuzz-catalog.c): the schema
# in file $2, then the recorded current values and a few assignments.
catalog_seed() {
    {
        cat "$2"
        printf '\0'
        cat "$data/qmp/query-migrate-parameters.json"
        printf '\0'
        cat "$data/qmp/query-migrate-capabilities.json"
        printf '\0max-bandwidth=1G\0downtime-limit=300\0multifd-compression=zst'
        printf '\0xbzrle=on\0x-colo=yes\0tls-creds=null\0announce-step=-1\0multifd=on'
    } >"$1"
}

# Fills corpus $1 (and $2, the inputs run once) for target $3; sets
# $dict and $max_len.
seed() {
    corpus=$1
    inputs=$2
    dict=
    max_len=
    case $3 in
    fuzz-frame)
        copy_seeds "$corpus" "$data"/negotiate/*.bin
        dict="-dict=$srcdir/fuzz/frame.dict"
        ;;
    fuzz-preamble)
        copy_seeds "$corpus" "$data"/preamble/*.bin
        ;;
    fuzz-control)
        copy_seeds "$corpus" "$srcdir"/fuzz/seeds/control/*
        dict="-dict=$srcdir/fuzz/json.dict"
        ;;
    fuzz-qmp)
        copy_seeds "$corpus" "$srcdir"/fuzz/seeds/qmp/*
        # The schema reply (350 KiB) is the catalog target's business.
        n=1
        for f in "$data"/qmp/query-version.json "$data"/qmp/query-migrate-*.json; do
            reply_seed "$corpus/golden-$(basename "$f" .json)" "$f" "\"vmig-$n\"" '\r'
            n=$((n + 1))
        done
        printf '{"QMP": {"version": %s, "capabilities": []}}\r' \
            "$(one_line "$data/qmp/query-version.json")" >"$corpus/golden-greeting"
        dict="-dict=$srcdir/fuzz/json.dict"
        ;;
    fuzz-catalog)
        copy_seeds "$corpus" "$srcdir"/fuzz/seeds/catalog/*
        catalog_seed "$corpus/golden-migration-schema" \
            "$srcdir/fuzz/seeds/catalog/migration-schema.json"
        catalog_seed "$inputs/golden-qemu-7.2" "$data/qmp/query-qmp-schema.json"
        dict="-dict=$srcdir/fuzz/json.dict"
        max_len="-max_len=16384"
        ;;
    fuzz-libvirt-json)
        copy_seeds "$corpus" "$srcdir"/fuzz/seeds/libvirt-json/*
        n=1
        for f in "$data"/qmp/query-version.json "$data"/qmp/query-migrate-*.json; do
            reply_seed "$corpus/golden-$(basename "$f" .json)" "$f" "\"libvirt-$n\"" ''
            n=$((n + 1))
        done
        reply_seed "$inputs/golden-query-qmp-schema" "$data/qmp/query-qmp-schema.json" \
            '"libvirt-9"' ''
        dict="-dict=$srcdir/fuzz/json.dict"
        ;;
    fuzz-domain-xml)
        copy_seeds "$corpus" "$data"/xml/domain-*.xml
        dict="-dict=$srcdir/fuzz/xml.dict"
        ;;
    fuzz-cli)
        copy_seeds "$corpus" "$srcdir"/fuzz/seeds/cli/*
        n=10
        for f in "$data"/xml/record-*.json "$data"/xml/catalog.json "$data"/catalog/*.json; do
            [ -f "$f" ] || continue
            reply_seed "$corpus/golden-$(basename "$f" .json)-$n" "$f" "$n" ''
            n=$((n + 1))
        done
        dict="-dict=$srcdir/fuzz/json.dict"
        ;;
    esac
}

for target in "$@"; do
    name=$(basename "$target")
    corpus="fuzz/corpus-$name"
    inputs="fuzz/inputs-$name"
    log="fuzz/$name.log"
    rm -rf "$inputs"
    mkdir -p "$corpus" "$inputs"
    : >"$log"
    seed "$corpus" "$inputs" "$name"

    # The large inputs, once each: a crash there fails the target too.
    if ls "$inputs"/* >/dev/null 2>&1 &&
        ! "$target" -timeout=10 -rss_limit_mb=2048 "$inputs"/* >>"$log" 2>&1; then
        echo "fuzz: $name: FAILED on a golden input; see $log" >&2
        tail -n 40 "$log" >&2
        status=1
        continue
    fi

    # -timeout: one input must never take a second; -rss_limit_mb bounds
    # memory (ASan's quarantine alone holds 256 MiB).
    start=$(date +%s)
    # shellcheck disable=SC2086 # $dict, $max_len: one word or none
    "$target" -max_total_time="$seconds" ${runs:+-runs=$runs} -timeout=1 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/" \
        $dict $max_len "$corpus" >>"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    last=$(grep -a ' cov: ' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    rate=$((${execs:-0} / (secs > 0 ? secs : 1)))
    if [ $rc -eq 0 ]; then
        echo "fuzz: $name: ${execs:-?} executions in ${secs} s (${rate}/s)," \
            "cov: ${cov:-?}, ft: ${ft:-?}, no crash"
    else
        echo "fuzz: $name: FAILED (exit $rc) after ${execs:-?} executions; see $log" >&2
        tail -n 40 "$log" >&2
        status=1
    fi
done
exit $status
