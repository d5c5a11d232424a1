/*
 * migration.c: migrations through two drivers, source and destination
 *
 * Everything runs on the daemon's GMainContext: the main channel is a
 * non-blocking socket read exactly up to each frame's end (so the QEMU
 * stream that follows is never swallowed), QEMU is driven through the
 * async QMP client, and only the bridges (driver/bridge.c) run threads.
 *
 * A migration is reference counted: the daemon's table holds one
 * reference for as long as the migration is listed, every callback in
 * flight holds one, so a callback arriving after the migration ended finds
 * it ended and does nothing.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "driver/bridge.h"
#include "driver/features.h"
#include "driver/hypervisor.h"
#include "driver/libvirt.h"
#include "driver/probe.h"
#include "driver/migration.h"
#include "driver/qmp.h"
#include "driver/service.h"
#include "driver/tunables.h"
#include "xml/domain.h"
#include "fdpass/fd.h"
#include "fdpass/fdpass.h"
#include "fdpass/preamble.h"
#include "json/writer.h"
#include "negotiate/negotiate.h"

G_DEFINE_QUARK(vmig-migration-error-quark, vmig_migration_error)

/* How often a running migration's progress is read from QEMU. */
#define PROGRESS_INTERVAL_MS 250
/* How long an accepted connection may take to say what it is. */
#define PENDING_TIMEOUT_MS 10000
/* How long the peer may take for each step of the handshake. */
#define HANDSHAKE_TIMEOUT_MS 30000
/* How long QEMU may take to finish loading once the stream has ended. */
#define STREAM_END_GRACE_MS 5000
/* Default most extra channels a destination takes. */
#define DEFAULT_MAX_CHANNELS 16
/* QEMU 7.2's multifd channel header starts with this magic. */
#define MULTIFD_MAGIC 0x11223344u
/* QEMU's migration stream starts with "QEVM". */
#define QEVM_MAGIC 0x5145564Du

static const char *const role_names[] = { "source", "destination" };
G_STATIC_ASSERT(G_N_ELEMENTS(role_names) == VMIG_ROLE_LAST);

static const char *const state_names[] = {
    "introspecting", "connecting", "waiting",  "negotiating", "collecting",
    "committing",    "migrating",  "completed", "failed",     "cancelled",
};
G_STATIC_ASSERT(G_N_ELEMENTS(state_names) == VMIG_MIGRATION_LAST);

/* Returns: the role's name, or NULL. */
const char *
vmig_role_to_string(VmigRole role)
{
    return (guint)role < G_N_ELEMENTS(role_names) ? role_names[role] : NULL;
}

/* Returns: the state's name, or NULL. */
const char *
vmig_migration_state_to_string(VmigMigrationState state)
{
    return (guint)state < G_N_ELEMENTS(state_names) ? state_names[state] : NULL;
}

void
vmig_migration_request_free(VmigMigrationRequest *request)
{
    if (!request)
        return;
    g_free(request->domain);
    g_free(request->uri);
    if (request->main_fd >= 0)
        close(request->main_fd);
    g_strfreev(request->tunables);
    g_strfreev(request->no_features);
    g_strfreev(request->require_features);
    g_free(request->libvirt_dest);
    g_free(request->domain_xml);
    g_free(request);
}

/* ---- types ---------------------------------------------------------------- */

typedef struct _VmigMigration VmigMigration;

struct _VmigMigrations {
    VmigDaemon *daemon;
    GHashTable *by_id;  /* id -> VmigMigration (a reference) */
    GPtrArray *order;   /* VmigMigration, in creation order (borrowed) */
    guint next_id;
};

/* A tunable the user gave, checked against the local catalog. */
typedef struct {
    const VmigTunable *tunable; /* in the local catalog */
    char *name;
    JsonNode *value;
    char *text;                 /* the value as the user wrote it */
} AppliedTunable;

/* A connection whose first bytes say what it is (destination). */
typedef struct {
    VmigMigration *m;
    int fd;
    GSource *source;
    GSource *timeout;
    guint8 buf[VMIG_PREAMBLE_SIZE];
    gsize have;
    gboolean opener_only; /* from the listener: "VMGM" (main) or "VMGC" + preamble */
    VmigPreamble preamble;
} Pending;

/* One QEMU connection to the source's private socket, not yet classified. */
typedef struct {
    VmigMigration *m;
    int fd;
    GSource *source;
} Outgoing;

struct _VmigMigration {
    gint refs;
    VmigMigrations *owner;
    char *id;
    VmigRole role;
    VmigMigrationState state;
    gboolean finished;
    char *error;

    /* the request */
    char *domain;
    char *uri;
    guint requested_channels;
    GStrv tunable_args;
    gboolean unstable;
    GStrv no_features;
    GStrv require_features;
    guint channel_timeout_ms;
    guint max_channels;
    gboolean resume;

    /* the local QEMU */
    VmigQmp *qmp;
    gulong qmp_closed_handler;
    VmigCatalog *catalog;
    GPtrArray *applied;           /* AppliedTunable *: set on this side */
    gboolean qemu_migrating;      /* source: migrate issued; destination: migrate-incoming */

    /* the main channel */
    int main_fd;
    GSource *main_source;
    VmigNegotiateDecoder *decoder;
    GByteArray *out;              /* frames not yet written */
    guint8 opener[VMIG_PREAMBLE_MAGIC_SIZE];
    gsize opener_have;
    gboolean handshake_done;
    GSource *handshake_timer;
    gint64 handshake_start;
    gint64 handshake_end;
    guint64 bytes_sent;
    guint64 bytes_received;

    /* the negotiation */
    VmigNegotiateMessage *local_offer; /* source: its offer; destination: its GREETING */
    VmigNegotiateMessage *peer_offer;  /* source: the GREETING received */
    VmigNegotiateMessage *reply;
    VmigNegotiateMessage *commit;
    JsonArray *chosen;   /* {"name", "channels"?, "algorithms"?, "reason"} */
    JsonArray *declined; /* {"name", "reason"} */
    JsonObject *peer_tunables; /* source: asked of the destination */
    guint8 token[VMIG_TOKEN_SIZE];
    gboolean have_token;

    /* extra channels */
    GArray *channels;     /* int: source: supplied fds (preamble written); destination: by index */
    guint channels_got;
    GSource *channel_timer;
    GPtrArray *pending;   /* Pending *: destination, not yet matched */
    int listen_fd;        /* destination URI mode: the listener; source: private socket */
    GSource *listen_source;
    char *listen_path;    /* a unix socket path to unlink */
    char *private_path;   /* the private socket QEMU migrates through */
    GPtrArray *outgoing;  /* Outgoing *: source, QEMU connections awaiting their magic */
    guint multifd_bridged;
    gboolean main_bridged;
    GPtrArray *bridges;   /* VmigBridge * */

    GSource *progress_timer;
    GSource *stream_end_timer;
    guint bridges_done;
    gboolean progress_pending;
    GTask *start_task;    /* answered once the request is checked */
    int request_fd;       /* fd mode: the main channel, until introspection is done */
    gulong qmp_event_handler;
    gpointer main_tag;    /* the main channel's fd in main_source */
    gboolean commit_sent;
    gboolean configuring;
    GSource *expiry_timer;  /* finished: forgets the migration when it fires */

    /* a libvirt domain (driver/libvirt.h): libvirt drives its QEMU */
    gboolean libvirt;
    char *libvirt_dest;       /* source: the destination libvirt */
    gboolean persistent;
    gboolean undefine_source;
    char *domain_xml;         /* destination: names the emulator probed */
    char *libvirt_socket;     /* the unix:// path libvirt migrates through */
    gboolean libvirt_migrating; /* source: virDomainMigrateToURI3 is running */
    GSource *libvirt_timer;   /* destination: dialling QEMU, then watching the domain */
    GSource *libvirt_main_watch; /* destination: the main channel, until the stream */
    gboolean libvirt_frame;      /* ... on which a frame began */
    gboolean cancel_requested;   /* cancel asked QEMU (or libvirt) to stop */
    gint64 libvirt_deadline;
};

static void migration_fail(VmigMigration *m, VmigNegotiateCode code, const char *format, ...)
    G_GNUC_PRINTF(3, 4);
static void source_proceed_to_commit(VmigMigration *m);
static gboolean on_channel_timeout(gpointer user_data);
static void destination_try_configure(VmigMigration *m);
static void main_channel_update_watch(VmigMigration *m);
static void pending_free(Pending *p);
static gboolean on_libvirt_check(gpointer user_data);

/* How long the destination libvirt may take to start QEMU listening, and
 * to finish the domain once the stream has ended. */
#define LIBVIRT_WAIT_MS 60000
#define LIBVIRT_POLL_MS 100

static VmigMigration *
mig_ref(VmigMigration *m)
{
    g_atomic_int_inc(&m->refs);
    return m;
}

static void
applied_free(AppliedTunable *a)
{
    g_free(a->name);
    g_free(a->text);
    if (a->value)
        json_node_unref(a->value);
    g_free(a);
}

static void
source_destroy(GSource **source)
{
    if (*source) {
        g_source_destroy(*source);
        g_source_unref(*source);
        *source = NULL;
    }
}

static void
close_channel_fds(VmigMigration *m)
{
    for (guint i = 0; m->channels && i < m->channels->len; i++) {
        int *fd = &g_array_index(m->channels, int, i);

        if (*fd >= 0) {
            close(*fd);
            *fd = -1;
        }
    }
}

/* Releases every resource of @m but its record.  Idempotent. */
static void
migration_release(VmigMigration *m)
{
    source_destroy(&m->main_source);
    source_destroy(&m->handshake_timer);
    source_destroy(&m->channel_timer);
    source_destroy(&m->listen_source);
    source_destroy(&m->progress_timer);
    source_destroy(&m->stream_end_timer);
    source_destroy(&m->libvirt_timer);
    source_destroy(&m->libvirt_main_watch);
    if (m->main_fd >= 0) {
        close(m->main_fd);
        m->main_fd = -1;
    }
    if (m->request_fd >= 0) {
        /* Refused before the handshake began: the peer must see the channel close. */
        close(m->request_fd);
        m->request_fd = -1;
    }
    if (m->listen_fd >= 0) {
        close(m->listen_fd);
        m->listen_fd = -1;
    }
    if (m->listen_path) {
        unlink(m->listen_path);
        g_clear_pointer(&m->listen_path, g_free);
    }
    if (m->private_path)
        unlink(m->private_path);
    close_channel_fds(m);
    if (m->pending)
        g_ptr_array_set_size(m->pending, 0);
    if (m->outgoing)
        g_ptr_array_set_size(m->outgoing, 0);
    if (m->qmp) {
        if (m->qmp_closed_handler)
            g_signal_handler_disconnect(m->qmp, m->qmp_closed_handler);
        if (m->qmp_event_handler)
            g_signal_handler_disconnect(m->qmp, m->qmp_event_handler);
        m->qmp_closed_handler = 0;
        m->qmp_event_handler = 0;
        vmig_qmp_close(m->qmp);
        g_clear_object(&m->qmp);
    }
}

static void
mig_unref(VmigMigration *m)
{
    if (!g_atomic_int_dec_and_test(&m->refs))
        return;
    migration_release(m);
    source_destroy(&m->expiry_timer);
    if (m->bridges)
        g_ptr_array_unref(m->bridges);
    g_clear_pointer(&m->pending, g_ptr_array_unref);
    g_clear_pointer(&m->outgoing, g_ptr_array_unref);
    g_clear_pointer(&m->channels, g_array_unref);
    g_free(m->id);
    g_free(m->error);
    g_free(m->domain);
    g_free(m->uri);
    g_strfreev(m->tunable_args);
    g_strfreev(m->no_features);
    g_strfreev(m->require_features);
    g_clear_pointer(&m->catalog, vmig_catalog_free);
    g_clear_pointer(&m->applied, g_ptr_array_unref);
    g_clear_pointer(&m->decoder, vmig_negotiate_decoder_free);
    if (m->out)
        g_byte_array_unref(m->out);
    g_clear_pointer(&m->local_offer, vmig_negotiate_message_free);
    g_clear_pointer(&m->peer_offer, vmig_negotiate_message_free);
    g_clear_pointer(&m->reply, vmig_negotiate_message_free);
    g_clear_pointer(&m->commit, vmig_negotiate_message_free);
    g_clear_pointer(&m->chosen, json_array_unref);
    g_clear_pointer(&m->declined, json_array_unref);
    g_clear_pointer(&m->peer_tunables, json_object_unref);
    g_free(m->private_path);
    g_clear_object(&m->start_task);
    g_free(m->libvirt_dest);
    g_free(m->domain_xml);
    g_free(m->libvirt_socket);
    g_free(m);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigMigration, mig_unref)

static GMainContext *
mig_context(VmigMigration *m)
{
    return m->owner->daemon->context;
}

/* Attaches @source to the daemon's context with @func; returns: @source. */
static GSource *
mig_attach(VmigMigration *m, GSource *source, GSourceFunc func)
{
    g_source_set_callback(source, func, m, NULL);
    g_source_attach(source, mig_context(m));
    return source;
}

static GSource *
mig_timeout(VmigMigration *m, guint ms, GSourceFunc func)
{
    return mig_attach(m, g_timeout_source_new(ms), func);
}

static GSource *
mig_watch(VmigMigration *m, int fd, GIOCondition condition, GUnixFDSourceFunc func,
          gpointer data)
{
    GSource *source = g_unix_fd_source_new(fd, condition);

    g_source_set_callback(source, (GSourceFunc)(void (*)(void))func, data, NULL);
    g_source_attach(source, mig_context(m));
    return source;
}

/* ---- events and the end ----------------------------------------------------- */

/*
 * Tells the D-Bus service that @m's record may have changed, once its id
 * has been given out (a migration refused at start was never public).
 */
static void
notify(VmigMigration *m)
{
    VmigService *service = m->owner->daemon->service;

    if (service && !m->start_task)
        vmig_service_migration_changed(service, m->id);
}

