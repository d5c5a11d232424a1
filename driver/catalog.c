/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.c: the tunables a hypervisor really has, read from its schema
 *
 * QEMU's introspection names most types by number ("143"), so the walk
 * starts from what has a stable name, the commands: the members of
 * migrate-set-parameters' argument type are the parameters, and the enum
 * behind migrate-set-capabilities' capabilities[].capability lists the
 * capabilities.  Each member's type is resolved through the schema
 * (builtins, enums, arrays, objects, alternates).
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-catalog"

#include <string.h>

#include "driver/catalog.h"
#include "driver/name-match.h"

/* clang-format off */
G_DEFINE_QUARK(vmig-catalog-error-quark, vmig_catalog_error)
/* clang-format on */

static const char *const kind_names[] = {"parameter", "capability"};
G_STATIC_ASSERT(G_N_ELEMENTS(kind_names) == VMIG_TUNABLE_KIND_LAST);

static const char *const type_names[] = {
    "int", "number", "boolean", "string", "enum", "array", "object", "alternate", "any",
};
G_STATIC_ASSERT(G_N_ELEMENTS(type_names) == VMIG_TUNABLE_TYPE_LAST);

/* Returns: the kind's name, or NULL for a value that is no kind. */
const char *
vmig_tunable_kind_to_string(VmigTunableKind kind)
{
    if ((guint)kind >= G_N_ELEMENTS(kind_names))
        return NULL;
    return kind_names[kind];
}

/* Returns: the type's name, or NULL for a value that is no type. */
const char *
vmig_tunable_type_to_string(VmigTunableType type)
{
    if ((guint)type >= G_N_ELEMENTS(type_names))
        return NULL;
    return type_names[type];
}

/* Returns: TRUE when a value of the tunable's type can be given on a command line. */
gboolean
vmig_tunable_is_settable(const VmigTunable *tunable)
{
    if (tunable->managed)
        return FALSE;
    switch (tunable->type) {
    case VMIG_TUNABLE_TYPE_INT:
    case VMIG_TUNABLE_TYPE_NUMBER:
    case VMIG_TUNABLE_TYPE_BOOLEAN:
    case VMIG_TUNABLE_TYPE_STRING:
    case VMIG_TUNABLE_TYPE_ENUM:
        return TRUE;
    default:
        return FALSE;
    }
}

static void
tunable_free(VmigTunable *tunable)
{
    g_free(tunable->name);
    g_strfreev(tunable->values);
    if (tunable->current)
        json_node_unref(tunable->current);
    g_free(tunable);
}

void
vmig_catalog_free(VmigCatalog *catalog)
{
    if (!catalog)
        return;
    g_free(catalog->hypervisor);
    g_hash_table_unref(catalog->index);
    g_ptr_array_unref(catalog->tunables);
    g_free(catalog);
}

/* ---- the schema --------------------------------------------------------- */

typedef struct {
    GHashTable *types;    /* type name -> JsonObject (borrowed from the schema) */
    GHashTable *commands; /* command name -> JsonObject */
} Schema;

static void
schema_clear(Schema *schema)
{
    g_clear_pointer(&schema->types, g_hash_table_unref);
    g_clear_pointer(&schema->commands, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Schema, schema_clear)

/* Returns: the string member @name of @obj, or NULL when absent or not a string. */
static const char *
get_string(JsonObject *obj, const char *name)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

/* Returns: the array member @name of @obj, or NULL when absent or not an array. */
static JsonArray *
get_array(JsonObject *obj, const char *name)
{
    JsonNode *node = json_object_get_member(obj, name);

    return node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

/* Returns: TRUE when the 'features' array of @obj holds @feature. */
static gboolean
has_feature(JsonObject *obj, const char *feature)
{
    JsonArray *features = get_array(obj, "features");

    if (!features)
        return FALSE;
    for (guint i = 0; i < json_array_get_length(features); i++) {
        JsonNode *node = json_array_get_element(features, i);

        if (JSON_NODE_HOLDS_VALUE(node) &&
            json_node_get_value_type(node) == G_TYPE_STRING &&
            g_str_equal(json_node_get_string(node), feature))
            return TRUE;
    }
    return FALSE;
}

/* Returns: TRUE with @schema indexed, or FALSE with @error when it is not a schema. */
static gboolean
schema_index(Schema *schema, JsonNode *root, GError **error)
{
    JsonArray *entries;

    if (!root || !JSON_NODE_HOLDS_ARRAY(root)) {
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA,
                    "query-qmp-schema did not return an array");
        return FALSE;
    }
    entries = json_node_get_array(root);
    schema->types = g_hash_table_new(g_str_hash, g_str_equal);
    schema->commands = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < json_array_get_length(entries); i++) {
        JsonNode *node = json_array_get_element(entries, i);
        JsonObject *entry;
        const char *name, *meta;

        if (!JSON_NODE_HOLDS_OBJECT(node))
            continue;
        entry = json_node_get_object(node);
        name = get_string(entry, "name");
        meta = get_string(entry, "meta-type");
        if (!name || !meta)
            continue;
        if (g_str_equal(meta, "command"))
            g_hash_table_insert(schema->commands, (gpointer)name, entry);
        else if (!g_str_equal(meta, "event"))
            g_hash_table_insert(schema->types, (gpointer)name, entry);
    }
    return TRUE;
}

