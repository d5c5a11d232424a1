/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tunables.c: NAME=VALUE against a catalog, for any tunable QEMU has
 */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver/tunables.h"

/* clang-format off */
G_DEFINE_QUARK(vmig-tunable-error-quark, vmig_tunable_error)
/* clang-format on */

/* Returns: a description of what @tunable accepts, for messages (new string). */
static char *
expected(const VmigTunable *tunable)
{
    g_autofree char *what = NULL;

    switch (tunable->type) {
    case VMIG_TUNABLE_TYPE_INT:
        if (tunable->unit == VMIG_UNIT_BYTES ||
            tunable->unit == VMIG_UNIT_BYTES_PER_SECOND)
            what =
                g_strdup_printf("an integer (%s), optionally with a k, M, G or T suffix",
                                vmig_unit_to_string(tunable->unit));
        else if (tunable->unit != VMIG_UNIT_NONE)
            what = g_strdup_printf("an integer (%s)", vmig_unit_to_string(tunable->unit));
        else
            what = g_strdup("an integer");
        break;
    case VMIG_TUNABLE_TYPE_NUMBER:
        what = g_strdup("a number");
        break;
    case VMIG_TUNABLE_TYPE_BOOLEAN:
        what = g_strdup("a boolean: on/off, yes/no, true/false or 1/0");
        break;
    case VMIG_TUNABLE_TYPE_STRING:
        what = g_strdup("a string");
        break;
    case VMIG_TUNABLE_TYPE_ENUM: {
        g_autofree char *values = g_strjoinv(", ", tunable->values);

        what = g_strdup_printf("one of: %s", values);
        break;
    }
    default:
        what = g_strdup_printf("a value of type %s",
                               vmig_tunable_type_to_string(tunable->type));
        break;
    }
    if (tunable->nullable)
        return g_strdup_printf("%s, or null", what);
    return g_steal_pointer(&what);
}

/* Sets BAD_VALUE in @error for @text given to @tunable, with an optional @hint. */
static void
bad_value(const VmigTunable *tunable, const char *text, const char *hint, GError **error)
{
    g_autofree char *want = expected(tunable);

    g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_BAD_VALUE,
                "tunable '%s' expects %s, not '%s'%s", tunable->name, want, text,
                hint ? hint : "");
}

/* Returns: TRUE with @out, the power of 1024 a size suffix stands for, or FALSE. */
static gboolean
size_suffix(const char *suffix, guint *shift)
{
    static const char letters[] = "kmgtpe";
    const char *pos;

    if (*suffix == '\0' || g_ascii_strcasecmp(suffix, "b") == 0) {
        *shift = 0;
        return TRUE;
    }
    pos = strchr(letters, g_ascii_tolower(*suffix));
    if (!pos)
        return FALSE;
    /* k, K, KiB, kB: all powers of 1024, as QEMU reads them. */
    suffix++;
    if (*suffix != '\0' && g_ascii_strcasecmp(suffix, "ib") != 0 &&
        g_ascii_strcasecmp(suffix, "b") != 0)
        return FALSE;
    *shift = 10 * (guint)(pos - letters + 1);
    return TRUE;
}

/* Returns: the integer in @text for @tunable, or NULL with @error set. */
static JsonNode *
parse_int(const VmigTunable *tunable, const char *text, GError **error)
{
    gboolean sized =
        tunable->unit == VMIG_UNIT_BYTES || tunable->unit == VMIG_UNIT_BYTES_PER_SECOND;
    char *end = NULL;
    gint64 value;
    guint shift = 0;

    if (!*text || g_ascii_isspace(*text)) {
        bad_value(tunable, text, NULL, error);
        return NULL;
    }
    errno = 0;
    value = g_ascii_strtoll(text, &end, 10);
    if (end == text) {
        bad_value(tunable, text, NULL, error);
        return NULL;
    }
    if (errno == ERANGE) {
        bad_value(tunable, text, " (out of range)", error);
        return NULL;
    }
    if (*end) {
        if (!sized || !size_suffix(end, &shift)) {
            bad_value(tunable, text, NULL, error);
            return NULL;
        }
    }
    if (sized && value < 0) {
        bad_value(tunable, text, " (a size cannot be negative)", error);
        return NULL;
    }
    if (shift && value > (G_MAXINT64 >> shift)) {
        bad_value(tunable, text, " (out of range)", error);
        return NULL;
    }
    /* Only sizes have a suffix, and they are not negative: shifting a
     * negative value, even by 0, is undefined. */
    if (shift)
        value <<= shift;
    return json_node_init_int(json_node_alloc(), value);
}

/* Returns: the boolean in @text, or NULL with @error set. */
static JsonNode *
parse_boolean(const VmigTunable *tunable, const char *text, GError **error)
{
    static const struct {
        const char *word;
        gboolean value;
    } words[] = {
        {"on", TRUE},   {"off", FALSE},   {"yes", TRUE}, {"no", FALSE},
        {"true", TRUE}, {"false", FALSE}, {"1", TRUE},   {"0", FALSE},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(words); i++) {
        if (g_ascii_strcasecmp(text, words[i].word) == 0)
            return json_node_init_boolean(json_node_alloc(), words[i].value);
    }
    bad_value(tunable, text, NULL, error);
    return NULL;
}

