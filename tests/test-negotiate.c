/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-negotiate.c: the handshake wire protocol and feature selection
 *
 * Golden files in tests/data/negotiate/: NAME.bin holds the bytes the
 * encoder must produce for the message built here, NAME.txt the dump the
 * decoder must produce from those bytes.  VMIG_TEST_REGENERATE_OUTPUT=1
 * rewrites both from the current code (then review the diff).
 */
#include <config.h>

#include <string.h>

#include "negotiate/negotiate.h"
#include "tests/testutil.h"

static const guint8 test_token[VMIG_NEGOTIATE_TOKEN_SIZE] = {
    0x3c, 0x9e, 0x41, 0x07, 0xd2, 0x5b, 0x88, 0x16,
    0xaf, 0x20, 0x6e, 0xc4, 0x93, 0x0d, 0x71, 0xe8,
};

/* ---- messages used throughout ------------------------------------------- */

/* A destination's GREETING as a QEMU 7.2 host would send it. */
static VmigNegotiateMessage *
make_greeting(void)
{
    VmigNegotiateMessage *msg = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_GREETING);
    VmigNegotiateFeature *feature;
    const char *const tunables[] = {
        "announce-initial",   "downtime-limit",    "max-bandwidth", "multifd-zlib-level",
        "multifd-zstd-level", "xbzrle-cache-size", "auto-converge", "xbzrle",
    };

    vmig_negotiate_message_add_version(msg, VMIG_NEGOTIATE_VERSION_1);
    feature =
        vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("multifd"));
    vmig_negotiate_feature_set_channels(feature, 16);
    feature = vmig_negotiate_message_add_feature(
        msg, vmig_negotiate_feature_new("multifd-compression"));
    vmig_negotiate_feature_add_algorithm(feature, "zlib");
    vmig_negotiate_feature_add_algorithm(feature, "zstd");
    feature = vmig_negotiate_message_add_feature(
        msg, vmig_negotiate_feature_new("return-path"));
    feature->required = TRUE;
    vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("postcopy-ram"));
    for (gsize i = 0; i < G_N_ELEMENTS(tunables); i++)
        vmig_negotiate_message_add_tunable_name(msg, tunables[i]);
    msg->max_channels = 16;
    msg->hypervisor = g_strdup("QEMU 7.2.0");
    msg->driver = g_strdup("virt-migrate 0.1.0");
    return msg;
}

/* The source's own offer, in GREETING form. */
static VmigNegotiateMessage *
make_source_offer(void)
{
    VmigNegotiateMessage *msg = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_GREETING);
    VmigNegotiateFeature *feature;

    vmig_negotiate_message_add_version(msg, VMIG_NEGOTIATE_VERSION_1);
    feature =
        vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("multifd"));
    vmig_negotiate_feature_set_channels(feature, 4);
    vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("return-path"));
    feature = vmig_negotiate_message_add_feature(
        msg, vmig_negotiate_feature_new("multifd-compression"));
    vmig_negotiate_feature_add_algorithm(feature, "zstd");
    vmig_negotiate_feature_add_algorithm(feature, "none");
    vmig_negotiate_feature_add_algorithm(feature, "zlib");
    msg->max_channels = 4;
    msg->hypervisor = g_strdup("QEMU 7.2.0");
    msg->driver = g_strdup("virt-migrate 0.1.0");
    return msg;
}

static VmigNegotiateMessage *
make_reply(void)
{
    VmigNegotiateMessage *msg = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_REPLY);
    VmigNegotiateFeature *feature;

    vmig_negotiate_message_add_version(msg, VMIG_NEGOTIATE_VERSION_1);
    feature =
        vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("multifd"));
    vmig_negotiate_feature_set_channels(feature, 4);
    vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("return-path"));
    feature = vmig_negotiate_message_add_feature(
        msg, vmig_negotiate_feature_new("multifd-compression"));
    vmig_negotiate_feature_add_algorithm(feature, "zstd");
    vmig_negotiate_feature_add_algorithm(feature, "zlib");
    msg->channels = 4;
    memcpy(msg->token, test_token, sizeof(test_token));
    vmig_negotiate_message_add_tunable(msg, "multifd-zstd-level", "3");
    vmig_negotiate_message_add_tunable(msg, "announce-initial", "100");
    msg->hypervisor = g_strdup("QEMU 7.2.0");
    msg->driver = g_strdup("virt-migrate 0.1.0");
    return msg;
}

static VmigNegotiateMessage *
make_commit(void)
{
    VmigNegotiateMessage *msg = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_COMMIT);
    VmigNegotiateFeature *feature;

    msg->channels = 3;
    feature =
        vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("multifd"));
    vmig_negotiate_feature_set_channels(feature, 3);
    vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("return-path"));
    return msg;
}

static VmigNegotiateMessage *
make_ready(void)
{
    return vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_READY);
}

static VmigNegotiateMessage *
make_error(void)
{
    return vmig_negotiate_message_new_error(
        VMIG_NEGOTIATE_CODE_FEATURE,
        "feature 'postcopy-ram' is required by the source but the destination does not "
        "offer it");
}

/* Version 2: a GREETING that offers 2 and 1 and states its heartbeat. */
static VmigNegotiateMessage *
make_greeting_v2(void)
{
    VmigNegotiateMessage *msg = make_greeting();

    g_array_set_size(msg->versions, 0);
    vmig_negotiate_message_add_version(msg, VMIG_NEGOTIATE_VERSION_2);
    vmig_negotiate_message_add_version(msg, VMIG_NEGOTIATE_VERSION_1);
    msg->heartbeat_ms = 1000;
    return msg;
}

static VmigNegotiateMessage *
make_loaded(void)
{
    return vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_LOADED);
}

static VmigNegotiateMessage *
make_switchover(void)
{
    return vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_SWITCHOVER);
}

/* RESUMED from a destination whose app asked to keep the guest paused. */
static VmigNegotiateMessage *
make_resumed(void)
{
    VmigNegotiateMessage *msg = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_RESUMED);

    msg->paused = TRUE;
    return msg;
}

static VmigNegotiateMessage *
make_heartbeat(void)
{
    return vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_HEARTBEAT);
}

typedef struct {
    const char *name;
    VmigNegotiateMessage *(*make)(void);
} GoldenCase;

static const GoldenCase golden_cases[] = {
    {"greeting", make_greeting}, {"reply", make_reply},
    {"commit", make_commit},     {"ready", make_ready},
    {"error", make_error},       {"greeting-v2", make_greeting_v2},
    {"loaded", make_loaded},     {"switchover", make_switchover},
    {"resumed", make_resumed},   {"heartbeat", make_heartbeat},
};

/* ---- helpers ------------------------------------------------------------- */

/* Compares @data with the golden file @name, or rewrites it when regenerating. */
static void
assert_golden(const char *name, const void *data, gsize len)
{
    vmig_test_assert_golden("negotiate", name, data, len);
}

static GBytes *
encode_ok(const VmigNegotiateMessage *msg)
{
    g_autoptr(GError) error = NULL;
    GBytes *bytes = vmig_negotiate_encode(msg, &error);

    g_assert_no_error(error);
    g_assert_nonnull(bytes);
    return bytes;
}

static VmigNegotiateMessage *
decode_bytes(GBytes *bytes, GError **error)
{
    gsize len;
    const guint8 *data = g_bytes_get_data(bytes, &len);

    return vmig_negotiate_decode(data, len, error);
}

/* A frame built by hand, item by item, so a test can break any rule. */
typedef struct {
    GByteArray *buf;
} Raw;

static void
raw_u16(Raw *raw, guint16 v)
{
    guint8 b[2] = {v >> 8, v & 0xff};

    g_byte_array_append(raw->buf, b, 2);
}

static void
raw_u32(Raw *raw, guint32 v)
{
    guint8 b[4] = {v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff};

    g_byte_array_append(raw->buf, b, 4);
}

static void
raw_patch_u32(Raw *raw, gsize at, guint32 v)
{
    raw->buf->data[at] = v >> 24;
    raw->buf->data[at + 1] = (v >> 16) & 0xff;
    raw->buf->data[at + 2] = (v >> 8) & 0xff;
    raw->buf->data[at + 3] = v & 0xff;
}

static Raw
raw_frame(guint16 type)
{
    Raw raw = {g_byte_array_new()};

    raw_u32(&raw, VMIG_NEGOTIATE_MAGIC);
    raw_u16(&raw, type);
    raw_u16(&raw, 0);
    raw_u32(&raw, 0);
    return raw;
}

