/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-private.h: one migration, inside: what the files of a
 * migration share, and nobody else sees
 *
 *   migration.c              the object, the registry, the public API, the
 *                            transition table, the end (finish, fail) and
 *                            the observers
 *   migration-start.c        from the request to a running handshake:
 *                            introspection, checks, the offer, listen/dial
 *   migration-main.c         the main channel: frames in and out, the
 *                            handshake's deadlines, frames by role
 *   migration-control.c      version 2: the control conversation after the
 *                            handshake (heartbeats, LOADED, SWITCHOVER,
 *                            RESUMED, ERROR) and the reasons of an end
 *   migration-source.c       the source's handshake: GREETING -> REPLY ->
 *                            COMMIT -> READY
 *   migration-destination.c  the destination's: opener -> GREETING ->
 *                            REPLY -> COMMIT -> READY
 *   migration-channels.c     the extra channels: asked for, dialled,
 *                            matched by token, and every bridge
 *   migration-record.c       the negotiation record and its reasons
 *   migration-transcript.c   the record's transcript of the frames and
 *                            what the downtime cost
 *   migration-qemu.c         what QEMU is to be set to: capabilities and
 *                            parameters, one loop over the feature table
 *   migration-set.c          tunables changed while the stream runs
 *   migration-hello.c        the source waits for the destination's hello
 *   migration-legacy.c       a peer with no driver: migrated to plainly,
 *                            or refused with its connection held
 *   backend-qmp.c            a QEMU reached through its monitor
 *   backend-libvirt.c        a domain that libvirt runs
 *
 * Every change of state goes through vmig_mig_step(): the transition
 * table says which events each state takes.  A migration is reference
 * counted; every callback in flight holds a reference, and finds a
 * finished migration finished.
 */
#pragma once

#include <gio/gio.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "driver/backend.h"
#include "driver/bridge.h"
#include "driver/catalog.h"
#include "driver/features.h"
#include "driver/listener.h"
#include "driver/migration.h"
#include "driver/pending.h"
#include "driver/qmp.h"
#include "driver/transport.h"
#include "fdpass/preamble.h"
#include "negotiate/negotiate.h"

/* How long the peer may take for each step of the handshake. */
#define VMIG_MIG_HANDSHAKE_TIMEOUT_MS 30000
/* How often a running migration's progress is read. */
#define VMIG_MIG_PROGRESS_INTERVAL_MS 250
/* Default most extra channels a destination takes. */
#define VMIG_MIG_DEFAULT_MAX_CHANNELS 16
/* How long the end may take: the hypervisor put back, the bridges drained. */
#define VMIG_MIG_END_TIMEOUT_MS 5000
/* Version 2: how long each wait of the switchover may take (LOADED once the
 * source QEMU completed; SWITCHOVER once LOADED went; RESUMED once
 * SWITCHOVER went) while the peer is alive. */
#define VMIG_MIG_SWITCHOVER_TIMEOUT_MS 30000
/* Version 2: how long a side whose QEMU failed waits for the peer driver's
 * word (ERROR, or its connection closing), to give the root cause.  The
 * stream breaks on both sides at once, but the peer's ERROR can trail its
 * data channels' end by a second on a loaded host (seen with a relay under
 * valgrind in CI); a peer with nothing to say costs this much more. */
#define VMIG_MIG_REASON_GRACE_MS 3000
/* The most refused attempts listed (query-migrations "all"), the oldest
 * forgotten first; each also goes after --keep-finished. */
#define VMIG_MIG_MAX_REFUSED 64
/* The most finished migrations listed, the oldest forgotten first (one
 * left unknown stays until resolved, whatever the count). */
#define VMIG_MIG_MAX_FINISHED 256
/* How long QEMU may take to finish loading once the stream has ended. */
#define VMIG_MIG_STREAM_END_GRACE_MS 5000

