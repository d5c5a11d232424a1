/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * frame.c: handshake frames to bytes and back
 *
 * Decoding is driven by tables: what kind of value each tag holds, and for
 * each frame type (and each nested item) which tags it takes and how many
 * times.  One walker applies them all, so every rule of the wire format is
 * written once: limits, MUST_UNDERSTAND, singletons, required tags.
 */
#include <config.h>

#include <string.h>

#include "negotiate/negotiate-private.h"

typedef enum {
    KIND_NONE, /* not a tag of this version */
    KIND_U16,
    KIND_U32,
    KIND_STRING, /* UTF-8, no NUL, <= 255 bytes, may be empty */
    KIND_NAME,   /* a STRING that must not be empty */
    KIND_TOKEN,  /* exactly VMIG_NEGOTIATE_TOKEN_SIZE bytes */
    KIND_FLAG,   /* empty: present or absent */
    KIND_NAMES,  /* u16 count, then count x { u8 len, NAME } */
    KIND_NESTED, /* an item list of its own */
    KIND_TEXT,   /* UTF-8, no NUL, not empty, as long as the frame allows */
} ItemKind;

typedef struct {
    ItemKind kind;
    /*
     * Set MUST_UNDERSTAND when sending: the item constrains the peer, so a
     * peer that skipped it would silently do something else.
     */
    gboolean must_understand;
} TagInfo;

static const TagInfo tag_info[] = {
    [0] = {KIND_NONE, FALSE},
    [VMIG_NEGOTIATE_TAG_VERSION] = {KIND_U32, FALSE},
    [VMIG_NEGOTIATE_TAG_FEATURE] = {KIND_NESTED, FALSE},
    [VMIG_NEGOTIATE_TAG_TUNABLE_NAME] = {KIND_NAME, FALSE},
    [VMIG_NEGOTIATE_TAG_TUNABLE] = {KIND_NESTED, TRUE},
    [VMIG_NEGOTIATE_TAG_HYPERVISOR] = {KIND_STRING, FALSE},
    [VMIG_NEGOTIATE_TAG_DRIVER] = {KIND_STRING, FALSE},
    [VMIG_NEGOTIATE_TAG_MAX_CHANNELS] = {KIND_U16, FALSE},
    [VMIG_NEGOTIATE_TAG_TOKEN] = {KIND_TOKEN, FALSE},
    [VMIG_NEGOTIATE_TAG_CHANNELS] = {KIND_U16, TRUE},
    [VMIG_NEGOTIATE_TAG_CODE] = {KIND_U32, FALSE},
    [VMIG_NEGOTIATE_TAG_MESSAGE] = {KIND_STRING, FALSE},
    [VMIG_NEGOTIATE_TAG_NAME] = {KIND_NAME, FALSE},
    [VMIG_NEGOTIATE_TAG_ALGORITHMS] = {KIND_NAMES, TRUE},
    [VMIG_NEGOTIATE_TAG_REQUIRED] = {KIND_FLAG, TRUE},
    [VMIG_NEGOTIATE_TAG_VALUE] = {KIND_STRING, FALSE},
    [VMIG_NEGOTIATE_TAG_HEARTBEAT] = {KIND_U32, FALSE},
    [VMIG_NEGOTIATE_TAG_PAUSED] = {KIND_FLAG, FALSE},
    [VMIG_NEGOTIATE_TAG_DOMAIN_NAME] = {KIND_NAME, FALSE},
    [VMIG_NEGOTIATE_TAG_DOMAIN_XML] = {KIND_TEXT, FALSE},
};
G_STATIC_ASSERT(G_N_ELEMENTS(tag_info) == VMIG_NEGOTIATE_TAG_LAST);

/* Returns: TRUE when @tag's value is an item list of its own. */
gboolean
vmig_negotiate_tag_is_nested(guint16 tag)
{
    return tag < G_N_ELEMENTS(tag_info) && tag_info[tag].kind == KIND_NESTED;
}

/* A tag a context takes, and how many times (min..max). */
typedef struct {
    VmigNegotiateTag tag;
    guint16 min;
    guint16 max;
} TagRule;

typedef struct ParseContext ParseContext;
struct ParseContext {
    const char *name;
    const TagRule *rules;
    gsize n_rules;
    /* Stores one checked item into @target. */
    gboolean (*store)(gpointer target, VmigNegotiateTag tag, const guint8 *value,
                      guint32 len, gsize offset, GError **error);
    /* Checks @target as a whole once all its items are in. */
    gboolean (*check)(gconstpointer target, const char *where, GError **error);
};

static const TagRule greeting_rules[] = {
    {VMIG_NEGOTIATE_TAG_VERSION, 1, VMIG_NEGOTIATE_MAX_LIST},
    {VMIG_NEGOTIATE_TAG_FEATURE, 0, VMIG_NEGOTIATE_MAX_LIST},
    {VMIG_NEGOTIATE_TAG_TUNABLE_NAME, 0, VMIG_NEGOTIATE_MAX_LIST},
    {VMIG_NEGOTIATE_TAG_MAX_CHANNELS, 1, 1},
    {VMIG_NEGOTIATE_TAG_HYPERVISOR, 1, 1},
    {VMIG_NEGOTIATE_TAG_DRIVER, 1, 1},
    {VMIG_NEGOTIATE_TAG_HEARTBEAT, 0, 1},
};

