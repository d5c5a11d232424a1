/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-relay.c: the fault-injecting relay of the test suites
 * (tests/relay-helper.h), with plain sockets on both sides
 *
 * Every test builds the same picture:
 *
 *     src --TCP--> [relay] --TCP--> target listener, accepted as dst
 *
 * where src and dst are the test's own blocking sockets: src writes the
 * channel's first bytes as a source driver would, and frames or raw bytes
 * go both ways.  No QEMU, no daemon.
 *
 * Nothing waits forever: the test sockets have send and receive timeouts,
 * and every wait has a deadline that fails the test.  A fixture counts
 * this process's fds before and after each test, relay freed, so that a
 * descriptor the relay leaks fails the test that leaked it.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <glib.h>

#include "fdpass/fd.h"
#include "tests/relay-helper.h"
#include "tests/testutil.h"

/* How long a wait for something that must happen may take (valgrind is slow). */
#define TEST_TIMEOUT_MS 30000
/* How long nothing must happen for the test to believe nothing will. */
#define SILENCE_MS 300

#define MiB (1024 * 1024)

#define FRAME_HEADER_LEN 12
#define FRAME_BODY_MAX   65536

/* The pattern repeats with a period that is no power of two. */
#define PATTERN_PERIOD (1024 * 1024 + 13)

static const guint8 main_preamble[4] = {'V', 'M', 'G', 'M'};

static guint8 *pattern;

/* ------------------------------------------------------------------------ */
/* Helpers */

/* Fill the pattern from a fixed seed, so failures reproduce. */
static void
pattern_init(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(0x564d4743);
    gsize i;

    pattern = g_malloc(PATTERN_PERIOD);
    for (i = 0; i < PATTERN_PERIOD; i++)
        pattern[i] = g_rand_int(rand) & 0xff;
}

/* Returns: TRUE when this process runs under valgrind or a sanitizer (slow). */
static gboolean
running_slow(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return TRUE;
#else
    const char *preload = g_getenv("LD_PRELOAD");

    return preload && strstr(preload, "vgpreload");
#endif
}

static void
set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = TEST_TIMEOUT_MS / 1000};
    int one = 1;

    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), ==, 0);
    /* A frame written a byte at a time leaves a byte at a time. */
    g_assert_cmpint(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), ==, 0);
}

/* Close *@fdp so that the peer sees a reset (RST), not an orderly FIN. */
static void
close_with_reset(int *fdp)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    g_assert_cmpint(setsockopt(*fdp, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), ==, 0);
    vmig_fd_clear(fdp);
}

/* Returns: a socket connected to 127.0.0.1:@port, with timeouts. */
static int
connect_to(guint16 port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    g_auto(VmigFd) fd = -1;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    set_timeouts(fd);
    return vmig_fd_steal(&fd);
}

/* Returns: TRUE if @fd became readable within @timeout_ms. */
static gboolean
wait_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;

    do
        n = poll(&pfd, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    g_assert_cmpint(n, >=, 0);
    return n > 0;
}

static void
send_all(int fd, const void *data, gsize len)
{
    const guint8 *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            g_error("send: %s", g_strerror(errno));
        p += n;
        len -= n;
    }
}

/* Read exactly @len bytes (EOF or a timeout fails the test). */
static void
recv_all(int fd, void *data, gsize len)
{
    guint8 *p = data;

    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            g_error("recv: %s", g_strerror(errno));
        if (n == 0)
            g_error("recv: end of stream with %" G_GSIZE_FORMAT " bytes to come", len);
        p += n;
        len -= n;
    }
}

/* Read @len bytes from @fd and compare them with @expected. */
static void
expect_bytes(int fd, const void *expected, gsize len)
{
    g_autofree guint8 *got = g_malloc(MAX(len, 1));

    recv_all(fd, got, len);
    g_assert_cmpmem(got, len, expected, len);
}

/* Nothing comes from @fd (no byte, no end) for SILENCE_MS. */
static void
expect_silence(int fd)
{
    g_assert_false(wait_readable(fd, SILENCE_MS));
}

/* Returns: the CPU time this process used so far, in microseconds. */
static gint64
cpu_time_us(void)
{
    struct rusage usage;

    g_assert_cmpint(getrusage(RUSAGE_SELF, &usage), ==, 0);
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_USEC_PER_SEC +
           usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

/*
 * The relay sleeps while it has nothing it may do: over SILENCE_MS, this
 * process (the test thread asleep) uses a fraction of the CPU a loop that
 * spins would.
 */
static void
expect_idle(void)
{
    gint64 before = cpu_time_us();

    g_usleep(SILENCE_MS * 1000);
    g_assert_cmpint(cpu_time_us() - before, <, SILENCE_MS * 1000 / 4);
}

/*
 * The stream of @fd ends within TEST_TIMEOUT_MS, no more bytes before.
 * Returns: 0 for an orderly end (EOF), or the errno of the reset.
 */
static int
expect_end(int fd)
{
    guint8 byte;
    ssize_t n;

    g_assert_true(wait_readable(fd, TEST_TIMEOUT_MS));
    n = recv(fd, &byte, 1, MSG_DONTWAIT);
    g_assert_cmpint(n, <=, 0);
    if (n == 0)
        return 0;
    g_assert_cmpint(errno, !=, EAGAIN);
    return errno;
}

/* Append a frame of @type with @body_len random bytes of body. */
static void
frame_append(GByteArray *out, GRand *rand, guint16 type, guint32 body_len)
{
    guint8 header[FRAME_HEADER_LEN] = {'V', 'M', 'G', 'R'};
    guint32 i;

    header[4] = type >> 8;
    header[5] = type & 0xff;
    header[6] = 0;
    header[7] = g_rand_int(rand) & 1; /* flags: anything */
    header[8] = body_len >> 24;
    header[9] = (body_len >> 16) & 0xff;
    header[10] = (body_len >> 8) & 0xff;
    header[11] = body_len & 0xff;
    g_byte_array_append(out, header, sizeof(header));
    for (i = 0; i < body_len; i++) {
        guint8 byte = g_rand_int(rand) & 0xff;

        g_byte_array_append(out, &byte, 1);
    }
}

/* ------------------------------------------------------------------------ */
/* The fixture: a target listener, a relay in front of it, an fd count */

typedef struct {
    guint fds_before;
    VmigFd target_fd; /* blocking listener on 127.0.0.1 */
    guint16 target_port;
    VmigRelay *relay;
    GRand *rand;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    g_autoptr(GError) error = NULL;

    f->fds_before = vmig_test_count_fds(0);
    f->rand = g_rand_new_with_seed(g_test_rand_int());

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->target_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(f->target_fd, >=, 0);
    g_assert_cmpint(bind(f->target_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(f->target_fd, 16), ==, 0);
    g_assert_cmpint(getsockname(f->target_fd, (struct sockaddr *)&addr, &len), ==, 0);
    f->target_port = ntohs(addr.sin_port);

    f->relay = vmig_relay_new(f->target_port, &error);
    g_assert_no_error(error);
    g_assert_nonnull(f->relay);
    g_assert_cmpuint(vmig_relay_port(f->relay), !=, 0);
    g_assert_cmpuint(vmig_relay_port(f->relay), !=, f->target_port);
}

/* Check nothing leaked: the relay freed, every fd is closed. */
static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->relay, vmig_relay_free);
    vmig_fd_clear(&f->target_fd);
    g_rand_free(f->rand);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
}