/* What happens to a migration; the transition table maps (state, event) to a state. */
typedef enum {
    VMIG_MIG_EVENT_DIAL,       /* source, URI mode: introspected, dialling the peer */
    VMIG_MIG_EVENT_WAIT,       /* destination: introspected, waiting for the peer */
    VMIG_MIG_EVENT_OPEN,       /* the main channel is there: the handshake begins */
    VMIG_MIG_EVENT_SELECT,     /* the REPLY fixed the features: channels are collected */
    VMIG_MIG_EVENT_COMMIT,     /* the COMMIT fixed the channels: QEMU is configured */
    VMIG_MIG_EVENT_STREAM,     /* QEMU's stream flows */
    VMIG_MIG_EVENT_SWITCHOVER, /* v2: LOADED sent (dst), SWITCHOVER sent (src) */
    VMIG_MIG_EVENT_COMPLETE,   /* the migration completed */
    VMIG_MIG_EVENT_FAIL,       /* it failed */
    VMIG_MIG_EVENT_CANCEL,     /* the app cancelled it */
    VMIG_MIG_EVENT_LOST,       /* v2: the switchover's confirmation was lost */
    VMIG_MIG_EVENT_RESOLVE,    /* an operator said where the guest runs */
    VMIG_MIG_EVENT_LEGACY,     /* source: no driver answered; migrating without one */
    VMIG_MIG_EVENT_LAST
} VmigMigEvent;

const char *vmig_mig_event_to_string(VmigMigEvent event);

/*
 * vmig_mig_transition:
 * Returns: TRUE with the state @event leads to from @state in *@to, or
 * FALSE with VMIG_MIGRATION_ERROR_STATE in @error naming both.
 */
gboolean vmig_mig_transition(VmigMigrationState state, VmigMigEvent event,
                             VmigMigrationState *to, GError **error);

struct _VmigMigrations {
    VmigMigrationSettings settings;
    GHashTable *by_id; /* id -> VmigMigration (a reference) */
    GPtrArray *order;  /* VmigMigration, in creation order (borrowed) */
    GArray *observers; /* VmigMigrationObserverEntry */
    guint next_id;
    GQueue *refused; /* VmigMigRefusal *: attempts refused at start, oldest first */
    GQueue *parked;  /* VmigMigParked *: connections to peers with no driver, held so
                      * that the QEMU there keeps waiting (migration-legacy.c) */
};

typedef struct _VmigMigration VmigMigration;

/* A tunable set on this side: the user's, checked against the local catalog, or
 * negotiated. */
typedef struct {
    const VmigTunable *tunable; /* in the local catalog */
    char *name;
    JsonNode *value;
    char *text; /* the value as the user wrote it; NULL when negotiated */
} VmigMigTunable;

void vmig_mig_tunable_free(VmigMigTunable *tunable);

struct _VmigMigration {
    gint refs;
    VmigMigrations *owner;
    char *id;
    VmigRole role;
    VmigMigrationState state;
    gboolean finished;
    char *error;
    GTask *start_task;          /* the start command, until answered */
    GSource *expiry_timer;      /* finished: forgets the migration when it fires */
    gboolean ending;            /* finished, and the end (vmig_mig_finish) still runs */
    gboolean hypervisor_ending; /* ... the hypervisor's part began */
    gboolean hypervisor_ended;  /* ... and is over */
    GSource *end_timer;         /* ... bounded by this */
    GCancellable *cancellable;  /* what runs in the background; cancelled at the end */
    gboolean
        cancel_requested; /* the app cancelled: a failure that follows is the cancel */
    GTask *resolve_task;  /* resolve, until answered */
    VmigResolveAction resolve_action;

    /* the request */
    char *domain;
    char *uri;
    VmigAddress *address; /* @uri, parsed */
    int request_fd;       /* fd mode: the main channel, until introspection is done */
    guint requested_channels;
    GStrv tunable_args;
    gboolean unstable;
    VmigFeatureSet forbidden; /* no-features */
    VmigFeatureSet required;  /* require-features */
    guint channel_timeout_ms;
    guint max_channels;
    gboolean resume;
    gboolean experimental_protocol;
    gboolean legacy; /* a peer with no driver may be migrated to (migration-legacy.c) */
    gboolean legacy_peer;  /* ... and this one has none: migrating plainly */
    char *legacy_held_by;  /* the connection was held since this migration's refusal */
    gint64 legacy_expires; /* ... until then (monotonic us); 0: a new connection */
    char *libvirt_dest;    /* source, libvirt: the destination libvirt */
    gboolean persistent;
    gboolean undefine_source;
    char *domain_xml;     /* destination, libvirt: names the emulator probed;
                           * source with @send_domain: the migratable XML sent */
    gboolean send_domain; /* source: open with "VMGD" and a DOMAIN frame */
    char *standing;       /* destination: the standing listener it came to, or NULL */