static const TagRule reply_rules[] = {
    {VMIG_NEGOTIATE_TAG_VERSION, 1, 1},
    {VMIG_NEGOTIATE_TAG_FEATURE, 0, VMIG_NEGOTIATE_MAX_LIST},
    {VMIG_NEGOTIATE_TAG_CHANNELS, 1, 1},
    {VMIG_NEGOTIATE_TAG_TOKEN, 1, 1},
    {VMIG_NEGOTIATE_TAG_TUNABLE, 0, VMIG_NEGOTIATE_MAX_LIST},
    {VMIG_NEGOTIATE_TAG_HYPERVISOR, 1, 1},
    {VMIG_NEGOTIATE_TAG_DRIVER, 1, 1},
    {VMIG_NEGOTIATE_TAG_HEARTBEAT, 0, 1},
};

static const TagRule commit_rules[] = {
    {VMIG_NEGOTIATE_TAG_CHANNELS, 1, 1},
    {VMIG_NEGOTIATE_TAG_FEATURE, 0, VMIG_NEGOTIATE_MAX_LIST},
};

static const TagRule error_rules[] = {
    {VMIG_NEGOTIATE_TAG_CODE, 1, 1},
    {VMIG_NEGOTIATE_TAG_MESSAGE, 1, 1},
};

static const TagRule resumed_rules[] = {
    {VMIG_NEGOTIATE_TAG_PAUSED, 0, 1},
};

static const TagRule domain_rules[] = {
    {VMIG_NEGOTIATE_TAG_DOMAIN_NAME, 1, 1},
    {VMIG_NEGOTIATE_TAG_DOMAIN_XML, 1, 1},
};

static const TagRule feature_rules[] = {
    {VMIG_NEGOTIATE_TAG_NAME, 1, 1},
    {VMIG_NEGOTIATE_TAG_CHANNELS, 0, 1},
    {VMIG_NEGOTIATE_TAG_ALGORITHMS, 0, 1},
    {VMIG_NEGOTIATE_TAG_REQUIRED, 0, 1},
};

static const TagRule tunable_rules[] = {
    {VMIG_NEGOTIATE_TAG_NAME, 1, 1},
    {VMIG_NEGOTIATE_TAG_VALUE, 1, 1},
};

static gboolean store_message(gpointer target, VmigNegotiateTag tag, const guint8 *value,
                              guint32 len, gsize offset, GError **error);
static gboolean store_feature(gpointer target, VmigNegotiateTag tag, const guint8 *value,
                              guint32 len, gsize offset, GError **error);
static gboolean store_tunable(gpointer target, VmigNegotiateTag tag, const guint8 *value,
                              guint32 len, gsize offset, GError **error);
static gboolean check_message(gconstpointer target, const char *where, GError **error);
static gboolean check_feature(gconstpointer target, const char *where, GError **error);

#define CONTEXT(name, rules, store, check)                                               \
    {                                                                                    \
        name, rules, G_N_ELEMENTS(rules), store, check                                   \
    }

static const ParseContext frame_contexts[] = {
    [0] = {NULL, NULL, 0, NULL, NULL},
    [VMIG_NEGOTIATE_FRAME_GREETING] =
        CONTEXT("GREETING", greeting_rules, store_message, check_message),
    [VMIG_NEGOTIATE_FRAME_REPLY] =
        CONTEXT("REPLY", reply_rules, store_message, check_message),
    [VMIG_NEGOTIATE_FRAME_COMMIT] =
        CONTEXT("COMMIT", commit_rules, store_message, check_message),
    [VMIG_NEGOTIATE_FRAME_READY] = {"READY", NULL, 0, store_message, check_message},
    [VMIG_NEGOTIATE_FRAME_ERROR] =
        CONTEXT("ERROR", error_rules, store_message, check_message),
    [VMIG_NEGOTIATE_FRAME_LOADED] = {"LOADED", NULL, 0, store_message, check_message},
    [VMIG_NEGOTIATE_FRAME_SWITCHOVER] = {"SWITCHOVER", NULL, 0, store_message,
                                         check_message},
    [VMIG_NEGOTIATE_FRAME_RESUMED] =
        CONTEXT("RESUMED", resumed_rules, store_message, check_message),
    [VMIG_NEGOTIATE_FRAME_HEARTBEAT] = {"HEARTBEAT", NULL, 0, store_message,
                                        check_message},
    [VMIG_NEGOTIATE_FRAME_DOMAIN] =
        CONTEXT("DOMAIN", domain_rules, store_message, check_message),
};
G_STATIC_ASSERT(G_N_ELEMENTS(frame_contexts) == VMIG_NEGOTIATE_FRAME_LAST);

