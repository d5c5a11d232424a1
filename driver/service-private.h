/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-private.h: what the D-Bus service's files share
 *
 * driver/service.c holds the connection, the object tree, method dispatch
 * and the error names; driver/service-driver.c the org.virtmigrate.Driver1
 * interface; driver/service-migration.c org.virtmigrate.Migration1 with its
 * properties and signals.
 */
#pragma once

#include <gio/gio.h>

#include "driver/service.h"

struct _VmigService {
    VmigDaemon *daemon;
    DBusConnection *connection;
    char *driver_xml;          /* data/org.virtmigrate.Driver1.xml */
    char *migration_xml;       /* data/org.virtmigrate.Migration1.xml */
    GHashTable *published;     /* migration id -> JsonObject: properties last published */
    GCancellable *cancellable; /* calls answered later (GetTunables) */
    GList *authorizing;        /* calls waiting for the bus or polkit (service-authz.c) */
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC(DBusMessage, dbus_message_unref)

/*
 * A method: @call is a method call whose signature was checked; @id the
 * migration it is addressed to (Migration1), else NULL.
 * Returns: the reply (new), or NULL when the reply is sent later.
 */
typedef DBusMessage *(*VmigServiceMethodFunc)(VmigService *service, DBusMessage *call,
                                              const char *id);

typedef struct {
    const char *interface;
    const char *member;
    const char *signature; /* of the arguments in */
    VmigServiceMethodFunc handler;
    const char *action; /* the polkit action a caller needs, or NULL: anyone may */
} VmigServiceMethod;

/* The polkit actions (data/org.virtmigrate.policy). */
#define VMIG_SERVICE_ACTION_READ   "org.virtmigrate.read"
#define VMIG_SERVICE_ACTION_MANAGE "org.virtmigrate.manage"

/* The object that carries org.freedesktop.DBus.ObjectManager. */
#define VMIG_SERVICE_MANAGER_PATH  "/org/virtmigrate"
#define VMIG_SERVICE_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

extern const VmigServiceMethod vmig_service_driver_methods[];
extern const gsize vmig_service_n_driver_methods;
extern const VmigServiceMethod vmig_service_migration_methods[];
extern const gsize vmig_service_n_migration_methods;

/* libdbus reports running out of memory with FALSE: GLib's policy is to abort. */
void vmig_service_need(dbus_bool_t ok);

/* Sends @message (borrowed) on the service's connection. */
void vmig_service_send(VmigService *service, DBusMessage *message);

/* Sends @reply (borrowed; NULL: nothing) unless @call asked for none. */
void vmig_service_reply(VmigService *service, DBusMessage *call, DBusMessage *reply);

/* Returns: an error reply to @call named @name (new). */
DBusMessage *vmig_service_error_reply(DBusMessage *call, const char *name,
                                      const char *format, ...) G_GNUC_PRINTF(3, 4);

/*
 * Returns: an error reply to @call for @error (new): its D-Bus name comes
 * from its domain and code, @fallback_name when they name nothing closer.
 */
DBusMessage *vmig_service_gerror_reply(DBusMessage *call, const GError *error,
                                       const char *fallback_name);

/* Returns: a reply to @call carrying the string @text (new). */
DBusMessage *vmig_service_string_reply(DBusMessage *call, const char *text);

/*
 * org.freedesktop.DBus.Properties on the service's read-only interfaces.
 * Returns: an UnknownInterface error reply to @call (new) when
 * @interface is not @expected, else NULL.
 */
DBusMessage *vmig_service_check_interface(DBusMessage *call, const char *expected,
                                          const char *interface);

/* Fills the a{sv} @dict with an interface's properties. */
typedef void (*VmigServiceFillDict)(DBusMessageIter *dict, gpointer data);

/* Returns: a reply to @call (new) holding one a{sv}, filled by @fill(@data). */
DBusMessage *vmig_service_dict_reply(DBusMessage *call, VmigServiceFillDict fill,
                                     gpointer data);

/*
 * Properties.Set (ssv) on @expected, whose properties are all read-only;
 * @known says whether it has a property of that name.  Returns: the error
 * reply (new): UnknownInterface, UnknownProperty or PropertyReadOnly.
 */
DBusMessage *vmig_service_refuse_set(DBusMessage *call, const char *expected,
                                     gboolean (*known)(const char *name));

/*
 * Appends @node as D-Bus type @signature (a single complete type: s, u,
 * as or a{sv}); a{sv} values get their type from their JSON kind.
 * The types are the service's own, never a peer's.
 */
void vmig_service_append_json(DBusMessageIter *iter, const char *signature,
                              JsonNode *node);

/* Runs @method's handler for @call and sends its reply (if any now). */
void vmig_service_run(VmigService *service, DBusMessage *call,
                      const VmigServiceMethod *method, const char *id);

/*
 * vmig_service_authorize:
 * Runs @method for @call once its sender may do @method->action: root and
 * the daemon's own user always may, anyone else when polkit says so
 * (CheckAuthorization with the caller's bus name as the subject).  A
 * refusal, or a bus or polkit that does not answer in time, is answered
 * with an error naming the action.  @id is copied.
 */
void vmig_service_authorize(VmigService *service, DBusMessage *call,
                            const VmigServiceMethod *method, const char *id);

/* Drops every call still waiting for its authorization (unanswered). */
void vmig_service_authorize_cancel_all(VmigService *service);

/*
 * How long the bus and polkit have to answer: under the 25 s a libdbus or
 * GDBus client waits by default, so that the caller hears why; longer
 * when the caller allowed polkit to ask someone for a password.
 */
#define VMIG_SERVICE_AUTHZ_TIMEOUT_MS             20000
#define VMIG_SERVICE_AUTHZ_INTERACTIVE_TIMEOUT_MS 120000

/*
 * Appends the a{sa{sv}} of an object's interfaces with their properties:
 * Migration1 with @values (vmig_service_migration_properties()), or
 * Driver1 when @values is NULL.
 */
void vmig_service_append_interfaces(DBusMessageIter *iter, JsonObject *values);

/* Where the compiled-in interface descriptions are (data/virt-migrated.gresource.xml). */
#define VMIG_SERVICE_RESOURCE_PREFIX "/org/virtmigrate/interfaces/"

/* Appends {name: variant} for every Driver1 property to the a{sv} @dict. */
void vmig_service_driver_append_properties(DBusMessageIter *dict);

/* Appends {name: variant} for every Migration1 property in @values to the a{sv} @dict. */
void vmig_service_migration_append_properties(DBusMessageIter *dict, JsonObject *values);

/* Appends @node in a variant: b, x, d or s (anything else as its JSON text). */
void vmig_service_append_variant(DBusMessageIter *iter, JsonNode *node);

/* The compiled-in introspection XML (glib-compile-resources,
 * data/virt-migrated.gresource.xml). */
GResource *vmig_resources_get_resource(void);

/* Returns: a new object: the Migration1 properties of @record. */
JsonObject *vmig_service_migration_properties(JsonObject *record);

/* Returns: migration @id's property values now (new), or NULL once it is gone. */
JsonObject *vmig_service_migration_current(VmigService *service, const char *id);

/* Returns: the object path of migration @id (to free). */
char *vmig_service_migration_path(const char *id);

/*
 * Migration @id's record may have changed: PropertiesChanged carries
 * whatever differs from what the service last published.
 */
void vmig_service_migration_changed(VmigService *service, const char *id);

/*
 * Migration @id emitted control-socket @event with @data: the matching
 * signal (ChannelsRequested, Progress, Finished) goes out.
 */
void vmig_service_migration_event(VmigService *service, const char *id, const char *event,
                                  JsonObject *data);

/* Migration @id is forgotten: its object goes. */
void vmig_service_migration_removed(VmigService *service, const char *id);

/* The service's ear on the daemon's migrations: the three functions above. */
extern const VmigMigrationObserver vmig_service_observer;
