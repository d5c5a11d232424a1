/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-cli.c: libFuzzer target for the command line's reader of daemon
 * lines (tools/client.c, vmig_client_parse_line()) and for its renderers
 * of what the daemon sends (tools/render.c)
 *
 * The input is one line from the daemon.  Once it reads as a JSON object,
 * it goes where virt-migrate would send it: an event to the event line,
 * its data to the NEGOTIATED and progress renderers; a "return" value
 * that is an object to the catalog and record renderers (table, summary,
 * XML, JSON), one that is an array to the migrations table, a scalar to
 * the cell renderer.  Every renderer also gets the line's own object, so
 * that what is not a record, a catalog or an event is refused cleanly too.
 *
 * Invariants (abort() on violation): a refused line is a PROTOCOL error;
 * a renderer returns text or sets an error of its own domain, never both
 * or neither; text that promises a final newline has one; and no text
 * carries a control character other than a newline or a tab (a hostile or
 * broken daemon must not be able to write terminal escapes), except the
 * carriage return that starts the progress line.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/client.h"
#include "tools/render.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts when @text holds a control character but '\n' and '\t'. */
static void
check_text(const char *text)
{
    for (const char *p = text; *p; p++) {
        if ((guchar)*p < 0x20 && *p != '\n' && *p != '\t')
            abort();
    }
}

/*
 * Aborts unless exactly one of @text and @error is set, @error in the
 * render (or, for XML documents, the xml) domain, and @text is clean
 * and, with @newline, ends with one.  Frees both.
 */
static void
check_rendered(char *text, GError *error, gboolean newline)
{
    if (!text == !error)
        abort();
    if (error) {
        if (error->domain != VMIG_RENDER_ERROR && error->domain != VMIG_XML_ERROR)
            abort();
        g_error_free(error);
        return;
    }
    check_text(text);
    if (newline && !g_str_has_suffix(text, "\n"))
        abort();
    g_free(text);
}

/* Renders @object as each kind of document the CLI prints. */
static void
render_object(JsonObject *object)
{
    GError *error = NULL;
    char *text;

    text = vmig_render_catalog_table(object, &error);
    check_rendered(text, error, TRUE);
    error = NULL;
    text = vmig_render_catalog_xml(object, &error);
    check_rendered(text, error, TRUE);
    error = NULL;
    text = vmig_render_record_summary(object, &error);
    check_rendered(text, error, TRUE);
    error = NULL;
    text = vmig_render_record_xml(object, &error);
    check_rendered(text, error, TRUE);
    error = NULL;
    text = vmig_render_event_line(object, &error);
    check_rendered(text, error, TRUE);
    error = NULL;
    text = vmig_render_negotiated(object, &error);
    check_rendered(text, error, TRUE);
}

/* Renders what `migrate` does with a MIGRATION_PROGRESS event's @data.
 */
static void
render_progress(JsonObject *data)
{
    g_autofree char *line = NULL;
    int percent = vmig_render_progress_percent(data);

    if (percent < -1 || percent > 100)
        abort();
    if (percent < 0)
        return;
    line = vmig_render_progress(percent);
    if (line[0] != '\r')
        abort();
    check_text(line + 1);
}

/* Renders @node, a "return" value, the way its command's caller would. */
static void
render_return(JsonNode *node)
{
    GError *error = NULL;
    char *text;

    text = vmig_render_json(node);
    check_rendered(text, NULL, TRUE);
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        render_object(json_node_get_object(node));
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        for (int all = 0; all < 2; all++) {
            error = NULL;
            text = vmig_render_migrations_table(json_node_get_array(node), all, &error);
            check_rendered(text, error, TRUE);
        }
    } else {
        text = vmig_render_value(node);
        check_rendered(text, NULL, FALSE);
    }
}

/* Feed @data to the line reader and renderers.  Returns 0 (libFuzzer's convention). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) object = NULL;
    JsonNode *node;

    object = vmig_client_parse_line("/fuzz/virt-migrated.sock", (const char *)data, size,
                                    &error);
    if (!object) {
        if (!error || error->domain != VMIG_CLIENT_ERROR ||
            error->code != VMIG_CLIENT_ERROR_PROTOCOL)
            abort();
        return 0;
    }
    if (error)
        abort();

    render_object(object);
    node = json_object_get_member(object, "data");
    if (node && JSON_NODE_HOLDS_OBJECT(node)) {
        render_object(json_node_get_object(node));
        render_progress(json_node_get_object(node));
    }
    node = json_object_get_member(object, "return");
    if (node)
        render_return(node);
    return 0;
}
