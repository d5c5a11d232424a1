/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * message.c: handshake messages in memory, their names and their dump
 */
#include <config.h>

#include "negotiate/negotiate-private.h"

/* clang-format off */
G_DEFINE_QUARK(vmig-negotiate-error-quark, vmig_negotiate_error)
/* clang-format on */

static const char *const error_code_names[] = {
    "bad-magic",         "short-header",     "too-large",      "truncated",
    "trailing-data",     "unknown-type",     "item-overrun",   "bad-item-length",
    "string-too-long",   "bad-string",       "list-too-long",  "unknown-mandatory-tag",
    "duplicate-tag",     "missing-tag",      "duplicate-name", "no-versions",
    "no-common-version", "feature-required", "invalid",
};
G_STATIC_ASSERT(G_N_ELEMENTS(error_code_names) == VMIG_NEGOTIATE_ERROR_LAST);

/* Returns: the code's name, or NULL for a value that is no code. */
const char *
vmig_negotiate_error_code_to_string(VmigNegotiateErrorCode code)
{
    if ((guint)code >= G_N_ELEMENTS(error_code_names))
        return NULL;
    return error_code_names[code];
}

static const char *const frame_type_names[] = {
    NULL,     "GREETING",   "REPLY",   "COMMIT",    "READY",  "ERROR",
    "LOADED", "SWITCHOVER", "RESUMED", "HEARTBEAT", "DOMAIN",
};
G_STATIC_ASSERT(G_N_ELEMENTS(frame_type_names) == VMIG_NEGOTIATE_FRAME_LAST);

/* Returns: the type's name, or NULL for a value that is no frame type. */
const char *
vmig_negotiate_frame_type_to_string(VmigNegotiateFrameType type)
{
    if ((guint)type >= G_N_ELEMENTS(frame_type_names))
        return NULL;
    return frame_type_names[type];
}

static const char *const tag_names[] = {
    NULL,         "VERSION",   "FEATURE",      "TUNABLE_NAME", "TUNABLE",
    "HYPERVISOR", "DRIVER",    "MAX_CHANNELS", "TOKEN",        "CHANNELS",
    "CODE",       "MESSAGE",   "NAME",         "ALGORITHMS",   "REQUIRED",
    "VALUE",      "HEARTBEAT", "PAUSED",       "DOMAIN_NAME",  "DOMAIN_XML",
};
G_STATIC_ASSERT(G_N_ELEMENTS(tag_names) == VMIG_NEGOTIATE_TAG_LAST);

/* Returns: the tag's name, or NULL for a tag this version does not know. */
const char *
vmig_negotiate_tag_to_string(VmigNegotiateTag tag)
{
    if ((guint)tag >= G_N_ELEMENTS(tag_names))
        return NULL;
    return tag_names[tag];
}

static const char *const code_names[] = {
    NULL,        "protocol", "version",  "feature", "channels", "hypervisor",
    "cancelled", "internal", "shutdown", "timeout", "tls",
};
G_STATIC_ASSERT(G_N_ELEMENTS(code_names) == VMIG_NEGOTIATE_CODE_LAST);

/* Returns: the code's name, or NULL for a code this version does not know. */
const char *
vmig_negotiate_code_to_string(VmigNegotiateCode code)
{
    if ((guint)code >= G_N_ELEMENTS(code_names))
        return NULL;
    return code_names[code];
}

/* Returns: the ERROR frame code that best describes @error. */
VmigNegotiateCode
vmig_negotiate_code_from_error(const GError *error)
{
    if (!error || error->domain != VMIG_NEGOTIATE_ERROR)
        return VMIG_NEGOTIATE_CODE_INTERNAL;
    switch ((VmigNegotiateErrorCode)error->code) {
    case VMIG_NEGOTIATE_ERROR_NO_COMMON_VERSION:
    case VMIG_NEGOTIATE_ERROR_NO_VERSIONS:
        return VMIG_NEGOTIATE_CODE_VERSION;
    case VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED:
        return VMIG_NEGOTIATE_CODE_FEATURE;
    default:
        return VMIG_NEGOTIATE_CODE_PROTOCOL;
    }
}

/* Returns: TRUE for a version only offered with --experimental-protocol. */
gboolean
vmig_negotiate_version_is_experimental(guint32 version)
{
    return version >= VMIG_NEGOTIATE_VERSION_EXPERIMENTAL;
}

/* Returns: a new empty feature called @name. */
VmigNegotiateFeature *
vmig_negotiate_feature_new(const char *name)
{
    VmigNegotiateFeature *feature = g_new0(VmigNegotiateFeature, 1);

    feature->name = g_strdup(name);
    return feature;
}

