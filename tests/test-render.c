/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-render.c: how the CLI prints migrations (tools/render.c)
 *
 * The render functions only format, so they are tested here on their own:
 * the negotiation record summary of tests/data/xml/record-*.json against
 * tests/data/cli/record-*.txt, the migration list against
 * tests/data/cli/migrations*.txt (VMIG_TEST_REGENERATE_OUTPUT=1 rewrites
 * them), jobinfo against tests/data/cli/jobinfo-running.txt, and the
 * event, NEGOTIATED and progress lines against literals.
 */
#include <config.h>

#include <string.h>

#include <json-glib/json-glib.h>

#include "tools/render.h"
#include "tests/testutil.h"
#include "xml/xml-private.h"
#include "xml/xml.h"

/* Returns: @text parsed as JSON (asserted to parse). */
static JsonNode *
parse_json(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonNode *node = json_from_string(text, &error);

    g_assert_no_error(error);
    g_assert_nonnull(node);
    return node;
}

/* Returns: tests/data/@dir/@name, parsed (asserted to be JSON). */
static JsonNode *
load_json(const char *dir, const char *name)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", dir, name, NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;

    g_file_get_contents(path, &text, NULL, &error);
    g_assert_no_error(error);
    return parse_json(text);
}

/* ---- features: the record summary ---------------------------------------- */

static const char *const record_cases[] = {"completed", "failed", "degraded",
                                           "transcript", "refused"};

/* record-NAME.json summarizes to tests/data/cli/record-NAME.txt. */
static void
test_record_summary(gconstpointer data)
{
    const char *name = data;
    g_autofree char *json_name = g_strdup_printf("record-%s.json", name);
    g_autofree char *txt_name = g_strdup_printf("record-%s.txt", name);
    g_autoptr(JsonNode) record = load_json("xml", json_name);
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    text = vmig_render_record_summary(json_node_get_object(record), &error);
    g_assert_no_error(error);
    g_assert_true(g_str_has_suffix(text, "\n"));
    vmig_test_assert_golden("cli", txt_name, text, -1);
}

/* The XML rendering is xml/record.c's document, ending with a newline. */
static void
test_record_xml(void)
{
    g_autoptr(JsonNode) record = load_json("xml", "record-completed.json");
    g_autofree char *path =
        g_test_build_filename(G_TEST_DIST, "data", "xml", "record-completed.xml", NULL);
    g_autofree char *expected = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = vmig_render_record_xml(json_node_get_object(record), &error);

    g_assert_no_error(error);
    g_file_get_contents(path, &expected, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, expected);
}

/* Control characters do not reach the terminal raw. */
static void
test_record_escaped(void)
{
    g_autoptr(JsonNode) record =
        parse_json("{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"failed\", "
                   "\"domain\": \"qmp:/x\", \"error\": \"\\u001b[2Jgone\"}");
    g_autoptr(GError) error = NULL;
    g_autofree char *text =
        vmig_render_record_summary(json_node_get_object(record), &error);

    g_assert_no_error(error);
    g_assert_null(strchr(text, '\033'));
    g_assert_nonnull(strstr(text, "Error:            \\033[2Jgone\n"));
}

typedef struct {
    const char *path;
    const char *json;
    const char *message;
} InvalidCase;

#define RECORD(...)                                                                      \
    "{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"completed\"" __VA_ARGS__ \
    "}"

