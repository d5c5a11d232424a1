/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-set.c: tunables changed while a migration runs (set-tunables,
 * `virt-migrate set`), and the attempts a daemon refuses, listed
 *
 * Real TCG QEMU guests and two real daemons, as in test-migrate.c; the
 * source QEMU's parameters are read through its spare monitor while the
 * daemon holds the first.  Every process is stopped by pid in the teardown.
 */
#include <config.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "tests/daemon-helper.h"
#include "tests/guest-helper.h"
#include "tests/migrate-helper.h"

#define PATTERN_SIZE (128u << 20)
#define PATTERN_SEED 0x5e7

static char *pattern_dir;
static char *pattern_path;

typedef struct {
    char *tmpdir;
    VmigTestQemu *src_qemu;
    VmigTestQemu *dst_qemu;
    char *src_aux;
    VmigTestDaemon src;
    VmigTestDaemon dst;
    VmigGuestMonitor *src_ctl;
    VmigGuestMonitor *dst_ctl;
} Fixture;

#define SKIP_WITHOUT_QEMU(f)                                                             \
    do {                                                                                 \
        if (!(f)->src_qemu) {                                                            \
            g_test_skip("qemu-system-x86_64 is not installed");                          \
            return;                                                                      \
        }                                                                                \
    } while (0)

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    VmigGuestOptions src = {.pattern_path = pattern_path}, dst = {.paused = TRUE};

    f->tmpdir = g_dir_make_tmp("vmig-set-XXXXXX", &error);
    g_assert_no_error(error);
    if (!vmig_test_have_qemu())
        return;
    f->src_qemu = vmig_guest_start_source(&src, &error);
    g_assert_no_error(error);
    f->dst_qemu = vmig_guest_start_destination(&dst, &error);
    g_assert_no_error(error);
    f->src_aux = vmig_guest_aux_qmp_path(f->src_qemu);
}

/* Stops daemon @d, if it runs, and asserts it exited cleanly (0 on SIGTERM; a
 * daemon under valgrind's --error-exitcode also says it leaked nothing). */
static void
daemon_stop_clean(VmigTestDaemon *d)
{
    int status;

    if (d->pid <= 0)
        return;
    status = vmig_test_daemon_stop(d, SIGTERM);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        g_autofree char *tail = vmig_test_daemon_log_tail(d);

        g_error("virt-migrated did not exit cleanly (status %d):\n%s", status, tail);
    }
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmpdir);

    g_clear_pointer(&f->src_ctl, vmig_guest_monitor_close);
    g_clear_pointer(&f->dst_ctl, vmig_guest_monitor_close);
    if (!g_test_failed()) {
        daemon_stop_clean(&f->src);
        daemon_stop_clean(&f->dst);
    }
    vmig_test_daemon_clear(&f->src);
    vmig_test_daemon_clear(&f->dst);
    g_clear_pointer(&f->src_qemu, vmig_test_qemu_stop);
    g_clear_pointer(&f->dst_qemu, vmig_test_qemu_stop);
    g_free(f->src_aux);
    (void)!system(cmd);
    g_free(f->tmpdir);
}

/* Starts virt-migrated in tmpdir/@name; its log is tmpdir/@name.log. */
static void
daemon_start(Fixture *f, VmigTestDaemon *d, VmigGuestMonitor **ctl, const char *name)
{
    const char *const extra[] = {"--channel-timeout", "1", NULL};
    g_autofree char *dir = g_build_filename(f->tmpdir, name, NULL);
    g_autofree char *log = g_strdup_printf("%s.log", dir);
    const VmigTestDaemonOptions options = {
        .extra = extra,
        .verbose = TRUE,
        .wrapper = g_getenv("VMIG_TEST_DAEMON_WRAPPER"), /* as test-daemon.c */
    };
    g_autoptr(GError) error = NULL;

    vmig_test_daemon_start(d, dir, log, &options, &error);
    g_assert_no_error(error);
    *ctl = vmig_test_control_open(d);
}

/* Returns: QEMU parameter @name of the guest behind monitor @qmp. */
static gint64
parameter_of(const char *qmp, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    if (!vmig_guest_qmp(qmp, "query-migrate-parameters", NULL, &ret, &error))
        g_error("query-migrate-parameters on '%s': %s", qmp, error->message);
    return json_object_get_int_member(json_node_get_object(ret), name);
}

