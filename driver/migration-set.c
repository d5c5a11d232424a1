/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-set.c: tunables changed while a migration runs (set-tunables,
 * `virt-migrate set`): virsh's migrate-setspeed and migrate-setmaxdowntime
 * for any parameter QEMU applies to a running migration
 *
 * The request is checked as migrate's tunables are (driver/tunables.c,
 * against the domain's own catalog), then against the table below: only
 * the parameters QEMU 7.2 reads again while its migration runs
 * (migration/migration.c: migrate_params_apply() resets the rate limit of
 * the outgoing file at once; the migration thread reads the others at each
 * iteration or throttling step).  Every other parameter is read when the
 * migration starts, and capabilities cannot change once it has.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include "driver/tunables.h"

/* A parameter the driver knows about while a migration runs: whether QEMU
 * applies it live, and what changing it does or why it cannot change. */
typedef struct {
    const char *name;
    gboolean live;
    const char *why;
} VmigLiveParameter;

/* Every live one acts on the source QEMU's outgoing stream: none on the destination. */
static const VmigLiveParameter live_parameters[] = {
    {"max-bandwidth", TRUE, "the precopy stream's rate limit, at once"},
    {"downtime-limit", TRUE, "the downtime the switchover aims at, from the next pass"},
    {"max-postcopy-bandwidth", TRUE, "the postcopy stream's rate limit"},
    {"xbzrle-cache-size", TRUE, "the xbzrle cache, resized at once"},
    {"cpu-throttle-initial", TRUE, "auto-converge's first throttle"},
    {"cpu-throttle-increment", TRUE, "auto-converge's throttle steps"},
    {"cpu-throttle-tailslow", TRUE, "auto-converge's last steps"},
    {"max-cpu-throttle", TRUE, "auto-converge's highest throttle"},
    {"throttle-trigger-threshold", TRUE, "when auto-converge throttles"},
    {"multifd-channels", FALSE,
     "the channel count was negotiated between the drivers (feature multifd) and its "
     "channels connected when the migration started"},
};

/* Returns: the row of @name, or NULL. */
static const VmigLiveParameter *
live_parameter(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(live_parameters); i++) {
        if (g_str_equal(live_parameters[i].name, name))
            return &live_parameters[i];
    }
    return NULL;
}

/*
 * The capabilities QEMU 7.2 acts on in the source alone: auto-converge
 * throttles the source's vCPUs and puts nothing in the stream.  Every
 * other capability either changes the stream's format (the destination
 * must be told the same: multifd, compress, xbzrle's pages, ...) or a
 * conversation between both QEMUs (return-path, postcopy-ram).
 */
static const char *const source_only_capabilities[] = {"auto-converge"};

gboolean
vmig_mig_source_only(const char *name)
{
    const VmigLiveParameter *row = live_parameter(name);

    /* Every live parameter acts on the source's outgoing stream only. */
    if (row)
        return row->live;
    for (gsize i = 0; i < G_N_ELEMENTS(source_only_capabilities); i++) {
        if (g_str_equal(source_only_capabilities[i], name))
            return TRUE;
    }
    return FALSE;
}

/* Returns: the names of the table, for messages (to free). */
static char *
live_names(void)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(live_parameters); i++) {
        if (live_parameters[i].live)
            g_string_append_printf(out, "%s%s", out->len ? ", " : "",
                                   live_parameters[i].name);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/*
 * Returns: TRUE when @m is in a state to take tunables now, or FALSE with
 * STATE in @error saying why not.
 */
static gboolean
check_state(VmigMigration *m, GError **error)
{
    if (m->finished) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' has already ended (%s): there is nothing to set",
                    m->id, vmig_migration_state_to_string(m->state));
        return FALSE;
    }
    if (m->role != VMIG_ROLE_SOURCE) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' is the destination's: the tunables a running "
                    "migration takes act on the source QEMU's stream; set them on the "
                    "source's virt-migrated",
                    m->id);
        return FALSE;
    }
    if (!m->backend->set_parameters) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "migration '%s' is run by %s: change its tunables there (virsh "
                    "migrate-setspeed, migrate-setmaxdowntime)",
                    m->id, m->backend->name);
        return FALSE;
    }
    if (m->state != VMIG_MIGRATION_MIGRATING || m->hypervisor_completed) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' is %s%s: tunables are set on a running stream "
                    "(state migrating); before it, give them to migrate --tunable",
                    m->id, vmig_migration_state_to_string(m->state),
                    m->hypervisor_completed ? " and its stream has ended" : "");
        return FALSE;
    }
    return TRUE;
}

/*
 * Parses @assignment against @m's catalog and the table.
 * Returns: TRUE with the tunable and its value, or FALSE with @error.
 */
