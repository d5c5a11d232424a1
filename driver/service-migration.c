/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-migration.c: /org/virtmigrate/migration/ID, org.virtmigrate.Migration1
 *
 * Every property is read from the migration's record (the control socket's
 * query-migration), through one table: a property is a name, a D-Bus type
 * and where its value sits in the record.  PropertiesChanged compares what
 * the table yields now with what was last published.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-service"

#include <unistd.h>

#include "driver/migration.h"
#include "driver/service-private.h"

#define INTERFACE_PROPERTIES "org.freedesktop.DBus.Properties"

/* Returns: the value of a property in @record (a new node, or NULL: empty). */
typedef JsonNode *(*PropertyFunc)(JsonObject *record, const char *member);

typedef struct {
    const char *name;
    const char *signature;
    PropertyFunc get;
    const char *member; /* of the record */
} Property;

/* A member of the record as it is (a copy), or NULL. */
static JsonNode *
prop_member(JsonObject *record, const char *member)
{
    return json_object_has_member(record, member)
               ? json_node_copy(json_object_get_member(record, member))
               : NULL;
}

/* The names of the chosen features. */
static JsonNode *
prop_features(JsonObject *record, const char *member)
{
    JsonArray *names = json_array_new();
    JsonArray *chosen = json_object_has_member(record, member)
                            ? json_object_get_array_member(record, member)
                            : NULL;
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; chosen && i < json_array_get_length(chosen); i++)
        json_array_add_string_element(
            names, json_object_get_string_member(json_array_get_object_element(chosen, i),
                                                 "name"));
    json_node_take_array(node, names);
    return node;
}

/* The extra channels received (source: supplied; destination: connected). */
static JsonNode *
prop_channels(JsonObject *record, const char *member)
{
    JsonObject *channels = json_object_has_member(record, member)
                               ? json_object_get_object_member(record, member)
                               : NULL;

    return channels && json_object_has_member(channels, "received")
               ? json_node_copy(json_object_get_member(channels, "received"))
               : NULL;
}

/* The tunables this side set: record.tunables.<role>. */
static JsonNode *
prop_tunables(JsonObject *record, const char *member)
{
    JsonObject *tunables = json_object_has_member(record, member)
                               ? json_object_get_object_member(record, member)
                               : NULL;
    const char *role = json_object_get_string_member(record, "role");

    return tunables && json_object_has_member(tunables, role)
               ? json_node_copy(json_object_get_member(tunables, role))
               : NULL;
}

/*
 * TLS between the drivers: "state" ("none", "pending" or "up") and, once
 * up, the record's version, cipher, peer-dn and session.
 */
static JsonNode *
prop_tls(JsonObject *record, const char *member)
{
    JsonNode *node = json_object_get_member(record, member);
    JsonObject *tls = json_object_new();
    JsonNode *value;

    if (node && JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObject *session = json_node_get_object(node);
        GList *members = json_object_get_members(session);

        for (GList *l = members; l; l = l->next)
            json_object_set_member(
                tls, l->data, json_node_copy(json_object_get_member(session, l->data)));
        g_list_free(members);
        json_object_set_string_member(tls, "state", "up");
    } else {
        json_object_set_string_member(tls, "state",
                                      node && JSON_NODE_HOLDS_VALUE(node) &&
                                              json_node_get_value_type(node) ==
                                                  G_TYPE_STRING
                                          ? json_node_get_string(node)
                                          : "none");
    }
    value = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(value, tls); /* json_node_init_object() would add a ref */
    return value;
}

static const Property properties[] = {
    {"State", "s", prop_member, "state"},
    {"Role", "s", prop_member, "role"},
    {"ProtocolVersion", "u", prop_member, "version"},
    {"Features", "as", prop_features, "features"},
    {"Channels", "u", prop_channels, "channels"},
    {"Tunables", "a{sv}", prop_tunables, "tunables"},
    {"Hypervisor", "s", prop_member, "hypervisor"},
    {"PeerHypervisor", "s", prop_member, "peer-hypervisor"},
    {"Tls", "a{sv}", prop_tls, "tls"},
};

