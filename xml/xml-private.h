/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xml-private.h: what the xml/ files (and tests/test-xml.c) share beyond
 * xml.h: the one safe way this library parses XML, and the check that a
 * string can be put into a document at all.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "xml/xml.h"

/*
 * vmig_xml_parse:
 * @data: the document's bytes (@len of them; need not be NUL-terminated)
 * @what: names the document in error messages, e.g. "domain XML"
 *
 * Parses untrusted input: no network access, no DTD loading, no
 * external entities, no entity substitution; libxml2 prints nothing.
 * Returns: the document, or NULL with PARSE in @error, which names the
 * line and quotes libxml2's message.
 */
xmlDoc *vmig_xml_parse(const char *data, gsize len, const char *what, GError **error);

/*
 * vmig_xml_text_is_valid:
 * XML 1.0 cannot hold every string: no NUL, no C0 control but tab, line
 * feed and carriage return, no U+FFFE/U+FFFF, no lone surrogates.
 * Returns: TRUE when @str is valid UTF-8 made only of characters XML 1.0
 * can hold; else FALSE, with the first offending character in *@bad
 * (U+FFFD when the bytes are not UTF-8).
 */
gboolean vmig_xml_text_is_valid(const char *str, gunichar *bad);

/*
 * vmig_xml_format:
 * Serializes @doc as UTF-8, indented, with an XML declaration.
 * Returns: the text (NUL-terminated, g_free() it), or NULL with INVALID
 * in @error when libxml2 cannot serialize it.
 */
char *vmig_xml_format(xmlDoc *doc, GError **error);

/* What a JSON value is, one bit each, so that a type can accept several. */
typedef enum {
    VMIG_XML_JSON_NULL = 1 << 0,
    VMIG_XML_JSON_INT = 1 << 1,
    VMIG_XML_JSON_DOUBLE = 1 << 2,
    VMIG_XML_JSON_BOOLEAN = 1 << 3,
    VMIG_XML_JSON_STRING = 1 << 4,
    VMIG_XML_JSON_ARRAY = 1 << 5,
    VMIG_XML_JSON_OBJECT = 1 << 6,
} VmigXmlJson;

#define VMIG_XML_JSON_NOT_NULL                                                           \
    (VMIG_XML_JSON_INT | VMIG_XML_JSON_DOUBLE | VMIG_XML_JSON_BOOLEAN |                  \
     VMIG_XML_JSON_STRING | VMIG_XML_JSON_ARRAY | VMIG_XML_JSON_OBJECT)

/* Returns: what @node is, one VmigXmlJson bit (0 for a value of no JSON type). */
guint vmig_xml_json_kind(JsonNode *node);

/* Returns: how an error message names a JSON value of kind @kind ("an integer"). */
const char *vmig_xml_json_kind_name(guint kind);

/*
 * Checks that @text (what @what is, in @where) can go into a document;
 * the error reads "@document: @where: ..." (no @where: "@document: ...").
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
gboolean vmig_xml_check_text(const char *text, const char *document, const char *where,
                             const char *what, GError **error);

/*
 * Formats @value with as few digits as read back to the same double
 * (xsd:double syntax, which is also JSON's).
 * Returns: a new string.
 */
char *vmig_xml_format_double(double value);
