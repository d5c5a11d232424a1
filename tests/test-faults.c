/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-faults.c: the fault matrix of protocol version 2 (issue "never lose
 * a guest"), on real daemons and real TCG guests
 *
 * Each case runs a migration between two daemons through a relay
 * (tests/relay-helper.h) that sits on the drivers' connections and can
 * hold a direction from a given frame on, or cut every connection.  At
 * one moment of the migration one actor fails:
 *
 *   actors   the destination daemon, the source daemon (SIGKILL; or
 *            SIGTERM, then restarted), the destination QEMU (SIGKILL),
 *            the connection between the drivers (reset), a silent
 *            partition (nothing passes, nothing closes)
 *   moments  before GREETING, after GREETING, while the source collects
 *            its channels (fd mode), after COMMIT before READY, early in
 *            the stream, mid-stream, after the source QEMU completed and
 *            before LOADED, between SWITCHOVER and RESUMED
 *
 * with one data channel and with three (2 multifd).  Each time it asserts:
 * every surviving daemon's app gets MIGRATION_DONE with a reason within
 * the heartbeat bound; the guest runs on exactly one side (before LOADED
 * always the source; both paused only where the driver says `unknown`,
 * and then `resolve` puts it on one side); the survivors' fds are back at
 * their baseline; and the guest then migrates again, through the
 * survivors (a killed daemon restarted), with its RAM pattern intact.
 *
 * The whole matrix runs when VMIG_TEST_FAULT_MATRIX=full (.ci/run's -Werror
 * build); otherwise a cross-section that still touches every actor and
 * every moment (under valgrind each case costs many seconds).
 */
#include <config.h>

#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "fdpass/fd.h"
#include "tests/daemon-helper.h"
#include "tests/guest-helper.h"
#include "tests/migrate-helper.h"
#include "tests/relay-helper.h"
#include "tests/testutil.h"

#define PATTERN_SIZE (32u << 20)
#define PATTERN_SEED 0xfa17
#define RAM_MIB      128u
/* The daemons' heartbeats here: 1 s, and 3 s of silence is a loss. */
#define HEARTBEAT_TIMEOUT_S 3
/*
 * How soon after the fault every survivor must have said MIGRATION_DONE:
 * the heartbeat timeout, a heartbeat tick, the moment a QEMU failure waits
 * for the peer's word, and room for a loaded 2-core machine (valgrind
 * around the test included).  A hang (before: over 150 s) is far beyond
 * it; the slowest here is a silent peer, at 3.3 s.
 */
#define DONE_BOUND_MS ((HEARTBEAT_TIMEOUT_S + 2) * 1000 + 5000)

static char *pattern_dir;
static char *pattern_path;

typedef enum {
    ACT_DST_DAEMON, /* SIGKILL */
    ACT_SRC_DAEMON, /* SIGKILL */
    ACT_DST_QEMU,   /* SIGKILL */
    ACT_CUT,        /* every drivers' connection reset */
    ACT_FREEZE,     /* nothing passes, nothing closes */
    ACT_TERM_DST,   /* SIGTERM, then the daemon restarted */
    ACT_TERM_SRC,
    ACT_LAST
} Actor;

static const char *const actor_names[] = {
    "dst-daemon", "src-daemon", "dst-qemu", "cut", "freeze", "sigterm-dst", "sigterm-src",
};
G_STATIC_ASSERT(G_N_ELEMENTS(actor_names) == ACT_LAST);

typedef enum {
    AT_BEFORE_GREETING,
    AT_AFTER_GREETING,
    AT_COLLECTING,
    AT_BEFORE_READY,
    AT_EARLY_STREAM,
    AT_MID_STREAM,
    AT_BEFORE_LOADED,
    AT_BEFORE_RESUMED,
    AT_LAST
} Moment;

static const char *const moment_names[] = {
    "before-greeting", "after-greeting", "collecting",    "before-ready",
    "early-stream",    "mid-stream",     "before-loaded", "before-resumed",
};
G_STATIC_ASSERT(G_N_ELEMENTS(moment_names) == AT_LAST);

typedef struct {
    Actor actor;
    Moment moment;
    guint channels; /* multifd channels asked for: 0 (one data channel) or 2 */
} Case;

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
    guint src_base; /* the daemons' fds before the migration */
    guint dst_base;
    guint restarts; /* for the restarted daemons' directory names */
    VmigRelay *relay;
    guint16 dst_port;
} Fixture;

