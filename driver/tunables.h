/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tunables.h: NAME=VALUE against a catalog
 *
 * One generic parser for every tunable this QEMU has: the catalog says the
 * type, the parser turns the user's text into a JSON value of that type,
 * or refuses it with a message a user can act on.
 */
#pragma once

#include "driver/catalog.h"

#define VMIG_TUNABLE_ERROR (vmig_tunable_error_quark())
GQuark vmig_tunable_error_quark(void);

typedef enum {
    VMIG_TUNABLE_ERROR_SYNTAX,       /* not NAME=VALUE */
    VMIG_TUNABLE_ERROR_UNKNOWN,      /* no such tunable (with a did-you-mean) */
    VMIG_TUNABLE_ERROR_UNSTABLE,     /* an unstable tunable without --unstable */
    VMIG_TUNABLE_ERROR_NEGOTIATED,   /* a negotiated capability: not a tunable */
    VMIG_TUNABLE_ERROR_NOT_SETTABLE, /* arrays, objects: not from a command line */
    VMIG_TUNABLE_ERROR_BAD_VALUE,    /* the value does not fit the type */
    VMIG_TUNABLE_ERROR_LAST
} VmigTunableErrorCode;

typedef enum {
    VMIG_TUNABLE_PARSE_DEFAULT = 0,
    VMIG_TUNABLE_PARSE_UNSTABLE = 1 << 0, /* allow unstable (x-) tunables */
} VmigTunableParseFlags;

/*
 * vmig_tunable_parse_value:
 * Parses @text as a value of @tunable: integers (byte-valued ones accept
 * k/M/G/T/P/E suffixes, powers of 1024), numbers, booleans (on/off,
 * yes/no, true/false, 1/0), enum values, strings, and 'null' for nullable
 * ones.
 * Returns: a new JSON value, or NULL with BAD_VALUE or NOT_SETTABLE in @error.
 */
JsonNode *vmig_tunable_parse_value(const VmigTunable *tunable, const char *text,
                                   GError **error);

/*
 * vmig_tunable_parse:
 * Parses @assignment, "NAME=VALUE", against @catalog.
 * Returns: TRUE with @tunable_out (owned by @catalog) and @value_out (a
 * new JSON value), or FALSE with @error set.
 */
gboolean vmig_tunable_parse(const VmigCatalog *catalog, const char *assignment,
                            VmigTunableParseFlags flags, const VmigTunable **tunable_out,
                            JsonNode **value_out, GError **error);