/* Returns: the enum value @text, or NULL with @error (suggesting a close value). */
static JsonNode *
parse_enum(const VmigTunable *tunable, const char *text, GError **error)
{
    g_autofree char *hint = NULL;

    if (g_strv_contains((const char *const *)tunable->values, text))
        return json_node_init_string(json_node_alloc(), text);
    for (guint i = 0; tunable->values[i]; i++) {
        if (g_ascii_strcasecmp(tunable->values[i], text) == 0 ||
            (strlen(text) > 2 && g_str_has_prefix(tunable->values[i], text))) {
            hint = g_strdup_printf(" (did you mean '%s'?)", tunable->values[i]);
            break;
        }
    }
    bad_value(tunable, text, hint, error);
    return NULL;
}

/* Returns: the JSON value of @text for @tunable, or NULL with @error set. */
JsonNode *
vmig_tunable_parse_value(const VmigTunable *tunable, const char *text, GError **error)
{
    if (!vmig_tunable_is_settable(tunable)) {
        g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_NOT_SETTABLE,
                    "tunable '%s' is of type %s and cannot be set from a command line",
                    tunable->name, vmig_tunable_type_to_string(tunable->type));
        return NULL;
    }
    if (tunable->nullable && g_str_equal(text, "null"))
        return json_node_init_null(json_node_alloc());

    switch (tunable->type) {
    case VMIG_TUNABLE_TYPE_INT:
        return parse_int(tunable, text, error);
    case VMIG_TUNABLE_TYPE_NUMBER: {
        char *end = NULL;
        double value = g_ascii_strtod(text, &end);

        if (!*text || *end || !isfinite(value)) {
            bad_value(tunable, text, NULL, error);
            return NULL;
        }
        return json_node_init_double(json_node_alloc(), value);
    }
    case VMIG_TUNABLE_TYPE_BOOLEAN:
        return parse_boolean(tunable, text, error);
    case VMIG_TUNABLE_TYPE_ENUM:
        return parse_enum(tunable, text, error);
    case VMIG_TUNABLE_TYPE_STRING:
        return json_node_init_string(json_node_alloc(), text);
    default:
        g_assert_not_reached(); /* not settable, refused above */
    }
}

/* Returns: TRUE with the tunable and its value, or FALSE with @error set. */
gboolean
vmig_tunable_parse(const VmigCatalog *catalog, const char *assignment,
                   VmigTunableParseFlags flags, const VmigTunable **tunable_out,
                   JsonNode **value_out, GError **error)
{
    gboolean unstable = (flags & VMIG_TUNABLE_PARSE_UNSTABLE) != 0;
    const char *eq = strchr(assignment, '=');
    g_autofree char *name = NULL;
    const VmigTunable *tunable;
    JsonNode *value;

    if (!eq || eq == assignment) {
        g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_SYNTAX,
                    "expected NAME=VALUE, not '%s'", assignment);
        return FALSE;
    }
    name = g_strndup(assignment, eq - assignment);
    tunable = vmig_catalog_lookup(catalog, name);
    if (!tunable) {
        const char *suggestion = vmig_catalog_suggest(catalog, name, unstable);

        if (suggestion)
            g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_UNKNOWN,
                        "unknown tunable '%s' (did you mean '%s'?)", name, suggestion);
        else
            g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_UNKNOWN,
                        "unknown tunable '%s': %s has no such migration parameter or "
                        "capability",
                        name, *catalog->hypervisor ? catalog->hypervisor : "this QEMU");
        return FALSE;
    }
    if (tunable->kind == VMIG_TUNABLE_KIND_CAPABILITY && tunable->feature) {
        if (tunable->feature->internal)
            g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_NEGOTIATED,
                        "capability '%s' is used by the driver itself and cannot be set",
                        tunable->name);
        else
            g_set_error(
                error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_NEGOTIATED,
                "capability '%s' is negotiated automatically between the drivers; "
                "use --no-feature %s to keep it off or --require-feature %s to "
                "insist on it",
                tunable->name, tunable->feature->name, tunable->feature->name);
        return FALSE;
    }
    if (tunable->managed) {
        g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_NEGOTIATED,
                    "'%s' is managed by the driver: TLS between the two drivers is asked "
                    "for with %s (virt-migrate migrate --tls), and the drivers encrypt "
                    "every channel themselves (docs/tls.md)",
                    tunable->name, tunable->managed);
        return FALSE;
    }
    if (tunable->unstable && !unstable) {
        g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_UNSTABLE,
                    "tunable '%s' is unstable; pass --unstable to use it", tunable->name);
        return FALSE;
    }
    value = vmig_tunable_parse_value(tunable, eq + 1, error);
    if (!value)
        return FALSE;
    *tunable_out = tunable;
    *value_out = value;
    return TRUE;
}
