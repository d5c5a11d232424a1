/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-catalog.c: libFuzzer target for the QMP schema -> tunables catalog
 * (driver/catalog.c) and for tunable values checked against it
 * (driver/tunables.c)
 *
 * An input is up to four parts separated by NUL bytes (JSON has none):
 *
 *   SCHEMA \0 PARAMETERS \0 CAPABILITIES \0 ASSIGNMENT [\0 ASSIGNMENT ...]
 *
 * SCHEMA is query-qmp-schema's return value, PARAMETERS and CAPABILITIES
 * query-migrate-parameters' and query-migrate-capabilities', each read by
 * vmig_json_parse() as the QMP client reads them; an ASSIGNMENT is a
 * --tunable NAME=VALUE (the first 16 are tried), and its VALUE is also
 * tried against every tunable.
 *
 * Invariants (abort() on violation): failures set an error of the right
 * domain and code, successes none; every tunable is found by its name, has
 * a kind, type and unit in range, enum values exactly when it is an enum;
 * the wire form lists every tunable (the stable ones without 'unstable')
 * and reads back equal; a copy has the same wire form; a current value of
 * a capability is a boolean; a parsed value has the JSON type of its
 * tunable (an enum value is one of its values, a size is not negative).
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver/catalog.h"
#include "driver/tunables.h"
#include "json/reader.h"
#include "json/writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HYPERVISOR "QEMU 7.2.0 (fuzz)"

/* Assignments an input may try (see the end of LLVMFuzzerTestOneInput). */
#define MAX_ASSIGNMENTS 16

/* Returns: the number of elements in the wire form @wire's "tunables". */
static guint
wire_count(JsonNode *wire)
{
    JsonObject *object;
    JsonNode *tunables;

    if (!wire || !JSON_NODE_HOLDS_OBJECT(wire))
        abort();
    object = json_node_get_object(wire);
    tunables = json_object_get_member(object, "tunables");
    if (!tunables || !JSON_NODE_HOLDS_ARRAY(tunables))
        abort();
    return json_array_get_length(json_node_get_array(tunables));
}

/* Aborts unless @node, written out as the daemon writes JSON, reads back equal. */
static void
check_round_trip(JsonNode *node)
{
    g_autofree char *text = vmig_json_write(node, FALSE, NULL);
    g_autoptr(JsonNode) again = vmig_json_parse(text, -1, NULL);

    if (!again || !json_node_equal(node, again))
        abort();
}

/* Aborts unless @catalog keeps the promises of catalog.h. */
static void
check_catalog(const VmigCatalog *catalog)
{
    g_autoptr(JsonNode) all = vmig_catalog_to_json(catalog, TRUE);
    g_autoptr(JsonNode) stable = vmig_catalog_to_json(catalog, FALSE);
    g_autoptr(VmigCatalog) copy = vmig_catalog_copy(catalog);
    g_autoptr(JsonNode) copied = vmig_catalog_to_json(copy, TRUE);
    guint n_stable = 0;

    if (!catalog->hypervisor || !g_str_equal(catalog->hypervisor, HYPERVISOR))
        abort();
    for (guint i = 0; i < catalog->tunables->len; i++) {
        const VmigTunable *t = g_ptr_array_index(catalog->tunables, i);
        const VmigTunable *found = vmig_catalog_lookup(catalog, t->name);

        if (!found || !g_str_equal(found->name, t->name))
            abort();
        if ((guint)t->kind >= VMIG_TUNABLE_KIND_LAST ||
            (guint)t->type >= VMIG_TUNABLE_TYPE_LAST ||
            (guint)t->unit >= VMIG_UNIT_LAST || !vmig_tunable_kind_to_string(t->kind) ||
            !vmig_tunable_type_to_string(t->type))
            abort();
        if ((t->values != NULL) != (t->type == VMIG_TUNABLE_TYPE_ENUM))
            abort();
        if (t->kind == VMIG_TUNABLE_KIND_CAPABILITY &&
            (t->type != VMIG_TUNABLE_TYPE_BOOLEAN ||
             (t->current && (!JSON_NODE_HOLDS_VALUE(t->current) ||
                             json_node_get_value_type(t->current) != G_TYPE_BOOLEAN))))
            abort();
        if (!t->unstable)
            n_stable++;
    }
    if (wire_count(all) != catalog->tunables->len || wire_count(stable) != n_stable)
        abort();
    if (!json_node_equal(all, copied))
        abort();
    check_round_trip(all);
}