/* ---- processes ------------------------------------------------------------------- */

/* Starts a daemon "@name" in the fixture's directory, with short heartbeats. */
static void
daemon_start(Fixture *f, VmigTestDaemon *d, const char *name)
{
    const char *const extra[] = {"--heartbeat-interval",
                                 "1",
                                 "--heartbeat-timeout",
                                 G_STRINGIFY(HEARTBEAT_TIMEOUT_S),
                                 "--channel-timeout",
                                 "5",
                                 NULL};
    g_autofree char *dir = g_strdup_printf("%s/%s-%u", f->tmpdir, name, f->restarts++);
    g_autofree char *log = g_strdup_printf("%s.log", dir);
    const VmigTestDaemonOptions options = {.extra = extra, .verbose = TRUE};
    g_autoptr(GError) error = NULL;

    vmig_test_daemon_start(d, dir, log, &options, &error);
    g_assert_no_error(error);
}
/*
 * Returns: the run status of @qemu's guest through its spare monitor @aux,
 * or "gone" once its process ended (to free).
 */
static char *
status_of(VmigTestQemu *qemu, const char *aux)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    VmigGuestMonitor *monitor;
    gboolean ok;

    if (!qemu || vmig_test_qemu_wait(qemu, 0))
        return g_strdup("gone");
    /*
     * Bounded: a destination QEMU 7.2 whose multifd channels ended
     * mid-stream (its daemon killed) waits on them with its main loop
     * blocked, and answers nothing; its guest never started.
     */
    monitor = vmig_guest_monitor_open(aux, 5000, &error);
    ok = monitor &&
         vmig_guest_monitor_execute(monitor, "query-status", NULL, 5000, &ret, &error);
    g_clear_pointer(&monitor, vmig_guest_monitor_close);
    if (!ok) {
        /* A QEMU told to quit stops answering before it is reaped. */
        if (vmig_test_qemu_wait(qemu, 5000))
            return g_strdup("gone");
        if (g_error_matches(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT))
            return g_strdup("unresponsive");
        g_error("query-status on '%s': %s", aux, error->message);
    }
    return g_strdup(json_object_get_string_member(json_node_get_object(ret), "status"));
}

/*
 * Returns: TRUE if @qemu's guest runs.  A status read just after a source
 * QEMU's migration ended may still be finish-migrate for a moment: that
 * one is waited out (10 s at most); every other status is where the
 * guest stays.
 */
static gboolean
runs(VmigTestQemu *qemu, const char *aux)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autofree char *status = status_of(qemu, aux);

    while (g_str_equal(status, "finish-migrate") && g_get_monotonic_time() < deadline) {
        g_usleep(20 * 1000);
        g_free(status);
        status = status_of(qemu, aux);
    }
    return g_str_equal(status, "running");
}

/* Waits (at most 60 s) until the source QEMU's migration is no longer under way. */
static void
settle_source(Fixture *f)
{
    g_autofree char *status = NULL;

    if (!f->src_qemu || vmig_test_qemu_wait(f->src_qemu, 0))
        return;
    status = vmig_test_migration_settle(f->src_qemu, f->src_aux, 60);
    /* QEMU 7.2's cancel of a multifd migration whose channels broke can
     * hang; the guest's place is judged anyway. */
    if (vmig_test_migration_running(status))
        g_test_message("the source QEMU's migration is still '%s' 60 s after the end",
                       status);
}

/* Returns: what process @pid's fds are, one "N -> TARGET" a line (to free). */
static char *
fd_list(GPid pid)
{
    g_autofree char *dir_path = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
    GString *out = g_string_new(NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *link = g_build_filename(dir_path, name, NULL);
        g_autofree char *target = g_file_read_link(link, NULL);

        g_string_append_printf(out, "  %s -> %s\n", name, target ? target : "?");
    }
    return g_string_free(out, FALSE);
}

