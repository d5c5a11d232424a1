/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt.c: libvirt domains: naming them, and reading their tunables
 *
 * The running domain's QEMU belongs to libvirtd, which holds its only QMP
 * connection, so the driver asks through libvirt's monitor passthrough
 * (libvirt-qemu's virDomainQemuMonitorCommand).  These commands only read;
 * libvirt marks a domain tainted only for passthrough commands that change
 * it.  Each introspection is one GTask in a worker thread with its own
 * connection: libvirt's calls block.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-libvirt"

#include <string.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "driver/hypervisor.h"
#include "driver/libvirt.h"
#include "driver/qmp.h"
#include "json/reader.h"
#include "json/writer.h"

/* clang-format off */
G_DEFINE_QUARK(vmig-libvirt-error-quark, vmig_libvirt_error)
/* clang-format on */

/* Cleanups for libvirt's objects, defined once. */
static void
vmig_libvirt_connect_close(virConnectPtr conn)
{
    virConnectClose(conn);
}
typedef struct _virConnect VmigVirConnect;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigVirConnect, vmig_libvirt_connect_close)
typedef struct _virDomain VmigVirDomain;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigVirDomain, virDomainFree)

gboolean
vmig_libvirt_is_domain(const char *domain)
{
    return g_str_has_prefix(domain, VMIG_LIBVIRT_DOMAIN_PREFIX);
}

gboolean
vmig_libvirt_parse_domain(const char *domain, char **uri, char **name, GError **error)
{
    const char *uri_start;
    const char *name_start;
    gsize uri_len;

    if (!vmig_libvirt_is_domain(domain)) {
        g_set_error(error, VMIG_HYPERVISOR_ERROR, VMIG_HYPERVISOR_ERROR_DOMAIN,
                    "domain '%s' is not of the form libvirt:URI#NAME", domain);
        return FALSE;
    }
    if (!vmig_domain_split_libvirt(domain, &uri_start, &uri_len, &name_start) ||
        uri_len == 0) {
        g_set_error(
            error, VMIG_HYPERVISOR_ERROR, VMIG_HYPERVISOR_ERROR_DOMAIN,
            "domain '%s' is not of the form libvirt:URI#NAME (a libvirt connection "
            "URI, '#', a domain name or UUID)",
            domain);
        return FALSE;
    }
    *uri = g_strndup(uri_start, uri_len);
    *name = g_strdup(name_start);
    return TRUE;
}

char *
vmig_libvirt_format_domain(const char *uri, const char *name)
{
    return vmig_domain_format_libvirt(uri, name);
}

/* No-op handler: libvirt's default one writes every error to stderr. */
static void
vmig_libvirt_quiet(void *data, virErrorPtr error)
{
}

/* libvirt is initialised once, before any thread uses it (its documented rule). */
static gboolean
vmig_libvirt_init(GError **error)
{
    static gsize done;
    static int status;

    if (g_once_init_enter(&done)) {
        status = virInitialize();
        /* libvirt prints every error on stderr unless told otherwise: ours are GErrors.
         */
        virSetErrorFunc(NULL, vmig_libvirt_quiet);
        g_once_init_leave(&done, 1);
    }
    if (status < 0) {
        g_set_error_literal(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_FAILED,
                            "cannot initialise libvirt");
        return FALSE;
    }
    return TRUE;
}

/* Sets @error from libvirt's last error in this thread.  Returns: FALSE. */
static gboolean
vmig_libvirt_error(GError **error, VmigLibvirtErrorCode code, const char *what)
{
    const char *message = virGetLastErrorMessage();

    g_set_error(error, VMIG_LIBVIRT_ERROR, code, "%s: %s", what,
                message && *message ? message : "unknown libvirt error");
    virResetLastError();
    return FALSE;
}

/* Returns: a connection to @uri, or NULL with @error set. */
static virConnectPtr
vmig_libvirt_open(const char *uri, GError **error)
{
    virConnectPtr conn;

    if (!vmig_libvirt_init(error))
        return NULL;
    conn = virConnectOpen(uri);
    if (!conn) {
        g_autofree char *what = g_strdup_printf("cannot connect to libvirt at '%s'", uri);

        vmig_libvirt_error(error, VMIG_LIBVIRT_ERROR_CONNECT, what);
    }
    return conn;
}