    /* the hypervisor: what the backend reads and sets */
    const VmigBackend *backend;
    VmigCatalog *catalog;
    GPtrArray *applied; /* VmigMigTunable *: set on this side */
    VmigQmp *qmp;       /* backend-qmp.c: the monitor */
    gulong qmp_closed_handler;
    gulong qmp_event_handler;
    gboolean qemu_migrating;    /* source: migrate issued; destination: incoming set up */
    gboolean guest_was_running; /* source: the guest ran when the migration began */
    gboolean progress_pending;  /* a progress read is in flight */
    JsonObject *progress;       /* source: the last reading's figures (the record's) */
    gint64 progress_at;         /* ... and when it was read (monotonic us) */
    JsonObject *saved_caps; /* what configure changed, as it was: put back at the end */
    JsonObject *saved_params;
    JsonArray *changes; /* {"time", "tunables"}: set while migrating (migration-set.c) */
    VmigBackendStep end_done; /* the end's continuation, while the backend ends */
    gint64 end_deadline;      /* also: until when `migrate` is tried again */
    char *migrate_uri;        /* source: where QEMU migrates to */
    GSource *progress_timer;
    char *
        libvirt_socket; /* backend-libvirt.c: the unix:// path libvirt migrates through */
    gboolean libvirt_migrating; /* source: virDomainMigrateToURI3 is running */
    GSource *libvirt_timer;     /* destination: dialling QEMU, then watching the domain */
    GSource *libvirt_main_watch; /* destination: the main channel, until the stream */
    gboolean libvirt_frame;      /* ... on which a frame began */
    gint64 libvirt_deadline;

    /* the main channel (migration-main.c) */
    int main_fd;
    GSource *main_source;
    gpointer main_tag; /* the main channel's fd in main_source */
    VmigNegotiateDecoder *decoder;
    GByteArray *out; /* frames not yet written */
    guint8 opener[VMIG_PREAMBLE_MAGIC_SIZE];
    gsize opener_have;
    gboolean handshake_done;
    GSource *handshake_timer;
    gint64 handshake_start;
    gint64 handshake_end;
    guint64 bytes_sent;
    guint64 bytes_received;
    gsize frame_bytes_in;  /* the frame being read, so far (the opener not counted) */
    JsonArray *transcript; /* migration-transcript.c: the frames kept */
    guint transcript_dropped;
    guint heartbeats[2]; /* sent, received */
    guint64 heartbeat_bytes[2];
    guint64 dropped_bytes;  /* the frames over the transcript's cap */
    gint64 switchover_at;   /* SWITCHOVER went or came (monotonic us) */
    gint64 resumed_at;      /* ... and RESUMED after it */
    JsonObject *qemu_stats; /* source: QEMU's figures at completion */
    guint final_readings;   /* ... asked for by the end (backend-qmp.c) */

    /* the negotiation */
    VmigNegotiateMessage *local_offer; /* source: its offer; destination: its GREETING */
    VmigNegotiateMessage *peer_offer;  /* source: the GREETING received */
    VmigNegotiateMessage *reply;
    VmigNegotiateMessage *commit;
    gboolean commit_sent;
    gboolean configuring;      /* destination: QEMU is being configured */
    JsonArray *chosen;         /* {"name", "channels"?, "algorithms"?, "reason"} */
    JsonArray *declined;       /* {"name", "reason"} */
    JsonObject *peer_tunables; /* source: asked of the destination */
    guint8 token[VMIG_TOKEN_SIZE];

