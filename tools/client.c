/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client.c: the CLI's side of the control socket
 *
 * Blocking I/O on a plain unix socket; a timeout bounds every wait:
 * poll() before each read, SO_SNDTIMEO for connect() and the writes.
 * The poll() also watches the interrupt fd, when there is one.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-client"

#include "tools/client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "driver/control.h"
#include "fdpass/fd.h"
#include "fdpass/fdpass.h"
#include "json/reader.h"
#include "json/writer.h"

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-client-error-quark, vmig_client_error)
/* clang-format on */

/* The longest line accepted from the daemon (a catalog is some 10 KiB). */
#define VMIG_CLIENT_MAX_LINE   (64 * 1024 * 1024)
#define VMIG_CLIENT_READ_CHUNK (64 * 1024)

struct _VmigClient {
    char *path;
    int fd;
    int timeout_ms; /* < 0: none */
    GByteArray *in; /* received, not yet consumed */
    gint64 next_id;
    char *daemon_version; /* from the greeting, or NULL */
    VmigClientEventFunc event_func;
    gpointer event_data;
    int interrupt_fd; /* borrowed, or -1 */
};

/* Returns: the monotonic time by which the next wait must be over, or -1. */
static gint64
vmig_client_deadline(VmigClient *client)
{
    if (client->timeout_ms < 0)
        return -1;
    return g_get_monotonic_time() + (gint64)client->timeout_ms * 1000;
}

/* Sets a TIMEOUT error for @client. */
static void
vmig_client_set_timeout_error(VmigClient *client, GError **error)
{
    g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT,
                "virt-migrated at '%s' did not answer within %d.%03d seconds",
                client->path, client->timeout_ms / 1000, client->timeout_ms % 1000);
}

/*
 * Moves @local to @error; a TIMEOUT becomes one that names the client's
 * own timeout (for waits bounded by it).
 */
static void
vmig_client_propagate(VmigClient *client, GError *local, GError **error)
{
    if (g_error_matches(local, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT) &&
        client->timeout_ms >= 0) {
        g_error_free(local);
        vmig_client_set_timeout_error(client, error);
        return;
    }
    g_propagate_error(error, local);
}

/*
 * Waits until the socket is readable or @deadline (-1: none) has passed,
 * or the interrupt fd is readable.
 * Returns: TRUE when readable, or FALSE with @error set (TIMEOUT,
 * INTERRUPTED or IO).
 */
static gboolean
vmig_client_wait_readable(VmigClient *client, gint64 deadline, GError **error)
{
    for (;;) {
        struct pollfd pfd[2] = {
            {.fd = client->fd, .events = POLLIN},
            {.fd = client->interrupt_fd, .events = POLLIN},
        };
        nfds_t n = client->interrupt_fd >= 0 ? 2 : 1;
        int wait_ms = -1;
        int rc;

        if (deadline >= 0) {
            gint64 left = deadline - g_get_monotonic_time();

            if (left <= 0) {
                g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT,
                            "virt-migrated at '%s' sent nothing in time", client->path);
                return FALSE;
            }
            wait_ms = (int)MIN((left + 999) / 1000, G_MAXINT);
        }
        rc = poll(pfd, n, wait_ms);
        /* An interruption wins over data: Ctrl-C must not wait for quiet. */
        if (rc > 0 && n == 2 && pfd[1].revents != 0) {
            g_set_error_literal(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_INTERRUPTED,
                                "interrupted");
            return FALSE;
        }
        if (rc > 0)
            return TRUE;
        if (rc < 0 && errno != EINTR) {
            g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_IO,
                        "cannot wait for virt-migrated at '%s': %s", client->path,
                        g_strerror(errno));
            return FALSE;
        }
    }
}

/*
 * Reads the next line from the daemon (without its '\n'); *@len says how
 * long it is (it may hold NUL bytes).
 * Returns: the line, NUL-terminated (to free), or NULL with @error set.
 */
