/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * render.c: how the CLI prints what the daemon answers
 *
 * The table reads the catalog's wire form (driver/catalog.h) through one
 * table of columns; a member of the wrong JSON type is an error, members
 * it does not know are ignored (a newer daemon may send more).  The
 * migration list, the negotiation record and the events
 * (docs/migration.md) are read the same way.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-render"

#include "tools/render-private.h"

#include <string.h>

#include "driver/domain-name.h"
#include "json/writer.h"
#include "xml/catalog.h"
#include "xml/record.h"

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-render-error-quark, vmig_render_error)
/* clang-format on */

/* Spaces between two columns of a table. */
#define VMIG_RENDER_GAP 2

typedef enum {
    VMIG_RENDER_COLUMN_NAME,
    VMIG_RENDER_COLUMN_KIND,
    VMIG_RENDER_COLUMN_TYPE,
    VMIG_RENDER_COLUMN_CURRENT,
    VMIG_RENDER_COLUMN_NEGOTIATED,
    VMIG_RENDER_COLUMN_LAST
} VmigRenderColumn;

static const char *const vmig_render_column_titles[] = {
    [VMIG_RENDER_COLUMN_NAME] = "NAME",
    [VMIG_RENDER_COLUMN_KIND] = "KIND",
    [VMIG_RENDER_COLUMN_TYPE] = "TYPE",
    [VMIG_RENDER_COLUMN_CURRENT] = "CURRENT",
    [VMIG_RENDER_COLUMN_NEGOTIATED] = "NEGOTIATED",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_render_column_titles) == VMIG_RENDER_COLUMN_LAST);

/* One row of the table: a cell per column (owned). */
typedef struct {
    char *cells[VMIG_RENDER_COLUMN_LAST];
} VmigRenderRow;

/* Frees a row. */
static void
vmig_render_row_free(VmigRenderRow *row)
{
    guint i;

    for (i = 0; i < VMIG_RENDER_COLUMN_LAST; i++)
        g_free(row->cells[i]);
    g_free(row);
}

/* ------------------------------------------------------------------------ */
/* Reading the wire form */

/*
 * Looks up member @name of @object and checks that it has JSON type @type
 * (a JsonNodeType, or JSON_NODE_VALUE with @value_type).
 * Returns: TRUE when the member is absent (*@out = NULL) or has the type
 * (*@out = the node); FALSE with @error otherwise.
 */
static gboolean
vmig_render_member(JsonObject *object, const char *what, const char *name,
                   JsonNodeType type, GType value_type, JsonNode **out, GError **error)
{
    JsonNode *node = json_object_get_member(object, name);

    *out = NULL;
    if (!node)
        return TRUE;
    if (JSON_NODE_TYPE(node) != type ||
        (type == JSON_NODE_VALUE && json_node_get_value_type(node) != value_type)) {
        g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid catalog: the '%s' member of %s has the wrong type", name,
                    what);
        return FALSE;
    }
    *out = node;
    return TRUE;
}

/*
 * Reads string member @name of @object.
 * Returns: TRUE with *@out the string or NULL (absent and not @required),
 * or FALSE with @error.
 */
static gboolean
vmig_render_string(JsonObject *object, const char *what, const char *name,
                   gboolean required, const char **out, GError **error)
{
    JsonNode *node = NULL;

    *out = NULL;
    if (!vmig_render_member(object, what, name, JSON_NODE_VALUE, G_TYPE_STRING, &node,
                            error))
        return FALSE;
    if (!node) {
        if (required) {
            g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                        "invalid catalog: %s has no '%s'", what, name);
            return FALSE;
        }
        return TRUE;
    }
    *out = json_node_get_string(node);
    return TRUE;
}

/*
 * Reads boolean member @name of @object.
 * Returns: TRUE with *@out its value (@absent when absent), or FALSE with @error.
 */
