/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * commands.c: the control socket's commands
 *
 * One row per command: its name, handler and arguments.  The control
 * server checks arguments against the row, so handlers see well-formed
 * input only.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-daemon"

#include <unistd.h>

#include "driver/commands.h"
#include "driver/backend.h"
#include "driver/migration.h"
#include "driver/standing.h"

/*
 * query-version: {} -> QMP's shape, {"qemu": {"micro": 0, "minor": 1,
 * "major": 0}, "package": "virt-migrated 0.1.0"}, plus "version": "0.1.0"
 * (what `virt-migrate version` prints).
 */
static void
cmd_query_version(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    g_autoptr(JsonObject) version = vmig_control_version_new();
    JsonNode *node = json_node_alloc();

    json_object_set_string_member(version, "version", PACKAGE_VERSION);
    json_node_init_object(node, version);
    vmig_control_call_return(call, node);
}

typedef struct {
    VmigControlCall *call;
    gboolean unstable;
} TunablesQuery;

static void
on_tunables(GObject *source, GAsyncResult *result, gpointer user_data)
{
    TunablesQuery *query = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigCatalog) catalog = vmig_backend_tunables_finish(result, &error);

    if (catalog)
        vmig_control_call_return(query->call,
                                 vmig_catalog_to_json(catalog, query->unstable));
    else
        vmig_control_call_error_gerror(query->call, error);
    g_free(query);
}

/* query-tunables: {"domain": DOMAIN, "unstable": BOOL?} -> the catalog wire form */
static void
cmd_query_tunables(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    VmigDaemon *daemon = user_data;
    TunablesQuery *query = g_new0(TunablesQuery, 1);

    query->call = call;
    query->unstable =
        json_object_get_boolean_member_with_default(arguments, "unstable", FALSE);
    vmig_backend_tunables_async(json_object_get_string_member(arguments, "domain"),
                                daemon->settings.context, daemon->settings.qmp_timeout_ms,
                                NULL, on_tunables, query);
}

/* Returns: a NULL-terminated copy of the strings in @name (an array), or NULL. */
static GStrv
get_strv(JsonObject *arguments, const char *name, GError **error)
{
    g_autoptr(GStrvBuilder) builder = NULL;
    JsonArray *array;

    if (!json_object_has_member(arguments, name))
        return NULL;
    array = json_object_get_array_member(arguments, name);
    builder = g_strv_builder_new();
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *node = json_array_get_element(array, i);

        if (!JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_STRING) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "Parameter '%s' expects an array of strings", name);
            return NULL;
        }
        g_strv_builder_add(builder, json_node_get_string(node));
    }
    return g_strv_builder_end(builder);
}

/* Returns: the non-negative integer @name, @fallback when absent, or -1 with @error. */
static gint64
get_count(JsonObject *arguments, const char *name, gint64 fallback, gint64 max,
          GError **error)
{
    gint64 value = json_object_get_int_member_with_default(arguments, name, fallback);

    if (value < 0 || value > max) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "Parameter '%s' must be 0 to %" G_GINT64_FORMAT, name, max);
        return -1;
    }
    return value;
}

static void
on_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VmigControlCall *call = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *id = vmig_migration_start_finish(result, &error);
    g_autoptr(JsonBuilder) b = NULL;

    if (!id) {
        vmig_control_call_error_gerror(call, error);
        return;
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migration");
    json_builder_add_string_value(b, id);
    json_builder_end_object(b);
    vmig_control_call_return(call, json_builder_get_root(b));
}