static const InvalidCase record_invalid_cases[] = {
    {"no-migration", "{\"role\": \"source\", \"state\": \"failed\"}",
     "invalid negotiation record: the record has no 'migration'"},
    {"state-number", "{\"migration\": \"m1\", \"role\": \"source\", \"state\": 3}",
     "invalid negotiation record: the 'state' member of the record has the wrong type"},
    {"features-object", RECORD(", \"features\": {}"),
     "invalid negotiation record: the 'features' member of the record has the wrong "
     "type"},
    {"feature-string", RECORD(", \"features\": [\"multifd\"]"),
     "invalid negotiation record: chosen feature #1 is not an object"},
    {"channels-negative", RECORD(", \"channels\": {\"requested\": -1}"),
     "invalid negotiation record: the 'requested' member of 'channels' is negative"},
    {"tunables-array", RECORD(", \"tunables\": {\"source\": []}"),
     "invalid negotiation record: the 'source' member of 'tunables' has the wrong "
     "type"},
    {"transcript-array", RECORD(", \"transcript\": []"),
     "invalid negotiation record: the 'transcript' member of the record has the wrong "
     "type"},
    {"frame-no-type",
     RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"sent\", \"bytes\": 12, "
            "\"milliseconds\": 0}]}"),
     "invalid negotiation record: frame has no 'type'"},
    {"frame-item-null",
     RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"sent\", \"type\": "
            "\"REPLY\", \"bytes\": 12, \"milliseconds\": 0, \"items\": {\"token\": "
            "null}}]}"),
     "invalid negotiation record: transcript item 'token' is not a value, a list or an "
     "object"},
    {"stats-negative", RECORD(", \"stats\": {\"downtime\": -4}"),
     "invalid negotiation record: the 'downtime' member of 'stats' is negative"},
};

/*
 * A transcript over its cap (docs/limits.md: no real peer gets there) says
 * how many frames were not kept; an item the CLI does not know is still
 * shown, by its name.
 */
static void
test_record_transcript_dropped(void)
{
    g_autoptr(JsonNode) record = parse_json(
        RECORD(", \"transcript\": {\"frames\": [{\"direction\": \"received\", \"type\": "
               "\"ERROR\", \"bytes\": 40, \"milliseconds\": 7, \"items\": {\"code\": 1, "
               "\"message\": \"unexpected READY frame\", \"x-future\": [1, \"a\"]}}], "
               "\"heartbeats\": {\"sent\": 2, \"received\": 1, \"bytes-sent\": 24, "
               "\"bytes-received\": 12}, \"dropped\": 3, \"dropped-bytes\": 36}"));
    g_autoptr(GError) error = NULL;
    g_autofree char *text =
        vmig_render_record_summary(json_node_get_object(record), &error);

    g_assert_no_error(error);
    g_assert_nonnull(strstr(text,
                            "\n  7 ms     received  ERROR       40 bytes\n"
                            "           code:          1\n"
                            "           message:       unexpected READY frame\n"
                            "           x-future:      1, a\n"
                            "  Heartbeats:       2 sent (24 bytes), 1 received (12 "
                            "bytes), not listed\n"
                            "  Not kept:         3 more frames, not kept (the cap)\n"));
}

/* A record of the wrong form is refused with INVALID, naming the problem. */
static void
test_record_invalid(gconstpointer data)
{
    const InvalidCase *c = data;
    g_autoptr(JsonNode) record = parse_json(c->json);
    g_autoptr(GError) error = NULL;
    g_autofree char *text =
        vmig_render_record_summary(json_node_get_object(record), &error);

    g_assert_null(text);
    g_assert_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, c->message);
}

/* ---- list ------------------------------------------------------------------ */

static const char migrations_json[] =
    "[{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"completed\", "
    "\"domain\": \"qmp:/run/vm1.qmp\"}, "
    "{\"migration\": \"m2\", \"role\": \"source\", \"state\": \"migrating\", "
    "\"domain\": \"qmp:/run/vm2.qmp\"}, "
    "{\"migration\": \"m3\", \"role\": \"destination\", \"state\": \"failed\", "
    "\"domain\": \"qmp:/run/vm1-incoming.qmp\"}, "
    "{\"migration\": \"m10\", \"role\": \"destination\", \"state\": \"waiting\", "
    "\"domain\": \"qmp:/run/vm3-incoming.qmp\"}, "
    "{\"migration\": \"m11\", \"role\": \"source\", \"state\": \"cancelled\", "
    "\"domain\": \"qmp:/run/vm4.qmp\"}]";

