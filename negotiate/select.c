/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * select.c: choosing a version and features from two offers
 *
 * The source selects (it has both offers once the GREETING arrives); the
 * destination checks that the selection stays within what it offered.
 * Both directions use the same notion of "within": a selected feature's
 * CHANNELS is at most the offered one, its ALGORITHMS a subset.
 */
#include <config.h>

#include "negotiate/negotiate-private.h"

/* Returns: TRUE when @versions holds @version. */
static gboolean
has_version(const GArray *versions, guint32 version)
{
    for (guint i = 0; i < versions->len; i++) {
        if (g_array_index(versions, guint32, i) == version)
            return TRUE;
    }
    return FALSE;
}

/* Returns: a new string listing @versions for an error message. */
static char *
versions_to_string(const GArray *versions)
{
    GString *out = g_string_new(NULL);

    for (guint i = 0; i < versions->len; i++) {
        if (i)
            g_string_append(out, ", ");
        vmig_negotiate_append_version(out, g_array_index(versions, guint32, i));
    }
    return g_string_free(out, FALSE);
}

/* Returns: TRUE when @names holds @name. */
static gboolean
has_name(const GPtrArray *names, const char *name)
{
    for (guint i = 0; i < names->len; i++) {
        if (g_str_equal(g_ptr_array_index(names, i), name))
            return TRUE;
    }
    return FALSE;
}

/* Returns: a new string listing @names ("zstd, zlib") for an error message. */
static char *
names_to_string(const GPtrArray *names)
{
    GString *out = g_string_new(NULL);

    for (guint i = 0; i < names->len; i++) {
        if (i)
            g_string_append(out, ", ");
        g_string_append(out, g_ptr_array_index(names, i));
    }
    return g_string_free(out, FALSE);
}

/*
 * Merges the two offers of one feature: CHANNELS the smaller, ALGORITHMS
 * the intersection in @src's order.  An attribute only one side states is
 * dropped: the other side could not honour it.
 * Returns: the merged feature, or NULL when nothing usable is left.
 */
static VmigNegotiateFeature *
merge_feature(const VmigNegotiateFeature *src, const VmigNegotiateFeature *dst)
{
    g_autoptr(VmigNegotiateFeature) merged = vmig_negotiate_feature_new(src->name);

    if (src->has_channels && dst->has_channels) {
        guint16 channels = MIN(src->channels, dst->channels);

        if (channels == 0)
            return NULL;
        vmig_negotiate_feature_set_channels(merged, channels);
    }
    if (src->algorithms && dst->algorithms) {
        for (guint i = 0; i < src->algorithms->len; i++) {
            const char *algorithm = g_ptr_array_index(src->algorithms, i);

            if (has_name(dst->algorithms, algorithm))
                vmig_negotiate_feature_add_algorithm(merged, algorithm);
        }
        if (!merged->algorithms)
            return NULL;
    }
    return g_steal_pointer(&merged);
}

/* Returns: why two offers of one feature have nothing in common (new string). */
static char *
explain_no_overlap(const VmigNegotiateFeature *src, const VmigNegotiateFeature *dst)
{
    if (src->has_channels && dst->has_channels && MIN(src->channels, dst->channels) == 0)
        return g_strdup_printf("the source offers %u channels and the destination %u",
                               src->channels, dst->channels);
    if (src->algorithms && dst->algorithms) {
        g_autofree char *a = names_to_string(src->algorithms);
        g_autofree char *b = names_to_string(dst->algorithms);

        return g_strdup_printf("the two sides have no algorithm in common (source [%s], "
                               "destination [%s])",
                               a, b);
    }
    return g_strdup("the two sides have no usable attributes in common");
}

/*
 * Checks that every feature @offer requires is in @selected.  @offer was
 * made by the source when @offer_is_source, else by the destination.
 * @other is the other side's offer, used to say why a required feature is
 * missing; NULL when @selected was made by the other side.
 * Returns: TRUE, or FALSE with FEATURE_REQUIRED naming feature and side.
 */
static gboolean
check_required(const VmigNegotiateMessage *offer, gboolean offer_is_source,
               const VmigNegotiateMessage *other, const VmigNegotiateMessage *selected,
               GError **error)
{
    const char *side = offer_is_source ? "source" : "destination";
    const char *other_side = offer_is_source ? "destination" : "source";

    for (guint i = 0; i < offer->features->len; i++) {
        const VmigNegotiateFeature *feature = g_ptr_array_index(offer->features, i);
        const VmigNegotiateFeature *peer;
        g_autofree char *why = NULL;

        if (!feature->required ||
            vmig_negotiate_message_find_feature(selected, feature->name))
            continue;
        peer = other ? vmig_negotiate_message_find_feature(other, feature->name) : NULL;
        if (!other)
            why = g_strdup_printf("the %s did not select it", other_side);
        else if (!peer)
            why = g_strdup_printf("the %s does not offer it", other_side);
        else if (offer_is_source)
            why = explain_no_overlap(feature, peer);
        else
            why = explain_no_overlap(peer, feature);
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED,
                    "feature '%s' is required by the %s but %s", feature->name, side,
                    why);
        return FALSE;
    }
    return TRUE;
}