JsonObject *
vmig_service_migration_properties(JsonObject *record)
{
    JsonObject *values = json_object_new();

    for (gsize i = 0; i < G_N_ELEMENTS(properties); i++) {
        JsonNode *value = properties[i].get(record, properties[i].member);

        json_object_set_member(values, properties[i].name,
                               value ? value : json_node_new(JSON_NODE_NULL));
    }
    return values;
}

/* Returns: the property called @name, or NULL. */
static const Property *
find_property(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(properties); i++) {
        if (g_str_equal(properties[i].name, name))
            return &properties[i];
    }
    return NULL;
}

/* Appends {name: variant} for @p, its value taken from @values. */
static void
append_entry(DBusMessageIter *dict, const Property *p, JsonObject *values)
{
    DBusMessageIter entry;
    DBusMessageIter variant;

    vmig_service_need(
        dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
    vmig_service_need(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &p->name));
    vmig_service_need(dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT,
                                                       p->signature, &variant));
    vmig_service_append_json(&variant, p->signature,
                             json_object_get_member(values, p->name));
    vmig_service_need(dbus_message_iter_close_container(&entry, &variant));
    vmig_service_need(dbus_message_iter_close_container(dict, &entry));
}

void
vmig_service_migration_append_properties(DBusMessageIter *dict, JsonObject *values)
{
    for (gsize i = 0; i < G_N_ELEMENTS(properties); i++)
        append_entry(dict, &properties[i], values);
}

char *
vmig_service_migration_path(const char *id)
{
    return g_strdup_printf(VMIG_SERVICE_MIGRATION_PATH "/%s", id);
}

JsonObject *
vmig_service_migration_current(VmigService *service, const char *id)
{
    g_autoptr(JsonNode) record =
        vmig_migration_record(service->daemon->migrations, id, NULL);

    return record ? vmig_service_migration_properties(json_node_get_object(record))
                  : NULL;
}

/* ---- methods ---------------------------------------------------------------------- */

static DBusMessage *
migration_introspect(VmigService *service, DBusMessage *call, const char *id)
{
    return vmig_service_string_reply(call, service->migration_xml);
}

static DBusMessage *
migration_get(VmigService *service, DBusMessage *call, const char *id)
{
    const char *interface = NULL;
    const char *name = NULL;
    g_autoptr(JsonObject) values = NULL;
    DBusMessage *reply;
    const Property *p;
    DBusMessageIter iter;
    DBusMessageIter variant;

    vmig_service_need(dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &interface,
                                            DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID));
    reply = vmig_service_check_interface(call, VMIG_SERVICE_MIGRATION_IFACE, interface);
    if (reply)
        return reply;
    p = find_property(name);
    if (!p)
        return vmig_service_error_reply(call, DBUS_ERROR_UNKNOWN_PROPERTY,
                                        "interface %s has no property '%s'",
                                        VMIG_SERVICE_MIGRATION_IFACE, name);
    values = vmig_service_migration_current(service, id);
    reply = dbus_message_new_method_return(call);
    vmig_service_need(reply != NULL);
    dbus_message_iter_init_append(reply, &iter);
    vmig_service_need(dbus_message_iter_open_container(&iter, DBUS_TYPE_VARIANT,
                                                       p->signature, &variant));
    vmig_service_append_json(&variant, p->signature,
                             json_object_get_member(values, p->name));
    vmig_service_need(dbus_message_iter_close_container(&iter, &variant));
    return reply;
}

/* Fills @dict with Migration1's properties from @data, their values (a
 * VmigServiceFillDict). */
static void
migration_fill_properties(DBusMessageIter *dict, gpointer data)
{
    vmig_service_migration_append_properties(dict, data);
}

static DBusMessage *
migration_get_all(VmigService *service, DBusMessage *call, const char *id)
{
    const char *interface = NULL;
    g_autoptr(JsonObject) values = NULL;
    DBusMessage *reply;

    vmig_service_need(dbus_message_get_args(call, NULL, DBUS_TYPE_STRING, &interface,
                                            DBUS_TYPE_INVALID));
    reply = vmig_service_check_interface(call, VMIG_SERVICE_MIGRATION_IFACE, interface);
    if (reply)
        return reply;
    values = vmig_service_migration_current(service, id);
    return vmig_service_dict_reply(call, migration_fill_properties, values);
}

