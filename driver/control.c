/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * control.c: the daemon's control socket (DESIGN §6; the contract is control.h)
 *
 * Everything runs on the GMainContext given to vmig_control_new(): one
 * unix-fd source for the listening socket, one per client.  Sockets are
 * non-blocking; replies and events go through a per-client output queue
 * that is written as the socket accepts bytes.
 *
 * Lifetimes.  Clients are reference counted: the server's list holds one
 * reference per connected client and every pending call holds one.  A
 * disconnected client (peer gone, protocol violation, vmig_control_free())
 * has client->control == NULL, no fd and no sources; answering a call of
 * such a client does nothing but free the call.  So a handler may keep a
 * call across main-loop iterations, and even across vmig_control_free().
 *
 * Reading.  Each readable event is one recvmsg (vmig_fdpass_recv).  Before
 * every recvmsg the input buffer holds at most one incomplete line: all
 * complete lines have been moved to a queue of pending lines, and the
 * socket is not read again until that queue is empty.  Which line do the
 * fds of a recvmsg belong to?  Linux hands out the fds of a queued skb
 * together with the *last* bytes a recvmsg returns: it glues fd-less skbs
 * before an skb carrying fds, and stops right after one.  A client sends
 * fds in the sendmsg that starts its line (control.h), and one line per
 * such sendmsg, so the fds belong to the line that holds the chunk's last
 * byte: the last complete line when the chunk ends with '\n', else the
 * incomplete tail.  (The rule "the first line not complete when the fds
 * arrived" would give them to an earlier, fd-less line glued before.)
 *
 * Concurrency.  Lines are dispatched in order as they arrive; a handler
 * may answer later, so replies to different commands of one client can
 * come out of order (each carries its request's "id").  A client with
 * VMIG_CONTROL_MAX_PENDING unanswered calls is not read until one is
 * answered, which bounds what a client can make the daemon hold.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-control"

#include "driver/control.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13; older headers lack the name */
#endif

#include "fdpass/fd.h"
#include "driver/listener.h"
#include "driver/transport.h"
#include "fdpass/fdpass.h"
#include "json/reader.h"
#include "json/writer.h"

/* Bytes asked of one recvmsg. */
#define VMIG_CONTROL_READ_CHUNK (64 * 1024)
/* A client with more than this queued for it is not reading: dropped. */
#define VMIG_CONTROL_MAX_QUEUED (16 * 1024 * 1024)
/* Unanswered calls per client before its socket is no longer read. */
#define VMIG_CONTROL_MAX_PENDING 16

struct _VmigControl {
    GMainContext *context;
    char *path;
    dev_t sock_dev; /* the socket file we created: unlinked only if still ours */
    ino_t sock_ino;
    int listen_fd;
    VmigListener *listener;
    /* The built-in commands (qmp_capabilities first), then the server's. */
    VmigControlCommand *commands;
    gsize n_commands;
    gpointer user_data;
    GPtrArray *clients; /* VmigControlClient *, one reference each */
    guint next_client_id;
    char *group_name; /* --socket-group: its members and root are served too; or NULL */
    gid_t group;
};

/* A complete line waiting to be dispatched, with the fds that came with it. */
typedef struct {
    char *text; /* NUL-terminated, without its '\n' */
    gsize len;
    GArray *fds; /* int; NULL when none */
} VmigControlLine;

struct _VmigControlClient {
    gint refs;
    guint id;
    VmigControl *control; /* NULL once disconnected */
    int fd;
    GSource *source;
    gpointer fd_tag;
    GIOCondition events;    /* what the source polls for now */
    GSource *resume_source; /* idle: dispatch queued lines after an answer */

    GByteArray *in; /* the incomplete line being received */
    GArray *in_fds; /* int: the fds that came with it */
    GQueue lines;   /* VmigControlLine *: complete, not dispatched yet */
    gboolean eof;   /* the peer will send nothing more */
    gboolean dispatching;
    gboolean negotiated; /* qmp_capabilities done: commands and events flow */
    guint pending;       /* calls not answered yet */

    GQueue out;       /* GBytes *: lines to write */
    gsize out_offset; /* bytes of the head already written */
    gsize out_queued; /* bytes in @out not written yet */
};

/* A client's source: polls its fd, knows its client (without a reference:
 * the source is destroyed when the client disconnects, before it can go). */
typedef struct {
    GSource base;
    VmigControlClient *client;
} VmigControlClientSource;

struct _VmigControlCall {
    VmigControlClient *client; /* a reference */
    char *command;
    JsonNode *id;          /* the request's "id", or NULL */
    JsonObject *arguments; /* a reference, valid until the call is answered */
    GArray *fds;           /* int; NULL when none (or stolen) */
};

static void vmig_control_client_disconnect(VmigControlClient *client, const char *reason);
static void vmig_control_client_update_events(VmigControlClient *client);
static void vmig_control_client_dispatch_lines(VmigControlClient *client);
/* ------------------------------------------------------------------------ */
/* Small helpers */

/* Close every fd in @fds and free the array (NULL is fine). */
static void
vmig_control_fds_free(GArray *fds)
{
    guint i;

    if (!fds)
        return;
    /* Each is set to -1: a clear function set on @fds finds nothing left. */
    for (i = 0; i < fds->len; i++)
        vmig_fd_clear(&g_array_index(fds, int, i));
    g_array_unref(fds);
}

/* Free a pending line and close its fds. */
static void
vmig_control_line_free(VmigControlLine *line)
{
    g_free(line->text);
    vmig_control_fds_free(line->fds);
    g_free(line);
}

/* Returns: @node serialized on one line, '\n' included, as GBytes. */
static GBytes *
vmig_control_serialize(JsonNode *node)
{
    gsize len = 0;
    char *text = vmig_json_write(node, FALSE, &len);

    text = g_realloc(text, len + 1);
    text[len] = '\n';
    return g_bytes_new_take(text, len + 1);
}

/*
 * Builds {"error": {"class": @klass, "desc": @desc}, "id": @id}.  @desc is
 * made valid UTF-8 first: it may quote what the client sent.
 * Returns: the new node.
 */
static JsonNode *
vmig_control_error_new(JsonNode *id, const char *klass, const char *desc)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *valid = g_utf8_make_valid(desc, -1);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "class");
    json_builder_add_string_value(b, klass);
    json_builder_set_member_name(b, "desc");
    json_builder_add_string_value(b, valid);
    json_builder_end_object(b);
    if (id) {
        json_builder_set_member_name(b, "id");
        json_builder_add_value(b, json_node_copy(id));
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonObject *
vmig_control_version_new(void)
{
    guint major = 0, minor = 0, micro = 0;
    JsonObject *version = json_object_new();
    JsonObject *numbers = json_object_new();

    /* PACKAGE_VERSION is "MAJOR.MINOR.MICRO"; a part it lacks stays 0. */
    (void)sscanf(PACKAGE_VERSION, "%u.%u.%u", &major, &minor, &micro);
    json_object_set_int_member(numbers, "micro", micro);
    json_object_set_int_member(numbers, "minor", minor);
    json_object_set_int_member(numbers, "major", major);
    json_object_set_object_member(version, "qemu", numbers);
    json_object_set_string_member(version, "package",
                                  VMIG_CONTROL_PACKAGE_PREFIX PACKAGE_VERSION);
    return version;
}

/*
 * Returns: QMP's greeting, {"QMP": {"version": V, "capabilities": []}}
 * with V from vmig_control_version_new().  No capability is offered:
 * "oob" would promise out-of-band execution, which this server lacks.
 */
static JsonNode *
vmig_control_greeting_new(void)
{
    JsonObject *qmp = json_object_new();
    g_autoptr(JsonObject) greeting = json_object_new();
    JsonNode *root = json_node_alloc();

    json_object_set_object_member(qmp, "version", vmig_control_version_new());
    json_object_set_array_member(qmp, "capabilities", json_array_new());
    json_object_set_object_member(greeting, "QMP", qmp);
    json_node_init_object(root, greeting);
    return root;
}

/* ------------------------------------------------------------------------ */
/* Clients: references, output */

/* Returns: @client, with one more reference. */
static VmigControlClient *
vmig_control_client_ref(VmigControlClient *client)
{
    client->refs++;
    return client;
}

/* Drops a reference; the last one frees a (disconnected) client. */
static void
vmig_control_client_unref(VmigControlClient *client)
{
    if (--client->refs > 0)
        return;
    g_assert(client->control == NULL);
    g_free(client);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigControlClient, vmig_control_client_unref)

/*
 * Closes the connection of a client at end of file once it has nothing
 * left to do: no line to dispatch, no call pending, nothing to write.
 */
static void
vmig_control_client_maybe_finish(VmigControlClient *client)
{
    if (client->control && client->eof && g_queue_is_empty(&client->lines) &&
        client->pending == 0 && client->out_queued == 0)
        vmig_control_client_disconnect(client, "end of file");
}

/*
 * Writes as much of the output queue as the socket takes now.  A write
 * error disconnects the client.
 * Returns: TRUE while the client is connected.
 */
static gboolean
vmig_control_client_flush(VmigControlClient *client)
{
    while (client->control && !g_queue_is_empty(&client->out)) {
        GBytes *head = g_queue_peek_head(&client->out);
        gsize size = 0;
        const char *data = g_bytes_get_data(head, &size);
        gssize n;

        do {
            n = send(client->fd, data + client->out_offset, size - client->out_offset,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);

        if (n < 0) {
            g_autofree char *reason = NULL;

            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            reason = g_strdup_printf("write failed: %s", g_strerror(errno));
            vmig_control_client_disconnect(client, reason);
            return FALSE;
        }
        client->out_offset += n;
        client->out_queued -= n;
        if (client->out_offset == size) {
            g_bytes_unref(g_queue_pop_head(&client->out));
            client->out_offset = 0;
        }
    }
    return client->control != NULL;
}

/*
 * Queues @node (borrowed) as one line for @client and writes what can be
 * written.  A client that lets more than VMIG_CONTROL_MAX_QUEUED pile up
 * is disconnected.
 */
static void
vmig_control_client_send(VmigControlClient *client, JsonNode *node)
{
    GBytes *line;

    if (!client->control)
        return;
    line = vmig_control_serialize(node);
    client->out_queued += g_bytes_get_size(line);
    g_queue_push_tail(&client->out, line);

    if (!vmig_control_client_flush(client))
        return;
    if (client->out_queued > VMIG_CONTROL_MAX_QUEUED) {
        g_autofree char *reason =
            g_strdup_printf("not reading its replies (%" G_GSIZE_FORMAT " bytes queued)",
                            client->out_queued);

        vmig_control_client_disconnect(client, reason);
        return;
    }
    vmig_control_client_update_events(client);
}

/* Sends an error reply (echoing @id when non-NULL). */
static void
vmig_control_client_send_error(VmigControlClient *client, JsonNode *id, const char *klass,
                               const char *desc)
{
    g_autoptr(JsonNode) reply = vmig_control_error_new(id, klass, desc);

    vmig_control_client_send(client, reply);
}

/*
 * A client broke a limit: a line over VMIG_CONTROL_MAX_LINE bytes
 * (@too_long) or more than VMIG_FDPASS_MAX_FDS fds with one line.  Tell it
 * why (best effort, without waiting) and close its connection.
 */
static void
vmig_control_client_abort(VmigControlClient *client, gboolean too_long)
{
    g_autofree char *reason = NULL;
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GBytes) line = NULL;
    gsize size = 0;
    const char *data;

    if (too_long)
        reason = g_strdup_printf("line longer than %d bytes: closing the connection",
                                 VMIG_CONTROL_MAX_LINE);
    else
        reason =
            g_strdup_printf("more than %d file descriptors with one line: closing the "
                            "connection",
                            VMIG_FDPASS_MAX_FDS);
    reply = vmig_control_error_new(NULL, VMIG_CONTROL_CLASS_GENERIC, reason);
    line = vmig_control_serialize(reply);
    data = g_bytes_get_data(line, &size);

    /* Whatever is still queued goes first, so that lines stay whole. */
    if (vmig_control_client_flush(client) && g_queue_is_empty(&client->out)) {
        if (send(client->fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            g_debug("client %u: could not tell it why: %s", client->id,
                    g_strerror(errno));
    }
    vmig_control_client_disconnect(client, reason);
}

/* ------------------------------------------------------------------------ */
/* Clients: the event source */

/* Polls for what the client's state calls for. */
static void
vmig_control_client_update_events(VmigControlClient *client)
{
    GIOCondition events = 0;

    if (!client->control)
        return;
    if (!client->eof && g_queue_is_empty(&client->lines) &&
        client->pending < VMIG_CONTROL_MAX_PENDING)
        events |= G_IO_IN;
    if (!g_queue_is_empty(&client->out))
        events |= G_IO_OUT;
    if (events != client->events) {
        g_source_modify_unix_fd(client->source, client->fd_tag, events);
        client->events = events;
    }
}

/*
 * The resume idle: dispatches lines held back while the client had too
 * many calls pending.  Returns: G_SOURCE_REMOVE.
 */
static gboolean
vmig_control_client_resume(gpointer user_data)
{
    VmigControlClient *client = user_data;

    g_clear_pointer(&client->resume_source, g_source_unref);
    vmig_control_client_dispatch_lines(client);
    return G_SOURCE_REMOVE;
}

/* Arranges for held-back lines to be dispatched soon. */
static void
vmig_control_client_schedule_resume(VmigControlClient *client)
{
    if (!client->control || client->resume_source || client->dispatching ||
        g_queue_is_empty(&client->lines))
        return;
    client->resume_source = g_idle_source_new();
    g_source_set_callback(client->resume_source, vmig_control_client_resume,
                          vmig_control_client_ref(client),
                          (GDestroyNotify)vmig_control_client_unref);
    g_source_attach(client->resume_source, client->control->context);
}

/*
 * Closes @client's connection, drops everything it had queued either way,
 * and takes it off the server's list (which drops the list's reference).
 * Safe to call more than once and from within any callback of the client.
 */
static void
vmig_control_client_disconnect(VmigControlClient *client, const char *reason)
{
    VmigControl *control = client->control;

    if (!control)
        return;
    g_debug("client %u: disconnected: %s", client->id, reason);
    client->control = NULL;

    if (client->source) {
        g_source_destroy(client->source);
        g_clear_pointer(&client->source, g_source_unref);
    }
    if (client->resume_source) {
        g_source_destroy(client->resume_source);
        g_clear_pointer(&client->resume_source, g_source_unref);
    }

    /* The fds it sent first: once the peer sees end of file, they are gone. */
    vmig_control_fds_free(g_steal_pointer(&client->in_fds));
    g_queue_clear_full(&client->lines, (GDestroyNotify)vmig_control_line_free);
    g_clear_pointer(&client->in, g_byte_array_unref);
    g_queue_clear_full(&client->out, (GDestroyNotify)g_bytes_unref);
    client->out_queued = 0;
    client->out_offset = 0;
    vmig_fd_clear(&client->fd);

    /* Last: this may drop the last reference the caller does not hold. */
    g_ptr_array_remove(control->clients, client);
}

/* ------------------------------------------------------------------------ */
/* Calls */

/* Frees @call, counting it as answered, and releases its client. */
static void
vmig_control_call_free(VmigControlCall *call)
{
    VmigControlClient *client = call->client;

    client->pending--;
    if (client->control) {
        vmig_control_client_schedule_resume(client);
        vmig_control_client_update_events(client);
        vmig_control_client_maybe_finish(client);
    }
    vmig_control_client_unref(client);

    g_free(call->command);
    g_clear_pointer(&call->id, json_node_unref);
    g_clear_pointer(&call->arguments, json_object_unref);
    vmig_control_fds_free(call->fds);
    g_free(call);
}

void
vmig_control_call_return(VmigControlCall *call, JsonNode *value)
{
    g_autoptr(JsonNode) owned = value;
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(JsonNode) reply = NULL;

    g_return_if_fail(call != NULL);

    if (call->client->control) {
        b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "return");
        if (owned) {
            json_builder_add_value(b, g_steal_pointer(&owned));
        } else {
            json_builder_begin_object(b);
            json_builder_end_object(b);
        }
        if (call->id) {
            json_builder_set_member_name(b, "id");
            json_builder_add_value(b, json_node_copy(call->id));
        }
        json_builder_end_object(b);
        reply = json_builder_get_root(b);
        vmig_control_client_send(call->client, reply);
    } else {
        g_debug("dropping the answer to '%s': its client has gone", call->command);
    }
    vmig_control_call_free(call);
}

/* Answers @call with an error of @klass saying @desc; frees it. */
static void
vmig_control_call_error_literal(VmigControlCall *call, const char *klass,
                                const char *desc)
{
    if (call->client->control)
        vmig_control_client_send_error(call->client, call->id, klass, desc);
    else
        g_debug("dropping the error for '%s': its client has gone", call->command);
    vmig_control_call_free(call);
}

void
vmig_control_call_error(VmigControlCall *call, const char *klass, const char *format, ...)
{
    g_autofree char *desc = NULL;
    va_list ap;

    g_return_if_fail(call != NULL);
    g_return_if_fail(klass != NULL);

    va_start(ap, format);
    desc = g_strdup_vprintf(format, ap);
    va_end(ap);
    vmig_control_call_error_literal(call, klass, desc);
}

void
vmig_control_call_error_gerror(VmigControlCall *call, const GError *error)
{
    g_return_if_fail(call != NULL);

    vmig_control_call_error_literal(call, VMIG_CONTROL_CLASS_GENERIC,
                                    error ? error->message : "unknown error");
}

int *
vmig_control_call_steal_fds(VmigControlCall *call, gsize *n_fds)
{
    GArray *fds;
    guint n;

    g_return_val_if_fail(call != NULL, NULL);
    g_return_val_if_fail(n_fds != NULL, NULL);

    *n_fds = 0;
    fds = g_steal_pointer(&call->fds);
    if (!fds)
        return NULL;
    n = fds->len;
    *n_fds = n;
    return (int *)g_array_free(fds, FALSE);
}

const char *
vmig_control_call_get_command(VmigControlCall *call)
{
    g_return_val_if_fail(call != NULL, NULL);
    return call->command;
}

/* ------------------------------------------------------------------------ */
/* The server's own commands: QMP's capabilities negotiation, query-commands */

static void vmig_control_cmd_qmp_capabilities(VmigControlCall *call,
                                              JsonObject *arguments, gpointer user_data);
static void vmig_control_cmd_query_commands(VmigControlCall *call, JsonObject *arguments,
                                            gpointer user_data);

static const VmigControlArg vmig_control_qmp_capabilities_args[] = {
    {"enable", VMIG_CONTROL_ARG_ARRAY, TRUE},
    {NULL, 0, FALSE},
};

/* The first row is all a client may run before negotiation is over. */
static const VmigControlCommand vmig_control_builtins[] = {
    {"qmp_capabilities", vmig_control_cmd_qmp_capabilities,
     vmig_control_qmp_capabilities_args, FALSE},
    {"query-commands", vmig_control_cmd_query_commands, NULL, FALSE},
};
static const gsize vmig_control_n_builtins = G_N_ELEMENTS(vmig_control_builtins);

/*
 * qmp_capabilities {"enable": [...]} -> {}: ends capabilities negotiation.
 * No capability is offered, so any named in "enable" is refused (and the
 * client stays in negotiation).  Once done, QMP answers a second one with
 * CommandNotFound.
 */
static void
vmig_control_cmd_qmp_capabilities(VmigControlCall *call, JsonObject *arguments,
                                  gpointer user_data)
{
    JsonArray *enable = json_object_has_member(arguments, "enable")
                            ? json_object_get_array_member(arguments, "enable")
                            : NULL;
    guint i;

    if (call->client->negotiated) {
        vmig_control_call_error(call, VMIG_CONTROL_CLASS_NOT_FOUND,
                                "Capabilities negotiation is already complete, command "
                                "ignored");
        return;
    }
    for (i = 0; enable && i < json_array_get_length(enable); i++) {
        JsonNode *node = json_array_get_element(enable, i);

        if (!JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_STRING) {
            vmig_control_call_error(call, VMIG_CONTROL_CLASS_GENERIC,
                                    "Parameter 'enable' expects a list of capability "
                                    "names");
            return;
        }
        vmig_control_call_error(call, VMIG_CONTROL_CLASS_GENERIC,
                                "Capability '%s' not available",
                                json_node_get_string(node));
        return;
    }
    call->client->negotiated = TRUE;
    vmig_control_call_return(call, NULL);
}

static void
vmig_control_add_names(JsonArray *names, const VmigControlCommand *commands, gsize n)
{
    gsize i;

    for (i = 0; i < n; i++) {
        JsonObject *row = json_object_new();

        json_object_set_string_member(row, "name", commands[i].name);
        json_array_add_object_element(names, row);
    }
}

/* query-commands: {} -> [{"name": NAME}, ...], every command served. */
static void
vmig_control_cmd_query_commands(VmigControlCall *call, JsonObject *arguments,
                                gpointer user_data)
{
    VmigControl *control = call->client->control;
    JsonArray *names = json_array_new();
    JsonNode *node = json_node_alloc();

    vmig_control_add_names(names, control->commands, control->n_commands);
    json_node_init_array(node, names);
    json_array_unref(names);
    vmig_control_call_return(call, node);
}

/*
 * Reads @line as a request of @client's mode: in negotiation only
 * qmp_capabilities (the table's first command), then any command.
 * Returns: TRUE with @request filled, or FALSE with @error set, as
 * vmig_control_parse_request().
 */
static gboolean
vmig_control_client_parse(VmigControlClient *client, VmigControlLine *line,
                          VmigControlRequest *request, GError **error)
{
    VmigControl *control = client->control;
    g_autoptr(GError) local = NULL;

    if (client->negotiated)
        return vmig_control_parse_request(line->text, line->len, control->commands,
                                          control->n_commands, request, error);
    if (vmig_control_parse_request(line->text, line->len, control->commands, 1, request,
                                   &local))
        return TRUE;
    /* QMP's words for anything but qmp_capabilities, known or not. */
    if (g_error_matches(local, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_NOT_FOUND))
        g_set_error_literal(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_NOT_FOUND,
                            "Expecting capabilities negotiation with "
                            "'qmp_capabilities'");
    else
        g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Dispatching one line */

/*
 * Refuses a line: closes the fds that came with it (*@fdsp, consumed),
 * then sends the error, so that a client which has its answer can count
 * on the fds being gone.
 */
static void
vmig_control_client_refuse(VmigControlClient *client, GArray **fdsp, JsonNode *id,
                           const char *klass, const char *desc)
{
    vmig_control_fds_free(g_steal_pointer(fdsp));
    vmig_control_client_send_error(client, id, klass, desc);
}

/*
 * Handles one complete line: parse, check, call the handler (which may
 * answer now or later).  The line's fds are either handed to the call or
 * closed.
 */
static void
vmig_control_client_handle_line(VmigControlClient *client, VmigControlLine *line)
{
    g_auto(VmigControlRequest) request = {NULL, NULL, NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) fds = g_steal_pointer(&line->fds);
    g_autofree char *problem = NULL;
    VmigControlCall *call;

    /* Every return below either refuses the line, which closes its fds,
     * or hands them to the call; this clear function is the safety net. */
    if (fds)
        g_array_set_clear_func(fds, (GDestroyNotify)vmig_fd_clear);

    if (!vmig_control_client_parse(client, line, &request, &error)) {
        if (g_error_matches(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_EMPTY)) {
            /* An empty (or all-whitespace) line: nothing was asked. */
            if (fds && fds->len > 0)
                vmig_control_client_refuse(client, &fds, NULL, VMIG_CONTROL_CLASS_GENERIC,
                                           "file descriptors came with an empty line");
            return;
        }
        vmig_control_client_refuse(client, &fds, request.id,
                                   vmig_control_error_class(error), error->message);
        return;
    }

    if (fds && fds->len > 0 && !request.command->takes_fds) {
        problem =
            g_strdup_printf("The command %s takes no file descriptors (%u were sent)",
                            request.command->name, fds->len);
        vmig_control_client_refuse(client, &fds, request.id, VMIG_CONTROL_CLASS_GENERIC,
                                   problem);
        return;
    }

    call = g_new0(VmigControlCall, 1);
    call->client = vmig_control_client_ref(client);
    call->command = g_strdup(request.command->name);
    call->id = g_steal_pointer(&request.id);
    call->arguments = g_steal_pointer(&request.arguments);
    if (fds && fds->len > 0) {
        g_array_set_clear_func(fds, NULL);
        call->fds = g_steal_pointer(&fds);
    }
    client->pending++;

    g_debug("client %u: %s", client->id, call->command);
    /* The built-in commands read what they need from the call. */
    request.command->handler(call, call->arguments, client->control->user_data);
}

/*
 * Dispatches queued lines in order, until none is left, the client has
 * too many calls pending, or it is gone.  Then it polls again for input.
 */
static void
vmig_control_client_dispatch_lines(VmigControlClient *client)
{
    g_autoptr(VmigControlClient) hold = vmig_control_client_ref(client);

    if (client->dispatching)
        return;
    client->dispatching = TRUE;
    while (client->control && client->pending < VMIG_CONTROL_MAX_PENDING) {
        VmigControlLine *line = g_queue_pop_head(&client->lines);

        if (!line)
            break;
        vmig_control_client_handle_line(client, line);
        vmig_control_line_free(line);
    }
    client->dispatching = FALSE;

    vmig_control_client_update_events(client);
    vmig_control_client_maybe_finish(client);
}

/* ------------------------------------------------------------------------ */
/* Reading */

/*
 * Moves the fds of @from (consumed; NULL is fine) to the end of *@dest.
 * Returns: FALSE when *@dest then holds more than one line may carry.
 */
static gboolean
vmig_control_fds_move(GArray **dest, GArray *from)
{
    if (!from)
        return TRUE;
    if (!*dest) {
        *dest = from;
    } else {
        g_array_append_vals(*dest, from->data, from->len);
        g_array_unref(from);
    }
    return (*dest)->len <= VMIG_FDPASS_MAX_FDS;
}

/*
 * Moves the complete lines of client->in to the line queue, giving each
 * its fds: the incomplete line's earlier fds go to the first one, @fds
 * (consumed; the fds of this recvmsg) to the line holding the chunk's last
 * byte (see the top of this file).  @chunk_start is where the chunk
 * begins in client->in; before it there is no '\n'.
 * Returns: FALSE when the client broke a limit (it is disconnected).
 */
static gboolean
vmig_control_client_split(VmigControlClient *client, gsize chunk_start, GArray *fds)
{
    GByteArray *in = client->in;
    gboolean ends_line = in->data[in->len - 1] == '\n';
    gsize start = 0;
    guint8 *nl;

    nl = memchr(in->data + chunk_start, '\n', in->len - chunk_start);
    while (nl) {
        gsize end = nl - in->data;
        VmigControlLine *line = g_new0(VmigControlLine, 1);
        gboolean fds_ok;

        line->len = end - start;
        line->text = g_malloc(line->len + 1);
        memcpy(line->text, in->data + start, line->len);
        line->text[line->len] = '\0';
        line->fds = g_steal_pointer(&client->in_fds);
        fds_ok =
            end + 1 < in->len || vmig_control_fds_move(&line->fds, g_steal_pointer(&fds));
        g_queue_push_tail(&client->lines, line);

        if (line->len > VMIG_CONTROL_MAX_LINE || !fds_ok) {
            vmig_control_fds_free(fds);
            vmig_control_client_abort(client, line->len > VMIG_CONTROL_MAX_LINE);
            return FALSE;
        }
        start = end + 1;
        nl = memchr(in->data + start, '\n', in->len - start);
    }
    g_byte_array_remove_range(in, 0, start);

    /* What is left is the incomplete line; unless the chunk ended a line,
     * this recvmsg's fds are its fds. */
    g_assert(!ends_line || (in->len == 0 && fds == NULL));
    if (!vmig_control_fds_move(&client->in_fds, g_steal_pointer(&fds))) {
        vmig_control_client_abort(client, FALSE);
        return FALSE;
    }
    if (in->len > VMIG_CONTROL_MAX_LINE) {
        vmig_control_client_abort(client, TRUE);
        return FALSE;
    }
    return TRUE;
}

/* One recvmsg from the client, then dispatch what it completed. */
static void
vmig_control_client_read(VmigControlClient *client)
{
    g_autoptr(GError) error = NULL;
    gsize old = client->in->len;
    GArray *chunk_fds = NULL;
    int *fds = NULL;
    gsize nfds = 0;
    gssize n;

    g_byte_array_set_size(client->in, old + VMIG_CONTROL_READ_CHUNK);
    n = vmig_fdpass_recv(client->fd, client->in->data + old, VMIG_CONTROL_READ_CHUNK,
                         VMIG_FDPASS_MAX_FDS, &fds, &nfds, VMIG_FDPASS_RECV_BLOCKING,
                         &error);
    g_byte_array_set_size(client->in, old + MAX(n, 0));

    if (n < 0) {
        if (g_error_matches(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_WOULD_BLOCK))
            return;
        /* MSG_CTRUNC, bad control data, a socket error: fdpass closed the fds. */
        vmig_control_client_disconnect(client, error->message);
        return;
    }
    if (nfds > 0) {
        chunk_fds = g_array_sized_new(FALSE, FALSE, sizeof(int), nfds);
        g_array_append_vals(chunk_fds, fds, nfds);
    }
    g_free(fds);

    if (n == 0) {
        if (client->in->len > 0)
            g_debug("client %u: dropping an incomplete last line (%u bytes)", client->id,
                    client->in->len);
        g_byte_array_set_size(client->in, 0);
        vmig_control_fds_free(g_steal_pointer(&client->in_fds));
        vmig_control_fds_free(chunk_fds);
        client->eof = TRUE;
    } else if (!vmig_control_client_split(client, old, chunk_fds)) {
        return;
    }
    vmig_control_client_dispatch_lines(client);
}

/*
 * The client's source fired.  Returns: G_SOURCE_CONTINUE (a gone client's
 * source has been destroyed already).
 */
static gboolean
vmig_control_client_source_dispatch(GSource *source, GSourceFunc callback,
                                    gpointer user_data)
{
    VmigControlClient *client = ((VmigControlClientSource *)source)->client;
    g_autoptr(VmigControlClient) hold = vmig_control_client_ref(client);
    GIOCondition revents = g_source_query_unix_fd(source, client->fd_tag);

    if ((revents & G_IO_OUT) && vmig_control_client_flush(client)) {
        vmig_control_client_update_events(client);
        vmig_control_client_maybe_finish(client);
    }
    if (!client->control || !(revents & (G_IO_IN | G_IO_HUP | G_IO_ERR | G_IO_NVAL)))
        return G_SOURCE_CONTINUE;

    if (client->events & G_IO_IN) {
        vmig_control_client_read(client);
    } else if (revents & (G_IO_HUP | G_IO_ERR | G_IO_NVAL)) {
        /* Not reading now (or at end of file), and the peer is gone: its
         * answers could not be delivered anyway. */
        vmig_control_client_disconnect(client, "hung up");
    }
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs vmig_control_client_source_funcs = {
    .dispatch = vmig_control_client_source_dispatch,
};

/* ------------------------------------------------------------------------ */
/* Accepting */

/* Returns: who the socket serves, for messages: "uid 0" or "uid 0, uid 1000
 * and group 'virt' (gid 990)" (to free). */
static char *
vmig_control_describe_served(VmigControl *control)
{
    if (!control->group_name)
        return g_strdup_printf("uid %u", (guint)geteuid());
    if (geteuid() == 0)
        return g_strdup_printf("uid 0 and group '%s' (gid %u)", control->group_name,
                               (guint)control->group);
    return g_strdup_printf("uid 0, uid %u and group '%s' (gid %u)", (guint)geteuid(),
                           control->group_name, (guint)control->group);
}

/*
 * Whether the peer @cred on @fd is served: our uid; with a group, root
 * and any process with the group as its primary or a supplementary group
 * (SO_PEERGROUPS: the groups it had when it connected).
 * Returns: TRUE to serve it.
 */
static gboolean
vmig_control_peer_served(VmigControl *control, int fd, const struct ucred *cred)
{
    g_autofree gid_t *groups = NULL;
    socklen_t len = 64 * sizeof(gid_t);

    if (cred->uid == geteuid())
        return TRUE;
    if (!control->group_name)
        return FALSE;
    if (cred->uid == 0 || cred->gid == control->group)
        return TRUE;
    for (;;) {
        groups = g_realloc(groups, len);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
            break;
        if (errno != ERANGE) {
            g_warning("cannot read the groups of a client (pid %d) of '%s': %s",
                      (int)cred->pid, control->path, g_strerror(errno));
            return FALSE;
        }
        /* len now says how much is needed. */
    }
    for (gsize i = 0; i < len / sizeof(gid_t); i++) {
        if (groups[i] == control->group)
            return TRUE;
    }
    return FALSE;
}

/*
 * Refuses a peer the socket does not serve: one error line, then close.
 */
static void
vmig_control_refuse(VmigControl *control, int *fdp, uid_t peer_uid, pid_t peer_pid)
{
    g_autofree char *served = vmig_control_describe_served(control);
    g_autofree char *desc = g_strdup_printf(
        "permission denied: the control socket serves %s only, not uid %u", served,
        (guint)peer_uid);
    g_autoptr(JsonNode) reply =
        vmig_control_error_new(NULL, VMIG_CONTROL_CLASS_GENERIC, desc);
    g_autoptr(GBytes) line = vmig_control_serialize(reply);
    gsize size = 0;
    const char *data = g_bytes_get_data(line, &size);

    g_message("refused a client of uid %u (pid %d): only %s is served", (guint)peer_uid,
              (int)peer_pid, served);
    /* A fresh socket's send buffer is empty: the line goes out whole. */
    if (send(*fdp, data, size, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        g_debug("could not tell uid %u why: %s", (guint)peer_uid, g_strerror(errno));
    vmig_fd_clear(fdp);
}

/* Takes @fdp (an accepted connection) on as a client. */
static void
vmig_control_add_client(VmigControl *control, int *fdp, pid_t peer_pid)
{
    VmigControlClient *client = g_new0(VmigControlClient, 1);
    g_autoptr(JsonNode) greeting = vmig_control_greeting_new();

    client->refs = 1; /* the list's */
    client->id = ++control->next_client_id;
    client->control = control;
    client->fd = vmig_fd_steal(fdp);
    client->in = g_byte_array_new();
    g_queue_init(&client->lines);
    g_queue_init(&client->out);
    g_ptr_array_add(control->clients, client);

    client->source =
        g_source_new(&vmig_control_client_source_funcs, sizeof(VmigControlClientSource));
    ((VmigControlClientSource *)client->source)->client = client;
    g_source_set_static_name(client->source, "vmig-control-client");
    client->events = G_IO_IN;
    client->fd_tag = g_source_add_unix_fd(client->source, client->fd, client->events);
    g_source_attach(client->source, control->context);

    g_debug("client %u connected (pid %d)", client->id, (int)peer_pid);
    vmig_control_client_send(client, greeting);
}

/* The listener accepted a connection: a client, if the socket serves it. */
static void
vmig_control_on_connection(int *fdp, gpointer user_data)
{
    VmigControl *control = user_data;
    struct ucred cred;
    socklen_t len = sizeof(cred);

    memset(&cred, 0, sizeof(cred));
    if (getsockopt(*fdp, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        len != sizeof(cred)) {
        g_warning("cannot read the credentials of a client of '%s': %s", control->path,
                  g_strerror(errno));
        return;
    }
    if (!vmig_control_peer_served(control, *fdp, &cred)) {
        vmig_control_refuse(control, fdp, cred.uid, cred.pid);
        return;
    }
    vmig_control_add_client(control, fdp, cred.pid);
}

/* ------------------------------------------------------------------------ */
/* The server */

VmigControl *
vmig_control_new(GMainContext *context, const char *path, gid_t group,
                 const char *group_name, const VmigControlCommand *commands,
                 gsize n_commands, gpointer user_data, GError **error)
{
    g_autoptr(VmigControl) control = NULL;
    gsize i;

    g_return_val_if_fail(path != NULL, NULL);
    g_return_val_if_fail(commands != NULL || n_commands == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    for (i = 0; i < n_commands; i++) {
        g_return_val_if_fail(commands[i].name != NULL, NULL);
        g_return_val_if_fail(commands[i].handler != NULL, NULL);
        for (gsize j = 0; j < vmig_control_n_builtins; j++)
            g_return_val_if_fail(
                !g_str_equal(commands[i].name, vmig_control_builtins[j].name), NULL);
    }

    control = g_new0(VmigControl, 1);
    control->context =
        context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
    control->listen_fd = -1;
    control->n_commands = vmig_control_n_builtins + n_commands;
    control->commands = g_new(VmigControlCommand, control->n_commands);
    memcpy(control->commands, vmig_control_builtins, sizeof(vmig_control_builtins));
    if (n_commands)
        memcpy(control->commands + vmig_control_n_builtins, commands,
               n_commands * sizeof(*commands));
    control->user_data = user_data;
    control->clients =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmig_control_client_unref);

    /* Not set until the socket is ours: vmig_control_free() unlinks it. */
    control->listen_fd = vmig_transport_listen_owned(
        path, group_name ? group : (gid_t)-1, group_name ? 0660 : 0600,
        &control->sock_dev, &control->sock_ino, error);
    if (control->listen_fd < 0)
        return NULL;
    control->path = g_strdup(path);
    control->group_name = g_strdup(group_name);
    control->group = group;

    control->listener =
        vmig_listener_new(control->context, control->listen_fd, control->path,
                          vmig_control_on_connection, control);
    g_debug("listening on '%s'", path);
    return g_steal_pointer(&control);
}

void
vmig_control_free(VmigControl *control)
{
    struct stat st;

    if (!control)
        return;

    g_clear_pointer(&control->listener, vmig_listener_free);
    vmig_fd_clear(&control->listen_fd);

    while (control->clients->len > 0)
        vmig_control_client_disconnect(g_ptr_array_index(control->clients, 0),
                                       "server stopped");
    g_ptr_array_unref(control->clients);

    /* Only our own socket: another server may have replaced it since. */
    if (control->path && lstat(control->path, &st) == 0 &&
        st.st_dev == control->sock_dev && st.st_ino == control->sock_ino) {
        if (unlink(control->path) < 0)
            g_warning("cannot remove the control socket '%s': %s", control->path,
                      g_strerror(errno));
    }
    g_free(control->commands);
    g_free(control->path);
    g_free(control->group_name);
    g_main_context_unref(control->context);
    g_free(control);
}

void
vmig_control_emit_event(VmigControl *control, const char *event, JsonObject *data)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GPtrArray) clients = NULL;
    gint64 now = g_get_real_time();
    guint i;

    g_return_if_fail(control != NULL);
    g_return_if_fail(event != NULL);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, event);
    json_builder_set_member_name(b, "data");
    if (data) {
        JsonNode *value = json_node_alloc();

        json_node_init_object(value, data);
        json_builder_add_value(b, value);
    } else {
        json_builder_begin_object(b);
        json_builder_end_object(b);
    }
    json_builder_set_member_name(b, "timestamp");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "seconds");
    json_builder_add_int_value(b, now / G_USEC_PER_SEC);
    json_builder_set_member_name(b, "microseconds");
    json_builder_add_int_value(b, now % G_USEC_PER_SEC);
    json_builder_end_object(b);
    json_builder_end_object(b);
    node = json_builder_get_root(b);

    /* Sending may disconnect a client, which edits control->clients. */
    clients = g_ptr_array_new_with_free_func((GDestroyNotify)vmig_control_client_unref);
    for (i = 0; i < control->clients->len; i++) {
        VmigControlClient *client = g_ptr_array_index(control->clients, i);

        /* QMP sends no event before capabilities negotiation is over. */
        if (client->negotiated)
            g_ptr_array_add(clients, vmig_control_client_ref(client));
    }
    for (i = 0; i < clients->len; i++)
        vmig_control_client_send(g_ptr_array_index(clients, i), node);
}
