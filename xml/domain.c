/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domain.c: what the driver reads from a libvirt domain XML
 *
 * The document comes from libvirt (virDomainGetXMLDesc) or from a user,
 * so it is parsed as untrusted input (vmig_xml_parse()) and only a few
 * elements are read, with XPath, each checked before it is believed:
 *
 *   /domain/name              required, not empty
 *   /domain/uuid              required, 8-4-4-4-12 hex digits; lower-cased
 *   /domain/devices/emulator  optional, not empty when present
 *   /domain/memory            required, a decimal integer in the unit given
 *                             by @unit (default KiB), converted to KiB
 *
 * Memory units follow libvirt's formatdomain "Memory Allocation": b or
 * bytes; KB, MB, GB, TB for powers of 1000; k or KiB, M or MiB, G or GiB,
 * T or TiB for powers of 1024; no unit, or an empty one, is KiB.  Like
 * libvirt's parser we also take them in any case, "byte", and the P and E
 * (peta, exa) forms.  The value, in bytes, must fit in 64 bits, and is
 * rounded up to a whole KiB, as libvirt does.
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-xml"

#include "xml/domain.h"
#include "xml/xml-private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xpathInternals.h>

/* At most this many characters of a bad value are quoted in an error. */
#define VMIG_XML_QUOTE_MAX 64

/* See domain.h. */
void
vmig_domain_info_free(VmigDomainInfo *info)
{
    if (info == NULL)
        return;
    g_free(info->name);
    g_free(info->uuid);
    g_free(info->emulator);
    g_free(info);
}

/*
 * Makes @value fit for quoting in a message: control characters escaped,
 * cut short after VMIG_XML_QUOTE_MAX characters.
 * Returns: a new string.
 */
static char *
quote_value(const char *value)
{
    g_autofree char *cut = NULL;
    GString *out = g_string_new(NULL);

    if (g_utf8_strlen(value, -1) > VMIG_XML_QUOTE_MAX)
        cut = g_utf8_substring(value, 0, VMIG_XML_QUOTE_MAX);
    for (const char *p = cut != NULL ? cut : value; *p; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f)
            g_string_append_printf(out, "\\x%02x", (guchar)*p);
        else
            g_string_append_c(out, *p);
    }
    if (cut != NULL)
        g_string_append(out, "...");
    return g_string_free(out, FALSE);
}

/*
 * Sets INVALID in @error: "domain XML: @element: message".
 * Returns: NULL, for the caller to return.
 */
static gpointer domain_error(GError **error, const char *element, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static gpointer
domain_error(GError **error, const char *element, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID, "domain XML: %s: %s",
                element, message);
    return NULL;
}

/*
 * Finds the first node @path selects.
 * Returns: the node (owned by the document), or NULL when there is none.
 */
static xmlNode *
find_node(xmlXPathContext *xpath, const char *path)
{
    g_autoptr(xmlXPathObject) result = NULL;

    result = xmlXPathEvalExpression(BAD_CAST path, xpath);
    if (result == NULL || result->type != XPATH_NODESET || result->nodesetval == NULL ||
        result->nodesetval->nodeNr == 0)
        return NULL;
    return result->nodesetval->nodeTab[0];
}

/*
 * The text of @node (its string value, as XPath's string() has it).
 * Returns: a new string.
 */
static char *
node_text(xmlNode *node)
{
    xmlChar *content = xmlNodeGetContent(node);
    char *text = g_strdup(content != NULL ? (const char *)content : "");

    xmlFree(content);
    return text;
}

/*
 * Reads the text of the element @path selects into *@text (NULL when
 * there is no such element); @element names it in errors ("<name>").
 * Returns: TRUE, or FALSE with INVALID in @error when it is there but empty.
 */
static gboolean
read_element(xmlXPathContext *xpath, const char *path, const char *element, char **text,
             GError **error)
{
    xmlNode *node = find_node(xpath, path);
    g_autofree char *value = NULL;

    *text = NULL;
    if (node == NULL)
        return TRUE;
    value = node_text(node);
    if (*value == '\0') {
        domain_error(error, element, "is empty");
        return FALSE;
    }
    *text = g_steal_pointer(&value);
    return TRUE;
}

/*
 * Checks that @uuid is 8-4-4-4-12 hexadecimal digits, and lower-cases it
 * in place.
 * Returns: TRUE when it is.
 */
static gboolean
normalize_uuid(char *uuid)
{
    static const gsize dashes[] = {8, 13, 18, 23};
    gsize next_dash = 0;

    if (strlen(uuid) != 36)
        return FALSE;
    for (gsize i = 0; i < 36; i++) {
        if (next_dash < G_N_ELEMENTS(dashes) && i == dashes[next_dash]) {
            if (uuid[i] != '-')
                return FALSE;
            next_dash++;
            continue;
        }
        if (!g_ascii_isxdigit(uuid[i]))
            return FALSE;
        uuid[i] = g_ascii_tolower(uuid[i]);
    }
    return TRUE;
}

/*
 * Finds the size of one @unit in bytes, as libvirt reads memory units.
 * Returns: TRUE with *@bytes set, or FALSE when @unit is no unit.
 */
