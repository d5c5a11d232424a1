/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-qmp.c: a QEMU reached through its QMP monitor (the contract is
 * backend.h)
 *
 * The driver holds the monitor for the whole migration (driver/qmp.h) and
 * does what libvirt would: sets the capabilities and parameters, starts
 * the migration (source) or the incoming side (destination), reads
 * query-migrate (at once on QEMU's MIGRATION event, else every 250 ms),
 * and on any end but completion cancels the source's migration or tells a
 * destination QEMU that began loading to quit.
 *
 * One channel: the negotiated main channel's fd goes to QEMU itself
 * (getfd, "fd:NAME"), no copy.  More: QEMU 7.2 takes multifd only over
 * unix: or tcp:, so QEMU connects to (source) or listens on (destination)
 * a private unix socket, and the bridges join each connection to its
 * channel (migration-channels.c).
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "driver/hypervisor.h"
#include "fdpass/fd.h"

/* ------------------------------------------------------------------------ */
/* Commands */

typedef void (*QmpNext)(VmigMigration *m, JsonNode *reply);

typedef struct {
    VmigMigration *m;
    QmpNext next;         /* with the answer */
    VmigBackendStep then; /* or without it */
    char *what;
} Step;

static void qemu_went_away(VmigMigration *m, const char *why);
static void put_back(VmigMigration *m);

/* A command's answer: the next step, or the migration fails with @what. */
static void
on_step(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Step *step = user_data;
    g_autoptr(VmigMigration) m = step->m;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);

    if (!m->finished) {
        if (!reply && g_error_matches(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED))
            qemu_went_away(m, error->message);
        else if (!reply)
            vmig_mig_fail_error(m, VMIG_NEGOTIATE_CODE_HYPERVISOR, step->what, error);
        else if (step->next)
            step->next(m, reply);
        else if (step->then)
            step->then(m);
    }
    g_free(step->what);
    g_free(step);
}

/* Runs @command (@args consumed) on the local QEMU, then @next with its answer. */
static void
qmp_step(VmigMigration *m, const char *command, JsonObject *args, const int *fds,
         gsize n_fds, const char *what, QmpNext next)
{
    Step *step = g_new0(Step, 1);

    step->m = vmig_mig_ref(m);
    step->next = next;
    step->what = g_strdup(what);
    vmig_qmp_execute_async(m->qmp, command, args, fds, n_fds, NULL, on_step, step);
    if (args)
        json_object_unref(args);
}

/* Runs @command (@args consumed), then @then (a backend step). */
static void
qmp_step_then(VmigMigration *m, const char *command, JsonObject *args, const char *what,
              VmigBackendStep then)
{
    Step *step = g_new0(Step, 1);

    step->m = vmig_mig_ref(m);
    step->then = then;
    step->what = g_strdup(what);
    vmig_qmp_execute_async(m->qmp, command, args, NULL, 0, NULL, on_step, step);
    if (args)
        json_object_unref(args);
}

/*
 * The monitor went away (@why: QMP's words): so does the migration.  A
 * destination QEMU 7.2 exits by itself when its incoming stream breaks,
 * so on that side, once the stream runs, QEMU's end may be the
 * consequence of what the source driver is about to say (it stops, its
 * QEMU failed): its word is awaited, as for any failure of QEMU's
 * migration.  Whichever notices first, the "closed" signal or a command
 * in flight that fails with it, says so.
 */
static void
qemu_went_away(VmigMigration *m, const char *why)
{
    g_autofree char *reason =
        g_strdup_printf("the %s QEMU went away: %s", vmig_role_to_string(m->role), why);

    if (m->finished)
        return;
    if (m->role == VMIG_ROLE_DESTINATION && m->qemu_migrating) {
        vmig_mig_hypervisor_failed(m, reason);
        return;
    }
    vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_HYPERVISOR, "%s", reason);
}

static void
on_qmp_closed(VmigQmp *qmp, const GError *reason, gpointer user_data)
{
    qemu_went_away(user_data, reason ? reason->message : "connection closed");
}

/* ------------------------------------------------------------------------ */
/* Introspection */

/*
 * QEMU's own migration must not be running: one left by a driver that
 * died (its streams cut, QEMU not yet aware) or started by someone else
 * is not ours to take over or cancel.
 */