/* Returns: the type entry called @name, or NULL with @error naming @what needed it. */
static JsonObject *
schema_type(const Schema *schema, const char *name, const char *what, GError **error)
{
    JsonObject *type = name ? g_hash_table_lookup(schema->types, name) : NULL;

    if (!type)
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA,
                    "the schema has no type '%s' (%s)", name ? name : "(none)", what);
    return type;
}

/* Returns: the argument type of command @command, or NULL with @error set. */
static JsonObject *
schema_command_args(const Schema *schema, const char *command, GError **error)
{
    JsonObject *cmd = g_hash_table_lookup(schema->commands, command);
    g_autofree char *what = g_strdup_printf("arguments of '%s'", command);
    JsonObject *args;

    if (!cmd) {
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA,
                    "the schema has no command '%s': this QEMU cannot migrate", command);
        return NULL;
    }
    args = schema_type(schema, get_string(cmd, "arg-type"), what, error);
    if (args && !get_array(args, "members")) {
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA,
                    "the %s are not an object type", what);
        return NULL;
    }
    return args;
}

/* Returns: the member called @name of object type @type, or NULL. */
static JsonObject *
object_member(JsonObject *type, const char *name)
{
    JsonArray *members = get_array(type, "members");

    for (guint i = 0; members && i < json_array_get_length(members); i++) {
        JsonNode *node = json_array_get_element(members, i);

        if (JSON_NODE_HOLDS_OBJECT(node) &&
            g_strcmp0(get_string(json_node_get_object(node), "name"), name) == 0)
            return json_node_get_object(node);
    }
    return NULL;
}

/* What a schema type resolves to. */
typedef struct {
    VmigTunableType type;
    gboolean nullable;
    gboolean is_null; /* the builtin 'null' itself */
    GStrv values;     /* enum values (owned) */
} Resolved;

static void
resolved_clear(Resolved *r)
{
    g_clear_pointer(&r->values, g_strfreev);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Resolved, resolved_clear)

/* Returns: a new NULL-terminated array of the names of enum @type. */
static GStrv
enum_values(JsonObject *type)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    JsonArray *members = get_array(type, "members");
    JsonArray *values = get_array(type, "values");

    /* 'members' (QEMU 6.2+) carries per-value features; 'values' is older. */
    if (members) {
        for (guint i = 0; i < json_array_get_length(members); i++) {
            JsonNode *node = json_array_get_element(members, i);
            const char *name = JSON_NODE_HOLDS_OBJECT(node)
                                   ? get_string(json_node_get_object(node), "name")
                                   : NULL;

            if (name)
                g_strv_builder_add(builder, name);
        }
    } else if (values) {
        for (guint i = 0; i < json_array_get_length(values); i++) {
            JsonNode *node = json_array_get_element(values, i);

            if (JSON_NODE_HOLDS_VALUE(node) &&
                json_node_get_value_type(node) == G_TYPE_STRING)
                g_strv_builder_add(builder, json_node_get_string(node));
        }
    }
    return g_strv_builder_end(builder);
}

