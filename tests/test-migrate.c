/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-migrate.c: whole migrations through two virt-migrated daemons
 *
 * Every test starts two real TCG QEMU guests (tests/guest-helper.h) and
 * two real daemons, a source "host" and a destination "host" with runtime
 * directories of their own, and drives them over their control sockets as
 * a management app would.  Memory is compared with pmemsave on both sides
 * through each guest's spare monitor (the daemons hold the first).  Every
 * process is stopped by pid in the teardown, whatever happened.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "fdpass/fd.h"
#include "fdpass/fdpass.h"
#include "fdpass/preamble.h"
#include "negotiate/negotiate.h"
#include "tests/daemon-helper.h"
#include "tests/guest-helper.h"
#include "tests/migrate-helper.h"
#include "tests/testutil.h"

#define WAIT_MS      60000u
#define PATTERN_SIZE (128u << 20)
#define PATTERN_SEED 0x5eed
#define RAM_SIZE     (256ull << 20)

/* The pattern file every test plants, written once per run. */
static char *pattern_dir;
static char *pattern_path;

typedef struct {
    char *tmpdir;
    VmigTestQemu *src_qemu;
    VmigTestQemu *dst_qemu;
    char *src_aux;
    char *dst_aux;
    VmigTestDaemon src;
    VmigTestDaemon dst;
    VmigGuestMonitor *src_ctl;
    VmigGuestMonitor *dst_ctl;
} Fixture;

/* ---- processes ------------------------------------------------------------- */

/*
 * Starts virt-migrated in tmpdir/@name with @extra options, and
 * RLIMIT_NOFILE @fd_limit (0: ours); its log is tmpdir/@name.log.
 */
static void
daemon_start(Fixture *f, VmigTestDaemon *d, const char *name, const char *const *extra,
             guint fd_limit)
{
    g_autofree char *dir = g_build_filename(f->tmpdir, name, NULL);
    g_autofree char *log = g_strdup_printf("%s.log", dir);
    const VmigTestDaemonOptions options = {
        .extra = extra, .verbose = TRUE, .fd_limit = fd_limit};
    g_autoptr(GError) error = NULL;

    vmig_test_daemon_start(d, dir, log, &options, &error);
    g_assert_no_error(error);
}
/* ---- commands ---------------------------------------------------------------- */

/* All RAM equal on both sides, and the planted pattern intact on the destination. */
static void
assert_memory_equal(Fixture *f)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(
        vmig_guest_compare_memory(f->src_aux, f->dst_aux, RAM_SIZE, f->tmpdir, &error));
    g_assert_no_error(error);
    g_assert_true(vmig_guest_verify_pattern(f->dst_aux, VMIG_GUEST_PATTERN_ADDR,
                                            PATTERN_SIZE, PATTERN_SEED, f->tmpdir,
                                            &error));
    g_assert_no_error(error);
}

#define SKIP_WITHOUT_QEMU(f)                                                             \
    do {                                                                                 \
        if (!(f)->src_qemu) {                                                            \
            g_test_skip("qemu-system-x86_64 is not installed");                          \
            return;                                                                      \
        }                                                                                \
    } while (0)

/* ---- fixture ------------------------------------------------------------------ */

typedef struct {
    gboolean kernel;      /* the dirtying kernel on both sides, no pattern */
    gboolean dst_running; /* destination without -S, resumed after the migration */
    guint channels;       /* multifd channels the source asks for */
    gint supplied;        /* fd mode: channels the app supplies; -1: URI mode */
    const char *variant;  /* for the fault tests */
} Case;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *kernel = NULL;
    VmigGuestOptions src = {0}, dst = {0};

    if (!vmig_test_have_qemu())
        return;
    f->tmpdir = g_dir_make_tmp("vmig-migrate-XXXXXX", &error);
    g_assert_no_error(error);
    if (c->kernel) {
        kernel = g_build_filename(f->tmpdir, "kernel.img", NULL);
        g_assert_true(vmig_guest_write_kernel(kernel, &error));
        src.kernel_path = dst.kernel_path = kernel;
    } else {
        src.pattern_path = pattern_path;
    }
    dst.paused = !c->dst_running;
    f->src_qemu = vmig_guest_start_source(&src, &error);
    g_assert_no_error(error);
    f->dst_qemu = vmig_guest_start_destination(&dst, &error);
    g_assert_no_error(error);
    f->src_aux = vmig_guest_aux_qmp_path(f->src_qemu);
    f->dst_aux = vmig_guest_aux_qmp_path(f->dst_qemu);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->src_ctl, vmig_guest_monitor_close);
    g_clear_pointer(&f->dst_ctl, vmig_guest_monitor_close);
    vmig_test_daemon_clear(&f->src);
    vmig_test_daemon_clear(&f->dst);
    g_clear_pointer(&f->src_qemu, vmig_test_qemu_stop);
    g_clear_pointer(&f->dst_qemu, vmig_test_qemu_stop);
    g_free(f->src_aux);
    g_free(f->dst_aux);
    if (f->tmpdir) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmpdir);

        (void)!system(cmd);
        g_free(f->tmpdir);
    }
}

/* Starts both daemons and opens their control sockets. */
static void
start_daemons(Fixture *f)
{
    const char *const extra[] = {"--channel-timeout", "1", NULL};

    daemon_start(f, &f->src, "src-host", extra, 0);
    daemon_start(f, &f->dst, "dst-host", extra, 0);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
}
/* prepare-incoming in URI mode on @f->dst; returns: the listen URI (to free). */
static char *
prepare_uri(Fixture *f, const char *extra_args)
{
    g_autofree char *domain = vmig_test_domain_of(f->dst_qemu);
    g_autofree char *listen = g_strdup_printf("unix:%s/migration.sock", f->tmpdir);
    g_autofree char *args = g_strdup_printf(
        "{\"domain\": \"%s\", \"listen\": \"%s\", \"resume\": %s%s}", domain, listen,
        f->dst_qemu && extra_args && strstr(extra_args, "resume") ? "true" : "false",
        extra_args ? extra_args : "");
    g_autofree char *id =
        vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0);

    g_assert_cmpstr(id, ==, "m1");
    return g_steal_pointer(&listen);
}

/* ---- migrations that work -----------------------------------------------------------
 */

/*
 * A guest with 128 MiB of random data migrates, in URI mode (the source
 * dials the destination's listen socket) or fd mode (the app hands both
 * daemons socket pairs and answers CHANNELS_REQUESTED with @c->supplied
 * more); afterwards all RAM is the same on both sides.
 */
static void assert_transcript(JsonObject *record, gboolean source);

static void
test_migrate(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autofree char *src_domain = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) negotiated = NULL;
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;
    guint expected =
        c->supplied >= 0 ? MIN((guint)c->supplied, c->channels) : c->channels;
    guint src_fds_before = 0;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    src_fds_before = vmig_test_count_fds(f->src.pid);
    src_domain = vmig_test_domain_of(f->src_qemu);
    if (c->supplied < 0) {
        g_autofree char *dest = prepare_uri(f, NULL);
        g_autofree char *args =
            g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": %u, "
                            "\"tunables\": [\"max-bandwidth=4G\"]}",
                            src_domain, dest, c->channels);

        id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    } else {
        int pair[2];
        g_autofree char *dst_domain = vmig_test_domain_of(f->dst_qemu);
        g_autofree char *dst_args =
            g_strdup_printf("{\"domain\": \"%s\", \"resume\": false}", dst_domain);
        g_autofree char *src_args =
            g_strdup_printf("{\"domain\": \"%s\", \"channels\": %u, \"tunables\": "
                            "[\"max-bandwidth=4G\"]}",
                            src_domain, c->channels);
        g_autofree char *dst_id = NULL;

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
        dst_id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", dst_args,
                                      &pair[1], 1);
        id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", src_args, &pair[0], 1);
        close(pair[0]);
        close(pair[1]);
        /* Protocol version 2: QEMU's stream has a data channel of its own,
         * so the app is asked for one more than the multifd channels, even
         * for a single-channel migration, and supplies one more. */
        {
            g_autoptr(JsonObject) request =
                vmig_test_wait_event(f->src_ctl, "CHANNELS_REQUESTED");
            gint supplied = c->supplied + 1;
            g_autofree int *src_fds = g_new(int, supplied);
            g_autofree int *dst_fds = g_new(int, supplied);
            g_autofree char *add = g_strdup_printf("{\"migration\": \"%s\"}", id);
            g_autofree char *add_dst = g_strdup_printf("{\"migration\": \"%s\"}", dst_id);

            g_assert_cmpint(json_object_get_int_member(request, "count"), ==,
                            c->channels + 1);
            g_assert_cmpuint(strlen(json_object_get_string_member(request, "token")), ==,
                             32);
            for (gint i = 0; i < supplied; i++) {
                g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair),
                                ==, 0);
                src_fds[i] = pair[0];
                dst_fds[i] = pair[1];
            }
            {
                g_autoptr(JsonNode) a = vmig_test_execute_fds(
                    f->src_ctl, &f->src, "add-channels", add, src_fds, supplied, &error);
                g_autoptr(JsonNode) b = NULL;

                g_assert_no_error(error);
                /* Exactly what was asked for is kept; the surplus is closed
                 * at once, and the answer says how many. */
                {
                    JsonObject *o = json_node_get_object(a);
                    gint asked = c->channels + 1;
                    gint kept = MIN(supplied, asked);

                    g_assert_cmpint(json_object_get_int_member(o, "accepted"), ==, kept);
                    g_assert_cmpint(json_object_get_int_member(o, "closed"), ==,
                                    supplied - kept);
                    /* Closed, not held: once this test lets go of its own
                     * copy of a surplus end, its peer sees the hang-up. */
                    for (gint i = kept; i < supplied; i++) {
                        struct pollfd p = {.fd = dst_fds[i], .events = POLLIN};
                        char byte;

                        close(src_fds[i]);
                        src_fds[i] = -1;
                        g_assert_cmpint(poll(&p, 1, 5000), ==, 1);
                        g_assert_cmpint(recv(dst_fds[i], &byte, 1, MSG_DONTWAIT), ==, 0);
                    }
                }
                b = vmig_test_execute_fds(f->dst_ctl, &f->dst, "add-channels", add_dst,
                                          dst_fds, supplied, &error);
                g_assert_no_error(error);
                {
                    JsonObject *o = json_node_get_object(b);

                    /* Before the REPLY, the destination keeps what it offered. */
                    g_assert_cmpint(json_object_get_int_member(o, "accepted") +
                                        json_object_get_int_member(o, "closed"),
                                    ==, supplied);
                    g_assert_cmpint(json_object_get_int_member(o, "accepted"), >=,
                                    MIN(supplied, (gint)c->channels + 1));
                }
                for (gint i = 0; i < supplied; i++) {
                    if (src_fds[i] >= 0)
                        close(src_fds[i]);
                    close(dst_fds[i]);
                }
            }
        }
    }
    g_assert_cmpstr(id, ==, "m1");

    negotiated = vmig_test_wait_event(f->src_ctl, "NEGOTIATED");
    g_assert_cmpint(json_object_get_int_member(negotiated, "channels"), ==, expected);
    g_assert_cmpint(json_object_get_int_member(negotiated, "requested-channels"), ==,
                    c->channels);
    err = vmig_test_wait_done(f->src_ctl, "completed");
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "completed");

    /* Both daemons answer query-migration with the same choice. */
    {
        g_autoptr(JsonNode) src_rec =
            vmig_test_execute_fds(f->src_ctl, &f->src, "query-migration",
                                  "{\"migration\": \"m1\"}", NULL, 0, &error);
        g_autoptr(JsonNode) dst_rec =
            vmig_test_execute_fds(f->dst_ctl, &f->dst, "query-migration",
                                  "{\"migration\": \"m1\"}", NULL, 0, &error);
        JsonObject *sc =
            json_object_get_object_member(json_node_get_object(src_rec), "channels");
        JsonObject *dc =
            json_object_get_object_member(json_node_get_object(dst_rec), "channels");

        g_assert_no_error(error);
        g_assert_cmpint(json_object_get_int_member(sc, "received"), ==, expected);
        g_assert_cmpint(json_object_get_int_member(dc, "received"), ==, expected);
        g_assert_cmpint(
            json_object_get_int_member(json_node_get_object(src_rec), "version"), ==, 2);
        g_assert_true(json_node_equal(
            json_object_get_member(json_node_get_object(src_rec), "version"),
            json_object_get_member(json_node_get_object(dst_rec), "version")));
        assert_transcript(json_node_get_object(src_rec), TRUE);
        assert_transcript(json_node_get_object(dst_rec), FALSE);
    }
    {
        g_autofree char *src_status = vmig_test_guest_status_settled(f->src_aux);
        g_autofree char *dst_status = vmig_test_guest_status(f->dst_aux);

        g_assert_cmpstr(src_status, ==, "postmigrate");
        g_assert_cmpstr(dst_status, ==, "paused");
    }
    assert_memory_equal(f);
    /* A finished migration holds no fd: the kept channels went with it and
     * the surplus never stayed.  Bounded wait: the daemon may still be
     * closing what the migration's last turn released. */
    {
        gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;

        while (vmig_test_count_fds(f->src.pid) != src_fds_before &&
               g_get_monotonic_time() < deadline)
            g_usleep(20 * 1000);
        g_assert_cmpuint(vmig_test_count_fds(f->src.pid), ==, src_fds_before);
    }
}

/*
 * The record's transcript and figures (docs/migration.md): the handshake's
 * four frames first, in order, each in the direction of @role; the sizes
 * add up to the handshake's byte counts (the 4-byte opener aside); times
 * never go back; the token shown redacted.  A source that completed has
 * QEMU's figures, and the device state is a part of the stream.
 */
