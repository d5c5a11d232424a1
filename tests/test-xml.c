/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-xml.c: the xml/ library: tunables catalog document, negotiation
 * record document, their RelaxNG schemas, and the libvirt domain XML reader
 *
 * Golden files in tests/data/xml/: catalog.json is a catalog's wire form
 * modelled on QEMU 7.2's tunables, catalog.xml the document it must give
 * (VMIG_TEST_REGENERATE_OUTPUT=1 rewrites it: then review the diff, and
 * check it with xmllint --relaxng data/tunables.rng); record-*.json are
 * negotiation records (query-migration) and record-*.xml their documents
 * (likewise, data/record.rng); domain-*.xml are domain XML inputs.  The
 * schemas are read from ../data/ next to G_TEST_SRCDIR.
 */
#include <config.h>

#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libxml/xmlerror.h>
#include <libxml/xpathInternals.h>

#include "xml/catalog.h"
#include "xml/domain.h"
#include "xml/record.h"
#include "xml/xml-private.h"
#include "tests/testutil.h"

/* ---- helpers ------------------------------------------------------------- */

/* Returns: the path of tests/data/xml/@name, a new string. */
static char *
data_path(const char *name)
{
    return g_test_build_filename(G_TEST_DIST, "data", "xml", name, NULL);
}

/* Returns: the path of data/tunables.rng, a new string. */
static char *
rng_path(void)
{
    return g_test_build_filename(G_TEST_DIST, "..", "data", "tunables.rng", NULL);
}

/* Returns: the contents of tests/data/xml/@name (asserted readable). */
static char *
read_data(const char *name, gsize *len)
{
    g_autofree char *path = data_path(name);
    g_autoptr(GError) error = NULL;
    char *contents = NULL;

    g_file_get_contents(path, &contents, len, &error);
    g_assert_no_error(error);
    return contents;
}

/* Returns: @text parsed as JSON (asserted to be an object). */
static JsonNode *
parse_json(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonNode *node = json_from_string(text, &error);

    g_assert_no_error(error);
    g_assert_nonnull(node);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
    return node;
}

/* Returns: tests/data/xml/catalog.json, parsed. */
static JsonNode *
load_catalog(void)
{
    g_autofree char *text = read_data("catalog.json", NULL);

    return parse_json(text);
}

/* Returns: @text parsed with the library's own parser (asserted well-formed). */
static xmlDoc *
parse_xml(const char *text)
{
    g_autoptr(GError) error = NULL;
    xmlDoc *doc = vmig_xml_parse(text, strlen(text), "test document", &error);

    g_assert_no_error(error);
    g_assert_nonnull(doc);
    return doc;
}

/* Returns: XPath's string(@expr) on @doc, a new string. */
static char *
xpath_string(xmlDoc *doc, const char *expr)
{
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autoptr(xmlXPathObject) result = NULL;
    g_autofree char *full = g_strdup_printf("string(%s)", expr);
    xmlChar *value;
    char *text;

    g_assert_nonnull(ctxt);
    result = xmlXPathEvalExpression(BAD_CAST full, ctxt);
    g_assert_nonnull(result);
    value = xmlXPathCastToString(result);
    text = g_strdup((const char *)value);
    xmlFree(value);
    return text;
}

/* Returns: XPath's number(count(@expr)) on @doc. */
static int
xpath_count(xmlDoc *doc, const char *expr)
{
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autoptr(xmlXPathObject) result = NULL;
    g_autofree char *full = g_strdup_printf("count(%s)", expr);

    g_assert_nonnull(ctxt);
    result = xmlXPathEvalExpression(BAD_CAST full, ctxt);
    g_assert_nonnull(result);
    return (int)xmlXPathCastToNumber(result);
}

/* Asserts that XPath's string(@expr) on @doc is @expected. */
#define assert_xpath(doc, expr, expected)                                                \
    G_STMT_START                                                                         \
    {                                                                                    \
        g_autofree char *value__ = xpath_string((doc), (expr));                          \
        g_assert_cmpstr(value__, ==, (expected));                                        \
    }                                                                                    \
    G_STMT_END

/* Returns: the catalog document for the wire form @json (asserted to build). */
static xmlDoc *
catalog_doc(const char *json)
{
    g_autoptr(JsonNode) node = parse_json(json);
    g_autoptr(GError) error = NULL;
    xmlDoc *doc = vmig_xml_catalog_new(json_node_get_object(node), &error);

    g_assert_no_error(error);
    g_assert_nonnull(doc);
    return doc;
}

/* Asserts that @doc validates against data/tunables.rng. */
static void
assert_valid(xmlDoc *doc)
{
    g_autofree char *rng = rng_path();
    g_autoptr(GError) error = NULL;

    g_assert_true(vmig_xml_validate(doc, rng, &error));
    g_assert_no_error(error);
}

/* ---- catalog: the golden document ---------------------------------------- */

/* catalog.json formats to catalog.xml, byte for byte. */
static void
test_catalog_golden(void)
{
    g_autoptr(JsonNode) catalog = load_catalog();
    g_autoptr(GError) error = NULL;
    g_autofree char *path = data_path("catalog.xml");
    g_autofree char *text = NULL;
    g_autofree char *expected = NULL;

    text = vmig_xml_catalog_format(json_node_get_object(catalog), &error);
    g_assert_no_error(error);
    g_assert_nonnull(text);
    g_assert_true(g_str_has_prefix(text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                         "<tunables hypervisor="));
    if (vmig_test_regenerate()) {
        g_file_set_contents(path, text, -1, &error);
        g_assert_no_error(error);
        return;
    }
    g_file_get_contents(path, &expected, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, expected);
}

/* The golden document, read back from its file, is valid. */
static void
test_catalog_golden_valid(void)
{
    g_autofree char *text = read_data("catalog.xml", NULL);
    g_autoptr(xmlDoc) doc = parse_xml(text);

    assert_valid(doc);
}

/* The tree vmig_xml_catalog_new() returns is valid as built. */
static void
test_catalog_tree_valid(void)
{
    g_autoptr(JsonNode) catalog = load_catalog();
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = vmig_xml_catalog_new(json_node_get_object(catalog), &error);

    g_assert_no_error(error);
    assert_valid(doc);
}

