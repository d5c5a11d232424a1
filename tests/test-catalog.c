/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-catalog.c: the tunables catalog and NAME=VALUE parsing
 *
 * Input is a recorded QEMU 7.2 fixture (tests/data/qmp/, made from the
 * real QEMU by scripts/record-qmp-fixture.sh).  Golden outputs live in
 * tests/data/catalog/; VMIG_TEST_REGENERATE_OUTPUT=1 rewrites them.
 */
#include <config.h>

#include <string.h>

#include "driver/catalog.h"
#include "driver/tunables.h"
#include "tests/testutil.h"
#include "xml/catalog.h"

/* ---- fixture ----------------------------------------------------------- */

static JsonNode *
load_json(const char *name)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "qmp", name, NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_file(parser, path, &error);
    g_assert_no_error(error);
    return json_node_copy(json_parser_get_root(parser));
}

static VmigCatalog *
catalog_from_schema(JsonNode *schema)
{
    g_autoptr(JsonNode) params = load_json("query-migrate-parameters.json");
    g_autoptr(JsonNode) caps = load_json("query-migrate-capabilities.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigCatalog) catalog =
        vmig_catalog_new_from_schema("QEMU 7.2 (fixture)", schema, &error);

    g_assert_no_error(error);
    g_assert_nonnull(catalog);
    g_assert_true(vmig_catalog_set_current(catalog, params, caps, &error));
    g_assert_no_error(error);
    return g_steal_pointer(&catalog);
}

static VmigCatalog *
fixture_catalog(void)
{
    g_autoptr(JsonNode) schema = load_json("query-qmp-schema.json");

    return catalog_from_schema(schema);
}

static void
assert_golden(const char *name, const char *text)
{
    vmig_test_assert_golden("catalog", name, text, -1);
}

static char *
to_pretty_json(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;

    json_generator_set_pretty(gen, TRUE);
    json_generator_set_indent(gen, 2);
    json_generator_set_root(gen, node);
    text = json_generator_to_data(gen, NULL);
    return g_strconcat(text, "\n", NULL);
}

/* ---- the catalog --------------------------------------------------------- */

static guint
count_kind(const VmigCatalog *catalog, VmigTunableKind kind)
{
    guint n = 0;

    for (guint i = 0; i < catalog->tunables->len; i++)
        n += ((VmigTunable *)g_ptr_array_index(catalog->tunables, i))->kind == kind;
    return n;
}

static void
test_counts(void)
{
    g_autoptr(VmigCatalog) catalog = fixture_catalog();

    /* QEMU 7.2: MigrateSetParameters has 27 members, MigrationCapability 21 values. */
    g_assert_cmpuint(count_kind(catalog, VMIG_TUNABLE_KIND_PARAMETER), ==, 27);
    g_assert_cmpuint(count_kind(catalog, VMIG_TUNABLE_KIND_CAPABILITY), ==, 21);
    g_assert_cmpuint(catalog->tunables->len, ==, 48);
}

static void
test_types(void)
{
    g_autoptr(VmigCatalog) catalog = fixture_catalog();
    const VmigTunable *t;

    t = vmig_catalog_lookup(catalog, "max-bandwidth");
    g_assert_nonnull(t);
    g_assert_cmpint(t->kind, ==, VMIG_TUNABLE_KIND_PARAMETER);
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_INT);
    g_assert_cmpint(t->unit, ==, VMIG_UNIT_BYTES_PER_SECOND);
    g_assert_false(t->unstable);
    g_assert_null(t->feature);
    g_assert_cmpint(json_node_get_int(t->current), ==, 134217728);

    t = vmig_catalog_lookup(catalog, "tls-creds");
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_STRING);
    g_assert_true(t->nullable);

    t = vmig_catalog_lookup(catalog, "multifd-compression");
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_ENUM);
    g_assert_cmpuint(g_strv_length(t->values), ==, 3);
    g_assert_cmpstr(t->values[0], ==, "none");
    g_assert_cmpstr(t->values[2], ==, "zstd");
    g_assert_nonnull(t->feature);
    g_assert_cmpstr(t->feature->name, ==, "multifd-compression");

    t = vmig_catalog_lookup(catalog, "block-bitmap-mapping");
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_ARRAY);
    g_assert_false(vmig_tunable_is_settable(t));
    g_assert_null(t->current);

    t = vmig_catalog_lookup(catalog, "x-checkpoint-delay");
    g_assert_true(t->unstable);

    t = vmig_catalog_lookup(catalog, "compress-wait-thread");
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_BOOLEAN);
    g_assert_true(json_node_get_boolean(t->current));

    t = vmig_catalog_lookup(catalog, "multifd-channels");
    g_assert_null(t->feature); /* stays a tunable: the channel count to ask for */

    t = vmig_catalog_lookup(catalog, "multifd");
    g_assert_cmpint(t->kind, ==, VMIG_TUNABLE_KIND_CAPABILITY);
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_BOOLEAN);
    g_assert_cmpstr(t->feature->name, ==, "multifd");
    g_assert_false(json_node_get_boolean(t->current));

    t = vmig_catalog_lookup(catalog, "x-colo");
    g_assert_true(t->unstable);
    t = vmig_catalog_lookup(catalog, "zero-copy-send");
    g_assert_cmpstr(t->feature->name, ==, "zero-copy-send");
    t = vmig_catalog_lookup(catalog, "xbzrle");
    g_assert_null(t->feature);
}

