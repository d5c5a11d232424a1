/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmig-example-app.c: a small management app that migrates one QEMU guest
 * through two virt-migrated daemons
 *
 *   vmig-example-app --source-socket PATH --dest-socket PATH
 *                    --source-domain qmp:PATH --dest-domain qmp:PATH
 *                    [--channels N] [--via control|dbus]
 *                    [--source-bus ADDRESS] [--dest-bus ADDRESS]
 *                    [--tunable NAME=VALUE]... [--timeout SECONDS]
 *
 * This is the reference for authors of management apps: it does what a
 * KubeVirt- or OpenStack-like agent does, in the order it must be done, with
 * nothing but GLib, json-glib and libdbus (no project code), so that it can
 * be copied out of the tree.
 *
 * The app owns the connections ("fd mode", docs/migration.md): the daemons
 * never dial each other, the app hands each of them one end of every socket.
 * Here both daemons run on one machine, so a socketpair(2) stands in for a
 * connection between two hosts; a real app would hand each daemon its end of
 * a TCP connection (or of anything else that is a connected stream socket).
 *
 *   1. prepare-incoming {domain} to the destination daemon, with one end of
 *      the main channel attached; migrate {domain, channels} to the source
 *      daemon with the other end.  Both on the control socket: only it
 *      starts migrations.
 *   2. The source daemon asks for the extra (multifd) channels once the two
 *      drivers agreed on how many: CHANNELS_REQUESTED on the control socket,
 *      or the ChannelsRequested signal on D-Bus (--via dbus).  The app makes
 *      that many connections and hands one end of each to each daemon
 *      (add-channels, or SupplyChannels over D-Bus).
 *   3. The end: MIGRATION_DONE on the control sockets, or Finished over
 *      D-Bus.  Then it reads what was negotiated from the daemons' D-Bus
 *      objects (or, without a bus, from query-migration) and prints it.
 *
 * Exit status: 0 when the migration completed on both sides, 1 otherwise,
 * with the reason on stderr.  Every fd the app creates is closed before it
 * exits, on every path.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <dbus/dbus.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#define APP_NAME "vmig-example-app"

/* The daemon's D-Bus names (data/org.virtmigrate.*.xml). */
#define APP_BUS_NAME        "org.virtmigrate"
#define APP_MIGRATION_IFACE "org.virtmigrate.Migration1"
#define APP_MIGRATION_PATH  "/org/virtmigrate/migration"

/* The most fds one add-channels line may carry (the kernel's SCM_MAX_FD). */
#define APP_CONTROL_MAX_FDS 253
/*
 * The most fds one SupplyChannels call carries.  dbus-daemon refuses a
 * message with more than its max_message_unix_fds, which is 16 unless the
 * bus configuration raises it; more channels go in several calls.
 */
#define APP_DBUS_MAX_FDS 16

/* ---- errors --------------------------------------------------------------------- */

#define APP_ERROR (app_error_quark())

/* Returns: the domain of the app's own errors. */
static GQuark
app_error_quark(void)
{
    return g_quark_from_static_string("vmig-example-app-error");
}

typedef enum {
    APP_ERROR_USAGE,    /* bad command line */
    APP_ERROR_IO,       /* a socket call failed, or a daemon hung up */
    APP_ERROR_TIMEOUT,  /* --timeout ran out */
    APP_ERROR_PROTOCOL, /* a daemon said something we cannot understand */
    APP_ERROR_DAEMON,   /* a daemon answered a command with an error */
    APP_ERROR_DBUS,     /* a D-Bus call failed (the name and message are kept) */
} AppErrorCode;

/* ---- owned file descriptors ----------------------------------------------------- */

/* An fd that closes itself when it goes out of scope (GLib 2.74 has none). */
typedef int AppFd;

/* Closes *fdp when open and sets it to -1. */
static void
app_fd_clear(AppFd *fdp)
{
    if (*fdp >= 0) {
        close(*fdp);
        *fdp = -1;
    }
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AppFd, app_fd_clear)

/*
 * A set of fds owned together: the ends of the channel socketpairs.
 * Returns: an empty array whose fds are closed when it is freed.
 */
static GArray *
app_fd_array_new(void)
{
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));

    g_array_set_clear_func(fds, (GDestroyNotify)app_fd_clear);
    return fds;
}

/* libdbus objects freed by g_autoptr. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DBusMessage, dbus_message_unref)

/* ---- deadlines ------------------------------------------------------------------ */

/*
 * Every wait of the app is bounded by one deadline (--timeout from the
 * start), in g_get_monotonic_time() microseconds.
 * Returns: the milliseconds left (at least 1 while any is left), or 0 once
 * it has passed.
 */
static int
app_ms_left(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();

    if (left <= 0)
        return 0;
    return (int)MIN(MAX(left / 1000, 1), G_MAXINT);
}

/* ---- the control socket ---------------------------------------------------------- */

/*
 * One connection to a daemon's control socket (docs/control.md): one JSON
 * object per line, QMP style.  Events that arrive while we wait for a
 * command's answer are kept in @events for the next wait for an event, so
 * that none is lost (CHANNELS_REQUESTED may well arrive in the middle of
 * the answer to migrate).
 */
typedef struct {
    const char *role; /* "source" or "destination", for messages */
    const char *path;
    int fd;
    GString *in;   /* received bytes that do not make a line yet */
    GQueue events; /* JsonObject *, oldest first */
    gint64 next_id;
} AppControl;

/* Closes the connection and frees what it holds. */
static void
app_control_clear(AppControl *ctl)
{
    app_fd_clear(&ctl->fd);
    if (ctl->in)
        g_string_free(ctl->in, TRUE);
    ctl->in = NULL;
    g_queue_clear_full(&ctl->events, (GDestroyNotify)json_object_unref);
}

/*
 * Waits until @fd is readable, for at most until @deadline; @what says what
 * we wait for, for the timeout message.
 * Returns: TRUE when readable, or FALSE with @error set.
 */
static gboolean
app_wait_readable(int fd, gint64 deadline, const char *what, GError **error)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ms = app_ms_left(deadline);
        int rc;

        if (ms == 0) {
            g_set_error(error, APP_ERROR, APP_ERROR_TIMEOUT, "timed out waiting for %s",
                        what);
            return FALSE;
        }
        rc = poll(&pfd, 1, ms);
        if (rc > 0)
            return TRUE;
        if (rc < 0 && errno != EINTR) {
            g_set_error(error, APP_ERROR, APP_ERROR_IO, "poll: %s", g_strerror(errno));
            return FALSE;
        }
    }
}