/* Returns: a deep copy of @feature. */
VmigNegotiateFeature *
vmig_negotiate_feature_copy(const VmigNegotiateFeature *feature)
{
    VmigNegotiateFeature *copy = vmig_negotiate_feature_new(feature->name);

    copy->has_channels = feature->has_channels;
    copy->channels = feature->channels;
    copy->required = feature->required;
    if (feature->algorithms) {
        for (guint i = 0; i < feature->algorithms->len; i++)
            vmig_negotiate_feature_add_algorithm(
                copy, g_ptr_array_index(feature->algorithms, i));
    }
    return copy;
}

void
vmig_negotiate_feature_free(VmigNegotiateFeature *feature)
{
    if (!feature)
        return;
    g_free(feature->name);
    if (feature->algorithms)
        g_ptr_array_unref(feature->algorithms);
    g_free(feature);
}

void
vmig_negotiate_feature_set_channels(VmigNegotiateFeature *feature, guint16 channels)
{
    feature->has_channels = TRUE;
    feature->channels = channels;
}

/* Appends @algorithm; the first call creates the (then present) list. */
void
vmig_negotiate_feature_add_algorithm(VmigNegotiateFeature *feature, const char *algorithm)
{
    if (!feature->algorithms)
        feature->algorithms = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(feature->algorithms, g_strdup(algorithm));
}

void
vmig_negotiate_tunable_free(VmigNegotiateTunable *tunable)
{
    if (!tunable)
        return;
    g_free(tunable->name);
    g_free(tunable->value);
    g_free(tunable);
}

/* Returns: a new message of @type with empty lists and zero fields. */
VmigNegotiateMessage *
vmig_negotiate_message_new(VmigNegotiateFrameType type)
{
    VmigNegotiateMessage *msg = g_new0(VmigNegotiateMessage, 1);

    msg->type = type;
    msg->versions = g_array_new(FALSE, FALSE, sizeof(guint32));
    msg->features =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmig_negotiate_feature_free);
    msg->tunable_names = g_ptr_array_new_with_free_func(g_free);
    msg->tunables =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmig_negotiate_tunable_free);
    return msg;
}

/* Returns: a new ERROR message carrying @code and @message. */
VmigNegotiateMessage *
vmig_negotiate_message_new_error(VmigNegotiateCode code, const char *message)
{
    VmigNegotiateMessage *msg = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_ERROR);

    msg->code = code;
    if (message) {
        /* A MESSAGE is a string: valid UTF-8 of at most 255 bytes, so a
         * longer reason is cut at a character and ends in "...". */
        g_autofree char *valid = g_utf8_make_valid(message, -1);
        const char *p = valid;
        const char *next;

        if (strlen(valid) <= VMIG_NEGOTIATE_MAX_STRING) {
            msg->message = g_steal_pointer(&valid);
        } else {
            while (*p &&
                   (next = g_utf8_next_char(p)) - valid <= VMIG_NEGOTIATE_MAX_STRING - 3)
                p = next;
            msg->message = g_strdup_printf("%.*s...", (int)(p - valid), valid);
        }
    }
    return msg;
}

void
vmig_negotiate_message_free(VmigNegotiateMessage *msg)
{
    if (!msg)
        return;
    g_array_unref(msg->versions);
    g_ptr_array_unref(msg->features);
    g_ptr_array_unref(msg->tunable_names);
    g_ptr_array_unref(msg->tunables);
    g_free(msg->hypervisor);
    g_free(msg->driver);
    g_free(msg->message);
    g_free(msg->domain_name);
    g_free(msg->domain_xml);
    g_free(msg);
}

void
vmig_negotiate_message_add_version(VmigNegotiateMessage *msg, guint32 version)
{
    g_array_append_val(msg->versions, version);
}

/* Returns: @feature, now owned by @msg. */
VmigNegotiateFeature *
vmig_negotiate_message_add_feature(VmigNegotiateMessage *msg,
                                   VmigNegotiateFeature *feature)
{
    g_ptr_array_add(msg->features, feature);
    return feature;
}

void
vmig_negotiate_message_add_tunable_name(VmigNegotiateMessage *msg, const char *name)
{
    g_ptr_array_add(msg->tunable_names, g_strdup(name));
}

void
vmig_negotiate_message_add_tunable(VmigNegotiateMessage *msg, const char *name,
                                   const char *json_value)
{
    VmigNegotiateTunable *tunable = g_new0(VmigNegotiateTunable, 1);

    tunable->name = g_strdup(name);
    tunable->value = g_strdup(json_value);
    g_ptr_array_add(msg->tunables, tunable);
}

/* Returns: the feature called @name in @msg, or NULL. */
const VmigNegotiateFeature *
vmig_negotiate_message_find_feature(const VmigNegotiateMessage *msg, const char *name)
{
    for (guint i = 0; i < msg->features->len; i++) {
        const VmigNegotiateFeature *feature = g_ptr_array_index(msg->features, i);

        if (g_str_equal(feature->name, name))
            return feature;
    }
    return NULL;
}

