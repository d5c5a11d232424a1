/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-pending.c: connections that have not yet said what they are
 * (driver/pending.h), on socket pairs
 *
 * The test plays both ends: it adds one end of each pair to a set, as a
 * listener or a management app would, writes openers and preambles on the
 * other, and iterates a private GMainContext until the set has decided.
 * Each test checks what the owner's callbacks got (fds compared by inode)
 * and what the peers saw (a dropped connection reads as end of file), and
 * a fixture compares this process's fd count before and after, so a
 * descriptor the set forgot fails the test that leaked it.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <glib.h>

#include "driver/pending.h"
#include "fdpass/fd.h"
#include "fdpass/preamble.h"
#include "tests/testutil.h"

/* The bound of every wait. */
#define TEST_TIMEOUT_US (20 * G_USEC_PER_SEC)
/* A short pending timeout, so that expiry is quick to see. */
#define SHORT_TIMEOUT_MS 300

typedef struct {
    int fd; /* the owner's end, as delivered (owned) */
    guint index;
    gboolean main;
} Delivery;

typedef struct {
    GMainContext *context;
    VmigPendingPool *pool;
    VmigPendingSet *set;
    GArray *delivered; /* Delivery */
    gboolean take;     /* the owner takes what it is given */
    gboolean free_set_on_delivery;
    guint fds_before;
    guint8 token[VMIG_TOKEN_SIZE];
} Fixture;

/* ------------------------------------------------------------------------ */
/* The owner */

static void
on_main(int *fdp, VmigTlsPump **pumpp, gpointer user_data)
{
    Fixture *f = user_data;
    Delivery d = {-1, 0, TRUE};

    g_assert_null(*pumpp); /* no TLS in these sets */
    if (f->take)
        d.fd = vmig_fd_steal(fdp);
    g_array_append_val(f->delivered, d);
}

static void
on_channel(int *fdp, guint index, VmigTlsPump **pumpp, gpointer user_data)
{
    Fixture *f = user_data;
    Delivery d = {-1, index, FALSE};

    g_assert_null(*pumpp);
    if (f->take)
        d.fd = vmig_fd_steal(fdp);
    g_array_append_val(f->delivered, d);
    if (f->free_set_on_delivery)
        g_clear_pointer(&f->set, vmig_pending_set_free);
}

static const VmigPendingFuncs funcs = {
    .main = on_main,
    .channel = on_channel,
};

/* ------------------------------------------------------------------------ */
/* Helpers */

static void
delivery_clear(gpointer data)
{
    Delivery *d = data;

    vmig_fd_clear(&d->fd);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->fds_before = vmig_test_count_fds(0);
    f->context = g_main_context_new();
    f->pool = vmig_pending_pool_new(GPOINTER_TO_UINT(data) ? GPOINTER_TO_UINT(data) : 256,
                                    SHORT_TIMEOUT_MS);
    f->set = vmig_pending_set_new(f->pool, f->context, "test", 0, &funcs, f);
    f->delivered = g_array_new(FALSE, TRUE, sizeof(Delivery));
    g_array_set_clear_func(f->delivered, delivery_clear);
    f->take = TRUE;
    memset(f->token, 0x5a, sizeof(f->token));
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->set, vmig_pending_set_free);
    g_clear_pointer(&f->delivered, g_array_unref);
    g_assert_cmpuint(vmig_pending_pool_count(f->pool), ==, 0);
    g_clear_pointer(&f->pool, vmig_pending_pool_free);
    while (g_main_context_iteration(f->context, FALSE))
        ;
    g_main_context_unref(f->context);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
}

/*
 * Makes a socket pair, adds one end to @set, and reads the destination's
 * hello from the other.
 * Returns: the peer's end (to close), with a receive timeout.
 */
