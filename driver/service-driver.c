/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-driver.c: /org/virtmigrate/Driver, interface org.virtmigrate.Driver1
 *
 *   ListMigrations() -> ao        the migrations' objects, oldest first
 *   GetTunables(s domain) -> a(ssas)
 *                                 the stable tunables of a domain's QEMU:
 *                                 name, type, enum values
 *   ListTunables(s domain) -> aa{sv}
 *                                 the same, each as query-tunables gives it:
 *                                 kind, unit, current value, settable, ...
 *   property Version s            the daemon's version (query-version)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-service"

#include "driver/backend.h"
#include "driver/migration.h"
#include "driver/service-private.h"

/* A GetTunables or ListTunables call, answered once the domain is introspected. */
typedef struct {
    VmigService *service;
    DBusMessage *call;
    gboolean list; /* ListTunables: aa{sv}; else GetTunables: a(ssas) */
} TunablesCall;

/* Driver1's properties. */
static const char *const driver_properties[] = {"Version"};

static DBusMessage *
driver_introspect(VmigService *service, DBusMessage *call, const char *id)
{
    return vmig_service_string_reply(call, service->driver_xml);
}

static DBusMessage *
driver_list_migrations(VmigService *service, DBusMessage *call, const char *id)
{
    g_autoptr(JsonNode) list = vmig_migrations_list(service->daemon->migrations);
    JsonArray *array = json_node_get_array(list);
    DBusMessage *reply = dbus_message_new_method_return(call);
    DBusMessageIter iter;
    DBusMessageIter paths;

    vmig_service_need(reply != NULL);
    dbus_message_iter_init_append(reply, &iter);
    vmig_service_need(
        dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "o", &paths));
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonObject *row = json_array_get_object_element(array, i);
        g_autofree char *path =
            vmig_service_migration_path(json_object_get_string_member(row, "migration"));
        const char *p = path;

        vmig_service_need(
            dbus_message_iter_append_basic(&paths, DBUS_TYPE_OBJECT_PATH, &p));
    }
    vmig_service_need(dbus_message_iter_close_container(&iter, &paths));
    return reply;
}

/*
 * Returns: the ListTunables reply (new): every stable tunable of @catalog
 * as a dictionary of query-tunables' members (docs/tunables.md): the enum
 * "values" as as, "current" as the value's own type (b, x, d, s; arrays
 * and objects as their JSON text), the rest as s or b.
 */
static DBusMessage *
tunables_list_reply(DBusMessage *call, const VmigCatalog *catalog)
{
    g_autoptr(JsonNode) wire = vmig_catalog_to_json(catalog, FALSE);
    JsonArray *tunables =
        json_object_get_array_member(json_node_get_object(wire), "tunables");
    DBusMessage *reply = dbus_message_new_method_return(call);
    DBusMessageIter iter;
    DBusMessageIter list;

    vmig_service_need(reply != NULL);
    dbus_message_iter_init_append(reply, &iter);
    vmig_service_need(
        dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "a{sv}", &list));
    for (guint i = 0; i < json_array_get_length(tunables); i++) {
        JsonObject *tunable = json_array_get_object_element(tunables, i);
        g_autoptr(GList) members = json_object_get_members(tunable);
        DBusMessageIter dict;

        vmig_service_need(
            dbus_message_iter_open_container(&list, DBUS_TYPE_ARRAY, "{sv}", &dict));
        for (GList *l = members; l; l = l->next) {
            const char *name = l->data;
            JsonNode *value = json_object_get_member(tunable, name);
            DBusMessageIter entry;
            DBusMessageIter variant;

            vmig_service_need(dbus_message_iter_open_container(
                &dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
            vmig_service_need(
                dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &name));
            if (g_str_equal(name, "values")) {
                vmig_service_need(dbus_message_iter_open_container(
                    &entry, DBUS_TYPE_VARIANT, "as", &variant));
                vmig_service_append_json(&variant, "as", value);
                vmig_service_need(dbus_message_iter_close_container(&entry, &variant));
            } else {
                vmig_service_append_variant(&entry, value);
            }
            vmig_service_need(dbus_message_iter_close_container(&dict, &entry));
        }
        vmig_service_need(dbus_message_iter_close_container(&list, &dict));
    }
    vmig_service_need(dbus_message_iter_close_container(&iter, &list));
    return reply;
}