static gboolean
vmig_render_boolean(JsonObject *object, const char *what, const char *name,
                    gboolean absent, gboolean *out, GError **error)
{
    JsonNode *node = NULL;

    if (!vmig_render_member(object, what, name, JSON_NODE_VALUE, G_TYPE_BOOLEAN, &node,
                            error))
        return FALSE;
    *out = node ? json_node_get_boolean(node) : absent;
    return TRUE;
}

char *
vmig_render_value(JsonNode *node)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    const char *s;

    if (!node)
        return g_strdup("-");
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_NULL:
        return g_strdup("null");
    case JSON_NODE_VALUE:
        switch (json_node_get_value_type(node)) {
        case G_TYPE_STRING:
            s = json_node_get_string(node);
            if (!*s)
                return g_strdup("\"\"");
            /* A control character would break the table's lines. */
            for (const char *p = s; *p; p++) {
                if ((guchar)*p < 0x20 || *p == 0x7f)
                    return g_strescape(s, NULL);
            }
            return g_strdup(s);
        case G_TYPE_BOOLEAN:
            return g_strdup(json_node_get_boolean(node) ? "true" : "false");
        case G_TYPE_INT64:
            return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
        case G_TYPE_DOUBLE:
            return g_strdup(g_ascii_dtostr(buf, sizeof(buf), json_node_get_double(node)));
        default:
            break;
        }
        break;
    case JSON_NODE_OBJECT:
    case JSON_NODE_ARRAY:
        break;
    }
    return vmig_json_write(node, FALSE, NULL);
}

/*
 * The TYPE cell: the type, an enum's values, "|null", then the unit and
 * "not settable" in parentheses.
 * Returns: the text (to free), or NULL with @error.
 */
static char *
vmig_render_type_cell(JsonObject *tunable, const char *what, const char *type,
                      GError **error)
{
    g_autoptr(GString) out = g_string_new(type);
    g_autoptr(GPtrArray) notes = g_ptr_array_new();
    JsonNode *values = NULL;
    const char *unit = NULL;
    const char *managed = NULL;
    gboolean nullable = FALSE;
    gboolean settable = TRUE;
    guint i;

    if (!vmig_render_member(tunable, what, "values", JSON_NODE_ARRAY, G_TYPE_INVALID,
                            &values, error) ||
        !vmig_render_string(tunable, what, "unit", FALSE, &unit, error) ||
        !vmig_render_string(tunable, what, "managed", FALSE, &managed, error) ||
        !vmig_render_boolean(tunable, what, "nullable", FALSE, &nullable, error) ||
        !vmig_render_boolean(tunable, what, "settable", TRUE, &settable, error))
        return NULL;

    if (values) {
        JsonArray *array = json_node_get_array(values);

        if (json_array_get_length(array) > 0)
            g_string_append(out, ":");
        for (i = 0; i < json_array_get_length(array); i++) {
            JsonNode *value = json_array_get_element(array, i);

            if (!JSON_NODE_HOLDS_VALUE(value) ||
                json_node_get_value_type(value) != G_TYPE_STRING) {
                g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                            "invalid catalog: the 'values' of %s are not all strings",
                            what);
                return NULL;
            }
            g_string_append(out, i ? "|" : " ");
            g_string_append(out, json_node_get_string(value));
        }
    }
    if (nullable)
        g_string_append(out, "|null");

    if (unit)
        g_ptr_array_add(notes, (gpointer)unit);
    if (!settable && !managed) /* the NEGOTIATED column says who sets it */
        g_ptr_array_add(notes, "not settable");
    for (i = 0; i < notes->len; i++) {
        g_string_append(out, i ? ", " : " (");
        g_string_append(out, g_ptr_array_index(notes, i));
    }
    if (notes->len)
        g_string_append(out, ")");
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/*
 * Builds the table row of tunable number @index.
 * Returns: the row, or NULL with @error.
 */