static void
raw_item(Raw *raw, guint16 tag, guint16 flags, const void *data, guint32 len)
{
    raw_u16(raw, tag);
    raw_u16(raw, flags);
    raw_u32(raw, len);
    g_byte_array_append(raw->buf, data, len);
}

static void
raw_item_u16(Raw *raw, guint16 tag, guint16 v)
{
    guint8 b[2] = {v >> 8, v & 0xff};

    raw_item(raw, tag, 0, b, 2);
}

static void
raw_item_u32(Raw *raw, guint16 tag, guint32 v)
{
    guint8 b[4] = {v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff};

    raw_item(raw, tag, 0, b, 4);
}

static void
raw_item_str(Raw *raw, guint16 tag, const char *s)
{
    raw_item(raw, tag, 0, s, strlen(s));
}

/* Opens a nested item; returns where its length goes, for raw_nest_end(). */
static gsize
raw_nest_begin(Raw *raw, guint16 tag, guint16 flags)
{
    gsize at;

    raw_u16(raw, tag);
    raw_u16(raw, flags);
    at = raw->buf->len;
    raw_u32(raw, 0);
    return at;
}

static void
raw_nest_end(Raw *raw, gsize at)
{
    raw_patch_u32(raw, at, raw->buf->len - at - 4);
}

/* Returns: the finished frame's bytes (the body length is filled in). */
static GBytes *
raw_end(Raw *raw)
{
    raw_patch_u32(raw, 8, raw->buf->len - VMIG_NEGOTIATE_HEADER_SIZE);
    return g_byte_array_free_to_bytes(raw->buf);
}

/* Tags every valid GREETING needs, except @skip. */
static void
raw_greeting_basics(Raw *raw, guint16 skip)
{
    if (skip != VMIG_NEGOTIATE_TAG_VERSION)
        raw_item_u32(raw, VMIG_NEGOTIATE_TAG_VERSION, 1);
    if (skip != VMIG_NEGOTIATE_TAG_MAX_CHANNELS)
        raw_item_u16(raw, VMIG_NEGOTIATE_TAG_MAX_CHANNELS, 4);
    if (skip != VMIG_NEGOTIATE_TAG_HYPERVISOR)
        raw_item_str(raw, VMIG_NEGOTIATE_TAG_HYPERVISOR, "QEMU 7.2.0");
    if (skip != VMIG_NEGOTIATE_TAG_DRIVER)
        raw_item_str(raw, VMIG_NEGOTIATE_TAG_DRIVER, "virt-migrate 0.1.0");
}

static void
assert_decode_fails(GBytes *bytes, VmigNegotiateErrorCode code, const char *fragment)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigNegotiateMessage) msg = decode_bytes(bytes, &error);

    g_assert_null(msg);
    g_assert_error(error, VMIG_NEGOTIATE_ERROR, (gint)code);
    if (fragment && !strstr(error->message, fragment))
        g_error("error message '%s' does not mention '%s'", error->message, fragment);
}

static VmigNegotiateMessage *
decode_ok(GBytes *bytes)
{
    g_autoptr(GError) error = NULL;
    VmigNegotiateMessage *msg = decode_bytes(bytes, &error);

    g_assert_no_error(error);
    g_assert_nonnull(msg);
    return msg;
}

/* ---- golden frames -------------------------------------------------------- */

static void
test_golden(gconstpointer data)
{
    const GoldenCase *gc = data;
    g_autoptr(VmigNegotiateMessage) msg = gc->make();
    g_autoptr(GBytes) bytes = encode_ok(msg);
    g_autofree char *bin = g_strdup_printf("%s.bin", gc->name);
    g_autofree char *txt = g_strdup_printf("%s.txt", gc->name);
    g_autofree char *path =
        g_test_build_filename(G_TEST_DIST, "data", "negotiate", bin, NULL);
    g_autofree char *golden = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigNegotiateMessage) decoded = NULL;
    g_autoptr(GBytes) golden_bytes = NULL;
    g_autoptr(GBytes) reencoded = NULL;
    g_autofree char *dump = NULL;
    g_autofree char *dump_built = vmig_negotiate_message_to_string(msg);
    gsize golden_len;

    /* The encoder produces exactly the golden bytes. */
    assert_golden(bin, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));

    /* The golden bytes decode to the expected values ... */
    g_file_get_contents(path, &golden, &golden_len, &error);
    g_assert_no_error(error);
    golden_bytes = g_bytes_new_take(g_steal_pointer(&golden), golden_len);
    decoded = decode_ok(golden_bytes);
    dump = vmig_negotiate_message_to_string(decoded);
    assert_golden(txt, dump, strlen(dump));
    g_assert_cmpstr(dump, ==, dump_built);

    /* ... and re-encode byte for byte. */
    reencoded = encode_ok(decoded);
    g_assert_true(g_bytes_equal(reencoded, golden_bytes));
}

/* ---- malformed frames ------------------------------------------------------ */

static void
test_bad_magic(void)
{
    g_autoptr(VmigNegotiateMessage) msg = make_ready();
    g_autoptr(GBytes) bytes = encode_ok(msg);
    g_autofree guint8 *data =
        g_memdup2(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    g_autoptr(GBytes) bad = NULL;

    data[0] = 'X';
    bad = g_bytes_new(data, g_bytes_get_size(bytes));
    assert_decode_fails(bad, VMIG_NEGOTIATE_ERROR_BAD_MAGIC, "0x584d4752");
}

static void
test_short_header(void)
{
    g_autoptr(VmigNegotiateMessage) msg = make_ready();
    g_autoptr(GBytes) bytes = encode_ok(msg);

    for (gsize len = 0; len < VMIG_NEGOTIATE_HEADER_SIZE; len++) {
        g_autoptr(GBytes) part = g_bytes_new_from_bytes(bytes, 0, len);

        assert_decode_fails(part, VMIG_NEGOTIATE_ERROR_SHORT_HEADER, "header");
    }
}

static void
test_too_large(void)
{
    Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
    g_autofree guint8 *pad = g_malloc0(VMIG_NEGOTIATE_MAX_BODY);
    g_autoptr(GBytes) at_limit = NULL;
    g_autoptr(GBytes) over = NULL;
    g_autoptr(VmigNegotiateMessage) msg = NULL;
    g_autofree guint8 *data = NULL;
    gsize len;

    /* A body of exactly the limit is accepted (padded with an unknown,
     * optional item, which is skipped) ... */
    raw_greeting_basics(&raw, 0);
    raw_item(&raw, 999, 0, pad,
             VMIG_NEGOTIATE_MAX_BODY - (raw.buf->len - VMIG_NEGOTIATE_HEADER_SIZE) -
                 VMIG_NEGOTIATE_ITEM_HEADER_SIZE);
    at_limit = raw_end(&raw);
    g_assert_cmpuint(g_bytes_get_size(at_limit), ==,
                     VMIG_NEGOTIATE_HEADER_SIZE + VMIG_NEGOTIATE_MAX_BODY);
    msg = decode_ok(at_limit);

    /* ... one byte more is refused from the header alone. */
    data = g_bytes_unref_to_data(g_steal_pointer(&at_limit), &len);
    data[11] += 1;
    over = g_bytes_new(data, len);
    assert_decode_fails(over, VMIG_NEGOTIATE_ERROR_TOO_LARGE, "65537");
    {
        g_autoptr(GBytes) header_only = g_bytes_new(data, VMIG_NEGOTIATE_HEADER_SIZE);
        g_autoptr(GError) error = NULL;
        g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
        VmigNegotiateMessage *out = NULL;
        gsize consumed;

        g_assert_cmpint(vmig_negotiate_decoder_feed(dec, data, VMIG_NEGOTIATE_HEADER_SIZE,
                                                    &consumed, &out, &error),
                        ==, VMIG_NEGOTIATE_STATUS_ERROR);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_TOO_LARGE);
        g_assert_null(out);
    }
    {
        /* A length field of 0xffffffff does not wrap any arithmetic. */
        guint8 huge[VMIG_NEGOTIATE_HEADER_SIZE] = {0x56, 0x4d, 0x47, 0x52, 0,    1,
                                                   0,    0,    0xff, 0xff, 0xff, 0xff};
        g_autoptr(GBytes) b = g_bytes_new(huge, sizeof(huge));

        assert_decode_fails(b, VMIG_NEGOTIATE_ERROR_TOO_LARGE, "4294967295");
    }
}