/*
 * Asserts that daemon @d holds @base fds again.  A daemon releases a
 * migration's fds before its MIGRATION_DONE; what it may still be closing
 * is a control connection a CLI just left (it sees the hang-up on its next
 * turn): so a short, bounded wait, and the list when it was needed.
 */
static void
assert_fds_back(VmigTestDaemon *d, guint base, const char *side)
{
    gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
    guint n = vmig_test_count_fds(d->pid);

    if (n != base) {
        g_autofree char *list = fd_list(d->pid);

        g_test_message("the %s daemon holds %u fds, %u before:\n%s", side, n, base, list);
    }
    while (n != base && g_get_monotonic_time() < deadline) {
        g_usleep(20 * 1000);
        n = vmig_test_count_fds(d->pid);
    }
    g_assert_cmpuint(n, ==, base);
}

/* ---- fixture ------------------------------------------------------------------ */

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    VmigGuestOptions src = {.ram_mib = RAM_MIB, .pattern_path = pattern_path};
    /* No -S: the driver itself keeps the arriving guest paused (QMP stop). */
    VmigGuestOptions dst = {.ram_mib = RAM_MIB};

    if (!vmig_test_have_qemu())
        return;
    f->tmpdir = g_dir_make_tmp("vmig-faults-XXXXXX", &error);
    g_assert_no_error(error);
    f->src_qemu = vmig_guest_start_source(&src, &error);
    g_assert_no_error(error);
    f->dst_qemu = vmig_guest_start_destination(&dst, &error);
    g_assert_no_error(error);
    f->src_aux = vmig_guest_aux_qmp_path(f->src_qemu);
    f->dst_aux = vmig_guest_aux_qmp_path(f->dst_qemu);
    daemon_start(f, &f->src, "src-host");
    daemon_start(f, &f->dst, "dst-host");
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    /* A round trip first: the daemon has then seen its start-up check's
     * connection (vmig_test_daemon_start()) hang up, and the baseline
     * counts only what it keeps. */
    for (guint i = 0; i < 2; i++) {
        g_autoptr(JsonNode) version =
            vmig_test_execute_fds(i ? f->dst_ctl : f->src_ctl, i ? &f->dst : &f->src,
                                  "query-version", NULL, NULL, 0, &error);

        g_assert_no_error(error);
    }
    f->src_base = vmig_test_count_fds(f->src.pid);
    f->dst_base = vmig_test_count_fds(f->dst.pid);
    f->dst_port = vmig_test_free_port();
    f->relay = vmig_relay_new(f->dst_port, &error);
    g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    /* A failed case shows what each daemon said (their directories go). */
    if (f->src.log && (g_test_failed() || g_getenv("VMIG_TEST_DAEMON_LOGS"))) {
        g_autofree char *src = vmig_test_daemon_log_tail(&f->src);
        g_autofree char *dst = vmig_test_daemon_log_tail(&f->dst);

        g_test_message("---- the source daemon's log:\n%s", src);
        g_test_message("---- the destination daemon's log:\n%s", dst);
    }
    g_clear_pointer(&f->relay, vmig_relay_free);
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

#define SKIP_WITHOUT_QEMU(f)                                                             \
    do {                                                                                 \
        if (!(f)->src_qemu) {                                                            \
            g_test_skip("qemu-system-x86_64 is not installed");                          \
            return;                                                                      \
        }                                                                                \
    } while (0)

/* ---- the migration up to the moment -------------------------------------------------
 */

