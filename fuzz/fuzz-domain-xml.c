/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-domain-xml.c: libFuzzer target for the libvirt domain XML reader
 * (xml/domain.c, vmig_xml_domain_parse())
 *
 * The input is a domain XML document, as libvirt (virDomainGetXMLDesc) or
 * a control client (prepare-incoming's "domain-xml") hands it over.
 * libxml2 prints nothing: vmig_xml_parse() captures its errors.
 *
 * Invariants (abort() on violation): a refusal is a PARSE or INVALID error
 * saying "domain XML: ..."; what is accepted has a non-empty name, a
 * lower-case 8-4-4-4-12 UUID and no empty emulator; and a document written
 * from what was read (name, uuid, emulator, memory in KiB) reads back the
 * same.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/domain.h"
#include "xml/xml-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns: TRUE when @uuid is 8-4-4-4-12 lower-case hexadecimal digits. */
static gboolean
uuid_ok(const char *uuid)
{
    if (strlen(uuid) != 36)
        return FALSE;
    for (gsize i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (uuid[i] != '-')
                return FALSE;
        } else if (!g_ascii_isxdigit(uuid[i]) || g_ascii_isupper(uuid[i])) {
            return FALSE;
        }
    }
    return TRUE;
}

/* Returns: a domain XML document holding what @info says (to free). */
static char *
write_domain(const VmigDomainInfo *info)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autofree char *memory = g_strdup_printf("%" G_GUINT64_FORMAT, info->memory_kib);
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "domain");
    xmlNode *node;

    xmlDocSetRootElement(doc, root);
    xmlNewTextChild(root, NULL, BAD_CAST "name", BAD_CAST info->name);
    xmlNewTextChild(root, NULL, BAD_CAST "uuid", BAD_CAST info->uuid);
    node = xmlNewTextChild(root, NULL, BAD_CAST "memory", BAD_CAST memory);
    xmlNewProp(node, BAD_CAST "unit", BAD_CAST "KiB");
    if (info->emulator) {
        node = xmlNewChild(root, NULL, BAD_CAST "devices", NULL);
        xmlNewTextChild(node, NULL, BAD_CAST "emulator", BAD_CAST info->emulator);
    }
    return vmig_xml_format(doc, NULL);
}

/* Feed @data to the domain XML reader.  Returns 0 (libFuzzer's convention). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigDomainInfo) info = NULL;
    g_autoptr(VmigDomainInfo) again = NULL;
    g_autofree char *text = NULL;

    info = vmig_xml_domain_parse((const char *)data, size, &error);
    if (!info) {
        if (!error || error->domain != VMIG_XML_ERROR ||
            (error->code != VMIG_XML_ERROR_PARSE &&
             error->code != VMIG_XML_ERROR_INVALID) ||
            !g_str_has_prefix(error->message, "domain XML: "))
            abort();
        return 0;
    }
    if (error || !info->name || !*info->name || !info->uuid || !uuid_ok(info->uuid) ||
        (info->emulator && !*info->emulator))
        abort();

    /* Written back in KiB, a size must still fit in 64 bits of bytes. */
    if (info->memory_kib > G_MAXUINT64 / 1024)
        return 0;
    text = write_domain(info);
    if (!text)
        abort();
    again = vmig_xml_domain_parse(text, strlen(text), &error);
    if (!again || error || !g_str_equal(again->name, info->name) ||
        !g_str_equal(again->uuid, info->uuid) ||
        g_strcmp0(again->emulator, info->emulator) != 0 ||
        again->memory_kib != info->memory_kib)
        abort();
    return 0;
}
