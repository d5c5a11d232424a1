/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-listener.c: accepting connections without ever spinning
 * (driver/listener.h), on a real unix socket
 *
 * The out-of-descriptors case is made for real: the test fills this
 * process's descriptor table with copies of /dev/null until the kernel
 * says EMFILE, then connects clients it created beforehand (connect(2)
 * needs no new descriptor).  A fixture compares the fd count before and
 * after each test.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "driver/listener.h"
#include "fdpass/fd.h"
#include "tests/testutil.h"

#define TEST_TIMEOUT_US (20 * G_USEC_PER_SEC)
/* Descriptors the test fills at most before it gives up on seeing EMFILE. */
#define FILL_MAX 200000

typedef struct {
    GMainContext *context;
    char *dir;
    char *path;
    int listen_fd;
    VmigListener *listener;
    GArray *accepted; /* int, owned */
    guint batch;      /* accepted in the current iteration */
    guint max_batch;
    gboolean free_in_callback;
    GSource *tick; /* wakes blocking iterations, so that every wait is bounded */
    guint fds_before;
} Fixture;

static void
on_connection(int *fdp, gpointer user_data)
{
    Fixture *f = user_data;
    int fd = vmig_fd_steal(fdp);

    g_assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    g_assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    g_array_append_val(f->accepted, fd);
    f->batch++;
    if (f->free_in_callback)
        g_clear_pointer(&f->listener, vmig_listener_free);
}

/* The tick's callback.  Returns: G_SOURCE_CONTINUE. */
static gboolean
tick(gpointer user_data)
{
    return G_SOURCE_CONTINUE;
}

static void
fd_clear(gpointer data)
{
    vmig_fd_clear(data);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_autoptr(GError) error = NULL;

    /* The reserve descriptor is the process's, kept for good: take it first. */
    g_assert_true(vmig_listener_reserve());
    f->fds_before = vmig_test_count_fds(0);
    f->context = g_main_context_new();
    f->dir = g_dir_make_tmp("vmig-listener-XXXXXX", &error);
    g_assert_no_error(error);
    f->path = g_build_filename(f->dir, "l.sock", NULL);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    g_strlcpy(addr.sun_path, f->path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(f->listen_fd, 128), ==, 0);
    f->accepted = g_array_new(FALSE, FALSE, sizeof(int));
    g_array_set_clear_func(f->accepted, fd_clear);
    f->listener = vmig_listener_new(f->context, f->listen_fd, f->path, on_connection, f);
    f->tick = g_timeout_source_new(50);
    g_source_set_callback(f->tick, G_SOURCE_FUNC(tick), NULL, NULL);
    g_source_attach(f->tick, f->context);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->listener, vmig_listener_free);
    g_source_destroy(f->tick);
    g_clear_pointer(&f->tick, g_source_unref);
    g_clear_pointer(&f->accepted, g_array_unref);
    vmig_fd_clear(&f->listen_fd);
    g_unlink(f->path);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    while (g_main_context_iteration(f->context, FALSE))
        ;
    g_main_context_unref(f->context);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
}

/* Returns: a fresh, unconnected client socket with a receive timeout. */
static int
client_new(void)
{
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
    return fd;
}

/* Connects @fd to the fixture's listener. */
static void
client_connect(Fixture *f, int fd)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    g_strlcpy(addr.sun_path, f->path, sizeof(addr.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
}

/* One blocking iteration, recording the batch it accepted. */
static void
iterate(Fixture *f, gboolean may_block)
{
    f->batch = 0;
    g_main_context_iteration(f->context, may_block);
    f->max_batch = MAX(f->max_batch, f->batch);
}

/* Iterates until @n connections were accepted; bounded. */
static void
iterate_until_accepted(Fixture *f, guint n)
{
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;

    while (f->accepted->len < n) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        iterate(f, TRUE);
    }
}

