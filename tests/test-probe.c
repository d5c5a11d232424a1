/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-probe.c: probing a QEMU binary that is not running, and catalog copies
 *
 * Runs the real qemu-system-x86_64 (skipped when it is missing) and small
 * shell scripts standing in for emulators that fail.  Every test runs on a
 * private GMainContext and checks afterwards that nothing is left: no
 * child process (zombies included), no probe directory under $TMPDIR
 * (pointed at a private directory), no fd, nothing on the global default
 * context.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "driver/catalog.h"
#include "driver/probe.h"
#include "tests/testutil.h"

/* Generous: a probe takes some 100 ms, but valgrind and busy machines are slow. */
#define PROBE_TIMEOUT_MS 30000
#define TEST_DEADLINE_S  60

static char *test_root; /* this run's files: TMP (= $TMPDIR) and FILES */
static char *test_tmp;
static char *test_files;

/* ---- fixture ----------------------------------------------------------- */

typedef struct {
    GMainContext *context;
    guint fds_before;
} Fixture;

typedef struct {
    gboolean done;
    VmigCatalog *catalog;
    GError *error;
    gint64 elapsed_us;
} Probed;

static void
probed_clear(Probed *p)
{
    g_clear_pointer(&p->catalog, vmig_catalog_free);
    g_clear_error(&p->error);
    p->done = FALSE;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->fds_before = vmig_test_count_fds(0);
    f->context = g_main_context_new();
}

/* Returns: how many processes (zombies included) have this one as parent. */
static guint
count_children(void)
{
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    const char *name;
    guint n = 0;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = NULL;
        g_autofree char *stat = NULL;
        const char *end;
        int ppid = 0;
        char state;

        if (!g_ascii_isdigit(name[0]))
            continue;
        path = g_strdup_printf("/proc/%s/stat", name);
        if (!g_file_get_contents(path, &stat, NULL, NULL))
            continue; /* gone meanwhile */
        end = strrchr(stat, ')');
        if (end && sscanf(end + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid()) {
            g_test_message("child %s: %s", name, stat);
            n++;
        }
    }
    return n;
}

/* Returns: how many live (not zombie) processes are in process group @pgid. */
static guint
count_group(int pgid)
{
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    const char *name;
    guint n = 0;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = NULL;
        g_autofree char *stat = NULL;
        const char *end;
        int ppid = 0, pgrp = 0;
        char state;

        if (!g_ascii_isdigit(name[0]))
            continue;
        path = g_strdup_printf("/proc/%s/stat", name);
        if (!g_file_get_contents(path, &stat, NULL, NULL))
            continue;
        end = strrchr(stat, ')');
        if (end && sscanf(end + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
            pgrp == pgid && state != 'Z' && state != 'X')
            n++;
    }
    return n;
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autoptr(GDir) dir = NULL;
    const char *leftover;

    g_main_context_unref(f->context);
    /* The probe's callback only runs once its process is reaped. */
    g_assert_cmpuint(count_children(), ==, 0);
    dir = g_dir_open(test_tmp, 0, NULL);
    g_assert_nonnull(dir);
    leftover = g_dir_read_name(dir);
    g_assert_cmpstr(leftover, ==, NULL);
    g_clear_pointer(&dir, g_dir_close); /* not to be counted */
    /* Nothing was attached to the global default context. */
    g_assert_false(g_main_context_iteration(NULL, FALSE));
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
}

static gboolean
on_deadline(gpointer user_data)
{
    gboolean *expired = user_data;

    *expired = TRUE;
    return G_SOURCE_REMOVE;
}

/* Iterates @context until *@flag is set; fails after the deadline. */
static void
run_until(GMainContext *context, const gboolean *flag)
{
    g_autoptr(GSource) deadline = g_timeout_source_new_seconds(TEST_DEADLINE_S);
    gboolean expired = FALSE;

    g_source_set_callback(deadline, on_deadline, &expired, NULL);
    g_source_attach(deadline, context);
    while (!*flag && !expired)
        g_main_context_iteration(context, TRUE);
    g_source_destroy(deadline);
    g_assert_false(expired);
}

