/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transport.c: addresses, listening and dialling (the contract is
 * transport.h)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-transport"

#include "driver/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>

#include "driver/qmp.h" /* vmig_qmp_quote(): a peer's bytes in a message */
#include "fdpass/fd.h"
#include "fdpass/preamble.h"

/* clang-format off */
G_DEFINE_QUARK(vmig-transport-error-quark, vmig_transport_error)
/* clang-format on */

/* ------------------------------------------------------------------------ */
/* Addresses */

void
vmig_address_free(VmigAddress *address)
{
    if (!address)
        return;
    g_free(address->path);
    g_free(address->host);
    g_free(address);
}

gboolean
vmig_address_parse_port(const char *text, guint16 *port)
{
    guint64 value;

    if (!g_ascii_string_to_unsigned(text, 10, 1, 65535, &value, NULL))
        return FALSE;
    *port = (guint16)value;
    return TRUE;
}

/* Reads "HOST:PORT" or "[V6]:PORT" into @address.  Returns: TRUE, or FALSE with @error.
 */
static gboolean
vmig_address_parse_tcp(const char *uri, const char *spec, VmigAddress *address,
                       GError **error)
{
    const char *port;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');

        if (!close || close[1] != ':') {
            g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                        "'%s' is not tcp:[IPV6]:PORT", uri);
            return FALSE;
        }
        address->host = g_strndup(spec + 1, close - spec - 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');

        if (!colon) {
            g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                        "'%s' is not tcp:HOST:PORT", uri);
            return FALSE;
        }
        address->host = g_strndup(spec, colon - spec);
        if (strchr(address->host, ':')) {
            g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                        "'%s': an IPv6 address goes in brackets, as in tcp:[::1]:PORT",
                        uri);
            return FALSE;
        }
        port = colon + 1;
    }
    if (!vmig_address_parse_port(port, &address->port)) {
        g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                    "'%s': the port must be 1 to 65535, not '%s'", uri, port);
        return FALSE;
    }
    return TRUE;
}

VmigAddress *
vmig_address_parse(const char *uri, GError **error)
{
    g_autoptr(VmigAddress) address = g_new0(VmigAddress, 1);

    if (g_str_has_prefix(uri, "unix:")) {
        const char *path = uri + 5;

        if (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
            g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                        "unix socket path '%s' is empty or too long", path);
            return NULL;
        }
        address->kind = VMIG_ADDRESS_UNIX;
        address->path = g_strdup(path);
        return g_steal_pointer(&address);
    }
    if (g_str_has_prefix(uri, "tcp:")) {
        address->kind = VMIG_ADDRESS_TCP;
        if (!vmig_address_parse_tcp(uri, uri + 4, address, error))
            return NULL;
        return g_steal_pointer(&address);
    }
    g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                "'%s' is neither unix:PATH nor tcp:HOST:PORT", uri);
    return NULL;
}

char *
vmig_address_to_string(const VmigAddress *address)
{
    if (address->kind == VMIG_ADDRESS_UNIX)
        return g_strdup_printf("unix:%s", address->path);
    if (strchr(address->host, ':'))
        return g_strdup_printf("tcp:[%s]:%u", address->host, address->port);
    return g_strdup_printf("tcp:%s:%u", address->host, address->port);
}

/* ------------------------------------------------------------------------ */
/* Listening */

/* Sets a listen error for @address: @what failed with @err.  Returns: -1. */
static int
vmig_transport_listen_error(const VmigAddress *address, int err, GError **error)
{
    g_autofree char *uri = vmig_address_to_string(address);

    g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_LISTEN,
                "cannot listen on '%s': %s", uri, g_strerror(err));
    return -1;
}

/* Listens on unix socket @path.  Returns: the socket, or -1 with @error. */
static int
vmig_transport_listen_unix(const VmigAddress *address, GError **error)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_auto(VmigFd) fd = -1;
    struct stat st;

    g_strlcpy(addr.sun_path, address->path, sizeof(addr.sun_path));
    if (lstat(addr.sun_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(
                error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_LISTEN,
                "cannot listen on 'unix:%s': something other than a socket is there",
                address->path);
            return -1;
        }
        unlink(addr.sun_path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, SOMAXCONN) < 0)
        return vmig_transport_listen_error(address, errno, error);
    return vmig_fd_steal(&fd);
}

