/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration.c: one migration, as the object the daemon lists: its
 * registry and public API (migration.h), its transition table, its end,
 * and the observers that hear of it (migration-private.h has the map of
 * the other files)
 *
 * Everything runs on the daemon's GMainContext.  A migration is reference
 * counted: the registry holds one reference for as long as the migration
 * is listed, every callback in flight holds one, so a callback arriving
 * after the migration ended finds it ended and does nothing.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "driver/features.h"
#include "fdpass/fd.h"
#include "fdpass/fdpass.h"

/* clang-format off */
G_DEFINE_QUARK(vmig-migration-error-quark, vmig_migration_error)
/* clang-format on */

static const char *const role_names[] = {"source", "destination"};
G_STATIC_ASSERT(G_N_ELEMENTS(role_names) == VMIG_ROLE_LAST);

static const char *const state_names[] = {
    "introspecting", "connecting", "waiting",   "negotiating", "collecting", "committing",
    "migrating",     "switchover", "completed", "failed",      "cancelled",  "unknown",
};
G_STATIC_ASSERT(G_N_ELEMENTS(state_names) == VMIG_MIGRATION_LAST);

static const char *const event_names[] = {
    "dial",     "wait", "open",   "select", "commit",  "stream", "switchover",
    "complete", "fail", "cancel", "lost",   "resolve", "legacy",
};
G_STATIC_ASSERT(G_N_ELEMENTS(event_names) == VMIG_MIG_EVENT_LAST);

const char *
vmig_role_to_string(VmigRole role)
{
    return (guint)role < G_N_ELEMENTS(role_names) ? role_names[role] : NULL;
}

const char *
vmig_migration_state_to_string(VmigMigrationState state)
{
    return (guint)state < G_N_ELEMENTS(state_names) ? state_names[state] : NULL;
}

const char *
vmig_mig_event_to_string(VmigMigEvent event)
{
    return (guint)event < G_N_ELEMENTS(event_names) ? event_names[event] : NULL;
}

void
vmig_migration_request_free(VmigMigrationRequest *request)
{
    if (!request)
        return;
    g_free(request->domain);
    g_free(request->uri);
    vmig_fd_clear(&request->main_fd);
    g_strfreev(request->tunables);
    g_strfreev(request->no_features);
    g_strfreev(request->require_features);
    g_free(request->libvirt_dest);
    g_free(request->domain_xml);
    g_free(request->standing);
    g_free(request->tls_hostname);
    g_free(request);
}

/* ------------------------------------------------------------------------ */
/* The transition table */

/*
 * Every change of state a migration may make, and nothing else: a row is
 * (from, event, to).  FAIL and CANCEL are taken by every state that has not
 * ended; they are not listed.
 */
static const struct {
    VmigMigrationState from;
    VmigMigEvent event;
    VmigMigrationState to;
} transitions[] = {
    /* The source dials the destination (URI mode)... */
    {VMIG_MIGRATION_INTROSPECTING, VMIG_MIG_EVENT_DIAL, VMIG_MIGRATION_CONNECTING},
    {VMIG_MIGRATION_CONNECTING, VMIG_MIG_EVENT_OPEN, VMIG_MIGRATION_NEGOTIATING},
    /* ... or found no driver there, and migrates plainly (legacy): QEMU is
     * configured, with no handshake. */
    {VMIG_MIGRATION_CONNECTING, VMIG_MIG_EVENT_LEGACY, VMIG_MIGRATION_COMMITTING},
    /* ... or was handed the main channel (fd mode). */
    {VMIG_MIGRATION_INTROSPECTING, VMIG_MIG_EVENT_OPEN, VMIG_MIGRATION_NEGOTIATING},
    /* The destination waits for the source's opener. */
    {VMIG_MIGRATION_INTROSPECTING, VMIG_MIG_EVENT_WAIT, VMIG_MIGRATION_WAITING},
    {VMIG_MIGRATION_WAITING, VMIG_MIG_EVENT_OPEN, VMIG_MIGRATION_NEGOTIATING},
    /* The REPLY: channels are collected, unless the source asked for none. */
    {VMIG_MIGRATION_NEGOTIATING, VMIG_MIG_EVENT_SELECT, VMIG_MIGRATION_COLLECTING},
    {VMIG_MIGRATION_NEGOTIATING, VMIG_MIG_EVENT_COMMIT, VMIG_MIGRATION_COMMITTING},
    {VMIG_MIGRATION_COLLECTING, VMIG_MIG_EVENT_COMMIT, VMIG_MIGRATION_COMMITTING},
    {VMIG_MIGRATION_COMMITTING, VMIG_MIG_EVENT_STREAM, VMIG_MIGRATION_MIGRATING},
    /* Version 1: QEMU's "completed" is the end. */
    {VMIG_MIGRATION_MIGRATING, VMIG_MIG_EVENT_COMPLETE, VMIG_MIGRATION_COMPLETED},
    /* Version 2: LOADED went (destination), SWITCHOVER went (source) ... */
    {VMIG_MIGRATION_MIGRATING, VMIG_MIG_EVENT_SWITCHOVER, VMIG_MIGRATION_SWITCHOVER},
    /* ... RESUMED, or the confirmation lost ... */
    {VMIG_MIGRATION_SWITCHOVER, VMIG_MIG_EVENT_COMPLETE, VMIG_MIGRATION_COMPLETED},
    {VMIG_MIGRATION_SWITCHOVER, VMIG_MIG_EVENT_LOST, VMIG_MIGRATION_UNKNOWN},
    /* ... and then an operator says where the guest runs. */
    {VMIG_MIGRATION_UNKNOWN, VMIG_MIG_EVENT_RESOLVE, VMIG_MIGRATION_COMPLETED},
    {VMIG_MIGRATION_UNKNOWN, VMIG_MIG_EVENT_FAIL, VMIG_MIGRATION_FAILED},
};