static const ParseContext feature_context =
    CONTEXT("FEATURE", feature_rules, store_feature, check_feature);
static const ParseContext tunable_context =
    CONTEXT("TUNABLE", tunable_rules, store_tunable, NULL);

/* ---- reading ------------------------------------------------------------ */

static guint16
read_u16(const guint8 *p)
{
    return (guint16)((p[0] << 8) | p[1]);
}

static guint32
read_u32(const guint8 *p)
{
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

/* Returns: the name of @tag for messages: "CHANNELS" or "tag 99". */
static char *
describe_tag(guint16 tag)
{
    const char *name = vmig_negotiate_tag_to_string(tag);

    return name ? g_strdup(name) : g_strdup_printf("tag %u", tag);
}

/* Returns: TRUE when @p[0..len) is a valid string of its kind, else FALSE with @error. */
static gboolean
check_string(const char *where, guint16 tag, const guint8 *p, gsize len, gboolean name,
             gsize offset, GError **error)
{
    if (len > VMIG_NEGOTIATE_MAX_STRING && tag_info[tag].kind != KIND_TEXT) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_STRING_TOO_LONG,
                    "%s: %s string at offset %zu is %zu bytes, over the %d-byte limit",
                    where, vmig_negotiate_tag_to_string(tag), offset, len,
                    VMIG_NEGOTIATE_MAX_STRING);
        return FALSE;
    }
    if (name && len == 0) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_STRING,
                    "%s: empty %s at offset %zu", where,
                    vmig_negotiate_tag_to_string(tag), offset);
        return FALSE;
    }
    if (memchr(p, '\0', len)) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_STRING,
                    "%s: %s string at offset %zu contains a NUL byte", where,
                    vmig_negotiate_tag_to_string(tag), offset);
        return FALSE;
    }
    if (!g_utf8_validate_len((const char *)p, len, NULL)) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_STRING,
                    "%s: %s string at offset %zu is not valid UTF-8", where,
                    vmig_negotiate_tag_to_string(tag), offset);
        return FALSE;
    }
    return TRUE;
}

/* Returns: TRUE when @p[0..len) is a valid list of names, else FALSE with @error. */
static gboolean
check_names(const char *where, guint16 tag, const guint8 *p, gsize len, gsize offset,
            GError **error)
{
    guint count;
    gsize pos = 2;

    if (len < 2) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH,
                    "%s: %s list at offset %zu is %zu bytes, too short for its count",
                    where, vmig_negotiate_tag_to_string(tag), offset, len);
        return FALSE;
    }
    count = read_u16(p);
    if (count > VMIG_NEGOTIATE_MAX_LIST) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_LIST_TOO_LONG,
                    "%s: %s list at offset %zu has %u entries, over the limit of %d",
                    where, vmig_negotiate_tag_to_string(tag), offset, count,
                    VMIG_NEGOTIATE_MAX_LIST);
        return FALSE;
    }
    for (guint i = 0; i < count; i++) {
        gsize slen;

        if (pos >= len || len - pos - 1 < p[pos]) {
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH,
                        "%s: %s list at offset %zu: entry %u of %u runs past the item",
                        where, vmig_negotiate_tag_to_string(tag), offset, i + 1, count);
            return FALSE;
        }
        slen = p[pos];
        if (!check_string(where, tag, p + pos + 1, slen, TRUE, offset + pos + 1, error))
            return FALSE;
        pos += 1 + slen;
    }
    if (pos != len) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH,
                    "%s: %s list at offset %zu has %zu bytes after its %u entries", where,
                    vmig_negotiate_tag_to_string(tag), offset, len - pos, count);
        return FALSE;
    }
    return TRUE;
}

/* Returns: a new array of the names in a list that check_names() accepted. */
static GPtrArray *
read_names(const guint8 *p)
{
    guint count = read_u16(p);
    GPtrArray *names = g_ptr_array_new_full(count, g_free);
    gsize pos = 2;

    for (guint i = 0; i < count; i++) {
        g_ptr_array_add(names, g_strndup((const char *)p + pos + 1, p[pos]));
        pos += 1 + p[pos];
    }
    return names;
}

/* Returns: TRUE when a value of @len bytes fits the kind of @tag, else FALSE with @error.
 */
static gboolean
check_value(const char *where, guint16 tag, const guint8 *value, guint32 len,
            gsize offset, GError **error)
{
    gsize want;

    switch (tag_info[tag].kind) {
    case KIND_U16:
        want = 2;
        break;
    case KIND_U32:
        want = 4;
        break;
    case KIND_TOKEN:
        want = VMIG_NEGOTIATE_TOKEN_SIZE;
        break;
    case KIND_FLAG:
        want = 0;
        break;
    case KIND_STRING:
    case KIND_NAME:
    case KIND_TEXT:
        return check_string(where, tag, value, len, tag_info[tag].kind != KIND_STRING,
                            offset, error);
    case KIND_NAMES:
        return check_names(where, tag, value, len, offset, error);
    case KIND_NESTED:
    case KIND_NONE:
    default:
        return TRUE;
    }
    if (len != want) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_ITEM_LENGTH,
                    "%s: %s item at offset %zu is %u bytes, expected %zu", where,
                    vmig_negotiate_tag_to_string(tag), offset, len, want);
        return FALSE;
    }
    return TRUE;
}

