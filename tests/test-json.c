/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-json.c: the json/ library: one bounded JSON reader for every reader
 * of outside bytes (json/reader.h)
 */
#include <config.h>

#include <string.h>

#include "json/reader.h"
#include "json/writer.h"
#include "tests/testutil.h"

/* Returns: @depth '[' then @depth ']' (to free). */
static char *
nested(guint depth, char open, char close)
{
    char *text = g_malloc(2 * (gsize)depth + 1);

    memset(text, open, depth);
    memset(text + depth, close, depth);
    text[2 * (gsize)depth] = '\0';
    return text;
}

/* Asserts @text (@len bytes) is refused with @code.  Returns: the message (to free). */
static char *
assert_refused(const char *text, gssize len, VmigJsonErrorCode code)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = vmig_json_parse(text, len, &error);

    g_assert_null(node);
    g_assert_error(error, VMIG_JSON_ERROR, (gint)code);
    return g_strdup(error->message);
}

/* Asserts @text parses to a value that prints as @expected. */
static void
assert_parses(const char *text, const char *expected)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = vmig_json_parse(text, -1, &error);
    g_autofree char *printed = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(node);
    printed = json_to_string(node, FALSE);
    g_assert_cmpstr(printed, ==, expected);
}

/* Exactly VMIG_JSON_MAX_DEPTH levels parse, of arrays, objects and both. */
static void
test_depth_limit(void)
{
    g_autofree char *arrays = nested(VMIG_JSON_MAX_DEPTH, '[', ']');
    g_autoptr(GString) mixed = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = vmig_json_parse(arrays, -1, &error);

    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
    g_clear_pointer(&node, json_node_unref);

    for (guint i = 0; i < VMIG_JSON_MAX_DEPTH / 2; i++)
        g_string_append(mixed, "{\"a\": [");
    for (guint i = 0; i < VMIG_JSON_MAX_DEPTH / 2; i++)
        g_string_append(mixed, "]}");
    node = vmig_json_parse(mixed->str, (gssize)mixed->len, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
}

/* One level more, and QEMU's crash case (100,000 '[' unclosed): refused, named. */
static void
test_too_deep(void)
{
    g_autofree char *one_more = nested(VMIG_JSON_MAX_DEPTH + 1, '{', '}');
    g_autofree char *huge = g_malloc(100000 + 1);
    g_autofree char *message = NULL;

    message = assert_refused(one_more, -1, VMIG_JSON_ERROR_DEPTH);
    g_assert_cmpstr(message, ==, "nesting deeper than 1024 levels");
    g_free(message);
    memset(huge, '[', 100000);
    huge[100000] = '\0';
    message = assert_refused(huge, -1, VMIG_JSON_ERROR_DEPTH);
    g_assert_cmpstr(message, ==, "nesting deeper than 1024 levels");
}

/* Brackets inside strings, escaped quotes and backslashes do not count as nesting. */
static void
test_strings(void)
{
    g_autoptr(GString) text = g_string_new("[\"");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;

    for (guint i = 0; i < 5000; i++)
        g_string_append(text, "[{\\\"");
    g_string_append(text, "\\\\\"]");
    node = vmig_json_parse(text->str, (gssize)text->len, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
    assert_parses("\"a [ string\"", "\"a [ string\"");
    assert_parses("{\"k\": \"}\\\"{\"}", "{\"k\":\"}\\\"{\"}");
    assert_parses("  42  ", "42");
    assert_parses("\r\n[1, [2, {\"x\": null}]]\n", "[1,[2,{\"x\":null}]]");
}

/* A second value after the first, whatever it is: refused (json-glib would ignore it). */
static void
test_trailing(void)
{
    static const char *const cases[] = {
        "{} {}", "[1] ]", "1 2", "\"a\" \"b\"", "{\"execute\": \"x\"}x", "null x",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *message = assert_refused(cases[i], -1, VMIG_JSON_ERROR_TRAILING);

        g_assert_cmpstr(message, ==, "unexpected data after the first JSON value");
    }
}

/* A NUL byte anywhere, in a string too: refused with its offset. */
static void
test_nul(void)
{
    static const char text[] = "{\"a\": \"b\0c\"}";
    g_autofree char *message =
        assert_refused(text, sizeof(text) - 1, VMIG_JSON_ERROR_NUL);

    g_assert_cmpstr(message, ==, "a NUL byte at offset 8");
}

/*
 * Escapes json-glib decodes into something else: \u0000 and \0 cut the
 * string short, half a surrogate pair or a short \u escape became bytes
 * that are not UTF-8 (found by fuzz/fuzz-qmp), \a became "a".  Refused;
 * a whole pair is a character.
 */
static void
test_escapes(void)
{
    static const struct {
        const char *text;
        VmigJsonErrorCode code;
        const char *message;
    } cases[] = {
        {"[\"a\\u0000b\"]", VMIG_JSON_ERROR_NUL, "a \\u0000 escape at offset 3"},
        {"{\"\\u0000\": 1}", VMIG_JSON_ERROR_NUL, "a \\u0000 escape at offset 2"},
        {"[\"\\ud800x\"]", VMIG_JSON_ERROR_ESCAPE,
         "a \\ud800 escape at offset 2 is half a surrogate pair"},
        {"[\"\\udc00\"]", VMIG_JSON_ERROR_ESCAPE,
         "a \\udc00 escape at offset 2 is half a surrogate pair"},
        {"[\"\\ud800\\u0041\"]", VMIG_JSON_ERROR_ESCAPE,
         "a \\ud800 escape at offset 2 is half a surrogate pair"},
        {"[\"\\udbff\\udbff\\udc00\"]", VMIG_JSON_ERROR_ESCAPE,
         "a \\udbff escape at offset 2 is half a surrogate pair"},
        {"\"\\ud800", VMIG_JSON_ERROR_ESCAPE,
         "a \\ud800 escape at offset 1 is half a surrogate pair"},
        {"[\"\\udc0-s\"]", VMIG_JSON_ERROR_ESCAPE,
         "a \\u escape at offset 2 without four hexadecimal digits"},
        {"[\"\\u12\"]", VMIG_JSON_ERROR_ESCAPE,
         "a \\u escape at offset 2 without four hexadecimal digits"},
        {"[\"\\u", VMIG_JSON_ERROR_ESCAPE,
         "a \\u escape at offset 2 without four hexadecimal digits"},
        {"[\"\\0\"]", VMIG_JSON_ERROR_ESCAPE,
         "an escape at offset 2 that JSON does not have"},
        {"{\"\\a\": 1}", VMIG_JSON_ERROR_ESCAPE,
         "an escape at offset 2 that JSON does not have"},
        {"[\"\\\xc3\xa9\"]", VMIG_JSON_ERROR_ESCAPE,
         "an escape at offset 2 that JSON does not have"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *message = assert_refused(cases[i].text, -1, cases[i].code);

        g_assert_cmpstr(message, ==, cases[i].message);
    }
    assert_parses("[\"\\ud800\\udc00\\uDBFF\\uDFFF\"]",
                  "[\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"]");
    assert_parses("[\"\\\\u0000\"]", "[\"\\\\u0000\"]");
    assert_parses("[\"\\u0001\"]", "[\"\\u0001\"]");
    assert_parses("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", "[\"\\\"\\\\/\\b\\f\\n\\r\\t\"]");
}

/*
 * Numbers json-glib misreads: an integer past 64 bits wrapped round (2^63
 * read as -2^63), a number past a double became infinity, written back as
 * "inf.0" (found by fuzz/fuzz-qmp).  Refused; the extremes that fit parse.
 */
static void
test_numbers(void)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"[9223372036854775808]", "an integer at offset 1 is too large for 64 bits"},
        {"[-9223372036854775809]", "an integer at offset 1 is too large for 64 bits"},
        {"18446744073709551617", "an integer at offset 0 is too large for 64 bits"},
        {"{\"a\": 1e400}", "a number at offset 6 is too large for a double"},
        {"[-1.0E309]", "a number at offset 1 is too large for a double"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *message =
            assert_refused(cases[i].text, -1, VMIG_JSON_ERROR_NUMBER);

        g_assert_cmpstr(message, ==, cases[i].message);
    }
    assert_parses("[9223372036854775807, -9223372036854775808]",
                  "[9223372036854775807,-9223372036854775808]");
    assert_parses("[1e-400, 1.5, -0]", "[0.0,1.5,0]");
    assert_parses("{\"n1e400\": 2}", "{\"n1e400\":2}");
}

/*
 * json-glib takes comments, 'single-quoted strings' and hexadecimal
 * numbers; a quote inside a comment made the prescan think a string began
 * where json-glib saw none, and the brackets after it went uncounted:
 * "[/\"/" and 200,000 '[' overflowed json-glib's stack (found by
 * fuzz/fuzz-qmp).  Outside strings only JSON's characters are taken.
 */
static void
test_characters(void)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"[/\"/[[]]]", "a '/' at offset 1: JSON has none outside strings"},
        {"[1 /* c */]", "a '/' at offset 3: JSON has none outside strings"},
        {"['a']", "a ''' at offset 1: JSON has none outside strings"},
        {"[0x10]", "a 'x' at offset 2: JSON has none outside strings"},
        {"{\"a\": #}", "a '#' at offset 6: JSON has none outside strings"},
        {"\xff", "a byte 0xff at offset 0: JSON has none outside strings"},
        {"[1,\x01]", "a byte 0x01 at offset 3: JSON has none outside strings"},
    };
    g_autoptr(GString) deep = g_string_new("[/\"/");

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *message =
            assert_refused(cases[i].text, -1, VMIG_JSON_ERROR_CHARACTER);

        g_assert_cmpstr(message, ==, cases[i].message);
    }
    for (guint i = 0; i < 200000; i++)
        g_string_append_c(deep, '[');
    g_free(assert_refused(deep->str, (gssize)deep->len, VMIG_JSON_ERROR_CHARACTER));
    assert_parses(" {\"a\" : [true, false, null, -1.5e3, 0.25]}\t",
                  "{\"a\":[true,false,null,-1500.0,0.25]}");
}

