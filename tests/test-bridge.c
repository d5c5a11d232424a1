/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bridge.c: the splice bridge, on real socket pairs
 *
 * Every test builds the same picture:
 *
 *     app_a <-socketpair-> [fd_a  bridge  fd_b] <-socketpair-> app_b
 *
 * and talks through app_a and app_b from threads of its own (a "peer"
 * writes a known pattern or reads and checks it byte for byte), while the
 * test thread iterates a private GMainContext, where done must run.  Some
 * tests use TCP over 127.0.0.1 instead of socketpairs: to show it works
 * there too, because only TCP has a real reset (SO_LINGER 0), and because
 * TCP's splice() has its own way with urgent data.
 *
 * Nothing waits forever: the test sockets have send and receive timeouts,
 * and every wait in the test thread has a deadline that fails the test.
 * A fixture counts this process's fds and threads before and after each
 * test, so a leaked descriptor or a thread left running fails the test
 * that leaked it.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <glib.h>

#include "driver/bridge.h"
#include "fdpass/fd.h"
#include "tests/testutil.h"

/* How long any one wait may take (valgrind makes everything slow). */
#define TEST_TIMEOUT_S 60

/* The pattern repeats with a period that is no power of two. */
#define PATTERN_PERIOD (1024 * 1024 + 13)

#define MiB (1024 * 1024)

static guint8 *pattern;

/* ------------------------------------------------------------------------ */
/* Helpers */

/* Fill the pattern from a fixed seed, so failures reproduce. */
static void
pattern_init(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(0x564d4752);
    gsize i;

    pattern = g_malloc(PATTERN_PERIOD);
    for (i = 0; i < PATTERN_PERIOD; i++)
        pattern[i] = g_rand_int(rand) & 0xff;
}

/*
 * Pointer into the pattern at stream offset @offset; *@avail says how
 * many bytes follow it before the pattern wraps.
 * Returns: the pointer.
 */
static const guint8 *
pattern_at(guint64 offset, gsize *avail)
{
    gsize pos = offset % PATTERN_PERIOD;

    *avail = PATTERN_PERIOD - pos;
    return pattern + pos;
}

/* Give a test-side socket send and receive timeouts. */
static void
set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = TEST_TIMEOUT_S};

    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), ==, 0);
}

/*
 * A connected AF_UNIX stream pair; the test's end (@app) gets timeouts.
 */
static void
make_unix_pair(int *app, int *bridge_end)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    *app = sv[0];
    *bridge_end = sv[1];
    set_timeouts(*app);
}

/*
 * A connected TCP pair over 127.0.0.1 (listen, connect, accept, close the
 * listener); the test's end (@app) gets timeouts.
 */