static void
on_probed(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Probed *p = user_data;

    g_assert_null(source);
    p->catalog = vmig_probe_emulator_finish(result, &p->error);
    g_assert_true((p->catalog == NULL) != (p->error == NULL));
    p->done = TRUE;
}

/* Probes @emulator on @f's context into @p, waiting for the answer. */
static void
probe(Fixture *f, const char *emulator, guint timeout_ms, GCancellable *cancellable,
      Probed *p)
{
    gint64 start = g_get_monotonic_time();

    probed_clear(p);
    vmig_probe_emulator_async(emulator, f->context, timeout_ms, cancellable, on_probed,
                              p);
    /* The callback never runs before the call returns. */
    g_assert_false(p->done);
    run_until(f->context, &p->done);
    p->elapsed_us = g_get_monotonic_time() - start;
}

/* Returns: TRUE when the real QEMU is there; else the test is skipped. */
static gboolean
have_qemu(void)
{
    if (!g_file_test("/usr/bin/qemu-system-x86_64", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("/usr/bin/qemu-system-x86_64 is not installed");
        return FALSE;
    }
    return TRUE;
}

#define QEMU "/usr/bin/qemu-system-x86_64"

/* Returns: the path of new file FILES/@name holding @text, with @mode (to free). */
static char *
write_file(const char *name, const char *text, int mode)
{
    g_autofree char *path = g_build_filename(test_files, name, NULL);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_chmod(path, mode), ==, 0);
    return g_steal_pointer(&path);
}

static guint
count_kind(const VmigCatalog *catalog, VmigTunableKind kind)
{
    guint n = 0;

    for (guint i = 0; i < catalog->tunables->len; i++)
        n += ((VmigTunable *)g_ptr_array_index(catalog->tunables, i))->kind == kind;
    return n;
}

/* Asserts that @a and @b have the same wire form, unstable tunables included. */
static void
assert_catalogs_equal(const VmigCatalog *a, const VmigCatalog *b)
{
    g_autoptr(JsonNode) ja = vmig_catalog_to_json(a, TRUE);
    g_autoptr(JsonNode) jb = vmig_catalog_to_json(b, TRUE);

    g_assert_true(json_node_equal(ja, jb));
}

/* Returns: the pid in an error message's "(pid N)". */
static int
pid_in_message(const char *message)
{
    const char *p = strstr(message, "(pid ");

    g_assert_nonnull(p);
    return atoi(p + 5);
}

/* ---- the real QEMU --------------------------------------------------------- */

/* The catalog of QEMU 7.2, read from a process the probe starts. */
static void
test_qemu_catalog(Fixture *f, gconstpointer data)
{
    Probed p = {0};

    if (!have_qemu())
        return;
    probe(f, QEMU, PROBE_TIMEOUT_MS, NULL, &p);
    g_assert_no_error(p.error);
    g_test_message("probe of %s: %.1f ms", QEMU, p.elapsed_us / 1000.0);
    g_assert_true(g_str_has_prefix(p.catalog->hypervisor, "QEMU 7."));
    g_assert_cmpuint(count_kind(p.catalog, VMIG_TUNABLE_KIND_PARAMETER), ==, 27);
    g_assert_cmpuint(count_kind(p.catalog, VMIG_TUNABLE_KIND_CAPABILITY), ==, 21);
    g_assert_nonnull(vmig_catalog_lookup(p.catalog, "max-bandwidth"));
    g_assert_nonnull(vmig_catalog_lookup(p.catalog, "max-bandwidth")->current);
    probed_clear(&p);
}

/* A second probe of the same binary answers from the cache: nothing started. */
static void
test_qemu_cached(Fixture *f, gconstpointer data)
{
    Probed first = {0}, second = {0};
    guint started;

    if (!have_qemu())
        return;
    probe(f, QEMU, PROBE_TIMEOUT_MS, NULL, &first);
    g_assert_no_error(first.error);
    started = vmig_probe_emulator_started();

    probe(f, QEMU, PROBE_TIMEOUT_MS, NULL, &second);
    g_assert_no_error(second.error);
    g_test_message("cached probe of %s: %.3f ms", QEMU, second.elapsed_us / 1000.0);
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started);
    g_assert_true(first.catalog != second.catalog);
    assert_catalogs_equal(first.catalog, second.catalog);
    probed_clear(&first);
    probed_clear(&second);
}

