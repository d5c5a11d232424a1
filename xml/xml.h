/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xml.h: what every xml/ file shares: the error domain, auto-cleanups for
 * libxml2's types, and the one place libxml2 errors become GErrors.
 */
#pragma once

#include <glib.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/relaxng.h>

#define VMIG_XML_ERROR (vmig_xml_error_quark())
GQuark vmig_xml_error_quark(void);

typedef enum {
    VMIG_XML_ERROR_PARSE,   /* not well-formed XML */
    VMIG_XML_ERROR_INVALID, /* well-formed, but not the document expected */
    VMIG_XML_ERROR_SCHEMA,  /* RelaxNG schema could not be loaded, or validation failed */
    VMIG_XML_ERROR_LAST
} VmigXmlErrorCode;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNGParserCtxt, xmlRelaxNGFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNG, xmlRelaxNGFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNGValidCtxt, xmlRelaxNGFreeValidCtxt)

/*
 * vmig_xml_validate:
 * Validates @doc against the RelaxNG schema in the file @rng_path.
 * Returns: TRUE, or FALSE with SCHEMA in @error naming the first problem
 * (line and message as libxml2 reports them).
 */
gboolean vmig_xml_validate(xmlDoc *doc, const char *rng_path, GError **error);