/* The catalog is read (or not): the call's reply goes out now. */
static void
on_tunables(GObject *source, GAsyncResult *result, gpointer user_data)
{
    TunablesCall *tc = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigCatalog) catalog = vmig_backend_tunables_finish(result, &error);
    g_autoptr(DBusMessage) reply = NULL;
    DBusMessageIter iter;
    DBusMessageIter list;

    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        /* The service is gone: nobody to answer through. */
        dbus_message_unref(tc->call);
        g_free(tc);
        return;
    }
    if (!catalog) {
        reply = vmig_service_gerror_reply(tc->call, error,
                                          "org.virtmigrate.Error.Hypervisor");
    } else if (tc->list) {
        reply = tunables_list_reply(tc->call, catalog);
    } else {
        reply = dbus_message_new_method_return(tc->call);
        vmig_service_need(reply != NULL);
        dbus_message_iter_init_append(reply, &iter);
        vmig_service_need(
            dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "(ssas)", &list));
        for (guint i = 0; i < catalog->tunables->len; i++) {
            const VmigTunable *t = g_ptr_array_index(catalog->tunables, i);
            const char *type = vmig_tunable_type_to_string(t->type);
            DBusMessageIter row;
            DBusMessageIter values;

            if (t->unstable)
                continue;
            vmig_service_need(
                dbus_message_iter_open_container(&list, DBUS_TYPE_STRUCT, NULL, &row));
            vmig_service_need(
                dbus_message_iter_append_basic(&row, DBUS_TYPE_STRING, &t->name));
            vmig_service_need(
                dbus_message_iter_append_basic(&row, DBUS_TYPE_STRING, &type));
            vmig_service_need(
                dbus_message_iter_open_container(&row, DBUS_TYPE_ARRAY, "s", &values));
            for (guint j = 0; t->values && t->values[j]; j++)
                vmig_service_need(dbus_message_iter_append_basic(
                    &values, DBUS_TYPE_STRING, &t->values[j]));
            vmig_service_need(dbus_message_iter_close_container(&row, &values));
            vmig_service_need(dbus_message_iter_close_container(&list, &row));
        }
        vmig_service_need(dbus_message_iter_close_container(&iter, &list));
    }
    vmig_service_reply(tc->service, tc->call, reply);
    dbus_message_unref(tc->call);
    g_free(tc);
}

/* Starts reading @call's domain's tunables.  Returns: NULL (the reply comes later). */
static DBusMessage *
tunables_call(VmigService *service, DBusMessage *call, gboolean list)
{
    const char *domain = NULL;
    TunablesCall *tc;

    vmig_service_need(
        dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &domain, DBUS_TYPE_INVALID));
    tc = g_new0(TunablesCall, 1);
    tc->service = service;
    tc->call = dbus_message_ref(call);
    tc->list = list;
    vmig_backend_tunables_async(domain, service->daemon->settings.context,
                                service->daemon->settings.qmp_timeout_ms,
                                service->cancellable, on_tunables, tc);
    return NULL;
}

static DBusMessage *
driver_get_tunables(VmigService *service, DBusMessage *call, const char *id)
{
    return tunables_call(service, call, FALSE);
}

static DBusMessage *
driver_list_tunables(VmigService *service, DBusMessage *call, const char *id)
{
    return tunables_call(service, call, TRUE);
}

/* ---- properties ------------------------------------------------------------------ */