/* Returns: the rule @ctx has for @tag, or NULL when @ctx does not take it. */
static const TagRule *
find_rule(const ParseContext *ctx, guint16 tag)
{
    for (gsize i = 0; i < ctx->n_rules; i++) {
        if (ctx->rules[i].tag == tag)
            return &ctx->rules[i];
    }
    return NULL;
}

/*
 * Walks the items of @p[0..len) (which sits at @base in the frame), checks
 * each against @ctx's rules and stores it into @target.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
parse_items(const ParseContext *ctx, gpointer target, const guint8 *p, gsize len,
            gsize base, GError **error)
{
    guint counts[VMIG_NEGOTIATE_TAG_LAST] = {0};
    gsize off = 0;

    while (off < len) {
        guint16 tag, item_flags;
        guint32 item_len;
        const TagRule *rule;

        if (len - off < VMIG_NEGOTIATE_ITEM_HEADER_SIZE) {
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_ITEM_OVERRUN,
                        "%s: item header at offset %zu needs %d bytes, only %zu left",
                        ctx->name, base + off, VMIG_NEGOTIATE_ITEM_HEADER_SIZE,
                        len - off);
            return FALSE;
        }
        tag = read_u16(p + off);
        item_flags = read_u16(p + off + 2);
        item_len = read_u32(p + off + 4);
        if (item_len > len - off - VMIG_NEGOTIATE_ITEM_HEADER_SIZE) {
            g_autofree char *name = describe_tag(tag);

            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_ITEM_OVERRUN,
                        "%s: %s item at offset %zu claims %u bytes, only %zu left",
                        ctx->name, name, base + off, item_len,
                        len - off - VMIG_NEGOTIATE_ITEM_HEADER_SIZE);
            return FALSE;
        }

        rule = find_rule(ctx, tag);
        if (!rule) {
            if (item_flags & VMIG_NEGOTIATE_ITEM_MUST_UNDERSTAND) {
                g_autofree char *name = describe_tag(tag);

                g_set_error(error, VMIG_NEGOTIATE_ERROR,
                            VMIG_NEGOTIATE_ERROR_UNKNOWN_MANDATORY_TAG,
                            "%s: %s at offset %zu is not understood here but is marked "
                            "must-understand",
                            ctx->name, name, base + off);
                return FALSE;
            }
            /* Unknown and optional: skip it (forward compatibility). */
        } else {
            const guint8 *value = p + off + VMIG_NEGOTIATE_ITEM_HEADER_SIZE;
            gsize value_off = base + off + VMIG_NEGOTIATE_ITEM_HEADER_SIZE;

            if (++counts[tag] > rule->max) {
                if (rule->max == 1)
                    g_set_error(error, VMIG_NEGOTIATE_ERROR,
                                VMIG_NEGOTIATE_ERROR_DUPLICATE_TAG,
                                "%s: %s at offset %zu appears more than once", ctx->name,
                                vmig_negotiate_tag_to_string(tag), base + off);
                else
                    g_set_error(error, VMIG_NEGOTIATE_ERROR,
                                VMIG_NEGOTIATE_ERROR_LIST_TOO_LONG,
                                "%s: more than %u %s items", ctx->name, rule->max,
                                vmig_negotiate_tag_to_string(tag));
                return FALSE;
            }
            if (!check_value(ctx->name, tag, value, item_len, value_off, error))
                return FALSE;
            if (!ctx->store(target, tag, value, item_len, value_off, error))
                return FALSE;
        }
        off += VMIG_NEGOTIATE_ITEM_HEADER_SIZE + item_len;
    }

    for (gsize i = 0; i < ctx->n_rules; i++) {
        const TagRule *rule = &ctx->rules[i];

        if (counts[rule->tag] >= rule->min)
            continue;
        if (rule->tag == VMIG_NEGOTIATE_TAG_VERSION)
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_NO_VERSIONS,
                        "%s: no VERSION item: the peer offers no protocol version",
                        ctx->name);
        else
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_MISSING_TAG,
                        "%s: required %s item is missing", ctx->name,
                        vmig_negotiate_tag_to_string(rule->tag));
        return FALSE;
    }
    return ctx->check ? ctx->check(target, ctx->name, error) : TRUE;
}

static VmigNegotiateFeature *
parse_feature(const guint8 *value, guint32 len, gsize offset, GError **error)
{
    g_autoptr(VmigNegotiateFeature) feature = vmig_negotiate_feature_new(NULL);

    if (!parse_items(&feature_context, feature, value, len, offset, error))
        return NULL;
    return g_steal_pointer(&feature);
}