static gboolean
parse_live(VmigMigration *m, const char *assignment, gboolean unstable,
           const VmigTunable **tunable, JsonNode **value, GError **error)
{
    g_autofree char *names = NULL;
    const VmigLiveParameter *row;

    if (!vmig_tunable_parse(m->catalog, assignment,
                            unstable ? VMIG_TUNABLE_PARSE_UNSTABLE : 0, tunable, value,
                            error))
        return FALSE;
    row = (*tunable)->kind == VMIG_TUNABLE_KIND_PARAMETER
              ? live_parameter((*tunable)->name)
              : NULL;
    if (row && row->live)
        return TRUE;
    g_clear_pointer(value, json_node_unref);
    names = live_names();
    if (row)
        g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_NEGOTIATED,
                    "tunable '%s' cannot change while the migration runs: %s; a running "
                    "migration takes: %s",
                    (*tunable)->name, row->why, names);
    else if ((*tunable)->kind == VMIG_TUNABLE_KIND_CAPABILITY)
        g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_NOT_SETTABLE,
                    "capability '%s' cannot change while a migration runs (QEMU takes "
                    "capabilities before it starts): give it to migrate --tunable",
                    (*tunable)->name);
    else if ((*tunable)->feature)
        g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_NEGOTIATED,
                    "tunable '%s' was negotiated between the drivers (feature %s) when "
                    "the migration started and cannot change while it runs; a running "
                    "migration takes: %s",
                    (*tunable)->name, (*tunable)->feature->name, names);
    else
        g_set_error(error, VMIG_TUNABLE_ERROR, VMIG_TUNABLE_ERROR_NOT_SETTABLE,
                    "tunable '%s' is read by QEMU when its migration starts, and "
                    "changing it now would do nothing; a running migration takes: %s",
                    (*tunable)->name, names);
    return FALSE;
}

/* A change on its way to QEMU. */
typedef struct {
    VmigMigration *m;   /* a reference */
    JsonObject *params; /* what was sent */
    GTask *task;        /* the caller's */
} SetRequest;

static void
set_request_free(SetRequest *request)
{
    vmig_mig_unref(request->m);
    json_object_unref(request->params);
    g_clear_object(&request->task);
    g_free(request);
}

/* QEMU took the change (or refused it): the record and the log say so. */
static void
on_set(GObject *source, GAsyncResult *result, gpointer user_data)
{
    SetRequest *request = user_data;
    VmigMigration *m = request->m;
    g_autoptr(GError) error = NULL;
    g_autoptr(GDateTime) now = NULL;
    g_autofree char *time = NULL;
    g_autoptr(GString) what = g_string_new(NULL);
    g_autoptr(GList) names = NULL;
    JsonObject *change;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        g_prefix_error(&error, "QEMU refused the change: ");
        g_task_return_error(request->task, g_steal_pointer(&error));
        set_request_free(request);
        return;
    }
    now = g_date_time_new_now_utc();
    time = g_date_time_format_iso8601(now);
    change = json_object_new();
    json_object_set_string_member(change, "time", time);
    json_object_set_object_member(change, "tunables", json_object_ref(request->params));
    json_array_add_object_element(m->changes, change);
    names = json_object_get_members(request->params);
    for (GList *l = names; l; l = l->next) {
        g_autofree char *value =
            json_to_string(json_object_get_member(request->params, l->data), FALSE);

        g_string_append_printf(what, "%s%s=%s", l == names ? "" : ", ",
                               (const char *)l->data, value);
    }
    g_message("migration %s (%s) set while migrating: %s", m->id,
              vmig_role_to_string(m->role), what->str);
    vmig_mig_notify(m);
    g_task_return_pointer(request->task, json_object_ref(request->params),
                          (GDestroyNotify)json_object_unref);
    set_request_free(request);
}

void
vmig_migration_set_tunables_async(VmigMigrations *ms, const char *id,
                                  const char *const *tunables, gboolean unstable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) params = json_object_new();
    VmigMigration *m;
    SetRequest *request;
    GTask *inner;

    g_main_context_push_thread_default(ms->settings.context);
    task = g_task_new(NULL, NULL, callback, user_data);
    g_main_context_pop_thread_default(ms->settings.context);

    m = g_hash_table_lookup(ms->by_id, id);
    if (!m) {
        g_task_return_new_error(task, VMIG_MIGRATION_ERROR,
                                VMIG_MIGRATION_ERROR_NOT_FOUND, "no migration '%s'", id);
        return;
    }
    if (!check_state(m, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (!tunables || !tunables[0]) {
        g_task_return_new_error(task, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                                "no tunable to set: give at least one NAME=VALUE");
        return;
    }
    for (guint i = 0; tunables[i]; i++) {
        const VmigTunable *tunable = NULL;
        JsonNode *value = NULL;

        if (!parse_live(m, tunables[i], unstable, &tunable, &value, &error)) {
            g_task_return_error(task, g_steal_pointer(&error));
            return;
        }
        json_object_set_member(params, tunable->name, value);
    }
    /* The end puts back what was there before the migration: a parameter
     * first changed now is noted as the catalog read it at introspection,
     * before configure touched anything; one configure set is noted already. */
    if (!m->saved_params)
        m->saved_params = json_object_new();
    {
        g_autoptr(GList) names = json_object_get_members(params);

        for (GList *l = names; l; l = l->next) {
            const VmigTunable *t = vmig_catalog_lookup(m->catalog, l->data);

            if (!json_object_has_member(m->saved_params, l->data) && t && t->current)
                json_object_set_member(m->saved_params, l->data,
                                       json_node_copy(t->current));
        }
    }
    request = g_new0(SetRequest, 1);
    request->m = vmig_mig_ref(m);
    request->params = json_object_ref(params);
    request->task = g_steal_pointer(&task);
    g_main_context_push_thread_default(ms->settings.context);
    inner = g_task_new(NULL, NULL, on_set, request);
    g_main_context_pop_thread_default(ms->settings.context);
    m->backend->set_parameters(m, params, inner);
}

JsonObject *
vmig_migration_set_tunables_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}