static void
emit(VmigMigration *m, const char *event, JsonBuilder *b)
{
    g_autoptr(JsonNode) data = json_builder_get_root(b);
    VmigService *service = m->owner->daemon->service;

    vmig_control_emit_event(m->owner->daemon->control, event, json_node_get_object(data));
    if (service && !m->start_task) {
        vmig_service_migration_changed(service, m->id);
        vmig_service_migration_event(service, m->id, event, json_node_get_object(data));
    }
}

static JsonBuilder *
event_begin(VmigMigration *m)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migration");
    json_builder_add_string_value(b, m->id);
    return b;
}

static void
set_state(VmigMigration *m, VmigMigrationState state)
{
    if (m->state != state)
        g_debug("%s: %s -> %s", m->id, state_names[m->state], state_names[state]);
    m->state = state;
    notify(m);
}

static void forget(VmigMigration *m);

/* A finished migration's time to stay listed is up.  Returns: G_SOURCE_REMOVE. */
static gboolean
on_expired(gpointer user_data)
{
    VmigMigration *m = user_data;
    VmigService *service = m->owner->daemon->service;

    g_clear_pointer(&m->expiry_timer, g_source_unref);
    g_debug("%s: forgotten, finished %u ms ago", m->id, m->owner->daemon->keep_finished_ms);
    if (service)
        vmig_service_migration_removed(service, m->id);
    forget(m); /* may free @m */
    return G_SOURCE_REMOVE;
}

/* Ends @m with @state (and @error when it failed): MIGRATION_DONE, resources released. */
static void
migration_finish(VmigMigration *m, VmigMigrationState state, const char *error)
{
    g_autoptr(JsonBuilder) b = NULL;
    const char *result = state == VMIG_MIGRATION_COMPLETED ? "completed"
                         : state == VMIG_MIGRATION_CANCELLED ? "cancelled"
                                                             : "failed";
    gboolean announced = m->start_task == NULL;

    if (m->finished)
        return;
    m->finished = TRUE;
    set_state(m, state);
    g_free(m->error);
    m->error = g_strdup(error);
    if (error)
        g_message("migration %s (%s) %s: %s", m->id, role_names[m->role], result, error);
    else
        g_message("migration %s (%s) %s", m->id, role_names[m->role], result);

    if (m->start_task) {
        /* Failed before the command was answered: the command carries the error. */
        g_task_return_new_error(m->start_task, VMIG_MIGRATION_ERROR,
                                VMIG_MIGRATION_ERROR_INVALID, "%s", error ? error : result);
        g_clear_object(&m->start_task);
    } else {
        b = event_begin(m);
        json_builder_set_member_name(b, "result");
        json_builder_add_string_value(b, result);
        if (error) {
            json_builder_set_member_name(b, "error");
            json_builder_add_string_value(b, error);
        }
        json_builder_end_object(b);
        emit(m, "MIGRATION_DONE", b);
    }

    if (state != VMIG_MIGRATION_COMPLETED && m->libvirt_migrating) {
        /* libvirt's migration call returns once the job is aborted; the
         * source guest keeps running. */
        vmig_libvirt_abort(m->domain);
    }
    if (state != VMIG_MIGRATION_COMPLETED && m->qmp && m->qemu_migrating) {
        /* The source guest keeps running: QEMU resumes it once its migration is
         * cancelled.  A destination QEMU that began loading is of no further use. */
        vmig_qmp_execute_async(m->qmp, m->role == VMIG_ROLE_SOURCE ? "migrate_cancel" : "quit",
                               NULL, NULL, 0, NULL, NULL, NULL);
    }
    /* A completed migration's bridges drain what is still in flight and end
     * by themselves; any other end stops them now. */
    if (state != VMIG_MIGRATION_COMPLETED && m->bridges)
        g_ptr_array_set_size(m->bridges, 0);
    migration_release(m);
    /* A finished migration stays listed for a while, so that clients can
     * still read what was negotiated; one whose id was never given out
     * goes at once (on the next iteration: callers still hold @m). */
    m->expiry_timer =
        mig_timeout(m, announced ? m->owner->daemon->keep_finished_ms : 0, on_expired);
}

/* Fails @m: tells the peer (ERROR frame) while the handshake runs. */
static void
migration_fail(VmigMigration *m, VmigNegotiateCode code, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    if (m->finished)
        return;
    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);

    if (m->main_fd >= 0 && !m->handshake_done && code != 0) {
        g_autoptr(VmigNegotiateMessage) err = vmig_negotiate_message_new_error(code, message);
        g_autoptr(GBytes) bytes = vmig_negotiate_encode(err, NULL);

        /* Best effort, non-blocking: the peer learns why before the close. */
        if (bytes) {
            if (m->out && m->out->len)
                (void)!write(m->main_fd, m->out->data, m->out->len);
            (void)!send(m->main_fd, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
                        MSG_NOSIGNAL | MSG_DONTWAIT);
        }
    }
    migration_finish(m, VMIG_MIGRATION_FAILED, message);
}

static void
migration_fail_error(VmigMigration *m, VmigNegotiateCode code, const char *what,
                     const GError *error)
{
    if (what)
        migration_fail(m, code, "%s: %s", what, error->message);
    else
        migration_fail(m, code, "%s", error->message);
}

/* ---- QMP steps ------------------------------------------------------------- */

typedef void (*StepFunc)(VmigMigration *m, JsonNode *reply);

typedef struct {
    VmigMigration *m;
    StepFunc next;
    char *what;
} Step;

static void
on_step(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Step *step = user_data;
    g_autoptr(VmigMigration) m = step->m;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);

    if (!m->finished) {
        if (!reply)
            migration_fail_error(m, VMIG_NEGOTIATE_CODE_HYPERVISOR, step->what, error);
        else if (step->next)
            step->next(m, reply);
    }
    g_free(step->what);
    g_free(step);
}

/* Runs @command (@args consumed) on the local QEMU, then @next with its answer. */
static void
qmp_step(VmigMigration *m, const char *command, JsonObject *args, const int *fds, gsize n_fds,
         const char *what, StepFunc next)
{
    Step *step = g_new0(Step, 1);

    step->m = mig_ref(m);
    step->next = next;
    step->what = g_strdup(what);
    vmig_qmp_execute_async(m->qmp, command, args, fds, n_fds, NULL, on_step, step);
    if (args)
        json_object_unref(args);
}

static void
on_qmp_closed(VmigQmp *qmp, const GError *reason, gpointer user_data)
{
    VmigMigration *m = user_data;

    migration_fail(m, VMIG_NEGOTIATE_CODE_HYPERVISOR, "%s QEMU went away: %s",
                   role_names[m->role], reason ? reason->message : "connection closed");
}

/* ---- the main channel -------------------------------------------------------- */

/* Queues @msg on the main channel.  Returns: TRUE, or FALSE with @m failed. */
static gboolean
send_frame(VmigMigration *m, const VmigNegotiateMessage *msg)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = vmig_negotiate_encode(msg, &error);

    if (!bytes) {
        migration_fail_error(m, VMIG_NEGOTIATE_CODE_INTERNAL, "cannot encode the frame", error);
        return FALSE;
    }
    g_byte_array_append(m->out, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    m->bytes_sent += g_bytes_get_size(bytes);
    main_channel_update_watch(m);
    return TRUE;
}

static void
send_raw(VmigMigration *m, const guint8 *data, gsize len)
{
    g_byte_array_append(m->out, data, len);
    m->bytes_sent += len;
    main_channel_update_watch(m);
}

/* Writes what can be written of the queue.  Returns: FALSE when @m failed. */
static gboolean
main_channel_flush(VmigMigration *m)
{
    while (m->out->len > 0) {
        gssize n = send(m->main_fd, m->out->data, m->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return TRUE;
            migration_fail(m, 0, "the main channel failed: %s", g_strerror(errno));
            return FALSE;
        }
        g_byte_array_remove_range(m->out, 0, n);
    }
    return TRUE;
}

static void frame_received(VmigMigration *m, VmigNegotiateMessage *msg);

static gboolean
on_handshake_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->handshake_timer, g_source_unref);
    migration_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                   "the peer driver did not answer within %d s (state %s)",
                   HANDSHAKE_TIMEOUT_MS / 1000, state_names[m->state]);
    return G_SOURCE_REMOVE;
}

/* (Re)arms the handshake timer: each step of the peer has its own deadline. */
static void
arm_handshake_timer(VmigMigration *m)
{
    source_destroy(&m->handshake_timer);
    if (!m->handshake_done)
        m->handshake_timer = (mig_timeout(m, HANDSHAKE_TIMEOUT_MS,
                                                       on_handshake_timeout));
}

/* Reads from the main channel, never past the end of a frame. */
static gboolean
on_main_io(int fd, GIOCondition condition, gpointer user_data)
{
    g_autoptr(VmigMigration) m = mig_ref(user_data);

    if ((condition & G_IO_OUT) && !main_channel_flush(m))
        return G_SOURCE_REMOVE;
    if (m->finished || m->main_fd < 0)
        return G_SOURCE_REMOVE;

    if (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
        guint8 buf[4096];
        gsize want;
        gssize n;

        if (m->role == VMIG_ROLE_DESTINATION && m->opener_have < VMIG_PREAMBLE_MAGIC_SIZE)
            want = VMIG_PREAMBLE_MAGIC_SIZE - m->opener_have;
        else
            want = MIN(sizeof(buf), vmig_negotiate_decoder_wanted(m->decoder));
        n = recv(fd, buf, want, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                return G_SOURCE_CONTINUE;
            migration_fail(m, 0, "the peer driver is gone: the main channel failed: %s",
                           g_strerror(errno));
            return G_SOURCE_REMOVE;
        }
        if (n == 0) {
            g_autoptr(GError) error = NULL;

            if (!vmig_negotiate_decoder_finish(m->decoder, &error))
                migration_fail(m, 0, "the peer driver closed the main channel mid-frame: %s",
                               error->message);
            else
                migration_fail(m, 0, "the peer driver closed the main channel (state %s)",
                               state_names[m->state]);
            return G_SOURCE_REMOVE;
        }
        m->bytes_received += n;
        if (m->handshake_start == 0)
            m->handshake_start = g_get_monotonic_time();

        if (m->role == VMIG_ROLE_DESTINATION && m->opener_have < VMIG_PREAMBLE_MAGIC_SIZE) {
            memcpy(m->opener + m->opener_have, buf, n);
            m->opener_have += n;
            if (m->opener_have == VMIG_PREAMBLE_MAGIC_SIZE) {
                if (vmig_preamble_classify(m->opener) != VMIG_PREAMBLE_KIND_MAIN) {
                    migration_fail(m, 0,
                                   "the main channel does not open with \"VMGM\" "
                                   "(got %02x %02x %02x %02x)",
                                   m->opener[0], m->opener[1], m->opener[2], m->opener[3]);
                    return G_SOURCE_REMOVE;
                }
                set_state(m, VMIG_MIGRATION_NEGOTIATING);
                if (!send_frame(m, m->local_offer))
                    return G_SOURCE_REMOVE;
                arm_handshake_timer(m);
            }
            return G_SOURCE_CONTINUE;
        }

        {
            g_autoptr(GError) error = NULL;
            VmigNegotiateMessage *msg = NULL;
            gsize consumed = 0;
            VmigNegotiateStatus status =
                vmig_negotiate_decoder_feed(m->decoder, buf, n, &consumed, &msg, &error);

            if (status == VMIG_NEGOTIATE_STATUS_ERROR) {
                migration_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                               "malformed frame from the peer driver: %s", error->message);
                return G_SOURCE_REMOVE;
            }
            if (status == VMIG_NEGOTIATE_STATUS_FRAME)
                frame_received(m, msg);
        }
    }
    if (m->finished || m->main_fd < 0 || m->main_source == NULL)
        return G_SOURCE_REMOVE;
    return G_SOURCE_CONTINUE;
}

static void
main_channel_update_watch(VmigMigration *m)
{
    if (m->main_source)
        g_source_modify_unix_fd(m->main_source, m->main_tag,
                                G_IO_IN | (m->out->len ? G_IO_OUT : 0));
}

static gboolean
main_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    VmigMigration *m = user_data;

    return on_main_io(m->main_fd, g_source_query_unix_fd(source, m->main_tag), m);
}

static GSourceFuncs main_source_funcs = { NULL, NULL, main_source_dispatch, NULL, NULL, NULL };

/* A no-op: the dispatch function calls on_main_io() with the migration. */
static gboolean
main_source_callback(gpointer user_data)
{
    return G_SOURCE_CONTINUE;
}

/*
 * Starts watching the main channel @fd (consumed), with a source whose fd
 * tag we keep so that its conditions follow the write queue.
 */
static void
main_channel_start(VmigMigration *m, int fd)
{
    m->main_fd = fd;
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    if (!m->decoder)
        m->decoder = vmig_negotiate_decoder_new();
    m->main_source = g_source_new(&main_source_funcs, sizeof(GSource));
    m->main_tag = g_source_add_unix_fd(m->main_source, fd, G_IO_IN);
    g_source_set_callback(m->main_source, main_source_callback, m, NULL);
    g_source_attach(m->main_source, mig_context(m));
}

/* Stops reading the main channel: from here on its bytes are QEMU's. */
static void
main_channel_stop(VmigMigration *m)
{
    source_destroy(&m->main_source);
    source_destroy(&m->handshake_timer);
    m->handshake_done = TRUE;
    m->handshake_end = g_get_monotonic_time();
    g_unix_set_fd_nonblocking(m->main_fd, FALSE, NULL);
}

/* ---- offers, selection, the record ------------------------------------------- */

static gboolean
strv_has(GStrv strv, const char *s)
{
    return strv && g_strv_contains((const char *const *)strv, s);
}

static void
add_reason(JsonArray *array, const char *name, const VmigNegotiateFeature *feature,
           const char *reason)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "name", name);
    if (feature && feature->has_channels)
        json_object_set_int_member(o, "channels", feature->channels);
    if (feature && feature->algorithms) {
        JsonArray *algs = json_array_new();

        for (guint i = 0; i < feature->algorithms->len; i++)
            json_array_add_string_element(algs, g_ptr_array_index(feature->algorithms, i));
        json_object_set_array_member(o, "algorithms", algs);
    }
    json_object_set_string_member(o, "reason", reason);
    json_array_add_object_element(array, o);
}