/*
 * Reads the next line from the daemon and parses it.
 * Returns: the line's JSON object, or NULL with @error set.
 */
static JsonObject *
app_control_read(AppControl *ctl, gint64 deadline, const char *what, GError **error)
{
    for (;;) {
        char *nl = memchr(ctl->in->str, '\n', ctl->in->len);
        char buf[4096];
        ssize_t n;

        if (nl) {
            g_autoptr(JsonParser) parser = json_parser_new();
            g_autofree char *line = g_strndup(ctl->in->str, nl - ctl->in->str);
            JsonNode *root;

            g_string_erase(ctl->in, 0, nl - ctl->in->str + 1);
            if (!json_parser_load_from_data(parser, line, -1, NULL) ||
                !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error(error, APP_ERROR, APP_ERROR_PROTOCOL,
                            "the %s daemon sent a line that is not a JSON object: %.80s",
                            ctl->role, line);
                return NULL;
            }
            return json_object_ref(json_node_get_object(root));
        }

        if (!app_wait_readable(ctl->fd, deadline, what, error))
            return NULL;
        n = recv(ctl->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, APP_ERROR, APP_ERROR_IO, "reading from the %s daemon: %s",
                        ctl->role, g_strerror(errno));
            return NULL;
        }
        if (n == 0) {
            g_set_error(error, APP_ERROR, APP_ERROR_IO,
                        "the %s daemon closed its control socket %s", ctl->role,
                        ctl->path);
            return NULL;
        }
        g_string_append_len(ctl->in, buf, n);
    }
}

/* Returns: the object member @name of @object (borrowed), or NULL. */
static JsonObject *
app_object_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

static JsonNode *app_control_execute(AppControl *ctl, const char *command,
                                     JsonObject *args, const int *fds, guint nfds,
                                     gint64 deadline, GError **error);

/*
 * Connects to the control socket at @path, checks the greeting (QMP's,
 * whose version's "package" is "virt-migrated VERSION"), so that a wrong
 * path fails here with a clear message rather than later with a strange
 * one, and ends capabilities negotiation as every QMP client does: the
 * daemon takes no other command, and sends no event, before
 * qmp_capabilities.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
app_control_connect(AppControl *ctl, const char *role, const char *path, gint64 deadline,
                    GError **error)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_autoptr(JsonObject) greeting = NULL;
    g_autoptr(JsonNode) negotiated = NULL;
    JsonObject *qmp, *version;
    const char *package = NULL;

    ctl->role = role;
    ctl->path = path;
    ctl->in = g_string_new(NULL);
    ctl->next_id = 1;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(error, APP_ERROR, APP_ERROR_USAGE,
                    "the %s control socket path is too long: %s", role, path);
        return FALSE;
    }
    strcpy(addr.sun_path, path);
    ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ctl->fd < 0 || connect(ctl->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        g_set_error(error, APP_ERROR, APP_ERROR_IO,
                    "cannot connect to the %s daemon's control socket %s: %s", role, path,
                    g_strerror(errno));
        return FALSE;
    }

    greeting = app_control_read(ctl, deadline, "the daemon's greeting", error);
    if (!greeting)
        return FALSE;
    qmp = app_object_member(greeting, "QMP");
    version = qmp ? app_object_member(qmp, "version") : NULL;
    if (version)
        package = json_object_get_string_member_with_default(version, "package", NULL);
    if (!package || !g_str_has_prefix(package, "virt-migrated ")) {
        g_set_error(error, APP_ERROR, APP_ERROR_PROTOCOL,
                    "%s is not a virt-migrated control socket", path);
        return FALSE;
    }
    negotiated =
        app_control_execute(ctl, "qmp_capabilities", NULL, NULL, 0, deadline, error);
    return negotiated != NULL;
}

/*
 * Writes one command line, with @fds (borrowed) attached by SCM_RIGHTS to
 * the same sendmsg as the line's first byte, as docs/control.md asks.  The
 * kernel gives the daemon its own copies; ours stay ours to close.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
app_control_send(AppControl *ctl, const char *line, const int *fds, guint nfds,
                 GError **error)
{
    gsize len = strlen(line), done = 0;

    while (done < len) {
        struct iovec iov = {.iov_base = (char *)line + done, .iov_len = len - done};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        union {
            char buf[CMSG_SPACE(sizeof(int) * APP_CONTROL_MAX_FDS)];
            struct cmsghdr align;
        } control;
        ssize_t n;

        if (done == 0 && nfds > 0) {
            struct cmsghdr *cmsg;

            memset(&control, 0, sizeof(control));
            msg.msg_control = control.buf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            cmsg = CMSG_FIRSTHDR(&msg);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
        }
        /* MSG_NOSIGNAL: a daemon that went away is an error, not a SIGPIPE. */
        n = sendmsg(ctl->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, APP_ERROR, APP_ERROR_IO, "writing to the %s daemon: %s",
                        ctl->role, g_strerror(errno));
            return FALSE;
        }
        done += n;
    }
    return TRUE;
}

/*
 * Runs one command: {"execute": @command, "arguments": @args, "id": N},
 * with @fds (borrowed) attached, and waits for the answer with that id.
 * Events read meanwhile are queued for app_control_wait_event().
 * Returns: the answer's "return" value, or NULL with @error set; an
 * {"error": ...} answer becomes an error that quotes the daemon's desc.
 */
static JsonNode *
app_control_execute(AppControl *ctl, const char *command, JsonObject *args,
                    const int *fds, guint nfds, gint64 deadline, GError **error)
{
    g_autoptr(JsonObject) cmd = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;
    g_autofree char *what =
        g_strdup_printf("the %s daemon's answer to %s", ctl->role, command);
    gint64 id = ctl->next_id++;

    json_object_set_string_member(cmd, "execute", command);
    if (args)
        json_object_set_object_member(cmd, "arguments", json_object_ref(args));
    json_object_set_int_member(cmd, "id", id);
    json_node_set_object(node, cmd);
    /* Not pretty-printed, json_to_string() puts no newline inside: one line. */
    text = json_to_string(node, FALSE);
    line = g_strconcat(text, "\n", NULL);
    if (!app_control_send(ctl, line, fds, nfds, error))
        return NULL;

    for (;;) {
        g_autoptr(JsonObject) reply = app_control_read(ctl, deadline, what, error);
        JsonNode *reply_id;

        if (!reply)
            return NULL;
        if (json_object_has_member(reply, "event")) {
            g_queue_push_tail(&ctl->events, g_steal_pointer(&reply));
            continue;
        }
        reply_id = json_object_get_member(reply, "id");
        if (!reply_id || json_node_get_value_type(reply_id) != G_TYPE_INT64 ||
            json_node_get_int(reply_id) != id)
            continue; /* not ours: answers are matched by id */

        if (json_object_has_member(reply, "error")) {
            JsonObject *err = json_object_get_object_member(reply, "error");
            const char *desc = err ? json_object_get_string_member_with_default(
                                         err, "desc", "(no description)")
                                   : "(no description)";

            g_set_error(error, APP_ERROR, APP_ERROR_DAEMON,
                        "the %s daemon refused %s: %s", ctl->role, command, desc);
            return NULL;
        }
        if (!json_object_has_member(reply, "return")) {
            g_set_error(error, APP_ERROR, APP_ERROR_PROTOCOL,
                        "the %s daemon's answer to %s has neither return nor error",
                        ctl->role, command);
            return NULL;
        }
        return json_node_copy(json_object_get_member(reply, "return"));
    }
}