static void
assert_transcript(JsonObject *record, gboolean source)
{
    static const char *const types[] = {"GREETING", "REPLY", "COMMIT", "READY"};
    /* The source receives GREETING and READY, and sends the two between. */
    static const gboolean src_sends[] = {FALSE, TRUE, TRUE, FALSE};
    JsonObject *transcript = json_object_get_object_member(record, "transcript");
    JsonObject *handshake = json_object_get_object_member(record, "handshake");
    JsonObject *beats = json_object_get_object_member(transcript, "heartbeats");
    JsonArray *frames = json_object_get_array_member(transcript, "frames");
    JsonObject *stats = json_object_get_object_member(record, "stats");
    gint64 sent = VMIG_PREAMBLE_MAGIC_SIZE * source,
           received = VMIG_PREAMBLE_MAGIC_SIZE * !source;
    gint64 last = 0;

    g_assert_cmpuint(json_array_get_length(frames), >=, G_N_ELEMENTS(types));
    for (guint i = 0; i < json_array_get_length(frames); i++) {
        JsonObject *frame = json_array_get_object_element(frames, i);
        JsonObject *items = json_object_get_object_member(frame, "items");
        const char *direction = json_object_get_string_member(frame, "direction");
        gint64 ms = json_object_get_int_member(frame, "milliseconds");
        gint64 bytes = json_object_get_int_member(frame, "bytes");

        if (i < G_N_ELEMENTS(types)) {
            g_assert_cmpstr(json_object_get_string_member(frame, "type"), ==, types[i]);
            g_assert_cmpstr(direction, ==, src_sends[i] == source ? "sent" : "received");
        }
        if (g_str_equal(json_object_get_string_member(frame, "type"), "REPLY"))
            g_assert_cmpstr(json_object_get_string_member(items, "token"), ==,
                            "redacted");
        g_assert_cmpint(bytes, >=, 12);
        g_assert_cmpint(ms, >=, last);
        last = ms;
        if (g_str_equal(direction, "sent"))
            sent += bytes;
        else
            received += bytes;
    }
    g_assert_false(json_object_has_member(transcript, "dropped"));
    sent += json_object_get_int_member(beats, "bytes-sent");
    received += json_object_get_int_member(beats, "bytes-received");
    g_assert_cmpint(sent, ==, json_object_get_int_member(handshake, "bytes-sent"));
    g_assert_cmpint(received, ==,
                    json_object_get_int_member(handshake, "bytes-received"));

    g_assert_nonnull(stats);
    g_assert_cmpint(json_object_get_int_member(stats, "handshake-us"), >, 0);
    g_assert_cmpint(json_object_get_int_member(stats, "handshake-us") / 1000, ==,
                    json_object_get_int_member(handshake, "milliseconds"));
    /* Version 2: the switchover is a round trip of frames on both sides. */
    g_assert_cmpint(json_object_get_int_member(stats, "switchover-us"), >, 0);
    if (source) {
        gint64 total = json_object_get_int_member(stats, "transferred");
        gint64 device = json_object_get_int_member(stats, "device-state");
        gint64 total_time = json_object_get_int_member(stats, "total-time");

        /* QEMU counts whole ms: a setup (seen here) or a downtime under
         * 1 ms reads 0, so these are there and within the total. */
        g_assert_cmpint(total_time, >, 0);
        g_assert_true(json_object_has_member(stats, "setup-time"));
        g_assert_true(json_object_has_member(stats, "downtime"));
        g_assert_cmpint(json_object_get_int_member(stats, "setup-time"), <=, total_time);
        g_assert_cmpint(json_object_get_int_member(stats, "downtime"), <=, total_time);
        g_assert_cmpint(json_object_get_int_member(stats, "ram-transferred"), >, 0);
        g_assert_cmpint(json_object_get_int_member(stats, "ram-normal-bytes"), >, 0);
        g_assert_cmpint(device, >, 0);
        g_assert_cmpint(device, <, total);
        g_assert_cmpint(device + json_object_get_int_member(stats, "ram-transferred"), ==,
                        total);
    }
}

/*
 * A guest that dirties memory while it migrates (the multiboot kernel of
 * tests/guest-helper.c): the migration converges, and the guest's counter
 * keeps rising on the destination, which the driver resumed.
 */
static void
test_dirty(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    guint32 before = 0, first = 0, second = 0;

    SKIP_WITHOUT_QEMU(f);
    /* Under TCG the firmware takes a while before the kernel starts counting. */
    for (gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC; before == 0;) {
        g_assert_true(vmig_guest_read_counter(f->src_aux, &before, &error));
        g_assert_no_error(error);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50 * 1000);
    }
    start_daemons(f);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dest = prepare_uri(f, ", \"resume\": true");
    args =
        g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 2, "
                        "\"tunables\": [\"max-bandwidth=4G\", \"downtime-limit=500\"]}",
                        src_domain, dest);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    err = vmig_test_wait_done(f->src_ctl, "completed");
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "completed");
    /* A guest that dirties its RAM: the transcript and figures hold too,
     * heartbeats included when it ran long enough for them. */
    for (gint side = 0; side < 2; side++) {
        g_autoptr(JsonNode) record = vmig_test_execute_fds(
            side ? f->dst_ctl : f->src_ctl, side ? &f->dst : &f->src, "query-migration",
            "{\"migration\": \"m1\"}", NULL, 0, &error);

        g_assert_no_error(error);
        assert_transcript(json_node_get_object(record), side == 0);
    }

    g_assert_true(vmig_guest_read_counter(f->dst_aux, &first, &error));
    g_assert_no_error(error);
    g_usleep(300 * 1000);
    g_assert_true(vmig_guest_read_counter(f->dst_aux, &second, &error));
    g_assert_no_error(error);
    g_test_message("counter: %u before, %u then %u on the destination", before, first,
                   second);
    g_assert_cmpuint(first, >, before);
    g_assert_cmpuint(second, >, first);
}

/* ---- refusals and faults
 * --------------------------------------------------------------- */

/*
 * The destination's policy forbids multifd while the source requires it:
 * refused before any guest byte moves, both sides report the same reason,
 * and the source guest keeps running.
 */
static void
test_mismatch(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *src_err = NULL;
    g_autofree char *dst_err = NULL;
    g_autofree char *status = NULL;
    g_autoptr(JsonNode) info = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dest = prepare_uri(f, ", \"no-features\": [\"multifd\"]");
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 4, "
                           "\"require-features\": [\"multifd\"]}",
                           src_domain, dest);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    src_err = vmig_test_wait_done(f->src_ctl, "failed");
    dst_err = vmig_test_wait_done(f->dst_ctl, "failed");
    g_assert_cmpstr(
        src_err, ==,
        "feature 'multifd' is required by the source but the destination does "
        "not offer it");
    g_assert_cmpstr(dst_err, ==, src_err);

    /* The transcript shows the refusal: GREETING, then the source's ERROR
     * with its code and words, seen from both sides. */
    for (gint side = 0; side < 2; side++) {
        g_autoptr(JsonNode) record = vmig_test_execute_fds(
            side ? f->dst_ctl : f->src_ctl, side ? &f->dst : &f->src, "query-migration",
            "{\"migration\": \"m1\"}", NULL, 0, &error);
        JsonObject *transcript;
        JsonArray *frames;
        JsonObject *greeting, *refusal, *items;

        g_assert_no_error(error);
        transcript =
            json_object_get_object_member(json_node_get_object(record), "transcript");
        frames = json_object_get_array_member(transcript, "frames");
        g_assert_cmpuint(json_array_get_length(frames), ==, 2);
        greeting = json_array_get_object_element(frames, 0);
        refusal = json_array_get_object_element(frames, 1);
        g_assert_cmpstr(json_object_get_string_member(greeting, "type"), ==, "GREETING");
        g_assert_cmpstr(json_object_get_string_member(greeting, "direction"), ==,
                        side ? "sent" : "received");
        g_assert_cmpstr(json_object_get_string_member(refusal, "type"), ==, "ERROR");
        g_assert_cmpstr(json_object_get_string_member(refusal, "direction"), ==,
                        side ? "received" : "sent");
        items = json_object_get_object_member(refusal, "items");
        g_assert_cmpint(json_object_get_int_member(items, "code"), ==,
                        VMIG_NEGOTIATE_CODE_FEATURE);
        g_assert_cmpstr(json_object_get_string_member(items, "message"), ==, src_err);
    }

    /* No guest byte moved: QEMU never started a migration, and the guest runs. */
    status = vmig_test_guest_status(f->src_aux);
    g_assert_cmpstr(status, ==, "running");
    g_assert_true(vmig_guest_qmp(f->src_aux, "query-migrate", NULL, &info, &error));
    g_assert_false(json_object_has_member(json_node_get_object(info), "status"));
}

/*
 * Compression asked is compression required: the source asks for
 * multifd-compression=zstd, and the destination cannot do it.  Debian's
 * QEMU 7.2 has zstd, so what takes it away is real all the same: the
 * destination driver's policy (no-features), which keeps the feature out
 * of its GREETING.  Refused before any guest byte moves, both sides say
 * why, and the source guest keeps running.
 */
static void
test_compression_refused(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    /* No channels: the destination offers zstd, but without multifd there is
     * nothing to compress, and what was asked cannot be had either. */
    const char *expected =
        c->channels ? "tunable multifd-compression=zstd was asked for, but the "
                      "destination does not offer multifd-compression: its QEMU "
                      "cannot do it or its driver's policy forbids it"
                    : "tunable multifd-compression=zstd was asked for, but feature "
                      "'multifd-compression' cannot be used: multifd is not used";
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *src_err = NULL;
    g_autofree char *dst_err = NULL;
    g_autofree char *status = NULL;
    g_autoptr(JsonNode) info = NULL;
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dest = prepare_uri(f, c->channels ? ", \"no-features\": [\"multifd-compression\"]"
                                      : NULL);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": %u, "
                           "\"tunables\": [\"multifd-compression=zstd\"]}",
                           src_domain, dest, c->channels);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    src_err = vmig_test_wait_done(f->src_ctl, "failed");
    dst_err = vmig_test_wait_done(f->dst_ctl, "failed");
    g_assert_cmpstr(src_err, ==, expected);
    g_assert_cmpstr(dst_err, ==, src_err);
    /* The destination's record keeps the reason too. */
    record = vmig_test_execute_fds(f->dst_ctl, &f->dst, "query-migration",
                                   "{\"migration\": \"m1\"}", NULL, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(record), "error"),
                    ==, src_err);

    /* No guest byte moved: QEMU never started a migration, and the guest runs. */
    status = vmig_test_guest_status(f->src_aux);
    g_assert_cmpstr(status, ==, "running");
    g_assert_true(vmig_guest_qmp(f->src_aux, "query-migrate", NULL, &info, &error));
    g_assert_false(json_object_has_member(json_node_get_object(info), "status"));
}

/* Connects to the unix socket in @uri and reads the destination's hello.  Returns: the
 * fd. */
static int
connect_uri(const char *uri)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_true(g_str_has_prefix(uri, "unix:"));
    strcpy(addr.sun_path, uri + 5);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    vmig_test_expect_hello(fd);
    return fd;
}

/*
 * Strangers on the destination's listen socket — garbage, a preamble with
 * a wrong token — are dropped, and the migration that follows is
 * unaffected.  (A test client plays the stranger: no real peer sends
 * these.)
 */
static void
test_strangers(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    g_auto(VmigFd) garbage = -1;
    g_auto(VmigFd) wrong = -1;
    guint8 preamble[VMIG_PREAMBLE_SIZE] = {'V', 'M', 'G', 'C'};
    char buf[1];

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dest = prepare_uri(f, NULL);
    garbage = connect_uri(dest);
    g_assert_cmpint(write(garbage, "GET / HTTP/1.0\r\n\r\n", 18), ==, 18);
    wrong = connect_uri(dest);
    memset(preamble + 4, 0xa5, VMIG_TOKEN_SIZE);
    g_assert_cmpint(write(wrong, preamble, sizeof(preamble)), ==, sizeof(preamble));
    /* The garbage is dropped at once (with the rest of its bytes unread, the
     * close reaches us as a reset rather than an end of file). */
    g_assert_true(read(garbage, buf, 1) == 0 || errno == ECONNRESET);

    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 2, "
                           "\"tunables\": [\"max-bandwidth=4G\"]}",
                           src_domain, dest);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    err = vmig_test_wait_done(f->src_ctl, "completed");
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "completed");
    /* The wrong token was dropped once the REPLY named the real one. */
    g_assert_true(read(wrong, buf, 1) == 0 || errno == ECONNRESET);
    assert_memory_equal(f);
}

/* Returns: a broken frame of the kind @variant names. */
static GBytes *
broken_frame(const char *variant, VmigNegotiateFrameType type)
{
    g_autoptr(VmigNegotiateMessage) msg = vmig_negotiate_message_new(type);
    g_autoptr(GBytes) good = NULL;
    g_autofree guint8 *data = NULL;
    gsize len;

    vmig_negotiate_message_add_version(msg, 1);
    msg->hypervisor = g_strdup("QEMU 7.2");
    msg->driver = g_strdup("a test playing the peer driver");
    msg->max_channels = 4;
    msg->channels = 0;
    good = vmig_negotiate_encode(msg, NULL);
    g_assert_nonnull(good);
    data = g_memdup2(g_bytes_get_data(good, NULL), g_bytes_get_size(good));
    len = g_bytes_get_size(good);
    if (g_str_equal(variant, "wrong-magic")) {
        data[0] = 'X';
    } else if (g_str_equal(variant, "oversized")) {
        data[8] = 0x00;
        data[9] = 0x10; /* 1 MiB body */
    } else if (g_str_equal(variant, "truncated")) {
        len -= 3;
    }
    return g_bytes_new(data, len);
}

/*
 * Starts a migration of the source's guest to a unix socket @name in the
 * test's directory, where the test plays the peer.  Returns: the peer's
 * end of the source's main channel (accepted, nothing read or written),
 * with the socket's path in *@path (to free).
 */
static int
migrate_to_test_peer(Fixture *f, const char *name, char **path)
{
    g_autofree char *src_domain = vmig_test_domain_of(f->src_qemu);
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_auto(VmigFd) lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int peer;

    *path = g_strdup_printf("%s/%s", f->tmpdir, name);
    strcpy(addr.sun_path, *path);
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    args =
        g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"unix:%s\"}", src_domain, *path);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    peer = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(peer, >=, 0);
    return peer;
}