/* Appends property @name's value as a variant.  Returns: FALSE when there is none. */
static gboolean
append_property(DBusMessageIter *iter, const char *name)
{
    const char *version = PACKAGE_VERSION;
    DBusMessageIter variant;

    if (!g_str_equal(name, "Version"))
        return FALSE;
    vmig_service_need(
        dbus_message_iter_open_container(iter, DBUS_TYPE_VARIANT, "s", &variant));
    vmig_service_need(
        dbus_message_iter_append_basic(&variant, DBUS_TYPE_STRING, &version));
    vmig_service_need(dbus_message_iter_close_container(iter, &variant));
    return TRUE;
}

void
vmig_service_driver_append_properties(DBusMessageIter *dict)
{
    for (gsize i = 0; i < G_N_ELEMENTS(driver_properties); i++) {
        DBusMessageIter entry;

        vmig_service_need(
            dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
        vmig_service_need(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING,
                                                         &driver_properties[i]));
        append_property(&entry, driver_properties[i]);
        vmig_service_need(dbus_message_iter_close_container(dict, &entry));
    }
}

/* Returns: whether Driver1 has a property called @name. */
static gboolean
driver_has_property(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(driver_properties); i++)
        if (g_str_equal(name, driver_properties[i]))
            return TRUE;
    return FALSE;
}

static DBusMessage *
driver_get(VmigService *service, DBusMessage *call, const char *id)
{
    const char *interface = NULL;
    const char *name = NULL;
    DBusMessage *reply;
    DBusMessageIter iter;

    vmig_service_need(dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &interface,
                                            DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID));
    reply = vmig_service_check_interface(call, VMIG_SERVICE_DRIVER_IFACE, interface);
    if (reply)
        return reply;
    reply = dbus_message_new_method_return(call);
    vmig_service_need(reply != NULL);
    dbus_message_iter_init_append(reply, &iter);
    if (!append_property(&iter, name)) {
        dbus_message_unref(reply);
        return vmig_service_error_reply(call, DBUS_ERROR_UNKNOWN_PROPERTY,
                                        "interface %s has no property '%s'",
                                        VMIG_SERVICE_DRIVER_IFACE, name);
    }
    return reply;
}

/* Fills @dict with Driver1's properties (a VmigServiceFillDict). */
static void
driver_fill_properties(DBusMessageIter *dict, gpointer data)
{
    vmig_service_driver_append_properties(dict);
}

static DBusMessage *
driver_get_all(VmigService *service, DBusMessage *call, const char *id)
{
    const char *interface = NULL;
    DBusMessage *reply;

    vmig_service_need(dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &interface,
                                            DBUS_TYPE_INVALID));
    reply = vmig_service_check_interface(call, VMIG_SERVICE_DRIVER_IFACE, interface);
    if (reply)
        return reply;
    return vmig_service_dict_reply(call, driver_fill_properties, NULL);
}

static DBusMessage *
driver_set(VmigService *service, DBusMessage *call, const char *id)
{
    return vmig_service_refuse_set(call, VMIG_SERVICE_DRIVER_IFACE, driver_has_property);
}

#define INTERFACE_PROPERTIES "org.freedesktop.DBus.Properties"

const VmigServiceMethod vmig_service_driver_methods[] = {
    {VMIG_SERVICE_DRIVER_IFACE, "ListMigrations", "", driver_list_migrations, NULL},
    {VMIG_SERVICE_DRIVER_IFACE, "GetTunables", "s", driver_get_tunables,
     VMIG_SERVICE_ACTION_READ},
    {VMIG_SERVICE_DRIVER_IFACE, "ListTunables", "s", driver_list_tunables,
     VMIG_SERVICE_ACTION_READ},
    {INTERFACE_PROPERTIES, "Get", "ss", driver_get, NULL},
    {INTERFACE_PROPERTIES, "GetAll", "s", driver_get_all, NULL},
    {INTERFACE_PROPERTIES, "Set", "ssv", driver_set, NULL},
    {"org.freedesktop.DBus.Introspectable", "Introspect", "", driver_introspect, NULL},
};
const gsize vmig_service_n_driver_methods = G_N_ELEMENTS(vmig_service_driver_methods);