/* Returns: TRUE with @out describing type @name, or FALSE with @error set. */
static gboolean
resolve_type(const Schema *schema, const char *name, const char *what, Resolved *out,
             GError **error)
{
    JsonObject *type = schema_type(schema, name, what, error);
    const char *meta;

    memset(out, 0, sizeof(*out));
    if (!type)
        return FALSE;
    meta = get_string(type, "meta-type");

    if (g_str_equal(meta, "builtin")) {
        const char *json_type = get_string(type, "json-type");
        static const struct {
            const char *json_type;
            VmigTunableType type;
        } builtins[] = {
            {"int", VMIG_TUNABLE_TYPE_INT},         {"number", VMIG_TUNABLE_TYPE_NUMBER},
            {"boolean", VMIG_TUNABLE_TYPE_BOOLEAN}, {"string", VMIG_TUNABLE_TYPE_STRING},
            {"value", VMIG_TUNABLE_TYPE_ANY},
        };

        if (g_strcmp0(json_type, "null") == 0) {
            out->is_null = TRUE;
            out->type = VMIG_TUNABLE_TYPE_ANY;
            return TRUE;
        }
        for (gsize i = 0; i < G_N_ELEMENTS(builtins); i++) {
            if (g_strcmp0(json_type, builtins[i].json_type) == 0) {
                out->type = builtins[i].type;
                return TRUE;
            }
        }
        out->type = VMIG_TUNABLE_TYPE_ANY;
        return TRUE;
    }
    if (g_str_equal(meta, "enum")) {
        out->type = VMIG_TUNABLE_TYPE_ENUM;
        out->values = enum_values(type);
        return TRUE;
    }
    if (g_str_equal(meta, "array")) {
        out->type = VMIG_TUNABLE_TYPE_ARRAY;
        return TRUE;
    }
    if (g_str_equal(meta, "object")) {
        out->type = VMIG_TUNABLE_TYPE_OBJECT;
        return TRUE;
    }
    if (g_str_equal(meta, "alternate")) {
        JsonArray *members = get_array(type, "members");
        g_auto(Resolved) other = {0};
        guint n_null = 0, n_other = 0;

        /* An alternate of one type and null is that type, nullable (StrOrNull);
         * anything richer cannot be written on a command line. */
        for (guint i = 0; members && i < json_array_get_length(members); i++) {
            JsonNode *node = json_array_get_element(members, i);
            g_auto(Resolved) branch = {0};
            const char *branch_type = JSON_NODE_HOLDS_OBJECT(node)
                                          ? get_string(json_node_get_object(node), "type")
                                          : NULL;
            JsonObject *entry =
                branch_type ? g_hash_table_lookup(schema->types, branch_type) : NULL;

            /* QAPI has no alternate of alternates.  Resolving one would
             * recurse: forever for an alternate that is its own branch,
             * 2^n times for a chain of n two-branch alternates. */
            if (entry && g_strcmp0(get_string(entry, "meta-type"), "alternate") == 0) {
                resolved_clear(&other);
                out->type = VMIG_TUNABLE_TYPE_ALTERNATE;
                return TRUE;
            }
            if (!resolve_type(schema, branch_type, what, &branch, error))
                return FALSE;
            if (branch.is_null) {
                n_null++;
            } else {
                n_other++;
                resolved_clear(&other);
                other = branch;
                branch.values = NULL;
            }
        }
        if (n_null == 1 && n_other == 1 && other.type != VMIG_TUNABLE_TYPE_ANY) {
            *out = other;
            other.values = NULL;
            out->nullable = TRUE;
        } else {
            out->type = VMIG_TUNABLE_TYPE_ALTERNATE;
        }
        return TRUE;
    }
    g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA,
                "type '%s' (%s) has unknown meta-type '%s'", name, what,
                meta ? meta : "");
    return FALSE;
}

/* ---- building the catalog --------------------------------------------------- */

static VmigTunable *
catalog_add(VmigCatalog *catalog, const char *name, VmigTunableKind kind)
{
    VmigTunable *tunable = g_new0(VmigTunable, 1);

    tunable->name = g_strdup(name);
    tunable->kind = kind;
    g_ptr_array_add(catalog->tunables, tunable);
    /* A name used twice (a parameter and a capability) keeps its first
     * meaning for lookups; both stay listed. */
    if (!g_hash_table_contains(catalog->index, tunable->name))
        g_hash_table_insert(catalog->index, tunable->name, tunable);
    else
        g_debug("tunable name '%s' is both a parameter and a capability", name);
    return tunable;
}