static void
make_tcp_pair(int *app, int *bridge_end)
{
    g_auto(VmigFd) listener = -1;
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t len = sizeof(addr);

    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(listener, >=, 0);
    g_assert_cmpint(bind(listener, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(listener, 1), ==, 0);
    g_assert_cmpint(getsockname(listener, (struct sockaddr *)&addr, &len), ==, 0);
    *app = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(*app, >=, 0);
    g_assert_cmpint(connect(*app, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    *bridge_end = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(*bridge_end, >=, 0);
    set_timeouts(*app);
}

/* Close @fd so that the peer sees a reset (RST), not an orderly FIN. */
static void
close_with_reset(int *fdp)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    g_assert_cmpint(setsockopt(*fdp, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), ==, 0);
    vmig_fd_clear(fdp);
}

/* Returns: how many threads this process has, from /proc/self/task. */
static guint
count_threads(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) dir = g_dir_open("/proc/self/task", 0, &error);
    guint n = 0;

    g_assert_no_error(error);
    while (g_dir_read_name(dir))
        n++;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Peers: threads that write or read-and-check one test socket */

typedef struct {
    int fd;               /* borrowed */
    guint64 offset;       /* where in the pattern the stream starts */
    guint64 total;        /* writer: bytes to write (G_MAXUINT64: until it fails) */
    guint64 stop_after;   /* reader: stop once this many have been read (0: EOF) */
    const guint8 *prefix; /* reader: bytes expected before the pattern */
    gsize prefix_len;
    gboolean shut_wr; /* writer: shutdown(SHUT_WR) when done */

    /* Results, valid once the thread has been joined. */
    guint64 moved;   /* pattern bytes written or read (prefix not counted) */
    int err;         /* errno of the call that failed, or 0 */
    gboolean eof;    /* reader: saw end of file */
    gint64 mismatch; /* reader: stream offset of the first wrong byte, or -1 */
    GThread *thread;
    gint finished; /* atomic */
} Peer;

/* Send the pattern (in writes of varying sizes).  Returns: NULL. */
static gpointer
peer_write_thread(gpointer data)
{
    static const gsize steps[] = {MiB, 4096 + 13, 65536, 777, 3 * MiB / 2};
    Peer *p = data;
    guint i = 0;

    while (p->moved < p->total) {
        gsize avail;
        const guint8 *src = pattern_at(p->offset + p->moved, &avail);
        gsize step = steps[i++ % G_N_ELEMENTS(steps)];
        gsize len = MIN(MIN(avail, step), p->total - p->moved);
        ssize_t n = send(p->fd, src, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            p->err = errno;
            break;
        }
        p->moved += n;
    }
    if (p->shut_wr && !p->err)
        shutdown(p->fd, SHUT_WR);
    g_atomic_int_set(&p->finished, 1);
    return NULL;
}

/*
 * Read exactly @len bytes (or fewer at end of file / error, recorded in
 * @p) into @buf.
 * Returns: the number read.
 */
static gsize
peer_read_full(Peer *p, guint8 *buf, gsize len)
{
    gsize got = 0;

    while (got < len) {
        ssize_t n = recv(p->fd, buf + got, len - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            p->err = errno;
            break;
        }
        if (n == 0) {
            p->eof = TRUE;
            break;
        }
        got += n;
    }
    return got;
}

/* Read the prefix, then the pattern, checking every byte.  Returns: NULL. */
static gpointer
peer_read_thread(gpointer data)
{
    Peer *p = data;
    g_autofree guint8 *buf = g_malloc(256 * 1024);

    if (p->prefix_len > 0) {
        g_autofree guint8 *got = g_malloc(p->prefix_len);

        if (peer_read_full(p, got, p->prefix_len) != p->prefix_len ||
            memcmp(got, p->prefix, p->prefix_len) != 0) {
            p->mismatch = 0;
            p->err = p->err ? p->err : EPROTO;
            goto out;
        }
    }
    for (;;) {
        gsize want = 256 * 1024;
        ssize_t n;
        gsize done = 0;

        if (p->stop_after && p->moved >= p->stop_after)
            break;
        n = recv(p->fd, buf, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            p->err = errno;
            break;
        }
        if (n == 0) {
            p->eof = TRUE;
            break;
        }
        while (p->mismatch < 0 && done < (gsize)n) {
            gsize avail;
            const guint8 *expect = pattern_at(p->offset + p->moved + done, &avail);
            gsize len = MIN(avail, (gsize)n - done);

            if (memcmp(buf + done, expect, len) != 0) {
                gsize j = 0;

                while (buf[done + j] == expect[j])
                    j++;
                p->mismatch = p->moved + done + j;
            }
            done += len;
        }
        p->moved += n;
    }
out:
    g_atomic_int_set(&p->finished, 1);
    return NULL;
}

/* Start a writer of @total pattern bytes from @offset on @fd.  Returns: the peer. */
static Peer *
peer_start_writer(int fd, guint64 offset, guint64 total, gboolean shut_wr)
{
    Peer *p = g_new0(Peer, 1);

    p->fd = fd;
    p->offset = offset;
    p->total = total;
    p->shut_wr = shut_wr;
    p->mismatch = -1;
    p->thread = g_thread_new("test-writer", peer_write_thread, p);
    return p;
}

/*
 * Start a reader on @fd that expects @prefix (nullable), then the pattern
 * from @offset, up to end of file or @stop_after bytes.
 * Returns: the peer.
 */
static Peer *
peer_start_reader(int fd, guint64 offset, GBytes *prefix, guint64 stop_after)
{
    Peer *p = g_new0(Peer, 1);

    p->fd = fd;
    p->offset = offset;
    p->stop_after = stop_after;
    if (prefix)
        p->prefix = g_bytes_get_data(prefix, &p->prefix_len);
    p->mismatch = -1;
    p->thread = g_thread_new("test-reader", peer_read_thread, p);
    return p;
}

/* ------------------------------------------------------------------------ */
/* The fixture: a private context, done bookkeeping, fd and thread counts */

typedef struct {
    GMainContext *context;
    GThread *test_thread;
    guint fds_before;
    guint threads_before;

    VmigBridge *bridge;    /* the bridge done is expected for */
    gboolean free_in_done; /* done frees the bridge (and clears @bridge) */
    guint done_calls;
    gboolean done_on_context; /* every call ran with @context acquired, in this thread */
    GError *done_error;       /* a copy of what done was given */
    guint64 done_bytes_ab;    /* the counters, read inside done */
    guint64 done_bytes_ba;
} Fixture;

/* Count fds and threads, make the context. */
static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->threads_before = count_threads();
    f->context = g_main_context_new();
    f->test_thread = g_thread_self();
    f->done_on_context = TRUE;
    f->fds_before = vmig_test_count_fds(0);
}

/* Check nothing leaked: every fd closed, every thread gone. */
static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    g_assert_null(f->bridge);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
    /*
     * A joined thread can linger in /proc/self/task for a moment while the
     * kernel finishes its exit: allow it a short while.
     */
    while (count_threads() != f->threads_before && g_get_monotonic_time() < deadline)
        g_usleep(1000);
    g_assert_cmpuint(count_threads(), ==, f->threads_before);
    g_clear_error(&f->done_error);
    g_main_context_unref(f->context);
}

