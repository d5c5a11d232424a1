/*
 * render.h: how the CLI prints what the daemon answers
 *
 * The tunables catalog arrives in its wire form (driver/catalog.h) and is
 * printed as an aligned table, as pretty JSON or as the XML document of
 * xml/catalog.h.  Every function returns text ending with a newline.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#define VMIG_RENDER_ERROR (vmig_render_error_quark())
GQuark vmig_render_error_quark(void);

typedef enum {
    VMIG_RENDER_ERROR_INVALID, /* the input does not have the expected form */
    VMIG_RENDER_ERROR_LAST
} VmigRenderErrorCode;

/*
 * vmig_render_catalog_table:
 * The catalog as a table, one row per tunable, in the wire form's order:
 *
 *   Hypervisor: QEMU 7.2.22 (...)
 *
 *   NAME                 KIND        TYPE                     CURRENT    NEGOTIATED
 *   ---------------------------------------------------------------------------------
 *   max-bandwidth        parameter   int (bytes/s)            134217728
 *   multifd-compression  parameter   enum: none|zlib|zstd     none       yes
 * (multifd-compression)
 *
 * TYPE is the type with, for an enum, its values; "|null" when JSON null
 * is a value too; the unit and "not settable" in parentheses.  CURRENT is
 * the current value as plain text (an empty string as "", no value as -).
 * Returns: the text (to free), or NULL with INVALID in @error.
 */
char *vmig_render_catalog_table(JsonObject *catalog, GError **error);

/* Returns: @node as pretty JSON, indented by 2 spaces (to free). */
char *vmig_render_json(JsonNode *node);

/*
 * Returns: the catalog's XML document (xml/catalog.h) as text (to free),
 * or NULL with @error set.
 */
char *vmig_render_catalog_xml(JsonObject *catalog, GError **error);

/* Returns: @node, a JSON scalar, as plain text for a table cell (to free). */
char *vmig_render_value(JsonNode *node);
