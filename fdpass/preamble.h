/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * preamble.h: the first bytes of every migration connection (DESIGN §4)
 *
 * On every connection the destination driver speaks first, 4 bytes that
 * say a driver is there (the source writes nothing before them, so a
 * peer that is no driver, such as a QEMU waiting for a migration stream,
 * is never harmed):
 *
 *   hello:         u32 0x564D4748 ("VMGH"), from the destination
 *
 * Then the source's first 4 bytes say what the connection is, so one
 * listener can take all of a migration's connections:
 *
 *   main channel:  u32 0x564D474D ("VMGM"), then the handshake frames
 *   extra channel: u32 0x564D4743 ("VMGC"), u8[16] token, u16 index,
 *                  u16 reserved (0; ignored by receivers)
 *
 * All integers are big-endian.
 */
#pragma once

#include <glib.h>

#define VMIG_PREAMBLE_MAIN_MAGIC    0x564D474Du /* "VMGM" */
#define VMIG_PREAMBLE_CHANNEL_MAGIC 0x564D4743u /* "VMGC" */
#define VMIG_PREAMBLE_DOMAIN_MAGIC  0x564D4744u /* "VMGD" */
#define VMIG_PREAMBLE_HELLO_MAGIC   0x564D4748u /* "VMGH", the destination's */
#define VMIG_PREAMBLE_MAGIC_SIZE    4
#define VMIG_TOKEN_SIZE             16
#define VMIG_PREAMBLE_SIZE          24 /* magic + token + index + reserved */

#define VMIG_PREAMBLE_ERROR (vmig_preamble_error_quark())
GQuark vmig_preamble_error_quark(void);

typedef enum {
    VMIG_PREAMBLE_ERROR_SHORT,     /* fewer bytes than a preamble */
    VMIG_PREAMBLE_ERROR_BAD_MAGIC, /* not "VMGC" */
    VMIG_PREAMBLE_ERROR_RANDOM,    /* no random bytes for a token */
    VMIG_PREAMBLE_ERROR_LAST
} VmigPreambleErrorCode;

typedef enum {
    VMIG_PREAMBLE_KIND_UNKNOWN, /* anything else: close the connection */
    VMIG_PREAMBLE_KIND_MAIN,    /* "VMGM": the main channel */
    VMIG_PREAMBLE_KIND_CHANNEL, /* "VMGC": an extra channel, preamble follows */
    VMIG_PREAMBLE_KIND_DOMAIN,  /* "VMGD": a main channel that brings its domain */
    VMIG_PREAMBLE_KIND_LAST
} VmigPreambleKind;

/* Returns: "unknown", "main", "channel" or "domain"; NULL for a value out of range. */
const char *vmig_preamble_kind_to_string(VmigPreambleKind kind);

typedef struct {
    guint8 token[VMIG_TOKEN_SIZE];
    guint16 index;
} VmigPreamble;

/* Classify a connection by its first VMIG_PREAMBLE_MAGIC_SIZE bytes. */
VmigPreambleKind vmig_preamble_classify(const guint8 magic[VMIG_PREAMBLE_MAGIC_SIZE]);

/* Write the 4-byte main-channel opener. */
void vmig_preamble_encode_main(guint8 out[VMIG_PREAMBLE_MAGIC_SIZE]);

/* Write the 4-byte opener of a main channel that brings its domain ("VMGD"). */
void vmig_preamble_encode_domain(guint8 out[VMIG_PREAMBLE_MAGIC_SIZE]);

/* Write the destination's 4-byte hello ("VMGH"). */
void vmig_preamble_encode_hello(guint8 out[VMIG_PREAMBLE_MAGIC_SIZE]);

/* Write an extra channel's preamble (reserved bytes are zero). */
void vmig_preamble_encode(const VmigPreamble *preamble, guint8 out[VMIG_PREAMBLE_SIZE]);

/*
 * vmig_preamble_decode:
 * Reads an extra channel's preamble from the first @len bytes of @buf.
 * Returns: TRUE with @out filled, or FALSE with @error set (SHORT when
 * @len < VMIG_PREAMBLE_SIZE, BAD_MAGIC otherwise).
 */
gboolean vmig_preamble_decode(const guint8 *buf, gsize len, VmigPreamble *out,
                              GError **error);

/*
 * vmig_preamble_token_equal:
 * Compares two tokens in time independent of their contents, so a peer
 * guessing tokens learns nothing from how long a refusal takes.
 * Returns: TRUE when equal.
 */
gboolean vmig_preamble_token_equal(const guint8 a[VMIG_TOKEN_SIZE],
                                   const guint8 b[VMIG_TOKEN_SIZE]);

/*
 * vmig_preamble_token_generate:
 * Fills @token with bytes from the kernel's CSPRNG (getrandom(2)).
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_preamble_token_generate(guint8 token[VMIG_TOKEN_SIZE], GError **error);