/* Running ones by default, every one with --all; an empty list is a header. */
static void
test_migrations_table(void)
{
    g_autoptr(JsonNode) list = parse_json(migrations_json);
    g_autoptr(JsonNode) empty = parse_json("[]");
    g_autoptr(GError) error = NULL;
    g_autofree char *running = NULL;
    g_autofree char *all = NULL;
    g_autofree char *none = NULL;

    running = vmig_render_migrations_table(json_node_get_array(list), FALSE, &error);
    g_assert_no_error(error);
    vmig_test_assert_golden("cli", "migrations.txt", running, -1);
    all = vmig_render_migrations_table(json_node_get_array(list), TRUE, &error);
    g_assert_no_error(error);
    vmig_test_assert_golden("cli", "migrations-all.txt", all, -1);
    none = vmig_render_migrations_table(json_node_get_array(empty), TRUE, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(none, ==,
                    " ID   ROLE   STATE   DOMAIN\n----------------------------\n");
}

/* ---- the catalog ----------------------------------------------------------- */

/* Returns: TRUE when @text holds no control character but '\n'. */
static gboolean
text_is_clean(const char *text)
{
    for (const char *p = text; *p; p++) {
        if ((guchar)*p < 0x20 && *p != '\n')
            return FALSE;
    }
    return TRUE;
}

/*
 * The daemon's text reaches a terminal only with its control characters
 * escaped: a tunable name with "\r" rewrote the table's line (found by
 * fuzz/fuzz-cli), and --json printed U+001F raw, which is not JSON.
 */
static void
test_catalog_escaped(void)
{
    g_autoptr(JsonNode) catalog = parse_json(
        "{\"hypervisor\": \"QEMU\\u001b[2J\", \"tunables\": [{\"name\": \"a\\rb\", "
        "\"kind\": \"para\\u001fmeter\", \"type\": \"enum\", \"values\": [\"x\\ty\"], "
        "\"unit\": \"\\u0007\", \"settable\": true, \"negotiated\": true, "
        "\"feature\": \"f\\n\", \"current\": \"z\\u001f\"}]}");
    g_autoptr(GError) error = NULL;
    g_autofree char *table =
        vmig_render_catalog_table(json_node_get_object(catalog), &error);
    g_autofree char *json = vmig_render_json(catalog);

    g_assert_no_error(error);
    g_test_message("%s", table);
    g_assert_true(text_is_clean(table));
    g_assert_nonnull(strstr(table, "Hypervisor: QEMU\\033[2J\n"));
    g_assert_nonnull(strstr(table, "a\\rb  "));
    g_assert_nonnull(strstr(table, "para\\037meter"));
    g_assert_nonnull(strstr(table, "enum: x\\ty (\\007)"));
    g_assert_nonnull(strstr(table, "yes (f\\n)"));
    g_assert_true(text_is_clean(json));
    g_assert_nonnull(strstr(json, "\"z\\u001f\""));
}

/* A list of the wrong form is refused. */
static void
test_migrations_invalid(void)
{
    static const char *const cases[] = {
        "[3]",
        "[{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"waiting\"}]",
        "[{\"migration\": \"m1\", \"role\": \"source\", \"state\": 1, \"domain\": "
        "\"d\"}]",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) list = parse_json(cases[i]);
        g_autoptr(GError) error = NULL;
        g_autofree char *text =
            vmig_render_migrations_table(json_node_get_array(list), TRUE, &error);

        g_test_message("%s", cases[i]);
        g_assert_null(text);
        g_assert_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID);
    }
}

/* ---- events ---------------------------------------------------------------- */

/* One line per event: ISO 8601 UTC with microseconds, name, compact data. */
static void
test_event_line(void)
{
    static const struct {
        const char *event;
        const char *line; /* NULL: INVALID */
    } cases[] = {
        {"{\"event\": \"MIGRATION_DONE\", \"data\": {\"migration\": \"m1\", \"result\": "
         "\"completed\"}, \"timestamp\": {\"seconds\": 1714564800, \"microseconds\": 5}}",
         "2024-05-01T12:00:00.000005Z MIGRATION_DONE "
         "{\"migration\":\"m1\",\"result\":\"completed\"}\n"},
        {"{\"event\": \"X\", \"timestamp\": {\"seconds\": 0, \"microseconds\": 999999}}",
         "1970-01-01T00:00:00.999999Z X {}\n"},
        {"{\"event\": \"X\", \"data\": {}}", NULL},
        {"{\"event\": \"X\", \"timestamp\": {\"seconds\": 0, \"microseconds\": 1000000}}",
         NULL},
        {"{\"event\": \"X\", \"timestamp\": {\"seconds\": -1, \"microseconds\": 0}}",
         NULL},
        {"{\"event\": 1, \"timestamp\": {\"seconds\": 0, \"microseconds\": 0}}", NULL},
        {"{\"event\": \"X\", \"data\": [], \"timestamp\": {\"seconds\": 0, "
         "\"microseconds\": 0}}",
         NULL},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) event = parse_json(cases[i].event);
        g_autoptr(GError) error = NULL;
        g_autofree char *line =
            vmig_render_event_line(json_node_get_object(event), &error);

        g_test_message("%s", cases[i].event);
        if (cases[i].line) {
            g_assert_no_error(error);
            g_assert_cmpstr(line, ==, cases[i].line);
        } else {
            g_assert_null(line);
            g_assert_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID);
        }
    }
}