/* Returns: the tunable the user set called @name on this side, or NULL. */
static AppliedTunable *
find_applied(VmigMigration *m, const char *name)
{
    for (guint i = 0; i < m->applied->len; i++) {
        AppliedTunable *a = g_ptr_array_index(m->applied, i);

        if (g_str_equal(a->name, name))
            return a;
    }
    return NULL;
}

/*
 * Builds this side's offer from its QEMU's catalog and its policy: a
 * feature is offered when this QEMU has what it switches and nothing
 * forbids it.  Why a feature is not offered goes to the record.
 * Returns: TRUE, or FALSE with @error (a required feature that cannot be had).
 */
static gboolean
build_offer(VmigMigration *m, GError **error)
{
    VmigNegotiateMessage *offer = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_GREETING);
    gboolean source = m->role == VMIG_ROLE_SOURCE;

    m->local_offer = offer;
    vmig_negotiate_message_add_version(offer, VMIG_NEGOTIATE_VERSION_1);
    offer->max_channels = source ? m->requested_channels : m->max_channels;
    offer->hypervisor = g_strdup(m->catalog->hypervisor);
    offer->driver = g_strdup(PACKAGE_NAME " " PACKAGE_VERSION);

    for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
        const VmigFeatureInfo *info = vmig_feature_info(f);
        const char *knob = info->capability ? info->capability : info->parameter;
        const VmigTunable *tunable = knob ? vmig_catalog_lookup(m->catalog, knob) : NULL;
        gboolean required = strv_has(m->require_features, info->name);
        const char *why_not = NULL;
        VmigNegotiateFeature *feature;

        if (info->internal)
            continue;
        if (strv_has(m->no_features, info->name))
            why_not = source ? "forbidden by the source (--no-feature)"
                             : "forbidden by the destination (no-features)";
        else if (!tunable)
            why_not = source ? "the source QEMU does not have it"
                             : "the destination QEMU does not have it";
        else if (f == VMIG_FEATURE_ZERO_COPY_SEND)
            why_not = "the bridge's unix sockets have no MSG_ZEROCOPY";
        else if (f == VMIG_FEATURE_MULTIFD && source && m->requested_channels == 0)
            why_not = "no extra channels asked for (--channels)";
        else if (f == VMIG_FEATURE_POSTCOPY_RAM && source && !required)
            /* Switched on, postcopy-ram slows QEMU's precopy stream even when
             * postcopy never starts (measured here: +40% for 1 GiB). */
            why_not = "not asked for (--require-feature postcopy-ram)";
        else if (f == VMIG_FEATURE_MULTIFD_COMPRESSION && source &&
                 (!find_applied(m, "multifd-compression") ||
                  g_str_equal(json_node_get_string(find_applied(m, "multifd-compression")->value),
                              "none")))
            why_not = "no compression asked for (--tunable multifd-compression=...)";

        if (why_not) {
            if (required) {
                g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                            "feature '%s' is required but %s", info->name,
                            g_str_has_prefix(why_not, "forbidden") ? "also forbidden" : why_not);
                return FALSE;
            }
            add_reason(m->declined, info->name, NULL, why_not);
            continue;
        }
        feature = vmig_negotiate_message_add_feature(offer, vmig_negotiate_feature_new(info->name));
        feature->required = required;
        if (f == VMIG_FEATURE_MULTIFD)
            vmig_negotiate_feature_set_channels(feature, offer->max_channels);
        if (f == VMIG_FEATURE_MULTIFD_COMPRESSION) {
            if (source) {
                vmig_negotiate_feature_add_algorithm(
                    feature,
                    json_node_get_string(find_applied(m, "multifd-compression")->value));
            } else {
                for (guint i = 0; tunable->values && tunable->values[i]; i++) {
                    if (!g_str_equal(tunable->values[i], "none"))
                        vmig_negotiate_feature_add_algorithm(feature, tunable->values[i]);
                }
            }
        }
    }
    if (!source) {
        for (guint i = 0; i < m->catalog->tunables->len; i++)
            vmig_negotiate_message_add_tunable_name(
                offer, ((VmigTunable *)g_ptr_array_index(m->catalog->tunables, i))->name);
    }
    return TRUE;
}

/* Checks --no-feature/--require-feature names.  Returns: TRUE, or FALSE with @error. */
static gboolean
check_feature_names(GStrv names, const char *option, GError **error)
{
    for (guint i = 0; names && names[i]; i++) {
        const VmigFeatureInfo *info = vmig_feature_find(names[i]);

        if (!info || info->internal) {
            GString *known = g_string_new(NULL);

            for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
                if (vmig_feature_info(f)->internal)
                    continue;
                g_string_append_printf(known, "%s%s", known->len ? ", " : "",
                                       vmig_feature_info(f)->name);
            }
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "%s: unknown feature '%s' (known: %s)", option, names[i], known->str);
            g_string_free(known, TRUE);
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * The one place every feature compatibility rule lives: QEMU 7.2 refuses
 * postcopy-ram together with multifd, and multifd-compression means
 * nothing without multifd.  What is dropped, and why, goes to the record.
 * Returns: TRUE, or FALSE with FEATURE_REQUIRED in @error.
 */
static gboolean
resolve_conflicts(VmigMigration *m, VmigNegotiateMessage *selection, GError **error)
{
    const VmigNegotiateFeature *multifd =
        vmig_negotiate_message_find_feature(selection, "multifd");
    const VmigNegotiateFeature *postcopy =
        vmig_negotiate_message_find_feature(selection, "postcopy-ram");

    if (multifd && postcopy) {
        gboolean want_postcopy = strv_has(m->require_features, "postcopy-ram");
        gboolean want_multifd = strv_has(m->require_features, "multifd");
        const char *drop = want_postcopy && !want_multifd ? "multifd" : "postcopy-ram";

        if (want_postcopy && want_multifd) {
            g_set_error(error, VMIG_NEGOTIATE_ERROR, VMIG_NEGOTIATE_ERROR_FEATURE_REQUIRED,
                        "features 'multifd' and 'postcopy-ram' are both required, but QEMU "
                        "cannot use them together");
            return FALSE;
        }
        for (guint i = 0; i < selection->features->len; i++) {
            VmigNegotiateFeature *f = g_ptr_array_index(selection->features, i);

            if (g_str_equal(f->name, drop)) {
                add_reason(m->declined, drop, NULL,
                           "QEMU cannot use postcopy-ram together with multifd");
                g_ptr_array_remove_index(selection->features, i);
                break;
            }
        }
    }
    if (!vmig_negotiate_message_find_feature(selection, "multifd")) {
        for (guint i = 0; i < selection->features->len; i++) {
            VmigNegotiateFeature *f = g_ptr_array_index(selection->features, i);

            if (g_str_equal(f->name, "multifd-compression")) {
                add_reason(m->declined, f->name, NULL, "multifd is not used");
                g_ptr_array_remove_index(selection->features, i);
                break;
            }
        }
    }
    return TRUE;
}

/* Records, for the source, why each offered feature was or was not chosen. */
static void
record_selection(VmigMigration *m)
{
    const VmigNegotiateMessage *src = m->local_offer, *dst = m->peer_offer;

    for (guint side = 0; side < 2; side++) {
        const VmigNegotiateMessage *offer = side == 0 ? src : dst;
        const VmigNegotiateMessage *other = side == 0 ? dst : src;

        for (guint i = 0; i < offer->features->len; i++) {
            const VmigNegotiateFeature *f = g_ptr_array_index(offer->features, i);
            gboolean listed = FALSE;

            if (vmig_negotiate_message_find_feature(m->reply, f->name))
                continue;
            for (guint j = 0; j < json_array_get_length(m->declined); j++)
                listed |= g_str_equal(json_object_get_string_member(
                                          json_array_get_object_element(m->declined, j), "name"),
                                      f->name);
            if (listed)
                continue;
            if (!vmig_negotiate_message_find_feature(other, f->name))
                add_reason(m->declined, f->name, NULL,
                           side == 0 ? "not offered by the destination"
                                     : "not offered by the source");
            else if (side == 0)
                add_reason(m->declined, f->name, NULL,
                           "offered by both, with no attribute value in common");
        }
    }
}

/* ---- the record ----------------------------------------------------------------- */

static JsonNode *
offer_to_json(const VmigNegotiateMessage *offer)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "versions");
    json_builder_begin_array(b);
    for (guint i = 0; i < offer->versions->len; i++)
        json_builder_add_int_value(b, g_array_index(offer->versions, guint32, i));
    json_builder_end_array(b);
    json_builder_set_member_name(b, "features");
    json_builder_begin_array(b);
    for (guint i = 0; i < offer->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(offer->features, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, f->name);
        if (f->has_channels) {
            json_builder_set_member_name(b, "channels");
            json_builder_add_int_value(b, f->channels);
        }
        if (f->algorithms) {
            json_builder_set_member_name(b, "algorithms");
            json_builder_begin_array(b);
            for (guint j = 0; j < f->algorithms->len; j++)
                json_builder_add_string_value(b, g_ptr_array_index(f->algorithms, j));
            json_builder_end_array(b);
        }
        if (f->required) {
            json_builder_set_member_name(b, "required");
            json_builder_add_boolean_value(b, TRUE);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonObject *
applied_to_json(VmigMigration *m)
{
    JsonObject *o = json_object_new();

    for (guint i = 0; i < m->applied->len; i++) {
        AppliedTunable *a = g_ptr_array_index(m->applied, i);

        json_object_set_member(o, a->name, json_node_copy(a->value));
    }
    return o;
}

/* Returns: the negotiation record of @m (a new node). */
static JsonNode *
migration_record(VmigMigration *m)
{
    gboolean source = m->role == VMIG_ROLE_SOURCE;
    const VmigNegotiateMessage *peer = source ? m->peer_offer : m->reply;
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "migration", m->id);
    json_object_set_string_member(o, "role", role_names[m->role]);
    json_object_set_string_member(o, "state", state_names[m->state]);
    json_object_set_string_member(o, "domain", m->domain);
    json_object_set_string_member(o, "mode", m->uri ? "uri" : "fd");
    json_object_set_string_member(o, "peer", m->uri ? m->uri : "fd");
    if (m->reply)
        json_object_set_int_member(o, "version", g_array_index(m->reply->versions, guint32, 0));
    if (m->catalog)
        json_object_set_string_member(o, "hypervisor", m->catalog->hypervisor);
    if (peer) {
        json_object_set_string_member(o, "peer-hypervisor", peer->hypervisor);
        json_object_set_string_member(o, "peer-driver", peer->driver);
    }
    json_object_set_string_member(o, "driver", PACKAGE_NAME " " PACKAGE_VERSION);
    if (m->local_offer) {
        JsonObject *offered = json_object_new();

        json_object_set_member(offered, role_names[m->role], offer_to_json(m->local_offer));
        if (source && m->peer_offer)
            json_object_set_member(offered, "destination", offer_to_json(m->peer_offer));
        json_object_set_object_member(o, "offered", offered);
    }
    if (m->reply) {
        json_object_set_array_member(o, "features", json_array_ref(m->chosen));
        json_object_set_array_member(o, "declined", json_array_ref(m->declined));
        {
            JsonObject *ch = json_object_new();

            json_object_set_int_member(ch, "requested", m->reply->channels);
            json_object_set_int_member(ch, "received",
                                       m->commit ? m->commit->channels : m->channels_got);
            json_object_set_object_member(o, "channels", ch);
        }
    }
    if (m->applied) {
        JsonObject *tunables = json_object_new();

        json_object_set_object_member(tunables, role_names[m->role], applied_to_json(m));
        if (source && m->peer_tunables)
            json_object_set_object_member(tunables, "destination",
                                          json_object_ref(m->peer_tunables));
        json_object_set_object_member(o, "tunables", tunables);
    }
    if (m->handshake_start) {
        JsonObject *hs = json_object_new();
        gint64 end = m->handshake_end ? m->handshake_end : g_get_monotonic_time();

        json_object_set_int_member(hs, "bytes-sent", m->bytes_sent);
        json_object_set_int_member(hs, "bytes-received", m->bytes_received);
        json_object_set_int_member(hs, "milliseconds", (end - m->handshake_start) / 1000);
        json_object_set_object_member(o, "handshake", hs);
    }
    if (m->finished) {
        json_object_set_string_member(o, "result", state_names[m->state]);
        if (m->error)
            json_object_set_string_member(o, "error", m->error);
    }
    json_node_take_object(node, o);
    return node;
}

/* Fills the record's list of chosen features from @selection. */
static void
record_chosen(VmigMigration *m, const VmigNegotiateMessage *selection)
{
    g_clear_pointer(&m->chosen, json_array_unref);
    m->chosen = json_array_new();
    for (guint i = 0; i < selection->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(selection->features, i);
        g_autofree char *reason = NULL;

        if (g_str_equal(f->name, "multifd") && m->reply &&
            m->commit && m->commit->channels < m->reply->channels)
            reason = g_strdup_printf("offered by both; %u of %u channels supplied",
                                     m->commit->channels, m->reply->channels);
        else
            reason = g_strdup(m->role == VMIG_ROLE_SOURCE ? "offered by both"
                                                         : "selected by the source");
        add_reason(m->chosen, f->name, f, reason);
    }
}

static void
emit_negotiated(VmigMigration *m)
{
    g_autoptr(JsonBuilder) b = event_begin(m);

    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, role_names[m->role]);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, g_array_index(m->reply->versions, guint32, 0));
    json_builder_set_member_name(b, "features");
    json_builder_begin_array(b);
    for (guint i = 0; i < m->commit->features->len; i++)
        json_builder_add_string_value(
            b, ((VmigNegotiateFeature *)g_ptr_array_index(m->commit->features, i))->name);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "channels");
    json_builder_add_int_value(b, m->commit->channels);
    json_builder_set_member_name(b, "requested-channels");
    json_builder_add_int_value(b, m->reply->channels);
    json_builder_end_object(b);
    emit(m, "NEGOTIATED", b);
}

/* ---- configuring QEMU ---------------------------------------------------------- */

static gboolean
applies_here(VmigMigration *m, const VmigFeatureInfo *info)
{
    return (info->side & (m->role == VMIG_ROLE_SOURCE ? VMIG_SIDE_SOURCE
                                                      : VMIG_SIDE_DESTINATION)) != 0;
}