/*
 * A relocatable QEMU finds its modules (Debian's TCG is one) and data
 * relative to its own directory, so a copy goes into FILES/prefix/bin with
 * FILES/prefix/{lib,share} pointing at the real prefix's.
 */
static void
make_prefix(void)
{
    g_autofree char *bin = g_build_filename(test_files, "prefix", "bin", NULL);
    g_autofree char *real_bin = g_path_get_dirname(QEMU);
    g_autofree char *real_prefix = g_path_get_dirname(real_bin);

    if (g_file_test(bin, G_FILE_TEST_IS_DIR))
        return;
    g_assert_cmpint(g_mkdir_with_parents(bin, 0700), ==, 0);
    for (guint i = 0; i < 2; i++) {
        const char *sub = i == 0 ? "lib" : "share";
        g_autofree char *link = g_build_filename(test_files, "prefix", sub, NULL);
        g_autofree char *target = g_build_filename(real_prefix, sub, NULL);

        g_assert_cmpint(symlink(target, link), ==, 0);
    }
}

/* Removes what make_prefix() made, once its binaries are gone. */
static void
remove_prefix(void)
{
    g_autofree char *prefix = g_build_filename(test_files, "prefix", NULL);
    g_autofree char *bin = g_build_filename(prefix, "bin", NULL);
    g_autofree char *lib = g_build_filename(prefix, "lib", NULL);
    g_autofree char *share = g_build_filename(prefix, "share", NULL);

    g_unlink(lib);
    g_unlink(share);
    g_rmdir(bin);
    g_rmdir(prefix);
}

/* Returns: the path of a copy of QEMU, FILES/prefix/bin/@name (to free). */
static char *
copy_qemu(const char *name)
{
    g_autofree char *path = NULL;
    g_autofree char *contents = NULL;
    g_autoptr(GError) error = NULL;
    gsize len = 0;

    make_prefix();
    path = g_build_filename(test_files, "prefix", "bin", name, NULL);
    g_file_get_contents(QEMU, &contents, &len, &error);
    g_assert_no_error(error);
    g_file_set_contents(path, contents, len, &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_chmod(path, 0755), ==, 0);
    return g_steal_pointer(&path);
}

/* Sets the mtime of @path to @sec seconds after the epoch. */
static void
set_mtime(const char *path, time_t sec)
{
    struct timespec times[2] = {{0, UTIME_OMIT}, {sec, 0}};

    g_assert_cmpint(utimensat(AT_FDCWD, path, times, 0), ==, 0);
}

/* A copy is its own binary; a new mtime makes it a new binary again. */
static void
test_qemu_mtime(Fixture *f, gconstpointer data)
{
    g_autofree char *copy = NULL;
    Probed p = {0}, again = {0};
    guint started;

    if (!have_qemu())
        return;
    copy = copy_qemu("qemu-copy");
    started = vmig_probe_emulator_started();

    probe(f, copy, PROBE_TIMEOUT_MS, NULL, &p);
    g_assert_no_error(p.error);
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started + 1);
    probe(f, copy, PROBE_TIMEOUT_MS, NULL, &again);
    g_assert_no_error(again.error);
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started + 1);

    set_mtime(copy, 1000000000);
    probe(f, copy, PROBE_TIMEOUT_MS, NULL, &again);
    g_assert_no_error(again.error);
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started + 2);
    assert_catalogs_equal(p.catalog, again.catalog);
    probe(f, copy, PROBE_TIMEOUT_MS, NULL, &again);
    g_assert_no_error(again.error);
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started + 2);

    probed_clear(&p);
    probed_clear(&again);
    g_assert_cmpint(g_unlink(copy), ==, 0);
}

/*
 * Cancelled at various points of a real probe (spawned, socket polled,
 * asking): either it finished first or it says CANCELLED, and in both
 * cases nothing is left behind (the teardown checks).
 */