static VmigNegotiateTunable *
parse_tunable(const guint8 *value, guint32 len, gsize offset, GError **error)
{
    VmigNegotiateTunable *tunable = g_new0(VmigNegotiateTunable, 1);

    if (!parse_items(&tunable_context, tunable, value, len, offset, error)) {
        vmig_negotiate_tunable_free(tunable);
        return NULL;
    }
    return tunable;
}

/* Returns: TRUE, or FALSE with @error when a nested item is bad. */
static gboolean
store_message(gpointer target, VmigNegotiateTag tag, const guint8 *value, guint32 len,
              gsize offset, GError **error)
{
    VmigNegotiateMessage *msg = target;

    switch (tag) {
    case VMIG_NEGOTIATE_TAG_VERSION:
        vmig_negotiate_message_add_version(msg, read_u32(value));
        break;
    case VMIG_NEGOTIATE_TAG_FEATURE: {
        VmigNegotiateFeature *feature = parse_feature(value, len, offset, error);

        if (!feature)
            return FALSE;
        vmig_negotiate_message_add_feature(msg, feature);
        break;
    }
    case VMIG_NEGOTIATE_TAG_TUNABLE_NAME:
        g_ptr_array_add(msg->tunable_names, g_strndup((const char *)value, len));
        break;
    case VMIG_NEGOTIATE_TAG_TUNABLE: {
        VmigNegotiateTunable *tunable = parse_tunable(value, len, offset, error);

        if (!tunable)
            return FALSE;
        g_ptr_array_add(msg->tunables, tunable);
        break;
    }
    case VMIG_NEGOTIATE_TAG_HYPERVISOR:
        msg->hypervisor = g_strndup((const char *)value, len);
        break;
    case VMIG_NEGOTIATE_TAG_DRIVER:
        msg->driver = g_strndup((const char *)value, len);
        break;
    case VMIG_NEGOTIATE_TAG_MAX_CHANNELS:
        msg->max_channels = read_u16(value);
        break;
    case VMIG_NEGOTIATE_TAG_TOKEN:
        memcpy(msg->token, value, VMIG_NEGOTIATE_TOKEN_SIZE);
        break;
    case VMIG_NEGOTIATE_TAG_CHANNELS:
        msg->channels = read_u16(value);
        break;
    case VMIG_NEGOTIATE_TAG_CODE:
        msg->code = read_u32(value);
        break;
    case VMIG_NEGOTIATE_TAG_MESSAGE:
        msg->message = g_strndup((const char *)value, len);
        break;
    case VMIG_NEGOTIATE_TAG_HEARTBEAT:
        msg->heartbeat_ms = read_u32(value);
        break;
    case VMIG_NEGOTIATE_TAG_PAUSED:
        msg->paused = TRUE;
        break;
    case VMIG_NEGOTIATE_TAG_DOMAIN_NAME:
        msg->domain_name = g_strndup((const char *)value, len);
        break;
    case VMIG_NEGOTIATE_TAG_DOMAIN_XML:
        msg->domain_xml = g_strndup((const char *)value, len);
        break;
    default:
        g_assert_not_reached(); /* the rules admit no other tag */
    }
    return TRUE;
}

/* Returns: TRUE (a feature's items cannot fail once checked). */
static gboolean
store_feature(gpointer target, VmigNegotiateTag tag, const guint8 *value, guint32 len,
              gsize offset, GError **error)
{
    VmigNegotiateFeature *feature = target;

    switch (tag) {
    case VMIG_NEGOTIATE_TAG_NAME:
        feature->name = g_strndup((const char *)value, len);
        break;
    case VMIG_NEGOTIATE_TAG_CHANNELS:
        vmig_negotiate_feature_set_channels(feature, read_u16(value));
        break;
    case VMIG_NEGOTIATE_TAG_ALGORITHMS:
        feature->algorithms = read_names(value);
        break;
    case VMIG_NEGOTIATE_TAG_REQUIRED:
        feature->required = TRUE;
        break;
    default:
        g_assert_not_reached();
    }
    return TRUE;
}

/* Returns: TRUE (a tunable's items cannot fail once checked). */
static gboolean
store_tunable(gpointer target, VmigNegotiateTag tag, const guint8 *value, guint32 len,
              gsize offset, GError **error)
{
    VmigNegotiateTunable *tunable = target;

    switch (tag) {
    case VMIG_NEGOTIATE_TAG_NAME:
        tunable->name = g_strndup((const char *)value, len);
        break;
    case VMIG_NEGOTIATE_TAG_VALUE:
        tunable->value = g_strndup((const char *)value, len);
        break;
    default:
        g_assert_not_reached();
    }
    return TRUE;
}

typedef const char *(*NameGetter)(gconstpointer element);

static const char *
get_string(gconstpointer element)
{
    return element;
}

static const char *
get_feature_name(gconstpointer element)
{
    return ((const VmigNegotiateFeature *)element)->name;
}

static const char *
get_tunable_name(gconstpointer element)
{
    return ((const VmigNegotiateTunable *)element)->name;
}

