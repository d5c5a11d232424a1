/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * negotiate.h: the virt-migrate handshake wire protocol, versions 1 and 2
 *
 * A pure library: it turns messages into bytes and bytes into messages,
 * and chooses a protocol version and feature set from two offers.  It does
 * no I/O and runs no main loop; the daemon feeds it what it reads.
 *
 * A frame (all integers big-endian, see docs/protocol.md):
 *
 *   offset 0  u32 magic   0x564D4752 ("VMGR")
 *          4  u16 type    VmigNegotiateFrameType
 *          6  u16 flags   0 when sent; unknown bits are ignored
 *          8  u32 length  of the body, at most VMIG_NEGOTIATE_MAX_BODY
 *         12  body: items { u16 tag, u16 item_flags, u32 len, value[len] }
 *
 * An item whose tag the receiver does not know (in that frame, or nested
 * in that item) is skipped, unless its item_flags has MUST_UNDERSTAND set,
 * in which case the frame is refused.
 */
#pragma once

#include <glib.h>

#define VMIG_NEGOTIATE_MAGIC            0x564D4752u /* "VMGR" */
#define VMIG_NEGOTIATE_HEADER_SIZE      12
#define VMIG_NEGOTIATE_ITEM_HEADER_SIZE 8
#define VMIG_NEGOTIATE_MAX_BODY         65536
#define VMIG_NEGOTIATE_MAX_STRING       255
#define VMIG_NEGOTIATE_MAX_LIST         256
#define VMIG_NEGOTIATE_TOKEN_SIZE       16

/* item_flags bit 0: the receiver must fail if it does not know the tag. */
#define VMIG_NEGOTIATE_ITEM_MUST_UNDERSTAND 0x0001u

/* The stable protocol versions this library speaks. */
#define VMIG_NEGOTIATE_VERSION_1 1u
/* Version 2: the main channel stays the drivers' (a control connection),
 * and the switchover is confirmed (docs/protocol.md). */
#define VMIG_NEGOTIATE_VERSION_2 2u
/* Versions at or above this are experimental: offered only when enabled. */
#define VMIG_NEGOTIATE_VERSION_EXPERIMENTAL 0x80000000u
/* The first experimental version: version 2's frames and conversation, the
 * ground where changes to them are tried before they become a stable
 * version (docs/protocol.md). */
#define VMIG_NEGOTIATE_VERSION_2_EXPERIMENTAL 0x80000001u

#define VMIG_NEGOTIATE_ERROR (vmig_negotiate_error_quark())
GQuark vmig_negotiate_error_quark(void);

typedef enum {
    VMIG_NEGOTIATE_ERROR_BAD_MAGIC,             /* frame does not start "VMGR" */
    VMIG_NEGOTIATE_ERROR_SHORT_HEADER,          /* fewer than 12 bytes */
    VMIG_NEGOTIATE_ERROR_TOO_LARGE,             /* body length over the limit */
    VMIG_NEGOTIATE_ERROR_TRUNCATED,             /* body shorter than its length */
    VMIG_NEGOTIATE_ERROR_TRAILING_DATA,         /* bytes after the frame */
    VMIG_NEGOTIATE_ERROR_UNKNOWN_TYPE,          /* frame type not 1..9 */
    VMIG_NEGOTIATE_ERROR_ITEM_OVERRUN,          /* an item runs past its frame */
    VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH,       /* wrong size for the item's type */
    VMIG_NEGOTIATE_ERROR_STRING_TOO_LONG,       /* string over 255 bytes */
    VMIG_NEGOTIATE_ERROR_BAD_STRING,            /* not UTF-8, has NUL, empty name */
    VMIG_NEGOTIATE_ERROR_LIST_TOO_LONG,         /* list over 256 entries */
    VMIG_NEGOTIATE_ERROR_UNKNOWN_MANDATORY_TAG, /* unknown tag with MUST_UNDERSTAND */
    VMIG_NEGOTIATE_ERROR_DUPLICATE_TAG,         /* a singleton tag repeated */
    VMIG_NEGOTIATE_ERROR_MISSING_TAG,           /* a required tag absent */
    VMIG_NEGOTIATE_ERROR_DUPLICATE_NAME,        /* a feature/tunable/version twice */
    VMIG_NEGOTIATE_ERROR_NO_VERSIONS,           /* no VERSION item at all */
    VMIG_NEGOTIATE_ERROR_NO_COMMON_VERSION,     /* the two sides share no version */
    VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED,      /* a required feature cannot be had */
    VMIG_NEGOTIATE_ERROR_INVALID,               /* a frame breaks the handshake rules */
    VMIG_NEGOTIATE_ERROR_LAST
} VmigNegotiateErrorCode;

const char *vmig_negotiate_error_code_to_string(VmigNegotiateErrorCode code);