/* Runs @command (@args: JSON text) on @ctl and asserts it fails saying @expected. */
static void
assert_refused(VmigGuestMonitor *ctl, VmigTestDaemon *d, const char *command,
               const char *args, const char *expected)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret =
        vmig_test_execute_fds(ctl, d, command, args, NULL, 0, &error);

    g_assert_null(ret);
    g_assert_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_COMMAND);
    g_test_message("%s %s: %s", command, args, error->message);
    if (!strstr(error->message, expected))
        g_error("%s %s said '%s', not '%s'", command, args, error->message, expected);
}

/* set-tunables @tunables (a JSON array's text) on m1 of @ctl, refused saying @expected.
 */
static void
assert_set_refused(VmigGuestMonitor *ctl, VmigTestDaemon *d, const char *id,
                   const char *tunables, const char *expected)
{
    g_autofree char *args =
        g_strdup_printf("{\"migration\": \"%s\", \"tunables\": %s}", id, tunables);

    assert_refused(ctl, d, "set-tunables", args, expected);
}

/*
 * Runs virt-migrate @args... against daemon @d (VIRT_MIGRATE_SOCKET).
 * Returns: its exit status, with its stdout and stderr in @out and @err.
 */
static int
run_cli(VmigTestDaemon *d, char **out, char **err, ...)
{
    g_autofree char *cli =
        g_test_build_filename(G_TEST_BUILT, "..", "tools", "virt-migrate", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_auto(GStrv) envp =
        g_environ_setenv(g_get_environ(), "VIRT_MIGRATE_SOCKET", d->socket, TRUE);
    g_autoptr(GError) error = NULL;
    const char *arg;
    int status = 0;
    va_list ap;

    g_ptr_array_add(argv, cli);
    va_start(ap, err);
    while ((arg = va_arg(ap, const char *)))
        g_ptr_array_add(argv, (gpointer)arg);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, envp, G_SPAWN_DEFAULT, NULL,
                               NULL, out, err, &status, &error));
    g_assert_no_error(error);
    g_test_message("virt-migrate: %s%s", *out, *err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Returns: the contents of daemon @d's log (to free). */
static char *
daemon_log(VmigTestDaemon *d)
{
    g_autoptr(GError) error = NULL;
    char *text = NULL;

    g_assert_true(g_file_get_contents(d->log, &text, NULL, &error));
    g_assert_no_error(error);
    return text;
}

/*
 * A migration slowed to 1 MiB/s (128 MiB of random data) is raised to
 * 2 MiB/s with a downtime of 500 ms through set-tunables, which QEMU shows
 * while it runs, then to 4 GiB/s with `virt-migrate set`, and completes;
 * afterwards QEMU has its own values back, the record lists both changes,
 * and what cannot change while a migration runs is refused with the reason.
 */
static void
test_raise(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dst_domain = NULL;
    g_autofree char *listen = NULL;
    g_autofree char *args = NULL;
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *log = NULL;
    g_autoptr(JsonObject) progress = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;
    JsonObject *set;
    JsonArray *changes;
    gint64 bandwidth, downtime;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, &f->src_ctl, "src-host");
    daemon_start(f, &f->dst, &f->dst_ctl, "dst-host");
    bandwidth = parameter_of(f->src_aux, "max-bandwidth");
    downtime = parameter_of(f->src_aux, "downtime-limit");
    g_assert_cmpint(bandwidth, !=, 2 << 20);
    g_assert_cmpint(downtime, !=, 500);

    dst_domain = vmig_test_domain_of(f->dst_qemu);
    listen = g_strdup_printf("unix:%s/migration.sock", f->tmpdir);
    args = g_strdup_printf("{\"domain\": \"%s\", \"listen\": \"%s\", \"resume\": false}",
                           dst_domain, listen);
    g_free(vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0));
    /* Before its stream runs there is nothing to set (the destination's
     * migration is waiting). */
    assert_set_refused(f->dst_ctl, &f->dst, "m1", "[\"max-bandwidth=1G\"]",
                       "migration 'm1' is the destination's");

    src_domain = vmig_test_domain_of(f->src_qemu);
    g_free(args);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                           "\"tunables\": [\"max-bandwidth=1M\"]}",
                           src_domain, listen);
    g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0));
    progress = vmig_test_wait_event(f->src_ctl, "MIGRATION_PROGRESS");
    g_assert_cmpint(parameter_of(f->src_aux, "max-bandwidth"), ==, 1 << 20);

    ret = vmig_test_execute_fds(
        f->src_ctl, &f->src, "set-tunables",
        "{\"migration\": \"m1\", \"tunables\": [\"max-bandwidth=2M\", "
        "\"downtime-limit=500\"]}",
        NULL, 0, &error);
    g_assert_no_error(error);
    set = json_object_get_object_member(json_node_get_object(ret), "tunables");
    g_assert_cmpint(json_object_get_int_member(set, "max-bandwidth"), ==, 2 << 20);
    g_assert_cmpint(json_object_get_int_member(set, "downtime-limit"), ==, 500);
    /* 2 MiB/s for 128 MiB: still running, with QEMU's new values. */
    g_assert_cmpint(parameter_of(f->src_aux, "max-bandwidth"), ==, 2 << 20);
    g_assert_cmpint(parameter_of(f->src_aux, "downtime-limit"), ==, 500);

    /* What a running migration does not take, and why. */
    assert_set_refused(f->src_ctl, &f->src, "m1", "[\"multifd-channels=4\"]",
                       "tunable 'multifd-channels' cannot change while the migration "
                       "runs: the channel count was negotiated");
    assert_set_refused(
        f->src_ctl, &f->src, "m1", "[\"multifd-compression=zlib\"]",
        "tunable 'multifd-compression' was negotiated between the drivers");
    assert_set_refused(f->src_ctl, &f->src, "m1", "[\"tls-creds=x\"]",
                       "'tls-creds' is managed by the driver");
    assert_set_refused(f->src_ctl, &f->src, "m1", "[\"xbzrle=on\"]",
                       "capability 'xbzrle' cannot change while a migration runs");
    assert_set_refused(f->src_ctl, &f->src, "m1", "[\"multifd=on\"]",
                       "capability 'multifd' is negotiated automatically");
    assert_set_refused(f->src_ctl, &f->src, "m1", "[\"compress-level=1\"]",
                       "tunable 'compress-level' is read by QEMU when its migration "
                       "starts");
    assert_set_refused(f->src_ctl, &f->src, "m1", "[\"max-bandwith=1G\"]",
                       "unknown tunable 'max-bandwith' (did you mean 'max-bandwidth'?)");
    assert_set_refused(f->src_ctl, &f->src, "m1", "[\"downtime-limit=soon\"]",
                       "tunable 'downtime-limit' expects an integer (ms), not 'soon'");
    assert_set_refused(f->src_ctl, &f->src, "m1", "[]", "no tunable to set");
    assert_set_refused(f->src_ctl, &f->src, "m9", "[\"max-bandwidth=1G\"]",
                       "no migration 'm9'");
    assert_refused(f->src_ctl, &f->src, "set-tunables", "{\"migration\": \"m1\"}",
                   "Parameter 'tunables' is missing");
    /* A refused request changes nothing. */
    g_assert_cmpint(parameter_of(f->src_aux, "max-bandwidth"), ==, 2 << 20);

    /* The command line: a refusal, then the change that lets it finish. */
    g_assert_cmpint(run_cli(&f->src, &out, &err, "set", "m1", "--tunable",
                            "multifd-channels=2", NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err, "virt-migrate: error: tunable 'multifd-channels' "
                                 "cannot change while the migration runs"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&f->src, &out, &err, "set", "m1", NULL), ==, 2);
    g_assert_nonnull(strstr(err, "nothing to set"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(
        run_cli(&f->src, &out, &err, "set", "m1", "--tunable", "max-bandwidth=4G", NULL),
        ==, 0);
    g_assert_cmpstr(out, ==, "Migration m1: max-bandwidth set to 4294967296\n");

    g_free(vmig_test_wait_done(f->src_ctl, "completed"));
    g_free(vmig_test_wait_done(f->dst_ctl, "completed"));
    /* Put back before MIGRATION_DONE, the values changed mid-flight too. */
    g_assert_cmpint(parameter_of(f->src_aux, "max-bandwidth"), ==, bandwidth);
    g_assert_cmpint(parameter_of(f->src_aux, "downtime-limit"), ==, downtime);

    record = vmig_test_execute_fds(f->src_ctl, &f->src, "query-migration",
                                   "{\"migration\": \"m1\"}", NULL, 0, &error);
    g_assert_no_error(error);
    changes = json_object_get_array_member(json_node_get_object(record), "changes");
    g_assert_cmpuint(json_array_get_length(changes), ==, 2);
    for (guint i = 0; i < 2; i++) {
        JsonObject *change = json_array_get_object_element(changes, i);
        g_autoptr(GDateTime) time = g_date_time_new_from_iso8601(
            json_object_get_string_member(change, "time"), NULL);

        g_assert_nonnull(time);
        set = json_object_get_object_member(change, "tunables");
        g_assert_cmpint(json_object_get_int_member(set, "max-bandwidth"), ==,
                        i == 0 ? 2 << 20 : G_GINT64_CONSTANT(4) << 30);
    }
    log = daemon_log(&f->src);
    g_assert_nonnull(strstr(log, "migration m1 (source) set while migrating: "));
    g_assert_nonnull(strstr(log, "max-bandwidth=4294967296"));

    /* Over: nothing to set. */
    assert_set_refused(f->src_ctl, &f->src, "m1", "[\"max-bandwidth=1G\"]",
                       "migration 'm1' has already ended (completed)");
}

/* The next refusal's reason in a list entry @entry, checked. */
static void
assert_refused_entry(JsonArray *list, guint i, const char *id, const char *role,
                     const char *domain, const char *reason)
{
    JsonObject *entry = json_array_get_object_element(list, i);
    g_autoptr(GDateTime) time = NULL;

    g_assert_cmpstr(json_object_get_string_member(entry, "migration"), ==, id);
    g_assert_cmpstr(json_object_get_string_member(entry, "role"), ==, role);
    g_assert_cmpstr(json_object_get_string_member(entry, "state"), ==, "refused");
    g_assert_cmpstr(json_object_get_string_member(entry, "domain"), ==, domain);
    g_assert_nonnull(strstr(json_object_get_string_member(entry, "error"), reason));
    time =
        g_date_time_new_from_iso8601(json_object_get_string_member(entry, "time"), NULL);
    g_assert_nonnull(time);
}

/*
 * Attempts the daemon refuses at start (a bad tunable, an unknown feature,
 * a monitor nobody answers on, TLS without credentials) are listed with
 * "all" as refused, with the reason, the domain as given and the time, and
 * logged; without "all" they are not; `virt-migrate list --all` shows them.
 */
static void
test_refused_listed(Fixture *f, gconstpointer data)
{
    g_autofree char *src_domain = NULL;
    g_autofree char *dst_domain = NULL;
    g_autofree char *missing = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *args = NULL;
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *log = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autoptr(JsonNode) all = NULL;
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, &f->src_ctl, "host");
    src_domain = vmig_test_domain_of(f->src_qemu);
    dst_domain = vmig_test_domain_of(f->dst_qemu);
    missing = g_strdup_printf("qmp:%s/nobody.qmp", f->tmpdir);
    dest = g_strdup_printf("unix:%s/nobody.sock", f->tmpdir);

    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                           "\"tunables\": [\"max-bandwith=1M\"]}",
                           src_domain, dest);
    assert_refused(f->src_ctl, &f->src, "migrate", args,
                   "unknown tunable 'max-bandwith' (did you mean 'max-bandwidth'?)");
    g_free(args);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", "
                           "\"require-features\": [\"warp-drive\"]}",
                           src_domain, dest);
    assert_refused(f->src_ctl, &f->src, "migrate", args, "warp-drive");
    g_free(args);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\"}", missing, dest);
    assert_refused(f->src_ctl, &f->src, "migrate", args, "nobody.qmp");
    g_free(args);
    args = g_strdup_printf("{\"domain\": \"%s\", \"listen\": \"%s\", \"tls\": true}",
                           dst_domain, dest);
    assert_refused(f->src_ctl, &f->src, "prepare-incoming", args, "TLS");

    list = vmig_test_execute_fds(f->src_ctl, &f->src, "query-migrations", NULL, NULL, 0,
                                 &error);
    g_assert_no_error(error);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 0);
    all = vmig_test_execute_fds(f->src_ctl, &f->src, "query-migrations",
                                "{\"all\": true}", NULL, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(all)), ==, 4);
    assert_refused_entry(json_node_get_array(all), 0, "m1", "source", src_domain,
                         "unknown tunable 'max-bandwith'");
    assert_refused_entry(json_node_get_array(all), 1, "m2", "source", src_domain,
                         "warp-drive");
    assert_refused_entry(json_node_get_array(all), 2, "m3", "source", missing,
                         "nobody.qmp");
    assert_refused_entry(json_node_get_array(all), 3, "m4", "destination", dst_domain,
                         "TLS");
    record = vmig_test_execute_fds(f->src_ctl, &f->src, "query-migration",
                                   "{\"migration\": \"m1\"}", NULL, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(record), "result"),
                    ==, "refused");

    log = daemon_log(&f->src);
    g_assert_nonnull(strstr(log, "migration m1 (source) refused: unknown tunable "
                                 "'max-bandwith'"));
    g_assert_nonnull(strstr(log, "migration m4 (destination) refused: "));

    g_assert_cmpint(run_cli(&f->src, &out, &err, "list", "--all", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "refused"));
    g_assert_nonnull(strstr(out, "\nm1 refused at "));
    g_assert_nonnull(strstr(out, ": unknown tunable 'max-bandwith' (did you mean "
                                 "'max-bandwidth'?)\n"));
    g_assert_nonnull(strstr(out, "\nm4 refused at "));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_cli(&f->src, &out, &err, "list", NULL), ==, 0);
    g_assert_null(strstr(out, "refused"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    /* Its record as XML, valid against data/record.rng (tests/test-xml.c). */
    g_assert_cmpint(run_cli(&f->src, &out, &err, "features", "m1", "--xml", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "state=\"refused\""));
    g_assert_nonnull(strstr(out, "result=\"refused\""));
}

/* More refusals than are kept: the oldest go, the newest VMIG_MIG_MAX_REFUSED (64) stay.
 */
static void
test_refused_bounded(Fixture *f, gconstpointer data)
{
    g_autofree char *missing = g_strdup_printf("qmp:%s/nobody.qmp", f->tmpdir);
    g_autofree char *args = NULL;
    g_autoptr(JsonNode) all = NULL;
    g_autoptr(GError) error = NULL;
    JsonArray *list;

    /* No QEMU needed: nobody answers on the monitor. */
    daemon_start(f, &f->src, &f->src_ctl, "host");
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"unix:%s/x.sock\"}", missing,
                           f->tmpdir);
    for (guint i = 0; i < 70; i++)
        assert_refused(f->src_ctl, &f->src, "migrate", args, "nobody.qmp");
    all = vmig_test_execute_fds(f->src_ctl, &f->src, "query-migrations",
                                "{\"all\": true}", NULL, 0, &error);
    g_assert_no_error(error);
    list = json_node_get_array(all);
    g_assert_cmpuint(json_array_get_length(list), ==, 64);
    assert_refused_entry(list, 0, "m7", "source", missing, "nobody.qmp");
    assert_refused_entry(list, 63, "m70", "source", missing, "nobody.qmp");
    assert_refused(f->src_ctl, &f->src, "query-migration", "{\"migration\": \"m6\"}",
                   "no migration 'm6'");
}

