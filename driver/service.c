/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service.c: the D-Bus service's connection, object tree and dispatch
 *
 * The objects are not registered one by one: /org/virtmigrate/migration is
 * a fallback path whose handler looks the id up among the daemon's
 * migrations on every call, so an object exists exactly as long as its
 * migration is listed, and "/" is a fallback that answers Introspect for
 * the nodes above the objects (what `busctl tree` walks).  Methods are
 * rows of a table per interface (service-driver.c, service-migration.c);
 * the argument signature is checked here, once, before a handler runs,
 * and a row that names a polkit action runs only once the caller may
 * (service-authz.c).  /org/virtmigrate is the ObjectManager of the
 * driver's object and the migrations'.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-service"

#include <stdarg.h>
#include <string.h>

#include "driver/dbus-loop.h"
#include "driver/hypervisor.h"
#include "driver/migration.h"
#include "driver/service-private.h"
#include "fdpass/fdpass.h"
#include "json/writer.h"

#define INTERFACE_INTROSPECTABLE "org.freedesktop.DBus.Introspectable"

/* clang-format off */
G_DEFINE_QUARK(vmig-service-error-quark, vmig_service_error)
/* clang-format on */

/* ---- errors ------------------------------------------------------------------ */

/* D-Bus names of the migration errors, by VmigMigrationErrorCode. */
static const char *const migration_error_names[] = {
    [VMIG_MIGRATION_ERROR_INVALID] = "org.virtmigrate.Error.InvalidArgument",
    [VMIG_MIGRATION_ERROR_NOT_FOUND] = "org.virtmigrate.Error.NotFound",
    [VMIG_MIGRATION_ERROR_STATE] = "org.virtmigrate.Error.InvalidState",
    [VMIG_MIGRATION_ERROR_PEER] = "org.virtmigrate.Error.Peer",
    [VMIG_MIGRATION_ERROR_HYPERVISOR] = "org.virtmigrate.Error.Hypervisor",
};
G_STATIC_ASSERT(G_N_ELEMENTS(migration_error_names) == VMIG_MIGRATION_ERROR_LAST);

void
vmig_service_need(dbus_bool_t ok)
{
    if (!ok)
        g_error("libdbus ran out of memory");
}

void
vmig_service_send(VmigService *service, DBusMessage *message)
{
    if (!dbus_connection_get_is_connected(service->connection))
        return;
    vmig_service_need(dbus_connection_send(service->connection, message, NULL));
}

void
vmig_service_reply(VmigService *service, DBusMessage *call, DBusMessage *reply)
{
    if (reply && !dbus_message_get_no_reply(call))
        vmig_service_send(service, reply);
}

DBusMessage *
vmig_service_error_reply(DBusMessage *call, const char *name, const char *format, ...)
{
    g_autofree char *text = NULL;
    DBusMessage *reply;
    va_list args;

    va_start(args, format);
    text = g_strdup_vprintf(format, args);
    va_end(args);
    reply = dbus_message_new_error(call, name, text);
    vmig_service_need(reply != NULL);
    return reply;
}

DBusMessage *
vmig_service_gerror_reply(DBusMessage *call, const GError *error,
                          const char *fallback_name)
{
    const char *name = fallback_name;

    if (error->domain == VMIG_MIGRATION_ERROR && error->code >= 0 &&
        error->code < VMIG_MIGRATION_ERROR_LAST)
        name = migration_error_names[error->code];
    else if (error->domain == VMIG_FDPASS_ERROR)
        name = "org.virtmigrate.Error.InvalidChannel";
    else if (error->domain == VMIG_HYPERVISOR_ERROR)
        name = "org.virtmigrate.Error.InvalidArgument";
    return vmig_service_error_reply(call, name, "%s", error->message);
}

DBusMessage *
vmig_service_string_reply(DBusMessage *call, const char *text)
{
    DBusMessage *reply = dbus_message_new_method_return(call);

    vmig_service_need(reply != NULL);
    vmig_service_need(
        dbus_message_append_args(reply, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID));
    return reply;
}

