/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * record.h (xml/): a migration's negotiation record as an XML document
 *
 * Input is the record's wire form, the return value of the control
 * command query-migration (docs/migration.md), so the daemon, the CLI
 * (virt-migrate features MIGRATION --xml) and the tests all render the
 * same document; data/record.rng is its RelaxNG schema.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "xml/xml.h"

/*
 * Returns: a new document for @record (the wire form), or NULL with
 * INVALID in @error naming the member that does not have that form.
 */
xmlDoc *vmig_xml_record_new(JsonObject *record, GError **error);

/* Returns: the document, serialized (UTF-8, indented, with XML declaration), or NULL. */
char *vmig_xml_record_format(JsonObject *record, GError **error);