/* The done callback of every test. */
static void
on_done(VmigBridge *bridge, const GError *error, gpointer user_data)
{
    Fixture *f = user_data;

    g_assert_true(bridge == f->bridge);
    f->done_calls++;
    if (!g_main_context_is_owner(f->context) || g_thread_self() != f->test_thread)
        f->done_on_context = FALSE;
    g_clear_error(&f->done_error);
    if (error)
        f->done_error = g_error_copy(error);
    f->done_bytes_ab = vmig_bridge_get_bytes(bridge, TRUE);
    f->done_bytes_ba = vmig_bridge_get_bytes(bridge, FALSE);
    if (f->free_in_done)
        g_clear_pointer(&f->bridge, vmig_bridge_free);
}

/* Start a bridge on @fd_a and @fd_b (consumed) for @f. */
static void
fixture_start(Fixture *f, int *fd_a, int *fd_b, GBytes *prefix_ab, GBytes *prefix_ba)
{
    g_autoptr(GError) error = NULL;

    f->bridge = vmig_bridge_start(fd_a, fd_b, prefix_ab, prefix_ba, "m1/main", f->context,
                                  on_done, f, &error);
    g_assert_no_error(error);
    g_assert_nonnull(f->bridge);
    g_assert_cmpint(*fd_a, ==, -1);
    g_assert_cmpint(*fd_b, ==, -1);
}

typedef gboolean (*Condition)(Fixture *f, gpointer data);

/*
 * Iterate the fixture's context until @cond holds; fail the test after
 * TEST_TIMEOUT_S.  @what names the wait in the failure.
 */
static void
wait_for(Fixture *f, Condition cond, gpointer data, const char *what)
{
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_S * G_USEC_PER_SEC;

    while (!cond(f, data)) {
        if (g_get_monotonic_time() > deadline)
            g_error("timed out after %d s waiting for %s", TEST_TIMEOUT_S, what);
        while (g_main_context_iteration(f->context, FALSE))
            ;
        g_usleep(1000);
    }
}

/* Returns: TRUE once done has been called. */
static gboolean
cond_done(Fixture *f, gpointer data)
{
    return f->done_calls > 0;
}

/* Returns: TRUE once the peer @data has finished. */
static gboolean
cond_peer_finished(Fixture *f, gpointer data)
{
    Peer *p = data;

    return g_atomic_int_get(&p->finished);
}

/* Returns: TRUE once the bridge has moved at least 1 MiB each way. */
static gboolean
cond_flowing(Fixture *f, gpointer data)
{
    return vmig_bridge_get_bytes(f->bridge, TRUE) >= MiB &&
           vmig_bridge_get_bytes(f->bridge, FALSE) >= MiB;
}

/* Returns: TRUE once only the test's threads and @data more are left. */
static gboolean
cond_threads(Fixture *f, gpointer data)
{
    return count_threads() == f->threads_before + GPOINTER_TO_UINT(data);
}

/* Wait (bounded) for a peer, join it.  Returns: the peer, to check and g_free. */
static Peer *
peer_join(Fixture *f, Peer *p)
{
    wait_for(f, cond_peer_finished, p, "a peer thread");
    g_thread_join(p->thread);
    p->thread = NULL;
    return p;
}

/* Let the context run a while longer: done must not come (again). */
static void
iterate_for(Fixture *f, guint ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end) {
        while (g_main_context_iteration(f->context, FALSE))
            ;
        g_usleep(1000);
    }
}

