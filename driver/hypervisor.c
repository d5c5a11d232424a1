/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hypervisor.c: a QEMU reached through its monitor, and its tunables
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-hypervisor"

#include <sys/stat.h>
#include <unistd.h>

#include "driver/hypervisor.h"
#include "driver/qmp.h"

/* clang-format off */
G_DEFINE_QUARK(vmig-hypervisor-error-quark, vmig_hypervisor_error)
/* clang-format on */

/* Returns: the monitor path in a "qmp:PATH" @domain, or NULL with @error. */
char *
vmig_domain_parse_qmp(const char *domain, GError **error)
{
    if (!g_str_has_prefix(domain, "qmp:")) {
        g_set_error(error, VMIG_HYPERVISOR_ERROR, VMIG_HYPERVISOR_ERROR_DOMAIN,
                    "domain '%s' is not of the form qmp:PATH (a QEMU monitor socket)",
                    domain);
        return NULL;
    }
    if (domain[4] != '/') {
        g_set_error(error, VMIG_HYPERVISOR_ERROR, VMIG_HYPERVISOR_ERROR_DOMAIN,
                    "domain '%s': the monitor socket path must be absolute", domain);
        return NULL;
    }
    return g_strdup(domain + 4);
}

/*
 * The schema is a property of the QEMU binary, not of one QEMU process, so
 * it is cached per binary (its path, device, inode, size and mtime, read
 * through /proc/PID/exe of the monitor's peer), as libvirt caches a
 * binary's capabilities.  Current values are always read afresh.  A
 * process that cannot be identified is simply asked every time.
 */
#define SCHEMA_CACHE_MAX 16

static GHashTable *schema_cache; /* key -> JsonNode (the schema) */

/* Returns: the cache key of the QEMU binary behind @qmp (to free), or NULL. */
static char *
binary_key(VmigQmp *qmp)
{
    GPid pid = vmig_qmp_get_peer_pid(qmp);
    g_autofree char *exe = NULL;
    g_autofree char *path = NULL;
    struct stat st;

    if (pid <= 0)
        return NULL;
    exe = g_strdup_printf("/proc/%d/exe", (int)pid);
    path = g_file_read_link(exe, NULL);
    if (!path || stat(exe, &st) < 0)
        return NULL;
    return g_strdup_printf("%s:%lu:%lu:%lld:%lld.%09ld", path, (gulong)st.st_dev,
                           (gulong)st.st_ino, (long long)st.st_size,
                           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static JsonNode *
schema_cache_lookup(const char *key)
{
    JsonNode *schema =
        key && schema_cache ? g_hash_table_lookup(schema_cache, key) : NULL;

    return schema ? json_node_ref(schema) : NULL;
}

static void
schema_cache_store(const char *key, JsonNode *schema)
{
    if (!key)
        return;
    if (!schema_cache)
        schema_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify)json_node_unref);
    if (g_hash_table_size(schema_cache) >= SCHEMA_CACHE_MAX)
        g_hash_table_remove_all(schema_cache);
    g_hash_table_replace(schema_cache, g_strdup(key), json_node_ref(schema));
}

/* The three queries whose answers make a catalog. */
enum { QUERY_SCHEMA, QUERY_PARAMETERS, QUERY_CAPABILITIES, N_QUERIES };

static const char *const query_commands[N_QUERIES] = {
    "query-qmp-schema",
    "query-migrate-parameters",
    "query-migrate-capabilities",
};

typedef struct {
    char *domain;
    char *binary_key; /* the schema cache's key, or NULL */
    VmigQmp *qmp;
    JsonNode *replies[N_QUERIES];
    guint pending;
    GError *error;             /* the first failure */
    GCancellable *cancellable; /* ours: cancelled by the caller's or the timeout */
    GCancellable *caller_cancellable;
    gulong caller_handler;
    GSource *timeout;
    guint timeout_ms;
    gboolean timed_out;
} Introspection;

static void
introspection_free(Introspection *in)
{
    if (in->timeout) {
        g_source_destroy(in->timeout);
        g_source_unref(in->timeout);
    }
    if (in->caller_cancellable) {
        g_cancellable_disconnect(in->caller_cancellable, in->caller_handler);
        g_object_unref(in->caller_cancellable);
    }
    g_clear_object(&in->cancellable);
    g_free(in->binary_key);
    g_free(in->domain);
    if (in->qmp) {
        vmig_qmp_close(in->qmp);
        g_object_unref(in->qmp);
    }
    for (guint i = 0; i < N_QUERIES; i++) {
        if (in->replies[i])
            json_node_unref(in->replies[i]);
    }
    g_clear_error(&in->error);
    g_free(in);
}

/* Completes @task with @error, prefixed with the domain. */
static void
introspection_fail(GTask *task, GError *error)
{
    Introspection *in = g_task_get_task_data(task);

    if (in->timed_out) {
        /* The cancellation was ours: say what really happened. */
        g_clear_error(&error);
        g_set_error(&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                    "QEMU did not answer within %u s", in->timeout_ms / 1000);
    }
    g_prefix_error(&error, "cannot read the tunables of domain '%s': ", in->domain);
    g_task_return_error(task, error);
}

/* One query in flight: which one, for which introspection. */
typedef struct {
    GTask *task;
    guint query;
} QueryCall;

