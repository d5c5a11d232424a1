/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * relay-helper.h: a fault-injecting TCP relay for the test suites, in
 * process, between a source and a destination driver
 *
 *     source --> 127.0.0.1:PORT [relay] --> 127.0.0.1:TARGET destination
 *
 * The relay listens on 127.0.0.1 (a port the kernel picks) and forwards
 * every connection it accepts to 127.0.0.1:TARGET, bytes unchanged and in
 * order, on a thread of its own.  It tells the connections apart by the
 * first bytes the source writes (docs/protocol.md):
 *
 *   "VMGM"                      a main channel: the frames on it are parsed
 *                               (in each direction, until the first header
 *                               that does not start with "VMGR": protocol
 *                               version 1 carries raw QEMU bytes after READY)
 *   "VMGC" token index reserved a data channel (24 bytes, forwarded as they are)
 *   anything else               opaque bytes, only forwarded
 *
 * and can, on command from the test: hold back the bytes of one direction
 * of a main channel from a frame of a given type on, stop forwarding
 * anything while keeping the connections open (a silent partition), or
 * reset every connection.
 *
 * It also watches, never altering a byte: it walks both directions of every
 * opaque connection as TLS records (a TLS session between the drivers
 * should show nothing else), and it can look for byte strings (needles:
 * magics, a sample of the guest's memory) in every direction of every
 * connection.  vmig_relay_report() tells what it saw.
 *
 * A side that ends (EOF) is shut down toward the other side once what it
 * sent has been forwarded; a side that resets gets the other side reset.
 * At most 4 MiB wait in the relay in each direction of a connection: past
 * that it stops reading from the sender.
 *
 * Every function may be called from any thread but the relay's own; every
 * function that changes what the relay does has taken effect when it
 * returns (e.g. after vmig_relay_freeze() not one more byte is forwarded).
 * Every fd is CLOEXEC, and vmig_relay_free() leaves none behind.
 *
 *   g_autoptr(VmigRelay) relay = vmig_relay_new(destination_port, &error);
 *   ... point the source at vmig_relay_port(relay) ...
 *   vmig_relay_hold_frame(relay, VMIG_RELAY_SRC_TO_DST, 3);  (COMMIT)
 *   g_assert_true(vmig_relay_wait_held(relay, 10000));
 *   ... the destination has not seen COMMIT ...
 *   vmig_relay_release(relay);
 */
#pragma once

#include <glib.h>

/* The directions of a connection (the source is the side that connects). */
typedef enum {
    VMIG_RELAY_SRC_TO_DST,
    VMIG_RELAY_DST_TO_SRC,
    VMIG_RELAY_DIR_LAST
} VmigRelayDir;

/* Frame types on a main channel, as the wire has them. */
enum {
    VMIG_RELAY_FRAME_GREETING = 1,
    VMIG_RELAY_FRAME_REPLY = 2,
    VMIG_RELAY_FRAME_COMMIT = 3,
    VMIG_RELAY_FRAME_READY = 4,
    VMIG_RELAY_FRAME_ERROR = 5,
    VMIG_RELAY_FRAME_LOADED = 6,
    VMIG_RELAY_FRAME_SWITCHOVER = 7,
    VMIG_RELAY_FRAME_RESUMED = 8,
    VMIG_RELAY_FRAME_HEARTBEAT = 9,
};

typedef struct VmigRelay VmigRelay;

/*
 * Starts a relay listening on 127.0.0.1 on a port of the kernel's choice,
 * forwarding each connection to 127.0.0.1:@target_port.
 * Returns: the relay (free with vmig_relay_free()), or NULL with @error set.
 */
VmigRelay *vmig_relay_new(guint16 target_port, GError **error);

/* Returns: the port the relay listens on (127.0.0.1). */
guint16 vmig_relay_port(VmigRelay *relay);

/*
 * Holds, on main channels, the first frame of type @type (one of
 * VMIG_RELAY_FRAME_*) seen from now on in direction @dir, and every byte
 * after it in that direction of that connection: they stay in the relay
 * until vmig_relay_release().  The other direction, and every other
 * connection, keep flowing.  A rule catches one frame; several rules may
 * wait at once.  So that a held frame is never half forwarded, the bytes
 * of any frame header on a main channel are forwarded once the header is
 * whole (or turns out to be none: raw bytes).
 */
void vmig_relay_hold_frame(VmigRelay *relay, VmigRelayDir dir, guint16 type);

/*
 * Waits at most @timeout_ms for a hold rule to catch a frame (since the
 * relay started or the last vmig_relay_release()).
 * Returns: TRUE if one did.
 */
gboolean vmig_relay_wait_held(VmigRelay *relay, guint timeout_ms);

/*
 * Waits at most @timeout_ms for a frame of type @type to be seen in
 * direction @dir on any main channel (forwarded or held), since the relay
 * started.
 * Returns: TRUE if one was.
 */
gboolean vmig_relay_wait_frame(VmigRelay *relay, VmigRelayDir dir, guint16 type,
                               guint timeout_ms);

/*
 * Returns: how many frames of type @type were seen so far in direction @dir
 * on every main channel (forwarded or held).
 */
guint vmig_relay_frame_count(VmigRelay *relay, VmigRelayDir dir, guint16 type);

/*
 * Forwards everything held (and an end of stream held behind it), and
 * drops every hold rule, caught or not.
 */
void vmig_relay_release(VmigRelay *relay);

/*
 * A silent network partition: stops forwarding anything in either
 * direction on every connection, and keeps them open.  New connections
 * are still accepted, and their first bytes read to tell what they are
 * (vmig_relay_connections() counts them), but they are not connected to
 * the target until vmig_relay_heal().
 */
void vmig_relay_freeze(VmigRelay *relay);

/*
 * Resets every connection on both sides (SO_LINGER 0, then close), held
 * bytes dropped; until vmig_relay_heal(), every new connection is reset as
 * soon as it is accepted.
 */
void vmig_relay_cut(VmigRelay *relay);

/*
 * Ends a freeze or a cut: the connections a freeze kept resume where they
 * stopped (those accepted during it are connected to the target now), and
 * new connections are forwarded again.  Connections a cut reset stay gone.
 */
void vmig_relay_heal(VmigRelay *relay);

/*
 * Returns: how many main channels (@main_channel TRUE) or data channels
 * (FALSE) the relay accepted so far.  Opaque connections count in neither.
 */
guint vmig_relay_connections(VmigRelay *relay, gboolean main_channel);

/*
 * Waits at most @timeout_ms for vmig_relay_connections(@relay,
 * @main_channel) to reach @count.
 * Returns: TRUE if it did.
 */
gboolean vmig_relay_wait_connections(VmigRelay *relay, gboolean main_channel, guint count,
                                     guint timeout_ms);

/* What vmig_relay_count() counts. */
typedef enum {
    VMIG_RELAY_COUNT_ACCEPTED, /* connections accepted (not those a cut resets) */
    VMIG_RELAY_COUNT_OPAQUE,   /* ... classified opaque: neither "VMGM" nor "VMGC" */
    VMIG_RELAY_COUNT_MAIN,     /* ... classified main channels */
    VMIG_RELAY_COUNT_DATA,     /* ... classified data channels */
    VMIG_RELAY_COUNT_LAST
} VmigRelayCount;

/*
 * Returns: how many connections of class @what the relay accepted so far.
 * A connection is counted in its class once its first bytes told what it
 * is (up to 24 of them, or fewer and the end of its stream), so ACCEPTED
 * may run ahead of the sum of the others.
 */
guint vmig_relay_count(VmigRelay *relay, VmigRelayCount what);

/*
 * Waits at most @timeout_ms for vmig_relay_count(@relay, @what) to reach
 * @count.
 * Returns: TRUE if it did.
 */
gboolean vmig_relay_wait_count(VmigRelay *relay, VmigRelayCount what, guint count,
                               guint timeout_ms);

/*
 * Returns: how many bytes were forwarded from source to destination on data
 * channels, their 24-byte preambles not counted.
 */
guint64 vmig_relay_data_bytes(VmigRelay *relay);

/* ------------------------------------------------------------------------ */
/* Watching: TLS records on opaque connections, needles everywhere */

/* TLS record content types (RFC 8446, 5.1), in wire order from 20. */
typedef enum {
    VMIG_RELAY_TLS_CHANGE_CIPHER_SPEC, /* 20 */
    VMIG_RELAY_TLS_ALERT,              /* 21 */
    VMIG_RELAY_TLS_HANDSHAKE,          /* 22 */
    VMIG_RELAY_TLS_APPLICATION_DATA,   /* 23 */
    VMIG_RELAY_TLS_LAST
} VmigRelayTlsType;

/* The wire value of VMIG_RELAY_TLS_CHANGE_CIPHER_SPEC; the others follow. */
#define VMIG_RELAY_TLS_TYPE_FIRST 20
/* The longest record body a TLS peer may send (2^14 + 256, RFC 8446, 5.2). */
#define VMIG_RELAY_TLS_RECORD_MAX (16384 + 256)
/* Returns: the name of @type as RFC 8446 spells it ("application_data"). */
const char *vmig_relay_tls_type_name(VmigRelayTlsType type);

/* The longest needle vmig_relay_watch_needles() takes, in bytes. */
#define VMIG_RELAY_NEEDLE_MAX 256

/*
 * Looks, from now on, for each of @needles (GBytes, 1 to
 * VMIG_RELAY_NEEDLE_MAX bytes each; copied) in every byte the relay reads,
 * either direction, any connection (main and data channels included),
 * across reads: a needle split between two reads is found.  The relay
 * stops looking once one is found, and keeps the first: the one whose
 * first byte came earliest in the stream it was found in (the lowest index
 * on a tie).  Bytes read before the call are not looked at.  Replaces the
 * needles of an earlier call and forgets its hit; NULL or an empty array
 * stops looking.
 */
void vmig_relay_watch_needles(VmigRelay *relay, GPtrArray *needles);

/*
 * What the relay saw since it started (the needle fields: since the last
 * vmig_relay_watch_needles()).  Filled by vmig_relay_report(), owned by the
 * caller; vmig_relay_report_clear() frees the strings.
 *
 * Connections are numbered from 1 in the order they were accepted.  The
 * TLS view covers every opaque connection from its first byte, both
 * directions: each direction is read as a run of TLS records (a 5-byte
 * header: content type 20 to 23, legacy version 0x03 0x01 to 0x03 0x04,
 * a body length at most VMIG_RELAY_TLS_RECORD_MAX; then the body), until
 * a header breaks one of those rules: that direction is then "not TLS"
 * and read no further.  A record is counted once its header is whole; a
 * stream that ends inside a record is no violation (a reset or a cut does
 * that).  A direction that never sent a byte is TLS.
 */
typedef struct {
    guint counts[VMIG_RELAY_COUNT_LAST]; /* as vmig_relay_count() */
    /* Opaque connections whose first byte from the source was 0x16 (a handshake). */
    guint opaque_tls_start;
    /* Records seen, and the sum of their headers' body lengths, per content
     * type, over every opaque connection and both directions. */
    guint64 records[VMIG_RELAY_TLS_LAST];
    guint64 record_bytes[VMIG_RELAY_TLS_LAST];

    /* TRUE if every direction of every opaque connection was TLS records
     * only (so TRUE with no opaque connection); else the first violation: */
    gboolean tls_only;
    guint not_tls;        /* directions found "not TLS" */
    guint violation_conn; /* the connection's number */
    VmigRelayDir violation_dir;
    guint64 violation_offset; /* of the bad header, from the direction's first byte */
    /* e.g. "connection 2 (opaque) src->dst: no TLS record header at offset 517:
     * 51 45 56 4d 00 00 00 03 "QEVM...."" (up to 8 bytes from the header on);
     * NULL if tls_only. */
    char *violation;

    /* The first needle found, if needle_seen: */
    gboolean needle_seen;
    guint needle_index; /* in the vmig_relay_watch_needles() array */
    guint needle_conn;
    VmigRelayDir needle_dir;
    guint64 needle_offset; /* of its first byte, from the direction's first byte */
    /* e.g. "needle 2 (4 bytes: 51 45 56 4d "QEVM") on connection 1 (main)
     * src->dst at offset 1040"; NULL if !needle_seen. */
    char *needle_hit;
} VmigRelayReport;

/*
 * Fills @report (zeroed or cleared: what it held is not freed) with what
 * the relay saw so far: every byte it forwarded, or holds, has been looked
 * at when this is called.
 */
void vmig_relay_report(VmigRelay *relay, VmigRelayReport *report);

/* Frees @report's strings and zeroes it.  Zeroed is fine. */
void vmig_relay_report_clear(VmigRelayReport *report);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigRelayReport, vmig_relay_report_clear)

/*
 * Stops the relay: closes every connection (both sides, held bytes
 * dropped) and the listening socket, and joins its thread.  NULL is fine.
 */
void vmig_relay_free(VmigRelay *relay);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigRelay, vmig_relay_free)
