/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * features.c: the driver's own knowledge of QEMU migration, as tables
 */
#include <config.h>

#include "driver/features.h"

#include <string.h>

#include "driver/name-match.h"

/*
 * The negotiated features: one row each, indexed by VmigFeature.
 *
 * multifd switches the capability on both sides; the channel count it
 * sets (multifd-channels) comes from the negotiation, within the limit the
 * user gives as a tunable.  multifd-compression negotiates the value of
 * the parameter of that name: the algorithm both schemas have, 'none'
 * unless the user asks for one.  pause-before-switchover is how the source
 * driver keeps control of the switchover; users never see it.
 */
static const VmigFeatureInfo feature_table[] = {
    {VMIG_FEATURE_MULTIFD, "multifd", "multifd", NULL, VMIG_SIDE_BOTH, FALSE},
    {VMIG_FEATURE_MULTIFD_COMPRESSION, "multifd-compression", NULL, "multifd-compression",
     VMIG_SIDE_BOTH, FALSE},
    {VMIG_FEATURE_POSTCOPY_RAM, "postcopy-ram", "postcopy-ram", NULL, VMIG_SIDE_BOTH,
     FALSE},
    {VMIG_FEATURE_RETURN_PATH, "return-path", "return-path", NULL, VMIG_SIDE_BOTH, FALSE},
    {VMIG_FEATURE_ZERO_COPY_SEND, "zero-copy-send", "zero-copy-send", NULL,
     VMIG_SIDE_SOURCE, FALSE},
    {VMIG_FEATURE_PAUSE_BEFORE_SWITCHOVER, "pause-before-switchover",
     "pause-before-switchover", NULL, VMIG_SIDE_SOURCE, TRUE},
};
G_STATIC_ASSERT(G_N_ELEMENTS(feature_table) == VMIG_FEATURE_LAST);

/* Parameters with a unit; byte-valued ones accept k/M/G/T suffixes. */
static const struct {
    const char *parameter;
    VmigUnit unit;
} unit_table[] = {
    {"max-bandwidth", VMIG_UNIT_BYTES_PER_SECOND},
    {"max-postcopy-bandwidth", VMIG_UNIT_BYTES_PER_SECOND},
    {"avail-switchover-bandwidth", VMIG_UNIT_BYTES_PER_SECOND},
    {"xbzrle-cache-size", VMIG_UNIT_BYTES},
    {"downtime-limit", VMIG_UNIT_MILLISECONDS},
    {"x-checkpoint-delay", VMIG_UNIT_MILLISECONDS},
    {"announce-initial", VMIG_UNIT_MILLISECONDS},
    {"announce-max", VMIG_UNIT_MILLISECONDS},
    {"announce-step", VMIG_UNIT_MILLISECONDS},
    {"x-vcpu-dirty-limit-period", VMIG_UNIT_MILLISECONDS},
};

static const char *const unit_names[] = {NULL, "bytes", "bytes/s", "ms"};
G_STATIC_ASSERT(G_N_ELEMENTS(unit_names) == VMIG_UNIT_LAST);

/* Returns: "source", "destination" or "both". */
const char *
vmig_side_to_string(VmigSide side)
{
    switch (side) {
    case VMIG_SIDE_SOURCE:
        return "source";
    case VMIG_SIDE_DESTINATION:
        return "destination";
    case VMIG_SIDE_BOTH:
        return "both";
    }
    return NULL;
}

/* Returns: the row for @feature. */
const VmigFeatureInfo *
vmig_feature_info(VmigFeature feature)
{
    g_return_val_if_fail((guint)feature < VMIG_FEATURE_LAST, NULL);
    return &feature_table[feature];
}

/* Returns: the row whose name, capability or parameter (per @field) is @value, or NULL.
 */
static const VmigFeatureInfo *
feature_find_by(gsize field, const char *value)
{
    for (gsize i = 0; i < G_N_ELEMENTS(feature_table); i++) {
        const char *key = G_STRUCT_MEMBER(const char *, &feature_table[i], field);

        if (key && g_str_equal(key, value))
            return &feature_table[i];
    }
    return NULL;
}

/* Returns: the row called @name, or NULL. */
const VmigFeatureInfo *
vmig_feature_find(const char *name)
{
    return feature_find_by(G_STRUCT_OFFSET(VmigFeatureInfo, name), name);
}

/* Returns: the row switching QEMU capability @capability, or NULL. */
const VmigFeatureInfo *
vmig_feature_find_capability(const char *capability)
{
    return feature_find_by(G_STRUCT_OFFSET(VmigFeatureInfo, capability), capability);
}

/* Returns: the row negotiating QEMU parameter @parameter, or NULL. */
const VmigFeatureInfo *
vmig_feature_find_parameter(const char *parameter)
{
    return feature_find_by(G_STRUCT_OFFSET(VmigFeatureInfo, parameter), parameter);
}

/* Returns: the unit's name, or NULL for VMIG_UNIT_NONE. */
const char *
vmig_unit_to_string(VmigUnit unit)
{
    if ((guint)unit >= G_N_ELEMENTS(unit_names))
        return NULL;
    return unit_names[unit];
}

/* Returns: the unit of @parameter, VMIG_UNIT_NONE when the driver knows none. */
VmigUnit
vmig_parameter_unit(const char *parameter)
{
    for (gsize i = 0; i < G_N_ELEMENTS(unit_table); i++) {
        if (g_str_equal(unit_table[i].parameter, parameter))
            return unit_table[i].unit;
    }
    return VMIG_UNIT_NONE;
}

