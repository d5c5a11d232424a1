/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration.h: one migration, as the source or the destination driver
 *
 * A state machine per migration and role, many per daemon.  The source
 * dials (or is handed) the main channel, reads the destination's GREETING,
 * selects, sends the REPLY, gathers extra channels, configures its QEMU,
 * sends the COMMIT and, on READY, starts QEMU's migration into a private
 * socket it bridges onto the channels.  The destination introspects its
 * QEMU (started with -incoming defer), greets, checks the REPLY and the
 * COMMIT, configures its QEMU, makes it listen, and connects every
 * channel to it, main first.  docs/migration.md is the control protocol;
 * docs/protocol.md the handshake.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "driver/pending.h"

typedef enum { VMIG_ROLE_SOURCE, VMIG_ROLE_DESTINATION, VMIG_ROLE_LAST } VmigRole;

const char *vmig_role_to_string(VmigRole role);

typedef enum {
    VMIG_MIGRATION_INTROSPECTING,
    VMIG_MIGRATION_CONNECTING,
    VMIG_MIGRATION_WAITING,
    VMIG_MIGRATION_NEGOTIATING,
    VMIG_MIGRATION_COLLECTING,
    VMIG_MIGRATION_COMMITTING,
    VMIG_MIGRATION_MIGRATING,
    VMIG_MIGRATION_SWITCHOVER, /* v2: the guest changes sides (LOADED .. RESUMED) */
    VMIG_MIGRATION_COMPLETED,
    VMIG_MIGRATION_FAILED,
    VMIG_MIGRATION_CANCELLED,
    VMIG_MIGRATION_UNKNOWN, /* v2: lost during the switchover; `resolve` decides */
    VMIG_MIGRATION_LAST
} VmigMigrationState;

const char *vmig_migration_state_to_string(VmigMigrationState state);

#define VMIG_MIGRATION_ERROR (vmig_migration_error_quark())
GQuark vmig_migration_error_quark(void);

typedef enum {
    VMIG_MIGRATION_ERROR_INVALID,    /* a request that cannot be carried out */
    VMIG_MIGRATION_ERROR_NOT_FOUND,  /* no such migration */
    VMIG_MIGRATION_ERROR_STATE,      /* not possible in the migration's state */
    VMIG_MIGRATION_ERROR_PEER,       /* the peer driver failed or refused */
    VMIG_MIGRATION_ERROR_HYPERVISOR, /* QEMU failed */
    VMIG_MIGRATION_ERROR_LAST
} VmigMigrationErrorCode;

/* What a management app asks for (the command's arguments). */
typedef struct {
    char *domain;
    char *uri;      /* dest (source) / listen (destination); NULL: fd mode */
    int main_fd;    /* fd mode: the main channel, owned; else -1 */
    guint channels; /* source: multifd channels to ask for */
    GStrv tunables; /* source: NAME=VALUE */
    gboolean unstable;
    GStrv no_features;
    GStrv require_features;
    guint channel_timeout_ms;
    guint max_channels; /* destination */
    gboolean resume;    /* destination: cont once migrated */
    /* offer the experimental protocol versions too (docs/protocol.md) */
    gboolean experimental_protocol;
    /* source: a peer with no driver (a QEMU waiting with -incoming) may be
     * migrated to plainly (docs/migration.md, "Legacy peers") */
    gboolean legacy;
    /* libvirt domains (driver/libvirt.h) */
    char *libvirt_dest;       /* source: the destination libvirt's URI */
    gboolean persistent;      /* source: define the domain on the destination */
    gboolean undefine_source; /* source: undefine it on the source */
    char *domain_xml;         /* destination: the domain's XML, naming its emulator */
    gboolean send_domain;     /* source: bring the domain to a standing listener */
    char *standing;           /* destination: the standing listener's URI, where the
                               * main channel comes from (vmig_migration_adopt_main());
                               * NULL: not one of its migrations */
    /* TLS between the drivers (docs/tls.md) */
    gboolean tls;       /* required for this migration, whatever the transport */
    char *tls_hostname; /* source: the name the destination's certificate must match
                         * (default: the host dialled; fd mode: none) */
} VmigMigrationRequest;

void vmig_migration_request_free(VmigMigrationRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigMigrationRequest, vmig_migration_request_free)

/* Defaults of the settings below (docs/limits.md). */
/* How long the source waits for the destination driver's hello on the main
 * channel: silence means no driver there (driver/migration-hello.c). */