/* Returns: the arguments of migrate-set-capabilities for the COMMIT's features
 * and the capability tunables of this side (a new object). */
static JsonObject *
capabilities_args(VmigMigration *m)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "capabilities");
    json_builder_begin_array(b);
    for (guint i = 0; i < m->commit->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(m->commit->features, i);
        const VmigFeatureInfo *info = vmig_feature_find(f->name);

        if (!info || !info->capability || !applies_here(m, info))
            continue;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "capability");
        json_builder_add_string_value(b, info->capability);
        json_builder_set_member_name(b, "state");
        json_builder_add_boolean_value(b, TRUE);
        json_builder_end_object(b);
    }
    if (vmig_catalog_lookup(m->catalog, "events") && !find_applied(m, "events")) {
        /* The driver's own knob: QEMU then says when its migration changes
         * state (MIGRATION events), so the end is seen at once. */
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "capability");
        json_builder_add_string_value(b, "events");
        json_builder_set_member_name(b, "state");
        json_builder_add_boolean_value(b, TRUE);
        json_builder_end_object(b);
    }
    for (guint i = 0; i < m->applied->len; i++) {
        AppliedTunable *a = g_ptr_array_index(m->applied, i);

        if (a->tunable->kind != VMIG_TUNABLE_KIND_CAPABILITY)
            continue;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "capability");
        json_builder_add_string_value(b, a->name);
        json_builder_set_member_name(b, "state");
        json_builder_add_value(b, json_node_copy(a->value));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return json_object_ref(json_node_get_object(root));
}

/* Adds (or replaces) a parameter this side sets because of the negotiation. */
static void
apply_negotiated(VmigMigration *m, const char *name, JsonNode *value)
{
    AppliedTunable *a = find_applied(m, name);
    const VmigTunable *t = vmig_catalog_lookup(m->catalog, name);

    if (!t) {
        json_node_unref(value);
        return;
    }
    if (!a) {
        a = g_new0(AppliedTunable, 1);
        a->name = g_strdup(name);
        g_ptr_array_add(m->applied, a);
    } else {
        json_node_unref(a->value);
    }
    a->tunable = t;
    a->value = value;
}

/* Returns: the arguments of migrate-set-parameters for this side (a new object). */
static JsonObject *
parameters_args(VmigMigration *m)
{
    JsonObject *o = json_object_new();

    for (guint i = 0; i < m->applied->len; i++) {
        AppliedTunable *a = g_ptr_array_index(m->applied, i);

        if (a->tunable->kind == VMIG_TUNABLE_KIND_PARAMETER)
            json_object_set_member(o, a->name, json_node_copy(a->value));
    }
    return o;
}

/* The negotiated parameters of this side: multifd's channel count, the algorithm. */
static void
apply_commit(VmigMigration *m)
{
    const VmigNegotiateFeature *multifd =
        vmig_negotiate_message_find_feature(m->commit, "multifd");
    const VmigNegotiateFeature *compression =
        vmig_negotiate_message_find_feature(m->commit, "multifd-compression");

    if (multifd)
        apply_negotiated(m, "multifd-channels",
                         json_node_init_int(json_node_alloc(), m->commit->channels));
    if (compression && compression->algorithms && compression->algorithms->len)
        apply_negotiated(m, "multifd-compression",
                         json_node_init_string(json_node_alloc(),
                                               g_ptr_array_index(compression->algorithms, 0)));
    else if (find_applied(m, "multifd-compression"))
        apply_negotiated(m, "multifd-compression",
                         json_node_init_string(json_node_alloc(), "none"));
}

/*
 * Configures the local QEMU for the COMMIT, then runs @next.  The
 * capabilities and the parameters go out together: QEMU answers in order,
 * so a refusal of the first fails the migration before the second's
 * answer is looked at, and a round trip is saved.
 */
static void
configure_qemu(VmigMigration *m, StepFunc next)
{
    JsonObject *params;

    apply_commit(m);
    if (m->libvirt) {
        /* libvirt configures its QEMUs: the source hands it the plan when
         * it starts the migration; the destination's QEMU is libvirt's. */
        next(m, NULL);
        return;
    }
    params = parameters_args(m);
    if (json_object_get_size(params) == 0) {
        json_object_unref(params);
        qmp_step(m, "migrate-set-capabilities", capabilities_args(m), NULL, 0,
                 "cannot set the migration capabilities", next);
        return;
    }
    qmp_step(m, "migrate-set-capabilities", capabilities_args(m), NULL, 0,
             "cannot set the migration capabilities", NULL);
    qmp_step(m, "migrate-set-parameters", params, NULL, 0,
             "cannot set the migration parameters", next);
}

/* ---- progress ----------------------------------------------------------------- */

static void on_progress(VmigMigration *m, JsonNode *reply);

static gboolean
on_progress_timer(gpointer user_data)
{
    VmigMigration *m = user_data;

    if (!m->progress_pending && !m->finished && m->qmp) {
        m->progress_pending = TRUE;
        qmp_step(m, "query-migrate", NULL, NULL, 0, "cannot read the migration status",
                 on_progress);
    }
    return G_SOURCE_CONTINUE;
}

static gint64
member_int(JsonObject *o, const char *name)
{
    return o ? json_object_get_int_member_with_default(o, name, 0) : 0;
}

static void
on_resumed(VmigMigration *m, JsonNode *reply)
{
    migration_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
}

static void
on_progress(VmigMigration *m, JsonNode *reply)
{
    JsonObject *info = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    const char *status = info ? json_object_get_string_member_with_default(info, "status", "")
                              : "";
    JsonObject *ram = info && json_object_has_member(info, "ram")
                          ? json_object_get_object_member(info, "ram")
                          : NULL;

    m->progress_pending = FALSE;
    if (m->role == VMIG_ROLE_SOURCE && ram) {
        g_autoptr(JsonBuilder) b = event_begin(m);

        json_builder_set_member_name(b, "status");
        json_builder_add_string_value(b, status);
        json_builder_set_member_name(b, "transferred");
        json_builder_add_int_value(b, member_int(ram, "transferred"));
        json_builder_set_member_name(b, "remaining");
        json_builder_add_int_value(b, member_int(ram, "remaining"));
        json_builder_set_member_name(b, "total");
        json_builder_add_int_value(b, member_int(ram, "total"));
        json_builder_set_member_name(b, "throughput");
        /* QEMU reports mbps (10^6 bits/s); events carry bytes/s. */
        json_builder_add_int_value(
            b, (gint64)(json_object_get_double_member_with_default(ram, "mbps", 0) * 1e6 / 8));
        json_builder_set_member_name(b, "expected-downtime");
        json_builder_add_int_value(b, member_int(info, "expected-downtime"));
        json_builder_end_object(b);
        emit(m, "MIGRATION_PROGRESS", b);
    }

    if (g_str_equal(status, "completed")) {
        source_destroy(&m->progress_timer);
        if (m->role == VMIG_ROLE_DESTINATION && m->resume)
            qmp_step(m, "cont", NULL, NULL, 0, "cannot resume the guest", on_resumed);
        else
            migration_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
    } else if (g_str_equal(status, "failed") && m->cancel_requested) {
        /* QEMU's cancel shuts its sockets down, and a thread that writes
         * first can make it end "failed" (EPIPE): it was still the cancel. */
        migration_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
    } else if (g_str_equal(status, "failed")) {
        const char *desc = json_object_get_string_member_with_default(info, "error-desc",
                                                                      "QEMU's migration failed");

        migration_finish(m, VMIG_MIGRATION_FAILED, desc);
    } else if (g_str_equal(status, "cancelled")) {
        migration_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled");
    }
}

/* QEMU's MIGRATION event: its state changed, so read it now, not at the next tick. */
static void
on_qmp_event(VmigQmp *qmp, const char *name, JsonObject *data, JsonObject *timestamp,
             gpointer user_data)
{
    if (g_str_equal(name, "MIGRATION"))
        on_progress_timer(user_data);
}

static void
start_progress(VmigMigration *m)
{
    set_state(m, VMIG_MIGRATION_MIGRATING);
    m->progress_timer = mig_timeout(m, PROGRESS_INTERVAL_MS, on_progress_timer);
    if (!m->qmp_event_handler)
        m->qmp_event_handler = g_signal_connect(m->qmp, "event", G_CALLBACK(on_qmp_event), m);
}

/* ---- bridges ------------------------------------------------------------------ */

static gboolean
on_stream_end_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->stream_end_timer, g_source_unref);
    migration_fail(m, 0,
                   "the stream from the source ended, and QEMU had not completed the "
                   "migration %d s later",
                   STREAM_END_GRACE_MS / 1000);
    return G_SOURCE_REMOVE;
}

/*
 * A bridged channel ended.  Once all have, a destination QEMU has a few
 * seconds to complete: QEMU 7.2 can wait forever on multifd channels that
 * reached end of file mid-stream (a source daemon that died), so the
 * driver does not wait for it to notice.
 */
static void
on_bridge_done(VmigBridge *bridge, const GError *error, gpointer user_data)
{
    VmigMigration *m = user_data;

    if (error)
        g_debug("%s: bridge ended: %s", m->id, error->message);
    m->bridges_done++;
    if (!m->finished && m->role == VMIG_ROLE_DESTINATION && m->libvirt &&
        m->bridges_done == m->bridges->len && !m->libvirt_timer) {
        /* libvirt finishes the domain after the stream: watch for it. */
        m->libvirt_deadline = g_get_monotonic_time() + (gint64)LIBVIRT_WAIT_MS * 1000;
        m->libvirt_timer = mig_timeout(m, 0, on_libvirt_check);
    } else if (!m->finished && m->role == VMIG_ROLE_DESTINATION &&
               m->bridges_done == m->bridges->len && !m->stream_end_timer)
        m->stream_end_timer = mig_timeout(m, STREAM_END_GRACE_MS, on_stream_end_timeout);
}

/* Bridges @fd_a and @fd_b (consumed).  Returns: TRUE, or FALSE with @m failed. */
static gboolean
bridge(VmigMigration *m, int *fd_a, int *fd_b, const char *what)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = g_strdup_printf("%s/%s", m->id, what);
    VmigBridge *b = vmig_bridge_start(fd_a, fd_b, NULL, NULL, name, mig_context(m),
                                      on_bridge_done, m, &error);

    if (!b) {
        migration_fail_error(m, 0, "cannot bridge a channel", error);
        return FALSE;
    }
    g_ptr_array_add(m->bridges, b);
    return TRUE;
}

/* ---- sockets ---------------------------------------------------------------------- */

/* Parses "unix:PATH" into @addr.  Returns: TRUE, or FALSE with @error. */
static gboolean
unix_address(const char *path, struct sockaddr_un *addr, GError **error)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path) || !*path) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "unix socket path '%s' is empty or too long", path);
        return FALSE;
    }
    memcpy(addr->sun_path, path, strlen(path));
    return TRUE;
}

/* Splits "tcp:HOST:PORT".  Returns: TRUE with the parts (to free), or FALSE with @error. */
static gboolean
tcp_address(const char *spec, char **host, char **port, GError **error)
{
    const char *colon = strrchr(spec, ':');

    if (!colon || colon == spec || !colon[1]) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "'tcp:%s' is not tcp:HOST:PORT", spec);
        return FALSE;
    }
    *host = g_strndup(spec, colon - spec);
    *port = g_strdup(colon + 1);
    return TRUE;
}

/* Checks a listen or dest URI.  Returns: TRUE, or FALSE with @error. */
static gboolean
check_uri(const char *uri, GError **error)
{
    struct sockaddr_un addr;
    g_autofree char *host = NULL, *port = NULL;

    if (g_str_has_prefix(uri, "unix:"))
        return unix_address(uri + 5, &addr, error);
    if (g_str_has_prefix(uri, "tcp:"))
        return tcp_address(uri + 4, &host, &port, error);
    g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                "'%s' is neither unix:PATH nor tcp:HOST:PORT", uri);
    return FALSE;
}

/* Connects to @uri (blocking: unix connects at once, tcp is for nearby peers).
 * Returns: the connected fd, or -1 with @error. */
static int
dial(const char *uri, GError **error)
{
    g_auto(VmigFd) fd = -1;

    if (g_str_has_prefix(uri, "unix:")) {
        struct sockaddr_un addr;

        if (!unix_address(uri + 5, &addr, error))
            return -1;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_PEER,
                        "cannot connect to '%s': %s", uri, g_strerror(errno));
            return -1;
        }
        return vmig_fd_steal(&fd);
    } else {
        g_autofree char *host = NULL, *port = NULL;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
        int rc, saved = 0;

        if (!tcp_address(uri + 4, &host, &port, error))
            return -1;
        rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "cannot resolve '%s': %s", uri, gai_strerror(rc));
            return -1;
        }
        for (ai = res; ai; ai = ai->ai_next) {
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
                break;
            saved = errno;
            vmig_fd_clear(&fd);
        }
        freeaddrinfo(res);
        if (fd < 0) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_PEER,
                        "cannot connect to '%s': %s", uri, g_strerror(saved));
            return -1;
        }
        return vmig_fd_steal(&fd);
    }
}

/* Listens on @uri (a stale unix socket there is replaced).
 * Returns: the listening fd, or -1 with @error. */
static int
listen_on(const char *uri, char **unix_path, GError **error)
{
    g_auto(VmigFd) fd = -1;
    int one = 1;

    if (g_str_has_prefix(uri, "unix:")) {
        struct sockaddr_un addr;
        struct stat st;

        if (!unix_address(uri + 5, &addr, error))
            return -1;
        if (lstat(addr.sun_path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                            "cannot listen on '%s': something other than a socket is there",
                            uri);
                return -1;
            }
            unlink(addr.sun_path);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
            listen(fd, 64) < 0) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "cannot listen on '%s': %s", uri, g_strerror(errno));
            return -1;
        }
        *unix_path = g_strdup(addr.sun_path);
        return vmig_fd_steal(&fd);
    } else {
        g_autofree char *host = NULL, *port = NULL;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
        struct addrinfo *res = NULL;
        int rc;

        if (!tcp_address(uri + 4, &host, &port, error))
            return -1;
        rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
        if (rc != 0) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "cannot resolve '%s': %s", uri, gai_strerror(rc));
            return -1;
        }
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "cannot listen on '%s': %s", uri, g_strerror(errno));
            freeaddrinfo(res);
            return -1;
        }
        freeaddrinfo(res);
        return vmig_fd_steal(&fd);
    }
}