/* What the document says about QEMU 7.2's tunables, read with XPath. */
static void
test_catalog_content(void)
{
    g_autofree char *text = read_data("catalog.xml", NULL);
    g_autoptr(xmlDoc) doc = parse_xml(text);

    assert_xpath(doc, "/tunables/@hypervisor",
                 "QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
    g_assert_cmpint(xpath_count(doc, "/tunables/parameter"), ==, 27);
    g_assert_cmpint(xpath_count(doc, "/tunables/capability"), ==, 21);
    g_assert_cmpint(xpath_count(doc, "/tunables/*"), ==, 48);

    /* the wire order: parameters, then capabilities */
    assert_xpath(doc, "/tunables/*[1]/@name", "announce-initial");
    assert_xpath(doc, "/tunables/*[27]/@name", "block-bitmap-mapping");
    assert_xpath(doc, "/tunables/*[28]/@name", "xbzrle");
    assert_xpath(doc, "/tunables/*[48]/@name", "postcopy-preempt");

    assert_xpath(doc, "/tunables/parameter[@name='max-bandwidth']/@unit", "bytes/s");
    assert_xpath(doc, "/tunables/parameter[@name='max-bandwidth']/current", "134217728");
    assert_xpath(doc, "/tunables/parameter[@name='downtime-limit']/@unit", "ms");
    assert_xpath(doc, "/tunables/parameter[@name='xbzrle-cache-size']/@unit", "bytes");
    assert_xpath(doc, "/tunables/parameter[@name='compress-wait-thread']/current", "yes");
    assert_xpath(doc, "/tunables/parameter[@name='block-incremental']/current", "no");

    assert_xpath(doc, "/tunables/parameter[@name='multifd-compression']/@type", "enum");
    assert_xpath(doc, "/tunables/parameter[@name='multifd-compression']/@negotiated",
                 "yes");
    assert_xpath(doc, "/tunables/parameter[@name='multifd-compression']/@feature",
                 "multifd-compression");
    g_assert_cmpint(
        xpath_count(doc, "/tunables/parameter[@name='multifd-compression']/value"), ==,
        3);
    assert_xpath(doc, "/tunables/parameter[@name='multifd-compression']/value[3]",
                 "zstd");
    assert_xpath(doc, "/tunables/parameter[@name='multifd-compression']/current", "none");
    /* <value> belongs to enums only */
    g_assert_cmpint(xpath_count(doc, "//value"), ==, 3);

    assert_xpath(doc, "/tunables/parameter[@name='tls-creds']/@nullable", "yes");
    g_assert_cmpint(xpath_count(doc, "/tunables/parameter[@name='tls-creds']/current"),
                    ==, 1);
    assert_xpath(doc, "/tunables/parameter[@name='tls-creds']/current", "");
    g_assert_cmpint(xpath_count(doc, "/tunables/*[@nullable]"), ==, 3);

    /* flags are there when true, absent when false */
    assert_xpath(doc, "/tunables/parameter[@name='x-checkpoint-delay']/@unstable", "yes");
    g_assert_cmpint(xpath_count(doc, "/tunables/*[@unstable]"), ==, 3);
    g_assert_cmpint(xpath_count(doc, "/tunables/*[@negotiated]"), ==, 6);
    g_assert_cmpint(xpath_count(doc, "/tunables/*[@deprecated]"), ==, 0);
    g_assert_cmpint(xpath_count(doc, "/tunables/*[@settable]"), ==, 47);
    g_assert_cmpint(
        xpath_count(doc, "/tunables/parameter[@name='block-bitmap-mapping']/@*"), ==, 2);
    g_assert_cmpint(
        xpath_count(doc, "/tunables/parameter[@name='block-bitmap-mapping']/*"), ==, 0);

    assert_xpath(doc, "/tunables/capability[@name='x-colo']/@unstable", "yes");
    assert_xpath(doc, "/tunables/capability[@name='multifd']/@feature", "multifd");
    assert_xpath(doc, "/tunables/capability[@name='multifd']/current", "no");
    g_assert_cmpint(xpath_count(doc, "/tunables/capability[@type='boolean']"), ==, 21);
    g_assert_cmpint(xpath_count(doc, "/tunables/capability[current='no']"), ==, 21);
}

/* The smallest catalogs. */
static void
test_catalog_empty(void)
{
    g_autoptr(xmlDoc) doc =
        catalog_doc("{\"hypervisor\": \"QEMU 7.2.0\", \"tunables\": []}");
    g_autoptr(xmlDoc) bare = catalog_doc("{\"tunables\": []}");
    g_autoptr(xmlDoc) blank = catalog_doc("{\"hypervisor\": \"\", \"tunables\": []}");
    g_autoptr(xmlDoc) null = catalog_doc("{\"hypervisor\": null, \"tunables\": []}");
    g_autoptr(JsonNode) node = parse_json("{\"tunables\": []}");
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    assert_valid(doc);
    assert_xpath(doc, "/tunables/@hypervisor", "QEMU 7.2.0");
    g_assert_cmpint(xpath_count(doc, "/tunables/*"), ==, 0);
    /* without a hypervisor (or an empty or null one) there is no attribute */
    for (xmlDoc *const *d = (xmlDoc *const[]){bare, blank, null, NULL}; *d; d++) {
        assert_valid(*d);
        g_assert_cmpint(xpath_count(*d, "/tunables/@*"), ==, 0);
    }

    text = vmig_xml_catalog_format(json_node_get_object(node), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tunables/>\n");
}

/* The wire form: a catalog of tunables, a parameter called 'p'. */
#define TUNABLES(...) "{\"tunables\": [" __VA_ARGS__ "]}"
#define PARAM(...)    "{\"name\": \"p\", \"kind\": \"parameter\", " __VA_ARGS__ "}"
#define CAPABILITY(...)                                                                  \
    "{\"name\": \"c\", \"kind\": \"capability\", \"type\": \"boolean\", " __VA_ARGS__ "}"

/* Every type, with the current values it can have; each document is valid. */
static void
test_catalog_types(void)
{
    static const struct {
        const char *tunable; /* the JSON object, in the wire form */
        const char *current; /* string(current), or NULL for no <current> */
        gboolean null;       /* <current null="yes"/> */
    } cases[] = {
        {PARAM("\"type\": \"int\", \"current\": -42"), "-42", FALSE},
        {PARAM("\"type\": \"int\", \"current\": 9223372036854775807"),
         "9223372036854775807", FALSE},
        {PARAM("\"type\": \"int\", \"nullable\": true, \"current\": null"), "", TRUE},
        {PARAM("\"type\": \"number\", \"current\": 0.1"), "0.1", FALSE},
        {PARAM("\"type\": \"number\", \"current\": 1e300"), "1e+300", FALSE},
        {PARAM("\"type\": \"number\", \"current\": 0.30000000000000004"),
         "0.30000000000000004", FALSE},
        {PARAM("\"type\": \"number\", \"current\": 7"), "7", FALSE},
        {PARAM("\"type\": \"boolean\", \"current\": true"), "yes", FALSE},
        {PARAM("\"type\": \"boolean\", \"nullable\": true, \"current\": null"), "", TRUE},
        {PARAM("\"type\": \"string\", \"current\": \"\""), "", FALSE},
        {PARAM("\"type\": \"string\", \"nullable\": true, \"current\": null"), "", TRUE},
        {PARAM("\"type\": \"enum\", \"values\": [\"a\"], \"current\": \"a\""), "a",
         FALSE},
        {PARAM("\"type\": \"enum\", \"nullable\": true, \"values\": [\"a\", \"b\"], "
               "\"current\": null"),
         "", TRUE},
        {PARAM("\"type\": \"array\", \"current\": "
               "[{\"node-name\": \"disk0\", \"alias\": \"d\", \"bitmaps\": []}]"),
         "[{\"node-name\":\"disk0\",\"alias\":\"d\",\"bitmaps\":[]}]", FALSE},
        {PARAM("\"type\": \"object\", \"current\": {\"x\": 1, \"y\": [true, null]}"),
         "{\"x\":1,\"y\":[true,null]}", FALSE},
        {PARAM("\"type\": \"alternate\", \"current\": 3"), "3", FALSE},
        {PARAM("\"type\": \"alternate\", \"current\": \"three\""), "three", FALSE},
        {PARAM("\"type\": \"any\", \"current\": null"), "", TRUE},
        {PARAM("\"type\": \"any\", \"current\": [1, \"2\"]"), "[1,\"2\"]", FALSE},
        {PARAM("\"type\": \"any\", \"settable\": false"), NULL, FALSE},
        {"{\"name\": \"c\", \"kind\": \"capability\", \"type\": \"boolean\", "
         "\"settable\": true, \"deprecated\": true, \"current\": true}",
         "yes", FALSE},
        {"{\"name\": \"c\", \"kind\": \"capability\", \"type\": \"boolean\"}", NULL,
         FALSE},
        {PARAM("\"type\": \"int\", \"nullable\": true, \"unit\": \"bytes\", "
               "\"settable\": true, \"unstable\": true, \"deprecated\": true, "
               "\"negotiated\": true, \"feature\": \"f\", \"current\": 1, "
               "\"something-newer\": {\"ignored\": true}"),
         "1", FALSE},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = g_strdup_printf("{\"tunables\": [%s]}", cases[i].tunable);
        g_autoptr(xmlDoc) doc = catalog_doc(json);

        g_test_message("case %" G_GSIZE_FORMAT ": %s", i, cases[i].tunable);
        assert_valid(doc);
        if (cases[i].current == NULL) {
            g_assert_cmpint(xpath_count(doc, "/tunables/*/current"), ==, 0);
            continue;
        }
        g_assert_cmpint(xpath_count(doc, "/tunables/*/current"), ==, 1);
        assert_xpath(doc, "/tunables/*/current", cases[i].current);
        assert_xpath(doc, "/tunables/*/current/@null", cases[i].null ? "yes" : "");
    }
}

/* Attributes come in a fixed order, flags only when true. */
static void
test_catalog_attributes(void)
{
    /* the members in reverse order */
    g_autoptr(JsonNode) node = parse_json(
        "{\"hypervisor\": \"h\", \"tunables\": [{\"current\": 1, \"feature\": \"f\", "
        "\"negotiated\": true, \"deprecated\": false, \"unstable\": true, "
        "\"settable\": true, \"unit\": \"ms\", \"nullable\": true, \"type\": \"int\", "
        "\"kind\": \"parameter\", \"name\": \"t\"}]}");
    g_autoptr(GError) error = NULL;
    g_autofree char *text = vmig_xml_catalog_format(json_node_get_object(node), &error);

    g_assert_no_error(error);
    g_assert_cmpstr(
        text, ==,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<tunables hypervisor=\"h\">\n"
        "  <parameter name=\"t\" type=\"int\" unit=\"ms\" nullable=\"yes\" "
        "settable=\"yes\" unstable=\"yes\" negotiated=\"yes\" feature=\"f\">\n"
        "    <current>1</current>\n"
        "  </parameter>\n"
        "</tunables>\n");
}

/* Markup characters and non-ASCII text are escaped, and read back unchanged. */
static void
test_catalog_escaping(void)
{
    static const char hypervisor[] = "QEMU \"7.2\" <Debian> & 'co' \u2014 "
                                     "Gr\u00fc\u00dfe \u2713 \U0001F600 \ttab\nline\r\n";
    static const char *const values[] = {"a&b", "<c>", "\"d\" 'e'", "\u00e9t\u00e9",
                                         "]]>"};
    static const char text_current[] = "</current><x/>&amp; ]]> \u20ac\r\n\ttab";
    static const char name[] = "we&ird <name> \"q\"";
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "hypervisor");
    json_builder_add_string_value(b, hypervisor);
    json_builder_set_member_name(b, "tunables");
    json_builder_begin_array(b);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, "parameter");
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "enum");
    json_builder_set_member_name(b, "values");
    json_builder_begin_array(b);
    for (gsize i = 0; i < G_N_ELEMENTS(values); i++)
        json_builder_add_string_value(b, values[i]);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "feature");
    json_builder_add_string_value(b, "<f&>");
    json_builder_set_member_name(b, "current");
    json_builder_add_string_value(b, values[1]);
    json_builder_end_object(b);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "text");
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, "parameter");
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "string");
    json_builder_set_member_name(b, "current");
    json_builder_add_string_value(b, text_current);
    json_builder_end_object(b);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "list");
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, "parameter");
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "array");
    json_builder_set_member_name(b, "current");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "a&b");
    json_builder_add_string_value(b, "<\"x\">\n");
    json_builder_end_array(b);
    json_builder_end_object(b);

    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);

    text = vmig_xml_catalog_format(json_node_get_object(root), &error);
    g_assert_no_error(error);
    g_test_message("%s", text);

    /* escaped where markup would break... */
    g_assert_nonnull(strstr(text, "&amp;"));
    g_assert_nonnull(strstr(text, "&lt;"));
    g_assert_nonnull(strstr(text, "&quot;"));
    g_assert_null(strstr(text, "<x/>"));
    g_assert_null(strstr(text, "<c>"));
    /* ...but UTF-8 stays UTF-8, not character references */
    g_assert_nonnull(strstr(text, "Gr\u00fc\u00dfe \u2713 \U0001F600"));

    doc = parse_xml(text);
    assert_valid(doc);
    assert_xpath(doc, "/tunables/@hypervisor", hypervisor);
    assert_xpath(doc, "/tunables/parameter[1]/@name", name);
    assert_xpath(doc, "/tunables/parameter[1]/@feature", "<f&>");
    g_assert_cmpint(xpath_count(doc, "/tunables/parameter[1]/value"), ==,
                    G_N_ELEMENTS(values));
    for (gsize i = 0; i < G_N_ELEMENTS(values); i++) {
        g_autofree char *expr =
            g_strdup_printf("/tunables/parameter[1]/value[%zu]", i + 1);

        assert_xpath(doc, expr, values[i]);
    }
    assert_xpath(doc, "/tunables/parameter[1]/current", "<c>");
    assert_xpath(doc, "/tunables/parameter[2]/current", text_current);
    assert_xpath(doc, "/tunables/parameter[3]/current", "[\"a&b\",\"<\\\"x\\\">\\n\"]");
}

typedef struct {
    const char *path;
    const char *json;
    const char *message; /* after "tunables catalog: " */
} CatalogInvalidCase;

static const CatalogInvalidCase catalog_invalid_cases[] = {
    {"no-tunables", "{\"hypervisor\": \"QEMU\"}", "'tunables' is missing"},
    {"tunables-object", "{\"tunables\": {}}", "'tunables' is an object, not an array"},
    {"tunables-null", "{\"tunables\": null}", "'tunables' is null, not an array"},
    {"hypervisor-number", "{\"hypervisor\": 7.2, \"tunables\": []}",
     "'hypervisor' is a number, not a string"},
    {"tunable-empty", TUNABLES("{}, \"max-bandwidth\""), "tunable #1: 'name' is missing"},
    {"tunable-not-object", TUNABLES("\"max-bandwidth\""),
     "tunable #1: expected an object, got a string"},
    {"no-name", TUNABLES(PARAM("\"type\": \"int\"") ", {\"kind\": \"parameter\"}"),
     "tunable #2: 'name' is missing"},
    {"name-number", TUNABLES("{\"name\": 3, \"kind\": \"parameter\", \"type\": \"int\"}"),
     "tunable #1: 'name' is an integer, not a string"},
    {"name-empty",
     TUNABLES("{\"name\": \"\", \"kind\": \"parameter\", \"type\": \"int\"}"),
     "tunable #1: 'name' is empty"},
    {"name-control", TUNABLES("{\"name\": \"a\\u0001b\", \"kind\": \"parameter\"}"),
     "tunable #1: 'name' holds U+0001, which XML cannot represent"},
    {"no-kind", TUNABLES("{\"name\": \"p\", \"type\": \"int\"}"),
     "tunable 'p': 'kind' is missing"},
    {"kind-unknown", TUNABLES("{\"name\": \"p\", \"kind\": \"knob\", \"type\": \"int\"}"),
     "tunable 'p': unknown kind 'knob' (expected parameter or capability)"},
    {"no-type", TUNABLES(PARAM("\"settable\": true")), "tunable 'p': 'type' is missing"},
    {"type-unknown", TUNABLES(PARAM("\"type\": \"banana\"")),
     "tunable 'p': unknown type 'banana'"},
    {"type-array", TUNABLES(PARAM("\"type\": [\"int\"]")),
     "tunable 'p': 'type' is an array, not a string"},
    {"capability-int",
     TUNABLES("{\"name\": \"c\", \"kind\": \"capability\", \"type\": \"int\"}"),
     "tunable 'c': a capability has type 'boolean', not 'int'"},
    {"capability-nullable", TUNABLES(CAPABILITY("\"nullable\": true")),
     "tunable 'c': a capability cannot be 'nullable'"},
    {"capability-unit", TUNABLES(CAPABILITY("\"unit\": \"ms\"")),
     "tunable 'c': a capability has no unit"},
    {"flag-string", TUNABLES(PARAM("\"type\": \"int\", \"settable\": \"yes\"")),
     "tunable 'p': 'settable' is a string, not a boolean"},
    {"flag-number", TUNABLES(PARAM("\"type\": \"int\", \"unstable\": 1")),
     "tunable 'p': 'unstable' is an integer, not a boolean"},
    {"unit-unknown", TUNABLES(PARAM("\"type\": \"int\", \"unit\": \"furlong\"")),
     "tunable 'p': unknown unit 'furlong' (expected bytes, bytes/s or ms)"},
    {"feature-empty", TUNABLES(PARAM("\"type\": \"int\", \"feature\": \"\"")),
     "tunable 'p': 'feature' is empty"},
    {"enum-no-values", TUNABLES(PARAM("\"type\": \"enum\", \"current\": \"a\"")),
     "tunable 'p': an enum needs 'values'"},
    {"enum-values-empty", TUNABLES(PARAM("\"type\": \"enum\", \"values\": []")),
     "tunable 'p': 'values' is empty"},
    {"enum-values-string", TUNABLES(PARAM("\"type\": \"enum\", \"values\": \"none\"")),
     "tunable 'p': 'values' is a string, not an array"},
    {"enum-value-number", TUNABLES(PARAM("\"type\": \"enum\", \"values\": [\"a\", 2]")),
     "tunable 'p': value #2 is an integer, not a string"},
    {"values-not-enum", TUNABLES(PARAM("\"type\": \"string\", \"values\": [\"a\"]")),
     "tunable 'p': 'values' belong to enums, not to type 'string'"},
    {"current-int-string", TUNABLES(PARAM("\"type\": \"int\", \"current\": \"12\"")),
     "tunable 'p': 'current' is a string, which type 'int' cannot hold"},
    {"current-int-double", TUNABLES(PARAM("\"type\": \"int\", \"current\": 1.5")),
     "tunable 'p': 'current' is a number, which type 'int' cannot hold"},
    {"current-bool-int", TUNABLES(PARAM("\"type\": \"boolean\", \"current\": 1")),
     "tunable 'p': 'current' is an integer, which type 'boolean' cannot hold"},
    {"current-enum-array",
     TUNABLES(PARAM("\"type\": \"enum\", \"values\": [\"a\"], \"current\": [\"a\"]")),
     "tunable 'p': 'current' is an array, which type 'enum' cannot hold"},
    {"current-null", TUNABLES(PARAM("\"type\": \"string\", \"current\": null")),
     "tunable 'p': 'current' is null, but it is not nullable"},
    {"current-alternate-null",
     TUNABLES(PARAM("\"type\": \"alternate\", \"current\": null")),
     "tunable 'p': 'current' is null, but it is not nullable"},
    {"current-control",
     TUNABLES(PARAM("\"type\": \"string\", \"current\": \"\\u001b[0m\"")),
     "tunable 'p': 'current' holds U+001B, which XML cannot represent"},
    {"current-noncharacter",
     TUNABLES(PARAM("\"type\": \"array\", \"current\": [\"\\uffff\"]")),
     "tunable 'p': 'current' holds U+FFFF, which XML cannot represent"},
    {"second-tunable",
     TUNABLES(PARAM("\"type\": \"int\"") ", " CAPABILITY("\"current\": \"on\"")),
     "tunable 'c': 'current' is a string, which type 'boolean' cannot hold"},
};