static void
test_qemu_cancel_anywhere(Fixture *f, gconstpointer data)
{
    static const guint delays_ms[] = {0, 5, 20, 35, 45, 55, 65, 75, 90, 120, 250};
    g_autofree char *copy = NULL;
    guint cancelled = 0;

    if (!have_qemu())
        return;
    copy = copy_qemu("qemu-cancel");
    for (gsize i = 0; i < G_N_ELEMENTS(delays_ms); i++) {
        g_autoptr(GCancellable) cancellable = g_cancellable_new();
        g_autoptr(GSource) timer = g_timeout_source_new(delays_ms[i]);
        guint started = vmig_probe_emulator_started();
        Probed p = {0};

        /* Another binary each time, so none answers from the cache. */
        set_mtime(copy, 1000000000 + i);
        g_source_set_callback(timer, G_SOURCE_FUNC(g_cancellable_cancel), cancellable,
                              NULL);
        g_source_attach(timer, f->context);
        probe(f, copy, PROBE_TIMEOUT_MS, cancellable, &p);
        g_source_destroy(timer);
        g_assert_cmpuint(vmig_probe_emulator_started(), ==, started + 1);
        if (p.error) {
            g_assert_error(p.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
            g_assert_nonnull(strstr(p.error->message, copy));
            cancelled++;
        }
        g_test_message("cancelled after %u ms: %s", delays_ms[i],
                       p.error ? p.error->message : "finished first");
        g_assert_cmpuint(count_children(), ==, 0);
        probed_clear(&p);
    }
    /* At least the early ones cannot have finished first. */
    g_assert_cmpuint(cancelled, >=, 1);
    g_assert_cmpint(g_unlink(copy), ==, 0);
}

/*
 * A copy outside its prefix finds no modules: Debian's QEMU then dies (TCG
 * is a module) after its socket may already have accepted.  Either way
 * START, with its exit status and its complaint; skipped for a QEMU that
 * has TCG built in.
 */
static void
test_qemu_dies(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(test_files, "qemu-alone", NULL);
    g_autofree char *contents = NULL;
    g_autoptr(GError) error = NULL;
    Probed p = {0};
    gsize len = 0;

    if (!have_qemu())
        return;
    g_file_get_contents(QEMU, &contents, &len, &error);
    g_assert_no_error(error);
    g_file_set_contents(path, contents, len, &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_chmod(path, 0755), ==, 0);

    probe(f, path, PROBE_TIMEOUT_MS, NULL, &p);
    g_assert_cmpint(g_unlink(path), ==, 0);
    if (!p.error) {
        g_test_skip("this QEMU runs without its modules");
        probed_clear(&p);
        return;
    }
    g_test_message("%s", p.error->message);
    g_assert_error(p.error, VMIG_PROBE_ERROR, VMIG_PROBE_ERROR_START);
    g_assert_nonnull(strstr(p.error->message, "it exited with status 1 "));
    g_assert_nonnull(strstr(p.error->message, "could not load module"));
    probed_clear(&p);
}

/* ---- failures --------------------------------------------------------------- */

/* Asserts that probing @emulator fails at once with EMULATOR and @expected. */
static void
assert_emulator_error(Fixture *f, const char *emulator, const char *expected)
{
    guint started = vmig_probe_emulator_started();
    g_autofree char *message =
        g_strdup_printf("emulator '%s' cannot be probed: %s", emulator, expected);
    Probed p = {0};

    probe(f, emulator, PROBE_TIMEOUT_MS, NULL, &p);
    g_assert_error(p.error, VMIG_PROBE_ERROR, VMIG_PROBE_ERROR_EMULATOR);
    g_assert_cmpstr(p.error->message, ==, message);
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started);
    probed_clear(&p);
}

static void
test_error_relative(Fixture *f, gconstpointer data)
{
    assert_emulator_error(f, "qemu-system-x86_64", "the path is not absolute");
}

static void
test_error_missing(Fixture *f, gconstpointer data)
{
    assert_emulator_error(f, "/usr/bin/qemu-nope", "No such file or directory");
}