/*
 * A peer driver that sends a malformed GREETING (or REPLY): that migration
 * fails with a clear error, the source guest keeps running, and the
 * daemon goes on serving.  (The test plays the broken peer: a real driver
 * never sends these.)
 */
static void
test_malformed_greeting(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autofree char *src_domain = NULL;
    g_autofree char *listen_path = NULL;
    g_autofree char *err = NULL;
    g_autofree char *status = NULL;
    g_autoptr(GBytes) frame = broken_frame(c->variant, VMIG_NEGOTIATE_FRAME_GREETING);
    g_auto(VmigFd) peer = -1;
    guint8 opener[4];

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    src_domain = vmig_test_domain_of(f->src_qemu);
    peer = migrate_to_test_peer(f, "fake-peer.sock", &listen_path);
    g_assert_cmpint(write(peer, "VMGH", 4), ==, 4);
    g_assert_cmpint(read(peer, opener, 4), ==, 4);
    g_assert_cmpmem(opener, 4, "VMGM", 4);
    g_assert_cmpint(write(peer, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame)),
                    ==, (gssize)g_bytes_get_size(frame));
    if (g_str_equal(c->variant, "truncated"))
        vmig_fd_clear(&peer);
    err = vmig_test_wait_done(f->src_ctl, "failed");
    g_test_message("the source says: %s", err);
    if (g_str_equal(c->variant, "wrong-magic"))
        g_assert_nonnull(strstr(err, "bad frame magic 0x584d4752"));
    else if (g_str_equal(c->variant, "oversized"))
        g_assert_nonnull(strstr(err, "over the 65536-byte limit"));
    else
        g_assert_nonnull(strstr(err, "closed the main channel mid-frame"));
    status = vmig_test_guest_status(f->src_aux);
    g_assert_cmpstr(status, ==, "running");

    /* The daemon goes on: the same source migrates for real next. */
    {
        g_autofree char *dest = prepare_uri(f, NULL);
        g_autofree char *next = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                                                "\"tunables\": [\"max-bandwidth=4G\"]}",
                                                src_domain, dest);
        g_autofree char *id2 =
            vmig_test_execute_id(f->src_ctl, &f->src, "migrate", next, NULL, 0);
        g_autofree char *e2 = NULL;

        g_assert_cmpstr(id2, ==, "m2");
        e2 = vmig_test_wait_done(f->src_ctl, "completed");
        g_free(e2);
        e2 = vmig_test_wait_done(f->dst_ctl, "completed");
    }
}

/*
 * The source writes nothing before the destination driver's hello: a peer
 * that says nothing (a QEMU waiting for a migration stream says nothing)
 * or says something else gets no byte, and the migration fails naming it.
 * (A test listener plays the peer that is no driver.)
 */
static void assert_fds_back(VmigTestDaemon *d, guint fds);

static void
test_not_a_driver(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    gboolean silent = g_str_equal(c->variant, "silent");
    g_autofree char *listen_path = NULL;
    g_autofree char *err = NULL;
    g_autofree char *status = NULL;
    g_auto(VmigFd) peer = -1;
    char byte;
    guint base;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    base = vmig_test_count_fds(f->src.pid);
    peer = migrate_to_test_peer(f, "not-a-driver.sock", &listen_path);
    if (!silent)
        g_assert_cmpint(write(peer, "SSH-2.0-OpenSSH_9.2\r\n", 21), ==, 21);
    err = vmig_test_wait_done(f->src_ctl, "failed");
    g_test_message("the source says: %s", err);
    if (silent)
        g_assert_nonnull(strstr(err, "no virt-migrate driver answered"));
    else
        g_assert_nonnull(strstr(err, "is no virt-migrate driver: it sent 'SSH-'"));
    g_assert_nonnull(strstr(err, listen_path));
    /* Not a byte came: the connection is closed or held, never written. */
    g_assert_cmpint(recv(peer, &byte, 1, MSG_DONTWAIT), <=, 0);
    status = vmig_test_guest_status(f->src_aux);
    g_assert_cmpstr(status, ==, "running");
    if (silent) {
        g_autofree char *log = NULL;

        /* Held (docs/migration.md, "Legacy peers") until the peer speaks,
         * which a QEMU waiting for a stream never does: then closed. */
        g_assert_cmpuint(vmig_test_count_fds(f->src.pid), ==, base + 1);
        g_assert_cmpint(write(peer, "?", 1), ==, 1);
        assert_fds_back(&f->src, base);
        log = vmig_test_daemon_log_tail(&f->src);
        g_assert_nonnull(strstr(log, "the peer sent 1 bytes"));
    } else {
        assert_fds_back(&f->src, base);
    }
}

static void assert_fds_back(VmigTestDaemon *d, guint fds);

/* Waits (at most 40 s) until @d's log has @text, and asserts it does. */
static void
assert_log_has(VmigTestDaemon *d, const char *text)
{
    gint64 deadline = g_get_monotonic_time() + 40 * G_USEC_PER_SEC;

    for (;;) {
        g_autofree char *log = NULL;

        g_assert_true(g_file_get_contents(d->log, &log, NULL, NULL));
        if (strstr(log, text))
            return;
        if (g_get_monotonic_time() >= deadline)
            g_error("'%s' is not in %s's log", text, d->log);
        g_usleep(50 * 1000);
    }
}

/*
 * The bounds of held connections (--legacy-max-held, --legacy-hold) and of
 * the wait for a hello (--hello-timeout), shortened: three peers that say
 * nothing are refused in turn; the first is closed when the third comes
 * (at most two held), the others when their time is up.  (Silent test
 * listeners play the peers with no driver: what is tested is the daemon's
 * bounds, and a QEMU waiting with -incoming says nothing either.)
 */
static void
test_held_bounds(Fixture *f, gconstpointer data)
{
    /* Held long enough that none is due before the third is refused, even
     * on a loaded machine (each refusal takes the 1 s hello timeout). */
    const char *const extra[] = {
        "--hello-timeout", "1", "--legacy-hold", "15", "--legacy-max-held", "2", NULL};
    int peers[3] = {-1, -1, -1};
    guint base;
    char byte;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, "src-host", extra, 0);
    f->src_ctl = vmig_test_control_open(&f->src);
    base = vmig_test_count_fds(f->src.pid);
    for (guint i = 0; i < G_N_ELEMENTS(peers); i++) {
        g_autofree char *name = g_strdup_printf("silent-%u.sock", i);
        g_autofree char *path = NULL;
        g_autofree char *err = NULL;

        peers[i] = migrate_to_test_peer(f, name, &path);
        err = vmig_test_wait_done(f->src_ctl, "failed");
        g_assert_nonnull(strstr(err, "within 1000 ms"));
        g_assert_nonnull(strstr(err, "the connection is held for 15 s"));
    }
    /* At most two held: the first was closed for the third. */
    assert_log_has(&f->src, "it is the oldest of the 2 held at most");
    g_assert_cmpint(recv(peers[0], &byte, 1, 0), ==, 0);
    g_assert_cmpint(recv(peers[1], &byte, 1, MSG_DONTWAIT), ==, -1);
    g_assert_cmpint(errno, ==, EAGAIN);
    g_assert_cmpuint(vmig_test_count_fds(f->src.pid), ==, base + 2);
    /* ... and those go when their time is up. */
    assert_log_has(&f->src, "its time is up");
    assert_fds_back(&f->src, base);
    g_assert_cmpint(recv(peers[2], &byte, 1, 0), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(peers); i++)
        close(peers[i]);
}

/* ---- legacy peers: a QEMU waiting with -incoming, no driver there ---------------- */

static int run_cli(VmigTestDaemon *d, const char *const *args, char **out, char **err);

/*
 * Has @f's destination QEMU (started with -incoming defer, so that its
 * spare monitor is there at once) wait for a stream at @variant's kind of
 * address, as `-incoming unix:PATH` or `tcp:127.0.0.1:PORT` would.
 * Returns: the address (to free).
 */
static char *
legacy_listen(Fixture *f, gboolean tcp)
{
    g_autofree char *uri =
        tcp ? g_strdup_printf("tcp:127.0.0.1:%u", vmig_test_free_port())
            : g_strdup_printf("unix:%s/plain-qemu.sock", f->tmpdir);
    g_autofree char *args = g_strdup_printf("{\"uri\": \"%s\"}", uri);
    g_autoptr(GError) error = NULL;

    g_assert_true(vmig_guest_qmp(f->dst_aux, "migrate-incoming", args, NULL, &error));
    g_assert_no_error(error);
    return g_steal_pointer(&uri);
}

/* Asserts that the destination QEMU is alive and still waits for its stream. */
static void
assert_still_waiting(Fixture *f)
{
    g_autofree char *status = NULL;

    g_assert_cmpint(kill(f->dst_qemu->pid, 0), ==, 0);
    status = vmig_test_guest_status(f->dst_aux);
    g_assert_cmpstr(status, ==, "inmigrate");
}

/* Waits (bounded) for daemon @d to hold @fds fds again, and asserts it does. */
static void
assert_fds_back(VmigTestDaemon *d, guint fds)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (vmig_test_count_fds(d->pid) != fds && g_get_monotonic_time() < deadline)
        g_usleep(20 * 1000);
    g_assert_cmpuint(vmig_test_count_fds(d->pid), ==, fds);
}

/*
 * Asserts the record of source migration @id, which went to a peer with no
 * driver through a connection that came as @how says.
 */
static void
assert_legacy_record(Fixture *f, const char *id, const char *how)
{
    g_autofree char *args = g_strdup_printf("{\"migration\": \"%s\"}", id);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = vmig_test_execute_fds(
        f->src_ctl, &f->src, "query-migration", args, NULL, 0, &error);
    JsonObject *record;
    JsonArray *declined;
    JsonArray *lost;

    g_assert_no_error(error);
    record = json_node_get_object(node);
    g_assert_cmpstr(json_object_get_string_member(record, "peer-driver"), ==,
                    "no driver");
    g_assert_cmpstr(json_object_get_string_member(record, "peer-connection"), ==, how);
    g_assert_false(json_object_has_member(record, "version"));
    g_assert_false(json_object_has_member(record, "offered"));
    g_assert_cmpuint(
        json_array_get_length(json_object_get_array_member(record, "features")), ==, 0);
    declined = json_object_get_array_member(record, "declined");
    g_assert_cmpuint(json_array_get_length(declined), >, 0);
    for (guint i = 0; i < json_array_get_length(declined); i++)
        g_assert_cmpstr(json_object_get_string_member(
                            json_array_get_object_element(declined, i), "reason"),
                        ==, "the destination has no driver");
    lost = json_object_get_array_member(record, "lost-guarantees");
    g_assert_cmpstr(json_array_get_string_element(lost, 0), ==, "confirmed switchover");
    /* The source-only tunable was set, and the record says so. */
    g_assert_true(json_object_has_member(
        json_object_get_object_member(json_object_get_object_member(record, "tunables"),
                                      "source"),
        "max-bandwidth"));
}

/*
 * Migrates @f's source to @uri with @members (JSON members after a comma,
 * or "") and waits for its end, which must be @result.
 * Returns: its error (to free), or NULL.
 */
static char *
legacy_migrate(Fixture *f, const char *uri, const char *members, const char *result)
{
    g_autofree char *domain = vmig_test_domain_of(f->src_qemu);
    g_autofree char *args =
        g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\"%s}", domain, uri, members);
    char *err;

    g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0));
    err = vmig_test_wait_done(f->src_ctl, result);
    g_test_message("the source says: %s", err ? err : result);
    return err;
}

/*
 * A legacy migration reports progress and is cancelled as any other
 * (migrate_cancel): the source guest runs on, its parameters are put back,
 * and the daemon's fds are back at @base.
 */
static void
test_legacy_cancel(Fixture *f, const char *uri, guint base)
{
    g_autofree char *domain = vmig_test_domain_of(f->src_qemu);
    g_autofree char *args = g_strdup_printf(
        "{\"domain\": \"%s\", \"dest\": \"%s\", \"legacy\": true, \"tunables\": "
        "[\"max-bandwidth=16M\"]}",
        domain, uri);
    g_autofree char *err = NULL;
    g_autofree char *status = NULL;
    g_autoptr(JsonObject) progress = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(JsonNode) params = NULL;
    g_autoptr(JsonNode) before = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(
        vmig_guest_qmp(f->src_aux, "query-migrate-parameters", NULL, &before, &error));
    g_assert_no_error(error);
    g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0));
    progress = vmig_test_wait_event(f->src_ctl, "MIGRATION_PROGRESS");
    ret = vmig_test_execute_fds(f->src_ctl, &f->src, "cancel", "{\"migration\": \"m1\"}",
                                NULL, 0, &error);
    g_assert_no_error(error);
    err = vmig_test_wait_done(f->src_ctl, "cancelled");
    status = vmig_test_migration_settle(f->src_qemu, f->src_aux, 30);
    g_assert_false(vmig_test_migration_running(status));
    g_clear_pointer(&status, g_free);
    status = vmig_test_guest_status(f->src_aux);
    g_assert_cmpstr(status, ==, "running");
    /* The end put max-bandwidth back. */
    g_assert_true(
        vmig_guest_qmp(f->src_aux, "query-migrate-parameters", NULL, &params, &error));
    g_assert_no_error(error);
    g_assert_cmpint(
        json_object_get_int_member(json_node_get_object(params), "max-bandwidth"), ==,
        json_object_get_int_member(json_node_get_object(before), "max-bandwidth"));
    assert_fds_back(&f->src, base);
}

/*
 * A plain QEMU waiting with -incoming (no driver on its host): with
 * "legacy" the source's QEMU migrates straight into the connection
 * (unix:, tcp:, and one the app supplies); without it, or with something only drivers on
 * both sides can agree on, the migration fails with the reason and the connection is
 * held, so the QEMU keeps waiting; a later legacy migration to the same address takes the
 * held connection.  Held connections go when the QEMU there dies.
 */
