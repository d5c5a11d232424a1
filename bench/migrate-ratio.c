/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migrate-ratio.c: the cost of migrating through two virt-migrated daemons
 *
 * Migrates the same guest, 1 GiB of random RAM (a pattern planted at
 * 16 MiB in a 1.5 GiB guest, both QEMUs -mem-prealloc'ed), in four ways:
 *
 *   1 channel,  direct    QEMU to QEMU over a unix socket (migrate-incoming
 *                         "unix:PATH", migrate "unix:PATH")
 *   1 channel,  daemons   through a source and a destination virt-migrated
 *                         (prepare-incoming "listen": "unix:PATH", migrate
 *                         "dest": "unix:PATH", "channels": 0)
 *   4 channels, direct    QEMU to QEMU, multifd with 4 channels over unix
 *                         (the direct twin of the next)
 *   4 channels, daemons   the daemons with "channels": 4
 *
 * interleaved run by run (the order alternates, so that drift of the host
 * weighs on both sides alike), and prints the medians and the ratios
 * daemons/direct.  Target: 1.05 or less.
 *
 * Then the downtime part: a running guest (256 MiB, the test kernel of
 * tests/guest-helper.h writing to 64 MiB of it all the time) migrates the
 * same four ways, interleaved the same way, and the downtime is the time
 * from the source QEMU's STOP event to the destination QEMU's RESUME event
 * by the events' own timestamps (both QEMUs read one host clock).  Both
 * are watched on the second monitors, where QMP events arrive too.  The
 * direct destination has no -S and resumes by itself once loaded; the
 * daemons' has -S and is resumed by its daemon ("resume": true), which is
 * how a daemon with a confirmed switchover resumes it too: only QEMU's
 * events are read, so who sends the `cont` does not matter.  Then the
 * guest must run on the destination (its counter goes on from the
 * source's).  It prints the median, min and max downtime of each way, and
 * daemons minus direct.  An event that does not come in time (a daemon
 * that never resumes, say) fails that sample with a message; the others
 * go on, and the exit status is then 1.
 *
 * Then the TLS part: the stopped guest of the ratio part over TCP
 * loopback (127.0.0.1, each port one the kernel handed out), 1 and 4
 * channels, three paths:
 *
 *   plain         QEMU to QEMU (migrate-incoming "tcp:127.0.0.1:PORT")
 *   QEMU-TLS      QEMU to QEMU with QEMU's own TLS: a tls-creds-x509
 *                 object on each (endpoint server on the destination,
 *                 client on the source, verify-peer on), tls-creds on
 *                 both, tls-hostname 127.0.0.1 on the source
 *   daemons-TLS   through a second pair of daemons, started with
 *                 --tls-x509-dir and without --plaintext-tcp, so that
 *                 their TCP migration is TLS (prepare-incoming "listen":
 *                 "tcp:127.0.0.1:PORT"); the source daemon's record must
 *                 say so
 *
 * interleaved run by run (the order rotates, each path first once in
 * three runs), medians, and the ratios daemons-TLS/plain (target: 1.5 or
 * less) and QEMU-TLS/daemons-TLS (target: 2.5 or more).  The credentials
 * (tests/tls-helper.h: one CA, the destination's certificate naming
 * 127.0.0.1) are shared by the QEMUs and the daemons.  Every migration of
 * the ratio and TLS parts also charges each QEMU and each daemon with
 * its CPU time (utime + stime in /proc/PID/stat, from just before the
 * migration to both sides' end) per GiB the source QEMU transferred.
 *
 * Every migration gets two fresh QEMUs.  The source is stopped before the
 * migration starts and max-bandwidth is 10 GiB/s (QEMU's default is
 * 128 MiB/s), so that what is timed is the transport, not convergence.
 * Times: QEMU's own "total-time" on the source (query-migrate), and the
 * wall time from the migrate command to the end (direct: query-migrate
 * polled every 5 ms; daemons: the source daemon's MIGRATION_DONE event).
 * The first run of each way also checks the result: the guest memory of
 * both QEMUs is compared page by page and the destination must hold the
 * pattern.  The source QEMU's "events" capability is on, so that a
 * timeline (the daemons' NEGOTIATED, QEMU's MIGRATION setup and
 * completed, the end) shows where the daemons' extra time goes, and its
 * parameters are checked after each run (max-bandwidth, multifd and its
 * channels as the shape says).  The benchmark itself only uses each QEMU's
 * second monitor (tests/guest-helper.h): the daemons hold the first.
 *
 *   bench/migrate-ratio [--runs N] [--ram MIB] [--daemon PATH] [--no-daemons]
 *                       [--no-downtime] [--no-tls] [--downtime-only | --tls-only]
 *                       [--verify-all] [--verbose]
 *
 * The daemon is $VIRT_MIGRATED, or ../driver/virt-migrated next to this
 * program.  Each daemon gets its own --runtime-dir under the benchmark's
 * temporary directory, which is removed at the end.  Exit status: 0 when
 * every migration completed (the ratios and downtimes are reported, not
 * enforced), 1 on a failure or a failed downtime sample, 2 on a usage
 * error, 77 without QEMU.
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-bench"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "tests/daemon-helper.h"
#include "tests/guest-helper.h"
#include "tests/qemu-helper.h"
#include "tests/tls-helper.h"

#define BENCH_SEED                1u
#define BENCH_DEFAULT_RUNS        5u
#define BENCH_DEFAULT_PATTERN_MIB 1024u
/* Guest RAM beyond the pattern (which sits at 16 MiB). */
#define BENCH_EXTRA_MIB     512u
#define BENCH_TARGET        1.05
#define BENCH_MAX_BANDWIDTH (G_GINT64_CONSTANT(10) << 30)
/* Bounds: one QMP or control command, one whole migration. */
#define BENCH_COMMAND_TIMEOUT_MS 30000u
#define BENCH_MIGRATE_TIMEOUT_US (120 * G_USEC_PER_SEC)
/* How often query-migrate is polled, and the slices of event waits. */
#define BENCH_POLL_US       5000
#define BENCH_WAIT_SLICE_MS 200u
/* The downtime part: a guest running the test kernel, which needs 224 MiB. */
#define BENCH_DOWNTIME_RAM_MIB 256u
/* How long the test kernel may take to start counting (the firmware runs first). */
#define BENCH_BOOT_TIMEOUT_US (60 * G_USEC_PER_SEC)
/* Between two reads of the counter on the destination (it counts ~1000 passes/s). */
#define BENCH_COUNTER_GAP_US (100 * 1000)
/*
 * Once the source QEMU has completed: how long its STOP, then the
 * destination's RESUME, may take to be seen (milliseconds are the rule; a
 * daemon that never resumes its guest makes a failed sample, not a hang).
 */
#define BENCH_EVENT_TIMEOUT_US (30 * G_USEC_PER_SEC)
/* How long the destination's MIGRATION "completed" may lag its RESUME. */
#define BENCH_EVENT_GRACE_US (2 * G_USEC_PER_SEC)

typedef enum { BENCH_PATH_DIRECT, BENCH_PATH_DAEMONS, BENCH_PATH_LAST } BenchPath;

static const char *const bench_path_names[] = {"direct", "daemons"};
G_STATIC_ASSERT(G_N_ELEMENTS(bench_path_names) == BENCH_PATH_LAST);

/* The shapes compared; each runs directly and through the daemons. */
typedef struct {
    const char *name;
    guint channels; /* multifd channels; 0: the main channel only, no multifd */
} BenchShape;

static const BenchShape bench_shapes[] = {
    {"1 channel", 0},
    {"4 channels", 4},
};
#define BENCH_N_SHAPES G_N_ELEMENTS(bench_shapes)

/* The TLS part's targets: the daemons' TLS at most 1.5x direct plaintext, and at
 * least 2.5x faster than QEMU's own TLS. */
#define BENCH_TLS_TARGET_COST 1.5
#define BENCH_TLS_TARGET_GAIN 2.5

/*
 * The TLS part's paths, all over TCP loopback: QEMU to QEMU in plaintext
 * (the baseline), QEMU to QEMU with QEMU's own TLS (tls-creds-x509), and
 * through the two daemons with TLS between them.
 */
typedef enum {
    BENCH_TLS_PATH_PLAIN,
    BENCH_TLS_PATH_QEMU,
    BENCH_TLS_PATH_DAEMONS,
    BENCH_TLS_PATH_LAST
} BenchTlsPath;

static const char *const bench_tls_path_names[] = {"plain", "QEMU-TLS", "daemons-TLS"};
G_STATIC_ASSERT(G_N_ELEMENTS(bench_tls_path_names) == BENCH_TLS_PATH_LAST);

/* How the bytes travel on a path: unix socket or TCP loopback, TLS or not. */
typedef struct {
    gboolean tcp; /* tcp:127.0.0.1:PORT (a port from the kernel), not unix:PATH */
    gboolean tls; /* direct: QEMU's own TLS; daemons: TLS between them (checked) */
} BenchWire;

static const BenchWire bench_wire_unix = {FALSE, FALSE};

/* Returns: how the TLS part's @path migrates. */
static BenchWire
bench_tls_path_wire(BenchTlsPath path)
{
    return (BenchWire){.tcp = TRUE, .tls = path != BENCH_TLS_PATH_PLAIN};
}

/* The processes whose CPU time a migration is charged with. */
typedef enum {
    BENCH_PROC_SRC_QEMU,
    BENCH_PROC_DST_QEMU,
    BENCH_PROC_SRC_DAEMON,
    BENCH_PROC_DST_DAEMON,
    BENCH_PROC_LAST
} BenchProc;

static const char *const bench_proc_names[] = {"src QEMU", "dst QEMU", "src daemon",
                                               "dst daemon"};
G_STATIC_ASSERT(G_N_ELEMENTS(bench_proc_names) == BENCH_PROC_LAST);

/* One migration's numbers. */
typedef struct {
    double total_ms;      /* QEMU's total-time on the source */
    double wall_ms;       /* migrate command to the end */
    double downtime_ms;   /* QEMU's downtime on the source */
    gint64 channels;      /* daemons: negotiated channels (-1: not reported) */
    double negotiated_ms; /* daemons: NEGOTIATED's timestamp after the migrate command */
    double
        qemu_setup_ms;   /* the source QEMU's MIGRATION "setup" event after the command */
    double qemu_done_ms; /* ... and its "completed" event */
    gboolean verified;
    /*
     * CPU seconds (user + system, /proc/PID/stat) each process spent from
     * just before the migration to its end (both sides done), per GiB the
     * source QEMU transferred; NaN where not measured (no daemons on a
     * direct path).
     */
    double cpu_s_per_gib[BENCH_PROC_LAST];
    double transferred_gib; /* the source QEMU's ram "transferred", in GiB */
    char *tls;              /* nullable: what the TLS session was, for the report */
    char *odd;              /* nullable: how the source QEMU was not set up as its twin */
} BenchSample;

/*
 * One migration of a running guest (the downtime part), in ms from the
 * QEMUs' and the daemons' own event timestamps (one host clock).  NaN
 * where an event was not seen: these are differences and may be negative.
 */
typedef struct {
    double downtime_ms;      /* the destination QEMU's RESUME after the source's STOP */
    double qemu_downtime_ms; /* the source QEMU's own "downtime" (query-migrate) */
    double src_completed_ms; /* the source's MIGRATION "completed" after its STOP */
    double dst_loaded_ms;    /* the destination's MIGRATION "completed" after the STOP */
    double src_done_ms;      /* daemons: the source's MIGRATION_DONE after the RESUME */
    double dst_done_ms;      /* daemons: the destination's MIGRATION_DONE after it */
    guint32 counter_src;     /* the test kernel's counter on the stopped source */
    guint32 counter_dst[2];  /* on the destination, BENCH_COUNTER_GAP_US apart */
    char *odd; /* nullable: how the source QEMU was not set up as its twin */
} BenchDowntime;

/* The two daemons, in the order of BenchPair's daemons[] and controls[]. */
static const char *const bench_daemon_names[] = {"source", "destination"};

/* A source and a destination daemon. */
typedef struct {
    const char *label;             /* "" or "TLS ", in their runtime dirs and messages */
    VmigTestDaemon daemons[2];     /* source, destination */
    VmigGuestMonitor *controls[2]; /* their control sockets; NULL when not running */
    char *skip;                    /* why their runs are skipped; NULL: they run */
} BenchPair;

typedef struct {
    char *tmpdir;
    char *pattern_path;
    char *kernel_path; /* the test kernel, for the downtime part */
    guint pattern_mib;
    guint guest_mib;
    guint runs;
    gboolean verify_all;
    gboolean verbose; /* print the daemons' negotiation records */
    guint listen_serial;
    BenchPair plain; /* the ratio and downtime parts': plaintext, unix sockets */
    BenchPair tls;   /* the TLS part's: credentials, TLS over TCP */
    /* The TLS part's credentials directories (QEMU's layout), one CA. */
    char *tls_dirs[2]; /* source, destination */
    char *hypervisor;  /* "QEMU 7.2.22", from the first source's greeting */
    GArray *samples[BENCH_N_SHAPES][BENCH_PATH_LAST];         /* of BenchSample */
    GArray *tls_samples[BENCH_N_SHAPES][BENCH_TLS_PATH_LAST]; /* of BenchSample */
    GArray *downtimes[BENCH_N_SHAPES][BENCH_PATH_LAST];       /* of BenchDowntime */
    /* Downtime migrations that saw an event too late or never: failed samples. */
    guint downtime_failed[BENCH_N_SHAPES][BENCH_PATH_LAST];
} Bench;

/* Frees what @data (a BenchSample) owns. */
static void
bench_sample_clear(gpointer data)
{
    BenchSample *sample = data;

    g_clear_pointer(&sample->tls, g_free);
    g_clear_pointer(&sample->odd, g_free);
}

/* Frees what @data (a BenchDowntime) owns. */
static void
bench_downtime_clear(gpointer data)
{
    BenchDowntime *sample = data;

    g_clear_pointer(&sample->odd, g_free);
}

/* Returns: a sample with nothing measured yet. */
static BenchSample
bench_sample_init(void)
{
    BenchSample sample = {
        .channels = -1,
        .negotiated_ms = -1.0,
        .qemu_setup_ms = -1.0,
        .qemu_done_ms = -1.0,
    };
    gsize i;

    for (i = 0; i < BENCH_PROC_LAST; i++)
        sample.cpu_s_per_gib[i] = NAN;
    return sample;
}

/* Set by SIGINT, SIGTERM, SIGHUP or SIGPIPE: stop at the next step and clean up. */
static volatile sig_atomic_t bench_interrupted;

static void
bench_on_signal(int signum)
{
    bench_interrupted = 1;
}

/* Returns: FALSE with @error set if the benchmark was interrupted, else TRUE. */
static gboolean
bench_check_interrupted(GError **error)
{
    if (!bench_interrupted)
        return TRUE;
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "interrupted");
    return FALSE;
}

/* Returns: the object member @name of @object (nullable), or NULL if it is missing or not
 * an object. */
static JsonObject *
bench_object_member(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

/* Returns: the string member @name of @object (nullable), or @fallback if it is missing
 * or not a string. */
static const char *
bench_string_member(JsonObject *object, const char *name, const char *fallback)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    return node && JSON_NODE_HOLDS_VALUE(node) &&
                   json_node_get_value_type(node) == G_TYPE_STRING
               ? json_node_get_string(node)
               : fallback;
}

/* Removes @path and everything under it. */
static void
bench_remove_tree(const char *path)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;
    struct stat st;

    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        g_unlink(path);
        return;
    }
    dir = g_dir_open(path, 0, NULL);
    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        bench_remove_tree(child);
    }
    g_rmdir(path);
}