static VmigRenderRow *
vmig_render_tunable_row(JsonNode *node, guint index, GError **error)
{
    g_autofree char *what = NULL;
    VmigRenderRow *row;
    JsonObject *tunable;
    const char *name = NULL;
    const char *kind = NULL;
    const char *type = NULL;
    const char *feature = NULL;
    const char *managed = NULL;
    gboolean negotiated = FALSE;
    char *type_cell;

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid catalog: tunable #%u is not an object", index);
        return NULL;
    }
    tunable = json_node_get_object(node);
    what = g_strdup_printf("tunable #%u", index);
    if (!vmig_render_string(tunable, what, "name", TRUE, &name, error))
        return NULL;
    g_free(what);
    what = g_strdup_printf("tunable '%s'", name);
    if (!vmig_render_string(tunable, what, "kind", TRUE, &kind, error) ||
        !vmig_render_string(tunable, what, "type", TRUE, &type, error) ||
        !vmig_render_string(tunable, what, "feature", FALSE, &feature, error) ||
        !vmig_render_string(tunable, what, "managed", FALSE, &managed, error) ||
        !vmig_render_boolean(tunable, what, "negotiated", FALSE, &negotiated, error))
        return NULL;
    type_cell = vmig_render_type_cell(tunable, what, type, error);
    if (!type_cell)
        return NULL;

    /* Every cell is the daemon's text: a control character in it would
     * reach the terminal (a name with "\r" rewrote the line). */
    row = g_new0(VmigRenderRow, 1);
    row->cells[VMIG_RENDER_COLUMN_NAME] = vmig_render_text(name);
    row->cells[VMIG_RENDER_COLUMN_KIND] = vmig_render_text(kind);
    row->cells[VMIG_RENDER_COLUMN_TYPE] = vmig_render_text(type_cell);
    g_free(type_cell);
    row->cells[VMIG_RENDER_COLUMN_CURRENT] =
        vmig_render_value(json_object_get_member(tunable, "current"));
    if (negotiated && feature) {
        g_autofree char *text = vmig_render_text(feature);

        row->cells[VMIG_RENDER_COLUMN_NEGOTIATED] = g_strdup_printf("yes (%s)", text);
    } else if (managed) {
        g_autofree char *text = vmig_render_text(managed);

        row->cells[VMIG_RENDER_COLUMN_NEGOTIATED] =
            g_strdup_printf("by the driver (%s)", text);
    } else {
        row->cells[VMIG_RENDER_COLUMN_NEGOTIATED] = g_strdup(negotiated ? "yes" : "");
    }
    return row;
}

/* ------------------------------------------------------------------------ */
/* Writing the table */

/* Returns: how many columns @text takes on a terminal (characters). */
static gsize
vmig_render_width(const char *text)
{
    return g_utf8_validate(text, -1, NULL) ? (gsize)g_utf8_strlen(text, -1)
                                           : strlen(text);
}

/* Appends one line of cells, padded to @widths, without trailing blanks.  Returns
 * nothing. */
static void
vmig_render_line(GString *out, const char *const *cells, const gsize *widths)
{
    gsize start = out->len;
    guint i;

    for (i = 0; i < VMIG_RENDER_COLUMN_LAST; i++) {
        g_string_append(out, cells[i]);
        if (i + 1 < VMIG_RENDER_COLUMN_LAST) {
            gsize pad = widths[i] - vmig_render_width(cells[i]) + VMIG_RENDER_GAP;

            while (pad--)
                g_string_append_c(out, ' ');
        }
    }
    while (out->len > start && out->str[out->len - 1] == ' ')
        g_string_truncate(out, out->len - 1);
    g_string_append_c(out, '\n');
}