/* A wire form that is not one is refused with INVALID, naming the problem. */
static void
test_catalog_invalid(gconstpointer data)
{
    const CatalogInvalidCase *c = data;
    g_autoptr(JsonNode) node = parse_json(c->json);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = vmig_xml_catalog_new(json_node_get_object(node), &error);
    g_autofree char *expected = NULL;
    g_autofree char *text = NULL;

    g_assert_null(doc);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    expected = g_strconcat("tunables catalog: ", c->message, NULL);
    g_assert_cmpstr(error->message, ==, expected);

    g_clear_error(&error);
    text = vmig_xml_catalog_format(json_node_get_object(node), &error);
    g_assert_null(text);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
}

/*
 * Returns: a wire form with one parameter called @name, of type @type,
 * whose current value is @current (consumed), built in code.
 */
static JsonNode *
build_catalog(const char *name, const char *type, JsonNode *current)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "tunables");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, "parameter");
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, type);
    json_builder_set_member_name(b, "current");
    json_builder_add_value(b, current);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Values JSON text cannot carry but a JsonNode built in code can. */
static void
test_catalog_invalid_built(void)
{
    g_autoptr(JsonNode) infinite = NULL;
    g_autoptr(JsonNode) latin1 = NULL;
    g_autoptr(JsonNode) latin1_name = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = NULL;

    infinite =
        build_catalog("n", "number", json_node_init_double(json_node_alloc(), INFINITY));
    doc = vmig_xml_catalog_new(json_node_get_object(infinite), &error);
    g_assert_null(doc);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "tunables catalog: tunable 'n': 'current' is not a finite number");
    g_clear_error(&error);

    latin1 =
        build_catalog("s", "string", json_node_init_string(json_node_alloc(), "caf\xe9"));
    doc = vmig_xml_catalog_new(json_node_get_object(latin1), &error);
    g_assert_null(doc);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "tunables catalog: tunable 's': 'current' is not UTF-8");
    g_clear_error(&error);

    latin1_name =
        build_catalog("caf\xe9", "string", json_node_init_string(json_node_alloc(), ""));
    doc = vmig_xml_catalog_new(json_node_get_object(latin1_name), &error);
    g_assert_null(doc);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "tunables catalog: tunable #1: 'name' is not UTF-8");
}

/* ---- the schema ------------------------------------------------------------ */

typedef struct {
    const char *path;
    const char *xml;
} SchemaCase;

#define DOC(...) "<tunables hypervisor='QEMU 7.2.0'>\n" __VA_ARGS__ "</tunables>\n"

/* Documents the schema must refuse. */
static const SchemaCase schema_invalid_cases[] = {
    {"root", "<catalog/>"},
    {"root-namespace", "<tunables xmlns='urn:x'/>"},
    {"unknown-element", DOC("<tunable name='a' type='int'/>")},
    {"type-banana", DOC("<parameter name='a' type='banana'/>")},
    {"no-type", DOC("<parameter name='a'/>")},
    {"no-name", DOC("<parameter type='int' settable='yes'/>")},
    {"empty-name", DOC("<parameter name='' type='int'/>")},
    {"value-in-int", DOC("<parameter name='a' type='int'><value>1</value></parameter>")},
    {"value-in-string",
     DOC("<parameter name='a' type='string'><value>x</value></parameter>")},
    {"enum-without-value", DOC("<parameter name='a' type='enum'><current>x</current>"
                               "</parameter>")},
    {"value-after-current", DOC("<parameter name='a' type='enum'><current>x</current>"
                                "<value>x</value></parameter>")},
    {"two-currents", DOC("<parameter name='a' type='int'><current>1</current>"
                         "<current>2</current></parameter>")},
    {"unknown-attribute", DOC("<parameter name='a' type='int' colour='red'/>")},
    {"settable-no", DOC("<parameter name='a' type='int' settable='no'/>")},
    {"settable-true", DOC("<parameter name='a' type='int' settable='true'/>")},
    {"unit-furlong", DOC("<parameter name='a' type='int' unit='furlong'/>")},
    {"int-current-text", DOC("<parameter name='a' type='int'><current>12abc</current>"
                             "</parameter>")},
    {"number-current-text",
     DOC("<parameter name='a' type='number'><current>fast</current>"
         "</parameter>")},
    {"boolean-current-true",
     DOC("<parameter name='a' type='boolean'><current>true</current>"
         "</parameter>")},
    {"null-not-nullable", DOC("<parameter name='a' type='string'><current null='yes'/>"
                              "</parameter>")},
    {"null-with-text", DOC("<parameter name='a' type='string' nullable='yes'>"
                           "<current null='yes'>x</current></parameter>")},
    {"null-no", DOC("<parameter name='a' type='string' nullable='yes'>"
                    "<current null='no'/></parameter>")},
    {"current-child", DOC("<parameter name='a' type='string'><current><b/></current>"
                          "</parameter>")},
    {"capability-int", DOC("<capability name='c' type='int'/>")},
    {"capability-unit", DOC("<capability name='c' type='boolean' unit='ms'/>")},
    {"capability-nullable", DOC("<capability name='c' type='boolean' nullable='yes'/>")},
    {"capability-current", DOC("<capability name='c' type='boolean'><current>1</current>"
                               "</capability>")},
    {"capability-value", DOC("<capability name='c' type='boolean'><value>yes</value>"
                             "</capability>")},
    {"feature-empty", DOC("<parameter name='a' type='int' feature=''/>")},
    {"text-in-root", DOC("stray text")},
};

/* Documents the schema must accept (beyond what the catalog code writes). */
static const SchemaCase schema_valid_cases[] = {
    {"empty", "<tunables/>"},
    {"mixed-order", DOC("<capability name='c' type='boolean'/>"
                        "<parameter name='a' type='int'/>")},
    {"whitespace", DOC("<parameter name='a' type='int'>\n  <current> 12 </current>\n"
                       "</parameter>")},
    {"nullable-enum-null", DOC("<parameter name='a' type='enum' nullable='yes'>"
                               "<value>x</value><current null='yes'/></parameter>")},
};

/* vmig_xml_validate() fails with SCHEMA for each wrong document. */
static void
test_schema_invalid(gconstpointer data)
{
    const SchemaCase *c = data;
    g_autoptr(xmlDoc) doc = parse_xml(c->xml);
    g_autofree char *rng = rng_path();
    g_autoptr(GError) error = NULL;

    g_assert_false(vmig_xml_validate(doc, rng, &error));
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA);
    g_test_message("%s", error->message);
    g_assert_true(g_str_has_prefix(error->message, "document does not match schema '"));
}

/* ... and succeeds for each right one. */
static void
test_schema_valid(gconstpointer data)
{
    const SchemaCase *c = data;
    g_autoptr(xmlDoc) doc = parse_xml(c->xml);

    assert_valid(doc);
}

/* A validation error names the line of a parsed document and the message. */
static void
test_schema_error_line(void)
{
    g_autoptr(xmlDoc) doc = parse_xml("<tunables>\n"
                                      "  <parameter name='a' type='int'/>\n"
                                      "  <parameter name='b' type='banana'/>\n"
                                      "</tunables>\n");
    g_autofree char *rng = rng_path();
    g_autofree char *prefix = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_false(vmig_xml_validate(doc, rng, &error));
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA);
    g_test_message("%s", error->message);
    prefix = g_strdup_printf("document does not match schema '%s': line 3: ", rng);
    g_assert_true(g_str_has_prefix(error->message, prefix));
    g_assert_nonnull(strstr(error->message, "<parameter name='b'>"));
}

/* A schema that cannot be read, or is not RelaxNG, is a SCHEMA error too. */
static void
test_schema_unusable(void)
{
    g_autoptr(xmlDoc) doc = parse_xml("<tunables/>");
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *broken = NULL;
    g_autofree char *wrong = NULL;

    g_assert_false(vmig_xml_validate(doc, "/nonexistent/tunables.rng", &error));
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA);
    g_test_message("%s", error->message);
    g_assert_true(g_str_has_prefix(
        error->message, "cannot load RelaxNG schema '/nonexistent/tunables.rng': "));
    g_clear_error(&error);

    dir = g_dir_make_tmp("test-xml-XXXXXX", &error);
    g_assert_no_error(error);
    broken = g_build_filename(dir, "broken.rng", NULL);
    g_file_set_contents(broken,
                        "<grammar xmlns='http://relaxng.org/ns/structure/1.0'>\n<start>",
                        -1, &error);
    g_assert_no_error(error);
    g_assert_false(vmig_xml_validate(doc, broken, &error));
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA);
    g_test_message("%s", error->message);
    g_clear_error(&error);

    wrong = g_build_filename(dir, "wrong.rng", NULL);
    g_file_set_contents(wrong, "<tunables/>\n", -1, &error);
    g_assert_no_error(error);
    g_assert_false(vmig_xml_validate(doc, wrong, &error));
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA);
    g_test_message("%s", error->message);
    g_clear_error(&error);

    g_assert_cmpint(g_remove(broken), ==, 0);
    g_assert_cmpint(g_remove(wrong), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* ---- domain XML ------------------------------------------------------------ */

typedef struct {
    const char *file;
    const char *name;
    const char *uuid;
    const char *emulator;
    guint64 memory_kib;
} DomainGoldenCase;

static const DomainGoldenCase domain_golden_cases[] = {
    {"domain-basic.xml", "guest-web01", "6f1c2a4e-9b7d-4c3e-8a15-2d0e7f9b3c61",
     "/usr/bin/qemu-system-x86_64", 2097152},
    {"domain-gib.xml", "tcg-guest", "a3f0c1d2-7e8b-4a9c-b0d1-e2f3a4b5c6d7",
     "/usr/local/bin/qemu-system-x86_64", 4194304},
    {"domain-bytes.xml", "tiny", "00000000-0000-4000-8000-000000000001",
     "/usr/bin/qemu-system-x86_64", 1},
    {"domain-no-emulator.xml", "G\u00e4st \u2013 \u00fcn\u00efcode",
     "c7a5fdbd-cdaf-9455-926a-d65c16db1809", NULL, 524288},
};

/* Each domain-*.xml decodes to what it says. */
static void
test_domain_golden(gconstpointer data)
{
    const DomainGoldenCase *c = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigDomainInfo) info = NULL;
    g_autofree char *xml = NULL;
    gsize len = 0;

    xml = read_data(c->file, &len);
    info = vmig_xml_domain_parse(xml, len, &error);
    g_assert_no_error(error);
    g_assert_nonnull(info);
    g_assert_cmpstr(info->name, ==, c->name);
    g_assert_cmpstr(info->uuid, ==, c->uuid);
    g_assert_cmpstr(info->emulator, ==, c->emulator);
    g_assert_cmpuint(info->memory_kib, ==, c->memory_kib);
}