/* ------------------------------------------------------------------------ */
/* Daemons */

/* Stops both daemons of @pair, saying how one that did not exit 0 ended. */
static void
bench_pair_stop(BenchPair *pair)
{
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(pair->daemons); i++) {
        VmigTestDaemon *daemon = &pair->daemons[i];
        int status;

        g_clear_pointer(&pair->controls[i], vmig_guest_monitor_close);
        status = vmig_test_daemon_stop(daemon, SIGTERM);
        if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            g_autofree char *tail = vmig_test_daemon_log_tail(daemon);

            g_printerr("migrate-ratio: the %s%s daemon ended with wait status 0x%x: %s\n",
                       pair->label, bench_daemon_names[i], (guint)status, tail);
        }
        vmig_test_daemon_clear(daemon);
    }
}

/*
 * Starts both daemons of @pair from @binary, each with its runtime
 * directory under the temporary directory and, with @tls_dirs (nullable:
 * no TLS, --plaintext-tcp), its credentials directory, and opens their
 * control sockets; or records in pair->skip why their runs cannot happen.
 */
static void
bench_pair_start(Bench *bench, BenchPair *pair, const char *binary, char *const *tls_dirs)
{
    g_autoptr(GError) error = NULL;
    gsize i;

    if (!g_file_test(binary, G_FILE_TEST_IS_EXECUTABLE)) {
        pair->skip = g_strdup_printf("no virt-migrated at '%s' (build it, or set "
                                     "$VIRT_MIGRATED or --daemon)",
                                     binary);
        return;
    }
    for (i = 0; i < G_N_ELEMENTS(pair->daemons) && !error; i++) {
        const VmigTestDaemonOptions options = {
            .binary = binary,
            .tls_dir = tls_dirs ? tls_dirs[i] : NULL,
        };
        g_autofree char *dir =
            g_strdup_printf("%s/%s%s-daemon", bench->tmpdir, tls_dirs ? "tls-" : "",
                            bench_daemon_names[i]);
        g_autofree char *log = g_strdup_printf("%s.log", dir);

        if (vmig_test_daemon_start(&pair->daemons[i], dir, log, &options, &error))
            pair->controls[i] = vmig_guest_monitor_open(pair->daemons[i].socket,
                                                        BENCH_COMMAND_TIMEOUT_MS, &error);
        if (error)
            g_prefix_error(&error, "the %s%s daemon: ", pair->label,
                           bench_daemon_names[i]);
    }
    if (error) {
        pair->skip = g_strdup(error->message);
        bench_pair_stop(pair);
    }
}

/*
 * Writes the TLS part's credentials under the temporary directory: one
 * CA, a source's directory and a destination's whose server certificate
 * names 127.0.0.1 (the host the sources dial), each in QEMU's layout, so
 * that QEMU's tls-creds-x509 and the daemons read the same files.  The
 * helper asserts: a host that cannot make certificates has no TLS to
 * measure.
 */
static void
bench_write_tls_dirs(Bench *bench)
{
    static const char *const dst_ips[] = {"127.0.0.1", NULL};
    g_autoptr(VmigTestCert) ca = vmig_test_ca_new("migrate-ratio CA");
    const VmigTestHost hosts[] = {
        {.cn = "src.example"},
        {.cn = "dst.example", .ip_addresses = dst_ips},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(bench->tls_dirs); i++) {
        bench->tls_dirs[i] =
            g_strdup_printf("%s/tls-%s", bench->tmpdir, bench_daemon_names[i]);
        g_mkdir(bench->tls_dirs[i], 0700);
        vmig_test_tls_write_host(bench->tls_dirs[i], ca, &hosts[i]);
    }
}

/*
 * Returns: a TCP port on 127.0.0.1 that the kernel handed out a moment
 * ago (bound to port 0, then closed), or 0 with @error set.
 */
static guint16
bench_free_port(GError **error)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int saved;

    if (sock >= 0 && bind(sock, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(sock, (struct sockaddr *)&addr, &len) == 0) {
        close(sock);
        return ntohs(addr.sin_port);
    }
    saved = errno;
    if (sock >= 0)
        close(sock);
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
                "cannot get a free TCP port on 127.0.0.1: %s", g_strerror(saved));
    return 0;
}

/*
 * Reads @pid's user and system CPU time from /proc/PID/stat.
 * Returns: the seconds, or NaN if it cannot be read.
 */
static double
bench_cpu_seconds(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) fields = NULL;
    const char *after_comm;

    if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
        return NAN;
    /* The command name is in parentheses and may hold spaces: count from its end. */
    after_comm = strrchr(text, ')');
    if (!after_comm)
        return NAN;
    fields = g_strsplit(after_comm + 2, " ", 0);
    /* After the name: state is field 3, utime 14, stime 15 (proc(5)). */
    if (g_strv_length(fields) < 13)
        return NAN;
    return (g_ascii_strtod(fields[11], NULL) + g_ascii_strtod(fields[12], NULL)) /
           (double)sysconf(_SC_CLK_TCK);
}

/* Reads the CPU seconds of the processes in @pids (0: none, NaN) into @cpu. */
static void
bench_cpu_snapshot(const GPid pids[BENCH_PROC_LAST], double cpu[BENCH_PROC_LAST])
{
    gsize i;

    for (i = 0; i < BENCH_PROC_LAST; i++)
        cpu[i] = pids[i] > 0 ? bench_cpu_seconds(pids[i]) : NAN;
}

/*
 * Turns the CPU seconds read @before and now into seconds per GiB
 * transferred, in @sample (whose transferred_gib is set).
 */
static void
bench_cpu_charge(const GPid pids[BENCH_PROC_LAST], const double before[BENCH_PROC_LAST],
                 BenchSample *sample)
{
    double after[BENCH_PROC_LAST];
    gsize i;

    bench_cpu_snapshot(pids, after);
    for (i = 0; i < BENCH_PROC_LAST; i++)
        sample->cpu_s_per_gib[i] = sample->transferred_gib > 0
                                       ? (after[i] - before[i]) / sample->transferred_gib
                                       : NAN;
}

/* Returns: the "migration" of the answer @ret to @command (newly allocated), or NULL with
 * @error set. */
static char *
bench_migration_id(JsonNode *ret, const char *command, GError **error)
{
    const char *id =
        JSON_NODE_HOLDS_OBJECT(ret)
            ? bench_string_member(json_node_get_object(ret), "migration", NULL)
            : NULL;

    if (!id) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                    "%s did not return {\"migration\": ID}", command);
        return NULL;
    }
    return g_strdup(id);
}

/*
 * Waits for the event @name about migration @id on @control, at most until
 * @deadline (monotonic µs), in short slices so that a signal is noticed.
 * Returns: the whole event (a new reference), or NULL with @error set.
 */
static JsonObject *
bench_wait_migration_event(VmigGuestMonitor *control, const char *name, const char *id,
                           gint64 deadline, GError **error)
{
    for (;;) {
        g_autoptr(GError) local = NULL;
        g_autoptr(JsonObject) message = NULL;
        JsonObject *data;

        if (!bench_check_interrupted(error))
            return NULL;
        if (!vmig_guest_monitor_wait_event_message(control, name, BENCH_WAIT_SLICE_MS,
                                                   &message, &local)) {
            if (!g_error_matches(local, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT)) {
                g_propagate_error(error, g_steal_pointer(&local));
                return NULL;
            }
            if (g_get_monotonic_time() >= deadline) {
                g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT,
                            "no %s event for migration '%s' in time", name, id);
                return NULL;
            }
            continue;
        }
        data = bench_object_member(message, "data");
        if (data && g_strcmp0(bench_string_member(data, "migration", ""), id) == 0)
            return g_steal_pointer(&message);
        /* An event of an earlier migration: not ours. */
    }
}

/*
 * Returns: the real time (µs) at which the event @message (nullable) was
 * stamped by its sender, QEMU or a daemon, or -1 without a timestamp.
 */
static gint64
bench_event_time_us(JsonObject *message)
{
    JsonObject *stamp = message ? bench_object_member(message, "timestamp") : NULL;

    if (!stamp)
        return -1;
    return json_object_get_int_member_with_default(stamp, "seconds", 0) * G_USEC_PER_SEC +
           json_object_get_int_member_with_default(stamp, "microseconds", 0);
}

/*
 * Returns: how many ms after @start_us (real time) the event @message was
 * stamped by its daemon, or -1 without a timestamp.
 */
static double
bench_event_offset_ms(JsonObject *message, gint64 start_us)
{
    gint64 at = bench_event_time_us(message);

    if (at < 0)
        return -1.0;
    return (double)(at - start_us) / 1000.0;
}

/*
 * Reads the source QEMU's MIGRATION events (QEMU stamps them; the
 * "events" capability is on) kept on @src_mon or already sent, and notes
 * when the migration entered "setup" and "completed", relative to
 * @start_us (real time).
 */
static void
bench_take_qemu_window(VmigGuestMonitor *src_mon, gint64 start_us, BenchSample *sample)
{
    for (;;) {
        g_autoptr(JsonObject) message = NULL;
        const char *status;

        if (!vmig_guest_monitor_wait_event_message(src_mon, "MIGRATION", 0, &message,
                                                   NULL))
            return;
        status = bench_string_member(bench_object_member(message, "data"), "status", "");
        if (g_str_equal(status, "setup") && sample->qemu_setup_ms < 0)
            sample->qemu_setup_ms = bench_event_offset_ms(message, start_us);
        else if (g_str_equal(status, "completed"))
            sample->qemu_done_ms = bench_event_offset_ms(message, start_us);
    }
}

/* ------------------------------------------------------------------------ */
/* Guests */

/* Returns: a new {"NAME": VALUE} object for a QMP argument. */
static JsonObject *
bench_args_int(const char *name, gint64 value)
{
    JsonObject *args = json_object_new();

    json_object_set_int_member(args, name, value);
    return args;
}

/* Returns: a new {"NAME": "VALUE"} object for a QMP argument. */
static JsonObject *
bench_args_string(const char *name, const char *value)
{
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, name, value);
    return args;
}

/* Returns: "QEMU 7.2.22" from a QMP @greeting, or "QEMU (version unknown)" (newly
 * allocated). */