static int
add_conn(VmigPendingSet *set, gboolean from_listener)
{
    int pair[2];
    struct timeval tv = {.tv_sec = 10};

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
    g_assert_cmpint(setsockopt(pair[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
    vmig_pending_set_add(set, &pair[0], from_listener);
    g_assert_cmpint(pair[0], ==, -1);
    /* The destination spoke first, at once: its hello, and nothing else. */
    {
        char hello[5];

        g_assert_cmpint(recv(pair[1], hello, sizeof(hello), MSG_DONTWAIT), ==, 4);
        g_assert_cmpmem(hello, 4, "VMGH", 4);
    }
    return pair[1];
}

/* Writes all of @data to @fd. */
static void
write_all(int fd, const void *data, gsize len)
{
    g_assert_cmpint(send(fd, data, len, MSG_NOSIGNAL), ==, (gssize)len);
}

/* Writes channel @index's preamble with @token (or the fixture's) to @fd. */
static void
write_preamble(int fd, const guint8 *token, guint index)
{
    VmigPreamble pre;
    guint8 bytes[VMIG_PREAMBLE_SIZE];

    memcpy(pre.token, token, VMIG_TOKEN_SIZE);
    pre.index = index;
    vmig_preamble_encode(&pre, bytes);
    write_all(fd, bytes, sizeof(bytes));
}

/* Iterates until @set holds @count connections or @n are delivered; bounded. */
static void
iterate_until(Fixture *f, guint count, guint n)
{
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;

    while ((f->set && vmig_pending_set_count(f->set) != count) || f->delivered->len < n) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(f->context, TRUE);
    }
}

/* Runs the loop for @ms milliseconds. */
static void
iterate_for(Fixture *f, guint ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

    while (g_get_monotonic_time() < end) {
        if (!g_main_context_iteration(f->context, FALSE))
            g_usleep(1000);
    }
}

/* Asserts the set closed its end of @peer: end of file. */
static void
assert_dropped(int peer)
{
    char c;
    gssize n = recv(peer, &c, 1, 0);

    g_assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

/* Asserts @peer is still connected to something that says nothing. */
static void
assert_open(int peer)
{
    char c;

    g_assert_cmpint(recv(peer, &c, 1, MSG_DONTWAIT), ==, -1);
    g_assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Asserts delivered @fd is the other end of @peer (same socket pair).
 */
static void
assert_same_pair(int fd, int peer)
{
    char c = 'x';

    write_all(peer, &c, 1);
    c = 0;
    g_assert_cmpint(recv(fd, &c, 1, 0), ==, 1);
    g_assert_cmpint(c, ==, 'x');
}

/* ------------------------------------------------------------------------ */
/* Tests */

/* "VMGM" from a listener: the owner's main channel, with nothing read past it. */
static void
test_main(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) peer = add_conn(f->set, TRUE);
    Delivery *d;

    write_all(peer, "VMGMnext", 8);
    iterate_until(f, 0, 1);
    d = &g_array_index(f->delivered, Delivery, 0);
    g_assert_true(d->main);
    {
        char rest[4];

        g_assert_cmpint(recv(d->fd, rest, 4, 0), ==, 4);
        g_assert_cmpmem(rest, 4, "next", 4);
    }
    assert_same_pair(d->fd, peer);
}

/* "VMGM" from an app (fd mode: channels only): dropped; so is an owner that does not take
 * it. */
static void
test_main_refused(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) app = add_conn(f->set, FALSE);
    g_auto(VmigFd) listener = add_conn(f->set, TRUE);

    f->take = FALSE;
    write_all(app, "VMGM", 4);
    write_all(listener, "VMGM", 4);
    iterate_until(f, 0, 1);
    g_assert_cmpuint(f->delivered->len, ==, 1);
    assert_dropped(app);
    assert_dropped(listener);
}

/* The token known first: a channel with it is delivered, one without is dropped at once.
 */
static void
test_token_first(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) good = -1;
    g_auto(VmigFd) bad = -1;
    guint8 wrong[VMIG_TOKEN_SIZE];
    Delivery *d;

    memset(wrong, 0xa5, sizeof(wrong));
    vmig_pending_set_set_token(f->set, f->token);
    good = add_conn(f->set, TRUE);
    bad = add_conn(f->set, FALSE);
    write_preamble(bad, wrong, 1);
    write_preamble(good, f->token, 3);
    iterate_until(f, 0, 1);
    d = &g_array_index(f->delivered, Delivery, 0);
    g_assert_false(d->main);
    g_assert_cmpuint(d->index, ==, 3);
    assert_same_pair(d->fd, good);
    assert_dropped(bad);
}

/*
 * Preambles before the token are held; when it comes, the right ones are
 * delivered in arrival order and the wrong one is dropped.
 */
static void
test_held_then_matched(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) a = add_conn(f->set, TRUE);
    g_auto(VmigFd) b = add_conn(f->set, FALSE);
    g_auto(VmigFd) c = add_conn(f->set, TRUE);
    guint8 wrong[VMIG_TOKEN_SIZE];

    memset(wrong, 0xa5, sizeof(wrong));
    write_preamble(a, f->token, 2);
    write_preamble(b, wrong, 0);
    write_preamble(c, f->token, 0);
    iterate_for(f, 50);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, 3);
    g_assert_cmpuint(f->delivered->len, ==, 0);
    assert_open(a);

    vmig_pending_set_set_token(f->set, f->token);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, 0);
    g_assert_cmpuint(f->delivered->len, ==, 2);
    g_assert_cmpuint(g_array_index(f->delivered, Delivery, 0).index, ==, 2);
    g_assert_cmpuint(g_array_index(f->delivered, Delivery, 1).index, ==, 0);
    assert_same_pair(g_array_index(f->delivered, Delivery, 0).fd, a);
    assert_same_pair(g_array_index(f->delivered, Delivery, 1).fd, c);
    assert_dropped(b);
}