/*
 * Like app_control_execute(), for the commands that answer
 * {"migration": ID}.
 * Returns: the migration id (to free), or NULL with @error set.
 */
static char *
app_control_start(AppControl *ctl, const char *command, JsonObject *args, const int *fds,
                  guint nfds, gint64 deadline, GError **error)
{
    g_autoptr(JsonNode) ret =
        app_control_execute(ctl, command, args, fds, nfds, deadline, error);
    const char *id = NULL;

    if (!ret)
        return NULL;
    if (JSON_NODE_HOLDS_OBJECT(ret))
        id = json_object_get_string_member_with_default(json_node_get_object(ret),
                                                        "migration", NULL);
    if (!id) {
        g_set_error(error, APP_ERROR, APP_ERROR_PROTOCOL,
                    "the %s daemon's answer to %s names no migration", ctl->role,
                    command);
        return NULL;
    }
    return g_strdup(id);
}

/*
 * Waits for the next event called @name1 or @name2 (NULL: none) about
 * migration @id; every other event is dropped.
 * Returns: the whole event object ({"event", "data", ...}), or NULL with
 * @error set.
 */
static JsonObject *
app_control_wait_event(AppControl *ctl, const char *id, const char *name1,
                       const char *name2, gint64 deadline, GError **error)
{
    g_autofree char *what = g_strdup_printf("%s from the %s daemon", name1, ctl->role);

    for (;;) {
        g_autoptr(JsonObject) event = g_queue_pop_head(&ctl->events);
        const char *name;
        JsonObject *data;

        if (!event)
            event = app_control_read(ctl, deadline, what, error);
        if (!event)
            return NULL;
        name = json_object_get_string_member_with_default(event, "event", "");
        data = json_object_get_object_member(event, "data");
        if (!data ||
            g_strcmp0(json_object_get_string_member_with_default(data, "migration", NULL),
                      id) != 0)
            continue; /* some other migration of this daemon */
        if (g_str_equal(name, name1) || g_strcmp0(name, name2) == 0)
            return g_steal_pointer(&event);
    }
}

/* ---- D-Bus ---------------------------------------------------------------------- */

/*
 * One private connection to the bus a daemon owns org.virtmigrate on.
 * Private (dbus_connection_open_private) because the source and the
 * destination daemons may be on two different buses; in production both
 * are "the system bus", each on its own host.
 */
typedef struct {
    const char *role; /* "source" or "destination" */
    const char *address;
    DBusConnection *conn;
    char *owner; /* the unique name that owns org.virtmigrate */
} AppBus;

/* Closes the connection and frees what it holds. */
static void
app_bus_clear(AppBus *bus)
{
    if (bus->conn) {
        dbus_connection_close(bus->conn);
        dbus_connection_unref(bus->conn);
        bus->conn = NULL;
    }
    g_clear_pointer(&bus->owner, g_free);
}

/*
 * The one place where libdbus errors become GErrors: "WHAT: NAME: MESSAGE",
 * e.g. "SupplyChannels on /org/virtmigrate/migration/m1 (source bus):
 * org.virtmigrate.Error.InvalidState: ...".  Frees @derr.
 */
static void
app_set_dbus_error(GError **error, DBusError *derr, const char *what)
{
    if (dbus_error_has_name(derr, DBUS_ERROR_NO_REPLY) ||
        dbus_error_has_name(derr, DBUS_ERROR_TIMEOUT))
        g_set_error(error, APP_ERROR, APP_ERROR_TIMEOUT, "%s: timed out (%s: %s)", what,
                    derr->name, derr->message);
    else
        g_set_error(error, APP_ERROR, APP_ERROR_DBUS, "%s: %s: %s", what, derr->name,
                    derr->message);
    dbus_error_free(derr);
}

/*
 * Sends @call and waits for its reply, for at most until @deadline.
 * Returns: the reply, or NULL with @error set (an error reply included).
 */
static DBusMessage *
app_bus_call(AppBus *bus, DBusMessage *call, gint64 deadline, GError **error)
{
    g_autofree char *what =
        g_strdup_printf("%s on %s (%s bus)", dbus_message_get_member(call),
                        dbus_message_get_path(call), bus->role);
    DBusError derr = DBUS_ERROR_INIT;
    DBusMessage *reply;
    int ms = app_ms_left(deadline);

    if (ms == 0) {
        g_set_error(error, APP_ERROR, APP_ERROR_TIMEOUT, "%s: timed out", what);
        return NULL;
    }
    reply = dbus_connection_send_with_reply_and_block(bus->conn, call, ms, &derr);
    if (!reply) {
        app_set_dbus_error(error, &derr, what);
        return NULL;
    }
    return reply;
}