static void
on_migration_status(VmigMigration *m, JsonNode *reply)
{
    static const char *const settled[] = {"",       "none",      "completed",
                                          "failed", "cancelled", NULL};
    const char *status = JSON_NODE_HOLDS_OBJECT(reply)
                             ? json_object_get_string_member_with_default(
                                   json_node_get_object(reply), "status", "")
                             : "";
    g_autoptr(GError) error = NULL;

    if (!g_strv_contains(settled, status)) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "domain '%s' has a migration in progress (QEMU's status '%s'), not "
                    "this daemon's: wait for it to end, or cancel it (migrate_cancel)",
                    m->domain, status);
        vmig_mig_refuse_start(m, error);
        return;
    }
    vmig_mig_start_checked(m);
}

/* QEMU's run status: a source runs (or is paused), a destination waits for a stream. */
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
        vmig_mig_refuse_start(m, error);
        return;
    }
    /* A failure after the source QEMU completed resumes only a guest that ran. */
    m->guest_was_running = g_str_equal(status, "running");
    qmp_step(m, "query-migrate", NULL, NULL, 0,
             "cannot read the domain's migration status", on_migration_status);
}

/* The monitor is open and the catalog read. */
static void
on_opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    VmigQmp *qmp = NULL;

    m->catalog = vmig_hypervisor_open_finish(result, &qmp, &error);
    if (!m->catalog) {
        vmig_mig_refuse_start(m, error);
        return;
    }
    m->qmp = qmp;
    m->qmp_closed_handler = g_signal_connect(qmp, "closed", G_CALLBACK(on_qmp_closed), m);
    qmp_step(m, "query-status", NULL, NULL, 0, "cannot read the domain's status",
             on_status);
}

static void
qmp_introspect(VmigMigration *m)
{
    const VmigMigrationSettings *settings = vmig_mig_settings(m);

    vmig_hypervisor_open_async(m->domain, settings->context, settings->qmp_timeout_ms,
                               NULL, on_opened, vmig_mig_ref(m));
}

/* ------------------------------------------------------------------------ */
/* Configuring */

/*
 * Notes what @caps and @params change, as it is now (the catalog's current
 * values, read at introspection while the driver held the monitor), so
 * that the end puts it back, as libvirt's qemuMigrationParamsReset does.
 */
static void
save_settings(VmigMigration *m, JsonObject *caps, JsonObject *params)
{
    JsonObject *sets[] = {caps, params};
    JsonObject **saved[] = {&m->saved_caps, &m->saved_params};

    for (guint i = 0; i < G_N_ELEMENTS(sets); i++) {
        g_autoptr(GList) names = json_object_get_members(sets[i]);

        g_clear_pointer(saved[i], json_object_unref);
        *saved[i] = json_object_new();
        for (GList *l = names; l; l = l->next) {
            const VmigTunable *t = vmig_catalog_lookup(m->catalog, l->data);

            if (t && t->current)
                json_object_set_member(*saved[i], l->data, json_node_copy(t->current));
        }
    }
}

static void
qmp_configure(VmigMigration *m, VmigBackendStep next)
{
    g_autoptr(JsonObject) caps = vmig_mig_capabilities(m);
    JsonObject *params = vmig_mig_parameters(m);
    JsonObject *args = json_object_new();
    JsonArray *list = json_array_new();
    g_autoptr(GList) names = NULL;

    /* Every capability of a feature the driver negotiates is set, off when
     * not chosen, as libvirt does: a QEMU an earlier driver left
     * reconfigured (a daemon killed mid-migration puts nothing back)
     * starts clean.  Not for a peer with no driver: a plain QEMU's
     * capabilities are whatever its operator set, on both sides, and a
     * stream must keep to them. */
    for (guint f = 0; f < VMIG_FEATURE_LAST && !m->legacy_peer; f++) {
        const VmigFeatureInfo *info = vmig_feature_info(f);

        if (info->capability && !json_object_has_member(caps, info->capability) &&
            vmig_catalog_lookup(m->catalog, info->capability))
            json_object_set_boolean_member(caps, info->capability, FALSE);
    }
    /* The driver's own knob: QEMU then says when its migration changes
     * state (MIGRATION events), so the end is seen at once. */
    if (vmig_catalog_lookup(m->catalog, "events") &&
        !json_object_has_member(caps, "events"))
        json_object_set_boolean_member(caps, "events", TRUE);
    names = json_object_get_members(caps);
    for (GList *l = names; l; l = l->next) {
        JsonObject *cap = json_object_new();

        json_object_set_string_member(cap, "capability", l->data);
        json_object_set_member(cap, "state",
                               json_node_copy(json_object_get_member(caps, l->data)));
        json_array_add_object_element(list, cap);
    }
    json_object_set_array_member(args, "capabilities", list);
    save_settings(m, caps, params);
    if (json_object_get_size(params) == 0) {
        json_object_unref(params);
        qmp_step_then(m, "migrate-set-capabilities", args,
                      "cannot set the migration capabilities", next);
        return;
    }
    /* Both go out at once: QEMU answers in order, so a refusal of the
     * first fails the migration before the second's answer is looked at. */
    qmp_step_then(m, "migrate-set-capabilities", args,
                  "cannot set the migration capabilities", NULL);
    qmp_step_then(m, "migrate-set-parameters", params,
                  "cannot set the migration parameters", next);
}

