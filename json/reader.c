/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reader.c: bounded JSON reading (the contract is reader.h)
 */
#include <config.h>

#include "json/reader.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* clang-format off */
G_DEFINE_QUARK(vmig-json-error-quark, vmig_json_error)
/* clang-format on */

G_STATIC_ASSERT(VMIG_JSON_MAX_DEPTH == 1024); /* spelled out in an error message */

/*
 * Reads the four hexadecimal digits of a \u escape at @text[@i] (of @len).
 * Returns: the code unit, or -1 when they are not there (json-glib says
 * what is wrong).
 */
static gint
vmig_json_escape_unit(const char *text, gsize len, gsize i)
{
    gint unit = 0;

    if (len < 4 || i > len - 4)
        return -1;
    for (gsize j = i; j < i + 4; j++) {
        gint digit = g_ascii_xdigit_value(text[j]);

        if (digit < 0)
            return -1;
        unit = unit * 16 + digit;
    }
    return unit;
}

/*
 * Checks the escape whose backslash is at @text[@i - 1]: one of JSON's,
 * four hexadecimal digits after 'u', not U+0000, and a surrogate only as
 * half of a pair (*@low_at remembers where the 'u' of the second half is).
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_json_check_escape(const char *text, gsize len, gsize i, gsize *low_at,
                       GError **error)
{
    gint unit;

    if (strchr("\"\\/bfnrt", text[i]) && text[i] != '\0')
        return TRUE;
    if (text[i] != 'u') {
        g_set_error(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_ESCAPE,
                    "an escape at offset %" G_GSIZE_FORMAT " that JSON does not have",
                    i - 1);
        return FALSE;
    }
    unit = vmig_json_escape_unit(text, len, i + 1);
    if (unit < 0) {
        g_set_error(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_ESCAPE,
                    "a \\u escape at offset %" G_GSIZE_FORMAT
                    " without four hexadecimal digits",
                    i - 1);
        return FALSE;
    }
    if (unit == 0) {
        g_set_error(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_NUL,
                    "a \\u0000 escape at offset %" G_GSIZE_FORMAT, i - 1);
        return FALSE;
    }
    if (unit >= 0xd800 && unit <= 0xdbff &&
        vmig_json_escape_unit(text, len, i + 7) >= 0xdc00 &&
        vmig_json_escape_unit(text, len, i + 7) <= 0xdfff && text[i + 5] == '\\' &&
        text[i + 6] == 'u') {
        *low_at = i + 6;
    } else if (unit >= 0xd800 && unit <= 0xdfff && i != *low_at) {
        g_set_error(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_ESCAPE,
                    "a \\u%04x escape at offset %" G_GSIZE_FORMAT
                    " is half a surrogate pair",
                    (guint)unit, i - 1);
        return FALSE;
    }
    return TRUE;
}

/*
 * Checks the number that starts at @text[@i], a '-', '.' or digit: json-glib
 * wraps an integer past 64 bits round (2^63 reads as -2^63, 2^64 + 1 as 1)
 * and reads a number past the range of a double as infinity, which it
 * then writes as "inf.0", which is not JSON.  What is not a well-formed
 * number is left for json-glib to name.
 * Returns: the offset just past the number, or 0 with @error set.
 */
static gsize
vmig_json_check_number(const char *text, gsize len, gsize i, GError **error)
{
    g_autofree char *number = NULL;
    gboolean integer = TRUE;
    gboolean too_large;
    gsize end;

    for (end = i; end < len; end++) {
        char c = text[end];

        if (c == '.' || c == 'e' || c == 'E')
            integer = FALSE;
        else if (!g_ascii_isdigit(c) && c != '-' && c != '+')
            break;
    }
    number = g_strndup(text + i, end - i);
    errno = 0;
    if (integer) {
        g_ascii_strtoll(number, NULL, 10);
        too_large = errno == ERANGE;
    } else {
        too_large = isinf(g_ascii_strtod(number, NULL));
    }
    if (too_large) {
        g_set_error(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_NUMBER,
                    "%s at offset %" G_GSIZE_FORMAT " is too large%s",
                    integer ? "an integer" : "a number", i,
                    integer ? " for 64 bits" : " for a double");
        return 0;
    }
    return end;
}