/*
 * A held channel whose peer goes away is dropped at once, not when the
 * token comes (500 of these once held 509 fds until a cancel).
 */
static void
test_held_peer_closes(Fixture *f, gconstpointer data)
{
    int peers[8];

    for (guint i = 0; i < G_N_ELEMENTS(peers); i++) {
        peers[i] = add_conn(f->set, TRUE);
        write_preamble(peers[i], f->token, i);
    }
    iterate_for(f, 20);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, G_N_ELEMENTS(peers));
    for (guint i = 0; i < G_N_ELEMENTS(peers); i++)
        close(peers[i]);
    iterate_until(f, 0, 0);
    g_assert_cmpuint(vmig_pending_pool_count(f->pool), ==, 0);
}

/* A held channel that sends bytes before it is matched: dropped. */
static void
test_held_sends_data(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) peer = add_conn(f->set, TRUE);

    write_preamble(peer, f->token, 0);
    iterate_for(f, 20);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, 1);
    write_all(peer, "QEVM", 4);
    iterate_until(f, 0, 0);
    assert_dropped(peer);
}

/* Silence, half a preamble, and a held channel all end at the deadline. */
static void
test_timeout(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) silent = add_conn(f->set, TRUE);
    g_auto(VmigFd) half = add_conn(f->set, FALSE);
    g_auto(VmigFd) held = add_conn(f->set, TRUE);
    gint64 start = g_get_monotonic_time();
    gint64 took;

    write_all(half, "VMGC\1\2\3", 7);
    write_preamble(held, f->token, 1);
    iterate_until(f, 0, 0);
    took = g_get_monotonic_time() - start;
    g_test_message("dropped after %" G_GINT64_FORMAT " ms", took / 1000);
    g_assert_cmpint(took, >=, SHORT_TIMEOUT_MS * 1000 - 20000);
    assert_dropped(silent);
    assert_dropped(half);
    assert_dropped(held);
}

/* Anything but "VMGM" or "VMGC" first: dropped at once, the rest unread. */
static void
test_garbage(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) peer = add_conn(f->set, TRUE);

    write_all(peer, "GET / HTTP/1.0\r\n\r\n", 18);
    iterate_until(f, 0, 0);
    assert_dropped(peer);
    g_assert_cmpuint(f->delivered->len, ==, 0);
}

/*
 * At the set's cap, a new connection from a listener drops the oldest
 * one; one from the app drops nothing; a newcomer that proves itself is
 * served although the flood goes on.
 */