/* Returns: TRUE for the states a migration ends in (unknown waits for `resolve`). */
static gboolean
state_is_final(VmigMigrationState state)
{
    return state == VMIG_MIGRATION_COMPLETED || state == VMIG_MIGRATION_FAILED ||
           state == VMIG_MIGRATION_CANCELLED || state == VMIG_MIGRATION_UNKNOWN;
}

gboolean
vmig_mig_transition(VmigMigrationState state, VmigMigEvent event, VmigMigrationState *to,
                    GError **error)
{
    if ((guint)state < VMIG_MIGRATION_LAST && !state_is_final(state)) {
        if (event == VMIG_MIG_EVENT_FAIL) {
            *to = VMIG_MIGRATION_FAILED;
            return TRUE;
        }
        if (event == VMIG_MIG_EVENT_CANCEL) {
            *to = VMIG_MIGRATION_CANCELLED;
            return TRUE;
        }
    }
    for (gsize i = 0; i < G_N_ELEMENTS(transitions); i++) {
        if (transitions[i].from == state && transitions[i].event == event) {
            *to = transitions[i].to;
            return TRUE;
        }
    }
    g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                "event '%s' is not taken in state '%s'",
                vmig_mig_event_to_string(event) ? vmig_mig_event_to_string(event) : "?",
                vmig_migration_state_to_string(state)
                    ? vmig_migration_state_to_string(state)
                    : "?");
    return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Observers */

typedef struct {
    const VmigMigrationObserver *observer;
    gpointer user_data;
} ObserverEntry;

void
vmig_migrations_observe(VmigMigrations *ms, const VmigMigrationObserver *observer,
                        gpointer user_data)
{
    ObserverEntry entry = {observer, user_data};

    g_array_append_val(ms->observers, entry);
}

void
vmig_migrations_unobserve(VmigMigrations *ms, const VmigMigrationObserver *observer,
                          gpointer user_data)
{
    for (guint i = 0; i < ms->observers->len; i++) {
        ObserverEntry *entry = &g_array_index(ms->observers, ObserverEntry, i);

        if (entry->observer == observer && entry->user_data == user_data) {
            g_array_remove_index(ms->observers, i);
            return;
        }
    }
}

void
vmig_mig_notify(VmigMigration *m)
{
    GArray *observers = m->owner->observers;

    /* A migration refused at start was never public. */
    if (m->start_task)
        return;
    for (guint i = 0; i < observers->len; i++) {
        ObserverEntry *entry = &g_array_index(observers, ObserverEntry, i);

        if (entry->observer->changed)
            entry->observer->changed(m->id, entry->user_data);
    }
}

JsonBuilder *
vmig_mig_event_begin(VmigMigration *m)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migration");
    json_builder_add_string_value(b, m->id);
    return b;
}

void
vmig_mig_emit(VmigMigration *m, const char *event, JsonBuilder *b)
{
    g_autoptr(JsonNode) data = json_builder_get_root(b);
    GArray *observers = m->owner->observers;

    if (m->start_task)
        return;
    vmig_mig_notify(m);
    for (guint i = 0; i < observers->len; i++) {
        ObserverEntry *entry = &g_array_index(observers, ObserverEntry, i);

        if (entry->observer->event)
            entry->observer->event(m->id, event, json_node_get_object(data),
                                   entry->user_data);
    }
}

/* Tells the observers that @m is forgotten. */
static void
observers_removed(VmigMigration *m)
{
    GArray *observers = m->owner->observers;

    for (guint i = 0; i < observers->len; i++) {
        ObserverEntry *entry = &g_array_index(observers, ObserverEntry, i);

        if (entry->observer->removed)
            entry->observer->removed(m->id, entry->user_data);
    }
}

/* ------------------------------------------------------------------------ */
/* Life */

VmigMigration *
vmig_mig_ref(VmigMigration *m)
{
    g_atomic_int_inc(&m->refs);
    return m;
}

void
vmig_mig_tunable_free(VmigMigTunable *tunable)
{
    g_free(tunable->name);
    g_free(tunable->text);
    if (tunable->value)
        json_node_unref(tunable->value);
    g_free(tunable);
}

void
vmig_mig_source_clear(GSource **source)
{
    if (*source) {
        g_source_destroy(*source);
        g_clear_pointer(source, g_source_unref);
    }
}

/* Closes every channel fd @m still holds. */
static void
close_channel_fds(VmigMigration *m)
{
    for (guint i = 0; m->channels && i < m->channels->len; i++)
        vmig_fd_clear(&g_array_index(m->channels, int, i));
}

/*
 * Closes the main channel: what is queued (the last frame, an ERROR) goes
 * first, and what the peer sent is read, so that the close is an orderly
 * end of file, not a reset that could overtake that frame.
 */