/*
 * Listens on a TCP address.  The host must be an address, or empty for
 * every address: resolving a name would block the main loop.
 * Returns: the socket, or -1 with @error.
 */
static int
vmig_transport_listen_tcp(const VmigAddress *address, GError **error)
{
    struct addrinfo hints = {
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    g_autofree char *port = g_strdup_printf("%u", address->port);
    g_auto(VmigFd) fd = -1;
    int one = 1;
    int rc;

    rc = getaddrinfo(*address->host ? address->host : NULL, port, &hints, &res);
    if (rc != 0) {
        g_autofree char *uri = vmig_address_to_string(address);

        g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_LISTEN,
                    "cannot listen on '%s': %s", uri,
                    rc == EAI_NONAME ? "listen on an IP address (or none, for all of "
                                       "them), not a name"
                                     : gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        int err = errno;

        freeaddrinfo(res);
        return vmig_transport_listen_error(address, err, error);
    }
    freeaddrinfo(res);
    return vmig_fd_steal(&fd);
}

int
vmig_transport_listen(const VmigAddress *address, GError **error)
{
    if (address->kind == VMIG_ADDRESS_UNIX)
        return vmig_transport_listen_unix(address, error);
    return vmig_transport_listen_tcp(address, error);
}

/* ------------------------------------------------------------------------ */
/* A socket of our own */

/*
 * Clears the way for a new socket at @path: a stale socket file is
 * removed; a live one (some server answers), or a file that is not a
 * socket, is left alone and refused.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_transport_clear_path(const char *path, const struct sockaddr_un *addr,
                          GError **error)
{
    g_auto(VmigFd) probe = -1;
    struct stat st;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return TRUE;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot check the socket path '%s': %s", path, g_strerror(errno));
        return FALSE;
    }
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                    "'%s' exists and is not a socket: not replacing it", path);
        return FALSE;
    }

    probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot create a unix socket: %s", g_strerror(errno));
        return FALSE;
    }
    if (connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ||
        errno == EAGAIN) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                    "another server is already listening on '%s'", path);
        return FALSE;
    }
    if (errno != ECONNREFUSED) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot check whether '%s' is in use: %s", path, g_strerror(errno));
        return FALSE;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot remove the stale socket '%s': %s", path, g_strerror(errno));
        return FALSE;
    }
    g_debug("removed a stale socket at '%s'", path);
    return TRUE;
}

/*
 * See transport.h.  The socket is bound to "@path~" and renamed to @path only once it
 * listens, so a client that sees @path can always connect to it (a plain
 * bind() makes the file appear before listen(), and a client that comes in
 * between is refused).  The umask only matters between bind() and the
 * chmod() after it; the check after that verifies owner, group and mode.
 * The bind name is ours alone until the rename, so lchown() and chmod()
 * by path reach the socket we bound.
 * Returns: the socket, or -1 with @error set.
 */
int
vmig_transport_listen_owned(const char *path, gid_t gid, mode_t mode, dev_t *dev,
                            ino_t *ino, GError **error)
{
    g_auto(VmigFd) fd = -1;
    g_autofree char *tmp = NULL;
    struct sockaddr_un addr;
    struct sockaddr_un tmp_addr;
    struct stat st;
    mode_t old_mask;
    int err;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    /* One byte for the terminating NUL, one for the "~" of the bind name. */
    if (strlen(path) + 2 > sizeof(addr.sun_path)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                    "socket path '%s' is too long (%" G_GSIZE_FORMAT
                    " bytes; at most %" G_GSIZE_FORMAT " fit a unix socket address here)",
                    path, strlen(path), sizeof(addr.sun_path) - 2);
        return -1;
    }
    if (path[0] == '\0') {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            "the socket path is empty");
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path));
    tmp = g_strconcat(path, "~", NULL);
    tmp_addr = addr;
    memcpy(tmp_addr.sun_path, tmp, strlen(tmp));

    if (!vmig_transport_clear_path(path, &addr, error))
        return -1;
    if (unlink(tmp) < 0 && errno != ENOENT) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot remove the leftover '%s': %s", tmp, g_strerror(errno));
        return -1;
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot create a unix socket: %s", g_strerror(errno));
        return -1;
    }

    old_mask = umask(0177);
    err = bind(fd, (const struct sockaddr *)&tmp_addr, sizeof(tmp_addr)) < 0 ? errno : 0;
    umask(old_mask);
    if (err) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "cannot bind a socket to '%s': %s", tmp, g_strerror(err));
        return -1;
    }

    if ((gid != (gid_t)-1 && lchown(tmp, (uid_t)-1, gid) < 0) || chmod(tmp, mode) < 0) {
        err = errno;
        unlink(tmp);
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "cannot give the socket '%s' its group and mode %04o: %s", tmp,
                    (guint)mode, g_strerror(err));
        return -1;
    }
    if (lstat(tmp, &st) < 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != mode ||
        st.st_uid != geteuid() || (gid != (gid_t)-1 && st.st_gid != gid)) {
        unlink(tmp);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                    "socket '%s' did not come out as a socket of mode %04o owned by "
                    "uid %u",
                    tmp, (guint)mode, (guint)geteuid());
        return -1;
    }
    *dev = st.st_dev;
    *ino = st.st_ino;

    if (listen(fd, SOMAXCONN) < 0 || rename(tmp, path) < 0) {
        err = errno;
        unlink(tmp);
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "cannot listen on '%s': %s", path, g_strerror(err));
        return -1;
    }
    return vmig_fd_steal(&fd);
}

