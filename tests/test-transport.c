/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-transport.c: addresses, listening and dialling between drivers
 * (driver/transport.h), on loopback and unix sockets
 *
 * A peer that never answers is made on loopback by a listener whose
 * accept queue is full and never drained: the kernel drops new SYNs.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "driver/standing.h"
#include "driver/transport.h"
#include "fdpass/fd.h"
#include "tests/testutil.h"

#define TEST_TIMEOUT_US (20 * G_USEC_PER_SEC)

typedef struct {
    GMainContext *context;
    char *dir;
    guint fds_before;
    gboolean done;
    int fd;
    GError *error;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->fds_before = vmig_test_count_fds(0);
    f->context = g_main_context_new();
    g_main_context_push_thread_default(f->context);
    f->dir = g_dir_make_tmp("vmig-transport-XXXXXX", &error);
    g_assert_no_error(error);
    f->fd = -1;
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

    vmig_fd_clear(&f->fd);
    g_clear_error(&f->error);
    (void)!system(cmd);
    g_free(f->dir);
    while (g_main_context_iteration(f->context, FALSE))
        ;
    g_main_context_pop_thread_default(f->context);
    g_main_context_unref(f->context);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
}

/* ------------------------------------------------------------------------ */
/* Addresses */

/* What parses, and how it prints back. */
static void
test_address_good(void)
{
    static const struct {
        const char *uri;
        VmigAddressKind kind;
        const char *host_or_path;
        guint16 port;
    } cases[] = {
        {"unix:/run/x.sock", VMIG_ADDRESS_UNIX, "/run/x.sock", 0},
        {"tcp:127.0.0.1:49152", VMIG_ADDRESS_TCP, "127.0.0.1", 49152},
        {"tcp:dst.example.org:1", VMIG_ADDRESS_TCP, "dst.example.org", 1},
        {"tcp:[::1]:49153", VMIG_ADDRESS_TCP, "::1", 49153},
        {"tcp:[fe80::1%eth0]:65535", VMIG_ADDRESS_TCP, "fe80::1%eth0", 65535},
        {"tcp::4444", VMIG_ADDRESS_TCP, "", 4444},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VmigAddress) a = vmig_address_parse(cases[i].uri, &error);
        g_autofree char *back = NULL;

        g_assert_no_error(error);
        g_assert_cmpint(a->kind, ==, cases[i].kind);
        g_assert_cmpstr(a->kind == VMIG_ADDRESS_UNIX ? a->path : a->host, ==,
                        cases[i].host_or_path);
        g_assert_cmpuint(a->port, ==, cases[i].port);
        back = vmig_address_to_string(a);
        g_assert_cmpstr(back, ==, cases[i].uri);
    }
}

/* What does not parse, and what the error says. */
static void
test_address_bad(void)
{
    g_autofree char *long_path = g_strdup_printf("unix:/%0200d", 0);
    const struct {
        const char *uri;
        const char *message;
    } cases[] = {
        {"unix:", "unix socket path '' is empty or too long"},
        {long_path, "is empty or too long"},
        {"tcp:127.0.0.1", "'tcp:127.0.0.1' is not tcp:HOST:PORT"},
        {"tcp:::1:49152", "an IPv6 address goes in brackets, as in tcp:[::1]:PORT"},
        {"tcp:[::1]49152", "'tcp:[::1]49152' is not tcp:[IPV6]:PORT"},
        {"tcp:[::1:49152", "is not tcp:[IPV6]:PORT"},
        {"tcp:host:0", "the port must be 1 to 65535, not '0'"},
        {"tcp:host:65536", "the port must be 1 to 65535, not '65536'"},
        {"tcp:host:http", "the port must be 1 to 65535, not 'http'"},
        {"tcp:host:", "the port must be 1 to 65535, not ''"},
        {"/run/x.sock", "'/run/x.sock' is neither unix:PATH nor tcp:HOST:PORT"},
        {"fd:3", "is neither unix:PATH nor tcp:HOST:PORT"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VmigAddress) a = vmig_address_parse(cases[i].uri, &error);

        g_assert_null(a);
        g_assert_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS);
        if (!strstr(error->message, cases[i].message))
            g_error("'%s': '%s' does not say '%s'", cases[i].uri, error->message,
                    cases[i].message);
    }
}

/* ------------------------------------------------------------------------ */
/* Listening and dialling */

static void
on_dialled(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Fixture *f = user_data;

    f->fd = vmig_transport_dial_finish(result, &f->error);
    f->done = TRUE;
}