static void
test_legacy(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    gboolean tcp = g_str_equal(c->variant, "tcp");
    const char *const allowed =
        ", \"legacy\": true, \"tunables\": [\"max-bandwidth=4G\"]";
    g_autofree char *src_domain = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *err = NULL;
    g_autofree char *status = NULL;
    guint base;

    SKIP_WITHOUT_QEMU(f);
    /* The test daemons run with --plaintext-tcp (daemon-helper.h). */
    start_daemons(f);
    base = vmig_test_count_fds(f->src.pid);
    src_domain = vmig_test_domain_of(f->src_qemu);
    uri = legacy_listen(f, tcp);

    if (tcp) {
        /* The command line, as an operator would. */
        const char *const migrate[] = {
            "migrate",   src_domain,         uri, "--allow-legacy",
            "--tunable", "max-bandwidth=4G", NULL};
        const char *const features[] = {"features", "m1", NULL};
        const char *const xml[] = {"features", "m1", "--xml", NULL};
        g_autofree char *out = NULL;
        g_autofree char *cli_err = NULL;

        g_assert_cmpint(run_cli(&f->src, migrate, &out, &cli_err), ==, 0);
        g_assert_nonnull(strstr(out, "Migration m1 completed"));
        assert_legacy_record(f, "m1", "dialled");
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&cli_err, g_free);
        g_assert_cmpint(run_cli(&f->src, features, &out, &cli_err), ==, 0);
        g_assert_nonnull(strstr(out, "no driver"));
        g_assert_nonnull(strstr(out, "Peer connection"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&cli_err, g_free);
        g_assert_cmpint(run_cli(&f->src, xml, &out, &cli_err), ==, 0);
        g_assert_nonnull(strstr(out, "<peer-driver>no driver</peer-driver>"));
        g_assert_nonnull(strstr(out, "<peer-connection>dialled</peer-connection>"));
    } else if (g_str_equal(c->variant, "unix")) {
        err = legacy_migrate(f, uri, allowed, "completed");
        assert_legacy_record(f, "m1", "dialled");
    } else if (g_str_equal(c->variant, "fd")) {
        /* fd mode: the app connected to the QEMU and hands the connection over. */
        g_autofree char *args = g_strdup_printf("{\"domain\": \"%s\", \"legacy\": true, "
                                                "\"tunables\": [\"max-bandwidth=4G\"]}",
                                                src_domain);
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        strcpy(addr.sun_path, uri + strlen("unix:"));
        g_assert_cmpint(connect(conn, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
        g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, &conn, 1));
        close(conn);
        err = vmig_test_wait_done(f->src_ctl, "completed");
        assert_legacy_record(f, "m1", "the management app's");
    } else if (g_str_equal(c->variant, "refused-then-held")) {
        err = legacy_migrate(f, uri, "", "failed");
        g_assert_nonnull(strstr(err, "no virt-migrate driver answered at"));
        g_assert_nonnull(strstr(err, uri));
        g_assert_nonnull(strstr(err, "--allow-legacy"));
        g_assert_nonnull(strstr(err, "the connection is held for 600 s"));
        assert_still_waiting(f);
        status = vmig_test_guest_status(f->src_aux);
        g_assert_cmpstr(status, ==, "running");
        g_clear_pointer(&err, g_free);
        g_clear_pointer(&status, g_free);
        /* Legacy allowed now: the held connection is taken, not dialled. */
        err = legacy_migrate(f, uri, allowed, "completed");
        assert_legacy_record(f, "m2", "held since migration m1's refusal");
    } else if (g_str_equal(c->variant, "needs-both-sides")) {
        err = legacy_migrate(f, uri,
                             ", \"legacy\": true, \"tunables\": [\"max-bandwidth=4G\", "
                             "\"multifd-channels=4\", \"xbzrle=true\"]",
                             "failed");
        g_assert_nonnull(strstr(err, "cannot be done: tunables that the destination QEMU "
                                     "must match were asked for (multifd-channels, "
                                     "xbzrle)"));
        assert_still_waiting(f);
        g_clear_pointer(&err, g_free);
        /* A required feature is refused the same way (the held connection again). */
        err = legacy_migrate(
            f, uri, ", \"legacy\": true, \"require-features\": [\"return-path\"]",
            "failed");
        g_assert_nonnull(strstr(err, "features were required (return-path)"));
        assert_still_waiting(f);
        status = vmig_test_guest_status(f->src_aux);
        g_assert_cmpstr(status, ==, "running");
        /* The held connection is the daemon's only new fd. */
        g_assert_cmpuint(vmig_test_count_fds(f->src.pid), ==, base + 1);
        return;
    } else if (g_str_equal(c->variant, "cancel")) {
        test_legacy_cancel(f, uri, base);
        return;
    } else if (g_str_equal(c->variant, "held-peer-dies")) {
        g_autofree char *log = NULL;

        err = legacy_migrate(f, uri, "", "failed");
        assert_still_waiting(f);
        g_assert_cmpuint(vmig_test_count_fds(f->src.pid), ==, base + 1);
        /* The QEMU that waited dies: the daemon sees the hangup, closes. */
        g_clear_pointer(&f->dst_qemu, vmig_test_qemu_stop);
        assert_fds_back(&f->src, base);
        log = vmig_test_daemon_log_tail(&f->src);
        g_assert_nonnull(strstr(log, "the peer closed it"));
        return;
    } else {
        g_assert_not_reached();
    }
    status = vmig_test_guest_status_settled(f->src_aux);
    g_assert_cmpstr(status, ==, "postmigrate");
    g_clear_pointer(&status, g_free);
    status = vmig_test_guest_status(f->dst_aux);
    g_assert_cmpstr(status, ==, "paused");
    assert_memory_equal(f);
    assert_fds_back(&f->src, base);
}

/* The same from the other side: a broken REPLY reaches the destination. */
static void
test_malformed_reply(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autofree char *dest = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GBytes) frame = broken_frame(c->variant, VMIG_NEGOTIATE_FRAME_REPLY);
    g_auto(VmigFd) peer = -1;
    guint8 buf[4096];
    g_autoptr(JsonNode) version = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *status = NULL;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    dest = prepare_uri(f, NULL);
    peer = connect_uri(dest);
    g_assert_cmpint(write(peer, "VMGM", 4), ==, 4);
    g_assert_cmpint(read(peer, buf, sizeof(buf)), >,
                    VMIG_NEGOTIATE_HEADER_SIZE); /* GREETING */
    g_assert_cmpint(write(peer, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame)),
                    ==, (gssize)g_bytes_get_size(frame));
    if (g_str_equal(c->variant, "truncated"))
        vmig_fd_clear(&peer);
    err = vmig_test_wait_done(f->dst_ctl, "failed");
    g_test_message("the destination says: %s", err);
    g_assert_true(strstr(err, "bad frame magic") ||
                  strstr(err, "over the 65536-byte limit") || strstr(err, "mid-frame"));
    version = vmig_test_execute_fds(f->dst_ctl, &f->dst, "query-version", NULL, NULL, 0,
                                    &error);
    g_assert_no_error(error);
    /* The destination QEMU was left alone: still waiting for a migration. */
    status = vmig_test_guest_status(f->dst_aux);
    g_assert_cmpstr(status, ==, "inmigrate");
}

/*
 * The destination daemon dies during the handshake (fd mode, while the
 * source waits for the channels it asked for): the source fails the
 * migration, its guest keeps running, its fds are back to where they were,
 * and it serves the next migration.
 */
static void
test_killed_handshake(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dst_domain = NULL;
    g_autofree char *args = NULL;
    g_autofree char *dst_args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *dst_id = NULL;
    g_autofree char *err = NULL;
    g_autofree char *status = NULL;
    g_autoptr(JsonObject) request = NULL;
    int pair[2];
    guint before;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    before = vmig_test_count_fds(f->src.pid);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dst_domain = vmig_test_domain_of(f->dst_qemu);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
    dst_args = g_strdup_printf("{\"domain\": \"%s\"}", dst_domain);
    dst_id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", dst_args,
                                  &pair[1], 1);
    args = g_strdup_printf(
        "{\"domain\": \"%s\", \"channels\": 4, \"channel-timeout\": 30}", src_domain);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, &pair[0], 1);
    close(pair[0]);
    close(pair[1]);
    request = vmig_test_wait_event(f->src_ctl, "CHANNELS_REQUESTED");

    g_clear_pointer(&f->dst_ctl, vmig_guest_monitor_close);
    vmig_test_daemon_stop(&f->dst, SIGKILL);
    err = vmig_test_wait_done(f->src_ctl, "failed");
    g_test_message("the source says: %s", err);
    g_assert_nonnull(strstr(
        err, "the destination driver went away while the channels were collected"));
    status = vmig_test_guest_status(f->src_aux);
    g_assert_cmpstr(status, ==, "running");
    g_assert_cmpuint(vmig_test_count_fds(f->src.pid), ==, before);

    /* A new destination daemon; the survivor migrates the guest. */
    daemon_start(f, &f->dst, "dst-host-2", NULL, 0);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    {
        g_autofree char *dest = prepare_uri(f, NULL);
        g_autofree char *next = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                                                "\"tunables\": [\"max-bandwidth=4G\"]}",
                                                src_domain, dest);
        g_autofree char *id2 =
            vmig_test_execute_id(f->src_ctl, &f->src, "migrate", next, NULL, 0);
        g_autofree char *e2 = vmig_test_wait_done(f->src_ctl, "completed");

        g_assert_cmpstr(id2, ==, "m2");
    }
}

/*
 * The source daemon dies while the stream flows through its bridges: the
 * source QEMU's migration fails and its guest keeps running; the
 * destination daemon fails its side, its fds are back where they were, and
 * it serves the next migration.
 */
static void
test_killed_stream(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    guint before;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    before = vmig_test_count_fds(f->dst.pid);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dest = prepare_uri(f, NULL);
    /* Slow enough (16 MiB/s for 128 MiB of data) to be caught mid-stream. */
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 2, "
                           "\"tunables\": [\"max-bandwidth=16M\"]}",
                           src_domain, dest);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    for (;;) {
        g_autoptr(JsonObject) progress =
            vmig_test_wait_event(f->src_ctl, "MIGRATION_PROGRESS");

        if (json_object_get_int_member(progress, "transferred") > (8 << 20))
            break;
    }
    g_clear_pointer(&f->src_ctl, vmig_guest_monitor_close);
    vmig_test_daemon_stop(&f->src, SIGKILL);
    err = vmig_test_wait_done(f->dst_ctl, "failed");
    g_test_message("the destination says: %s", err);

    /* The source QEMU notices its broken stream and resumes the guest. */
    for (gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;;) {
        g_autofree char *status = vmig_test_guest_status(f->src_aux);

        if (g_str_equal(status, "running"))
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    g_assert_cmpuint(vmig_test_count_fds(f->dst.pid), ==, before);
    {
        g_autoptr(JsonNode) list = vmig_test_execute_fds(
            f->dst_ctl, &f->dst, "query-migrations", NULL, NULL, 0, &error);

        g_assert_no_error(error);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 1);
    }
}

/*
 * postcopy-ram, asked for, is negotiated (capability only); start-postcopy
 * switches the running migration over, and all RAM arrives.
 */
static void
test_postcopy(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) negotiated = NULL;
    g_autoptr(JsonObject) progress = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) error = NULL;
    JsonArray *features;
    gboolean postcopy = FALSE;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dest = prepare_uri(f, NULL);
    /* Slow (16 MiB/s for 128 MiB) so the switch finds it still in precopy. */
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                           "\"tunables\": [\"max-bandwidth=16M\"], "
                           "\"require-features\": [\"postcopy-ram\"]}",
                           src_domain, dest);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    negotiated = vmig_test_wait_event(f->src_ctl, "NEGOTIATED");
    features = json_object_get_array_member(negotiated, "features");
    for (guint i = 0; i < json_array_get_length(features); i++)
        postcopy |=
            g_str_equal(json_array_get_string_element(features, i), "postcopy-ram");
    g_assert_true(postcopy);
    progress = vmig_test_wait_event(f->src_ctl, "MIGRATION_PROGRESS");
    ret = vmig_test_execute_fds(f->src_ctl, &f->src, "start-postcopy",
                                "{\"migration\": \"m1\"}", NULL, 0, &error);
    g_assert_no_error(error);
    err = vmig_test_wait_done(f->src_ctl, "completed");
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "completed");
    {
        g_autofree char *dst_status = vmig_test_guest_status(f->dst_aux);

        /* Once in postcopy the destination runs the guest. */
        g_assert_true(g_str_equal(dst_status, "running") ||
                      g_str_equal(dst_status, "paused"));
    }
    g_assert_true(vmig_guest_verify_pattern(f->dst_aux, VMIG_GUEST_PATTERN_ADDR,
                                            PATTERN_SIZE, PATTERN_SEED, f->tmpdir,
                                            &error));
    g_assert_no_error(error);
}

/*
 * cancel while the stream flows: the source's migration ends cancelled,
 * its guest keeps running, the destination's fails, and start-postcopy on
 * a migration that did not negotiate it is refused.
 */
static void
test_cancel(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) progress = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dest = prepare_uri(f, NULL);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 2, "
                           "\"tunables\": [\"max-bandwidth=16M\"]}",
                           src_domain, dest);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    progress = vmig_test_wait_event(f->src_ctl, "MIGRATION_PROGRESS");
    ret = vmig_test_execute_fds(f->src_ctl, &f->src, "start-postcopy",
                                "{\"migration\": \"m1\"}", NULL, 0, &error);
    g_assert_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND);
    g_assert_nonnull(strstr(error->message, "postcopy"));
    g_clear_error(&error);
    ret = vmig_test_execute_fds(f->src_ctl, &f->src, "cancel", "{\"migration\": \"m1\"}",
                                NULL, 0, &error);
    g_assert_no_error(error);
    err = vmig_test_wait_done(f->src_ctl, "cancelled");
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "failed");
    for (gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;;) {
        g_autofree char *status = vmig_test_guest_status(f->src_aux);

        if (g_str_equal(status, "running"))
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    /* A finished migration cannot be cancelled again. */
    g_clear_pointer(&ret, json_node_unref);
    ret = vmig_test_execute_fds(f->src_ctl, &f->src, "cancel", "{\"migration\": \"m1\"}",
                                NULL, 0, &error);
    g_assert_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND);
}

