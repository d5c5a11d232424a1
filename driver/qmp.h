/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp.h: an asynchronous QMP client
 *
 * Talks to one QEMU monitor over a unix socket, on an explicit
 * GMainContext, with json-glib.  Commands carry ids and their replies are
 * matched to the callers; events are emitted as the "event" signal.  When
 * QEMU goes away or answers garbage, every pending call fails with a clear
 * error and the "closed" signal is emitted once.
 *
 *   g_autoptr(VmigQmp) qmp = vmig_qmp_new(context);
 *   vmig_qmp_connect_async(qmp, "/run/vm.qmp", NULL, on_connected, data);
 *   ... vmig_qmp_connect_finish() reads the greeting and has sent
 *       qmp_capabilities by the time it returns TRUE ...
 *   vmig_qmp_execute_async(qmp, "query-version", NULL, NULL, 0, NULL, on_reply, data);
 *   ... JsonNode *ret = vmig_qmp_execute_finish(qmp, result, &error);
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#define VMIG_QMP_ERROR (vmig_qmp_error_quark())
GQuark vmig_qmp_error_quark(void);

typedef enum {
    VMIG_QMP_ERROR_CONNECT,  /* the socket could not be reached */
    VMIG_QMP_ERROR_CLOSED,   /* QEMU went away (or we closed) */
    VMIG_QMP_ERROR_PROTOCOL, /* not QMP: garbage, bad greeting, bad reply */
    VMIG_QMP_ERROR_COMMAND,  /* QEMU answered {"error": ...}: GenericError etc. */
    VMIG_QMP_ERROR_COMMAND_NOT_FOUND, /* QEMU answered CommandNotFound */
    VMIG_QMP_ERROR_LAST
} VmigQmpErrorCode;

#define VMIG_TYPE_QMP (vmig_qmp_get_type())
G_DECLARE_FINAL_TYPE(VmigQmp, vmig_qmp, VMIG, QMP, GObject)

/*
 * Signals:
 *   "event"  (VmigQmp *qmp, const char *name, JsonObject *data (nullable),
 *             JsonObject *timestamp (nullable), gpointer user_data)
 *            also while connecting: QEMU 7.2 can send an event before
 *            its greeting
 *   "closed" (VmigQmp *qmp, const GError *reason, gpointer user_data)
 *            emitted once, after every pending call has failed
 */

/* Returns: a new client whose I/O and callbacks run on @context (NULL: the default). */
VmigQmp *vmig_qmp_new(GMainContext *context);

/*
 * Connects to the QMP unix socket at @path, reads the greeting and
 * negotiates capabilities (qmp_capabilities).  The callback runs on the
 * client's context.
 */