    /* version 2's control conversation (migration-control.c) */
    guint32 version;               /* the selected protocol version; 0 before the REPLY */
    gboolean main_unwritable;      /* a write failed: what the peer sent is still read */
    GSource *heartbeat_timer;      /* sends HEARTBEAT, watches the peer's silence */
    gint64 last_heard;             /* when the peer's last bytes came (monotonic us) */
    guint peer_heartbeat_ms;       /* what the peer said its interval is */
    gboolean hypervisor_completed; /* src: QEMU sent all; dst: QEMU loaded all */
    gboolean progress_final;       /* src: the last progress reading went out */
    gboolean loaded;               /* src: LOADED came; dst: LOADED went */
    gboolean switchover;           /* src: SWITCHOVER went; dst: SWITCHOVER came */
    gboolean resumed;              /* src: RESUMED came; dst: RESUMED went */
    gboolean peer_gave_up;         /* the peer sent ERROR: it will not take (dst)
                                      or has kept (src) the guest */
    GSource *switchover_timer;     /* bounds the switchover's waits */
    GSource *reason_timer;         /* QEMU failed: the peer's word is awaited */
    char *detail;                  /* QEMU's words, when the driver names the cause */
    char *switchover_by;         /* whose switchover applied: "virt-migrate", "libvirt" */
    VmigNegotiateCode fail_code; /* the ERROR code of a failure (vmig_mig_fail()) */

    /* the extra channels (migration-channels.c) */
    GArray *channels; /* int: source: preamble written; destination: by index */
    guint channels_got;
    guint channels_supplied; /* destination: fds the app supplied and we kept */
    GSource *channel_timer;
    guint
        dials; /* source, URI mode: connections being dialled (the end waits for them) */
    VmigPendingSet *pending; /* destination: connections not yet matched */
    int listen_fd; /* destination, URI mode: the listener; source: private socket */
    VmigListener *listener;
    char *listen_path;   /* a unix socket path to unlink */
    char *private_path;  /* the private socket QEMU migrates through */
    GPtrArray *outgoing; /* source: QEMU's connections awaiting their first bytes */
    guint multifd_bridged;
    gboolean main_bridged;
    GPtrArray *bridges; /* VmigBridge * */
    guint bridges_done;
    GSource *stream_end_timer;

    /* TLS between the drivers (migration-tls.c) */
    gboolean tls;           /* this migration's connections are TLS */
    gboolean tls_required;  /* plaintext connections are refused (destination) */
    char *tls_hostname;     /* source: the name the destination's certificate matches */
    VmigTlsInfo *tls_info;  /* the control connection's session, once it is up */
    GPtrArray *pumps;       /* VmigTlsPump *: every TLS connection's */
    VmigTlsPump *main_pump; /* the control connection's, in @pumps */
    gint64 refused_at;      /* destination: the last CONNECTION_REFUSED event */
    guint refused_quiet;    /* ... and the refusals since, not told yet */
};

/* ---- migration-tls.c --------------------------------------------------------------- */

/*
 * Decides whether @m's connections are TLS (@asked: the request's "tls")
 * and whether the destination refuses plaintext ones.  Returns: TRUE, or
 * FALSE with @error when TLS is needed and this daemon has none.
 */
gboolean vmig_mig_tls_decide(VmigMigration *m, gboolean asked, GError **error);

/* Source: starts the TLS client handshake on *@fdp (consumed); the main
 * channel then starts (@main), or the data channel is added. */
void vmig_mig_tls_connect(VmigMigration *m, int *fdp, gboolean main);

/* Destination, fd mode: the app's main channel *@fdp (consumed) opens with
 * TLS (a handshake, then the main channel through its pump) or in
 * plaintext (the main channel, or a refusal when TLS is required). */
void vmig_mig_tls_accept_main(VmigMigration *m, int *fdp);

/* Destination: takes *@pumpp (nullable: plaintext) of a proven connection.
 * Returns: FALSE when a data channel does not match the control connection
 * (TLS or not, the same certificate): it is to be closed. */
gboolean vmig_mig_tls_adopt(VmigMigration *m, VmigTlsPump **pumpp, gboolean main,
                            guint index);

/* Stops the data channels' pumps (a failed end); the control one stays. */
void vmig_mig_tls_stop_data(VmigMigration *m);
/* Frees every pump (the control connection's after its last frame). */
void vmig_mig_tls_release(VmigMigration *m);
/* Returns: why the control connection's TLS failed, or NULL (to free). */
char *vmig_mig_tls_main_failure(VmigMigration *m);
/* Sets the record's "tls": the session's version, cipher and peer, or "none". */
void vmig_mig_tls_record(VmigMigration *m, JsonObject *o);

/* ---- migration.c ------------------------------------------------------------------- */