/* ---- migrate ----------------------------------------------------------------- */

/* The NEGOTIATED line. */
static void
test_negotiated(void)
{
    static const struct {
        const char *data;
        const char *line; /* NULL: INVALID */
    } cases[] = {
        {"{\"migration\": \"m1\", \"role\": \"source\", \"version\": 1, \"features\": "
         "[\"multifd\", \"return-path\"], \"channels\": 4, \"requested-channels\": 4}",
         "Negotiated: protocol 1, features multifd (4 channels), return-path\n"},
        {"{\"version\": 1, \"features\": [\"return-path\", \"multifd\"], \"channels\": "
         "2, "
         "\"requested-channels\": 4}",
         "Negotiated: protocol 1, features return-path, multifd (2 of 4 channels)\n"},
        {"{\"version\": 1, \"features\": [\"multifd\"], \"channels\": 1}",
         "Negotiated: protocol 1, features multifd (1 channel)\n"},
        {"{\"version\": 2, \"features\": [], \"channels\": 0}",
         "Negotiated: protocol 2, no features\n"},
        /* 0x80000001: an experimental version, in hex with a word saying so. */
        {"{\"version\": 2147483649, \"features\": [], \"channels\": 0}",
         "Negotiated: protocol 0x80000001 (experimental), no features\n"},
        {"{\"version\": 1, \"features\": [\"return-path\"], \"channels\": 3}",
         "Negotiated: protocol 1, features return-path; 3 channels\n"},
        {"{\"features\": []}", NULL},
        {"{\"version\": 1, \"features\": [1]}", NULL},
        {"{\"version\": 1, \"features\": [], \"channels\": \"4\"}", NULL},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) data = parse_json(cases[i].data);
        g_autoptr(GError) error = NULL;
        g_autofree char *line =
            vmig_render_negotiated(json_node_get_object(data), &error);

        g_test_message("%s", cases[i].data);
        if (cases[i].line) {
            g_assert_no_error(error);
            g_assert_cmpstr(line, ==, cases[i].line);
        } else {
            g_assert_null(line);
            g_assert_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID);
        }
    }
}

/* The progress: from transferred and remaining, else from total; rounded down. */
static void
test_progress(void)
{
    static const struct {
        const char *data;
        int percent;
    } cases[] = {
        {"{\"transferred\": 42, \"remaining\": 58}", 42},
        {"{\"transferred\": 999, \"remaining\": 1}", 99},
        {"{\"transferred\": 1000, \"remaining\": 0}", 100},
        {"{\"transferred\": 0, \"remaining\": 0}", -1},
        {"{\"total\": 200, \"remaining\": 50}", 75},
        {"{\"total\": 200, \"transferred\": 50}", 25},
        {"{\"total\": 200, \"remaining\": 500}", 0},
        {"{\"transferred\": 50, \"remaining\": 150, \"total\": 1000}", 25},
        {"{\"status\": \"setup\"}", -1},
        {"{\"transferred\": \"42\", \"remaining\": 58}", -1},
        {"{\"transferred\": -5, \"remaining\": 5, \"total\": 10}", 50},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) data = parse_json(cases[i].data);

        g_test_message("%s", cases[i].data);
        g_assert_cmpint(vmig_render_progress_percent(json_node_get_object(data)), ==,
                        cases[i].percent);
    }
    for (int p = -1; p <= 101; p += 17) {
        g_autofree char *line = vmig_render_progress(p);
        g_autofree char *expected =
            g_strdup_printf("\rMigration: [%3d %%]", CLAMP(p, 0, 100));

        g_assert_cmpstr(line, ==, expected);
    }
    {
        g_autofree char *line = vmig_render_progress(42);

        g_assert_cmpstr(line, ==, "\rMigration: [ 42 %]");
    }
}