/* Returns: the next connection to the target within @timeout_ms, or -1. */
static int
target_accept(Fixture *f, int timeout_ms)
{
    int fd;

    if (!wait_readable(f->target_fd, timeout_ms))
        return -1;
    fd = accept4(f->target_fd, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    set_timeouts(fd);
    return fd;
}

/*
 * Connects src through the relay, writes @preamble, and checks dst, the
 * target's end, receives it unchanged.
 */
static void
open_pair(Fixture *f, const void *preamble, gsize len, int *src, int *dst)
{
    *src = connect_to(vmig_relay_port(f->relay));
    send_all(*src, preamble, len);
    *dst = target_accept(f, TEST_TIMEOUT_MS);
    g_assert_cmpint(*dst, >=, 0);
    expect_bytes(*dst, preamble, len);
}

static void
open_main(Fixture *f, int *src, int *dst)
{
    open_pair(f, main_preamble, sizeof(main_preamble), src, dst);
    g_assert_true(vmig_relay_wait_connections(f->relay, TRUE, 1, TEST_TIMEOUT_MS));
}

/* A data channel's preamble: magic, a random token, @index, reserved. */
static void
data_preamble(GRand *rand, guint16 index, guint8 out[24])
{
    gsize i;

    memcpy(out, "VMGC", 4);
    for (i = 4; i < 20; i++)
        out[i] = g_rand_int(rand) & 0xff;
    out[20] = index >> 8;
    out[21] = index & 0xff;
    out[22] = 0;
    out[23] = 0;
}

/* ------------------------------------------------------------------------ */
/* Peers: a thread writing the pattern, so that a test can read meanwhile */

typedef struct {
    int fd; /* borrowed */
    guint64 total;
    GThread *thread;
} Writer;

/* Send the pattern in writes of varying sizes.  Returns: NULL. */
static gpointer
writer_thread(gpointer data)
{
    Writer *w = data;
    guint64 done = 0;
    gsize chunk = 1;

    while (done < w->total) {
        gsize at = done % PATTERN_PERIOD;
        gsize len = MIN(MIN(chunk, PATTERN_PERIOD - at), w->total - done);

        send_all(w->fd, pattern + at, len);
        done += len;
        chunk = chunk >= 1024 * 1024 ? 1 : chunk * 7 + 3;
    }
    return NULL;
}

static void
writer_start(Writer *w, int fd, guint64 total)
{
    w->fd = fd;
    w->total = total;
    w->thread = g_thread_new("test-writer", writer_thread, w);
}

/* Read @total pattern bytes from @fd and check every one. */
static void
expect_pattern(int fd, guint64 total)
{
    g_autofree guint8 *buf = g_malloc(256 * 1024);
    guint64 done = 0;

    while (done < total) {
        ssize_t n = recv(fd, buf, MIN(256 * 1024, total - done), 0);
        gssize i;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            g_error("recv after %" G_GUINT64_FORMAT " bytes: %s", done,
                    n == 0 ? "end of stream" : g_strerror(errno));
        for (i = 0; i < n;) {
            gsize at = (done + i) % PATTERN_PERIOD;
            gsize len = MIN((gsize)(n - i), PATTERN_PERIOD - at);

            if (memcmp(buf + i, pattern + at, len) != 0)
                g_error("wrong byte near offset %" G_GUINT64_FORMAT, done + i);
            i += len;
        }
        done += n;
    }
}

/* ------------------------------------------------------------------------ */
/* Forwarding */

/* Frames both ways on a main channel, of every size up to the largest. */
static void
test_main_forward(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) down = g_byte_array_new();
    g_autoptr(GByteArray) up = g_byte_array_new();

    open_main(f, &src, &dst);
    g_assert_cmpuint(vmig_relay_connections(f->relay, TRUE), ==, 1);
    g_assert_cmpuint(vmig_relay_connections(f->relay, FALSE), ==, 0);

    frame_append(up, f->rand, VMIG_RELAY_FRAME_GREETING, 200);
    send_all(dst, up->data, up->len);
    expect_bytes(src, up->data, up->len);

    frame_append(down, f->rand, VMIG_RELAY_FRAME_REPLY, 0);
    frame_append(down, f->rand, VMIG_RELAY_FRAME_COMMIT, 1);
    frame_append(down, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, FRAME_BODY_MAX);
    frame_append(down, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 12);
    send_all(src, down->data, down->len);
    expect_bytes(dst, down->data, down->len);

    g_assert_true(vmig_relay_wait_frame(f->relay, VMIG_RELAY_SRC_TO_DST,
                                        VMIG_RELAY_FRAME_HEARTBEAT, TEST_TIMEOUT_MS));
    g_assert_cmpuint(vmig_relay_frame_count(f->relay, VMIG_RELAY_DST_TO_SRC,
                                            VMIG_RELAY_FRAME_GREETING),
                     ==, 1);
    g_assert_cmpuint(
        vmig_relay_frame_count(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_REPLY),
        ==, 1);
    g_assert_cmpuint(
        vmig_relay_frame_count(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT),
        ==, 1);
    g_assert_cmpuint(vmig_relay_frame_count(f->relay, VMIG_RELAY_SRC_TO_DST,
                                            VMIG_RELAY_FRAME_HEARTBEAT),
                     ==, 2);
    /* Each direction counts apart. */
    g_assert_cmpuint(vmig_relay_frame_count(f->relay, VMIG_RELAY_SRC_TO_DST,
                                            VMIG_RELAY_FRAME_GREETING),
                     ==, 0);
    g_assert_cmpuint(vmig_relay_data_bytes(f->relay), ==, 0);
}

/* Returns: how many bytes of @stream[0..@sent) the relay may forward yet. */
static gsize
forwardable(const guint8 *stream, gsize len, gsize sent)
{
    gsize at = 0;

    /* Walk the frames: a header not yet complete is not forwarded. */
    while (at < len) {
        gsize body = (gsize)stream[at + 8] << 24 | stream[at + 9] << 16 |
                     stream[at + 10] << 8 | stream[at + 11];

        if (sent < at + FRAME_HEADER_LEN)
            return MIN(sent, at);
        at += FRAME_HEADER_LEN + body;
    }
    return sent;
}

/*
 * Write @stream into @from one byte at a time, and check what comes out of
 * @to as it goes: every body byte, every complete header as soon as sent.
 */
static void
send_bytewise(int from, int to, const guint8 *stream, gsize len)
{
    gsize sent, received = 0;

    for (sent = 1; sent <= len; sent++) {
        gsize expected = forwardable(stream, len, sent);

        send_all(from, stream + sent - 1, 1);
        if (expected > received) {
            expect_bytes(to, stream + received, expected - received);
            received = expected;
        } else {
            /* Let the relay see the byte on its own. */
            g_usleep(500);
        }
    }
    g_assert_cmpuint(received, ==, len);
}

/* Frames split at every byte boundary, both ways. */
static void
test_main_split(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) down = g_byte_array_new();
    g_autoptr(GByteArray) up = g_byte_array_new();
    guint16 type;

    open_main(f, &src, &dst);
    frame_append(up, f->rand, VMIG_RELAY_FRAME_GREETING, 5);
    frame_append(up, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 0);
    frame_append(up, f->rand, VMIG_RELAY_FRAME_READY, 3);
    for (type = VMIG_RELAY_FRAME_REPLY; type <= VMIG_RELAY_FRAME_HEARTBEAT; type++)
        frame_append(down, f->rand, type, type % 3);

    send_bytewise(dst, src, up->data, up->len);
    send_bytewise(src, dst, down->data, down->len);

    g_assert_cmpuint(
        vmig_relay_frame_count(f->relay, VMIG_RELAY_DST_TO_SRC, VMIG_RELAY_FRAME_READY),
        ==, 1);
    for (type = VMIG_RELAY_FRAME_REPLY; type <= VMIG_RELAY_FRAME_HEARTBEAT; type++)
        g_assert_cmpuint(vmig_relay_frame_count(f->relay, VMIG_RELAY_SRC_TO_DST, type),
                         ==, 1);
}

/* A frame held while it comes a byte at a time: not one byte of it leaks. */
static void
test_hold_split(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) before = g_byte_array_new();
    g_autoptr(GByteArray) held = g_byte_array_new();
    gsize i;

    open_main(f, &src, &dst);
    vmig_relay_hold_frame(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_SWITCHOVER);
    frame_append(before, f->rand, VMIG_RELAY_FRAME_LOADED, 2);
    frame_append(held, f->rand, VMIG_RELAY_FRAME_SWITCHOVER, 3);
    frame_append(held, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 1);

    send_bytewise(src, dst, before->data, before->len);
    for (i = 0; i < held->len; i++) {
        send_all(src, held->data + i, 1);
        g_usleep(500);
    }
    g_assert_true(vmig_relay_wait_held(f->relay, TEST_TIMEOUT_MS));
    expect_silence(dst);
    vmig_relay_release(f->relay);
    expect_bytes(dst, held->data, held->len);
}