/* Returns: domain @name (a name or a UUID) on @conn, or NULL with @error set. */
static virDomainPtr
vmig_libvirt_lookup(virConnectPtr conn, const char *uri, const char *name, GError **error)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);

    if (!dom) {
        virResetLastError();
        dom = virDomainLookupByUUIDString(conn, name);
    }
    if (!dom) {
        virResetLastError();
        g_set_error(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_NO_DOMAIN,
                    "libvirt at '%s' has no domain '%s'", uri, name);
    }
    return dom;
}

/*
 * Runs @func on @data (owned, freed with @destroy) in a worker thread;
 * @callback runs on @context.  Returns: nothing (the task reports).
 */
static void
vmig_libvirt_run(GMainContext *context, gpointer source_tag, gpointer data,
                 GDestroyNotify destroy, GTaskThreadFunc func, GCancellable *cancellable,
                 GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;

    g_main_context_push_thread_default(context);
    task = g_task_new(NULL, cancellable, callback, user_data);
    g_main_context_pop_thread_default(context);
    g_task_set_source_tag(task, source_tag);
    g_task_set_task_data(task, data, destroy);
    g_task_run_in_thread(task, func);
}

/*
 * Opens @domain's libvirt and looks the domain up, in a worker thread.
 * Returns: TRUE with *@conn and *@dom set (to close/free), or FALSE with @error.
 */
static gboolean
vmig_libvirt_open_domain(const char *domain, virConnectPtr *conn, virDomainPtr *dom,
                         GError **error)
{
    g_autofree char *uri = NULL;
    g_autofree char *name = NULL;

    if (!vmig_libvirt_parse_domain(domain, &uri, &name, error))
        return FALSE;
    *conn = vmig_libvirt_open(uri, error);
    if (!*conn)
        return FALSE;
    *dom = vmig_libvirt_lookup(*conn, uri, name, error);
    if (!*dom) {
        virConnectClose(*conn);
        *conn = NULL;
        return FALSE;
    }
    return TRUE;
}

JsonObject *
vmig_libvirt_parse_monitor_reply(const char *command, const char *text, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) root = vmig_json_parse(text, -1, &local);

    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_MONITOR,
                    "%s through libvirt answered no JSON object%s%s", command,
                    local ? ": " : "", local ? local->message : "");
        return NULL;
    }
    if (json_object_has_member(json_node_get_object(root), "error") ||
        !json_object_has_member(json_node_get_object(root), "return")) {
        g_autofree char *shown = vmig_json_write(root, FALSE, NULL);

        g_set_error(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_MONITOR,
                    "%s through libvirt failed: %s", command, shown);
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

/*
 * Runs @line (QMP @command) through the monitor passthrough.
 * Returns: the reply object (a new reference), or NULL with @error set.
 */
static JsonObject *
vmig_libvirt_monitor_line(virDomainPtr dom, const char *command, const char *line,
                          GError **error)
{
    char *result = NULL;
    JsonObject *reply;

    g_debug("passthrough: %s", line);
    if (virDomainQemuMonitorCommand(dom, line, &result, 0) < 0) {
        g_autofree char *what = g_strdup_printf("%s through libvirt failed", command);

        vmig_libvirt_error(error, VMIG_LIBVIRT_ERROR_MONITOR, what);
        return NULL;
    }
    reply = vmig_libvirt_parse_monitor_reply(command, result, error);
    free(result);
    return reply;
}

/*
 * Runs QMP @command (no arguments) through the monitor passthrough.
 * Returns: its "return" value (a new node), or NULL with @error set.
 */
static JsonNode *
vmig_libvirt_monitor(virDomainPtr dom, const char *command, GError **error)
{
    g_autofree char *line = g_strdup_printf("{\"execute\": \"%s\"}", command);
    g_autoptr(JsonObject) reply = vmig_libvirt_monitor_line(dom, command, line, error);

    if (!reply)
        return NULL;
    return json_node_copy(json_object_get_member(reply, "return"));
}

typedef struct {
    char *domain;
    char *xml; /* out */
} Introspection;

static void
introspection_free(Introspection *in)
{
    g_free(in->domain);
    g_free(in->xml);
    g_free(in);
}

/* The worker: every libvirt call of one introspection.  Returns: the catalog or NULL. */
static VmigCatalog *
vmig_libvirt_introspect(Introspection *in, GError **error)
{
    g_autofree char *uri = NULL;
    g_autofree char *name = NULL;
    g_autoptr(VmigVirConnect) conn = NULL;
    g_autoptr(VmigVirDomain) dom = NULL;
    g_autoptr(JsonNode) version = NULL;
    g_autoptr(JsonNode) schema = NULL;
    g_autoptr(JsonNode) parameters = NULL;
    g_autoptr(JsonNode) capabilities = NULL;
    g_autoptr(VmigCatalog) catalog = NULL;
    g_autofree char *hypervisor = NULL;
    char *xml;

    if (!vmig_libvirt_parse_domain(in->domain, &uri, &name, error))
        return NULL;
    conn = vmig_libvirt_open(uri, error);
    if (!conn)
        return NULL;
    dom = vmig_libvirt_lookup(conn, uri, name, error);
    if (!dom)
        return NULL;
    if (virDomainIsActive(dom) != 1) {
        virResetLastError();
        g_set_error(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_INACTIVE,
                    "domain '%s' is not running", name);
        return NULL;
    }
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_MIGRATABLE);
    if (!xml) {
        vmig_libvirt_error(error, VMIG_LIBVIRT_ERROR_FAILED,
                           "cannot read the domain's XML");
        return NULL;
    }
    in->xml = g_strdup(xml);
    free(xml);

    version = vmig_libvirt_monitor(dom, "query-version", error);
    if (!version)
        return NULL;
    schema = vmig_libvirt_monitor(dom, "query-qmp-schema", error);
    if (!schema)
        return NULL;
    parameters = vmig_libvirt_monitor(dom, "query-migrate-parameters", error);
    if (!parameters)
        return NULL;
    capabilities = vmig_libvirt_monitor(dom, "query-migrate-capabilities", error);
    if (!capabilities)
        return NULL;
    hypervisor = vmig_qmp_format_hypervisor(
        JSON_NODE_HOLDS_OBJECT(version) ? json_node_get_object(version) : NULL);
    if (!hypervisor)
        hypervisor = g_strdup("QEMU");
    catalog = vmig_catalog_new_from_schema(hypervisor, schema, error);
    if (!catalog || !vmig_catalog_set_current(catalog, parameters, capabilities, error))
        return NULL;
    g_debug("domain '%s': %u tunables through libvirt", in->domain,
            catalog->tunables->len);
    return g_steal_pointer(&catalog);
}

