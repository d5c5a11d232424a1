/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt.h: domains managed by libvirt, behind the hypervisor interface
 *
 * A libvirt DOMAIN is written "libvirt:URI#NAME" (driver/domain-name.h).
 * The CLI's `-c URI NAME` builds it.
 *
 * libvirt's API is synchronous, so every call runs in a GTask worker
 * thread with its own connection; results come back on the caller's
 * context.  Errors carry libvirt's own message.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "driver/catalog.h"
#include "driver/domain-name.h"

#define VMIG_LIBVIRT_ERROR (vmig_libvirt_error_quark())
GQuark vmig_libvirt_error_quark(void);

typedef enum {
    VMIG_LIBVIRT_ERROR_CONNECT,   /* the connection URI fails */
    VMIG_LIBVIRT_ERROR_NO_DOMAIN, /* no such domain */
    VMIG_LIBVIRT_ERROR_INACTIVE,  /* the domain is not running */
    VMIG_LIBVIRT_ERROR_MONITOR,   /* a monitor command failed or answered garbage */
    VMIG_LIBVIRT_ERROR_FAILED,    /* any other libvirt error */
    VMIG_LIBVIRT_ERROR_LAST
} VmigLibvirtErrorCode;

/* Returns: TRUE when @domain names a libvirt domain ("libvirt:..."). */
gboolean vmig_libvirt_is_domain(const char *domain);

/*
 * vmig_libvirt_parse_domain:
 * Splits "libvirt:URI#NAME".
 * Returns: TRUE with *@uri and *@name set (to free), or FALSE with @error
 * (VMIG_HYPERVISOR_ERROR_DOMAIN) naming what is wrong.
 */
gboolean vmig_libvirt_parse_domain(const char *domain, char **uri, char **name,
                                   GError **error);

/* Returns: "libvirt:URI#NAME" (to free). */
char *vmig_libvirt_format_domain(const char *uri, const char *name);

/*
 * vmig_libvirt_parse_monitor_reply:
 * Reads @text, libvirt's answer to QMP @command through the monitor
 * passthrough (QEMU's reply, as libvirt passes it on).
 * Returns: the reply object, which has a "return" member (a new
 * reference), or NULL with @error (VMIG_LIBVIRT_ERROR_MONITOR) naming
 * @command and what was wrong.
 */
JsonObject *vmig_libvirt_parse_monitor_reply(const char *command, const char *text,
                                             GError **error);

/*
 * vmig_libvirt_introspect_async:
 * Reads the tunables of running libvirt domain @domain through libvirt's
 * QEMU monitor passthrough (virDomainQemuMonitorCommand): query-version,
 * query-qmp-schema, query-migrate-parameters, query-migrate-capabilities.
 * Also keeps the domain's migratable XML.  The callback runs on @context.
 */
void vmig_libvirt_introspect_async(const char *domain, GMainContext *context,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);

/*
 * Returns: the catalog, with the domain's migratable XML in *@xml (to
 * free; may be NULL), or NULL with @error set.
 */
VmigCatalog *vmig_libvirt_introspect_finish(GAsyncResult *result, char **xml,
                                            GError **error);

/*
 * What the source asks libvirt for: the negotiated features and the
 * tunables of this side, by their QEMU names (capabilities: true/false;
 * parameters: their values).  One table in libvirt.c maps what libvirt
 * has a flag or a typed parameter for; every other parameter is set
 * through the monitor passthrough before the migration starts (libvirt
 * then marks the domain tainted), and so is every other capability
 * switched on (libvirt may reset the capabilities it manages itself).
 */
typedef struct {
    char *domain;      /* "libvirt:URI#NAME" of the source */
    char *dest_uri;    /* the destination libvirt, as for virsh migrate */
    char *migrate_uri; /* VIR_MIGRATE_PARAM_URI: "unix:///path" */
    JsonObject *capabilities;
    JsonObject *parameters;
    gboolean persistent; /* VIR_MIGRATE_PERSIST_DEST */
    gboolean undefine_source;
} VmigLibvirtMigration;

void vmig_libvirt_migration_free(VmigLibvirtMigration *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigLibvirtMigration, vmig_libvirt_migration_free)

/*
 * vmig_libvirt_migrate_async:
 * Runs virDomainMigrateToURI3 (peer to peer, live) for @spec (consumed)
 * in a worker thread, after the passthrough settings.  The callback runs
 * on @context once libvirt's migration ended.
 */
void vmig_libvirt_migrate_async(VmigLibvirtMigration *spec, GMainContext *context,
                                GAsyncReadyCallback callback, gpointer user_data);

/* Returns: TRUE once the domain runs on the destination, or FALSE with libvirt's reason.
 */
gboolean vmig_libvirt_migrate_finish(GAsyncResult *result, GError **error);

/* Aborts @domain's migration job (virDomainAbortJob), in a worker thread; fire and
 * forget. */
void vmig_libvirt_abort(const char *domain);

/*
 * vmig_libvirt_check_running_async:
 * Whether @domain runs on its libvirt (virDomainGetState: running, or
 * paused for another reason than the incoming migration): the
 * destination's word that the guest arrived.
 */
void vmig_libvirt_check_running_async(const char *domain, GMainContext *context,
                                      GAsyncReadyCallback callback, gpointer user_data);

/*
 * Returns: TRUE when it runs, or FALSE with @error: INACTIVE while it is
 * not running yet, NO_DOMAIN once libvirt dropped it, or another code.
 */
gboolean vmig_libvirt_check_running_finish(GAsyncResult *result, GError **error);

/*
 * vmig_libvirt_default_emulator_async:
 * The emulator the libvirt of @domain would run a "qemu"/"kvm" domain
 * with (virConnectGetDomainCapabilities' <path>): what an incoming domain
 * gets when its XML is not at hand.
 */
void vmig_libvirt_default_emulator_async(const char *domain, GMainContext *context,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);

/* Returns: the emulator's path (to free), or NULL with @error set. */
char *vmig_libvirt_default_emulator_finish(GAsyncResult *result, GError **error);

/* A running libvirt migration job, as virDomainGetJobStats tells it. */
typedef struct {
    gboolean active;     /* FALSE: no job (not started yet, or over) */
    guint64 transferred; /* bytes */
    guint64 remaining;
    guint64 total;
    guint64 throughput; /* bytes/s */
    gint64 downtime;    /* expected downtime, ms */
} VmigLibvirtProgress;

/* Reads @domain's job statistics in a worker thread; the callback runs on @context. */
void vmig_libvirt_progress_async(const char *domain, GMainContext *context,
                                 GAsyncReadyCallback callback, gpointer user_data);

/* Returns: TRUE with *@progress filled, or FALSE with @error set. */
gboolean vmig_libvirt_progress_finish(GAsyncResult *result, VmigLibvirtProgress *progress,
                                      GError **error);
