/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-frame.c: libFuzzer target for the handshake frame decoder
 *
 * Every input goes through the one-shot decoder and, split at a point the
 * input itself chooses, through the incremental decoder; the two must agree.
 * A frame that decodes must re-encode and decode to the same message, and
 * a GREETING is run through selection and the destination's REPLY check.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "negotiate/negotiate.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static VmigNegotiateMessage *
source_offer(void)
{
    VmigNegotiateMessage *msg = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_GREETING);
    VmigNegotiateFeature *f;

    vmig_negotiate_message_add_version(msg, VMIG_NEGOTIATE_VERSION_1);
    vmig_negotiate_message_add_version(msg, 0x80000001);
    f = vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("multifd"));
    vmig_negotiate_feature_set_channels(f, 8);
    f = vmig_negotiate_message_add_feature(
        msg, vmig_negotiate_feature_new("multifd-compression"));
    vmig_negotiate_feature_add_algorithm(f, "zstd");
    vmig_negotiate_feature_add_algorithm(f, "zlib");
    vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("return-path"));
    msg->max_channels = 8;
    msg->hypervisor = g_strdup("QEMU 7.2.0");
    msg->driver = g_strdup("virt-migrate fuzz");
    return msg;
}

/* Runs @data through the incremental decoder, fed in pieces of @step. */
static char *
decode_incrementally(const guint8 *data, size_t size, size_t step)
{
    g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
    size_t pos = 0;

    while (pos < size) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VmigNegotiateMessage) msg = NULL;
        size_t chunk = MIN(step, size - pos);
        gsize consumed = 0;
        VmigNegotiateStatus status =
            vmig_negotiate_decoder_feed(dec, data + pos, chunk, &consumed, &msg, &error);

        if (consumed > chunk)
            abort();
        pos += consumed;
        if (status == VMIG_NEGOTIATE_STATUS_ERROR)
            return g_strdup_printf("error %d", error->code);
        if (status == VMIG_NEGOTIATE_STATUS_FRAME)
            return pos == size ? vmig_negotiate_message_to_string(msg)
                               : g_strdup("trailing");
    }
    return g_strdup("incomplete");
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigNegotiateMessage) msg = vmig_negotiate_decode(data, size, &error);
    g_autofree char *incremental =
        decode_incrementally(data, size, size ? 1 + data[0] % 17 : 1);
    g_autofree char *dump = NULL;
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(VmigNegotiateMessage) again = NULL;
    g_autofree char *dump_again = NULL;

    if (!msg) {
        /* Every failure carries a message; the incremental decoder fails too
         * (or, for short or truncated input, waits for more). */
        if (!error || !error->message || !*error->message)
            abort();
        if (g_str_equal(incremental, "trailing"))
            return 0;
        if (!g_str_has_prefix(incremental, "error") &&
            !g_str_equal(incremental, "incomplete"))
            abort();
        return 0;
    }

    dump = vmig_negotiate_message_to_string(msg);
    if (!g_str_equal(dump, incremental))
        abort();

    /* What decodes must re-encode (canonically) and decode the same. */
    bytes = vmig_negotiate_encode(msg, &error);
    if (!bytes)
        abort();
    again = vmig_negotiate_decode(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
                                  NULL);
    if (!again)
        abort();
    /* Header flags are sent as 0 whatever was received. */
    again->flags = msg->flags;
    dump_again = vmig_negotiate_message_to_string(again);
    if (!g_str_equal(dump_again, dump))
        abort();

    if (msg->type == VMIG_NEGOTIATE_FRAME_GREETING) {
        g_autoptr(VmigNegotiateMessage) src = source_offer();
        g_autoptr(VmigNegotiateMessage) reply = vmig_negotiate_select(src, msg, NULL);

        /* A selection always stays within what the destination offered. */
        if (reply) {
            g_autoptr(GError) check_error = NULL;

            if (!vmig_negotiate_check_reply(msg, reply, &check_error) &&
                check_error->code != VMIG_NEGOTIATE_ERROR_INVALID)
                abort();
        }
    }
    return 0;
}