static char *
bench_hypervisor(JsonObject *greeting)
{
    JsonObject *qmp = bench_object_member(greeting, "QMP");
    JsonObject *version = qmp ? bench_object_member(qmp, "version") : NULL;
    JsonObject *qemu = version ? bench_object_member(version, "qemu") : NULL;

    if (!qemu)
        return g_strdup("QEMU (version unknown)");
    return g_strdup_printf("QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                           ".%" G_GINT64_FORMAT,
                           json_object_get_int_member_with_default(qemu, "major", 0),
                           json_object_get_int_member_with_default(qemu, "minor", 0),
                           json_object_get_int_member_with_default(qemu, "micro", 0));
}

/*
 * Starts the source (running) and the destination (-incoming defer; with
 * -S when @dst_paused) as @options say, and connects to their second
 * monitors.
 * Returns: TRUE, or FALSE with @error set (whatever was started is in the
 * out arguments, for the caller's cleanup).
 */
static gboolean
bench_start_guests(Bench *bench, const VmigGuestOptions *options, gboolean dst_paused,
                   VmigTestQemu **src, VmigTestQemu **dst, VmigGuestMonitor **src_mon,
                   VmigGuestMonitor **dst_mon, GError **error)
{
    VmigGuestOptions opts = *options;
    g_autofree char *src_aux = NULL;
    g_autofree char *dst_aux = NULL;

    opts.paused = FALSE;
    *src = vmig_guest_start_source(&opts, error);
    if (!*src)
        return FALSE;
    opts.paused = dst_paused;
    *dst = vmig_guest_start_destination(&opts, error);
    if (!*dst)
        return FALSE;
    src_aux = vmig_guest_aux_qmp_path(*src);
    dst_aux = vmig_guest_aux_qmp_path(*dst);
    *src_mon = vmig_guest_monitor_open(src_aux, BENCH_COMMAND_TIMEOUT_MS, error);
    if (!*src_mon)
        return FALSE;
    if (!bench->hypervisor)
        bench->hypervisor = bench_hypervisor(vmig_guest_monitor_get_greeting(*src_mon));
    *dst_mon = vmig_guest_monitor_open(dst_aux, BENCH_COMMAND_TIMEOUT_MS, error);
    return *dst_mon != NULL;
}

/* Runs @command with @args (consumed; nullable) on @monitor.  Returns: TRUE, or FALSE
 * with @error set. */
static gboolean
bench_execute(VmigGuestMonitor *monitor, const char *command, JsonObject *args,
              JsonNode **ret, GError **error)
{
    g_autoptr(JsonObject) owned = args;

    return vmig_guest_monitor_execute(monitor, command, owned, BENCH_COMMAND_TIMEOUT_MS,
                                      ret, error);
}

/* Switches the migration capability @name on.  Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_set_capability(VmigGuestMonitor *monitor, const char *name, GError **error)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "capabilities");
    json_builder_begin_array(builder);
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "capability");
    json_builder_add_string_value(builder, name);
    json_builder_set_member_name(builder, "state");
    json_builder_add_boolean_value(builder, TRUE);
    json_builder_end_object(builder);
    json_builder_end_array(builder);
    json_builder_end_object(builder);
    root = json_builder_get_root(builder);
    return bench_execute(monitor, "migrate-set-capabilities",
                         json_object_ref(json_node_get_object(root)), NULL, error);
}

/*
 * Polls query-migrate on @monitor every 5 ms until the migration leaves
 * setup/active, and (@want_times: a source) until it reports its times
 * once completed, or until @deadline passes.
 * Returns: the last answer (owned by the caller), or NULL with @error set.
 */
static JsonObject *
bench_poll_migration(VmigGuestMonitor *monitor, gboolean want_times, gint64 deadline,
                     GError **error)
{
    for (;;) {
        g_autoptr(JsonNode) ret = NULL;
        const char *status;

        if (!bench_execute(monitor, "query-migrate", NULL, &ret, error))
            return NULL;
        if (!JSON_NODE_HOLDS_OBJECT(ret)) {
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                        "query-migrate did not answer an object");
            return NULL;
        }
        status = bench_string_member(json_node_get_object(ret), "status", "none");
        /*
         * A source QEMU 7.2 can say "completed" a moment before its
         * migration thread has computed the times: query-migrate then
         * reports total-time and downtime 0 (seen here in 2 of 5 multifd
         * runs).  On the source, wait for the times too.
         */
        if (want_times && g_str_equal(status, "completed") &&
            json_object_get_int_member_with_default(json_node_get_object(ret),
                                                    "total-time", 0) <= 0)
            status = "completed without its times";
        else if (!g_str_equal(status, "setup") && !g_str_equal(status, "active") &&
                 !g_str_equal(status, "device") && !g_str_equal(status, "wait-unplug") &&
                 !g_str_equal(status, "pre-switchover"))
            return json_object_ref(json_node_get_object(ret));
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT,
                        "the migration is still '%s' after %d s", status,
                        (int)(BENCH_MIGRATE_TIMEOUT_US / G_USEC_PER_SEC));
            return NULL;
        }
        if (!bench_check_interrupted(error))
            return NULL;
        g_usleep(BENCH_POLL_US);
    }
}

/*
 * Checks that the finished query-migrate answer @info says "completed"
 * and copies its total-time and downtime (ms) into *@total_ms and
 * *@downtime_ms.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_take_times(JsonObject *info, const char *who, double *total_ms, double *downtime_ms,
                 GError **error)
{
    const char *status = bench_string_member(info, "status", "none");

    if (!g_str_equal(status, "completed")) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND,
                    "the %s migration ended '%s': %s", who, status,
                    bench_string_member(info, "error-desc", "(no error-desc)"));
        return FALSE;
    }
    *total_ms = (double)json_object_get_int_member_with_default(info, "total-time", -1);
    *downtime_ms = (double)json_object_get_int_member_with_default(info, "downtime", -1);
    if (*total_ms < 0) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                    "query-migrate reported no total-time for the %s migration", who);
        return FALSE;
    }
    return TRUE;
}

/*
 * Waits until the destination QEMU has loaded everything, then compares
 * the memory of both and checks that the destination holds the pattern.
 * The source's aux.qmp must be free, and *@dst_mon (the destination's) is
 * closed: a QMP socket serves one client at a time, and the comparison
 * opens its own connections.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_verify(Bench *bench, VmigTestQemu *src, VmigTestQemu *dst,
             VmigGuestMonitor **dst_mon, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + BENCH_MIGRATE_TIMEOUT_US;
    g_autofree char *src_aux = vmig_guest_aux_qmp_path(src);
    g_autofree char *dst_aux = vmig_guest_aux_qmp_path(dst);
    g_autoptr(JsonObject) info = NULL;
    const char *status;

    info = bench_poll_migration(*dst_mon, FALSE, deadline, error);
    g_clear_pointer(dst_mon, vmig_guest_monitor_close);
    if (!info)
        return FALSE;
    status = bench_string_member(info, "status", "none");
    if (!g_str_equal(status, "completed")) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND,
                    "the destination's incoming migration is '%s', not completed",
                    status);
        return FALSE;
    }
    if (!vmig_guest_compare_memory(src_aux, dst_aux, (guint64)bench->guest_mib << 20,
                                   bench->tmpdir, error))
        return FALSE;
    return vmig_guest_verify_pattern(dst_aux, VMIG_GUEST_PATTERN_ADDR,
                                     (gsize)bench->pattern_mib << 20, BENCH_SEED,
                                     bench->tmpdir, error);
}

/*
 * Checks that the source QEMU migrated with what the comparison assumes:
 * max-bandwidth 10 GiB/s, multifd with @shape->channels channels exactly
 * when the shape has channels, and tls-creds set exactly when @tls.  What differs goes to
 * *@odd (newly allocated; left alone when nothing differs), for the report. Returns:
 * TRUE, or FALSE with @error set when QEMU could not be asked.
 */
static gboolean
bench_check_source(VmigGuestMonitor *src_mon, const BenchShape *shape, gboolean tls,
                   char **odd_out, GError **error)
{
    g_autoptr(JsonNode) params = NULL;
    g_autoptr(JsonNode) caps = NULL;
    g_autoptr(GString) odd = g_string_new(NULL);
    gboolean multifd = FALSE;
    gint64 bandwidth;
    gint64 channels;
    const char *creds;
    guint i;

    if (!bench_execute(src_mon, "query-migrate-parameters", NULL, &params, error) ||
        !bench_execute(src_mon, "query-migrate-capabilities", NULL, &caps, error))
        return FALSE;
    if (!JSON_NODE_HOLDS_OBJECT(params) || !JSON_NODE_HOLDS_ARRAY(caps)) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                    "query-migrate-parameters or -capabilities answered the wrong type");
        return FALSE;
    }
    for (i = 0; i < json_array_get_length(json_node_get_array(caps)); i++) {
        JsonNode *node = json_array_get_element(json_node_get_array(caps), i);
        JsonObject *cap =
            JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;

        if (cap && g_strcmp0(bench_string_member(cap, "capability", ""), "multifd") == 0)
            multifd = json_object_get_boolean_member_with_default(cap, "state", FALSE);
    }
    bandwidth = json_object_get_int_member_with_default(json_node_get_object(params),
                                                        "max-bandwidth", -1);
    channels = json_object_get_int_member_with_default(json_node_get_object(params),
                                                       "multifd-channels", -1);
    if (bandwidth != BENCH_MAX_BANDWIDTH)
        g_string_append_printf(odd, ", max-bandwidth %" G_GINT64_FORMAT, bandwidth);
    if (multifd != (shape->channels > 0))
        g_string_append_printf(odd, ", multifd %s", multifd ? "on" : "off");
    if (multifd && channels != (gint64)shape->channels)
        g_string_append_printf(odd, ", multifd-channels %" G_GINT64_FORMAT, channels);
    creds = bench_string_member(json_node_get_object(params), "tls-creds", "");
    if ((*creds != '\0') != tls)
        g_string_append_printf(odd, ", tls-creds '%s'", creds);
    if (odd->len > 0)
        *odd_out = g_strdup(odd->str + 2);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Migrations */

/*
 * Starts the ratio part's guests: the source with the pattern planted,
 * running (it is stopped before the migration), the destination paused so
 * that it stays as migrated, both -mem-prealloc'ed.
 * Returns: TRUE, or FALSE with @error set (as bench_start_guests()).
 */
static gboolean
bench_start_ratio_guests(Bench *bench, VmigTestQemu **src, VmigTestQemu **dst,
                         VmigGuestMonitor **src_mon, VmigGuestMonitor **dst_mon,
                         GError **error)
{
    const VmigGuestOptions opts = {
        .ram_mib = bench->guest_mib,
        .pattern_path = bench->pattern_path,
        .prealloc = TRUE,
    };

    return bench_start_guests(bench, &opts, TRUE, src, dst, src_mon, dst_mon, error);
}

/*
 * Gives both QEMUs QEMU's own migration TLS: a tls-creds-x509 object on
 * each (the destination the server, the source the client, both checking
 * the peer's certificate against the CA), named in tls-creds, and on the
 * source tls-hostname 127.0.0.1, the address it dials, which the
 * destination's certificate names.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_qemu_tls(Bench *bench, VmigGuestMonitor *src_mon, VmigGuestMonitor *dst_mon,
               GError **error)
{
    VmigGuestMonitor *both[] = {src_mon, dst_mon};
    static const char *const endpoints[] = {"client", "server"};
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(both); i++) {
        JsonObject *creds = json_object_new();

        json_object_set_string_member(creds, "qom-type", "tls-creds-x509");
        json_object_set_string_member(creds, "id", "bench-tls");
        json_object_set_string_member(creds, "endpoint", endpoints[i]);
        json_object_set_string_member(creds, "dir", bench->tls_dirs[i]);
        json_object_set_boolean_member(creds, "verify-peer", TRUE);
        if (!bench_execute(both[i], "object-add", creds, NULL, error) ||
            !bench_execute(both[i], "migrate-set-parameters",
                           bench_args_string("tls-creds", "bench-tls"), NULL, error)) {
            g_prefix_error(error, "QEMU's TLS on the %s: ", bench_daemon_names[i]);
            return FALSE;
        }
    }
    return bench_execute(src_mon, "migrate-set-parameters",
                         bench_args_string("tls-hostname", "127.0.0.1"), NULL, error);
}

/*
 * Starts a direct migration, QEMU to QEMU as @wire says (a unix socket, or
 * TCP loopback on a port from the kernel, with QEMU's own TLS when
 * wire->tls), from @src_mon's QEMU to @dst's: multifd with
 * @shape->channels channels on both when the shape has any,
 * migrate-incoming, max-bandwidth 10 GiB/s, the source stopped first when
 * @stop_source, then migrate.  *@start and *@start_real are the monotonic
 * and real time (µs) just before migrate.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_direct_migrate(Bench *bench, const BenchShape *shape, const BenchWire *wire,
                     VmigTestQemu *dst, VmigGuestMonitor *src_mon,
                     VmigGuestMonitor *dst_mon, gboolean stop_source, gint64 *start,
                     gint64 *start_real, GError **error)
{
    g_autofree char *uri = NULL;

    if (wire->tcp) {
        guint16 port = bench_free_port(error);

        if (port == 0)
            return FALSE;
        uri = g_strdup_printf("tcp:127.0.0.1:%u", port);
    } else {
        uri = g_strdup_printf("unix:%s/migrate.sock", dst->dir);
    }
    if (wire->tls && !bench_qemu_tls(bench, src_mon, dst_mon, error))
        return FALSE;
    if (shape->channels > 0) {
        VmigGuestMonitor *both[] = {src_mon, dst_mon};
        gsize i;

        for (i = 0; i < G_N_ELEMENTS(both); i++) {
            if (!bench_set_capability(both[i], "multifd", error) ||
                !bench_execute(both[i], "migrate-set-parameters",
                               bench_args_int("multifd-channels", shape->channels), NULL,
                               error))
                return FALSE;
        }
    }
    if (!bench_execute(dst_mon, "migrate-incoming", bench_args_string("uri", uri), NULL,
                       error) ||
        !bench_execute(src_mon, "migrate-set-parameters",
                       bench_args_int("max-bandwidth", BENCH_MAX_BANDWIDTH), NULL,
                       error) ||
        (stop_source && !bench_execute(src_mon, "stop", NULL, NULL, error)))
        return FALSE;

    *start_real = g_get_real_time();
    *start = g_get_monotonic_time();
    return bench_execute(src_mon, "migrate", bench_args_string("uri", uri), NULL, error);
}

/* Returns: the ram "transferred" of the source's query-migrate answer @info, in GiB
 * (0 if it is missing). */