/* The relay rule that stops a migration at @moment, if one does. */
static gboolean
hold_for(Moment moment, VmigRelayDir *dir, guint16 *type)
{
    switch (moment) {
    case AT_BEFORE_GREETING:
        *dir = VMIG_RELAY_DST_TO_SRC;
        *type = VMIG_RELAY_FRAME_GREETING;
        return TRUE;
    case AT_AFTER_GREETING:
        *dir = VMIG_RELAY_SRC_TO_DST;
        *type = VMIG_RELAY_FRAME_REPLY;
        return TRUE;
    case AT_BEFORE_READY:
        *dir = VMIG_RELAY_DST_TO_SRC;
        *type = VMIG_RELAY_FRAME_READY;
        return TRUE;
    case AT_BEFORE_LOADED:
        *dir = VMIG_RELAY_DST_TO_SRC;
        *type = VMIG_RELAY_FRAME_LOADED;
        return TRUE;
    case AT_BEFORE_RESUMED:
        *dir = VMIG_RELAY_SRC_TO_DST;
        *type = VMIG_RELAY_FRAME_SWITCHOVER;
        return TRUE;
    default:
        return FALSE;
    }
}

/* Returns: a TCP connection to the relay (the main channel an app would open). */
static int
dial_relay(Fixture *f)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons(vmig_relay_port(f->relay)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(connect(sock, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    return sock;
}

/* Starts migration m1 (the destination in URI mode behind the relay) and waits
 * for @c->moment. */
static void
migrate_to_moment(Fixture *f, const Case *c)
{
    g_autofree char *src_domain = vmig_test_domain_of(f->src_qemu);
    g_autofree char *dst_domain = vmig_test_domain_of(f->dst_qemu);
    /* Slow enough for the stream's moments to be caught (16 MiB/s, 32 MiB
     * of pattern), fast for the others. */
    const char *bandwidth =
        c->moment == AT_EARLY_STREAM || c->moment == AT_MID_STREAM ? "16M" : "4G";
    g_autofree char *dst_args = g_strdup_printf(
        "{\"domain\": \"%s\", \"listen\": \"tcp:127.0.0.1:%u\", \"resume\": true}",
        dst_domain, f->dst_port);
    g_autofree char *id = NULL;
    VmigRelayDir dir;
    guint16 type;

    id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", dst_args, NULL, 0);
    g_assert_cmpstr(id, ==, "m1");
    g_clear_pointer(&id, g_free);
    if (hold_for(c->moment, &dir, &type))
        vmig_relay_hold_frame(f->relay, dir, type);

    if (c->moment == AT_COLLECTING) {
        /* fd mode: the app dialled the main channel itself (through the
         * relay), and is asked for the data channels: hold them back. */
        g_autofree char *args = g_strdup_printf(
            "{\"domain\": \"%s\", \"channels\": %u, \"channel-timeout\": 60, "
            "\"tunables\": [\"max-bandwidth=%s\"]}",
            src_domain, c->channels, bandwidth);
        g_auto(VmigFd) main_fd = dial_relay(f);
        g_autoptr(JsonObject) request = NULL;

        id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, &main_fd, 1);
        request = vmig_test_wait_event(f->src_ctl, "CHANNELS_REQUESTED");
        g_assert_cmpint(json_object_get_int_member(request, "count"), ==,
                        c->channels + 1);
        return;
    }
    {
        g_autofree char *args = g_strdup_printf(
            "{\"domain\": \"%s\", \"dest\": \"tcp:127.0.0.1:%u\", \"channels\": %u, "
            "\"tunables\": [\"max-bandwidth=%s\"]}",
            src_domain, vmig_relay_port(f->relay), c->channels, bandwidth);

        id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0);
    }
    switch (c->moment) {
    case AT_EARLY_STREAM:
    case AT_MID_STREAM: {
        guint64 mark = c->moment == AT_EARLY_STREAM ? (1u << 20) : PATTERN_SIZE / 2;
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

        while (vmig_relay_data_bytes(f->relay) < mark) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(5 * 1000);
        }
        return;
    }
    case AT_BEFORE_LOADED: {
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

        g_assert_true(vmig_relay_wait_held(f->relay, VMIG_TEST_WAIT_MS));
        /* ... and the source QEMU has sent everything: its guest is paused. */
        for (;;) {
            g_autofree char *status = vmig_test_migration_status(f->src_qemu, f->src_aux);

            if (g_str_equal(status, "completed"))
                break;
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(10 * 1000);
        }
        return;
    }
    default:
        g_assert_true(vmig_relay_wait_held(f->relay, VMIG_TEST_WAIT_MS));
        return;
    }
}