/* Nothing but white space, and nothing at all. */
static void
test_empty(void)
{
    g_autofree char *a = assert_refused("", -1, VMIG_JSON_ERROR_EMPTY);
    g_autofree char *b = assert_refused(" \t\r\n", -1, VMIG_JSON_ERROR_EMPTY);

    g_assert_cmpstr(a, ==, "no JSON value");
    g_assert_cmpstr(b, ==, "no JSON value");
}

/* What json-glib refuses keeps json-glib's own message. */
static void
test_syntax(void)
{
    static const char *const cases[] = {
        "{\"execute\": ", "]", "{\"a\" 1}", "[1,]", "[\"\xff\"]", "tru",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *message = assert_refused(cases[i], -1, VMIG_JSON_ERROR_SYNTAX);

        g_test_message("%s -> %s", cases[i], message);
        g_assert_cmpstr(message, !=, "");
    }
}

/*
 * json-glib's message quotes the token it stopped at as it decoded it: a
 * lone surrogate escape became bytes that are not UTF-8, in a message that
 * was not UTF-8 either (found by fuzz/fuzz-qmp).  Such escapes are now
 * refused before json-glib sees them; its messages are made valid UTF-8
 * all the same.
 */
static void
test_syntax_utf8(void)
{
    static const char *const cases[] = {
        "{\"re\\udc00tifd \"x\": 1}",
        "[\"\\ud800\" \"x\"]",
        "[\"\xc3\xa9\" \"x\"]",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = vmig_json_parse(cases[i], -1, &error);

        g_assert_null(node);
        g_assert_nonnull(error);
        g_test_message("%s -> %s", cases[i], error->message);
        g_assert_true(g_utf8_validate(error->message, -1, NULL));
    }
}