/* The input need not be NUL-terminated: only @len bytes are read. */
static void
test_domain_length(void)
{
    static const char xml[] =
        "<domain><name>n</name><uuid>00000000-0000-0000-0000-000000000000"
        "</uuid><memory>1</memory></domain>GARBAGE";
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigDomainInfo) info = vmig_xml_domain_parse(xml, strlen(xml) - 7, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(info->name, ==, "n");
    g_assert_null(info->emulator);
    g_assert_cmpuint(info->memory_kib, ==, 1);
}

typedef struct {
    const char *value;
    const char *unit; /* NULL: no unit attribute */
    guint64 kib;
} MemoryCase;

/* libvirt's units: powers of 1000 (KB) and of 1024 (k, KiB), bytes rounded up. */
static const MemoryCase memory_cases[] = {
    {"524288", NULL, 524288},
    {"524288", "", 524288},
    {" 2048\n ", "KiB", 2048},
    {"0", "b", 0},
    {"1", "b", 1},
    {"1000", "b", 1},
    {"1024", "bytes", 1},
    {"1025", "byte", 2},
    {"2048", "B", 2},
    {"1", "KB", 1},
    {"1024", "KB", 1000},
    {"1025", "kb", 1001},
    {"3", "k", 3},
    {"3", "K", 3},
    {"3", "KiB", 3},
    {"3", "kib", 3},
    {"1", "MB", 977},
    {"1", "M", 1024},
    {"1", "MiB", 1024},
    {"1", "GB", 976563},
    {"1", "G", 1048576},
    {"4", "GiB", 4194304},
    {"1", "TB", 976562500},
    {"1", "T", 1073741824},
    {"2", "TiB", 2147483648},
    {"1", "PB", G_GUINT64_CONSTANT(976562500000)},
    {"1", "PiB", G_GUINT64_CONSTANT(1099511627776)},
    {"15", "EiB", G_GUINT64_CONSTANT(16888498602639360)},
    {"18", "EB", G_GUINT64_CONSTANT(17578125000000000)},
    {"18446744073709551615", "b", G_GUINT64_CONSTANT(18014398509481984)},
    {"17179869183", "GiB", G_GUINT64_CONSTANT(18014398508433408)},
    {"000000000000000000000000000001", "KiB", 1},
};

/* Every unit libvirt knows converts to KiB as libvirt converts it. */
static void
test_domain_memory_units(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(memory_cases); i++) {
        const MemoryCase *c = &memory_cases[i];
        g_autofree char *unit =
            c->unit != NULL ? g_strdup_printf(" unit='%s'", c->unit) : g_strdup("");
        g_autofree char *xml = g_strdup_printf(
            "<domain><name>m</name><uuid>00000000-0000-0000-0000-000000000000</uuid>"
            "<memory%s>%s</memory></domain>",
            unit, c->value);
        g_autoptr(GError) error = NULL;
        g_autoptr(VmigDomainInfo) info = NULL;

        g_test_message("<memory%s>%s</memory>", unit, c->value);
        info = vmig_xml_domain_parse(xml, strlen(xml), &error);
        g_assert_no_error(error);
        g_assert_cmpuint(info->memory_kib, ==, c->kib);
    }
}

typedef struct {
    const char *path;
    const char *xml;
    int code; /* VmigXmlErrorCode */
    /* after "domain XML: ": all of the message (INVALID), its start (PARSE) */
    const char *message;
} DomainBadCase;

#define UUID   "<uuid>6f1c2a4e-9b7d-4c3e-8a15-2d0e7f9b3c61</uuid>"
#define MEMORY "<memory unit='KiB'>1048576</memory>"

static const DomainBadCase domain_bad_cases[] = {
    {"empty", "", VMIG_XML_ERROR_PARSE, "the document is empty"},
    {"not-xml", "this is not XML", VMIG_XML_ERROR_PARSE,
     "line 1: Start tag expected, '<' not found"},
    {"truncated", "<domain>\n  <name>x</name>\n", VMIG_XML_ERROR_PARSE, "line 3: "},
    {"mismatched", "<domain><name>x</nom></domain>", VMIG_XML_ERROR_PARSE,
     "line 1: Opening and ending tag mismatch: name"},
    {"two-roots", "<domain/><domain/>", VMIG_XML_ERROR_PARSE,
     "line 1: Extra content at the end of the document"},
    {"undeclared-prefix", "<domain><qemu:commandline/></domain>", VMIG_XML_ERROR_PARSE,
     "line 1: Namespace prefix qemu on commandline is not defined"},
    {"bad-utf8", "<domain><name>\xff</name></domain>", VMIG_XML_ERROR_PARSE, ""},
    {"root", "<guest><name>x</name></guest>", VMIG_XML_ERROR_INVALID,
     "<guest>: the root element must be <domain>"},
    {"root-namespace", "<domain xmlns='urn:example'><name>x</name></domain>",
     VMIG_XML_ERROR_INVALID,
     "<domain xmlns='urn:example'>: the root element must be <domain>"},
    {"root-prefix", "<v:domain xmlns:v='urn:example'/>", VMIG_XML_ERROR_INVALID,
     "<v:domain>: the root element must be <domain>"},
    {"no-name", "<domain type='kvm'>" UUID MEMORY "</domain>", VMIG_XML_ERROR_INVALID,
     "<name>: is missing"},
    {"name-elsewhere",
     "<domain><devices><name>x</name></devices>" UUID MEMORY "</domain>",
     VMIG_XML_ERROR_INVALID, "<name>: is missing"},
    {"empty-name", "<domain><name></name>" UUID MEMORY "</domain>",
     VMIG_XML_ERROR_INVALID, "<name>: is empty"},
    {"empty-name-short", "<domain><name/>" UUID MEMORY "</domain>",
     VMIG_XML_ERROR_INVALID, "<name>: is empty"},
    {"no-uuid", "<domain><name>x</name>" MEMORY "</domain>", VMIG_XML_ERROR_INVALID,
     "<uuid>: is missing"},
    {"uuid-short",
     "<domain><name>x</name><uuid>6f1c2a4e-9b7d-4c3e-8a15-2d0e7f9b3c6</uuid>" MEMORY
     "</domain>",
     VMIG_XML_ERROR_INVALID,
     "<uuid>: '6f1c2a4e-9b7d-4c3e-8a15-2d0e7f9b3c6' is not a UUID "
     "(8-4-4-4-12 hexadecimal digits)"},
    {"uuid-no-dashes",
     "<domain><name>x</name><uuid>6f1c2a4e9b7d4c3e8a152d0e7f9b3c61</uuid>" MEMORY
     "</domain>",
     VMIG_XML_ERROR_INVALID,
     "<uuid>: '6f1c2a4e9b7d4c3e8a152d0e7f9b3c61' is not a UUID "
     "(8-4-4-4-12 hexadecimal digits)"},
    {"uuid-not-hex",
     "<domain><name>x</name><uuid>6f1c2a4e-9b7d-4c3e-8a15-2d0e7f9b3c6g</uuid>" MEMORY
     "</domain>",
     VMIG_XML_ERROR_INVALID,
     "<uuid>: '6f1c2a4e-9b7d-4c3e-8a15-2d0e7f9b3c6g' is not a UUID "
     "(8-4-4-4-12 hexadecimal digits)"},
    {"uuid-dash-moved",
     "<domain><name>x</name><uuid>6f1c2a4e9-b7d-4c3e-8a15-2d0e7f9b3c61</uuid>" MEMORY
     "</domain>",
     VMIG_XML_ERROR_INVALID,
     "<uuid>: '6f1c2a4e9-b7d-4c3e-8a15-2d0e7f9b3c61' is not a UUID "
     "(8-4-4-4-12 hexadecimal digits)"},
    {"uuid-braces",
     "<domain><name>x</name><uuid>{6f1c2a4e-9b7d-4c3e-8a15-2d0e7f9b3c61}</uuid>" MEMORY
     "</domain>",
     VMIG_XML_ERROR_INVALID,
     "<uuid>: '{6f1c2a4e-9b7d-4c3e-8a15-2d0e7f9b3c61}' is not a UUID "
     "(8-4-4-4-12 hexadecimal digits)"},
    {"uuid-blank", "<domain><name>x</name><uuid>  </uuid>" MEMORY "</domain>",
     VMIG_XML_ERROR_INVALID, "<uuid>: '' is not a UUID (8-4-4-4-12 hexadecimal digits)"},
    {"empty-emulator",
     "<domain><name>x</name>" UUID MEMORY "<devices><emulator/></devices></domain>",
     VMIG_XML_ERROR_INVALID, "<emulator>: is empty"},
    {"no-memory",
     "<domain><name>x</name>" UUID "<currentMemory>1</currentMemory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory>: is missing"},
    {"empty-memory",
     "<domain><name>x</name>" UUID "<memory unit='KiB'> </memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory unit='KiB'>: is empty"},
    {"unit-furlong",
     "<domain><name>x</name>" UUID "<memory unit='furlong'>1</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory unit='furlong'>: unknown unit 'furlong'"},
    {"unit-kibb", "<domain><name>x</name>" UUID "<memory unit='KiBB'>1</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory unit='KiBB'>: unknown unit 'KiBB'"},
    {"unit-ki", "<domain><name>x</name>" UUID "<memory unit='Ki'>1</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory unit='Ki'>: unknown unit 'Ki'"},
    {"unit-x", "<domain><name>x</name>" UUID "<memory unit='X'>1</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory unit='X'>: unknown unit 'X'"},
    {"memory-text", "<domain><name>x</name>" UUID "<memory>lots</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory>: 'lots' is not a non-negative integer"},
    {"memory-negative",
     "<domain><name>x</name>" UUID "<memory unit='MiB'>-1</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory unit='MiB'>: '-1' is not a non-negative integer"},
    {"memory-fraction",
     "<domain><name>x</name>" UUID "<memory unit='GiB'>1.5</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory unit='GiB'>: '1.5' is not a non-negative integer"},
    {"memory-hex", "<domain><name>x</name>" UUID "<memory>0x10</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory>: '0x10' is not a non-negative integer"},
    {"memory-suffix", "<domain><name>x</name>" UUID "<memory>4G</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory>: '4G' is not a non-negative integer"},
    {"memory-overflow",
     "<domain><name>x</name>" UUID
     "<memory unit='GiB'>99999999999999999999</memory></domain>",
     VMIG_XML_ERROR_INVALID,
     "<memory unit='GiB'>: '99999999999999999999' is too large (2^64 bytes or more)"},
    {"memory-overflow-bytes",
     "<domain><name>x</name>" UUID
     "<memory unit='b'>18446744073709551616</memory></domain>",
     VMIG_XML_ERROR_INVALID,
     "<memory unit='b'>: '18446744073709551616' is too large (2^64 bytes or more)"},
    {"memory-overflow-scaled",
     "<domain><name>x</name>" UUID "<memory unit='GiB'>17179869184</memory></domain>",
     VMIG_XML_ERROR_INVALID,
     "<memory unit='GiB'>: '17179869184' is too large (2^64 bytes or more)"},
    {"memory-overflow-kib",
     "<domain><name>x</name>" UUID "<memory>18014398509481984</memory></domain>",
     VMIG_XML_ERROR_INVALID,
     "<memory>: '18014398509481984' is too large (2^64 bytes or more)"},
    {"memory-control", "<domain><name>x</name>" UUID "<memory>1&#9;2</memory></domain>",
     VMIG_XML_ERROR_INVALID, "<memory>: '1\\x092' is not a non-negative integer"},
};