static void
test_set_cap(Fixture *f, gconstpointer data)
{
    guint n = VMIG_PENDING_SET_MIN_MAX + 10;
    g_autofree int *peers = g_new(int, n);
    g_auto(VmigFd) app = -1;
    g_auto(VmigFd) late = -1;

    /* Once per flood, not once per connection. */
    g_test_expect_message(
        "vmig-pending", G_LOG_LEVEL_WARNING,
        "test: 64 connections on its listener have not said what they are*");
    for (guint i = 0; i < n; i++)
        peers[i] = add_conn(f->set, TRUE);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, VMIG_PENDING_SET_MIN_MAX);
    g_assert_cmpuint(vmig_pending_pool_count(f->pool), ==, VMIG_PENDING_SET_MIN_MAX);
    for (guint i = 0; i < 10; i++)
        assert_dropped(peers[i]);
    for (guint i = 10; i < n; i++)
        assert_open(peers[i]);
    app = add_conn(f->set, FALSE);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, VMIG_PENDING_SET_MIN_MAX + 1);
    assert_open(peers[10]);

    late = add_conn(f->set, TRUE);
    assert_dropped(peers[10]);
    write_all(late, "VMGM", 4);
    iterate_until(f, VMIG_PENDING_SET_MIN_MAX, 1);
    g_assert_true(g_array_index(f->delivered, Delivery, 0).main);
    g_test_assert_expected_messages();
    for (guint i = 0; i < n; i++)
        close(peers[i]);
}

/* The pool's cap (here 8) drops the daemon's oldest, whichever set it is in. */
static void
test_pool_cap(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigPendingSet) other =
        vmig_pending_set_new(f->pool, f->context, "other", 0, &funcs, f);
    int first[4], second[6];

    g_test_expect_message("vmig-pending", G_LOG_LEVEL_WARNING,
                          "8 connections to this daemon have not said what they are*");
    for (guint i = 0; i < G_N_ELEMENTS(first); i++)
        first[i] = add_conn(f->set, TRUE);
    for (guint i = 0; i < G_N_ELEMENTS(second); i++)
        second[i] = add_conn(other, TRUE);
    g_assert_cmpuint(vmig_pending_pool_count(f->pool), ==, 8);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, 2);
    g_assert_cmpuint(vmig_pending_set_count(other), ==, 6);
    assert_dropped(first[0]);
    assert_dropped(first[1]);
    assert_open(first[2]);
    g_test_assert_expected_messages();
    for (guint i = 0; i < G_N_ELEMENTS(first); i++)
        close(first[i]);
    for (guint i = 0; i < G_N_ELEMENTS(second); i++)
        close(second[i]);
    iterate_until(f, 0, 0);
    g_clear_pointer(&other, vmig_pending_set_free);
}

/* Freeing a set closes everything it held; the pool forgets them. */
static void
test_free(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) a = add_conn(f->set, TRUE);
    g_auto(VmigFd) b = add_conn(f->set, FALSE);

    write_preamble(a, f->token, 0);
    iterate_for(f, 20);
    g_clear_pointer(&f->set, vmig_pending_set_free);
    g_assert_cmpuint(vmig_pending_pool_count(f->pool), ==, 0);
    assert_dropped(a);
    assert_dropped(b);
}

/* An owner that frees the set on the first of two matched channels: the second is closed.
 */
static void
test_free_in_callback(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) a = add_conn(f->set, TRUE);
    g_auto(VmigFd) b = add_conn(f->set, TRUE);

    write_preamble(a, f->token, 0);
    write_preamble(b, f->token, 1);
    iterate_for(f, 20);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, 2);
    f->free_set_on_delivery = TRUE;
    f->take = TRUE;
    vmig_pending_set_set_token(f->set, f->token);
    g_assert_null(f->set);
    g_assert_cmpuint(f->delivered->len, ==, 2);
}

/* ------------------------------------------------------------------------ */
/* A set that serves several migrations (the standing listener) */

static gboolean routing_knows; /* what knows() answers */
static guint8 routed_token[VMIG_TOKEN_SIZE];

static void
on_domain(int *fdp, VmigTlsPump **pumpp, gpointer user_data)
{
    Fixture *f = user_data;
    Delivery d = {vmig_fd_steal(fdp), G_MAXUINT, TRUE};

    g_array_append_val(f->delivered, d);
}

static gboolean
on_knows(const guint8 token[VMIG_TOKEN_SIZE], gpointer user_data)
{
    Fixture *f = user_data;

    return routing_knows && memcmp(token, f->token, VMIG_TOKEN_SIZE) == 0;
}

static void
on_routed(const guint8 token[VMIG_TOKEN_SIZE], int *fdp, guint index, VmigTlsPump **pumpp,
          gpointer user_data)
{
    Fixture *f = user_data;
    Delivery d = {vmig_fd_steal(fdp), index, FALSE};

    memcpy(routed_token, token, VMIG_TOKEN_SIZE);
    g_array_append_val(f->delivered, d);
}