DBusMessage *
vmig_service_check_interface(DBusMessage *call, const char *expected,
                             const char *interface)
{
    if (g_str_equal(interface, expected))
        return NULL;
    return vmig_service_error_reply(call, DBUS_ERROR_UNKNOWN_INTERFACE,
                                    "object %s has no properties of interface '%s'",
                                    dbus_message_get_path(call), interface);
}

DBusMessage *
vmig_service_dict_reply(DBusMessage *call, VmigServiceFillDict fill, gpointer data)
{
    DBusMessage *reply = dbus_message_new_method_return(call);
    DBusMessageIter iter;
    DBusMessageIter dict;

    vmig_service_need(reply != NULL);
    dbus_message_iter_init_append(reply, &iter);
    vmig_service_need(
        dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "{sv}", &dict));
    fill(&dict, data);
    vmig_service_need(dbus_message_iter_close_container(&iter, &dict));
    return reply;
}

DBusMessage *
vmig_service_refuse_set(DBusMessage *call, const char *expected,
                        gboolean (*known)(const char *name))
{
    DBusMessageIter iter;
    const char *interface = NULL;
    const char *name = NULL;
    DBusMessage *reply;

    /* The method table checked the signature (ssv). */
    dbus_message_iter_init(call, &iter);
    dbus_message_iter_get_basic(&iter, &interface);
    dbus_message_iter_next(&iter);
    dbus_message_iter_get_basic(&iter, &name);
    reply = vmig_service_check_interface(call, expected, interface);
    if (reply)
        return reply;
    if (!known(name))
        return vmig_service_error_reply(call, DBUS_ERROR_UNKNOWN_PROPERTY,
                                        "interface %s has no property '%s'", expected,
                                        name);
    return vmig_service_error_reply(call, DBUS_ERROR_PROPERTY_READ_ONLY,
                                    "property '%s' is read-only", name);
}

/* ---- values ------------------------------------------------------------------ */

void
vmig_service_append_variant(DBusMessageIter *iter, JsonNode *node)
{
    DBusMessageIter variant;
    GType type =
        JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node) : G_TYPE_INVALID;

    if (type == G_TYPE_BOOLEAN) {
        dbus_bool_t b = json_node_get_boolean(node);

        vmig_service_need(
            dbus_message_iter_open_container(iter, DBUS_TYPE_VARIANT, "b", &variant));
        vmig_service_need(
            dbus_message_iter_append_basic(&variant, DBUS_TYPE_BOOLEAN, &b));
    } else if (type == G_TYPE_INT64) {
        dbus_int64_t x = json_node_get_int(node);

        vmig_service_need(
            dbus_message_iter_open_container(iter, DBUS_TYPE_VARIANT, "x", &variant));
        vmig_service_need(dbus_message_iter_append_basic(&variant, DBUS_TYPE_INT64, &x));
    } else if (type == G_TYPE_DOUBLE) {
        double d = json_node_get_double(node);

        vmig_service_need(
            dbus_message_iter_open_container(iter, DBUS_TYPE_VARIANT, "d", &variant));
        vmig_service_need(dbus_message_iter_append_basic(&variant, DBUS_TYPE_DOUBLE, &d));
    } else {
        g_autofree char *json = type == G_TYPE_STRING
                                    ? g_strdup(json_node_get_string(node))
                                    : vmig_json_write(node, FALSE, NULL);
        const char *s = json;

        /* D-Bus strings are UTF-8 without NUL; JSON text from json-glib is. */
        if (!g_utf8_validate(s, -1, NULL))
            s = "";
        vmig_service_need(
            dbus_message_iter_open_container(iter, DBUS_TYPE_VARIANT, "s", &variant));
        vmig_service_need(dbus_message_iter_append_basic(&variant, DBUS_TYPE_STRING, &s));
    }
    vmig_service_need(dbus_message_iter_close_container(iter, &variant));
}