/* A data channel: its preamble unchanged, bytes both ways, counted. */
static void
test_data_forward(Fixture *f, gconstpointer data)
{
    const guint64 total = 8 * MiB + 7;
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    guint8 preamble[24];
    Writer writer = {0};

    data_preamble(f->rand, 3, preamble);
    open_pair(f, preamble, sizeof(preamble), &src, &dst);
    g_assert_true(vmig_relay_wait_connections(f->relay, FALSE, 1, TEST_TIMEOUT_MS));
    g_assert_cmpuint(vmig_relay_connections(f->relay, TRUE), ==, 0);

    writer_start(&writer, src, total);
    expect_pattern(dst, total);
    g_thread_join(writer.thread);
    g_assert_cmpuint(vmig_relay_data_bytes(f->relay), ==, total);

    writer_start(&writer, dst, MiB);
    expect_pattern(src, MiB);
    g_thread_join(writer.thread);
    /* Only source to destination counts. */
    g_assert_cmpuint(vmig_relay_data_bytes(f->relay), ==, total);

    /* A second channel counts too. */
    {
        g_auto(VmigFd) src2 = -1;
        g_auto(VmigFd) dst2 = -1;

        data_preamble(f->rand, 4, preamble);
        open_pair(f, preamble, sizeof(preamble), &src2, &dst2);
        g_assert_true(vmig_relay_wait_connections(f->relay, FALSE, 2, TEST_TIMEOUT_MS));
    }
}

/* A QEMU-sized stream through a data channel, fast enough. */
static void
test_data_throughput(Fixture *f, gconstpointer data)
{
    const guint64 total = running_slow() ? 16 * MiB : 256 * MiB;
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    guint8 preamble[24];
    Writer writer = {0};
    gint64 start;
    double seconds, rate;

    data_preamble(f->rand, 0, preamble);
    open_pair(f, preamble, sizeof(preamble), &src, &dst);
    start = g_get_monotonic_time();
    writer_start(&writer, src, total);
    expect_pattern(dst, total);
    g_thread_join(writer.thread);
    seconds = (g_get_monotonic_time() - start) / (double)G_USEC_PER_SEC;
    rate = total / MiB / seconds;
    g_test_message("%" G_GUINT64_FORMAT " MiB in %.2f s: %.0f MiB/s", total / MiB,
                   seconds, rate);
    g_assert_cmpuint(vmig_relay_data_bytes(f->relay), ==, total);
    if (!running_slow())
        g_assert_cmpfloat(rate, >=, 200);
}

/* Neither main nor data: forwarded as it is, counted as neither. */
static void
test_opaque(Fixture *f, gconstpointer data)
{
    static const char hello[] = "GET / HTTP/1.0\r\n\r\n";
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) reply = g_byte_array_new();

    open_pair(f, hello, strlen(hello), &src, &dst);
    frame_append(reply, f->rand, VMIG_RELAY_FRAME_GREETING, 10);
    send_all(dst, reply->data, reply->len);
    expect_bytes(src, reply->data, reply->len);
    send_all(src, "VMGC", 4);
    expect_bytes(dst, "VMGC", 4);
    g_assert_cmpuint(vmig_relay_connections(f->relay, TRUE), ==, 0);
    g_assert_cmpuint(vmig_relay_connections(f->relay, FALSE), ==, 0);
    g_assert_cmpuint(vmig_relay_frame_count(f->relay, VMIG_RELAY_DST_TO_SRC,
                                            VMIG_RELAY_FRAME_GREETING),
                     ==, 0);
}

/* A data preamble cut short by the end of the stream: forwarded, then the end. */
static void
test_short_preamble(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;

    src = connect_to(vmig_relay_port(f->relay));
    send_all(src, "VMGC\1\2", 6);
    g_assert_cmpint(shutdown(src, SHUT_WR), ==, 0);
    dst = target_accept(f, TEST_TIMEOUT_MS);
    g_assert_cmpint(dst, >=, 0);
    expect_bytes(dst, "VMGC\1\2", 6);
    g_assert_cmpint(expect_end(dst), ==, 0);
    g_assert_cmpuint(vmig_relay_connections(f->relay, FALSE), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* Holding frames */

/* A held frame arrives after release, in order; the other direction flows. */
static void
test_hold_release(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) before = g_byte_array_new();
    g_autoptr(GByteArray) held = g_byte_array_new();
    g_autoptr(GByteArray) up = g_byte_array_new();

    open_main(f, &src, &dst);
    vmig_relay_hold_frame(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT);
    g_assert_false(vmig_relay_wait_held(f->relay, 50));

    frame_append(before, f->rand, VMIG_RELAY_FRAME_REPLY, 40);
    frame_append(held, f->rand, VMIG_RELAY_FRAME_COMMIT, 40);
    frame_append(held, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 0);
    frame_append(held, f->rand, VMIG_RELAY_FRAME_COMMIT, 1);
    send_all(src, before->data, before->len);
    send_all(src, held->data, held->len);

    g_assert_true(vmig_relay_wait_held(f->relay, TEST_TIMEOUT_MS));
    expect_bytes(dst, before->data, before->len);
    expect_silence(dst);
    expect_idle();
    /* Held frames are seen all the same. */
    g_assert_true(vmig_relay_wait_frame(f->relay, VMIG_RELAY_SRC_TO_DST,
                                        VMIG_RELAY_FRAME_HEARTBEAT, TEST_TIMEOUT_MS));
    g_assert_cmpuint(
        vmig_relay_frame_count(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT),
        ==, 2);

    /* The other direction is not held. */
    frame_append(up, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 8);
    send_all(dst, up->data, up->len);
    expect_bytes(src, up->data, up->len);

    vmig_relay_release(f->relay);
    g_assert_false(vmig_relay_wait_held(f->relay, 0));
    expect_bytes(dst, held->data, held->len);

    /* The rule caught its frame: more of that type flows. */
    send_all(src, held->data, held->len);
    expect_bytes(dst, held->data, held->len);
}

/* A hold toward the source, set before the greeting. */
static void
test_hold_greeting(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) up = g_byte_array_new();
    g_autoptr(GByteArray) down = g_byte_array_new();

    vmig_relay_hold_frame(f->relay, VMIG_RELAY_DST_TO_SRC, VMIG_RELAY_FRAME_GREETING);
    open_main(f, &src, &dst);
    frame_append(up, f->rand, VMIG_RELAY_FRAME_GREETING, 30);
    send_all(dst, up->data, up->len);
    g_assert_true(vmig_relay_wait_held(f->relay, TEST_TIMEOUT_MS));
    expect_silence(src);

    frame_append(down, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 3);
    send_all(src, down->data, down->len);
    expect_bytes(dst, down->data, down->len);

    vmig_relay_release(f->relay);
    expect_bytes(src, up->data, up->len);
}

/* The end of a held direction waits behind the held bytes. */
static void
test_hold_eof(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) held = g_byte_array_new();

    open_main(f, &src, &dst);
    vmig_relay_hold_frame(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_LOADED);
    frame_append(held, f->rand, VMIG_RELAY_FRAME_LOADED, 16);
    send_all(src, held->data, held->len);
    g_assert_cmpint(shutdown(src, SHUT_WR), ==, 0);
    g_assert_true(vmig_relay_wait_held(f->relay, TEST_TIMEOUT_MS));
    /* Neither the frame nor the end (which would make dst readable). */
    expect_silence(dst);

    vmig_relay_release(f->relay);
    expect_bytes(dst, held->data, held->len);
    g_assert_cmpint(expect_end(dst), ==, 0);
    /* The other direction is still open. */
    send_all(dst, "x", 1);
    expect_bytes(src, "x", 1);
}

/* A source that resets while its bytes are held: they are dropped, dst reset. */
static void
test_hold_reset(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) held = g_byte_array_new();

    open_main(f, &src, &dst);
    vmig_relay_hold_frame(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT);
    frame_append(held, f->rand, VMIG_RELAY_FRAME_COMMIT, 16);
    send_all(src, held->data, held->len);
    g_assert_true(vmig_relay_wait_held(f->relay, TEST_TIMEOUT_MS));
    close_with_reset(&src);
    g_assert_cmpint(expect_end(dst), ==, ECONNRESET);
}

/*
 * A destination that does not read: the relay stops reading from the
 * source once its queue is full, sleeps, and loses nothing.
 */
