/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * name-match.h: "did you mean": which known name one that was not found
 * was most likely meant to be (tunables, features, configuration keys)
 */
#pragma once

#include <glib.h>

/*
 * The closest of several names to a name that was not found, for "did you
 * mean": vmig_name_match_init(), vmig_name_match_try() on each candidate,
 * then vmig_name_match_best().  A candidate whose length alone is further
 * than @limit (or than the best so far) is not measured, so a huge name
 * costs nothing; the first of equally close candidates wins.
 */
typedef struct {
    const char *name;
    gsize len;
    gsize limit;
    const char *best;
    gsize best_distance;
} VmigNameMatch;

void vmig_name_match_init(VmigNameMatch *match, const char *name, gsize limit);
void vmig_name_match_try(VmigNameMatch *match, const char *candidate);
/* Returns: the closest candidate at most @limit edits away (borrowed), or NULL. */
const char *vmig_name_match_best(const VmigNameMatch *match);