/* ------------------------------------------------------------------------ */
/* Starting */

/* QEMU migrates: read its progress, hear its events. */
static void on_qmp_event(VmigQmp *qmp, const char *name, JsonObject *data,
                         JsonObject *timestamp, gpointer user_data);

static void
stream_started(VmigMigration *m, JsonNode *reply)
{
    m->qemu_migrating = TRUE;
    if (!vmig_mig_start_progress(m))
        return;
    if (!m->qmp_event_handler)
        m->qmp_event_handler =
            g_signal_connect(m->qmp, "event", G_CALLBACK(on_qmp_event), m);
}

/*
 * QEMU's stream is about to get the fd of the stream's channel: blocking,
 * as QEMU's migration thread writes it (a non-blocking fd makes it poll
 * on every full socket buffer: +20 ms of downtime measured here), and as
 * version 1's main channel was.
 */
static void
hand_to_qemu(VmigMigration *m)
{
    int fd = *vmig_mig_stream_fd(m);

    if (fd >= 0 && !g_unix_set_fd_nonblocking(fd, FALSE, NULL))
        g_debug("%s: the stream's channel stays non-blocking: %s", m->id,
                g_strerror(errno));
}

/*
 * How long `migrate` is tried again while QEMU 7.2 still cleans up its
 * previous migration: QEMU reports "failed" from its migration thread
 * before the main loop has run the cleanup, and a `migrate` in between
 * is refused with "duplicate yank instance" (or, seen once under load
 * right after a multifd migration failed, "There's a migration process
 * in progress").
 */
#define MIGRATE_RETRY_MS 3000

static void send_migrate(VmigMigration *m);

/* Sends `migrate` again.  Returns: G_SOURCE_REMOVE. */
static gboolean
on_migrate_retry(gpointer user_data)
{
    send_migrate(user_data);
    return G_SOURCE_REMOVE;
}

/* `migrate`'s answer: the stream runs, or QEMU refused. */
static void
on_migrate(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);

    if (m->finished)
        return;
    if (reply) {
        stream_started(m, reply);
        return;
    }
    if ((strstr(error->message, "yank") || strstr(error->message, "in progress")) &&
        g_get_monotonic_time() < m->end_deadline) {
        g_debug("%s: QEMU still cleans up its previous migration: %s", m->id,
                error->message);
        g_source_unref(vmig_mig_timeout(m, 50, on_migrate_retry));
        return;
    }
    vmig_mig_fail_error(m, VMIG_NEGOTIATE_CODE_HYPERVISOR, "QEMU refused to migrate",
                        error);
}

static void
send_migrate(VmigMigration *m)
{
    JsonObject *args = json_object_new();

    if (m->finished || !m->qmp) {
        json_object_unref(args);
        return;
    }
    json_object_set_string_member(args, "uri", m->migrate_uri);
    /* From the moment it is sent: an end before its answer must cancel it. */
    m->qemu_migrating = TRUE;
    vmig_qmp_execute_async(m->qmp, "migrate", args, NULL, 0, NULL, on_migrate,
                           vmig_mig_ref(m));
    json_object_unref(args);
}

/* The source: over the main channel's fd itself, or through the private socket. */
static void
qmp_start_source(VmigMigration *m)
{
    g_autofree char *uri = NULL;
    JsonObject *args;

    /* A peer with no driver got no COMMIT: its connection is the stream. */
    if (!m->commit || m->commit->channels == 0) {
        g_autofree char *name = g_strdup_printf("vmig-%s", m->id);

        /* The QMP client sends a copy of the fd with getfd; migrate follows
         * at once (QEMU answers in order). */
        hand_to_qemu(m);
        args = json_object_new();
        json_object_set_string_member(args, "fdname", name);
        qmp_step(m, "getfd", args, vmig_mig_stream_fd(m), 1,
                 "cannot hand the channel to QEMU", NULL);
        vmig_fd_clear(vmig_mig_stream_fd(m));
        uri = g_strdup_printf("fd:%s", name);
    } else {
        g_autoptr(GError) error = NULL;

        m->private_path =
            g_strdup_printf("%s/%s-out.sock", vmig_mig_settings(m)->runtime_dir, m->id);
        if (!vmig_mig_channels_listen_private(m, m->private_path, &error)) {
            vmig_mig_fail_error(m, 0, NULL, error);
            return;
        }
        uri = g_strdup_printf("unix:%s", m->private_path);
    }
    m->end_deadline = g_get_monotonic_time() + MIGRATE_RETRY_MS * 1000;
    g_free(m->migrate_uri);
    m->migrate_uri = g_steal_pointer(&uri);
    send_migrate(m);
}