/* Each bad input fails with its own error. */
static void
test_domain_bad(gconstpointer data)
{
    const DomainBadCase *c = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigDomainInfo) info =
        vmig_xml_domain_parse(c->xml, strlen(c->xml), &error);
    g_autofree char *expected = NULL;

    g_assert_null(info);
    g_assert_error(error, VMIG_XML_ERROR, c->code);
    g_test_message("%s", error->message);
    expected = g_strconcat("domain XML: ", c->message, NULL);
    if (c->code == VMIG_XML_ERROR_PARSE)
        g_assert_true(g_str_has_prefix(error->message, expected));
    else
        g_assert_cmpstr(error->message, ==, expected);
}

/* A long bad value is quoted cut short. */
static void
test_domain_long_value(void)
{
    g_autoptr(GString) xml = g_string_new("<domain><name>x</name>" UUID "<memory unit='");
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigDomainInfo) info = NULL;

    for (int i = 0; i < 1000; i++)
        g_string_append(xml, "KiB");
    g_string_append(xml, "'>1</memory></domain>");
    info = vmig_xml_domain_parse(xml->str, xml->len, &error);
    g_assert_null(info);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_cmpuint(strlen(error->message), <, 200);
    g_assert_true(g_str_has_suffix(error->message, "...'"));
}

/* Returns: the first line of /etc/passwd (what an XXE would leak). */
static char *
passwd_first_line(void)
{
    g_autofree char *contents = NULL;
    char *newline;

    if (!g_file_get_contents("/etc/passwd", &contents, NULL, NULL))
        return g_strdup("root:x:0:0:");
    newline = strchr(contents, '\n');
    if (newline != NULL)
        *newline = '\0';
    return g_strdup(contents);
}

/* Asserts that reading @xml leaks nothing of /etc/passwd, whatever it returns. */
static void
assert_no_leak(const char *xml)
{
    g_autofree char *secret = passwd_first_line();
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigDomainInfo) info = vmig_xml_domain_parse(xml, strlen(xml), &error);

    g_assert_cmpstr(secret, !=, "");
    if (info != NULL) {
        g_test_message("parsed: name '%s'", info->name);
        g_assert_null(strstr(info->name, secret));
        g_assert_null(strstr(info->name, "root:"));
    } else {
        g_test_message("refused: %s", error->message);
        g_assert_null(strstr(error->message, secret));
        g_assert_null(strstr(error->message, "root:"));
    }
}

/* Documents that try to read a file through an entity or a DTD. */
static const char *const xxe_cases[] = {
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
    "<domain><name>&x;</name>" UUID MEMORY "</domain>",
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
    "<domain><name>guest&x;</name>" UUID MEMORY "</domain>",
    /* the same through a parameter entity, and an external DTD */
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE d [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>\n"
    "<domain><name>guest</name>" UUID MEMORY "</domain>",
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE domain SYSTEM \"file:///etc/passwd\">\n"
    "<domain><name>guest</name>" UUID MEMORY "</domain>",
    /* an external entity in an attribute value is an error in XML itself */
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
    "<domain><name>guest</name>" UUID "<memory unit='&x;'>1</memory></domain>",
    /* an internal entity whose text references the external one */
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\"><!ENTITY y \"[&x;]\">]>\n"
    "<domain><name>guest&y;</name>" UUID MEMORY "</domain>",
};

/* External entities are never loaded: no file is read through the document. */
static void
test_domain_xxe(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(xxe_cases); i++)
        assert_no_leak(xxe_cases[i]);
}

/* The XXE's name: nothing from the file, and not the entity either. */
static void
test_domain_xxe_name(void)
{
    static const char xml[] = "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
                              "<domain><name>&x;</name>" UUID MEMORY "</domain>";
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigDomainInfo) info = vmig_xml_domain_parse(xml, strlen(xml), &error);

    g_assert_null(info);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, "domain XML: <name>: is empty");
}

/* Nested internal entities ("billion laughs") do not blow up. */
static void
test_domain_entity_expansion(void)
{
    GString *xml = g_string_new("<!DOCTYPE d [<!ENTITY a0 \"lol\">");
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigDomainInfo) info = NULL;

    for (int i = 1; i < 12; i++)
        g_string_append_printf(xml,
                               "<!ENTITY a%d \"&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;"
                               "&a%d;&a%d;&a%d;\">",
                               i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                               i - 1, i - 1);
    g_string_append(xml, "]>\n<domain><name>&a11;</name>" UUID MEMORY "</domain>");
    info = vmig_xml_domain_parse(xml->str, xml->len, &error);
    if (info != NULL)
        g_assert_cmpuint(strlen(info->name), <, 1000000);
    else
        g_test_message("refused: %s", error->message);
    g_string_free(xml, TRUE);
}

/* ---- the negotiation record ---------------------------------------------- */

/* Returns: the path of data/record.rng, a new string. */
static char *
record_rng_path(void)
{
    return g_test_build_filename(G_TEST_DIST, "..", "data", "record.rng", NULL);
}

/* Asserts that @doc validates against data/record.rng. */
static void
assert_record_valid(xmlDoc *doc)
{
    g_autofree char *rng = record_rng_path();
    g_autoptr(GError) error = NULL;

    g_assert_true(vmig_xml_validate(doc, rng, &error));
    g_assert_no_error(error);
}

/* Returns: the record document for the wire form @json (asserted to build, valid). */
static xmlDoc *
record_doc(const char *json)
{
    g_autoptr(JsonNode) node = parse_json(json);
    g_autoptr(GError) error = NULL;
    xmlDoc *doc = vmig_xml_record_new(json_node_get_object(node), &error);

    g_assert_no_error(error);
    g_assert_nonnull(doc);
    assert_record_valid(doc);
    return doc;
}

/* The golden records: tests/data/xml/record-NAME.json gives record-NAME.xml. */
static const char *const record_golden_cases[] = {"completed", "failed", "degraded",
                                                  "transcript", "refused"};

/*
 * record-NAME.json formats to record-NAME.xml byte for byte; the tree as
 * built, and the golden file read back, are valid.
 */
static void
test_record_golden(gconstpointer data)
{
    const char *name = data;
    g_autofree char *json_name = g_strdup_printf("record-%s.json", name);
    g_autofree char *xml_name = g_strdup_printf("record-%s.xml", name);
    g_autofree char *json = read_data(json_name, NULL);
    g_autoptr(JsonNode) record = parse_json(json);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) tree = NULL;
    g_autoptr(xmlDoc) back = NULL;
    g_autofree char *text = NULL;
    g_autofree char *golden = NULL;

    text = vmig_xml_record_format(json_node_get_object(record), &error);
    g_assert_no_error(error);
    g_assert_nonnull(text);
    g_assert_true(g_str_has_prefix(text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                         "<migration id="));
    vmig_test_assert_golden("xml", xml_name, text, -1);

    tree = vmig_xml_record_new(json_node_get_object(record), &error);
    g_assert_no_error(error);
    assert_record_valid(tree);

    golden = read_data(xml_name, NULL);
    back = parse_xml(golden);
    assert_record_valid(back);
}

/*
 * A transcript over its cap (docs/limits.md: no real peer gets there)
 * says how many frames and bytes were not kept, and validates.
 */
static void
test_record_transcript_dropped(void)
{
    g_autoptr(JsonNode) record = parse_json(
        "{\"migration\": \"m1\", \"role\": \"destination\", \"state\": \"failed\", "
        "\"domain\": \"qmp:/x\", \"transcript\": {\"frames\": [{\"direction\": "
        "\"received\", \"type\": \"ERROR\", \"bytes\": 40, \"milliseconds\": 7, "
        "\"items\": {\"code\": 1, \"message\": \"unexpected READY frame\", "
        "\"x-future\": 1}}], \"heartbeats\": {\"sent\": 2, \"received\": 1, "
        "\"bytes-sent\": 24, \"bytes-received\": 12}, \"dropped\": 3, "
        "\"dropped-bytes\": 36}}");
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = vmig_xml_record_new(json_node_get_object(record), &error);

    g_assert_no_error(error);
    assert_record_valid(doc);
    assert_xpath(doc, "/migration/transcript/@dropped", "3");
    assert_xpath(doc, "/migration/transcript/@dropped-bytes", "36");
    assert_xpath(doc, "/migration/transcript/frame/@type", "ERROR");
    assert_xpath(doc, "/migration/transcript/frame/code", "1");
    assert_xpath(doc, "/migration/transcript/frame/message", "unexpected READY frame");
    assert_xpath(doc, "/migration/transcript/heartbeats/@bytes-sent", "24");
    /* An item this document does not know is left out, as unknown tags are. */
    assert_xpath(doc, "count(/migration/transcript/frame/*)", "2");
}