/* migrate and prepare-incoming: the common request, fds and all. */
static void
start_migration(VmigControlCall *call, JsonObject *arguments, VmigDaemon *daemon,
                VmigRole role)
{
    g_autoptr(VmigMigrationRequest) req = g_new0(VmigMigrationRequest, 1);
    g_autoptr(GError) error = NULL;
    const char *uri_member = role == VMIG_ROLE_SOURCE ? "dest" : "listen";
    gsize n_fds = 0;
    g_autofree int *fds = vmig_control_call_steal_fds(call, &n_fds);
    gint64 n;

    req->main_fd = -1;
    if (n_fds > 1) {
        for (gsize i = 0; i < n_fds; i++)
            close(fds[i]);
        vmig_control_call_error(
            call, VMIG_CONTROL_CLASS_GENERIC,
            "%s takes one fd (the main channel), not %" G_GSIZE_FORMAT,
            vmig_control_call_get_command(call), n_fds);
        return;
    }
    if (n_fds == 1)
        req->main_fd = fds[0];
    req->domain = g_strdup(json_object_get_string_member(arguments, "domain"));
    req->uri =
        g_strdup(json_object_get_string_member_with_default(arguments, uri_member, NULL));
    req->unstable =
        json_object_get_boolean_member_with_default(arguments, "unstable", FALSE);
    req->resume = json_object_get_boolean_member_with_default(arguments, "resume", TRUE);
    req->libvirt_dest = g_strdup(
        json_object_get_string_member_with_default(arguments, "libvirt-dest", NULL));
    req->persistent =
        json_object_get_boolean_member_with_default(arguments, "persistent", FALSE);
    req->undefine_source =
        json_object_get_boolean_member_with_default(arguments, "undefine-source", FALSE);
    req->domain_xml = g_strdup(
        json_object_get_string_member_with_default(arguments, "domain-xml", NULL));
    req->tls = json_object_get_boolean_member_with_default(arguments, "tls", FALSE);
    req->experimental_protocol = json_object_get_boolean_member_with_default(
        arguments, "experimental-protocol", FALSE);
    req->send_domain =
        json_object_get_boolean_member_with_default(arguments, "send-domain", FALSE);
    req->legacy = json_object_get_boolean_member_with_default(arguments, "legacy", FALSE);
    if (req->send_domain && req->uri) {
        /* A standing listener: HOST, HOST:PORT, tcp:HOST[:PORT] (its default port). */
        char *uri = vmig_standing_address(req->uri, &error);

        if (!uri) {
            g_prefix_error(&error, "dest: ");
            vmig_control_call_error_gerror(call, error);
            return;
        }
        g_free(req->uri);
        req->uri = uri;
    }
    req->tls_hostname = g_strdup(
        json_object_get_string_member_with_default(arguments, "tls-hostname", NULL));
    req->tunables = get_strv(arguments, "tunables", &error);
    if (!error)
        req->no_features = get_strv(arguments, "no-features", &error);
    if (!error)
        req->require_features = get_strv(arguments, "require-features", &error);
    if (!error && (n = get_count(arguments, "channels", 0, 255, &error)) >= 0)
        req->channels = n;
    if (!error && (n = get_count(arguments, "max-channels", 0, 255, &error)) >= 0)
        req->max_channels = n;
    if (!error && (n = get_count(arguments, "channel-timeout", 0, 3600, &error)) >= 0)
        req->channel_timeout_ms = n * 1000;
    if (error) {
        vmig_control_call_error_gerror(call, error);
        return;
    }
    vmig_migration_start_async(daemon->migrations, role, g_steal_pointer(&req),
                               on_started, call);
}

/* migrate: see docs/migration.md */
static void
cmd_migrate(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    start_migration(call, arguments, user_data, VMIG_ROLE_SOURCE);
}

/* prepare-incoming: see docs/migration.md */
static void
cmd_prepare_incoming(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    start_migration(call, arguments, user_data, VMIG_ROLE_DESTINATION);
}

/* add-channels {"migration": ID} + fds -> {"accepted": N, "closed": M} */
static void
cmd_add_channels(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    VmigDaemon *daemon = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonBuilder) b = NULL;
    gsize n_fds = 0;
    g_autofree int *fds = vmig_control_call_steal_fds(call, &n_fds);
    guint closed = 0;

    if (n_fds == 0) {
        vmig_control_call_error(call, VMIG_CONTROL_CLASS_GENERIC,
                                "add-channels needs the channels' fds attached");
        return;
    }
    if (!vmig_migration_add_channels(
            daemon->migrations, json_object_get_string_member(arguments, "migration"),
            fds, n_fds, &closed, &error)) {
        vmig_control_call_error_gerror(call, error);
        return;
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "accepted");
    json_builder_add_int_value(b, n_fds - closed);
    json_builder_set_member_name(b, "closed");
    json_builder_add_int_value(b, closed);
    json_builder_end_object(b);
    vmig_control_call_return(call, json_builder_get_root(b));
}

/* cancel {"migration": ID} -> {} */
static void
cmd_cancel(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    VmigDaemon *daemon = user_data;
    g_autoptr(GError) error = NULL;

    if (!vmig_migration_cancel(daemon->migrations,
                               json_object_get_string_member(arguments, "migration"),
                               &error))
        vmig_control_call_error_gerror(call, error);
    else
        vmig_control_call_return(call, NULL);
}

