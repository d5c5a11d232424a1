/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * negotiate-private.h: what negotiate/'s files share, and nobody else uses
 */
#pragma once

#include "negotiate/negotiate.h"

/* Appends @version as dumps and messages show it ("1", "0x80000001 (experimental)"). */
void vmig_negotiate_append_version(GString *out, guint32 version);

/*
 * Checks a frame header.  @header holds VMIG_NEGOTIATE_HEADER_SIZE bytes.
 * Returns: TRUE with @type, @flags and @body_len set, or FALSE with
 * BAD_MAGIC, UNKNOWN_TYPE or TOO_LARGE in @error.
 */
gboolean vmig_negotiate_parse_header(const guint8 *header, VmigNegotiateFrameType *type,
                                     guint16 *flags, guint32 *body_len, GError **error);

/*
 * Decodes the body of a frame whose header was accepted.
 * Returns: a new message, or NULL with @error set.
 */
VmigNegotiateMessage *vmig_negotiate_decode_body(VmigNegotiateFrameType type,
                                                 guint16 flags, const guint8 *body,
                                                 gsize len, GError **error);

/* Returns: TRUE when @tag's value is an item list of its own (FEATURE, TUNABLE). */
gboolean vmig_negotiate_tag_is_nested(guint16 tag);