/* Returns: TRUE with the parameters added, or FALSE with @error set. */
static gboolean
add_parameters(VmigCatalog *catalog, const Schema *schema, GError **error)
{
    JsonObject *args = schema_command_args(schema, "migrate-set-parameters", error);
    JsonArray *members;

    if (!args)
        return FALSE;
    members = get_array(args, "members");
    for (guint i = 0; i < json_array_get_length(members); i++) {
        JsonNode *node = json_array_get_element(members, i);
        JsonObject *member;
        const char *name;
        g_auto(Resolved) resolved = {0};
        g_autofree char *what = NULL;
        VmigTunable *tunable;

        if (!JSON_NODE_HOLDS_OBJECT(node))
            continue;
        member = json_node_get_object(node);
        name = get_string(member, "name");
        if (!name)
            continue;
        what = g_strdup_printf("parameter '%s'", name);
        if (!resolve_type(schema, get_string(member, "type"), what, &resolved, error))
            return FALSE;
        tunable = catalog_add(catalog, name, VMIG_TUNABLE_KIND_PARAMETER);
        tunable->type = resolved.type;
        tunable->nullable = resolved.nullable;
        tunable->values = g_steal_pointer(&resolved.values);
        tunable->unit = vmig_parameter_unit(name);
        tunable->unstable =
            g_str_has_prefix(name, "x-") || has_feature(member, "unstable");
        tunable->deprecated = has_feature(member, "deprecated");
        tunable->feature = vmig_feature_find_parameter(name);
        /* QEMU's own TLS is the drivers' business: they encrypt every
         * channel themselves (docs/tls.md). */
        if (g_str_equal(name, "tls-creds") || g_str_equal(name, "tls-hostname") ||
            g_str_equal(name, "tls-authz"))
            tunable->managed = "--tls";
    }
    return TRUE;
}

/* Returns: the MigrationCapability enum type, or NULL with @error set. */
static JsonObject *
capability_enum(const Schema *schema, GError **error)
{
    const char *what = "migrate-set-capabilities' capabilities[].capability";
    JsonObject *args = schema_command_args(schema, "migrate-set-capabilities", error);
    JsonObject *member, *array, *element, *type;

    if (!args)
        return NULL;
    member = object_member(args, "capabilities");
    if (!member) {
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA,
                    "migrate-set-capabilities takes no 'capabilities' argument");
        return NULL;
    }
    array = schema_type(schema, get_string(member, "type"), what, error);
    if (!array)
        return NULL;
    element = schema_type(schema, get_string(array, "element-type"), what, error);
    if (!element)
        return NULL;
    member = object_member(element, "capability");
    if (!member) {
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA,
                    "%s: the element type has no 'capability' member", what);
        return NULL;
    }
    type = schema_type(schema, get_string(member, "type"), what, error);
    if (type && g_strcmp0(get_string(type, "meta-type"), "enum") != 0) {
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA,
                    "%s is not an enum", what);
        return NULL;
    }
    return type;
}

/* Returns: TRUE with the capabilities added, or FALSE with @error set. */
static gboolean
add_capabilities(VmigCatalog *catalog, const Schema *schema, GError **error)
{
    JsonObject *type = capability_enum(schema, error);
    g_autoptr(GHashTable) members = NULL;
    JsonArray *array;
    g_auto(GStrv) values = NULL;

    if (!type)
        return FALSE;
    values = enum_values(type);
    /* Each value's member (its features), the first of a name, found in
     * one pass: a lookup per value was quadratic in what QEMU sends. */
    members = g_hash_table_new(g_str_hash, g_str_equal);
    array = get_array(type, "members");
    for (guint i = 0; array && i < json_array_get_length(array); i++) {
        JsonNode *node = json_array_get_element(array, i);
        const char *name = JSON_NODE_HOLDS_OBJECT(node)
                               ? get_string(json_node_get_object(node), "name")
                               : NULL;

        if (name && !g_hash_table_contains(members, name))
            g_hash_table_insert(members, (gpointer)name, json_node_get_object(node));
    }
    for (guint i = 0; values[i]; i++) {
        VmigTunable *tunable =
            catalog_add(catalog, values[i], VMIG_TUNABLE_KIND_CAPABILITY);
        JsonObject *member = g_hash_table_lookup(members, values[i]);

        tunable->type = VMIG_TUNABLE_TYPE_BOOLEAN;
        tunable->unstable = g_str_has_prefix(values[i], "x-") ||
                            (member && has_feature(member, "unstable"));
        tunable->deprecated = member && has_feature(member, "deprecated");
        tunable->feature = vmig_feature_find_capability(values[i]);
    }
    return TRUE;
}