/* Dials @uri and iterates until it is done; bounded. */
static void
dial(Fixture *f, const char *uri, guint timeout_ms, GCancellable *cancellable)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigAddress) a = vmig_address_parse(uri, &error);
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;

    g_assert_no_error(error);
    f->done = FALSE;
    vmig_fd_clear(&f->fd);
    g_clear_error(&f->error);
    vmig_transport_dial_async(a, timeout_ms, cancellable, on_dialled, f);
    while (!f->done) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(f->context, TRUE);
    }
}

/* Listens on @uri.  Returns: the listening socket (asserted). */
static int
listen_on(const char *uri)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigAddress) a = vmig_address_parse(uri, &error);
    int fd;

    g_assert_no_error(error);
    fd = vmig_transport_listen(a, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* Returns: a TCP port on @family's loopback that was free a moment ago, or 0. */
static guint16
free_port(int family)
{
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct sockaddr_in a4 = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr *addr =
        family == AF_INET6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
    socklen_t len = family == AF_INET6 ? sizeof(a6) : sizeof(a4);
    g_auto(VmigFd) fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, addr, len) < 0 || getsockname(fd, addr, &len) < 0)
        return 0;
    return ntohs(family == AF_INET6 ? a6.sin6_port : a4.sin_port);
}

/* Asserts @fd is connected to a connection pending on @listen_fd. */
static void
assert_connected(int fd, int listen_fd)
{
    g_auto(VmigFd) peer = -1;
    char c = 'x';

    for (guint i = 0; i < 1000 && peer < 0; i++) {
        peer = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (peer < 0)
            g_usleep(1000);
    }
    g_assert_cmpint(peer, >=, 0);
    g_assert_cmpint(send(fd, &c, 1, MSG_NOSIGNAL), ==, 1);
    c = 0;
    g_assert_cmpint(recv(peer, &c, 1, 0), ==, 1);
    g_assert_cmpint(c, ==, 'x');
}

/* unix: listen (a stale socket file replaced), dial, connected. */
static void
test_unix(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(f->dir, "l.sock", NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    g_auto(VmigFd) first = listen_on(uri);
    g_auto(VmigFd) listen_fd = -1;

    vmig_fd_clear(&first); /* leaves the socket file behind: stale */
    listen_fd = listen_on(uri);
    dial(f, uri, 1000, NULL);
    g_assert_no_error(f->error);
    g_assert_true(fcntl(f->fd, F_GETFD) & FD_CLOEXEC);
    assert_connected(f->fd, listen_fd);
}

/* Something other than a socket at the path is left alone and refused. */
static void
test_unix_not_a_socket(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(f->dir, "file", NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    g_autoptr(VmigAddress) a = vmig_address_parse(uri, NULL);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(path, "data", -1, NULL));
    g_assert_cmpint(vmig_transport_listen(a, &error), ==, -1);
    g_assert_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_LISTEN);
    g_assert_nonnull(strstr(error->message, "something other than a socket is there"));
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
}

/* tcp on 127.0.0.1 and on [::1] (where the host has IPv6): listen, dial, connected. */
static void
test_tcp(Fixture *f, gconstpointer data)
{
    int family = GPOINTER_TO_INT(data);
    guint16 port = free_port(family);
    g_autofree char *uri = family == AF_INET6 ? g_strdup_printf("tcp:[::1]:%u", port)
                                              : g_strdup_printf("tcp:127.0.0.1:%u", port);
    g_auto(VmigFd) listen_fd = -1;

    if (port == 0) {
        g_test_skip("no IPv6 loopback here");
        return;
    }
    listen_fd = listen_on(uri);
    dial(f, uri, 1000, NULL);
    g_assert_no_error(f->error);
    assert_connected(f->fd, listen_fd);
}

/* A name is not listened on: resolving it would block. */
static void
test_listen_name(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigAddress) a = vmig_address_parse("tcp:localhost:49152", NULL);
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(vmig_transport_listen(a, &error), ==, -1);
    g_assert_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_LISTEN);
    g_assert_cmpstr(error->message, ==,
                    "cannot listen on 'tcp:localhost:49152': listen on an IP address (or "
                    "none, for all of them), not a name");
}

/* Nobody listening: CONNECT, naming the address. */
static void
test_refused(Fixture *f, gconstpointer data)
{
    guint16 port = free_port(AF_INET);
    g_autofree char *uri = g_strdup_printf("tcp:127.0.0.1:%u", port);
    g_autofree char *prefix = g_strdup_printf("cannot connect to '%s': ", uri);

    dial(f, uri, 1000, NULL);
    g_assert_error(f->error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_CONNECT);
    g_assert_true(g_str_has_prefix(f->error->message, prefix));
    g_assert_cmpint(f->fd, ==, -1);
}