VmigMigration *vmig_mig_ref(VmigMigration *m);
void vmig_mig_unref(VmigMigration *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigMigration, vmig_mig_unref)

/* Returns: the daemon's settings the migration runs with. */
const VmigMigrationSettings *vmig_mig_settings(VmigMigration *m);

/* Returns: @source attached to the daemon's context, calling @func with @m. */
GSource *vmig_mig_timeout(VmigMigration *m, guint ms, GSourceFunc func);
GSource *vmig_mig_watch(VmigMigration *m, int fd, GIOCondition condition,
                        GUnixFDSourceFunc func, gpointer data);

/* Destroys and drops *@source, if any; leaves NULL. */
void vmig_mig_source_clear(GSource **source);

/*
 * Moves @m on by @event, through the transition table.  An event its state
 * does not take is a bug: logged as critical, and @m fails with the reason.
 * Returns: TRUE, or FALSE when @m failed.
 */
gboolean vmig_mig_step(VmigMigration *m, VmigMigEvent event);

/* Tells the observers that @m's record may have changed. */
void vmig_mig_notify(VmigMigration *m);

/* Returns: a builder with {"migration": ID, ...} open, for vmig_mig_emit(). */
JsonBuilder *vmig_mig_event_begin(VmigMigration *m);

/* Publishes @event, whose data @b holds (its object closed), to the observers. */
void vmig_mig_emit(VmigMigration *m, const char *event, JsonBuilder *b);

/*
 * Ends @m with @state (@error when it did not complete).  At once @m is
 * finished (every handler finds it so); then, bounded, the hypervisor
 * stops and is put back as it was, the bridges drain or stop, everything
 * is released, and only then MIGRATION_DONE goes out.
 */
void vmig_mig_finish(VmigMigration *m, VmigMigrationState state, const char *error);

/* A bridge ended while @m ends: the end goes on once all have. */
void vmig_mig_end_bridges(VmigMigration *m);

/*
 * Sends an ERROR frame with @code and @message on @m's main channel at
 * once, without blocking (what is queued goes first), for a version 1
 * handshake that is about to end: counted in the transcript and the bytes
 * sent when it went out whole.
 */
void vmig_mig_send_error_now(VmigMigration *m, VmigNegotiateCode code,
                             const char *message);

/*
 * Fails @m with the reason @format.  While the handshake runs and @code
 * is not 0, the peer is told with an ERROR frame.
 */
