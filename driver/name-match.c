/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * name-match.c: the closest of several names, for "did you mean" (the
 * contract is name-match.h)
 */
#include <config.h>

#include "driver/name-match.h"

#include <string.h>

/* Returns: the edit distance between @a and @b (insert, delete, substitute, swap). */
static gsize
vmig_name_distance(const char *a, const char *b)
{
    gsize la = strlen(a), lb = strlen(b);
    g_autofree gsize *d = g_new(gsize, (la + 1) * (lb + 1));

#define D(i, j) d[(i) * (lb + 1) + (j)]
    for (gsize i = 0; i <= la; i++)
        D(i, 0) = i;
    for (gsize j = 0; j <= lb; j++)
        D(0, j) = j;
    for (gsize i = 1; i <= la; i++) {
        for (gsize j = 1; j <= lb; j++) {
            gsize cost = a[i - 1] == b[j - 1] ? 0 : 1;
            gsize best =
                MIN(MIN(D(i - 1, j) + 1, D(i, j - 1) + 1), D(i - 1, j - 1) + cost);

            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                best = MIN(best, D(i - 2, j - 2) + 1);
            D(i, j) = best;
        }
    }
    return D(la, lb);
#undef D
}

void
vmig_name_match_init(VmigNameMatch *match, const char *name, gsize limit)
{
    *match = (VmigNameMatch){name, strlen(name), limit, NULL, G_MAXSIZE};
}

void
vmig_name_match_try(VmigNameMatch *match, const char *candidate)
{
    gsize other = strlen(candidate);
    gsize gap = MAX(match->len, other) - MIN(match->len, other);
    gsize distance;

    /* The distance is at least the difference in length. */
    if (gap > match->limit || gap >= match->best_distance)
        return;
    distance = vmig_name_distance(match->name, candidate);
    if (distance < match->best_distance) {
        match->best = candidate;
        match->best_distance = distance;
    }
}

const char *
vmig_name_match_best(const VmigNameMatch *match)
{
    return match->best_distance <= match->limit ? match->best : NULL;
}