/* The destination QEMU listens: READY, then the channels to it. */
static void
incoming_set(VmigMigration *m, JsonNode *reply)
{
    g_autoptr(GError) error = NULL;
    g_auto(VmigFd) conn = -1;

    m->qemu_migrating = TRUE;
    if (m->commit->channels == 0) {
        /* QEMU reads its stream's fd itself (version 1: the main channel's). */
        if (!vmig_mig_send_ready(m))
            return;
        vmig_fd_clear(vmig_mig_stream_fd(m));
    } else {
        /* Main first: QEMU takes the first connection it accepts as the main one. */
        conn = vmig_mig_channels_dial_local(m->private_path, &error);
        if (conn < 0) {
            vmig_mig_fail_error(m, 0, "cannot reach the destination QEMU", error);
            return;
        }
        if (!vmig_mig_send_ready(m) ||
            !vmig_mig_channels_bridge_to_qemu(m, m->private_path, &conn))
            return;
    }
    stream_started(m, NULL);
}

/* The destination: QEMU takes the main channel's fd, or listens on a private socket. */
static void
qmp_start_destination(VmigMigration *m)
{
    JsonObject *args;

    /* Version 2: the guest loads paused, whatever -S said: a QEMU in
     * inmigrate that was told `stop` does not start by itself, and runs
     * only once SWITCHOVER came (qmp_resume()). */
    if (vmig_mig_v2(m))
        qmp_step(m, "stop", NULL, NULL, 0, "cannot keep the guest paused on arrival",
                 NULL);
    args = json_object_new();

    if (m->commit->channels == 0) {
        g_autofree char *name = g_strdup_printf("vmig-%s", m->id);
        g_autofree char *uri = g_strdup_printf("fd:%s", name);

        json_object_set_string_member(args, "fdname", name);
        hand_to_qemu(m);
        qmp_step(m, "getfd", args, vmig_mig_stream_fd(m), 1,
                 "cannot hand the channel to QEMU", NULL);
        args = json_object_new();
        json_object_set_string_member(args, "uri", uri);
    } else {
        g_autofree char *uri = NULL;

        m->private_path =
            g_strdup_printf("%s/%s-in.sock", vmig_mig_settings(m)->runtime_dir, m->id);
        unlink(m->private_path);
        uri = g_strdup_printf("unix:%s", m->private_path);
        json_object_set_string_member(args, "uri", uri);
    }
    /* From the moment it is sent, this QEMU takes no other stream: an end
     * before its answer still tells it to quit. */
    m->qemu_migrating = TRUE;
    qmp_step(m, "migrate-incoming", args, NULL, 0, "QEMU refused the incoming migration",
             incoming_set);
}

/* ------------------------------------------------------------------------ */
/* Progress and the end */

/* The destination resumed its guest: done. */
static void
resumed(VmigMigration *m, JsonNode *reply)
{
    vmig_mig_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
}

/* Returns: @o's integer member @name, 0 when it has none. */
static gint64
member_int(JsonObject *o, const char *name)
{
    return o ? json_object_get_int_member_with_default(o, name, 0) : 0;
}

/*
 * Reads query-migrate's answer @info into *@p (pointing into @info): the
 * progress, and once completed what the downtime cost.
 */
static void
read_progress(JsonObject *info, VmigBackendProgress *p)
{
    JsonObject *ram = info && json_object_has_member(info, "ram")
                          ? json_object_get_object_member(info, "ram")
                          : NULL;

    *p = (VmigBackendProgress){
        .status =
            info ? json_object_get_string_member_with_default(info, "status", "") : "",
        .has_ram = ram != NULL,
        .transferred = (guint64)MAX(member_int(ram, "transferred"), 0),
        .remaining = (guint64)MAX(member_int(ram, "remaining"), 0),
        .total = (guint64)MAX(member_int(ram, "total"), 0),
        /* QEMU reports mbps (10^6 bits/s); events carry bytes/s. */
        .bytes_per_second = ram ? (guint64)MAX(json_object_get_double_member_with_default(
                                                   ram, "mbps", 0) *
                                                   1e6 / 8,
                                               0)
                                : 0,
        .expected_downtime_ms = member_int(info, "expected-downtime"),
    };
    /* QEMU 7.2 says completed a moment before it works out its times
     * (total-time still 0): those figures are not the final ones yet. */
    if (ram && g_str_equal(p->status, "completed") &&
        member_int(info, "total-time") > 0) {
        p->has_final = TRUE;
        p->total_ms = member_int(info, "total-time");
        p->setup_ms = MAX(member_int(info, "setup-time"), 0);
        p->downtime_ms = MAX(member_int(info, "downtime"), 0);
        p->normal_bytes = (guint64)MAX(member_int(ram, "normal-bytes"), 0);
        p->downtime_bytes = (guint64)MAX(member_int(ram, "downtime-bytes"), 0);
        p->multifd_bytes = (guint64)MAX(member_int(ram, "multifd-bytes"), 0);
        p->mbps = json_object_get_double_member_with_default(ram, "mbps", 0);
    }
}

