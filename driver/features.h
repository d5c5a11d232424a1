/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * features.h: what the driver itself knows about QEMU migration, and its
 * policy for the negotiated features
 *
 * The driver's own knowledge is here and nowhere else, in two tables:
 * which QEMU capabilities and parameters are *negotiated features* (and on
 * which side each is set), and which parameters carry a unit.  Which
 * tunables exist is never written down: that comes from QEMU's schema.
 *
 * The policy is here too: when a side offers a feature
 * (vmig_features_why_not_offered), and which features cannot go together
 * (vmig_features_resolve, the one place for every such rule).
 */
#pragma once

#include <glib.h>

typedef enum {
    VMIG_SIDE_SOURCE = 1 << 0,
    VMIG_SIDE_DESTINATION = 1 << 1,
    VMIG_SIDE_BOTH = VMIG_SIDE_SOURCE | VMIG_SIDE_DESTINATION,
} VmigSide;

const char *vmig_side_to_string(VmigSide side);

typedef enum {
    VMIG_FEATURE_MULTIFD,
    VMIG_FEATURE_MULTIFD_COMPRESSION,
    VMIG_FEATURE_POSTCOPY_RAM,
    VMIG_FEATURE_RETURN_PATH,
    VMIG_FEATURE_ZERO_COPY_SEND,
    VMIG_FEATURE_PAUSE_BEFORE_SWITCHOVER,
    VMIG_FEATURE_LAST
} VmigFeature;

typedef struct {
    VmigFeature id;
    const char *name;       /* on the wire and on the command line */
    const char *capability; /* the QEMU capability it switches on, or NULL */
    const char *parameter;  /* the QEMU parameter whose value it negotiates, or NULL */
    VmigSide side;          /* where the capability/parameter is set */
    gboolean internal;      /* used by the driver itself, not offered to users */
} VmigFeatureInfo;

/* Returns: the row for @feature. */
const VmigFeatureInfo *vmig_feature_info(VmigFeature feature);

/* Returns: the row whose name is @name, or NULL. */
const VmigFeatureInfo *vmig_feature_find(const char *name);

/*
 * Returns: the feature users may name that @name was most likely meant to
 * be (a typo or two away, or the start of one name only: "postcopy" is
 * postcopy-ram), or NULL.
 */
const char *vmig_feature_suggest(const char *name);

/* Returns: the row whose QEMU capability is @capability, or NULL. */
const VmigFeatureInfo *vmig_feature_find_capability(const char *capability);

/* Returns: the row whose QEMU parameter is @parameter, or NULL. */
const VmigFeatureInfo *vmig_feature_find_parameter(const char *parameter);

typedef enum {
    VMIG_UNIT_NONE,
    VMIG_UNIT_BYTES,            /* accepts k/M/G/T suffixes (powers of 1024) */
    VMIG_UNIT_BYTES_PER_SECOND, /* likewise */
    VMIG_UNIT_MILLISECONDS,
    VMIG_UNIT_LAST
} VmigUnit;

/* "bytes", "bytes/s", "ms"; NULL for VMIG_UNIT_NONE. */
const char *vmig_unit_to_string(VmigUnit unit);

/* Returns: the unit of QEMU migration parameter @parameter, NONE when unknown. */
VmigUnit vmig_parameter_unit(const char *parameter);

#define VMIG_FEATURE_ERROR (vmig_feature_error_quark())
GQuark vmig_feature_error_quark(void);

typedef enum {
    VMIG_FEATURE_ERROR_UNKNOWN,  /* a feature name nobody knows */
    VMIG_FEATURE_ERROR_REQUIRED, /* required, but it cannot be had */
    VMIG_FEATURE_ERROR_LAST
} VmigFeatureErrorCode;

/* A set of features: bit (1 << VmigFeature). */
typedef guint VmigFeatureSet;
#define VMIG_FEATURE_BIT(f) (1u << (f))
G_STATIC_ASSERT(VMIG_FEATURE_LAST <= 32);

/*
 * vmig_features_check_names:
 * Checks that every name in @names (nullable) is a feature users may
 * name; @option names the list in the message.
 * Returns: TRUE with the set in *@set, or FALSE with UNKNOWN in @error
 * suggesting the name meant (vmig_feature_suggest), else listing the
 * known names.
 */
gboolean vmig_features_check_names(GStrv names, const char *option, VmigFeatureSet *set,
                                   GError **error);

/* What one side knows when it decides what to offer. */
typedef struct {
    gboolean source;          /* the role */
    VmigFeatureSet available; /* this QEMU has the knob of each */
    VmigFeatureSet forbidden; /* no-features */
    VmigFeatureSet required;  /* require-features */
    guint channels;           /* source: the extra channels asked for */
    gboolean compression;     /* source: a multifd-compression other than none */
} VmigFeatureOfferContext;

/*
 * Returns: why a side with @context does not offer @feature (a static
 * string for the negotiation record), or NULL: it offers it.
 * Internal features are never offered (and get NULL: nothing to record).
 */
const char *vmig_features_why_not_offered(VmigFeature feature,
                                          const VmigFeatureOfferContext *context);

/* A feature taken out of a selection, and why. */
typedef struct {
    VmigFeature feature;
    const char *reason; /* static */
} VmigFeatureDrop;

/*
 * vmig_features_resolve:
 * @selection: in: the features both sides offered; out: those that go
 * @required: what either side requires
 * @dropped: (out) (element-type VmigFeatureDrop): appended to, per feature dropped
 *
 * Every rule between features, in QEMU's way: a copy is changed and
 * checked, and only a consistent result is committed to @selection.
 * QEMU 7.2 cannot use postcopy-ram with multifd (the one not required is
 * dropped, postcopy-ram when neither is), and multifd-compression means
 * nothing without multifd.
 * Returns: TRUE, or FALSE with REQUIRED in @error (@selection untouched).
 */
gboolean vmig_features_resolve(VmigFeatureSet *selection, VmigFeatureSet required,
                               GArray *dropped, GError **error);
