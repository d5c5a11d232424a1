/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-authz.c: who may call what, asked of the bus and of polkit
 *
 * A method row with an action (service-private.h) runs only for a caller
 * that may do the action.  The bus says who the caller is
 * (GetConnectionUnixUser on its unique name); root and the daemon's own
 * user may do anything, so a daemon on a session bus needs no polkit.
 * Anyone else is asked of polkit's CheckAuthorization, on the bus the
 * service is on, with the caller's bus name as the subject (polkit looks
 * the process up itself, so a caller cannot claim to be another).  Both
 * questions are asynchronous with a bounded timeout: a bus or polkitd
 * that does not answer costs the caller an error, never the daemon a
 * stall.  What the caller may do is never remembered: polkit keeps
 * auth_admin_keep's grants, and a rule may change at any time.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-service"

#include <unistd.h>

#include "driver/service-private.h"

#define POLKIT_NAME      "org.freedesktop.PolicyKit1"
#define POLKIT_PATH      "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorization's flag: the caller may be asked for a password. */
#define POLKIT_ALLOW_USER_INTERACTION 1u

#define ERROR_NOT_AUTHORIZED "org.freedesktop.DBus.Error.AccessDenied"
#define ERROR_AUTHORIZATION  "org.virtmigrate.Error.Authorization"

typedef enum {
    STEP_UNIX_USER, /* waiting for the bus: who is the caller */
    STEP_POLKIT,    /* waiting for polkit: may the caller */
} Step;

/* A call waiting for its authorization. */
typedef struct {
    VmigService *service;
    DBusMessage *call;
    const VmigServiceMethod *method;
    char *id; /* the migration (Migration1), or NULL */
    Step step;
    dbus_uint32_t uid;
    DBusPendingCall *pending;
} AuthCall;

static void
auth_call_free(AuthCall *ac)
{
    if (ac->pending) {
        dbus_pending_call_cancel(ac->pending);
        dbus_pending_call_unref(ac->pending);
    }
    dbus_message_unref(ac->call);
    g_free(ac->id);
    g_free(ac);
}

/* Answers @ac's call with @reply (consumed) and forgets the call. */
static void
auth_call_finish(AuthCall *ac, DBusMessage *reply)
{
    VmigService *service = ac->service;

    service->authorizing = g_list_remove(service->authorizing, ac);
    vmig_service_reply(service, ac->call, reply);
    if (reply)
        dbus_message_unref(reply);
    auth_call_free(ac);
}

/* The caller may: the method runs now. */
static void
auth_call_allow(AuthCall *ac)
{
    VmigService *service = ac->service;

    service->authorizing = g_list_remove(service->authorizing, ac);
    vmig_service_run(service, ac->call, ac->method, ac->id);
    auth_call_free(ac);
}

static void on_reply(DBusPendingCall *pending, void *user_data);

/* Sends @message (consumed) for @ac; its reply comes to on_reply(). */
static void
auth_call_send(AuthCall *ac, DBusMessage *message, int timeout_ms)
{
    DBusPendingCall *pending = NULL;

    vmig_service_need(dbus_connection_send_with_reply(ac->service->connection, message,
                                                      &pending, timeout_ms));
    dbus_message_unref(message);
    if (!pending) {
        /* Not connected any more: nobody to answer either. */
        auth_call_finish(ac, NULL);
        return;
    }
    ac->pending = pending;
    vmig_service_need(dbus_pending_call_set_notify(pending, on_reply, ac, NULL));
}

/* Asks polkit whether the caller may do the action. */
static void
ask_polkit(AuthCall *ac)
{
    const char *kind = "system-bus-name";
    const char *key = "name";
    const char *sender = dbus_message_get_sender(ac->call);
    const char *empty = "";
    dbus_uint32_t flags = dbus_message_get_allow_interactive_authorization(ac->call)
                              ? POLKIT_ALLOW_USER_INTERACTION
                              : 0;
    DBusMessage *message = dbus_message_new_method_call(
        POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE, "CheckAuthorization");
    DBusMessageIter iter;
    DBusMessageIter subject;
    DBusMessageIter details;
    DBusMessageIter entry;
    DBusMessageIter variant;

    vmig_service_need(message != NULL);
    dbus_message_iter_init_append(message, &iter);
    /* subject (sa{sv}): ("system-bus-name", {"name": <sender>}) */
    vmig_service_need(
        dbus_message_iter_open_container(&iter, DBUS_TYPE_STRUCT, NULL, &subject));
    vmig_service_need(dbus_message_iter_append_basic(&subject, DBUS_TYPE_STRING, &kind));
    vmig_service_need(
        dbus_message_iter_open_container(&subject, DBUS_TYPE_ARRAY, "{sv}", &details));
    vmig_service_need(
        dbus_message_iter_open_container(&details, DBUS_TYPE_DICT_ENTRY, NULL, &entry));
    vmig_service_need(dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key));
    vmig_service_need(
        dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "s", &variant));
    vmig_service_need(
        dbus_message_iter_append_basic(&variant, DBUS_TYPE_STRING, &sender));
    vmig_service_need(dbus_message_iter_close_container(&entry, &variant));
    vmig_service_need(dbus_message_iter_close_container(&details, &entry));
    vmig_service_need(dbus_message_iter_close_container(&subject, &details));
    vmig_service_need(dbus_message_iter_close_container(&iter, &subject));
    /* action_id s, details a{ss} (none), flags u, cancellation_id s */
    vmig_service_need(
        dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &ac->method->action));
    vmig_service_need(
        dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY, "{ss}", &details));
    vmig_service_need(dbus_message_iter_close_container(&iter, &details));
    vmig_service_need(dbus_message_iter_append_basic(&iter, DBUS_TYPE_UINT32, &flags));
    vmig_service_need(dbus_message_iter_append_basic(&iter, DBUS_TYPE_STRING, &empty));
    ac->step = STEP_POLKIT;
    auth_call_send(ac, message,
                   flags & POLKIT_ALLOW_USER_INTERACTION
                       ? VMIG_SERVICE_AUTHZ_INTERACTIVE_TIMEOUT_MS
                       : VMIG_SERVICE_AUTHZ_TIMEOUT_MS);
}