char *
vmig_render_catalog_table(JsonObject *catalog, GError **error)
{
    g_autoptr(GPtrArray) rows =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmig_render_row_free);
    g_autoptr(GString) out = g_string_new(NULL);
    gsize widths[VMIG_RENDER_COLUMN_LAST];
    const char *hypervisor = NULL;
    JsonNode *tunables = NULL;
    JsonArray *array;
    gsize total = 0;
    guint i;
    guint c;

    g_return_val_if_fail(catalog != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    if (!vmig_render_string(catalog, "the catalog", "hypervisor", FALSE, &hypervisor,
                            error) ||
        !vmig_render_member(catalog, "the catalog", "tunables", JSON_NODE_ARRAY,
                            G_TYPE_INVALID, &tunables, error))
        return NULL;
    if (!tunables) {
        g_set_error_literal(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                            "invalid catalog: it has no 'tunables'");
        return NULL;
    }
    array = json_node_get_array(tunables);

    for (c = 0; c < VMIG_RENDER_COLUMN_LAST; c++)
        widths[c] = strlen(vmig_render_column_titles[c]);
    for (i = 0; i < json_array_get_length(array); i++) {
        VmigRenderRow *row =
            vmig_render_tunable_row(json_array_get_element(array, i), i, error);

        if (!row)
            return NULL;
        g_ptr_array_add(rows, row);
        for (c = 0; c < VMIG_RENDER_COLUMN_LAST; c++)
            widths[c] = MAX(widths[c], vmig_render_width(row->cells[c]));
    }

    if (hypervisor) {
        g_autofree char *text = vmig_render_text(hypervisor);

        g_string_append_printf(out, "Hypervisor: %s\n\n", text);
    }
    vmig_render_line(out, vmig_render_column_titles, widths);
    for (c = 0; c < VMIG_RENDER_COLUMN_LAST; c++)
        total += widths[c] + (c + 1 < VMIG_RENDER_COLUMN_LAST ? VMIG_RENDER_GAP : 0);
    while (total--)
        g_string_append_c(out, '-');
    g_string_append_c(out, '\n');
    for (i = 0; i < rows->len; i++) {
        VmigRenderRow *row = g_ptr_array_index(rows, i);

        vmig_render_line(out, (const char *const *)row->cells, widths);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

char *
vmig_render_json(JsonNode *node)
{
    g_autofree char *text = NULL;

    g_return_val_if_fail(node != NULL, NULL);

    text = vmig_json_write(node, TRUE, NULL);
    return g_strconcat(text, "\n", NULL);
}

char *
vmig_render_xml_document(char *text)
{
    g_autofree char *owned = text;

    if (owned && !g_str_has_suffix(owned, "\n"))
        return g_strconcat(owned, "\n", NULL);
    return g_steal_pointer(&owned);
}

char *
vmig_render_catalog_xml(JsonObject *catalog, GError **error)
{
    g_return_val_if_fail(catalog != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    return vmig_render_xml_document(vmig_xml_catalog_format(catalog, error));
}

/* ------------------------------------------------------------------------ */
/* Reading migrations, records and events */

/*
 * Looks up member @name of @object (@what, in a @doc such as "negotiation
 * record") and checks that it has JSON type @type (a JsonNodeType, or
 * JSON_NODE_VALUE with @value_type).
 * Returns: TRUE with *@out the node, or NULL when absent and not
 * @required; FALSE with INVALID in @error.
 */
gboolean
vmig_render_get(JsonObject *object, const char *doc, const char *what, const char *name,
                JsonNodeType type, GType value_type, gboolean required, JsonNode **out,
                GError **error)
{
    JsonNode *node = json_object_get_member(object, name);

    *out = NULL;
    if (!node) {
        if (required) {
            g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                        "invalid %s: %s has no '%s'", doc, what, name);
            return FALSE;
        }
        return TRUE;
    }
    if (JSON_NODE_TYPE(node) != type ||
        (type == JSON_NODE_VALUE && json_node_get_value_type(node) != value_type)) {
        g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid %s: the '%s' member of %s has the wrong type", doc, name,
                    what);
        return FALSE;
    }
    *out = node;
    return TRUE;
}

/*
 * Reads string member @name of @object.
 * Returns: TRUE with *@out the string, or NULL when absent and not
 * @required; FALSE with INVALID in @error.
 */
gboolean
vmig_render_get_string(JsonObject *object, const char *doc, const char *what,
                       const char *name, gboolean required, const char **out,
                       GError **error)
{
    JsonNode *node = NULL;

    *out = NULL;
    if (!vmig_render_get(object, doc, what, name, JSON_NODE_VALUE, G_TYPE_STRING,
                         required, &node, error))
        return FALSE;
    if (node)
        *out = json_node_get_string(node);
    return TRUE;
}

/*
 * Reads integer member @name of @object, which must not be negative.
 * Returns: TRUE with *@out its value, or -1 when absent (and not
 * @required); FALSE with INVALID in @error.
 */
gboolean
vmig_render_get_count(JsonObject *object, const char *doc, const char *what,
                      const char *name, gboolean required, gint64 *out, GError **error)
{
    JsonNode *node = NULL;

    *out = -1;
    if (!vmig_render_get(object, doc, what, name, JSON_NODE_VALUE, G_TYPE_INT64, required,
                         &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (json_node_get_int(node) < 0) {
        g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid %s: the '%s' member of %s is negative", doc, name, what);
        return FALSE;
    }
    *out = json_node_get_int(node);
    return TRUE;
}

/*
 * Reads array member @name of @object.
 * Returns: TRUE with *@out the array, or NULL when absent; FALSE with
 * INVALID in @error.
 */
gboolean
vmig_render_get_array(JsonObject *object, const char *doc, const char *what,
                      const char *name, JsonArray **out, GError **error)
{
    JsonNode *node = NULL;

    *out = NULL;
    if (!vmig_render_get(object, doc, what, name, JSON_NODE_ARRAY, G_TYPE_INVALID, FALSE,
                         &node, error))
        return FALSE;
    if (node)
        *out = json_node_get_array(node);
    return TRUE;
}

/*
 * Reads object member @name of @object.
 * Returns: TRUE with *@out the object, or NULL when absent; FALSE with
 * INVALID in @error.
 */
gboolean
vmig_render_get_object(JsonObject *object, const char *doc, const char *what,
                       const char *name, JsonObject **out, GError **error)
{
    JsonNode *node = NULL;

    *out = NULL;
    if (!vmig_render_get(object, doc, what, name, JSON_NODE_OBJECT, G_TYPE_INVALID, FALSE,
                         &node, error))
        return FALSE;
    if (node)
        *out = json_node_get_object(node);
    return TRUE;
}

/*
 * Returns: element @index of @array if it is an object (borrowed), or
 * NULL with INVALID in @error naming it "@what #@index" (from 1).
 */
JsonObject *
vmig_render_array_object(JsonArray *array, guint index, const char *doc, const char *what,
                         GError **error)
{
    JsonNode *node = json_array_get_element(array, index);

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid %s: %s #%u is not an object", doc, what, index + 1);
        return NULL;
    }
    return json_node_get_object(node);
}

/*
 * Returns: element @index of @array if it is a string (borrowed), or
 * NULL with INVALID in @error naming it "@what #@index" (from 1).
 */
const char *
vmig_render_array_string(JsonArray *array, guint index, const char *doc, const char *what,
                         GError **error)
{
    JsonNode *node = json_array_get_element(array, index);

    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid %s: %s #%u is not a string", doc, what, index + 1);
        return NULL;
    }
    return json_node_get_string(node);
}

/*
 * The control commands' arguments that options set, by the options' names
 * (tools/cli-migrate.c).  Positional ones (domain, dest, listen) are
 * named in the daemon's messages by their values, not their names.
 */
static const struct {
    const char *wire;
    const char *option;
} vmig_render_wire_names[] = {
    {"no-features", "--no-feature"},
    {"require-features", "--require-feature"},
    {"tunables", "--tunable"},
    {"channels", "--channels"},
    {"max-channels", "--max-channels"},
    {"tls-hostname", "--tls-hostname"},
    {"domain-xml", "--xml"},
    {"unstable", "--unstable"},
};

char *
vmig_render_user_words(const char *message, const char *wire_domain, const char *domain)
{
    GString *text = g_string_new(message);

    for (gsize i = 0; i < G_N_ELEMENTS(vmig_render_wire_names); i++) {
        g_autofree char *parameter =
            g_strdup_printf("Parameter '%s'", vmig_render_wire_names[i].wire);
        g_autofree char *option =
            g_strdup_printf("option %s", vmig_render_wire_names[i].option);
        gsize lead = strlen(vmig_render_wire_names[i].wire);

        g_string_replace(text, parameter, option, 0);
        /* The subject of the message: "no-features: unknown feature ...",
         * "domain-xml of 'vm1' names no emulator". */
        if (g_str_has_prefix(text->str, vmig_render_wire_names[i].wire) &&
            (text->str[lead] == ':' || text->str[lead] == ' ')) {
            g_string_erase(text, 0, (gssize)lead);
            g_string_prepend(text, vmig_render_wire_names[i].option);
        }
    }
    if (wire_domain && domain && !g_str_equal(wire_domain, domain))
        g_string_replace(text, wire_domain, domain, 0);
    return g_string_free(text, FALSE);
}

char *
vmig_render_domain(const char *domain)
{
    const char *uri;
    const char *name;
    gsize uri_len;

    if (vmig_domain_split_libvirt(domain, &uri, &uri_len, &name))
        return g_strdup(name);
    return g_strdup(domain);
}

/* Returns: @text for a terminal: control characters escaped (to free). */
char *
vmig_render_text(const char *text)
{
    for (const char *p = text; *p; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f)
            return g_strescape(text, NULL);
    }
    return g_strdup(text);
}