/* ---- the command line's job commands ------------------------------------------------
 */

/*
 * Runs virt-migrate with @args against daemon @d, its waits bounded by its
 * own --timeout; *@out and *@err get its output (to free).
 * Returns: its exit status.
 */
static int
run_cli(VmigTestDaemon *d, const char *const *args, char **out, char **err)
{
    g_autofree char *binary =
        g_test_build_filename(G_TEST_BUILT, "..", "tools", "virt-migrate", NULL);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_strv_builder_add_many(builder, binary, "--daemon-socket", d->socket, "--timeout",
                            "30", NULL);
    g_strv_builder_addv(builder, (const char **)args);
    argv = g_strv_builder_end(builder);
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err,
                               &status, &error));
    g_assert_no_error(error);
    g_test_message("virt-migrate %s: status %d\n%s%s", args[0], status, *out, *err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Starts virt-migrate with @args against daemon @d, its stdout going to
 * the file @out_path.  Returns: its pid.
 */
static GPid
spawn_cli(VmigTestDaemon *d, const char *const *args, const char *out_path)
{
    g_autofree char *binary =
        g_test_build_filename(G_TEST_BUILT, "..", "tools", "virt-migrate", NULL);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(VmigFd) out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    GPid pid = 0;

    g_assert_cmpint(out, >=, 0);
    g_strv_builder_add_many(builder, binary, "--daemon-socket", d->socket, NULL);
    g_strv_builder_addv(builder, (const char **)args);
    argv = g_strv_builder_end(builder);
    g_assert_true(g_spawn_async_with_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                         NULL, NULL, &pid, -1, out, -1, &error));
    g_assert_no_error(error);
    return pid;
}

/* Waits (bounded) for @pid to exit.  Returns: its exit status. */
static int
wait_cli(GPid pid)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000ll;
    int status = 0;

    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (g_get_monotonic_time() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            g_error("virt-migrate did not exit in time");
        }
        g_usleep(20 * 1000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts a slow migration m1 (16 MiB/s for 128 MiB) with @extra members. */
static void
start_slow(Fixture *f, const char *extra)
{
    g_autofree char *src_domain = vmig_test_domain_of(f->src_qemu);
    g_autofree char *dest = prepare_uri(f, NULL);
    g_autofree char *args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                                            "\"tunables\": [\"max-bandwidth=16M\"]%s}",
                                            src_domain, dest, extra ? extra : "");
    g_autofree char *id =
        vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    g_autoptr(JsonObject) progress = NULL;

    g_assert_cmpstr(id, ==, "m1");
    progress = vmig_test_wait_event(f->src_ctl, "MIGRATION_PROGRESS");
}

/*
 * Experimental protocol versions are offered only by a side that opts in
 * (the daemon's --experimental-protocol, or one migration's
 * "experimental-protocol"), so one is chosen only when both do.  @c->variant:
 * "both" (the destination daemon's option, the source CLI's flag),
 * "source" (only the CLI's flag), "destination" (only prepare-incoming's
 * argument).  The migration completes either way; the CLI's "Negotiated:"
 * line, the record and both daemons' answers say which version it used.
 */
static void
test_experimental(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    gboolean src_in = !g_str_equal(c->variant, "destination");
    gboolean dst_in = !g_str_equal(c->variant, "source");
    gboolean chosen = src_in && dst_in;
    const char *const channel_timeout[] = {"--channel-timeout", "1", NULL};
    const char *const experimental[] = {"--channel-timeout", "1",
                                        "--experimental-protocol", NULL};
    gint64 version = chosen ? VMIG_NEGOTIATE_VERSION_2_EXPERIMENTAL : 2;
    const char *shown = chosen ? "Negotiated: protocol 0x80000001 (experimental),"
                               : "Negotiated: protocol 2,";
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, "src-host", channel_timeout, 0);
    daemon_start(f, &f->dst, "dst-host",
                 g_str_equal(c->variant, "both") ? experimental : channel_timeout, 0);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dest = prepare_uri(f, g_str_equal(c->variant, "destination")
                              ? ", \"experimental-protocol\": true"
                              : NULL);
    {
        const char *const args[] = {"migrate", src_domain,
                                    dest,      "--channels",
                                    "2",       src_in ? "--experimental-protocol" : NULL,
                                    NULL};

        g_assert_cmpint(run_cli(&f->src, args, &out, &err), ==, 0);
        g_assert_nonnull(strstr(out, shown));
    }
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "completed");
    {
        g_autoptr(JsonNode) src_rec =
            vmig_test_execute_fds(f->src_ctl, &f->src, "query-migration",
                                  "{\"migration\": \"m1\"}", NULL, 0, &error);
        g_autoptr(JsonNode) dst_rec = NULL;

        g_assert_no_error(error);
        dst_rec = vmig_test_execute_fds(f->dst_ctl, &f->dst, "query-migration",
                                        "{\"migration\": \"m1\"}", NULL, 0, &error);
        g_assert_no_error(error);
        g_assert_cmpint(
            json_object_get_int_member(json_node_get_object(src_rec), "version"), ==,
            version);
        g_assert_cmpint(
            json_object_get_int_member(json_node_get_object(dst_rec), "version"), ==,
            version);
    }
    {
        const char *const args[] = {"features", "m1", NULL};
        g_autofree char *features = NULL;
        g_autofree char *features_err = NULL;
        g_autofree char *line =
            g_strdup_printf("version %s", chosen ? "0x80000001 (experimental)\n" : "2\n");

        g_assert_cmpint(run_cli(&f->src, args, &features, &features_err), ==, 0);
        g_assert_nonnull(strstr(features, line));
    }
    assert_memory_equal(f);
}

/*
 * virt-migrate jobinfo, postcopy and cancel on a running migration:
 * jobinfo shows virsh's job fields (and --json the record's progress),
 * postcopy is refused when postcopy-ram was not negotiated, cancel stops
 * it (the source guest runs on), and jobinfo then says it was cancelled.
 */
static void
test_cli_jobs(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *err = NULL;
    JsonObject *job;
    JsonObject *progress;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    start_slow(f, NULL);
    {
        const char *const args[] = {"jobinfo", "m1", NULL};
        g_autofree char *out = NULL;
        g_autofree char *stderr_text = NULL;

        g_assert_cmpint(run_cli(&f->src, args, &out, &stderr_text), ==, 0);
        g_assert_true(g_str_has_prefix(out, "Migration:         m1\n"));
        g_assert_nonnull(strstr(out, "\nJob type:          Unbounded\n"));
        g_assert_nonnull(strstr(out, "\nOperation:         Outgoing migration\n"));
        g_assert_nonnull(strstr(out, "\nTime elapsed:      "));
        g_assert_nonnull(strstr(out, "\nData processed:    "));
        g_assert_nonnull(strstr(out, "\nData remaining:    "));
        g_assert_nonnull(strstr(out, "\nData total:        "));
        g_assert_nonnull(strstr(out, "\nMemory bandwidth:  "));
        g_assert_nonnull(strstr(out, "\nExpected downtime: "));
    }
    {
        const char *const args[] = {"jobinfo", "m1", "--json", NULL};
        g_autofree char *out = NULL;
        g_autofree char *stderr_text = NULL;

        g_assert_cmpint(run_cli(&f->src, args, &out, &stderr_text), ==, 0);
        g_assert_true(json_parser_load_from_data(parser, out, -1, &error));
        g_assert_no_error(error);
        job = json_node_get_object(json_parser_get_root(parser));
        g_assert_cmpstr(json_object_get_string_member(job, "migration"), ==, "m1");
        g_assert_cmpstr(json_object_get_string_member(job, "role"), ==, "source");
        progress = json_object_get_object_member(job, "progress");
        g_assert_nonnull(progress);
        g_assert_cmpint(json_object_get_int_member(progress, "total"), >=, RAM_SIZE);
        g_assert_true(json_object_has_member(progress, "transferred"));
        g_assert_true(json_object_has_member(progress, "milliseconds"));
    }
    {
        const char *const json[] = {"list", "--json", NULL};
        const char *const xml[] = {"list", "--xml", NULL};
        g_autofree char *out = NULL;
        g_autofree char *xml_out = NULL;
        g_autofree char *stderr_text = NULL;
        g_autofree char *xml_err = NULL;
        g_autofree char *domain = vmig_test_domain_of(f->src_qemu);
        g_autofree char *element =
            g_strdup_printf("<migration id=\"m1\" role=\"source\" state=\"migrating\">\n"
                            "    <domain>%s</domain>\n",
                            domain);
        g_autoptr(JsonParser) list = json_parser_new();
        JsonObject *m1;

        g_assert_cmpint(run_cli(&f->src, json, &out, &stderr_text), ==, 0);
        g_assert_true(json_parser_load_from_data(list, out, -1, &error));
        g_assert_no_error(error);
        m1 = json_array_get_object_element(
            json_node_get_array(json_parser_get_root(list)), 0);
        g_assert_cmpstr(json_object_get_string_member(m1, "migration"), ==, "m1");
        g_assert_cmpstr(json_object_get_string_member(m1, "domain"), ==, domain);
        g_assert_cmpint(run_cli(&f->src, xml, &xml_out, &xml_err), ==, 0);
        /* data/migrations.rng validates it: tests/test-render.c. */
        g_assert_nonnull(strstr(xml_out, element));
    }
    {
        /* events --json: JSON lines only, each one event as the daemon sent it. */
        const char *const args[] = {"events",  "--json", "--migration", "m1",
                                    "--count", "2",      NULL};
        g_autofree char *path = g_build_filename(f->tmpdir, "events.out", NULL);
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        GPid pid = spawn_cli(&f->src, args, path);

        g_assert_cmpint(wait_cli(pid), ==, 0);
        g_assert_true(g_file_get_contents(path, &text, NULL, &error));
        g_assert_no_error(error);
        g_test_message("events --json:\n%s", text);
        g_assert_true(g_str_has_suffix(text, "}\n"));
        lines = g_strsplit(text, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 3);
        for (guint i = 0; i < 2; i++) {
            g_autoptr(JsonParser) line = json_parser_new();
            JsonObject *event;

            g_assert_true(json_parser_load_from_data(line, lines[i], -1, &error));
            g_assert_no_error(error);
            event = json_node_get_object(json_parser_get_root(line));
            g_assert_cmpstr(json_object_get_string_member(event, "event"), ==,
                            "MIGRATION_PROGRESS");
            g_assert_cmpstr(
                json_object_get_string_member(
                    json_object_get_object_member(event, "data"), "migration"),
                ==, "m1");
            g_assert_true(json_object_has_member(event, "timestamp"));
            g_assert_true(
                g_str_has_prefix(lines[i], "{\"event\":\"MIGRATION_PROGRESS\","));
        }
        g_assert_cmpstr(lines[2], ==, "");
    }
    {
        const char *const args[] = {"postcopy", "m1", NULL};
        g_autofree char *out = NULL;
        g_autofree char *stderr_text = NULL;

        g_assert_cmpint(run_cli(&f->src, args, &out, &stderr_text), ==, 1);
        g_assert_cmpstr(out, ==, "");
        g_assert_true(g_str_has_prefix(stderr_text, "virt-migrate: error: "));
        g_assert_nonnull(strstr(stderr_text, "postcopy"));
    }
    {
        const char *const args[] = {"cancel", "m1", NULL};
        g_autofree char *out = NULL;
        g_autofree char *stderr_text = NULL;

        g_assert_cmpint(run_cli(&f->src, args, &out, &stderr_text), ==, 0);
        g_assert_cmpstr(out, ==, "Migration m1 cancelled\n");
    }
    err = vmig_test_wait_done(f->src_ctl, "cancelled");
    for (gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;;) {
        g_autofree char *status = vmig_test_guest_status(f->src_aux);

        if (g_str_equal(status, "running"))
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    {
        const char *const args[] = {"jobinfo", "m1", NULL};
        const char *const again[] = {"cancel", "m1", NULL};
        const char *const none[] = {"jobinfo", "m9", NULL};
        g_autofree char *out = NULL;
        g_autofree char *stderr_text = NULL;

        g_assert_cmpint(run_cli(&f->src, args, &out, &stderr_text), ==, 0);
        g_assert_nonnull(strstr(out, "\nJob type:          Cancelled\n"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&stderr_text, g_free);
        /* A finished migration cannot be cancelled again; an unknown one is named. */
        g_assert_cmpint(run_cli(&f->src, again, &out, &stderr_text), ==, 1);
        g_assert_true(g_str_has_prefix(stderr_text, "virt-migrate: error: "));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&stderr_text, g_free);
        g_assert_cmpint(run_cli(&f->src, none, &out, &stderr_text), ==, 1);
        g_assert_nonnull(strstr(stderr_text, "'m9'"));
    }
}

/*
 * virt-migrate postcopy on a migration that negotiated postcopy-ram:
 * it switches over, and the migration completes on both sides.
 */
static void
test_cli_postcopy(Fixture *f, gconstpointer data)
{
    const char *const args[] = {"postcopy", "m1", NULL};
    g_autofree char *out = NULL;
    g_autofree char *stderr_text = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    start_slow(f, ", \"require-features\": [\"postcopy-ram\"]");
    g_assert_cmpint(run_cli(&f->src, args, &out, &stderr_text), ==, 0);
    g_assert_cmpstr(out, ==, "Migration m1 switched to postcopy\n");
    err = vmig_test_wait_done(f->src_ctl, "completed");
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "completed");
    g_assert_true(vmig_guest_verify_pattern(f->dst_aux, VMIG_GUEST_PATTERN_ADDR,
                                            PATTERN_SIZE, PATTERN_SEED, f->tmpdir,
                                            &error));
    g_assert_no_error(error);
}