static void
vmig_libvirt_introspect_thread(GTask *task, gpointer source, gpointer data,
                               GCancellable *cancellable)
{
    Introspection *in = data;
    GError *error = NULL;
    VmigCatalog *catalog = vmig_libvirt_introspect(in, &error);

    if (!catalog) {
        g_prefix_error(&error, "cannot read the tunables of domain '%s': ", in->domain);
        g_task_return_error(task, error);
        return;
    }
    g_task_return_pointer(task, catalog, (GDestroyNotify)vmig_catalog_free);
}

void
vmig_libvirt_introspect_async(const char *domain, GMainContext *context,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
    Introspection *in = g_new0(Introspection, 1);

    in->domain = g_strdup(domain);
    vmig_libvirt_run(context, vmig_libvirt_introspect_async, in,
                     (GDestroyNotify)introspection_free, vmig_libvirt_introspect_thread,
                     cancellable, callback, user_data);
}

VmigCatalog *
vmig_libvirt_introspect_finish(GAsyncResult *result, char **xml, GError **error)
{
    Introspection *in = g_task_get_task_data(G_TASK(result));
    VmigCatalog *catalog = g_task_propagate_pointer(G_TASK(result), error);

    if (catalog && xml)
        *xml = g_steal_pointer(&in->xml);
    return catalog;
}

/* ---- migrating through libvirt --------------------------------------------------- */

void
vmig_libvirt_migration_free(VmigLibvirtMigration *spec)
{
    if (!spec)
        return;
    g_free(spec->domain);
    g_free(spec->dest_uri);
    g_free(spec->migrate_uri);
    if (spec->capabilities)
        json_object_unref(spec->capabilities);
    if (spec->parameters)
        json_object_unref(spec->parameters);
    g_free(spec);
}

typedef enum {
    MAP_PARAM_ULLONG,     /* a typed unsigned long long parameter */
    MAP_PARAM_ULLONG_MIB, /* a typed parameter in MiB (QEMU: bytes) */
    MAP_PARAM_INT,        /* a typed int parameter */
    MAP_FLAG,             /* a VIR_MIGRATE_* flag (capabilities) */
    MAP_COMPRESSION,      /* a compression method (capabilities): param is its name */
    MAP_LIBVIRT_OWN,      /* libvirt switches it on itself for every migration */
} MapKind;

