/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-driver.c: /org/virtmigrate/Driver, interface org.virtmigrate.Driver1
 *
 *   ListMigrations() -> ao        the migrations' objects, oldest first
 *   GetTunables(s domain) -> a(ssas)
 *                                 the stable tunables of a domain's QEMU:
 *                                 name, type, enum values
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-service"

#include "driver/backend.h"
#include "driver/migration.h"
#include "driver/service-private.h"

/* A GetTunables call, answered once the domain is introspected. */
typedef struct {
    VmigService *service;
    DBusMessage *call;
} TunablesCall;

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
            g_strdup_printf(VMIG_SERVICE_MIGRATION_PATH "/%s",
                            json_object_get_string_member(row, "migration"));
        const char *p = path;

        vmig_service_need(
            dbus_message_iter_append_basic(&paths, DBUS_TYPE_OBJECT_PATH, &p));
    }
    vmig_service_need(dbus_message_iter_close_container(&iter, &paths));
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

static DBusMessage *
driver_get_tunables(VmigService *service, DBusMessage *call, const char *id)
{
    const char *domain = NULL;
    TunablesCall *tc;

    vmig_service_need(
        dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &domain, DBUS_TYPE_INVALID));
    tc = g_new0(TunablesCall, 1);
    tc->service = service;
    tc->call = dbus_message_ref(call);
    vmig_backend_tunables_async(domain, service->daemon->settings.context,
                                service->daemon->settings.qmp_timeout_ms,
                                service->cancellable, on_tunables, tc);
    return NULL;
}

const VmigServiceMethod vmig_service_driver_methods[] = {
    {VMIG_SERVICE_DRIVER_IFACE, "ListMigrations", "", driver_list_migrations},
    {VMIG_SERVICE_DRIVER_IFACE, "GetTunables", "s", driver_get_tunables},
    {"org.freedesktop.DBus.Introspectable", "Introspect", "", driver_introspect},
};
const gsize vmig_service_n_driver_methods = G_N_ELEMENTS(vmig_service_driver_methods);