/* Two migrations at once through the same two daemons (m1 and m2, 2 and 0 channels). */
static void
test_concurrent(Fixture *f, gconstpointer data)
{
    VmigGuestOptions src_opts = {.pattern_path = pattern_path};
    VmigGuestOptions dst_opts = {.paused = TRUE};
    g_autoptr(VmigTestQemu) src2 = NULL;
    g_autoptr(VmigTestQemu) dst2 = NULL;
    g_autofree char *src2_aux = NULL, *dst2_aux = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id1 = NULL, *id2 = NULL, *in1 = NULL, *in2 = NULL;
    g_autofree char *domain = NULL;
    guint done_src = 0, done_dst = 0;

    SKIP_WITHOUT_QEMU(f);
    src2 = vmig_guest_start_source(&src_opts, &error);
    g_assert_no_error(error);
    dst2 = vmig_guest_start_destination(&dst_opts, &error);
    g_assert_no_error(error);
    src2_aux = vmig_guest_aux_qmp_path(src2);
    dst2_aux = vmig_guest_aux_qmp_path(dst2);
    start_daemons(f);

    for (guint i = 0; i < 2; i++) {
        VmigTestQemu *dst = i == 0 ? f->dst_qemu : dst2;
        g_autofree char *d = vmig_test_domain_of(dst);
        g_autofree char *a = g_strdup_printf(
            "{\"domain\": \"%s\", \"listen\": \"unix:%s/in%u.sock\", \"resume\": false}",
            d, f->tmpdir, i);
        char *id =
            vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", a, NULL, 0);

        if (i == 0)
            in1 = id;
        else
            in2 = id;
    }
    for (guint i = 0; i < 2; i++) {
        VmigTestQemu *src = i == 0 ? f->src_qemu : src2;
        g_autofree char *d = vmig_test_domain_of(src);
        g_autofree char *a = g_strdup_printf(
            "{\"domain\": \"%s\", \"dest\": \"unix:%s/in%u.sock\", \"channels\": %u, "
            "\"tunables\": [\"max-bandwidth=2G\"]}",
            d, f->tmpdir, i, i == 0 ? 2 : 0);
        char *id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", a, NULL, 0);

        if (i == 0)
            id1 = id;
        else
            id2 = id;
    }
    g_assert_cmpstr(id1, ==, "m1");
    g_assert_cmpstr(id2, ==, "m2");
    while (done_src < 2) {
        g_autoptr(JsonObject) done = vmig_test_wait_event(f->src_ctl, "MIGRATION_DONE");

        g_assert_cmpstr(json_object_get_string_member(done, "result"), ==, "completed");
        done_src++;
    }
    while (done_dst < 2) {
        g_autoptr(JsonObject) done = vmig_test_wait_event(f->dst_ctl, "MIGRATION_DONE");

        g_assert_cmpstr(json_object_get_string_member(done, "result"), ==, "completed");
        done_dst++;
    }
    assert_memory_equal(f);
    g_assert_true(
        vmig_guest_compare_memory(src2_aux, dst2_aux, RAM_SIZE, f->tmpdir, &error));
    g_assert_no_error(error);
    g_clear_pointer(&src2, vmig_test_qemu_stop);
    g_clear_pointer(&dst2, vmig_test_qemu_stop);
}

/*
 * A daemon allowed one migration at a time: a second prepare-incoming is
 * refused with the reason while the first waits, and taken once it ended.
 */
static void
test_too_many(Fixture *f, gconstpointer data)
{
    const char *const extra[] = {"--max-migrations", "1", NULL};
    g_autofree char *domain = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->dst, "dst-host", extra, 0);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    g_free(prepare_uri(f, NULL));
    domain = vmig_test_domain_of(f->dst_qemu);
    args = g_strdup_printf("{\"domain\": \"%s\", \"listen\": \"unix:%s/second.sock\"}",
                           domain, f->tmpdir);
    ret = vmig_test_execute_fds(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0,
                                &error);
    g_assert_null(ret);
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message,
                            ": too many migrations: 1 are not finished (the "
                            "daemon's --max-migrations)"));
    g_clear_error(&error);
    g_clear_pointer(&ret, json_node_unref);
    ret = vmig_test_execute_fds(f->dst_ctl, &f->dst, "cancel", "{\"migration\": \"m1\"}",
                                NULL, 0, &error);
    g_assert_no_error(error);
    g_free(vmig_test_wait_done(f->dst_ctl, "cancelled"));
    id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0);
    g_assert_cmpstr(id, ==, "m3");
}

/* ---- QEMU put back, everything released -----------------------------------------------
 */

/* Returns: capability @name of the QEMU behind monitor @qmp. */
static gboolean
capability_of(const char *qmp, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *caps;

    if (!vmig_guest_qmp(qmp, "query-migrate-capabilities", NULL, &ret, &error))
        g_error("query-migrate-capabilities on '%s': %s", qmp, error->message);
    caps = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(caps); i++) {
        JsonObject *cap = json_array_get_object_element(caps, i);

        if (g_str_equal(json_object_get_string_member(cap, "capability"), name))
            return json_object_get_boolean_member(cap, "state");
    }
    g_error("QEMU has no capability '%s'", name);
}

/*
 * A one-channel migration in fd mode (QEMU takes the main channel's fd):
 * @src_qemu to a destination daemon prepared for @dst_qemu.  QEMU refuses
 * "fd:" with the multifd capability on, so this only works when whatever
 * migrated the source before put its capabilities back.
 * Returns: nothing (asserts both sides completed).
 */
static void
migrate_fd_one_channel(Fixture *f, VmigTestQemu *src_qemu, VmigTestQemu *dst_qemu,
                       const char *id)
{
    g_autofree char *src_domain = vmig_test_domain_of(src_qemu);
    g_autofree char *dst_domain = vmig_test_domain_of(dst_qemu);
    g_autofree char *dst_args =
        g_strdup_printf("{\"domain\": \"%s\", \"resume\": false}", dst_domain);
    g_autofree char *src_args = g_strdup_printf(
        "{\"domain\": \"%s\", \"tunables\": [\"max-bandwidth=4G\"]}", src_domain);
    g_autofree char *dst_id = NULL, *src_id = NULL;
    int pair[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
    dst_id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", dst_args,
                                  &pair[1], 1);
    src_id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", src_args, &pair[0], 1);
    close(pair[0]);
    close(pair[1]);
    g_assert_cmpstr(src_id, ==, id);
    /* Version 2: QEMU's stream on a data channel of its own, handed to QEMU
     * with getfd ("fd:") on both sides. */
    {
        g_autoptr(JsonObject) request =
            vmig_test_wait_event(f->src_ctl, "CHANNELS_REQUESTED");
        g_autofree char *add = g_strdup_printf("{\"migration\": \"%s\"}", src_id);
        g_autofree char *add_dst = g_strdup_printf("{\"migration\": \"%s\"}", dst_id);
        g_autoptr(JsonNode) a = NULL;
        g_autoptr(JsonNode) b = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(json_object_get_int_member(request, "count"), ==, 1);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
        a = vmig_test_execute_fds(f->src_ctl, &f->src, "add-channels", add, &pair[0], 1,
                                  &error);
        g_assert_no_error(error);
        b = vmig_test_execute_fds(f->dst_ctl, &f->dst, "add-channels", add_dst, &pair[1],
                                  1, &error);
        g_assert_no_error(error);
        close(pair[0]);
        close(pair[1]);
    }
    g_free(vmig_test_wait_done(f->src_ctl, "completed"));
    g_free(vmig_test_wait_done(f->dst_ctl, "completed"));
}

/*
 * QEMU put back as it was: a guest migrated with multifd (2 channels) can
 * then migrate again with one channel over "fd:", which QEMU refuses while
 * multifd is on; both sides' capabilities are as they were before.
 */
static void
test_put_back_completed(Fixture *f, gconstpointer data)
{
    VmigGuestOptions dst_opts = {.paused = TRUE};
    g_autoptr(VmigTestQemu) next = NULL;
    g_autofree char *next_aux = NULL;
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    next = vmig_guest_start_destination(&dst_opts, &error);
    g_assert_no_error(error);
    next_aux = vmig_guest_aux_qmp_path(next);
    start_daemons(f);
    g_assert_false(capability_of(f->src_aux, "multifd"));
    dest = prepare_uri(f, NULL);
    src_domain = vmig_test_domain_of(f->src_qemu);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 2, "
                           "\"tunables\": [\"max-bandwidth=4G\"]}",
                           src_domain, dest);
    g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0));
    g_free(vmig_test_wait_done(f->src_ctl, "completed"));
    g_free(vmig_test_wait_done(f->dst_ctl, "completed"));
    /* Put back before MIGRATION_DONE: no waiting needed. */
    g_assert_false(capability_of(f->src_aux, "multifd"));
    g_assert_false(capability_of(f->src_aux, "events"));
    g_assert_false(capability_of(f->dst_aux, "multifd"));
    g_assert_false(capability_of(f->dst_aux, "events"));

    /* The destination, now the source (paused), to a fresh one. */
    migrate_fd_one_channel(f, f->dst_qemu, next, "m2");
    g_assert_true(vmig_guest_verify_pattern(next_aux, VMIG_GUEST_PATTERN_ADDR,
                                            PATTERN_SIZE, PATTERN_SEED, f->tmpdir,
                                            &error));
    g_assert_no_error(error);
}

/*
 * The same after a multifd migration that failed after the source's QEMU
 * was configured: the destination app supplies 2 of the 3 data channels, the
 * destination fails at the channel timeout, and so does the source; its
 * guest runs on, multifd off again, and a one-channel migration works.
 */
static void
test_put_back_failed(Fixture *f, gconstpointer data)
{
    VmigGuestOptions dst_opts = {.paused = TRUE};
    g_autoptr(VmigTestQemu) next = NULL;
    g_autofree char *src_domain = vmig_test_domain_of(f->src_qemu);
    g_autofree char *dst_domain = vmig_test_domain_of(f->dst_qemu);
    g_autofree char *dst_args =
        g_strdup_printf("{\"domain\": \"%s\", \"resume\": false}", dst_domain);
    g_autofree char *src_args = g_strdup_printf(
        "{\"domain\": \"%s\", \"channels\": 2, \"tunables\": [\"max-bandwidth=4G\"]}",
        src_domain);
    g_autofree char *src_id = NULL, *dst_id = NULL, *status = NULL, *why = NULL;
    g_autoptr(JsonObject) request = NULL;
    g_autoptr(GError) error = NULL;
    int pair[2], src_fds[3], dst_fds[2];
    g_auto(VmigFd) withheld = -1;

    SKIP_WITHOUT_QEMU(f);
    next = vmig_guest_start_destination(&dst_opts, &error);
    g_assert_no_error(error);
    start_daemons(f);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
    dst_id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", dst_args,
                                  &pair[1], 1);
    src_id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", src_args, &pair[0], 1);
    close(pair[0]);
    close(pair[1]);
    request = vmig_test_wait_event(f->src_ctl, "CHANNELS_REQUESTED");
    /* QEMU's stream and 2 multifd channels (version 2). */
    g_assert_cmpint(json_object_get_int_member(request, "count"), ==, 3);
    for (guint i = 0; i < 3; i++) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
        src_fds[i] = pair[0];
        if (i < 2)
            dst_fds[i] = pair[1];
        else
            withheld = pair[1]; /* the destination app never hands this one over */
    }
    /* ... after a destination driver greeted on it (the test writes the hello
     * it would have): the source counts it, the destination never gets it. */
    g_assert_cmpint(write(withheld, "VMGH", 4), ==, 4);
    {
        g_autofree char *add = g_strdup_printf("{\"migration\": \"%s\"}", src_id);
        g_autofree char *add_dst = g_strdup_printf("{\"migration\": \"%s\"}", dst_id);
        g_autoptr(JsonNode) a = vmig_test_execute_fds(f->src_ctl, &f->src, "add-channels",
                                                      add, src_fds, 3, &error);
        g_autoptr(JsonNode) b = NULL;

        g_assert_no_error(error);
        b = vmig_test_execute_fds(f->dst_ctl, &f->dst, "add-channels", add_dst, dst_fds,
                                  2, &error);
        g_assert_no_error(error);
    }
    for (guint i = 0; i < 3; i++)
        close(src_fds[i]);
    close(dst_fds[0]);
    close(dst_fds[1]);
    why = vmig_test_wait_done(f->dst_ctl, "failed");
    g_test_message("destination: %s", why);
    g_free(why);
    why = vmig_test_wait_done(f->src_ctl, "failed");
    g_test_message("source: %s", why);
    status = vmig_test_guest_status(f->src_aux);
    g_assert_cmpstr(status, ==, "running");
    g_assert_false(capability_of(f->src_aux, "multifd"));

    migrate_fd_one_channel(f, f->src_qemu, next, "m2");
}

/*
 * A finished migration keeps its record and nothing else: 70 migrations in
 * a row (2 channels each, a chain of guests: each destination is the next
 * source) through daemons limited to 1024 descriptors, each daemon's fd
 * count back at its baseline when it says MIGRATION_DONE.  (Before, about
 * 18 fds stayed per finished migration for --keep-finished, and the 57th
 * failed with "cannot create a pipe".)
 */