/* ---- source ---------------------------------------------------------------------- */

static void
source_got_greeting(VmigMigration *m, VmigNegotiateMessage *greeting)
{
    g_autoptr(GError) error = NULL;
    VmigNegotiateMessage *reply;
    const VmigNegotiateFeature *multifd;

    m->peer_offer = greeting;
    reply = vmig_negotiate_select(m->local_offer, greeting, &error);
    if (!reply) {
        migration_fail(m, vmig_negotiate_code_from_error(error), "%s", error->message);
        return;
    }
    m->reply = reply;
    if (!resolve_conflicts(m, reply, &error)) {
        migration_fail(m, VMIG_NEGOTIATE_CODE_FEATURE, "%s", error->message);
        return;
    }
    record_selection(m);
    multifd = vmig_negotiate_message_find_feature(reply, "multifd");
    reply->channels = multifd ? multifd->channels : 0;
    if (multifd)
        reply->channels = MIN(reply->channels, greeting->max_channels);

    if (!vmig_preamble_token_generate(m->token, &error)) {
        migration_fail_error(m, VMIG_NEGOTIATE_CODE_INTERNAL, NULL, error);
        return;
    }
    m->have_token = TRUE;
    memcpy(reply->token, m->token, VMIG_TOKEN_SIZE);
    reply->hypervisor = g_strdup(m->local_offer->hypervisor);
    reply->driver = g_strdup(m->local_offer->driver);

    /* The user's tunables apply on both sides wherever the destination's
     * QEMU has them too (it lists their names in its GREETING). */
    m->peer_tunables = json_object_new();
    for (guint i = 0; i < m->applied->len; i++) {
        AppliedTunable *a = g_ptr_array_index(m->applied, i);
        g_autofree char *json = NULL;
        gboolean has = FALSE;

        for (guint j = 0; j < greeting->tunable_names->len; j++)
            has |= g_str_equal(g_ptr_array_index(greeting->tunable_names, j), a->name);
        if (!has || vmig_feature_find_parameter(a->name))
            continue;
        json = vmig_json_write(a->value, FALSE, NULL);
        vmig_negotiate_message_add_tunable(reply, a->name, json);
        json_object_set_member(m->peer_tunables, a->name, json_node_copy(a->value));
    }
    if (!send_frame(m, reply))
        return;
    arm_handshake_timer(m);

    if (reply->channels == 0) {
        source_proceed_to_commit(m);
        return;
    }
    set_state(m, VMIG_MIGRATION_COLLECTING);
    if (m->uri) {
        /* URI mode: dial the extra channels ourselves. */
        for (guint i = 0; i < reply->channels; i++) {
            int fd = dial(m->uri, &error);

            if (fd < 0) {
                g_debug("%s: extra channel %u: %s", m->id, i, error->message);
                g_clear_error(&error);
                break;
            }
            g_array_append_val(m->channels, fd);
        }
        {
            g_autoptr(GError) add_error = NULL;
            int *fds = g_memdup2(m->channels->data, m->channels->len * sizeof(int));
            gsize n = m->channels->len;

            g_array_set_size(m->channels, 0);
            if (!vmig_migration_add_channels(m->owner, m->id, fds, n, &add_error))
                migration_fail_error(m, VMIG_NEGOTIATE_CODE_CHANNELS, NULL, add_error);
            g_free(fds);
        }
        if (!m->finished && m->state == VMIG_MIGRATION_COLLECTING)
            source_proceed_to_commit(m);
    } else {
        g_autoptr(JsonBuilder) b = event_begin(m);
        g_autofree char *token = NULL;
        GString *hex = g_string_new(NULL);

        for (guint i = 0; i < VMIG_TOKEN_SIZE; i++)
            g_string_append_printf(hex, "%02x", m->token[i]);
        token = g_string_free(hex, FALSE);
        json_builder_set_member_name(b, "count");
        json_builder_add_int_value(b, reply->channels);
        json_builder_set_member_name(b, "token");
        json_builder_add_string_value(b, token);
        json_builder_end_object(b);
        emit(m, "CHANNELS_REQUESTED", b);
        /* Whatever has arrived when the time is up is what we go with. */
        m->channel_timer = mig_timeout(m, m->channel_timeout_ms, on_channel_timeout);
    }
}

static gboolean
on_channel_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->channel_timer, g_source_unref);
    if (m->role == VMIG_ROLE_SOURCE) {
        g_debug("%s: %u of %u channels after the channel timeout", m->id, m->channels_got,
                m->reply->channels);
        source_proceed_to_commit(m);
    } else {
        migration_fail(m, VMIG_NEGOTIATE_CODE_CHANNELS,
                       "only %u of the %u channels the COMMIT announced arrived in time",
                       m->channels_got, m->commit ? m->commit->channels : 0);
    }
    return G_SOURCE_REMOVE;
}

static void source_commit_configured(VmigMigration *m, JsonNode *reply);

/* All channels are in (or the time is up): build the COMMIT, configure QEMU. */
static void
source_proceed_to_commit(VmigMigration *m)
{
    VmigNegotiateMessage *commit;

    if (m->commit || m->finished)
        return;
    source_destroy(&m->channel_timer);
    set_state(m, VMIG_MIGRATION_COMMITTING);
    commit = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_COMMIT);
    commit->channels = m->channels_got;
    for (guint i = 0; i < m->reply->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(m->reply->features, i);
        VmigNegotiateFeature *copy;

        if ((g_str_equal(f->name, "multifd") || g_str_equal(f->name, "multifd-compression")) &&
            commit->channels == 0) {
            if (m->reply->channels > 0)
                add_reason(m->declined, f->name, NULL, "no extra channel was supplied in time");
            continue;
        }
        copy = vmig_negotiate_message_add_feature(commit, vmig_negotiate_feature_copy(f));
        if (g_str_equal(f->name, "multifd"))
            vmig_negotiate_feature_set_channels(copy, commit->channels);
    }
    m->commit = commit;
    record_chosen(m, commit);
    configure_qemu(m, source_commit_configured);
    /* What the destination sets because of the COMMIT, for the record. */
    for (guint i = 0; m->peer_tunables && i < commit->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(commit->features, i);

        if (g_str_equal(f->name, "multifd"))
            json_object_set_int_member(m->peer_tunables, "multifd-channels", commit->channels);
        else if (g_str_equal(f->name, "multifd-compression") && f->algorithms &&
                 f->algorithms->len)
            json_object_set_string_member(m->peer_tunables, "multifd-compression",
                                          g_ptr_array_index(f->algorithms, 0));
    }
}

static void
source_commit_configured(VmigMigration *m, JsonNode *reply)
{
    if (!send_frame(m, m->commit))
        return;
    m->commit_sent = TRUE;
    arm_handshake_timer(m);
    emit_negotiated(m);
}

static gboolean on_outgoing_io(int fd, GIOCondition condition, gpointer user_data);

static void
outgoing_free(Outgoing *o)
{
    source_destroy(&o->source);
    if (o->fd >= 0)
        close(o->fd);
    g_free(o);
}

/* QEMU connected to the private socket: wait for its first bytes. */
static gboolean
on_private_accept(int fd, GIOCondition condition, gpointer user_data)
{
    VmigMigration *m = user_data;

    for (;;) {
        int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        Outgoing *o;

        if (conn < 0)
            break;
        o = g_new0(Outgoing, 1);
        o->m = m;
        o->fd = conn;
        o->source = (mig_watch(m, conn, G_IO_IN, on_outgoing_io, o));
        g_ptr_array_add(m->outgoing, o);
    }
    return G_SOURCE_CONTINUE;
}

/* Classifies one of QEMU's connections by its first four bytes (peeked, so they
 * stay in the socket for the bridge) and bridges it onto its channel. */
static gboolean
on_outgoing_io(int fd, GIOCondition condition, gpointer user_data)
{
    Outgoing *o = user_data;
    VmigMigration *m = o->m;
    guint8 magic[4];
    gssize n = recv(fd, magic, sizeof(magic), MSG_PEEK | MSG_DONTWAIT);
    guint32 value;
    int qemu_fd;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n > 0 && n < 4)
        return G_SOURCE_CONTINUE; /* the rest is on its way */
    g_clear_pointer(&o->source, g_source_unref);
    qemu_fd = o->fd;
    o->fd = -1;
    g_ptr_array_remove(m->outgoing, o);
    if (n <= 0) {
        close(qemu_fd);
        return G_SOURCE_REMOVE;
    }
    value = ((guint32)magic[0] << 24) | (magic[1] << 16) | (magic[2] << 8) | magic[3];
    if (value == QEVM_MAGIC && !m->main_bridged) {
        m->main_bridged = TRUE;
        bridge(m, &qemu_fd, &m->main_fd, "main");
    } else if (value == MULTIFD_MAGIC && m->multifd_bridged < m->channels->len) {
        int *chan = &g_array_index(m->channels, int, m->multifd_bridged);
        g_autofree char *what = g_strdup_printf("multifd%u", m->multifd_bridged);

        m->multifd_bridged++;
        bridge(m, &qemu_fd, chan, what);
    } else {
        g_debug("%s: unexpected connection from QEMU (magic %08x); closed", m->id, value);
        close(qemu_fd);
    }
    if (m->main_bridged && m->multifd_bridged == m->channels->len)
        source_destroy(&m->listen_source);
    return G_SOURCE_REMOVE;
}

static void
source_migrating(VmigMigration *m, JsonNode *reply)
{
    m->qemu_migrating = TRUE;
    start_progress(m);
}

/* ---- libvirt domains ------------------------------------------------------------ */

/*
 * The socket libvirt migrates through ("unix://PATH"): one path on both
 * hosts (in --migration-dir, which must be the same directory name on
 * both), named after a digest of the migration's token, which both
 * drivers know and nobody else does.  The source daemon listens on it;
 * on the destination, the QEMU that libvirt starts does.
 * Returns: the path (to free).
 */
static char *
libvirt_socket_path(VmigMigration *m)
{
    g_autofree char *digest =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, m->token, VMIG_TOKEN_SIZE);

    digest[16] = '\0';
    return g_strdup_printf("%s/vmig-%s.sock", m->owner->daemon->migration_dir, digest);
}

/* libvirt's migration call returned: the source's verdict. */
static void
on_libvirt_migrated(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    gboolean ok = vmig_libvirt_migrate_finish(result, &error);

    m->libvirt_migrating = FALSE;
    if (m->finished)
        return;
    if (ok) {
        migration_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
        return;
    }
    if (m->cancel_requested) {
        migration_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
        return;
    }
    if (!m->main_bridged && m->main_fd >= 0) {
        /* No stream byte went yet: the main channel still carries frames,
         * and libvirt's reason reaches the destination's management app. */
        g_autoptr(VmigNegotiateMessage) frame =
            vmig_negotiate_message_new_error(VMIG_NEGOTIATE_CODE_HYPERVISOR, error->message);
        g_autoptr(GBytes) bytes = vmig_negotiate_encode(frame, NULL);

        if (bytes)
            (void)!send(m->main_fd, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
                        MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    migration_finish(m, VMIG_MIGRATION_FAILED, error->message);
}

static gboolean on_libvirt_progress_timer(gpointer user_data);

/* libvirt's job statistics: MIGRATION_PROGRESS, as QEMU's figures are for bare QEMU. */
static void
on_libvirt_progress(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonBuilder) b = NULL;
    VmigLibvirtProgress p;

    m->progress_pending = FALSE;
    if (m->finished)
        return;
    if (!vmig_libvirt_progress_finish(result, &p, &error)) {
        g_debug("%s: no job statistics: %s", m->id, error->message);
        return;
    }
    if (!p.active || p.total == 0)
        return; /* no job, or libvirt has not started QEMU's migration yet */
    b = event_begin(m);
    json_builder_set_member_name(b, "status");
    json_builder_add_string_value(b, "active");
    json_builder_set_member_name(b, "transferred");
    json_builder_add_int_value(b, (gint64)MIN(p.transferred, (guint64)G_MAXINT64));
    json_builder_set_member_name(b, "remaining");
    json_builder_add_int_value(b, (gint64)MIN(p.remaining, (guint64)G_MAXINT64));
    json_builder_set_member_name(b, "total");
    json_builder_add_int_value(b, (gint64)MIN(p.total, (guint64)G_MAXINT64));
    json_builder_set_member_name(b, "throughput");
    json_builder_add_int_value(b, (gint64)MIN(p.throughput, (guint64)G_MAXINT64));
    json_builder_set_member_name(b, "expected-downtime");
    json_builder_add_int_value(b, p.downtime);
    json_builder_end_object(b);
    emit(m, "MIGRATION_PROGRESS", b);
}

static gboolean
on_libvirt_progress_timer(gpointer user_data)
{
    VmigMigration *m = user_data;

    if (!m->progress_pending && !m->finished && m->libvirt_migrating) {
        m->progress_pending = TRUE;
        vmig_libvirt_progress_async(m->domain, mig_context(m), on_libvirt_progress,
                                    mig_ref(m));
    }
    return G_SOURCE_CONTINUE;
}

/*
 * READY on the source of a libvirt domain: listen on the migration socket
 * (libvirtd, or QEMU itself with parallel connections, connects there;
 * the connections are classified and bridged as QEMU's are), then ask
 * libvirt to migrate peer to peer through it.
 */
static void
source_ready_libvirt(VmigMigration *m)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) caps = json_object_new();
    VmigLibvirtMigration *spec;
    g_autofree char *uri = NULL;
    g_autofree char *path = NULL;
    struct stat dir;

    main_channel_stop(m);
    m->libvirt_socket = libvirt_socket_path(m);
    uri = g_strdup_printf("unix:%s", m->libvirt_socket);
    m->listen_fd = listen_on(uri, &m->listen_path, &error);
    if (m->listen_fd < 0) {
        migration_fail_error(m, 0, NULL, error);
        return;
    }
    /* libvirtd and QEMU run as the migration directory's owner (a session
     * libvirt's user, or qemu): the socket is theirs to connect to. */
    if (stat(m->owner->daemon->migration_dir, &dir) == 0 && dir.st_uid != geteuid() &&
        (chown(m->libvirt_socket, dir.st_uid, dir.st_gid) < 0 ||
         chmod(m->libvirt_socket, 0600) < 0))
        g_debug("%s: cannot hand '%s' to uid %u: %s", m->id, m->libvirt_socket,
                (guint)dir.st_uid, g_strerror(errno));
    m->outgoing = g_ptr_array_new_with_free_func((GDestroyNotify)outgoing_free);
    m->listen_source = mig_watch(m, m->listen_fd, G_IO_IN, on_private_accept, m);

    for (guint i = 0; i < m->commit->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(m->commit->features, i);
        const VmigFeatureInfo *info = vmig_feature_find(f->name);

        if (info && info->capability && applies_here(m, info))
            json_object_set_boolean_member(caps, info->capability, TRUE);
    }
    for (guint i = 0; i < m->applied->len; i++) {
        AppliedTunable *a = g_ptr_array_index(m->applied, i);

        if (a->tunable->kind == VMIG_TUNABLE_KIND_CAPABILITY)
            json_object_set_member(caps, a->name, json_node_copy(a->value));
    }
    spec = g_new0(VmigLibvirtMigration, 1);
    spec->domain = g_strdup(m->domain);
    spec->dest_uri = g_strdup(m->libvirt_dest);
    spec->migrate_uri = g_strdup_printf("unix://%s", m->libvirt_socket);
    spec->capabilities = json_object_ref(caps);
    spec->parameters = parameters_args(m);
    spec->persistent = m->persistent;
    spec->undefine_source = m->undefine_source;
    m->libvirt_migrating = TRUE;
    set_state(m, VMIG_MIGRATION_MIGRATING);
    vmig_libvirt_migrate_async(spec, mig_context(m), on_libvirt_migrated, mig_ref(m));
    m->progress_timer = mig_timeout(m, PROGRESS_INTERVAL_MS, on_libvirt_progress_timer);
}

