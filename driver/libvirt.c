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

#include "driver/hypervisor.h"
#include "driver/libvirt.h"

G_DEFINE_QUARK(vmig-libvirt-error-quark, vmig_libvirt_error)

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
    const char *rest = domain + strlen(VMIG_LIBVIRT_DOMAIN_PREFIX);
    const char *hash;

    if (!vmig_libvirt_is_domain(domain)) {
        g_set_error(error, VMIG_HYPERVISOR_ERROR, VMIG_HYPERVISOR_ERROR_DOMAIN,
                    "domain '%s' is not of the form libvirt:URI#NAME", domain);
        return FALSE;
    }
    hash = strchr(rest, '#');
    if (!hash || hash == rest || hash[1] == '\0') {
        g_set_error(error, VMIG_HYPERVISOR_ERROR, VMIG_HYPERVISOR_ERROR_DOMAIN,
                    "domain '%s' is not of the form libvirt:URI#NAME (a libvirt connection "
                    "URI, '#', a domain name or UUID)",
                    domain);
        return FALSE;
    }
    *uri = g_strndup(rest, hash - rest);
    *name = g_strdup(hash + 1);
    return TRUE;
}

char *
vmig_libvirt_format_domain(const char *uri, const char *name)
{
    return g_strconcat(VMIG_LIBVIRT_DOMAIN_PREFIX, uri, "#", name, NULL);
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
        /* libvirt prints every error on stderr unless told otherwise: ours are GErrors. */
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
 * Runs QMP @command through the monitor passthrough.
 * Returns: its "return" value (a new node), or NULL with @error set.
 */
static JsonNode *
vmig_libvirt_monitor(virDomainPtr dom, const char *command, GError **error)
{
    g_autofree char *line = g_strdup_printf("{\"execute\": \"%s\"}", command);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) local = NULL;
    char *result = NULL;
    JsonObject *reply;
    gboolean ok;

    if (virDomainQemuMonitorCommand(dom, line, &result, 0) < 0) {
        g_autofree char *what = g_strdup_printf("%s through libvirt failed", command);

        vmig_libvirt_error(error, VMIG_LIBVIRT_ERROR_MONITOR, what);
        return NULL;
    }
    ok = json_parser_load_from_data(parser, result, -1, &local);
    free(result);
    if (!ok || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        g_set_error(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_MONITOR,
                    "%s through libvirt answered no JSON object%s%s", command,
                    local ? ": " : "", local ? local->message : "");
        return NULL;
    }
    reply = json_node_get_object(json_parser_get_root(parser));
    if (!json_object_has_member(reply, "return")) {
        g_autofree char *text = json_to_string(json_parser_get_root(parser), FALSE);

        g_set_error(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_MONITOR,
                    "%s through libvirt failed: %s", command, text);
        return NULL;
    }
    return json_node_copy(json_object_get_member(reply, "return"));
}

/* Returns: "QEMU X.Y.Z (package)" from query-version's @version (to free). */
static char *
vmig_libvirt_hypervisor_name(JsonNode *version)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(version) ? json_node_get_object(version) : NULL;
    JsonObject *qemu = o && json_object_has_member(o, "qemu")
                           ? json_object_get_object_member(o, "qemu")
                           : NULL;
    g_autofree char *package =
        g_strstrip(g_strdup(o ? json_object_get_string_member_with_default(o, "package", "")
                              : ""));

    if (!qemu)
        return g_strdup("QEMU");
    if (*package)
        return g_strdup_printf("QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                               ".%" G_GINT64_FORMAT " (%s)",
                               json_object_get_int_member_with_default(qemu, "major", 0),
                               json_object_get_int_member_with_default(qemu, "minor", 0),
                               json_object_get_int_member_with_default(qemu, "micro", 0),
                               package);
    return g_strdup_printf("QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
                           json_object_get_int_member_with_default(qemu, "major", 0),
                           json_object_get_int_member_with_default(qemu, "minor", 0),
                           json_object_get_int_member_with_default(qemu, "micro", 0));
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
        vmig_libvirt_error(error, VMIG_LIBVIRT_ERROR_FAILED, "cannot read the domain's XML");
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
    hypervisor = vmig_libvirt_hypervisor_name(version);
    catalog = vmig_catalog_new_from_schema(hypervisor, schema, error);
    if (!catalog || !vmig_catalog_set_current(catalog, parameters, capabilities, error))
        return NULL;
    g_debug("domain '%s': %u tunables through libvirt", in->domain, catalog->tunables->len);
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
    g_autoptr(GTask) task = NULL;
    Introspection *in = g_new0(Introspection, 1);

    g_main_context_push_thread_default(context);
    task = g_task_new(NULL, cancellable, callback, user_data);
    g_main_context_pop_thread_default(context);
    g_task_set_source_tag(task, vmig_libvirt_introspect_async);
    in->domain = g_strdup(domain);
    g_task_set_task_data(task, in, (GDestroyNotify)introspection_free);
    g_task_run_in_thread(task, vmig_libvirt_introspect_thread);
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