static double
bench_transferred_gib(JsonObject *info)
{
    JsonObject *ram = bench_object_member(info, "ram");
    gint64 bytes =
        ram ? json_object_get_int_member_with_default(ram, "transferred", 0) : 0;

    return (double)bytes / (double)(1u << 30);
}

/*
 * Waits (bounded) until the destination QEMU behind @dst_mon has loaded
 * everything, so that its CPU time is all counted.  A destination that
 * ends otherwise is bench_verify()'s to report, or is not checked.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_wait_loaded(VmigGuestMonitor *dst_mon, GError **error)
{
    g_autoptr(JsonObject) info = bench_poll_migration(
        dst_mon, FALSE, g_get_monotonic_time() + BENCH_MIGRATE_TIMEOUT_US, error);

    return info != NULL;
}

/*
 * Migrates a fresh guest directly, QEMU to QEMU, as @wire says (multifd
 * with @shape->channels channels when there are any), and charges both
 * QEMUs with the CPU they spent.
 * Returns: TRUE with @sample filled, or FALSE with @error set.
 */
static gboolean
bench_run_direct(Bench *bench, const BenchShape *shape, const BenchWire *wire,
                 gboolean verify, BenchSample *sample, GError **error)
{
    g_autoptr(VmigTestQemu) src = NULL;
    g_autoptr(VmigTestQemu) dst = NULL;
    /* Declared after the QEMUs: closed before they are stopped. */
    g_autoptr(VmigGuestMonitor) src_mon = NULL;
    g_autoptr(VmigGuestMonitor) dst_mon = NULL;
    g_autoptr(JsonObject) info = NULL;
    GPid pids[BENCH_PROC_LAST] = {0};
    double cpu[BENCH_PROC_LAST];
    gint64 start;
    gint64 start_real;

    if (!bench_start_ratio_guests(bench, &src, &dst, &src_mon, &dst_mon, error))
        return FALSE;
    pids[BENCH_PROC_SRC_QEMU] = src->pid;
    pids[BENCH_PROC_DST_QEMU] = dst->pid;
    bench_cpu_snapshot(pids, cpu);
    if (!bench_set_capability(src_mon, "events", error) ||
        !bench_direct_migrate(bench, shape, wire, dst, src_mon, dst_mon, TRUE, &start,
                              &start_real, error))
        return FALSE;
    info = bench_poll_migration(src_mon, TRUE, start + BENCH_MIGRATE_TIMEOUT_US, error);
    if (!info)
        return FALSE;
    sample->wall_ms = (double)(g_get_monotonic_time() - start) / 1000.0;
    bench_take_qemu_window(src_mon, start_real, sample);
    sample->channels = shape->channels;
    if (!bench_take_times(info, "direct", &sample->total_ms, &sample->downtime_ms,
                          error) ||
        !bench_check_source(src_mon, shape, wire->tls, &sample->odd, error) ||
        !bench_wait_loaded(dst_mon, error))
        return FALSE;
    sample->transferred_gib = bench_transferred_gib(info);
    bench_cpu_charge(pids, cpu, sample);
    if (wire->tls)
        sample->tls = g_strdup("QEMU's tls-creds-x509, verify-peer on both, "
                               "tls-hostname 127.0.0.1");

    if (verify) {
        g_clear_pointer(&src_mon, vmig_guest_monitor_close);
        if (!bench_verify(bench, src, dst, &dst_mon, error))
            return FALSE;
        sample->verified = TRUE;
    }
    return TRUE;
}

/* One migration through the daemons, as their control sockets told it. */
typedef struct {
    BenchPair *pair;        /* the daemons (borrowed) */
    char *src_id;           /* the migration's id on the source daemon */
    char *dst_id;           /* ... and on the destination daemon */
    gint64 start;           /* monotonic µs, just before the migrate command */
    gint64 start_real;      /* the same moment in real time (events' timestamps) */
    double wall_ms;         /* the migrate command to the source's MIGRATION_DONE */
    JsonObject *negotiated; /* nullable: the source daemon's NEGOTIATED event */
    JsonObject *src_done;   /* the source daemon's MIGRATION_DONE event */
    JsonObject *dst_done;   /* the destination daemon's MIGRATION_DONE event */
} BenchDaemonsRun;

/* Frees what @run owns. */
static void
bench_daemons_run_clear(BenchDaemonsRun *run)
{
    g_clear_pointer(&run->src_id, g_free);
    g_clear_pointer(&run->dst_id, g_free);
    g_clear_pointer(&run->negotiated, json_object_unref);
    g_clear_pointer(&run->src_done, json_object_unref);
    g_clear_pointer(&run->dst_done, json_object_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(BenchDaemonsRun, bench_daemons_run_clear)

/* Returns: TRUE if the MIGRATION_DONE event @done says "completed", else FALSE with
 * @error set naming @who's migration @id. */
static gboolean
bench_check_done(JsonObject *done, const char *who, const char *id, GError **error)
{
    JsonObject *data = bench_object_member(done, "data");
    const char *result = bench_string_member(data, "result", "(none)");

    if (g_str_equal(result, "completed"))
        return TRUE;
    g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND,
                "the %s daemon's migration %s ended '%s': %s", who, id, result,
                bench_string_member(data, "error", "(no error)"));
    return FALSE;
}

/*
 * Starts migrating @src to @dst through the two daemons of @pair, over a
 * unix socket or TCP loopback (a port from the kernel) as @wire says:
 * prepare-incoming on the destination's (which resumes the guest once
 * migrated when @resume), then migrate on the source's with
 * @shape->channels and max-bandwidth 10 GiB/s.  Whether the daemons speak
 * TLS is theirs to decide (credentials, TCP); bench_run_daemons() checks
 * it.  bench_daemons_finish() waits for the end.
 * Returns: TRUE with @run's pair, ids and start times set, or FALSE with
 * @error set (VMIG_GUEST_ERROR_COMMAND_NOT_FOUND when a daemon lacks the
 * commands).
 */
static gboolean
bench_daemons_start(Bench *bench, BenchPair *pair, const BenchShape *shape,
                    const BenchWire *wire, VmigTestQemu *src, VmigTestQemu *dst,
                    gboolean resume, BenchDaemonsRun *run, GError **error)
{
    VmigGuestMonitor *src_control = pair->controls[0];
    VmigGuestMonitor *dst_control = pair->controls[1];
    g_autoptr(JsonObject) prepare = json_object_new();
    g_autoptr(JsonObject) migrate = json_object_new();
    g_autoptr(JsonArray) tunables = json_array_new();
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *listen = NULL;
    g_autofree char *src_domain = NULL;
    g_autofree char *dst_domain = NULL;

    /* The daemons talk to the first monitors; the benchmark keeps to aux.qmp. */
    src_domain = g_strconcat("qmp:", src->qmp_path, NULL);
    dst_domain = g_strconcat("qmp:", dst->qmp_path, NULL);
    run->pair = pair;
    if (wire->tcp) {
        guint16 port = bench_free_port(error);

        if (port == 0)
            return FALSE;
        listen = g_strdup_printf("tcp:127.0.0.1:%u", port);
    } else {
        listen = g_strdup_printf("unix:%s/listen-%u.sock", bench->tmpdir,
                                 ++bench->listen_serial);
    }

    json_object_set_string_member(prepare, "domain", dst_domain);
    json_object_set_string_member(prepare, "listen", listen);
    json_object_set_boolean_member(prepare, "resume", resume);
    if (!vmig_guest_monitor_execute(dst_control, "prepare-incoming", prepare,
                                    BENCH_COMMAND_TIMEOUT_MS, &ret, error))
        return FALSE;
    run->dst_id = bench_migration_id(ret, "prepare-incoming", error);
    if (!run->dst_id)
        return FALSE;
    g_clear_pointer(&ret, json_node_unref);

    json_array_add_string_element(tunables, "max-bandwidth=10G");
    json_object_set_string_member(migrate, "domain", src_domain);
    json_object_set_string_member(migrate, "dest", listen);
    json_object_set_int_member(migrate, "channels", shape->channels);
    json_object_set_array_member(migrate, "tunables", json_array_ref(tunables));

    run->start_real = g_get_real_time();
    run->start = g_get_monotonic_time();
    if (!vmig_guest_monitor_execute(src_control, "migrate", migrate,
                                    BENCH_COMMAND_TIMEOUT_MS, &ret, error))
        return FALSE;
    run->src_id = bench_migration_id(ret, "migrate", error);
    return run->src_id != NULL;
}

/*
 * Waits for the end of the migration bench_daemons_start() began in @run:
 * both daemons' MIGRATION_DONE events, which must say "completed".
 * Returns: TRUE with the rest of @run filled, or FALSE with @error set.
 */
static gboolean
bench_daemons_finish(Bench *bench, BenchDaemonsRun *run, GError **error)
{
    VmigGuestMonitor *src_control = run->pair->controls[0];
    VmigGuestMonitor *dst_control = run->pair->controls[1];

    run->src_done =
        bench_wait_migration_event(src_control, "MIGRATION_DONE", run->src_id,
                                   run->start + BENCH_MIGRATE_TIMEOUT_US, error);
    if (!run->src_done)
        return FALSE;
    run->wall_ms = (double)(g_get_monotonic_time() - run->start) / 1000.0;
    if (!bench_check_done(run->src_done, "source", run->src_id, error))
        return FALSE;
    /* NEGOTIATED came before MIGRATION_DONE: it waits in the kept events. */
    run->negotiated = bench_wait_migration_event(src_control, "NEGOTIATED", run->src_id,
                                                 g_get_monotonic_time(), NULL);

    run->dst_done = bench_wait_migration_event(
        dst_control, "MIGRATION_DONE", run->dst_id,
        g_get_monotonic_time() + BENCH_MIGRATE_TIMEOUT_US, error);
    if (!run->dst_done ||
        !bench_check_done(run->dst_done, "destination", run->dst_id, error))
        return FALSE;

    if (bench->verbose) {
        VmigGuestMonitor *controls[] = {src_control, dst_control};
        const char *ids[] = {run->src_id, run->dst_id};
        gsize i;

        for (i = 0; i < G_N_ELEMENTS(controls); i++) {
            g_autoptr(JsonObject) args = bench_args_string("migration", ids[i]);
            g_autoptr(JsonNode) record = NULL;
            g_autoptr(JsonGenerator) generator = json_generator_new();
            g_autofree char *text = NULL;

            if (!vmig_guest_monitor_execute(controls[i], "query-migration", args,
                                            BENCH_COMMAND_TIMEOUT_MS, &record, error))
                return FALSE;
            json_generator_set_root(generator, record);
            json_generator_set_pretty(generator, TRUE);
            text = json_generator_to_data(generator, NULL);
            printf("%s\n", text);
        }
    }
    return TRUE;
}

/*
 * Migrates @src to @dst through the two daemons, from the commands to both
 * MIGRATION_DONE events (bench_daemons_start() and bench_daemons_finish()).
 * Returns: TRUE with @run filled, or FALSE with @error set
 * (VMIG_GUEST_ERROR_COMMAND_NOT_FOUND when a daemon lacks the commands).
 */
static gboolean
bench_daemons_migrate(Bench *bench, BenchPair *pair, const BenchShape *shape,
                      const BenchWire *wire, VmigTestQemu *src, VmigTestQemu *dst,
                      gboolean resume, BenchDaemonsRun *run, GError **error)
{
    return bench_daemons_start(bench, pair, shape, wire, src, dst, resume, run, error) &&
           bench_daemons_finish(bench, run, error);
}

/*
 * Reads the record of the finished migration @run on the source daemon
 * and checks that its connections were TLS.
 * Returns: "TLS1.3 AES-256-GCM, peer CN=..." (newly allocated), or NULL
 * with @error set.
 */
static char *
bench_daemons_tls(BenchDaemonsRun *run, GError **error)
{
    g_autoptr(JsonObject) args = bench_args_string("migration", run->src_id);
    g_autoptr(JsonNode) record = NULL;
    JsonNode *tls;
    JsonObject *session;

    if (!vmig_guest_monitor_execute(run->pair->controls[0], "query-migration", args,
                                    BENCH_COMMAND_TIMEOUT_MS, &record, error))
        return NULL;
    tls = JSON_NODE_HOLDS_OBJECT(record)
              ? json_object_get_member(json_node_get_object(record), "tls")
              : NULL;
    if (!tls || !JSON_NODE_HOLDS_OBJECT(tls)) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_MISMATCH,
                    "the source daemon's migration %s was not TLS: its record's "
                    "\"tls\" is %s",
                    run->src_id,
                    tls && JSON_NODE_HOLDS_VALUE(tls) &&
                            json_node_get_value_type(tls) == G_TYPE_STRING
                        ? json_node_get_string(tls)
                        : "missing");
        return NULL;
    }
    session = json_node_get_object(tls);
    return g_strdup_printf("%s %s, peer %s", bench_string_member(session, "version", "?"),
                           bench_string_member(session, "cipher", "?"),
                           bench_string_member(session, "peer-dn", "?"));
}