typedef enum {
    VMIG_NEGOTIATE_FRAME_GREETING = 1, /* dst -> src: what dst offers */
    VMIG_NEGOTIATE_FRAME_REPLY = 2,    /* src -> dst: what src selected */
    VMIG_NEGOTIATE_FRAME_COMMIT = 3,   /* src -> dst: final channels, features */
    VMIG_NEGOTIATE_FRAME_READY = 4,    /* dst -> src: dst QEMU listening */
    VMIG_NEGOTIATE_FRAME_ERROR = 5,    /* either way: abort, with a reason */
    /* Version 2, on the control connection after READY: */
    VMIG_NEGOTIATE_FRAME_LOADED = 6,     /* dst -> src: dst QEMU loaded all, paused */
    VMIG_NEGOTIATE_FRAME_SWITCHOVER = 7, /* src -> dst: the guest is yours */
    VMIG_NEGOTIATE_FRAME_RESUMED = 8,    /* dst -> src: it runs here (or PAUSED) */
    VMIG_NEGOTIATE_FRAME_HEARTBEAT = 9,  /* either way: still here */
    /* src -> dst, first after "VMGD": the domain to prepare (docs/libvirt.md) */
    VMIG_NEGOTIATE_FRAME_DOMAIN = 10,
    VMIG_NEGOTIATE_FRAME_LAST
} VmigNegotiateFrameType;

/* "GREETING", ...; NULL for a value that is no frame type. */
const char *vmig_negotiate_frame_type_to_string(VmigNegotiateFrameType type);

typedef enum {
    VMIG_NEGOTIATE_TAG_VERSION = 1,  /* u32; GREETING: repeatable, newest first */
    VMIG_NEGOTIATE_TAG_FEATURE,      /* nested: NAME, CHANNELS, ALGORITHMS, REQUIRED */
    VMIG_NEGOTIATE_TAG_TUNABLE_NAME, /* string, repeatable: tunables dst QEMU has */
    VMIG_NEGOTIATE_TAG_TUNABLE,      /* nested: NAME, VALUE */
    VMIG_NEGOTIATE_TAG_HYPERVISOR,   /* string, e.g. "QEMU 7.2.0" */
    VMIG_NEGOTIATE_TAG_DRIVER,       /* string, e.g. "virt-migrate 0.1.0" */
    VMIG_NEGOTIATE_TAG_MAX_CHANNELS, /* u16: extra channels this side can take */
    VMIG_NEGOTIATE_TAG_TOKEN,        /* u8[16]: session token */
    VMIG_NEGOTIATE_TAG_CHANNELS,     /* u16: a channel count */
    VMIG_NEGOTIATE_TAG_CODE,         /* u32: VmigNegotiateCode */
    VMIG_NEGOTIATE_TAG_MESSAGE,      /* string: a human reason */
    VMIG_NEGOTIATE_TAG_NAME,         /* string: feature or tunable name */
    VMIG_NEGOTIATE_TAG_ALGORITHMS,   /* string list: u16 count, { u8 len, bytes }* */
    VMIG_NEGOTIATE_TAG_REQUIRED,     /* empty: the offering side requires it */
    VMIG_NEGOTIATE_TAG_VALUE,        /* string: a tunable's value as JSON text */
    VMIG_NEGOTIATE_TAG_HEARTBEAT,    /* u32: ms between this side's heartbeats (v2) */
    VMIG_NEGOTIATE_TAG_PAUSED,       /* empty, in RESUMED: left paused, as asked */
    VMIG_NEGOTIATE_TAG_DOMAIN_NAME,  /* string: a libvirt domain's name */
    VMIG_NEGOTIATE_TAG_DOMAIN_XML, /* text: its migratable XML, up to the frame's limit */
    VMIG_NEGOTIATE_TAG_LAST
} VmigNegotiateTag;

const char *vmig_negotiate_tag_to_string(VmigNegotiateTag tag);

/* The reason carried by an ERROR frame's CODE item. */
typedef enum {
    VMIG_NEGOTIATE_CODE_PROTOCOL = 1,   /* malformed or unexpected frame */
    VMIG_NEGOTIATE_CODE_VERSION = 2,    /* no common protocol version */
    VMIG_NEGOTIATE_CODE_FEATURE = 3,    /* a required feature cannot be had */
    VMIG_NEGOTIATE_CODE_CHANNELS = 4,   /* channel setup failed */
    VMIG_NEGOTIATE_CODE_HYPERVISOR = 5, /* QEMU could not be configured */
    VMIG_NEGOTIATE_CODE_CANCELLED = 6,  /* a management app cancelled */
    VMIG_NEGOTIATE_CODE_INTERNAL = 7,   /* anything else */
    VMIG_NEGOTIATE_CODE_SHUTDOWN = 8,   /* the driver is stopping */
    VMIG_NEGOTIATE_CODE_TIMEOUT = 9,    /* a step took longer than its bound */
    VMIG_NEGOTIATE_CODE_TLS = 10,       /* TLS required on one side and not spoken */
    VMIG_NEGOTIATE_CODE_LAST
} VmigNegotiateCode;