/* query-migrations {"all": B?} -> [{migration, role, state, domain}]; with all, the
 * refused attempts too */
static void
cmd_query_migrations(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    VmigDaemon *daemon = user_data;

    if (arguments && json_object_get_boolean_member_with_default(arguments, "all", FALSE))
        vmig_control_call_return(call, vmig_migrations_list_all(daemon->migrations));
    else
        vmig_control_call_return(call, vmig_migrations_list(daemon->migrations));
}

/* query-migration {"migration": ID} -> the negotiation record */
static void
cmd_query_migration(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    VmigDaemon *daemon = user_data;
    g_autoptr(GError) error = NULL;
    JsonNode *record = vmig_migration_record(
        daemon->migrations, json_object_get_string_member(arguments, "migration"),
        &error);

    if (!record)
        vmig_control_call_error_gerror(call, error);
    else
        vmig_control_call_return(call, record);
}

static void
on_postcopy_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VmigControlCall *call = user_data;
    g_autoptr(GError) error = NULL;

    if (!vmig_migration_start_postcopy_finish(result, &error))
        vmig_control_call_error_gerror(call, error);
    else
        vmig_control_call_return(call, NULL);
}

/* start-postcopy {"migration": ID} -> {} */
static void
cmd_start_postcopy(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    VmigDaemon *daemon = user_data;

    vmig_migration_start_postcopy_async(
        daemon->migrations, json_object_get_string_member(arguments, "migration"),
        on_postcopy_started, call);
}

static void
on_tunables_set(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VmigControlCall *call = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) set = vmig_migration_set_tunables_finish(result, &error);
    JsonObject *o;
    JsonNode *node;

    if (!set) {
        vmig_control_call_error_gerror(call, error);
        return;
    }
    o = json_object_new();
    json_object_set_object_member(o, "tunables", json_object_ref(set));
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, o);
    vmig_control_call_return(call, node);
}

/* set-tunables {"migration": ID, "tunables": [NAME=VALUE...], "unstable": B?}
 * -> {"tunables": {NAME: VALUE}} */
static void
cmd_set_tunables(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    VmigDaemon *daemon = user_data;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) tunables = get_strv(arguments, "tunables", &error);

    if (error) {
        vmig_control_call_error_gerror(call, error);
        return;
    }
    vmig_migration_set_tunables_async(
        daemon->migrations, json_object_get_string_member(arguments, "migration"),
        (const char *const *)tunables,
        json_object_get_boolean_member_with_default(arguments, "unstable", FALSE),
        on_tunables_set, call);
}

static void
on_resolved(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VmigControlCall *call = user_data;
    g_autoptr(GError) error = NULL;
    const char *state = vmig_migration_resolve_finish(result, &error);
    g_autoptr(JsonBuilder) b = NULL;

    if (!state) {
        vmig_control_call_error_gerror(call, error);
        return;
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, state);
    json_builder_end_object(b);
    vmig_control_call_return(call, json_builder_get_root(b));
}

/* resolve {"migration": ID, "action": "resume-here"|"discard-here"} -> {"state": S} */
static void
cmd_resolve(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    VmigDaemon *daemon = user_data;
    const char *name = json_object_get_string_member(arguments, "action");
    VmigResolveAction action = vmig_resolve_action_from_string(name);

    if (action == VMIG_RESOLVE_LAST) {
        vmig_control_call_error(call, "GenericError",
                                "unknown action '%s' (expected resume-here or "
                                "discard-here)",
                                name);
        return;
    }
    vmig_migration_resolve_async(daemon->migrations,
                                 json_object_get_string_member(arguments, "migration"),
                                 action, on_resolved, call);
}