/* ---- the fault ------------------------------------------------------------------ */

/* Fails @c->actor.  Returns: when (monotonic us). */
static gint64
act(Fixture *f, const Case *c)
{
    switch (c->actor) {
    case ACT_DST_DAEMON:
        g_clear_pointer(&f->dst_ctl, vmig_guest_monitor_close);
        vmig_test_daemon_stop(&f->dst, SIGKILL);
        /* What the dead process had in flight never arrives: its
         * connections end as a killed process's do, at once. */
        vmig_relay_cut(f->relay);
        break;
    case ACT_SRC_DAEMON:
        g_clear_pointer(&f->src_ctl, vmig_guest_monitor_close);
        vmig_test_daemon_stop(&f->src, SIGKILL);
        vmig_relay_cut(f->relay);
        break;
    case ACT_DST_QEMU:
        vmig_test_qemu_kill(f->dst_qemu, SIGKILL);
        g_assert_true(vmig_test_qemu_wait(f->dst_qemu, 10000));
        /* The destination daemon lives and says why: let its words pass. */
        vmig_relay_release(f->relay);
        break;
    case ACT_CUT:
        vmig_relay_cut(f->relay);
        break;
    case ACT_FREEZE:
        vmig_relay_freeze(f->relay);
        break;
    case ACT_TERM_DST:
        g_assert_cmpint(vmig_test_daemon_stop(&f->dst, SIGTERM), ==, 0);
        break;
    case ACT_TERM_SRC:
        g_assert_cmpint(vmig_test_daemon_stop(&f->src, SIGTERM), ==, 0);
        break;
    default:
        g_assert_not_reached();
    }
    return g_get_monotonic_time();
}

/* Returns: the MIGRATION_DONE of m1 on @ctl, checked to come within the bound. */
static JsonObject *
done_within(VmigGuestMonitor *ctl, gint64 since, const char *side)
{
    g_autoptr(GError) error = NULL;
    JsonObject *done = NULL;
    gint64 waited;

    g_assert_true(vmig_guest_monitor_wait_event(ctl, "MIGRATION_DONE", DONE_BOUND_MS,
                                                &done, &error));
    g_assert_no_error(error);
    waited = (g_get_monotonic_time() - since) / 1000;
    g_test_message("%s: %s after %" G_GINT64_FORMAT " ms: %s", side,
                   json_object_get_string_member(done, "result"), waited,
                   json_object_get_string_member_with_default(done, "error", "-"));
    g_assert_cmpstr(json_object_get_string_member(done, "migration"), ==, "m1");
    /* Every end but success names its reason. */
    if (!g_str_equal(json_object_get_string_member(done, "result"), "completed"))
        g_assert_cmpuint(
            strlen(json_object_get_string_member_with_default(done, "error", "")), >, 0);
    return done;
}

/*
 * Runs `virt-migrate resolve m1 --ACTION` against daemon @d, as an
 * operator would.  Returns: the state it says the migration ended in (to
 * free).
 */
static char *
resolve(Fixture *f, VmigGuestMonitor *ctl, VmigTestDaemon *d, const char *action)
{
    g_autofree char *cli =
        g_test_build_filename(G_TEST_BUILT, "..", "tools", "virt-migrate", NULL);
    g_autofree char *flag = g_strdup_printf("--%s", action);
    const char *const argv[] = {cli, "--daemon-socket", d->socket, "resolve", "m1", flag,
                                NULL};
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) done = NULL;
    const char *state;
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
    g_assert_no_error(error);
    g_test_message("virt-migrate resolve m1 %s: %s%s", flag, out, err);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_assert_true(g_str_has_prefix(out, "Migration m1 resolved: the guest "));
    /* The migration ends again, as the operator said. */
    done = vmig_test_wait_event(ctl, "MIGRATION_DONE");
    g_assert_cmpstr(json_object_get_string_member(done, "resolved"), ==, action);
    state = json_object_get_string_member(done, "result");
    {
        g_autofree char *ended = g_strdup_printf("; the migration ended %s\n", state);

        g_assert_true(g_str_has_suffix(out, ended));
    }
    return g_strdup(state);
}