/* Returns: the error reply for an authorization that could not be asked (new). */
static DBusMessage *
cannot_ask(AuthCall *ac, const char *whom, DBusMessage *reply)
{
    DBusError dbus_error;
    DBusMessage *error;

    dbus_error_init(&dbus_error);
    dbus_set_error_from_message(&dbus_error, reply);
    error = vmig_service_error_reply(
        ac->call, ERROR_AUTHORIZATION,
        "%s.%s needs the polkit action '%s', and %s could not be asked: %s",
        ac->method->interface, ac->method->member, ac->method->action, whom,
        dbus_error.message ? dbus_error.message : "an answer of the wrong type");
    dbus_error_free(&dbus_error);
    return error;
}

/* The bus or polkit answered (or the call timed out: an error reply). */
static void
on_reply(DBusPendingCall *pending, void *user_data)
{
    AuthCall *ac = user_data;
    DBusMessage *reply = dbus_pending_call_steal_reply(pending);
    dbus_bool_t authorized = FALSE;
    DBusMessageIter iter;
    DBusMessageIter result;

    dbus_pending_call_unref(ac->pending);
    ac->pending = NULL;
    if (ac->step == STEP_UNIX_USER) {
        if (dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR ||
            !dbus_message_get_args(reply, NULL, DBUS_TYPE_UINT32, &ac->uid,
                                   DBUS_TYPE_INVALID)) {
            auth_call_finish(ac, cannot_ask(ac, "the bus", reply));
        } else if (ac->uid == 0 || ac->uid == getuid()) {
            auth_call_allow(ac);
        } else {
            ask_polkit(ac);
        }
        dbus_message_unref(reply);
        return;
    }

    /* CheckAuthorization -> ((bba{ss})): is_authorized, is_challenge, details */
    if (dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR ||
        !dbus_message_has_signature(reply, "(bba{ss})")) {
        auth_call_finish(ac, cannot_ask(ac, "polkit", reply));
        dbus_message_unref(reply);
        return;
    }
    dbus_message_iter_init(reply, &iter);
    dbus_message_iter_recurse(&iter, &result);
    dbus_message_iter_get_basic(&result, &authorized);
    dbus_message_unref(reply);
    g_debug("polkit: uid %u %s %s", ac->uid, authorized ? "may" : "may not",
            ac->method->action);
    if (authorized)
        auth_call_allow(ac);
    else
        auth_call_finish(
            ac, vmig_service_error_reply(
                    ac->call, ERROR_NOT_AUTHORIZED,
                    "uid %u is not authorized by polkit for action '%s' (%s.%s)", ac->uid,
                    ac->method->action, ac->method->interface, ac->method->member));
}

void
vmig_service_authorize(VmigService *service, DBusMessage *call,
                       const VmigServiceMethod *method, const char *id)
{
    const char *sender = dbus_message_get_sender(call);
    AuthCall *ac;
    DBusMessage *message;

    if (!sender) {
        /* A peer-to-peer call (no bus to vouch for the caller): refused. */
        g_autoptr(DBusMessage) reply = vmig_service_error_reply(
            call, ERROR_NOT_AUTHORIZED,
            "%s.%s needs the polkit action '%s', and a caller without a bus name "
            "cannot be checked",
            method->interface, method->member, method->action);

        vmig_service_reply(service, call, reply);
        return;
    }
    ac = g_new0(AuthCall, 1);
    ac->service = service;
    ac->call = dbus_message_ref(call);
    ac->method = method;
    ac->id = g_strdup(id);
    ac->step = STEP_UNIX_USER;
    service->authorizing = g_list_prepend(service->authorizing, ac);

    message = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS,
                                           DBUS_INTERFACE_DBUS, "GetConnectionUnixUser");
    vmig_service_need(message != NULL);
    vmig_service_need(
        dbus_message_append_args(message, DBUS_TYPE_STRING, &sender, DBUS_TYPE_INVALID));
    auth_call_send(ac, message, VMIG_SERVICE_AUTHZ_TIMEOUT_MS);
}

void
vmig_service_authorize_cancel_all(VmigService *service)
{
    g_list_free_full(g_steal_pointer(&service->authorizing),
                     (GDestroyNotify)auth_call_free);
}