/* "protocol", ...; NULL for a code this version does not know. */
const char *vmig_negotiate_code_to_string(VmigNegotiateCode code);

/* The ERROR frame code that describes a negotiate/ error. */
VmigNegotiateCode vmig_negotiate_code_from_error(const GError *error);

typedef struct {
    char *name;
    gboolean has_channels;
    guint16 channels;      /* valid when has_channels */
    GPtrArray *algorithms; /* char *, in order of preference; NULL when absent */
    gboolean required;     /* the offering side will not migrate without it */
} VmigNegotiateFeature;

typedef struct {
    char *name;
    char *value; /* JSON text, e.g. "1073741824", "true", "\"zstd\"" */
} VmigNegotiateTunable;

/*
 * One frame, decoded.  Which fields a frame type carries:
 *
 *   GREETING   versions (1..256), features, tunable_names, max_channels,
 *              hypervisor, driver, heartbeat_ms (optional)
 *   REPLY      versions (exactly 1: the selected one), features, channels
 *              (requested), token, tunables, hypervisor, driver,
 *              heartbeat_ms (optional)
 *   COMMIT     channels (final), features (final)
 *   READY      nothing
 *   ERROR      code, message
 *   LOADED     nothing
 *   SWITCHOVER nothing
 *   RESUMED    paused
 *   HEARTBEAT  nothing
 *   DOMAIN     domain_name, domain_xml
 *
 * The arrays are always allocated (possibly empty); fields a type does not
 * carry are ignored by the encoder and left empty by the decoder.
 */
typedef struct {
    VmigNegotiateFrameType type;
    guint16 flags;            /* header flags as received; sent as 0 */
    GArray *versions;         /* guint32 */
    GPtrArray *features;      /* VmigNegotiateFeature * */
    GPtrArray *tunable_names; /* char * */
    GPtrArray *tunables;      /* VmigNegotiateTunable * */
    char *hypervisor;
    char *driver;
    guint16 max_channels;
    guint16 channels;
    guint8 token[VMIG_NEGOTIATE_TOKEN_SIZE];
    guint32 code;
    char *message;
    guint32 heartbeat_ms; /* 0: not stated */
    gboolean paused;
    char *domain_name;
    char *domain_xml;
} VmigNegotiateMessage;

/* ---- messages ---------------------------------------------------------- */

VmigNegotiateMessage *vmig_negotiate_message_new(VmigNegotiateFrameType type);
void vmig_negotiate_message_free(VmigNegotiateMessage *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigNegotiateMessage, vmig_negotiate_message_free)

void vmig_negotiate_message_add_version(VmigNegotiateMessage *msg, guint32 version);
/* Takes ownership of @feature; returns it for setting attributes. */
VmigNegotiateFeature *vmig_negotiate_message_add_feature(VmigNegotiateMessage *msg,
                                                         VmigNegotiateFeature *feature);
void vmig_negotiate_message_add_tunable_name(VmigNegotiateMessage *msg, const char *name);
void vmig_negotiate_message_add_tunable(VmigNegotiateMessage *msg, const char *name,
                                        const char *json_value);

/* Returns: the feature called @name in @msg, or NULL. */
const VmigNegotiateFeature *
vmig_negotiate_message_find_feature(const VmigNegotiateMessage *msg, const char *name);

/*
 * A stable, human-readable dump of @msg, one field a line, used by the
 * golden tests and for debugging.  Returns: a newly allocated string.
 */
char *vmig_negotiate_message_to_string(const VmigNegotiateMessage *msg);

/*
 * An ERROR message with @code and @message (nullable), made valid UTF-8
 * and cut to a MESSAGE's 255 bytes ("..." at the end), so it can always be
 * sent.
 */
VmigNegotiateMessage *vmig_negotiate_message_new_error(VmigNegotiateCode code,
                                                       const char *message);

VmigNegotiateFeature *vmig_negotiate_feature_new(const char *name);
VmigNegotiateFeature *vmig_negotiate_feature_copy(const VmigNegotiateFeature *feature);
void vmig_negotiate_feature_free(VmigNegotiateFeature *feature);
void vmig_negotiate_feature_set_channels(VmigNegotiateFeature *feature, guint16 channels);
void vmig_negotiate_feature_add_algorithm(VmigNegotiateFeature *feature,
                                          const char *algorithm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigNegotiateFeature, vmig_negotiate_feature_free)

void vmig_negotiate_tunable_free(VmigNegotiateTunable *tunable);

/* TRUE for a version only offered with --experimental-protocol. */
gboolean vmig_negotiate_version_is_experimental(guint32 version);

