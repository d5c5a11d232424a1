/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-preamble.c: libFuzzer target for the connection opener and the
 * extra-channel preamble (fdpass/preamble.c)
 *
 * Any bytes are classified and decoded.  Whatever decodes must encode back
 * to the same bytes, except the reserved u16 (ignored on decode, written as
 * zero); a mismatch, a wrong error or a classification that disagrees with
 * the decoder aborts.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "fdpass/preamble.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed @data to the classifier and the decoder.  Returns 0 (libFuzzer's convention). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VmigPreambleKind kind = VMIG_PREAMBLE_KIND_UNKNOWN;
    GError *error = NULL;
    VmigPreamble pre;

    if (size >= VMIG_PREAMBLE_MAGIC_SIZE) {
        kind = vmig_preamble_classify(data);
        if ((guint)kind >= VMIG_PREAMBLE_KIND_LAST || !vmig_preamble_kind_to_string(kind))
            abort();
        if (kind == VMIG_PREAMBLE_KIND_MAIN) {
            guint8 opener[VMIG_PREAMBLE_MAGIC_SIZE];

            vmig_preamble_encode_main(opener);
            if (memcmp(opener, data, sizeof(opener)) != 0)
                abort();
        }
    }

    if (vmig_preamble_decode(data, size, &pre, &error)) {
        guint8 out[VMIG_PREAMBLE_SIZE];

        if (size < VMIG_PREAMBLE_SIZE || kind != VMIG_PREAMBLE_KIND_CHANNEL)
            abort();
        vmig_preamble_encode(&pre, out);
        if (memcmp(out, data, VMIG_PREAMBLE_SIZE - 2) != 0)
            abort();
        if (out[VMIG_PREAMBLE_SIZE - 2] != 0 || out[VMIG_PREAMBLE_SIZE - 1] != 0)
            abort();
        if (!vmig_preamble_token_equal(pre.token, data + 4) ||
            pre.index != (guint16)((data[20] << 8) | data[21]))
            abort();
    } else {
        if (!error || error->domain != VMIG_PREAMBLE_ERROR)
            abort();
        if (size < VMIG_PREAMBLE_SIZE) {
            if (error->code != VMIG_PREAMBLE_ERROR_SHORT)
                abort();
        } else if (error->code != VMIG_PREAMBLE_ERROR_BAD_MAGIC ||
                   kind == VMIG_PREAMBLE_KIND_CHANNEL) {
            abort();
        }
        g_error_free(error);
    }
    return 0;
}