static char *
vmig_client_read_line(VmigClient *client, gint64 deadline, gsize *len, GError **error)
{
    gsize scanned = 0;

    for (;;) {
        guint8 *nl = NULL;
        gsize old;
        gssize n;

        /* An empty GByteArray may have no data at all: no memchr on NULL. */
        if (client->in->len > scanned)
            nl = memchr(client->in->data + scanned, '\n', client->in->len - scanned);
        if (nl) {
            char *line;

            *len = nl - client->in->data;
            line = g_malloc(*len + 1);
            memcpy(line, client->in->data, *len);
            line[*len] = '\0';
            g_byte_array_remove_range(client->in, 0, *len + 1);
            return line;
        }
        scanned = client->in->len;
        if (client->in->len > VMIG_CLIENT_MAX_LINE) {
            g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                        "virt-migrated at '%s' sent a line longer than %d bytes",
                        client->path, VMIG_CLIENT_MAX_LINE);
            return NULL;
        }

        if (!vmig_client_wait_readable(client, deadline, error))
            return NULL;
        old = client->in->len;
        g_byte_array_set_size(client->in, old + VMIG_CLIENT_READ_CHUNK);
        do {
            n = recv(client->fd, client->in->data + old, VMIG_CLIENT_READ_CHUNK, 0);
        } while (n < 0 && errno == EINTR);
        g_byte_array_set_size(client->in, old + MAX(n, 0));

        if (n == 0) {
            g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_CLOSED,
                        "virt-migrated at '%s' closed the connection", client->path);
            return NULL;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_IO,
                        "cannot read from virt-migrated at '%s': %s", client->path,
                        g_strerror(errno));
            return NULL;
        }
    }
}

JsonObject *
vmig_client_parse_line(const char *path, const char *line, gsize len, GError **error)
{
    g_autoptr(GError) parse_error = NULL;
    g_autoptr(JsonNode) root = NULL;

    g_return_val_if_fail(line != NULL || len == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    root = vmig_json_parse(line ? line : "", (gssize)len, &parse_error);
    if (!root) {
        g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                    "virt-migrated at '%s' sent invalid JSON: %s", path,
                    parse_error->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                    "virt-migrated at '%s' sent a line that is not a JSON object", path);
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

/*
 * Reads the next line and parses it as a JSON object.
 * Returns: the object (a new reference), or NULL with @error set.
 */
static JsonObject *
vmig_client_read_object(VmigClient *client, gint64 deadline, GError **error)
{
    g_autofree char *line = NULL;
    gsize len = 0;

    line = vmig_client_read_line(client, deadline, &len, error);
    if (!line)
        return NULL;
    return vmig_client_parse_line(client->path, line, len, error);
}

/* Returns: the string member @name of @object (borrowed), or NULL if not a string. */
static const char *
vmig_client_get_string(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

/* Returns: the object member @name of @object (borrowed), or NULL if not an object. */
static JsonObject *
vmig_client_get_object(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    if (!node || !JSON_NODE_HOLDS_OBJECT(node))
        return NULL;
    return json_node_get_object(node);
}

/*
 * Turns {"error": {"class": C, "desc": D}} into a GError.
 * Returns: TRUE when @reply is such an error (@error is then set).
 */
static gboolean
vmig_client_reply_error(VmigClient *client, JsonObject *reply, GError **error)
{
    JsonObject *err;
    const char *klass;
    const char *desc;

    if (!json_object_has_member(reply, "error"))
        return FALSE;
    err = vmig_client_get_object(reply, "error");
    klass = vmig_client_get_string(err, "class");
    desc = vmig_client_get_string(err, "desc");
    if (!desc) {
        g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                    "virt-migrated at '%s' sent an error without a description",
                    client->path);
    } else if (g_strcmp0(klass, "CommandNotFound") == 0) {
        g_set_error_literal(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_COMMAND_NOT_FOUND,
                            desc);
    } else {
        g_set_error_literal(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_COMMAND, desc);
    }
    return TRUE;
}

/*
 * Reads the greeting, QMP's: {"QMP": {"version": {"package": "virt-migrated
 * V", ...}, "capabilities": [...]}} (driver/control.h), and keeps V.  A
 * daemon that refuses us (a peer it does not serve) sends an error line
 * instead.  A QMP server whose package is not virt-migrated's (a QEMU
 * monitor, say) is not a control socket.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_client_read_greeting(VmigClient *client, GError **error)
{
    g_autoptr(JsonObject) greeting = NULL;
    g_autoptr(GError) local = NULL;
    JsonObject *qmp;
    JsonObject *version;
    const char *package;

    greeting = vmig_client_read_object(client, vmig_client_deadline(client), &local);
    if (!greeting) {
        if (g_error_matches(local, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL) ||
            g_error_matches(local, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_CLOSED)) {
            g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                        "'%s' is not a virt-migrated control socket", client->path);
            return FALSE;
        }
        vmig_client_propagate(client, g_steal_pointer(&local), error);
        return FALSE;
    }
    if (vmig_client_reply_error(client, greeting, &local)) {
        g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_CONNECT,
                    "virt-migrated at '%s' refused the connection: %s", client->path,
                    local->message);
        return FALSE;
    }
    qmp = vmig_client_get_object(greeting, "QMP");
    version = qmp ? vmig_client_get_object(qmp, "version") : NULL;
    package = version ? vmig_client_get_string(version, "package") : NULL;
    if (!package || !g_str_has_prefix(package, VMIG_CONTROL_PACKAGE_PREFIX)) {
        g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                    "'%s' is not a virt-migrated control socket", client->path);
        return FALSE;
    }
    client->daemon_version = g_strdup(package + strlen(VMIG_CONTROL_PACKAGE_PREFIX));
    return TRUE;
}

VmigClient *
vmig_client_connect(const char *path, int timeout_ms, GError **error)
{
    g_autoptr(VmigClient) client = NULL;
    g_autoptr(JsonNode) ret = NULL;
    struct sockaddr_un addr;
    int rc;

    g_return_val_if_fail(path != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    client = g_new0(VmigClient, 1);
    client->path = g_strdup(path);
    client->fd = -1;
    client->interrupt_fd = -1;
    client->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
    client->in = g_byte_array_new();
    client->next_id = 1;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_CONNECT,
                    "socket path '%s' is too long (at most %" G_GSIZE_FORMAT " bytes)",
                    path, sizeof(addr.sun_path) - 1);
        return NULL;
    }
    memcpy(addr.sun_path, path, strlen(path));

    client->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client->fd < 0) {
        g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_CONNECT,
                    "cannot create a unix socket: %s", g_strerror(errno));
        return NULL;
    }
    if (client->timeout_ms >= 0) {
        /* Bounds connect() on a full backlog, and every write. */
        struct timeval tv = {.tv_sec = client->timeout_ms / 1000,
                             .tv_usec = (client->timeout_ms % 1000) * 1000};

        if (tv.tv_sec == 0 && tv.tv_usec == 0)
            tv.tv_usec = 1; /* 0 would mean no limit */
        (void)setsockopt(client->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }

    do {
        rc = connect(client->fd, (const struct sockaddr *)&addr, sizeof(addr));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int err = errno;

        if (err == EAGAIN || err == EINPROGRESS) {
            vmig_client_set_timeout_error(client, error);
            return NULL;
        }
        g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_CONNECT,
                    "cannot connect to '%s': %s%s", path, g_strerror(err),
                    err == ENOENT || err == ECONNREFUSED ? " (is virt-migrated running?)"
                                                         : "");
        return NULL;
    }

    if (!vmig_client_read_greeting(client, error))
        return NULL;
    /* QMP's capabilities negotiation: no other command before it. */
    ret = vmig_client_execute(client, "qmp_capabilities", NULL, NULL, 0, error);
    if (!ret)
        return NULL;
    g_debug("connected to virt-migrated %s at '%s'", client->daemon_version, path);
    return g_steal_pointer(&client);
}