static void
test_truncated(void)
{
    g_autoptr(VmigNegotiateMessage) msg = make_greeting();
    g_autoptr(GBytes) bytes = encode_ok(msg);

    for (gsize len = VMIG_NEGOTIATE_HEADER_SIZE; len < g_bytes_get_size(bytes); len++) {
        g_autoptr(GBytes) part = g_bytes_new_from_bytes(bytes, 0, len);

        assert_decode_fails(part, VMIG_NEGOTIATE_ERROR_TRUNCATED, "GREETING");
    }
}

static void
test_trailing_data(void)
{
    g_autoptr(VmigNegotiateMessage) msg = make_ready();
    g_autoptr(GBytes) bytes = encode_ok(msg);
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autoptr(GBytes) longer = NULL;

    g_byte_array_append(buf, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    g_byte_array_append(buf, (const guint8 *)"Q", 1);
    longer = g_bytes_new(buf->data, buf->len);
    assert_decode_fails(longer, VMIG_NEGOTIATE_ERROR_TRAILING_DATA, "1 bytes");
}

static void
test_unknown_type(void)
{
    const guint16 types[] = {0, VMIG_NEGOTIATE_FRAME_LAST, 0x7fff, 0xffff};

    for (gsize i = 0; i < G_N_ELEMENTS(types); i++) {
        Raw raw = raw_frame(types[i]);
        g_autoptr(GBytes) bytes = raw_end(&raw);
        g_autofree char *what = g_strdup_printf("type %u", types[i]);

        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_UNKNOWN_TYPE, what);
    }
}

static void
test_item_overrun(void)
{
    {
        /* An item claiming more bytes than the frame has left. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, 0);
        raw_u16(&raw, VMIG_NEGOTIATE_TAG_TUNABLE_NAME);
        raw_u16(&raw, 0);
        raw_u32(&raw, 9);
        g_byte_array_append(raw.buf, (const guint8 *)"xbzrle", 6);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_ITEM_OVERRUN, "claims 9 bytes");
    }
    {
        /* A length near 2^32 must not wrap the bounds check. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, 0);
        raw_u16(&raw, VMIG_NEGOTIATE_TAG_TUNABLE_NAME);
        raw_u16(&raw, 0);
        raw_u32(&raw, 0xfffffffc);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_ITEM_OVERRUN, "claims");
    }
    {
        /* Half an item header at the end of the frame. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, 0);
        raw_u16(&raw, VMIG_NEGOTIATE_TAG_TUNABLE_NAME);
        raw_u16(&raw, 0);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_ITEM_OVERRUN, "item header");
    }
    {
        /* A nested item overrunning its FEATURE (but not the frame). */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_u16(&raw, VMIG_NEGOTIATE_TAG_NAME);
        raw_u16(&raw, 0);
        raw_u32(&raw, 20);
        g_byte_array_append(raw.buf, (const guint8 *)"multifd", 7);
        raw_nest_end(&raw, at);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_TUNABLE_NAME, "max-bandwidth");
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_ITEM_OVERRUN, "FEATURE");
    }
}

static void
test_bad_item_length(void)
{
    struct {
        guint16 tag;
        guint32 len;
    } cases[] = {
        {VMIG_NEGOTIATE_TAG_MAX_CHANNELS, 3},
        {VMIG_NEGOTIATE_TAG_VERSION, 2},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        guint8 zero[8] = {0};

        raw_greeting_basics(&raw, cases[i].tag);
        if (cases[i].tag != VMIG_NEGOTIATE_TAG_VERSION)
            raw_item_u32(&raw, VMIG_NEGOTIATE_TAG_VERSION, 2);
        raw_item(&raw, cases[i].tag, 0, zero, cases[i].len);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH, "expected");
    }
    {
        /* A 15-byte token in a REPLY. */
        g_autoptr(VmigNegotiateMessage) reply = make_reply();
        g_autoptr(GBytes) good = encode_ok(reply);
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_REPLY);
        g_autoptr(GBytes) bytes = NULL;

        raw_item_u32(&raw, VMIG_NEGOTIATE_TAG_VERSION, 1);
        raw_item_u16(&raw, VMIG_NEGOTIATE_TAG_CHANNELS, 1);
        raw_item(&raw, VMIG_NEGOTIATE_TAG_TOKEN, 0, test_token, 15);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR, "q");
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_DRIVER, "d");
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH, "TOKEN");
    }
    {
        /* A REQUIRED flag with a value; an algorithm list with trailing junk. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "return-path");
        raw_item(&raw, VMIG_NEGOTIATE_TAG_REQUIRED, 1, "y", 1);
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH, "REQUIRED");
    }
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        const guint8 list[] = {0, 1, 4, 'z', 's', 't', 'd', 'x'};
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "multifd-compression");
        raw_item(&raw, VMIG_NEGOTIATE_TAG_ALGORITHMS, 1, list, sizeof(list));
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH,
                            "after its 1 entries");
    }
    {
        /* An algorithm entry whose length runs past the list. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        const guint8 list[] = {0, 2, 4, 'z', 's', 't', 'd', 9, 'z'};
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "multifd-compression");
        raw_item(&raw, VMIG_NEGOTIATE_TAG_ALGORITHMS, 1, list, sizeof(list));
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH, "entry 2 of 2");
    }
}

static void
test_string_limit(void)
{
    g_autofree char *s255 = g_strnfill(255, 'h');
    g_autofree char *s256 = g_strnfill(256, 'h');

    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(VmigNegotiateMessage) msg = NULL;

        raw_greeting_basics(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR, s255);
        bytes = raw_end(&raw);
        msg = decode_ok(bytes);
        g_assert_cmpstr(msg->hypervisor, ==, s255);
    }
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR, s256);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_STRING_TOO_LONG, "256 bytes");
    }
    {
        /* The encoder refuses it too, rather than sending it. */
        g_autoptr(VmigNegotiateMessage) msg = make_greeting();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) bytes = NULL;

        g_free(msg->driver);
        msg->driver = g_strdup(s256);
        bytes = vmig_negotiate_encode(msg, &error);
        g_assert_null(bytes);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_STRING_TOO_LONG);
    }
}

static void
test_bad_string(void)
{
    const struct {
        const char *value;
        gsize len;
        const char *fragment;
    } cases[] = {
        {"QEMU\xff", 5, "UTF-8"},
        {"QE\0MU", 5, "NUL"},
        {"\xc3", 1, "UTF-8"}, /* a truncated two-byte sequence */
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR);
        raw_item(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR, 0, cases[i].value, cases[i].len);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_BAD_STRING, cases[i].fragment);
    }
    {
        /* An empty feature name. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item(&raw, VMIG_NEGOTIATE_TAG_NAME, 0, "", 0);
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_BAD_STRING, "empty NAME");
    }
    {
        /* UTF-8 that is valid is kept as it is. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(VmigNegotiateMessage) msg = NULL;

        raw_greeting_basics(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_HYPERVISOR, "QEMU \xc3\xa9t\xc3\xa9");
        bytes = raw_end(&raw);
        msg = decode_ok(bytes);
        g_assert_cmpstr(msg->hypervisor, ==, "QEMU \xc3\xa9t\xc3\xa9");
    }
}

static void
test_list_limit(void)
{
    /* 256 versions are fine, 257 are not. */
    for (guint n = 256; n <= 257; n++) {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        for (guint v = 1; v <= n; v++)
            raw_item_u32(&raw, VMIG_NEGOTIATE_TAG_VERSION, v);
        raw_greeting_basics(&raw, VMIG_NEGOTIATE_TAG_VERSION);
        bytes = raw_end(&raw);
        if (n == 256) {
            g_autoptr(VmigNegotiateMessage) msg = decode_ok(bytes);

            g_assert_cmpuint(msg->versions->len, ==, 256);
        } else {
            assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_LIST_TOO_LONG, "VERSION");
        }
    }
    /* An algorithm list's count over the limit. */
    for (guint n = 256; n <= 257; n++) {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GByteArray) list = g_byte_array_new();
        g_autoptr(GBytes) bytes = NULL;
        guint8 count[2] = {n >> 8, n & 0xff};
        gsize at;

        g_byte_array_append(list, count, 2);
        for (guint i = 0; i < n; i++) {
            g_autofree char *name = g_strdup_printf("alg%u", i);
            guint8 len = strlen(name);

            g_byte_array_append(list, &len, 1);
            g_byte_array_append(list, (const guint8 *)name, len);
        }
        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "multifd-compression");
        raw_item(&raw, VMIG_NEGOTIATE_TAG_ALGORITHMS, 1, list->data, list->len);
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        if (n == 256) {
            g_autoptr(VmigNegotiateMessage) msg = decode_ok(bytes);
            const VmigNegotiateFeature *f =
                vmig_negotiate_message_find_feature(msg, "multifd-compression");

            g_assert_nonnull(f);
            g_assert_cmpuint(f->algorithms->len, ==, 256);
            g_assert_cmpstr(g_ptr_array_index(f->algorithms, 255), ==, "alg255");
        } else {
            assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_LIST_TOO_LONG, "257 entries");
        }
    }
    {
        /* The encoder refuses an over-long list. */
        g_autoptr(VmigNegotiateMessage) msg = make_greeting();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) bytes = NULL;

        for (guint v = 2; v <= 257; v++)
            vmig_negotiate_message_add_version(msg, v);
        bytes = vmig_negotiate_encode(msg, &error);
        g_assert_null(bytes);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_LIST_TOO_LONG);
    }
}