static void
on_query(GObject *source, GAsyncResult *result, gpointer user_data)
{
    QueryCall *call = user_data;
    g_autoptr(GTask) task = call->task;
    Introspection *in = g_task_get_task_data(task);
    guint query = call->query;
    g_autoptr(GError) error = NULL;
    JsonNode *reply = vmig_qmp_execute_finish(VMIG_QMP(source), result, &error);
    g_autoptr(VmigCatalog) catalog = NULL;

    g_free(call);
    if (reply)
        in->replies[query] = reply;
    else if (!in->error)
        in->error = g_steal_pointer(&error);
    if (--in->pending > 0)
        return;

    if (in->error) {
        introspection_fail(task, g_steal_pointer(&in->error));
        return;
    }
    catalog = vmig_catalog_new_from_schema(vmig_qmp_get_hypervisor(in->qmp),
                                           in->replies[QUERY_SCHEMA], &error);
    if (catalog)
        schema_cache_store(in->binary_key, in->replies[QUERY_SCHEMA]);
    if (!catalog || !vmig_catalog_set_current(catalog, in->replies[QUERY_PARAMETERS],
                                              in->replies[QUERY_CAPABILITIES], &error)) {
        introspection_fail(task, g_steal_pointer(&error));
        return;
    }
    g_debug("domain '%s': %u tunables", in->domain, catalog->tunables->len);
    /* The timeout guarded the introspection; a kept connection outlives it. */
    g_source_destroy(in->timeout);
    g_task_return_pointer(task, g_steal_pointer(&catalog),
                          (GDestroyNotify)vmig_catalog_free);
}

/* Queues one query; its answer lands in replies[@query]. */
static void
send_query(GTask *task, guint query)
{
    Introspection *in = g_task_get_task_data(task);
    QueryCall *call = g_new(QueryCall, 1);

    call->task = g_object_ref(task);
    call->query = query;
    in->pending++;
    vmig_qmp_execute_async(in->qmp, query_commands[query], NULL, NULL, 0, in->cancellable,
                           on_query, call);
}

static void
on_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;

    Introspection *in = g_task_get_task_data(task);

    if (!vmig_qmp_connect_finish(VMIG_QMP(source), result, &error)) {
        introspection_fail(task, g_steal_pointer(&error));
        return;
    }
    in->binary_key = binary_key(in->qmp);
    in->replies[QUERY_SCHEMA] = schema_cache_lookup(in->binary_key);
    g_debug("domain '%s': schema %s", in->domain,
            in->replies[QUERY_SCHEMA] ? "cached" : "asked for");
    for (guint i = 0; i < N_QUERIES; i++) {
        if (!in->replies[i])
            send_query(task, i);
    }
}

static gboolean
on_timeout(gpointer user_data)
{
    Introspection *in = user_data;

    in->timed_out = TRUE;
    g_cancellable_cancel(in->cancellable);
    return G_SOURCE_REMOVE;
}

static void
on_caller_cancelled(GCancellable *caller, gpointer user_data)
{
    g_cancellable_cancel(G_CANCELLABLE(user_data));
}

/* Starts introspecting @domain; the callback runs on @context. */
void
vmig_hypervisor_introspect_async(const char *domain, GMainContext *context,
                                 guint timeout_ms, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    vmig_hypervisor_open_async(domain, context, timeout_ms, cancellable, callback,
                               user_data);
}

/* Returns: the catalog, or NULL with @error set (the connection is closed). */
VmigCatalog *
vmig_hypervisor_introspect_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* Returns: the catalog and the kept connection, or NULL with @error set. */
VmigCatalog *
vmig_hypervisor_open_finish(GAsyncResult *result, VmigQmp **qmp_out, GError **error)
{
    Introspection *in = g_task_get_task_data(G_TASK(result));
    VmigCatalog *catalog = g_task_propagate_pointer(G_TASK(result), error);

    /* The task's data would close the connection when freed: take it. */
    if (catalog)
        *qmp_out = g_steal_pointer(&in->qmp);
    return catalog;
}

/* Starts connecting to and introspecting @domain; the callback runs on @context. */
void
vmig_hypervisor_open_async(const char *domain, GMainContext *context, guint timeout_ms,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    Introspection *in;

    g_main_context_push_thread_default(context);
    task = g_task_new(NULL, cancellable, callback, user_data);
    g_main_context_pop_thread_default(context);
    g_task_set_source_tag(task, vmig_hypervisor_open_async);

    in = g_new0(Introspection, 1);
    in->domain = g_strdup(domain);
    g_task_set_task_data(task, in, (GDestroyNotify)introspection_free);

    path = vmig_domain_parse_qmp(domain, &error);
    if (!path) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    in->cancellable = g_cancellable_new();
    if (cancellable) {
        in->caller_cancellable = g_object_ref(cancellable);
        in->caller_handler = g_cancellable_connect(
            cancellable, G_CALLBACK(on_caller_cancelled), in->cancellable, NULL);
    }
    in->timeout_ms = timeout_ms;
    in->timeout = g_timeout_source_new(timeout_ms);
    g_source_set_callback(in->timeout, on_timeout, in, NULL);
    g_source_attach(in->timeout, context);

    in->qmp = vmig_qmp_new(context);
    vmig_qmp_connect_async(in->qmp, path, in->cancellable, on_connected,
                           g_steal_pointer(&task));
}