/*
 * A TCP listener whose accept queue is full and never drained drops every
 * new SYN: a connect there gets no answer at all, as from a black hole.
 * The deadline ends it, with TIMEOUT naming the address.
 */
static void
test_deadline(Fixture *f, gconstpointer data)
{
    guint16 port = free_port(AF_INET);
    g_autofree char *uri = g_strdup_printf("tcp:127.0.0.1:%u", port);
    g_autofree char *expected =
        g_strdup_printf("cannot connect to '%s': no answer within 0.3 s", uri);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                               .sin_port = htons(port)};
    g_auto(VmigFd) listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_autoptr(GArray) fillers = g_array_new(FALSE, FALSE, sizeof(int));
    gint64 start, took;

    g_assert_cmpint(bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(listen_fd, 0), ==, 0);
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};

        g_assert_true(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 ||
                      errno == EINPROGRESS);
        if (poll(&pfd, 1, 200) == 0) {
            close(fd); /* the queue is full: this one got no answer */
            break;
        }
        g_array_append_val(fillers, fd);
        g_assert_cmpuint(fillers->len, <, 100);
    }
    start = g_get_monotonic_time();
    dial(f, uri, 300, NULL);
    took = (g_get_monotonic_time() - start) / 1000;
    g_test_message("%s after %" G_GINT64_FORMAT " ms", f->error ? f->error->message : "?",
                   took);
    g_assert_error(f->error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_TIMEOUT);
    g_assert_cmpstr(f->error->message, ==, expected);
    g_assert_cmpint(took, >=, 250);
    for (guint i = 0; i < fillers->len; i++)
        close(g_array_index(fillers, int, i));
}

/* The caller's cancel: G_IO_ERROR_CANCELLED, nothing left open. */
static void
test_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GCancellable) cancellable = g_cancellable_new();

    g_cancellable_cancel(cancellable);
    dial(f, "tcp:127.0.0.1:9", 1000, cancellable);
    g_assert_error(f->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpint(f->fd, ==, -1);
}

/* The destination's hello */

typedef struct {
    const char *peer_writes; /* in two parts, split at '|'; NULL: nothing */
    gboolean close_after;    /* then the peer closes */
    gboolean greeted;        /* expected */
    const char *error;       /* expected in the message; NULL: none */
} HelloCase;

static gboolean hello_greeted;

static void
on_hello(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Fixture *f = user_data;

    f->fd = vmig_transport_await_hello_finish(result, &hello_greeted, &f->error);
    f->done = TRUE;
}

/*
 * The source's wait for the hello: it comes (also in two parts), it never
 * comes (the socket comes back with nothing read from it), other bytes
 * come, or the peer closes; not a byte beyond the hello is read.
 */
static void
test_hello(Fixture *f, gconstpointer data)
{
    const HelloCase *c = data;
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;
    g_auto(VmigFd) peer = -1;
    int pair[2];
    int fd;
    char rest[16];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
    fd = pair[0];
    peer = pair[1];
    hello_greeted = FALSE;
    vmig_transport_await_hello_async(&fd, "the peer", 300, NULL, on_hello, f);
    g_assert_cmpint(fd, ==, -1);
    if (c->peer_writes) {
        g_auto(GStrv) parts = g_strsplit(c->peer_writes, "|", 2);

        for (guint i = 0; parts[i]; i++) {
            g_assert_cmpint(send(peer, parts[i], strlen(parts[i]), MSG_NOSIGNAL), ==,
                            (gssize)strlen(parts[i]));
            for (guint j = 0; j < 5; j++)
                g_main_context_iteration(f->context, FALSE);
        }
    }
    if (c->close_after)
        vmig_fd_clear(&peer);
    while (!f->done) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(f->context, TRUE);
    }
    if (f->error)
        g_test_message("%s", f->error->message);
    if (c->error) {
        g_assert_error(f->error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_PEER);
        g_assert_nonnull(strstr(f->error->message, c->error));
        g_assert_cmpint(f->fd, ==, -1);
        return;
    }
    g_assert_no_error(f->error);
    g_assert_cmpint(f->fd, >=, 0);
    g_assert_true(hello_greeted == c->greeted);
    /* What the peer wrote after the hello is still there for the caller. */
    if (c->peer_writes && strlen(c->peer_writes) > 5)
        g_assert_cmpint(recv(f->fd, rest, sizeof(rest), MSG_DONTWAIT), ==,
                        (gssize)strlen(c->peer_writes) - 5);
    else
        g_assert_cmpint(recv(f->fd, rest, sizeof(rest), MSG_DONTWAIT), ==, -1);
    /* ... and the connection still works both ways. */
    g_assert_cmpint(send(f->fd, "x", 1, MSG_NOSIGNAL), ==, 1);
    g_assert_cmpint(recv(peer, rest, 1, 0), ==, 1);
}