static void
close_main(VmigMigration *m)
{
    guint8 buf[4096];

    if (m->main_fd >= 0) {
        if (m->out && m->out->len)
            (void)!send(m->main_fd, m->out->data, m->out->len,
                        MSG_NOSIGNAL | MSG_DONTWAIT);
        for (guint i = 0; i < 16 && recv(m->main_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0;
             i++)
            ;
        shutdown(m->main_fd, SHUT_WR);
    }
    if (m->out)
        g_byte_array_set_size(m->out, 0);
    vmig_fd_clear(&m->main_fd);
}

/*
 * Stops everything that drives @m on: timers, the main channel's watch,
 * the listener and the connections not yet matched.  What the end still
 * needs (the hypervisor's connection, the bridges) stays.  Idempotent.
 */
static void
stop(VmigMigration *m)
{
    if (m->cancellable)
        g_cancellable_cancel(m->cancellable);
    vmig_mig_source_clear(&m->main_source);
    vmig_mig_source_clear(&m->handshake_timer);
    vmig_mig_source_clear(&m->channel_timer);
    vmig_mig_source_clear(&m->progress_timer);
    vmig_mig_source_clear(&m->stream_end_timer);
    vmig_mig_source_clear(&m->heartbeat_timer);
    vmig_mig_source_clear(&m->switchover_timer);
    vmig_mig_source_clear(&m->reason_timer);
    g_clear_pointer(&m->listener, vmig_listener_free);
    g_clear_pointer(&m->pending, vmig_pending_set_free);
    if (m->outgoing)
        g_ptr_array_set_size(m->outgoing, 0);
}

/* Releases every resource of @m but its record.  Idempotent. */
static void
release(VmigMigration *m)
{
    stop(m);
    vmig_mig_source_clear(&m->end_timer);
    if (m->bridges)
        g_ptr_array_set_size(m->bridges, 0);
    /* A peer with no driver keeps a connection QEMU did not take: held. */
    vmig_mig_legacy_release(m);
    /* Refused before the handshake began, the peer must see its channel close. */
    close_main(m);
    /* After close_main(): the control connection's pump sends its last frame. */
    if (m->pumps)
        vmig_mig_tls_release(m);
    vmig_fd_clear(&m->request_fd);
    vmig_fd_clear(&m->listen_fd);
    if (m->listen_path) {
        unlink(m->listen_path);
        g_clear_pointer(&m->listen_path, g_free);
    }
    if (m->private_path)
        unlink(m->private_path);
    close_channel_fds(m);
    m->backend->release(m);
}

void
vmig_mig_unref(VmigMigration *m)
{
    if (!g_atomic_int_dec_and_test(&m->refs))
        return;
    release(m);
    vmig_mig_source_clear(&m->expiry_timer);
    g_clear_pointer(&m->bridges, g_ptr_array_unref);
    g_clear_pointer(&m->pumps, g_ptr_array_unref);
    g_clear_pointer(&m->tls_info, vmig_tls_info_free);
    g_free(m->tls_hostname);
    g_clear_pointer(&m->outgoing, g_ptr_array_unref);
    g_clear_pointer(&m->channels, g_array_unref);
    g_free(m->id);
    g_free(m->error);
    g_free(m->domain);
    g_free(m->uri);
    g_clear_pointer(&m->address, vmig_address_free);
    g_clear_object(&m->cancellable);
    g_strfreev(m->tunable_args);
    g_clear_pointer(&m->catalog, vmig_catalog_free);
    g_clear_pointer(&m->applied, g_ptr_array_unref);
    g_clear_pointer(&m->decoder, vmig_negotiate_decoder_free);
    g_clear_pointer(&m->out, g_byte_array_unref);
    g_clear_pointer(&m->local_offer, vmig_negotiate_message_free);
    g_clear_pointer(&m->peer_offer, vmig_negotiate_message_free);
    g_clear_pointer(&m->reply, vmig_negotiate_message_free);
    g_clear_pointer(&m->commit, vmig_negotiate_message_free);
    g_clear_pointer(&m->chosen, json_array_unref);
    g_clear_pointer(&m->declined, json_array_unref);
    g_clear_pointer(&m->peer_tunables, json_object_unref);
    g_clear_pointer(&m->progress, json_object_unref);
    g_clear_pointer(&m->transcript, json_array_unref);
    g_clear_pointer(&m->qemu_stats, json_object_unref);
    g_clear_pointer(&m->saved_caps, json_object_unref);
    g_clear_pointer(&m->saved_params, json_object_unref);
    g_clear_pointer(&m->changes, json_array_unref);
    g_free(m->private_path);
    g_clear_object(&m->start_task);
    g_free(m->libvirt_dest);
    g_free(m->domain_xml);
    g_free(m->standing);
    g_free(m->legacy_held_by);
    g_free(m->libvirt_socket);
    g_free(m->detail);
    g_free(m->migrate_uri);
    g_free(m->switchover_by);
    g_clear_object(&m->resolve_task);
    g_free(m);
}

const VmigMigrationSettings *
vmig_mig_settings(VmigMigration *m)
{
    return &m->owner->settings;
}

GSource *
vmig_mig_timeout(VmigMigration *m, guint ms, GSourceFunc func)
{
    GSource *source = g_timeout_source_new(ms);

    g_source_set_callback(source, func, m, NULL);
    g_source_attach(source, m->owner->settings.context);
    return source;
}

GSource *
vmig_mig_watch(VmigMigration *m, int fd, GIOCondition condition, GUnixFDSourceFunc func,
               gpointer data)
{
    GSource *source = g_unix_fd_source_new(fd, condition);

    g_source_set_callback(source, G_SOURCE_FUNC(func), data, NULL);
    g_source_attach(source, m->owner->settings.context);
    return source;
}

gboolean
vmig_mig_step(VmigMigration *m, VmigMigEvent event)
{
    g_autoptr(GError) error = NULL;
    VmigMigrationState to;

    if (!vmig_mig_transition(m->state, event, &to, &error)) {
        g_critical("%s: %s", m->id, error->message);
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_INTERNAL, "internal error: %s",
                      error->message);
        return FALSE;
    }
    if (m->state != to)
        g_debug("%s: %s -> %s (%s)", m->id, state_names[m->state], state_names[to],
                event_names[event]);
    m->state = to;
    vmig_mig_notify(m);
    return TRUE;
}

/* An attempt refused at start: what query-migrations "all" lists of it. */
typedef struct {
    char *id;
    VmigRole role;
    char *domain;
    char *reason;
    gint64 time;    /* when (real time, us) */
    gint64 expires; /* when it goes (monotonic, us) */
} VmigMigRefusal;

static void
refusal_free(VmigMigRefusal *r)
{
    g_free(r->id);
    g_free(r->domain);
    g_free(r->reason);
    g_free(r);
}

/* Forgets the refusals whose time is up. */
static void
refusals_expire(VmigMigrations *ms)
{
    gint64 now = g_get_monotonic_time();
    VmigMigRefusal *r;

    while ((r = g_queue_peek_head(ms->refused)) && r->expires <= now)
        refusal_free(g_queue_pop_head(ms->refused));
}