/*
 * What libvirt has for a QEMU migration capability or parameter.  Anything
 * not here goes through the monitor passthrough.  (libvirt turns on
 * return-path and pause-before-switchover on the source itself, and
 * events for its own use.)
 */
static const struct {
    const char *name;
    MapKind kind;
    const char *param;
    unsigned int flag; /* MAP_FLAG; MAP_PARAM_*: a flag the parameter also needs */
} libvirt_map[] = {
    {"max-bandwidth", MAP_PARAM_ULLONG_MIB, VIR_MIGRATE_PARAM_BANDWIDTH, 0},
    {"max-postcopy-bandwidth", MAP_PARAM_ULLONG_MIB, VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY,
     0},
    {"cpu-throttle-initial", MAP_PARAM_INT, VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL,
     VIR_MIGRATE_AUTO_CONVERGE},
    {"cpu-throttle-increment", MAP_PARAM_INT, VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT,
     VIR_MIGRATE_AUTO_CONVERGE},
    {"multifd-channels", MAP_PARAM_INT, VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS,
     VIR_MIGRATE_PARALLEL},
    {"compress-level", MAP_PARAM_INT, VIR_MIGRATE_PARAM_COMPRESSION_MT_LEVEL,
     VIR_MIGRATE_COMPRESSED},
    {"compress-threads", MAP_PARAM_INT, VIR_MIGRATE_PARAM_COMPRESSION_MT_THREADS,
     VIR_MIGRATE_COMPRESSED},
    {"decompress-threads", MAP_PARAM_INT, VIR_MIGRATE_PARAM_COMPRESSION_MT_DTHREADS,
     VIR_MIGRATE_COMPRESSED},
    {"xbzrle-cache-size", MAP_PARAM_ULLONG, VIR_MIGRATE_PARAM_COMPRESSION_XBZRLE_CACHE,
     VIR_MIGRATE_COMPRESSED},
    {"xbzrle", MAP_COMPRESSION, "xbzrle", VIR_MIGRATE_COMPRESSED},
    {"compress", MAP_COMPRESSION, "mt", VIR_MIGRATE_COMPRESSED},
    {"multifd", MAP_FLAG, NULL, VIR_MIGRATE_PARALLEL},
    {"auto-converge", MAP_FLAG, NULL, VIR_MIGRATE_AUTO_CONVERGE},
    {"postcopy-ram", MAP_FLAG, NULL, VIR_MIGRATE_POSTCOPY},
    {"zero-copy-send", MAP_FLAG, NULL, VIR_MIGRATE_ZEROCOPY},
    {"return-path", MAP_LIBVIRT_OWN, NULL, 0},
    {"pause-before-switchover", MAP_LIBVIRT_OWN, NULL, 0},
    {"events", MAP_LIBVIRT_OWN, NULL, 0},
};

static gssize
libvirt_map_find(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(libvirt_map); i++) {
        if (g_str_equal(libvirt_map[i].name, name))
            return (gssize)i;
    }
    return -1;
}

/* Returns: @node as an integer (JSON int, or a number with no fraction). */
static gint64
node_int(JsonNode *node)
{
    if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_DOUBLE)
        return (gint64)json_node_get_double(node);
    return json_node_get_int(node);
}

typedef struct {
    virTypedParameterPtr params;
    int n;
    int max;
    unsigned int flags;
    JsonObject *set_parameters;  /* passthrough migrate-set-parameters arguments */
    JsonArray *set_capabilities; /* passthrough migrate-set-capabilities entries */
} Plan;

static void
plan_clear(Plan *plan)
{
    virTypedParamsFree(plan->params, plan->n);
    if (plan->set_parameters)
        json_object_unref(plan->set_parameters);
    if (plan->set_capabilities)
        json_array_unref(plan->set_capabilities);
}

/* Turns @spec into flags, typed parameters and passthrough settings.  Returns: TRUE or
 * FALSE. */
