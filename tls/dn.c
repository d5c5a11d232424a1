/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dn.c: the DN allow-list (the contract is dn.h)
 */
#include <config.h>

#include "tls/dn.h"

gboolean
vmig_tls_dn_allowed(const char *dn, const char *const *patterns)
{
    g_return_val_if_fail(dn != NULL, FALSE);

    if (!patterns || !patterns[0])
        return TRUE;
    for (gsize i = 0; patterns[i]; i++) {
        if (g_pattern_match_simple(patterns[i], dn))
            return TRUE;
    }
    return FALSE;
}