/*
 * Connects to the bus at @address and finds the daemon on it.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
app_bus_open(AppBus *bus, const char *role, const char *address, gint64 deadline,
             GError **error)
{
    g_autofree char *what = g_strdup_printf("the %s bus %s", role, address);
    g_autoptr(DBusMessage) call = NULL;
    g_autoptr(DBusMessage) reply = NULL;
    DBusError derr = DBUS_ERROR_INIT;
    const char *name = APP_BUS_NAME;
    const char *owner = NULL;

    bus->role = role;
    bus->address = address;
    bus->conn = dbus_connection_open_private(address, &derr);
    if (!bus->conn) {
        app_set_dbus_error(error, &derr, what);
        return FALSE;
    }
    if (!dbus_bus_register(bus->conn, &derr)) {
        app_set_dbus_error(error, &derr, what);
        return FALSE;
    }

    /*
     * Who is org.virtmigrate?  Signals are checked against this unique
     * name: anyone on a bus may send a signal that looks like the daemon's
     * straight to us, whatever our match rules say.
     */
    call = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS,
                                        DBUS_INTERFACE_DBUS, "GetNameOwner");
    if (!call ||
        !dbus_message_append_args(call, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID))
        g_error("out of memory");
    reply = app_bus_call(bus, call, deadline, error);
    if (!reply) {
        g_prefix_error(error, "virt-migrated is not on the %s bus: ", role);
        return FALSE;
    }
    if (!dbus_message_get_args(reply, &derr, DBUS_TYPE_STRING, &owner,
                               DBUS_TYPE_INVALID)) {
        app_set_dbus_error(error, &derr, what);
        return FALSE;
    }
    bus->owner = g_strdup(owner);
    return TRUE;
}

/*
 * Subscribes to the signals of every migration object of the daemon.  The
 * match rule must be in place before the migration starts, or a signal
 * sent before we ask for it is lost; and since a migration's id (hence its
 * object path) is only known from the answer to migrate, the rule takes
 * every path under /org/virtmigrate/migration (path_namespace), and
 * app_bus_wait_signal() checks the path of each signal itself.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
app_bus_subscribe(AppBus *bus, GError **error)
{
    static const char rule[] = "type='signal',sender='" APP_BUS_NAME "',"
                               "interface='" APP_MIGRATION_IFACE "',"
                               "path_namespace='" APP_MIGRATION_PATH "'";
    DBusError derr = DBUS_ERROR_INIT;

    dbus_bus_add_match(bus->conn, rule, &derr);
    if (dbus_error_is_set(&derr)) {
        g_autofree char *what = g_strdup_printf("AddMatch on the %s bus", bus->role);

        app_set_dbus_error(error, &derr, what);
        return FALSE;
    }
    return TRUE;
}

/*
 * Waits for the signal @member1 or @member2 (NULL: none) of the migration
 * object @path, sent by the daemon; everything else that arrives is
 * dropped (other migrations' signals, Progress, NameAcquired, ...).
 * Returns: the signal, or NULL with @error set.
 */
static DBusMessage *
app_bus_wait_signal(AppBus *bus, const char *path, const char *member1,
                    const char *member2, gint64 deadline, GError **error)
{
    for (;;) {
        g_autoptr(DBusMessage) msg = dbus_connection_pop_message(bus->conn);
        int ms;

        if (msg) {
            if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected")) {
                g_set_error(error, APP_ERROR, APP_ERROR_IO, "the %s bus %s hung up",
                            bus->role, bus->address);
                return NULL;
            }
            if (dbus_message_get_type(msg) == DBUS_MESSAGE_TYPE_SIGNAL &&
                g_strcmp0(dbus_message_get_sender(msg), bus->owner) == 0 &&
                g_strcmp0(dbus_message_get_path(msg), path) == 0 &&
                (dbus_message_is_signal(msg, APP_MIGRATION_IFACE, member1) ||
                 (member2 && dbus_message_is_signal(msg, APP_MIGRATION_IFACE, member2))))
                return g_steal_pointer(&msg);
            continue;
        }

        ms = app_ms_left(deadline);
        if (ms == 0) {
            g_set_error(error, APP_ERROR, APP_ERROR_TIMEOUT,
                        "timed out waiting for the signal %s of %s (%s bus)", member1,
                        path, bus->role);
            return NULL;
        }
        /* Blocks until something arrives (then queued for pop) or @ms pass. */
        if (!dbus_connection_read_write(bus->conn, ms)) {
            g_set_error(error, APP_ERROR, APP_ERROR_IO, "the %s bus %s hung up",
                        bus->role, bus->address);
            return NULL;
        }
    }
}

/*
 * Hands @nfds fds (borrowed) to the migration object @path with
 * SupplyChannels(ah), in calls of at most APP_DBUS_MAX_FDS.  libdbus
 * duplicates each fd into the message: ours stay ours to close.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
app_bus_supply_channels(AppBus *bus, const char *path, const int *fds, guint nfds,
                        gint64 deadline, GError **error)
{
    guint done = 0;

    if (!dbus_connection_can_send_type(bus->conn, DBUS_TYPE_UNIX_FD)) {
        g_set_error(error, APP_ERROR, APP_ERROR_DBUS,
                    "the %s bus %s cannot carry file descriptors", bus->role,
                    bus->address);
        return FALSE;
    }
    while (done < nfds) {
        g_autoptr(DBusMessage) call = dbus_message_new_method_call(
            APP_BUS_NAME, path, APP_MIGRATION_IFACE, "SupplyChannels");
        g_autoptr(DBusMessage) reply = NULL;
        guint batch = MIN(nfds - done, APP_DBUS_MAX_FDS);
        DBusMessageIter iter, array;

        if (!call)
            g_error("out of memory");
        dbus_message_iter_init_append(call, &iter);
        if (!dbus_message_iter_open_container(&iter, DBUS_TYPE_ARRAY,
                                              DBUS_TYPE_UNIX_FD_AS_STRING, &array))
            g_error("out of memory");
        for (guint i = 0; i < batch; i++) {
            if (!dbus_message_iter_append_basic(&array, DBUS_TYPE_UNIX_FD,
                                                &fds[done + i])) {
                /* libdbus dup()s the fd here: this fails when we are out of fds. */
                dbus_message_iter_abandon_container(&iter, &array);
                g_set_error(error, APP_ERROR, APP_ERROR_IO,
                            "cannot add channel fd %d to SupplyChannels (out of fds?)",
                            fds[done + i]);
                return FALSE;
            }
        }
        if (!dbus_message_iter_close_container(&iter, &array))
            g_error("out of memory");

        reply = app_bus_call(bus, call, deadline, error);
        if (!reply)
            return FALSE;
        done += batch;
    }
    return TRUE;
}

/* ---- what was negotiated -------------------------------------------------------- */

/* The facts printed at the end, from D-Bus properties or query-migration. */
typedef struct {
    char *state;
    guint32 version;     /* 0: not negotiated */
    guint32 channels;    /* extra (multifd) channels in use */
    GPtrArray *features; /* char *, the chosen features */
    char *hypervisor;
    char *peer_hypervisor;
} AppSummary;