/*
 * More finished migrations than are kept: prepare-incoming then cancel,
 * 260 times; the newest 256 stay listed, the oldest are forgotten.
 */
static void
test_finished_bounded(Fixture *f, gconstpointer data)
{
    g_autofree char *dst_domain = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autoptr(GError) error = NULL;
    JsonArray *migrations;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->dst, &f->dst_ctl, "host");
    dst_domain = vmig_test_domain_of(f->dst_qemu);
    for (guint i = 1; i <= 260; i++) {
        g_autofree char *args =
            g_strdup_printf("{\"domain\": \"%s\", \"listen\": \"unix:%s/in-%u.sock\"}",
                            dst_domain, f->tmpdir, i);
        g_autofree char *id =
            vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0);
        g_autofree char *cancel = g_strdup_printf("{\"migration\": \"%s\"}", id);
        g_autoptr(JsonNode) ret =
            vmig_test_execute_fds(f->dst_ctl, &f->dst, "cancel", cancel, NULL, 0, &error);

        g_assert_no_error(error);
        g_free(vmig_test_wait_done(f->dst_ctl, "cancelled"));
    }
    list = vmig_test_execute_fds(f->dst_ctl, &f->dst, "query-migrations", NULL, NULL, 0,
                                 &error);
    g_assert_no_error(error);
    migrations = json_node_get_array(list);
    g_assert_cmpuint(json_array_get_length(migrations), ==, 256);
    g_assert_cmpstr(json_object_get_string_member(
                        json_array_get_object_element(migrations, 0), "migration"),
                    ==, "m5");
    g_assert_cmpstr(json_object_get_string_member(
                        json_array_get_object_element(migrations, 255), "migration"),
                    ==, "m260");
}

static void
add(const char *path, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown);
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

    add("/set/running/raise-bandwidth", test_raise);
    add("/set/refused/listed", test_refused_listed);
    add("/set/refused/bounded", test_refused_bounded);
    add("/set/finished/bounded", test_finished_bounded);

    status = g_test_run();
    g_unlink(pattern_path);
    g_rmdir(pattern_dir);
    g_free(pattern_path);
    g_free(pattern_dir);
    return status;
}