/* Returns: whether Migration1 has a property called @name. */
static gboolean
migration_has_property(const char *name)
{
    return find_property(name) != NULL;
}

static DBusMessage *
migration_set(VmigService *service, DBusMessage *call, const char *id)
{
    return vmig_service_refuse_set(call, VMIG_SERVICE_MIGRATION_IFACE,
                                   migration_has_property);
}

static DBusMessage *
migration_supply_channels(VmigService *service, DBusMessage *call, const char *id)
{
    g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GError) error = NULL;
    DBusMessageIter iter;
    DBusMessageIter array;
    DBusMessage *reply;
    guint closed = 0;
    guint accepted;

    /* Each fd read is a duplicate of ours to close; the message closes its own. */
    dbus_message_iter_init(call, &iter);
    dbus_message_iter_recurse(&iter, &array);
    while (dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_UNIX_FD) {
        int fd = -1;

        dbus_message_iter_get_basic(&array, &fd);
        if (fd < 0) {
            for (guint i = 0; i < fds->len; i++)
                close(g_array_index(fds, int, i));
            return vmig_service_error_reply(call, "org.virtmigrate.Error.InvalidChannel",
                                            "channel %u: the fd did not arrive",
                                            fds->len);
        }
        g_array_append_val(fds, fd);
        dbus_message_iter_next(&array);
    }
    if (fds->len == 0)
        return vmig_service_error_reply(call, "org.virtmigrate.Error.InvalidArgument",
                                        "SupplyChannels needs at least one fd");
    /* Consumed whatever the outcome. */
    if (!vmig_migration_add_channels(service->daemon->migrations, id,
                                     (int *)(void *)fds->data, fds->len, &closed, &error))
        return vmig_service_gerror_reply(call, error, "org.virtmigrate.Error.Failed");
    g_debug("%s: %u channels supplied over D-Bus", id, fds->len);
    accepted = fds->len - closed;
    reply = dbus_message_new_method_return(call);
    vmig_service_need(reply != NULL);
    vmig_service_need(dbus_message_append_args(reply, DBUS_TYPE_UINT32, &accepted,
                                               DBUS_TYPE_UINT32, &closed,
                                               DBUS_TYPE_INVALID));
    return reply;
}

static DBusMessage *
migration_cancel(VmigService *service, DBusMessage *call, const char *id)
{
    g_autoptr(GError) error = NULL;

    if (!vmig_migration_cancel(service->daemon->migrations, id, &error))
        return vmig_service_gerror_reply(call, error, "org.virtmigrate.Error.Failed");
    return dbus_message_new_method_return(call);
}

const VmigServiceMethod vmig_service_migration_methods[] = {
    {VMIG_SERVICE_MIGRATION_IFACE, "SupplyChannels", "ah", migration_supply_channels,
     VMIG_SERVICE_ACTION_MANAGE},
    {VMIG_SERVICE_MIGRATION_IFACE, "Cancel", "", migration_cancel,
     VMIG_SERVICE_ACTION_MANAGE},
    {INTERFACE_PROPERTIES, "Get", "ss", migration_get, NULL},
    {INTERFACE_PROPERTIES, "GetAll", "s", migration_get_all, NULL},
    {INTERFACE_PROPERTIES, "Set", "ssv", migration_set, NULL},
    {"org.freedesktop.DBus.Introspectable", "Introspect", "", migration_introspect, NULL},
};
const gsize vmig_service_n_migration_methods =
    G_N_ELEMENTS(vmig_service_migration_methods);

/* ---- what migration.c tells ------------------------------------------------------ */

/* Returns: a new signal of migration @id's object. */
static DBusMessage *
new_signal(const char *id, const char *interface, const char *name)
{
    g_autofree char *path = vmig_service_migration_path(id);
    DBusMessage *signal = dbus_message_new_signal(path, interface, name);

    vmig_service_need(signal != NULL);
    return signal;
}