static void
test_unknown_mandatory_tag(void)
{
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, 0);
        raw_item(&raw, 4242, VMIG_NEGOTIATE_ITEM_MUST_UNDERSTAND, "x", 1);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_UNKNOWN_MANDATORY_TAG,
                            "tag 4242");
    }
    {
        /* Inside a FEATURE. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "multifd");
        raw_item(&raw, 77, VMIG_NEGOTIATE_ITEM_MUST_UNDERSTAND | 0x8000, NULL, 0);
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_UNKNOWN_MANDATORY_TAG, "FEATURE");
    }
    {
        /* A known tag in a frame that does not take it counts as unknown there. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, 0);
        raw_item(&raw, VMIG_NEGOTIATE_TAG_TOKEN, VMIG_NEGOTIATE_ITEM_MUST_UNDERSTAND,
                 test_token, sizeof(test_token));
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_UNKNOWN_MANDATORY_TAG, "TOKEN");
    }
}

static void
test_unknown_optional_skipped(void)
{
    Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(VmigNegotiateMessage) msg = NULL;
    g_autoptr(VmigNegotiateMessage) plain = NULL;
    const VmigNegotiateFeature *feature;
    gsize at;

    raw_item(&raw, 4242, 0, "future", 6);
    raw_greeting_basics(&raw, 0);
    /* Unknown bits in item flags (other than MUST_UNDERSTAND) are ignored. */
    raw_item(&raw, 5000, 0xfffe, NULL, 0);
    /* A known tag that GREETING does not take, not must-understand. */
    raw_item(&raw, VMIG_NEGOTIATE_TAG_TOKEN, 0, test_token, sizeof(test_token));
    at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
    raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "multifd");
    raw_item(&raw, 99, 0, "\x01\x02", 2);
    raw_item_u16(&raw, VMIG_NEGOTIATE_TAG_CHANNELS, 8);
    raw_nest_end(&raw, at);
    /* A feature no driver has heard of yet: decoded, then ignored by selection. */
    at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
    raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "teleport");
    raw_nest_end(&raw, at);
    bytes = raw_end(&raw);
    /* Unknown bits in the header's flags are ignored too. */
    ((guint8 *)g_bytes_get_data(bytes, NULL))[6] = 0xff;

    msg = decode_ok(bytes);
    g_assert_cmpuint(msg->flags, ==, 0xff00);
    g_assert_cmpuint(msg->versions->len, ==, 1);
    g_assert_cmpuint(msg->features->len, ==, 2);
    feature = vmig_negotiate_message_find_feature(msg, "multifd");
    g_assert_nonnull(feature);
    g_assert_true(feature->has_channels);
    g_assert_cmpuint(feature->channels, ==, 8);
    g_assert_cmpstr(msg->driver, ==, "virt-migrate 0.1.0");

    /* An unknown feature offered by the peer is skipped by selection. */
    {
        g_autoptr(VmigNegotiateMessage) src = make_source_offer();
        g_autoptr(VmigNegotiateMessage) reply = NULL;
        g_autoptr(GError) error = NULL;

        reply = vmig_negotiate_select(src, msg, &error);
        g_assert_no_error(error);
        g_assert_null(vmig_negotiate_message_find_feature(reply, "teleport"));
        g_assert_nonnull(vmig_negotiate_message_find_feature(reply, "multifd"));
    }
    (void)plain;
}

static void
test_duplicate_tag(void)
{
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, 0);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_DRIVER, "another");
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_DUPLICATE_TAG, "DRIVER");
    }
    {
        /* A REPLY selects exactly one version. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_REPLY);
        g_autoptr(GBytes) bytes = NULL;

        raw_item_u32(&raw, VMIG_NEGOTIATE_TAG_VERSION, 1);
        raw_item_u32(&raw, VMIG_NEGOTIATE_TAG_VERSION, 2);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_DUPLICATE_TAG, "VERSION");
    }
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "multifd");
        raw_item_u16(&raw, VMIG_NEGOTIATE_TAG_CHANNELS, 8);
        raw_item_u16(&raw, VMIG_NEGOTIATE_TAG_CHANNELS, 2);
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_DUPLICATE_TAG, "CHANNELS");
    }
}

static void
test_missing_tag(void)
{
    const guint16 tags[] = {
        VMIG_NEGOTIATE_TAG_MAX_CHANNELS,
        VMIG_NEGOTIATE_TAG_HYPERVISOR,
        VMIG_NEGOTIATE_TAG_DRIVER,
    };

    for (gsize i = 0; i < G_N_ELEMENTS(tags); i++) {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, tags[i]);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_MISSING_TAG,
                            vmig_negotiate_tag_to_string(tags[i]));
    }
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item_u16(&raw, VMIG_NEGOTIATE_TAG_CHANNELS, 8);
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_MISSING_TAG,
                            "FEATURE: required NAME");
    }
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_ERROR);
        g_autoptr(GBytes) bytes = NULL;

        raw_item_u32(&raw, VMIG_NEGOTIATE_TAG_CODE, VMIG_NEGOTIATE_CODE_INTERNAL);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_MISSING_TAG, "MESSAGE");
    }
}

static void
test_no_versions(void)
{
    Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(VmigNegotiateMessage) msg = make_greeting();
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) encoded = NULL;

    raw_greeting_basics(&raw, VMIG_NEGOTIATE_TAG_VERSION);
    bytes = raw_end(&raw);
    assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_NO_VERSIONS, "no protocol version");

    /* Nor will the encoder send a GREETING without one. */
    g_array_set_size(msg->versions, 0);
    encoded = vmig_negotiate_encode(msg, &error);
    g_assert_null(encoded);
    g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_NO_VERSIONS);
}

static void
test_duplicate_name(void)
{
    {
        g_autoptr(VmigNegotiateMessage) msg = make_greeting();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) bytes = NULL;

        vmig_negotiate_message_add_feature(msg, vmig_negotiate_feature_new("multifd"));
        bytes = vmig_negotiate_encode(msg, &error);
        g_assert_null(bytes);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_DUPLICATE_NAME);
        g_assert_nonnull(strstr(error->message, "feature 'multifd'"));
    }
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;

        raw_greeting_basics(&raw, 0);
        raw_item_u32(&raw, VMIG_NEGOTIATE_TAG_VERSION, 1);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_DUPLICATE_NAME, "version 1");
    }
    {
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        const guint8 list[] = {0, 2, 4, 'z', 's', 't', 'd', 4, 'z', 's', 't', 'd'};
        gsize at;

        raw_greeting_basics(&raw, 0);
        at = raw_nest_begin(&raw, VMIG_NEGOTIATE_TAG_FEATURE, 0);
        raw_item_str(&raw, VMIG_NEGOTIATE_TAG_NAME, "multifd-compression");
        raw_item(&raw, VMIG_NEGOTIATE_TAG_ALGORITHMS, 1, list, sizeof(list));
        raw_nest_end(&raw, at);
        bytes = raw_end(&raw);
        assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_DUPLICATE_NAME,
                            "algorithm 'zstd'");
    }
    {
        g_autoptr(VmigNegotiateMessage) msg = make_reply();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) bytes = NULL;

        vmig_negotiate_message_add_tunable(msg, "announce-initial", "50");
        bytes = vmig_negotiate_encode(msg, &error);
        g_assert_null(bytes);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_DUPLICATE_NAME);
    }
}

static void
test_version_zero(void)
{
    Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
    g_autoptr(GBytes) bytes = NULL;

    raw_item_u32(&raw, VMIG_NEGOTIATE_TAG_VERSION, 0);
    raw_greeting_basics(&raw, VMIG_NEGOTIATE_TAG_VERSION);
    bytes = raw_end(&raw);
    assert_decode_fails(bytes, VMIG_NEGOTIATE_ERROR_INVALID, "version 0");
}

