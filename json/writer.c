/*
 * writer.c: JSON text for readers outside the process (the contract is
 * writer.h)
 */
#include <config.h>

#include "json/writer.h"

#include <string.h>

/* The one control character json-glib 1.6 leaves unescaped. */
#define VMIG_JSON_UNESCAPED '\x1f'

char *
vmig_json_write(JsonNode *node, gboolean pretty, gsize *length)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;
    GString *out;
    gsize len = 0;

    g_return_val_if_fail(node != NULL, NULL);

    json_generator_set_pretty(gen, pretty);
    json_generator_set_indent(gen, 2);
    json_generator_set_indent_char(gen, ' ');
    json_generator_set_root(gen, node);
    text = json_generator_to_data(gen, &len);

    /* Outside strings json-glib writes no control character but the
     * newline of pretty output, and no byte of a UTF-8 sequence is below
     * 0x80: every 0x1f byte is a U+001F in a string. */
    if (!memchr(text, VMIG_JSON_UNESCAPED, len)) {
        if (length)
            *length = len;
        return g_steal_pointer(&text);
    }
    out = g_string_sized_new(len + 8);
    for (gsize i = 0; i < len; i++) {
        if (text[i] == VMIG_JSON_UNESCAPED)
            g_string_append(out, "\\u001f");
        else
            g_string_append_c(out, text[i]);
    }
    if (length)
        *length = out->len;
    return g_string_free(out, FALSE);
}