static gboolean
plan_build(VmigLibvirtMigration *spec, Plan *plan, GError **error)
{
    g_autoptr(GList) caps =
        spec->capabilities ? json_object_get_members(spec->capabilities) : NULL;
    g_autoptr(GList) params =
        spec->parameters ? json_object_get_members(spec->parameters) : NULL;
    gboolean parallel;

    plan->flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER;
    if (spec->persistent)
        plan->flags |= VIR_MIGRATE_PERSIST_DEST;
    if (spec->undefine_source)
        plan->flags |= VIR_MIGRATE_UNDEFINE_SOURCE;
    plan->set_parameters = json_object_new();
    plan->set_capabilities = json_array_new();
    if (virTypedParamsAddString(&plan->params, &plan->n, &plan->max,
                                VIR_MIGRATE_PARAM_URI, spec->migrate_uri) < 0)
        return vmig_libvirt_error(error, VMIG_LIBVIRT_ERROR_FAILED, "typed parameters");

    for (GList *l = caps; l; l = l->next) {
        const char *name = l->data;
        JsonNode *value = json_object_get_member(spec->capabilities, name);
        gssize i = libvirt_map_find(name);

        if (!json_node_get_boolean(value))
            continue;
        if (i >= 0 && libvirt_map[i].kind == MAP_FLAG) {
            plan->flags |= libvirt_map[i].flag;
        } else if (i >= 0 && libvirt_map[i].kind == MAP_COMPRESSION) {
            if (virTypedParamsAddString(&plan->params, &plan->n, &plan->max,
                                        VIR_MIGRATE_PARAM_COMPRESSION,
                                        libvirt_map[i].param) < 0)
                return vmig_libvirt_error(error, VMIG_LIBVIRT_ERROR_FAILED,
                                          "typed parameters");
            plan->flags |= libvirt_map[i].flag;
        } else if (i < 0) {
            JsonObject *entry = json_object_new();

            json_object_set_string_member(entry, "capability", name);
            json_object_set_boolean_member(entry, "state", TRUE);
            json_array_add_object_element(plan->set_capabilities, entry);
        }
    }
    /* libvirt wants PARALLEL only with more than the main connection. */
    parallel = (plan->flags & VIR_MIGRATE_PARALLEL) != 0;
    for (GList *l = params; l; l = l->next) {
        const char *name = l->data;
        JsonNode *value = json_object_get_member(spec->parameters, name);
        gssize i = libvirt_map_find(name);
        int rc = 0;

        if (i < 0) {
            json_object_set_member(plan->set_parameters, name, json_node_copy(value));
            continue;
        }
        if (libvirt_map[i].flag == VIR_MIGRATE_PARALLEL && !parallel)
            continue;
        if (libvirt_map[i].kind == MAP_PARAM_ULLONG)
            rc = virTypedParamsAddULLong(&plan->params, &plan->n, &plan->max,
                                         libvirt_map[i].param,
                                         (unsigned long long)node_int(value));
        else if (libvirt_map[i].kind == MAP_PARAM_ULLONG_MIB)
            rc = virTypedParamsAddULLong(&plan->params, &plan->n, &plan->max,
                                         libvirt_map[i].param,
                                         (unsigned long long)node_int(value) >> 20);
        else if (libvirt_map[i].kind == MAP_PARAM_INT)
            rc = virTypedParamsAddInt(&plan->params, &plan->n, &plan->max,
                                      libvirt_map[i].param, (int)node_int(value));
        if (rc < 0)
            return vmig_libvirt_error(error, VMIG_LIBVIRT_ERROR_FAILED,
                                      "typed parameters");
        plan->flags |= libvirt_map[i].flag;
    }
    return TRUE;
}

/* Runs one passthrough command with @arguments.  Returns: TRUE, or FALSE with @error. */
static gboolean
monitor_set(virDomainPtr dom, const char *command, JsonNode *arguments, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(JsonObject) reply = NULL;
    g_autofree char *line = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    json_builder_set_member_name(b, "arguments");
    json_builder_add_value(b, arguments);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    line = vmig_json_write(root, FALSE, NULL);
    reply = vmig_libvirt_monitor_line(dom, command, line, error);
    return reply != NULL;
}