/* Restarts a daemon the fault stopped, for the next migration. */
static void
restart(Fixture *f, VmigTestDaemon *d, VmigGuestMonitor **ctl, const char *name)
{
    g_clear_pointer(ctl, vmig_guest_monitor_close);
    vmig_test_daemon_clear(d);
    daemon_start(f, d, name);
    *ctl = vmig_test_control_open(d);
}

/*
 * The next migration, straight (no relay, one data channel): the guest
 * from @from_qemu, through daemon @from to daemon @to, into a fresh QEMU
 * on @to's host, which then holds the pattern.
 */
static void
migrate_again(Fixture *f, VmigTestDaemon *from, VmigGuestMonitor *from_ctl,
              VmigTestQemu *from_qemu, VmigTestDaemon *to, VmigGuestMonitor *to_ctl)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTestQemu) next =
        vmig_guest_start_destination(&(VmigGuestOptions){.ram_mib = RAM_MIB}, &error);
    g_autofree char *next_aux = NULL;
    g_autofree char *next_domain = NULL;
    g_autofree char *from_domain = vmig_test_domain_of(from_qemu);
    g_autofree char *listen = NULL;
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    g_autofree char *dst_id = NULL;

    g_assert_no_error(error);
    next_aux = vmig_guest_aux_qmp_path(next);
    next_domain = vmig_test_domain_of(next);
    listen = g_strdup_printf("unix:%s/next-%u.sock", f->tmpdir, f->restarts++);
    args = g_strdup_printf("{\"domain\": \"%s\", \"listen\": \"%s\", \"resume\": true}",
                           next_domain, listen);
    dst_id = vmig_test_execute_id(to_ctl, to, "prepare-incoming", args, NULL, 0);
    g_free(args);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"tunables\": "
                           "[\"max-bandwidth=4G\"]}",
                           from_domain, listen);
    id = vmig_test_execute_id(from_ctl, from, "migrate", args, NULL, 0);
    for (guint done = 0; done < 2;) {
        VmigGuestMonitor *ctl = done == 0 ? from_ctl : to_ctl;
        const char *want = done == 0 ? id : dst_id;
        g_autoptr(JsonObject) ev = vmig_test_wait_event(ctl, "MIGRATION_DONE");

        if (!g_str_equal(json_object_get_string_member(ev, "migration"), want))
            continue;
        if (!g_str_equal(json_object_get_string_member(ev, "result"), "completed") &&
            vmig_test_qemu_wait(from_qemu, 5000) &&
            vmig_test_skip_if_qemu_aborted(from_qemu, "source"))
            return; /* QEMU 7.2's cleanup of the broken multifd migration, late */
        if (!g_str_equal(json_object_get_string_member(ev, "result"), "completed"))
            g_error("the next migration ended %s on the %s: %s",
                    json_object_get_string_member(ev, "result"),
                    done == 0 ? "source" : "destination",
                    json_object_get_string_member_with_default(ev, "error", "-"));
        done++;
    }
    g_assert_true(runs(next, next_aux));
    g_assert_true(vmig_guest_verify_pattern(next_aux, VMIG_GUEST_PATTERN_ADDR,
                                            PATTERN_SIZE, PATTERN_SEED, f->tmpdir,
                                            &error));
    g_assert_no_error(error);
}

/* ---- the case -----------------------------------------------------------------------
 */