/* Frees what @s holds. */
static void
app_summary_clear(AppSummary *s)
{
    g_clear_pointer(&s->state, g_free);
    g_clear_pointer(&s->features, g_ptr_array_unref);
    g_clear_pointer(&s->hypervisor, g_free);
    g_clear_pointer(&s->peer_hypervisor, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AppSummary, app_summary_clear)

/* Replaces the string *@dst with a copy of @src. */
static void
app_replace_string(char **dst, const char *src)
{
    g_free(*dst);
    *dst = g_strdup(src);
}

/*
 * Reads one property value from @variant (an iterator on a "v") into @s,
 * when @name is one we print and its type is the one the interface says.
 * An unknown or ill-typed property is skipped.
 */
static void
app_summary_take_property(AppSummary *s, const char *name, DBusMessageIter *variant)
{
    int type = dbus_message_iter_get_arg_type(variant);
    const char *str;

    if (type == DBUS_TYPE_STRING) {
        dbus_message_iter_get_basic(variant, &str);
        if (g_str_equal(name, "State"))
            app_replace_string(&s->state, str);
        else if (g_str_equal(name, "Hypervisor"))
            app_replace_string(&s->hypervisor, str);
        else if (g_str_equal(name, "PeerHypervisor"))
            app_replace_string(&s->peer_hypervisor, str);
    } else if (type == DBUS_TYPE_UINT32) {
        dbus_uint32_t u;

        dbus_message_iter_get_basic(variant, &u);
        if (g_str_equal(name, "ProtocolVersion"))
            s->version = u;
        else if (g_str_equal(name, "Channels"))
            s->channels = u;
    } else if (type == DBUS_TYPE_ARRAY && g_str_equal(name, "Features") &&
               dbus_message_iter_get_element_type(variant) == DBUS_TYPE_STRING) {
        DBusMessageIter array;

        dbus_message_iter_recurse(variant, &array);
        while (dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_STRING) {
            dbus_message_iter_get_basic(&array, &str);
            g_ptr_array_add(s->features, g_strdup(str));
            dbus_message_iter_next(&array);
        }
    }
}

/*
 * Reads the properties of the migration object @path with one
 * org.freedesktop.DBus.Properties.GetAll call (readable by any user on the
 * system bus, unlike the methods).
 * Returns: TRUE with @s filled, or FALSE with @error set.
 */
static gboolean
app_bus_get_summary(AppBus *bus, const char *path, AppSummary *s, gint64 deadline,
                    GError **error)
{
    g_autoptr(DBusMessage) call = dbus_message_new_method_call(
        APP_BUS_NAME, path, DBUS_INTERFACE_PROPERTIES, "GetAll");
    g_autoptr(DBusMessage) reply = NULL;
    const char *iface = APP_MIGRATION_IFACE;
    DBusMessageIter iter, dict;

    if (!call ||
        !dbus_message_append_args(call, DBUS_TYPE_STRING, &iface, DBUS_TYPE_INVALID))
        g_error("out of memory");
    reply = app_bus_call(bus, call, deadline, error);
    if (!reply)
        return FALSE;
    if (!g_str_equal(dbus_message_get_signature(reply), "a{sv}")) {
        g_set_error(error, APP_ERROR, APP_ERROR_PROTOCOL,
                    "GetAll on %s (%s bus) answered '%s', not a{sv}", path, bus->role,
                    dbus_message_get_signature(reply));
        return FALSE;
    }

    s->features = g_ptr_array_new_with_free_func(g_free);
    dbus_message_iter_init(reply, &iter);
    dbus_message_iter_recurse(&iter, &dict);
    while (dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY) {
        DBusMessageIter entry, variant;
        const char *name;

        dbus_message_iter_recurse(&dict, &entry);
        dbus_message_iter_get_basic(&entry, &name);
        dbus_message_iter_next(&entry);
        dbus_message_iter_recurse(&entry, &variant);
        app_summary_take_property(s, name, &variant);
        dbus_message_iter_next(&dict);
    }
    return TRUE;
}

/*
 * Without a bus, the same facts from the control socket's negotiation
 * record (query-migration, docs/migration.md).
 * Returns: TRUE with @s filled, or FALSE with @error set.
 */
static gboolean
app_control_get_summary(AppControl *ctl, const char *id, AppSummary *s, gint64 deadline,
                        GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonNode) ret = NULL;
    JsonObject *rec, *channels;
    JsonArray *features;

    json_object_set_string_member(args, "migration", id);
    ret = app_control_execute(ctl, "query-migration", args, NULL, 0, deadline, error);
    if (!ret)
        return FALSE;
    if (!JSON_NODE_HOLDS_OBJECT(ret)) {
        g_set_error(error, APP_ERROR, APP_ERROR_PROTOCOL,
                    "the %s daemon's record of %s is not an object", ctl->role, id);
        return FALSE;
    }
    rec = json_node_get_object(ret);
    s->state = g_strdup(json_object_get_string_member_with_default(rec, "state", "?"));
    s->version = json_object_get_int_member_with_default(rec, "version", 0);
    channels = json_object_get_object_member(rec, "channels");
    s->channels =
        channels ? json_object_get_int_member_with_default(channels, "received", 0) : 0;
    s->hypervisor =
        g_strdup(json_object_get_string_member_with_default(rec, "hypervisor", ""));
    s->peer_hypervisor =
        g_strdup(json_object_get_string_member_with_default(rec, "peer-hypervisor", ""));
    s->features = g_ptr_array_new_with_free_func(g_free);
    features = json_object_get_array_member(rec, "features");
    for (guint i = 0; features && i < json_array_get_length(features); i++) {
        JsonObject *f = json_array_get_object_element(features, i);
        const char *name =
            f ? json_object_get_string_member_with_default(f, "name", NULL) : NULL;

        if (name)
            g_ptr_array_add(s->features, g_strdup(name));
    }
    return TRUE;
}

/*
 * Prints one side's summary:
 *   source m1: completed, protocol 1, 4 channels
 *     features: multifd, return-path
 *     hypervisor: QEMU 7.2.22 / peer: QEMU 7.2.22
 */
static void
app_summary_print(const char *role, const char *id, const AppSummary *s)
{
    g_autoptr(GString) features = g_string_new(NULL);

    for (guint i = 0; i < s->features->len; i++)
        g_string_append_printf(features, "%s%s", i ? ", " : "",
                               (const char *)g_ptr_array_index(s->features, i));
    printf("%s %s: %s, protocol %u, %u channel%s\n", role, id, s->state ?: "?",
           s->version, s->channels, s->channels == 1 ? "" : "s");
    printf("  features: %s\n", features->len ? features->str : "none");
    printf("  hypervisor: %s / peer: %s\n",
           s->hypervisor && *s->hypervisor ? s->hypervisor : "?",
           s->peer_hypervisor && *s->peer_hypervisor ? s->peer_hypervisor : "?");
}