/* Returns: the catalog of @schema, or NULL with @error set. */
VmigCatalog *
vmig_catalog_new_from_schema(const char *hypervisor, JsonNode *schema, GError **error)
{
    g_autoptr(VmigCatalog) catalog = g_new0(VmigCatalog, 1);
    g_auto(Schema) index = {NULL, NULL};

    catalog->hypervisor = g_strdup(hypervisor ? hypervisor : "");
    catalog->tunables = g_ptr_array_new_with_free_func((GDestroyNotify)tunable_free);
    catalog->index = g_hash_table_new(g_str_hash, g_str_equal);

    if (!schema_index(&index, schema, error) || !add_parameters(catalog, &index, error) ||
        !add_capabilities(catalog, &index, error))
        return NULL;
    return g_steal_pointer(&catalog);
}

/*
 * json_node_copy() shares the objects and arrays under a node; a copied
 * catalog must not change when the original's values are edited.
 * Returns: a new node holding a copy of @node all the way down.
 */
static JsonNode *
json_deep_copy(JsonNode *node)
{
    JsonNode *copy;

    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObject *object = json_object_new();
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        json_object_iter_init(&iter, json_node_get_object(node));
        while (json_object_iter_next(&iter, &name, &member))
            json_object_set_member(object, name, json_deep_copy(member));
        copy = json_node_init_object(json_node_alloc(), object);
        json_object_unref(object);
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *src = json_node_get_array(node);
        JsonArray *array = json_array_sized_new(json_array_get_length(src));

        for (guint i = 0; i < json_array_get_length(src); i++)
            json_array_add_element(array, json_deep_copy(json_array_get_element(src, i)));
        copy = json_node_init_array(json_node_alloc(), array);
        json_array_unref(array);
    } else {
        copy = json_node_copy(node); /* a scalar or null: nothing shared */
    }
    return copy;
}

/* Returns: a deep copy of @catalog, with its own index. */
VmigCatalog *
vmig_catalog_copy(const VmigCatalog *catalog)
{
    VmigCatalog *copy = g_new0(VmigCatalog, 1);

    copy->hypervisor = g_strdup(catalog->hypervisor);
    copy->tunables =
        g_ptr_array_new_full(catalog->tunables->len, (GDestroyNotify)tunable_free);
    copy->index = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < catalog->tunables->len; i++) {
        const VmigTunable *t = g_ptr_array_index(catalog->tunables, i);
        VmigTunable *c = g_new0(VmigTunable, 1);

        *c = *t;
        c->name = g_strdup(t->name);
        c->values = g_strdupv(t->values);
        c->current = t->current ? json_deep_copy(t->current) : NULL;
        g_ptr_array_add(copy->tunables, c);
        /* As catalog_add(): a name listed twice keeps its first meaning. */
        if (!g_hash_table_contains(copy->index, c->name))
            g_hash_table_insert(copy->index, c->name, c);
    }
    return copy;
}

/* Returns: the tunable called @name, or NULL. */
const VmigTunable *
vmig_catalog_lookup(const VmigCatalog *catalog, const char *name)
{
    return g_hash_table_lookup(catalog->index, name);
}