/* Assert a reader got exactly @len clean bytes and end of file. */
static void
assert_read_all(Peer *p, guint64 len)
{
    g_assert_cmpint(p->err, ==, 0);
    g_assert_cmpint(p->mismatch, ==, -1);
    g_assert_true(p->eof);
    g_assert_cmpuint(p->moved, ==, len);
}

/* Assert a writer wrote all of its bytes. */
static void
assert_wrote_all(Peer *p)
{
    g_assert_cmpint(p->err, ==, 0);
    g_assert_cmpuint(p->moved, ==, p->total);
}

/* ------------------------------------------------------------------------ */
/* Tests */

/*
 * Move @ab bytes a->b and @ba bytes b->a at the same time over pairs made
 * by @make_pair, check them byte for byte, the counters, and done.
 */
static void
run_both_ways(Fixture *f, void (*make_pair)(int *, int *), guint64 ab, guint64 ba)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    g_autofree Peer *wa = NULL, *rb = NULL, *wb = NULL, *ra = NULL;

    make_pair(&app_a, &fd_a);
    make_pair(&app_b, &fd_b);
    fixture_start(f, &fd_a, &fd_b, NULL, NULL);

    wa = peer_start_writer(app_a, 0, ab, TRUE);
    rb = peer_start_reader(app_b, 0, NULL, 0);
    wb = peer_start_writer(app_b, 12345, ba, TRUE);
    ra = peer_start_reader(app_a, 12345, NULL, 0);

    wait_for(f, cond_done, NULL, "done");
    assert_wrote_all(peer_join(f, wa));
    assert_wrote_all(peer_join(f, wb));
    assert_read_all(peer_join(f, rb), ab);
    assert_read_all(peer_join(f, ra), ba);

    g_assert_no_error(f->done_error);
    g_assert_true(f->done_on_context);
    g_assert_cmpuint(f->done_bytes_ab, ==, ab);
    g_assert_cmpuint(f->done_bytes_ba, ==, ba);
    iterate_for(f, 50);
    g_assert_cmpuint(f->done_calls, ==, 1);
}

/* 64 MiB a->b while 1 MiB b->a, over socketpairs; freed after done. */
static void
test_both_ways(Fixture *f, gconstpointer data)
{
    run_both_ways(f, make_unix_pair, 64 * MiB, MiB);
    g_assert_cmpuint(vmig_bridge_get_bytes(f->bridge, TRUE), ==, 64 * MiB);
    g_assert_cmpuint(vmig_bridge_get_bytes(f->bridge, FALSE), ==, MiB);
    g_clear_pointer(&f->bridge, vmig_bridge_free);
}

/* The same over TCP on 127.0.0.1, with done freeing the bridge. */
static void
test_tcp(Fixture *f, gconstpointer data)
{
    f->free_in_done = TRUE;
    run_both_ways(f, make_tcp_pair, 16 * MiB + 3, 5 * MiB);
    g_assert_null(f->bridge);
}

/*
 * Prefixes reach each side before anything else, even when stream bytes
 * were already queued before the bridge started; a prefix larger than the
 * socket buffers takes several writes.
 */
static void
test_prefix(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    g_autoptr(GBytes) prefix_ab = NULL;
    g_autoptr(GBytes) prefix_ba = g_bytes_new_static("VMGM", 4);
    g_autofree guint8 *big = g_malloc(3 * MiB + 1);
    g_autofree Peer *wa = NULL, *rb = NULL, *wb = NULL, *ra = NULL;
    gsize avail;
    gsize i;

    for (i = 0; i < 3 * MiB + 1; i++)
        big[i] = (i * 7 + 1) & 0xff;
    prefix_ab = g_bytes_new_take(g_steal_pointer(&big), 3 * MiB + 1);

    make_unix_pair(&app_a, &fd_a);
    make_unix_pair(&app_b, &fd_b);
    /* Stream bytes already waiting in both bridge sockets. */
    g_assert_cmpint(send(app_a, pattern_at(0, &avail), 1000, 0), ==, 1000);
    g_assert_cmpint(send(app_b, pattern_at(777, &avail), 10, 0), ==, 10);

    fixture_start(f, &fd_a, &fd_b, prefix_ab, prefix_ba);
    rb = peer_start_reader(app_b, 0, prefix_ab, 0);
    ra = peer_start_reader(app_a, 777, prefix_ba, 0);
    wa = peer_start_writer(app_a, 1000, 4 * MiB, TRUE);
    wb = peer_start_writer(app_b, 777 + 10, 100, TRUE);

    wait_for(f, cond_done, NULL, "done");
    assert_wrote_all(peer_join(f, wa));
    assert_wrote_all(peer_join(f, wb));
    assert_read_all(peer_join(f, rb), 1000 + 4 * MiB);
    assert_read_all(peer_join(f, ra), 10 + 100);
    g_assert_no_error(f->done_error);
    g_assert_true(f->done_on_context);
    g_assert_cmpuint(f->done_calls, ==, 1);
    /* The counters count what reached each socket, prefixes included. */
    g_assert_cmpuint(f->done_bytes_ab, ==, 3 * MiB + 1 + 1000 + 4 * MiB);
    g_assert_cmpuint(f->done_bytes_ba, ==, 4 + 10 + 100);
    g_clear_pointer(&f->bridge, vmig_bridge_free);
}