/* ---- the migration -------------------------------------------------------------- */

typedef enum { APP_VIA_CONTROL, APP_VIA_DBUS, APP_VIA_LAST } AppVia;

static const char *const app_via_names[] = {
    [APP_VIA_CONTROL] = "control",
    [APP_VIA_DBUS] = "dbus",
};
G_STATIC_ASSERT(G_N_ELEMENTS(app_via_names) == APP_VIA_LAST);

typedef struct {
    /* the command line */
    char *source_socket, *dest_socket;
    char *source_domain, *dest_domain;
    char *source_bus_address, *dest_bus_address;
    char *via_name;
    char **tunables;
    int channels;
    int timeout;
    AppVia via;

    /* what the run holds (cleared by app_clear) */
    gint64 deadline;
    AppControl src, dst;
    AppBus src_bus, dst_bus;
    char *src_id, *dst_id;     /* "m1", from each daemon */
    char *src_path, *dst_path; /* their D-Bus object paths */
    char *src_result, *dst_result;
    char *src_error, *dst_error;
} App;

/* Closes and frees everything @app holds. */
static void
app_clear(App *app)
{
    app_control_clear(&app->src);
    app_control_clear(&app->dst);
    app_bus_clear(&app->src_bus);
    app_bus_clear(&app->dst_bus);
    g_free(app->source_socket);
    g_free(app->dest_socket);
    g_free(app->source_domain);
    g_free(app->dest_domain);
    g_free(app->source_bus_address);
    g_free(app->dest_bus_address);
    g_free(app->via_name);
    g_strfreev(app->tunables);
    g_free(app->src_id);
    g_free(app->dst_id);
    g_free(app->src_path);
    g_free(app->dst_path);
    g_free(app->src_result);
    g_free(app->dst_result);
    g_free(app->src_error);
    g_free(app->dst_error);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(App, app_clear)

/*
 * Step 1: the main channel.  One socketpair: the destination daemon gets
 * one end with prepare-incoming, the source daemon the other with
 * migrate.  The destination goes first, so that it is waiting when the
 * source starts the handshake.  Our two ends are closed as soon as the
 * daemons have their copies.
 * Returns: TRUE with both migration ids known, or FALSE with @error set.
 */
static gboolean
app_start(App *app, GError **error)
{
    g_auto(AppFd) src_end = -1;
    g_auto(AppFd) dst_end = -1;
    g_autoptr(JsonObject) dst_args = json_object_new();
    g_autoptr(JsonObject) src_args = json_object_new();
    int pair[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        g_set_error(error, APP_ERROR, APP_ERROR_IO, "socketpair: %s", g_strerror(errno));
        return FALSE;
    }
    src_end = pair[0];
    dst_end = pair[1];

    json_object_set_string_member(dst_args, "domain", app->dest_domain);
    app->dst_id = app_control_start(&app->dst, "prepare-incoming", dst_args, &dst_end, 1,
                                    app->deadline, error);
    if (!app->dst_id)
        return FALSE;
    printf("destination: prepared %s for %s\n", app->dst_id, app->dest_domain);

    json_object_set_string_member(src_args, "domain", app->source_domain);
    json_object_set_int_member(src_args, "channels", app->channels);
    if (app->tunables) {
        /* Checked by the source daemon against its QEMU's own schema. */
        JsonArray *tunables = json_array_new();

        for (char **t = app->tunables; *t; t++)
            json_array_add_string_element(tunables, *t);
        json_object_set_array_member(src_args, "tunables", tunables);
    }
    app->src_id = app_control_start(&app->src, "migrate", src_args, &src_end, 1,
                                    app->deadline, error);
    if (!app->src_id)
        return FALSE;
    printf("source: migration %s of %s started, %d extra channel%s asked for\n",
           app->src_id, app->source_domain, app->channels, app->channels == 1 ? "" : "s");

    app->src_path = g_strdup_printf(APP_MIGRATION_PATH "/%s", app->src_id);
    app->dst_path = g_strdup_printf(APP_MIGRATION_PATH "/%s", app->dst_id);
    return TRUE;
}

/*
 * Makes @count connections (socketpairs) and hands the first ends to the
 * source daemon, the second ends to the destination daemon, over the
 * control sockets (add-channels) or D-Bus (SupplyChannels).  The source
 * gets its ends first: it writes each channel's preamble, which the
 * destination then reads.
 * Returns: TRUE, or FALSE with @error set; every fd made is closed either way.
 */
static gboolean
app_supply_channels(App *app, guint count, GError **error)
{
    g_autoptr(GArray) src_ends = app_fd_array_new();
    g_autoptr(GArray) dst_ends = app_fd_array_new();

    for (guint i = 0; i < count; i++) {
        int pair[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
            g_set_error(error, APP_ERROR, APP_ERROR_IO, "socketpair: %s",
                        g_strerror(errno));
            return FALSE;
        }
        g_array_append_val(src_ends, pair[0]);
        g_array_append_val(dst_ends, pair[1]);
    }

    if (app->via == APP_VIA_DBUS) {
        if (!app_bus_supply_channels(&app->src_bus, app->src_path, (int *)src_ends->data,
                                     count, app->deadline, error) ||
            !app_bus_supply_channels(&app->dst_bus, app->dst_path, (int *)dst_ends->data,
                                     count, app->deadline, error))
            return FALSE;
    } else {
        AppControl *ctls[] = {&app->src, &app->dst};
        GArray *ends[] = {src_ends, dst_ends};
        const char *ids[] = {app->src_id, app->dst_id};

        for (guint side = 0; side < G_N_ELEMENTS(ctls); side++) {
            for (guint done = 0; done < count; done += APP_CONTROL_MAX_FDS) {
                g_autoptr(JsonObject) args = json_object_new();
                g_autoptr(JsonNode) ret = NULL;

                json_object_set_string_member(args, "migration", ids[side]);
                ret = app_control_execute(
                    ctls[side], "add-channels", args, (int *)ends[side]->data + done,
                    MIN(count - done, APP_CONTROL_MAX_FDS), app->deadline, error);
                if (!ret)
                    return FALSE;
            }
        }
    }
    printf("supplied %u channel%s to both daemons (via %s)\n", count,
           count == 1 ? "" : "s", app_via_names[app->via]);
    return TRUE;
}

/*
 * Keeps a finished migration's result (MIGRATION_DONE data, or the
 * Finished signal's arguments).
 */
static void
app_set_result(char **result, char **err, const char *r, const char *e)
{
    g_free(*result);
    g_free(*err);
    *result = g_strdup(r && *r ? r : "failed");
    *err = g_strdup(e && *e ? e : NULL);
}

/* Keeps the result of a MIGRATION_DONE @event. */
static void
app_take_done_event(JsonObject *event, char **result, char **err)
{
    JsonObject *data = json_object_get_object_member(event, "data");

    app_set_result(result, err,
                   json_object_get_string_member_with_default(data, "result", NULL),
                   json_object_get_string_member_with_default(data, "error", NULL));
}

/* Keeps the result of a Finished(ss) @signal. */
static void
app_take_finished_signal(DBusMessage *signal, char **result, char **err)
{
    const char *r = NULL, *e = NULL;

    if (!dbus_message_get_args(signal, NULL, DBUS_TYPE_STRING, &r, DBUS_TYPE_STRING, &e,
                               DBUS_TYPE_INVALID)) {
        r = "failed";
        e = "a Finished signal with arguments other than (ss)";
    }
    app_set_result(result, err, r, e);
}

/*
 * Step 2: the source daemon asks for the extra channels once the drivers
 * have agreed; the app supplies them.  It may also fail before it asks
 * (the peer refused, say): that end is kept and step 3 has nothing to do.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
app_answer_channel_request(App *app, GError **error)
{
    guint count;

    if (app->channels == 0)
        return TRUE; /* the main channel only: nothing will be asked */

    if (app->via == APP_VIA_DBUS) {
        g_autoptr(DBusMessage) signal =
            app_bus_wait_signal(&app->src_bus, app->src_path, "ChannelsRequested",
                                "Finished", app->deadline, error);
        dbus_uint32_t n = 0;

        if (!signal)
            return FALSE;
        if (dbus_message_has_member(signal, "Finished")) {
            app_take_finished_signal(signal, &app->src_result, &app->src_error);
            return TRUE;
        }
        if (!dbus_message_get_args(signal, NULL, DBUS_TYPE_UINT32, &n,
                                   DBUS_TYPE_INVALID)) {
            g_set_error(error, APP_ERROR, APP_ERROR_PROTOCOL,
                        "ChannelsRequested of %s carries no count", app->src_path);
            return FALSE;
        }
        count = n;
    } else {
        g_autoptr(JsonObject) event =
            app_control_wait_event(&app->src, app->src_id, "CHANNELS_REQUESTED",
                                   "MIGRATION_DONE", app->deadline, error);
        JsonObject *data;

        if (!event)
            return FALSE;
        if (g_str_equal(json_object_get_string_member(event, "event"),
                        "MIGRATION_DONE")) {
            app_take_done_event(event, &app->src_result, &app->src_error);
            return TRUE;
        }
        /* The token is for the daemons' preambles: the app needs only the count. */
        data = json_object_get_object_member(event, "data");
        count = json_object_get_int_member_with_default(data, "count", 0);
    }
    printf("source: %s asks for %u channel%s\n", app->src_id, count,
           count == 1 ? "" : "s");
    if (count == 0)
        return TRUE;
    return app_supply_channels(app, count, error);
}