/* What the golden documents say, read with XPath. */
static void
test_record_content(void)
{
    g_autofree char *completed_text = read_data("record-completed.xml", NULL);
    g_autofree char *failed_text = read_data("record-failed.xml", NULL);
    g_autofree char *degraded_text = read_data("record-degraded.xml", NULL);
    g_autoptr(xmlDoc) completed = parse_xml(completed_text);
    g_autoptr(xmlDoc) failed = parse_xml(failed_text);
    g_autoptr(xmlDoc) degraded = parse_xml(degraded_text);

    assert_xpath(completed, "/migration/@id", "m1");
    assert_xpath(completed, "/migration/@role", "source");
    assert_xpath(completed, "/migration/@state", "completed");
    assert_xpath(completed, "/migration/@mode", "uri");
    assert_xpath(completed, "/migration/@result", "completed");
    assert_xpath(completed, "/migration/domain", "qmp:/run/vm1.qmp");
    assert_xpath(completed, "/migration/peer", "unix:/run/vmig-dst.sock");
    assert_xpath(completed, "/migration/protocol/@version", "1");
    assert_xpath(completed, "/migration/hypervisor",
                 "QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
    assert_xpath(completed, "/migration/peer-driver", "virt-migrate 0.1.0");
    g_assert_cmpint(xpath_count(completed, "/migration/error"), ==, 0);

    /* the offers, source first */
    assert_xpath(completed, "/migration/offered[1]/@side", "source");
    assert_xpath(completed, "/migration/offered[2]/@side", "destination");
    assert_xpath(completed, "/migration/offered[@side='source']/version", "1");
    g_assert_cmpint(xpath_count(completed, "/migration/offered[@side='source']/feature"),
                    ==, 4);
    assert_xpath(completed,
                 "/migration/offered[@side='destination']/feature[@name='multifd']"
                 "/@channels",
                 "16");
    assert_xpath(completed,
                 "/migration/offered[@side='source']/feature[@name='return-path']"
                 "/@required",
                 "yes");
    g_assert_cmpint(xpath_count(completed, "/migration/offered/feature[@required]"), ==,
                    1);
    assert_xpath(completed,
                 "/migration/offered[@side='source']"
                 "/feature[@name='multifd-compression']/algorithm[1]",
                 "zstd");
    assert_xpath(completed,
                 "/migration/offered[@side='destination']"
                 "/feature[@name='multifd-compression']/algorithm[1]",
                 "zlib");
    g_assert_cmpint(xpath_count(completed, "/migration/offered/feature/reason"), ==, 0);

    /* chosen and declined, with why */
    g_assert_cmpint(xpath_count(completed, "/migration/features/feature"), ==, 3);
    assert_xpath(completed, "/migration/features/feature[@name='multifd']/@channels",
                 "4");
    assert_xpath(completed,
                 "/migration/features/feature[@name='multifd-compression']/algorithm",
                 "zstd");
    assert_xpath(completed, "/migration/features/feature[@name='return-path']/reason",
                 "offered by both; required by the source");
    assert_xpath(completed, "/migration/declined/feature/@name", "postcopy-ram");
    assert_xpath(completed, "/migration/declined/feature/reason",
                 "forbidden by the source (--no-feature)");

    assert_xpath(completed, "/migration/channels/@requested", "4");
    assert_xpath(completed, "/migration/channels/@received", "4");
    assert_xpath(completed, "/migration/tunables[1]/@side", "source");
    g_assert_cmpint(xpath_count(completed, "/migration/tunables[@side='source']/tunable"),
                    ==, 5);
    /* the wire order */
    assert_xpath(completed, "/migration/tunables[@side='source']/tunable[1]/@name",
                 "max-bandwidth");
    assert_xpath(completed, "/migration/tunables[@side='source']/tunable[1]",
                 "1073741824");
    assert_xpath(completed,
                 "/migration/tunables[@side='source']/tunable[@name='tls-creds']", "");
    assert_xpath(completed,
                 "/migration/tunables[@side='destination']"
                 "/tunable[@name='multifd-compression']",
                 "zstd");
    assert_xpath(completed, "/migration/handshake/@bytes-sent", "512");
    assert_xpath(completed, "/migration/handshake/@bytes-received", "430");
    assert_xpath(completed, "/migration/handshake/@milliseconds", "3");

    /* before the handshake: only what was known */
    assert_xpath(failed, "/migration/@role", "destination");
    assert_xpath(failed, "/migration/@result", "failed");
    assert_xpath(failed, "/migration/error", "no source connected within 5 s");
    g_assert_cmpint(xpath_count(failed, "/migration/*"), ==, 5);
    g_assert_cmpint(xpath_count(failed, "/migration/protocol | /migration/offered | "
                                        "/migration/features | /migration/channels"),
                    ==, 0);

    /* 4 channels asked for, 2 supplied; running: no result yet */
    assert_xpath(degraded, "/migration/@state", "migrating");
    g_assert_cmpint(xpath_count(degraded, "/migration/@result"), ==, 0);
    assert_xpath(degraded, "/migration/@mode", "fd");
    assert_xpath(degraded, "/migration/peer", "fd");
    assert_xpath(degraded, "/migration/channels/@requested", "4");
    assert_xpath(degraded, "/migration/channels/@received", "2");
    assert_xpath(degraded, "/migration/features/feature[@name='multifd']/@channels", "2");
    assert_xpath(degraded, "/migration/features/feature[@name='multifd']/reason",
                 "offered by both; 2 of 4 channels supplied");
    /* nothing declined is still said */
    g_assert_cmpint(xpath_count(degraded, "/migration/declined"), ==, 1);
    g_assert_cmpint(xpath_count(degraded, "/migration/declined/*"), ==, 0);
}

/* The smallest record, and members in any order, give fixed documents. */
static void
test_record_minimal(void)
{
    static const char expected[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                   "<migration id=\"m_10\" role=\"destination\" "
                                   "state=\"introspecting\">\n"
                                   "  <domain>qmp:/x</domain>\n"
                                   "</migration>\n";
    g_autoptr(JsonNode) node =
        parse_json("{\"domain\": \"qmp:/x\", \"state\": \"introspecting\", "
                   "\"role\": \"destination\", \"migration\": \"m_10\", "
                   "\"something-newer\": {\"ignored\": [1]}}");
    g_autoptr(GError) error = NULL;
    g_autofree char *text = vmig_xml_record_format(json_node_get_object(node), &error);
    g_autoptr(xmlDoc) doc = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, expected);
    doc = parse_xml(text);
    assert_record_valid(doc);
}

/* Members in reverse order: attributes and elements still in the fixed order. */
static void
test_record_order(void)
{
    g_autoptr(JsonNode) node = parse_json(
        "{\"error\": \"e\", \"result\": \"failed\", "
        "\"handshake\": {\"milliseconds\": 9, \"bytes-received\": 8, \"bytes-sent\": 7}, "
        "\"tunables\": {\"destination\": {\"b\": true}, \"source\": {\"a\": null}}, "
        "\"channels\": {\"received\": 0, \"requested\": 0}, "
        "\"declined\": [{\"reason\": \"r\", \"name\": \"d\"}], "
        "\"features\": [{\"reason\": \"why\", \"required\": true, \"algorithms\": "
        "[\"x\"], "
        "\"channels\": 1, \"name\": \"f\"}], "
        "\"offered\": {\"destination\": {\"features\": [], \"versions\": [2, 1]}, "
        "\"source\": {\"features\": [{\"required\": false, \"name\": \"f\"}], "
        "\"versions\": [1]}}, "
        "\"peer-driver\": \"pd\", \"driver\": \"d\", \"peer-hypervisor\": \"ph\", "
        "\"hypervisor\": \"h\", \"version\": 1, \"peer\": \"fd\", \"mode\": \"fd\", "
        "\"domain\": \"qmp:/x\", \"state\": \"failed\", \"role\": \"source\", "
        "\"migration\": \"m1\"}");
    g_autoptr(GError) error = NULL;
    g_autofree char *text = vmig_xml_record_format(json_node_get_object(node), &error);
    g_autoptr(xmlDoc) doc = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(text, ==,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<migration id=\"m1\" role=\"source\" state=\"failed\" mode=\"fd\" "
                    "result=\"failed\">\n"
                    "  <domain>qmp:/x</domain>\n"
                    "  <peer>fd</peer>\n"
                    "  <protocol version=\"1\"/>\n"
                    "  <hypervisor>h</hypervisor>\n"
                    "  <peer-hypervisor>ph</peer-hypervisor>\n"
                    "  <driver>d</driver>\n"
                    "  <peer-driver>pd</peer-driver>\n"
                    "  <offered side=\"source\">\n"
                    "    <version>1</version>\n"
                    "    <feature name=\"f\"/>\n"
                    "  </offered>\n"
                    "  <offered side=\"destination\">\n"
                    "    <version>2</version>\n"
                    "    <version>1</version>\n"
                    "  </offered>\n"
                    "  <features>\n"
                    "    <feature name=\"f\" channels=\"1\" required=\"yes\">\n"
                    "      <algorithm>x</algorithm>\n"
                    "      <reason>why</reason>\n"
                    "    </feature>\n"
                    "  </features>\n"
                    "  <declined>\n"
                    "    <feature name=\"d\">\n"
                    "      <reason>r</reason>\n"
                    "    </feature>\n"
                    "  </declined>\n"
                    "  <channels requested=\"0\" received=\"0\"/>\n"
                    "  <tunables side=\"source\">\n"
                    "    <tunable name=\"a\" null=\"yes\"/>\n"
                    "  </tunables>\n"
                    "  <tunables side=\"destination\">\n"
                    "    <tunable name=\"b\">yes</tunable>\n"
                    "  </tunables>\n"
                    "  <handshake bytes-sent=\"7\" bytes-received=\"8\" "
                    "milliseconds=\"9\"/>\n"
                    "  <error>e</error>\n"
                    "</migration>\n");
    doc = parse_xml(text);
    assert_record_valid(doc);
}

/* Each kind of tunable value, as <current> of the catalog writes it. */
static void
test_record_tunable_values(void)
{
    static const struct {
        const char *value; /* JSON */
        const char *text;  /* string(tunable) */
        gboolean null;
    } cases[] = {
        {"-42", "-42", FALSE},
        {"9223372036854775807", "9223372036854775807", FALSE},
        {"0.1", "0.1", FALSE},
        {"1e300", "1e+300", FALSE},
        {"true", "yes", FALSE},
        {"false", "no", FALSE},
        {"\"\"", "", FALSE},
        {"\"zstd\"", "zstd", FALSE},
        {"null", "", TRUE},
        {"[1, \"2\"]", "[1,\"2\"]", FALSE},
        {"{\"x\": {\"y\": null}}", "{\"x\":{\"y\":null}}", FALSE},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = g_strdup_printf(
            "{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"migrating\", "
            "\"domain\": \"qmp:/x\", \"tunables\": {\"source\": {\"t\": %s}}}",
            cases[i].value);
        g_autoptr(xmlDoc) doc = NULL;

        g_test_message("case %" G_GSIZE_FORMAT ": %s", i, cases[i].value);
        doc = record_doc(json);
        g_assert_cmpint(xpath_count(doc, "/migration/tunables/tunable"), ==, 1);
        assert_xpath(doc, "/migration/tunables/tunable/@name", "t");
        assert_xpath(doc, "/migration/tunables/tunable", cases[i].text);
        assert_xpath(doc, "/migration/tunables/tunable/@null",
                     cases[i].null ? "yes" : "");
    }
}

/* Markup characters and non-ASCII text are escaped, and read back unchanged. */
static void
test_record_escaping(void)
{
    static const char domain[] = "qmp:/run/<vm & \"co\">/'q'.qmp";
    static const char error_text[] = "QEMU said: </error><x/>&amp; ]]> \u2014 "
                                     "Gr\u00fc\u00dfe \U0001F600\n\ttab\r\n";
    static const char reason[] = "offered by both; \"a\" < 'b' & c";
    static const char tunable[] = "we&ird <name> \"q\"";
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migration");
    json_builder_add_string_value(b, "m1");
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, "source");
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, "failed");
    json_builder_set_member_name(b, "domain");
    json_builder_add_string_value(b, domain);
    json_builder_set_member_name(b, "hypervisor");
    json_builder_add_string_value(b, "QEMU \"7.2\" <Debian> & 'co'");
    json_builder_set_member_name(b, "features");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "<f&>");
    json_builder_set_member_name(b, "algorithms");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "]]>");
    json_builder_end_array(b);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, reason);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "tunables");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "destination");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, tunable);
    json_builder_add_string_value(b, "<v>&amp;</v>");
    json_builder_set_member_name(b, "list");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "a&b");
    json_builder_add_string_value(b, "<\"x\">\n");
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, error_text);
    json_builder_end_object(b);
    root = json_builder_get_root(b);

    text = vmig_xml_record_format(json_node_get_object(root), &error);
    g_assert_no_error(error);
    g_test_message("%s", text);

    g_assert_nonnull(strstr(text, "&amp;"));
    g_assert_nonnull(strstr(text, "&lt;"));
    g_assert_null(strstr(text, "<x/>"));
    g_assert_null(strstr(text, "<v>"));
    g_assert_nonnull(strstr(text, "Gr\u00fc\u00dfe \U0001F600"));

    doc = parse_xml(text);
    assert_record_valid(doc);
    assert_xpath(doc, "/migration/domain", domain);
    assert_xpath(doc, "/migration/hypervisor", "QEMU \"7.2\" <Debian> & 'co'");
    assert_xpath(doc, "/migration/features/feature/@name", "<f&>");
    assert_xpath(doc, "/migration/features/feature/algorithm", "]]>");
    assert_xpath(doc, "/migration/features/feature/reason", reason);
    assert_xpath(doc, "/migration/tunables/tunable[1]/@name", tunable);
    assert_xpath(doc, "/migration/tunables/tunable[1]", "<v>&amp;</v>");
    assert_xpath(doc, "/migration/tunables/tunable[2]", "[\"a&b\",\"<\\\"x\\\">\\n\"]");
    assert_xpath(doc, "/migration/error", error_text);
}