void vmig_mig_fail(VmigMigration *m, VmigNegotiateCode code, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

/* Fails @m with "@what: @error->message" (@what nullable). */
void vmig_mig_fail_error(VmigMigration *m, VmigNegotiateCode code, const char *what,
                         const GError *error);

/*
 * The backend carried out @m->resolve_action (@error NULL), or could not:
 * the resolve command is answered, and a resolved migration ends again
 * with MIGRATION_DONE.
 */
void vmig_mig_resolved(VmigMigration *m, const GError *error);

/* Answers the start command with @m's id: from here on observers hear of it. */
void vmig_mig_answer_start(VmigMigration *m);

/* Fails the start command with @error; @m is forgotten. */
void vmig_mig_refuse_start(VmigMigration *m, const GError *error);

/* ---- migration-start.c ------------------------------------------------------------- */

/*
 * Checks @m's request (@request: what is left of it) and has the backend
 * introspect its domain; the start command is answered later.
 */
void vmig_mig_start(VmigMigration *m, VmigMigrationRequest *request);

/* Introspected, and in a state to migrate: check the request against the catalog, and go.
 */
void vmig_mig_start_checked(VmigMigration *m);

/* ---- migration-main.c -------------------------------------------------------------- */

/* Starts reading and writing the main channel *@fdp (consumed). */
void vmig_mig_main_start(VmigMigration *m, int *fdp);

/* Stops reading the main channel: from here on its bytes are QEMU's. */
void vmig_mig_main_stop(VmigMigration *m);

/* Writes what the main channel's queue holds, as far as it goes.  Returns: FALSE when @m
 * failed. */
gboolean vmig_mig_main_flush(VmigMigration *m);

/* Queues @msg.  Returns: TRUE, or FALSE with @m failed. */
gboolean vmig_mig_send_frame(VmigMigration *m, const VmigNegotiateMessage *msg);

/* Queues raw bytes (the opener). */
void vmig_mig_send_raw(VmigMigration *m, const guint8 *data, gsize len);

/* Sends READY.  Version 1: the last frame, written in full; the main channel
 * is QEMU's after.  Returns: FALSE when @m failed. */
gboolean vmig_mig_send_ready(VmigMigration *m);

/* Version 2: the handshake is over (READY); the main channel stays the drivers'. */
void vmig_mig_main_handshake_over(VmigMigration *m);

/* Returns: TRUE once version 2 (or newer) is selected. */
#define vmig_mig_v2(m) ((m)->version >= VMIG_NEGOTIATE_VERSION_2)

/* Returns: TRUE while the main channel carries the drivers' frames. */
gboolean vmig_mig_main_open(VmigMigration *m);

/* (Re)arms the deadline of the peer's next step. */
void vmig_mig_arm_handshake_timer(VmigMigration *m);

/* ---- migration-control.c ----------------------------------------------------------- */

/* Version 2 is selected: heartbeats go out and the peer's silence is watched. */
void vmig_mig_control_start(VmigMigration *m);

/* A frame after READY (@msg consumed): LOADED, SWITCHOVER, RESUMED, HEARTBEAT, ERROR. */
void vmig_mig_control_frame(VmigMigration *m, VmigNegotiateMessage *msg);

/*
 * The main channel ended (@why: the cause, e.g. "connection closed"): the
 * peer driver is gone.  What that means depends on the step: a failure,
 * or, for a source that sent SWITCHOVER, a state nobody can know.
 */
void vmig_mig_peer_gone(VmigMigration *m, const char *why);

/* The peer driver said nothing for too long: as vmig_mig_peer_gone(). */
void vmig_mig_peer_silent(VmigMigration *m);

/*
 * The hypervisor's migration completed: the source's QEMU sent all (its
 * guest is paused), the destination's loaded all.  Version 1 ends here;
 * version 2 goes on with the switchover.
 */
void vmig_mig_hypervisor_completed(VmigMigration *m);

/*
 * The hypervisor's migration failed with @detail (QEMU's words).  Version
 * 2 waits a moment for the peer's word, to name the root cause.
 */
void vmig_mig_hypervisor_failed(VmigMigration *m, const char *detail);

/* Source, version 2: the app switched the stream to postcopy: the guest is the
 * destination's from here on (SWITCHOVER). */
void vmig_mig_control_postcopy(VmigMigration *m);

/* Sends ERROR (@code, @message) if the main channel still carries frames, at once and
 * without blocking.  Version 2: the peer then knows this side gives up. */
void vmig_mig_send_error(VmigMigration *m, VmigNegotiateCode code, const char *message);

/* ---- migration-hello.c ------------------------------------------------------------- */

/* One of the source's connections on its way (its hello, its TLS handshake). */
typedef struct {
    VmigMigration *m; /* a reference */
    gboolean main;    /* the main channel, else a data channel */
} VmigMigConnecting;

/* Returns: the callback data of a step of one connection of @m's, counted in
 * @m->dials until vmig_mig_connecting_end(). */
VmigMigConnecting *vmig_mig_connecting_new(VmigMigration *m, gboolean main);

/* Frees @c, the step over.  Returns: its migration (the reference), with
 * whether it is the main channel in *@main. */
VmigMigration *vmig_mig_connecting_end(VmigMigConnecting *c, gboolean *main);

/* Returns: the source's peer, for messages: its address, or the app's connection. */
const char *vmig_mig_peer_name(VmigMigration *m);

/*
 * Source: waits for the destination driver's hello on *@fdp (consumed,
 * counted in @m->dials meanwhile), then starts the main channel (@main)
 * or adds the data channel, through TLS when @m->tls.
 */
void vmig_mig_await_hello(VmigMigration *m, int *fdp, gboolean main);

/* ---- migration-set.c --------------------------------------------------------------- */

/*
 * Returns: TRUE when @name is a parameter or capability the source QEMU
 * applies on its own side alone (the table of parameters a running
 * migration takes, and auto-converge), so that a peer with no driver
 * cannot mind it.
 */
gboolean vmig_mig_source_only(const char *name);

/* ---- migration-legacy.c ------------------------------------------------------------ */

/*
 * Source: nothing came on the main channel *@fdp (consumed) within
 * the settings' hello_timeout_ms: no driver there.  With @m->legacy and
 * nothing that needs a driver asked for, QEMU migrates into that very
 * connection; otherwise @m fails with the reason and the connection is
 * held (parked), so the QEMU at the other end keeps waiting.
 */
void vmig_mig_source_no_driver(VmigMigration *m, int *fdp);

/*
 * Source, URI mode, before dialling: takes the connection held for
 * @m->uri, if any, into *@fdp.  Returns: TRUE when there was one.
 */
gboolean vmig_mig_legacy_take(VmigMigration *m, int *fdp);

/* Holds the main channel of a legacy migration that ends before QEMU took it. */
void vmig_mig_legacy_release(VmigMigration *m);

/* Closes every held connection (the daemon stops). */
void vmig_mig_legacy_drop_all(VmigMigrations *ms);

/* ---- migration-source.c ------------------------------------------------------------ */

/* The main channel is there: send the opener, the handshake begins. */
void vmig_mig_source_open(VmigMigration *m);
void vmig_mig_source_greeting(VmigMigration *m, VmigNegotiateMessage *greeting);
/* All channels are in (or the time is up): the COMMIT. */
void vmig_mig_source_commit(VmigMigration *m);
void vmig_mig_source_ready(VmigMigration *m);

/* ---- migration-destination.c ------------------------------------------------------- */

/* The main channel opened with "VMGM": send the GREETING. */
void vmig_mig_destination_open(VmigMigration *m);
void vmig_mig_destination_reply(VmigMigration *m, VmigNegotiateMessage *reply);
void vmig_mig_destination_commit(VmigMigration *m, VmigNegotiateMessage *commit);
/* A channel came: configure QEMU once all the COMMIT announced are in. */
void vmig_mig_destination_try_configure(VmigMigration *m);

/* ---- migration-channels.c ---------------------------------------------------------- */

/* Source: the REPLY is out: dial the extra channels (URI mode) or ask the app for them.
 */
void vmig_mig_channels_collect(VmigMigration *m);

/*
 * Hands extra channels to @m (all consumed); those beyond what was asked for
 * are closed at once and counted in *@n_closed.
 * Returns: TRUE, or FALSE with @error (all fds closed).
 */
gboolean vmig_mig_channels_add(VmigMigration *m, int *fds, gsize n_fds, guint *n_closed,
                               GError **error);
/* The same, for plaintext ends of connections whose TLS is up (or plain ones). */
gboolean vmig_mig_channels_add_plain(VmigMigration *m, int *fds, gsize n_fds,
                                     GError **error);

/*
 * Source: a data channel's connection is ready for its preamble (*@fdp,
 * consumed; its TLS, if any, is up), or failed (*@fdp is -1: @error says
 * why, and it is only logged): added, or counted out.
 */
void vmig_mig_channel_ready(VmigMigration *m, int *fdp, const GError *error);

/* (Re)arms the channel timeout: the source goes on with what came, the destination fails.
 */
void vmig_mig_channels_arm_timeout(VmigMigration *m);

/* Destination: the stream ended; QEMU has VMIG_MIG_STREAM_END_GRACE_MS to complete. */
void vmig_mig_channels_arm_stream_end(VmigMigration *m);

/* Returns: the data channels to collect: the multifd channels the REPLY asks
 * for, and in version 2 one more (data channel 0: QEMU's main stream). */
guint vmig_mig_data_wanted(VmigMigration *m);
/* Returns: the data channels the COMMIT announced (version 2: multifd + 1). */
guint vmig_mig_data_committed(VmigMigration *m);
/* Returns: where the fd of QEMU's main stream is: version 1 the main channel,
 * version 2 data channel 0. */
int *vmig_mig_stream_fd(VmigMigration *m);
/* Returns: where the fd of multifd channel @i is. */
int *vmig_mig_multifd_fd(VmigMigration *m, guint i);

/* Destination: the connections of a listener and an app, until proven. */
extern const VmigPendingFuncs vmig_mig_pending_funcs;

/* The source opens with "VMGD" and a DOMAIN frame (migration-standing.c). */
void vmig_mig_source_open_domain(VmigMigration *m);

/* Destination, URI mode: listens on @m->address.  Returns: TRUE, or FALSE with @error. */
gboolean vmig_mig_channels_listen(VmigMigration *m, GError **error);

/* Listens on the private unix socket @path that the local QEMU (or libvirt) connects to.
 */
gboolean vmig_mig_channels_listen_private(VmigMigration *m, const char *path,
                                          GError **error);

/*
 * Connects to the local QEMU's unix socket @path now: a local listener
 * answers at once or not at all.  Returns: the socket, or -1 with @error.
 */
int vmig_mig_channels_dial_local(const char *path, GError **error);

/*
 * Destination: bridges QEMU's main stream (vmig_mig_stream_fd()) onto
 * *@main_conn (consumed), a connection to QEMU listening at @path, then
 * every multifd channel onto a connection of its own, main first.
 * Returns: TRUE, or FALSE with @m failed.
 */
gboolean vmig_mig_channels_bridge_to_qemu(VmigMigration *m, const char *path,
                                          int *main_conn);

/* ---- migration-record.c ------------------------------------------------------------ */

/*
 * Returns: @f as the record's FEATURE (docs/migration.md): its name,
 * channels, algorithms and whether it is required (new).
 */
JsonObject *vmig_mig_feature_to_json(const VmigNegotiateFeature *f);

void vmig_mig_add_reason(JsonArray *array, const char *name,
                         const VmigNegotiateFeature *feature, const char *reason);
VmigMigTunable *vmig_mig_find_applied(VmigMigration *m, const char *name);
/* The source: why each offered feature was or was not chosen. */
void vmig_mig_record_selection(VmigMigration *m);
/* The record's list of chosen features, from @selection. */
void vmig_mig_record_chosen(VmigMigration *m, const VmigNegotiateMessage *selection);
/* Returns: @m's negotiation record (a new node). */
JsonNode *vmig_mig_record(VmigMigration *m);
/* NEGOTIATED, once the COMMIT fixed everything. */
void vmig_mig_emit_negotiated(VmigMigration *m);

/* ---- migration-transcript.c -------------------------------------------------------- */

/* Frames kept in the record's transcript (docs/limits.md); later ones are counted. */
#define VMIG_MIG_TRANSCRIPT_MAX 64

/* Adds @msg, @bytes long on the wire, @sent or received, to @m's transcript. */
void vmig_mig_transcript_add(VmigMigration *m, gboolean sent,
                             const VmigNegotiateMessage *msg, gsize bytes);
/* Returns: the record's "transcript" (a new object). */
JsonObject *vmig_mig_transcript_record(VmigMigration *m);
/* Keeps QEMU's figures of its completed migration, @p, for the record. */
void vmig_mig_stats_read(VmigMigration *m, const VmigBackendProgress *p);
/* Returns: the record's "stats" (a new object), or NULL while nothing is known. */
JsonObject *vmig_mig_stats_record(VmigMigration *m);

/* ---- migration-qemu.c -------------------------------------------------------------- */

/* Adds (or replaces) a parameter this side sets because of the negotiation (@value
 * consumed). */
void vmig_mig_apply_negotiated(VmigMigration *m, const char *name, JsonNode *value);
/* Notes what this side sets because of the COMMIT: multifd's channels, the algorithm. */
void vmig_mig_apply_commit(VmigMigration *m);
/* Returns: the capabilities this side sets, name -> value (a new object). */
JsonObject *vmig_mig_capabilities(VmigMigration *m);
/* Returns: migrate-set-parameters' arguments for this side (a new object). */
JsonObject *vmig_mig_parameters(VmigMigration *m);
/* A progress reading: MIGRATION_PROGRESS (the source's, with figures). */
void vmig_mig_progress(VmigMigration *m, const VmigBackendProgress *progress);
/* Reads the progress now (backend->poll), unless a reading is on its way
 * (progress_pending). */
void vmig_mig_poll(VmigMigration *m);
/* The stream flows: steps to MIGRATING and reads progress every
 * VMIG_MIG_PROGRESS_INTERVAL_MS. Returns: FALSE when @m failed. */
gboolean vmig_mig_start_progress(VmigMigration *m);