/* ------------------------------------------------------------------------ */
/* Dialling */

typedef struct {
    char *uri;
    guint timeout_ms;
    GSocketClient *client;
    GCancellable *cancellable; /* ours: cancelled by the deadline or the caller's */
    GCancellable *caller;      /* the caller's, or NULL */
    gulong caller_handler;
    GSource *deadline;
    gboolean timed_out;
} VmigDial;

static void
vmig_dial_free(VmigDial *dial)
{
    if (dial->deadline) {
        g_source_destroy(dial->deadline);
        g_source_unref(dial->deadline);
    }
    if (dial->caller) {
        g_cancellable_disconnect(dial->caller, dial->caller_handler);
        g_object_unref(dial->caller);
    }
    g_clear_object(&dial->cancellable);
    g_clear_object(&dial->client);
    g_free(dial->uri);
    g_free(dial);
}

/* The deadline passed: give up the connect.  Returns: G_SOURCE_REMOVE. */
static gboolean
vmig_dial_on_deadline(gpointer user_data)
{
    VmigDial *dial = user_data;

    g_clear_pointer(&dial->deadline, g_source_unref);
    dial->timed_out = TRUE;
    g_cancellable_cancel(dial->cancellable);
    return G_SOURCE_REMOVE;
}

/* The caller cancelled: so do we (from whatever thread it did). */
static void
vmig_dial_on_caller_cancelled(GCancellable *caller, gpointer user_data)
{
    g_cancellable_cancel(G_CANCELLABLE(user_data));
}

/* Frees a connected fd that nobody took. */
static void
vmig_dial_fd_free(int *fdp)
{
    vmig_fd_clear(fdp);
    g_free(fdp);
}

static void
vmig_dial_on_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    VmigDial *dial = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) conn =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);
    int *fdp;

    if (!conn) {
        if (dial->timed_out)
            g_task_return_new_error(task, VMIG_TRANSPORT_ERROR,
                                    VMIG_TRANSPORT_ERROR_TIMEOUT,
                                    "cannot connect to '%s': no answer within %g s",
                                    dial->uri, dial->timeout_ms / 1000.0);
        else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_task_return_error(task, g_steal_pointer(&error));
        else
            g_task_return_new_error(
                task, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_CONNECT,
                "cannot connect to '%s': %s", dial->uri, error->message);
        return;
    }
    /* The connection's socket goes with it: keep a copy of the fd. */
    fdp = g_new(int, 1);
    *fdp =
        fcntl(g_socket_get_fd(g_socket_connection_get_socket(conn)), F_DUPFD_CLOEXEC, 0);
    if (*fdp < 0) {
        int err = errno;

        g_free(fdp);
        g_task_return_new_error(task, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_CONNECT,
                                "cannot connect to '%s': %s", dial->uri, g_strerror(err));
        return;
    }
    g_task_return_pointer(task, fdp, (GDestroyNotify)vmig_dial_fd_free);
}