/*
 * Step 3: waits until each side's migration has finished, source first.
 * Returns: TRUE with both results known, or FALSE with @error set.
 */
static gboolean
app_wait_finished(App *app, GError **error)
{
    struct {
        const char *id, *path;
        AppControl *ctl;
        AppBus *bus;
        char **result, **err;
    } sides[] = {
        {app->src_id, app->src_path, &app->src, &app->src_bus, &app->src_result,
         &app->src_error},
        {app->dst_id, app->dst_path, &app->dst, &app->dst_bus, &app->dst_result,
         &app->dst_error},
    };

    for (guint i = 0; i < G_N_ELEMENTS(sides); i++) {
        if (*sides[i].result)
            continue; /* it already ended in step 2 */
        if (app->via == APP_VIA_DBUS) {
            g_autoptr(DBusMessage) signal = app_bus_wait_signal(
                sides[i].bus, sides[i].path, "Finished", NULL, app->deadline, error);

            if (!signal)
                return FALSE;
            app_take_finished_signal(signal, sides[i].result, sides[i].err);
        } else {
            g_autoptr(JsonObject) event = app_control_wait_event(
                sides[i].ctl, sides[i].id, "MIGRATION_DONE", NULL, app->deadline, error);

            if (!event)
                return FALSE;
            app_take_done_event(event, sides[i].result, sides[i].err);
        }
    }
    printf("finished: source %s, destination %s\n", app->src_result, app->dst_result);
    return TRUE;
}

/*
 * Reads back and prints what each side negotiated, from its D-Bus object
 * when the app has its bus, else from query-migration.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
app_print_summaries(App *app, GError **error)
{
    struct {
        const char *role, *id, *path;
        AppControl *ctl;
        AppBus *bus;
    } sides[] = {
        {"source", app->src_id, app->src_path, &app->src, &app->src_bus},
        {"destination", app->dst_id, app->dst_path, &app->dst, &app->dst_bus},
    };

    for (guint i = 0; i < G_N_ELEMENTS(sides); i++) {
        g_auto(AppSummary) s = {0};
        gboolean ok;

        if (sides[i].bus->conn)
            ok = app_bus_get_summary(sides[i].bus, sides[i].path, &s, app->deadline,
                                     error);
        else
            ok = app_control_get_summary(sides[i].ctl, sides[i].id, &s, app->deadline,
                                         error);
        if (!ok)
            return FALSE;
        printf("\n%s", sides[i].bus->conn ? "(read from its D-Bus object's properties)\n"
                                          : "(read with query-migration)\n");
        app_summary_print(sides[i].role, sides[i].id, &s);
    }
    return TRUE;
}

/*
 * The whole run: connect, start, supply channels, wait, report.
 * Returns: TRUE when it ran to the end (whatever the migration's result),
 * or FALSE with @error set.
 */
static gboolean
app_run(App *app, GError **error)
{
    if (!app_control_connect(&app->src, "source", app->source_socket, app->deadline,
                             error) ||
        !app_control_connect(&app->dst, "destination", app->dest_socket, app->deadline,
                             error))
        return FALSE;
    if (app->source_bus_address &&
        !app_bus_open(&app->src_bus, "source", app->source_bus_address, app->deadline,
                      error))
        return FALSE;
    if (app->dest_bus_address &&
        !app_bus_open(&app->dst_bus, "destination", app->dest_bus_address, app->deadline,
                      error))
        return FALSE;
    /* Before anything starts: see app_bus_subscribe() on why. */
    if (app->via == APP_VIA_DBUS && (!app_bus_subscribe(&app->src_bus, error) ||
                                     !app_bus_subscribe(&app->dst_bus, error)))
        return FALSE;

    return app_start(app, error) && app_answer_channel_request(app, error) &&
           app_wait_finished(app, error) && app_print_summaries(app, error);
}