static void
test_error_not_executable(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_file("not-executable", "#!/bin/sh\n", 0644);

    assert_emulator_error(f, path, "it is not executable (Permission denied)");
    g_assert_cmpint(g_unlink(path), ==, 0);
}

static void
test_error_directory(Fixture *f, gconstpointer data)
{
    assert_emulator_error(f, "/usr/bin", "it is not a regular file");
}

/* /bin/true exits at once: START, with the exit status. */
static void
test_error_exits(Fixture *f, gconstpointer data)
{
    guint started = vmig_probe_emulator_started();
    Probed p = {0};

    probe(f, "/bin/true", PROBE_TIMEOUT_MS, NULL, &p);
    g_assert_error(p.error, VMIG_PROBE_ERROR, VMIG_PROBE_ERROR_START);
    g_assert_cmpstr(
        p.error->message, ==,
        "emulator '/bin/true' cannot be probed: it exited with status 0 before "
        "its QMP socket accepted connections; it printed nothing");
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started + 1);
    probed_clear(&p);
}

/* An emulator that complains and fails: START, quoting what it said. */
static void
test_error_complains(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_file("complains",
                                       "#!/bin/sh\n"
                                       "echo \"cwd $(pwd)\"\n"
                                       "echo \"qemu: $1 $2: no such machine\" >&2\n"
                                       "exit 3\n",
                                       0755);
    g_autofree char *expected = NULL;
    Probed p = {0};

    probe(f, path, PROBE_TIMEOUT_MS, NULL, &p);
    g_assert_error(p.error, VMIG_PROBE_ERROR, VMIG_PROBE_ERROR_START);
    g_test_message("%s", p.error->message);
    expected =
        g_strdup_printf("emulator '%s' cannot be probed: it exited with status 3 "
                        "before its QMP socket accepted connections; its output was: "
                        "'cwd %s/vmig-probe-",
                        path, test_tmp);
    g_assert_true(g_str_has_prefix(p.error->message, expected));
    g_assert_true(
        g_str_has_suffix(p.error->message, "\nqemu: -machine none: no such machine'"));
    probed_clear(&p);
    g_assert_cmpint(g_unlink(path), ==, 0);
}

/* Asserts that @script, which never opens a socket, times out after 1 s and is killed. */
static void
assert_timeout(Fixture *f, const char *name, const char *script)
{
    g_autofree char *path = write_file(name, script, 0755);
    Probed p = {0};
    int pid;

    probe(f, path, 1000, NULL, &p);
    g_assert_error(p.error, VMIG_PROBE_ERROR, VMIG_PROBE_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(p.error->message,
                            "its QMP socket did not accept connections within 1000 ms"));
    g_assert_cmpint(p.elapsed_us, >=, 1000 * 1000);
    /* Reaped before the callback: no zombie, and the pid is no child of ours. */
    pid = pid_in_message(p.error->message);
    g_assert_cmpint(pid, >, 0);
    g_assert_cmpuint(count_children(), ==, 0);
    g_assert_true(kill(pid, 0) < 0 && errno == ESRCH);
    /* What it started dies with it: init may take a moment to reap them. */
    for (guint i = 0; i < 200 && count_group(pid) > 0; i++)
        g_usleep(10000);
    g_assert_cmpuint(count_group(pid), ==, 0);
    probed_clear(&p);
    g_assert_cmpint(g_unlink(path), ==, 0);
}

static void
test_error_timeout(Fixture *f, gconstpointer data)
{
    assert_timeout(f, "sleeps", "#!/bin/sh\nexec sleep 1000\n");
}

/* A wrapper that does not exec: its child dies with it. */
static void
test_error_timeout_wrapper(Fixture *f, gconstpointer data)
{
    assert_timeout(f, "wraps", "#!/bin/sh\nsleep 1000\nsleep 1000\n");
}