static void
test_backpressure(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    guint8 preamble[24];
    guint64 sent = 0;
    gint64 stalled_since = 0;

    data_preamble(f->rand, 1, preamble);
    open_pair(f, preamble, sizeof(preamble), &src, &dst);
    /* Write without blocking until nothing more goes for a while. */
    for (;;) {
        gsize at = sent % PATTERN_PERIOD;
        ssize_t n =
            send(src, pattern + at, PATTERN_PERIOD - at, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n > 0) {
            sent += n;
            stalled_since = 0;
            g_assert_cmpuint(sent, <, 256 * MiB);
            continue;
        }
        g_assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        if (!stalled_since)
            stalled_since = g_get_monotonic_time();
        else if (g_get_monotonic_time() - stalled_since > SILENCE_MS * 1000)
            break;
        g_usleep(10000);
    }
    g_test_message("%" G_GUINT64_FORMAT " bytes in flight before the source blocks",
                   sent);
    /* The relay's 4 MiB and the sockets' buffers (loopback's at most 6 MiB each). */
    g_assert_cmpuint(sent, <, 64 * MiB);
    expect_idle();
    expect_pattern(dst, sent);
    g_assert_cmpuint(vmig_relay_data_bytes(f->relay), ==, sent);
}

/* A hold on one main channel stops no other connection. */
static void
test_hold_others(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(VmigFd) src2 = -1;
    g_auto(VmigFd) dst2 = -1;
    g_autoptr(GByteArray) held = g_byte_array_new();
    guint8 preamble[24];
    Writer writer = {0};

    open_main(f, &src, &dst);
    vmig_relay_hold_frame(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT);
    frame_append(held, f->rand, VMIG_RELAY_FRAME_COMMIT, 100);
    send_all(src, held->data, held->len);
    g_assert_true(vmig_relay_wait_held(f->relay, TEST_TIMEOUT_MS));

    /* A data channel. */
    data_preamble(f->rand, 0, preamble);
    open_pair(f, preamble, sizeof(preamble), &src2, &dst2);
    writer_start(&writer, src2, 2 * MiB);
    expect_pattern(dst2, 2 * MiB);
    g_thread_join(writer.thread);
    vmig_fd_clear(&src2);
    vmig_fd_clear(&dst2);

    /* A second main channel, COMMIT and all: the rule is used up. */
    open_pair(f, main_preamble, sizeof(main_preamble), &src2, &dst2);
    send_all(src2, held->data, held->len);
    expect_bytes(dst2, held->data, held->len);

    expect_silence(dst);
    vmig_relay_release(f->relay);
    expect_bytes(dst, held->data, held->len);
}

/* Frames seen, per type and per direction. */
static void
test_wait_frame(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) up = g_byte_array_new();

    open_main(f, &src, &dst);
    g_assert_false(vmig_relay_wait_frame(f->relay, VMIG_RELAY_DST_TO_SRC,
                                         VMIG_RELAY_FRAME_GREETING, 50));
    frame_append(up, f->rand, VMIG_RELAY_FRAME_GREETING, 4);
    send_all(dst, up->data, up->len);
    g_assert_true(vmig_relay_wait_frame(f->relay, VMIG_RELAY_DST_TO_SRC,
                                        VMIG_RELAY_FRAME_GREETING, TEST_TIMEOUT_MS));
    g_assert_false(vmig_relay_wait_frame(f->relay, VMIG_RELAY_SRC_TO_DST,
                                         VMIG_RELAY_FRAME_GREETING, 50));
    g_assert_false(vmig_relay_wait_frame(f->relay, VMIG_RELAY_DST_TO_SRC,
                                         VMIG_RELAY_FRAME_REPLY, 50));
    expect_bytes(src, up->data, up->len);
}

/* After a header that is not VMGR, a direction is raw bytes (version 1). */
static void
test_raw(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_autoptr(GByteArray) down = g_byte_array_new();
    g_autoptr(GByteArray) up = g_byte_array_new();

    open_main(f, &src, &dst);
    vmig_relay_hold_frame(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT);
    frame_append(down, f->rand, VMIG_RELAY_FRAME_READY, 0);
    /* "VMG" then not "R" is no header: from there on, raw bytes. */
    g_byte_array_append(down, (const guint8 *)"VMGxQEVM\0\0\0\3", 12);
    /* A header's bytes in the raw stream are no frame. */
    frame_append(down, f->rand, VMIG_RELAY_FRAME_COMMIT, 4);
    send_all(src, down->data, down->len);
    expect_bytes(dst, down->data, down->len);
    g_assert_false(vmig_relay_wait_held(f->relay, 50));
    g_assert_cmpuint(
        vmig_relay_frame_count(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_READY),
        ==, 1);
    g_assert_cmpuint(
        vmig_relay_frame_count(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT),
        ==, 0);

    /* The other direction is still framed. */
    frame_append(up, f->rand, VMIG_RELAY_FRAME_LOADED, 2);
    send_all(dst, up->data, up->len);
    expect_bytes(src, up->data, up->len);
    g_assert_true(vmig_relay_wait_frame(f->relay, VMIG_RELAY_DST_TO_SRC,
                                        VMIG_RELAY_FRAME_LOADED, TEST_TIMEOUT_MS));

    /* Raw bytes that start like a header flow as soon as they differ. */
    send_all(src, "VMG", 3);
    expect_bytes(dst, "VMG", 3);
}

/* ------------------------------------------------------------------------ */
/* Faults */

/* A freeze: nothing passes, nothing closes; heal lets it all through. */
static void
test_freeze(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(VmigFd) src2 = -1;
    g_auto(VmigFd) dst2 = -1;
    g_autoptr(GByteArray) down = g_byte_array_new();
    g_autoptr(GByteArray) up = g_byte_array_new();

    open_main(f, &src, &dst);
    vmig_relay_freeze(f->relay);
    frame_append(down, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 100);
    frame_append(up, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 50);
    send_all(src, down->data, down->len);
    send_all(dst, up->data, up->len);
    /* Silence either way: no bytes, and no end or reset either. */
    expect_silence(dst);
    expect_silence(src);
    expect_idle();

    /* A new connection is accepted and told apart, not forwarded. */
    src2 = connect_to(vmig_relay_port(f->relay));
    send_all(src2, main_preamble, sizeof(main_preamble));
    g_assert_true(vmig_relay_wait_connections(f->relay, TRUE, 2, TEST_TIMEOUT_MS));
    g_assert_cmpint(target_accept(f, SILENCE_MS), ==, -1);
    expect_silence(src2);

    vmig_relay_heal(f->relay);
    expect_bytes(dst, down->data, down->len);
    expect_bytes(src, up->data, up->len);
    dst2 = target_accept(f, TEST_TIMEOUT_MS);
    g_assert_cmpint(dst2, >=, 0);
    expect_bytes(dst2, main_preamble, sizeof(main_preamble));
    send_all(dst2, up->data, up->len);
    expect_bytes(src2, up->data, up->len);
}

/* A cut: both ends reset at once, new connections too, until heal. */
static void
test_cut(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(VmigFd) late = -1;
    int err;

    open_main(f, &src, &dst);
    vmig_relay_hold_frame(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT);
    send_all(src, "VMGR\0\3\0\0\0\0\0\0", FRAME_HEADER_LEN);
    g_assert_true(vmig_relay_wait_held(f->relay, TEST_TIMEOUT_MS));

    vmig_relay_cut(f->relay);
    err = expect_end(src);
    g_assert_true(err == 0 || err == ECONNRESET);
    err = expect_end(dst);
    g_assert_true(err == 0 || err == ECONNRESET);

    /* A connection while cut is reset, never reaches the target. */
    late = connect_to(vmig_relay_port(f->relay));
    (void)send(late, main_preamble, sizeof(main_preamble), MSG_NOSIGNAL);
    err = expect_end(late);
    g_assert_true(err == 0 || err == ECONNRESET);
    g_assert_cmpint(target_accept(f, SILENCE_MS), ==, -1);
    vmig_fd_clear(&late);
    vmig_fd_clear(&src);
    vmig_fd_clear(&dst);

    /* Healed: forwarded again, the hold rule used up by the cut frame. */
    vmig_relay_heal(f->relay);
    open_main(f, &src, &dst);
    send_all(src, "VMGR\0\3\0\0\0\0\0\0", FRAME_HEADER_LEN);
    expect_bytes(dst, "VMGR\0\3\0\0\0\0\0\0", FRAME_HEADER_LEN);
}