/* Only @len bytes are read: what follows them does not matter. */
static void
test_length(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = vmig_json_parse("[1]garbage", 3, &error);

    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
}

/*
 * json-glib writes U+001F raw, which strict readers refuse (found by
 * fuzz/fuzz-cli in the CLI's --json output); the writer escapes it, in
 * values and member names, and every other control character as
 * json-glib does.
 */
static void
test_write_controls(void)
{
    g_autoptr(JsonNode) node = vmig_json_parse(
        "{\"k\\u001f\": [\"a\\u001fb\", \"\\u001b\\u0001\\n\", \"\\u00e9\"]}", -1, NULL);
    g_autofree char *text = NULL;
    g_autofree char *pretty = NULL;
    g_autoptr(JsonNode) again = NULL;
    gsize len = 0;

    g_assert_nonnull(node);
    text = vmig_json_write(node, FALSE, &len);
    g_assert_cmpuint(len, ==, strlen(text));
    g_assert_cmpstr(text, ==,
                    "{\"k\\u001f\":[\"a\\u001fb\",\"\\u001b\\u0001\\n\",\"\xc3\xa9\"]}");
    again = vmig_json_parse(text, -1, NULL);
    g_assert_true(json_node_equal(node, again));

    pretty = vmig_json_write(again, TRUE, NULL);
    for (const char *p = pretty; *p; p++)
        g_assert_true((guchar)*p >= 0x20 || *p == '\n');
    g_assert_true(g_str_has_prefix(pretty, "{\n  \"k\\u001f\" : [\n    \"a\\u001fb\","));
}

