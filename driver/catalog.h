/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.h: the tunables a hypervisor really has
 *
 * Built from QEMU's own schema (query-qmp-schema) at run time: every member
 * of migrate-set-parameters' argument type and every MigrationCapability
 * value, with its type, and its current value from query-migrate-parameters
 * and query-migrate-capabilities.  Nothing about which tunables exist is
 * written down in the driver; driver/features.c only says which of them
 * the driver negotiates and which carry a unit.
 *
 * The catalog's wire form (the control socket's query-tunables reply, the
 * CLI's --json output, the input of xml/'s catalog document):
 *
 *   {
 *     "hypervisor": "QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
 *     "tunables": [
 *       { "name": "max-bandwidth", "kind": "parameter", "type": "int",
 *         "unit": "bytes/s", "settable": true, "current": 134217728 },
 *       { "name": "tls-creds", "kind": "parameter", "type": "string",
 *         "nullable": true, "settable": false, "managed": "--tls", "current": "" },
 *       { "name": "multifd-compression", "kind": "parameter", "type": "enum",
 *         "values": ["none", "zlib", "zstd"], "settable": true,
 *         "negotiated": true, "feature": "multifd-compression", "current": "none" },
 *       { "name": "block-bitmap-mapping", "kind": "parameter", "type": "array",
 *         "settable": false },
 *       { "name": "x-colo", "kind": "capability", "type": "boolean",
 *         "settable": true, "unstable": true, "current": false },
 *       { "name": "multifd", "kind": "capability", "type": "boolean",
 *         "settable": true, "negotiated": true, "feature": "multifd", "current": false },
 *       ...
 *     ]
 *   }
 *
 * Members with a false or absent value ("nullable", "unstable",
 * "deprecated", "negotiated") are omitted; "unit", "values", "feature" and
 * "current" only appear when there is one.  Parameters come first, in the
 * schema's order, then capabilities in the enum's order.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "driver/features.h"

#define VMIG_CATALOG_ERROR (vmig_catalog_error_quark())
GQuark vmig_catalog_error_quark(void);

typedef enum {
    VMIG_CATALOG_ERROR_SCHEMA, /* the schema lacks or garbles what migration needs */
    VMIG_CATALOG_ERROR_VALUES, /* a query-migrate-* reply is not what the schema says */
    VMIG_CATALOG_ERROR_LAST
} VmigCatalogErrorCode;

typedef enum {
    VMIG_TUNABLE_KIND_PARAMETER,  /* a member of migrate-set-parameters' arguments */
    VMIG_TUNABLE_KIND_CAPABILITY, /* a MigrationCapability value */
    VMIG_TUNABLE_KIND_LAST
} VmigTunableKind;

const char *vmig_tunable_kind_to_string(VmigTunableKind kind);

typedef enum {
    VMIG_TUNABLE_TYPE_INT,
    VMIG_TUNABLE_TYPE_NUMBER,
    VMIG_TUNABLE_TYPE_BOOLEAN,
    VMIG_TUNABLE_TYPE_STRING,
    VMIG_TUNABLE_TYPE_ENUM,
    VMIG_TUNABLE_TYPE_ARRAY,     /* not settable from a command line */
    VMIG_TUNABLE_TYPE_OBJECT,    /* not settable from a command line */
    VMIG_TUNABLE_TYPE_ALTERNATE, /* of several non-null types: not settable */
    VMIG_TUNABLE_TYPE_ANY,       /* not settable */
    VMIG_TUNABLE_TYPE_LAST
} VmigTunableType;

const char *vmig_tunable_type_to_string(VmigTunableType type);

typedef struct {
    char *name;
    VmigTunableKind kind;
    VmigTunableType type;
    gboolean nullable; /* an alternate of the type and null: JSON null is a value */
    GStrv values;      /* VMIG_TUNABLE_TYPE_ENUM: the allowed values; else NULL */
    VmigUnit unit;
    gboolean unstable; /* "x-" prefix or the schema's 'unstable' feature */
    gboolean deprecated;
    const VmigFeatureInfo *feature; /* the negotiated feature controlling it, or NULL */
    const char *managed; /* the driver's option that sets it ("--tls"), or NULL */
    JsonNode *current;   /* the current value, or NULL when QEMU reports none */
} VmigTunable;

/* Returns: TRUE when a value can be given on a command line (scalars and enums). */
gboolean vmig_tunable_is_settable(const VmigTunable *tunable);

typedef struct {
    char *hypervisor;
    GPtrArray *tunables; /* VmigTunable *: parameters, then capabilities */
    GHashTable *index;   /* name -> VmigTunable * */
} VmigCatalog;

/*
 * vmig_catalog_new_from_schema:
 * @hypervisor: e.g. vmig_qmp_get_hypervisor()'s string
 * @schema: query-qmp-schema's return value (borrowed)
 * Returns: the catalog (no current values yet), or NULL with @error set.
 */
VmigCatalog *vmig_catalog_new_from_schema(const char *hypervisor, JsonNode *schema,
                                          GError **error);

/*
 * vmig_catalog_set_current:
 * @parameters: query-migrate-parameters' return value (an object)
 * @capabilities: query-migrate-capabilities' return value (an array of
 *                {"capability": NAME, "state": BOOL})
 * Values for names the schema does not have are ignored.
 * Returns: TRUE, or FALSE with @error when a reply has the wrong shape.
 */
gboolean vmig_catalog_set_current(VmigCatalog *catalog, JsonNode *parameters,
                                  JsonNode *capabilities, GError **error);

/*
 * vmig_catalog_copy:
 * A deep copy: every tunable with its values and current value; the
 * feature pointers are shared (they point into features.c's static table).
 * Returns: the copy (new).
 */
VmigCatalog *vmig_catalog_copy(const VmigCatalog *catalog);

/* Returns: the tunable called @name, or NULL. */
const VmigTunable *vmig_catalog_lookup(const VmigCatalog *catalog, const char *name);

/*
 * Returns: the closest name to @name among the catalog's tunables (that
 * @unstable allows), for "did you mean", or NULL when none is close.
 */
const char *vmig_catalog_suggest(const VmigCatalog *catalog, const char *name,
                                 gboolean unstable);

/*
 * Returns: the wire form above (a new node); unstable tunables are left
 * out unless @unstable.
 */
JsonNode *vmig_catalog_to_json(const VmigCatalog *catalog, gboolean unstable);

void vmig_catalog_free(VmigCatalog *catalog);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigCatalog, vmig_catalog_free)