/* Ends pass through one direction at a time; resets pass through at once. */
static void
test_eof(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;

    open_main(f, &src, &dst);
    send_all(src, "VMGR", 4); /* half a header, then the end */
    g_assert_cmpint(shutdown(src, SHUT_WR), ==, 0);
    expect_bytes(dst, "VMGR", 4);
    g_assert_cmpint(expect_end(dst), ==, 0);
    send_all(dst, "back", 4);
    expect_bytes(src, "back", 4);
    g_assert_cmpint(shutdown(dst, SHUT_WR), ==, 0);
    g_assert_cmpint(expect_end(src), ==, 0);
    vmig_fd_clear(&src);
    vmig_fd_clear(&dst);

    /* The source resets: so does the destination. */
    open_main(f, &src, &dst);
    close_with_reset(&src);
    g_assert_cmpint(expect_end(dst), ==, ECONNRESET);
    vmig_fd_clear(&dst);

    /* The destination resets: so does the source. */
    open_main(f, &src, &dst);
    close_with_reset(&dst);
    g_assert_cmpint(expect_end(src), ==, ECONNRESET);
}

/* No target listening: the source is reset. */
static void
test_refused(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;

    vmig_fd_clear(&f->target_fd);
    src = connect_to(vmig_relay_port(f->relay));
    g_assert_cmpint(expect_end(src), ==, ECONNRESET);
}

/* Freeing a busy relay closes everything: both ends see their stream end. */
static void
test_free_busy(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(VmigFd) frozen = -1;
    int err;

    open_main(f, &src, &dst);
    vmig_relay_hold_frame(f->relay, VMIG_RELAY_SRC_TO_DST, VMIG_RELAY_FRAME_COMMIT);
    send_all(src, "VMGR\0\3\0\0\0\0\0\0", FRAME_HEADER_LEN);
    g_assert_true(vmig_relay_wait_held(f->relay, TEST_TIMEOUT_MS));
    vmig_relay_freeze(f->relay);
    frozen = connect_to(vmig_relay_port(f->relay));
    send_all(frozen, main_preamble, sizeof(main_preamble));
    g_assert_true(vmig_relay_wait_connections(f->relay, TRUE, 2, TEST_TIMEOUT_MS));

    g_clear_pointer(&f->relay, vmig_relay_free);
    err = expect_end(src);
    g_assert_true(err == 0 || err == ECONNRESET);
    err = expect_end(dst);
    g_assert_true(err == 0 || err == ECONNRESET);
    err = expect_end(frozen);
    g_assert_true(err == 0 || err == ECONNRESET);
}

/* ------------------------------------------------------------------------ */
/* Watching: TLS records and needles */

/*
 * A stream written in pieces, each received whole by the other side before
 * the next is written: the relay reads each piece apart from its
 * neighbours, so that a header or a needle cut between two pieces is cut
 * between two of the relay's reads.
 */
typedef struct {
    GByteArray *bytes;
    GArray *cuts; /* gsize, increasing: where a piece ends */
    guint64 records[VMIG_RELAY_TLS_LAST];
    guint64 record_bytes[VMIG_RELAY_TLS_LAST];
} Stream;

static void
stream_init(Stream *s)
{
    memset(s, 0, sizeof(*s));
    s->bytes = g_byte_array_new();
    s->cuts = g_array_new(FALSE, FALSE, sizeof(gsize));
}

static void
stream_clear(Stream *s)
{
    g_byte_array_unref(s->bytes);
    g_array_unref(s->cuts);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Stream, stream_clear)

/* End a piece @back bytes before the end of @s. */
static void
stream_cut(Stream *s, gsize back)
{
    gsize at = s->bytes->len - back;

    g_array_append_val(s->cuts, at);
}

/* Append @len bytes no needle of ours can match (each has its high bit set). */
static void
stream_filler(Stream *s, GRand *rand, gsize len)
{
    gsize i;

    for (i = 0; i < len; i++) {
        guint8 byte = 0x80 | (g_rand_int(rand) & 0x7f);

        g_byte_array_append(s->bytes, &byte, 1);
    }
}

static void
stream_raw(Stream *s, const void *bytes, gsize len)
{
    g_byte_array_append(s->bytes, bytes, len);
}

/*
 * Append a TLS record of wire type @type, legacy version 0x03 @minor, with
 * @len bytes of filler, counted; its header is cut in two pieces
 * somewhere, its body too when it has two bytes or more.
 */
static void
stream_record(Stream *s, GRand *rand, guint8 type, guint8 minor, guint16 len)
{
    const guint8 header[5] = {type, 0x03, minor, len >> 8, len & 0xff};

    stream_raw(s, header, sizeof(header));
    stream_cut(s, g_rand_int_range(rand, 1, 5));
    stream_filler(s, rand, len);
    if (len >= 2)
        stream_cut(s, g_rand_int_range(rand, 1, len));
    s->records[type - VMIG_RELAY_TLS_TYPE_FIRST]++;
    s->record_bytes[type - VMIG_RELAY_TLS_TYPE_FIRST] += len;
}

/* Append @n application data records of random lengths, 0 and the largest among them. */
static void
stream_records(Stream *s, GRand *rand, guint n)
{
    guint i;

    for (i = 0; i < n; i++) {
        guint16 len = i == 0   ? 0
                      : i == 1 ? VMIG_RELAY_TLS_RECORD_MAX
                               : g_rand_int_range(rand, 1, 2000);

        stream_record(s, rand, 23, 0x03, len);
    }
}

/*
 * Write @s from offset *@sent into @from, a piece at a time, and check @to
 * receives each piece unchanged before the next goes.
 */
static void
stream_send(Stream *s, gsize *sent, int from, int to)
{
    guint i;

    for (i = 0; i <= s->cuts->len; i++) {
        gsize end = i < s->cuts->len ? g_array_index(s->cuts, gsize, i) : s->bytes->len;

        if (end <= *sent)
            continue;
        send_all(from, s->bytes->data + *sent, end - *sent);
        expect_bytes(to, s->bytes->data + *sent, end - *sent);
        *sent = end;
    }
}

/* Connect through the relay with the first 4 bytes of @s (a partial header). */
static void
stream_open(Fixture *f, Stream *s, gsize *sent, int *src, int *dst)
{
    g_assert_cmpuint(s->bytes->len, >=, 4);
    open_pair(f, s->bytes->data, 4, src, dst);
    *sent = 4;
}

/* Print @r, for a failing test's log. */
static void
report_log(const VmigRelayReport *r)
{
    guint t;

    g_test_message("accepted %u, opaque %u, main %u, data %u, TLS starts %u",
                   r->counts[VMIG_RELAY_COUNT_ACCEPTED],
                   r->counts[VMIG_RELAY_COUNT_OPAQUE], r->counts[VMIG_RELAY_COUNT_MAIN],
                   r->counts[VMIG_RELAY_COUNT_DATA], r->opaque_tls_start);
    for (t = 0; t < VMIG_RELAY_TLS_LAST; t++)
        g_test_message("%s: %" G_GUINT64_FORMAT " records, %" G_GUINT64_FORMAT " bytes",
                       vmig_relay_tls_type_name(t), r->records[t], r->record_bytes[t]);
    g_test_message("TLS only: %s (%u not TLS) %s", r->tls_only ? "yes" : "no", r->not_tls,
                   r->violation ? r->violation : "");
    g_test_message("needle: %s", r->needle_hit ? r->needle_hit : "none");
}

/* The records of @r are those of @a and @b (NULL: none) together. */
static void
expect_records(const VmigRelayReport *r, const Stream *a, const Stream *b)
{
    guint t;

    for (t = 0; t < VMIG_RELAY_TLS_LAST; t++) {
        g_assert_cmpuint(r->records[t], ==, a->records[t] + (b ? b->records[t] : 0));
        g_assert_cmpuint(r->record_bytes[t], ==,
                         a->record_bytes[t] + (b ? b->record_bytes[t] : 0));
    }
}

/* Returns: the array of needles the TLS test watches for; [3] is the pattern's. */
static GPtrArray *
needles_new(void)
{
    GPtrArray *needles = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

    g_ptr_array_add(needles, g_bytes_new_static("VMGM", 4));
    g_ptr_array_add(needles, g_bytes_new_static("VMGC", 4));
    g_ptr_array_add(needles, g_bytes_new_static("QEVM", 4));
    g_ptr_array_add(needles, g_bytes_new_static(pattern + 4096, 64));
    return needles;
}