/* Returns: TRUE for JSON's four white-space bytes. */
static gboolean
vmig_json_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Returns: TRUE for what JSON may have outside strings and numbers: white
 * space, ',', ':' and the letters of true, false and null (brackets,
 * quotes and numbers are the prescan's own business).
 */
static gboolean
vmig_json_is_other(char c)
{
    return vmig_json_is_space(c) || (c != '\0' && strchr(",:truefalsn", c));
}

/*
 * Walks @text as JSON's lexer would, far enough to know how deep it nests,
 * where its first value ends and whether its escapes are JSON's, without
 * judging anything else: what is not well-formed is left for json-glib to
 * name.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_json_prescan(const char *text, gsize len, GError **error)
{
    enum { BEFORE, IN_VALUE, IN_STRING, AFTER } state = BEFORE;
    gboolean escaped = FALSE;
    gboolean top_string = FALSE; /* the top-level value itself is a string */
    gsize low_at = 0;            /* where the 'u' of an awaited low surrogate is */
    guint depth = 0;
    gsize i;

    for (i = 0; i < len; i++) {
        char c = text[i];

        if (c == '\0') {
            g_set_error(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_NUL,
                        "a NUL byte at offset %" G_GSIZE_FORMAT, i);
            return FALSE;
        }
        switch (state) {
        case IN_STRING:
            if (escaped) {
                if (!vmig_json_check_escape(text, len, i, &low_at, error))
                    return FALSE;
                escaped = FALSE;
            } else if (c == '\\') {
                escaped = TRUE;
            } else if (c == '"') {
                state = top_string ? AFTER : IN_VALUE;
                top_string = FALSE;
            }
            break;
        case BEFORE:
        case IN_VALUE:
            if (state == BEFORE && vmig_json_is_space(c))
                break;
            if (c == '"') {
                top_string = state == BEFORE;
                state = IN_STRING;
            } else if (c == '{' || c == '[') {
                if (++depth > VMIG_JSON_MAX_DEPTH) {
                    g_set_error_literal(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_DEPTH,
                                        "nesting deeper than 1024 levels");
                    return FALSE;
                }
                state = IN_VALUE;
            } else if (c == '}' || c == ']') {
                if (depth == 0)
                    return TRUE; /* unbalanced: json-glib says where */
                if (--depth == 0)
                    state = AFTER;
            } else if (c == '-' || c == '.' || g_ascii_isdigit(c)) {
                gsize end = vmig_json_check_number(text, len, i, error);

                if (end == 0)
                    return FALSE;
                i = end - 1; /* no bracket, quote or space in a number */
                state = IN_VALUE;
            } else if (!vmig_json_is_other(c)) {
                /* json-glib takes comments, 'strings' and 0x10: a quote
                 * or a bracket in them would escape this walk. */
                if (g_ascii_isgraph(c))
                    g_set_error(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_CHARACTER,
                                "a '%c' at offset %" G_GSIZE_FORMAT
                                ": JSON has none outside strings",
                                c, i);
                else
                    g_set_error(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_CHARACTER,
                                "a byte 0x%02x at offset %" G_GSIZE_FORMAT
                                ": JSON has none outside strings",
                                (guchar)c, i);
                return FALSE;
            } else if (state == BEFORE) {
                state = IN_VALUE; /* a top-level scalar */
            } else if (depth == 0 && vmig_json_is_space(c)) {
                state = AFTER;
            }
            break;
        case AFTER:
            if (!vmig_json_is_space(c)) {
                g_set_error_literal(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_TRAILING,
                                    "unexpected data after the first JSON value");
                return FALSE;
            }
            break;
        }
    }
    if (state == BEFORE) {
        g_set_error_literal(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_EMPTY,
                            "no JSON value");
        return FALSE;
    }
    return TRUE;
}

JsonNode *
vmig_json_parse(const char *text, gssize len, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) local = NULL;
    gsize size = len < 0 ? strlen(text) : (gsize)len;

    if (!vmig_json_prescan(text, size, error))
        return NULL;
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, text, (gssize)size, &local)) {
        /* json-glib quotes the token it stopped at, bytes as they came
         * (a lone surrogate escape becomes bytes that are not UTF-8). */
        g_autofree char *message = g_utf8_make_valid(local->message, -1);

        g_set_error_literal(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_SYNTAX, message);
        return NULL;
    }
    if (!json_parser_get_root(parser)) {
        /* Not reached after the prescan; json-glib's contract allows it. */
        g_set_error_literal(error, VMIG_JSON_ERROR, VMIG_JSON_ERROR_EMPTY,
                            "no JSON value");
        return NULL;
    }
    return json_parser_steal_root(parser);
}