/*
 * A half-close travels through: a shuts down writing, b reads end of
 * file, and b -> a still flows (and done waits for it).
 */
static void
test_half_close(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    g_autofree Peer *wa = NULL, *rb = NULL, *wb = NULL, *ra = NULL;

    make_unix_pair(&app_a, &fd_a);
    make_unix_pair(&app_b, &fd_b);
    fixture_start(f, &fd_a, &fd_b, NULL, NULL);

    wa = peer_start_writer(app_a, 0, MiB, TRUE);
    rb = peer_start_reader(app_b, 0, NULL, 0);
    assert_wrote_all(peer_join(f, wa));
    assert_read_all(peer_join(f, rb), MiB);

    /* a -> b is over; b -> a starts only now and must still get through. */
    iterate_for(f, 20);
    g_assert_cmpuint(f->done_calls, ==, 0);
    ra = peer_start_reader(app_a, 99, NULL, 0);
    wb = peer_start_writer(app_b, 99, 8 * MiB, FALSE);
    assert_wrote_all(peer_join(f, wb));
    iterate_for(f, 20);
    g_assert_cmpuint(f->done_calls, ==, 0);

    /* Now b shuts down writing too: a reads end of file, done comes. */
    g_assert_cmpint(shutdown(app_b, SHUT_WR), ==, 0);
    assert_read_all(peer_join(f, ra), 8 * MiB);
    wait_for(f, cond_done, NULL, "done");
    g_assert_no_error(f->done_error);
    g_assert_true(f->done_on_context);
    g_assert_cmpuint(f->done_bytes_ab, ==, MiB);
    g_assert_cmpuint(f->done_bytes_ba, ==, 8 * MiB);
    iterate_for(f, 50);
    g_assert_cmpuint(f->done_calls, ==, 1);
    g_clear_pointer(&f->bridge, vmig_bridge_free);
}

/*
 * A peer resets mid-stream while only one direction is still running, so
 * the failing direction is known: done gets FORWARD naming it, the other
 * side sees its connection shut down.  @reset_b: b resets while a -> b
 * flows, else a resets while b -> a flows.
 */
static void
run_reset(Fixture *f, gboolean reset_b)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    g_autofree Peer *idle_reader = NULL, *writer = NULL, *reader = NULL;
    int *sender, *resetter;

    make_tcp_pair(&app_a, &fd_a);
    make_tcp_pair(&app_b, &fd_b);
    sender = reset_b ? &app_a : &app_b;
    resetter = reset_b ? &app_b : &app_a;
    fixture_start(f, &fd_a, &fd_b, NULL, NULL);

    /* End the direction that is not under test cleanly first. */
    g_assert_cmpint(shutdown(*resetter, SHUT_WR), ==, 0);
    idle_reader = peer_start_reader(*sender, 0, NULL, 0);
    assert_read_all(peer_join(f, idle_reader), 0);

    /* Stream until the far end has seen 2 MiB, then it resets. */
    writer = peer_start_writer(*sender, 0, G_MAXUINT64, FALSE);
    reader = peer_start_reader(*resetter, 0, NULL, 2 * MiB);
    peer_join(f, reader);
    g_assert_cmpint(reader->err, ==, 0);
    g_assert_cmpint(reader->mismatch, ==, -1);
    close_with_reset(resetter);

    wait_for(f, cond_done, NULL, "done");
    g_assert_error(f->done_error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_FORWARD);
    g_assert_true(
        g_str_has_prefix(f->done_error->message,
                         reset_b ? "m1/main: source to destination: splice failed: "
                                 : "m1/main: destination to source: splice failed: "));
    g_test_message("reset: %s", f->done_error->message);
    g_assert_true(f->done_on_context);

    iterate_for(f, 50);
    g_assert_cmpuint(f->done_calls, ==, 1);

    /*
     * Freeing closes the sender's connection (TCP resets it, as the bridge
     * socket holds unread data): its writes fail.
     */
    g_clear_pointer(&f->bridge, vmig_bridge_free);
    peer_join(f, writer);
    g_assert_cmpint(writer->err, !=, 0);
}

