/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domain.h (xml/): what the driver reads from a libvirt domain XML
 */
#pragma once

#include "xml/xml.h"

typedef struct {
    char *name;
    char *uuid;         /* as written: 36 characters, lower case */
    char *emulator;     /* /domain/devices/emulator, or NULL when absent */
    guint64 memory_kib; /* /domain/memory converted to KiB from its unit */
} VmigDomainInfo;

/*
 * vmig_xml_domain_parse:
 * Parses a libvirt domain XML document held in @xml (@len bytes).
 * Returns: the information, or NULL with @error set (PARSE when not
 * well-formed; INVALID naming the missing or bad element otherwise).
 */
VmigDomainInfo *vmig_xml_domain_parse(const char *xml, gsize len, GError **error);

void vmig_domain_info_free(VmigDomainInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigDomainInfo, vmig_domain_info_free)