/* The destination's side: 4 bytes at once, and a peer gone is an error. */
static void
test_send_hello(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    int pair[2];
    char hello[8];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
    g_assert_true(vmig_transport_send_hello(pair[0], &error));
    g_assert_no_error(error);
    g_assert_cmpint(recv(pair[1], hello, sizeof(hello), MSG_DONTWAIT), ==, 4);
    g_assert_cmpmem(hello, 4, "VMGH", 4);
    close(pair[1]);
    g_assert_false(vmig_transport_send_hello(pair[0], &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
    close(pair[0]);
}

static const HelloCase hello_whole = {"VMGH", FALSE, TRUE, NULL};
static const HelloCase hello_split = {"VM|GHnext", FALSE, TRUE, NULL};
static const HelloCase hello_none = {NULL, FALSE, FALSE, NULL};
static const HelloCase hello_other = {"SSH-2.0", FALSE, FALSE, "it sent 'SSH-'"};
static const HelloCase hello_binary = {"\x16\x03\x01", TRUE, FALSE,
                                       "it sent '\\x16\\x03\\x01'"};
static const HelloCase hello_closed = {NULL, TRUE, FALSE, "closed the connection"};
static const HelloCase hello_half = {"VM", FALSE, FALSE, "sent 2 of a driver's hello"};

static void
add(const char *path, gconstpointer data, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, data, fixture_setup, func, fixture_teardown);
}

/* The standing listener's addresses: a bare host takes the default port. */
static void
test_standing_address(void)
{
    static const struct {
        const char *text;
        const char *uri; /* NULL: refused */
    } cases[] = {
        {"dst.example", "tcp:dst.example:16520"},
        {"dst.example:4000", "tcp:dst.example:4000"},
        {"tcp:dst.example", "tcp:dst.example:16520"},
        {"tcp:192.0.2.2:16521", "tcp:192.0.2.2:16521"},
        {"[::1]", "tcp:[::1]:16520"},
        {"[::1]:7000", "tcp:[::1]:7000"},
        {"::1", "tcp:[::1]:16520"},
        {"unix:/run/x.sock", NULL},
        {"", NULL},
        {"dst.example:0", NULL},
        {"dst.example:65536", NULL},
        {"dst.example:http", NULL},
        {"[::1", NULL},
        {"[::1]x", NULL},
    };

    g_assert_cmpint(VMIG_STANDING_DEFAULT_PORT, ==, 16520);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *uri = vmig_standing_address(cases[i].text, &error);

        g_test_message("'%s' -> %s", cases[i].text, uri ? uri : error->message);
        g_assert_cmpstr(uri, ==, cases[i].uri);
        if (!uri)
            g_assert_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* One dial first, so that what GIO sets up once for good (its worker
     * thread and its wakeup fd) is not counted as a test's leak. */
    {
        Fixture warm = {.fd = -1};

        warm.context = g_main_context_new();
        g_main_context_push_thread_default(warm.context);
        dial(&warm, "tcp:127.0.0.1:9", 1000, NULL);
        vmig_fd_clear(&warm.fd);
        g_clear_error(&warm.error);
        while (g_main_context_iteration(warm.context, FALSE))
            ;
        g_main_context_pop_thread_default(warm.context);
        g_main_context_unref(warm.context);
    }
    g_test_add_func("/transport/address/good", test_address_good);
    g_test_add_func("/transport/address/bad", test_address_bad);
    g_test_add_func("/transport/address/standing", test_standing_address);
    add("/transport/unix", NULL, test_unix);
    add("/transport/unix-not-a-socket", NULL, test_unix_not_a_socket);
    add("/transport/tcp/ipv4", GINT_TO_POINTER(AF_INET), test_tcp);
    add("/transport/tcp/ipv6", GINT_TO_POINTER(AF_INET6), test_tcp);
    add("/transport/listen-name", NULL, test_listen_name);
    add("/transport/refused", NULL, test_refused);
    add("/transport/deadline", NULL, test_deadline);
    add("/transport/cancel", NULL, test_cancel);
    add("/transport/hello/send", NULL, test_send_hello);
    add("/transport/hello/whole", &hello_whole, test_hello);
    add("/transport/hello/split", &hello_split, test_hello);
    add("/transport/hello/none", &hello_none, test_hello);
    add("/transport/hello/other-bytes", &hello_other, test_hello);
    add("/transport/hello/binary", &hello_binary, test_hello);
    add("/transport/hello/closed", &hello_closed, test_hello);
    add("/transport/hello/half", &hello_half, test_hello);
    return g_test_run();
}