static const VmigControlArg migrate_args[] = {
    {"domain", VMIG_CONTROL_ARG_STRING, FALSE},
    {"dest", VMIG_CONTROL_ARG_STRING, TRUE},
    {"channels", VMIG_CONTROL_ARG_INT, TRUE},
    {"tunables", VMIG_CONTROL_ARG_ARRAY, TRUE},
    {"unstable", VMIG_CONTROL_ARG_BOOL, TRUE},
    {"no-features", VMIG_CONTROL_ARG_ARRAY, TRUE},
    {"require-features", VMIG_CONTROL_ARG_ARRAY, TRUE},
    {"channel-timeout", VMIG_CONTROL_ARG_INT, TRUE},
    {"libvirt-dest", VMIG_CONTROL_ARG_STRING, TRUE},
    {"persistent", VMIG_CONTROL_ARG_BOOL, TRUE},
    {"undefine-source", VMIG_CONTROL_ARG_BOOL, TRUE},
    {"tls", VMIG_CONTROL_ARG_BOOL, TRUE},
    {"tls-hostname", VMIG_CONTROL_ARG_STRING, TRUE},
    {"experimental-protocol", VMIG_CONTROL_ARG_BOOL, TRUE},
    {"send-domain", VMIG_CONTROL_ARG_BOOL, TRUE},
    {"legacy", VMIG_CONTROL_ARG_BOOL, TRUE},
    {NULL, 0, FALSE},
};

static const VmigControlArg prepare_incoming_args[] = {
    {"domain", VMIG_CONTROL_ARG_STRING, FALSE},
    {"listen", VMIG_CONTROL_ARG_STRING, TRUE},
    {"channel-timeout", VMIG_CONTROL_ARG_INT, TRUE},
    {"max-channels", VMIG_CONTROL_ARG_INT, TRUE},
    {"no-features", VMIG_CONTROL_ARG_ARRAY, TRUE},
    {"require-features", VMIG_CONTROL_ARG_ARRAY, TRUE},
    {"resume", VMIG_CONTROL_ARG_BOOL, TRUE},
    {"domain-xml", VMIG_CONTROL_ARG_STRING, TRUE},
    {"tls", VMIG_CONTROL_ARG_BOOL, TRUE},
    {"experimental-protocol", VMIG_CONTROL_ARG_BOOL, TRUE},
    {NULL, 0, FALSE},
};

static const VmigControlArg migration_id_args[] = {
    {"migration", VMIG_CONTROL_ARG_STRING, FALSE},
    {NULL, 0, FALSE},
};

static const VmigControlArg resolve_args[] = {
    {"migration", VMIG_CONTROL_ARG_STRING, FALSE},
    {"action", VMIG_CONTROL_ARG_STRING, FALSE},
    {NULL, 0, FALSE},
};

static const VmigControlArg query_migrations_args[] = {
    {"all", VMIG_CONTROL_ARG_BOOL, TRUE},
    {NULL, 0, FALSE},
};

static const VmigControlArg set_tunables_args[] = {
    {"migration", VMIG_CONTROL_ARG_STRING, FALSE},
    {"tunables", VMIG_CONTROL_ARG_ARRAY, FALSE},
    {"unstable", VMIG_CONTROL_ARG_BOOL, TRUE},
    {NULL, 0, FALSE},
};

static const VmigControlArg query_tunables_args[] = {
    {"domain", VMIG_CONTROL_ARG_STRING, FALSE},
    {"unstable", VMIG_CONTROL_ARG_BOOL, TRUE},
    {NULL, 0, FALSE},
};

const VmigControlCommand vmig_commands[] = {
    {"query-version", cmd_query_version, NULL, FALSE},
    {"query-tunables", cmd_query_tunables, query_tunables_args, FALSE},
    {"migrate", cmd_migrate, migrate_args, TRUE},
    {"prepare-incoming", cmd_prepare_incoming, prepare_incoming_args, TRUE},
    {"add-channels", cmd_add_channels, migration_id_args, TRUE},
    {"cancel", cmd_cancel, migration_id_args, FALSE},
    {"query-migrations", cmd_query_migrations, query_migrations_args, FALSE},
    {"query-migration", cmd_query_migration, migration_id_args, FALSE},
    {"start-postcopy", cmd_start_postcopy, migration_id_args, FALSE},
    {"resolve", cmd_resolve, resolve_args, FALSE},
    {"set-tunables", cmd_set_tunables, set_tunables_args, FALSE},
};

const gsize vmig_n_commands = G_N_ELEMENTS(vmig_commands);

/* A migration's event, to every client of the control socket (@user_data). */
static void
on_migration_event(const char *id, const char *event, JsonObject *data,
                   gpointer user_data)
{
    vmig_control_emit_event(user_data, event, data);
}

const VmigMigrationObserver vmig_commands_observer = {
    .event = on_migration_event,
};