static gboolean
unit_bytes(const char *unit, guint64 *bytes)
{
    static const char prefixes[] = "kmgtpe";
    const char *prefix;
    guint64 base;

    if (g_ascii_strcasecmp(unit, "b") == 0 || g_ascii_strcasecmp(unit, "byte") == 0 ||
        g_ascii_strcasecmp(unit, "bytes") == 0) {
        *bytes = 1;
        return TRUE;
    }
    if (unit[0] == '\0')
        return FALSE;
    prefix = strchr(prefixes, g_ascii_tolower(unit[0]));
    if (prefix == NULL)
        return FALSE;
    if (unit[1] == '\0' || g_ascii_strcasecmp(unit + 1, "iB") == 0)
        base = 1024; /* k, KiB, M, MiB, ...: binary */
    else if (g_ascii_strcasecmp(unit + 1, "B") == 0)
        base = 1000; /* KB, MB, ...: decimal */
    else
        return FALSE;

    *bytes = 1;
    for (const char *p = prefixes; p <= prefix; p++)
        *bytes *= base; /* at most 1024^6 = 2^60: no overflow */
    return TRUE;
}

/*
 * Reads /domain/memory and converts it to KiB.
 * Returns: TRUE with *@kib set, or FALSE with INVALID in @error.
 */
static gboolean
read_memory(xmlXPathContext *xpath, guint64 *kib, GError **error)
{
    xmlNode *node = find_node(xpath, "/domain/memory");
    g_autofree char *element = NULL;
    g_autofree char *value = NULL;
    g_autofree char *quoted = NULL;
    g_autofree char *unit = NULL;
    guint64 scale = 1024;
    guint64 number;
    guint64 bytes;
    xmlChar *attr;

    if (node == NULL) {
        domain_error(error, "<memory>", "is missing");
        return FALSE;
    }

    attr = xmlGetNoNsProp(node, BAD_CAST "unit");
    if (attr != NULL) {
        unit = g_strstrip(g_strdup((const char *)attr));
        xmlFree(attr);
    }
    /* As in libvirt, an empty unit is no unit. */
    if (unit != NULL && *unit != '\0') {
        g_autofree char *unit_quoted = quote_value(unit);

        element = g_strdup_printf("<memory unit='%s'>", unit_quoted);
        if (!unit_bytes(unit, &scale)) {
            domain_error(error, element, "unknown unit '%s'", unit_quoted);
            return FALSE;
        }
    } else {
        element = g_strdup("<memory>");
    }

    value = g_strstrip(node_text(node));
    quoted = quote_value(value);
    if (*value == '\0') {
        domain_error(error, element, "is empty");
        return FALSE;
    }
    for (const char *p = value; *p; p++) {
        if (!g_ascii_isdigit(*p)) {
            domain_error(error, element, "'%s' is not a non-negative integer", quoted);
            return FALSE;
        }
    }
    errno = 0;
    number = g_ascii_strtoull(value, NULL, 10);
    if (errno == ERANGE || number > G_MAXUINT64 / scale) {
        domain_error(error, element, "'%s' is too large (2^64 bytes or more)", quoted);
        return FALSE;
    }
    bytes = number * scale;
    *kib = bytes / 1024 + (bytes % 1024 != 0);
    return TRUE;
}

/* See domain.h. */
VmigDomainInfo *
vmig_xml_domain_parse(const char *xml, gsize len, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) xpath = NULL;
    g_autoptr(VmigDomainInfo) info = NULL;
    g_autofree char *quoted = NULL;
    g_autofree char *uuid = NULL;
    xmlNode *root;

    g_return_val_if_fail(xml != NULL || len == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    doc = vmig_xml_parse(xml, len, "domain XML", error);
    if (doc == NULL)
        return NULL;

    root = xmlDocGetRootElement(doc);
    if (root == NULL)
        return domain_error(error, "document", "no root element");
    if (root->ns != NULL || strcmp((const char *)root->name, "domain") != 0) {
        g_autofree char *name = quote_value((const char *)root->name);
        g_autofree char *element = NULL;

        if (root->ns != NULL && root->ns->prefix != NULL)
            element = g_strdup_printf("<%s:%s>", (const char *)root->ns->prefix, name);
        else if (root->ns != NULL)
            element =
                g_strdup_printf("<%s xmlns='%s'>", name, (const char *)root->ns->href);
        else
            element = g_strdup_printf("<%s>", name);
        return domain_error(error, element, "the root element must be <domain>");
    }

    xpath = xmlXPathNewContext(doc);
    if (xpath == NULL)
        return domain_error(error, "<domain>", "cannot evaluate XPath");

    info = g_new0(VmigDomainInfo, 1);

    if (!read_element(xpath, "/domain/name", "<name>", &info->name, error))
        return NULL;
    if (info->name == NULL)
        return domain_error(error, "<name>", "is missing");

    if (!read_element(xpath, "/domain/uuid", "<uuid>", &uuid, error))
        return NULL;
    if (uuid == NULL)
        return domain_error(error, "<uuid>", "is missing");
    g_strstrip(uuid);
    quoted = quote_value(uuid);
    if (!normalize_uuid(uuid))
        return domain_error(error, "<uuid>",
                            "'%s' is not a UUID (8-4-4-4-12 hexadecimal digits)", quoted);
    info->uuid = g_steal_pointer(&uuid);

    if (!read_element(xpath, "/domain/devices/emulator", "<emulator>", &info->emulator,
                      error))
        return NULL;

    if (!read_memory(xpath, &info->memory_kib, error))
        return NULL;

    return g_steal_pointer(&info);
}