#define VMIG_MIGRATION_HELLO_TIMEOUT_MS 3000
/* How long a connection to a peer with no driver is held after a refusal,
 * and how many are held at once, the oldest dropped first
 * (driver/migration-legacy.c). */
#define VMIG_MIGRATION_LEGACY_HOLD_MS  600000
#define VMIG_MIGRATION_LEGACY_MAX_HELD 16

/* What migrations run with: the daemon's settings (strings and pool borrowed). */
typedef struct {
    GMainContext *context;     /* where everything runs */
    const char *runtime_dir;   /* the private sockets QEMU connects to */
    const char *migration_dir; /* libvirt's migration sockets (same path on both hosts) */
    guint qmp_timeout_ms;      /* how long a QEMU monitor may take to answer */
    guint channel_timeout_ms;  /* how long announced channels may take */
    guint keep_finished_ms;    /* how long a finished migration stays listed */
    guint max_migrations;      /* unfinished migrations at once */
    VmigPendingPool *pending_pool; /* connections not yet proven, daemon-wide */
    guint max_version;             /* the newest protocol version offered (1 or 2) */
    guint heartbeat_interval_ms;   /* v2: how often this side says it is there */
    guint heartbeat_timeout_ms;    /* v2: a peer silent this long is gone */
    /* the source: a main channel silent this long has no driver */
    guint hello_timeout_ms;
    /* a refused legacy peer's connection is held this long, this many at most */
    guint legacy_hold_ms;
    guint legacy_max_held;
    /* offer the experimental protocol versions to every migration */
    gboolean experimental_protocol;
    /* TLS between drivers (docs/tls.md) */
    VmigTlsContext *tls;         /* (nullable) this daemon's credentials and DN list */
    const char *tls_unavailable; /* when @tls is NULL: why, for refusals */
    gboolean plaintext_tcp;      /* TCP without --tls is plaintext (--plaintext-tcp) */
} VmigMigrationSettings;

/*
 * The explainer of the daemon's TLS context (tls/session.h): a plaintext
 * driver's ERROR frame, where a TLS handshake was expected.  Returns: a
 * sentence (to free), or NULL.
 */
char *vmig_mig_tls_explain_plaintext(const guint8 *bytes, gsize len);

/* The daemon's migrations; created with the daemon, freed at exit. */
typedef struct _VmigMigrations VmigMigrations;

/* Returns: an empty registry; @settings is copied. */
VmigMigrations *vmig_migrations_new(const VmigMigrationSettings *settings);

/* Fails every migration still running ("the daemon is shutting down") and frees. */
void vmig_migrations_free(VmigMigrations *migrations);

/*
 * What happens to migrations, for those who publish it (the control
 * socket, the D-Bus service): migrations include neither, they tell
 * their observers.  Any callback may be NULL; none is called for a
 * migration refused at start, whose id was never given out.
 */
typedef struct {
    /* @id's record may have changed (state, negotiation, channels). */
    void (*changed)(const char *id, gpointer user_data);
    /* @id had @event (docs/migration.md's events) with @data (borrowed). */
    void (*event)(const char *id, const char *event, JsonObject *data,
                  gpointer user_data);
    /* @id is forgotten (--keep-finished passed). */
    void (*removed)(const char *id, gpointer user_data);
} VmigMigrationObserver;

/* Adds an observer (@observer is not copied: static). */
void vmig_migrations_observe(VmigMigrations *migrations,
                             const VmigMigrationObserver *observer, gpointer user_data);
void vmig_migrations_unobserve(VmigMigrations *migrations,
                               const VmigMigrationObserver *observer, gpointer user_data);

/*
 * vmig_migration_start_async:
 * Starts a migration in @role: the domain is introspected and the request
 * checked against its QEMU (tunables, features); then the callback runs
 * and the migration goes on, reported by events.  @request is consumed.
 */
void vmig_migration_start_async(VmigMigrations *migrations, VmigRole role,
                                VmigMigrationRequest *request,
                                GAsyncReadyCallback callback, gpointer user_data);

/* Returns: the new migration's id (to free), or NULL with @error set. */
char *vmig_migration_start_finish(GAsyncResult *result, GError **error);

/*
 * vmig_migration_adopt_main:
 * Destination migration @id, started with "standing", takes the main
 * channel that came to the standing listener: *@fdp, whose "VMGD" and
 * DOMAIN frame were read, and *@pumpp, its TLS pump (both consumed);
 * it greets the source at once.
 * Returns: TRUE, or FALSE with @error (fd and pump closed).
 */
