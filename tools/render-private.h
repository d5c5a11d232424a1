/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * render-private.h: what the CLI's renderers share: reading the daemon's
 * wire form with errors that name the member, and aligned rows.  render.c
 * (tunables, JSON, XML) and render-record.c (migrations, events, records)
 * use it; the contract is render.h.
 */
#pragma once

#include "tools/render.h"

/*
 * Looks up member @name of @object (@what, in a @doc such as "negotiation
 * record") and checks that it has JSON type @type (a JsonNodeType, or
 * JSON_NODE_VALUE with @value_type).
 * Returns: TRUE with *@out the node, or NULL when absent and not
 * @required; FALSE with INVALID in @error.
 */
gboolean vmig_render_get(JsonObject *object, const char *doc, const char *what,
                         const char *name, JsonNodeType type, GType value_type,
                         gboolean required, JsonNode **out, GError **error);

/*
 * Reads string member @name of @object.
 * Returns: TRUE with *@out the string, or NULL when absent and not
 * @required; FALSE with INVALID in @error.
 */
gboolean vmig_render_get_string(JsonObject *object, const char *doc, const char *what,
                                const char *name, gboolean required, const char **out,
                                GError **error);

/*
 * Reads integer member @name of @object, which must not be negative.
 * Returns: TRUE with *@out its value, or -1 when absent (and not
 * @required); FALSE with INVALID in @error.
 */
gboolean vmig_render_get_count(JsonObject *object, const char *doc, const char *what,
                               const char *name, gboolean required, gint64 *out,
                               GError **error);

/*
 * Reads array member @name of @object.
 * Returns: TRUE with *@out the array, or NULL when absent; FALSE with
 * INVALID in @error.
 */
gboolean vmig_render_get_array(JsonObject *object, const char *doc, const char *what,
                               const char *name, JsonArray **out, GError **error);

/*
 * Reads object member @name of @object.
 * Returns: TRUE with *@out the object, or NULL when absent; FALSE with
 * INVALID in @error.
 */
gboolean vmig_render_get_object(JsonObject *object, const char *doc, const char *what,
                                const char *name, JsonObject **out, GError **error);

/*
 * Returns: element @index of @array if it is an object (borrowed), or
 * NULL with INVALID in @error naming it "@what #@index" (from 1).
 */
JsonObject *vmig_render_array_object(JsonArray *array, guint index, const char *doc,
                                     const char *what, GError **error);

/*
 * Returns: element @index of @array if it is a string (borrowed), or
 * NULL with INVALID in @error naming it "@what #@index" (from 1).
 */
const char *vmig_render_array_string(JsonArray *array, guint index, const char *doc,
                                     const char *what, GError **error);

/*
 * An XML document for the terminal: @text (taken; NULL when writing it
 * failed) ending in a newline.
 * Returns: the text (to free), or NULL when @text is.
 */
char *vmig_render_xml_document(char *text);

/* Returns: @text for a terminal: control characters escaped (to free). */
char *vmig_render_text(const char *text);

/*
 * Appends @rows (each a GStrv of @n cells) aligned in columns: each line
 * starts with @indent, columns are @gap spaces apart, no trailing blanks.
 * With @rule, a line of dashes follows the first row (a header), as wide
 * as the table with @indent on both sides.
 */
void vmig_render_rows(GString *out, GPtrArray *rows, guint n, const char *indent,
                      gsize gap, gboolean rule);

/* Returns: a row of @n cells (a GStrv taking the strings given, to free). */
char **vmig_render_row(guint n, ...);