typedef struct {
    const char *path;
    const char *json;
    const char *message; /* after "negotiation record: " */
} RecordInvalidCase;

/* A record with the four members every record has, then @... */
#define RECORD(...)                                                                      \
    "{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"completed\", "           \
    "\"domain\": \"qmp:/x\"" __VA_ARGS__ "}"

static const RecordInvalidCase record_invalid_cases[] = {
    {"empty", "{}", "'migration' is missing"},
    {"no-role", "{\"migration\": \"m1\"}", "'role' is missing"},
    {"no-state", "{\"migration\": \"m1\", \"role\": \"source\"}", "'state' is missing"},
    {"no-domain", "{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"failed\"}",
     "'domain' is missing"},
    {"id-number",
     "{\"migration\": 1, \"role\": \"source\", \"state\": \"failed\", \"domain\": \"d\"}",
     "'migration' is an integer, not a string"},
    {"id-empty",
     "{\"migration\": \"\", \"role\": \"source\", \"state\": \"failed\", "
     "\"domain\": \"d\"}",
     "'migration' is empty"},
    {"id-space",
     "{\"migration\": \"m 1\", \"role\": \"source\", \"state\": \"failed\", "
     "\"domain\": \"d\"}",
     "'migration' is 'm 1', not a migration's name (letters, digits and _)"},
    {"role-unknown",
     "{\"migration\": \"m1\", \"role\": \"middle\", \"state\": \"failed\", "
     "\"domain\": \"d\"}",
     "unknown role 'middle' (expected source or destination)"},
    {"state-unknown",
     "{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"paused\", "
     "\"domain\": \"d\"}",
     "unknown state 'paused' (expected introspecting, connecting, waiting, negotiating, "
     "collecting, committing, migrating, switchover, completed, failed, cancelled, "
     "unknown or refused)"},
    {"state-null",
     "{\"migration\": \"m1\", \"role\": \"source\", \"state\": null, \"domain\": \"d\"}",
     "'state' is null, not a string"},
    {"mode-unknown", RECORD(", \"mode\": \"carrier-pigeon\""),
     "unknown mode 'carrier-pigeon' (expected uri or fd)"},
    {"result-unknown", RECORD(", \"result\": \"ok\""),
     "unknown result 'ok' (expected completed, failed, cancelled, unknown or refused)"},
    {"domain-empty",
     "{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"failed\", "
     "\"domain\": \"\"}",
     "'domain' is empty"},
    {"peer-object", RECORD(", \"peer\": {}"), "'peer' is an object, not a string"},
    {"hypervisor-control", RECORD(", \"hypervisor\": \"QEMU\\u0007\""),
     "'hypervisor' holds U+0007, which XML cannot represent"},
    {"error-noncharacter", RECORD(", \"error\": \"\\uffff\""),
     "'error' holds U+FFFF, which XML cannot represent"},
    {"version-string", RECORD(", \"version\": \"1\""),
     "'version' is a string, not an integer"},
    {"version-zero", RECORD(", \"version\": 0"),
     "'version' is 0, not a protocol version (1 to 4294967295)"},
    {"version-too-big", RECORD(", \"version\": 4294967296"),
     "'version' is 4294967296, not a protocol version (1 to 4294967295)"},
    {"offered-array", RECORD(", \"offered\": []"),
     "'offered' is an array, not an object"},
    {"offer-string", RECORD(", \"offered\": {\"source\": \"all\"}"),
     "'offered': 'source' is a string, not an object"},
    {"offer-versions-empty",
     RECORD(", \"offered\": {\"destination\": {\"versions\": []}}"),
     "the offer of the destination: 'versions' is empty"},
    {"offer-version-double", RECORD(", \"offered\": {\"source\": {\"versions\": [1.5]}}"),
     "the offer of the source: version #1 is a number, not an integer"},
    {"offer-version-negative",
     RECORD(", \"offered\": {\"source\": {\"versions\": [1, -1]}}"),
     "the offer of the source: version #2 is -1, not a protocol version (1 to "
     "4294967295)"},
    {"offer-features-object", RECORD(", \"offered\": {\"source\": {\"features\": {}}}"),
     "the offer of the source: 'features' is an object, not an array"},
    {"offer-feature-string",
     RECORD(", \"offered\": {\"source\": {\"features\": [\"multifd\"]}}"),
     "offered feature #1 of the source: expected an object, got a string"},
    {"offer-feature-no-name",
     RECORD(", \"offered\": {\"destination\": {\"features\": [{\"name\": \"a\"}, "
            "{\"channels\": 2}]}}"),
     "offered feature #2 of the destination: 'name' is missing"},
    {"offer-feature-channels-negative",
     RECORD(", \"offered\": {\"source\": {\"features\": [{\"name\": \"multifd\", "
            "\"channels\": -4}]}}"),
     "offered feature 'multifd' of the source: 'channels' is -4, out of range (0 to "
     "65535)"},
    {"offer-feature-channels-big",
     RECORD(", \"offered\": {\"source\": {\"features\": [{\"name\": \"multifd\", "
            "\"channels\": 65536}]}}"),
     "offered feature 'multifd' of the source: 'channels' is 65536, out of range (0 to "
     "65535)"},
    {"offer-feature-required-string",
     RECORD(", \"offered\": {\"source\": {\"features\": [{\"name\": \"f\", "
            "\"required\": \"yes\"}]}}"),
     "offered feature 'f' of the source: 'required' is a string, not a boolean"},
    {"offer-feature-algorithms-empty",
     RECORD(", \"offered\": {\"source\": {\"features\": [{\"name\": \"f\", "
            "\"algorithms\": []}]}}"),
     "offered feature 'f' of the source: 'algorithms' is empty"},
    {"offer-feature-algorithm-number",
     RECORD(", \"offered\": {\"source\": {\"features\": [{\"name\": \"f\", "
            "\"algorithms\": [\"zstd\", 2]}]}}"),
     "offered feature 'f' of the source: algorithm #2 is an integer, not a string"},
    {"features-object", RECORD(", \"features\": {\"multifd\": true}"),
     "'features' is an object, not an array"},
    {"feature-name-empty", RECORD(", \"features\": [{\"name\": \"\"}]"),
     "chosen feature #1: 'name' is empty"},
    {"feature-reason-number",
     RECORD(", \"features\": [{\"name\": \"f\", \"reason\": 1}]"),
     "chosen feature 'f': 'reason' is an integer, not a string"},
    {"declined-reason-empty",
     RECORD(", \"declined\": [{\"name\": \"f\", \"reason\": \"\"}]"),
     "declined feature 'f': 'reason' is empty"},
    {"channels-array", RECORD(", \"channels\": [4, 2]"),
     "'channels' is an array, not an object"},
    {"channels-string", RECORD(", \"channels\": {\"requested\": \"4\"}"),
     "'channels': 'requested' is a string, not an integer"},
    {"channels-negative", RECORD(", \"channels\": {\"requested\": 4, \"received\": -1}"),
     "'channels': 'received' is -1, out of range (0 to 65535)"},
    {"tunables-array", RECORD(", \"tunables\": []"),
     "'tunables' is an array, not an object"},
    {"tunables-side-array", RECORD(", \"tunables\": {\"destination\": []}"),
     "'tunables': 'destination' is an array, not an object"},
    {"tunable-name-empty", RECORD(", \"tunables\": {\"source\": {\"\": 1}}"),
     "the tunables of the source: a tunable has an empty name"},
    {"tunable-name-control", RECORD(", \"tunables\": {\"source\": {\"a\\u0001\": 1}}"),
     "the tunables of the source: a tunable's name holds U+0001, which XML cannot "
     "represent"},
    {"tunable-value-control",
     RECORD(", \"tunables\": {\"source\": {\"tls-creds\": \"\\u001b[0m\"}}"),
     "the tunables of the source: the value of 'tls-creds' holds U+001B, which XML "
     "cannot represent"},
    {"handshake-double", RECORD(", \"handshake\": {\"milliseconds\": 2.5}"),
     "'handshake': 'milliseconds' is a number, not an integer"},
    {"handshake-negative", RECORD(", \"handshake\": {\"bytes-sent\": -512}"),
     "'handshake': 'bytes-sent' is -512, out of range (0 to 9223372036854775807)"},
    {"error-bool", RECORD(", \"error\": false"), "'error' is a boolean, not a string"},
    {"transcript-no-frames", RECORD(", \"transcript\": {}"),
     "'transcript': 'frames' is missing"},
    {"frame-direction",
     RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"up\", \"type\": "
            "\"READY\", \"bytes\": 12, \"milliseconds\": 3}]}"),
     "transcript frame #1: unknown direction 'up' (expected sent or received)"},
    {"frame-type",
     RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"sent\", \"type\": "
            "\"HELLO\", \"bytes\": 12, \"milliseconds\": 3}]}"),
     "transcript frame #1: unknown frame type 'HELLO' (expected GREETING, REPLY, COMMIT, "
     "READY, ERROR, LOADED, SWITCHOVER, RESUMED, HEARTBEAT or DOMAIN)"},
    {"frame-short",
     RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"sent\", \"type\": "
            "\"READY\", \"bytes\": 11, \"milliseconds\": 3}]}"),
     "transcript frame #1: 'bytes' is 11, out of range (12 to 9223372036854775807)"},
    {"frame-no-time",
     RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"sent\", \"type\": "
            "\"READY\", \"bytes\": 12}]}"),
     "transcript frame #1: 'milliseconds' is missing"},
    {"frame-version-zero",
     RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"sent\", \"type\": "
            "\"GREETING\", \"bytes\": 40, \"milliseconds\": 0, \"items\": "
            "{\"versions\": [0]}}]}"),
     "transcript frame #1 (GREETING): 'versions' #1 is not a protocol version"},
    {"frame-tunable-number",
     RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"sent\", \"type\": "
            "\"REPLY\", \"bytes\": 40, \"milliseconds\": 0, \"items\": "
            "{\"tunables\": {\"max-bandwidth\": 1}}}]}"),
     "transcript frame #1 (REPLY): tunable 'max-bandwidth' is an integer, not a string"},
    {"stats-negative", RECORD(", \"stats\": {\"downtime\": -1}"),
     "'stats': 'downtime' is -1, out of range (0 to 9223372036854775807)"},
};

/* A wire form that is not a record is refused with INVALID, naming the problem. */
static void
test_record_invalid(gconstpointer data)
{
    const RecordInvalidCase *c = data;
    g_autoptr(JsonNode) node = parse_json(c->json);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = vmig_xml_record_new(json_node_get_object(node), &error);
    g_autofree char *expected = NULL;
    g_autofree char *text = NULL;

    g_assert_null(doc);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    expected = g_strconcat("negotiation record: ", c->message, NULL);
    g_assert_cmpstr(error->message, ==, expected);

    g_clear_error(&error);
    text = vmig_xml_record_format(json_node_get_object(node), &error);
    g_assert_null(text);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
}

/*
 * Returns: a record whose "error" is @error_text and whose source tunable
 * 't' is @tunable (consumed), built in code.
 */
static JsonNode *
build_record(const char *error_text, JsonNode *tunable)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migration");
    json_builder_add_string_value(b, "m1");
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, "source");
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, "failed");
    json_builder_set_member_name(b, "domain");
    json_builder_add_string_value(b, "qmp:/x");
    json_builder_set_member_name(b, "tunables");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "source");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "t");
    json_builder_add_value(b, tunable);
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, error_text);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Values JSON text cannot carry but a JsonNode built in code can. */
static void
test_record_invalid_built(void)
{
    g_autoptr(JsonNode) infinite = NULL;
    g_autoptr(JsonNode) latin1 = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = NULL;

    infinite = build_record("e", json_node_init_double(json_node_alloc(), NAN));
    doc = vmig_xml_record_new(json_node_get_object(infinite), &error);
    g_assert_null(doc);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "negotiation record: the tunables of the source: the value of 't' "
                    "is not a finite number");
    g_clear_error(&error);

    latin1 = build_record("caf\xe9", json_node_init_int(json_node_alloc(), 1));
    doc = vmig_xml_record_new(json_node_get_object(latin1), &error);
    g_assert_null(doc);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, "negotiation record: 'error' is not UTF-8");
}