/* Returns: TRUE when no two elements of @array share a name, else FALSE with @error. */
static gboolean
check_unique(const char *where, const char *what, const GPtrArray *array, NameGetter get,
             GError **error)
{
    g_autoptr(GHashTable) seen = NULL;

    if (!array || array->len < 2)
        return TRUE;
    seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < array->len; i++) {
        const char *name = get(g_ptr_array_index(array, i));

        if (!g_hash_table_add(seen, (gpointer)name)) {
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_DUPLICATE_NAME,
                        "%s: %s '%s' is listed twice", where, what, name);
            return FALSE;
        }
    }
    return TRUE;
}

/* Returns: TRUE when the message as a whole is consistent, else FALSE with @error. */
static gboolean
check_message(gconstpointer target, const char *where, GError **error)
{
    const VmigNegotiateMessage *msg = target;

    for (guint i = 0; i < msg->versions->len; i++) {
        guint32 version = g_array_index(msg->versions, guint32, i);

        if (version == 0) {
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                        "%s: version 0 is not a protocol version", where);
            return FALSE;
        }
        for (guint j = 0; j < i; j++) {
            if (g_array_index(msg->versions, guint32, j) == version) {
                g_set_error(error, VMIG_NEGOTIATE_ERROR,
                            VMIG_NEGOTIATE_ERROR_DUPLICATE_NAME,
                            "%s: version %u is listed twice", where, version);
                return FALSE;
            }
        }
    }
    return check_unique(where, "feature", msg->features, get_feature_name, error) &&
           check_unique(where, "tunable name", msg->tunable_names, get_string, error) &&
           check_unique(where, "tunable", msg->tunables, get_tunable_name, error);
}

/* Returns: TRUE when the feature's algorithms are distinct, else FALSE with @error. */
static gboolean
check_feature(gconstpointer target, const char *where, GError **error)
{
    const VmigNegotiateFeature *feature = target;
    g_autofree char *what = g_strdup_printf("feature '%s': algorithm", feature->name);

    return check_unique(where, what, feature->algorithms, get_string, error);
}

/* Returns: TRUE with the header's fields, or FALSE with @error set. */
gboolean
vmig_negotiate_parse_header(const guint8 *header, VmigNegotiateFrameType *type,
                            guint16 *flags, guint32 *body_len, GError **error)
{
    guint32 magic = read_u32(header);
    guint16 raw_type = read_u16(header + 4);
    guint32 length = read_u32(header + 8);

    if (magic != VMIG_NEGOTIATE_MAGIC) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_BAD_MAGIC,
                    "bad frame magic 0x%08x (expected 0x%08x, \"VMGR\")", magic,
                    VMIG_NEGOTIATE_MAGIC);
        return FALSE;
    }
    if (length > VMIG_NEGOTIATE_MAX_BODY) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_TOO_LARGE,
                    "frame body of %u bytes is over the %d-byte limit", length,
                    VMIG_NEGOTIATE_MAX_BODY);
        return FALSE;
    }
    if (!vmig_negotiate_frame_type_to_string(raw_type)) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_UNKNOWN_TYPE,
                    "unknown frame type %u", raw_type);
        return FALSE;
    }
    *type = raw_type;
    *flags = read_u16(header + 6);
    *body_len = length;
    return TRUE;
}

/* Returns: the message in @body, or NULL with @error set. */
VmigNegotiateMessage *
vmig_negotiate_decode_body(VmigNegotiateFrameType type, guint16 flags, const guint8 *body,
                           gsize len, GError **error)
{
    g_autoptr(VmigNegotiateMessage) msg = vmig_negotiate_message_new(type);

    msg->flags = flags;
    if (!parse_items(&frame_contexts[type], msg, body, len, VMIG_NEGOTIATE_HEADER_SIZE,
                     error))
        return NULL;
    return g_steal_pointer(&msg);
}

/* Returns: the one frame that fills @buf, or NULL with @error set. */
VmigNegotiateMessage *
vmig_negotiate_decode(const guint8 *buf, gsize len, GError **error)
{
    VmigNegotiateFrameType type;
    guint16 flags;
    guint32 body_len;

    if (len < VMIG_NEGOTIATE_HEADER_SIZE) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_SHORT_HEADER,
                    "frame of %zu bytes is shorter than the %d-byte header", len,
                    VMIG_NEGOTIATE_HEADER_SIZE);
        return NULL;
    }
    if (!vmig_negotiate_parse_header(buf, &type, &flags, &body_len, error))
        return NULL;
    if (len - VMIG_NEGOTIATE_HEADER_SIZE < body_len) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_TRUNCATED,
                    "%s frame claims a %u-byte body, only %zu bytes present",
                    vmig_negotiate_frame_type_to_string(type), body_len,
                    len - VMIG_NEGOTIATE_HEADER_SIZE);
        return NULL;
    }
    if (len - VMIG_NEGOTIATE_HEADER_SIZE > body_len) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_TRAILING_DATA,
                    "%zu bytes follow the %s frame",
                    len - VMIG_NEGOTIATE_HEADER_SIZE - body_len,
                    vmig_negotiate_frame_type_to_string(type));
        return NULL;
    }
    return vmig_negotiate_decode_body(type, flags, buf + VMIG_NEGOTIATE_HEADER_SIZE,
                                      body_len, error);
}