/* ---- jobinfo and domains ----------------------------------------------------- */

/*
 * A running source's job, with the figures of its last progress reading,
 * in virsh domjobinfo's words (tests/data/cli/jobinfo-running.txt); a
 * finished destination's has no figures and its result as job type.
 */
static void
test_jobinfo(void)
{
    g_autoptr(JsonNode) running = parse_json(
        "{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"migrating\", "
        "\"domain\": \"libvirt:qemu:///system#vm1\", \"mode\": \"uri\", "
        "\"progress\": {\"status\": \"active\", \"transferred\": 37756928, "
        "\"remaining\": 1024, \"total\": 1073741824, \"throughput\": 16777216, "
        "\"expected-downtime\": 300, \"milliseconds\": 1204}}");
    g_autoptr(JsonNode) done = parse_json(
        "{\"migration\": \"m2\", \"role\": \"destination\", \"state\": \"failed\", "
        "\"domain\": \"qmp:/run/vm2.qmp\", \"result\": \"failed\", "
        "\"error\": \"the source's QEMU failed\"}");
    g_autoptr(JsonNode) bad = parse_json(
        "{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"migrating\", "
        "\"progress\": {\"transferred\": -1}}");
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *finished = NULL;
    g_autofree char *invalid = NULL;

    text = vmig_render_jobinfo(json_node_get_object(running), &error);
    g_assert_no_error(error);
    vmig_test_assert_golden("cli", "jobinfo-running.txt", text, -1);
    finished = vmig_render_jobinfo(json_node_get_object(done), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(finished, ==,
                    "Migration:         m2\n"
                    "Domain:            qmp:/run/vm2.qmp\n"
                    "Job type:          Failed\n"
                    "Operation:         Incoming migration\n"
                    "State:             failed\n"
                    "Error:             the source's QEMU failed\n");
    invalid = vmig_render_jobinfo(json_node_get_object(bad), &error);
    g_assert_null(invalid);
    g_assert_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "'transferred'"));
}