void
vmig_transport_dial_async(const VmigAddress *address, guint timeout_ms,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    VmigDial *dial = g_new0(VmigDial, 1);
    g_autoptr(GSocketConnectable) connectable = NULL;

    g_task_set_source_tag(task, vmig_transport_dial_async);
    g_task_set_task_data(task, dial, (GDestroyNotify)vmig_dial_free);
    /* Our own errors say what happened; GTask must not turn a cancel into its own. */
    g_task_set_check_cancellable(task, FALSE);
    dial->uri = vmig_address_to_string(address);
    dial->timeout_ms = timeout_ms;
    dial->client = g_socket_client_new();
    /* Straight to the peer: a desktop's proxy settings have no say here. */
    g_socket_client_set_enable_proxy(dial->client, FALSE);
    dial->cancellable = g_cancellable_new();
    if (cancellable) {
        dial->caller = g_object_ref(cancellable);
        dial->caller_handler =
            g_cancellable_connect(cancellable, G_CALLBACK(vmig_dial_on_caller_cancelled),
                                  dial->cancellable, NULL);
    }
    if (timeout_ms) {
        dial->deadline = g_timeout_source_new(timeout_ms);
        g_source_set_callback(dial->deadline, vmig_dial_on_deadline, dial, NULL);
        g_source_attach(dial->deadline, g_main_context_get_thread_default());
    }
    if (address->kind == VMIG_ADDRESS_UNIX)
        connectable = G_SOCKET_CONNECTABLE(g_unix_socket_address_new(address->path));
    else
        connectable = g_network_address_new(address->host, address->port);
    g_debug("dialling %s", dial->uri);
    g_socket_client_connect_async(dial->client, connectable, dial->cancellable,
                                  vmig_dial_on_connected, task);
}

int
vmig_transport_dial_finish(GAsyncResult *result, GError **error)
{
    int *fdp = g_task_propagate_pointer(G_TASK(result), error);
    int fd;

    if (!fdp)
        return -1;
    fd = vmig_fd_steal(fdp);
    g_free(fdp);
    return fd;
}

/* ------------------------------------------------------------------------ */
/* The destination's hello */

gboolean
vmig_transport_send_hello(int fd, GError **error)
{
    guint8 hello[VMIG_PREAMBLE_MAGIC_SIZE];
    ssize_t n;

    vmig_preamble_encode_hello(hello);
    do
        n = send(fd, hello, sizeof(hello), MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(hello))
        return TRUE;
    if (n < 0)
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot write the driver's hello: %s", g_strerror(errno));
    else
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "cannot write the driver's hello: only %zd of its %zu bytes fit", n,
                    sizeof(hello));
    return FALSE;
}

typedef struct {
    int fd;
    char *what;
    guint timeout_ms;
    guint8 got[VMIG_PREAMBLE_MAGIC_SIZE];
    gsize have;
    GSource *watch;
    GSource *timer;
    GSource *cancel;
} VmigHelloWait;

static void
vmig_hello_wait_stop(VmigHelloWait *wait)
{
    GSource **sources[] = {&wait->watch, &wait->timer, &wait->cancel};

    for (gsize i = 0; i < G_N_ELEMENTS(sources); i++) {
        if (*sources[i]) {
            g_source_destroy(*sources[i]);
            g_clear_pointer(sources[i], g_source_unref);
        }
    }
}

static void
vmig_hello_wait_free(VmigHelloWait *wait)
{
    vmig_hello_wait_stop(wait);
    vmig_fd_clear(&wait->fd);
    g_free(wait->what);
    g_free(wait);
}

typedef struct {
    int fd;
    gboolean greeted;
} VmigHelloResult;

static void
vmig_hello_result_free(VmigHelloResult *result)
{
    vmig_fd_clear(&result->fd);
    g_free(result);
}

/* Ends @task: the socket handed over (@greeted or not), or @error (the socket closed). */
static void
vmig_hello_wait_end(GTask *task, gboolean greeted, GError *error)
{
    VmigHelloWait *wait = g_task_get_task_data(task);

    vmig_hello_wait_stop(wait);
    if (error) {
        g_task_return_error(task, error);
    } else {
        VmigHelloResult *result = g_new0(VmigHelloResult, 1);

        result->fd = vmig_fd_steal(&wait->fd);
        result->greeted = greeted;
        g_task_return_pointer(task, result, (GDestroyNotify)vmig_hello_result_free);
    }
    g_object_unref(task);
}