void
vmig_service_append_json(DBusMessageIter *iter, const char *signature, JsonNode *node)
{
    DBusMessageIter sub;
    DBusMessageIter entry;

    if (g_str_equal(signature, "s")) {
        const char *s = node && JSON_NODE_HOLDS_VALUE(node) &&
                                json_node_get_value_type(node) == G_TYPE_STRING
                            ? json_node_get_string(node)
                            : "";

        if (!g_utf8_validate(s, -1, NULL))
            s = "";
        vmig_service_need(dbus_message_iter_append_basic(iter, DBUS_TYPE_STRING, &s));
    } else if (g_str_equal(signature, "u")) {
        gint64 v = node && JSON_NODE_HOLDS_VALUE(node) ? json_node_get_int(node) : 0;
        dbus_uint32_t u = (dbus_uint32_t)CLAMP(v, 0, G_MAXUINT32);

        vmig_service_need(dbus_message_iter_append_basic(iter, DBUS_TYPE_UINT32, &u));
    } else if (g_str_equal(signature, "as")) {
        JsonArray *array =
            node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;

        vmig_service_need(
            dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "s", &sub));
        for (guint i = 0; array && i < json_array_get_length(array); i++)
            vmig_service_append_json(&sub, "s", json_array_get_element(array, i));
        vmig_service_need(dbus_message_iter_close_container(iter, &sub));
    } else if (g_str_equal(signature, "a{sv}")) {
        JsonObject *object =
            node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
        g_autoptr(GList) names = object ? json_object_get_members(object) : NULL;

        vmig_service_need(
            dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sv}", &sub));
        for (GList *l = names; l; l = l->next) {
            const char *name = l->data;

            if (!g_utf8_validate(name, -1, NULL))
                continue;
            vmig_service_need(dbus_message_iter_open_container(&sub, DBUS_TYPE_DICT_ENTRY,
                                                               NULL, &entry));
            vmig_service_need(
                dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &name));
            vmig_service_append_variant(&entry, json_object_get_member(object, name));
            vmig_service_need(dbus_message_iter_close_container(&sub, &entry));
        }
        vmig_service_need(dbus_message_iter_close_container(iter, &sub));
    } else {
        g_assert_not_reached();
    }
}

/* ---- dispatch ---------------------------------------------------------------- */

/*
 * Runs the row of @methods that @call names, after checking its arguments'
 * signature; unknown interfaces and methods get the standard errors.
 * Returns: what libdbus wants to hear (only method calls are handled).
 */
static DBusHandlerResult
dispatch(VmigService *service, DBusMessage *call, const VmigServiceMethod *methods,
         gsize n_methods, const char *id)
{
    const char *interface = dbus_message_get_interface(call);
    const char *member = dbus_message_get_member(call);
    g_autoptr(DBusMessage) reply = NULL;
    gboolean known_interface = interface == NULL;
    gsize i;

    if (dbus_message_get_type(call) != DBUS_MESSAGE_TYPE_METHOD_CALL)
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

    for (i = 0; i < n_methods; i++) {
        if (interface && !g_str_equal(methods[i].interface, interface))
            continue;
        known_interface = TRUE;
        if (g_str_equal(methods[i].member, member))
            break;
    }
    if (i == n_methods) {
        if (!known_interface)
            reply = vmig_service_error_reply(call, DBUS_ERROR_UNKNOWN_INTERFACE,
                                             "object %s has no interface '%s'",
                                             dbus_message_get_path(call), interface);
        else
            reply = vmig_service_error_reply(
                call, DBUS_ERROR_UNKNOWN_METHOD, "object %s has no method '%s'%s%s",
                dbus_message_get_path(call), member, interface ? " in interface " : "",
                interface ? interface : "");
    } else if (!dbus_message_has_signature(call, methods[i].signature)) {
        reply = vmig_service_error_reply(
            call, DBUS_ERROR_INVALID_ARGS,
            "%s.%s takes arguments of signature '%s', not '%s'", methods[i].interface,
            member, methods[i].signature, dbus_message_get_signature(call));
    } else {
        g_debug("%s %s.%s from %s", dbus_message_get_path(call), methods[i].interface,
                member,
                dbus_message_get_sender(call) ? dbus_message_get_sender(call) : "(peer)");
        if (methods[i].action)
            vmig_service_authorize(service, call, &methods[i], id);
        else
            vmig_service_run(service, call, &methods[i], id);
        return DBUS_HANDLER_RESULT_HANDLED;
    }
    vmig_service_reply(service, call, reply);
    return DBUS_HANDLER_RESULT_HANDLED;
}