/*
 * Notes that @m was refused at start with @reason: listed as a finished
 * attempt, state "refused", for --keep-finished, at most
 * VMIG_MIG_MAX_REFUSED of them; and logged.
 */
static void
note_refused(VmigMigration *m, const char *reason)
{
    VmigMigrations *ms = m->owner;
    VmigMigRefusal *r = g_new0(VmigMigRefusal, 1);

    r->id = g_strdup(m->id);
    r->role = m->role;
    r->domain = g_strdup(m->domain ? m->domain : "");
    r->reason = g_strdup(reason ? reason : "refused");
    r->time = g_get_real_time();
    r->expires = g_get_monotonic_time() + (gint64)ms->settings.keep_finished_ms * 1000;
    g_message("migration %s (%s) refused: %s (domain %s)", r->id, role_names[r->role],
              r->reason, r->domain);
    refusals_expire(ms);
    while (g_queue_get_length(ms->refused) >= VMIG_MIG_MAX_REFUSED)
        refusal_free(g_queue_pop_head(ms->refused));
    g_queue_push_tail(ms->refused, r);
}

/* Returns: refusal @r as query-migrations lists it, or as its record (@record). */
static JsonNode *
refusal_to_json(const VmigMigRefusal *r, gboolean record)
{
    g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc(r->time / G_USEC_PER_SEC);
    g_autofree char *time = g_date_time_format_iso8601(when);
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "migration", r->id);
    json_object_set_string_member(o, "role", role_names[r->role]);
    json_object_set_string_member(o, "state", "refused");
    json_object_set_string_member(o, "domain", r->domain);
    json_object_set_string_member(o, "time", time);
    if (record)
        json_object_set_string_member(o, "result", "refused");
    json_object_set_string_member(o, "error", r->reason);
    json_node_take_object(node, o);
    return node;
}

/* Returns: the number in migration id @id ("m12": 12), for ordering. */
static guint64
id_number(const char *id)
{
    return g_ascii_strtoull(id + 1, NULL, 10);
}

/* Forgets @m: out of the registry, which drops its reference. */
static void
forget(VmigMigration *m)
{
    g_ptr_array_remove(m->owner->order, m);
    g_hash_table_remove(m->owner->by_id, m->id);
}

/* A finished migration's time to stay listed is up.  Returns: G_SOURCE_REMOVE. */
static gboolean
on_expired(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->expiry_timer, g_source_unref);
    g_debug("%s: forgotten, finished %u ms ago", m->id,
            m->owner->settings.keep_finished_ms);
    observers_removed(m);
    forget(m); /* may free @m */
    return G_SOURCE_REMOVE;
}

/*
 * Keeps at most VMIG_MIG_MAX_FINISHED finished migrations listed: the
 * oldest waiting for --keep-finished to pass go now (never @keep, nor one
 * left unknown, nor one still ending).
 */
static void
bound_finished(VmigMigrations *ms, VmigMigration *keep)
{
    guint finished = 0;

    for (guint i = 0; i < ms->order->len; i++) {
        VmigMigration *m = g_ptr_array_index(ms->order, i);

        finished += m->finished && m->expiry_timer != NULL;
    }
    while (finished > VMIG_MIG_MAX_FINISHED) {
        VmigMigration *oldest = NULL;

        for (guint i = 0; i < ms->order->len && !oldest; i++) {
            VmigMigration *m = g_ptr_array_index(ms->order, i);

            if (m != keep && m->finished && !m->ending && m->expiry_timer &&
                m->state != VMIG_MIGRATION_UNKNOWN)
                oldest = m;
        }
        if (!oldest)
            return;
        vmig_mig_source_clear(&oldest->expiry_timer);
        g_debug("%s: forgotten, the oldest of over %u finished", oldest->id,
                VMIG_MIG_MAX_FINISHED);
        observers_removed(oldest);
        forget(oldest); /* may free @oldest */
        finished--;
    }
}

/*
 * The end is over: everything is released, so the app hears of it
 * (MIGRATION_DONE, or the start command's error) with the daemon's fds
 * back where they were.
 */
static void
end_complete(VmigMigration *m)
{
    g_autoptr(VmigMigration) ref = m; /* the end's reference */
    const char *result = state_names[m->state];
    gboolean announced = m->start_task == NULL;

    m->ending = FALSE;
    release(m);
    if (m->start_task) {
        /* Failed before the command was answered: the command carries the error. */
        note_refused(m, m->error ? m->error : result);
        g_task_return_new_error(m->start_task, VMIG_MIGRATION_ERROR,
                                VMIG_MIGRATION_ERROR_INVALID, "%s",
                                m->error ? m->error : result);
        g_clear_object(&m->start_task);
    } else {
        g_autoptr(JsonBuilder) b = vmig_mig_event_begin(m);

        json_builder_set_member_name(b, "result");
        json_builder_add_string_value(b, result);
        if (m->error) {
            json_builder_set_member_name(b, "error");
            json_builder_add_string_value(b, m->error);
        }
        json_builder_end_object(b);
        vmig_mig_emit(m, "MIGRATION_DONE", b);
    }
    /* A finished migration stays listed for a while, so that clients can
     * still read what was negotiated; one whose id was never given out
     * goes at once (on the next iteration: callers still hold @m); one
     * left unknown stays until an operator resolves it. */
    if (m->state != VMIG_MIGRATION_UNKNOWN || !announced)
        m->expiry_timer = vmig_mig_timeout(
            m, announced ? m->owner->settings.keep_finished_ms : 0, on_expired);
    if (announced)
        bound_finished(m->owner, m);
}

/* Returns: TRUE once every bridge of @m has ended (or none was left). */
static gboolean
bridges_over(VmigMigration *m)
{
    return m->bridges_done >= m->bridges->len;
}