static void
vmig_libvirt_migrate_thread(GTask *task, gpointer source, gpointer data,
                            GCancellable *cancellable)
{
    VmigLibvirtMigration *spec = data;
    g_autoptr(VmigVirConnect) conn = NULL;
    g_autoptr(VmigVirDomain) dom = NULL;
    GError *error = NULL;
    Plan plan = {0};

    if (!vmig_libvirt_open_domain(spec->domain, &conn, &dom, &error) ||
        !plan_build(spec, &plan, &error))
        goto out;
    if (json_array_get_length(plan.set_capabilities) > 0) {
        JsonObject *args = json_object_new();
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);

        json_object_set_array_member(args, "capabilities",
                                     json_array_ref(plan.set_capabilities));
        json_node_take_object(node, args);
        if (!monitor_set(dom, "migrate-set-capabilities", node, &error))
            goto out;
    }
    if (json_object_get_size(plan.set_parameters) > 0) {
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(node, plan.set_parameters);
        if (!monitor_set(dom, "migrate-set-parameters", node, &error))
            goto out;
    }
    g_debug("virDomainMigrateToURI3(%s, %s, %s, flags 0x%x, %d parameters)",
            virDomainGetName(dom), spec->dest_uri, spec->migrate_uri, plan.flags, plan.n);
    if (virDomainMigrateToURI3(dom, spec->dest_uri, plan.params, plan.n, plan.flags) <
        0) {
        g_autofree char *what =
            g_strdup_printf("libvirt could not migrate domain '%s' to '%s'",
                            virDomainGetName(dom), spec->dest_uri);

        vmig_libvirt_error(&error, VMIG_LIBVIRT_ERROR_FAILED, what);
    }
out:
    plan_clear(&plan);
    if (error)
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
}

void
vmig_libvirt_migrate_async(VmigLibvirtMigration *spec, GMainContext *context,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    vmig_libvirt_run(context, vmig_libvirt_migrate_async, spec,
                     (GDestroyNotify)vmig_libvirt_migration_free,
                     vmig_libvirt_migrate_thread, NULL, callback, user_data);
}

gboolean
vmig_libvirt_migrate_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

static void
vmig_libvirt_abort_thread(GTask *task, gpointer source, gpointer data,
                          GCancellable *cancellable)
{
    const char *domain = data;
    g_autoptr(VmigVirConnect) conn = NULL;
    g_autoptr(VmigVirDomain) dom = NULL;
    g_autoptr(GError) error = NULL;

    if (!vmig_libvirt_open_domain(domain, &conn, &dom, &error)) {
        g_debug("cannot abort the migration of '%s': %s", domain, error->message);
        g_task_return_boolean(task, FALSE);
        return;
    }
    if (virDomainAbortJob(dom) < 0) {
        vmig_libvirt_error(&error, VMIG_LIBVIRT_ERROR_FAILED, "virDomainAbortJob");
        g_debug("cannot abort the migration of '%s': %s", domain, error->message);
    }
    g_task_return_boolean(task, TRUE);
}

void
vmig_libvirt_abort(const char *domain)
{
    g_autoptr(GTask) task = g_task_new(NULL, NULL, NULL, NULL);

    g_task_set_task_data(task, g_strdup(domain), g_free);
    g_task_run_in_thread(task, vmig_libvirt_abort_thread);
}

static void
vmig_libvirt_check_running_thread(GTask *task, gpointer source, gpointer data,
                                  GCancellable *cancellable)
{
    const char *domain = data;
    g_autoptr(VmigVirConnect) conn = NULL;
    g_autoptr(VmigVirDomain) dom = NULL;
    GError *error = NULL;
    int state = VIR_DOMAIN_NOSTATE;
    int reason = 0;

    if (!vmig_libvirt_open_domain(domain, &conn, &dom, &error)) {
        g_task_return_error(task, error);
        return;
    }
    /* An incoming domain is active from the start, paused for the
     * migration: only running (or paused for another reason, such as
     * --paused) means it arrived. */
    if (virDomainGetState(dom, &state, &reason, 0) < 0 || state == VIR_DOMAIN_SHUTOFF ||
        (state == VIR_DOMAIN_PAUSED && (reason == VIR_DOMAIN_PAUSED_MIGRATION ||
                                        reason == VIR_DOMAIN_PAUSED_POSTCOPY))) {
        virResetLastError();
        g_task_return_new_error(task, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_INACTIVE,
                                "domain '%s' is not running yet", virDomainGetName(dom));
        return;
    }
    g_task_return_boolean(task, TRUE);
}

void
vmig_libvirt_check_running_async(const char *domain, GMainContext *context,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    vmig_libvirt_run(context, vmig_libvirt_check_running_async, g_strdup(domain), g_free,
                     vmig_libvirt_check_running_thread, NULL, callback, user_data);
}

gboolean
vmig_libvirt_check_running_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