/*
 * Migrates a fresh guest through the two daemons of @pair as @wire says:
 * prepare-incoming on the destination's, migrate on the source's, then
 * MIGRATION_DONE; and charges both QEMUs and both daemons with the CPU
 * they spent.  With wire->tls, the source daemon's record must say TLS.
 * Returns: TRUE with @sample filled, or FALSE with @error set
 * (VMIG_GUEST_ERROR_COMMAND_NOT_FOUND when a daemon lacks the commands).
 */
static gboolean
bench_run_daemons(Bench *bench, BenchPair *pair, const BenchShape *shape,
                  const BenchWire *wire, gboolean verify, BenchSample *sample,
                  GError **error)
{
    g_autoptr(VmigTestQemu) src = NULL;
    g_autoptr(VmigTestQemu) dst = NULL;
    g_autoptr(VmigGuestMonitor) src_mon = NULL;
    g_autoptr(VmigGuestMonitor) dst_mon = NULL;
    g_auto(BenchDaemonsRun) run = {0};
    g_autoptr(JsonObject) info = NULL;
    GPid pids[BENCH_PROC_LAST] = {0};
    double cpu[BENCH_PROC_LAST];
    JsonObject *data;

    if (!bench_start_ratio_guests(bench, &src, &dst, &src_mon, &dst_mon, error))
        return FALSE;
    if (!bench_set_capability(src_mon, "events", error) ||
        !bench_execute(src_mon, "stop", NULL, NULL, error))
        return FALSE;

    pids[BENCH_PROC_SRC_QEMU] = src->pid;
    pids[BENCH_PROC_DST_QEMU] = dst->pid;
    pids[BENCH_PROC_SRC_DAEMON] = pair->daemons[0].pid;
    pids[BENCH_PROC_DST_DAEMON] = pair->daemons[1].pid;
    bench_cpu_snapshot(pids, cpu);
    if (!bench_daemons_migrate(bench, pair, shape, wire, src, dst, FALSE, &run, error))
        return FALSE;
    sample->wall_ms = run.wall_ms;
    data = run.negotiated ? bench_object_member(run.negotiated, "data") : NULL;
    sample->channels =
        data ? json_object_get_int_member_with_default(data, "channels", -1) : -1;
    sample->negotiated_ms = bench_event_offset_ms(run.negotiated, run.start_real);

    info = bench_poll_migration(src_mon, TRUE,
                                g_get_monotonic_time() + BENCH_MIGRATE_TIMEOUT_US, error);
    bench_take_qemu_window(src_mon, run.start_real, sample);
    if (!info || !bench_take_times(info, "daemons' source", &sample->total_ms,
                                   &sample->downtime_ms, error))
        return FALSE;
    /* Both MIGRATION_DONE are in: the destination has loaded, the pumps are done. */
    sample->transferred_gib = bench_transferred_gib(info);
    bench_cpu_charge(pids, cpu, sample);
    if (wire->tls) {
        sample->tls = bench_daemons_tls(&run, error);
        if (!sample->tls)
            return FALSE;
    }
    /* A daemon puts its QEMU's settings back once done, so the source cannot
     * be asked now: NEGOTIATED says what the daemons agreed. */
    if (sample->channels != (gint64)shape->channels)
        sample->odd =
            g_strdup_printf("%" G_GINT64_FORMAT " channels negotiated (asked %u)",
                            (gint64)sample->channels, shape->channels);

    if (verify) {
        g_clear_pointer(&src_mon, vmig_guest_monitor_close);
        if (!bench_verify(bench, src, dst, &dst_mon, error))
            return FALSE;
        sample->verified = TRUE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Downtime: a running guest, from the source's STOP to the destination's RESUME */

/*
 * Waits for the QEMU event @name on @monitor, @who's, at most @timeout_us,
 * in short slices so that a signal is noticed.  With @statuses (nullable,
 * NULL-terminated), only a MIGRATION event whose status is one of them
 * counts; other MIGRATION events are dropped.
 * Returns: the whole event (a new reference), or NULL with @error set
 * (VMIG_GUEST_ERROR_TIMEOUT when it did not come in time).
 */
static JsonObject *
bench_wait_qemu_event(VmigGuestMonitor *monitor, const char *who, const char *name,
                      const char *const *statuses, gint64 timeout_us, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + timeout_us;

    for (;;) {
        g_autoptr(GError) local = NULL;
        g_autoptr(JsonObject) message = NULL;
        const char *status;

        if (!bench_check_interrupted(error))
            return NULL;
        if (!vmig_guest_monitor_wait_event_message(monitor, name, BENCH_WAIT_SLICE_MS,
                                                   &message, &local)) {
            if (!g_error_matches(local, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT)) {
                g_propagate_error(error, g_steal_pointer(&local));
                return NULL;
            }
            if (g_get_monotonic_time() >= deadline) {
                g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT,
                            "no %s%s%s event from %s within %.0f s", name,
                            statuses ? " " : "", statuses ? statuses[0] : "", who,
                            (double)timeout_us / G_USEC_PER_SEC);
                return NULL;
            }
            continue;
        }
        status = bench_string_member(bench_object_member(message, "data"), "status", "");
        if (!statuses || g_strv_contains(statuses, status))
            return g_steal_pointer(&message);
    }
}

/* Returns: @to_us - @from_us in ms, or NaN when either is unknown (negative). */
static double
bench_span_ms(gint64 from_us, gint64 to_us)
{
    if (from_us < 0 || to_us < 0)
        return NAN;
    return (double)(to_us - from_us) / 1000.0;
}

/*
 * Waits until the test kernel in @monitor's guest counts (the firmware
 * runs first, for a moment under TCG), so that the guest dirties memory
 * while it migrates.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_wait_counting(VmigGuestMonitor *monitor, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + BENCH_BOOT_TIMEOUT_US;

    for (;;) {
        guint32 counter = 0;

        if (!bench_check_interrupted(error) ||
            !vmig_guest_monitor_read_counter(monitor, &counter, error))
            return FALSE;
        if (counter > 0)
            return TRUE;
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT,
                        "the test kernel did not start counting within %d s",
                        (int)(BENCH_BOOT_TIMEOUT_US / G_USEC_PER_SEC));
            return FALSE;
        }
        g_usleep(20 * 1000);
    }
}

/*
 * Checks that the guest runs on the destination once migrated: its QEMU
 * says "running", and the test kernel's counter there starts from the
 * stopped source's and goes on.  The counters go into @sample.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_check_running(VmigGuestMonitor *src_mon, VmigGuestMonitor *dst_mon,
                    BenchDowntime *sample, GError **error)
{
    g_autoptr(JsonNode) ret = NULL;
    const char *status;

    if (!bench_execute(dst_mon, "query-status", NULL, &ret, error))
        return FALSE;
    status = JSON_NODE_HOLDS_OBJECT(ret)
                 ? bench_string_member(json_node_get_object(ret), "status", "(none)")
                 : "(not an object)";
    if (!g_str_equal(status, "running")) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND,
                    "the destination QEMU is '%s' after its RESUME, not 'running'",
                    status);
        return FALSE;
    }
    if (!vmig_guest_monitor_read_counter(src_mon, &sample->counter_src, error) ||
        !vmig_guest_monitor_read_counter(dst_mon, &sample->counter_dst[0], error))
        return FALSE;
    g_usleep(BENCH_COUNTER_GAP_US);
    if (!vmig_guest_monitor_read_counter(dst_mon, &sample->counter_dst[1], error))
        return FALSE;
    if (sample->counter_dst[0] < sample->counter_src ||
        sample->counter_dst[1] <= sample->counter_dst[0]) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_MISMATCH,
                    "the guest does not go on on the destination: its counter was %u "
                    "on the stopped source, then %u and %u on the destination %d ms "
                    "apart",
                    sample->counter_src, sample->counter_dst[0], sample->counter_dst[1],
                    (int)(BENCH_COUNTER_GAP_US / 1000));
        return FALSE;
    }
    return TRUE;
}

/*
 * Migrates a fresh running guest (the test kernel, dirtying memory) with
 * @shape on @path, and measures its downtime from the source QEMU's STOP
 * event to the destination QEMU's RESUME event, by their own timestamps.
 * Direct: the destination QEMU has no -S and resumes by itself once
 * loaded.  Daemons: it has -S and its daemon resumes it ("resume": true),
 * as a management layer would have it.  Nothing here depends on who
 * resumes the destination or on how the daemons switch over (the
 * destination daemon may resume it before or after the daemons' own
 * exchange, and before or after either MIGRATION_DONE): only the two
 * QEMUs' events count, and the daemons' MIGRATION_DONE are awaited last.
 * Returns: TRUE with @sample filled, or FALSE with @error set
 * (VMIG_GUEST_ERROR_TIMEOUT when an event did not come in time: a failed
 * sample; VMIG_GUEST_ERROR_COMMAND_NOT_FOUND when a daemon lacks the
 * commands).
 */
static gboolean
bench_run_downtime(Bench *bench, const BenchShape *shape, BenchPath path,
                   BenchDowntime *sample, GError **error)
{
    static const char *const ends[] = {"completed", "failed", "cancelled", NULL};
    static const char *const completed[] = {"completed", NULL};
    const VmigGuestOptions opts = {
        .ram_mib = BENCH_DOWNTIME_RAM_MIB,
        .kernel_path = bench->kernel_path,
        .prealloc = TRUE,
    };
    g_autoptr(VmigTestQemu) src = NULL;
    g_autoptr(VmigTestQemu) dst = NULL;
    g_autoptr(VmigGuestMonitor) src_mon = NULL;
    g_autoptr(VmigGuestMonitor) dst_mon = NULL;
    g_auto(BenchDaemonsRun) run = {0};
    g_autoptr(JsonObject) src_end = NULL;
    g_autoptr(JsonObject) info = NULL;
    g_autoptr(JsonObject) stop = NULL;
    g_autoptr(JsonObject) resume = NULL;
    g_autoptr(JsonObject) dst_end = NULL;
    gint64 start;
    gint64 start_real;
    gint64 stop_us;
    gint64 resume_us;
    double total_ms;

    /* Both aux monitors are open from here on: no event can be missed. */
    if (!bench_start_guests(bench, &opts, path == BENCH_PATH_DAEMONS, &src, &dst,
                            &src_mon, &dst_mon, error) ||
        !bench_wait_counting(src_mon, error))
        return FALSE;
    /* MIGRATION events from both QEMUs, for the timeline; STOP and RESUME
     * come without asking. */
    if (!bench_set_capability(src_mon, "events", error) ||
        !bench_set_capability(dst_mon, "events", error))
        return FALSE;

    if (path == BENCH_PATH_DIRECT) {
        /* The end from the source's events, not from query-migrate every
         * 5 ms: no more monitor traffic than on the daemons' path. */
        if (!bench_direct_migrate(bench, shape, &bench_wire_unix, dst, src_mon, dst_mon,
                                  FALSE, &start, &start_real, error))
            return FALSE;
    } else {
        if (!bench_daemons_start(bench, &bench->plain, shape, &bench_wire_unix, src, dst,
                                 TRUE, &run, error))
            return FALSE;
        start = run.start;
    }
    src_end = bench_wait_qemu_event(src_mon, "the source QEMU", "MIGRATION", ends,
                                    BENCH_MIGRATE_TIMEOUT_US, error);
    if (!src_end)
        return FALSE;
    /* Whether it completed, and QEMU's own downtime figure. */
    info = bench_poll_migration(src_mon, TRUE, start + BENCH_MIGRATE_TIMEOUT_US, error);
    if (!info ||
        !bench_take_times(info, path == BENCH_PATH_DIRECT ? "direct" : "daemons' source",
                          &total_ms, &sample->qemu_downtime_ms, error))
        return FALSE;
    /* The STOP came before "completed"; the RESUME comes after it, from
     * whoever resumes the destination. */
    stop = bench_wait_qemu_event(src_mon, "the source QEMU", "STOP", NULL,
                                 BENCH_EVENT_TIMEOUT_US, error);
    if (!stop) {
        g_prefix_error(error, "the migration completed, but ");
        return FALSE;
    }
    resume = bench_wait_qemu_event(dst_mon, "the destination QEMU", "RESUME", NULL,
                                   BENCH_EVENT_TIMEOUT_US, error);
    if (!resume) {
        g_prefix_error(error, "the migration completed, but ");
        return FALSE;
    }
    /* After the RESUME when QEMU resumes by itself, before it when a daemon does. */
    dst_end = bench_wait_qemu_event(dst_mon, "the destination QEMU", "MIGRATION",
                                    completed, BENCH_EVENT_GRACE_US, NULL);
    if (path == BENCH_PATH_DAEMONS && !bench_daemons_finish(bench, &run, error))
        return FALSE;

    stop_us = bench_event_time_us(stop);
    resume_us = bench_event_time_us(resume);
    sample->downtime_ms = bench_span_ms(stop_us, resume_us);
    if (isnan(sample->downtime_ms)) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                    "the STOP or RESUME event has no timestamp");
        return FALSE;
    }
    sample->src_completed_ms = bench_span_ms(stop_us, bench_event_time_us(src_end));
    sample->dst_loaded_ms = bench_span_ms(stop_us, bench_event_time_us(dst_end));
    sample->src_done_ms = bench_span_ms(resume_us, bench_event_time_us(run.src_done));
    sample->dst_done_ms = bench_span_ms(resume_us, bench_event_time_us(run.dst_done));

    if (path == BENCH_PATH_DIRECT) {
        if (!bench_check_source(src_mon, shape, FALSE, &sample->odd, error))
            return FALSE;
    } else {
        /* A daemon puts its QEMU's settings back once done, so the source
         * cannot be asked now: NEGOTIATED says what the daemons agreed. */
        JsonObject *data = bench_object_member(run.negotiated, "data");
        gint64 channels =
            data ? json_object_get_int_member_with_default(data, "channels", -1) : -1;

        if (channels != (gint64)shape->channels)
            sample->odd = g_strdup_printf("%" G_GINT64_FORMAT " channels negotiated "
                                          "(asked %u)",
                                          channels, shape->channels);
    }
    return bench_check_running(src_mon, dst_mon, sample, error);
}