void vmig_qmp_connect_async(VmigQmp *qmp, const char *path, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
/* Returns: TRUE once the monitor is ready for commands, or FALSE with @error. */
gboolean vmig_qmp_connect_finish(VmigQmp *qmp, GAsyncResult *result, GError **error);

/*
 * Sends @command with @arguments (nullable; a reference is taken) and
 * @nfds fds (borrowed; they travel with the command in one sendmsg, as
 * 'getfd' and 'add-fd' require).  Commands are sent in call order.
 */
void vmig_qmp_execute_async(VmigQmp *qmp, const char *command, JsonObject *arguments,
                            const int *fds, gsize nfds, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
/* Returns: the reply's "return" value (owned by the caller), or NULL with @error. */
JsonNode *vmig_qmp_execute_finish(VmigQmp *qmp, GAsyncResult *result, GError **error);

/* Returns: the greeting's "QMP" object (owned by @qmp), NULL before connecting. */
JsonObject *vmig_qmp_get_greeting(VmigQmp *qmp);

/*
 * Returns: "QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" built from the
 * greeting's version (owned by @qmp), or NULL before connecting.
 */
const char *vmig_qmp_get_hypervisor(VmigQmp *qmp);

/*
 * Returns: "QEMU X.Y.Z (package)" for a QMP version object (the greeting's
 * "version", or query-version's answer), to free; NULL when it has no
 * qemu major, minor and micro.
 */
char *vmig_qmp_format_hypervisor(JsonObject *version);

/*
 * Quotes what a peer sent, for an error message: printable ASCII as it
 * is, any other byte as \xHH, cut after 80 bytes.
 * Returns: the quoted text (to free).
 */
char *vmig_qmp_quote(const char *data, gsize len);

/* Returns: the pid of the QEMU at the other end (SO_PEERCRED), or 0 when unknown. */
GPid vmig_qmp_get_peer_pid(VmigQmp *qmp);

/* Returns: TRUE while connected and not closed. */
gboolean vmig_qmp_is_open(VmigQmp *qmp);

/*
 * Closes the connection: pending calls fail with VMIG_QMP_ERROR_CLOSED and
 * "closed" is emitted.  Idempotent; also done on the last unref.
 */
void vmig_qmp_close(VmigQmp *qmp);

/* ------------------------------------------------------------------------ */
/* Reading one line from QEMU (pure: no I/O, no client; the fuzzer runs it) */

typedef enum {
    VMIG_QMP_MESSAGE_NONE,      /* an empty line: nothing to do */
    VMIG_QMP_MESSAGE_GREETING,  /* {"QMP": {"version": {...}, "capabilities": [...]}} */
    VMIG_QMP_MESSAGE_RETURN,    /* {"return": X, "id": ...} */
    VMIG_QMP_MESSAGE_ERROR,     /* {"error": {"class": C, "desc": D}, "id": ...} */
    VMIG_QMP_MESSAGE_BAD_ERROR, /* {"error": ...} without a string class and desc */
    VMIG_QMP_MESSAGE_EVENT,     /* {"event": NAME, "data": {...}, "timestamp": {...}} */
    VMIG_QMP_MESSAGE_LAST
} VmigQmpMessageKind;

/* Returns: the kind's name ("greeting", "return", ...), or NULL when out of range. */
const char *vmig_qmp_message_kind_to_string(VmigQmpMessageKind kind);

/*
 * One line from QEMU, classified.  @root owns the message; every other
 * pointer but @hypervisor points into it.  Members that do not belong to
 * @kind are NULL (or FALSE).
 */
typedef struct {
    VmigQmpMessageKind kind;
    gsize len;               /* bytes of the line that are the message (no '\r') */
    JsonNode *root;          /* the whole message (NULL for NONE) */
    JsonObject *greeting;    /* GREETING: the "QMP" object */
    char *hypervisor;        /* GREETING: its version as "QEMU X.Y.Z (...)" (owned) */
    gboolean has_id;         /* replies: there is an "id" member */
    const char *id;          /* replies: the "id" when it is a string, else NULL */
    JsonNode *ret;           /* RETURN: the "return" value */
    const char *error_class; /* ERROR: the error's "class" */
    const char *error_desc;  /* ERROR: the error's "desc" */
    const char *event;       /* EVENT: its name */
    JsonObject *data;        /* EVENT: "data" when it is an object, else NULL */
    JsonObject *timestamp;   /* EVENT: "timestamp" when it is an object, else NULL */
} VmigQmpMessage;

/* Frees what @message holds and zeroes it. */
void vmig_qmp_message_clear(VmigQmpMessage *message);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigQmpMessage, vmig_qmp_message_clear)

/*
 * vmig_qmp_message_parse:
 * @line: one line from the monitor without its '\n' (@len bytes; need
 *        not be NUL-terminated); a trailing '\r' is dropped
 * @greeting: TRUE while the greeting is awaited: the line must be one, or
 *            an event (QEMU 7.2 can send one before its greeting)
 * @path: the monitor's socket, for messages
 * @message: filled in on success (whatever it held is overwritten, not freed)
 *
 * What the client does with a line before it looks at its own state: the
 * JSON, the kind of message and the members that kind needs.  Whether a
 * reply's id matches a call is the client's business.
 * Returns: TRUE with @message filled in (clear it), or FALSE with PROTOCOL
 * in @error (the message quotes the line) and @message untouched.
 */
gboolean vmig_qmp_message_parse(const char *line, gsize len, gboolean greeting,
                                const char *path, VmigQmpMessage *message,
                                GError **error);