/* Cancelled while the process runs: CANCELLED, and the process is gone. */
static void
test_cancel_running(Fixture *f, gconstpointer data)
{
    g_autofree char *path = write_file("sleeps", "#!/bin/sh\nexec sleep 1000\n", 0755);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GSource) timer = g_timeout_source_new(100);
    guint started = vmig_probe_emulator_started();
    g_autofree char *expected =
        g_strdup_printf("emulator '%s' cannot be probed: Operation was cancelled", path);
    Probed p = {0};

    g_source_set_callback(timer, G_SOURCE_FUNC(g_cancellable_cancel), cancellable, NULL);
    g_source_attach(timer, f->context);
    probe(f, path, PROBE_TIMEOUT_MS, cancellable, &p);
    g_assert_error(p.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpstr(p.error->message, ==, expected);
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started + 1);
    g_assert_cmpint(p.elapsed_us, <, 5 * G_USEC_PER_SEC);
    g_assert_cmpuint(count_children(), ==, 0);
    probed_clear(&p);
    g_assert_cmpint(g_unlink(path), ==, 0);
}

/* Cancelled before the call: nothing is started. */
static void
test_cancel_before(Fixture *f, gconstpointer data)
{
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    guint started = vmig_probe_emulator_started();
    Probed p = {0};

    g_cancellable_cancel(cancellable);
    probe(f, "/bin/true", PROBE_TIMEOUT_MS, cancellable, &p);
    g_assert_error(p.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpuint(vmig_probe_emulator_started(), ==, started);
    probed_clear(&p);
}

/* ---- vmig_catalog_copy ----------------------------------------------------- */

static JsonNode *
load_json(const char *name)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "qmp", name, NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_file(parser, path, &error);
    g_assert_no_error(error);
    return json_node_copy(json_parser_get_root(parser));
}

/* A deep copy: equal, shares nothing but the feature rows, its own index. */
static void
test_catalog_copy(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonNode) schema = load_json("query-qmp-schema.json");
    g_autoptr(JsonNode) params = load_json("query-migrate-parameters.json");
    g_autoptr(JsonNode) caps = load_json("query-migrate-capabilities.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigCatalog) catalog = NULL;
    g_autoptr(VmigCatalog) copy = NULL;
    g_autoptr(JsonNode) before = NULL;
    g_autoptr(JsonNode) after = NULL;
    g_autoptr(JsonArray) array = json_array_new();
    VmigTunable *mapping;

    catalog = vmig_catalog_new_from_schema("QEMU 7.2 (fixture)", schema, &error);
    g_assert_no_error(error);
    g_assert_true(vmig_catalog_set_current(catalog, params, caps, &error));
    g_assert_no_error(error);
    /* An array value, to see that the copy does not share it. */
    json_array_add_string_element(array, "a");
    mapping = (VmigTunable *)vmig_catalog_lookup(catalog, "block-bitmap-mapping");
    g_assert_null(mapping->current);
    mapping->current = json_node_init_array(json_node_alloc(), array);

    copy = vmig_catalog_copy(catalog);
    assert_catalogs_equal(catalog, copy);
    g_assert_cmpstr(copy->hypervisor, ==, catalog->hypervisor);
    g_assert_true(copy->hypervisor != catalog->hypervisor);
    g_assert_cmpuint(copy->tunables->len, ==, catalog->tunables->len);
    g_assert_cmpuint(g_hash_table_size(copy->index), ==,
                     g_hash_table_size(catalog->index));
    for (guint i = 0; i < copy->tunables->len; i++) {
        const VmigTunable *a = g_ptr_array_index(catalog->tunables, i);
        const VmigTunable *b = g_ptr_array_index(copy->tunables, i);

        g_assert_true(a != b);
        g_assert_true(vmig_catalog_lookup(copy, b->name) == b ||
                      vmig_catalog_lookup(copy, b->name)->kind != b->kind);
        g_assert_true(a->name != b->name);
        g_assert_true(a->values == NULL || a->values != b->values);
        g_assert_true(a->current == NULL || a->current != b->current);
        g_assert_true(a->feature == b->feature);
        g_assert_cmpint(a->unit, ==, b->unit);
        g_assert_cmpint(a->nullable, ==, b->nullable);
        g_assert_cmpint(a->unstable, ==, b->unstable);
        g_assert_cmpint(a->deprecated, ==, b->deprecated);
    }
    g_assert_nonnull(vmig_catalog_lookup(copy, "multifd")->feature);

    /* Editing the original leaves the copy alone. */
    before = vmig_catalog_to_json(copy, TRUE);
    json_array_add_string_element(array, "b");
    g_free(
        ((VmigTunable *)vmig_catalog_lookup(catalog, "multifd-compression"))->values[0]);
    ((VmigTunable *)vmig_catalog_lookup(catalog, "multifd-compression"))->values[0] =
        g_strdup("changed");
    after = vmig_catalog_to_json(copy, TRUE);
    g_assert_true(json_node_equal(before, after));
    g_assert_cmpuint(json_array_get_length(json_node_get_array(
                         vmig_catalog_lookup(copy, "block-bitmap-mapping")->current)),
                     ==, 1);

    /* The copy outlives the original. */
    g_clear_pointer(&catalog, vmig_catalog_free);
    g_clear_pointer(&after, json_node_unref);
    after = vmig_catalog_to_json(copy, TRUE);
    g_assert_true(json_node_equal(before, after));
}