static void
test_fault(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    gboolean src_alive = c->actor != ACT_SRC_DAEMON && c->actor != ACT_TERM_SRC;
    gboolean dst_alive = c->actor != ACT_DST_DAEMON && c->actor != ACT_TERM_DST;
    g_autoptr(JsonObject) src_done = NULL;
    g_autoptr(JsonObject) dst_done = NULL;
    const char *src_result = NULL, *dst_result = NULL;
    gboolean on_src, on_dst;
    gint64 t0;

    SKIP_WITHOUT_QEMU(f);
    migrate_to_moment(f, c);
    t0 = act(f, c);

    if (src_alive) {
        src_done = done_within(f->src_ctl, t0, "source");
        src_result = json_object_get_string_member(src_done, "result");
    }
    if (dst_alive) {
        dst_done = done_within(f->dst_ctl, t0, "destination");
        dst_result = json_object_get_string_member(dst_done, "result");
    }
    /* A daemon stopped with SIGTERM ends its migrations as it goes: its
     * peer hears why. */
    if (c->actor == ACT_TERM_DST && src_done && g_str_equal(src_result, "failed"))
        g_assert_nonnull(strstr(json_object_get_string_member(src_done, "error"),
                                "destination driver is shutting down"));
    if (c->actor == ACT_TERM_SRC && dst_done && g_str_equal(dst_result, "failed"))
        g_assert_nonnull(strstr(json_object_get_string_member(dst_done, "error"),
                                "source driver is shutting down"));
    /* A silent partition is heard as such. */
    if (c->actor == ACT_FREEZE && g_str_equal(src_result, "failed"))
        g_assert_nonnull(
            strstr(json_object_get_string_member(src_done, "error"), "silent"));

    /* Where the guest is, once the source QEMU's own migration has
     * settled: a multifd migration being cancelled (its channels cut or
     * frozen) can take QEMU 7.2 seconds on a loaded host, and QEMU resumes
     * the guest only at its end. */
    settle_source(f);
    if (vmig_test_skip_if_qemu_aborted(f->src_qemu, "source") ||
        vmig_test_skip_if_qemu_aborted(f->dst_qemu, "destination"))
        return;
    on_src = runs(f->src_qemu, f->src_aux);
    on_dst = c->actor != ACT_DST_QEMU && runs(f->dst_qemu, f->dst_aux);
    g_test_message("the guest runs %s", on_src && on_dst ? "on both sides (!)"
                                        : on_src         ? "on the source"
                                        : on_dst         ? "on the destination"
                                                         : "on neither side (yet)");
    g_assert_false(on_src && on_dst);
    if (c->moment < AT_BEFORE_LOADED) {
        /* Nothing had been loaded: the guest never left the source. */
        g_assert_true(on_src);
        g_assert_cmpstr(src_result ? src_result : "failed", !=, "unknown");
        g_assert_cmpstr(dst_result ? dst_result : "failed", !=, "unknown");
    }
    if (!on_src && !on_dst) {
        /* Both paused: only where a driver says it cannot know, and its
         * operator decides.  A live source resumes its own copy; else the
         * destination runs the one it loaded. */
        g_assert_true(c->moment >= AT_BEFORE_LOADED);
        if (src_result && g_str_equal(src_result, "unknown")) {
            g_autofree char *state = resolve(f, f->src_ctl, &f->src, "resume-here");

            g_assert_cmpstr(state, ==, "failed");
            on_src = runs(f->src_qemu, f->src_aux);
        } else {
            g_autofree char *state = NULL;

            g_assert_cmpstr(dst_result, ==, "unknown");
            state = resolve(f, f->dst_ctl, &f->dst, "resume-here");
            g_assert_cmpstr(state, ==, "completed");
            on_dst = runs(f->dst_qemu, f->dst_aux);
        }
        g_assert_true(on_src != on_dst);
    }
    /* A side left unknown whose guest runs on the other: let go of its copy. */
    if (src_result && g_str_equal(src_result, "unknown") && on_dst) {
        g_autofree char *state = resolve(f, f->src_ctl, &f->src, "discard-here");

        g_assert_cmpstr(state, ==, "completed");
    }
    if (dst_result && g_str_equal(dst_result, "unknown") && on_src) {
        g_autofree char *state = resolve(f, f->dst_ctl, &f->dst, "discard-here");

        g_assert_cmpstr(state, ==, "failed");
    }

    /* A surviving source daemon put its QEMU back as it was. */
    if (src_alive) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) caps = NULL;
        JsonArray *list;

        g_assert_true(vmig_guest_qmp(f->src_aux, "query-migrate-capabilities", NULL,
                                     &caps, &error));
        list = json_node_get_array(caps);
        for (guint i = 0; i < json_array_get_length(list); i++) {
            JsonObject *cap = json_array_get_object_element(list, i);

            if (g_str_equal(json_object_get_string_member(cap, "capability"), "multifd"))
                g_assert_false(json_object_get_boolean_member(cap, "state"));
        }
    }

    /* The survivors hold what they held before. */
    if (src_alive)
        assert_fds_back(&f->src, f->src_base, "source");
    if (dst_alive)
        assert_fds_back(&f->dst, f->dst_base, "destination");

    /* ... and serve the next migration of the guest (a stopped daemon
     * restarted), pattern intact. */
    if (!src_alive)
        restart(f, &f->src, &f->src_ctl, "src-host");
    if (!dst_alive)
        restart(f, &f->dst, &f->dst_ctl, "dst-host");
    if (on_src) {
        /* A source QEMU whose daemon was killed mid-stream may still be
         * finding out that its stream is gone: a new daemon refuses a QEMU
         * that migrates (not its migration). */
        g_autofree char *status = vmig_test_migration_settle(f->src_qemu, f->src_aux, 60);

        g_test_message("source QEMU's migration: %s", status);
        if (vmig_test_migration_running(status))
            g_error("the source QEMU's migration is still '%s' after 60 s", status);
        migrate_again(f, &f->src, f->src_ctl, f->src_qemu, &f->dst, f->dst_ctl);
    } else
        migrate_again(f, &f->dst, f->dst_ctl, f->dst_qemu, &f->src, f->src_ctl);
}