static void
test_encode_too_large(void)
{
    /* 256 tunable names of 255 bytes make a body over 64 KiB. */
    g_autoptr(VmigNegotiateMessage) msg = make_greeting();
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;

    g_ptr_array_set_size(msg->tunable_names, 0);
    for (guint i = 0; i < 256; i++) {
        g_autofree char *prefix = g_strdup_printf("%03u", i);
        g_autofree char *name = g_strdup_printf("%s%s", prefix, "x");
        g_autofree char *pad = g_strnfill(255 - strlen(name), 'p');
        g_autofree char *full = g_strconcat(name, pad, NULL);

        vmig_negotiate_message_add_tunable_name(msg, full);
    }
    bytes = vmig_negotiate_encode(msg, &error);
    g_assert_null(bytes);
    g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_TOO_LARGE);
}

/* ---- incremental decoder ---------------------------------------------------- */

/* Feeds @data to @dec in pieces of @step bytes; returns the frames decoded. */
static GPtrArray *
feed_in_steps(VmigNegotiateDecoder *dec, const guint8 *data, gsize len, gsize step)
{
    GPtrArray *frames =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmig_negotiate_message_free);
    gsize pos = 0;

    while (pos < len) {
        gsize chunk = MIN(step, len - pos);
        gsize off = 0;

        while (off < chunk) {
            g_autoptr(GError) error = NULL;
            VmigNegotiateMessage *msg = NULL;
            gsize consumed = 0;
            VmigNegotiateStatus status = vmig_negotiate_decoder_feed(
                dec, data + pos + off, chunk - off, &consumed, &msg, &error);

            g_assert_no_error(error);
            g_assert_cmpuint(consumed, <=, chunk - off);
            off += consumed;
            if (status == VMIG_NEGOTIATE_STATUS_FRAME)
                g_ptr_array_add(frames, msg);
            else
                g_assert_cmpint(status, ==, VMIG_NEGOTIATE_STATUS_NEED_MORE);
        }
        pos += chunk;
    }
    return frames;
}

static void
test_decoder_splits(void)
{
    /* All five golden frames back to back, fed in every piece size. */
    g_autoptr(GByteArray) stream = g_byte_array_new();
    g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func(g_free);

    for (gsize i = 0; i < G_N_ELEMENTS(golden_cases); i++) {
        g_autoptr(VmigNegotiateMessage) msg = golden_cases[i].make();
        g_autoptr(GBytes) bytes = encode_ok(msg);

        g_byte_array_append(stream, g_bytes_get_data(bytes, NULL),
                            g_bytes_get_size(bytes));
        g_ptr_array_add(expected, vmig_negotiate_message_to_string(msg));
    }
    for (gsize step = 1; step <= stream->len; step += (step < 64 ? 1 : 97)) {
        g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
        g_autoptr(GPtrArray) frames = feed_in_steps(dec, stream->data, stream->len, step);
        g_autoptr(GError) error = NULL;

        g_assert_cmpuint(frames->len, ==, expected->len);
        for (guint i = 0; i < frames->len; i++) {
            g_autofree char *dump = vmig_negotiate_message_to_string(frames->pdata[i]);

            g_assert_cmpstr(dump, ==, expected->pdata[i]);
        }
        g_assert_true(vmig_negotiate_decoder_finish(dec, &error));
        g_assert_no_error(error);
    }
}

static void
test_decoder_stream_after_ready(void)
{
    /* After READY the QEMU stream follows on the same connection: the
     * decoder must stop at the frame's last byte. */
    g_autoptr(VmigNegotiateMessage) ready = make_ready();
    g_autoptr(GBytes) bytes = encode_ok(ready);
    g_autoptr(GByteArray) stream = g_byte_array_new();
    g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
    g_autoptr(VmigNegotiateMessage) msg = NULL;
    g_autoptr(GError) error = NULL;
    const guint8 qevm[] = {0x51, 0x45, 0x56, 0x4d, 0x00, 0x00, 0x00, 0x03};
    gsize consumed = 0;

    g_byte_array_append(stream, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    g_byte_array_append(stream, qevm, sizeof(qevm));
    g_assert_cmpint(vmig_negotiate_decoder_feed(dec, stream->data, stream->len, &consumed,
                                                &msg, &error),
                    ==, VMIG_NEGOTIATE_STATUS_FRAME);
    g_assert_no_error(error);
    g_assert_cmpuint(consumed, ==, VMIG_NEGOTIATE_HEADER_SIZE);
    g_assert_cmpint(msg->type, ==, VMIG_NEGOTIATE_FRAME_READY);
    g_assert_cmpmem(stream->data + consumed, stream->len - consumed, qevm, sizeof(qevm));
}

static void
test_decoder_wanted(void)
{
    /* Reading exactly what the decoder wants lands on every frame's end. */
    g_autoptr(VmigNegotiateMessage) greeting = make_greeting();
    g_autoptr(VmigNegotiateMessage) ready = make_ready();
    g_autoptr(GBytes) a = encode_ok(greeting);
    g_autoptr(GBytes) b = encode_ok(ready);
    g_autoptr(GByteArray) stream = g_byte_array_new();
    g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
    gsize pos = 0;
    guint frames = 0;

    g_byte_array_append(stream, g_bytes_get_data(a, NULL), g_bytes_get_size(a));
    g_byte_array_append(stream, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
    while (frames < 2) {
        g_autoptr(VmigNegotiateMessage) msg = NULL;
        g_autoptr(GError) error = NULL;
        gsize want = vmig_negotiate_decoder_wanted(dec);
        gsize consumed;

        g_assert_cmpuint(want, >, 0);
        g_assert_cmpint(vmig_negotiate_decoder_feed(dec, stream->data + pos, want,
                                                    &consumed, &msg, &error),
                        !=, VMIG_NEGOTIATE_STATUS_ERROR);
        g_assert_cmpuint(consumed, ==, want);
        pos += consumed;
        if (msg) {
            frames++;
            g_assert_cmpuint(pos, ==, frames == 1 ? g_bytes_get_size(a) : stream->len);
        }
    }
}

static void
test_decoder_errors(void)
{
    {
        /* Garbage is refused once the header is in, without waiting for more. */
        g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
        g_autoptr(GError) error = NULL;
        VmigNegotiateMessage *msg = NULL;
        const char *garbage = "GET / HTTP/1.1\r\n";
        gsize consumed;

        g_assert_cmpint(vmig_negotiate_decoder_feed(dec, (const guint8 *)garbage,
                                                    strlen(garbage), &consumed, &msg,
                                                    &error),
                        ==, VMIG_NEGOTIATE_STATUS_ERROR);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_MAGIC);
        g_assert_null(msg);
        g_assert_cmpuint(consumed, ==, VMIG_NEGOTIATE_HEADER_SIZE);
    }
    {
        /* A bad body is reported once it is complete. */
        Raw raw = raw_frame(VMIG_NEGOTIATE_FRAME_GREETING);
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
        g_autoptr(GError) error = NULL;
        VmigNegotiateMessage *msg = NULL;
        gsize consumed;

        raw_greeting_basics(&raw, VMIG_NEGOTIATE_TAG_VERSION);
        bytes = raw_end(&raw);
        g_assert_cmpint(vmig_negotiate_decoder_feed(dec, g_bytes_get_data(bytes, NULL),
                                                    g_bytes_get_size(bytes), &consumed,
                                                    &msg, &error),
                        ==, VMIG_NEGOTIATE_STATUS_ERROR);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_NO_VERSIONS);
        g_assert_null(msg);
    }
}