/* Returns: this process's user + system CPU time, in microseconds. */
static gint64
cpu_us(void)
{
    struct rusage ru;

    g_assert_cmpint(getrusage(RUSAGE_SELF, &ru), ==, 0);
    return (gint64)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * G_USEC_PER_SEC +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* 40 clients: all accepted, non-blocking and close-on-exec, at most a batch per wakeup.
 */
static void
test_accept(Fixture *f, gconstpointer data)
{
    int clients[40];

    for (guint i = 0; i < G_N_ELEMENTS(clients); i++) {
        clients[i] = client_new();
        client_connect(f, clients[i]);
    }
    iterate_until_accepted(f, G_N_ELEMENTS(clients));
    g_assert_cmpuint(f->max_batch, <=, VMIG_LISTENER_BATCH);
    g_assert_cmpuint(f->max_batch, >, 1);
    for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
        close(clients[i]);
}

/* A callback that frees the listener: nothing more is accepted, nothing breaks. */
static void
test_free_in_callback(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) a = client_new();
    g_auto(VmigFd) b = client_new();

    f->free_in_callback = TRUE;
    client_connect(f, a);
    client_connect(f, b);
    iterate_until_accepted(f, 1);
    g_assert_null(f->listener);
    for (guint i = 0; i < 5; i++)
        iterate(f, FALSE);
    g_assert_cmpuint(f->accepted->len, ==, 1);
}

/*
 * Out of descriptors: the listener sheds the connection it cannot take
 * (its client reads end of file at once), backs off instead of spinning
 * (CPU time measured over a second), and accepts again once descriptors
 * are free.
 */
static void
test_out_of_fds(Fixture *f, gconstpointer data)
{
    g_autoptr(GArray) fill = g_array_new(FALSE, FALSE, sizeof(int));
    /* Accepting is tried at 0, 100, 300 and 700 ms: at most 4 are shed in the second. */
    int clients[10];
    struct rlimit saved, low;
    gint64 wall, cpu;
    char c;

    for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
        clients[i] = client_new();
    /* A low limit makes the table quick to fill (under valgrind it only
     * pretends, and the fill goes on to valgrind's own limit). */
    g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &saved), ==, 0);
    low = saved;
    low.rlim_cur = MIN(saved.rlim_cur, vmig_test_count_fds(0) + 64);
    (void)setrlimit(RLIMIT_NOFILE, &low);
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
            g_assert_cmpint(errno, ==, EMFILE);
            break;
        }
        g_array_append_val(fill, fd);
        if (fill->len > FILL_MAX) {
            for (guint i = 0; i < fill->len; i++)
                close(g_array_index(fill, int, i));
            for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
                close(clients[i]);
            setrlimit(RLIMIT_NOFILE, &saved);
            g_test_skip("the descriptor table does not fill up");
            return;
        }
    }
    g_test_expect_message("vmig-listener", G_LOG_LEVEL_WARNING,
                          "cannot accept connections on *Too many open files*");
    for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
        client_connect(f, clients[i]);

    wall = g_get_monotonic_time();
    cpu = cpu_us();
    while (g_get_monotonic_time() - wall < G_USEC_PER_SEC)
        iterate(f, TRUE);
    wall = g_get_monotonic_time() - wall;
    cpu = cpu_us() - cpu;
    g_test_message("out of descriptors for %" G_GINT64_FORMAT " ms: %" G_GINT64_FORMAT
                   " ms of CPU",
                   wall / 1000, cpu / 1000);
    g_assert_cmpint(cpu, <, wall / 4);
    g_test_assert_expected_messages();
    g_assert_cmpuint(f->accepted->len, ==, 0);
    /* The first client was shed at once: it reads end of file, not a timeout. */
    g_assert_cmpint(recv(clients[0], &c, 1, 0), ==, 0);

    for (guint i = 0; i < fill->len; i++)
        close(g_array_index(fill, int, i));
    g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &saved), ==, 0);
    /* Those not shed are accepted after the back-off (at most 1 s). */
    iterate_until_accepted(f, 1);
    for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
        close(clients[i]);
}

static void
add(const char *path, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    add("/listener/accept", test_accept);
    add("/listener/free-in-callback", test_free_in_callback);
    add("/listener/out-of-fds", test_out_of_fds);
    return g_test_run();
}