static void
append_quoted(GString *out, const char *label, const char *value)
{
    g_autofree char *escaped = g_strescape(value ? value : "", NULL);

    g_string_append_printf(out, "  %s \"%s\"\n", label, escaped);
}

void
vmig_negotiate_append_version(GString *out, guint32 version)
{
    if (vmig_negotiate_version_is_experimental(version))
        g_string_append_printf(out, "0x%08x (experimental)", version);
    else
        g_string_append_printf(out, "%u", version);
}

static void
append_feature(GString *out, const VmigNegotiateFeature *feature)
{
    g_string_append_printf(out, "  feature %s", feature->name);
    if (feature->has_channels)
        g_string_append_printf(out, " channels=%u", feature->channels);
    if (feature->algorithms) {
        g_string_append(out, " algorithms=");
        for (guint i = 0; i < feature->algorithms->len; i++) {
            if (i)
                g_string_append_c(out, ',');
            g_string_append(out, g_ptr_array_index(feature->algorithms, i));
        }
    }
    if (feature->required)
        g_string_append(out, " required");
    g_string_append_c(out, '\n');
}

/* Returns: a newly allocated dump of @msg, one field a line. */
char *
vmig_negotiate_message_to_string(const VmigNegotiateMessage *msg)
{
    GString *out = g_string_new(NULL);
    const char *type = vmig_negotiate_frame_type_to_string(msg->type);

    g_string_append_printf(out, "%s flags=0x%04x\n", type ? type : "?", msg->flags);
    for (guint i = 0; i < msg->versions->len; i++) {
        g_string_append(out, "  version ");
        vmig_negotiate_append_version(out, g_array_index(msg->versions, guint32, i));
        g_string_append_c(out, '\n');
    }
    for (guint i = 0; i < msg->features->len; i++)
        append_feature(out, g_ptr_array_index(msg->features, i));
    for (guint i = 0; i < msg->tunable_names->len; i++)
        g_string_append_printf(out, "  tunable-name %s\n",
                               (char *)g_ptr_array_index(msg->tunable_names, i));
    for (guint i = 0; i < msg->tunables->len; i++) {
        const VmigNegotiateTunable *tunable = g_ptr_array_index(msg->tunables, i);

        g_string_append_printf(out, "  tunable %s=%s\n", tunable->name, tunable->value);
    }

    switch (msg->type) {
    case VMIG_NEGOTIATE_FRAME_GREETING:
        g_string_append_printf(out, "  max-channels %u\n", msg->max_channels);
        break;
    case VMIG_NEGOTIATE_FRAME_REPLY:
        g_string_append_printf(out, "  channels %u\n  token ", msg->channels);
        for (guint i = 0; i < VMIG_NEGOTIATE_TOKEN_SIZE; i++)
            g_string_append_printf(out, "%02x", msg->token[i]);
        g_string_append_c(out, '\n');
        break;
    case VMIG_NEGOTIATE_FRAME_COMMIT:
        g_string_append_printf(out, "  channels %u\n", msg->channels);
        break;
    case VMIG_NEGOTIATE_FRAME_ERROR: {
        const char *code = vmig_negotiate_code_to_string(msg->code);

        g_string_append_printf(out, "  code %u (%s)\n", msg->code,
                               code ? code : "unknown");
        append_quoted(out, "message", msg->message);
        break;
    }
    case VMIG_NEGOTIATE_FRAME_RESUMED:
        if (msg->paused)
            g_string_append(out, "  paused\n");
        break;
    case VMIG_NEGOTIATE_FRAME_DOMAIN:
        append_quoted(out, "domain", msg->domain_name);
        g_string_append_printf(out, "  xml %zu bytes\n",
                               msg->domain_xml ? strlen(msg->domain_xml) : 0);
        break;
    case VMIG_NEGOTIATE_FRAME_READY:
    case VMIG_NEGOTIATE_FRAME_LOADED:
    case VMIG_NEGOTIATE_FRAME_SWITCHOVER:
    case VMIG_NEGOTIATE_FRAME_HEARTBEAT:
    case VMIG_NEGOTIATE_FRAME_LAST:
        break;
    }
    if (msg->type == VMIG_NEGOTIATE_FRAME_GREETING ||
        msg->type == VMIG_NEGOTIATE_FRAME_REPLY) {
        append_quoted(out, "hypervisor", msg->hypervisor);
        append_quoted(out, "driver", msg->driver);
        if (msg->heartbeat_ms)
            g_string_append_printf(out, "  heartbeat %u ms\n", msg->heartbeat_ms);
    }
    return g_string_free(out, FALSE);
}
