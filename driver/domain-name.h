/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domain-name.h: how a libvirt DOMAIN is spelt, "libvirt:URI#NAME"
 *
 * A libvirt connection URI (qemu:///system, qemu+unix:///session?socket=...)
 * and a domain name or UUID.  A URI has no '#' of its own, so the first one
 * separates them.  The daemon (driver/libvirt.c), the CLI, its renderer
 * and the XML of query-migrations all read or write it, and link nothing
 * in common but GLib: so the spelling is here, in this header alone.
 */
#pragma once

#include <string.h>

#include <glib.h>

#define VMIG_LIBVIRT_DOMAIN_PREFIX "libvirt:"

/*
 * vmig_domain_split_libvirt:
 * Finds the parts of "libvirt:URI#NAME" in @domain: the URI's *@uri_len
 * bytes at *@uri (possibly none: vmig_libvirt_parse_domain() refuses
 * that) and NAME at *@name, both inside @domain.
 * Returns: TRUE, or FALSE when @domain is not of that form with a NAME.
 */
static inline gboolean
vmig_domain_split_libvirt(const char *domain, const char **uri, gsize *uri_len,
                          const char **name)
{
    const char *rest;
    const char *hash;

    if (!g_str_has_prefix(domain, VMIG_LIBVIRT_DOMAIN_PREFIX))
        return FALSE;
    rest = domain + strlen(VMIG_LIBVIRT_DOMAIN_PREFIX);
    hash = strchr(rest, '#');
    if (!hash || hash[1] == '\0')
        return FALSE;
    *uri = rest;
    *uri_len = hash - rest;
    *name = hash + 1;
    return TRUE;
}

/* Returns: "libvirt:@uri#@name" (to free). */
static inline char *
vmig_domain_format_libvirt(const char *uri, const char *name)
{
    return g_strconcat(VMIG_LIBVIRT_DOMAIN_PREFIX, uri, "#", name, NULL);
}