static const VmigPendingFuncs routing_funcs = {
    .main = on_main,
    .channel = on_channel,
    .domain = on_domain,
    .knows = on_knows,
    .routed = on_routed,
};

/* Replaces the fixture's set by one that routes. */
static void
use_routing_set(Fixture *f)
{
    g_clear_pointer(&f->set, vmig_pending_set_free);
    f->set = vmig_pending_set_new(f->pool, f->context, "routing", 0, &routing_funcs, f);
    routing_knows = FALSE;
}

/* "VMGD": domain() of a set that takes domains; any other set drops it. */
static void
test_domain(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) dropped = add_conn(f->set, TRUE);
    g_auto(VmigFd) peer = -1;
    Delivery *d;

    write_all(dropped, "VMGD", 4);
    iterate_until(f, 0, 0);
    assert_dropped(dropped);
    g_assert_cmpuint(f->delivered->len, ==, 0);

    use_routing_set(f);
    peer = add_conn(f->set, TRUE);
    write_all(peer, "VMGDnext", 8);
    iterate_until(f, 0, 1);
    d = &g_array_index(f->delivered, Delivery, 0);
    g_assert_true(d->main);
    g_assert_cmpuint(d->index, ==, G_MAXUINT);
    {
        char rest[4];

        g_assert_cmpint(recv(d->fd, rest, 4, 0), ==, 4);
        g_assert_cmpmem(rest, 4, "next", 4);
    }
}

/*
 * Channels of a routing set: held until knows() says yes (retry asks
 * again), then routed with their token; one nobody knows is dropped at
 * its deadline.
 */
static void
test_routed(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) known = -1;
    g_auto(VmigFd) stranger = -1;
    guint8 wrong[VMIG_TOKEN_SIZE];
    Delivery *d;

    use_routing_set(f);
    memset(wrong, 0xa5, sizeof(wrong));
    known = add_conn(f->set, TRUE);
    stranger = add_conn(f->set, TRUE);
    write_preamble(known, f->token, 1);
    write_preamble(stranger, wrong, 0);
    iterate_for(f, 50);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, 2);
    vmig_pending_set_retry(f->set);
    g_assert_cmpuint(f->delivered->len, ==, 0);

    routing_knows = TRUE;
    vmig_pending_set_retry(f->set);
    g_assert_cmpuint(f->delivered->len, ==, 1);
    d = &g_array_index(f->delivered, Delivery, 0);
    g_assert_false(d->main);
    g_assert_cmpuint(d->index, ==, 1);
    g_assert_cmpmem(routed_token, VMIG_TOKEN_SIZE, f->token, VMIG_TOKEN_SIZE);
    assert_same_pair(d->fd, known);
    g_assert_cmpuint(vmig_pending_set_count(f->set), ==, 1);

    /* A channel known at once goes straight through. */
    {
        g_auto(VmigFd) late = add_conn(f->set, TRUE);

        write_preamble(late, f->token, 2);
        iterate_until(f, 1, 2);
        assert_same_pair(g_array_index(f->delivered, Delivery, 1).fd, late);
    }
    /* The stranger waits for its deadline. */
    iterate_until(f, 0, 2);
    assert_dropped(stranger);
}

static void
add(const char *path, guint pool_max, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, GUINT_TO_POINTER(pool_max), fixture_setup, func,
               fixture_teardown);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    add("/pending/main", 0, test_main);
    add("/pending/main-refused", 0, test_main_refused);
    add("/pending/token-first", 0, test_token_first);
    add("/pending/held-then-matched", 0, test_held_then_matched);
    add("/pending/held-peer-closes", 0, test_held_peer_closes);
    add("/pending/held-sends-data", 0, test_held_sends_data);
    add("/pending/timeout", 0, test_timeout);
    add("/pending/garbage", 0, test_garbage);
    add("/pending/cap/set", 0, test_set_cap);
    add("/pending/cap/pool", 8, test_pool_cap);
    add("/pending/free", 0, test_free);
    add("/pending/free-in-callback", 0, test_free_in_callback);
    add("/pending/domain", 0, test_domain);
    add("/pending/routed", 0, test_routed);
    return g_test_run();
}