/* ---- writing ------------------------------------------------------------ */

/* A growing frame; the first error sticks and later writes do nothing. */
typedef struct {
    GByteArray *buf;
    GError *error;
} Writer;

static void
put_u16(Writer *w, guint16 v)
{
    guint8 b[2] = {v >> 8, v & 0xff};

    g_byte_array_append(w->buf, b, sizeof(b));
}

static void
put_u32(Writer *w, guint32 v)
{
    guint8 b[4] = {v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff};

    g_byte_array_append(w->buf, b, sizeof(b));
}

static void
patch_u32(Writer *w, gsize at, guint32 v)
{
    w->buf->data[at] = v >> 24;
    w->buf->data[at + 1] = (v >> 16) & 0xff;
    w->buf->data[at + 2] = (v >> 8) & 0xff;
    w->buf->data[at + 3] = v & 0xff;
}

/* Starts an item of @tag.  Returns: where its length goes, for end_item(). */
static gsize
begin_item(Writer *w, VmigNegotiateTag tag)
{
    gsize at;

    put_u16(w, tag);
    put_u16(w, tag_info[tag].must_understand ? VMIG_NEGOTIATE_ITEM_MUST_UNDERSTAND : 0);
    at = w->buf->len;
    put_u32(w, 0);
    return at;
}

static void
end_item(Writer *w, gsize at)
{
    patch_u32(w, at, w->buf->len - at - 4);
}

static void
write_u16_item(Writer *w, VmigNegotiateTag tag, guint16 v)
{
    gsize at = begin_item(w, tag);

    put_u16(w, v);
    end_item(w, at);
}

static void
write_u32_item(Writer *w, VmigNegotiateTag tag, guint32 v)
{
    gsize at = begin_item(w, tag);

    put_u32(w, v);
    end_item(w, at);
}

static gboolean
writer_check_string(Writer *w, VmigNegotiateTag tag, const char *s)
{
    if (w->error)
        return FALSE;
    if (strlen(s) > VMIG_NEGOTIATE_MAX_STRING && tag_info[tag].kind != KIND_TEXT) {
        g_set_error(&w->error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_STRING_TOO_LONG,
                    "%s string of %zu bytes is over the %d-byte limit",
                    vmig_negotiate_tag_to_string(tag), strlen(s),
                    VMIG_NEGOTIATE_MAX_STRING);
        return FALSE;
    }
    return TRUE;
}

static void
write_string_item(Writer *w, VmigNegotiateTag tag, const char *s)
{
    gsize at;

    s = s ? s : "";
    if (!writer_check_string(w, tag, s))
        return;
    at = begin_item(w, tag);
    g_byte_array_append(w->buf, (const guint8 *)s, strlen(s));
    end_item(w, at);
}

static void
write_names_item(Writer *w, VmigNegotiateTag tag, const GPtrArray *names)
{
    gsize at;

    if (names->len > VMIG_NEGOTIATE_MAX_LIST) {
        if (!w->error)
            g_set_error(
                &w->error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_LIST_TOO_LONG,
                "%s list of %u entries is over the limit of %d",
                vmig_negotiate_tag_to_string(tag), names->len, VMIG_NEGOTIATE_MAX_LIST);
        return;
    }
    at = begin_item(w, tag);
    put_u16(w, names->len);
    for (guint i = 0; i < names->len; i++) {
        const char *s = g_ptr_array_index(names, i);
        guint8 slen;

        if (!writer_check_string(w, tag, s))
            return;
        slen = strlen(s);
        g_byte_array_append(w->buf, &slen, 1);
        g_byte_array_append(w->buf, (const guint8 *)s, slen);
    }
    end_item(w, at);
}

static void
write_feature(Writer *w, const VmigNegotiateFeature *feature)
{
    gsize at = begin_item(w, VMIG_NEGOTIATE_TAG_FEATURE);

    write_string_item(w, VMIG_NEGOTIATE_TAG_NAME, feature->name);
    if (feature->has_channels)
        write_u16_item(w, VMIG_NEGOTIATE_TAG_CHANNELS, feature->channels);
    if (feature->algorithms)
        write_names_item(w, VMIG_NEGOTIATE_TAG_ALGORITHMS, feature->algorithms);
    if (feature->required)
        end_item(w, begin_item(w, VMIG_NEGOTIATE_TAG_REQUIRED));
    end_item(w, at);
}

static void
write_features(Writer *w, const VmigNegotiateMessage *msg)
{
    for (guint i = 0; i < msg->features->len; i++)
        write_feature(w, g_ptr_array_index(msg->features, i));
}

static void
write_versions(Writer *w, const VmigNegotiateMessage *msg)
{
    for (guint i = 0; i < msg->versions->len; i++)
        write_u32_item(w, VMIG_NEGOTIATE_TAG_VERSION,
                       g_array_index(msg->versions, guint32, i));
}

