/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * preamble.c: the first bytes of every migration connection (DESIGN §4)
 *
 * Pure byte handling apart from token generation: this file is also built
 * straight into the libFuzzer target (fuzz/fuzz-preamble.c).
 */
#include <config.h>

#include "fdpass/preamble.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-preamble-error-quark, vmig_preamble_error)
/* clang-format on */

/* Byte offsets of an extra channel's preamble. */
#define VMIG_PREAMBLE_OFF_MAGIC    0
#define VMIG_PREAMBLE_OFF_TOKEN    4
#define VMIG_PREAMBLE_OFF_INDEX    (VMIG_PREAMBLE_OFF_TOKEN + VMIG_TOKEN_SIZE)
#define VMIG_PREAMBLE_OFF_RESERVED (VMIG_PREAMBLE_OFF_INDEX + 2)

G_STATIC_ASSERT(VMIG_PREAMBLE_OFF_RESERVED + 2 == VMIG_PREAMBLE_SIZE);

static const char *const vmig_preamble_kind_names[] = {
    [VMIG_PREAMBLE_KIND_UNKNOWN] = "unknown",
    [VMIG_PREAMBLE_KIND_MAIN] = "main",
    [VMIG_PREAMBLE_KIND_CHANNEL] = "channel",
    [VMIG_PREAMBLE_KIND_DOMAIN] = "domain",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_preamble_kind_names) == VMIG_PREAMBLE_KIND_LAST);

/* Returns: the name of @kind ("unknown", "main", "channel"), or NULL if out of range. */
const char *
vmig_preamble_kind_to_string(VmigPreambleKind kind)
{
    if ((guint)kind >= G_N_ELEMENTS(vmig_preamble_kind_names))
        return NULL;
    return vmig_preamble_kind_names[kind];
}

/* Returns: the big-endian u32 at @p. */
static guint32
vmig_preamble_get_be32(const guint8 *p)
{
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) |
           (guint32)p[3];
}

/* Returns: the big-endian u16 at @p. */
static guint16
vmig_preamble_get_be16(const guint8 *p)
{
    return (guint16)(((guint)p[0] << 8) | (guint)p[1]);
}

/* Store @v big-endian at @p. */
static void
vmig_preamble_put_be32(guint8 *p, guint32 v)
{
    p[0] = (guint8)(v >> 24);
    p[1] = (guint8)(v >> 16);
    p[2] = (guint8)(v >> 8);
    p[3] = (guint8)v;
}

/* Store @v big-endian at @p. */
static void
vmig_preamble_put_be16(guint8 *p, guint16 v)
{
    p[0] = (guint8)(v >> 8);
    p[1] = (guint8)v;
}

/* Returns: what the 4-byte opener @magic says the connection is. */
VmigPreambleKind
vmig_preamble_classify(const guint8 magic[VMIG_PREAMBLE_MAGIC_SIZE])
{
    switch (vmig_preamble_get_be32(magic)) {
    case VMIG_PREAMBLE_MAIN_MAGIC:
        return VMIG_PREAMBLE_KIND_MAIN;
    case VMIG_PREAMBLE_CHANNEL_MAGIC:
        return VMIG_PREAMBLE_KIND_CHANNEL;
    case VMIG_PREAMBLE_DOMAIN_MAGIC:
        return VMIG_PREAMBLE_KIND_DOMAIN;
    default:
        return VMIG_PREAMBLE_KIND_UNKNOWN;
    }
}

/* Write "VMGM" to @out. */
void
vmig_preamble_encode_main(guint8 out[VMIG_PREAMBLE_MAGIC_SIZE])
{
    vmig_preamble_put_be32(out, VMIG_PREAMBLE_MAIN_MAGIC);
}

/* Write "VMGD" to @out. */
void
vmig_preamble_encode_domain(guint8 out[VMIG_PREAMBLE_MAGIC_SIZE])
{
    vmig_preamble_put_be32(out, VMIG_PREAMBLE_DOMAIN_MAGIC);
}

/* Write "VMGH" to @out. */
void
vmig_preamble_encode_hello(guint8 out[VMIG_PREAMBLE_MAGIC_SIZE])
{
    vmig_preamble_put_be32(out, VMIG_PREAMBLE_HELLO_MAGIC);
}