/* ---- frames: whole buffers --------------------------------------------- */

/*
 * vmig_negotiate_encode:
 * Encodes @msg as one frame.  The result is checked by decoding it, so
 * this library never sends a frame it would itself refuse.
 * Returns: the frame's bytes, or NULL with @error set.
 */
GBytes *vmig_negotiate_encode(const VmigNegotiateMessage *msg, GError **error);

/*
 * vmig_negotiate_decode:
 * Decodes exactly one frame that fills @buf.
 * Returns: a new message, or NULL with @error set.
 */
VmigNegotiateMessage *vmig_negotiate_decode(const guint8 *buf, gsize len, GError **error);

/* ---- frames: incremental ----------------------------------------------- */

typedef struct _VmigNegotiateDecoder VmigNegotiateDecoder;

typedef enum {
    VMIG_NEGOTIATE_STATUS_NEED_MORE, /* all input consumed, no frame yet */
    VMIG_NEGOTIATE_STATUS_FRAME,     /* a frame is ready */
    VMIG_NEGOTIATE_STATUS_ERROR,     /* the input is bad: drop the connection */
    VMIG_NEGOTIATE_STATUS_LAST
} VmigNegotiateStatus;

VmigNegotiateDecoder *vmig_negotiate_decoder_new(void);
void vmig_negotiate_decoder_free(VmigNegotiateDecoder *dec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigNegotiateDecoder, vmig_negotiate_decoder_free)

/*
 * vmig_negotiate_decoder_feed:
 * @data, @len: bytes as they arrived
 * @consumed: (out) how many of them were used; never more than the end of
 *            the frame, so what follows it (the next frame, or the raw
 *            migration stream after READY) is left to the caller
 * @msg: (out) the frame, when the status is FRAME
 *
 * A bad header (magic, type, length) is reported as soon as its bytes have
 * arrived, before any body is waited for.  After ERROR the decoder must
 * not be fed again.
 * Returns: NEED_MORE, FRAME, or ERROR with @error set.
 */
VmigNegotiateStatus
vmig_negotiate_decoder_feed(VmigNegotiateDecoder *dec, const guint8 *data, gsize len,
                            gsize *consumed, VmigNegotiateMessage **msg, GError **error);

/*
 * vmig_negotiate_decoder_wanted:
 * Returns: how many more bytes complete the part of the frame being read
 * (the header, then the body), so a reader can take exactly up to the
 * frame's end and leave what follows in the socket.  Never 0.
 */
gsize vmig_negotiate_decoder_wanted(const VmigNegotiateDecoder *dec);

/*
 * vmig_negotiate_decoder_finish:
 * Call at end of file.
 * Returns: TRUE when no partial frame is pending; otherwise FALSE with
 * SHORT_HEADER or TRUNCATED in @error.
 */
gboolean vmig_negotiate_decoder_finish(VmigNegotiateDecoder *dec, GError **error);

/* ---- selection ----------------------------------------------------------- */

/*
 * vmig_negotiate_select:
 * @src: the source's own offer, in GREETING form (never sent): its
 *       versions (experimental ones only when enabled), the features its
 *       QEMU and policy allow, with required flags, its max channels
 * @dst: the GREETING received from the destination
 *
 * Chooses the highest version both list, then the features both offer, in
 * the source's order, with attributes merged: CHANNELS the smaller of the
 * two; ALGORITHMS the intersection in the source's order of preference.
 * An attribute only one side states is dropped; a feature whose merged
 * CHANNELS is 0 or whose ALGORITHMS come out empty cannot be had.  The
 * requested channel count is the smaller of the two max_channels.
 * Returns: a REPLY holding versions, features and channels (the caller adds
 * token, tunables, hypervisor and driver), or NULL with NO_COMMON_VERSION
 * or FEATURE_REQUIRED (naming the feature and the side lacking it).
 */
VmigNegotiateMessage *vmig_negotiate_select(const VmigNegotiateMessage *src,
                                            const VmigNegotiateMessage *dst,
                                            GError **error);

/*
 * vmig_negotiate_check_reply:
 * The destination's check of a REPLY against its own @greeting: the
 * version and every feature (with its attributes) must be among those
 * offered, every feature the destination requires must be selected, and
 * the channel count must not exceed its max_channels.
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_negotiate_check_reply(const VmigNegotiateMessage *greeting,
                                    const VmigNegotiateMessage *reply, GError **error);

/*
 * vmig_negotiate_check_commit:
 * The destination's check of a COMMIT: its features are a subset of the
 * REPLY's (attributes included), the destination's required features are
 * still there, and the channel count is at most the one requested.
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_negotiate_check_commit(const VmigNegotiateMessage *greeting,
                                     const VmigNegotiateMessage *reply,
                                     const VmigNegotiateMessage *commit, GError **error);