/* b resets while a -> b flows. */
static void
test_reset_b(Fixture *f, gconstpointer data)
{
    run_reset(f, TRUE);
}

/* a resets while b -> a (the return path) flows. */
static void
test_reset_a(Fixture *f, gconstpointer data)
{
    run_reset(f, FALSE);
}

/*
 * Urgent (MSG_OOB) bytes from a: they arrive at b inline, in order,
 * nothing lost and the stream not cut short (TCP's splice returns 0 in
 * front of urgent data, as at end of file).  @data non-NULL: over TCP,
 * else over socketpairs (skipped where AF_UNIX has no MSG_OOB).
 */
static void
test_urgent(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    g_autoptr(GString) expected = g_string_new(NULL);
    g_autoptr(GString) got = g_string_new(NULL);
    char buf[4096];
    ssize_t n;
    int i;

    if (data) {
        make_tcp_pair(&app_a, &fd_a);
        make_tcp_pair(&app_b, &fd_b);
    } else {
        make_unix_pair(&app_a, &fd_a);
        make_unix_pair(&app_b, &fd_b);
        if (send(app_a, "!", 1, MSG_OOB) < 0) {
            g_test_skip("no MSG_OOB on AF_UNIX stream sockets here");
            return;
        }
        g_string_append_c(expected, '!');
    }
    fixture_start(f, &fd_a, &fd_b, NULL, NULL);
    for (i = 0; i < 20; i++) {
        char normal[] = {'a', 'b', (char)('A' + i)};
        char urgent = (char)('0' + i % 10);

        g_assert_cmpint(send(app_a, normal, sizeof(normal), 0), ==, sizeof(normal));
        if (i % 3 == 0)
            g_usleep(2000);
        g_assert_cmpint(send(app_a, &urgent, 1, MSG_OOB), ==, 1);
        if (i % 4 == 0)
            g_usleep(2000);
        g_string_append_len(expected, normal, sizeof(normal));
        g_string_append_c(expected, urgent);
    }
    g_assert_cmpint(send(app_a, "end", 3, 0), ==, 3);
    g_string_append(expected, "end");
    g_assert_cmpint(shutdown(app_a, SHUT_WR), ==, 0);
    g_assert_cmpint(shutdown(app_b, SHUT_WR), ==, 0);

    /* app_b has a receive timeout: this cannot hang. */
    while ((n = recv(app_b, buf, sizeof(buf), 0)) > 0)
        g_string_append_len(got, buf, n);
    g_assert_cmpint(n, ==, 0);
    g_assert_cmpstr(got->str, ==, expected->str);

    wait_for(f, cond_done, NULL, "done");
    g_assert_no_error(f->done_error);
    g_assert_cmpuint(f->done_bytes_ab, ==, expected->len);
    g_clear_pointer(&f->bridge, vmig_bridge_free);
}

/*
 * vmig_bridge_free() while both directions are busy: the threads are
 * joined, done never comes, the peers see their connections end.
 */
static void
test_free_running(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    g_autofree Peer *wa = NULL, *rb = NULL, *wb = NULL, *ra = NULL;

    make_unix_pair(&app_a, &fd_a);
    make_unix_pair(&app_b, &fd_b);
    fixture_start(f, &fd_a, &fd_b, NULL, NULL);
    wa = peer_start_writer(app_a, 0, G_MAXUINT64, FALSE);
    rb = peer_start_reader(app_b, 0, NULL, 0);
    wb = peer_start_writer(app_b, 5, G_MAXUINT64, FALSE);
    ra = peer_start_reader(app_a, 5, NULL, 0);
    wait_for(f, cond_flowing, NULL, "bytes flowing both ways");

    g_clear_pointer(&f->bridge, vmig_bridge_free);
    /*
     * Writers fail (EPIPE, or ECONNRESET as the bridge sockets were closed
     * with bytes unread); readers get what was forwarded, then end of file
     * or that reset.
     */
    g_assert_cmpint(peer_join(f, wa)->err, !=, 0);
    g_assert_cmpint(peer_join(f, wb)->err, !=, 0);
    peer_join(f, rb);
    peer_join(f, ra);
    g_assert_true(rb->eof || rb->err == ECONNRESET);
    g_assert_true(ra->eof || ra->err == ECONNRESET);
    g_assert_cmpint(rb->mismatch, ==, -1);
    g_assert_cmpint(ra->mismatch, ==, -1);
    iterate_for(f, 50);
    g_assert_cmpuint(f->done_calls, ==, 0);
    /* The bridge threads were joined: only the test thread is left. */
    wait_for(f, cond_threads, GUINT_TO_POINTER(0), "the bridge threads to go");
}