void
vmig_service_migration_changed(VmigService *service, const char *id)
{
    g_autoptr(JsonObject) values = vmig_service_migration_current(service, id);
    JsonObject *old = g_hash_table_lookup(service->published, id);
    g_autoptr(DBusMessage) signal = NULL;
    const char *interface = VMIG_SERVICE_MIGRATION_IFACE;
    DBusMessageIter iter;
    DBusMessageIter dict;
    DBusMessageIter invalidated;
    guint n_changed = 0;

    if (!values)
        return;
    if (old) {
        signal = new_signal(id, INTERFACE_PROPERTIES, "PropertiesChanged");
        dbus_message_iter_init_append(signal, &iter);
        vmig_service_need(
            dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &interface));
        vmig_service_need(
            dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "{sv}", &dict));
        for (gsize i = 0; i < G_N_ELEMENTS(properties); i++) {
            const char *name = properties[i].name;

            if (json_node_equal(json_object_get_member(old, name),
                                json_object_get_member(values, name)))
                continue;
            append_entry(&dict, &properties[i], values);
            n_changed++;
        }
        vmig_service_need(dbus_message_iter_close_container(&iter, &dict));
        vmig_service_need(
            dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "s", &invalidated));
        vmig_service_need(dbus_message_iter_close_container(&iter, &invalidated));
        if (n_changed)
            vmig_service_send(service, signal);
    } else {
        /* The first word of a migration: its object appears. */
        g_autofree char *path = vmig_service_migration_path(id);
        const char *p = path;

        signal = dbus_message_new_signal(VMIG_SERVICE_MANAGER_PATH,
                                         VMIG_SERVICE_MANAGER_IFACE, "InterfacesAdded");
        vmig_service_need(signal != NULL);
        dbus_message_iter_init_append(signal, &iter);
        vmig_service_need(
            dbus_message_iter_append_basic(&iter, DBUS_TYPE_OBJECT_PATH, &p));
        vmig_service_append_interfaces(&iter, values);
        vmig_service_send(service, signal);
    }
    g_hash_table_replace(service->published, g_strdup(id), g_steal_pointer(&values));
}