void
vmig_service_run(VmigService *service, DBusMessage *call, const VmigServiceMethod *method,
                 const char *id)
{
    g_autoptr(DBusMessage) reply = method->handler(service, call, id);

    vmig_service_reply(service, call, reply);
}

/* ---- the object tree ---------------------------------------------------------- */

#define NODE_DOCTYPE                                                                     \
    "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n" \
    " \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"

/*
 * Returns: the introspection of a node with Introspectable, the interfaces
 * in @interfaces (XML text, or NULL) and @children (new).
 */
static char *
node_xml(const char *interfaces, const char *const *children, gsize n_children)
{
    GString *xml = g_string_new(
        NODE_DOCTYPE "<node>\n"
                     "  <interface name=\"" INTERFACE_INTROSPECTABLE "\">\n"
                     "    <method name=\"Introspect\">\n"
                     "      <arg name=\"xml_data\" type=\"s\" direction=\"out\"/>\n"
                     "    </method>\n"
                     "  </interface>\n");

    if (interfaces)
        g_string_append(xml, interfaces);

    for (gsize i = 0; i < n_children; i++)
        g_string_append_printf(xml, "  <node name=\"%s\"/>\n", children[i]);
    g_string_append(xml, "</node>\n");
    return g_string_free(xml, FALSE);
}

/* Answers a call on a node above the objects, which has only Introspect. */
static DBusHandlerResult
node_call(VmigService *service, DBusMessage *call, const char *const *children,
          gsize n_children)
{
    g_autoptr(DBusMessage) reply = NULL;

    if (dbus_message_get_type(call) != DBUS_MESSAGE_TYPE_METHOD_CALL)
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
    if (dbus_message_is_method_call(call, INTERFACE_INTROSPECTABLE, "Introspect") ||
        (!dbus_message_get_interface(call) &&
         g_strcmp0(dbus_message_get_member(call), "Introspect") == 0)) {
        g_autofree char *xml = node_xml(NULL, children, n_children);

        reply = vmig_service_string_reply(call, xml);
    } else {
        reply =
            vmig_service_error_reply(call, DBUS_ERROR_UNKNOWN_METHOD,
                                     "object %s has only the Introspectable interface",
                                     dbus_message_get_path(call));
    }
    vmig_service_reply(service, call, reply);
    return DBUS_HANDLER_RESULT_HANDLED;
}

/* ---- /org/virtmigrate: org.freedesktop.DBus.ObjectManager ------------------------ */

#define MANAGER_XML                                                                      \
    "  <interface name=\"" VMIG_SERVICE_MANAGER_IFACE "\">\n"                            \
    "    <method name=\"GetManagedObjects\">\n"                                          \
    "      <arg name=\"objects\" type=\"a{oa{sa{sv}}}\" direction=\"out\"/>\n"           \
    "    </method>\n"                                                                    \
    "    <signal name=\"InterfacesAdded\">\n"                                            \
    "      <arg name=\"object\" type=\"o\"/>\n"                                          \
    "      <arg name=\"interfaces\" type=\"a{sa{sv}}\"/>\n"                              \
    "    </signal>\n"                                                                    \
    "    <signal name=\"InterfacesRemoved\">\n"                                          \
    "      <arg name=\"object\" type=\"o\"/>\n"                                          \
    "      <arg name=\"interfaces\" type=\"as\"/>\n"                                     \
    "    </signal>\n"                                                                    \
    "  </interface>\n"

void
vmig_service_append_interfaces(DBusMessageIter *iter, JsonObject *values)
{
    const char *interface =
        values ? VMIG_SERVICE_MIGRATION_IFACE : VMIG_SERVICE_DRIVER_IFACE;
    DBusMessageIter interfaces;
    DBusMessageIter entry;
    DBusMessageIter properties;

    vmig_service_need(
        dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sa{sv}}", &interfaces));
    vmig_service_need(dbus_message_iter_open_container(&interfaces, DBUS_TYPE_DICT_ENTRY,
                                                       NULL, &entry));
    vmig_service_need(
        dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &interface));
    vmig_service_need(
        dbus_message_iter_open_container(&entry, DBUS_TYPE_ARRAY, "{sv}", &properties));
    if (values)
        vmig_service_migration_append_properties(&properties, values);
    else
        vmig_service_driver_append_properties(&properties);
    vmig_service_need(dbus_message_iter_close_container(&entry, &properties));
    vmig_service_need(dbus_message_iter_close_container(&interfaces, &entry));
    vmig_service_need(dbus_message_iter_close_container(iter, &interfaces));
}