static gboolean
vmig_hello_on_readable(int fd, GIOCondition condition, gpointer user_data)
{
    GTask *task = user_data;
    VmigHelloWait *wait = g_task_get_task_data(task);
    guint8 hello[VMIG_PREAMBLE_MAGIC_SIZE];
    ssize_t n;

    vmig_preamble_encode_hello(hello);
    do
        n = recv(fd, wait->got + wait->have, sizeof(wait->got) - wait->have,
                 MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
    if (n > 0)
        wait->have += (gsize)n;
    if (n > 0 && wait->have < sizeof(wait->got) &&
        memcmp(wait->got, hello, wait->have) == 0)
        return G_SOURCE_CONTINUE;
    g_clear_pointer(&wait->watch, g_source_unref);
    if (wait->have == sizeof(wait->got) && memcmp(wait->got, hello, sizeof(hello)) == 0) {
        vmig_hello_wait_end(task, TRUE, NULL);
    } else if (wait->have > 0) {
        g_autofree char *quoted = vmig_qmp_quote((const char *)wait->got, wait->have);

        vmig_hello_wait_end(
            task, FALSE,
            g_error_new(VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_PEER,
                        "'%s' is no virt-migrate driver: it sent '%s' where a driver "
                        "says 'VMGH'",
                        wait->what, quoted));
    } else {
        vmig_hello_wait_end(
            task, FALSE,
            g_error_new(VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_PEER,
                        "'%s' closed the connection before a driver's hello (%s)",
                        wait->what, n < 0 ? g_strerror(errno) : "end of file"));
    }
    return G_SOURCE_REMOVE;
}

static gboolean
vmig_hello_on_timeout(gpointer user_data)
{
    GTask *task = user_data;
    VmigHelloWait *wait = g_task_get_task_data(task);

    g_clear_pointer(&wait->timer, g_source_unref);
    if (wait->have > 0)
        vmig_hello_wait_end(
            task, FALSE,
            g_error_new(VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_PEER,
                        "'%s' sent %zu of a driver's hello's 4 bytes, then nothing "
                        "for %u ms",
                        wait->what, wait->have, wait->timeout_ms));
    else
        vmig_hello_wait_end(task, FALSE, NULL);
    return G_SOURCE_REMOVE;
}

static gboolean
vmig_hello_on_cancelled(GCancellable *cancellable, gpointer user_data)
{
    GTask *task = user_data;
    VmigHelloWait *wait = g_task_get_task_data(task);

    g_clear_pointer(&wait->cancel, g_source_unref);
    vmig_hello_wait_end(task, FALSE,
                        g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                    "waiting for the hello of '%s' was cancelled",
                                    wait->what));
    return G_SOURCE_REMOVE;
}

void
vmig_transport_await_hello_async(int *fdp, const char *what, guint timeout_ms,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    GMainContext *context = g_main_context_get_thread_default();
    VmigHelloWait *wait = g_new0(VmigHelloWait, 1);

    g_task_set_source_tag(task, vmig_transport_await_hello_async);
    g_task_set_check_cancellable(task, FALSE);
    wait->fd = vmig_fd_steal(fdp);
    wait->what = g_strdup(what);
    wait->timeout_ms = timeout_ms;
    g_task_set_task_data(task, wait, (GDestroyNotify)vmig_hello_wait_free);
    /* The task's own reference goes with whichever source ends it. */
    wait->watch = g_unix_fd_source_new(wait->fd, G_IO_IN);
    g_source_set_callback(wait->watch, G_SOURCE_FUNC(vmig_hello_on_readable), task, NULL);
    g_source_attach(wait->watch, context);
    wait->timer = g_timeout_source_new(timeout_ms);
    g_source_set_callback(wait->timer, vmig_hello_on_timeout, task, NULL);
    g_source_attach(wait->timer, context);
    if (cancellable) {
        wait->cancel = g_cancellable_source_new(cancellable);
        g_source_set_callback(wait->cancel, G_SOURCE_FUNC(vmig_hello_on_cancelled), task,
                              NULL);
        g_source_attach(wait->cancel, context);
    }
}

int
vmig_transport_await_hello_finish(GAsyncResult *result, gboolean *greeted, GError **error)
{
    VmigHelloResult *r = g_task_propagate_pointer(G_TASK(result), error);
    int fd;

    *greeted = FALSE;
    if (!r)
        return -1;
    *greeted = r->greeted;
    fd = vmig_fd_steal(&r->fd);
    vmig_hello_result_free(r);
    return fd;
}
