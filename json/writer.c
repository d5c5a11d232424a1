/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer.c: JSON text for readers outside the process (the contract is
 * writer.h)
 */
#include <config.h>

#include "json/writer.h"

#include <string.h>

/* The one control character json-glib 1.6 leaves unescaped. */
#define VMIG_JSON_UNESCAPED '\x1f'

/*
 * Copies the number exponent that starts at @text[@i] ('e' or 'E' after a
 * digit) to @out, without the ".0" json-glib 1.6 appends to a double
 * written without a '.' ("1e+20.0").
 * Returns: the offset just past what was read.
 */
static gsize
vmig_json_copy_exponent(GString *out, const char *text, gsize len, gsize i)
{
    gsize end = i + 1;

    if (end < len && (text[end] == '+' || text[end] == '-'))
        end++;
    while (end < len && g_ascii_isdigit(text[end]))
        end++;
    g_string_append_len(out, text + i, (gssize)(end - i));
    if (end + 1 < len && text[end] == '.' && text[end + 1] == '0' &&
        (end + 2 == len || !g_ascii_isdigit(text[end + 2])))
        end += 2;
    return end;
}

char *
vmig_json_write(JsonNode *node, gboolean pretty, gsize *length)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;
    gboolean in_string = FALSE;
    gboolean escaped = FALSE;
    GString *out;
    gsize len = 0;
    gsize i = 0;

    g_return_val_if_fail(node != NULL, NULL);

    json_generator_set_pretty(gen, pretty);
    json_generator_set_indent(gen, 2);
    json_generator_set_indent_char(gen, ' ');
    json_generator_set_root(gen, node);
    text = json_generator_to_data(gen, &len);

    /*
     * Two things json-glib writes are not JSON: U+001F raw in a string,
     * and a double with an exponent but no '.' ("1e+20.0").  One pass
     * that knows where strings are mends both.
     */
    out = g_string_sized_new(len + 8);
    while (i < len) {
        char c = text[i];

        if (in_string) {
            if (escaped)
                escaped = FALSE;
            else if (c == '\\')
                escaped = TRUE;
            else if (c == '"')
                in_string = FALSE;
            if (c == VMIG_JSON_UNESCAPED)
                g_string_append(out, "\\u001f");
            else
                g_string_append_c(out, c);
            i++;
        } else if ((c == 'e' || c == 'E') && i > 0 && g_ascii_isdigit(text[i - 1])) {
            i = vmig_json_copy_exponent(out, text, len, i);
        } else {
            in_string = c == '"';
            g_string_append_c(out, c);
            i++;
        }
    }
    if (length)
        *length = out->len;
    return g_string_free(out, FALSE);
}