/* READY: start QEMU's migration, over the main channel's fd itself when
 * there are no extra channels, else through the private socket. */
static void
source_ready(VmigMigration *m)
{
    if (m->libvirt) {
        source_ready_libvirt(m);
        return;
    }
    main_channel_stop(m);
    if (m->commit->channels == 0) {
        g_autofree char *name = g_strdup_printf("vmig-%s", m->id);
        g_autofree char *uri = g_strdup_printf("fd:%s", name);
        JsonObject *args = json_object_new();

        /* The QMP client sends a copy of the fd with getfd; migrate follows
         * at once (QEMU answers in order). */
        json_object_set_string_member(args, "fdname", name);
        qmp_step(m, "getfd", args, &m->main_fd, 1, "cannot hand the channel to QEMU", NULL);
        close(m->main_fd);
        m->main_fd = -1;
        args = json_object_new();
        json_object_set_string_member(args, "uri", uri);
        qmp_step(m, "migrate", args, NULL, 0, "QEMU refused to migrate", source_migrating);
    } else {
        g_autoptr(GError) error = NULL;
        g_autofree char *uri = NULL;
        g_autofree char *path = NULL;
        JsonObject *args;

        m->private_path = g_strdup_printf("%s/%s-out.sock", m->owner->daemon->runtime_dir,
                                          m->id);
        uri = g_strdup_printf("unix:%s", m->private_path);
        m->listen_fd = listen_on(uri, &path, &error);
        if (m->listen_fd < 0) {
            migration_fail_error(m, 0, NULL, error);
            return;
        }
        m->outgoing = g_ptr_array_new_with_free_func((GDestroyNotify)outgoing_free);
        m->listen_source = (mig_watch(m, m->listen_fd, G_IO_IN, on_private_accept, m));
        args = json_object_new();
        json_object_set_string_member(args, "uri", uri);
        qmp_step(m, "migrate", args, NULL, 0, "QEMU refused to migrate", source_migrating);
    }
}

/* ---- destination ------------------------------------------------------------------ */

static void destination_configured(VmigMigration *m, JsonNode *reply);

/* A channel arrived with a preamble matching this migration's token. */
static void
destination_channel(VmigMigration *m, int fd, guint index)
{
    int *slot;

    if (!m->reply || index >= m->reply->channels) {
        g_debug("%s: channel index %u out of range; closed", m->id, index);
        close(fd);
        return;
    }
    if (m->channels->len < m->reply->channels) {
        int none = -1;

        while (m->channels->len < m->reply->channels)
            g_array_append_val(m->channels, none);
    }
    slot = &g_array_index(m->channels, int, index);
    if (*slot >= 0) {
        g_debug("%s: channel index %u came twice; the second is closed", m->id, index);
        close(fd);
        return;
    }
    *slot = fd;
    m->channels_got++;
    destination_try_configure(m);
}

/* Checks a held channel's token, now that the REPLY named it. */
static void
pending_match(Pending *p)
{
    VmigMigration *m = p->m;
    int fd = p->fd;

    if (!vmig_preamble_token_equal(p->preamble.token, m->token)) {
        g_debug("%s: a channel with a wrong token was dropped", m->id);
        close(fd);
    } else {
        destination_channel(m, fd, p->preamble.index);
    }
    p->fd = -1;
}

static void
pending_free(Pending *p)
{
    source_destroy(&p->source);
    source_destroy(&p->timeout);
    if (p->fd >= 0)
        close(p->fd);
    g_free(p);
}

static gboolean
on_pending_timeout(gpointer user_data)
{
    Pending *p = user_data;

    g_clear_pointer(&p->timeout, g_source_unref);
    g_debug("%s: a connection said nothing useful in time; dropped", p->m->id);
    g_ptr_array_remove(p->m->pending, p);
    return G_SOURCE_REMOVE;
}

/* Reads a connection's opener and preamble, exactly, and decides what it is. */
static gboolean
on_pending_io(int fd, GIOCondition condition, gpointer user_data)
{
    Pending *p = user_data;
    VmigMigration *m = p->m;
    gsize want = p->have < VMIG_PREAMBLE_MAGIC_SIZE ? VMIG_PREAMBLE_MAGIC_SIZE - p->have
                                                    : VMIG_PREAMBLE_SIZE - p->have;
    gssize n = recv(fd, p->buf + p->have, want, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        g_clear_pointer(&p->source, g_source_unref);
        g_ptr_array_remove(m->pending, p);
        return G_SOURCE_REMOVE;
    }
    p->have += n;
    if (p->have == VMIG_PREAMBLE_MAGIC_SIZE) {
        VmigPreambleKind kind = vmig_preamble_classify(p->buf);

        if (kind == VMIG_PREAMBLE_KIND_MAIN && p->opener_only && m->main_fd < 0 &&
            m->state == VMIG_MIGRATION_WAITING) {
            int main_fd = p->fd;

            memcpy(m->opener, p->buf, VMIG_PREAMBLE_MAGIC_SIZE);
            p->fd = -1;
            g_clear_pointer(&p->source, g_source_unref);
            g_ptr_array_remove(m->pending, p); /* frees p */
            m->opener_have = VMIG_PREAMBLE_MAGIC_SIZE;
            m->handshake_start = g_get_monotonic_time();
            m->bytes_received += VMIG_PREAMBLE_MAGIC_SIZE;
            main_channel_start(m, main_fd);
            set_state(m, VMIG_MIGRATION_NEGOTIATING);
            if (send_frame(m, m->local_offer))
                arm_handshake_timer(m);
            return G_SOURCE_REMOVE;
        }
        if (kind != VMIG_PREAMBLE_KIND_CHANNEL) {
            g_debug("%s: a connection opened with %02x%02x%02x%02x; dropped", m->id, p->buf[0],
                    p->buf[1], p->buf[2], p->buf[3]);
            g_clear_pointer(&p->source, g_source_unref);
            g_ptr_array_remove(m->pending, p);
            return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
    }
    if (p->have == VMIG_PREAMBLE_SIZE) {
        g_autoptr(GError) error = NULL;

        g_clear_pointer(&p->source, g_source_unref);
        if (!vmig_preamble_decode(p->buf, p->have, &p->preamble, &error)) {
            g_debug("%s: %s; dropped", m->id, error->message);
            g_ptr_array_remove(m->pending, p);
            return G_SOURCE_REMOVE;
        }
        source_destroy(&p->timeout);
        if (m->have_token) {
            pending_match(p);
            g_ptr_array_remove(m->pending, p);
        }
        /* else: held until the REPLY names the token */
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* Starts reading a connection's first bytes (@fd consumed). */
static void
pending_add(VmigMigration *m, int fd, gboolean from_listener)
{
    Pending *p = g_new0(Pending, 1);

    p->m = m;
    p->fd = fd;
    p->opener_only = from_listener;
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    p->source = mig_watch(m, fd, G_IO_IN, on_pending_io, p);
    p->timeout = g_timeout_source_new(PENDING_TIMEOUT_MS);
    g_source_set_callback(p->timeout, on_pending_timeout, p, NULL);
    g_source_attach(p->timeout, mig_context(m));
    g_ptr_array_add(m->pending, p);
}

static gboolean
on_listen_accept(int fd, GIOCondition condition, gpointer user_data)
{
    VmigMigration *m = user_data;

    for (;;) {
        int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (conn < 0)
            break;
        pending_add(m, conn, TRUE);
    }
    return G_SOURCE_CONTINUE;
}

static void
destination_got_reply(VmigMigration *m, VmigNegotiateMessage *reply)
{
    g_autoptr(GError) error = NULL;

    if (!vmig_negotiate_check_reply(m->local_offer, reply, &error)) {
        vmig_negotiate_message_free(reply);
        migration_fail(m, vmig_negotiate_code_from_error(error), "%s", error->message);
        return;
    }
    m->reply = reply;
    memcpy(m->token, reply->token, VMIG_TOKEN_SIZE);
    m->have_token = TRUE;

    /* The tunables the source asks for: each must exist here and parse. */
    for (guint i = 0; i < reply->tunables->len; i++) {
        const VmigNegotiateTunable *t = g_ptr_array_index(reply->tunables, i);
        const VmigTunable *tunable = vmig_catalog_lookup(m->catalog, t->name);
        g_autoptr(JsonNode) value = json_from_string(t->value, NULL);
        AppliedTunable *a;

        if (!tunable || !value || tunable->feature) {
            migration_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                           "the source asks to set tunable '%s' to '%s', which this "
                           "destination cannot",
                           t->name, t->value);
            return;
        }
        a = g_new0(AppliedTunable, 1);
        a->tunable = tunable;
        a->name = g_strdup(t->name);
        a->value = g_steal_pointer(&value);
        a->text = g_strdup(t->value);
        g_ptr_array_add(m->applied, a);
    }
    for (guint i = 0; i < m->local_offer->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(m->local_offer->features, i);

        if (!vmig_negotiate_message_find_feature(reply, f->name))
            add_reason(m->declined, f->name, NULL, "not selected by the source");
    }
    set_state(m, VMIG_MIGRATION_COLLECTING);
    /* Channels that came before their REPLY: match them now. */
    for (guint i = m->pending->len; i > 0; i--) {
        Pending *p = g_ptr_array_index(m->pending, i - 1);

        if (p->have == VMIG_PREAMBLE_SIZE && !p->source) {
            pending_match(p);
            g_ptr_array_remove_index(m->pending, i - 1);
        }
    }
    arm_handshake_timer(m);
}

static void
destination_got_commit(VmigMigration *m, VmigNegotiateMessage *commit)
{
    g_autoptr(GError) error = NULL;

    if (!vmig_negotiate_check_commit(m->local_offer, m->reply, commit, &error)) {
        vmig_negotiate_message_free(commit);
        migration_fail(m, vmig_negotiate_code_from_error(error), "%s", error->message);
        return;
    }
    m->commit = commit;
    record_chosen(m, commit);
    set_state(m, VMIG_MIGRATION_COMMITTING);
    emit_negotiated(m);
    source_destroy(&m->handshake_timer);
    if (m->channels_got < commit->channels)
        m->channel_timer = (mig_timeout(m, m->channel_timeout_ms, on_channel_timeout));
    destination_try_configure(m);
}

/* Once the COMMIT is in and every channel it announced has arrived. */
static void
destination_try_configure(VmigMigration *m)
{
    if (m->finished || !m->commit || m->state != VMIG_MIGRATION_COMMITTING)
        return;
    for (guint i = 0; i < m->commit->channels; i++) {
        if (i >= m->channels->len || g_array_index(m->channels, int, i) < 0)
            return;
    }
    if (m->configuring)
        return;
    m->configuring = TRUE;
    source_destroy(&m->channel_timer);
    configure_qemu(m, destination_configured);
}

static void
destination_send_ready(VmigMigration *m)
{
    g_autoptr(VmigNegotiateMessage) ready = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_READY);
    g_autoptr(GBytes) bytes = vmig_negotiate_encode(ready, NULL);

    /* The last frame: written in full before the fd becomes QEMU's. */
    if (m->out->len)
        main_channel_flush(m);
    main_channel_stop(m);
    if (write(m->main_fd, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes)) !=
        (gssize)g_bytes_get_size(bytes)) {
        migration_fail(m, 0, "cannot send READY: %s", g_strerror(errno));
        return;
    }
    m->bytes_sent += g_bytes_get_size(bytes);
}

/*
 * Bridges the main channel onto @main_conn (consumed), a connection to the
 * destination QEMU listening at @uri, then dials that QEMU once per extra
 * channel and bridges each: main first, as QEMU takes the first
 * connection it accepts as the main one.
 * Returns: TRUE, or FALSE with @m failed.
 */
static gboolean
bridge_to_qemu(VmigMigration *m, const char *uri, int *main_conn)
{
    g_autoptr(GError) error = NULL;

    if (!bridge(m, &m->main_fd, main_conn, "main"))
        return FALSE;
    for (guint i = 0; i < m->commit->channels; i++) {
        int *chan = &g_array_index(m->channels, int, i);
        g_autofree char *what = g_strdup_printf("multifd%u", i);
        int conn = dial(uri, &error);

        if (conn < 0) {
            migration_fail_error(m, 0, "cannot reach the destination QEMU", error);
            return FALSE;
        }
        if (!bridge(m, chan, &conn, what))
            return FALSE;
    }
    return TRUE;
}