static void hypervisor_ended(VmigMigration *m);

/* The hypervisor's part of the end. */
static void
end_hypervisor(VmigMigration *m)
{
    m->hypervisor_ending = TRUE;
    m->backend->end(m, hypervisor_ended);
}

void
vmig_mig_end_bridges(VmigMigration *m)
{
    /* Dials under way hold sockets: the end waits for them (cancelled,
     * they end at once), so that MIGRATION_DONE finds every fd gone. */
    if (!m->ending || !bridges_over(m) || m->dials > 0)
        return;
    if (!m->hypervisor_ending)
        end_hypervisor(m);
    else if (m->hypervisor_ended)
        end_complete(m);
}

/* The hypervisor let go (its migration stopped, its settings put back). */
static void
hypervisor_ended(VmigMigration *m)
{
    if (!m->ending || m->hypervisor_ended)
        return;
    m->hypervisor_ended = TRUE;
    /* The bridges of a migration that did not complete stop now. */
    g_ptr_array_set_size(m->bridges, 0);
    vmig_mig_tls_stop_data(m);
    vmig_mig_end_bridges(m);
}

/* The end took too long: whatever still holds on is let go of.  Returns: G_SOURCE_REMOVE.
 */
static gboolean
on_end_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->end_timer, g_source_unref);
    g_warning("%s: the end took over %d s: letting go of the hypervisor and the channels",
              m->id, VMIG_MIG_END_TIMEOUT_MS / 1000);
    m->hypervisor_ended = TRUE;
    end_complete(m);
    return G_SOURCE_REMOVE;
}

/*
 * What @m may end as, whatever its caller thought: version 2's
 * switchover decides where the guest is.  Returns: the state, with
 * *@because (to free) a fuller reason when it changed.
 */
static VmigMigrationState
switchover_outcome(VmigMigration *m, VmigMigrationState state, const char *error,
                   char **because)
{
    if (!vmig_mig_v2(m) || state == VMIG_MIGRATION_COMPLETED)
        return state;
    if (m->role == VMIG_ROLE_SOURCE && m->switchover && !m->resumed && !m->peer_gave_up &&
        m->state == VMIG_MIGRATION_SWITCHOVER) {
        /* SWITCHOVER may have arrived: the destination may run the guest. */
        *because = g_strdup_printf(
            "%s; SWITCHOVER had been sent, so whether the destination resumed the "
            "guest is unknown: it stays paused here until an operator runs "
            "'virt-migrate resolve %s --resume-here' on the side that is to run it "
            "(and --discard-here on the other)",
            error ? error : "the migration ended", m->id);
        return VMIG_MIGRATION_UNKNOWN;
    }
    if (m->resumed && m->hypervisor_completed) {
        /* The guest runs on the destination: what fails here after it no
         * longer matters (a last progress reading that did not come). */
        g_message("migration %s: after the guest resumed on the destination: %s", m->id,
                  error ? error : "(no reason)");
        return VMIG_MIGRATION_COMPLETED;
    }
    return state;
}

void
vmig_mig_finish(VmigMigration *m, VmigMigrationState state, const char *error)
{
    static const VmigMigEvent events[] = {
        [VMIG_MIGRATION_COMPLETED] = VMIG_MIG_EVENT_COMPLETE,
        [VMIG_MIGRATION_FAILED] = VMIG_MIG_EVENT_FAIL,
        [VMIG_MIGRATION_CANCELLED] = VMIG_MIG_EVENT_CANCEL,
        [VMIG_MIGRATION_UNKNOWN] = VMIG_MIG_EVENT_LOST,
    };
    g_autoptr(GError) bug = NULL;
    g_autofree char *because = NULL;
    g_autofree char *outcome = NULL;
    VmigMigrationState to;

    if (m->finished)
        return;
    g_return_if_fail(state_is_final(state));
    state = switchover_outcome(m, state, error, &outcome);
    if (outcome)
        error = outcome;
    else if (state == VMIG_MIGRATION_COMPLETED)
        error = NULL;
    if (!vmig_mig_transition(m->state, events[state], &to, &bug)) {
        g_critical("%s: %s", m->id, bug->message);
        because = g_strdup_printf("internal error: %s", bug->message);
        to = VMIG_MIGRATION_FAILED;
        error = because;
    }
    /* Version 2: the peer hears why, and that this side gives up (an
     * unknown end promises nothing, so it says nothing). */
    if ((to == VMIG_MIGRATION_FAILED || to == VMIG_MIGRATION_CANCELLED) &&
        vmig_mig_v2(m) && !m->peer_gave_up)
        vmig_mig_send_error(m,
                            m->fail_code ? m->fail_code
                            : to == VMIG_MIGRATION_CANCELLED
                                ? VMIG_NEGOTIATE_CODE_CANCELLED
                                : VMIG_NEGOTIATE_CODE_INTERNAL,
                            error ? error : state_names[to]);
    m->finished = TRUE;
    m->state = to;
    g_free(m->error);
    m->error = g_strdup(error);
    if (error)
        g_message("migration %s (%s) %s: %s", m->id, role_names[m->role], state_names[to],
                  error);
    else
        g_message("migration %s (%s) %s", m->id, role_names[m->role], state_names[to]);

    /*
     * The end runs before anyone hears of it, bounded: nothing drives @m
     * any more; the hypervisor stops its migration and gets its settings
     * back; the bridges drain (completed) or stop; then every fd goes and
     * MIGRATION_DONE is sent.
     */
    m->ending = TRUE;
    vmig_mig_ref(m);
    stop(m);
    m->end_timer = vmig_mig_timeout(m, VMIG_MIG_END_TIMEOUT_MS, on_end_timeout);
    /* A completed migration's bridges drain what is still in flight
     * first: once they end, QEMU has closed its side, so its own cleanup
     * is over and its settings can be put back (QEMU 7.2's multifd cleanup
     * reads the capability).  Any other end stops the bridges, then the
     * hypervisor: what they carry is of no use any more, and a QEMU whose
     * threads are blocked writing into a bridge that cannot write on (a
     * silent peer) would take the whole end's bound to settle its
     * cancel. */
    if (to == VMIG_MIGRATION_COMPLETED) {
        vmig_mig_end_bridges(m);
    } else {
        if (m->bridges)
            g_ptr_array_set_size(m->bridges, 0);
        vmig_mig_tls_stop_data(m);
        end_hypervisor(m);
    }
}