#define RDOC(...)                                                                        \
    "<migration id='m1' role='source' state='completed'>"                                \
    "<domain>qmp:/x</domain>" __VA_ARGS__ "</migration>\n"

/* Documents data/record.rng must refuse. */
static const SchemaCase record_schema_invalid_cases[] = {
    {"root", "<record id='m1' role='source' state='completed'/>"},
    {"no-domain", "<migration id='m1' role='source' state='completed'/>"},
    {"no-id", "<migration role='source' state='completed'><domain>d</domain>"
              "</migration>"},
    {"id-space", "<migration id='m 1' role='source' state='completed'>"
                 "<domain>d</domain></migration>"},
    {"role-unknown", "<migration id='m1' role='middle' state='completed'>"
                     "<domain>d</domain></migration>"},
    {"state-unknown", "<migration id='m1' role='source' state='paused'>"
                      "<domain>d</domain></migration>"},
    {"empty-domain", "<migration id='m1' role='source' state='completed'>"
                     "<domain></domain></migration>"},
    {"version-zero", RDOC("<protocol version='0'/>")},
    {"peer-after-protocol", RDOC("<protocol version='1'/><peer>fd</peer>")},
    {"offered-side-unknown", RDOC("<offered side='middle'/>")},
    {"offered-destination-first",
     RDOC("<offered side='destination'/><offered side='source'/>")},
    {"offered-feature-reason",
     RDOC("<offered side='source'><feature name='f'><reason>r</reason></feature>"
          "</offered>")},
    {"feature-required-no",
     RDOC("<features><feature name='f' required='no'/></features>")},
    {"feature-channels-big",
     RDOC("<features><feature name='f' channels='65536'/></features>")},
    {"reason-before-algorithm",
     RDOC("<features><feature name='f'><reason>r</reason><algorithm>a</algorithm>"
          "</feature></features>")},
    {"channels-negative", RDOC("<channels received='-1'/>")},
    {"two-source-tunables", RDOC("<tunables side='source'/><tunables side='source'/>")},
    {"tunable-null-text",
     RDOC("<tunables side='source'><tunable name='t' null='yes'>1</tunable></tunables>")},
    {"tunable-no-name", RDOC("<tunables side='source'><tunable>1</tunable></tunables>")},
    {"handshake-text", RDOC("<handshake bytes-sent='many'/>")},
    {"frame-type-unknown",
     RDOC("<transcript><frame direction='sent' type='HELLO' bytes='12' "
          "milliseconds='0'/></transcript>")},
    {"frame-token-shown",
     RDOC("<transcript><frame direction='sent' type='REPLY' bytes='40' "
          "milliseconds='0'><token>0011223344</token></frame></transcript>")},
    {"stats-text", RDOC("<stats downtime='short'/>")},
    {"error-before-domain", "<migration id='m1' role='source' state='completed'>"
                            "<error>e</error><domain>d</domain></migration>"},
};

/* vmig_xml_validate() with data/record.rng fails with SCHEMA for each wrong document. */
static void
test_record_schema_invalid(gconstpointer data)
{
    const SchemaCase *c = data;
    g_autoptr(xmlDoc) doc = parse_xml(c->xml);
    g_autofree char *rng = record_rng_path();
    g_autoptr(GError) error = NULL;

    g_assert_false(vmig_xml_validate(doc, rng, &error));
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA);
    g_test_message("%s", error->message);
    g_assert_true(g_str_has_prefix(error->message, "document does not match schema '"));
}

/* ---- libxml2's error reporting ------------------------------------------- */

static guint foreign_errors;

/* A handler the caller had installed before calling us. Returns: nothing. */
static void
foreign_handler(void *data, xmlErrorPtr err)
{
    foreign_errors++;
}

/* The library's capture leaves a caller's own error handler alone. */
static void
test_errors_handlers_restored(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlDoc) ours = NULL;
    g_autofree char *rng = rng_path();

    xmlSetStructuredErrorFunc(&foreign_errors, foreign_handler);
    foreign_errors = 0;

    doc = vmig_xml_parse("<a>", 3, "test", &error);
    g_assert_null(doc);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_PARSE);
    g_clear_error(&error);
    ours = vmig_xml_parse("<b/>", 4, "test", &error);
    g_assert_no_error(error);
    g_assert_false(vmig_xml_validate(ours, rng, &error));
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA);
    g_assert_cmpuint(foreign_errors, ==, 0);

    /* still installed: libxml2 used directly reaches it */
    g_assert_null(xmlReadMemory("<a>", 3, NULL, NULL, XML_PARSE_NONET));
    g_assert_cmpuint(foreign_errors, >, 0);

    xmlSetStructuredErrorFunc(NULL, NULL);
}

/*
 * Runs every failing path in the library once; asserts nothing, since
 * stderr is not the terminal while it runs.
 * Returns: nothing.
 */
static void
run_failures(void)
{
    g_autofree char *rng = rng_path();
    static const char banana[] = "<tunables><parameter type='banana'/></tunables>";
    g_autoptr(xmlDoc) doc = vmig_xml_parse(banana, strlen(banana), "test", NULL);

    if (doc != NULL) {
        vmig_xml_validate(doc, rng, NULL);
        vmig_xml_validate(doc, "/nonexistent.rng", NULL);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(domain_bad_cases); i++) {
        const char *xml = domain_bad_cases[i].xml;
        g_autoptr(VmigDomainInfo) info = vmig_xml_domain_parse(xml, strlen(xml), NULL);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(schema_invalid_cases); i++) {
        const char *xml = schema_invalid_cases[i].xml;
        g_autoptr(xmlDoc) bad = vmig_xml_parse(xml, strlen(xml), "test", NULL);

        if (bad != NULL)
            vmig_xml_validate(bad, rng, NULL);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(catalog_invalid_cases); i++) {
        g_autoptr(JsonNode) node = json_from_string(catalog_invalid_cases[i].json, NULL);
        g_autofree char *text = NULL;

        if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
            text = vmig_xml_catalog_format(json_node_get_object(node), NULL);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(record_invalid_cases); i++) {
        g_autoptr(JsonNode) node = json_from_string(record_invalid_cases[i].json, NULL);
        g_autofree char *text = NULL;

        if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
            text = vmig_xml_record_format(json_node_get_object(node), NULL);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(record_schema_invalid_cases); i++) {
        g_autofree char *record_rng = record_rng_path();
        const char *xml = record_schema_invalid_cases[i].xml;
        g_autoptr(xmlDoc) bad = vmig_xml_parse(xml, strlen(xml), "test", NULL);

        if (bad != NULL)
            vmig_xml_validate(bad, record_rng, NULL);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(xxe_cases); i++) {
        g_autoptr(VmigDomainInfo) info =
            vmig_xml_domain_parse(xxe_cases[i], strlen(xxe_cases[i]), NULL);
    }
}

/* libxml2 prints nothing, whatever fails: stderr goes to a file meanwhile. */
static void
test_errors_quiet(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autofree char *printed = NULL;
    int saved;
    int fd;

    fd = g_file_open_tmp("test-xml-stderr-XXXXXX", &path, &error);
    g_assert_no_error(error);
    saved = dup(STDERR_FILENO);
    g_assert_cmpint(saved, >=, 0);
    fflush(stderr);
    g_assert_cmpint(dup2(fd, STDERR_FILENO), ==, STDERR_FILENO);

    run_failures();

    fflush(stderr);
    g_assert_cmpint(dup2(saved, STDERR_FILENO), ==, STDERR_FILENO);
    g_assert_cmpint(close(saved), ==, 0);
    g_assert_cmpint(close(fd), ==, 0);
    g_file_get_contents(path, &printed, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_unlink(path), ==, 0);
    g_assert_cmpstr(printed, ==, "");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/xml/catalog/golden", test_catalog_golden);
    g_test_add_func("/xml/catalog/golden-valid", test_catalog_golden_valid);
    g_test_add_func("/xml/catalog/tree-valid", test_catalog_tree_valid);
    g_test_add_func("/xml/catalog/content", test_catalog_content);
    g_test_add_func("/xml/catalog/empty", test_catalog_empty);
    g_test_add_func("/xml/catalog/types", test_catalog_types);
    g_test_add_func("/xml/catalog/attributes", test_catalog_attributes);
    g_test_add_func("/xml/catalog/escaping", test_catalog_escaping);
    for (gsize i = 0; i < G_N_ELEMENTS(catalog_invalid_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/xml/catalog/invalid/%s", catalog_invalid_cases[i].path);

        g_test_add_data_func(path, &catalog_invalid_cases[i], test_catalog_invalid);
    }
    g_test_add_func("/xml/catalog/invalid/built", test_catalog_invalid_built);

    for (gsize i = 0; i < G_N_ELEMENTS(schema_invalid_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/xml/schema/invalid/%s", schema_invalid_cases[i].path);

        g_test_add_data_func(path, &schema_invalid_cases[i], test_schema_invalid);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(schema_valid_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/xml/schema/valid/%s", schema_valid_cases[i].path);

        g_test_add_data_func(path, &schema_valid_cases[i], test_schema_valid);
    }
    g_test_add_func("/xml/schema/error-line", test_schema_error_line);
    g_test_add_func("/xml/schema/unusable", test_schema_unusable);

    for (gsize i = 0; i < G_N_ELEMENTS(domain_golden_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/xml/domain/golden/%s", domain_golden_cases[i].file);

        g_test_add_data_func(path, &domain_golden_cases[i], test_domain_golden);
    }
    g_test_add_func("/xml/domain/length", test_domain_length);
    g_test_add_func("/xml/domain/memory-units", test_domain_memory_units);
    for (gsize i = 0; i < G_N_ELEMENTS(domain_bad_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/xml/domain/bad/%s", domain_bad_cases[i].path);

        g_test_add_data_func(path, &domain_bad_cases[i], test_domain_bad);
    }
    g_test_add_func("/xml/domain/bad/long-value", test_domain_long_value);
    g_test_add_func("/xml/domain/xxe", test_domain_xxe);
    g_test_add_func("/xml/domain/xxe-name", test_domain_xxe_name);
    g_test_add_func("/xml/domain/entity-expansion", test_domain_entity_expansion);

    for (gsize i = 0; i < G_N_ELEMENTS(record_golden_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/xml/record/golden/%s", record_golden_cases[i]);

        g_test_add_data_func(path, record_golden_cases[i], test_record_golden);
    }
    g_test_add_func("/xml/record/content", test_record_content);
    g_test_add_func("/xml/record/transcript-dropped", test_record_transcript_dropped);
    g_test_add_func("/xml/record/minimal", test_record_minimal);
    g_test_add_func("/xml/record/order", test_record_order);
    g_test_add_func("/xml/record/tunable-values", test_record_tunable_values);
    g_test_add_func("/xml/record/escaping", test_record_escaping);
    for (gsize i = 0; i < G_N_ELEMENTS(record_invalid_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/xml/record/invalid/%s", record_invalid_cases[i].path);

        g_test_add_data_func(path, &record_invalid_cases[i], test_record_invalid);
    }
    g_test_add_func("/xml/record/invalid/built", test_record_invalid_built);
    for (gsize i = 0; i < G_N_ELEMENTS(record_schema_invalid_cases); i++) {
        g_autofree char *path = g_strdup_printf("/xml/record/schema/invalid/%s",
                                                record_schema_invalid_cases[i].path);

        g_test_add_data_func(path, &record_schema_invalid_cases[i],
                             test_record_schema_invalid);
    }

    g_test_add_func("/xml/errors/handlers-restored", test_errors_handlers_restored);
    g_test_add_func("/xml/errors/quiet", test_errors_quiet);

    return g_test_run();
}