static void
destination_incoming(VmigMigration *m, JsonNode *reply)
{
    m->qemu_migrating = TRUE;
    if (m->commit->channels == 0) {
        /* QEMU reads the main channel's fd itself. */
        destination_send_ready(m);
        if (m->finished)
            return;
        close(m->main_fd);
        m->main_fd = -1;
    } else {
        g_autoptr(GError) error = NULL;
        g_autofree char *uri = g_strdup_printf("unix:%s", m->private_path);
        int conn;

        /* Main first: QEMU takes the first connection it accepts as the main one. */
        conn = dial(uri, &error);
        if (conn < 0) {
            migration_fail_error(m, 0, "cannot reach the destination QEMU", error);
            return;
        }
        destination_send_ready(m);
        if (m->finished) {
            close(conn);
            return;
        }
        if (!bridge_to_qemu(m, uri, &conn))
            return;
    }
    start_progress(m);
}

/* The destination domain's state, asked once the streams have ended. */
static void
on_libvirt_checked(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;

    if (m->finished)
        return;
    if (vmig_libvirt_check_running_finish(result, &error)) {
        migration_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
    } else if (g_error_matches(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_INACTIVE) &&
               g_get_monotonic_time() < m->libvirt_deadline) {
        /* Still being finished by libvirt: ask again. */
        m->libvirt_timer = mig_timeout(m, LIBVIRT_POLL_MS, on_libvirt_check);
    } else {
        migration_fail(m, 0, "the destination libvirt did not bring the domain up: %s",
                       error->message);
    }
}

static gboolean
on_libvirt_check(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->libvirt_timer, g_source_unref);
    vmig_libvirt_check_running_async(m->domain, mig_context(m), on_libvirt_checked,
                                     mig_ref(m));
    return G_SOURCE_REMOVE;
}

/*
 * The destination of a libvirt domain, after READY: the QEMU that the
 * destination libvirt starts listens on the migration socket; connect the
 * main channel to it as soon as it does, then every extra channel.
 * Returns: G_SOURCE_REMOVE (it re-arms itself while QEMU is not there).
 */
static gboolean
on_libvirt_dial(gpointer user_data)
{
    VmigMigration *m = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *uri = g_strdup_printf("unix:%s", m->libvirt_socket);
    int conn;

    g_clear_pointer(&m->libvirt_timer, g_source_unref);
    conn = dial(uri, &error);
    if (conn < 0) {
        if (g_get_monotonic_time() < m->libvirt_deadline) {
            m->libvirt_timer = mig_timeout(m, LIBVIRT_POLL_MS, on_libvirt_dial);
            return G_SOURCE_REMOVE;
        }
        migration_fail_error(m, 0, "the destination libvirt's QEMU never listened", error);
        return G_SOURCE_REMOVE;
    }
    source_destroy(&m->libvirt_main_watch);
    if (bridge_to_qemu(m, uri, &conn))
        set_state(m, VMIG_MIGRATION_MIGRATING);
    return G_SOURCE_REMOVE;
}

/*
 * The destination's main channel between READY and the stream: the source
 * driver may still say, with an ERROR frame, that libvirt refused (its
 * reason becomes ours), or close it.  The first stream bytes end the
 * watch: they stay in the socket for the bridge.
 * Returns: whether to keep watching.
 */
static gboolean
on_libvirt_main_io(int fd, GIOCondition condition, gpointer user_data)
{
    VmigMigration *m = user_data;
    guint8 head[4];
    gssize n = recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (!m->libvirt_frame && n > 0 && n < (gssize)sizeof(head) && !(condition & G_IO_HUP))
        return G_SOURCE_CONTINUE;
    if (!m->libvirt_frame && n == (gssize)sizeof(head) &&
        (((guint32)head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) !=
            VMIG_NEGOTIATE_MAGIC) {
        g_clear_pointer(&m->libvirt_main_watch, g_source_unref);
        return G_SOURCE_REMOVE; /* the stream */
    }
    if (n > 0) {
        guint8 buf[4096];
        gsize want = MIN(sizeof(buf), vmig_negotiate_decoder_wanted(m->decoder));
        g_autoptr(GError) error = NULL;
        VmigNegotiateMessage *msg = NULL;
        gsize consumed = 0;

        m->libvirt_frame = TRUE;
        n = recv(fd, buf, want, MSG_DONTWAIT);
        if (n > 0 && vmig_negotiate_decoder_feed(m->decoder, buf, n, &consumed, &msg,
                                                 &error) != VMIG_NEGOTIATE_STATUS_FRAME) {
            if (!error)
                return G_SOURCE_CONTINUE; /* the rest of the frame is on its way */
            g_clear_pointer(&m->libvirt_main_watch, g_source_unref);
            migration_finish(m, VMIG_MIGRATION_FAILED, error->message);
            return G_SOURCE_REMOVE;
        }
        if (msg) {
            g_autofree char *reason = g_strdup(msg->type == VMIG_NEGOTIATE_FRAME_ERROR
                                                   ? msg->message
                                                   : "an unexpected frame after READY");

            vmig_negotiate_message_free(msg);
            g_clear_pointer(&m->libvirt_main_watch, g_source_unref);
            migration_finish(m, VMIG_MIGRATION_FAILED, reason);
            return G_SOURCE_REMOVE;
        }
    }
    g_clear_pointer(&m->libvirt_main_watch, g_source_unref);
    migration_finish(m, VMIG_MIGRATION_FAILED,
                     "the source driver closed the main channel before libvirt's stream");
    return G_SOURCE_REMOVE;
}

static void
destination_configured_libvirt(VmigMigration *m)
{
    m->libvirt_socket = libvirt_socket_path(m);
    destination_send_ready(m);
    if (m->finished)
        return;
    m->libvirt_main_watch =
        mig_watch(m, m->main_fd, G_IO_IN | G_IO_HUP, on_libvirt_main_io, m);
    m->libvirt_deadline = g_get_monotonic_time() + (gint64)LIBVIRT_WAIT_MS * 1000;
    m->libvirt_timer = mig_timeout(m, 0, on_libvirt_dial);
}

static void
destination_configured(VmigMigration *m, JsonNode *reply)
{
    JsonObject *args;

    if (m->libvirt) {
        destination_configured_libvirt(m);
        return;
    }
    args = json_object_new();

    if (m->commit->channels == 0) {
        g_autofree char *name = g_strdup_printf("vmig-%s", m->id);
        g_autofree char *uri = g_strdup_printf("fd:%s", name);

        json_object_set_string_member(args, "fdname", name);
        qmp_step(m, "getfd", args, &m->main_fd, 1, "cannot hand the channel to QEMU", NULL);
        args = json_object_new();
        json_object_set_string_member(args, "uri", uri);
        qmp_step(m, "migrate-incoming", args, NULL, 0, "QEMU refused the incoming migration",
                 destination_incoming);
    } else {
        g_autofree char *uri = NULL;

        m->private_path = g_strdup_printf("%s/%s-in.sock", m->owner->daemon->runtime_dir, m->id);
        unlink(m->private_path);
        uri = g_strdup_printf("unix:%s", m->private_path);
        json_object_set_string_member(args, "uri", uri);
        qmp_step(m, "migrate-incoming", args, NULL, 0, "QEMU refused the incoming migration",
                 destination_incoming);
    }
}

/* ---- frames ------------------------------------------------------------------------- */

/* Dispatches a frame (@msg consumed) by role and state. */
static void
frame_received(VmigMigration *m, VmigNegotiateMessage *msg)
{
    VmigNegotiateFrameType expected;

    if (msg->type == VMIG_NEGOTIATE_FRAME_ERROR) {
        /* The peer refused: its reason is ours, word for word. */
        g_autofree char *reason = g_strdup(msg->message);

        vmig_negotiate_message_free(msg);
        migration_finish(m, VMIG_MIGRATION_FAILED, reason);
        return;
    }
    if (m->role == VMIG_ROLE_SOURCE)
        expected = !m->peer_offer    ? VMIG_NEGOTIATE_FRAME_GREETING
                   : m->commit_sent ? VMIG_NEGOTIATE_FRAME_READY
                                    : VMIG_NEGOTIATE_FRAME_LAST;
    else
        expected = !m->reply    ? VMIG_NEGOTIATE_FRAME_REPLY
                   : !m->commit ? VMIG_NEGOTIATE_FRAME_COMMIT
                                : VMIG_NEGOTIATE_FRAME_LAST;
    if (msg->type != expected) {
        migration_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                       "unexpected %s frame from the peer driver (state %s)",
                       vmig_negotiate_frame_type_to_string(msg->type), state_names[m->state]);
        vmig_negotiate_message_free(msg);
        return;
    }
    switch (msg->type) {
    case VMIG_NEGOTIATE_FRAME_GREETING:
        source_got_greeting(m, msg);
        break;
    case VMIG_NEGOTIATE_FRAME_REPLY:
        destination_got_reply(m, msg);
        break;
    case VMIG_NEGOTIATE_FRAME_COMMIT:
        destination_got_commit(m, msg);
        break;
    case VMIG_NEGOTIATE_FRAME_READY:
        vmig_negotiate_message_free(msg);
        source_ready(m);
        break;
    default:
        vmig_negotiate_message_free(msg);
        g_assert_not_reached();
    }
}

/* ---- the daemon's migrations ------------------------------------------------------ */

VmigMigrations *
vmig_migrations_new(VmigDaemon *daemon)
{
    VmigMigrations *ms = g_new0(VmigMigrations, 1);

    ms->daemon = daemon;
    ms->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)mig_unref);
    ms->order = g_ptr_array_new();
    return ms;
}

void
vmig_migrations_free(VmigMigrations *ms)
{
    if (!ms)
        return;
    for (guint i = 0; i < ms->order->len; i++) {
        VmigMigration *m = g_ptr_array_index(ms->order, i);

        if (!m->finished)
            migration_fail(m, VMIG_NEGOTIATE_CODE_CANCELLED, "the daemon is shutting down");
        if (m->bridges)
            g_ptr_array_set_size(m->bridges, 0);
    }
    g_ptr_array_unref(ms->order);
    g_hash_table_unref(ms->by_id);
    g_free(ms);
}

/* Returns: migration @id, or NULL with NOT_FOUND in @error. */
static VmigMigration *
lookup(VmigMigrations *ms, const char *id, GError **error)
{
    VmigMigration *m = g_hash_table_lookup(ms->by_id, id);

    if (!m)
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_NOT_FOUND,
                    "no migration '%s'", id);
    return m;
}

/* Forgets @m, which failed before its id was ever given out. */
static void
forget(VmigMigration *m)
{
    g_ptr_array_remove(m->owner->order, m);
    g_hash_table_remove(m->owner->by_id, m->id);
}

/* Answers the start command with @m's id: from here on events report it. */
static void
answer_start(VmigMigration *m)
{
    GTask *task = g_steal_pointer(&m->start_task);

    g_task_return_pointer(task, g_strdup(m->id), g_free);
    g_object_unref(task);
    notify(m); /* the D-Bus service's first look at it */
}

/* Fails the start command with @error; @m is forgotten. */
static void
refuse_start(VmigMigration *m, const GError *error)
{
    GTask *task = g_steal_pointer(&m->start_task);

    m->finished = TRUE;
    migration_release(m);
    g_task_return_error(task, g_error_copy(error));
    g_object_unref(task);
    forget(m);
}

/* Parses the user's NAME=VALUE tunables against the local catalog. */
static gboolean
parse_tunables(VmigMigration *m, GError **error)
{
    for (guint i = 0; m->tunable_args && m->tunable_args[i]; i++) {
        const VmigTunable *tunable = NULL;
        JsonNode *value = NULL;
        AppliedTunable *a;

        if (!vmig_tunable_parse(m->catalog, m->tunable_args[i],
                                m->unstable ? VMIG_TUNABLE_PARSE_UNSTABLE : 0, &tunable, &value,
                                error))
            return FALSE;
        a = find_applied(m, tunable->name);
        if (a) {
            json_node_unref(a->value);
            g_free(a->text);
        } else {
            a = g_new0(AppliedTunable, 1);
            a->name = g_strdup(tunable->name);
            g_ptr_array_add(m->applied, a);
        }
        a->tunable = tunable;
        a->value = value;
        a->text = g_strdup(strchr(m->tunable_args[i], '=') + 1);
    }
    /* --channels wins; else multifd-channels says how many to ask for. */
    if (m->requested_channels == 0 && find_applied(m, "multifd-channels")) {
        gint64 n = json_node_get_int(find_applied(m, "multifd-channels")->value);

        if (n < 0 || n > 255) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "multifd-channels must be 0 to 255, not %" G_GINT64_FORMAT, n);
            return FALSE;
        }
        m->requested_channels = n;
    }
    return TRUE;
}

static void start_checked(VmigMigration *m);

static void
on_status(VmigMigration *m, JsonNode *reply)
{
    const char *status = JSON_NODE_HOLDS_OBJECT(reply)
                             ? json_object_get_string_member_with_default(
                                   json_node_get_object(reply), "status", "")
                             : "";
    g_autoptr(GError) error = NULL;

    if (m->role == VMIG_ROLE_DESTINATION && !g_str_equal(status, "inmigrate"))
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "domain '%s' is not waiting for an incoming migration (status '%s'; "
                    "start its QEMU with -incoming defer)",
                    m->domain, status);
    else if (m->role == VMIG_ROLE_SOURCE && !g_str_equal(status, "running") &&
             !g_str_equal(status, "paused"))
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "domain '%s' cannot be migrated in status '%s'", m->domain, status);
    if (error) {
        refuse_start(m, error);
        return;
    }
    start_checked(m);
}

/*
 * The domain is introspected and in a state to migrate: check the
 * request against its catalog, and go.
 */