void
vmig_mig_send_error_now(VmigMigration *m, VmigNegotiateCode code, const char *message)
{
    g_autoptr(VmigNegotiateMessage) err = NULL;
    g_autoptr(GBytes) bytes = NULL;

    /* A QEMU waiting for its stream would take a frame for a broken stream. */
    if (m->legacy_peer)
        return;
    err = vmig_negotiate_message_new_error(code, message);
    bytes = vmig_negotiate_encode(err, NULL);

    /* What is queued goes first, so the frame is not cut into another. */
    if (m->out && m->out->len)
        (void)!send(m->main_fd, m->out->data, m->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (send(m->main_fd, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
             MSG_NOSIGNAL | MSG_DONTWAIT) == (gssize)g_bytes_get_size(bytes)) {
        vmig_mig_transcript_add(m, TRUE, err, g_bytes_get_size(bytes));
        m->bytes_sent += g_bytes_get_size(bytes);
    }
}

void
vmig_mig_fail(VmigMigration *m, VmigNegotiateCode code, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    if (m->finished)
        return;
    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);

    /* QEMU's migration failed and the peer's word is awaited
     * (vmig_mig_hypervisor_failed()): what fails meanwhile is its
     * consequence (the monitor gone with a QEMU that exited, a command it
     * can no longer take), and the wait ends @m with the root cause.  A
     * stop and a cancel are causes of their own. */
    if (m->reason_timer && code != VMIG_NEGOTIATE_CODE_SHUTDOWN &&
        code != VMIG_NEGOTIATE_CODE_CANCELLED) {
        g_debug("%s: while the peer's word is awaited: %s", m->id, message);
        return;
    }
    m->fail_code = code;
    if (!vmig_mig_v2(m) && m->main_fd >= 0 && !m->handshake_done && code != 0) {
        /* Best effort, non-blocking: the peer learns why before the close. */
        vmig_mig_send_error_now(m, code, message);
    }
    vmig_mig_finish(m, VMIG_MIGRATION_FAILED, message);
}

void
vmig_mig_fail_error(VmigMigration *m, VmigNegotiateCode code, const char *what,
                    const GError *error)
{
    if (what)
        vmig_mig_fail(m, code, "%s: %s", what, error->message);
    else
        vmig_mig_fail(m, code, "%s", error->message);
}

void
vmig_mig_answer_start(VmigMigration *m)
{
    g_autoptr(GTask) task = g_steal_pointer(&m->start_task);

    g_task_return_pointer(task, g_strdup(m->id), g_free);
    vmig_mig_notify(m); /* the observers' first look at it */
}

void
vmig_mig_refuse_start(VmigMigration *m, const GError *error)
{
    g_autoptr(GTask) task = g_steal_pointer(&m->start_task);

    m->finished = TRUE;
    release(m);
    note_refused(m, error->message);
    g_task_return_error(task, g_error_copy(error));
    forget(m);
}

/* ------------------------------------------------------------------------ */
/* The registry and the public API */

VmigMigrations *
vmig_migrations_new(const VmigMigrationSettings *settings)
{
    VmigMigrations *ms = g_new0(VmigMigrations, 1);

    ms->settings = *settings;
    ms->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                      (GDestroyNotify)vmig_mig_unref);
    ms->order = g_ptr_array_new();
    ms->observers = g_array_new(FALSE, FALSE, sizeof(ObserverEntry));
    ms->refused = g_queue_new();
    ms->parked = g_queue_new();
    return ms;
}

/* The shutdown's wait for switchovers is over.  Returns: G_SOURCE_REMOVE. */
static gboolean
on_shutdown_bound(gpointer user_data)
{
    *(gboolean *)user_data = TRUE;
    return G_SOURCE_REMOVE;
}

void
vmig_migrations_free(VmigMigrations *ms)
{
    gboolean expired = FALSE;
    GSource *bound;

    if (!ms)
        return;
    /* A switchover under way is let finish, bounded: the guest is on its
     * way to one side, and a stop now could leave it paused on both. */
    bound = g_timeout_source_new(MAX(ms->settings.heartbeat_timeout_ms, 1000));
    g_source_set_callback(bound, on_shutdown_bound, &expired, NULL);
    g_source_attach(bound, ms->settings.context);
    while (!expired) {
        gboolean switching = FALSE;

        for (guint i = 0; i < ms->order->len; i++) {
            VmigMigration *m = g_ptr_array_index(ms->order, i);

            switching |= !m->finished && m->state == VMIG_MIGRATION_SWITCHOVER;
        }
        if (!switching)
            break;
        g_main_context_iteration(ms->settings.context, TRUE);
    }
    g_source_destroy(bound);
    g_source_unref(bound);
    for (guint i = 0; i < ms->order->len; i++) {
        VmigMigration *m = g_ptr_array_index(ms->order, i);

        if (!m->finished)
            vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_SHUTDOWN,
                          "the %s driver is shutting down", role_names[m->role]);
    }
    /* The ends run on the daemon's loop, which has stopped: run it until
     * they are over (each is bounded), so that no QEMU is left migrating or
     * reconfigured, and the apps hear MIGRATION_DONE. */
    for (;;) {
        gboolean ending = FALSE;

        for (guint i = 0; i < ms->order->len; i++)
            ending |= ((VmigMigration *)g_ptr_array_index(ms->order, i))->ending;
        if (!ending)
            break;
        g_main_context_iteration(ms->settings.context, TRUE);
    }
    /* After the ends, which may hold a connection QEMU did not take. */
    vmig_mig_legacy_drop_all(ms);
    g_queue_free(ms->parked);
    g_ptr_array_unref(ms->order);
    g_hash_table_unref(ms->by_id);
    g_array_unref(ms->observers);
    g_queue_free_full(ms->refused, (GDestroyNotify)refusal_free);
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