/* Write @preamble's VMIG_PREAMBLE_SIZE bytes to @out. */
void
vmig_preamble_encode(const VmigPreamble *preamble, guint8 out[VMIG_PREAMBLE_SIZE])
{
    vmig_preamble_put_be32(out + VMIG_PREAMBLE_OFF_MAGIC, VMIG_PREAMBLE_CHANNEL_MAGIC);
    memcpy(out + VMIG_PREAMBLE_OFF_TOKEN, preamble->token, VMIG_TOKEN_SIZE);
    vmig_preamble_put_be16(out + VMIG_PREAMBLE_OFF_INDEX, preamble->index);
    vmig_preamble_put_be16(out + VMIG_PREAMBLE_OFF_RESERVED, 0);
}

/*
 * Decode an extra channel's preamble from the first @len bytes of @buf.
 * Returns: TRUE with @out filled, or FALSE with @error set (@out untouched).
 */
gboolean
vmig_preamble_decode(const guint8 *buf, gsize len, VmigPreamble *out, GError **error)
{
    guint32 magic;

    g_return_val_if_fail(buf != NULL || len == 0, FALSE);
    g_return_val_if_fail(out != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    if (len < VMIG_PREAMBLE_SIZE) {
        g_set_error(error, VMIG_PREAMBLE_ERROR, VMIG_PREAMBLE_ERROR_SHORT,
                    "channel preamble is %" G_GSIZE_FORMAT " bytes, expected %d", len,
                    VMIG_PREAMBLE_SIZE);
        return FALSE;
    }

    magic = vmig_preamble_get_be32(buf + VMIG_PREAMBLE_OFF_MAGIC);
    if (magic != VMIG_PREAMBLE_CHANNEL_MAGIC) {
        g_set_error(error, VMIG_PREAMBLE_ERROR, VMIG_PREAMBLE_ERROR_BAD_MAGIC,
                    "bad channel preamble magic 0x%08" G_GINT32_MODIFIER "x "
                    "(expected 0x%08x 'VMGC'%s)",
                    magic, VMIG_PREAMBLE_CHANNEL_MAGIC,
                    magic == VMIG_PREAMBLE_MAIN_MAGIC ? "; got the main channel's 'VMGM'"
                                                      : "");
        return FALSE;
    }

    /* The reserved u16 is ignored so that a later version may use it. */
    memcpy(out->token, buf + VMIG_PREAMBLE_OFF_TOKEN, VMIG_TOKEN_SIZE);
    out->index = vmig_preamble_get_be16(buf + VMIG_PREAMBLE_OFF_INDEX);
    return TRUE;
}

/*
 * Compare all VMIG_TOKEN_SIZE bytes whatever they hold: the differences are
 * OR-ed into a volatile accumulator, so the compiler can neither stop at the
 * first mismatch nor turn the loop into memcmp.
 * Returns: TRUE when @a and @b are equal.
 */
gboolean
vmig_preamble_token_equal(const guint8 a[VMIG_TOKEN_SIZE],
                          const guint8 b[VMIG_TOKEN_SIZE])
{
    volatile guint8 diff = 0;
    gsize i;

    for (i = 0; i < VMIG_TOKEN_SIZE; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

/*
 * Fill @token from getrandom(2), retrying on EINTR and short reads.
 * Returns: TRUE, or FALSE with @error set (@token then holds no secret).
 */
gboolean
vmig_preamble_token_generate(guint8 token[VMIG_TOKEN_SIZE], GError **error)
{
    gsize done = 0;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    while (done < VMIG_TOKEN_SIZE) {
        ssize_t n = getrandom(token + done, VMIG_TOKEN_SIZE - done, 0);

        if (n < 0) {
            int err = errno;

            if (err == EINTR)
                continue;
            memset(token, 0, VMIG_TOKEN_SIZE);
            g_set_error(error, VMIG_PREAMBLE_ERROR, VMIG_PREAMBLE_ERROR_RANDOM,
                        "cannot get %d random bytes for a channel token: getrandom "
                        "failed: %s",
                        VMIG_TOKEN_SIZE, g_strerror(err));
            return FALSE;
        }
        if (n == 0) {
            /* Not documented to happen; never spin on it. */
            memset(token, 0, VMIG_TOKEN_SIZE);
            g_set_error(error, VMIG_PREAMBLE_ERROR, VMIG_PREAMBLE_ERROR_RANDOM,
                        "cannot get %d random bytes for a channel token: getrandom "
                        "returned no bytes",
                        VMIG_TOKEN_SIZE);
            return FALSE;
        }
        done += (gsize)n;
    }
    return TRUE;
}