static void
test_seventy(Fixture *f, gconstpointer data)
{
    const char *const extra[] = {"--channel-timeout", "1", NULL};
    VmigGuestOptions opts = {.ram_mib = 32, .paused = TRUE};
    g_autoptr(VmigTestQemu) source = NULL;
    g_autoptr(GError) error = NULL;
    guint src_base, dst_base;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, "src-host", extra, 1024);
    daemon_start(f, &f->dst, "dst-host", extra, 1024);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    src_base = vmig_test_count_fds(f->src.pid);
    dst_base = vmig_test_count_fds(f->dst.pid);
    source = vmig_guest_start_source(&(VmigGuestOptions){.ram_mib = 32}, &error);
    g_assert_no_error(error);

    for (guint i = 1; i <= 70; i++) {
        g_autoptr(VmigTestQemu) dest_qemu = vmig_guest_start_destination(&opts, &error);
        g_autofree char *src_domain = vmig_test_domain_of(source);
        g_autofree char *dst_domain = NULL;
        g_autofree char *listen = g_strdup_printf("unix:%s/in%u.sock", f->tmpdir, i);
        g_autofree char *in_args = NULL, *args = NULL, *id = NULL, *in_id = NULL;
        g_autofree char *expected = g_strdup_printf("m%u", i);

        g_assert_no_error(error);
        dst_domain = vmig_test_domain_of(dest_qemu);
        in_args =
            g_strdup_printf("{\"domain\": \"%s\", \"listen\": \"%s\", \"resume\": false}",
                            dst_domain, listen);
        in_id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", in_args,
                                     NULL, 0);
        args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 2, "
                               "\"tunables\": [\"max-bandwidth=4G\"]}",
                               src_domain, listen);
        id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
        g_assert_cmpstr(id, ==, expected);
        g_free(vmig_test_wait_done(f->src_ctl, "completed"));
        g_free(vmig_test_wait_done(f->dst_ctl, "completed"));
        g_assert_cmpuint(vmig_test_count_fds(f->src.pid), ==, src_base);
        g_assert_cmpuint(vmig_test_count_fds(f->dst.pid), ==, dst_base);
        g_clear_pointer(&source, vmig_test_qemu_stop);
        source = g_steal_pointer(&dest_qemu);
    }
    g_test_message("70 migrations; the daemons hold %u and %u fds, as at the start",
                   src_base, dst_base);
}

/* ---- a flood of strangers
 * --------------------------------------------------------------- */

/* tests/flood-helper, running. */
typedef struct {
    GPid pid;
    int in;
    int out;
} Flood;

/* Returns: the next line @fl prints (to free), within WAIT_MS. */
static char *
flood_read_line(Flood *fl)
{
    g_autoptr(GString) line = g_string_new(NULL);
    gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;

    for (;;) {
        struct pollfd pfd = {.fd = fl->out, .events = POLLIN};
        char c;

        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        g_assert_cmpint(read(fl->out, &c, 1), ==, 1);
        if (c == '\n')
            return g_string_free(g_steal_pointer(&line), FALSE);
        g_string_append_c(line, c);
    }
}

/*
 * Floods 127.0.0.1:@port with @silent connections that say nothing and
 * @wrong that send a preamble with a random token, and keeps them open.
 * Asserts that nearly all of them connected.
 */
static void
flood_start(Flood *fl, guint16 port, guint silent, guint wrong)
{
    g_autofree char *binary = g_test_build_filename(G_TEST_BUILT, "flood-helper", NULL);
    g_autofree char *port_text = g_strdup_printf("%u", port);
    g_autofree char *silent_text = g_strdup_printf("%u", silent);
    g_autofree char *wrong_text = g_strdup_printf("%u", wrong);
    const char *argv[] = {binary, "127.0.0.1", port_text, silent_text, wrong_text, NULL};
    g_autoptr(GError) error = NULL;
    g_autofree char *line = NULL;
    guint silent_ok = 0, wrong_ok = 0, failed = 0;

    g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                             vmig_test_process_child_setup, GINT_TO_POINTER(getpid()),
                             &fl->pid, &fl->in, &fl->out, NULL, &error);
    g_assert_no_error(error);
    line = flood_read_line(fl);
    g_test_message("flood of %u silent and %u wrong-token connections: %s", silent, wrong,
                   line);
    g_assert_cmpint(
        sscanf(line, "established %u %u failed %u", &silent_ok, &wrong_ok, &failed), ==,
        3);
    g_assert_cmpuint(silent_ok, >=, silent * 9 / 10);
    g_assert_cmpuint(wrong_ok, >=, wrong * 9 / 10);
}

/* Tells @fl to close its wrong-token connections, and waits until it has. */
static void
flood_close_wrong(Flood *fl)
{
    g_autofree char *line = NULL;

    g_assert_cmpint(write(fl->in, "close-wrong\n", 12), ==, 12);
    line = flood_read_line(fl);
    g_assert_cmpstr(line, ==, "closed");
}

/* Ends @fl (all its connections close) and reaps it. */
static void
flood_stop(Flood *fl)
{
    if (fl->pid <= 0)
        return;
    (void)!write(fl->in, "quit\n", 5);
    close(fl->in);
    close(fl->out);
    vmig_test_process_stop(fl->pid, 0);
    fl->pid = 0;
}

/* Returns: the CPU time process @pid has used, in clock ticks. */
static guint64
cpu_ticks(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    g_auto(GStrv) fields = NULL;
    const char *after;

    g_assert_true(g_file_get_contents(path, &stat, NULL, NULL));
    after = strrchr(stat, ')');
    g_assert_nonnull(after);
    /* After "pid (comm)": state is field 3, utime 14 and stime 15. */
    fields = g_strsplit(after + 2, " ", 0);
    g_assert_cmpuint(g_strv_length(fields), >, 13);
    return g_ascii_strtoull(fields[11], NULL, 10) +
           g_ascii_strtoull(fields[12], NULL, 10);
}

/* Waits (bounded by @ms) until @d holds at most @fds descriptors.  Returns: how long, in
 * ms. */
static gint64
wait_fds_at_most(VmigTestDaemon *d, guint fds, guint ms)
{
    gint64 start = g_get_monotonic_time();
    guint now;

    while ((now = vmig_test_count_fds(d->pid)) > fds) {
        if (g_get_monotonic_time() - start > (gint64)ms * 1000)
            g_error("the daemon still holds %u descriptors after %u ms, not %u", now, ms,
                    fds);
        g_usleep(50 * 1000);
    }
    return (g_get_monotonic_time() - start) / 1000;
}

/* Migrates @src_qemu into the destination listening on @port.  Returns: how long, in ms.
 */
static gint64
migrate_tcp(Fixture *f, VmigTestQemu *src_qemu, guint16 port, const char *id)
{
    g_autofree char *domain = vmig_test_domain_of(src_qemu);
    g_autofree char *args = g_strdup_printf(
        "{\"domain\": \"%s\", \"dest\": \"tcp:127.0.0.1:%u\", \"channels\": 2, "
        "\"tunables\": [\"max-bandwidth=4G\"]}",
        domain, port);
    gint64 start = g_get_monotonic_time();
    g_autofree char *got =
        vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    g_autofree char *err = NULL;
    gint64 took;

    g_assert_cmpstr(got, ==, id);
    err = vmig_test_wait_done(f->src_ctl, "completed");
    took = (g_get_monotonic_time() - start) / 1000;
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "completed");
    return took;
}

/*
 * Anyone who reaches a destination's listener, against a daemon limited to
 * 1024 descriptors (as prlimit --nofile=1024 would), with a pending
 * timeout of 3 s.  (tests/flood-helper plays the strangers: no real peer
 * behaves like this.)
 *
 * A: 1100 connections that say nothing and 500 that send a preamble with
 * a wrong token, before any REPLY (so the preambles cannot be judged):
 * the control socket keeps answering; the wrong-token ones whose peers go
 * are dropped, the rest within the pending timeout, and the daemon's fd
 * count is back at its baseline although the strangers keep their ends
 * open; afterwards its CPU is idle.
 *
 * B: a real migration through the same listener, timed; then the same
 * flood against a second destination, and a real migration through it
 * while the flood is in place: it completes in about the time of the
 * first, and both guests' memory is intact.
 */
static void
test_flood(Fixture *f, gconstpointer data)
{
    const char *const extra[] = {"--channel-timeout", "1", "--pending-timeout", "3",
                                 NULL};
    VmigGuestOptions src_opts = {.pattern_path = pattern_path};
    VmigGuestOptions dst_opts = {.paused = TRUE};
    g_autoptr(VmigTestQemu) src2 = NULL;
    g_autoptr(VmigTestQemu) dst2 = NULL;
    g_autofree char *src2_aux = NULL, *dst2_aux = NULL;
    g_autoptr(GError) error = NULL;
    guint16 port1 = vmig_test_free_port(), port2 = vmig_test_free_port();
    Flood a = {0}, b = {0};
    guint baseline;
    guint64 ticks;
    gint64 took, base_ms, flood_ms;

    SKIP_WITHOUT_QEMU(f);
    src2 = vmig_guest_start_source(&src_opts, &error);
    g_assert_no_error(error);
    dst2 = vmig_guest_start_destination(&dst_opts, &error);
    g_assert_no_error(error);
    src2_aux = vmig_guest_aux_qmp_path(src2);
    dst2_aux = vmig_guest_aux_qmp_path(dst2);
    daemon_start(f, &f->src, "src-host", extra, 0);
    daemon_start(f, &f->dst, "dst-host", extra, 1024);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);

    for (guint i = 0; i < 2; i++) {
        g_autofree char *domain = vmig_test_domain_of(i == 0 ? f->dst_qemu : dst2);
        g_autofree char *args = g_strdup_printf(
            "{\"domain\": \"%s\", \"listen\": \"tcp:127.0.0.1:%u\", \"resume\": false}",
            domain, i == 0 ? port1 : port2);
        g_autofree char *id =
            vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0);

        g_assert_cmpstr(id, ==, i == 0 ? "m1" : "m2");
    }
    baseline = vmig_test_count_fds(f->dst.pid);

    /* A */
    flood_start(&a, port1, 1100, 500);
    {
        g_autoptr(JsonNode) list = vmig_test_execute_fds(
            f->dst_ctl, &f->dst, "query-migrations", NULL, NULL, 0, &error);

        g_assert_no_error(error);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 2);
    }
    flood_close_wrong(&a);
    took = wait_fds_at_most(&f->dst, baseline, 3000 + 2000);
    g_test_message("the daemon was back at %u descriptors %" G_GINT64_FORMAT
                   " ms after the flood",
                   baseline, took);
    ticks = cpu_ticks(f->dst.pid);
    g_usleep(G_USEC_PER_SEC);
    ticks = cpu_ticks(f->dst.pid) - ticks;
    g_test_message("CPU in the second after: %" G_GUINT64_FORMAT " ticks of %ld", ticks,
                   sysconf(_SC_CLK_TCK));
    g_assert_cmpuint(ticks, <=, (guint64)sysconf(_SC_CLK_TCK) / 20);

    /* B */
    base_ms = migrate_tcp(f, f->src_qemu, port1, "m1");
    flood_start(&b, port2, 1100, 500);
    flood_ms = migrate_tcp(f, src2, port2, "m2");
    g_test_message("migration alone: %" G_GINT64_FORMAT
                   " ms; through the flood: %" G_GINT64_FORMAT " ms",
                   base_ms, flood_ms);
    g_assert_cmpint(flood_ms, <, 3 * base_ms + 2000);
    assert_memory_equal(f);
    g_assert_true(
        vmig_guest_compare_memory(src2_aux, dst2_aux, RAM_SIZE, f->tmpdir, &error));
    g_assert_no_error(error);

    flood_stop(&a);
    flood_stop(&b);
    g_clear_pointer(&src2, vmig_test_qemu_stop);
    g_clear_pointer(&dst2, vmig_test_qemu_stop);
}

/*
 * QEMU's and libvirt's IPv6 syntax: a migration through tcp:[::1]:PORT,
 * listened on by the destination and dialled by the source, 2 channels.
 */
static void
test_ipv6(Fixture *f, gconstpointer data)
{
    struct sockaddr_in6 addr = {.sin6_family = AF_INET6,
                                .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof(addr);
    g_auto(VmigFd) probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_autofree char *uri = NULL;
    g_autofree char *dst_domain = NULL, *src_domain = NULL;
    g_autofree char *args = NULL, *id = NULL;
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    if (probe < 0 || bind(probe, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        getsockname(probe, (struct sockaddr *)&addr, &len) < 0) {
        g_test_skip("no IPv6 loopback here");
        return;
    }
    uri = g_strdup_printf("tcp:[::1]:%u", ntohs(addr.sin6_port));
    vmig_fd_clear(&probe);
    start_daemons(f);
    dst_domain = vmig_test_domain_of(f->dst_qemu);
    args = g_strdup_printf("{\"domain\": \"%s\", \"listen\": \"%s\", \"resume\": false}",
                           dst_domain, uri);
    g_free(vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0));
    g_free(args);
    src_domain = vmig_test_domain_of(f->src_qemu);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 2, "
                           "\"tunables\": [\"max-bandwidth=4G\"]}",
                           src_domain, uri);
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    g_free(vmig_test_wait_done(f->src_ctl, "completed"));
    g_free(vmig_test_wait_done(f->dst_ctl, "completed"));
    record = vmig_test_execute_fds(f->src_ctl, &f->src, "query-migration",
                                   "{\"migration\": \"m1\"}", NULL, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(record), "peer"),
                    ==, uri);
    g_assert_cmpint(
        json_object_get_int_member(
            json_object_get_object_member(json_node_get_object(record), "channels"),
            "received"),
        ==, 2);
    assert_memory_equal(f);
}

/*
 * Another local user cannot reach a prepared migration: its connection to
 * the destination's unix listener is closed at once (SO_PEERCRED), without
 * a word of the handshake, and the real source migrates afterwards.  Root
 * only: the test needs another uid to connect from.
 */
