/*
 * features.h: what the driver itself knows about QEMU migration
 *
 * The driver's own knowledge is here and nowhere else, in two tables:
 * which QEMU capabilities and parameters are *negotiated features* (and on
 * which side each is set), and which parameters carry a unit.  Which
 * tunables exist is never written down: that comes from QEMU's schema.
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