/* Connections counted by class, and waited for. */
static void
test_count(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src_main = -1;
    g_auto(VmigFd) dst_main = -1;
    g_auto(VmigFd) src_data = -1;
    g_auto(VmigFd) dst_data = -1;
    g_auto(VmigFd) src_tls = -1;
    g_auto(VmigFd) dst_tls = -1;
    g_auto(VmigFd) pending = -1;
    g_auto(VmigRelayReport) report = {0};
    guint8 preamble[24];

    g_assert_cmpuint(vmig_relay_count(f->relay, VMIG_RELAY_COUNT_ACCEPTED), ==, 0);
    g_assert_false(vmig_relay_wait_count(f->relay, VMIG_RELAY_COUNT_ACCEPTED, 1, 50));

    open_main(f, &src_main, &dst_main);
    data_preamble(f->rand, 0, preamble);
    open_pair(f, preamble, sizeof(preamble), &src_data, &dst_data);
    open_pair(f, "\x16\x03\x01\x00", 4, &src_tls, &dst_tls);
    /* Two bytes do not tell what a connection is. */
    pending = connect_to(vmig_relay_port(f->relay));
    send_all(pending, "VM", 2);

    g_assert_true(
        vmig_relay_wait_count(f->relay, VMIG_RELAY_COUNT_ACCEPTED, 4, TEST_TIMEOUT_MS));
    g_assert_true(
        vmig_relay_wait_count(f->relay, VMIG_RELAY_COUNT_OPAQUE, 1, TEST_TIMEOUT_MS));
    g_assert_true(
        vmig_relay_wait_count(f->relay, VMIG_RELAY_COUNT_DATA, 1, TEST_TIMEOUT_MS));
    g_assert_false(vmig_relay_wait_count(f->relay, VMIG_RELAY_COUNT_OPAQUE, 2, 50));
    g_assert_cmpuint(vmig_relay_count(f->relay, VMIG_RELAY_COUNT_MAIN), ==, 1);
    g_assert_cmpuint(vmig_relay_connections(f->relay, TRUE), ==, 1);
    g_assert_cmpuint(vmig_relay_connections(f->relay, FALSE), ==, 1);

    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_ACCEPTED], ==, 4);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_OPAQUE], ==, 1);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_MAIN], ==, 1);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_DATA], ==, 1);
    g_assert_cmpuint(report.opaque_tls_start, ==, 1);
    /* Four bytes of a header, no record yet. */
    g_assert_cmpuint(report.records[VMIG_RELAY_TLS_HANDSHAKE], ==, 0);
    g_assert_true(report.tls_only);

    /* The end tells the pending connection apart: opaque, and no TLS. */
    g_assert_cmpint(shutdown(pending, SHUT_WR), ==, 0);
    g_assert_true(
        vmig_relay_wait_count(f->relay, VMIG_RELAY_COUNT_OPAQUE, 2, TEST_TIMEOUT_MS));
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    g_assert_false(report.tls_only);
    g_assert_cmpuint(report.violation_conn, ==, 4);
    g_assert_cmpuint(report.violation_offset, ==, 0);
    g_assert_nonnull(strstr(report.violation, "connection 4 (opaque) src->dst"));
}

/* Records both ways, headers and bodies split across reads: counted, forwarded. */
static void
test_tls_records(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(Stream) down = {0};
    g_auto(Stream) up = {0};
    g_auto(VmigRelayReport) report = {0};
    gsize down_sent = 0, up_sent = 0;
    guint8 minor;

    stream_init(&down);
    stream_init(&up);
    /* A TLS 1.3 start: ClientHello (version 0x0301), ServerHello, CCS... */
    stream_record(&down, f->rand, 22, 0x01, 512);
    stream_record(&up, f->rand, 22, 0x03, 90);
    stream_record(&up, f->rand, 20, 0x03, 1);
    stream_record(&up, f->rand, 23, 0x03, 2000);
    stream_record(&down, f->rand, 20, 0x03, 1);
    stream_record(&down, f->rand, 23, 0x03, 60);
    /* Every legacy version allowed, then data, then an alert. */
    for (minor = 0x01; minor <= 0x04; minor++)
        stream_record(&down, f->rand, 23, minor, 5);
    stream_records(&down, f->rand, 12);
    stream_records(&up, f->rand, 5);
    stream_record(&down, f->rand, 21, 0x03, 2);
    stream_record(&up, f->rand, 21, 0x03, 2);

    stream_open(f, &down, &down_sent, &src, &dst);
    stream_send(&down, &down_sent, src, dst);
    stream_send(&up, &up_sent, dst, src);

    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_ACCEPTED], ==, 1);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_OPAQUE], ==, 1);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_MAIN], ==, 0);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_DATA], ==, 0);
    g_assert_cmpuint(report.opaque_tls_start, ==, 1);
    expect_records(&report, &down, &up);
    g_assert_cmpuint(report.records[VMIG_RELAY_TLS_APPLICATION_DATA], ==,
                     1 + 4 + 12 + 1 + 5);
    g_assert_true(report.tls_only);
    g_assert_cmpuint(report.not_tls, ==, 0);
    g_assert_null(report.violation);
    g_assert_false(report.needle_seen);
    g_assert_null(report.needle_hit);

    /* A stream that ends inside a record is no violation: counted once whole. */
    stream_record(&down, f->rand, 23, 0x03, 100);
    g_byte_array_set_size(down.bytes, down.bytes->len - 50);
    stream_send(&down, &down_sent, src, dst);
    g_assert_cmpint(shutdown(src, SHUT_WR), ==, 0);
    g_assert_cmpint(expect_end(dst), ==, 0);
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    g_assert_cmpuint(report.records[VMIG_RELAY_TLS_APPLICATION_DATA], ==,
                     1 + 4 + 12 + 1 + 5 + 1);
    g_assert_cmpuint(report.record_bytes[VMIG_RELAY_TLS_APPLICATION_DATA], ==,
                     down.record_bytes[VMIG_RELAY_TLS_APPLICATION_DATA] +
                         up.record_bytes[VMIG_RELAY_TLS_APPLICATION_DATA]);
    g_assert_true(report.tls_only);
}

/* Headers that break a rule, each its own relay: the first is told, with its offset. */
typedef struct {
    const char *name;
    guint8 header[5];
    gboolean upstream; /* dst->src */
} BadHeader;

static const BadHeader bad_headers[] = {
    {"type 19", {19, 0x03, 0x03, 0x00, 0x01}, FALSE},
    {"heartbeat (24)", {24, 0x03, 0x03, 0x00, 0x01}, TRUE},
    {"version 0x0300", {23, 0x03, 0x00, 0x00, 0x01}, FALSE},
    {"version 0x0305", {23, 0x03, 0x05, 0x00, 0x01}, TRUE},
    {"version 0x0203", {23, 0x02, 0x03, 0x00, 0x01}, FALSE},
    {"length 2^14 + 257", {23, 0x03, 0x03, 0x41, 0x01}, TRUE},
    {"QEMU's magic", {'Q', 'E', 'V', 'M', 0x00}, FALSE},
    {"a main channel's frame", {'V', 'M', 'G', 'R', 0x00}, TRUE},
};