/* Returns: the REPLY's version/features/channels, or NULL with @error set. */
VmigNegotiateMessage *
vmig_negotiate_select(const VmigNegotiateMessage *src, const VmigNegotiateMessage *dst,
                      GError **error)
{
    g_autoptr(VmigNegotiateMessage) reply =
        vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_REPLY);
    gboolean found = FALSE;
    guint32 best = 0;

    for (guint i = 0; i < src->versions->len; i++) {
        guint32 version = g_array_index(src->versions, guint32, i);

        if ((!found || version > best) && has_version(dst->versions, version)) {
            best = version;
            found = TRUE;
        }
    }
    if (!found) {
        g_autofree char *a = versions_to_string(src->versions);
        g_autofree char *b = versions_to_string(dst->versions);

        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_NO_COMMON_VERSION,
                    "no common protocol version: the source speaks [%s], the destination "
                    "[%s]",
                    a, b);
        return NULL;
    }
    vmig_negotiate_message_add_version(reply, best);

    for (guint i = 0; i < src->features->len; i++) {
        const VmigNegotiateFeature *offer = g_ptr_array_index(src->features, i);
        const VmigNegotiateFeature *peer =
            vmig_negotiate_message_find_feature(dst, offer->name);
        VmigNegotiateFeature *merged;

        if (!peer)
            continue;
        merged = merge_feature(offer, peer);
        if (merged)
            vmig_negotiate_message_add_feature(reply, merged);
    }

    if (!check_required(src, TRUE, dst, reply, error) ||
        !check_required(dst, FALSE, src, reply, error))
        return NULL;

    reply->channels = MIN(src->max_channels, dst->max_channels);
    return g_steal_pointer(&reply);
}

/*
 * Checks that @chosen (a feature in @frame) stays within @offered.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
check_within(const char *frame, const VmigNegotiateFeature *chosen,
             const VmigNegotiateFeature *offered, const char *offered_by, GError **error)
{
    if (chosen->has_channels && (!offered->has_channels || chosen->channels == 0 ||
                                 chosen->channels > offered->channels)) {
        if (offered->has_channels)
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                        "%s gives feature '%s' %u channels; the %s offered 1 to %u",
                        frame, chosen->name, chosen->channels, offered_by,
                        offered->channels);
        else
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                        "%s gives feature '%s' a channel count the %s did not offer",
                        frame, chosen->name, offered_by);
        return FALSE;
    }
    if (chosen->algorithms) {
        if (!offered->algorithms || chosen->algorithms->len == 0) {
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                        "%s gives feature '%s' algorithms the %s did not offer", frame,
                        chosen->name, offered_by);
            return FALSE;
        }
        for (guint i = 0; i < chosen->algorithms->len; i++) {
            const char *algorithm = g_ptr_array_index(chosen->algorithms, i);

            if (!has_name(offered->algorithms, algorithm)) {
                g_set_error(
                    error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                    "%s selects algorithm '%s' for feature '%s', which the %s did "
                    "not offer",
                    frame, algorithm, chosen->name, offered_by);
                return FALSE;
            }
        }
    }
    return TRUE;
}

/*
 * Checks every feature of @chosen (a @frame) against @offered.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
check_features_within(const char *frame, const VmigNegotiateMessage *chosen,
                      const VmigNegotiateMessage *offered, const char *offered_by,
                      GError **error)
{
    for (guint i = 0; i < chosen->features->len; i++) {
        const VmigNegotiateFeature *feature = g_ptr_array_index(chosen->features, i);
        const VmigNegotiateFeature *offer =
            vmig_negotiate_message_find_feature(offered, feature->name);

        if (!offer) {
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                        "%s selects feature '%s', which the %s did not offer", frame,
                        feature->name, offered_by);
            return FALSE;
        }
        if (!check_within(frame, feature, offer, offered_by, error))
            return FALSE;
    }
    return TRUE;
}

/* Returns: TRUE when @reply keeps within @greeting, else FALSE with @error. */
gboolean
vmig_negotiate_check_reply(const VmigNegotiateMessage *greeting,
                           const VmigNegotiateMessage *reply, GError **error)
{
    guint32 version;

    g_return_val_if_fail(reply->versions->len == 1, FALSE);
    version = g_array_index(reply->versions, guint32, 0);
    if (!has_version(greeting->versions, version)) {
        g_autoptr(GString) v = g_string_new(NULL);
        g_autofree char *offered = versions_to_string(greeting->versions);

        vmig_negotiate_append_version(v, version);
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                    "REPLY selects protocol version %s; the destination offered [%s]",
                    v->str, offered);
        return FALSE;
    }
    if (!check_features_within("REPLY", reply, greeting, "destination", error) ||
        !check_required(greeting, FALSE, NULL, reply, error))
        return FALSE;
    if (reply->channels > greeting->max_channels) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                    "REPLY requests %u channels; the destination takes at most %u",
                    reply->channels, greeting->max_channels);
        return FALSE;
    }
    return TRUE;
}

/* Returns: TRUE when @commit keeps within @reply, else FALSE with @error. */
gboolean
vmig_negotiate_check_commit(const VmigNegotiateMessage *greeting,
                            const VmigNegotiateMessage *reply,
                            const VmigNegotiateMessage *commit, GError **error)
{
    if (commit->channels > reply->channels) {
        g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_INVALID,
                    "COMMIT has %u channels; the REPLY requested only %u",
                    commit->channels, reply->channels);
        return FALSE;
    }
    return check_features_within("COMMIT", commit, reply, "REPLY", error) &&
           check_required(greeting, FALSE, NULL, commit, error);
}