/* query-migrate's answer: progress, or the end. */
static void
on_progress(VmigMigration *m, JsonNode *reply)
{
    JsonObject *info = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    VmigBackendProgress p;

    read_progress(info, &p);
    m->progress_pending = FALSE;
    vmig_mig_progress(m, &p);
    if (vmig_mig_v2(m) && g_str_equal(p.status, "completed")) {
        /* The switchover is the drivers' (migration-control.c). */
        vmig_mig_source_clear(&m->progress_timer);
        m->progress_final = TRUE;
        vmig_mig_hypervisor_completed(m);
    } else if (vmig_mig_v2(m) && g_str_equal(p.status, "failed")) {
        vmig_mig_hypervisor_failed(m, json_object_get_string_member_with_default(
                                          info, "error-desc", "QEMU's migration failed"));
    } else if (g_str_equal(p.status, "completed")) {
        vmig_mig_source_clear(&m->progress_timer);
        if (m->role == VMIG_ROLE_DESTINATION && m->resume)
            qmp_step(m, "cont", NULL, NULL, 0, "cannot resume the guest", resumed);
        else
            vmig_mig_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
    } else if (g_str_equal(p.status, "failed") && m->cancel_requested) {
        /* QEMU's cancel shuts its sockets down, and a thread that writes
         * first can make it end "failed" (EPIPE): it was still the cancel. */
        vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
    } else if (g_str_equal(p.status, "failed")) {
        vmig_mig_finish(m, VMIG_MIGRATION_FAILED,
                        json_object_get_string_member_with_default(
                            info, "error-desc", "QEMU's migration failed"));
    } else if (g_str_equal(p.status, "cancelled")) {
        vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled");
    }
}

static void
qmp_poll(VmigMigration *m)
{
    if (!m->qmp) {
        m->progress_pending = FALSE;
        return;
    }
    qmp_step(m, "query-migrate", NULL, NULL, 0, "cannot read the migration status",
             on_progress);
}

/* How often, and how far apart, the end asks for QEMU's final figures. */
#define VMIG_QMP_FINAL_TRIES    20
#define VMIG_QMP_FINAL_RETRY_MS 10

static void on_final_reading(GObject *source, GAsyncResult *result, gpointer user_data);

/* Asks QEMU for its completed migration's figures (the end). */
static void
read_final(VmigMigration *m)
{
    m->final_readings++;
    vmig_qmp_execute_async(m->qmp, "query-migrate", NULL, NULL, 0, NULL, on_final_reading,
                           vmig_mig_ref(m));
}

/* Returns: G_SOURCE_REMOVE, having asked again. */
static gboolean
on_final_retry(gpointer user_data)
{
    VmigMigration *m = user_data;

    if (m->qmp)
        read_final(m);
    else
        put_back(m);
    return G_SOURCE_REMOVE;
}

/*
 * The completed migration's last reading (the end): kept for the record,
 * asked again while QEMU has not worked its times out yet (a bounded
 * number of times), then QEMU's settings are put back.
 */
static void
on_final_reading(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);
    VmigBackendProgress p;

    if (!reply) {
        g_debug("%s: no last reading of QEMU's migration: %s", m->id, error->message);
        put_back(m);
        return;
    }
    read_progress(JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL, &p);
    if (p.has_final) {
        vmig_mig_stats_read(m, &p);
    } else if (m->final_readings < VMIG_QMP_FINAL_TRIES) {
        GSource *retry = g_timeout_source_new(VMIG_QMP_FINAL_RETRY_MS);

        g_source_set_callback(retry, on_final_retry, vmig_mig_ref(m),
                              (GDestroyNotify)vmig_mig_unref);
        g_source_attach(retry, vmig_mig_settings(m)->context);
        g_source_unref(retry);
        return;
    }
    put_back(m);
}