/*
 * vmig_bridge_free() while nothing moves: both threads wait for data and
 * must wake up and end, over socketpairs (@data NULL) or TCP.
 */
static void
test_free_idle(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    char c;

    if (data) {
        make_tcp_pair(&app_a, &fd_a);
        make_tcp_pair(&app_b, &fd_b);
    } else {
        make_unix_pair(&app_a, &fd_a);
        make_unix_pair(&app_b, &fd_b);
    }
    fixture_start(f, &fd_a, &fd_b, NULL, NULL);
    /* Let both threads reach their wait. */
    wait_for(f, cond_threads, GUINT_TO_POINTER(2), "the bridge threads to start");
    iterate_for(f, 20);
    g_clear_pointer(&f->bridge, vmig_bridge_free);
    g_assert_cmpint(recv(app_a, &c, 1, 0), ==, 0);
    g_assert_cmpint(recv(app_b, &c, 1, 0), ==, 0);
    iterate_for(f, 20);
    g_assert_cmpuint(f->done_calls, ==, 0);
}

/*
 * vmig_bridge_free() after both directions ended but before the context
 * ran done: the pending call is dropped.
 */
static void
test_free_pending_done(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_S * G_USEC_PER_SEC;

    make_unix_pair(&app_a, &fd_a);
    make_unix_pair(&app_b, &fd_b);
    fixture_start(f, &fd_a, &fd_b, NULL, NULL);
    shutdown(app_a, SHUT_WR);
    shutdown(app_b, SHUT_WR);
    /* Without iterating the context: wait for the bridge threads to end. */
    while (count_threads() != f->threads_before) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
    g_assert_true(g_main_context_pending(f->context));
    g_clear_pointer(&f->bridge, vmig_bridge_free);
    iterate_for(f, 50);
    g_assert_cmpuint(f->done_calls, ==, 0);
}

/*
 * SIGPIPE at its default action (death) while the bridge writes to a peer
 * that is gone, in the stream and in a prefix: done reports it, the
 * process lives on.
 */
static void
test_sigpipe(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) app_a = -1;
    g_auto(VmigFd) app_b = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    g_autofree Peer *wa = NULL;
    g_autofree guint8 *junk = g_malloc0(256 * 1024);
    g_autoptr(GBytes) prefix = g_bytes_new_take(g_steal_pointer(&junk), 256 * 1024);
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigset_t pending;

    g_assert_cmpint(sigaction(SIGPIPE, &dfl, &old), ==, 0);

    /* In the stream: b's far end closes while a keeps sending. */
    make_unix_pair(&app_a, &fd_a);
    make_unix_pair(&app_b, &fd_b);
    fixture_start(f, &fd_a, &fd_b, NULL, NULL);
    wa = peer_start_writer(app_a, 0, 64 * MiB, FALSE);
    /*
     * Nobody reads b: soon the bridge sleeps in a splice to fd_b that waits
     * for room (the counter moves only when that splice returns).
     */
    iterate_for(f, 50);
    vmig_fd_clear(&app_b);
    wait_for(f, cond_done, NULL, "done");
    g_assert_error(f->done_error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_FORWARD);
    g_test_message("closed peer: %s", f->done_error->message);
    g_clear_pointer(&f->bridge, vmig_bridge_free);
    g_assert_cmpint(peer_join(f, wa)->err, !=, 0);
    vmig_fd_clear(&app_a);

    /* In a prefix: b's far end is gone before the bridge starts. */
    f->done_calls = 0;
    make_unix_pair(&app_a, &fd_a);
    make_unix_pair(&app_b, &fd_b);
    vmig_fd_clear(&app_b);
    fixture_start(f, &fd_a, &fd_b, prefix, NULL);
    wait_for(f, cond_done, NULL, "done");
    g_assert_error(f->done_error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP);
    g_assert_true(g_str_has_prefix(f->done_error->message,
                                   "m1/main: source to destination: writing the first "
                                   "262144 bytes failed: "));
    g_test_message("prefix to a closed peer: %s", f->done_error->message);
    g_clear_pointer(&f->bridge, vmig_bridge_free);

    /* Still alive; and no SIGPIPE was left pending on the process either. */
    g_assert_cmpint(sigpending(&pending), ==, 0);
    g_assert_false(sigismember(&pending, SIGPIPE));
    g_assert_cmpint(sigaction(SIGPIPE, &old, NULL), ==, 0);
}

