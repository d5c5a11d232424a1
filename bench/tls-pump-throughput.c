/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tls-pump-throughput.c: what a pair of TLS pumps costs, in bytes per
 * second, against a raw socketpair measured in the same run
 *
 *     raw: writer -> socketpair -> reader
 *     tls: writer -> plain end -> client pump -> TLS over a socketpair
 *              (or loopback TCP) -> server pump -> plain end -> reader
 *
 * The writer sends one 1 MiB buffer over and over; the reader reads into
 * a 1 MiB buffer and throws it away.  A run is timed from the writer's
 * first byte to the reader's end of file (which, through the pumps,
 * needs the close_notify).  The figures are the medians of the runs.
 *
 *     bench/tls-pump-throughput [--size GIB] [--runs N] [--tcp]
 *
 * Credentials are made on the fly (tests/tls-helper.h) in a temporary
 * directory.  This is a benchmark, not a test: it exits 0 whatever the
 * ratio, and non-zero only when it cannot set up.
 */
#include <config.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "fdpass/fd.h"
#include "tests/tls-helper.h"
#include "tls/session.h"

#define BUF_SIZE (1024 * 1024)
#define GiB      (1024.0 * 1024.0 * 1024.0)

typedef struct {
    int fd;          /* borrowed */
    guint64 total;   /* writer: bytes to send */
    guint64 moved;   /* bytes written or read */
    int err;         /* errno of a failed call, or 0 */
    gint64 end_usec; /* reader: monotonic time of end of file */
} Side;

static gpointer
writer_thread(gpointer data)
{
    Side *s = data;
    g_autofree guint8 *buf = g_malloc(BUF_SIZE);

    memset(buf, 0x5a, BUF_SIZE);
    while (s->moved < s->total) {
        gsize len = MIN((guint64)BUF_SIZE, s->total - s->moved);
        ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            s->err = n < 0 ? errno : EIO;
            break;
        }
        s->moved += n;
    }
    shutdown(s->fd, SHUT_WR);
    return NULL;
}

static gpointer
reader_thread(gpointer data)
{
    Side *s = data;
    g_autofree guint8 *buf = g_malloc(BUF_SIZE);

    memset(buf, 0, BUF_SIZE);
    for (;;) {
        ssize_t n = read(s->fd, buf, BUF_SIZE);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s->err = errno;
            break;
        }
        if (n == 0)
            break;
        s->moved += n;
    }
    s->end_usec = g_get_monotonic_time();
    return NULL;
}

/* Move @total bytes from @wfd to @rfd.  Returns: seconds, or < 0 on failure. */
static double
pump_bytes(int wfd, int rfd, guint64 total)
{
    Side w = {.fd = wfd, .total = total};
    Side r = {.fd = rfd};
    GThread *reader = g_thread_new("bench-reader", reader_thread, &r);
    gint64 start = g_get_monotonic_time();
    GThread *writer = g_thread_new("bench-writer", writer_thread, &w);

    g_thread_join(writer);
    g_thread_join(reader);
    if (w.err || r.err || r.moved != total) {
        fprintf(stderr,
                "tls-pump-throughput: moved %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                " bytes: %s\n",
                r.moved, total, g_strerror(w.err ? w.err : r.err));
        return -1;
    }
    return (r.end_usec - start) / (double)G_USEC_PER_SEC;
}

static double
run_raw(guint64 total)
{
    int sv[2];
    g_auto(VmigFd) w = -1;
    g_auto(VmigFd) r = -1;

    vmig_test_connected_pair(FALSE, sv);
    w = sv[0];
    r = sv[1];
    return pump_bytes(w, r, total);
}

typedef struct {
    VmigTlsSession *session;
    GError *error;
    gboolean done;
} Result;

static void
handshake_done(GObject *source, GAsyncResult *res, gpointer data)
{
    Result *r = data;

    r->session = vmig_tls_handshake_finish(res, &r->error);
    r->done = TRUE;
}

static void
pump_done(VmigTlsPump *pump, const GError *error, gpointer data)
{
    if (error)
        fprintf(stderr, "tls-pump-throughput: %s\n", error->message);
}

