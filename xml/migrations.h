/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migrations.h (xml/): a daemon's list of migrations as an XML document
 *
 * Input is the wire form, the return value of the control command
 * query-migrations (docs/migration.md): an array of {"migration", "role",
 * "state", "domain"}.  virt-migrate list --xml prints it; its RelaxNG
 * schema is data/migrations.rng.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "xml/xml.h"

/*
 * Returns: a new document for @migrations (the wire form, in its order),
 * or NULL with INVALID in @error naming the migration and member that do
 * not have that form.
 */
xmlDoc *vmig_xml_migrations_new(JsonArray *migrations, GError **error);

/* Returns: the document, serialized (UTF-8, indented, with XML declaration), or NULL. */
char *vmig_xml_migrations_format(JsonArray *migrations, GError **error);