/* A libvirt domain is shown by its name, as the user gave it with -c. */
static void
test_domain(void)
{
    static const struct {
        const char *wire;
        const char *shown;
    } cases[] = {
        {"libvirt:qemu:///system#vm1", "vm1"},
        {"libvirt:qemu+ssh://h/system?x=1#6ba7b810-9dad-11d1-80b4-00c04fd430c8",
         "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
        {"qmp:/run/vm1.qmp", "qmp:/run/vm1.qmp"},
        {"libvirt:qemu:///system#", "libvirt:qemu:///system#"},
    };
    g_autoptr(JsonNode) list = parse_json(
        "[{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"migrating\", "
        "\"domain\": \"libvirt:qemu:///system#vm1\"}, "
        "{\"migration\": \"m5\", \"role\": \"source\", \"state\": \"refused\", "
        "\"domain\": \"qmp:/run/vm5.qmp\", \"result\": \"refused\", "
        "\"error\": \"unknown tunable 'max-bandwith'\"}]");
    g_autoptr(GError) error = NULL;
    g_autofree char *table = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *shown = vmig_render_domain(cases[i].wire);

        g_assert_cmpstr(shown, ==, cases[i].shown);
    }
    table = vmig_render_migrations_table(json_node_get_array(list), FALSE, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(table, ==,
                    " ID   ROLE     STATE       DOMAIN\n"
                    "----------------------------------\n"
                    " m1   source   migrating   vm1\n");
}

/* ---- list --json and --xml ------------------------------------------------- */

/* Returns: data/migrations.rng's path (to free). */
static char *
migrations_rng_path(void)
{
    return g_test_build_filename(G_TEST_DIST, "..", "data", "migrations.rng", NULL);
}

/*
 * --json: the daemon's objects, filtered as the table is; --xml: the
 * document of data/migrations.rng, which it validates against, a libvirt
 * domain by its name with its connection in "uri".
 */
static void
test_migrations_json_xml(void)
{
    g_autoptr(JsonNode) list = parse_json(migrations_json);
    g_autoptr(JsonNode) libvirt = parse_json(
        "[{\"migration\": \"m4\", \"role\": \"source\", \"state\": \"migrating\", "
        "\"domain\": \"libvirt:qemu:///system#vm1\"}, "
        "{\"migration\": \"m5\", \"role\": \"source\", \"state\": \"refused\", "
        "\"domain\": \"qmp:/run/vm5.qmp\", \"result\": \"refused\", "
        "\"error\": \"unknown tunable 'max-bandwith'\"}]");
    g_autoptr(GError) error = NULL;
    g_autofree char *running = NULL;
    g_autofree char *all = NULL;
    g_autofree char *xml_running = NULL;
    g_autofree char *xml_all = NULL;
    g_autofree char *xml_libvirt = NULL;
    g_autofree char *rng = migrations_rng_path();
    g_autoptr(JsonNode) parsed = NULL;
    const char *const *texts[] = {(const char *const *)&xml_running,
                                  (const char *const *)&xml_all,
                                  (const char *const *)&xml_libvirt};

    running = vmig_render_migrations_json(json_node_get_array(list), FALSE, &error);
    g_assert_no_error(error);
    parsed = parse_json(running);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(parsed)), ==, 2);
    g_assert_cmpstr(
        json_object_get_string_member(
            json_array_get_object_element(json_node_get_array(parsed), 1), "migration"),
        ==, "m10");
    all = vmig_render_migrations_json(json_node_get_array(list), TRUE, &error);
    g_assert_no_error(error);
    g_clear_pointer(&parsed, json_node_unref);
    parsed = parse_json(all);
    g_assert_true(json_node_equal(parsed, list));

    xml_running = vmig_render_migrations_xml(json_node_get_array(list), FALSE, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(xml_running, ==,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<migrations>\n"
                    "  <migration id=\"m2\" role=\"source\" state=\"migrating\">\n"
                    "    <domain>qmp:/run/vm2.qmp</domain>\n"
                    "  </migration>\n"
                    "  <migration id=\"m10\" role=\"destination\" state=\"waiting\">\n"
                    "    <domain>qmp:/run/vm3-incoming.qmp</domain>\n"
                    "  </migration>\n"
                    "</migrations>\n");
    xml_all = vmig_render_migrations_xml(json_node_get_array(list), TRUE, &error);
    g_assert_no_error(error);
    xml_libvirt = vmig_render_migrations_xml(json_node_get_array(libvirt), TRUE, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(xml_libvirt, "<domain uri=\"qemu:///system\">vm1</domain>"));
    g_assert_nonnull(strstr(xml_libvirt,
                            "state=\"refused\">\n"
                            "    <domain>qmp:/run/vm5.qmp</domain>\n"
                            "    <error>unknown tunable 'max-bandwith'</error>"));
    for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autoptr(xmlDoc) doc =
            vmig_xml_parse(*texts[i], strlen(*texts[i]), "list", &error);

        g_assert_no_error(error);
        g_assert_true(vmig_xml_validate(doc, rng, &error));
        g_assert_no_error(error);
    }
}

/* What data/migrations.rng refuses, and what --xml cannot write. */
static void
test_migrations_xml_invalid(void)
{
    static const char *const documents[] = {
        "<migrations><migration id=\"m1\" role=\"source\" state=\"bogus\">"
        "<domain>qmp:/x</domain></migration></migrations>",
        "<migrations><migration id=\"m1\" role=\"sideways\" state=\"waiting\">"
        "<domain>qmp:/x</domain></migration></migrations>",
        "<migrations><migration id=\"m1\" role=\"source\" state=\"waiting\"/>"
        "</migrations>",
        "<migration id=\"m1\" role=\"source\" state=\"waiting\">"
        "<domain>qmp:/x</domain></migration>",
    };
    g_autofree char *rng = migrations_rng_path();
    g_autoptr(JsonNode) control = parse_json(
        "[{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"waiting\", "
        "\"domain\": \"qmp:/x\\u0001\"}]");
    g_autoptr(JsonNode) no_domain = parse_json(
        "[{\"migration\": \"m1\", \"role\": \"source\", \"state\": \"waiting\"}]");
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(documents); i++) {
        g_autoptr(xmlDoc) doc =
            vmig_xml_parse(documents[i], strlen(documents[i]), "list", &error);

        g_assert_no_error(error);
        g_assert_false(vmig_xml_validate(doc, rng, &error));
        g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA);
        g_clear_error(&error);
    }
    text = vmig_render_migrations_xml(json_node_get_array(control), TRUE, &error);
    g_assert_null(text);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "migration list: migration #1: 'domain' holds U+0001, which XML "
                    "cannot represent");
    g_clear_error(&error);
    text = vmig_render_migrations_xml(json_node_get_array(no_domain), TRUE, &error);
    g_assert_null(text);
    g_assert_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "migration #1 has no 'domain'"));
}