/* ---- main ----------------------------------------------------------------------------
 */

/* Returns: TRUE for a case of the short matrix (every actor and every moment once,
 * in turn). */
static gboolean
in_short_matrix(Actor actor, Moment moment, guint channels)
{
    return (actor + moment + channels / 2) % 4 == 0;
}

int
main(int argc, char **argv)
{
    gboolean full = g_strcmp0(g_getenv("VMIG_TEST_FAULT_MATRIX"), "full") == 0;
    g_autoptr(GPtrArray) cases = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    int status;

    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    pattern_dir = g_dir_make_tmp("vmig-pattern-XXXXXX", &error);
    g_assert_no_error(error);
    pattern_path = g_build_filename(pattern_dir, "pattern.bin", NULL);
    g_assert_true(
        vmig_guest_write_pattern(pattern_path, PATTERN_SIZE, PATTERN_SEED, &error));

    for (guint ch = 0; ch <= 2; ch += 2) {
        for (Moment at = 0; at < AT_LAST; at++) {
            for (Actor who = 0; who < ACT_LAST; who++) {
                Case *c;
                g_autofree char *path = NULL;

                /* A partition is a cut that says nothing: where heartbeats
                 * matter (the stream, the switchover). */
                if (who == ACT_FREEZE && at != AT_MID_STREAM && at != AT_BEFORE_LOADED &&
                    at != AT_BEFORE_RESUMED)
                    continue;
                /* SIGTERM: mid-stream and in the switchover, on either side. */
                if ((who == ACT_TERM_DST || who == ACT_TERM_SRC) && at != AT_MID_STREAM &&
                    at != AT_BEFORE_RESUMED)
                    continue;
                if (!full && !in_short_matrix(who, at, ch))
                    continue;
                c = g_new0(Case, 1);
                c->actor = who;
                c->moment = at;
                c->channels = ch;
                g_ptr_array_add(cases, c);
                path = g_strdup_printf("/faults/%u-channel%s/%s/%s", ch + 1,
                                       ch ? "s" : "", moment_names[at], actor_names[who]);
                g_test_add(path, Fixture, c, fixture_setup, test_fault, fixture_teardown);
            }
        }
    }

    status = g_test_run();
    g_unlink(pattern_path);
    g_rmdir(pattern_dir);
    g_free(pattern_path);
    g_free(pattern_dir);
    return status;
}