static void
vmig_libvirt_default_emulator_thread(GTask *task, gpointer source, gpointer data,
                                     GCancellable *cancellable)
{
    const char *domain = data;
    g_autofree char *uri = NULL;
    g_autofree char *name = NULL;
    g_autoptr(VmigVirConnect) conn = NULL;
    GError *error = NULL;
    char *caps = NULL;
    xmlDocPtr doc = NULL;
    xmlNodePtr node;
    char *path = NULL;

    if (!vmig_libvirt_parse_domain(domain, &uri, &name, &error) ||
        !(conn = vmig_libvirt_open(uri, &error))) {
        g_task_return_error(task, error);
        return;
    }
    caps = virConnectGetDomainCapabilities(conn, NULL, NULL, NULL, "qemu", 0);
    if (!caps) {
        vmig_libvirt_error(&error, VMIG_LIBVIRT_ERROR_FAILED,
                           "cannot read the destination libvirt's domain capabilities");
        g_task_return_error(task, error);
        return;
    }
    doc = xmlReadMemory(caps, (int)strlen(caps), "domcapabilities.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(caps);
    for (node = doc ? xmlDocGetRootElement(doc)->children : NULL; node;
         node = node->next) {
        if (node->type == XML_ELEMENT_NODE && xmlStrEqual(node->name, BAD_CAST "path")) {
            xmlChar *text = xmlNodeGetContent(node);

            path = g_strstrip(g_strdup((const char *)text));
            xmlFree(text);
            break;
        }
    }
    if (doc)
        xmlFreeDoc(doc);
    if (!path || !*path) {
        g_free(path);
        g_task_return_new_error(task, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_FAILED,
                                "the libvirt at '%s' names no emulator for qemu domains",
                                uri);
        return;
    }
    g_task_return_pointer(task, path, g_free);
}

void
vmig_libvirt_default_emulator_async(const char *domain, GMainContext *context,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
    vmig_libvirt_run(context, vmig_libvirt_default_emulator_async, g_strdup(domain),
                     g_free, vmig_libvirt_default_emulator_thread, NULL, callback,
                     user_data);
}

char *
vmig_libvirt_default_emulator_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
vmig_libvirt_progress_thread(GTask *task, gpointer source, gpointer data,
                             GCancellable *cancellable)
{
    const char *domain = data;
    g_autoptr(VmigVirConnect) conn = NULL;
    g_autoptr(VmigVirDomain) dom = NULL;
    GError *error = NULL;
    virTypedParameterPtr params = NULL;
    int n = 0;
    int type = VIR_DOMAIN_JOB_NONE;
    unsigned long long value;
    VmigLibvirtProgress *progress;

    if (!vmig_libvirt_open_domain(domain, &conn, &dom, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if (virDomainGetJobStats(dom, &type, &params, &n, 0) < 0) {
        vmig_libvirt_error(&error, VMIG_LIBVIRT_ERROR_FAILED, "virDomainGetJobStats");
        g_task_return_error(task, error);
        return;
    }
    progress = g_new0(VmigLibvirtProgress, 1);
    progress->active = type == VIR_DOMAIN_JOB_UNBOUNDED || type == VIR_DOMAIN_JOB_BOUNDED;
    if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DATA_PROCESSED, &value) == 1)
        progress->transferred = value;
    if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DATA_REMAINING, &value) == 1)
        progress->remaining = value;
    if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DATA_TOTAL, &value) == 1)
        progress->total = value;
    if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_MEMORY_BPS, &value) == 1)
        progress->throughput = value;
    if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DOWNTIME, &value) == 1)
        progress->downtime = (gint64)MIN(value, (unsigned long long)G_MAXINT64);
    virTypedParamsFree(params, n);
    g_task_return_pointer(task, progress, g_free);
}

void
vmig_libvirt_progress_async(const char *domain, GMainContext *context,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    vmig_libvirt_run(context, vmig_libvirt_progress_async, g_strdup(domain), g_free,
                     vmig_libvirt_progress_thread, NULL, callback, user_data);
}

gboolean
vmig_libvirt_progress_finish(GAsyncResult *result, VmigLibvirtProgress *progress,
                             GError **error)
{
    g_autofree VmigLibvirtProgress *p = g_task_propagate_pointer(G_TASK(result), error);

    if (!p)
        return FALSE;
    *progress = *p;
    return TRUE;
}