static void
test_other_uid(Fixture *f, gconstpointer data)
{
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *src_domain = NULL;
    const char *path;
    int status = 0;

    SKIP_WITHOUT_QEMU(f);
    if (geteuid() != 0) {
        g_test_skip("needs root, to connect as another uid");
        return;
    }
    start_daemons(f);
    dest = prepare_uri(f, NULL);
    path = dest + strlen("unix:");
    /* Reachable by anyone, as a socket in a shared directory or made with a
     * loose umask would be: only the daemon's own check stands. */
    g_assert_cmpint(chmod(f->tmpdir, 0711), ==, 0);
    g_assert_cmpint(chmod(path, 0777), ==, 0);
    {
        /* nobody: connect, say "VMGM", and expect the daemon to hang up.
         * setpriv drops to nobody after the exec: a forked copy of this
         * process (under valgrind too) does nothing but exec. */
        static const char script[] = "import select, socket, sys\n"
                                     "s = socket.socket(socket.AF_UNIX)\n"
                                     "try:\n"
                                     "    s.connect(sys.argv[1])\n"
                                     "except OSError:\n"
                                     "    sys.exit(11)\n"
                                     "try:\n"
                                     "    s.sendall(b'VMGM')\n"
                                     "except OSError:\n"
                                     "    sys.exit(0)\n"
                                     "if not select.select([s], [], [], 10)[0]:\n"
                                     "    sys.exit(12)\n"
                                     "try:\n"
                                     "    data = s.recv(1)\n"
                                     "except OSError:\n"
                                     "    data = b''\n"
                                     "sys.exit(13 if data else 0)\n";
        const char *const argv[] = {"setpriv",
                                    "--reuid=65534",
                                    "--regid=65534",
                                    "--clear-groups",
                                    "/usr/bin/python3",
                                    "-c",
                                    script,
                                    path,
                                    NULL};
        g_autoptr(GError) error = NULL;

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                                   NULL, NULL, NULL, &status, &error));
        g_assert_no_error(error);
    }
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);

    /* The prepared migration is still there for the real source. */
    src_domain = vmig_test_domain_of(f->src_qemu);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                           "\"tunables\": [\"max-bandwidth=4G\"]}",
                           src_domain, dest);
    g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0));
    g_free(vmig_test_wait_done(f->src_ctl, "completed"));
    g_free(vmig_test_wait_done(f->dst_ctl, "completed"));
    assert_memory_equal(f);
}

/*
 * The daemons stay quiet while QEMU streams: one channel (no bridge), 2 s
 * or so at 64 MiB/s, and each daemon uses under 30 % of a CPU meanwhile,
 * heartbeats and progress reads included.  (A main channel polled for
 * writing with nothing to write once spun both daemons at 100 %, and
 * cost the guest 20 ms of downtime on 2 cores.)
 */
static void
test_quiet(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    guint64 src_ticks, dst_ticks;
    gint64 start, wall_ms;
    long hz = sysconf(_SC_CLK_TCK);

    SKIP_WITHOUT_QEMU(f);
    start_daemons(f);
    dest = prepare_uri(f, NULL);
    src_domain = vmig_test_domain_of(f->src_qemu);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                           "\"tunables\": [\"max-bandwidth=64M\"]}",
                           src_domain, dest);
    src_ticks = cpu_ticks(f->src.pid);
    dst_ticks = cpu_ticks(f->dst.pid);
    start = g_get_monotonic_time();
    g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0));
    g_free(vmig_test_wait_done(f->src_ctl, "completed"));
    g_free(vmig_test_wait_done(f->dst_ctl, "completed"));
    wall_ms = (g_get_monotonic_time() - start) / 1000;
    src_ticks = (cpu_ticks(f->src.pid) - src_ticks) * 1000 / hz;
    dst_ticks = (cpu_ticks(f->dst.pid) - dst_ticks) * 1000 / hz;
    g_test_message("%" G_GINT64_FORMAT " ms: the source daemon used %" G_GUINT64_FORMAT
                   " ms of CPU, the destination %" G_GUINT64_FORMAT " ms",
                   wall_ms, src_ticks, dst_ticks);
    g_assert_cmpint(wall_ms, >, 1000);
    g_assert_cmpuint(src_ticks * 10, <, (guint64)wall_ms * 3);
    g_assert_cmpuint(dst_ticks * 10, <, (guint64)wall_ms * 3);

    /* Over a second of stream: heartbeats went both ways, counted and not
     * listed, and their bytes are in the handshake's count. */
    for (gint side = 0; side < 2; side++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) record = vmig_test_execute_fds(
            side ? f->dst_ctl : f->src_ctl, side ? &f->dst : &f->src, "query-migration",
            "{\"migration\": \"m1\"}", NULL, 0, &error);
        JsonObject *transcript;
        JsonObject *beats;
        JsonArray *frames;

        g_assert_no_error(error);
        assert_transcript(json_node_get_object(record), side == 0);
        transcript =
            json_object_get_object_member(json_node_get_object(record), "transcript");
        beats = json_object_get_object_member(transcript, "heartbeats");
        frames = json_object_get_array_member(transcript, "frames");
        g_assert_cmpint(json_object_get_int_member(beats, "sent"), >, 0);
        g_assert_cmpint(json_object_get_int_member(beats, "received"), >, 0);
        /* A HEARTBEAT is a header and nothing else. */
        g_assert_cmpint(json_object_get_int_member(beats, "bytes-sent"), ==,
                        12 * json_object_get_int_member(beats, "sent"));
        for (guint i = 0; i < json_array_get_length(frames); i++) {
            JsonObject *frame = json_array_get_object_element(frames, i);

            g_assert_cmpstr(json_object_get_string_member(frame, "type"), !=,
                            "HEARTBEAT");
        }
    }
}

/*
 * N-1: a version-2 daemon and a daemon that offers only version 1
 * (--max-protocol 1), either way round, migrate with version 1's
 * behaviour; both records say so and what that loses.  resolve is refused
 * for a migration that is not unknown.
 */
static void
test_n_minus_1(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    const char *const v1[] = {"--channel-timeout", "1", "--max-protocol", "1", NULL};
    const char *const v2[] = {"--channel-timeout", "1", NULL};
    gboolean old_source = g_str_equal(c->variant, "source");
    g_autofree char *src_domain = vmig_test_domain_of(f->src_qemu);
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, "src-host", old_source ? v1 : v2, 0);
    daemon_start(f, &f->dst, "dst-host", old_source ? v2 : v1, 0);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    dest = prepare_uri(f, NULL);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"channels\": 2, "
                           "\"tunables\": [\"max-bandwidth=4G\"]}",
                           src_domain, dest);
    g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0));
    g_free(vmig_test_wait_done(f->src_ctl, "completed"));
    g_free(vmig_test_wait_done(f->dst_ctl, "completed"));
    for (guint i = 0; i < 2; i++) {
        VmigGuestMonitor *ctl = i ? f->dst_ctl : f->src_ctl;
        VmigTestDaemon *d = i ? &f->dst : &f->src;
        g_autoptr(JsonNode) rec = vmig_test_execute_fds(
            ctl, d, "query-migration", "{\"migration\": \"m1\"}", NULL, 0, &error);
        JsonObject *o;
        JsonArray *lost;
        g_autoptr(JsonNode) refused = NULL;

        g_assert_no_error(error);
        o = json_node_get_object(rec);
        g_assert_cmpint(json_object_get_int_member(o, "version"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(
                            json_object_get_object_member(o, "channels"), "received"),
                        ==, 2);
        lost = json_object_get_array_member(o, "lost-guarantees");
        g_assert_nonnull(lost);
        g_assert_cmpstr(json_array_get_string_element(lost, 0), ==,
                        "confirmed switchover");
        g_assert_false(json_object_has_member(o, "switchover"));
        refused = vmig_test_execute_fds(ctl, d, "resolve",
                                        "{\"migration\": \"m1\", \"action\": "
                                        "\"resume-here\"}",
                                        NULL, 0, &error);
        g_assert_null(refused);
        g_assert_nonnull(strstr(error->message,
                                "only a migration whose switchover was not "
                                "confirmed (state 'unknown') is resolved"));
        g_clear_error(&error);
    }
    assert_memory_equal(f);
}

/* ---- main ----------------------------------------------------------------------------
 */

static const Case uri_1 = {FALSE, FALSE, 0, -1, NULL};
static const Case uri_4 = {FALSE, FALSE, 4, -1, NULL};
static const Case fd_1 = {FALSE, FALSE, 0, 0, NULL};
static const Case fd_4 = {FALSE, FALSE, 4, 4, NULL};
static const Case fd_degraded = {FALSE, FALSE, 4, 2, NULL};
/* 16 asked (15 multifd + QEMU's stream), 24 supplied: 8 surplus. */
static const Case fd_surplus = {FALSE, FALSE, 15, 23, NULL};
static const Case dirty = {TRUE, TRUE, 2, -1, NULL};
static const Case plain = {FALSE, FALSE, 0, -1, NULL};
static const Case wrong_magic = {FALSE, FALSE, 0, -1, "wrong-magic"};
static const Case oversized = {FALSE, FALSE, 0, -1, "oversized"};
static const Case truncated = {FALSE, FALSE, 0, -1, "truncated"};
static const Case old_source = {FALSE, FALSE, 2, -1, "source"};
static const Case old_destination = {FALSE, FALSE, 2, -1, "destination"};
static const Case compression_2 = {FALSE, FALSE, 2, -1, NULL};
static const Case experimental_both = {FALSE, FALSE, 2, -1, "both"};
static const Case experimental_source = {FALSE, FALSE, 2, -1, "source"};
static const Case experimental_destination = {FALSE, FALSE, 2, -1, "destination"};

static const Case silent_peer = {FALSE, FALSE, 0, -1, "silent"};
static const Case other_service = {FALSE, FALSE, 0, -1, "other-service"};
static const Case legacy_unix = {FALSE, FALSE, 0, -1, "unix"};
static const Case legacy_fd = {FALSE, FALSE, 0, 1, "fd"};
static const Case legacy_tcp = {FALSE, FALSE, 0, -1, "tcp"};
static const Case legacy_held = {FALSE, FALSE, 0, -1, "refused-then-held"};
static const Case legacy_both_sides = {FALSE, FALSE, 0, -1, "needs-both-sides"};
static const Case legacy_dies = {FALSE, FALSE, 0, -1, "held-peer-dies"};
static const Case legacy_cancel = {FALSE, FALSE, 0, -1, "cancel"};

static void
add(const char *path, const Case *c, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, c, fixture_setup, func, fixture_teardown);
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int status;

    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    pattern_dir = g_dir_make_tmp("vmig-pattern-XXXXXX", &error);
    g_assert_no_error(error);
    pattern_path = g_build_filename(pattern_dir, "pattern.bin", NULL);
    g_assert_true(
        vmig_guest_write_pattern(pattern_path, PATTERN_SIZE, PATTERN_SEED, &error));

    add("/migrate/uri/1-channel", &uri_1, test_migrate);
    add("/migrate/uri/4-channels", &uri_4, test_migrate);
    add("/migrate/uri/ipv6", &plain, test_ipv6);
    add("/migrate/fd/1-channel", &fd_1, test_migrate);
    add("/migrate/fd/4-channels", &fd_4, test_migrate);
    add("/migrate/fd/4-asked-2-supplied", &fd_degraded, test_migrate);
    add("/migrate/fd/16-asked-24-supplied", &fd_surplus, test_migrate);
    add("/migrate/dirtying-guest", &dirty, test_dirty);
    add("/migrate/postcopy", &plain, test_postcopy);
    add("/migrate/concurrent", &plain, test_concurrent);
    add("/migrate/cancel", &plain, test_cancel);
    add("/migrate/cli/jobs", &plain, test_cli_jobs);
    add("/migrate/cli/postcopy", &plain, test_cli_postcopy);
    add("/migrate/quiet-while-streaming", &plain, test_quiet);
    add("/migrate/faults/other-uid", &plain, test_other_uid);
    add("/migrate/n-1/version-1-source", &old_source, test_n_minus_1);
    add("/migrate/n-1/version-1-destination", &old_destination, test_n_minus_1);
    add("/migrate/experimental/both-opt-in", &experimental_both, test_experimental);
    add("/migrate/experimental/source-only", &experimental_source, test_experimental);
    add("/migrate/experimental/destination-only", &experimental_destination,
        test_experimental);
    add("/migrate/refused/feature-mismatch", &plain, test_mismatch);
    add("/migrate/refused/compression-asked", &compression_2, test_compression_refused);
    add("/migrate/refused/compression-asked-no-multifd", &plain,
        test_compression_refused);
    add("/migrate/refused/too-many", &plain, test_too_many);
    add("/migrate/put-back/after-completed", &plain, test_put_back_completed);
    add("/migrate/put-back/after-failed", &plain, test_put_back_failed);
    add("/migrate/release/seventy", &plain, test_seventy);
    add("/migrate/faults/strangers", &plain, test_strangers);
    add("/migrate/faults/flood", &plain, test_flood);
    add("/migrate/faults/greeting-wrong-magic", &wrong_magic, test_malformed_greeting);
    add("/migrate/faults/greeting-oversized", &oversized, test_malformed_greeting);
    add("/migrate/faults/greeting-truncated", &truncated, test_malformed_greeting);
    add("/migrate/not-a-driver/silent", &silent_peer, test_not_a_driver);
    add("/migrate/not-a-driver/other-service", &other_service, test_not_a_driver);
    add("/migrate/legacy/unix", &legacy_unix, test_legacy);
    add("/migrate/legacy/fd", &legacy_fd, test_legacy);
    add("/migrate/legacy/tcp", &legacy_tcp, test_legacy);
    add("/migrate/legacy/refused-then-held", &legacy_held, test_legacy);
    add("/migrate/legacy/needs-both-sides", &legacy_both_sides, test_legacy);
    add("/migrate/legacy/held-peer-dies", &legacy_dies, test_legacy);
    add("/migrate/legacy/cancel", &legacy_cancel, test_legacy);
    add("/migrate/legacy/held-bounds", &plain, test_held_bounds);
    add("/migrate/faults/reply-wrong-magic", &wrong_magic, test_malformed_reply);
    add("/migrate/faults/reply-oversized", &oversized, test_malformed_reply);
    add("/migrate/faults/reply-truncated", &truncated, test_malformed_reply);
    add("/migrate/faults/peer-killed-in-handshake", &plain, test_killed_handshake);
    add("/migrate/faults/peer-killed-in-stream", &plain, test_killed_stream);

    status = g_test_run();
    g_unlink(pattern_path);
    g_rmdir(pattern_dir);
    g_free(pattern_path);
    g_free(pattern_dir);
    return status;
}