/*
 * QEMU's MIGRATION event: its state changed, so read it now, not at the
 * next tick.  Version 2: "completed" moves the switchover on at once (the
 * guest is paused on both sides until it is over: a query-migrate round
 * trip first would be downtime); the reading still follows, for the last
 * progress.
 */
static void
on_qmp_event(VmigQmp *qmp, const char *name, JsonObject *data, JsonObject *timestamp,
             gpointer user_data)
{
    VmigMigration *m = user_data;

    if (!g_str_equal(name, "MIGRATION"))
        return;
    if (vmig_mig_v2(m) && data &&
        g_str_equal(json_object_get_string_member_with_default(data, "status", ""),
                    "completed"))
        vmig_mig_hypervisor_completed(m);
    vmig_mig_poll(m);
}

/*
 * QEMU 7.2 can wait forever on multifd channels that reached end of file
 * mid-stream (a source daemon that died): the driver does not wait for it
 * to notice.
 */
static void
qmp_stream_ended(VmigMigration *m)
{
    vmig_mig_channels_arm_stream_end(m);
}

static void
qmp_cancel(VmigMigration *m)
{
    if (m->role == VMIG_ROLE_SOURCE) {
        /* QEMU stops, resumes the guest, and the progress read sees "cancelled". */
        qmp_step(m, "migrate_cancel", NULL, NULL, 0, "cannot cancel QEMU's migration",
                 NULL);
        return;
    }
    vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
}

/* migrate-start-postcopy's answer, to the caller. */
static void
on_postcopy(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    VmigMigration *m = g_task_get_task_data(task);
    GError *error = NULL;
    JsonNode *reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);

    if (reply) {
        json_node_unref(reply);
        /* Version 2: the destination's guest is the real one from here on. */
        vmig_mig_control_postcopy(m);
        g_task_return_boolean(task, TRUE);
    } else {
        g_task_return_error(task, error);
    }
}

static void
qmp_postcopy(VmigMigration *m, GTask *task)
{
    g_task_set_task_data(task, vmig_mig_ref(m), (GDestroyNotify)vmig_mig_unref);
    vmig_qmp_execute_async(m->qmp, "migrate-start-postcopy", NULL, NULL, 0, NULL,
                           on_postcopy, task);
}

/* migrate-set-parameters' answer, to the caller. */
static void
on_parameters_set(GObject *source, GAsyncResult *result, gpointer user_data)
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

static void
qmp_set_parameters(VmigMigration *m, JsonObject *params, GTask *task)
{
    if (!m->qmp) {
        g_task_return_new_error(task, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                                "the monitor of the source QEMU is closed");
        g_object_unref(task);
        return;
    }
    vmig_qmp_execute_async(m->qmp, "migrate-set-parameters", params, NULL, 0, NULL,
                           on_parameters_set, task);
}

/* Destination, version 2: SWITCHOVER came, the guest is this side's. */
static void
qmp_resume(VmigMigration *m, VmigBackendStep done)
{
    if (!m->resume || !m->qmp) {
        done(m);
        return;
    }
    qmp_step_then(m, "cont", NULL, "cannot resume the guest", done);
}

/* The answer of the resolving command: the migration ends as the operator said. */
static void
on_resolve_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);
    VmigQmp *qmp = VMIG_QMP(source);

    /* A QEMU told to quit may be gone before it answers: that is done too. */
    if (!reply && m->role == VMIG_ROLE_DESTINATION &&
        m->resolve_action == VMIG_RESOLVE_DISCARD_HERE)
        g_clear_error(&error);
    vmig_qmp_close(qmp);
    g_object_unref(qmp);
    vmig_mig_resolved(m, error);
}

/* The monitor is open again (it was let go at the end): do what the operator said. */
static void
on_resolve_opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigCatalog) catalog = NULL;
    VmigQmp *qmp = NULL;
    const char *command = NULL;

    catalog = vmig_hypervisor_open_finish(result, &qmp, &error);
    if (!catalog) {
        g_prefix_error(&error,
                       "cannot reach the %s QEMU again: ", vmig_role_to_string(m->role));
        vmig_mig_resolved(m, error);
        return;
    }
    if (m->resolve_action == VMIG_RESOLVE_RESUME_HERE)
        command = "cont";
    else if (m->role == VMIG_ROLE_DESTINATION)
        command = "quit"; /* a guest that never ran here, or a copy: gone */
    else
        command = "query-status"; /* the source keeps its paused copy, as it is */
    vmig_qmp_execute_async(qmp, command, NULL, NULL, 0, NULL, on_resolve_done,
                           g_steal_pointer(&m));
}