/* Returns: how many of @ms's migrations are not finished. */
static guint
count_unfinished(VmigMigrations *ms)
{
    guint n = 0;

    for (guint i = 0; i < ms->order->len; i++) {
        VmigMigration *m = g_ptr_array_index(ms->order, i);

        n += !m->finished;
    }
    return n;
}

void
vmig_migration_start_async(VmigMigrations *ms, VmigRole role,
                           VmigMigrationRequest *request, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    g_autoptr(VmigMigrationRequest) req = request;
    const VmigMigrationSettings *settings = &ms->settings;
    VmigMigration *m = g_new0(VmigMigration, 1);

    m->refs = 1;
    m->owner = ms;
    m->id = g_strdup_printf("m%u", ++ms->next_id);
    m->role = role;
    m->state = VMIG_MIGRATION_INTROSPECTING;
    m->backend = vmig_backend_for(req->domain);
    m->domain = g_steal_pointer(&req->domain);
    m->uri = g_steal_pointer(&req->uri);
    m->request_fd = vmig_fd_steal(&req->main_fd);
    m->requested_channels = req->channels;
    m->tunable_args = g_steal_pointer(&req->tunables);
    m->unstable = req->unstable;
    m->channel_timeout_ms =
        req->channel_timeout_ms ? req->channel_timeout_ms : settings->channel_timeout_ms;
    m->max_channels =
        req->max_channels ? req->max_channels : VMIG_MIG_DEFAULT_MAX_CHANNELS;
    m->resume = req->resume;
    m->experimental_protocol = req->experimental_protocol;
    m->legacy = req->legacy;
    m->libvirt_dest = g_steal_pointer(&req->libvirt_dest);
    m->persistent = req->persistent;
    m->send_domain = req->send_domain;
    m->standing = g_steal_pointer(&req->standing);
    m->undefine_source = req->undefine_source;
    m->domain_xml = g_steal_pointer(&req->domain_xml);
    m->tls_hostname = g_steal_pointer(&req->tls_hostname);
    m->main_fd = -1;
    m->listen_fd = -1;
    m->cancellable = g_cancellable_new();
    m->out = g_byte_array_new();
    m->applied = g_ptr_array_new_with_free_func((GDestroyNotify)vmig_mig_tunable_free);
    m->chosen = json_array_new();
    m->declined = json_array_new();
    m->changes = json_array_new();
    m->channels = g_array_new(FALSE, FALSE, sizeof(int));
    m->pumps = g_ptr_array_new_with_free_func((GDestroyNotify)vmig_tls_pump_free);
    m->bridges = g_ptr_array_new_with_free_func((GDestroyNotify)vmig_bridge_free);
    if (role == VMIG_ROLE_DESTINATION)
        m->pending =
            vmig_pending_set_new(settings->pending_pool, settings->context, m->id,
                                 m->max_channels + 2, &vmig_mig_pending_funcs, m);

    g_main_context_push_thread_default(settings->context);
    m->start_task = g_task_new(NULL, NULL, callback, user_data);
    g_main_context_pop_thread_default(settings->context);
    g_hash_table_insert(ms->by_id, m->id, m);
    g_ptr_array_add(ms->order, m);

    if (count_unfinished(ms) > settings->max_migrations) {
        g_autoptr(GError) error =
            g_error_new(VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "too many migrations: %u are not finished (the daemon's "
                        "--max-migrations)",
                        settings->max_migrations);

        vmig_mig_refuse_start(m, error);
        return;
    }
    vmig_mig_start(m, req);
}

char *
vmig_migration_start_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
vmig_migration_add_channels(VmigMigrations *ms, const char *id, int *fds, gsize n_fds,
                            guint *n_closed, GError **error)
{
    VmigMigration *m = lookup(ms, id, error);

    *n_closed = 0;
    if (!m) {
        for (gsize i = 0; i < n_fds; i++)
            vmig_fd_clear(&fds[i]);
        return FALSE;
    }
    return vmig_mig_channels_add(m, fds, n_fds, n_closed, error);
}

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
    if (m->state == VMIG_MIGRATION_SWITCHOVER) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' is switching over: too late to cancel", id);
        return FALSE;
    }
    m->cancel_requested = TRUE;
    if (m->state == VMIG_MIGRATION_MIGRATING && !m->hypervisor_completed) {
        /* The hypervisor stops, resumes the source guest, and says so. */
        m->backend->cancel(m);
        return TRUE;
    }
    if (!vmig_mig_v2(m) && m->main_fd >= 0 && !m->handshake_done)
        vmig_mig_send_error_now(m, VMIG_NEGOTIATE_CODE_CANCELLED,
                                "cancelled by the management app");
    if (m->state == VMIG_MIGRATION_CONNECTING) {
        g_autofree char *why = g_strdup_printf(
            "cancelled by the management app while connecting to '%s' (no answer yet)",
            m->uri);

        vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, why);
        return TRUE;
    }
    m->fail_code = VMIG_NEGOTIATE_CODE_CANCELLED;
    vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
    return TRUE;
}

/* Returns: a task answered on the daemon's context. */
static GTask *
task_new(VmigMigrations *ms, GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task;

    g_main_context_push_thread_default(ms->settings.context);
    task = g_task_new(NULL, NULL, callback, user_data);
    g_main_context_pop_thread_default(ms->settings.context);
    return task;
}