static void
test_tls_bad_header(Fixture *f, gconstpointer data)
{
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(bad_headers); i++) {
        const BadHeader *bad = &bad_headers[i];
        g_autoptr(GError) error = NULL;
        g_auto(VmigFd) src = -1;
        g_auto(VmigFd) dst = -1;
        g_auto(Stream) down = {0};
        g_auto(Stream) up = {0};
        g_auto(VmigRelayReport) report = {0};
        g_autofree char *where = NULL;
        Stream *bad_stream;
        gsize down_sent = 0, up_sent = 0;
        gsize bad_at;

        g_test_message("%s", bad->name);
        /* A fresh relay: only the first violation is told. */
        g_clear_pointer(&f->relay, vmig_relay_free);
        f->relay = vmig_relay_new(f->target_port, &error);
        g_assert_no_error(error);

        stream_init(&down);
        stream_init(&up);
        stream_record(&down, f->rand, 22, 0x01, 300);
        stream_records(&down, f->rand, 3);
        stream_record(&up, f->rand, 22, 0x03, 100);
        stream_records(&up, f->rand, 2);
        bad_stream = bad->upstream ? &up : &down;
        bad_at = bad_stream->bytes->len;
        /* The bad header over two reads, then bytes that would pass. */
        stream_raw(bad_stream, bad->header, 2);
        stream_cut(bad_stream, 0);
        stream_raw(bad_stream, bad->header + 2, 3);
        stream_cut(bad_stream, 0);
        stream_record(bad_stream, f->rand, 23, 0x03, 10);
        stream_raw(bad_stream, "VMGM", 4);

        stream_open(f, &down, &down_sent, &src, &dst);
        stream_send(&down, &down_sent, src, dst);
        stream_send(&up, &up_sent, dst, src);

        vmig_relay_report(f->relay, &report);
        report_log(&report);
        g_assert_false(report.tls_only);
        g_assert_cmpuint(report.not_tls, ==, 1);
        g_assert_cmpuint(report.violation_conn, ==, 1);
        g_assert_cmpint(report.violation_dir, ==,
                        bad->upstream ? VMIG_RELAY_DST_TO_SRC : VMIG_RELAY_SRC_TO_DST);
        g_assert_cmpuint(report.violation_offset, ==, bad_at);
        where = g_strdup_printf(
            "%s: no TLS record header at offset %" G_GSIZE_FORMAT ": %02x ",
            bad->upstream ? "dst->src" : "src->dst", bad_at, bad->header[0]);
        g_assert_nonnull(report.violation);
        g_assert_nonnull(strstr(report.violation, where));
        /* What follows the bad header is not walked: the record after it is not counted.
         */
        bad_stream->records[VMIG_RELAY_TLS_APPLICATION_DATA]--;
        bad_stream->record_bytes[VMIG_RELAY_TLS_APPLICATION_DATA] -= 10;
        expect_records(&report, &down, &up);
        g_assert_cmpuint(report.opaque_tls_start, ==, 1);
    }
}

/* Not TLS from the first byte: no handshake start, the offset is 0. */
static void
test_tls_plain(Fixture *f, gconstpointer data)
{
    static const char hello[] = "GET / HTTP/1.0\r\n\r\n";
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(VmigRelayReport) report = {0};

    open_pair(f, hello, strlen(hello), &src, &dst);
    g_assert_true(
        vmig_relay_wait_count(f->relay, VMIG_RELAY_COUNT_OPAQUE, 1, TEST_TIMEOUT_MS));
    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_cmpuint(report.opaque_tls_start, ==, 0);
    g_assert_false(report.tls_only);
    g_assert_cmpuint(report.violation_offset, ==, 0);
    g_assert_cmpstr(report.violation, ==,
                    "connection 1 (opaque) src->dst: no TLS record header at offset 0: "
                    "47 45 54 20 2f 20 48 54 \"GET / HT\"");
}

/* Main and data channels are no business of the TLS walker. */
static void
test_tls_channels(Fixture *f, gconstpointer data)
{
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(VmigFd) src2 = -1;
    g_auto(VmigFd) dst2 = -1;
    g_auto(VmigRelayReport) report = {0};
    g_autoptr(GByteArray) down = g_byte_array_new();
    guint8 preamble[24];

    open_main(f, &src, &dst);
    frame_append(down, f->rand, VMIG_RELAY_FRAME_REPLY, 20);
    send_all(src, down->data, down->len);
    expect_bytes(dst, down->data, down->len);
    data_preamble(f->rand, 1, preamble);
    open_pair(f, preamble, sizeof(preamble), &src2, &dst2);
    send_all(src2, "QEVM", 4);
    expect_bytes(dst2, "QEVM", 4);

    vmig_relay_report(f->relay, &report);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_OPAQUE], ==, 0);
    g_assert_true(report.tls_only);
    g_assert_cmpuint(report.records[VMIG_RELAY_TLS_HANDSHAKE], ==, 0);
}

/* Needles split across reads, either way; the first seen is told. */
static void
test_needles_split(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) needles = needles_new();
    const guint8 *sample = pattern + 4096;
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(VmigFd) src2 = -1;
    g_auto(VmigFd) dst2 = -1;
    g_auto(Stream) down = {0};
    g_auto(Stream) up = {0};
    g_auto(VmigRelayReport) report = {0};
    g_autofree char *expected = NULL;
    gsize down_sent = 0, up_sent = 0;
    gsize sample_at, qevm_at, vmgc_at;

    vmig_relay_watch_needles(f->relay, needles);
    stream_init(&down);
    stream_init(&up);
    stream_record(&down, f->rand, 22, 0x01, 200);
    stream_record(&up, f->rand, 22, 0x03, 100);
    stream_open(f, &down, &down_sent, &src, &dst);
    stream_send(&down, &down_sent, src, dst);
    stream_send(&up, &up_sent, dst, src);
    vmig_relay_report(f->relay, &report);
    g_assert_false(report.needle_seen);

    /* The guest's memory in clear, cut after 30 bytes, then QEMU's magic. */
    stream_raw(&down, "\x17\x03\x03\x01\x00", 5);
    stream_filler(&down, f->rand, 100);
    sample_at = down.bytes->len;
    stream_raw(&down, sample, 30);
    stream_cut(&down, 0);
    stream_raw(&down, sample + 30, 64 - 30);
    stream_raw(&down, "QEVM", 4);
    stream_filler(&down, f->rand, 256 - 100 - 64 - 4);
    stream_send(&down, &down_sent, src, dst);

    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_true(report.needle_seen);
    g_assert_cmpuint(report.needle_index, ==, 3);
    g_assert_cmpuint(report.needle_conn, ==, 1);
    g_assert_cmpint(report.needle_dir, ==, VMIG_RELAY_SRC_TO_DST);
    g_assert_cmpuint(report.needle_offset, ==, sample_at);
    g_assert_nonnull(strstr(report.needle_hit, "needle 3 (64 bytes: "));
    g_assert_nonnull(strstr(report.needle_hit, "on connection 1 (opaque) src->dst"));
    /* Needles are no business of the TLS walker. */
    g_assert_true(report.tls_only);

    /* Watching anew forgets the hit; "QEVM" 2 + 2 the other way. */
    vmig_relay_watch_needles(f->relay, needles);
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    g_assert_false(report.needle_seen);
    g_assert_null(report.needle_hit);
    stream_filler(&up, f->rand, 7);
    qevm_at = up.bytes->len;
    stream_raw(&up, "QE", 2);
    stream_cut(&up, 0);
    stream_raw(&up, "VM", 2);
    stream_send(&up, &up_sent, dst, src);
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_true(report.needle_seen);
    g_assert_cmpuint(report.needle_index, ==, 2);
    g_assert_cmpint(report.needle_dir, ==, VMIG_RELAY_DST_TO_SRC);
    g_assert_cmpuint(report.needle_offset, ==, qevm_at);
    expected = g_strdup_printf("needle 2 (4 bytes: 51 45 56 4d \"QEVM\") on connection 1 "
                               "(opaque) dst->src at offset %" G_GSIZE_FORMAT,
                               qevm_at);
    g_assert_cmpstr(report.needle_hit, ==, expected);

    /* "VMGC" over three reads, one byte, one byte, two. */
    vmig_relay_watch_needles(f->relay, needles);
    vmgc_at = down.bytes->len;
    stream_raw(&down, "V", 1);
    stream_cut(&down, 0);
    stream_raw(&down, "M", 1);
    stream_cut(&down, 0);
    stream_raw(&down, "GC", 2);
    stream_send(&down, &down_sent, src, dst);
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_true(report.needle_seen);
    g_assert_cmpuint(report.needle_index, ==, 1);
    g_assert_cmpint(report.needle_dir, ==, VMIG_RELAY_SRC_TO_DST);
    g_assert_cmpuint(report.needle_offset, ==, vmgc_at);

    /* Two needles in one read: the earlier in the stream, whatever its index. */
    vmig_relay_watch_needles(f->relay, needles);
    stream_filler(&up, f->rand, 3);
    vmgc_at = up.bytes->len;
    stream_raw(&up, "VMGC", 4);
    stream_filler(&up, f->rand, 5);
    stream_raw(&up, "QEVM", 4);
    stream_cut(&up, 0);
    stream_send(&up, &up_sent, dst, src);
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    g_assert_true(report.needle_seen);
    g_assert_cmpuint(report.needle_index, ==, 1);
    g_assert_cmpuint(report.needle_offset, ==, vmgc_at);

    vmig_relay_watch_needles(f->relay, needles);
    qevm_at = up.bytes->len;
    stream_raw(&up, "QEVM", 4);
    stream_raw(&up, "VMGC", 4);
    stream_send(&up, &up_sent, dst, src);
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    g_assert_true(report.needle_seen);
    g_assert_cmpuint(report.needle_index, ==, 2);
    g_assert_cmpuint(report.needle_offset, ==, qevm_at);

    /* A main channel carries "VMGM" at its first byte. */
    vmig_relay_watch_needles(f->relay, needles);
    open_pair(f, main_preamble, sizeof(main_preamble), &src2, &dst2);
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_true(report.needle_seen);
    g_assert_cmpuint(report.needle_index, ==, 0);
    g_assert_cmpuint(report.needle_conn, ==, 2);
    g_assert_cmpuint(report.needle_offset, ==, 0);
    g_assert_cmpstr(report.needle_hit, ==,
                    "needle 0 (4 bytes: 56 4d 47 4d \"VMGM\") on connection 2 (main) "
                    "src->dst at offset 0");
}