/* ------------------------------------------------------------------------ */
/* Statistics and the report */

/* Returns: the double at @member_offset in element @i of @samples, an array of
 * structs (BenchSample or another). */
static double
bench_member(GArray *samples, guint i, gsize member_offset)
{
    char *element = samples->data + (gsize)i * g_array_get_element_size(samples);

    return G_STRUCT_MEMBER(double, element, member_offset);
}

/*
 * Returns: the median of the @member_offset doubles of @samples, leaving
 * out NaNs (what was not measured); 0 if @samples is empty, NaN if every
 * value is.
 */
static double
bench_median(GArray *samples, gsize member_offset)
{
    g_autofree double *values = NULL;
    guint i;
    guint j;
    guint n = 0;

    if (samples->len == 0)
        return 0.0;
    values = g_new(double, samples->len);
    for (i = 0; i < samples->len; i++) {
        double v = bench_member(samples, i, member_offset);

        if (!isnan(v))
            values[n++] = v;
    }
    if (n == 0)
        return NAN;
    /* Insertion sort: a handful of runs. */
    for (i = 1; i < n; i++) {
        double v = values[i];

        for (j = i; j > 0 && values[j - 1] > v; j--)
            values[j] = values[j - 1];
        values[j] = v;
    }
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

/* Returns: the smallest or largest (@largest) @member_offset double of @samples,
 * NaNs left out (0 if empty, NaN if every value is). */
static double
bench_extreme(GArray *samples, gsize member_offset, gboolean largest)
{
    double best = samples->len ? NAN : 0.0;
    guint i;

    for (i = 0; i < samples->len; i++) {
        double v = bench_member(samples, i, member_offset);

        if (!isnan(v) && (isnan(best) || (largest ? v > best : v < best)))
            best = v;
    }
    return best;
}

/* Prints one finished migration on the path @path_name (through daemons: @daemons). */
static void
bench_print_sample(guint run, guint runs, const BenchShape *shape, const char *path_name,
                   gboolean daemons, const BenchSample *sample)
{
    g_autoptr(GString) notes = g_string_new(NULL);

    if (sample->qemu_setup_ms >= 0 && sample->qemu_done_ms >= 0)
        g_string_append_printf(notes, "  QEMU from %.0f to %.0f ms",
                               sample->qemu_setup_ms, sample->qemu_done_ms);
    if (sample->negotiated_ms >= 0)
        g_string_append_printf(notes, ", NEGOTIATED at %.0f ms", sample->negotiated_ms);
    if (daemons && sample->channels >= 0 && sample->channels != (gint64)shape->channels)
        g_string_append_printf(notes,
                               ", %" G_GINT64_FORMAT " channels negotiated (asked %u)",
                               sample->channels, shape->channels);
    if (sample->odd)
        g_string_append_printf(notes, "  (source QEMU: %s)", sample->odd);
    printf("run %u/%u  %-10s %-7s  total-time %7.1f ms  wall %7.1f ms  downtime %5.1f "
           "ms%s\n",
           run + 1, runs, shape->name, path_name, sample->total_ms, sample->wall_ms,
           sample->downtime_ms, notes->str);
    if (sample->transferred_gib > 0 && !isnan(sample->cpu_s_per_gib[0])) {
        g_autoptr(GString) cpu = g_string_new(NULL);
        gsize i;

        for (i = 0; i < BENCH_PROC_LAST; i++)
            if (!isnan(sample->cpu_s_per_gib[i]))
                g_string_append_printf(cpu, "%s %s %.2f", cpu->len ? "," : "",
                                       bench_proc_names[i], sample->cpu_s_per_gib[i]);
        printf("         CPU s/GiB:%s (%.2f GiB transferred)\n", cpu->str,
               sample->transferred_gib);
    }
    if (sample->verified)
        printf("         memory of both QEMUs equal, the pattern intact on the "
               "destination%s%s\n",
               sample->tls ? "; TLS: " : "", sample->tls ? sample->tls : "");
    fflush(stdout);
}

/* Prints the medians and the ratios. */
static void
bench_report(Bench *bench)
{
    const gsize total = G_STRUCT_OFFSET(BenchSample, total_ms);
    const gsize wall = G_STRUCT_OFFSET(BenchSample, wall_ms);
    gsize s;
    int p;

    printf("\n%-10s %-8s %4s  %-28s  %-28s\n", "", "", "", "QEMU total-time (ms)",
           "wall time (ms)");
    printf("%-10s %-8s %4s  %8s %8s %8s    %8s %8s %8s\n", "shape", "path", "runs",
           "median", "min", "max", "median", "min", "max");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        for (p = 0; p < BENCH_PATH_LAST; p++) {
            GArray *samples = bench->samples[s][p];

            if (samples->len == 0) {
                printf("%-10s %-8s %4u  (not run)\n", bench_shapes[s].name,
                       bench_path_names[p], 0u);
                continue;
            }
            printf("%-10s %-8s %4u  %8.1f %8.1f %8.1f    %8.1f %8.1f %8.1f\n",
                   bench_shapes[s].name, bench_path_names[p], samples->len,
                   bench_median(samples, total), bench_extreme(samples, total, FALSE),
                   bench_extreme(samples, total, TRUE), bench_median(samples, wall),
                   bench_extreme(samples, wall, FALSE),
                   bench_extreme(samples, wall, TRUE));
        }
    }

    printf("\nratio daemons/direct of the medians (target: %.2f or less)\n",
           BENCH_TARGET);
    printf("%-10s  %-22s  %-10s\n", "shape", "QEMU total-time", "wall time");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        GArray *direct = bench->samples[s][BENCH_PATH_DIRECT];
        GArray *daemons = bench->samples[s][BENCH_PATH_DAEMONS];
        double ratio_total;
        double ratio_wall;

        if (direct->len == 0 || daemons->len == 0) {
            printf("%-10s  n/a\n", bench_shapes[s].name);
            continue;
        }
        ratio_total = bench_median(daemons, total) / bench_median(direct, total);
        ratio_wall = bench_median(daemons, wall) / bench_median(direct, wall);
        printf("%-10s  %5.3f %-16s  %5.3f %s\n", bench_shapes[s].name, ratio_total,
               ratio_total <= BENCH_TARGET ? "(on target)" : "(above target)", ratio_wall,
               ratio_wall <= BENCH_TARGET ? "(on target)" : "(above target)");
    }
    printf("\ntimeline, ms after the migrate command (medians; QEMU's are its MIGRATION "
           "events)\n");
    printf("%-10s %-8s  %10s  %10s  %14s  %8s\n", "shape", "path", "NEGOTIATED",
           "QEMU setup", "QEMU completed", "end");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        for (p = 0; p < BENCH_PATH_LAST; p++) {
            GArray *samples = bench->samples[s][p];
            g_autofree char *negotiated = NULL;

            if (samples->len == 0)
                continue;
            negotiated =
                p == BENCH_PATH_DAEMONS
                    ? g_strdup_printf(
                          "%.0f", bench_median(samples, G_STRUCT_OFFSET(BenchSample,
                                                                        negotiated_ms)))
                    : g_strdup("-");
            printf("%-10s %-8s  %10s  %10.0f  %14.0f  %8.0f\n", bench_shapes[s].name,
                   bench_path_names[p], negotiated,
                   bench_median(samples, G_STRUCT_OFFSET(BenchSample, qemu_setup_ms)),
                   bench_median(samples, G_STRUCT_OFFSET(BenchSample, qemu_done_ms)),
                   bench_median(samples, wall));
        }
    }
}

/* Returns: @ms as "+1.2" (with @sign) or "1.2", or "n/a" for NaN (newly allocated). */
static char *
bench_ms_text(double ms, gboolean sign)
{
    if (isnan(ms))
        return g_strdup("n/a");
    return g_strdup_printf(sign ? "%+.1f" : "%.1f", ms);
}

/* Prints one finished migration of the downtime part. */
static void
bench_print_downtime(guint run, guint runs, const BenchShape *shape, BenchPath path,
                     const BenchDowntime *sample)
{
    g_autofree char *src_completed = bench_ms_text(sample->src_completed_ms, TRUE);
    g_autofree char *dst_loaded = bench_ms_text(sample->dst_loaded_ms, TRUE);
    g_autoptr(GString) notes = g_string_new(NULL);

    g_string_append_printf(notes,
                           "  QEMU's %.0f ms; after the STOP: source completed %s, "
                           "destination loaded %s",
                           sample->qemu_downtime_ms, src_completed, dst_loaded);
    if (path == BENCH_PATH_DAEMONS) {
        g_autofree char *dst_done = bench_ms_text(sample->dst_done_ms, TRUE);
        g_autofree char *src_done = bench_ms_text(sample->src_done_ms, TRUE);

        g_string_append_printf(notes,
                               "; MIGRATION_DONE after the RESUME: destination %s, "
                               "source %s",
                               dst_done, src_done);
    }
    g_string_append_printf(notes, "; counter %u -> %u -> %u", sample->counter_src,
                           sample->counter_dst[0], sample->counter_dst[1]);
    if (sample->odd)
        g_string_append_printf(notes, "  (%s)", sample->odd);
    printf("run %u/%u  %-10s %-7s  downtime %6.1f ms%s\n", run + 1, runs, shape->name,
           bench_path_names[path], sample->downtime_ms, notes->str);
    fflush(stdout);
}