const char *
vmig_feature_suggest(const char *name)
{
    const char *prefixed = NULL;
    guint n_prefixed = 0;
    gsize len = strlen(name);
    VmigNameMatch match;

    /* Close enough: a typo or two, more for long names (as for tunables). */
    vmig_name_match_init(&match, name, MAX(2, len / 3));
    for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
        const char *known = feature_table[f].name;

        if (feature_table[f].internal)
            continue;
        if (len > 0 && g_str_has_prefix(known, name)) {
            prefixed = known;
            n_prefixed++;
        }
        vmig_name_match_try(&match, known);
    }
    if (vmig_name_match_best(&match))
        return vmig_name_match_best(&match);
    /* "postcopy": the start of one name only (postcopy-ram). */
    return n_prefixed == 1 ? prefixed : NULL;
}

/* ------------------------------------------------------------------------ */
/* Policy */

/* clang-format off */
G_DEFINE_QUARK(vmig-feature-error-quark, vmig_feature_error)
/* clang-format on */

gboolean
vmig_features_check_names(GStrv names, const char *option, VmigFeatureSet *set,
                          GError **error)
{
    VmigFeatureSet found = 0;

    for (guint i = 0; names && names[i]; i++) {
        const VmigFeatureInfo *info = vmig_feature_find(names[i]);

        if (!info || info->internal) {
            const char *suggestion = vmig_feature_suggest(names[i]);
            g_autoptr(GString) known = g_string_new(NULL);

            if (suggestion) {
                g_set_error(error, VMIG_FEATURE_ERROR, VMIG_FEATURE_ERROR_UNKNOWN,
                            "%s: unknown feature '%s'; did you mean '%s'?", option,
                            names[i], suggestion);
                return FALSE;
            }

            for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
                if (!feature_table[f].internal)
                    g_string_append_printf(known, "%s%s", known->len ? ", " : "",
                                           feature_table[f].name);
            }
            g_set_error(error, VMIG_FEATURE_ERROR, VMIG_FEATURE_ERROR_UNKNOWN,
                        "%s: unknown feature '%s' (known: %s)", option, names[i],
                        known->str);
            return FALSE;
        }
        found |= VMIG_FEATURE_BIT(info->id);
    }
    *set = found;
    return TRUE;
}

const char *
vmig_features_why_not_offered(VmigFeature feature, const VmigFeatureOfferContext *context)
{
    gboolean source = context->source;

    if (feature_table[feature].internal)
        return NULL;
    if (context->forbidden & VMIG_FEATURE_BIT(feature))
        return source ? "forbidden by the source (--no-feature)"
                      : "forbidden by the destination (no-features)";
    if (!(context->available & VMIG_FEATURE_BIT(feature)))
        return source ? "the source QEMU does not have it"
                      : "the destination QEMU does not have it";
    switch (feature) {
    case VMIG_FEATURE_ZERO_COPY_SEND:
        return "the bridge's unix sockets have no MSG_ZEROCOPY";
    case VMIG_FEATURE_MULTIFD:
        return source && context->channels == 0
                   ? "no extra channels asked for (--channels)"
                   : NULL;
    case VMIG_FEATURE_POSTCOPY_RAM:
        /* Switched on, postcopy-ram slows QEMU's precopy stream even when
         * postcopy never starts (measured here: +40% for 1 GiB): the source
         * offers it only when it is required. */
        return source && !(context->required & VMIG_FEATURE_BIT(feature))
                   ? "not asked for (--require-feature postcopy-ram)"
                   : NULL;
    case VMIG_FEATURE_MULTIFD_COMPRESSION:
        return source && !context->compression
                   ? "no compression asked for (--tunable multifd-compression=...)"
                   : NULL;
    case VMIG_FEATURE_RETURN_PATH:
    case VMIG_FEATURE_PAUSE_BEFORE_SWITCHOVER:
    case VMIG_FEATURE_LAST:
        break;
    }
    return NULL;
}

gboolean
vmig_features_resolve(VmigFeatureSet *selection, VmigFeatureSet required, GArray *dropped,
                      GError **error)
{
    const VmigFeatureSet multifd = VMIG_FEATURE_BIT(VMIG_FEATURE_MULTIFD);
    const VmigFeatureSet postcopy = VMIG_FEATURE_BIT(VMIG_FEATURE_POSTCOPY_RAM);
    const VmigFeatureSet compression = VMIG_FEATURE_BIT(VMIG_FEATURE_MULTIFD_COMPRESSION);
    VmigFeatureSet copy = *selection;

    if ((copy & multifd) && (copy & postcopy)) {
        VmigFeatureDrop drop = {VMIG_FEATURE_POSTCOPY_RAM,
                                "QEMU cannot use postcopy-ram together with multifd"};

        if ((required & multifd) && (required & postcopy)) {
            g_set_error(
                error, VMIG_FEATURE_ERROR, VMIG_FEATURE_ERROR_REQUIRED,
                "features 'multifd' and 'postcopy-ram' are both required, but QEMU "
                "cannot use them together");
            return FALSE;
        }
        if (required & postcopy)
            drop.feature = VMIG_FEATURE_MULTIFD;
        copy &= ~VMIG_FEATURE_BIT(drop.feature);
        g_array_append_val(dropped, drop);
    }
    if (!(copy & multifd) && (copy & compression)) {
        VmigFeatureDrop drop = {VMIG_FEATURE_MULTIFD_COMPRESSION, "multifd is not used"};

        copy &= ~compression;
        g_array_append_val(dropped, drop);
    }
    *selection = copy;
    return TRUE;
}