gboolean vmig_migration_adopt_main(VmigMigrations *migrations, const char *id, int *fdp,
                                   VmigTlsPump **pumpp, GError **error);

/* Returns: TRUE when a standing destination migration's REPLY named @token. */
gboolean vmig_migration_knows_token(VmigMigrations *migrations,
                                    const guint8 token[VMIG_TOKEN_SIZE]);

/*
 * Hands data channel @index, which came to the standing listener with
 * @token, to the standing destination migration whose REPLY named it:
 * *@fdp and *@pumpp are taken, or left to be closed.
 */
void vmig_migration_route_channel(VmigMigrations *migrations,
                                  const guint8 token[VMIG_TOKEN_SIZE], int *fdp,
                                  guint index, VmigTlsPump **pumpp);

/*
 * Hands @n_fds extra channels (consumed) to migration @id.  Those beyond what
 * it asked for (CHANNELS_REQUESTED; on the destination, the REPLY) are closed
 * at once and counted in *@n_closed.
 * Returns: TRUE, or FALSE with @error (all fds closed).
 */
gboolean vmig_migration_add_channels(VmigMigrations *migrations, const char *id, int *fds,
                                     gsize n_fds, guint *n_closed, GError **error);

/* Cancels migration @id.  Returns: TRUE, or FALSE with @error. */
gboolean vmig_migration_cancel(VmigMigrations *migrations, const char *id,
                               GError **error);

/* What an operator decides for a migration left `unknown`. */
typedef enum {
    VMIG_RESOLVE_RESUME_HERE,  /* the guest runs on this side */
    VMIG_RESOLVE_DISCARD_HERE, /* it runs on the other side: this one lets go */
    VMIG_RESOLVE_LAST
} VmigResolveAction;

/* Returns: "resume-here", "discard-here", or NULL. */
const char *vmig_resolve_action_to_string(VmigResolveAction action);
/* Returns: the action called @name, or VMIG_RESOLVE_LAST. */
VmigResolveAction vmig_resolve_action_from_string(const char *name);

/*
 * vmig_migration_resolve_async:
 * Ends migration @id, left `unknown` by a switchover whose confirmation
 * was lost, as the operator says: RESUME_HERE runs the guest on this side
 * (cont); DISCARD_HERE lets go of it here (a source leaves its QEMU
 * paused; a destination QEMU quits).  The migration ends completed or
 * failed as that makes it, with MIGRATION_DONE again.
 */
void vmig_migration_resolve_async(VmigMigrations *migrations, const char *id,
                                  VmigResolveAction action, GAsyncReadyCallback callback,
                                  gpointer user_data);
/* Returns: the state it ended in ("completed" or "failed"), or NULL with @error. */
const char *vmig_migration_resolve_finish(GAsyncResult *result, GError **error);

/* Switches source migration @id to postcopy.  Answers through the callback. */
void vmig_migration_start_postcopy_async(VmigMigrations *migrations, const char *id,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean vmig_migration_start_postcopy_finish(GAsyncResult *result, GError **error);

/*
 * vmig_migration_set_tunables_async:
 * Sets @tunables (NAME=VALUE, checked as migrate's are, @unstable allowing
 * x- ones) on source migration @id while its stream runs; only the
 * parameters QEMU applies to a running migration are taken
 * (migration-set.c).  The record lists the change under "changes", and
 * the end puts the parameters back as they were before the migration.
 */
void vmig_migration_set_tunables_async(VmigMigrations *migrations, const char *id,
                                       const char *const *tunables, gboolean unstable,
                                       GAsyncReadyCallback callback, gpointer user_data);
/* Returns: what was set, name -> value (a reference), or NULL with @error. */
JsonObject *vmig_migration_set_tunables_finish(GAsyncResult *result, GError **error);

/* Returns: the query-migrations list (a new node). */
JsonNode *vmig_migrations_list(VmigMigrations *migrations);

/*
 * Returns: the query-migrations list with the attempts refused at start
 * too ("all": state "refused", with "error" and "time"), in id order (a
 * new node).
 */
JsonNode *vmig_migrations_list_all(VmigMigrations *migrations);

/*
 * Returns: migration @id's negotiation record, or a refused attempt's
 * (state and result "refused", "error", "time") (a new node), or NULL
 * with @error.
 */
JsonNode *vmig_migration_record(VmigMigrations *migrations, const char *id,
                                GError **error);
