#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# check-licence.sh: every file of the tree names its licence: an
# SPDX-License-Identifier line near its top, or a pattern of .reuse/dep5
# for files that cannot carry one (documents, fixtures, fuzz seeds).
#
#   scripts/check-licence.sh [TOP]
#
# Lists the files git tracks under TOP (default: the tree this script is
# in); prints each file that names no licence and exits 1 if any does.
set -eu

top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
tag='SPDX-License-Identifier: LGPL-2.1-or-later'
[ -f LICENSE ] || { echo "check-licence: no LICENSE file" >&2; exit 1; }
grep -q 'GNU LESSER GENERAL PUBLIC LICENSE' LICENSE ||
    { echo "check-licence: LICENSE is not the LGPL" >&2; exit 1; }

# The dep5 patterns, as shell globs (the "Files:" lines).
mapfile -t patterns < <(sed -n 's/^Files: *//p' .reuse/dep5 | tr ' ' '\n' | sed '/^$/d')

missing=0
while IFS= read -r f; do
    [ -f "$f" ] || continue
    case $f in LICENSE | .reuse/dep5) continue ;; esac
    covered=0
    for p in "${patterns[@]}"; do
        # shellcheck disable=SC2053  # a glob on purpose
        if [[ $f == $p ]]; then
            covered=1
            break
        fi
    done
    [ $covered = 1 ] && continue
    if ! head -n 5 "$f" | grep -qF "$tag"; then
        echo "check-licence: $f names no licence (no '$tag' in its first lines, no .reuse/dep5 pattern)"
        missing=$((missing + 1))
    fi
done < <(git ls-files)
if [ $missing -gt 0 ]; then
    echo "check-licence: $missing files without a licence" >&2
    exit 1
fi
echo "check-licence: every file names LGPL-2.1-or-later"