/* Appends {path: interfaces} to the a{oa{sa{sv}}} @objects. */
static void
append_managed_object(DBusMessageIter *objects, const char *path, JsonObject *values)
{
    DBusMessageIter entry;

    vmig_service_need(
        dbus_message_iter_open_container(objects, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
    vmig_service_need(
        dbus_message_iter_append_basic(&entry, DBUS_TYPE_OBJECT_PATH, &path));
    vmig_service_append_interfaces(&entry, values);
    vmig_service_need(dbus_message_iter_close_container(objects, &entry));
}

static DBusMessage *
manager_get_managed_objects(VmigService *service, DBusMessage *call, const char *id)
{
    g_autoptr(JsonNode) list = vmig_migrations_list(service->daemon->migrations);
    JsonArray *array = json_node_get_array(list);
    DBusMessage *reply = dbus_message_new_method_return(call);
    DBusMessageIter iter;
    DBusMessageIter objects;

    vmig_service_need(reply != NULL);
    dbus_message_iter_init_append(reply, &iter);
    vmig_service_need(dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY,
                                                       "{oa{sa{sv}}}", &objects));
    append_managed_object(&objects, VMIG_SERVICE_DRIVER_PATH, NULL);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        const char *mid = json_object_get_string_member(
            json_array_get_object_element(array, i), "migration");
        g_autoptr(JsonObject) values = vmig_service_migration_current(service, mid);
        g_autofree char *path = NULL;

        if (!values)
            continue;
        path = vmig_service_migration_path(mid);
        append_managed_object(&objects, path, values);
    }
    vmig_service_need(dbus_message_iter_close_container(&iter, &objects));
    return reply;
}

static DBusMessage *
manager_introspect(VmigService *service, DBusMessage *call, const char *id)
{
    static const char *const top[] = {"Driver", "migration"};
    g_autofree char *xml = node_xml(MANAGER_XML, top, G_N_ELEMENTS(top));

    return vmig_service_string_reply(call, xml);
}

static const VmigServiceMethod manager_methods[] = {
    {VMIG_SERVICE_MANAGER_IFACE, "GetManagedObjects", "", manager_get_managed_objects,
     NULL},
    {INTERFACE_INTROSPECTABLE, "Introspect", "", manager_introspect, NULL},
};

/* "/", "/org", "/org/virtmigrate" and anything unknown.  Returns: handled or not. */
static DBusHandlerResult
on_root_message(DBusConnection *connection, DBusMessage *call, void *user_data)
{
    VmigService *service = user_data;
    const char *path = dbus_message_get_path(call);
    static const char *const org[] = {"org"};
    static const char *const virtmigrate[] = {"virtmigrate"};
    g_autoptr(DBusMessage) reply = NULL;

    if (g_str_equal(path, "/"))
        return node_call(service, call, org, G_N_ELEMENTS(org));
    if (g_str_equal(path, "/org"))
        return node_call(service, call, virtmigrate, G_N_ELEMENTS(virtmigrate));
    if (g_str_equal(path, VMIG_SERVICE_MANAGER_PATH))
        return dispatch(service, call, manager_methods, G_N_ELEMENTS(manager_methods),
                        NULL);
    if (dbus_message_get_type(call) != DBUS_MESSAGE_TYPE_METHOD_CALL)
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
    reply = vmig_service_error_reply(call, DBUS_ERROR_UNKNOWN_OBJECT, "no object at %s",
                                     path);
    vmig_service_reply(service, call, reply);
    return DBUS_HANDLER_RESULT_HANDLED;
}

static DBusHandlerResult
on_driver_message(DBusConnection *connection, DBusMessage *call, void *user_data)
{
    VmigService *service = user_data;

    return dispatch(service, call, vmig_service_driver_methods,
                    vmig_service_n_driver_methods, NULL);
}

