/*
 * commands.c: the control socket's commands
 *
 * One row per command: its name, handler and arguments.  The control
 * server checks arguments against the row, so handlers see well-formed
 * input only.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-daemon"

#include "driver/commands.h"
#include "driver/hypervisor.h"


/* query-version: {} -> {"version": "0.1.0"} */
static void
cmd_query_version(VmigControlCall *call, JsonObject *arguments, gpointer user_data)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, PACKAGE_VERSION);
    json_builder_end_object(b);
    vmig_control_call_return(call, json_builder_get_root(b));
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
    g_autoptr(VmigCatalog) catalog = vmig_hypervisor_introspect_finish(result, &error);

    if (catalog)
        vmig_control_call_return(query->call, vmig_catalog_to_json(catalog, query->unstable));
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
    query->unstable = json_object_get_boolean_member_with_default(arguments, "unstable", FALSE);
    vmig_hypervisor_introspect_async(json_object_get_string_member(arguments, "domain"),
                                     daemon->context, daemon->qmp_timeout_ms, NULL,
                                     on_tunables, query);
}

static const VmigControlArg query_tunables_args[] = {
    { "domain", VMIG_CONTROL_ARG_STRING, FALSE },
    { "unstable", VMIG_CONTROL_ARG_BOOL, TRUE },
    { NULL, 0, FALSE },
};

const VmigControlCommand vmig_commands[] = {
    { "query-version", cmd_query_version, NULL, FALSE },
    { "query-tunables", cmd_query_tunables, query_tunables_args, FALSE },
};

const gsize vmig_n_commands = G_N_ELEMENTS(vmig_commands);