/* ---- the daemon's messages in the user's words -------------------------------- */

/*
 * A control argument is named by the option that sets it, a libvirt
 * domain as the user wrote it; what is not an argument's name stays.
 */
static void
test_user_words(void)
{
    static const struct {
        const char *message;
        const char *shown;
    } cases[] = {
        {"no-features: unknown feature 'multfd'; did you mean 'multifd'?",
         "--no-feature: unknown feature 'multfd'; did you mean 'multifd'?"},
        {"Parameter 'require-features' expects an array",
         "option --require-feature expects an array"},
        {"Parameter 'max-channels' is unexpected", "option --max-channels is unexpected"},
        {"Parameter 'channels' expects an integer",
         "option --channels expects an integer"},
        {"Parameter 'domain' is missing", "Parameter 'domain' is missing"},
        {"domain-xml of 'vm1' names no emulator (devices/emulator)",
         "--xml of 'vm1' names no emulator (devices/emulator)"},
        {"domain-xml: line 3: not well-formed", "--xml: line 3: not well-formed"},
        {"channels must be 0 to 255, not 300", "--channels must be 0 to 255, not 300"},
        {"channels-to-be", "channels-to-be"},
        /* words that are also argument names, but not used as them */
        {"no extra channels asked for (--channels); 2 of 4 channels supplied",
         "no extra channels asked for (--channels); 2 of 4 channels supplied"},
        {"cannot read the tunables of domain 'libvirt:qemu:///system#vm1': gone",
         "cannot read the tunables of domain 'vm1': gone"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *shown =
            vmig_render_user_words(cases[i].message, "libvirt:qemu:///system#vm1", "vm1");

        g_assert_cmpstr(shown, ==, cases[i].shown);
    }
    {
        g_autofree char *same =
            vmig_render_user_words("domain 'qmp:/run/vm1.qmp' is gone", NULL, NULL);

        g_assert_cmpstr(same, ==, "domain 'qmp:/run/vm1.qmp' is gone");
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(record_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/render/record/summary/%s", record_cases[i]);

        g_test_add_data_func(path, record_cases[i], test_record_summary);
    }
    g_test_add_func("/render/record/xml", test_record_xml);
    g_test_add_func("/render/record/escaped", test_record_escaped);
    g_test_add_func("/render/record/transcript-dropped", test_record_transcript_dropped);
    for (gsize i = 0; i < G_N_ELEMENTS(record_invalid_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/render/record/invalid/%s", record_invalid_cases[i].path);

        g_test_add_data_func(path, &record_invalid_cases[i], test_record_invalid);
    }
    g_test_add_func("/render/catalog/escaped", test_catalog_escaped);
    g_test_add_func("/render/migrations/table", test_migrations_table);
    g_test_add_func("/render/migrations/invalid", test_migrations_invalid);
    g_test_add_func("/render/event/line", test_event_line);
    g_test_add_func("/render/migrate/negotiated", test_negotiated);
    g_test_add_func("/render/migrate/progress", test_progress);
    g_test_add_func("/render/jobinfo", test_jobinfo);
    g_test_add_func("/render/migrations/json-xml", test_migrations_json_xml);
    g_test_add_func("/render/migrations/xml-invalid", test_migrations_xml_invalid);
    g_test_add_func("/render/domain", test_domain);
    g_test_add_func("/render/user-words", test_user_words);
    return g_test_run();
}