/* /org/virtmigrate/migration and every path under it.  Returns: handled or not. */
static DBusHandlerResult
on_migration_message(DBusConnection *connection, DBusMessage *call, void *user_data)
{
    VmigService *service = user_data;
    const char *path = dbus_message_get_path(call);
    const char *id;
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;

    if (g_str_equal(path, VMIG_SERVICE_MIGRATION_PATH)) {
        g_autoptr(JsonNode) list = vmig_migrations_list(service->daemon->migrations);
        JsonArray *array = json_node_get_array(list);
        g_autoptr(GPtrArray) children = g_ptr_array_new();

        for (guint i = 0; i < json_array_get_length(array); i++)
            g_ptr_array_add(children,
                            (gpointer)json_object_get_string_member(
                                json_array_get_object_element(array, i), "migration"));
        return node_call(service, call, (const char *const *)children->pdata,
                         children->len);
    }
    if (dbus_message_get_type(call) != DBUS_MESSAGE_TYPE_METHOD_CALL)
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

    id = path + strlen(VMIG_SERVICE_MIGRATION_PATH "/");
    record = strchr(id, '/')
                 ? NULL
                 : vmig_migration_record(service->daemon->migrations, id, &error);
    if (!record) {
        g_autoptr(DBusMessage) reply = vmig_service_error_reply(
            call, "org.virtmigrate.Error.NotFound", "no migration at %s", path);

        vmig_service_reply(service, call, reply);
        return DBUS_HANDLER_RESULT_HANDLED;
    }
    return dispatch(service, call, vmig_service_migration_methods,
                    vmig_service_n_migration_methods, id);
}