static void
test_decoder_finish(void)
{
    g_autoptr(VmigNegotiateMessage) greeting = make_greeting();
    g_autoptr(GBytes) bytes = encode_ok(greeting);
    const guint8 *data = g_bytes_get_data(bytes, NULL);
    const gsize cuts[] = {5, VMIG_NEGOTIATE_HEADER_SIZE + 7};
    const VmigNegotiateErrorCode codes[] = {
        VMIG_NEGOTIATE_ERROR_SHORT_HEADER,
        VMIG_NEGOTIATE_ERROR_TRUNCATED,
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cuts); i++) {
        g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
        g_autoptr(GError) error = NULL;
        VmigNegotiateMessage *msg = NULL;
        gsize consumed;

        g_assert_cmpint(
            vmig_negotiate_decoder_feed(dec, data, cuts[i], &consumed, &msg, &error), ==,
            VMIG_NEGOTIATE_STATUS_NEED_MORE);
        g_assert_cmpuint(consumed, ==, cuts[i]);
        g_assert_false(vmig_negotiate_decoder_finish(dec, &error));
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, (gint)codes[i]);
    }
    {
        g_autoptr(VmigNegotiateDecoder) dec = vmig_negotiate_decoder_new();
        g_autoptr(GError) error = NULL;
        VmigNegotiateMessage *msg = NULL;
        gsize consumed = 99;

        /* Nothing fed, and an empty feed: clean. */
        g_assert_cmpint(
            vmig_negotiate_decoder_feed(dec, NULL, 0, &consumed, &msg, &error), ==,
            VMIG_NEGOTIATE_STATUS_NEED_MORE);
        g_assert_cmpuint(consumed, ==, 0);
        g_assert_true(vmig_negotiate_decoder_finish(dec, &error));
    }
}

/* ---- selection ------------------------------------------------------------- */

static VmigNegotiateMessage *
offer(const guint32 *versions, gsize n_versions, guint16 max_channels)
{
    VmigNegotiateMessage *msg = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_GREETING);

    for (gsize i = 0; i < n_versions; i++)
        vmig_negotiate_message_add_version(msg, versions[i]);
    msg->max_channels = max_channels;
    msg->hypervisor = g_strdup("QEMU 7.2.0");
    msg->driver = g_strdup("virt-migrate 0.1.0");
    return msg;
}

static guint32
select_version(const guint32 *src, gsize n_src, const guint32 *dst, gsize n_dst,
               GError **error)
{
    g_autoptr(VmigNegotiateMessage) a = offer(src, n_src, 1);
    g_autoptr(VmigNegotiateMessage) b = offer(dst, n_dst, 1);
    g_autoptr(VmigNegotiateMessage) reply = vmig_negotiate_select(a, b, error);

    return reply ? g_array_index(reply->versions, guint32, 0) : 0;
}

static void
test_select_version(void)
{
    const guint32 v123[] = {3, 2, 1};
    const guint32 v12[] = {2, 1};
    const guint32 v1[] = {1};
    const guint32 v45[] = {5, 4};
    const guint32 src_exp[] = {0x80000002, 2, 1};
    const guint32 dst_exp[] = {0x80000002, 0x80000001, 2, 1};
    const guint32 only_exp[] = {0x80000001};
    g_autoptr(GError) error = NULL;

    g_assert_cmpuint(select_version(v123, 3, v12, 2, &error), ==, 2);
    g_assert_cmpuint(select_version(v1, 1, v123, 3, &error), ==, 1);
    /* Order of the lists does not matter: the highest common one wins. */
    {
        const guint32 backwards[] = {1, 2, 3};

        g_assert_cmpuint(select_version(backwards, 3, v12, 2, &error), ==, 2);
    }
    g_assert_no_error(error);

    /* Experimental versions: chosen only when both sides list them. */
    g_assert_cmpuint(select_version(src_exp, 3, dst_exp, 4, &error), ==, 0x80000002);
    g_assert_cmpuint(select_version(v12, 2, dst_exp, 4, &error), ==, 2);
    g_assert_cmpuint(select_version(src_exp, 3, v12, 2, &error), ==, 2);
    g_assert_no_error(error);

    g_assert_cmpuint(select_version(v12, 2, only_exp, 1, &error), ==, 0);
    g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_NO_COMMON_VERSION);
    g_assert_nonnull(strstr(error->message, "0x80000001 (experimental)"));
    g_clear_error(&error);

    g_assert_cmpuint(select_version(v123, 3, v45, 2, &error), ==, 0);
    g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_NO_COMMON_VERSION);
    g_assert_nonnull(strstr(error->message, "[3, 2, 1]"));
    g_assert_nonnull(strstr(error->message, "[5, 4]"));
}

static void
test_select_features(void)
{
    g_autoptr(VmigNegotiateMessage) src = make_source_offer();
    g_autoptr(VmigNegotiateMessage) dst = make_greeting();
    g_autoptr(VmigNegotiateMessage) reply = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dump = NULL;

    reply = vmig_negotiate_select(src, dst, &error);
    g_assert_no_error(error);
    dump = vmig_negotiate_message_to_string(reply);
    /* The source's order; channels = min(4, 16); algorithms = the
     * intersection in the source's order of preference ("none" is not
     * offered by the destination); postcopy-ram only on the destination. */
    g_assert_cmpstr(dump, ==,
                    "REPLY flags=0x0000\n"
                    "  version 1\n"
                    "  feature multifd channels=4\n"
                    "  feature return-path\n"
                    "  feature multifd-compression algorithms=zstd,zlib\n"
                    "  channels 4\n"
                    "  token 00000000000000000000000000000000\n"
                    "  hypervisor \"\"\n"
                    "  driver \"\"\n");
}

static void
test_select_attributes(void)
{
    g_autoptr(VmigNegotiateMessage) src = offer((const guint32[]){1}, 1, 8);
    g_autoptr(VmigNegotiateMessage) dst = offer((const guint32[]){1}, 1, 2);
    g_autoptr(VmigNegotiateMessage) reply = NULL;
    g_autoptr(GError) error = NULL;
    VmigNegotiateFeature *f;

    /* CHANNELS only on one side: dropped; the feature stays. */
    f = vmig_negotiate_message_add_feature(src, vmig_negotiate_feature_new("a"));
    vmig_negotiate_feature_set_channels(f, 8);
    vmig_negotiate_message_add_feature(dst, vmig_negotiate_feature_new("a"));
    /* ALGORITHMS with nothing in common: the feature is dropped. */
    f = vmig_negotiate_message_add_feature(src, vmig_negotiate_feature_new("b"));
    vmig_negotiate_feature_add_algorithm(f, "zstd");
    f = vmig_negotiate_message_add_feature(dst, vmig_negotiate_feature_new("b"));
    vmig_negotiate_feature_add_algorithm(f, "zlib");
    /* CHANNELS merging to 0: dropped. */
    f = vmig_negotiate_message_add_feature(src, vmig_negotiate_feature_new("c"));
    vmig_negotiate_feature_set_channels(f, 0);
    f = vmig_negotiate_message_add_feature(dst, vmig_negotiate_feature_new("c"));
    vmig_negotiate_feature_set_channels(f, 4);
    /* Only on the source: dropped. */
    vmig_negotiate_message_add_feature(src, vmig_negotiate_feature_new("d"));

    reply = vmig_negotiate_select(src, dst, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(reply->features->len, ==, 1);
    f = g_ptr_array_index(reply->features, 0);
    g_assert_cmpstr(f->name, ==, "a");
    g_assert_false(f->has_channels);
    g_assert_null(f->algorithms);
    g_assert_cmpuint(reply->channels, ==, 2);
}

static void
test_select_required(void)
{
    {
        /* The destination requires return-path; the source forbids it
         * (a forbidden feature is simply not offered). */
        g_autoptr(VmigNegotiateMessage) src = make_source_offer();
        g_autoptr(VmigNegotiateMessage) dst = make_greeting();
        g_autoptr(VmigNegotiateMessage) reply = NULL;
        g_autoptr(GError) error = NULL;

        g_ptr_array_remove_index(src->features, 1); /* return-path */
        reply = vmig_negotiate_select(src, dst, &error);
        g_assert_null(reply);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR,
                       VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED);
        g_assert_cmpstr(error->message, ==,
                        "feature 'return-path' is required by the destination but the "
                        "source does not offer it");
    }
    {
        /* The source requires postcopy-ram; the destination lacks it. */
        g_autoptr(VmigNegotiateMessage) src = make_source_offer();
        g_autoptr(VmigNegotiateMessage) dst = make_greeting();
        g_autoptr(VmigNegotiateMessage) reply = NULL;
        g_autoptr(GError) error = NULL;

        vmig_negotiate_message_add_feature(src,
                                           vmig_negotiate_feature_new("postcopy-ram"))
            ->required = TRUE;
        g_ptr_array_remove_index(dst->features, 3); /* postcopy-ram */
        reply = vmig_negotiate_select(src, dst, &error);
        g_assert_null(reply);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR,
                       VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED);
        g_assert_cmpstr(error->message, ==,
                        "feature 'postcopy-ram' is required by the source but the "
                        "destination does not offer it");
    }
    {
        /* Required by the source, offered by both, but no common algorithm. */
        g_autoptr(VmigNegotiateMessage) src = make_source_offer();
        g_autoptr(VmigNegotiateMessage) dst = make_greeting();
        g_autoptr(VmigNegotiateMessage) reply = NULL;
        g_autoptr(GError) error = NULL;
        VmigNegotiateFeature *f = g_ptr_array_index(src->features, 2);

        f->required = TRUE;
        g_ptr_array_remove_index(f->algorithms, 2); /* zlib */
        g_ptr_array_remove_index(f->algorithms, 0); /* zstd */
        reply = vmig_negotiate_select(src, dst, &error);
        g_assert_null(reply);
        g_assert_error(error, VMIG_NEGOTIATE_ERROR,
                       VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED);
        g_assert_cmpstr(
            error->message, ==,
            "feature 'multifd-compression' is required by the source but the two "
            "sides have no algorithm in common (source [none], destination "
            "[zlib, zstd])");
    }
    {
        /* Required on both sides and available: fine. */
        g_autoptr(VmigNegotiateMessage) src = make_source_offer();
        g_autoptr(VmigNegotiateMessage) dst = make_greeting();
        g_autoptr(VmigNegotiateMessage) reply = NULL;
        g_autoptr(GError) error = NULL;

        ((VmigNegotiateFeature *)g_ptr_array_index(src->features, 0))->required = TRUE;
        reply = vmig_negotiate_select(src, dst, &error);
        g_assert_no_error(error);
        g_assert_nonnull(vmig_negotiate_message_find_feature(reply, "multifd"));
    }
}