/* Aborts unless @value is what @tunable may be given for @text. */
static void
check_value(const VmigTunable *tunable, const char *text, JsonNode *value)
{
    GType type;

    if (!value || !vmig_tunable_is_settable(tunable))
        abort();
    if (JSON_NODE_HOLDS_NULL(value)) {
        if (!tunable->nullable || !g_str_equal(text, "null"))
            abort();
        return;
    }
    if (!JSON_NODE_HOLDS_VALUE(value))
        abort();
    type = json_node_get_value_type(value);
    switch (tunable->type) {
    case VMIG_TUNABLE_TYPE_INT:
        if (type != G_TYPE_INT64)
            abort();
        if ((tunable->unit == VMIG_UNIT_BYTES ||
             tunable->unit == VMIG_UNIT_BYTES_PER_SECOND) &&
            json_node_get_int(value) < 0)
            abort();
        break;
    case VMIG_TUNABLE_TYPE_NUMBER:
        if (type != G_TYPE_DOUBLE || !isfinite(json_node_get_double(value)))
            abort();
        break;
    case VMIG_TUNABLE_TYPE_BOOLEAN:
        if (type != G_TYPE_BOOLEAN)
            abort();
        break;
    case VMIG_TUNABLE_TYPE_STRING:
        if (type != G_TYPE_STRING || !g_str_equal(json_node_get_string(value), text))
            abort();
        break;
    case VMIG_TUNABLE_TYPE_ENUM:
        if (type != G_TYPE_STRING ||
            !g_strv_contains((const char *const *)tunable->values,
                             json_node_get_string(value)))
            abort();
        break;
    default:
        abort(); /* not settable */
    }
}

/* Tries @text as a value of every tunable of @catalog. */
static void
try_value(const VmigCatalog *catalog, const char *text)
{
    for (guint i = 0; i < catalog->tunables->len; i++) {
        const VmigTunable *t = g_ptr_array_index(catalog->tunables, i);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) value = vmig_tunable_parse_value(t, text, &error);

        if (value) {
            if (error)
                abort();
            check_value(t, text, value);
        } else if (!error || error->domain != VMIG_TUNABLE_ERROR ||
                   (error->code == VMIG_TUNABLE_ERROR_NOT_SETTABLE) ==
                       vmig_tunable_is_settable(t) ||
                   (error->code != VMIG_TUNABLE_ERROR_NOT_SETTABLE &&
                    error->code != VMIG_TUNABLE_ERROR_BAD_VALUE)) {
            abort();
        }
    }
}

/* Runs @assignment (NAME=VALUE) against @catalog, as migrate does. */
static void
try_assignment(const VmigCatalog *catalog, const char *assignment)
{
    const char *eq = strchr(assignment, '=');

    for (guint unstable = 0; unstable < 2; unstable++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) value = NULL;
        const VmigTunable *tunable = NULL;
        VmigTunableParseFlags flags =
            unstable ? VMIG_TUNABLE_PARSE_UNSTABLE : VMIG_TUNABLE_PARSE_DEFAULT;

        if (vmig_tunable_parse(catalog, assignment, flags, &tunable, &value, &error)) {
            if (error || !tunable || !eq)
                abort();
            if (strncmp(assignment, tunable->name, eq - assignment) != 0 ||
                tunable->name[eq - assignment] != '\0')
                abort();
            if (tunable->unstable && !unstable)
                abort();
            check_value(tunable, eq + 1, value);
        } else if (!error || error->domain != VMIG_TUNABLE_ERROR ||
                   error->code >= VMIG_TUNABLE_ERROR_LAST || tunable || value) {
            abort();
        }
    }
    try_value(catalog, eq ? eq + 1 : assignment);
}

/* Feed @data to the catalog builder.  Returns 0 (libFuzzer's convention). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy, NUL-terminated, so that every part is a C string. */
    g_autofree char *text = g_malloc(size + 1);
    g_autoptr(GPtrArray) parts = g_ptr_array_new();
    g_autoptr(JsonNode) schema = NULL;
    g_autoptr(JsonNode) parameters = NULL;
    g_autoptr(JsonNode) capabilities = NULL;
    g_autoptr(VmigCatalog) catalog = NULL;
    g_autoptr(GError) error = NULL;
    const char *p;

    memcpy(text, data, size);
    text[size] = '\0';
    for (p = text; p <= text + size; p += strlen(p) + 1)
        g_ptr_array_add(parts, (gpointer)p);

    schema = vmig_json_parse(g_ptr_array_index(parts, 0), -1, NULL);
    if (!schema)
        return 0;
    catalog = vmig_catalog_new_from_schema(HYPERVISOR, schema, &error);
    if (!catalog) {
        if (!error || error->domain != VMIG_CATALOG_ERROR ||
            error->code != VMIG_CATALOG_ERROR_SCHEMA)
            abort();
        return 0;
    }
    if (error)
        abort();

    if (parts->len > 2) {
        parameters = vmig_json_parse(g_ptr_array_index(parts, 1), -1, NULL);
        capabilities = vmig_json_parse(g_ptr_array_index(parts, 2), -1, NULL);
    }
    if (parameters && capabilities) {
        if (vmig_catalog_set_current(catalog, parameters, capabilities, &error)) {
            if (error)
                abort();
        } else if (!error || error->domain != VMIG_CATALOG_ERROR ||
                   error->code != VMIG_CATALOG_ERROR_VALUES) {
            abort();
        }
    }
    check_catalog(catalog);

    /* A few: thousands of one-byte assignments, each tried against every
     * tunable, would only make an input slow, not cover anything new. */
    for (guint i = 3; i < parts->len && i < 3 + MAX_ASSIGNMENTS; i++)
        try_assignment(catalog, g_ptr_array_index(parts, i));
    return 0;
}