void
vmig_client_set_event_func(VmigClient *client, VmigClientEventFunc func,
                           gpointer user_data)
{
    g_return_if_fail(client != NULL);
    client->event_func = func;
    client->event_data = user_data;
}

void
vmig_client_set_interrupt_fd(VmigClient *client, int fd)
{
    g_return_if_fail(client != NULL);
    client->interrupt_fd = fd < 0 ? -1 : fd;
}

const char *
vmig_client_get_daemon_version(VmigClient *client)
{
    g_return_val_if_fail(client != NULL, NULL);
    return client->daemon_version;
}

/* Returns: TRUE when @reply carries the integer id @id. */
static gboolean
vmig_client_reply_has_id(JsonObject *reply, gint64 id)
{
    JsonNode *node = json_object_get_member(reply, "id");

    return node && JSON_NODE_HOLDS_VALUE(node) &&
           json_node_get_value_type(node) == G_TYPE_INT64 &&
           json_node_get_int(node) == id;
}

gint64
vmig_client_send_command(VmigClient *client, const char *command, JsonObject *arguments,
                         const int *fds, gsize nfds, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) request = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;
    gint64 id;

    g_return_val_if_fail(client != NULL, 0);
    g_return_val_if_fail(command != NULL, 0);
    g_return_val_if_fail(fds != NULL || nfds == 0, 0);
    g_return_val_if_fail(error == NULL || *error == NULL, 0);

    id = client->next_id++;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (arguments) {
        JsonNode *args = json_node_alloc();

        json_node_init_object(args, arguments);
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, args);
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_end_object(b);
    request = json_builder_get_root(b);

    text = vmig_json_write(request, FALSE, &len);
    text = g_realloc(text, len + 1);
    text[len++] = '\n';

    if (!vmig_fdpass_send_all(client->fd, text, len, fds, nfds, &local)) {
        if (g_error_matches(local, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_WOULD_BLOCK))
            vmig_client_set_timeout_error(client, error);
        else
            g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_IO,
                        "cannot send '%s' to virt-migrated at '%s': %s", command,
                        client->path, local->message);
        return 0;
    }
    return id;
}