/* The bus went away: the daemon goes on with its control socket alone. */
static DBusHandlerResult
on_filter(DBusConnection *connection, DBusMessage *message, void *user_data)
{
    if (dbus_message_is_signal(message, DBUS_INTERFACE_LOCAL, "Disconnected"))
        g_warning(
            "lost the connection to the D-Bus bus: serving the control socket only");
    return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static const DBusObjectPathVTable root_vtable = {.message_function = on_root_message};
static const DBusObjectPathVTable driver_vtable = {.message_function = on_driver_message};
static const DBusObjectPathVTable migration_vtable = {.message_function =
                                                          on_migration_message};

/* ---- life ------------------------------------------------------------------------ */

/* Converts a libdbus error to @error (and frees it).  Returns: FALSE. */
static gboolean
bus_error(DBusError *dbus_error, GError **error, const char *what)
{
    g_set_error(error, VMIG_SERVICE_ERROR, VMIG_SERVICE_ERROR_BUS, "%s: %s", what,
                dbus_error->message ? dbus_error->message : "unknown error");
    dbus_error_free(dbus_error);
    return FALSE;
}

/*
 * Reads one interface description: from @dir when given, else the copy
 * compiled into the daemon.  Returns: its text (new), or NULL with @error set.
 */
static char *
read_interface(const char *dir, const char *name, GError **error)
{
    g_autofree char *path = NULL;
    g_autoptr(GError) local = NULL;
    char *text = NULL;

    if (!dir) {
        g_autofree char *resource = g_strconcat(VMIG_SERVICE_RESOURCE_PREFIX, name, NULL);
        g_autoptr(GBytes) bytes =
            g_resource_lookup_data(vmig_resources_get_resource(), resource,
                                   G_RESOURCE_LOOKUP_FLAGS_NONE, &local);

        if (!bytes) {
            g_set_error(error, VMIG_SERVICE_ERROR, VMIG_SERVICE_ERROR_INTERFACES,
                        "the daemon was built without its D-Bus interface "
                        "description %s: %s",
                        name, local->message);
            return NULL;
        }
        return g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    }
    path = g_build_filename(dir, name, NULL);
    if (!g_file_get_contents(path, &text, NULL, &local)) {
        g_set_error(error, VMIG_SERVICE_ERROR, VMIG_SERVICE_ERROR_INTERFACES,
                    "cannot read the D-Bus interface description: %s (set %s to the "
                    "directory that holds %s)",
                    local->message, VMIG_SERVICE_INTERFACES_ENV, name);
        return NULL;
    }
    return text;
}

VmigService *
vmig_service_new(VmigDaemon *daemon, DBusBusType bus, const char *interfaces_dir,
                 GError **error)
{
    g_autoptr(GError) local = NULL;
    VmigService *service;
    DBusError dbus_error;
    int owned;

    dbus_error_init(&dbus_error);
    service = g_new0(VmigService, 1);
    service->daemon = daemon;
    service->published = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify)json_object_unref);
    service->cancellable = g_cancellable_new();

    service->driver_xml =
        read_interface(interfaces_dir, VMIG_SERVICE_DRIVER_IFACE ".xml", error);
    if (!service->driver_xml)
        goto fail;
    service->migration_xml =
        read_interface(interfaces_dir, VMIG_SERVICE_MIGRATION_IFACE ".xml", error);
    if (!service->migration_xml)
        goto fail;

    /* A private connection: nothing else in the process may share (or close) it. */
    service->connection = dbus_bus_get_private(bus, &dbus_error);
    if (!service->connection) {
        bus_error(&dbus_error, error,
                  bus == DBUS_BUS_SYSTEM ? "cannot connect to the system bus"
                                         : "cannot connect to the session bus");
        goto fail;
    }
    dbus_connection_set_exit_on_disconnect(service->connection, FALSE);
    vmig_service_need(
        dbus_connection_add_filter(service->connection, on_filter, service, NULL));

    if (!dbus_connection_try_register_fallback(service->connection, "/", &root_vtable,
                                               service, &dbus_error) ||
        !dbus_connection_try_register_object_path(service->connection,
                                                  VMIG_SERVICE_DRIVER_PATH,
                                                  &driver_vtable, service, &dbus_error) ||
        !dbus_connection_try_register_fallback(service->connection,
                                               VMIG_SERVICE_MIGRATION_PATH,
                                               &migration_vtable, service, &dbus_error)) {
        bus_error(&dbus_error, error, "cannot register the D-Bus objects");
        goto fail;
    }
    /* The objects exist before the name: no call can come in between. */
    owned = dbus_bus_request_name(service->connection, VMIG_SERVICE_NAME,
                                  DBUS_NAME_FLAG_DO_NOT_QUEUE, &dbus_error);
    if (owned < 0) {
        bus_error(&dbus_error, error, "cannot own the name " VMIG_SERVICE_NAME);
        goto fail;
    }
    if (owned != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
        g_set_error(error, VMIG_SERVICE_ERROR, VMIG_SERVICE_ERROR_BUS,
                    "the name " VMIG_SERVICE_NAME
                    " is already owned on the %s bus (another "
                    "virt-migrated?)",
                    bus == DBUS_BUS_SYSTEM ? "system" : "session");
        goto fail;
    }
    if (!vmig_dbus_loop_attach(service->connection, daemon->settings.context, error))
        goto fail;
    vmig_migrations_observe(daemon->migrations, &vmig_service_observer, service);
    return service;

fail:
    vmig_service_free(service);
    return NULL;
}

void
vmig_service_free(VmigService *service)
{
    if (!service)
        return;
    g_cancellable_cancel(service->cancellable);
    vmig_service_authorize_cancel_all(service);
    if (service->daemon->migrations)
        vmig_migrations_unobserve(service->daemon->migrations, &vmig_service_observer,
                                  service);
    if (service->connection) {
        dbus_connection_remove_filter(service->connection, on_filter, service);
        dbus_connection_unregister_object_path(service->connection,
                                               VMIG_SERVICE_MIGRATION_PATH);
        dbus_connection_unregister_object_path(service->connection,
                                               VMIG_SERVICE_DRIVER_PATH);
        dbus_connection_unregister_object_path(service->connection, "/");
        /* What is queued (a last Finished signal) goes out before the close. */
        if (dbus_connection_get_is_connected(service->connection))
            dbus_connection_flush(service->connection);
        dbus_connection_close(service->connection);
        vmig_dbus_loop_detach(service->connection);
        dbus_connection_unref(service->connection);
    }
    g_object_unref(service->cancellable);
    g_hash_table_unref(service->published);
    g_free(service->driver_xml);
    g_free(service->migration_xml);
    g_free(service);
}
