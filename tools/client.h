/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client.h: the CLI's side of the control socket (driver/control.h)
 *
 * A blocking client: connect, check the greeting, end QMP's capabilities
 * negotiation, then one command at a time.  Events the daemon sends while a command is in
 * flight are handed to the event callback, or skipped when there is none.
 *
 *   g_autoptr(VmigClient) client = vmig_client_connect(path, -1, &error);
 *   g_autoptr(JsonNode) ret = vmig_client_execute(client, "query-version",
 *                                                 NULL, NULL, 0, &error);
 *
 * A client that follows events (virt-migrate migrate, events) reads them
 * one at a time with vmig_client_read_event(), and may split a command
 * into vmig_client_send_command() and vmig_client_wait_reply() to wait
 * for the reply with its own deadline.  Every wait can be cut short by
 * an interrupt fd becoming readable (a signalfd for SIGINT, say).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#define VMIG_CLIENT_ERROR (vmig_client_error_quark())
GQuark vmig_client_error_quark(void);

typedef enum {
    VMIG_CLIENT_ERROR_CONNECT,  /* the socket could not be reached, or refused us */
    VMIG_CLIENT_ERROR_PROTOCOL, /* not a virt-migrated control socket, or garbage */
    VMIG_CLIENT_ERROR_CLOSED,   /* the daemon closed the connection */
    VMIG_CLIENT_ERROR_TIMEOUT,  /* no answer within the timeout */
    VMIG_CLIENT_ERROR_IO,       /* a read or write failed */
    VMIG_CLIENT_ERROR_COMMAND,  /* the daemon answered {"error": ...} */
    VMIG_CLIENT_ERROR_COMMAND_NOT_FOUND, /* ... of class CommandNotFound */
    VMIG_CLIENT_ERROR_INTERRUPTED,       /* the interrupt fd became readable */
    VMIG_CLIENT_ERROR_LAST
} VmigClientErrorCode;

typedef struct _VmigClient VmigClient;

/*
 * An event line ({"event": NAME, "data": {...}, "timestamp": {...}}),
 * borrowed for the duration of the call.
 */
typedef void (*VmigClientEventFunc)(JsonObject *event, gpointer user_data);

/*
 * vmig_client_connect:
 * @path: the control socket
 * @timeout_ms: how long connecting and each command may take; < 0: no limit
 * Connects, reads the daemon's greeting (QMP's) and ends capabilities
 * negotiation (qmp_capabilities).
 * Returns: the client, or NULL with @error set.
 */
VmigClient *vmig_client_connect(const char *path, int timeout_ms, GError **error);

/* Where events go from now on (NULL: they are skipped). */
void vmig_client_set_event_func(VmigClient *client, VmigClientEventFunc func,
                                gpointer user_data);

/*
 * From now on, every wait for the daemon also watches @fd (borrowed; -1:
 * none) and fails with INTERRUPTED as soon as it is readable.  The fd is
 * not read: whoever owns it clears it.  Lines already received are still
 * handed out first.
 */
void vmig_client_set_interrupt_fd(VmigClient *client, int fd);

/* Returns: the daemon's version from its greeting (e.g. "0.1.0"), or NULL. */
const char *vmig_client_get_daemon_version(VmigClient *client);

/*
 * vmig_client_execute:
 * @command: the command's name
 * @arguments: (nullable) its arguments (borrowed)
 * @fds, @nfds: descriptors to send with the command (borrowed)
 * Sends the command and waits for its reply.
 * Returns: the reply's "return" value (a new node), or NULL with @error
 * set (COMMAND or COMMAND_NOT_FOUND carry the daemon's own message).
 */
JsonNode *vmig_client_execute(VmigClient *client, const char *command,
                              JsonObject *arguments, const int *fds, gsize nfds,
                              GError **error);

/*
 * vmig_client_send_command:
 * @command, @arguments, @fds, @nfds: as for vmig_client_execute()
 * Sends the command without waiting for its reply.
 * Returns: the command's id (> 0), for vmig_client_wait_reply(), or 0
 * with @error set.
 */
gint64 vmig_client_send_command(VmigClient *client, const char *command,
                                JsonObject *arguments, const int *fds, gsize nfds,
                                GError **error);

/*
 * vmig_client_wait_reply:
 * @id: what vmig_client_send_command() returned
 * @deadline: the g_get_monotonic_time() by which the reply must have
 *            come, or -1 for no limit
 * Waits for the reply to command @id; events that come meanwhile go to
 * the event callback, replies to other commands are skipped.  After a
 * TIMEOUT or INTERRUPTED error it may be called again for the same @id.
 * Returns: the reply's "return" value (a new node), or NULL with @error
 * set (COMMAND or COMMAND_NOT_FOUND carry the daemon's own message).
 */
JsonNode *vmig_client_wait_reply(VmigClient *client, gint64 id, gint64 deadline,
                                 GError **error);

/*
 * vmig_client_read_event:
 * @deadline: as for vmig_client_wait_reply()
 * Waits for the next event, skipping replies (to commands no one waits
 * for any more).  The event callback is not called.
 * Returns: the event line, {"event": NAME, "data": {...}, "timestamp":
 * {...}} (a new reference), or NULL with @error set (TIMEOUT when
 * @deadline passed first).
 */
JsonObject *vmig_client_read_event(VmigClient *client, gint64 deadline, GError **error);

/*
 * vmig_client_parse_line:
 * @path: the control socket, for messages
 * @line: one line from the daemon, without its '\n' (@len bytes; need not
 *        be NUL-terminated)
 * How the client reads every line the daemon sends (no I/O: the fuzzer
 * runs it too).  A NUL byte anywhere makes the line invalid JSON.
 * Returns: the line's JSON object (a new reference), or NULL with
 * PROTOCOL in @error.
 */
JsonObject *vmig_client_parse_line(const char *path, const char *line, gsize len,
                                   GError **error);

/* Closes the connection and frees @client. */
void vmig_client_free(VmigClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigClient, vmig_client_free)