/*
 * Waits for the reply to command @id (@command names it in messages, or
 * NULL).  Returns: as vmig_client_wait_reply().
 */
static JsonNode *
vmig_client_wait_reply_to(VmigClient *client, gint64 id, const char *command,
                          gint64 deadline, GError **error)
{
    for (;;) {
        g_autoptr(JsonObject) reply = vmig_client_read_object(client, deadline, error);
        JsonNode *ret;

        if (!reply)
            return NULL;
        if (json_object_has_member(reply, "event")) {
            if (client->event_func)
                client->event_func(reply, client->event_data);
            continue;
        }
        if (!json_object_has_member(reply, "id")) {
            /* Only a line the daemon could not read goes without an id:
             * with one command in flight, that line was ours. */
            if (vmig_client_reply_error(client, reply, error))
                return NULL;
            continue;
        }
        if (!vmig_client_reply_has_id(reply, id)) {
            g_debug("skipping a reply to another request");
            continue;
        }
        if (vmig_client_reply_error(client, reply, error))
            return NULL;
        ret = json_object_get_member(reply, "return");
        if (!ret) {
            g_autofree char *what =
                command ? g_strdup_printf("'%s'", command)
                        : g_strdup_printf("command %" G_GINT64_FORMAT, id);

            g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                        "virt-migrated at '%s' answered %s with neither a return value "
                        "nor an error",
                        client->path, what);
            return NULL;
        }
        return json_node_copy(ret);
    }
}

JsonNode *
vmig_client_wait_reply(VmigClient *client, gint64 id, gint64 deadline, GError **error)
{
    g_return_val_if_fail(client != NULL, NULL);
    g_return_val_if_fail(id > 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    return vmig_client_wait_reply_to(client, id, NULL, deadline, error);
}

JsonNode *
vmig_client_execute(VmigClient *client, const char *command, JsonObject *arguments,
                    const int *fds, gsize nfds, GError **error)
{
    g_autoptr(GError) local = NULL;
    JsonNode *ret;
    gint64 deadline;
    gint64 id;

    g_return_val_if_fail(client != NULL, NULL);
    g_return_val_if_fail(command != NULL, NULL);
    g_return_val_if_fail(fds != NULL || nfds == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    deadline = vmig_client_deadline(client);
    id = vmig_client_send_command(client, command, arguments, fds, nfds, error);
    if (id == 0)
        return NULL;
    ret = vmig_client_wait_reply_to(client, id, command, deadline, &local);
    if (!ret)
        vmig_client_propagate(client, g_steal_pointer(&local), error);
    return ret;
}

JsonObject *
vmig_client_read_event(VmigClient *client, gint64 deadline, GError **error)
{
    g_return_val_if_fail(client != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    for (;;) {
        g_autoptr(JsonObject) line = vmig_client_read_object(client, deadline, error);
        JsonNode *name;

        if (!line)
            return NULL;
        name = json_object_get_member(line, "event");
        if (!name) {
            g_debug("skipping a reply no one waits for");
            continue;
        }
        if (!JSON_NODE_HOLDS_VALUE(name) ||
            json_node_get_value_type(name) != G_TYPE_STRING) {
            g_set_error(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                        "virt-migrated at '%s' sent an event without a name",
                        client->path);
            return NULL;
        }
        return g_steal_pointer(&line);
    }
}

void
vmig_client_free(VmigClient *client)
{
    if (!client)
        return;
    vmig_fd_clear(&client->fd);
    g_byte_array_unref(client->in);
    g_free(client->daemon_version);
    g_free(client->path);
    g_free(client);
}