/* ---- destination checks ------------------------------------------------------- */

static void
assert_reply_refused(VmigNegotiateMessage *greeting, VmigNegotiateMessage *reply,
                     VmigNegotiateErrorCode code, const char *fragment)
{
    g_autoptr(GError) error = NULL;

    g_assert_false(vmig_negotiate_check_reply(greeting, reply, &error));
    g_assert_error(error, VMIG_NEGOTIATE_ERROR, (gint)code);
    if (!strstr(error->message, fragment))
        g_error("error message '%s' does not mention '%s'", error->message, fragment);
}

static void
test_check_reply(void)
{
    g_autoptr(VmigNegotiateMessage) greeting = make_greeting();
    g_autoptr(GError) error = NULL;

    {
        g_autoptr(VmigNegotiateMessage) reply = make_reply();

        g_assert_true(vmig_negotiate_check_reply(greeting, reply, &error));
        g_assert_no_error(error);
    }
    {
        g_autoptr(VmigNegotiateMessage) reply = make_reply();

        g_array_index(reply->versions, guint32, 0) = 0x80000001;
        assert_reply_refused(greeting, reply, VMIG_NEGOTIATE_ERROR_INVALID,
                             "0x80000001 (experimental)");
    }
    {
        g_autoptr(VmigNegotiateMessage) reply = make_reply();

        vmig_negotiate_message_add_feature(reply,
                                           vmig_negotiate_feature_new("zero-copy-send"));
        assert_reply_refused(greeting, reply, VMIG_NEGOTIATE_ERROR_INVALID,
                             "feature 'zero-copy-send'");
    }
    {
        g_autoptr(VmigNegotiateMessage) reply = make_reply();

        vmig_negotiate_feature_set_channels(g_ptr_array_index(reply->features, 0), 17);
        assert_reply_refused(greeting, reply, VMIG_NEGOTIATE_ERROR_INVALID,
                             "17 channels");
    }
    {
        g_autoptr(VmigNegotiateMessage) reply = make_reply();

        vmig_negotiate_feature_add_algorithm(g_ptr_array_index(reply->features, 2),
                                             "lz4");
        assert_reply_refused(greeting, reply, VMIG_NEGOTIATE_ERROR_INVALID,
                             "algorithm 'lz4'");
    }
    {
        g_autoptr(VmigNegotiateMessage) reply = make_reply();

        reply->channels = 17;
        assert_reply_refused(greeting, reply, VMIG_NEGOTIATE_ERROR_INVALID, "at most 16");
    }
    {
        g_autoptr(VmigNegotiateMessage) reply = make_reply();

        g_ptr_array_remove_index(reply->features, 1); /* return-path, required by dst */
        assert_reply_refused(
            greeting, reply, VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED,
            "feature 'return-path' is required by the destination but the "
            "source did not select it");
    }
}

static void
test_check_commit(void)
{
    g_autoptr(VmigNegotiateMessage) greeting = make_greeting();
    g_autoptr(VmigNegotiateMessage) reply = make_reply();
    g_autoptr(GError) error = NULL;

    {
        g_autoptr(VmigNegotiateMessage) commit = make_commit();

        g_assert_true(vmig_negotiate_check_commit(greeting, reply, commit, &error));
        g_assert_no_error(error);
    }
    {
        g_autoptr(VmigNegotiateMessage) commit = make_commit();

        commit->channels = 5;
        g_assert_false(vmig_negotiate_check_commit(greeting, reply, commit, &error));
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID);
        g_clear_error(&error);
    }
    {
        g_autoptr(VmigNegotiateMessage) commit = make_commit();

        vmig_negotiate_message_add_feature(commit,
                                           vmig_negotiate_feature_new("postcopy-ram"));
        g_assert_false(vmig_negotiate_check_commit(greeting, reply, commit, &error));
        g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "'postcopy-ram'"));
        g_clear_error(&error);
    }
    {
        g_autoptr(VmigNegotiateMessage) commit = make_commit();

        g_ptr_array_remove_index(commit->features, 1);
        g_assert_false(vmig_negotiate_check_commit(greeting, reply, commit, &error));
        g_assert_error(error, VMIG_NEGOTIATE_ERROR,
                       VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED);
    }
}

/* A whole handshake, both sides, through the encoder and the decoder. */
static void
test_handshake(void)
{
    g_autoptr(VmigNegotiateMessage) dst_greeting = make_greeting();
    g_autoptr(VmigNegotiateMessage) src_offer = make_source_offer();
    g_autoptr(GBytes) greeting_bytes = encode_ok(dst_greeting);
    g_autoptr(VmigNegotiateMessage) greeting_at_src = decode_ok(greeting_bytes);
    g_autoptr(VmigNegotiateMessage) reply = NULL;
    g_autoptr(GBytes) reply_bytes = NULL;
    g_autoptr(VmigNegotiateMessage) reply_at_dst = NULL;
    g_autoptr(VmigNegotiateMessage) commit = NULL;
    g_autoptr(GBytes) commit_bytes = NULL;
    g_autoptr(VmigNegotiateMessage) commit_at_dst = NULL;
    g_autoptr(GError) error = NULL;
    VmigNegotiateFeature *multifd;

    reply = vmig_negotiate_select(src_offer, greeting_at_src, &error);
    g_assert_no_error(error);
    memcpy(reply->token, test_token, sizeof(test_token));
    reply->hypervisor = g_strdup("QEMU 7.2.0");
    reply->driver = g_strdup("virt-migrate 0.1.0");
    reply_bytes = encode_ok(reply);
    reply_at_dst = decode_ok(reply_bytes);
    g_assert_true(vmig_negotiate_check_reply(dst_greeting, reply_at_dst, &error));
    g_assert_no_error(error);
    g_assert_cmpmem(reply_at_dst->token, 16, test_token, 16);

    /* Only 2 of 4 channels arrived: the COMMIT says so. */
    commit = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_COMMIT);
    commit->channels = 2;
    for (guint i = 0; i < reply->features->len; i++)
        vmig_negotiate_message_add_feature(
            commit, vmig_negotiate_feature_copy(g_ptr_array_index(reply->features, i)));
    multifd =
        (VmigNegotiateFeature *)vmig_negotiate_message_find_feature(commit, "multifd");
    vmig_negotiate_feature_set_channels(multifd, 2);
    commit_bytes = encode_ok(commit);
    commit_at_dst = decode_ok(commit_bytes);
    g_assert_true(
        vmig_negotiate_check_commit(dst_greeting, reply_at_dst, commit_at_dst, &error));
    g_assert_no_error(error);
}

