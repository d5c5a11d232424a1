/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * frame-dump.c: an annotated hex dump of handshake frames
 *
 *   tests/frame-dump FILE...
 *
 * Prints each frame's header and items, nested items indented, with the
 * bytes on the left and what they mean on the right; then the decoder's
 * verdict.  docs/protocol.md's dumps are made with it, and it reads any
 * capture of a main channel (strip the 4-byte "VMGM" opener first).
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "negotiate/negotiate-private.h"

#define HEX_WIDTH 16

static guint32
rd(const guint8 *p, int n)
{
    guint32 v = 0;

    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Prints @len bytes at @p, HEX_WIDTH a line, the first line annotated with @note. */
static void
hex_line(int indent, const guint8 *p, gsize len, const char *note)
{
    gsize off = 0;

    do {
        GString *line = g_string_new(NULL);
        gsize n = MIN(HEX_WIDTH, len - off);

        g_string_append_printf(line, "%*s", indent * 2, "");
        for (gsize i = 0; i < n; i++)
            g_string_append_printf(line, "%02x ", p[off + i]);
        g_strchomp(line->str);
        if (off == 0 && note)
            printf("%-58s %s\n", line->str, note);
        else
            printf("%s\n", line->str);
        g_string_free(line, TRUE);
        off += n;
    } while (off < len);
}

/* Returns: a short description of a value (new string). */
static char *
describe_value(guint16 tag, const guint8 *v, guint32 len)
{
    switch (tag) {
    case VMIG_NEGOTIATE_TAG_VERSION:
    case VMIG_NEGOTIATE_TAG_CODE:
        if (len == 4)
            return g_strdup_printf("= %u", rd(v, 4));
        break;
    case VMIG_NEGOTIATE_TAG_MAX_CHANNELS:
    case VMIG_NEGOTIATE_TAG_CHANNELS:
        if (len == 2)
            return g_strdup_printf("= %u", rd(v, 2));
        break;
    case VMIG_NEGOTIATE_TAG_TOKEN:
        return g_strdup("= 16 random bytes");
    case VMIG_NEGOTIATE_TAG_ALGORITHMS: {
        GString *out = g_string_new("= count ");
        gsize pos = 2;

        if (len < 2)
            break;
        g_string_append_printf(out, "%u:", rd(v, 2));
        while (pos < len && pos + 1 + v[pos] <= len) {
            g_string_append_printf(out, " [%u]\"%.*s\"", v[pos], v[pos], v + pos + 1);
            pos += 1 + v[pos];
        }
        return g_string_free(out, FALSE);
    }
    case VMIG_NEGOTIATE_TAG_REQUIRED:
        return g_strdup("(flag: no value)");
    default:
        break;
    }
    if (len > 0 && g_utf8_validate_len((const char *)v, len, NULL))
        return g_strdup_printf("= \"%.*s\"", (int)len, v);
    return g_strdup("");
}

static void
dump_items(int indent, const guint8 *p, gsize len)
{
    gsize off = 0;

    while (off + VMIG_NEGOTIATE_ITEM_HEADER_SIZE <= len) {
        guint16 tag = rd(p + off, 2);
        guint16 flags = rd(p + off + 2, 2);
        guint32 item_len = rd(p + off + 4, 4);
        const char *name = vmig_negotiate_tag_to_string(tag);
        const guint8 *value = p + off + VMIG_NEGOTIATE_ITEM_HEADER_SIZE;
        g_autofree char *note = g_strdup_printf(
            "%s (tag %u)%s, %u bytes", name ? name : "unknown", tag,
            (flags & VMIG_NEGOTIATE_ITEM_MUST_UNDERSTAND) ? ", MUST_UNDERSTAND" : "",
            item_len);

        hex_line(indent, p + off, VMIG_NEGOTIATE_ITEM_HEADER_SIZE, note);
        if (item_len > len - off - VMIG_NEGOTIATE_ITEM_HEADER_SIZE) {
            printf("%*s!! item overruns its container\n", indent * 2, "");
            return;
        }
        if (vmig_negotiate_tag_is_nested(tag)) {
            dump_items(indent + 1, value, item_len);
        } else if (item_len > 0) {
            g_autofree char *what = describe_value(tag, value, item_len);

            hex_line(indent + 1, value, item_len, what);
        }
        off += VMIG_NEGOTIATE_ITEM_HEADER_SIZE + item_len;
    }
    if (off != len)
        printf("%*s!! %zu stray bytes\n", indent * 2, "", len - off);
}

/* Dumps the frames in @data; returns: TRUE when every one decoded. */
static gboolean
dump_frames(const guint8 *data, gsize len)
{
    gsize off = 0;
    gboolean ok = TRUE;

    while (off < len) {
        gsize rest = len - off;
        guint32 body;
        const char *type;
        g_autofree char *note = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(VmigNegotiateMessage) msg = NULL;

        if (rest < VMIG_NEGOTIATE_HEADER_SIZE) {
            hex_line(0, data + off, rest, "!! short header");
            return FALSE;
        }
        body = rd(data + off + 8, 4);
        type = vmig_negotiate_frame_type_to_string(rd(data + off + 4, 2));
        hex_line(0, data + off, 4, "magic \"VMGR\"");
        note = g_strdup_printf("type %u (%s)", rd(data + off + 4, 2),
                               type ? type : "unknown");
        hex_line(0, data + off + 4, 2, note);
        hex_line(0, data + off + 6, 2, "flags");
        g_free(g_steal_pointer(&note));
        note = g_strdup_printf("body length %u", body);
        hex_line(0, data + off + 8, 4, note);
        dump_items(1, data + off + VMIG_NEGOTIATE_HEADER_SIZE,
                   MIN(body, rest - VMIG_NEGOTIATE_HEADER_SIZE));

        msg = vmig_negotiate_decode(data + off,
                                    MIN(rest, VMIG_NEGOTIATE_HEADER_SIZE + body), &error);
        if (msg) {
            g_autofree char *dump = vmig_negotiate_message_to_string(msg);

            printf("=> %u bytes, decodes as:\n", VMIG_NEGOTIATE_HEADER_SIZE + body);
            fputs(dump, stdout);
        } else {
            printf("=> refused: %s\n", error->message);
            ok = FALSE;
        }
        if (body > rest - VMIG_NEGOTIATE_HEADER_SIZE)
            return FALSE;
        off += VMIG_NEGOTIATE_HEADER_SIZE + body;
        printf("\n");
    }
    return ok;
}

int
main(int argc, char **argv)
{
    int status = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FRAME-FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        g_autofree char *data = NULL;
        g_autoptr(GError) error = NULL;
        gsize len;

        if (!g_file_get_contents(argv[i], &data, &len, &error)) {
            fprintf(stderr, "%s\n", error->message);
            status = 1;
            continue;
        }
        if (!dump_frames((const guint8 *)data, len))
            status = 1;
    }
    return status;
}