/* Near misses, split and not, both ways, on every kind of connection: no needle. */
static void
test_needles_absent(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) needles = needles_new();
    g_autoptr(GPtrArray) no_magic = g_ptr_array_new();
    g_autofree guint8 *almost = g_memdup2(pattern + 4096, 64);
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(VmigFd) src2 = -1;
    g_auto(VmigFd) dst2 = -1;
    g_auto(Stream) down = {0};
    g_auto(Stream) up = {0};
    g_auto(VmigRelayReport) report = {0};
    g_autoptr(GByteArray) frames = g_byte_array_new();
    gsize down_sent = 0, up_sent = 0;

    vmig_relay_watch_needles(f->relay, needles);
    stream_init(&down);
    stream_init(&up);
    stream_record(&down, f->rand, 22, 0x01, 200);
    stream_records(&down, f->rand, 4);
    stream_record(&up, f->rand, 22, 0x03, 100);
    /* Three bytes of a needle at the end of a read, the wrong fourth next. */
    stream_raw(&down, "QEV", 3);
    stream_cut(&down, 0);
    stream_raw(&down, "X", 1);
    stream_raw(&up, "VMG", 3);
    stream_cut(&up, 0);
    stream_raw(&up, "R", 1);
    stream_raw(&up, "VM", 2);
    stream_cut(&up, 0);
    stream_raw(&up, "G", 1);
    stream_cut(&up, 0);
    stream_raw(&up, "x", 1);
    /* The sample, its last byte changed, cut after 63 bytes. */
    almost[63] ^= 1;
    stream_raw(&down, almost, 63);
    stream_cut(&down, 0);
    stream_raw(&down, almost + 63, 1);
    /* A needle's start at the end of the stream. */
    stream_raw(&down, "QEV", 3);

    stream_open(f, &down, &down_sent, &src, &dst);
    stream_send(&down, &down_sent, src, dst);
    stream_send(&up, &up_sent, dst, src);
    g_assert_cmpint(shutdown(src, SHUT_WR), ==, 0);
    g_assert_cmpint(expect_end(dst), ==, 0);

    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_false(report.needle_seen);
    g_assert_null(report.needle_hit);

    /* A main channel, watched for all but the magics. */
    g_ptr_array_add(no_magic, g_ptr_array_index(needles, 2));
    g_ptr_array_add(no_magic, g_ptr_array_index(needles, 3));
    vmig_relay_watch_needles(f->relay, no_magic);
    open_pair(f, main_preamble, sizeof(main_preamble), &src2, &dst2);
    frame_append(frames, f->rand, VMIG_RELAY_FRAME_GREETING, 0);
    frame_append(frames, f->rand, VMIG_RELAY_FRAME_HEARTBEAT, 0);
    send_all(src2, frames->data, frames->len);
    expect_bytes(dst2, frames->data, frames->len);
    send_all(dst2, frames->data, frames->len);
    expect_bytes(src2, frames->data, frames->len);

    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    report_log(&report);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_MAIN], ==, 1);
    g_assert_false(report.needle_seen);

    /* Not watching: nothing is found, magic or not. */
    vmig_relay_watch_needles(f->relay, NULL);
    send_all(src2, "QEVM", 4);
    expect_bytes(dst2, "QEVM", 4);
    vmig_relay_report_clear(&report);
    vmig_relay_report(f->relay, &report);
    g_assert_false(report.needle_seen);
}

typedef struct {
    int fd; /* borrowed */
    GByteArray *bytes;
    GThread *thread;
} BytesWriter;

/* Send all of w->bytes in one go.  Returns: NULL. */
static gpointer
bytes_writer_thread(gpointer data)
{
    BytesWriter *w = data;

    send_all(w->fd, w->bytes->data, w->bytes->len);
    return NULL;
}

/*
 * More than the relay's ring (4 MiB) of records in one go, a needle
 * straddling the place where the ring wraps: records and needle as they
 * were sent, forwarded unchanged.
 */
static void
test_tls_large(Fixture *f, gconstpointer data)
{
    const gsize ring = 4 * MiB;
    g_autoptr(GPtrArray) needles = needles_new();
    g_auto(VmigFd) src = -1;
    g_auto(VmigFd) dst = -1;
    g_auto(Stream) down = {0};
    g_auto(VmigRelayReport) report = {0};
    BytesWriter writer = {0};
    gsize qevm_at = 0;

    vmig_relay_watch_needles(f->relay, needles);
    stream_init(&down);
    stream_record(&down, f->rand, 22, 0x01, 512);
    while (down.bytes->len < ring + MiB) {
        gsize start = down.bytes->len;

        stream_record(&down, f->rand, 23, 0x03, VMIG_RELAY_TLS_RECORD_MAX);
        /* A body that holds the ring's last two bytes: "QEVM" across them. */
        if (start + 5 < ring - 2 && down.bytes->len > ring + 2) {
            qevm_at = ring - 2;
            memcpy(down.bytes->data + qevm_at, "QEVM", 4);
        }
    }
    g_assert_cmpuint(qevm_at, !=, 0);

    src = connect_to(vmig_relay_port(f->relay));
    writer.fd = src;
    writer.bytes = down.bytes;
    writer.thread = g_thread_new("test-writer", bytes_writer_thread, &writer);
    dst = target_accept(f, TEST_TIMEOUT_MS);
    g_assert_cmpint(dst, >=, 0);
    expect_bytes(dst, down.bytes->data, down.bytes->len);
    g_thread_join(writer.thread);

    vmig_relay_report(f->relay, &report);
    report_log(&report);
    expect_records(&report, &down, NULL);
    g_assert_true(report.tls_only);
    g_assert_true(report.needle_seen);
    g_assert_cmpuint(report.needle_index, ==, 2);
    g_assert_cmpuint(report.needle_offset, ==, qevm_at);
}

int
main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    pattern_init();

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/relay/forward/main", test_main_forward);
    ADD("/relay/forward/split", test_main_split);
    ADD("/relay/forward/data", test_data_forward);
    ADD("/relay/forward/throughput", test_data_throughput);
    ADD("/relay/forward/backpressure", test_backpressure);
    ADD("/relay/forward/opaque", test_opaque);
    ADD("/relay/forward/short-preamble", test_short_preamble);
    ADD("/relay/forward/raw", test_raw);
    ADD("/relay/hold/release", test_hold_release);
    ADD("/relay/hold/split", test_hold_split);
    ADD("/relay/hold/greeting", test_hold_greeting);
    ADD("/relay/hold/eof", test_hold_eof);
    ADD("/relay/hold/reset", test_hold_reset);
    ADD("/relay/hold/others", test_hold_others);
    ADD("/relay/wait-frame", test_wait_frame);
    ADD("/relay/fault/freeze", test_freeze);
    ADD("/relay/fault/cut", test_cut);
    ADD("/relay/end/eof", test_eof);
    ADD("/relay/end/refused", test_refused);
    ADD("/relay/free/busy", test_free_busy);
    ADD("/relay/watch/count", test_count);
    ADD("/relay/watch/tls/records", test_tls_records);
    ADD("/relay/watch/tls/bad-header", test_tls_bad_header);
    ADD("/relay/watch/tls/plain", test_tls_plain);
    ADD("/relay/watch/tls/channels", test_tls_channels);
    ADD("/relay/watch/tls/large", test_tls_large);
    ADD("/relay/watch/needles/split", test_needles_split);
    ADD("/relay/watch/needles/absent", test_needles_absent);
#undef ADD

    ret = g_test_run();
    g_free(pattern);
    return ret;
}