static void
start_checked(VmigMigration *m)
{
    g_autoptr(GError) error = NULL;

    if (m->role == VMIG_ROLE_SOURCE)
        parse_tunables(m, &error);
    if (!error)
        build_offer(m, &error);
    if (!error && m->role == VMIG_ROLE_DESTINATION && m->uri) {
        m->listen_fd = listen_on(m->uri, &m->listen_path, &error);
        if (m->listen_fd >= 0)
            m->listen_source = mig_watch(m, m->listen_fd, G_IO_IN, on_listen_accept, m);
    }
    if (error) {
        refuse_start(m, error);
        return;
    }

    if (m->role == VMIG_ROLE_DESTINATION) {
        set_state(m, VMIG_MIGRATION_WAITING);
        answer_start(m);
        if (m->request_fd >= 0) {
            main_channel_start(m, m->request_fd);
            m->request_fd = -1;
        }
        return;
    }

    if (m->uri) {
        int fd;

        set_state(m, VMIG_MIGRATION_CONNECTING);
        fd = dial(m->uri, &error);
        if (fd < 0) {
            refuse_start(m, error);
            return;
        }
        main_channel_start(m, fd);
    } else {
        main_channel_start(m, m->request_fd);
        m->request_fd = -1;
    }
    answer_start(m);
    {
        guint8 opener[VMIG_PREAMBLE_MAGIC_SIZE];

        vmig_preamble_encode_main(opener);
        m->handshake_start = g_get_monotonic_time();
        set_state(m, VMIG_MIGRATION_NEGOTIATING);
        send_raw(m, opener, sizeof(opener));
        arm_handshake_timer(m);
    }
}

static void
on_opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    VmigQmp *qmp = NULL;

    m->catalog = vmig_hypervisor_open_finish(result, &qmp, &error);
    if (!m->catalog) {
        refuse_start(m, error);
        return;
    }
    m->qmp = qmp;
    m->qmp_closed_handler = g_signal_connect(qmp, "closed", G_CALLBACK(on_qmp_closed), m);
    qmp_step(m, "query-status", NULL, NULL, 0, "cannot read the domain's status", on_status);
}

/* A libvirt domain was introspected (source) or its emulator probed (destination). */
static void
on_libvirt_opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;

    m->catalog = m->role == VMIG_ROLE_SOURCE
                     ? vmig_libvirt_introspect_finish(result, NULL, &error)
                     : vmig_probe_emulator_finish(result, &error);
    if (!m->catalog) {
        refuse_start(m, error);
        return;
    }
    start_checked(m);
}

/* The destination libvirt named its default emulator: probe it. */
static void
on_emulator_found(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *emulator = vmig_libvirt_default_emulator_finish(result, &error);

    if (!emulator) {
        refuse_start(m, error);
        return;
    }
    vmig_probe_emulator_async(emulator, m->owner->daemon->context,
                              m->owner->daemon->qmp_timeout_ms, NULL, on_libvirt_opened,
                              mig_ref(m));
}

/*
 * Starts reading a libvirt domain's catalog: through libvirt on the
 * source; on the destination, where the domain does not run yet, from the
 * emulator its XML names.  Returns: TRUE, or FALSE with @error.
 */
static gboolean
start_libvirt(VmigMigration *m, GError **error)
{
    VmigDaemon *daemon = m->owner->daemon;
    g_autoptr(VmigDomainInfo) info = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *name = NULL;

    if (!vmig_libvirt_parse_domain(m->domain, &uri, &name, error))
        return FALSE;
    if (m->role == VMIG_ROLE_SOURCE) {
        if (!m->libvirt_dest) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "a libvirt domain migrates to a libvirt: give libvirt-dest, the "
                        "destination libvirt's URI");
            return FALSE;
        }
        vmig_libvirt_introspect_async(m->domain, daemon->context, NULL, on_libvirt_opened,
                                      mig_ref(m));
        return TRUE;
    }
    if (!m->domain_xml) {
        /* No XML at hand: the emulator this libvirt would start it with. */
        vmig_libvirt_default_emulator_async(m->domain, daemon->context, on_emulator_found,
                                            mig_ref(m));
        return TRUE;
    }
    info = vmig_xml_domain_parse(m->domain_xml, strlen(m->domain_xml), error);
    if (!info) {
        g_prefix_error(error, "domain-xml: ");
        return FALSE;
    }
    if (!info->emulator) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "domain-xml of '%s' names no emulator (devices/emulator)", info->name);
        return FALSE;
    }
    vmig_probe_emulator_async(info->emulator, daemon->context, daemon->qmp_timeout_ms, NULL,
                              on_libvirt_opened, mig_ref(m));
    return TRUE;
}

/* Starts a migration; see migration.h. */
void
vmig_migration_start_async(VmigMigrations *ms, VmigRole role, VmigMigrationRequest *request,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(VmigMigrationRequest) req = request;
    VmigDaemon *daemon = ms->daemon;
    VmigMigration *m = g_new0(VmigMigration, 1);
    g_autoptr(GError) error = NULL;

    m->refs = 1;
    m->owner = ms;
    m->id = g_strdup_printf("m%u", ++ms->next_id);
    m->role = role;
    m->state = VMIG_MIGRATION_INTROSPECTING;
    m->domain = g_steal_pointer(&req->domain);
    m->uri = g_steal_pointer(&req->uri);
    m->request_fd = req->main_fd;
    req->main_fd = -1;
    m->requested_channels = req->channels;
    m->tunable_args = g_steal_pointer(&req->tunables);
    m->unstable = req->unstable;
    m->no_features = g_steal_pointer(&req->no_features);
    m->require_features = g_steal_pointer(&req->require_features);
    m->channel_timeout_ms = req->channel_timeout_ms ? req->channel_timeout_ms
                                                    : daemon->channel_timeout_ms;
    m->max_channels = req->max_channels ? req->max_channels : DEFAULT_MAX_CHANNELS;
    m->resume = req->resume;
    m->libvirt = vmig_libvirt_is_domain(m->domain);
    m->libvirt_dest = g_steal_pointer(&req->libvirt_dest);
    m->persistent = req->persistent;
    m->undefine_source = req->undefine_source;
    m->domain_xml = g_steal_pointer(&req->domain_xml);
    m->main_fd = -1;
    m->listen_fd = -1;
    m->out = g_byte_array_new();
    m->applied = g_ptr_array_new_with_free_func((GDestroyNotify)applied_free);
    m->chosen = json_array_new();
    m->declined = json_array_new();
    m->pending = g_ptr_array_new_with_free_func((GDestroyNotify)pending_free);
    m->channels = g_array_new(FALSE, FALSE, sizeof(int));
    m->bridges = g_ptr_array_new_with_free_func((GDestroyNotify)vmig_bridge_free);

    g_main_context_push_thread_default(daemon->context);
    m->start_task = g_task_new(NULL, NULL, callback, user_data);
    g_main_context_pop_thread_default(daemon->context);
    g_hash_table_insert(ms->by_id, m->id, m);
    g_ptr_array_add(ms->order, m);

    if (m->request_fd >= 0 && m->uri) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "give either a URI or a main channel fd, not both");
    } else if (m->request_fd < 0 && !m->uri) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "%s needs a URI (%s) or a main channel fd attached",
                    role == VMIG_ROLE_SOURCE ? "migrate" : "prepare-incoming",
                    role == VMIG_ROLE_SOURCE ? "dest" : "listen");
    } else if (m->uri && !check_uri(m->uri, &error)) {
        /* error set */
    } else if (m->request_fd >= 0 && !vmig_fdpass_check_stream_socket(m->request_fd, &error)) {
        g_prefix_error(&error, "the main channel: ");
    } else if (!check_feature_names(m->no_features, "no-features", &error) ||
               !check_feature_names(m->require_features, "require-features", &error)) {
        /* error set */
    } else if (role == VMIG_ROLE_SOURCE && req->channels > 255) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "channels must be 0 to 255, not %u", req->channels);
    }
    if (!error && m->libvirt && start_libvirt(m, &error))
        return;
    if (error) {
        if (m->request_fd >= 0) {
            close(m->request_fd);
            m->request_fd = -1;
        }
        refuse_start(m, error);
        return;
    }
    vmig_hypervisor_open_async(m->domain, daemon->context, daemon->qmp_timeout_ms, NULL,
                               on_opened, mig_ref(m));
}

/* Returns: the new migration's id, or NULL with @error set. */
char *
vmig_migration_start_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* Writes @index's preamble on a source channel.  Returns: TRUE, or FALSE with @error. */
static gboolean
write_preamble(VmigMigration *m, int fd, guint index, GError **error)
{
    VmigPreamble preamble;
    guint8 bytes[VMIG_PREAMBLE_SIZE];

    memcpy(preamble.token, m->token, VMIG_TOKEN_SIZE);
    preamble.index = index;
    vmig_preamble_encode(&preamble, bytes);
    g_unix_set_fd_nonblocking(fd, FALSE, NULL);
    return vmig_fdpass_send_all(fd, bytes, sizeof(bytes), NULL, 0, error);
}

/* Hands extra channels to a migration; see migration.h. */
gboolean
vmig_migration_add_channels(VmigMigrations *ms, const char *id, int *fds, gsize n_fds,
                            GError **error)
{
    VmigMigration *m = lookup(ms, id, error);
    gsize i;

    if (m && (m->finished || (m->role == VMIG_ROLE_SOURCE
                                  ? m->state != VMIG_MIGRATION_COLLECTING
                                  : m->state > VMIG_MIGRATION_COMMITTING || m->configuring))) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' takes no channels in state '%s'", id, state_names[m->state]);
        m = NULL;
    }
    for (i = 0; m && i < n_fds; i++) {
        if (!vmig_fdpass_check_stream_socket(fds[i], error)) {
            g_prefix_error(error, "channel %" G_GSIZE_FORMAT ": ", i);
            m = NULL;
        }
    }
    if (!m) {
        for (i = 0; i < n_fds; i++)
            close(fds[i]);
        return FALSE;
    }

    for (i = 0; i < n_fds; i++) {
        if (m->role == VMIG_ROLE_DESTINATION) {
            pending_add(m, fds[i], FALSE);
            continue;
        }
        if (m->channels_got >= m->reply->channels) {
            close(fds[i]); /* more than asked for */
            continue;
        }
        if (!write_preamble(m, fds[i], m->channels_got, error)) {
            g_prefix_error(error, "channel %u: ", m->channels_got);
            for (; i < n_fds; i++)
                close(fds[i]);
            return FALSE;
        }
        g_array_append_val(m->channels, fds[i]);
        m->channels_got++;
    }
    if (m->role == VMIG_ROLE_SOURCE && m->channels_got == m->reply->channels)
        source_proceed_to_commit(m);
    notify(m);
    return TRUE;
}

/* Cancels a migration; see migration.h. */
gboolean
vmig_migration_cancel(VmigMigrations *ms, const char *id, GError **error)
{
    VmigMigration *m = lookup(ms, id, error);

    if (!m)
        return FALSE;
    if (m->finished) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' has already ended (%s)", id, state_names[m->state]);
        return FALSE;
    }
    m->cancel_requested = TRUE;
    if (m->role == VMIG_ROLE_SOURCE && m->libvirt_migrating) {
        /* libvirt's call returns once its job is aborted; that is the end. */
        vmig_libvirt_abort(m->domain);
        return TRUE;
    }
    if (m->role == VMIG_ROLE_SOURCE && m->qemu_migrating) {
        /* QEMU stops, resumes the guest, and the progress poll sees "cancelled". */
        qmp_step(m, "migrate_cancel", NULL, NULL, 0, "cannot cancel QEMU's migration", NULL);
        return TRUE;
    }
    if (m->main_fd >= 0 && !m->handshake_done) {
        g_autoptr(VmigNegotiateMessage) err = vmig_negotiate_message_new_error(
            VMIG_NEGOTIATE_CODE_CANCELLED, "cancelled by the management app");
        g_autoptr(GBytes) bytes = vmig_negotiate_encode(err, NULL);

        (void)!send(m->main_fd, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    migration_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
    return TRUE;
}

static void
on_postcopy(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;
    JsonNode *reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);

    if (reply) {
        json_node_unref(reply);
        g_task_return_boolean(task, TRUE);
    } else {
        g_task_return_error(task, error);
    }
}

/* Switches a source migration to postcopy; see migration.h. */
void
vmig_migration_start_postcopy_async(VmigMigrations *ms, const char *id,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    GError *error = NULL;
    VmigMigration *m;

    g_main_context_push_thread_default(ms->daemon->context);
    task = g_task_new(NULL, NULL, callback, user_data);
    g_main_context_pop_thread_default(ms->daemon->context);
    m = lookup(ms, id, &error);
    if (m && (m->role != VMIG_ROLE_SOURCE || m->state != VMIG_MIGRATION_MIGRATING ||
              m->finished || !vmig_negotiate_message_find_feature(m->commit, "postcopy-ram")))
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' cannot switch to postcopy: it must be a running source "
                    "migration that negotiated postcopy-ram",
                    id);
    else if (m && m->libvirt)
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "migration '%s' of a libvirt domain: switch it to postcopy with "
                    "virsh migrate-postcopy", id);
    if (error) {
        g_task_return_error(task, error);
        return;
    }
    vmig_qmp_execute_async(m->qmp, "migrate-start-postcopy", NULL, NULL, 0, NULL, on_postcopy,
                           g_steal_pointer(&task));
}

gboolean
vmig_migration_start_postcopy_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* Returns: the list of migrations (a new node). */
JsonNode *
vmig_migrations_list(VmigMigrations *ms)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_array(b);
    for (guint i = 0; i < ms->order->len; i++) {
        VmigMigration *m = g_ptr_array_index(ms->order, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "migration");
        json_builder_add_string_value(b, m->id);
        json_builder_set_member_name(b, "role");
        json_builder_add_string_value(b, role_names[m->role]);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, state_names[m->state]);
        json_builder_set_member_name(b, "domain");
        json_builder_add_string_value(b, m->domain);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    return json_builder_get_root(b);
}

/* Returns: migration @id's record, or NULL with @error. */
JsonNode *
vmig_migration_record(VmigMigrations *ms, const char *id, GError **error)
{
    VmigMigration *m = lookup(ms, id, error);

    return m ? migration_record(m) : NULL;
}