/* ------------------------------------------------------------------------ */

static void
on_primed(GPid pid, gint status, gpointer user_data)
{
    g_spawn_close_pid(pid);
    *(gboolean *)user_data = TRUE;
}

/*
 * GLib sets up its SIGCHLD handling (a wakeup fd, its worker thread) on the
 * first child watch and keeps it: done here once, so that the first test's
 * fd count does not take it for a leak.
 */
static void
prime_child_watch(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GSource) watch = NULL;
    g_autoptr(GError) error = NULL;
    const char *argv[] = {"/bin/true", NULL};
    gboolean done = FALSE;
    GPid pid;

    g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                  &error);
    g_assert_no_error(error);
    watch = g_child_watch_source_new(pid);
    g_source_set_callback(watch, G_SOURCE_FUNC(on_primed), &done, NULL);
    g_source_attach(watch, context);
    while (!done)
        g_main_context_iteration(context, TRUE);
}

static void
add_test(const char *path, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown);
}

int
main(int argc, char **argv)
{
    int rc;

    /* $TMPDIR is read once, so set before anything asks for it. */
    test_root = g_strdup("/tmp/test-probe-XXXXXX");
    g_assert_nonnull(g_mkdtemp(test_root));
    test_tmp = g_build_filename(test_root, "tmp", NULL);
    test_files = g_build_filename(test_root, "files", NULL);
    g_assert_cmpint(g_mkdir(test_tmp, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(test_files, 0700), ==, 0);
    g_setenv("TMPDIR", test_tmp, TRUE);

    g_test_init(&argc, &argv, NULL);
    /* Created once here, out of the fd counts: see test-qmp.c. */
    (void)g_main_context_default();
    g_type_ensure(G_TYPE_TASK);
    prime_child_watch();

    add_test("/probe/qemu/catalog", test_qemu_catalog);
    add_test("/probe/qemu/cached", test_qemu_cached);
    add_test("/probe/qemu/mtime", test_qemu_mtime);
    add_test("/probe/qemu/cancel-anywhere", test_qemu_cancel_anywhere);
    add_test("/probe/qemu/dies", test_qemu_dies);
    add_test("/probe/error/relative", test_error_relative);
    add_test("/probe/error/missing", test_error_missing);
    add_test("/probe/error/not-executable", test_error_not_executable);
    add_test("/probe/error/directory", test_error_directory);
    add_test("/probe/error/exits", test_error_exits);
    add_test("/probe/error/complains", test_error_complains);
    add_test("/probe/error/timeout", test_error_timeout);
    add_test("/probe/error/timeout-wrapper", test_error_timeout_wrapper);
    add_test("/probe/cancel/running", test_cancel_running);
    add_test("/probe/cancel/before", test_cancel_before);
    add_test("/probe/catalog/copy", test_catalog_copy);

    rc = g_test_run();
    remove_prefix();
    g_rmdir(test_tmp);
    g_rmdir(test_files);
    g_rmdir(test_root);
    g_free(test_tmp);
    g_free(test_files);
    g_free(test_root);
    return rc;
}
