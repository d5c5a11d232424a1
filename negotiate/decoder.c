/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * decoder.c: frames from bytes as they arrive
 *
 * The daemon reads the main channel in whatever pieces the kernel gives:
 * a frame split over many reads, or a frame and the start of the next (or
 * the start of the raw migration stream) in one.  The decoder takes what
 * belongs to the current frame and no more.
 */
#include <config.h>

#include <string.h>

#include "negotiate/negotiate-private.h"

struct _VmigNegotiateDecoder {
    guint8 header[VMIG_NEGOTIATE_HEADER_SIZE];
    gsize have_header;
    VmigNegotiateFrameType type;
    guint16 flags;
    guint8 *body; /* body_len bytes once the header is accepted */
    guint32 body_len;
    gsize have_body;
    gboolean failed;
};

/* Returns: a new decoder waiting for a frame header. */
VmigNegotiateDecoder *
vmig_negotiate_decoder_new(void)
{
    return g_new0(VmigNegotiateDecoder, 1);
}

static void
decoder_reset(VmigNegotiateDecoder *dec)
{
    g_clear_pointer(&dec->body, g_free);
    dec->have_header = 0;
    dec->body_len = 0;
    dec->have_body = 0;
}

void
vmig_negotiate_decoder_free(VmigNegotiateDecoder *dec)
{
    if (!dec)
        return;
    decoder_reset(dec);
    g_free(dec);
}

/* Returns: the status, with @consumed, @msg and @error as the header says. */
VmigNegotiateStatus
vmig_negotiate_decoder_feed(VmigNegotiateDecoder *dec, const guint8 *data, gsize len,
                            gsize *consumed, VmigNegotiateMessage **msg, GError **error)
{
    gsize used = 0;

    *consumed = 0;
    *msg = NULL;
    g_return_val_if_fail(!dec->failed, VMIG_NEGOTIATE_STATUS_ERROR);

    if (dec->have_header < VMIG_NEGOTIATE_HEADER_SIZE) {
        gsize take = MIN(VMIG_NEGOTIATE_HEADER_SIZE - dec->have_header, len);

        if (take)
            memcpy(dec->header + dec->have_header, data, take);
        dec->have_header += take;
        used += take;
        *consumed = used;
        if (dec->have_header < VMIG_NEGOTIATE_HEADER_SIZE)
            return VMIG_NEGOTIATE_STATUS_NEED_MORE;
        /* The whole header is checked before a byte of body is awaited,
         * so garbage or a huge length fails now, not after a long wait. */
        if (!vmig_negotiate_parse_header(dec->header, &dec->type, &dec->flags,
                                         &dec->body_len, error)) {
            dec->failed = TRUE;
            return VMIG_NEGOTIATE_STATUS_ERROR;
        }
        dec->body = g_malloc(MAX(dec->body_len, 1));
        dec->have_body = 0;
    }

    if (dec->have_body < dec->body_len) {
        gsize take = MIN(dec->body_len - dec->have_body, len - used);

        if (take)
            memcpy(dec->body + dec->have_body, data + used, take);
        dec->have_body += take;
        used += take;
        *consumed = used;
        if (dec->have_body < dec->body_len)
            return VMIG_NEGOTIATE_STATUS_NEED_MORE;
    }

    *msg = vmig_negotiate_decode_body(dec->type, dec->flags, dec->body, dec->body_len,
                                      error);
    decoder_reset(dec);
    if (!*msg) {
        dec->failed = TRUE;
        return VMIG_NEGOTIATE_STATUS_ERROR;
    }
    return VMIG_NEGOTIATE_STATUS_FRAME;
}

/* Returns: the bytes still missing from the header or body being read (> 0). */
gsize
vmig_negotiate_decoder_wanted(const VmigNegotiateDecoder *dec)
{
    if (dec->have_header < VMIG_NEGOTIATE_HEADER_SIZE)
        return VMIG_NEGOTIATE_HEADER_SIZE - dec->have_header;
    return dec->body_len - dec->have_body;
}

/* Returns: TRUE when no partial frame is pending, else FALSE with @error. */
gboolean
vmig_negotiate_decoder_finish(VmigNegotiateDecoder *dec, GError **error)
{
    if (dec->have_header == 0)
        return TRUE;
    if (dec->have_header < VMIG_NEGOTIATE_HEADER_SIZE) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_SHORT_HEADER,
                    "connection closed after %zu of the %d header bytes",
                    dec->have_header, VMIG_NEGOTIATE_HEADER_SIZE);
        return FALSE;
    }
    g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_TRUNCATED,
                "connection closed after %zu of the %u body bytes of a %s frame",
                dec->have_body, dec->body_len,
                vmig_negotiate_frame_type_to_string(dec->type));
    return FALSE;
}
