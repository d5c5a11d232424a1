/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.h (xml/): the tunables catalog as an XML document
 *
 * Input is the catalog's wire form (see driver/catalog.h), so the daemon,
 * the CLI and the tests all render the same document; data/tunables.rng
 * is its RelaxNG schema.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "xml/xml.h"

/*
 * Returns: a new document for @catalog (the wire form), or NULL with
 * INVALID in @error when @catalog does not have that form.
 */
xmlDoc *vmig_xml_catalog_new(JsonObject *catalog, GError **error);

/* Returns: the document, serialized (UTF-8, indented, with XML declaration), or NULL. */
char *vmig_xml_catalog_format(JsonObject *catalog, GError **error);
