/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dn.h: matching a peer certificate's distinguished name against the
 * --tls-allowed-dn patterns
 *
 * A CA may sign certificates for more hosts than may migrate to or from
 * this one; the allow-list narrows that down by subject, as libvirt's
 * tls_allowed_dn_list and QEMU's authz objects do.
 */
#pragma once

#include <glib.h>

/*
 * vmig_tls_dn_allowed:
 * @dn: the peer's DN as vmig_tls_certificate_dn() writes it (RFC 4514,
 *      most specific first: "CN=src.example,O=Example,C=GB")
 * @patterns: (nullable): a NULL-terminated list of glob patterns
 *
 * Matches @dn against each pattern in turn, as a whole string, case
 * sensitively, with GLib's g_pattern_match_simple(): '*' matches any
 * run of characters, none included, and '?' any one character; nothing
 * else is special (no [classes], no escaping).  Like libvirt's fnmatch
 * without flags, '*' also matches ',' and the escaped "\," inside a
 * value, so it may span attributes: "CN=*,O=Example,C=GB" allows
 * "CN=a,OU=b,O=Example,C=GB" too.  Write the fixed attributes around the
 * '*', never a lone '*' in the middle of a pattern one means to be strict.
 * Patterns are in the RFC 4514 order, the reverse of libvirt's examples
 * ("C=GB,O=Example,CN=*").
 *
 * Return: TRUE when @patterns is NULL or empty (no allow-list: any
 * certificate the CA signed is allowed) or some pattern matches @dn;
 * FALSE otherwise.
 */
gboolean vmig_tls_dn_allowed(const char *dn, const char *const *patterns);