static void
test_golden_json(void)
{
    g_autoptr(VmigCatalog) catalog = fixture_catalog();
    g_autoptr(JsonNode) stable = vmig_catalog_to_json(catalog, FALSE);
    g_autoptr(JsonNode) all = vmig_catalog_to_json(catalog, TRUE);
    g_autofree char *stable_text = to_pretty_json(stable);
    g_autofree char *all_text = to_pretty_json(all);

    assert_golden("tunables.json", stable_text);
    assert_golden("tunables-unstable.json", all_text);
    g_assert_null(strstr(stable_text, "\"x-"));
    g_assert_nonnull(strstr(all_text, "\"x-colo\""));
}

static void
test_golden_xml(void)
{
    g_autoptr(VmigCatalog) catalog = fixture_catalog();
    g_autoptr(JsonNode) all = vmig_catalog_to_json(catalog, TRUE);
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = vmig_xml_catalog_format(json_node_get_object(all), &error);
    g_autofree char *rng =
        g_test_build_filename(G_TEST_DIST, "..", "data", "tunables.rng", NULL);
    g_autoptr(xmlDoc) doc = NULL;

    g_assert_no_error(error);
    assert_golden("tunables-unstable.xml", xml);
    doc = vmig_xml_catalog_new(json_node_get_object(all), &error);
    g_assert_no_error(error);
    g_assert_true(vmig_xml_validate(doc, rng, &error));
    g_assert_no_error(error);
}

/* Finds the schema entry called @name. */
static JsonObject *
schema_entry(JsonNode *schema, const char *name)
{
    JsonArray *entries = json_node_get_array(schema);

    for (guint i = 0; i < json_array_get_length(entries); i++) {
        JsonObject *entry = json_array_get_object_element(entries, i);

        if (g_str_equal(json_object_get_string_member(entry, "name"), name))
            return entry;
    }
    g_assert_not_reached();
}

/* Returns: the enum type whose values include @value and @other. */
static JsonObject *
enum_with(JsonNode *schema, const char *value, const char *other)
{
    JsonArray *entries = json_node_get_array(schema);

    for (guint i = 0; i < json_array_get_length(entries); i++) {
        JsonObject *entry = json_array_get_object_element(entries, i);
        JsonArray *values;
        gboolean a = FALSE, b = FALSE;

        if (!g_str_equal(json_object_get_string_member(entry, "meta-type"), "enum"))
            continue;
        values = json_object_get_array_member(entry, "values");
        for (guint j = 0; j < json_array_get_length(values); j++) {
            a |= g_str_equal(json_array_get_string_element(values, j), value);
            b |= g_str_equal(json_array_get_string_element(values, j), other);
        }
        if (a && b)
            return entry;
    }
    g_assert_not_reached();
}

/* Removes @value from the 'values' and 'members' of enum @entry. */
static void
enum_remove(JsonObject *entry, const char *value)
{
    JsonArray *values = json_object_get_array_member(entry, "values");
    JsonArray *members = json_object_get_array_member(entry, "members");

    for (guint j = 0; j < json_array_get_length(values); j++) {
        if (g_str_equal(json_array_get_string_element(values, j), value)) {
            json_array_remove_element(values, j);
            break;
        }
    }
    for (guint j = 0; members && j < json_array_get_length(members); j++) {
        JsonObject *m = json_array_get_object_element(members, j);

        if (g_str_equal(json_object_get_string_member(m, "name"), value)) {
            json_array_remove_element(members, j);
            break;
        }
    }
}