/*
 * After an error of the app's own (a timeout, a refused command, a D-Bus
 * failure), cancels each side's migration that has not finished, so that
 * neither daemon is left with a half-started one: a destination prepared
 * for a source that never came would wait for it for good.  The source
 * guest keeps running.  Best effort, with a deadline of its own since the
 * run's may be the very thing that ran out.
 */
static void
app_cancel_unfinished(App *app)
{
    struct {
        const char *role, *id, *result;
        AppControl *ctl;
    } sides[] = {
        {"source", app->src_id, app->src_result, &app->src},
        {"destination", app->dst_id, app->dst_result, &app->dst},
    };
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    for (guint i = 0; i < G_N_ELEMENTS(sides); i++) {
        g_autoptr(JsonObject) args = json_object_new();
        g_autoptr(JsonNode) ret = NULL;
        g_autoptr(GError) error = NULL;

        if (!sides[i].id || sides[i].result || sides[i].ctl->fd < 0)
            continue;
        json_object_set_string_member(args, "migration", sides[i].id);
        ret =
            app_control_execute(sides[i].ctl, "cancel", args, NULL, 0, deadline, &error);
        if (ret)
            fprintf(stderr, APP_NAME ": cancelled the %s's migration %s\n", sides[i].role,
                    sides[i].id);
        else
            fprintf(stderr, APP_NAME ": could not cancel the %s's migration %s: %s\n",
                    sides[i].role, sides[i].id, error->message);
    }
}

/*
 * Reads the command line into @app.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
app_parse_args(App *app, int *argc, char ***argv, GError **error)
{
    GOptionEntry entries[] = {
        {"source-socket", 0, 0, G_OPTION_ARG_FILENAME, &app->source_socket,
         "The source daemon's control socket", "PATH"},
        {"dest-socket", 0, 0, G_OPTION_ARG_FILENAME, &app->dest_socket,
         "The destination daemon's control socket", "PATH"},
        {"source-domain", 0, 0, G_OPTION_ARG_STRING, &app->source_domain,
         "The running source QEMU", "qmp:PATH"},
        {"dest-domain", 0, 0, G_OPTION_ARG_STRING, &app->dest_domain,
         "The destination QEMU (started with -incoming defer)", "qmp:PATH"},
        {"channels", 0, 0, G_OPTION_ARG_INT, &app->channels,
         "Extra (multifd) channels to ask for (default 4)", "N"},
        {"via", 0, 0, G_OPTION_ARG_STRING, &app->via_name,
         "Answer the channel request and follow the migration on the control sockets "
         "or over D-Bus (default control)",
         "control|dbus"},
        {"source-bus", 0, 0, G_OPTION_ARG_STRING, &app->source_bus_address,
         "The D-Bus address of the source daemon's bus", "ADDRESS"},
        {"dest-bus", 0, 0, G_OPTION_ARG_STRING, &app->dest_bus_address,
         "The D-Bus address of the destination daemon's bus", "ADDRESS"},
        {"tunable", 0, 0, G_OPTION_ARG_STRING_ARRAY, &app->tunables,
         "A QEMU migration parameter for the source (repeatable)", "NAME=VALUE"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &app->timeout,
         "Give up after this many seconds (default 60)", "SECONDS"},
        {NULL}};
    g_autoptr(GOptionContext) context =
        g_option_context_new("- migrate a QEMU guest through two virt-migrated daemons");
    guint i;

    app->channels = 4;
    app->timeout = 60;
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, argc, argv, error))
        return FALSE;

    if (*argc > 1) {
        g_set_error(error, APP_ERROR, APP_ERROR_USAGE, "unexpected argument '%s'",
                    (*argv)[1]);
        return FALSE;
    }
    if (!app->source_socket || !app->dest_socket || !app->source_domain ||
        !app->dest_domain) {
        g_set_error(error, APP_ERROR, APP_ERROR_USAGE,
                    "--source-socket, --dest-socket, --source-domain and --dest-domain "
                    "are all needed");
        return FALSE;
    }
    if (app->channels < 0 || app->timeout <= 0) {
        g_set_error(error, APP_ERROR, APP_ERROR_USAGE,
                    "--channels must be 0 or more and --timeout more than 0");
        return FALSE;
    }
    app->via = APP_VIA_LAST;
    for (i = 0; i < APP_VIA_LAST; i++) {
        if (g_str_equal(app->via_name ? app->via_name : "control", app_via_names[i]))
            app->via = i;
    }
    if (app->via == APP_VIA_LAST) {
        g_set_error(error, APP_ERROR, APP_ERROR_USAGE,
                    "--via must be control or dbus, not '%s'", app->via_name);
        return FALSE;
    }
    if (app->via == APP_VIA_DBUS &&
        (!app->source_bus_address || !app->dest_bus_address)) {
        g_set_error(error, APP_ERROR, APP_ERROR_USAGE,
                    "--via dbus needs --source-bus and --dest-bus");
        return FALSE;
    }
    return TRUE;
}

int
main(int argc, char **argv)
{
    g_auto(App) app = {.src.fd = -1, .dst.fd = -1};
    g_autoptr(GError) error = NULL;

    /* Progress lines show up as they happen, even through a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!app_parse_args(&app, &argc, &argv, &error)) {
        fprintf(stderr, APP_NAME ": %s (see --help)\n", error->message);
        return 1;
    }
    app.deadline = g_get_monotonic_time() + (gint64)app.timeout * G_USEC_PER_SEC;

    if (!app_run(&app, &error)) {
        fprintf(stderr, APP_NAME ": error: %s\n", error->message);
        app_cancel_unfinished(&app);
        return 1;
    }
    if (!g_str_equal(app.src_result, "completed") ||
        !g_str_equal(app.dst_result, "completed")) {
        fprintf(stderr,
                APP_NAME ": error: the migration did not complete: source %s%s%s, "
                         "destination %s%s%s\n",
                app.src_result, app.src_error ? ": " : "", app.src_error ?: "",
                app.dst_result, app.dst_error ? ": " : "", app.dst_error ?: "");
        return 1;
    }
    return 0;
}