/* Prints the downtime part's medians, spreads and differences. */
static void
bench_report_downtime(Bench *bench)
{
    const gsize downtime = G_STRUCT_OFFSET(BenchDowntime, downtime_ms);
    gsize s;
    int p;

    printf("\ndowntime (ms): the source QEMU's STOP to the destination QEMU's RESUME\n");
    printf("%-10s %-8s %4s %6s  %8s %8s %8s    %s\n", "shape", "path", "runs", "failed",
           "median", "min", "max", "QEMU's own (median)");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        for (p = 0; p < BENCH_PATH_LAST; p++) {
            GArray *samples = bench->downtimes[s][p];
            guint failed = bench->downtime_failed[s][p];

            if (samples->len == 0) {
                printf("%-10s %-8s %4u %6u  (no sample)\n", bench_shapes[s].name,
                       bench_path_names[p], 0u, failed);
                continue;
            }
            printf(
                "%-10s %-8s %4u %6u  %8.1f %8.1f %8.1f    %8.1f\n", bench_shapes[s].name,
                bench_path_names[p], samples->len, failed,
                bench_median(samples, downtime), bench_extreme(samples, downtime, FALSE),
                bench_extreme(samples, downtime, TRUE),
                bench_median(samples, G_STRUCT_OFFSET(BenchDowntime, qemu_downtime_ms)));
        }
    }

    printf("\ndaemons - direct, ms (the medians' difference; the minima's)\n");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        GArray *direct = bench->downtimes[s][BENCH_PATH_DIRECT];
        GArray *daemons = bench->downtimes[s][BENCH_PATH_DAEMONS];

        if (direct->len == 0 || daemons->len == 0) {
            printf("%-10s  n/a\n", bench_shapes[s].name);
            continue;
        }
        printf("%-10s  %+6.1f  %+6.1f\n", bench_shapes[s].name,
               bench_median(daemons, downtime) - bench_median(direct, downtime),
               bench_extreme(daemons, downtime, FALSE) -
                   bench_extreme(direct, downtime, FALSE));
    }

    printf(
        "\ntimeline, ms (medians): after the source's STOP, its MIGRATION "
        "\"completed\",\n"
        "the destination's \"completed\" (loaded) and its RESUME; after the RESUME, the "
        "daemons' MIGRATION_DONE\n");
    printf("%-10s %-8s  %14s  %10s  %8s  %12s  %12s\n", "shape", "path", "src completed",
           "dst loaded", "RESUME", "dst daemon", "src daemon");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        for (p = 0; p < BENCH_PATH_LAST; p++) {
            GArray *samples = bench->downtimes[s][p];
            /* The daemons' columns last: the direct path has none. */
            const gsize columns[] = {
                G_STRUCT_OFFSET(BenchDowntime, src_completed_ms),
                G_STRUCT_OFFSET(BenchDowntime, dst_loaded_ms),
                downtime,
                G_STRUCT_OFFSET(BenchDowntime, dst_done_ms),
                G_STRUCT_OFFSET(BenchDowntime, src_done_ms),
            };
            const int widths[G_N_ELEMENTS(columns)] = {14, 10, 8, 12, 12};
            g_autoptr(GString) line = g_string_new(NULL);
            gsize c;

            if (samples->len == 0)
                continue;
            g_string_append_printf(line, "%-10s %-8s", bench_shapes[s].name,
                                   bench_path_names[p]);
            for (c = 0; c < G_N_ELEMENTS(columns); c++) {
                g_autofree char *text =
                    c >= 3 && p == BENCH_PATH_DIRECT
                        ? g_strdup("-")
                        : bench_ms_text(bench_median(samples, columns[c]), TRUE);

                g_string_append_printf(line, "  %*s", widths[c], text);
            }
            printf("%s\n", line->str);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The two parts */

/* Returns: the path that goes @k-th in run @run: even runs go direct first, odd runs
 * daemons first, so that drift of the host weighs on both sides alike. */
static BenchPath
bench_path_in_order(guint run, gint k)
{
    return (BenchPath)(run % 2 ? BENCH_PATH_LAST - 1 - k : k);
}

/*
 * Looks at the @error of a failed run of @pair: when a daemon lacks the
 * commands, that pair's runs are skipped from now on (pair->skip says
 * why) and @error is cleared.
 * Returns: TRUE if so, FALSE if @error stands.
 */
static gboolean
bench_skip_pair_on(BenchPair *pair, GError **error)
{
    if (!g_error_matches(*error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND_NOT_FOUND))
        return FALSE;
    pair->skip =
        g_strdup_printf("this virt-migrated cannot migrate yet: %s", (*error)->message);
    printf("%sdaemon runs skipped: %s\n", pair->label, pair->skip);
    g_clear_error(error);
    return TRUE;
}

/*
 * The ratio part: a stopped guest with random RAM, every shape on both
 * paths, interleaved run by run; prints each migration.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_run_ratios(Bench *bench, GError **error)
{
    guint run;
    gsize s;
    gint k;

    for (run = 0; run < bench->runs; run++) {
        for (s = 0; s < BENCH_N_SHAPES; s++) {
            for (k = 0; k < BENCH_PATH_LAST; k++) {
                BenchPath path = bench_path_in_order(run, k);
                GArray *samples = bench->samples[s][path];
                BenchSample sample = bench_sample_init();
                gboolean verify = bench->verify_all || samples->len == 0;
                gboolean ok;

                if (!bench_check_interrupted(error))
                    return FALSE;
                if (path == BENCH_PATH_DAEMONS && bench->plain.skip)
                    continue;
                ok = path == BENCH_PATH_DAEMONS
                         ? bench_run_daemons(bench, &bench->plain, &bench_shapes[s],
                                             &bench_wire_unix, verify, &sample, error)
                         : bench_run_direct(bench, &bench_shapes[s], &bench_wire_unix,
                                            verify, &sample, error);
                if (!ok) {
                    bench_sample_clear(&sample);
                    if (path == BENCH_PATH_DAEMONS &&
                        bench_skip_pair_on(&bench->plain, error))
                        continue;
                    g_prefix_error(error, "run %u, %s, %s: ", run + 1,
                                   bench_shapes[s].name, bench_path_names[path]);
                    return FALSE;
                }
                g_array_append_val(samples, sample);
                bench_print_sample(run, bench->runs, &bench_shapes[s],
                                   bench_path_names[path], path == BENCH_PATH_DAEMONS,
                                   &sample);
            }
        }
    }
    return TRUE;
}

/*
 * The downtime part: a running guest, every shape on both paths,
 * interleaved run by run as the ratio part; prints each migration.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_run_downtimes(Bench *bench, GError **error)
{
    guint run;
    gsize s;
    gint k;

    for (run = 0; run < bench->runs; run++) {
        for (s = 0; s < BENCH_N_SHAPES; s++) {
            for (k = 0; k < BENCH_PATH_LAST; k++) {
                BenchPath path = bench_path_in_order(run, k);
                BenchDowntime sample = {
                    .src_completed_ms = NAN,
                    .dst_loaded_ms = NAN,
                    .src_done_ms = NAN,
                    .dst_done_ms = NAN,
                };

                if (!bench_check_interrupted(error))
                    return FALSE;
                if (path == BENCH_PATH_DAEMONS && bench->plain.skip)
                    continue;
                if (!bench_run_downtime(bench, &bench_shapes[s], path, &sample, error)) {
                    bench_downtime_clear(&sample);
                    if (path == BENCH_PATH_DAEMONS &&
                        bench_skip_pair_on(&bench->plain, error))
                        continue;
                    /* A missing event fails this sample, not the benchmark. */
                    if (g_error_matches(*error, VMIG_GUEST_ERROR,
                                        VMIG_GUEST_ERROR_TIMEOUT)) {
                        printf("run %u/%u  %-10s %-7s  FAILED: %s\n", run + 1,
                               bench->runs, bench_shapes[s].name, bench_path_names[path],
                               (*error)->message);
                        fflush(stdout);
                        bench->downtime_failed[s][path]++;
                        g_clear_error(error);
                        continue;
                    }
                    g_prefix_error(error, "downtime run %u, %s, %s: ", run + 1,
                                   bench_shapes[s].name, bench_path_names[path]);
                    return FALSE;
                }
                g_array_append_val(bench->downtimes[s][path], sample);
                bench_print_downtime(run, bench->runs, &bench_shapes[s], path, &sample);
            }
        }
    }
    return TRUE;
}

/* Returns: the TLS part's path that goes @k-th in run @run: the order rotates, so that
 * over three runs each path goes first, second and last once. */
static BenchTlsPath
bench_tls_path_in_order(guint run, gint k)
{
    return (BenchTlsPath)((run + (guint)k) % BENCH_TLS_PATH_LAST);
}

/*
 * The TLS part: a stopped guest with random RAM over TCP loopback, every
 * shape on the three paths (plain, QEMU's TLS, the daemons' TLS),
 * interleaved run by run; prints each migration.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
bench_run_tls(Bench *bench, GError **error)
{
    guint run;
    gsize s;
    gint k;

    for (run = 0; run < bench->runs; run++) {
        for (s = 0; s < BENCH_N_SHAPES; s++) {
            for (k = 0; k < BENCH_TLS_PATH_LAST; k++) {
                BenchTlsPath path = bench_tls_path_in_order(run, k);
                const BenchWire wire = bench_tls_path_wire(path);
                GArray *samples = bench->tls_samples[s][path];
                BenchSample sample = bench_sample_init();
                gboolean verify = bench->verify_all || samples->len == 0;
                gboolean daemons = path == BENCH_TLS_PATH_DAEMONS;
                gboolean ok;

                if (!bench_check_interrupted(error))
                    return FALSE;
                if (daemons && bench->tls.skip)
                    continue;
                ok = daemons ? bench_run_daemons(bench, &bench->tls, &bench_shapes[s],
                                                 &wire, verify, &sample, error)
                             : bench_run_direct(bench, &bench_shapes[s], &wire, verify,
                                                &sample, error);
                if (!ok) {
                    bench_sample_clear(&sample);
                    if (daemons && bench_skip_pair_on(&bench->tls, error))
                        continue;
                    g_prefix_error(error, "TLS run %u, %s, %s: ", run + 1,
                                   bench_shapes[s].name, bench_tls_path_names[path]);
                    return FALSE;
                }
                g_array_append_val(samples, sample);
                bench_print_sample(run, bench->runs, &bench_shapes[s],
                                   bench_tls_path_names[path], daemons, &sample);
            }
        }
    }
    return TRUE;
}

/* Returns: @ratio as "1.23 (on target)" or "1.23 (missed)" (nothing after it without
 * a target, @target_met -1), or "n/a" when a side was not measured (newly allocated). */
static char *
bench_ratio_text(double ratio, int target_met)
{
    if (isnan(ratio) || isinf(ratio) || ratio <= 0)
        return g_strdup("n/a");
    return g_strdup_printf("%.2f%s", ratio,
                           target_met < 0 ? ""
                           : target_met   ? " (on target)"
                                          : " (missed)");
}

/* Prints the TLS part's medians, ratios against the targets, and CPU per GiB. */
static void
bench_report_tls(Bench *bench)
{
    const gsize total = G_STRUCT_OFFSET(BenchSample, total_ms);
    const gsize wall = G_STRUCT_OFFSET(BenchSample, wall_ms);
    gsize s;
    int p;
    gsize i;

    printf("\n%-10s %-11s %4s  %-28s  %-28s\n", "TLS", "", "", "QEMU total-time (ms)",
           "wall time (ms)");
    printf("%-10s %-11s %4s  %8s %8s %8s    %8s %8s %8s\n", "shape", "path", "runs",
           "median", "min", "max", "median", "min", "max");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        for (p = 0; p < BENCH_TLS_PATH_LAST; p++) {
            GArray *samples = bench->tls_samples[s][p];

            if (samples->len == 0) {
                printf("%-10s %-11s %4u  (not run)\n", bench_shapes[s].name,
                       bench_tls_path_names[p], 0u);
                continue;
            }
            printf("%-10s %-11s %4u  %8.1f %8.1f %8.1f    %8.1f %8.1f %8.1f\n",
                   bench_shapes[s].name, bench_tls_path_names[p], samples->len,
                   bench_median(samples, total), bench_extreme(samples, total, FALSE),
                   bench_extreme(samples, total, TRUE), bench_median(samples, wall),
                   bench_extreme(samples, wall, FALSE),
                   bench_extreme(samples, wall, TRUE));
        }
    }

    printf("\nratios of the medians (targets: daemons-TLS/plain %.2f or less; "
           "QEMU-TLS/daemons-TLS %.2f or more)\n",
           BENCH_TLS_TARGET_COST, BENCH_TLS_TARGET_GAIN);
    printf("%-10s %-10s  %-20s  %-23s  %s\n", "shape", "time", "daemons-TLS/plain",
           "QEMU-TLS/daemons-TLS", "QEMU-TLS/plain");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        GArray *plain = bench->tls_samples[s][BENCH_TLS_PATH_PLAIN];
        GArray *qemu = bench->tls_samples[s][BENCH_TLS_PATH_QEMU];
        GArray *daemons = bench->tls_samples[s][BENCH_TLS_PATH_DAEMONS];
        const gsize columns[] = {total, wall};
        const char *const column_names[] = {"total-time", "wall"};
        gsize c;

        for (c = 0; c < G_N_ELEMENTS(columns); c++) {
            double cost =
                bench_median(daemons, columns[c]) / bench_median(plain, columns[c]);
            double gain =
                bench_median(qemu, columns[c]) / bench_median(daemons, columns[c]);
            double qemu_cost =
                bench_median(qemu, columns[c]) / bench_median(plain, columns[c]);
            g_autofree char *cost_text =
                bench_ratio_text(cost, cost <= BENCH_TLS_TARGET_COST);
            g_autofree char *gain_text =
                bench_ratio_text(gain, gain >= BENCH_TLS_TARGET_GAIN);
            g_autofree char *qemu_text = bench_ratio_text(qemu_cost, -1);

            printf("%-10s %-10s  %-20s  %-23s  %s\n", bench_shapes[s].name,
                   column_names[c], cost_text, gain_text, qemu_text);
        }
    }

    printf("\nCPU seconds per GiB transferred (medians; user + system from "
           "/proc/PID/stat, from just before the migrate command to the end)\n");
    printf("%-10s %-11s %8s", "shape", "path", "GiB");
    for (i = 0; i < BENCH_PROC_LAST; i++)
        printf("  %10s", bench_proc_names[i]);
    printf("\n");
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        for (p = 0; p < BENCH_TLS_PATH_LAST; p++) {
            GArray *samples = bench->tls_samples[s][p];

            if (samples->len == 0)
                continue;
            printf("%-10s %-11s %8.2f", bench_shapes[s].name, bench_tls_path_names[p],
                   bench_median(samples, G_STRUCT_OFFSET(BenchSample, transferred_gib)));
            for (i = 0; i < BENCH_PROC_LAST; i++) {
                double v =
                    bench_median(samples, G_STRUCT_OFFSET(BenchSample, cpu_s_per_gib) +
                                              i * sizeof(double));

                if (isnan(v))
                    printf("  %10s", "-");
                else
                    printf("  %10.2f", v);
            }
            printf("\n");
        }
    }
}

