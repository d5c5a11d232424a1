/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.h: the hypervisor behind a migration, one interface
 *
 * A migration's roles (migration-source.c, migration-destination.c) speak
 * to the hypervisor through these operations only, and never ask which one
 * it is:
 *
 *   vmig_backend_qmp      a QEMU reached through its QMP monitor: the
 *                         driver configures it and runs its migration
 *                         (backend-qmp.c)
 *   vmig_backend_libvirt  a domain that libvirt runs: libvirt configures
 *                         its QEMUs and runs the migration peer to peer
 *                         through the drivers (backend-libvirt.c)
 *
 * Every operation runs on the daemon's main context and ends by calling
 * back into the migration (or failing it); none blocks.
 */
#pragma once

#include <gio/gio.h>

#include "driver/catalog.h"

typedef struct _VmigMigration VmigMigration;

/* What comes after a step that may take a while. */
typedef void (*VmigBackendStep)(VmigMigration *m);

/* One reading of a running migration's progress. */
typedef struct {
    const char *status;  /* QEMU's MigrationStatus word: "active", "completed", ... */
    gboolean has_ram;    /* the figures below were reported */
    guint64 transferred; /* bytes */
    guint64 remaining;
    guint64 total;
    guint64 bytes_per_second;
    gint64 expected_downtime_ms;
    /* Once completed (QEMU's query-migrate): what the downtime cost. */
    gboolean has_final;
    gint64 total_ms, setup_ms, downtime_ms;
    guint64 normal_bytes, downtime_bytes, multifd_bytes;
    double mbps; /* QEMU's, once completed: all it sent over (total - setup) time */
} VmigBackendProgress;

typedef struct {
    const char *name;
    /*
     * Reads the domain's catalog into m->catalog and checks that it can
     * migrate in @m's role, then vmig_mig_start_checked(); or refuses the
     * start (vmig_mig_refuse_start()).
     */
    void (*introspect)(VmigMigration *m);
    /* Sets what the COMMIT agreed on (and the user's tunables), then @next. */
    void (*configure)(VmigMigration *m, VmigBackendStep next);
    /* Source (READY came): starts the stream over the channels. */
    void (*start_source)(VmigMigration *m);
    /* Destination (configured): has the hypervisor take the stream, sends READY, connects
     * the channels. */
    void (*start_destination)(VmigMigration *m);
    /*
     * Reads the progress once: clears m->progress_pending when the reading
     * is in, reports it with vmig_mig_progress(), and ends @m when the
     * hypervisor says it ended.
     */
    void (*poll)(VmigMigration *m);
    /* Destination: every bridged channel reached its end. */
    void (*stream_ended)(VmigMigration *m);
    /* The app cancelled a running stream: stop it; the source guest runs on. */
    void (*cancel)(VmigMigration *m);
    /*
     * Destination, version 2 (SWITCHOVER came): runs the guest (cont), or
     * leaves it paused when the app asked so (!m->resume), then @done; or
     * fails @m.
     */
    void (*resume)(VmigMigration *m, VmigBackendStep done);
    /*
     * A migration left unknown: reaches the hypervisor again and carries
     * out m->resolve_action, then vmig_mig_resolved().
     */
    void (*resolve)(VmigMigration *m);
    /* Source: switches the running stream to postcopy; @task (consumed) gets TRUE or the
     * error. */
    void (*postcopy)(VmigMigration *m, GTask *task);
    /*
     * Source, migrating: sets @params (migrate-set-parameters' arguments,
     * borrowed) on the running migration; @task (consumed) gets TRUE or the
     * error.  NULL: this backend cannot (migration-set.c says why).
     */
    void (*set_parameters)(VmigMigration *m, JsonObject *params, GTask *task);
    /*
     * @m ended (@m->state says how): stops the hypervisor's migration if it
     * runs, puts back the capabilities and parameters configure changed,
     * lets go of the hypervisor, then calls @done (once, from the main
     * loop or at once).
     */
    void (*end)(VmigMigration *m, VmigBackendStep done);
    /* Lets go of the hypervisor now, whatever runs (the end's deadline, the last
     * reference). */
    void (*release)(VmigMigration *m);
} VmigBackend;

extern const VmigBackend vmig_backend_qmp;
extern const VmigBackend vmig_backend_libvirt;

/* Returns: the backend for DOMAIN ("qmp:PATH" or "libvirt:URI#NAME"). */
const VmigBackend *vmig_backend_for(const char *domain);

/*
 * vmig_backend_tunables_async:
 * Reads the tunables of @domain (query-tunables, GetTunables) through its
 * backend, on @context, each monitor command bounded by @timeout_ms.
 */
void vmig_backend_tunables_async(const char *domain, GMainContext *context,
                                 guint timeout_ms, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);

/* Returns: the catalog, or NULL with @error set. */
VmigCatalog *vmig_backend_tunables_finish(GAsyncResult *result, GError **error);