/*
 * json-glib writes a double whose shortest form has an exponent but no '.'
 * as "1e+20.0", which no reader takes, json-glib included (found by
 * fuzz/fuzz-qmp's round trip); the writer drops the ".0", outside strings.
 */
static void
test_write_exponents(void)
{
    g_autoptr(JsonArray) array = json_array_new();
    g_autoptr(JsonNode) node = json_node_init_array(json_node_alloc(), array);
    g_autofree char *text = NULL;
    g_autofree char *pretty = NULL;
    g_autoptr(JsonNode) again = NULL;
    g_autoptr(JsonNode) again_pretty = NULL;

    json_array_add_double_element(array, 1e20);
    json_array_add_double_element(array, -1e21);
    json_array_add_double_element(array, 1.5e300);
    json_array_add_double_element(array, 1e16);
    json_array_add_double_element(array, 0.5);
    json_array_add_string_element(array, "1e+20.0");
    json_array_add_int_element(array, 7);
    json_array_add_boolean_element(array, TRUE);

    text = vmig_json_write(node, FALSE, NULL);
    g_assert_cmpstr(text, ==,
                    "[1e+20,-1e+21,1.5000000000000001e+300,10000000000000000.0,0.5,"
                    "\"1e+20.0\",7,true]");
    again = vmig_json_parse(text, -1, NULL);
    g_assert_nonnull(again);
    g_assert_true(json_node_equal(node, again));
    pretty = vmig_json_write(node, TRUE, NULL);
    again_pretty = vmig_json_parse(pretty, -1, NULL);
    g_assert_nonnull(again_pretty);
    g_assert_true(json_node_equal(node, again_pretty));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json/depth/limit", test_depth_limit);
    g_test_add_func("/json/depth/too-deep", test_too_deep);
    g_test_add_func("/json/strings", test_strings);
    g_test_add_func("/json/trailing", test_trailing);
    g_test_add_func("/json/nul", test_nul);
    g_test_add_func("/json/escapes", test_escapes);
    g_test_add_func("/json/numbers", test_numbers);
    g_test_add_func("/json/characters", test_characters);
    g_test_add_func("/json/empty", test_empty);
    g_test_add_func("/json/syntax", test_syntax);
    g_test_add_func("/json/syntax/utf8", test_syntax_utf8);
    g_test_add_func("/json/length", test_length);
    g_test_add_func("/json/write/controls", test_write_controls);
    g_test_add_func("/json/write/exponents", test_write_exponents);
    return g_test_run();
}