/* ------------------------------------------------------------------------ */

/* Stops the daemons, removes the temporary directory and frees @bench.
 */
static void
bench_free(Bench *bench)
{
    gsize s;
    int p;

    if (!bench)
        return;
    bench_pair_stop(&bench->plain);
    bench_pair_stop(&bench->tls);
    if (bench->tmpdir)
        bench_remove_tree(bench->tmpdir);
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        for (p = 0; p < BENCH_PATH_LAST; p++) {
            if (bench->samples[s][p])
                g_array_unref(bench->samples[s][p]);
            if (bench->downtimes[s][p])
                g_array_unref(bench->downtimes[s][p]);
        }
        for (p = 0; p < BENCH_TLS_PATH_LAST; p++)
            if (bench->tls_samples[s][p])
                g_array_unref(bench->tls_samples[s][p]);
    }
    g_free(bench->tmpdir);
    g_free(bench->pattern_path);
    g_free(bench->kernel_path);
    g_free(bench->plain.skip);
    g_free(bench->tls.skip);
    g_free(bench->tls_dirs[0]);
    g_free(bench->tls_dirs[1]);
    g_free(bench->hypervisor);
    g_free(bench);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Bench, bench_free)

/* Returns: the virt-migrated to run: $VIRT_MIGRATED or ../driver/virt-migrated next to
 * us. */
static char *
bench_find_daemon(void)
{
    const char *env = g_getenv("VIRT_MIGRATED");
    g_autofree char *self = NULL;
    g_autofree char *dir = NULL;

    if (env && *env)
        return g_strdup(env);
    self = g_file_read_link("/proc/self/exe", NULL);
    if (!self)
        return g_strdup("virt-migrated");
    dir = g_path_get_dirname(self);
    return g_build_filename(dir, "..", "driver", "virt-migrated", NULL);
}

int
main(int argc, char **argv)
{
    gint runs = BENCH_DEFAULT_RUNS;
    gint pattern_mib = BENCH_DEFAULT_PATTERN_MIB;
    gboolean no_daemons = FALSE;
    gboolean no_downtime = FALSE;
    gboolean downtime_only = FALSE;
    gboolean no_tls = FALSE;
    gboolean tls_only = FALSE;
    gboolean run_ratios;
    gboolean run_downtime;
    gboolean run_tls;
    gboolean verify_all = FALSE;
    gboolean verbose = FALSE;
    g_autofree char *daemon_path = NULL;
    GOptionEntry entries[] = {
        {"runs", 'n', 0, G_OPTION_ARG_INT, &runs, "Migrations of each kind (default 5)",
         "N"},
        {"ram", 0, 0, G_OPTION_ARG_INT, &pattern_mib,
         "MiB of random guest RAM (default 1024; the guest has 512 more)", "MIB"},
        {"daemon", 0, 0, G_OPTION_ARG_FILENAME, &daemon_path,
         "The virt-migrated to run (default: $VIRT_MIGRATED, or ../driver/virt-migrated)",
         "PATH"},
        {"no-daemons", 0, 0, G_OPTION_ARG_NONE, &no_daemons,
         "Measure the direct migrations only", NULL},
        {"no-downtime", 0, 0, G_OPTION_ARG_NONE, &no_downtime,
         "Skip the downtime part (a running guest, STOP to RESUME)", NULL},
        {"downtime-only", 0, 0, G_OPTION_ARG_NONE, &downtime_only,
         "Run the downtime part alone, not the ratios or TLS", NULL},
        {"no-tls", 0, 0, G_OPTION_ARG_NONE, &no_tls,
         "Skip the TLS part (TCP loopback: plaintext, QEMU's TLS, the daemons' TLS)",
         NULL},
        {"tls-only", 0, 0, G_OPTION_ARG_NONE, &tls_only,
         "Run the TLS part alone, not the ratios or the downtime", NULL},
        {"verify-all", 0, 0, G_OPTION_ARG_NONE, &verify_all,
         "Verify the memory after every migration, not only the first of each kind",
         NULL},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
         "Print both daemons' negotiation records after each daemon run", NULL},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) context = g_option_context_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(Bench) bench = NULL;
    struct sigaction sa;
    guint failed = 0;
    gint64 t0;
    gsize s;
    int p;

    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_set_summary(
        context,
        "Migrates a guest with random RAM directly (QEMU to QEMU) and through two\n"
        "virt-migrated daemons, with 1 and 4 channels, and prints the ratios; then\n"
        "migrates a running guest the same four ways and prints its downtime, from\n"
        "the source QEMU's STOP event to the destination QEMU's RESUME event; then\n"
        "migrates the first guest over TCP loopback in plaintext, with QEMU's own TLS\n"
        "and through two daemons with TLS, and prints the ratios and CPU per GiB.");
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("migrate-ratio: %s\n", error->message);
        return 2;
    }
    if (argc > 1 || runs < 1 || runs > 1000 || pattern_mib < 1 || pattern_mib > 2047 ||
        (no_downtime && downtime_only) || (no_tls && tls_only) ||
        (downtime_only && tls_only)) {
        g_printerr("migrate-ratio: want --runs 1..1000 and --ram 1..2047 (MiB), at most "
                   "one of --downtime-only and --tls-only, neither with its --no-, no "
                   "other arguments\n");
        return 2;
    }
    run_ratios = !downtime_only && !tls_only;
    run_downtime = !no_downtime && !tls_only;
    run_tls = !no_tls && !downtime_only;
    if (!vmig_test_have_qemu()) {
        g_printerr("migrate-ratio: skipped: qemu-system-x86_64 is not installed\n");
        return 77;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = bench_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A closed stdout (| head) too: stop and clean up rather than die. */
    sigaction(SIGPIPE, &sa, NULL);

    bench = g_new0(Bench, 1);
    bench->runs = (guint)runs;
    bench->pattern_mib = (guint)pattern_mib;
    bench->guest_mib = (guint)pattern_mib + BENCH_EXTRA_MIB;
    bench->verify_all = verify_all;
    bench->verbose = verbose;
    for (s = 0; s < BENCH_N_SHAPES; s++) {
        for (p = 0; p < BENCH_PATH_LAST; p++) {
            bench->samples[s][p] = g_array_new(FALSE, TRUE, sizeof(BenchSample));
            g_array_set_clear_func(bench->samples[s][p], bench_sample_clear);
            bench->downtimes[s][p] = g_array_new(FALSE, TRUE, sizeof(BenchDowntime));
            g_array_set_clear_func(bench->downtimes[s][p], bench_downtime_clear);
        }
        for (p = 0; p < BENCH_TLS_PATH_LAST; p++) {
            bench->tls_samples[s][p] = g_array_new(FALSE, TRUE, sizeof(BenchSample));
            g_array_set_clear_func(bench->tls_samples[s][p], bench_sample_clear);
        }
    }
    bench->plain.label = "";
    bench->tls.label = "TLS ";
    bench->tmpdir = g_dir_make_tmp("vmig-bench-XXXXXX", &error);
    if (!bench->tmpdir)
        goto fail;
    bench->pattern_path = g_build_filename(bench->tmpdir, "pattern", NULL);
    bench->kernel_path = g_build_filename(bench->tmpdir, "kernel", NULL);

    if (run_ratios || run_tls) {
        t0 = g_get_monotonic_time();
        if (!vmig_guest_write_pattern(
                bench->pattern_path, (gsize)bench->pattern_mib << 20, BENCH_SEED, &error))
            goto fail;
        printf("migrate-ratio: %u MiB of random RAM (seed %u, written in %.2f s) at 16 "
               "MiB in a %u MiB guest, %u runs, interleaved\n",
               bench->pattern_mib, BENCH_SEED,
               (double)(g_get_monotonic_time() - t0) / 1e6, bench->guest_mib,
               bench->runs);
        if (run_ratios)
            printf("baselines: direct QEMU-to-QEMU migrations over a unix socket; the "
                   "4-channel baseline is a direct multifd migration with 4 channels\n");
        printf(
            "both QEMUs -mem-prealloc (TCG), source stopped, max-bandwidth 10 GiB/s\n");
    }
    if (run_downtime && !vmig_guest_write_kernel(bench->kernel_path, &error))
        goto fail;
    if (run_tls)
        bench_write_tls_dirs(bench);

    if (no_daemons) {
        bench->plain.skip = g_strdup("--no-daemons");
        bench->tls.skip = g_strdup("--no-daemons");
    } else {
        g_autofree char *binary =
            daemon_path ? g_strdup(daemon_path) : bench_find_daemon();

        if (run_ratios || run_downtime) {
            bench_pair_start(bench, &bench->plain, binary, NULL);
            if (!bench->plain.skip)
                printf("daemons: %s (source and destination, --bus none)\n", binary);
        }
        if (run_tls) {
            bench_pair_start(bench, &bench->tls, binary, bench->tls_dirs);
            if (!bench->tls.skip)
                printf("TLS daemons: %s (source and destination, --tls-x509-dir, no "
                       "--plaintext-tcp)\n",
                       binary);
        }
    }
    if (bench->plain.skip && (run_ratios || run_downtime))
        printf("daemon runs skipped: %s\n", bench->plain.skip);
    if (bench->tls.skip && run_tls)
        printf("TLS daemon runs skipped: %s\n", bench->tls.skip);
    fflush(stdout);

    if (run_ratios) {
        printf("\n");
        if (!bench_run_ratios(bench, &error))
            goto fail;
        bench_report(bench);
    }
    if (run_downtime) {
        printf(
            "\ndowntime: a running guest, the test kernel dirtying 64 MiB of its %u MiB "
            "(both QEMUs -mem-prealloc, max-bandwidth 10 GiB/s, QEMU's default "
            "downtime-limit), %u runs, interleaved;\nfrom the source QEMU's STOP event "
            "to the destination QEMU's RESUME event, by their own timestamps.\n"
            "direct: the destination QEMU (no -S) resumes by itself once loaded; "
            "daemons: it waits (-S) and its daemon resumes it (\"resume\": true)\n\n",
            BENCH_DOWNTIME_RAM_MIB, bench->runs);
        fflush(stdout);
        if (!bench_run_downtimes(bench, &error))
            goto fail;
        bench_report_downtime(bench);
    }
    if (run_tls) {
        printf("\nTLS: the same stopped guest over TCP loopback (127.0.0.1, ports from "
               "the kernel), %u runs, interleaved (the order rotates);\n"
               "plain: QEMU to QEMU; QEMU-TLS: QEMU to QEMU with its tls-creds-x509 "
               "(verify-peer, tls-hostname 127.0.0.1);\n"
               "daemons-TLS: through two daemons with credentials (TLS between them, "
               "QEMU plaintext to its daemon)\n\n",
               bench->runs);
        fflush(stdout);
        if (!bench_run_tls(bench, &error))
            goto fail;
        bench_report_tls(bench);
    }
    if (bench->plain.skip && (run_ratios || run_downtime))
        printf("\ndaemon runs skipped: %s\n", bench->plain.skip);
    if (bench->tls.skip && run_tls)
        printf("\nTLS daemon runs skipped: %s\n", bench->tls.skip);
    printf("\n%s, TCG; %u CPUs on this host\n",
           bench->hypervisor ? bench->hypervisor : "QEMU", g_get_num_processors());
    for (s = 0; s < BENCH_N_SHAPES; s++)
        for (p = 0; p < BENCH_PATH_LAST; p++)
            failed += bench->downtime_failed[s][p];
    if (failed > 0) {
        fflush(stdout);
        g_printerr("migrate-ratio: %u downtime migration%s failed (see FAILED above)\n",
                   failed, failed == 1 ? "" : "s");
        return 1;
    }
    return 0;

fail:
    g_printerr("migrate-ratio: %s\n", error->message);
    return 1;
}