/* ------------------------------------------------------------------------ */
/* Aligned rows */

/*
 * Appends @rows (each a GStrv of @n cells) aligned in columns: each line
 * starts with @indent, columns are @gap spaces apart, no trailing blanks.
 * With @rule, a line of dashes follows the first row (a header), as wide
 * as the table with @indent on both sides.
 */
void
vmig_render_rows(GString *out, GPtrArray *rows, guint n, const char *indent, gsize gap,
                 gboolean rule)
{
    g_autofree gsize *widths = g_new0(gsize, n);
    gsize total = 2 * strlen(indent);
    guint r;
    guint c;

    for (r = 0; r < rows->len; r++) {
        char **cells = g_ptr_array_index(rows, r);

        for (c = 0; c < n; c++)
            widths[c] = MAX(widths[c], vmig_render_width(cells[c]));
    }
    for (c = 0; c < n; c++)
        total += widths[c] + (c + 1 < n ? gap : 0);

    for (r = 0; r < rows->len; r++) {
        char **cells = g_ptr_array_index(rows, r);
        gsize start = out->len;

        g_string_append(out, indent);
        for (c = 0; c < n; c++) {
            g_string_append(out, cells[c]);
            if (c + 1 < n) {
                gsize pad = widths[c] - vmig_render_width(cells[c]) + gap;

                while (pad--)
                    g_string_append_c(out, ' ');
            }
        }
        while (out->len > start && out->str[out->len - 1] == ' ')
            g_string_truncate(out, out->len - 1);
        g_string_append_c(out, '\n');
        if (rule && r == 0) {
            for (gsize i = 0; i < total; i++)
                g_string_append_c(out, '-');
            g_string_append_c(out, '\n');
        }
    }
}

/* Returns: a row of @n cells (a GStrv taking the strings given, to free). */
char **
vmig_render_row(guint n, ...)
{
    char **row = g_new0(char *, n + 1);
    va_list ap;

    va_start(ap, n);
    for (guint i = 0; i < n; i++)
        row[i] = va_arg(ap, char *);
    va_end(ap);
    return row;
}