static void
test_names(void)
{
    g_assert_cmpstr(vmig_negotiate_frame_type_to_string(VMIG_NEGOTIATE_FRAME_GREETING),
                    ==, "GREETING");
    g_assert_cmpstr(vmig_negotiate_frame_type_to_string(VMIG_NEGOTIATE_FRAME_ERROR), ==,
                    "ERROR");
    g_assert_null(vmig_negotiate_frame_type_to_string(0));
    g_assert_null(vmig_negotiate_frame_type_to_string(VMIG_NEGOTIATE_FRAME_LAST));
    g_assert_cmpstr(vmig_negotiate_tag_to_string(VMIG_NEGOTIATE_TAG_VALUE), ==, "VALUE");
    g_assert_null(vmig_negotiate_tag_to_string(VMIG_NEGOTIATE_TAG_LAST));
    g_assert_cmpstr(vmig_negotiate_code_to_string(VMIG_NEGOTIATE_CODE_CANCELLED), ==,
                    "cancelled");
    g_assert_cmpstr(vmig_negotiate_error_code_to_string(VMIG_NEGOTIATE_ERROR_INVALID), ==,
                    "invalid");
    {
        g_autoptr(GError) e1 = g_error_new_literal(
            VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_NO_COMMON_VERSION, "x");
        g_autoptr(GError) e2 = g_error_new_literal(
            VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED, "x");
        g_autoptr(GError) e3 = g_error_new_literal(VMIG_NEGOTIATE_ERROR,
                                                   VMIG_NEGOTIATE_ERROR_BAD_MAGIC, "x");
        g_autoptr(GError) e4 = g_error_new_literal(G_FILE_ERROR, 0, "x");

        g_assert_cmpint(vmig_negotiate_code_from_error(e1), ==,
                        VMIG_NEGOTIATE_CODE_VERSION);
        g_assert_cmpint(vmig_negotiate_code_from_error(e2), ==,
                        VMIG_NEGOTIATE_CODE_FEATURE);
        g_assert_cmpint(vmig_negotiate_code_from_error(e3), ==,
                        VMIG_NEGOTIATE_CODE_PROTOCOL);
        g_assert_cmpint(vmig_negotiate_code_from_error(e4), ==,
                        VMIG_NEGOTIATE_CODE_INTERNAL);
    }
}

/*
 * An ERROR's reason of any length can be sent: one over a MESSAGE's 255
 * bytes is cut at a character boundary with "...", one that is not UTF-8
 * made valid; a short one travels as it is.
 */
static void
test_error_long_reason(void)
{
    g_autoptr(GString) reason = g_string_new("the destination QEMU is gone: ");
    static const char *const reasons[] = {"short", "bad \xff byte", NULL};
    g_autoptr(GError) error = NULL;

    while (reason->len < 400)
        g_string_append(reason, "\xc3\xa9t\xc3\xa9 "); /* "été ": two bytes a letter */
    for (guint i = 0; i < 3; i++) {
        const char *text = i < 2 ? reasons[i] : reason->str;
        g_autoptr(VmigNegotiateMessage) err =
            vmig_negotiate_message_new_error(VMIG_NEGOTIATE_CODE_INTERNAL, text);
        g_autoptr(GBytes) frame = vmig_negotiate_encode(err, &error);
        g_autoptr(VmigNegotiateMessage) back = NULL;

        g_assert_no_error(error);
        g_assert_nonnull(frame);
        back = vmig_negotiate_decode(g_bytes_get_data(frame, NULL),
                                     g_bytes_get_size(frame), &error);
        g_assert_no_error(error);
        g_assert_cmpuint(back->code, ==, VMIG_NEGOTIATE_CODE_INTERNAL);
        g_assert_true(g_utf8_validate(back->message, -1, NULL));
        g_assert_cmpuint(strlen(back->message), <=, VMIG_NEGOTIATE_MAX_STRING);
        if (i == 0)
            g_assert_cmpstr(back->message, ==, "short");
        if (i == 2) {
            g_assert_true(g_str_has_suffix(back->message, "..."));
            g_assert_true(
                g_str_has_prefix(back->message, "the destination QEMU is gone: "));
        }
    }
}

/* DOMAIN: a name and an XML text longer than a string, up to the frame's limit. */
static void
test_domain_frame(void)
{
    g_autoptr(VmigNegotiateMessage) msg =
        vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_DOMAIN);
    g_autoptr(VmigNegotiateMessage) back = NULL;
    g_autoptr(GBytes) frame = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) xml = g_string_new("<domain type='kvm'><name>vm1</name>");

    while (xml->len < 4000)
        g_string_append(xml, "<!-- a comment that makes it longer -->");
    g_string_append(xml, "</domain>");
    msg->domain_name = g_strdup("vm1");
    msg->domain_xml = g_strdup(xml->str);
    frame = vmig_negotiate_encode(msg, &error);
    g_assert_no_error(error);
    back = vmig_negotiate_decode(g_bytes_get_data(frame, NULL), g_bytes_get_size(frame),
                                 &error);
    g_assert_no_error(error);
    g_assert_cmpint(back->type, ==, VMIG_NEGOTIATE_FRAME_DOMAIN);
    g_assert_cmpstr(back->domain_name, ==, "vm1");
    g_assert_cmpstr(back->domain_xml, ==, xml->str);

    /* Beyond the 64 KiB body: the encoder refuses, saying so. */
    g_clear_pointer(&frame, g_bytes_unref);
    while (xml->len <= VMIG_NEGOTIATE_MAX_BODY)
        g_string_append(xml, "<!-- a comment that makes it longer -->");
    g_free(msg->domain_xml);
    msg->domain_xml = g_strdup(xml->str);
    frame = vmig_negotiate_encode(msg, &error);
    g_assert_null(frame);
    g_assert_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_TOO_LARGE);
    g_assert_nonnull(strstr(error->message, "DOMAIN frame body"));
    g_clear_error(&error);

    /* A domain without a name is refused. */
    g_clear_pointer(&msg->domain_name, g_free);
    g_free(msg->domain_xml);
    msg->domain_xml = g_strdup("<domain/>");
    frame = vmig_negotiate_encode(msg, &error);
    g_assert_null(frame);
    g_assert_nonnull(error);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(golden_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/negotiate/golden/%s", golden_cases[i].name);

        g_test_add_data_func(path, &golden_cases[i], test_golden);
    }
    g_test_add_func("/negotiate/frame/bad-magic", test_bad_magic);
    g_test_add_func("/negotiate/frame/domain", test_domain_frame);
    g_test_add_func("/negotiate/frame/error-long-reason", test_error_long_reason);
    g_test_add_func("/negotiate/frame/short-header", test_short_header);
    g_test_add_func("/negotiate/frame/too-large", test_too_large);
    g_test_add_func("/negotiate/frame/truncated", test_truncated);
    g_test_add_func("/negotiate/frame/trailing-data", test_trailing_data);
    g_test_add_func("/negotiate/frame/unknown-type", test_unknown_type);
    g_test_add_func("/negotiate/frame/item-overrun", test_item_overrun);
    g_test_add_func("/negotiate/frame/bad-item-length", test_bad_item_length);
    g_test_add_func("/negotiate/frame/string-limit", test_string_limit);
    g_test_add_func("/negotiate/frame/bad-string", test_bad_string);
    g_test_add_func("/negotiate/frame/list-limit", test_list_limit);
    g_test_add_func("/negotiate/frame/unknown-mandatory-tag", test_unknown_mandatory_tag);
    g_test_add_func("/negotiate/frame/unknown-optional-skipped",
                    test_unknown_optional_skipped);
    g_test_add_func("/negotiate/frame/duplicate-tag", test_duplicate_tag);
    g_test_add_func("/negotiate/frame/missing-tag", test_missing_tag);
    g_test_add_func("/negotiate/frame/no-versions", test_no_versions);
    g_test_add_func("/negotiate/frame/duplicate-name", test_duplicate_name);
    g_test_add_func("/negotiate/frame/version-zero", test_version_zero);
    g_test_add_func("/negotiate/frame/encode-too-large", test_encode_too_large);
    g_test_add_func("/negotiate/decoder/splits", test_decoder_splits);
    g_test_add_func("/negotiate/decoder/stream-after-ready",
                    test_decoder_stream_after_ready);
    g_test_add_func("/negotiate/decoder/errors", test_decoder_errors);
    g_test_add_func("/negotiate/decoder/wanted", test_decoder_wanted);
    g_test_add_func("/negotiate/decoder/finish", test_decoder_finish);
    g_test_add_func("/negotiate/select/version", test_select_version);
    g_test_add_func("/negotiate/select/features", test_select_features);
    g_test_add_func("/negotiate/select/attributes", test_select_attributes);
    g_test_add_func("/negotiate/select/required", test_select_required);
    g_test_add_func("/negotiate/check/reply", test_check_reply);
    g_test_add_func("/negotiate/check/commit", test_check_commit);
    g_test_add_func("/negotiate/handshake", test_handshake);
    g_test_add_func("/negotiate/names", test_names);

    return g_test_run();
}