/* Adds @value to enum @entry. */
static void
enum_add(JsonObject *entry, const char *value)
{
    JsonArray *members = json_object_get_array_member(entry, "members");
    JsonObject *m = json_object_new();

    json_array_add_string_element(json_object_get_array_member(entry, "values"), value);
    json_object_set_string_member(m, "name", value);
    if (members)
        json_array_add_object_element(members, m);
    else
        json_object_unref(m);
}

/*
 * An edited copy of the recorded schema, as a different QEMU build could
 * have it: no zstd, a parameter and a capability nobody has heard of.  The
 * catalog must show exactly that: nothing about which tunables exist is
 * written down in the driver.
 */
static void
test_edited_schema(void)
{
    g_autoptr(JsonNode) schema = load_json("query-qmp-schema.json");
    JsonObject *cmd = schema_entry(schema, "migrate-set-parameters");
    JsonObject *args =
        schema_entry(schema, json_object_get_string_member(cmd, "arg-type"));
    JsonObject *invented = json_object_new();
    g_autoptr(VmigCatalog) catalog = NULL;
    const VmigTunable *t;
    g_autoptr(GError) error = NULL;
    JsonNode *value = NULL;

    enum_remove(enum_with(schema, "zlib", "zstd"), "zstd");
    enum_add(enum_with(schema, "xbzrle", "auto-converge"), "warp-drive");
    json_object_set_string_member(invented, "name", "teleport-distance");
    json_object_set_null_member(invented, "default");
    json_object_set_string_member(invented, "type", "int");
    json_array_add_object_element(json_object_get_array_member(args, "members"),
                                  invented);

    catalog = catalog_from_schema(schema);
    g_assert_cmpuint(count_kind(catalog, VMIG_TUNABLE_KIND_PARAMETER), ==, 28);
    g_assert_cmpuint(count_kind(catalog, VMIG_TUNABLE_KIND_CAPABILITY), ==, 22);

    t = vmig_catalog_lookup(catalog, "multifd-compression");
    g_assert_cmpuint(g_strv_length(t->values), ==, 2);
    g_assert_false(g_strv_contains((const char *const *)t->values, "zstd"));
    g_assert_false(
        vmig_tunable_parse(catalog, "multifd-compression=zstd", 0, &t, &value, &error));
    g_assert_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_BAD_VALUE);
    g_assert_cmpstr(
        error->message, ==,
        "tunable 'multifd-compression' expects one of: none, zlib, not 'zstd'");
    g_clear_error(&error);

    t = vmig_catalog_lookup(catalog, "teleport-distance");
    g_assert_nonnull(t);
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_INT);
    g_assert_null(t->current); /* QEMU reported no value for it */
    g_assert_true(
        vmig_tunable_parse(catalog, "teleport-distance=42", 0, &t, &value, &error));
    g_assert_no_error(error);
    g_assert_cmpint(json_node_get_int(value), ==, 42);
    json_node_unref(value);

    t = vmig_catalog_lookup(catalog, "warp-drive");
    g_assert_nonnull(t);
    g_assert_cmpint(t->kind, ==, VMIG_TUNABLE_KIND_CAPABILITY);
    g_assert_true(vmig_tunable_parse(catalog, "warp-drive=on", 0, &t, &value, &error));
    g_assert_true(json_node_get_boolean(value));
    json_node_unref(value);
}

static void
assert_schema_error(JsonNode *schema, const char *fragment)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigCatalog) catalog = vmig_catalog_new_from_schema("q", schema, &error);

    g_assert_null(catalog);
    g_assert_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_SCHEMA);
    if (!strstr(error->message, fragment))
        g_error("'%s' does not mention '%s'", error->message, fragment);
}

static void
test_schema_errors(void)
{
    g_autoptr(JsonNode) not_array = json_from_string("{\"a\": 1}", NULL);
    g_autoptr(JsonNode) empty = json_from_string("[]", NULL);
    g_autoptr(JsonNode) schema = load_json("query-qmp-schema.json");
    JsonObject *cmd = schema_entry(schema, "migrate-set-capabilities");

    assert_schema_error(not_array, "not return an array");
    assert_schema_error(empty, "no command 'migrate-set-parameters'");
    json_object_set_string_member(cmd, "arg-type", "no-such-type");
    assert_schema_error(schema, "no type 'no-such-type'");
    assert_schema_error(NULL, "not return an array");
}

