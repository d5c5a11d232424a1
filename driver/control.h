/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * control.h: the daemon's control socket (DESIGN §6)
 *
 * A unix stream socket, mode 0600, one JSON object per line in QMP's
 * conventions.  On connect the server checks the peer's uid (SO_PEERCRED):
 * only the daemon's own uid is served (with vmig_control_set_group(), root
 * and a group's members too); anyone else gets one error line and is
 * disconnected.  Then it sends QMP's greeting line, with
 * vmig_control_version_new()'s version and no capability:
 *
 *   {"QMP": {"version": {"qemu": {...}, "package": "virt-migrated 0.1.0"},
 *            "capabilities": []}}
 *
 * and, as QMP does, takes no command but qmp_capabilities (the server's
 * own, with query-commands) and sends no event until the client has run
 * it.  @commands must not name either of the server's own commands.
 *
 * Each command is {"execute": NAME, "arguments": {...}, "id": ANY}; a
 * command that carries fds sends them with SCM_RIGHTS in the same sendmsg
 * as (the start of) its line.  Replies are {"return": X, "id": ANY} or
 * {"error": {"class": C, "desc": TEXT}, "id": ANY}; events are
 * {"event": NAME, "data": {...}, "timestamp": {"seconds": S, "microseconds": U}}.
 *
 * The server checks each command's arguments against the command's table
 * row before calling its handler (missing, unexpected and ill-typed
 * arguments are refused as QEMU refuses them), so handlers only see
 * well-formed input.  Bad JSON, an unknown command, bad arguments: an error
 * reply, and the connection goes on.  A line over VMIG_CONTROL_MAX_LINE or
 * more than VMIG_FDPASS_MAX_FDS fds with one line closes the connection.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

#define VMIG_CONTROL_MAX_LINE (1024 * 1024)

/* QMP error classes. */
#define VMIG_CONTROL_CLASS_GENERIC   "GenericError"
#define VMIG_CONTROL_CLASS_NOT_FOUND "CommandNotFound"

typedef struct _VmigControl VmigControl;
typedef struct _VmigControlClient VmigControlClient;
typedef struct _VmigControlCall VmigControlCall;

typedef enum {
    VMIG_CONTROL_ARG_STRING,
    VMIG_CONTROL_ARG_INT,
    VMIG_CONTROL_ARG_BOOL,
    VMIG_CONTROL_ARG_OBJECT,
    VMIG_CONTROL_ARG_ARRAY,
    VMIG_CONTROL_ARG_LAST
} VmigControlArgType;

typedef struct {
    const char *name;
    VmigControlArgType type;
    gboolean optional;
} VmigControlArg;

/*
 * A command handler.  It must eventually answer @call exactly once, with
 * vmig_control_call_return() or vmig_control_call_error*(), possibly from
 * a later main-loop iteration; the call stays valid until then even if the
 * client has gone (the answer is then dropped).
 */
typedef void (*VmigControlHandler)(VmigControlCall *call, JsonObject *arguments,
                                   gpointer user_data);

typedef struct {
    const char *name;
    VmigControlHandler handler;
    const VmigControlArg *args; /* terminated by a row with name NULL; NULL: none */
    gboolean takes_fds;         /* FALSE: fds sent with it are closed and refused */
} VmigControlCommand;

/*
 * vmig_control_new:
 * Listens on @path (an existing socket file there is replaced; the socket
 * is created mode 0600) and serves @commands (n_commands rows, borrowed
 * for the server's lifetime) on @context.  @user_data goes to handlers.
 * With @group_name (--socket-group; NULL: none), it serves root and the
 * members of group @group (@group_name names it in messages) as well as
 * the daemon's uid: a peer whose primary or supplementary group
 * (SO_PEERCRED, SO_PEERGROUPS) is @group; the socket file is then mode
 * 0660, group @group, from the moment it appears.
 * Returns: the server, or NULL with @error set.
 */
VmigControl *vmig_control_new(GMainContext *context, const char *path, gid_t group,
                              const char *group_name, const VmigControlCommand *commands,
                              gsize n_commands, gpointer user_data, GError **error);