/*
 * Start with something that cannot be bridged: SETUP, both fds consumed
 * and closed, done never called.  @what picks the bad fd.
 */
static void
run_bad_fd(Fixture *f, const char *what)
{
    g_auto(VmigFd) app = -1;
    g_auto(VmigFd) fd_a = -1;
    g_auto(VmigFd) fd_b = -1;
    g_auto(VmigFd) other = -1;
    g_autoptr(GError) error = NULL;
    VmigBridge *bridge;
    int sv[2];

    make_unix_pair(&app, &fd_a);
    if (g_str_equal(what, "minus-one")) {
        fd_b = -1;
    } else if (g_str_equal(what, "closed")) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        close(sv[0]);
        close(sv[1]);
        fd_b = sv[1]; /* no longer open: EBADF */
    } else if (g_str_equal(what, "pipe")) {
        g_assert_cmpint(pipe2(sv, O_CLOEXEC), ==, 0);
        fd_b = sv[0];
        other = sv[1];
    } else if (g_str_equal(what, "datagram")) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        fd_b = sv[0];
        other = sv[1];
    } else if (g_str_equal(what, "same")) {
        fd_b = fd_a;
    } else {
        g_assert_not_reached();
    }

    bridge = vmig_bridge_start(&fd_a, &fd_b, NULL, NULL, "m1/main", f->context, on_done,
                               f, &error);
    g_assert_null(bridge);
    g_assert_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP);
    g_assert_true(g_str_has_prefix(error->message, "m1/main: "));
    g_test_message("%s: %s", what, error->message);
    g_assert_cmpint(fd_a, ==, -1);
    g_assert_cmpint(fd_b, ==, -1);

    /* The bridge's end of the good pair is closed: app reads end of file. */
    {
        char c;
        g_assert_cmpint(recv(app, &c, 1, 0), ==, 0);
    }
    vmig_fd_clear(&app);
    vmig_fd_clear(&other);
    iterate_for(f, 20);
    g_assert_cmpuint(f->done_calls, ==, 0);
}

/* Bad fd variants. */
static void
test_bad_fd(Fixture *f, gconstpointer data)
{
    run_bad_fd(f, data);
}

int
main(int argc, char **argv)
{
    static const char *const bad[] = {"minus-one", "closed", "pipe", "datagram", "same"};
    gsize i;
    int ret;

    g_test_init(&argc, &argv, NULL);
    pattern_init();

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/bridge/both-ways", test_both_ways);
    ADD("/bridge/tcp", test_tcp);
    ADD("/bridge/prefix", test_prefix);
    ADD("/bridge/half-close", test_half_close);
    g_test_add("/bridge/urgent/tcp", Fixture, "tcp", fixture_setup, test_urgent,
               fixture_teardown);
    g_test_add("/bridge/urgent/unix", Fixture, NULL, fixture_setup, test_urgent,
               fixture_teardown);
    ADD("/bridge/reset/destination", test_reset_b);
    ADD("/bridge/reset/source", test_reset_a);
    ADD("/bridge/free/running", test_free_running);
    ADD("/bridge/free/pending-done", test_free_pending_done);
    g_test_add("/bridge/free/idle", Fixture, NULL, fixture_setup, test_free_idle,
               fixture_teardown);
    g_test_add("/bridge/free/idle-tcp", Fixture, "tcp", fixture_setup, test_free_idle,
               fixture_teardown);
    ADD("/bridge/sigpipe", test_sigpipe);
#undef ADD
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *path = g_strdup_printf("/bridge/bad-fd/%s", bad[i]);

        g_test_add(path, Fixture, bad[i], fixture_setup, test_bad_fd, fixture_teardown);
    }

    ret = g_test_run();
    g_free(pattern);
    return ret;
}