/* Adds the object type @text (JSON) to @schema. */
static void
schema_add(JsonNode *schema, const char *text)
{
    json_array_add_element(json_node_get_array(schema), json_from_string(text, NULL));
}

/*
 * Alternates whose branches are alternates, which QAPI never makes
 * (found by fuzz/fuzz-catalog): one that is its own branch recursed until
 * the stack overflowed, a chain of 40 two-branch alternates would have
 * been resolved 2^40 times.  Each is an alternate: listed, not settable.
 */
static void
test_alternate_of_alternates(void)
{
    g_autoptr(JsonNode) schema = load_json("query-qmp-schema.json");
    JsonObject *cmd = schema_entry(schema, "migrate-set-parameters");
    JsonObject *args =
        schema_entry(schema, json_object_get_string_member(cmd, "arg-type"));
    JsonArray *members = json_object_get_array_member(args, "members");
    g_autoptr(VmigCatalog) catalog = NULL;
    const VmigTunable *t;

    schema_add(schema, "{\"name\": \"loop\", \"meta-type\": \"alternate\", "
                       "\"members\": [{\"type\": \"loop\"}, {\"type\": \"null\"}]}");
    for (guint i = 0; i < 40; i++) {
        g_autofree char *entry = g_strdup_printf(
            "{\"name\": \"chain%u\", \"meta-type\": \"alternate\", \"members\": "
            "[{\"type\": \"chain%u\"}, {\"type\": \"chain%u\"}]}",
            i, i + 1, i + 1);

        schema_add(schema, entry);
    }
    schema_add(schema, "{\"name\": \"chain40\", \"meta-type\": \"builtin\", "
                       "\"json-type\": \"int\"}");
    json_array_add_element(
        members, json_from_string("{\"name\": \"x-loop\", \"type\": \"loop\"}", NULL));
    json_array_add_element(
        members, json_from_string("{\"name\": \"x-chain\", \"type\": \"chain0\"}", NULL));

    catalog = catalog_from_schema(schema);
    t = vmig_catalog_lookup(catalog, "x-loop");
    g_assert_nonnull(t);
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_ALTERNATE);
    g_assert_false(vmig_tunable_is_settable(t));
    t = vmig_catalog_lookup(catalog, "x-chain");
    g_assert_nonnull(t);
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_ALTERNATE);
    /* The real ones are as before: tls-creds is StrOrNull. */
    t = vmig_catalog_lookup(catalog, "tls-creds");
    g_assert_cmpint(t->type, ==, VMIG_TUNABLE_TYPE_STRING);
    g_assert_true(t->nullable);
}

/*
 * A capability enum of 30,000 values (a QEMU that sends what it likes):
 * each value's features were looked up in a scan of the members, 4.5e8
 * string compares; now one pass.
 */
static void
test_many_capabilities(void)
{
    g_autoptr(JsonNode) schema = load_json("query-qmp-schema.json");
    JsonObject *capabilities = enum_with(schema, "xbzrle", "auto-converge");
    g_autoptr(VmigCatalog) catalog = NULL;

    for (guint i = 0; i < 30000; i++) {
        g_autofree char *name = g_strdup_printf("cap-%u", i);

        enum_add(capabilities, name);
    }
    catalog = catalog_from_schema(schema);
    g_assert_cmpuint(count_kind(catalog, VMIG_TUNABLE_KIND_CAPABILITY), ==, 30021);
    g_assert_nonnull(vmig_catalog_lookup(catalog, "cap-29999"));
    g_assert_true(vmig_catalog_lookup(catalog, "x-colo")->unstable);
}

static void
test_value_errors(void)
{
    g_autoptr(JsonNode) schema = load_json("query-qmp-schema.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigCatalog) catalog = vmig_catalog_new_from_schema("q", schema, &error);
    g_autoptr(JsonNode) params = load_json("query-migrate-parameters.json");
    g_autoptr(JsonNode) bad_caps =
        json_from_string("[{\"capability\": \"xbzrle\"}]", NULL);
    g_autoptr(JsonNode) caps = load_json("query-migrate-capabilities.json");

    g_assert_no_error(error);
    g_assert_false(vmig_catalog_set_current(catalog, caps, caps, &error));
    g_assert_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_VALUES);
    g_clear_error(&error);
    g_assert_false(vmig_catalog_set_current(catalog, params, bad_caps, &error));
    g_assert_error(error, VMIG_CATALOG_ERROR, VMIG_CATALOG_ERROR_VALUES);
    g_assert_nonnull(strstr(error->message, "entry 0"));
}