/* What the greeting's "package" starts with, before PACKAGE_VERSION. */
#define VMIG_CONTROL_PACKAGE_PREFIX "virt-migrated "

/*
 * Returns: a new object in the shape of QMP's version, as the greeting and
 * query-version carry it: {"qemu": {"micro": U, "minor": N, "major": J},
 * "package": "virt-migrated 0.1.0"}.  "qemu" holds virt-migrated's own
 * version numbers: QMP tools read them there (qmp-shell prints them).
 */
JsonObject *vmig_control_version_new(void);

/* Stops listening, disconnects every client, unlinks the socket. */
void vmig_control_free(VmigControl *control);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigControl, vmig_control_free)

/* Sends @event with @data (nullable; a reference is taken) to every client. */
void vmig_control_emit_event(VmigControl *control, const char *event, JsonObject *data);

/* Answers @call with @value (consumed; NULL means {}); frees @call. */
void vmig_control_call_return(VmigControlCall *call, JsonNode *value);

/* Answers @call with an error of @klass; frees @call. */
void vmig_control_call_error(VmigControlCall *call, const char *klass, const char *format,
                             ...) G_GNUC_PRINTF(3, 4);

/* Answers @call with @error's message as a GenericError; frees @call. */
void vmig_control_call_error_gerror(VmigControlCall *call, const GError *error);

/*
 * Takes the fds that came with @call's line (for commands with takes_fds).
 * Returns: a newly allocated array the caller owns (close each, g_free
 * it), or NULL when none came; *n_fds says how many.
 */
int *vmig_control_call_steal_fds(VmigControlCall *call, gsize *n_fds);

/* Returns: the command's name. */
const char *vmig_control_call_get_command(VmigControlCall *call);

/* ------------------------------------------------------------------------ */
/* Reading one request (pure: no I/O, no client; the fuzzer runs it too) */

#define VMIG_CONTROL_ERROR (vmig_control_error_quark())
GQuark vmig_control_error_quark(void);

/* Why a line is refused; each code answers with one QMP error class. */
typedef enum {
    VMIG_CONTROL_ERROR_EMPTY,     /* nothing but white space: nothing was asked */
    VMIG_CONTROL_ERROR_GENERIC,   /* bad JSON, bad shape, bad arguments: GenericError */
    VMIG_CONTROL_ERROR_NOT_FOUND, /* no such command: CommandNotFound */
    VMIG_CONTROL_ERROR_LAST
} VmigControlErrorCode;

/* Returns: the QMP error class that answers @error (a VMIG_CONTROL_ERROR). */
const char *vmig_control_error_class(const GError *error);

/* A request that passed every check the server makes before a handler runs. */
typedef struct {
    const VmigControlCommand *command; /* the table's row (borrowed) */
    JsonObject *arguments;             /* checked against the row; {} when none came */
    JsonNode *id;                      /* the request's "id" (a copy), or NULL */
} VmigControlRequest;

/* Frees what @request holds and zeroes it. */
void vmig_control_request_clear(VmigControlRequest *request);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigControlRequest, vmig_control_request_clear)

/*
 * vmig_control_parse_request:
 * @line: one line from a client, without its '\n' (@len bytes; need not
 *        be NUL-terminated)
 * @commands, @n_commands: the table the command is looked up in
 * @request: filled in; it must be zeroed (or cleared) before the call
 *
 * Everything the server does with a line before it calls the handler,
 * in the same order: JSON, the request's shape (only "execute",
 * "arguments" and "id"), the command's row, its arguments.  The fds that
 * came with the line are the caller's business.
 * Returns: TRUE with @request filled, or FALSE with @error set: a
 * VMIG_CONTROL_ERROR whose message is the error reply's "desc".  Even on
 * failure request->id is set when the line was an object with an "id",
 * so that the error reply can echo it; clear @request either way.
 */
gboolean vmig_control_parse_request(const char *line, gsize len,
                                    const VmigControlCommand *commands, gsize n_commands,
                                    VmigControlRequest *request, GError **error);
