#!/bin/sh
# Run each libFuzzer target for SECONDS on a corpus seeded from the golden
# files, and report how many inputs each executed.
#
#   fuzz/run.sh SECONDS SRCDIR TARGET...
#
# Exit status: 0 when every target ran clean (no crash, leak, timeout).
set -u
seconds=$1
srcdir=$2
shift 2
status=0
for target in "$@"; do
    name=$(basename "$target")
    case $name in
        fuzz-frame)    seeds="$srcdir/tests/data/negotiate"; dict="-dict=$srcdir/fuzz/frame.dict" ;;
        fuzz-preamble) seeds="$srcdir/tests/data/preamble"; dict= ;;
        *)             seeds=; dict= ;;
    esac
    corpus="fuzz/corpus-$name"
    mkdir -p "$corpus"
    if [ -n "$seeds" ]; then
        for f in "$seeds"/*.bin; do
            [ -e "$f" ] && cp "$f" "$corpus/"
        done
    fi
    log="fuzz/$name.log"
    # -timeout: one input must never take a second; -rss_limit_mb bounds memory.
    "$target" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="fuzz/" $dict "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "fuzz: $name: ${execs:-?} executions in ${seconds}s, no crash"
    else
        echo "fuzz: $name: FAILED (exit $rc) after ${execs:-?} executions; see $log" >&2
        tail -n 40 "$log" >&2
        status=1
    fi
done
exit $status