/* ---- NAME=VALUE ------------------------------------------------------------ */

typedef struct {
    const char *input;
    VmigTunableParseFlags flags;
    const char *expected_json; /* NULL: must fail */
    gint code;
    const char *message; /* the whole error message a user sees */
} ParseCase;

static const ParseCase parse_cases[] = {
    /* values that parse */
    {"max-bandwidth=1073741824", 0, "1073741824", 0, NULL},
    {"max-bandwidth=1G", 0, "1073741824", 0, NULL},
    {"max-bandwidth=10g", 0, "10737418240", 0, NULL},
    {"xbzrle-cache-size=64MiB", 0, "67108864", 0, NULL},
    {"xbzrle-cache-size=512k", 0, "524288", 0, NULL},
    {"max-postcopy-bandwidth=2TB", 0, "2199023255552", 0, NULL},
    {"max-bandwidth=100b", 0, "100", 0, NULL},
    {"downtime-limit=300", 0, "300", 0, NULL},
    /* not a size: negative is for QEMU to judge (was a shift of a negative value) */
    {"announce-step=-1", 0, "-1", 0, NULL},
    {"multifd-channels=8", 0, "8", 0, NULL},
    {"compress-wait-thread=off", 0, "false", 0, NULL},
    {"xbzrle=on", 0, "true", 0, NULL},
    {"xbzrle=YES", 0, "true", 0, NULL},
    {"auto-converge=true", 0, "true", 0, NULL},
    {"auto-converge=0", 0, "false", 0, NULL},
    {"auto-converge=no", 0, "false", 0, NULL},
    {"multifd-compression=zstd", 0, "\"zstd\"", 0, NULL},
    {"x-checkpoint-delay=100", VMIG_TUNABLE_PARSE_UNSTABLE, "100", 0, NULL},
    /* and those that do not */
    {"max-bandwidth", 0, NULL, VMIG_TUNABLE_ERROR_SYNTAX,
     "expected NAME=VALUE, not 'max-bandwidth'"},
    {"=5", 0, NULL, VMIG_TUNABLE_ERROR_SYNTAX, "expected NAME=VALUE, not '=5'"},
    {"max-bandwith=1G", 0, NULL, VMIG_TUNABLE_ERROR_UNKNOWN,
     "unknown tunable 'max-bandwith' (did you mean 'max-bandwidth'?)"},
    {"downtime-limt=1", 0, NULL, VMIG_TUNABLE_ERROR_UNKNOWN,
     "unknown tunable 'downtime-limt' (did you mean 'downtime-limit'?)"},
    {"xbrzle=on", 0, NULL, VMIG_TUNABLE_ERROR_UNKNOWN,
     "unknown tunable 'xbrzle' (did you mean 'xbzrle'?)"},
    {"warp-speed=9", 0, NULL, VMIG_TUNABLE_ERROR_UNKNOWN,
     "unknown tunable 'warp-speed': QEMU 7.2 (fixture) has no such migration parameter "
     "or "
     "capability"},
    /* an unstable name is not suggested unless --unstable */
    {"x-checkpoint-dela=1", 0, NULL, VMIG_TUNABLE_ERROR_UNKNOWN,
     "unknown tunable 'x-checkpoint-dela': QEMU 7.2 (fixture) has no such migration "
     "parameter or capability"},
    {"x-checkpoint-dela=1", VMIG_TUNABLE_PARSE_UNSTABLE, NULL, VMIG_TUNABLE_ERROR_UNKNOWN,
     "unknown tunable 'x-checkpoint-dela' (did you mean 'x-checkpoint-delay'?)"},
    {"x-checkpoint-delay=100", 0, NULL, VMIG_TUNABLE_ERROR_UNSTABLE,
     "tunable 'x-checkpoint-delay' is unstable; pass --unstable to use it"},
    {"multifd=on", 0, NULL, VMIG_TUNABLE_ERROR_NEGOTIATED,
     "capability 'multifd' is negotiated automatically between the drivers; use "
     "--no-feature multifd to keep it off or --require-feature multifd to insist on it"},
    {"postcopy-ram=off", 0, NULL, VMIG_TUNABLE_ERROR_NEGOTIATED,
     "capability 'postcopy-ram' is negotiated automatically between the drivers; use "
     "--no-feature postcopy-ram to keep it off or --require-feature postcopy-ram to "
     "insist "
     "on it"},
    {"pause-before-switchover=on", 0, NULL, VMIG_TUNABLE_ERROR_NEGOTIATED,
     "capability 'pause-before-switchover' is used by the driver itself and cannot be "
     "set"},
    {"block-bitmap-mapping=[]", 0, NULL, VMIG_TUNABLE_ERROR_NOT_SETTABLE,
     "tunable 'block-bitmap-mapping' is of type array and cannot be set from a command "
     "line"},
    {"downtime-limit=fast", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'downtime-limit' expects an integer (ms), not 'fast'"},
    {"downtime-limit=10k", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'downtime-limit' expects an integer (ms), not '10k'"},
    {"downtime-limit=", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'downtime-limit' expects an integer (ms), not ''"},
    {"downtime-limit= 5", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'downtime-limit' expects an integer (ms), not ' 5'"},
    {"multifd-channels=1.5", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'multifd-channels' expects an integer, not '1.5'"},
    {"max-bandwidth=1X", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'max-bandwidth' expects an integer (bytes/s), optionally with a k, M, G or "
     "T "
     "suffix, not '1X'"},
    {"max-bandwidth=-1", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'max-bandwidth' expects an integer (bytes/s), optionally with a k, M, G or "
     "T "
     "suffix, not '-1' (a size cannot be negative)"},
    {"max-bandwidth=9999999T", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'max-bandwidth' expects an integer (bytes/s), optionally with a k, M, G or "
     "T "
     "suffix, not '9999999T' (out of range)"},
    {"max-bandwidth=99999999999999999999", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'max-bandwidth' expects an integer (bytes/s), optionally with a k, M, G or "
     "T "
     "suffix, not '99999999999999999999' (out of range)"},
    {"xbzrle=maybe", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'xbzrle' expects a boolean: on/off, yes/no, true/false or 1/0, not "
     "'maybe'"},
    {"compress-wait-thread=2", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'compress-wait-thread' expects a boolean: on/off, yes/no, true/false or "
     "1/0, "
     "not '2'"},
    {"multifd-compression=lz4", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'multifd-compression' expects one of: none, zlib, zstd, not 'lz4'"},
    {"multifd-compression=ZSTD", 0, NULL, VMIG_TUNABLE_ERROR_BAD_VALUE,
     "tunable 'multifd-compression' expects one of: none, zlib, zstd, not 'ZSTD' (did "
     "you "
     "mean 'zstd'?)"},
    /* QEMU's own TLS is the drivers' business */
    {"tls-creds=tls0", 0, NULL, VMIG_TUNABLE_ERROR_NEGOTIATED,
     "'tls-creds' is managed by the driver: TLS between the two drivers is asked for "
     "with --tls (virt-migrate migrate --tls), and the drivers encrypt every channel "
     "themselves (docs/tls.md)"},
    {"tls-hostname=dst.example.com", 0, NULL, VMIG_TUNABLE_ERROR_NEGOTIATED,
     "'tls-hostname' is managed by the driver: TLS between the two drivers is asked for "
     "with --tls (virt-migrate migrate --tls), and the drivers encrypt every channel "
     "themselves (docs/tls.md)"},
    {"tls-authz=null", 0, NULL, VMIG_TUNABLE_ERROR_NEGOTIATED,
     "'tls-authz' is managed by the driver: TLS between the two drivers is asked for "
     "with --tls (virt-migrate migrate --tls), and the drivers encrypt every channel "
     "themselves (docs/tls.md)"},
};

/*
 * Strings and StrOrNull: in QEMU 7.2 only the tls-* parameters have them,
 * which the driver manages; their values still parse (a later QEMU may
 * have others).
 */
static void
test_parse_string(void)
{
    g_autoptr(VmigCatalog) catalog = fixture_catalog();
    const VmigTunable *tunable = vmig_catalog_lookup(catalog, "tls-hostname");
    static const struct {
        const char *text;
        const char *json;
    } cases[] = {
        {"dst.example.com", "\"dst.example.com\""},
        {"", "\"\""},
        {"null", "null"}, /* StrOrNull: null is its null */
        {"a=b", "\"a=b\""},
    };

    VmigTunable unmanaged;

    g_assert_nonnull(tunable);
    g_assert_cmpstr(tunable->managed, ==, "--tls");
    g_assert_false(vmig_tunable_is_settable(tunable));
    /* The same parameter, as a QEMU parameter the driver did not manage. */
    unmanaged = *tunable;
    unmanaged.managed = NULL;
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) value =
            vmig_tunable_parse_value(&unmanaged, cases[i].text, &error);
        g_autofree char *json = NULL;

        g_assert_no_error(error);
        json = json_to_string(value, FALSE);
        g_assert_cmpstr(json, ==, cases[i].json);
    }
}

static void
test_parse(void)
{
    g_autoptr(VmigCatalog) catalog = fixture_catalog();

    for (gsize i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
        const ParseCase *c = &parse_cases[i];
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) value = NULL;
        const VmigTunable *tunable = NULL;
        gboolean ok =
            vmig_tunable_parse(catalog, c->input, c->flags, &tunable, &value, &error);

        if (c->expected_json) {
            g_autofree char *json = NULL;

            if (!ok)
                g_error("'%s' failed: %s", c->input, error->message);
            json = json_to_string(value, FALSE);
            g_assert_cmpstr(json, ==, c->expected_json);
            g_assert_nonnull(tunable);
        } else {
            if (ok)
                g_error("'%s' was accepted", c->input);
            g_assert_error(error, VMIG_TUNABLE_ERROR, c->code);
            g_assert_cmpstr(error->message, ==, c->message);
        }
    }
}

static void
test_suggest(void)
{
    g_autoptr(VmigCatalog) catalog = fixture_catalog();

    g_assert_cmpstr(vmig_catalog_suggest(catalog, "max-bandwith", FALSE), ==,
                    "max-bandwidth");
    g_assert_cmpstr(vmig_catalog_suggest(catalog, "multifd-channel", FALSE), ==,
                    "multifd-channels");
    g_assert_cmpstr(vmig_catalog_suggest(catalog, "autoconverge", FALSE), ==,
                    "auto-converge");
    g_assert_null(vmig_catalog_suggest(catalog, "zzz", FALSE));
    g_assert_null(vmig_catalog_suggest(catalog, "x-colo", FALSE));
    g_assert_cmpstr(vmig_catalog_suggest(catalog, "x-colo", TRUE), ==, "x-colo");
}

/*
 * A name far longer than any tunable's is close to none, and finding that
 * out is quick: a 1 MiB name (what one control line can carry) took 3 s
 * and 200 MiB of the daemon's main loop, an edit-distance matrix per
 * tunable.
 */
static void
test_suggest_long(void)
{
    g_autoptr(VmigCatalog) catalog = fixture_catalog();
    gsize len = 1024 * 1024;
    g_autofree char *name = g_malloc(len + 1);
    g_autofree char *assignment = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) value = NULL;
    const VmigTunable *tunable = NULL;

    memset(name, 'x', len);
    name[len] = '\0';
    g_assert_null(vmig_catalog_suggest(catalog, name, TRUE));
    /* Just long enough to be within reach of one name: still suggested. */
    g_assert_cmpstr(vmig_catalog_suggest(catalog, "max-bandwidthxxxxxx", FALSE), ==,
                    "max-bandwidth");

    assignment = g_strconcat(name, "=1", NULL);
    g_assert_false(vmig_tunable_parse(catalog, assignment, VMIG_TUNABLE_PARSE_UNSTABLE,
                                      &tunable, &value, &error));
    g_assert_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_UNKNOWN);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/catalog/fixture/counts", test_counts);
    g_test_add_func("/catalog/fixture/types", test_types);
    g_test_add_func("/catalog/golden/json", test_golden_json);
    g_test_add_func("/catalog/golden/xml", test_golden_xml);
    g_test_add_func("/catalog/edited-schema", test_edited_schema);
    g_test_add_func("/catalog/errors/schema", test_schema_errors);
    g_test_add_func("/catalog/errors/values", test_value_errors);
    g_test_add_func("/catalog/alternate-of-alternates", test_alternate_of_alternates);
    g_test_add_func("/catalog/many-capabilities", test_many_capabilities);
    g_test_add_func("/tunables/parse", test_parse);
    g_test_add_func("/tunables/parse-string", test_parse_string);
    g_test_add_func("/tunables/suggest", test_suggest);
    g_test_add_func("/tunables/suggest/long", test_suggest_long);

    return g_test_run();
}