static void
write_ids(Writer *w, const VmigNegotiateMessage *msg)
{
    write_string_item(w, VMIG_NEGOTIATE_TAG_HYPERVISOR, msg->hypervisor);
    write_string_item(w, VMIG_NEGOTIATE_TAG_DRIVER, msg->driver);
    if (msg->heartbeat_ms)
        write_u32_item(w, VMIG_NEGOTIATE_TAG_HEARTBEAT, msg->heartbeat_ms);
}

/* Returns: the frame for @msg, or NULL with @error set. */
GBytes *
vmig_negotiate_encode(const VmigNegotiateMessage *msg, GError **error)
{
    g_autoptr(VmigNegotiateMessage) check = NULL;
    g_autoptr(GByteArray) buf = g_byte_array_new();
    Writer w = {buf, NULL};
    gsize body_len;

    if (!vmig_negotiate_frame_type_to_string(msg->type)) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_UNKNOWN_TYPE,
                    "cannot encode unknown frame type %u", msg->type);
        return NULL;
    }
    put_u32(&w, VMIG_NEGOTIATE_MAGIC);
    put_u16(&w, msg->type);
    put_u16(&w, 0);
    put_u32(&w, 0);

    /* The canonical order of items, which the golden files pin down. */
    switch (msg->type) {
    case VMIG_NEGOTIATE_FRAME_GREETING:
        write_versions(&w, msg);
        write_features(&w, msg);
        for (guint i = 0; i < msg->tunable_names->len; i++)
            write_string_item(&w, VMIG_NEGOTIATE_TAG_TUNABLE_NAME,
                              g_ptr_array_index(msg->tunable_names, i));
        write_u16_item(&w, VMIG_NEGOTIATE_TAG_MAX_CHANNELS, msg->max_channels);
        write_ids(&w, msg);
        break;
    case VMIG_NEGOTIATE_FRAME_REPLY: {
        gsize at;

        write_versions(&w, msg);
        write_features(&w, msg);
        write_u16_item(&w, VMIG_NEGOTIATE_TAG_CHANNELS, msg->channels);
        at = begin_item(&w, VMIG_NEGOTIATE_TAG_TOKEN);
        g_byte_array_append(buf, msg->token, VMIG_NEGOTIATE_TOKEN_SIZE);
        end_item(&w, at);
        for (guint i = 0; i < msg->tunables->len; i++) {
            const VmigNegotiateTunable *tunable = g_ptr_array_index(msg->tunables, i);

            at = begin_item(&w, VMIG_NEGOTIATE_TAG_TUNABLE);
            write_string_item(&w, VMIG_NEGOTIATE_TAG_NAME, tunable->name);
            write_string_item(&w, VMIG_NEGOTIATE_TAG_VALUE, tunable->value);
            end_item(&w, at);
        }
        write_ids(&w, msg);
        break;
    }
    case VMIG_NEGOTIATE_FRAME_COMMIT:
        write_u16_item(&w, VMIG_NEGOTIATE_TAG_CHANNELS, msg->channels);
        write_features(&w, msg);
        break;
    case VMIG_NEGOTIATE_FRAME_READY:
    case VMIG_NEGOTIATE_FRAME_LOADED:
    case VMIG_NEGOTIATE_FRAME_SWITCHOVER:
    case VMIG_NEGOTIATE_FRAME_HEARTBEAT:
        break;
    case VMIG_NEGOTIATE_FRAME_RESUMED:
        if (msg->paused)
            end_item(&w, begin_item(&w, VMIG_NEGOTIATE_TAG_PAUSED));
        break;
    case VMIG_NEGOTIATE_FRAME_ERROR:
        write_u32_item(&w, VMIG_NEGOTIATE_TAG_CODE, msg->code);
        write_string_item(&w, VMIG_NEGOTIATE_TAG_MESSAGE, msg->message);
        break;
    case VMIG_NEGOTIATE_FRAME_DOMAIN:
        write_string_item(&w, VMIG_NEGOTIATE_TAG_DOMAIN_NAME, msg->domain_name);
        write_string_item(&w, VMIG_NEGOTIATE_TAG_DOMAIN_XML, msg->domain_xml);
        break;
    case VMIG_NEGOTIATE_FRAME_LAST:
    default:
        g_assert_not_reached();
    }
    if (w.error) {
        g_propagate_error(error, w.error);
        return NULL;
    }

    body_len = buf->len - VMIG_NEGOTIATE_HEADER_SIZE;
    if (body_len > VMIG_NEGOTIATE_MAX_BODY) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_TOO_LARGE,
                    "%s frame body of %zu bytes is over the %d-byte limit",
                    vmig_negotiate_frame_type_to_string(msg->type), body_len,
                    VMIG_NEGOTIATE_MAX_BODY);
        return NULL;
    }
    patch_u32(&w, 8, body_len);

    /* Never send what we would refuse: the peer runs this same check. */
    check = vmig_negotiate_decode(buf->data, buf->len, error);
    if (!check)
        return NULL;
    return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}