static void
qmp_resolve(VmigMigration *m)
{
    const VmigMigrationSettings *settings = vmig_mig_settings(m);

    vmig_hypervisor_open_async(m->domain, settings->context, settings->qmp_timeout_ms,
                               NULL, on_resolve_opened, vmig_mig_ref(m));
}

static void qmp_release(VmigMigration *m);

/* The end is over on this side: the monitor closes, the migration goes on ending. */
static void
end_done(VmigMigration *m)
{
    VmigBackendStep done = g_steal_pointer(&m->end_done);

    qmp_release(m);
    if (done)
        done(m);
}

/* Put back answered (or QEMU is gone: nothing to put back). */
static void
on_put_back(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);

    if (!reply)
        g_warning("%s: QEMU's migration settings may not be as they were: %s", m->id,
                  error->message);
    end_done(m);
}

/* Puts back the capabilities and parameters configure changed. */
static void
put_back(VmigMigration *m)
{
    JsonObject *caps = m->saved_caps;
    JsonObject *params = m->saved_params;
    gboolean has_caps = caps && json_object_get_size(caps) > 0;
    gboolean has_params = params && json_object_get_size(params) > 0;

    if (!m->qmp || (!has_caps && !has_params)) {
        end_done(m);
        return;
    }
    if (has_caps) {
        JsonObject *args = json_object_new();
        JsonArray *list = json_array_new();
        g_autoptr(GList) names = json_object_get_members(caps);

        for (GList *l = names; l; l = l->next) {
            JsonObject *cap = json_object_new();

            json_object_set_string_member(cap, "capability", l->data);
            json_object_set_member(cap, "state",
                                   json_node_copy(json_object_get_member(caps, l->data)));
            json_array_add_object_element(list, cap);
        }
        json_object_set_array_member(args, "capabilities", list);
        /* QEMU answers in order: the last command's answer ends it. */
        vmig_qmp_execute_async(m->qmp, "migrate-set-capabilities", args, NULL, 0, NULL,
                               has_params ? NULL : on_put_back,
                               has_params ? NULL : vmig_mig_ref(m));
        json_object_unref(args);
    }
    if (has_params)
        vmig_qmp_execute_async(m->qmp, "migrate-set-parameters", params, NULL, 0, NULL,
                               on_put_back, vmig_mig_ref(m));
}

/* The source guest runs again: now its settings. */
static void
on_resumed_source(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);

    if (!reply)
        g_warning("%s: cannot resume the source guest: %s", m->id, error->message);
    put_back(m);
}

/*
 * Returns: TRUE when the source QEMU's migration completed (its guest
 * paused, "postmigrate") but the guest is still this side's: the
 * destination never got SWITCHOVER, or promised with ERROR that it did
 * not run it.  QEMU runs such a guest again on `cont`.
 */
static gboolean
source_takes_back(VmigMigration *m)
{
    return m->role == VMIG_ROLE_SOURCE && m->state != VMIG_MIGRATION_COMPLETED &&
           m->state != VMIG_MIGRATION_UNKNOWN && m->guest_was_running &&
           (!m->switchover || m->peer_gave_up);
}

/* Returns: TRUE when a destination QEMU holds nothing of use: it began loading a
 * stream that did not end in a guest of its own. */
static gboolean
destination_useless(VmigMigration *m)
{
    return m->role == VMIG_ROLE_DESTINATION && m->qemu_migrating &&
           m->state != VMIG_MIGRATION_COMPLETED && m->state != VMIG_MIGRATION_UNKNOWN &&
           !m->resumed;
}

static gboolean on_settle_timer(gpointer user_data);

/* query-migrate's answer while a cancelled migration settles. */
static void
on_settling(GObject *source, GAsyncResult *result, gpointer user_data)
{
    static const char *const settled[] = {"none", "completed", "failed", "cancelled",
                                          NULL};
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(JsonNode) reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, NULL);
    const char *status = reply && JSON_NODE_HOLDS_OBJECT(reply)
                             ? json_object_get_string_member_with_default(
                                   json_node_get_object(reply), "status", "none")
                             : NULL;

    if (!status) {
        end_done(m); /* QEMU is gone */
        return;
    }
    if (g_str_equal(status, "completed") && source_takes_back(m)) {
        /* It completed as it was being cancelled: the guest waits paused. */
        vmig_qmp_execute_async(m->qmp, "cont", NULL, NULL, 0, NULL, on_resumed_source,
                               vmig_mig_ref(m));
        return;
    }
    if (g_strv_contains(settled, status) || g_get_monotonic_time() > m->end_deadline) {
        put_back(m);
        return;
    }
    g_source_unref(vmig_mig_timeout(m, 20, on_settle_timer));
}

