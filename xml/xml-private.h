/*
 * xml-private.h: what the xml/ files (and tests/test-xml.c) share beyond
 * xml.h: the one safe way this library parses XML, and the check that a
 * string can be put into a document at all.
 */
#pragma once

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