/* Returns: TRUE with current values set, or FALSE with @error on a bad reply. */
gboolean
vmig_catalog_set_current(VmigCatalog *catalog, JsonNode *parameters,
                         JsonNode *capabilities, GError **error)
{
    JsonObjectIter iter;
    const char *name;
    JsonNode *value;
    JsonArray *caps;

    if (!parameters || !JSON_NODE_HOLDS_OBJECT(parameters)) {
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_VALUES,
                    "query-migrate-parameters did not return an object");
        return FALSE;
    }
    if (!capabilities || !JSON_NODE_HOLDS_ARRAY(capabilities)) {
        g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_VALUES,
                    "query-migrate-capabilities did not return an array");
        return FALSE;
    }

    json_object_iter_init(&iter, json_node_get_object(parameters));
    while (json_object_iter_next(&iter, &name, &value)) {
        VmigTunable *tunable = g_hash_table_lookup(catalog->index, name);

        if (!tunable || tunable->kind != VMIG_TUNABLE_KIND_PARAMETER)
            continue;
        if (tunable->current)
            json_node_unref(tunable->current);
        tunable->current = json_node_copy(value);
    }

    caps = json_node_get_array(capabilities);
    for (guint i = 0; i < json_array_get_length(caps); i++) {
        JsonNode *node = json_array_get_element(caps, i);
        JsonObject *entry =
            JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
        JsonNode *state = entry ? json_object_get_member(entry, "state") : NULL;
        const char *cap = entry ? get_string(entry, "capability") : NULL;
        VmigTunable *tunable;

        if (!cap || !state || !JSON_NODE_HOLDS_VALUE(state) ||
            json_node_get_value_type(state) != G_TYPE_BOOLEAN) {
            g_set_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_VALUES,
                        "query-migrate-capabilities entry %u is not "
                        "{\"capability\": NAME, \"state\": BOOL}",
                        i);
            return FALSE;
        }
        tunable = g_hash_table_lookup(catalog->index, cap);
        if (!tunable || tunable->kind != VMIG_TUNABLE_KIND_CAPABILITY)
            continue;
        if (tunable->current)
            json_node_unref(tunable->current);
        tunable->current = json_node_copy(state);
    }
    return TRUE;
}

/* Returns: the closest tunable name to @name, or NULL when none is close enough. */
const char *
vmig_catalog_suggest(const VmigCatalog *catalog, const char *name, gboolean unstable)
{
    VmigNameMatch match;

    /* Close enough: a typo or two, more for long names.  A name far longer
     * than any tunable is not measured: a client's 1 MiB name must not
     * cost a matrix of a million rows per tunable (3 s and 200 MiB). */
    vmig_name_match_init(&match, name, MAX(2, strlen(name) / 3));
    for (guint i = 0; i < catalog->tunables->len; i++) {
        const VmigTunable *tunable = g_ptr_array_index(catalog->tunables, i);

        if (!tunable->unstable || unstable)
            vmig_name_match_try(&match, tunable->name);
    }
    return vmig_name_match_best(&match);
}

/* Returns: the catalog's wire form (see catalog.h), a new node. */
JsonNode *
vmig_catalog_to_json(const VmigCatalog *catalog, gboolean unstable)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "hypervisor");
    json_builder_add_string_value(b, catalog->hypervisor);
    json_builder_set_member_name(b, "tunables");
    json_builder_begin_array(b);
    for (guint i = 0; i < catalog->tunables->len; i++) {
        const VmigTunable *t = g_ptr_array_index(catalog->tunables, i);

        if (t->unstable && !unstable)
            continue;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, t->name);
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, vmig_tunable_kind_to_string(t->kind));
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, vmig_tunable_type_to_string(t->type));
        if (t->nullable) {
            json_builder_set_member_name(b, "nullable");
            json_builder_add_boolean_value(b, TRUE);
        }
        if (t->values) {
            json_builder_set_member_name(b, "values");
            json_builder_begin_array(b);
            for (guint j = 0; t->values[j]; j++)
                json_builder_add_string_value(b, t->values[j]);
            json_builder_end_array(b);
        }
        if (t->unit != VMIG_UNIT_NONE) {
            json_builder_set_member_name(b, "unit");
            json_builder_add_string_value(b, vmig_unit_to_string(t->unit));
        }
        json_builder_set_member_name(b, "settable");
        json_builder_add_boolean_value(b, vmig_tunable_is_settable(t));
        if (t->unstable) {
            json_builder_set_member_name(b, "unstable");
            json_builder_add_boolean_value(b, TRUE);
        }
        if (t->deprecated) {
            json_builder_set_member_name(b, "deprecated");
            json_builder_add_boolean_value(b, TRUE);
        }
        if (t->feature) {
            json_builder_set_member_name(b, "negotiated");
            json_builder_add_boolean_value(b, TRUE);
            json_builder_set_member_name(b, "feature");
            json_builder_add_string_value(b, t->feature->name);
        }
        if (t->managed) {
            json_builder_set_member_name(b, "managed");
            json_builder_add_string_value(b, t->managed);
        }
        if (t->current) {
            json_builder_set_member_name(b, "current");
            json_builder_add_value(b, json_node_copy(t->current));
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