/* One run through a client and a server pump.  Returns: seconds, or < 0. */
static double
run_tls(VmigTlsContext *ctx, gboolean tcp, guint64 total)
{
    Result r[2] = {{0}};
    g_autoptr(VmigTlsPump) client = NULL;
    g_autoptr(VmigTlsPump) server = NULL;
    g_auto(VmigFd) w = -1;
    g_auto(VmigFd) rd = -1;
    g_autoptr(GError) error = NULL;
    double seconds;
    int sv[2];

    vmig_test_connected_pair(tcp, sv);
    vmig_tls_handshake_async(ctx, VMIG_TLS_ROLE_SERVER, &sv[0], NULL, "the source", 10000,
                             NULL, handshake_done, &r[0]);
    vmig_tls_handshake_async(ctx, VMIG_TLS_ROLE_CLIENT, &sv[1], "localhost",
                             "the destination", 10000, NULL, handshake_done, &r[1]);
    while (!r[0].done || !r[1].done)
        g_main_context_iteration(NULL, TRUE);
    for (int i = 0; i < 2; i++) {
        if (r[i].error) {
            fprintf(stderr, "tls-pump-throughput: %s\n", r[i].error->message);
            g_clear_error(&r[i].error);
            g_clear_pointer(&r[i].session, vmig_tls_session_free);
        }
    }
    if (!r[0].session || !r[1].session) {
        g_clear_pointer(&r[0].session, vmig_tls_session_free);
        g_clear_pointer(&r[1].session, vmig_tls_session_free);
        return -1;
    }
    server = vmig_tls_pump_start(r[0].session, &rd, "bench/server", NULL, pump_done, NULL,
                                 &error);
    if (server)
        client = vmig_tls_pump_start(r[1].session, &w, "bench/client", NULL, pump_done,
                                     NULL, &error);
    else
        vmig_tls_session_free(r[1].session);
    if (!client) {
        fprintf(stderr, "tls-pump-throughput: %s\n", error->message);
        return -1;
    }
    seconds = pump_bytes(w, rd, total);
    return seconds;
}

static int
compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
    qsort(v, n, sizeof(*v), compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Return: CPU seconds (user + system) this process has used. */
static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int
main(int argc, char **argv)
{
    double size_gib = 1.0;
    int runs = 5;
    gboolean tcp = FALSE;
    GOptionEntry entries[] = {
        {"size", 0, 0, G_OPTION_ARG_DOUBLE, &size_gib, "GiB per run (1)", "GIB"},
        {"runs", 0, 0, G_OPTION_ARG_INT, &runs, "runs of each path (5)", "N"},
        {"tcp", 0, 0, G_OPTION_ARG_NONE, &tcp, "TLS over loopback TCP, not a socketpair",
         NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) options = g_option_context_new("");
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTestCert) ca = NULL;
    g_autoptr(VmigTlsCredentials) server = NULL;
    g_autoptr(VmigTlsCredentials) client = NULL;
    g_autoptr(VmigTlsContext) ctx = NULL;
    g_autofree char *dir = NULL;
    g_autofree double *raw = NULL;
    g_autofree double *tls = NULL;
    g_autofree double *raw_cpu = NULL;
    g_autofree double *tls_cpu = NULL;
    guint64 total;

    g_option_context_add_main_entries(options, entries, NULL);
    if (!g_option_context_parse(options, &argc, &argv, &error) || runs < 1 ||
        size_gib <= 0) {
        fprintf(stderr, "tls-pump-throughput: %s\n",
                error ? error->message : "--runs and --size must be positive");
        return 2;
    }
    total = (guint64)(size_gib * GiB);
    ca = vmig_test_ca_new("bench CA");
    dir = vmig_test_tls_dir_new();
    vmig_test_tls_write_host(dir, ca, &(VmigTestHost){.cn = "localhost"});
    if (!vmig_tls_credentials_load_both(dir, &server, &client, &error)) {
        fprintf(stderr, "tls-pump-throughput: %s\n", error->message);
        return 1;
    }
    vmig_test_tls_dir_remove(dir);
    ctx = vmig_tls_context_new(g_steal_pointer(&server), g_steal_pointer(&client), NULL,
                               NULL);
    raw = g_new0(double, runs);
    tls = g_new0(double, runs);
    raw_cpu = g_new0(double, runs);
    tls_cpu = g_new0(double, runs);
    printf("%.2f GiB per run, %d runs each, TLS over %s\n", size_gib, runs,
           tcp ? "loopback TCP" : "a socketpair");
    for (int i = 0; i < runs; i++) {
        double c0 = cpu_seconds();
        double c1;
        double c2;

        raw[i] = run_raw(total);
        c1 = cpu_seconds();
        tls[i] = run_tls(ctx, tcp, total);
        c2 = cpu_seconds();
        if (raw[i] < 0 || tls[i] < 0)
            return 1;
        raw_cpu[i] = (c1 - c0) / size_gib;
        tls_cpu[i] = (c2 - c1) / size_gib;
        printf(
            "run %d: raw %.2f GiB/s (%.2f CPU s/GiB), tls %.2f GiB/s (%.2f CPU s/GiB)\n",
            i + 1, size_gib / raw[i], raw_cpu[i], size_gib / tls[i], tls_cpu[i]);
    }
    {
        double raw_rate = size_gib / median(raw, runs);
        double tls_rate = size_gib / median(tls, runs);

        printf(
            "median: raw %.2f GiB/s, tls %.2f GiB/s, tls/raw %.3f; CPU s/GiB: raw %.2f, "
            "tls %.2f\n",
            raw_rate, tls_rate, tls_rate / raw_rate, median(raw_cpu, runs),
            median(tls_cpu, runs));
    }
    return 0;
}