/* Appends {key: variant} with an integer of D-Bus @type (t or x). */
static void
append_progress_int(DBusMessageIter *dict, const char *key, int type, gint64 value)
{
    DBusMessageIter entry;
    DBusMessageIter variant;
    char signature[2] = {(char)type, '\0'};

    vmig_service_need(
        dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
    vmig_service_need(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
    vmig_service_need(
        dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, signature, &variant));
    if (type == DBUS_TYPE_UINT64) {
        dbus_uint64_t t = value < 0 ? 0 : (dbus_uint64_t)value;

        vmig_service_need(dbus_message_iter_append_basic(&variant, DBUS_TYPE_UINT64, &t));
    } else {
        dbus_int64_t x = value;

        vmig_service_need(dbus_message_iter_append_basic(&variant, DBUS_TYPE_INT64, &x));
    }
    vmig_service_need(dbus_message_iter_close_container(&entry, &variant));
    vmig_service_need(dbus_message_iter_close_container(dict, &entry));
}

/* MIGRATION_PROGRESS's members, with their D-Bus types. */
static const struct {
    const char *key;
    int type;
} progress_members[] = {
    {"transferred", DBUS_TYPE_UINT64},
    {"remaining", DBUS_TYPE_UINT64},
    {"total", DBUS_TYPE_UINT64},
    {"throughput", DBUS_TYPE_UINT64},
    {"expected-downtime", DBUS_TYPE_INT64},
};

/* Returns: the Progress signal for MIGRATION_PROGRESS @data (new). */
static DBusMessage *
progress_signal(const char *id, JsonObject *data)
{
    DBusMessage *signal = new_signal(id, VMIG_SERVICE_MIGRATION_IFACE, "Progress");
    const char *status = json_object_get_string_member_with_default(data, "status", "");
    const char *key = "status";
    DBusMessageIter iter;
    DBusMessageIter dict;
    DBusMessageIter entry;
    DBusMessageIter variant;

    dbus_message_iter_init_append(signal, &iter);
    vmig_service_need(
        dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "{sv}", &dict));
    vmig_service_need(
        dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
    vmig_service_need(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
    vmig_service_need(
        dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "s", &variant));
    vmig_service_need(
        dbus_message_iter_append_basic(&variant, DBUS_TYPE_STRING, &status));
    vmig_service_need(dbus_message_iter_close_container(&entry, &variant));
    vmig_service_need(dbus_message_iter_close_container(&dict, &entry));
    for (gsize i = 0; i < G_N_ELEMENTS(progress_members); i++)
        append_progress_int(
            &dict, progress_members[i].key, progress_members[i].type,
            json_object_get_int_member_with_default(data, progress_members[i].key, 0));
    vmig_service_need(dbus_message_iter_close_container(&iter, &dict));
    return signal;
}

void
vmig_service_migration_event(VmigService *service, const char *id, const char *event,
                             JsonObject *data)
{
    g_autoptr(DBusMessage) signal = NULL;

    if (g_str_equal(event, "CHANNELS_REQUESTED")) {
        dbus_uint32_t count = (dbus_uint32_t)json_object_get_int_member(data, "count");

        signal = new_signal(id, VMIG_SERVICE_MIGRATION_IFACE, "ChannelsRequested");
        vmig_service_need(dbus_message_append_args(signal, DBUS_TYPE_UINT32, &count,
                                                   DBUS_TYPE_INVALID));
    } else if (g_str_equal(event, "MIGRATION_PROGRESS")) {
        signal = progress_signal(id, data);
    } else if (g_str_equal(event, "MIGRATION_DONE")) {
        const char *result = json_object_get_string_member(data, "result");
        const char *error = json_object_get_string_member_with_default(data, "error", "");

        if (!g_utf8_validate(error, -1, NULL))
            error = "";
        signal = new_signal(id, VMIG_SERVICE_MIGRATION_IFACE, "Finished");
        vmig_service_need(dbus_message_append_args(signal, DBUS_TYPE_STRING, &result,
                                                   DBUS_TYPE_STRING, &error,
                                                   DBUS_TYPE_INVALID));
    } else {
        return; /* NEGOTIATED shows as PropertiesChanged */
    }
    vmig_service_send(service, signal);
}

void
vmig_service_migration_removed(VmigService *service, const char *id)
{
    g_autofree char *path = vmig_service_migration_path(id);
    const char *interfaces[] = {VMIG_SERVICE_MIGRATION_IFACE};
    const char **names = interfaces;
    const char *p = path;
    g_autoptr(DBusMessage) signal = NULL;

    /* Never published (refused before its id was given out): never added. */
    if (!g_hash_table_remove(service->published, id))
        return;
    signal = dbus_message_new_signal(VMIG_SERVICE_MANAGER_PATH,
                                     VMIG_SERVICE_MANAGER_IFACE, "InterfacesRemoved");
    vmig_service_need(signal != NULL);
    vmig_service_need(dbus_message_append_args(
        signal, DBUS_TYPE_OBJECT_PATH, &p, DBUS_TYPE_ARRAY, DBUS_TYPE_STRING, &names,
        (int)G_N_ELEMENTS(interfaces), DBUS_TYPE_INVALID));
    vmig_service_send(service, signal);
}

/* The observer's callbacks: @user_data is the service. */
static void
on_migration_changed(const char *id, gpointer user_data)
{
    vmig_service_migration_changed(user_data, id);
}

static void
on_migration_event(const char *id, const char *event, JsonObject *data,
                   gpointer user_data)
{
    vmig_service_migration_event(user_data, id, event, data);
}

static void
on_migration_removed(const char *id, gpointer user_data)
{
    vmig_service_migration_removed(user_data, id);
}

const VmigMigrationObserver vmig_service_observer = {
    .changed = on_migration_changed,
    .event = on_migration_event,
    .removed = on_migration_removed,
};