/* Asks again whether the cancelled migration settled.  Returns: G_SOURCE_REMOVE. */
static gboolean
on_settle_timer(gpointer user_data)
{
    VmigMigration *m = user_data;

    if (m->qmp)
        vmig_qmp_execute_async(m->qmp, "query-migrate", NULL, NULL, 0, NULL, on_settling,
                               vmig_mig_ref(m));
    return G_SOURCE_REMOVE;
}

/*
 * The end: a source's migration that did not complete is cancelled, and
 * the settings put back once QEMU says it stopped (it refuses them while
 * a migration runs); a source whose QEMU completed but whose guest never
 * changed sides runs its guest again; a destination QEMU that began
 * loading a stream that did not end in its own running guest is of no
 * further use and quits.  A migration left unknown touches no guest: the
 * operator decides (qmp_resolve()).
 */
static void
qmp_end(VmigMigration *m, VmigBackendStep done)
{
    gboolean completed = m->state == VMIG_MIGRATION_COMPLETED;

    m->end_done = done;
    if (!m->qmp) {
        end_done(m);
        return;
    }
    if (m->state == VMIG_MIGRATION_UNKNOWN) {
        m->qemu_migrating = FALSE;
        put_back(m);
        return;
    }
    if (destination_useless(m)) {
        vmig_qmp_execute_async(m->qmp, "quit", NULL, NULL, 0, NULL, NULL, NULL);
        m->qemu_migrating = FALSE;
        end_done(m);
        return;
    }
    if (m->role == VMIG_ROLE_SOURCE && completed && !m->qemu_stats) {
        /* Version 2 moves the switchover on at QEMU's event, so the last
         * reading may come after the end began: QEMU's figures for the
         * record, before its settings are put back. */
        read_final(m);
        return;
    }
    if (m->role == VMIG_ROLE_SOURCE && !completed && m->hypervisor_completed) {
        m->qemu_migrating = FALSE;
        if (source_takes_back(m)) {
            vmig_qmp_execute_async(m->qmp, "cont", NULL, NULL, 0, NULL, on_resumed_source,
                                   vmig_mig_ref(m));
            return;
        }
        put_back(m);
        return;
    }
    if (m->role == VMIG_ROLE_SOURCE && !completed && m->qemu_migrating) {
        /* QEMU resumes the source guest once its migration is cancelled. */
        vmig_qmp_execute_async(m->qmp, "migrate_cancel", NULL, NULL, 0, NULL, NULL, NULL);
        m->qemu_migrating = FALSE;
        m->end_deadline = g_get_monotonic_time() + VMIG_MIG_END_TIMEOUT_MS * 1000 / 2;
        vmig_qmp_execute_async(m->qmp, "query-migrate", NULL, NULL, 0, NULL, on_settling,
                               vmig_mig_ref(m));
        return;
    }
    put_back(m);
}

static void
qmp_release(VmigMigration *m)
{
    if (!m->qmp)
        return;
    if (destination_useless(m)) {
        /* A destination QEMU that began loading is of no further use. */
        vmig_qmp_execute_async(m->qmp, "quit", NULL, NULL, 0, NULL, NULL, NULL);
    } else if (m->role == VMIG_ROLE_SOURCE && m->state != VMIG_MIGRATION_COMPLETED &&
               m->state != VMIG_MIGRATION_UNKNOWN && m->qemu_migrating &&
               !m->hypervisor_completed) {
        /* The source guest keeps running: QEMU resumes it once its migration is
         * cancelled. */
        vmig_qmp_execute_async(m->qmp, "migrate_cancel", NULL, NULL, 0, NULL, NULL, NULL);
    }
    if (m->qmp_closed_handler)
        g_signal_handler_disconnect(m->qmp, m->qmp_closed_handler);
    if (m->qmp_event_handler)
        g_signal_handler_disconnect(m->qmp, m->qmp_event_handler);
    m->qmp_closed_handler = 0;
    m->qmp_event_handler = 0;
    vmig_qmp_close(m->qmp);
    g_clear_object(&m->qmp);
}

const VmigBackend vmig_backend_qmp = {
    .name = "qmp",
    .introspect = qmp_introspect,
    .configure = qmp_configure,
    .start_source = qmp_start_source,
    .start_destination = qmp_start_destination,
    .poll = qmp_poll,
    .stream_ended = qmp_stream_ended,
    .cancel = qmp_cancel,
    .resume = qmp_resume,
    .resolve = qmp_resolve,
    .postcopy = qmp_postcopy,
    .set_parameters = qmp_set_parameters,
    .end = qmp_end,
    .release = qmp_release,
};