void
vmig_migration_start_postcopy_async(VmigMigrations *ms, const char *id,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = task_new(ms, callback, user_data);
    GError *error = NULL;
    VmigMigration *m = lookup(ms, id, &error);

    if (m && (m->role != VMIG_ROLE_SOURCE || m->state != VMIG_MIGRATION_MIGRATING ||
              m->finished ||
              !vmig_negotiate_message_find_feature(
                  m->commit, vmig_feature_info(VMIG_FEATURE_POSTCOPY_RAM)->name)))
        g_set_error(
            &error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
            "migration '%s' cannot switch to postcopy: it must be a running source "
            "migration that negotiated postcopy-ram",
            id);
    if (error) {
        g_task_return_error(task, error);
        return;
    }
    m->backend->postcopy(m, g_steal_pointer(&task));
}

gboolean
vmig_migration_start_postcopy_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

static const char *const resolve_names[] = {"resume-here", "discard-here"};
G_STATIC_ASSERT(G_N_ELEMENTS(resolve_names) == VMIG_RESOLVE_LAST);

const char *
vmig_resolve_action_to_string(VmigResolveAction action)
{
    return (guint)action < G_N_ELEMENTS(resolve_names) ? resolve_names[action] : NULL;
}

VmigResolveAction
vmig_resolve_action_from_string(const char *name)
{
    for (guint i = 0; name && i < G_N_ELEMENTS(resolve_names); i++) {
        if (g_str_equal(name, resolve_names[i]))
            return i;
    }
    return VMIG_RESOLVE_LAST;
}

void
vmig_migration_resolve_async(VmigMigrations *ms, const char *id, VmigResolveAction action,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = task_new(ms, callback, user_data);
    GError *error = NULL;
    VmigMigration *m = lookup(ms, id, &error);

    if (m && (m->state != VMIG_MIGRATION_UNKNOWN || m->ending))
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' is %s: only a migration whose switchover was not "
                    "confirmed (state 'unknown') is resolved",
                    id, state_names[m->state]);
    else if (m && m->resolve_task)
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' is being resolved already", id);
    else if (m && (guint)action >= VMIG_RESOLVE_LAST)
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "unknown resolve action %d", action);
    if (error) {
        g_task_return_error(task, error);
        return;
    }
    m->resolve_task = g_steal_pointer(&task);
    m->resolve_action = action;
    vmig_mig_source_clear(&m->expiry_timer);
    m->backend->resolve(m);
}

const char *
vmig_migration_resolve_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
vmig_mig_resolved(VmigMigration *m, const GError *error)
{
    g_autoptr(GTask) task = g_steal_pointer(&m->resolve_task);
    g_autoptr(JsonBuilder) b = NULL;
    g_autofree char *why = NULL;
    gboolean here = m->resolve_action == VMIG_RESOLVE_RESUME_HERE;
    gboolean source = m->role == VMIG_ROLE_SOURCE;
    /* The migration completed if the guest ended on the destination. */
    gboolean completed = source ? !here : here;

    if (error) {
        /* Still unknown: the operator may try again. */
        g_task_return_error(task, g_error_copy(error));
        return;
    }
    why = g_strdup_printf("resolved by the operator: the guest %s on the %s (%s)",
                          here ? "runs here," : "does not run here; it runs",
                          here     ? role_names[m->role]
                          : source ? "destination"
                                   : "source",
                          m->error ? m->error : "the switchover was not confirmed");
    if (!vmig_mig_step(m, completed ? VMIG_MIG_EVENT_RESOLVE : VMIG_MIG_EVENT_FAIL))
        return;
    g_free(m->error);
    m->error = g_steal_pointer(&why);
    g_message("migration %s (%s) %s: %s", m->id, role_names[m->role],
              state_names[m->state], m->error);
    b = vmig_mig_event_begin(m);
    json_builder_set_member_name(b, "result");
    json_builder_add_string_value(b, state_names[m->state]);
    json_builder_set_member_name(b, "resolved");
    json_builder_add_string_value(b, resolve_names[m->resolve_action]);
    if (!completed) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, m->error);
    }
    json_builder_end_object(b);
    vmig_mig_emit(m, "MIGRATION_DONE", b);
    g_task_return_pointer(task, (gpointer)state_names[m->state], NULL);
    m->expiry_timer =
        vmig_mig_timeout(m, m->owner->settings.keep_finished_ms, on_expired);
}

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

JsonNode *
vmig_migrations_list_all(VmigMigrations *ms)
{
    g_autoptr(JsonNode) listed = vmig_migrations_list(ms);
    JsonArray *migrations = json_node_get_array(listed);
    JsonArray *all = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);
    GList *l;
    guint i = 0;

    /* Both lists are in id order: merged, so is the result. */
    refusals_expire(ms);
    l = ms->refused->head;
    while (i < json_array_get_length(migrations) || l) {
        JsonObject *m = i < json_array_get_length(migrations)
                            ? json_array_get_object_element(migrations, i)
                            : NULL;
        VmigMigRefusal *r = l ? l->data : NULL;

        if (m && (!r || id_number(json_object_get_string_member(m, "migration")) <
                            id_number(r->id))) {
            json_array_add_object_element(all, json_object_ref(m));
            i++;
        } else {
            json_array_add_element(all, refusal_to_json(r, FALSE));
            l = l->next;
        }
    }
    json_node_take_array(node, all);
    return node;
}

JsonNode *
vmig_migration_record(VmigMigrations *ms, const char *id, GError **error)
{
    VmigMigration *m = g_hash_table_lookup(ms->by_id, id);

    if (m)
        return vmig_mig_record(m);
    refusals_expire(ms);
    for (GList *l = ms->refused->head; l; l = l->next) {
        VmigMigRefusal *r = l->data;

        if (g_str_equal(r->id, id))
            return refusal_to_json(r, TRUE);
    }
    g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_NOT_FOUND,
                "no migration '%s'", id);
    return NULL;
}
