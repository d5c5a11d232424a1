/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-daemon.c: virt-migrated and virt-migrate as processes
 *
 * Every test starts the real, built virt-migrated in a fresh runtime
 * directory, talks to its control socket with raw sockets (lines in,
 * lines out, fds with SCM_RIGHTS), runs the real virt-migrate against it,
 * and stops it with a signal: it must exit 0 and remove its socket.  Every
 * wait is bounded, and every process a test spawns is killed and reaped
 * by pid in the teardown, whatever happened.
 *
 * VMIG_TEST_DAEMON_WRAPPER="valgrind --leak-check=full ..." runs each
 * daemon under a wrapper (the fd counts still hold: they compare the
 * daemon's own /proc entries before and after).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "fdpass/fd.h"
#include "fdpass/fdpass.h"
#include "tests/daemon-helper.h"
#include "tests/qemu-helper.h"
#include "tests/testutil.h"
#include "xml/xml.h"

/* The bound of every wait, generous enough for a daemon under valgrind. */
#define TEST_TIMEOUT_US (30 * G_USEC_PER_SEC)
#define TEST_MAX_LINE   (1024 * 1024)

/* ------------------------------------------------------------------------ */
/* Processes */

/* Every process spawned by the running test, killed and reaped in teardown. */
static GArray *test_pids;

/* Returns: the path of a built program, e.g. ("driver", "virt-migrated"). */
static char *
built_program(const char *dir, const char *name)
{
    return g_test_build_filename(G_TEST_BUILT, "..", dir, name, NULL);
}

/* Forgets @pid (reaped by its owner). */
static void
pids_forget(GPid pid)
{
    guint i;

    for (i = 0; i < test_pids->len; i++) {
        if (g_array_index(test_pids, GPid, i) == pid) {
            g_array_remove_index_fast(test_pids, i);
            return;
        }
    }
}

/*
 * Spawns @argv (with @envp, NULL: ours) with stdout and stderr going to
 * the files @out_path and @err_path (the same file when equal).
 * Returns: the pid, remembered for the teardown.
 */
static GPid
spawn_logged(char **argv, char **envp, const char *out_path, const char *err_path)
{
    g_autoptr(GError) error = NULL;
    GPid pid = 0;

    vmig_test_process_spawn((const char *const *)argv, (const char *const *)envp,
                            out_path, err_path, &pid, &error);
    g_assert_no_error(error);
    g_array_append_val(test_pids, pid);
    return pid;
}

/*
 * Waits (bounded) for @pid to exit and reaps it.
 * Returns: TRUE with its wait status in *@status, or FALSE when it is
 * still running at the deadline (it is left alone).
 */
static gboolean
wait_exit(GPid pid, gint64 timeout_us, int *status)
{
    if (!vmig_test_process_wait(pid, timeout_us / 1000, status))
        return FALSE;
    pids_forget(pid);
    return TRUE;
}

/* Returns: the whole content of @path (to free); "" when it does not exist. */
static char *
read_file(const char *path)
{
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return g_strdup("");
    return text;
}

/* Removes @path and everything below it. */
static void
remove_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;

    if (dir) {
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            struct stat st;

            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(child);
            else
                g_unlink(child);
        }
        g_dir_close(dir);
    }
    g_rmdir(path);
}

/* ------------------------------------------------------------------------ */
/* Daemons */

typedef struct {
    char *tmpdir;
    VmigTestDaemon daemons[2];
} Fixture;

/* A network namespace the next daemon starts in (ip netns exec), or NULL. */
static const char *daemon_netns;

/*
 * Spawns daemon @index of @fixture with --verbose and @extra options
 * (NULL-terminated, nullable) in @dir_name under the fixture's tmpdir,
 * logging to daemon-INDEX.log there, under $VMIG_TEST_DAEMON_WRAPPER if
 * set, in network namespace daemon_netns if set; with @serving, waits until
 * its control socket accepts connections.
 * Returns: it.
 */
static VmigTestDaemon *
daemon_spawn(Fixture *fixture, guint index, const char *dir_name,
             const char *const *extra, gboolean serving)
{
    VmigTestDaemon *daemon = &fixture->daemons[index];
    g_autofree char *dir = g_build_filename(fixture->tmpdir, dir_name, NULL);
    g_autofree char *log_name = g_strdup_printf("daemon-%u.log", index);
    g_autofree char *log = g_build_filename(fixture->tmpdir, log_name, NULL);
    const VmigTestDaemonOptions options = {
        .extra = extra,
        .verbose = TRUE,
        .netns = daemon_netns,
        .wrapper = g_getenv("VMIG_TEST_DAEMON_WRAPPER"),
    };
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(daemon->pid, ==, 0);
    if (serving)
        vmig_test_daemon_start(daemon, dir, log, &options, &error);
    else
        vmig_test_daemon_spawn(daemon, dir, log, &options, &error);
    g_assert_no_error(error);
    return daemon;
}

/* Starts daemon @index in a runtime directory of its own.  Returns: it. */
static VmigTestDaemon *
daemon_start(Fixture *fixture, guint index)
{
    g_autofree char *name = g_strdup_printf("run-%u", index);

    return daemon_spawn(fixture, index, name, NULL, TRUE);
}

/*
 * Stops @daemon with @signum and checks that it exits 0, says so, and
 * removes its socket.
 */
static void
daemon_stop(VmigTestDaemon *daemon, int signum)
{
    g_autofree char *log = NULL;
    int status;

    g_assert_cmpint(daemon->pid, >, 0);
    status = vmig_test_daemon_stop(daemon, signum);
    log = read_file(daemon->log);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        g_error("virt-migrated did not exit cleanly on signal %d (status %d):\n%s",
                signum, status, log);
    g_assert_nonnull(strstr(log, "shutting down"));
    g_assert_false(g_file_test(daemon->socket, G_FILE_TEST_EXISTS));
}

/* Fixture setup: a fresh temporary directory. */
static void
fixture_setup(Fixture *fixture, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    fixture->tmpdir = g_dir_make_tmp("test-daemon-XXXXXX", &error);
    g_assert_no_error(error);
    test_pids = g_array_new(FALSE, FALSE, sizeof(GPid));
}

/*
 * Fixture teardown: kill and reap whatever still runs, show the daemons'
 * logs when the test failed, remove the temporary directory.
 */
static void
fixture_teardown(Fixture *fixture, gconstpointer data)
{
    guint i;

    for (i = 0; i < test_pids->len; i++)
        vmig_test_process_stop(g_array_index(test_pids, GPid, i), SIGKILL);
    g_clear_pointer(&test_pids, g_array_unref);

    for (i = 0; i < G_N_ELEMENTS(fixture->daemons); i++) {
        VmigTestDaemon *daemon = &fixture->daemons[i];

        vmig_test_daemon_stop(daemon, SIGKILL);
        if (daemon->log && g_test_failed()) {
            g_autofree char *log = read_file(daemon->log);

            g_test_message("daemon %u log:\n%s", i, log);
        }
        vmig_test_daemon_clear(daemon);
    }
    remove_tree(fixture->tmpdir);
    g_free(fixture->tmpdir);
}

/* ------------------------------------------------------------------------ */
/* Raw connections */

typedef struct {
    int fd;
    GString *in;
} Conn;

/* Closes a connection. */
static void
conn_free(Conn *conn)
{
    vmig_fd_clear(&conn->fd);
    g_string_free(conn->in, TRUE);
    g_free(conn);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Conn, conn_free)

/* Returns: a connection to @path, or NULL with errno set when connect() fails. */
static Conn *
conn_try_open(const char *path)
{
    g_auto(VmigFd) fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr;
    Conn *conn;

    g_assert_cmpint(fd, >=, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return NULL;
    conn = g_new0(Conn, 1);
    conn->fd = vmig_fd_steal(&fd);
    conn->in = g_string_new(NULL);
    return conn;
}

/*
 * Reads the next line (bounded wait).
 * Returns: the line without '\n' (to free), or NULL at end of file.
 */
static char *
conn_read_line(Conn *conn)
{
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;

    for (;;) {
        char *nl = memchr(conn->in->str, '\n', conn->in->len);
        struct pollfd pfd = {.fd = conn->fd, .events = POLLIN};
        char buf[65536];
        gint64 left;
        ssize_t n;

        if (nl) {
            gsize len = nl - conn->in->str;
            char *line = g_strndup(conn->in->str, len);

            g_string_erase(conn->in, 0, len + 1);
            return line;
        }
        left = deadline - g_get_monotonic_time();
        if (left <= 0)
            g_error("no line from virt-migrated in time");
        if (poll(&pfd, 1, (int)(left / 1000) + 1) <= 0)
            continue;
        n = recv(conn->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ECONNRESET)
            n = 0;
        g_assert_cmpint(n, >=, 0);
        if (n == 0) {
            g_assert_cmpuint(conn->in->len, ==, 0);
            return NULL;
        }
        g_string_append_len(conn->in, buf, n);
    }
}

/* Returns: the next line parsed as a JSON object (a new reference); asserts it is one. */
static JsonObject *
conn_read_object(Conn *conn)
{
    g_autofree char *line = conn_read_line(conn);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    JsonNode *root;

    g_assert_nonnull(line);
    json_parser_load_from_data(parser, line, -1, &error);
    g_assert_no_error(error);
    root = json_parser_get_root(parser);
    g_assert_nonnull(root);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    return json_object_ref(json_node_get_object(root));
}

/* Sends @len bytes of @data, with @nfds fds on the first sendmsg. */
static void
conn_send_raw(Conn *conn, const void *data, gsize len, const int *fds, gsize nfds)
{
    g_autoptr(GError) error = NULL;

    vmig_fdpass_send_all(conn->fd, data, len, fds, nfds, &error);
    g_assert_no_error(error);
}

/* Sends @line and its '\n', with @nfds fds. */
static void
conn_send_fds(Conn *conn, const char *line, const int *fds, gsize nfds)
{
    g_autofree char *text = g_strconcat(line, "\n", NULL);

    conn_send_raw(conn, text, strlen(text), fds, nfds);
}

/* Sends @line and its '\n'. */
static void
conn_send(Conn *conn, const char *line)
{
    conn_send_fds(conn, line, NULL, 0);
}

/* Returns: @node as compact JSON text (to free). */
static char *
json_text(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}

/* Checks that @reply's id is the JSON text @id (NULL: no id). */
static void
assert_id(JsonObject *reply, const char *id)
{
    JsonNode *node = json_object_get_member(reply, "id");

    if (!id) {
        g_assert_null(node);
    } else {
        g_autofree char *text = NULL;

        g_assert_nonnull(node);
        text = json_text(node);
        g_assert_cmpstr(text, ==, id);
    }
}

/*
 * Checks that @reply is exactly {"error": {"class": @klass, "desc": @desc}}
 * with id @id (JSON text, or NULL for none).
 */
static void
assert_error(JsonObject *reply, const char *klass, const char *desc, const char *id)
{
    JsonObject *error;

    g_assert_true(json_object_has_member(reply, "error"));
    g_assert_false(json_object_has_member(reply, "return"));
    g_assert_cmpuint(json_object_get_size(reply), ==, id ? 2 : 1);
    error = json_object_get_object_member(reply, "error");
    g_assert_nonnull(error);
    g_assert_cmpuint(json_object_get_size(error), ==, 2);
    g_assert_cmpstr(json_object_get_string_member(error, "class"), ==, klass);
    g_assert_cmpstr(json_object_get_string_member(error, "desc"), ==, desc);
    assert_id(reply, id);
}

/*
 * Checks that @version is QMP's version object as virt-migrated fills it:
 * {"qemu": {"micro": U, "minor": N, "major": J}, "package": "virt-migrated
 * PACKAGE_VERSION"} (and, with @extra, "version": PACKAGE_VERSION too).
 */
static void
assert_qmp_version(JsonObject *version, gboolean extra)
{
    g_autofree char *numbers = NULL;
    g_autofree char *package = g_strdup_printf("virt-migrated %s", PACKAGE_VERSION);
    JsonObject *qemu;

    g_assert_nonnull(version);
    g_assert_cmpuint(json_object_get_size(version), ==, extra ? 3 : 2);
    qemu = json_object_get_object_member(version, "qemu");
    g_assert_nonnull(qemu);
    g_assert_cmpuint(json_object_get_size(qemu), ==, 3);
    numbers =
        g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
                        json_object_get_int_member(qemu, "major"),
                        json_object_get_int_member(qemu, "minor"),
                        json_object_get_int_member(qemu, "micro"));
    g_assert_cmpstr(numbers, ==, PACKAGE_VERSION);
    g_assert_cmpstr(json_object_get_string_member(version, "package"), ==, package);
    if (extra)
        g_assert_cmpstr(json_object_get_string_member(version, "version"), ==,
                        PACKAGE_VERSION);
}

/*
 * Opens a connection to @daemon and checks its greeting, QMP's:
 * {"QMP": {"version": V, "capabilities": []}}.  Capabilities negotiation
 * is left to the caller.  Returns: the connection.
 */
static Conn *
conn_open_greeted(VmigTestDaemon *daemon)
{
    Conn *conn = conn_try_open(daemon->socket);
    g_autoptr(JsonObject) greeting = NULL;
    JsonObject *qmp;
    JsonArray *capabilities;

    if (!conn)
        g_error("cannot connect to '%s': %s", daemon->socket, g_strerror(errno));
    greeting = conn_read_object(conn);
    g_assert_cmpuint(json_object_get_size(greeting), ==, 1);
    qmp = json_object_get_object_member(greeting, "QMP");
    g_assert_nonnull(qmp);
    g_assert_cmpuint(json_object_get_size(qmp), ==, 2);
    assert_qmp_version(json_object_get_object_member(qmp, "version"), FALSE);
    capabilities = json_object_get_array_member(qmp, "capabilities");
    g_assert_nonnull(capabilities);
    g_assert_cmpuint(json_array_get_length(capabilities), ==, 0);
    return conn;
}

/* Opens a connection to @daemon, checks its greeting and negotiates
 * capabilities.  Returns: the connection, ready for commands. */
static Conn *
conn_open(VmigTestDaemon *daemon)
{
    Conn *conn = conn_open_greeted(daemon);
    g_autofree char *line = NULL;

    conn_send(conn, "{\"execute\": \"qmp_capabilities\"}");
    line = conn_read_line(conn);
    g_assert_cmpstr(line, ==, "{\"return\":{}}");
    return conn;
}

/* Checks that @conn still gets an answer to query-version. */
static void
assert_serves(Conn *conn)
{
    g_autoptr(JsonObject) reply = NULL;
    JsonObject *ret;

    conn_send(conn, "{\"execute\": \"query-version\", \"id\": \"still-there\"}");
    reply = conn_read_object(conn);
    g_assert_false(json_object_has_member(reply, "error"));
    ret = json_object_get_object_member(reply, "return");
    g_assert_nonnull(ret);
    g_assert_cmpstr(json_object_get_string_member(ret, "version"), ==, PACKAGE_VERSION);
    assert_id(reply, "\"still-there\"");
}

/* Checks that the daemon closes @conn after one error line saying @desc.  Returns
 * nothing. */
static void
assert_closed(Conn *conn, const char *desc)
{
    g_autofree char *line = conn_read_line(conn);
    g_autofree char *again = NULL;
    g_autofree char *expected =
        g_strdup_printf("{\"error\":{\"class\":\"GenericError\",\"desc\":\"%s\"}}", desc);

    g_assert_cmpstr(line, ==, expected);
    again = conn_read_line(conn);
    g_assert_null(again);
}

/* ------------------------------------------------------------------------ */
/* The daemon's life */

/* The greeting; query-version; SIGTERM stops it cleanly. */
static void
test_greeting(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);
    g_autoptr(JsonObject) reply = NULL;

    conn_send(conn, "{\"execute\": \"query-version\"}");
    reply = conn_read_object(conn);
    g_assert_cmpuint(json_object_get_size(reply), ==, 1);
    assert_qmp_version(json_object_get_object_member(reply, "return"), TRUE);
    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/* ------------------------------------------------------------------------ */
/* QMP's conventions: greeting, capabilities negotiation, query-commands */

static VmigTestQemu *start_qemu(void);

/*
 * Capabilities negotiation: before qmp_capabilities, every other command
 * (known or not) gets QMP's CommandNotFound, bad input its usual error,
 * and a capability that is not offered is refused; then commands are
 * served, and a second qmp_capabilities gets QMP's "already complete".
 */
static void
test_qmp_negotiation(Fixture *fixture, gconstpointer data)
{
    static const char expecting[] =
        "Expecting capabilities negotiation with 'qmp_capabilities'";
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open_greeted(daemon);
    JsonObject *ret;

    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"query-version\", \"id\": 1}");
        reply = conn_read_object(conn);
        assert_error(reply, "CommandNotFound", expecting, "1");
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"query-commands\", \"id\": \"c\"}");
        reply = conn_read_object(conn);
        assert_error(reply, "CommandNotFound", expecting, "\"c\"");
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"no-such-command\"}");
        reply = conn_read_object(conn);
        assert_error(reply, "CommandNotFound", expecting, NULL);
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": "
                        "[\"oob\"]}, \"id\": 2}");
        reply = conn_read_object(conn);
        assert_error(reply, "GenericError", "Capability 'oob' not available", "2");
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": "
                        "[7]}, \"id\": 3}");
        reply = conn_read_object(conn);
        assert_error(reply, "GenericError",
                     "Parameter 'enable' expects a list of capability names", "3");
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"bogus\": "
                        "1}, \"id\": 4}");
        reply = conn_read_object(conn);
        assert_error(reply, "GenericError", "Parameter 'bogus' is unexpected", "4");
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": ");
        reply = conn_read_object(conn);
        g_assert_cmpstr(json_object_get_string_member(
                            json_object_get_object_member(reply, "error"), "class"),
                        ==, "GenericError");
    }
    {
        /* Still negotiating: the refusals above changed nothing. */
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"query-version\", \"id\": 5}");
        reply = conn_read_object(conn);
        assert_error(reply, "CommandNotFound", expecting, "5");
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": "
                        "[]}, \"id\": 6}");
        reply = conn_read_object(conn);
        g_assert_cmpuint(json_object_get_size(reply), ==, 2);
        ret = json_object_get_object_member(reply, "return");
        g_assert_nonnull(ret);
        g_assert_cmpuint(json_object_get_size(ret), ==, 0);
        assert_id(reply, "6");
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"qmp_capabilities\", \"id\": 7}");
        reply = conn_read_object(conn);
        assert_error(reply, "CommandNotFound",
                     "Capabilities negotiation is already complete, command ignored",
                     "7");
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"no-such-command\", \"id\": 8}");
        reply = conn_read_object(conn);
        assert_error(reply, "CommandNotFound",
                     "The command no-such-command has not been found", "8");
    }
    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/* query-commands lists every command once, each as {"name": NAME}. */
static void
test_qmp_query_commands(Fixture *fixture, gconstpointer data)
{
    static const char *const expected[] = {
        "qmp_capabilities", "query-commands",   "query-version",  "query-tunables",
        "migrate",          "prepare-incoming", "add-channels",   "cancel",
        "query-migrations", "query-migration",  "start-postcopy",
    };
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);
    g_autoptr(JsonObject) reply = NULL;
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    JsonArray *list;

    conn_send(conn, "{\"execute\": \"query-commands\", \"id\": 1}");
    reply = conn_read_object(conn);
    assert_id(reply, "1");
    list = json_object_get_array_member(reply, "return");
    g_assert_nonnull(list);
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *row = json_array_get_object_element(list, i);
        const char *name;

        g_assert_nonnull(row);
        g_assert_cmpuint(json_object_get_size(row), ==, 1);
        name = json_object_get_string_member(row, "name");
        g_assert_nonnull(name);
        g_assert_false(g_hash_table_contains(names, name));
        g_hash_table_add(names, (gpointer)name);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(expected); i++) {
        if (!g_hash_table_contains(names, expected[i]))
            g_error("query-commands does not list '%s'", expected[i]);
    }
    daemon_stop(daemon, SIGTERM);
}

/*
 * What a QMP client library and qmp-shell do, byte for byte as QEMU's
 * python qemu.qmp sends it (no Debian 12 package carries a QMP client to
 * run instead): read the greeting and check its "QMP" object holds a
 * "version" object and a "capabilities" array; since "oob" is not
 * offered, qmp_capabilities with {} (older releases send {"enable": []})
 * and no id, expecting a "return"; then commands with string ids:
 * qmp-shell's completion reads query-commands' names, its banner prints
 * the greeting's version.qemu as MAJOR.MINOR.MICRO.
 */
static void
test_qmp_client_sequence(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_try_open(daemon->socket);
    g_autoptr(JsonObject) greeting = NULL;
    g_autofree char *banner = NULL;
    JsonObject *qmp, *version, *qemu;

    g_assert_nonnull(conn);
    greeting = conn_read_object(conn);
    qmp = json_object_get_object_member(greeting, "QMP");
    g_assert_nonnull(qmp);
    version = json_object_get_object_member(qmp, "version");
    g_assert_nonnull(version);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(json_object_get_member(qmp, "capabilities")));
    /* Not "oob": the client then asks for no capability. */
    g_assert_cmpuint(
        json_array_get_length(json_object_get_array_member(qmp, "capabilities")), ==, 0);
    qemu = json_object_get_object_member(version, "qemu");
    banner = g_strdup_printf("Connected to QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                             ".%" G_GINT64_FORMAT,
                             json_object_get_int_member(qemu, "major"),
                             json_object_get_int_member(qemu, "minor"),
                             json_object_get_int_member(qemu, "micro"));
    g_assert_cmpstr(banner, ==, "Connected to QEMU " PACKAGE_VERSION);

    {
        g_autofree char *line = NULL;

        conn_send(conn, "{\"execute\": \"qmp_capabilities\", \"arguments\": {}}");
        line = conn_read_line(conn);
        g_assert_cmpstr(line, ==, "{\"return\":{}}");
    }
    {
        g_autoptr(JsonObject) reply = NULL;
        JsonArray *list;

        conn_send(conn, "{\"execute\": \"query-commands\", \"id\": \"__qmp#00000\"}");
        reply = conn_read_object(conn);
        assert_id(reply, "\"__qmp#00000\"");
        list = json_object_get_array_member(reply, "return");
        g_assert_cmpuint(json_array_get_length(list), >, 2);
        for (guint i = 0; i < json_array_get_length(list); i++)
            g_assert_nonnull(json_object_get_string_member(
                json_array_get_object_element(list, i), "name"));
    }
    {
        g_autoptr(JsonObject) reply = NULL;

        conn_send(conn, "{\"execute\": \"query-version\", \"id\": \"__qmp#00001\"}");
        reply = conn_read_object(conn);
        assert_id(reply, "\"__qmp#00001\"");
        assert_qmp_version(json_object_get_object_member(reply, "return"), TRUE);
    }
    daemon_stop(daemon, SIGTERM);
}

/*
 * No event reaches a client still negotiating: a migration that fails at
 * once (its destination does not exist) sends MIGRATION_DONE to a
 * negotiated client, and a client that negotiates afterwards hears the
 * answer to qmp_capabilities first, then nothing of it.
 */
static void
test_qmp_no_events_before(Fixture *fixture, gconstpointer data)
{
    g_autoptr(VmigTestQemu) qemu = start_qemu();
    g_autofree char *command = NULL;
    g_autoptr(Conn) ready = NULL;
    g_autoptr(Conn) waiting = NULL;
    VmigTestDaemon *daemon;

    if (!qemu)
        return;
    daemon = daemon_start(fixture, 0);
    waiting = conn_open_greeted(daemon);
    ready = conn_open(daemon);
    command = g_strdup_printf("{\"execute\": \"migrate\", \"arguments\": {\"domain\": "
                              "\"qmp:%s\", \"dest\": \"unix:%s/nobody-here.sock\"}, "
                              "\"id\": 1}",
                              qemu->qmp_path, fixture->tmpdir);
    conn_send(ready, command);
    for (;;) {
        g_autoptr(JsonObject) line = conn_read_object(ready);

        if (g_strcmp0(json_object_get_string_member_with_default(line, "event", NULL),
                      "MIGRATION_DONE") == 0)
            break;
        g_assert_false(json_object_has_member(line, "error"));
    }
    /* The event went out before this line is read: had the waiting client
     * been sent it, it would come before the answer. */
    assert_serves(ready);
    {
        g_autofree char *line = NULL;

        conn_send(waiting, "{\"execute\": \"qmp_capabilities\", \"id\": \"n\"}");
        line = conn_read_line(waiting);
        g_assert_cmpstr(line, ==, "{\"return\":{},\"id\":\"n\"}");
    }
    assert_serves(waiting);
    daemon_stop(daemon, SIGTERM);
}

/* The socket is a socket, mode 0600, ours; the runtime directory 0700. */
static void
test_socket_mode(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    struct stat st;

    g_assert_cmpint(lstat(daemon->socket, &st), ==, 0);
    g_assert_true(S_ISSOCK(st.st_mode));
    g_assert_cmpint(st.st_mode & 07777, ==, 0600);
    g_assert_cmpint(st.st_uid, ==, geteuid());
    g_assert_cmpint(stat(daemon->dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0700);
    daemon_stop(daemon, SIGTERM);
}

/* SIGINT stops it as cleanly as SIGTERM, with clients connected. */
static void
test_sigint(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);
    g_autofree char *line = NULL;

    assert_serves(conn);
    daemon_stop(daemon, SIGINT);
    line = conn_read_line(conn);
    g_assert_null(line);
}

/* Two daemons with two runtime directories run side by side. */
static void
test_two_daemons(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *first = daemon_start(fixture, 0);
    VmigTestDaemon *second = daemon_start(fixture, 1);
    g_autoptr(Conn) a = conn_open(first);
    g_autoptr(Conn) b = conn_open(second);

    assert_serves(a);
    assert_serves(b);
    daemon_stop(first, SIGTERM);
    assert_serves(b);
    daemon_stop(second, SIGTERM);
}

/* A stale socket file (nobody listening) is replaced. */
static void
test_stale_socket(Fixture *fixture, gconstpointer data)
{
    g_autofree char *dir = g_build_filename(fixture->tmpdir, "run-0", NULL);
    g_autofree char *path = g_build_filename(dir, "virt-migrated.sock", NULL);
    g_auto(VmigFd) fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr;
    VmigTestDaemon *daemon;
    g_autoptr(Conn) conn = NULL;

    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    vmig_fd_clear(&fd);

    daemon = daemon_start(fixture, 0);
    conn = conn_open(daemon);
    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/* A second daemon on the same runtime directory refuses to start; the first goes on. */
static void
test_already_running(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    VmigTestDaemon *second = daemon_spawn(fixture, 1, "run-0", NULL, FALSE);
    g_autoptr(Conn) conn = NULL;
    g_autofree char *log = NULL;
    int status = 0;

    g_assert_true(wait_exit(second->pid, TEST_TIMEOUT_US, &status));
    second->pid = 0;
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    log = read_file(second->log);
    g_assert_nonnull(
        strstr(log, "virt-migrated: error: another server is already listening"));

    conn = conn_open(daemon);
    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/*
 * Runs virt-migrated with @args in @dir_name and expects it to exit with
 * @code, saying @message on stderr.
 */
static void
assert_startup_fails(Fixture *fixture, const char *dir_name, const char *const *args,
                     int code, const char *message)
{
    VmigTestDaemon *daemon = daemon_spawn(fixture, 0, dir_name, args, FALSE);
    g_autofree char *log = NULL;
    int status = 0;

    g_assert_true(wait_exit(daemon->pid, TEST_TIMEOUT_US, &status));
    daemon->pid = 0;
    log = read_file(daemon->log);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != code || !strstr(log, message))
        g_error("expected exit %d with '%s'; got status %d:\n%s", code, message, status,
                log);
}

/* An unknown --bus is a usage error (exit 2). */
static void
test_startup_bad_bus(Fixture *fixture, gconstpointer data)
{
    const char *const args[] = {"--bus", "bogus", NULL};

    assert_startup_fails(fixture, "run-0", args, 2, "unknown bus 'bogus'");
}

/* --keep-finished out of range: a usage error naming the option. */
static void
test_startup_bad_keep_finished(Fixture *fixture, gconstpointer data)
{
    const char *const args[] = {"--keep-finished", "-1", NULL};

    assert_startup_fails(fixture, "run-0", args, 2,
                         "--keep-finished must be 0 to 604800 seconds, not -1");
}

/* The bounds of docs/limits.md out of range: usage errors naming the option. */
static void
test_startup_bad_limits(Fixture *fixture, gconstpointer data)
{
    const char *const migrations[] = {"--max-migrations", "0", NULL};
    const char *const pending[] = {"--max-pending", "70000", NULL};
    const char *const timeout[] = {"--pending-timeout", "0", NULL};

    assert_startup_fails(fixture, "run-0", migrations, 2,
                         "--max-migrations must be 1 to 1024, not 0");
    assert_startup_fails(fixture, "run-1", pending, 2,
                         "--max-pending must be 1 to 65536, not 70000");
    assert_startup_fails(fixture, "run-2", timeout, 2,
                         "--pending-timeout must be 1 to 600 seconds, not 0");
}

/* A socket path over sun_path's size: a clear startup error. */
static void
test_startup_path_too_long(Fixture *fixture, gconstpointer data)
{
    g_autofree char *name = g_strnfill(120, 'd');

    assert_startup_fails(fixture, name, NULL, 1, "is too long");
}

/* A runtime directory others can write to is refused. */
static void
test_startup_dir_writable(Fixture *fixture, gconstpointer data)
{
    g_autofree char *dir = g_build_filename(fixture->tmpdir, "run-0", NULL);

    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_assert_cmpint(chmod(dir, 0777), ==, 0);
    assert_startup_fails(fixture, "run-0", NULL, 1, "is writable by others");
}

/* A regular file where the socket goes is left alone, and refused. */
static void
test_startup_not_a_socket(Fixture *fixture, gconstpointer data)
{
    g_autofree char *dir = g_build_filename(fixture->tmpdir, "run-0", NULL);
    g_autofree char *path = g_build_filename(dir, "virt-migrated.sock", NULL);
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_file_set_contents(path, "precious", -1, &error);
    g_assert_no_error(error);
    assert_startup_fails(fixture, "run-0", NULL, 1, "exists and is not a socket");
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
}

/* ------------------------------------------------------------------------ */
/* The configuration file (docs/config.md) */

/* Keys that make a daemon of the file alone hermetic, as daemon-helper.c's options do. */
#define CONFIG_HERMETIC "bus=none\ntls_x509_dir=\nplaintext_tcp=true\n"

/* Writes @text to TMPDIR/virt-migrated.conf.  Returns: its path (to free). */
static char *
config_write(Fixture *fixture, const char *text)
{
    g_autofree char *path = g_build_filename(fixture->tmpdir, "virt-migrated.conf", NULL);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
    return g_steal_pointer(&path);
}

/*
 * Spawns the daemon as daemon 0 of @fixture with exactly the arguments
 * @args (NULL-terminated) and a descriptor limit of 1024 (so that the
 * limits it says it cannot reach are known), its control socket expected
 * in @dir_name under the tmpdir; with @serving, waits (bounded) until that
 * socket accepts connections.
 * Returns: it.
 */
static VmigTestDaemon *
config_daemon_spawn(Fixture *fixture, const char *dir_name, const char *const *args,
                    gboolean serving)
{
    VmigTestDaemon *daemon = &fixture->daemons[0];
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_autofree char *binary = built_program("driver", "virt-migrated");
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) error = NULL;
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;

    vmig_test_daemon_clear(daemon);
    daemon->dir = g_build_filename(fixture->tmpdir, dir_name, NULL);
    daemon->socket = g_build_filename(daemon->dir, "virt-migrated.sock", NULL);
    daemon->log = g_build_filename(fixture->tmpdir, "daemon-0.log", NULL);
    g_unlink(daemon->log); /* the log of this run alone */
    g_strv_builder_add_many(builder, "sh", "-c", "ulimit -n 1024 && exec \"$@\"", "sh",
                            binary, NULL);
    g_strv_builder_addv(builder, (const char **)args);
    argv = g_strv_builder_end(builder);
    vmig_test_process_spawn((const char *const *)argv, NULL, daemon->log, daemon->log,
                            &daemon->pid, &error);
    g_assert_no_error(error);
    while (serving) {
        g_autoptr(Conn) conn = conn_try_open(daemon->socket);
        int status = 0;

        if (conn)
            break;
        if (vmig_test_process_wait(daemon->pid, 0, &status)) {
            g_autofree char *log = read_file(daemon->log);

            daemon->pid = 0;
            g_error("virt-migrated exited (status 0x%x) before serving:\n%s",
                    (guint)status, log);
        }
        if (g_get_monotonic_time() >= deadline)
            g_error("virt-migrated did not serve on %s in time", daemon->socket);
        g_usleep(10 * 1000);
    }
    return daemon;
}

/*
 * Runs the daemon on the configuration @text with @args after --config
 * FILE (NULL-terminated, nullable), and expects it to exit with @code and
 * say exactly "virt-migrated: error: " + @message, its "%s" replaced by the
 * file's path, and nothing else.
 */
static void
assert_config_fails(Fixture *fixture, const char *text, const char *const *args, int code,
                    const char *message)
{
    g_autofree char *path = config_write(fixture, text);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) parts = NULL;
    g_autofree char *said = NULL;
    g_autofree char *want = NULL;
    g_autofree char *log = NULL;
    VmigTestDaemon *daemon;
    int status = 0;

    g_strv_builder_add_many(builder, "--config", path, NULL);
    if (args)
        g_strv_builder_addv(builder, (const char **)args);
    argv = g_strv_builder_end(builder);
    daemon = config_daemon_spawn(fixture, "run-0", (const char *const *)argv, FALSE);
    g_assert_true(vmig_test_process_wait(daemon->pid, TEST_TIMEOUT_US / 1000, &status));
    daemon->pid = 0;
    log = read_file(daemon->log);
    parts = g_strsplit(message, "%s", 2);
    said = g_strjoinv(path, parts);
    want = g_strconcat("virt-migrated: error: ", said, "\n", NULL);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != code || !g_str_equal(log, want))
        g_error("expected exit %d with:\n%sgot status 0x%x with:\n%s", code, want,
                (guint)status, log);
    g_assert_false(g_file_test(daemon->dir, G_FILE_TEST_EXISTS));
}

/*
 * The file alone: the runtime directory, the bus, TLS, verbose, the limits
 * it sets are the daemon's (the socket is where it says; the limits show
 * in what the daemon says of its descriptor limit).
 */
static void
test_config_file(Fixture *fixture, gconstpointer data)
{
    g_autofree char *dir = g_build_filename(fixture->tmpdir, "run-file", NULL);
    g_autofree char *text =
        g_strdup_printf("# a comment\n"
                        "[virt-migrated]\n"
                        "runtime_dir = %s\n" CONFIG_HERMETIC "verbose=true\n"
                        "max_migrations=1000\n"
                        "max_pending=900\n"
                        "tls_allowed_dn=CN=a,O=b;CN=c\n",
                        dir);
    g_autofree char *path = config_write(fixture, text);
    const char *const args[] = {"--config", path, NULL};
    VmigTestDaemon *daemon = config_daemon_spawn(fixture, "run-file", args, TRUE);
    g_autoptr(Conn) conn = conn_open(daemon);
    g_autofree char *log = NULL;
    g_autofree char *reading = g_strdup_printf("configuration from %s", path);
    g_autofree char *created = g_strdup_printf("created the runtime directory '%s'", dir);

    assert_serves(conn);
    g_clear_pointer(&conn, conn_free);
    daemon_stop(daemon, SIGTERM);
    log = read_file(daemon->log);
    g_assert_nonnull(strstr(log, reading));
    g_assert_nonnull(strstr(log, created)); /* a debug message: verbose=true */
    g_assert_nonnull(strstr(log, "1000 migrations of 255 channels need 1538964"));
    g_assert_nonnull(strstr(log, "--max-pending 900 is lowered to 256"));
    g_assert_nonnull(strstr(log, "--tls-x509-dir is empty: TLS is off"));
}

/* The command line overrides the file, option by option; the rest of the file holds. */
static void
test_config_override(Fixture *fixture, gconstpointer data)
{
    g_autofree char *file_dir = g_build_filename(fixture->tmpdir, "run-file", NULL);
    g_autofree char *cli_dir = g_build_filename(fixture->tmpdir, "run-cli", NULL);
    g_autofree char *text =
        g_strdup_printf("[virt-migrated]\n"
                        "runtime_dir=%s\n" CONFIG_HERMETIC "max_migrations=1000\n"
                        "max_pending=900\n"
                        "qmp_timeout=0x\n",
                        file_dir);
    g_autofree char *path = NULL;
    VmigTestDaemon *daemon;
    g_autoptr(Conn) conn = NULL;
    g_autofree char *log = NULL;

    /* A bad value is an error even when the command line would override it. */
    assert_config_fails(fixture, text, NULL, 2,
                        "%s:8: qmp_timeout: '0x' is not a number");
    *strstr(text, "qmp_timeout") = '\0';
    path = config_write(fixture, text);
    {
        const char *const args[] = {
            "--config", path, "--runtime-dir", cli_dir, "--max-migrations", "999", NULL};

        daemon = config_daemon_spawn(fixture, "run-cli", args, TRUE);
    }
    conn = conn_open(daemon);
    assert_serves(conn);
    g_clear_pointer(&conn, conn_free);
    daemon_stop(daemon, SIGTERM);
    log = read_file(daemon->log);
    g_assert_false(g_file_test(file_dir, G_FILE_TEST_EXISTS));
    g_assert_nonnull(strstr(log, "999 migrations of 255 channels"));
    g_assert_null(strstr(log, "1000 migrations"));
    g_assert_nonnull(strstr(log, "--max-pending 900 is lowered to 256"));
}

/* An option's range is the file's too, and the command line cannot make a bad file good.
 */
static void
test_config_range(Fixture *fixture, gconstpointer data)
{
    const char *const cli[] = {"--keep-finished", "10", NULL};

    assert_config_fails(fixture, "[virt-migrated]\n\n  keep_finished = -1\n", cli, 2,
                        "%s:3: keep_finished: must be 0 to 604800 seconds, not -1");
    assert_config_fails(
        fixture, "[virt-migrated]\nmax_pending=99999999999999999999\n", NULL, 2,
        "%s:2: max_pending: must be 1 to 65536, not 99999999999999999999");
    assert_config_fails(
        fixture, "[virt-migrated]\nheartbeat_interval=5\nheartbeat_timeout=5\n", NULL, 2,
        "%s:3: heartbeat_timeout: must be more than the heartbeat "
        "interval (5 s), not 5");
}

/* Values of the wrong type, each named by line and key. */
static void
test_config_bad_value(Fixture *fixture, gconstpointer data)
{
    assert_config_fails(fixture, "[virt-migrated]\n#qmp_timeout=1\nqmp_timeout=abc\n",
                        NULL, 2, "%s:3: qmp_timeout: 'abc' is not a number");
    assert_config_fails(fixture, "[virt-migrated]\nplaintext_tcp=yes\n", NULL, 2,
                        "%s:2: plaintext_tcp: 'yes' is not a boolean (true or false)");
    assert_config_fails(fixture, "[virt-migrated]\nbus=bogus\n", NULL, 2,
                        "%s:2: bus: unknown bus 'bogus' (expected system, session or "
                        "none)");
    assert_config_fails(fixture, "[virt-migrated]\ntls_allowed_dn=CN=a\\,b\n", NULL, 2,
                        "%s:2: tls_allowed_dn: 'CN=a\\,b' is not a valid string: UTF-8, "
                        "with the escapes \\s \\t \\n \\r \\\\ (and \\; in a list)");
}

/* GKeyFile's syntax errors, with the line GKeyFile does not tell. */
static void
test_config_syntax(Fixture *fixture, gconstpointer data)
{
    assert_config_fails(
        fixture, "# virt-migrated\n\n[virt-migrated]\nbus=none\nqmp_timeout\n", NULL, 2,
        "%s:5: Key file contains line \xe2\x80\x9cqmp_timeout\xe2\x80\x9d "
        "which is not a key-value pair, group, or comment");
    assert_config_fails(fixture, "# no group\nbus=none\n", NULL, 2,
                        "%s:2: Key file does not start with a group");
}

/* A typo is never ignored: unknown keys and groups are errors. */
static void
test_config_unknown(Fixture *fixture, gconstpointer data)
{
    assert_config_fails(fixture, "[virt-migrated]\nbus=none\nqmp_timout=5\n", NULL, 2,
                        "%s:3: qmp_timout: unknown key (did you mean 'qmp_timeout'?)");
    assert_config_fails(fixture, "[virt-migrated]\nqmp-timeout=5\n", NULL, 2,
                        "%s:2: qmp-timeout: unknown key (did you mean 'qmp_timeout'?)");
    assert_config_fails(fixture, "[virt-migrated]\nconfig=/etc/x\n", NULL, 2,
                        "%s:2: config: unknown key");
    assert_config_fails(fixture, "[virt-migrated]\nbus=none\n\n[virt-migrate]\n", NULL, 2,
                        "%s:4: [virt-migrate]: unknown group (the keys go in "
                        "[virt-migrated])");
}

/* A file named with --config must exist; one that cannot be read is a failure (1). */
static void
test_config_missing(Fixture *fixture, gconstpointer data)
{
    g_autofree char *missing = g_build_filename(fixture->tmpdir, "nope.conf", NULL);
    const char *const args[] = {"--config", missing, NULL};
    const char *const dir_args[] = {"--config", fixture->tmpdir, NULL};
    VmigTestDaemon *daemon = config_daemon_spawn(fixture, "run-0", args, FALSE);
    g_autofree char *want = g_strdup_printf(
        "virt-migrated: error: %s: cannot read the configuration file: No such file or "
        "directory\n",
        missing);
    g_autofree char *log = NULL;
    int status = 0;

    g_assert_true(vmig_test_process_wait(daemon->pid, TEST_TIMEOUT_US / 1000, &status));
    daemon->pid = 0;
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 2);
    log = read_file(daemon->log);
    g_assert_cmpstr(log, ==, want);

    daemon = config_daemon_spawn(fixture, "run-0", dir_args, FALSE);
    g_assert_true(vmig_test_process_wait(daemon->pid, TEST_TIMEOUT_US / 1000, &status));
    daemon->pid = 0;
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    g_free(log);
    log = read_file(daemon->log);
    g_free(want);
    want = g_strdup_printf("virt-migrated: error: %s: cannot read the configuration "
                           "file: Is a directory\n",
                           fixture->tmpdir);
    g_assert_cmpstr(log, ==, want);
}

/* ------------------------------------------------------------------------ */
/* Bad input: an exact QMP-style error, and the connection goes on */

typedef struct {
    const char *line; /* NULL: built by the test */
    const char *klass;
    const char *desc; /* NULL: "invalid JSON: " + json-glib's own message */
    const char *id;   /* the id echoed, as JSON text; NULL: none */
} BadInput;

static const BadInput bad_json = {"{\"execute\": \"query-version\", ", "GenericError",
                                  NULL, NULL};
static const BadInput bad_utf8 = {"{\"execute\": \"\xff\"}", "GenericError", NULL, NULL};
static const BadInput bad_trailing = {
    "{\"execute\": \"query-version\"} {\"execute\": \"query-version\"}", "GenericError",
    "invalid JSON: unexpected data after the first JSON value", NULL};
static const BadInput bad_deep = {NULL, "GenericError",
                                  "invalid JSON: nesting deeper than 1024 levels", NULL};
static const BadInput bad_not_object = {"[\"execute\", \"query-version\"]",
                                        "GenericError", "QMP input must be a JSON object",
                                        NULL};
static const BadInput bad_no_execute = {"{\"id\": 5, \"arguments\": {}}", "GenericError",
                                        "Expected 'execute' in QMP input", "5"};
static const BadInput bad_execute_type = {
    "{\"execute\": 7, \"id\": true}", "GenericError",
    "QMP input member 'execute' must be a string", "true"};
static const BadInput bad_member = {
    "{\"execute\": \"query-version\", \"bogus\": 1, \"id\": 1.5}", "GenericError",
    "QMP input member 'bogus' is unexpected", "1.5"};
static const BadInput bad_unknown = {
    "{\"execute\": \"no-such-command\", \"id\": \"abc\"}", "CommandNotFound",
    "The command no-such-command has not been found", "\"abc\""};
static const BadInput bad_arguments = {
    "{\"execute\": \"query-version\", \"arguments\": [1], \"id\": {\"x\": [1, null]}}",
    "GenericError", "QMP input member 'arguments' must be an object", "{\"x\":[1,null]}"};
static const BadInput bad_missing = {
    "{\"execute\": \"query-tunables\", \"arguments\": {\"unstable\": true}, \"id\": 1}",
    "GenericError", "Parameter 'domain' is missing", "1"};
static const BadInput bad_unexpected = {
    "{\"execute\": \"query-tunables\", \"arguments\": {\"domain\": \"qmp:/x\", \"foo\": "
    "1}, "
    "\"id\": 2}",
    "GenericError", "Parameter 'foo' is unexpected", "2"};
static const BadInput bad_unexpected_none = {
    "{\"execute\": \"query-version\", \"arguments\": {\"verbose\": true}, \"id\": 3}",
    "GenericError", "Parameter 'verbose' is unexpected", "3"};
static const BadInput bad_type_string = {
    "{\"execute\": \"query-tunables\", \"arguments\": {\"domain\": 42}, \"id\": 4}",
    "GenericError", "Parameter 'domain' expects a string", "4"};
static const BadInput bad_type_null = {
    "{\"execute\": \"query-tunables\", \"arguments\": {\"domain\": null}, \"id\": 4}",
    "GenericError", "Parameter 'domain' expects a string", "4"};
static const BadInput bad_type_bool = {"{\"execute\": \"query-tunables\", \"arguments\": "
                                       "{\"domain\": \"qmp:/x\", \"unstable\": "
                                       "\"yes\"}, \"id\": null}",
                                       "GenericError",
                                       "Parameter 'unstable' expects a boolean", "null"};

/*
 * One bad line (@data, a BadInput), twice: the exact error each time, and
 * the connection goes on serving.
 */
static void
test_bad_input(Fixture *fixture, gconstpointer data)
{
    const BadInput *bad = data;
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);
    g_autoptr(JsonObject) reply = NULL;
    g_autofree char *line = NULL;
    g_autofree char *desc = NULL;

    if (bad->line) {
        line = g_strdup(bad->line);
    } else {
        /* Deep enough to overflow the stack of a recursive parser. */
        g_autofree char *open = g_strnfill(200000, '[');

        line = g_strconcat("{\"execute\": ", open, NULL);
    }
    if (bad->desc) {
        desc = g_strdup(bad->desc);
    } else {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;

        g_assert_false(json_parser_load_from_data(parser, line, -1, &error));
        desc = g_strdup_printf("invalid JSON: %s", error->message);
    }

    conn_send(conn, line);
    reply = conn_read_object(conn);
    assert_error(reply, bad->klass, desc, bad->id);
    assert_serves(conn);
    /* Twice: nothing about the first one lingers. */
    conn_send(conn, line);
    g_clear_pointer(&reply, json_object_unref);
    reply = conn_read_object(conn);
    assert_error(reply, bad->klass, desc, bad->id);
    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/* Blank lines are ignored; lines split over many writes or batched in one are each
 * answered. */
static void
test_lines(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);
    const char *split = "{\"execute\": \"query-version\", \"id\": \"split\"}\n";
    const char *batch = "\n  \r\n{\"execute\": \"query-version\", \"id\": 1}\n"
                        "{\"execute\": \"nope\", \"id\": 2}\n"
                        "{\"execute\": \"query-version\", \"id\": 3}\n";
    gsize i;
    guint n;

    for (i = 0; split[i]; i++)
        conn_send_raw(conn, split + i, 1, NULL, 0);
    {
        g_autoptr(JsonObject) reply = conn_read_object(conn);

        g_assert_true(json_object_has_member(reply, "return"));
        assert_id(reply, "\"split\"");
    }
    conn_send_raw(conn, batch, strlen(batch), NULL, 0);
    for (n = 1; n <= 3; n++) {
        g_autoptr(JsonObject) reply = conn_read_object(conn);
        g_autofree char *id = g_strdup_printf("%u", n);

        g_assert_true(json_object_has_member(reply, n == 2 ? "error" : "return"));
        assert_id(reply, id);
    }
    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/* ------------------------------------------------------------------------ */
/* Limits and fds */

/* Returns: @n fds on distinct open files (pipes and memfds); close them with
 * vmig_fdpass_close_all. */
static int *
make_fds(gsize n)
{
    int *fds = g_new(int, n);
    gsize i;

    for (i = 0; i < n; i++) {
        if (i % 2 == 0) {
            fds[i] = memfd_create("test-daemon", MFD_CLOEXEC);
        } else {
            int p[2];

            g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
            close(p[1]);
            fds[i] = p[0];
        }
        g_assert_cmpint(fds[i], >=, 0);
    }
    return fds;
}

/* fds sent with a command that takes none are refused, closed, and not leaked. */
static void
test_fds_refused(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);
    int *fds = make_fds(3);
    guint before;

    assert_serves(conn);
    before = vmig_test_count_fds(daemon->pid);

    conn_send_fds(conn, "{\"execute\": \"query-version\", \"id\": 1}", fds, 3);
    {
        g_autoptr(JsonObject) reply = conn_read_object(conn);

        assert_error(reply, "GenericError",
                     "The command query-version takes no file descriptors (3 were sent)",
                     "1");
    }
    g_assert_cmpuint(vmig_test_count_fds(daemon->pid), ==, before);

    /* With a line the daemon cannot read at all, too. */
    conn_send_fds(conn, "{\"execute\": ", fds, 3);
    {
        g_autoptr(JsonObject) reply = conn_read_object(conn);

        g_assert_true(json_object_has_member(reply, "error"));
    }
    g_assert_cmpuint(vmig_test_count_fds(daemon->pid), ==, before);

    /* And with an unknown command, and an incomplete line left at end of file. */
    conn_send_fds(conn, "{\"execute\": \"nope\"}", fds, 3);
    {
        g_autoptr(JsonObject) reply = conn_read_object(conn);

        assert_error(reply, "CommandNotFound", "The command nope has not been found",
                     NULL);
    }
    g_assert_cmpuint(vmig_test_count_fds(daemon->pid), ==, before);
    assert_serves(conn);

    {
        g_autoptr(Conn) other = conn_open(daemon);
        const char *partial = "{\"execute\": \"query-version\"";
        g_autofree char *line = NULL;

        conn_send_raw(other, partial, strlen(partial), fds, 3);
        shutdown(other->fd, SHUT_WR);
        line = conn_read_line(other);
        g_assert_null(line);
    }
    g_assert_cmpuint(vmig_test_count_fds(daemon->pid), ==, before);

    vmig_fdpass_close_all(fds, 3);
    daemon_stop(daemon, SIGTERM);
}

/* More than 253 fds with one line (over two sendmsgs) closes that connection. */
static void
test_fds_too_many(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) keep = conn_open(daemon);
    g_autoptr(Conn) conn = conn_open(daemon);
    const char *first = "{\"execute\": ";
    const char *second = "\"query-version\"}\n";
    int *fds = make_fds(150);
    guint before;
    g_autofree char *why = g_strdup_printf("more than %d file descriptors with one line: "
                                           "closing the connection",
                                           VMIG_FDPASS_MAX_FDS);

    before = vmig_test_count_fds(daemon->pid);
    conn_send_raw(conn, first, strlen(first), fds, 150);
    /* Let the daemon take the first part on its own. */
    g_usleep(200 * 1000);
    conn_send_raw(conn, second, strlen(second), fds, 150);
    assert_closed(conn, why);

    assert_serves(keep);
    g_assert_cmpuint(vmig_test_count_fds(daemon->pid), ==, before - 1);
    vmig_fdpass_close_all(fds, 150);
    daemon_stop(daemon, SIGTERM);
}

/* A line of exactly 1 MiB is served; one byte more closes that connection only. */
static void
test_line_limit(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) keep = conn_open(daemon);
    g_autoptr(Conn) conn = conn_open(daemon);
    const char *head = "{\"execute\": \"query-version\", \"id\": \"big\"";
    g_autofree char *why = g_strdup_printf(
        "line longer than %d bytes: closing the connection", TEST_MAX_LINE);
    g_autofree char *line = g_malloc(TEST_MAX_LINE + 2);
    guint before;

    /* head, blanks, '}': TEST_MAX_LINE bytes, then '\n'. */
    memset(line, ' ', TEST_MAX_LINE);
    memcpy(line, head, strlen(head));
    line[TEST_MAX_LINE - 1] = '}';
    line[TEST_MAX_LINE] = '\n';
    conn_send_raw(conn, line, TEST_MAX_LINE + 1, NULL, 0);
    {
        g_autoptr(JsonObject) reply = conn_read_object(conn);

        g_assert_true(json_object_has_member(reply, "return"));
        assert_id(reply, "\"big\"");
    }

    before = vmig_test_count_fds(daemon->pid);
    /* One more blank: the line is now over the limit. */
    line[TEST_MAX_LINE] = ' ';
    line[TEST_MAX_LINE + 1] = '\n';
    memmove(line + TEST_MAX_LINE - 1, "  }", 3);
    {
        /* The daemon may close while this is still writing. */
        gsize sent = 0;

        while (sent < TEST_MAX_LINE + 2) {
            ssize_t n =
                send(conn->fd, line + sent, TEST_MAX_LINE + 2 - sent, MSG_NOSIGNAL);

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            sent += n;
        }
    }
    assert_closed(conn, why);

    assert_serves(keep);
    g_assert_cmpuint(vmig_test_count_fds(daemon->pid), ==, before - 1);
    daemon_stop(daemon, SIGTERM);
}

/* ------------------------------------------------------------------------ */
/* Another uid */

/*
 * In a child running as @uid/@gid with the @n_groups supplementary
 * @groups, connects to @path, sends @send_text (nullable) and ends its
 * side, and reads until end of file (at most 10 s).  A forked child rather than
 * setpriv(1) running a client program: nothing needs to be executable by @uid (a build
 * tree under /root is not), and the child needs nothing but system calls.  It reports
 * through a pipe, not its exit status, which a wrapper such as valgrind may rewrite.
 * Returns: what the child saw: "ERRNO n" when connect() failed, else the
 * bytes received (to free).
 */
static char *
connect_as_groups(const char *path, uid_t uid, gid_t gid, const gid_t *groups,
                  gsize n_groups, const char *send_text)
{
    g_autoptr(GString) seen = g_string_new(NULL);
    struct sockaddr_un addr;
    int p[2];
    pid_t pid;
    int status = 0;
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);

    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        /* The child. */
        char buf[4096];
        int fd;
        ssize_t n;

        close(p[0]);
        alarm(10);
        if (setgroups(n_groups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0) {
            n = snprintf(buf, sizeof(buf), "SETUID FAILED %d", errno);
        } else if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
            n = snprintf(buf, sizeof(buf), "SOCKET FAILED %d", errno);
        } else if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            n = snprintf(buf, sizeof(buf), "ERRNO %d", errno);
        } else {
            /* What it has to say, then end of file: a served client is
             * disconnected once its commands are answered. */
            if (send_text && (write(fd, send_text, strlen(send_text)) < 0 ||
                              shutdown(fd, SHUT_WR) < 0))
                _exit(1);
            while ((n = read(fd, buf, sizeof(buf))) > 0) {
                if (write(p[1], buf, n) != n)
                    _exit(1);
            }
            n = n == 0 ? 0 : snprintf(buf, sizeof(buf), "READ FAILED %d", errno);
        }
        if (n > 0 && write(p[1], buf, n) != n)
            _exit(1);
        _exit(0);
    }
    g_array_append_val(test_pids, pid);
    close(p[1]);

    for (;;) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        char buf[4096];
        gint64 left = deadline - g_get_monotonic_time();
        ssize_t n;

        g_assert_cmpint(left, >, 0);
        if (poll(&pfd, 1, (int)(left / 1000) + 1) <= 0)
            continue;
        n = read(p[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        g_assert_cmpint(n, >=, 0);
        if (n == 0)
            break;
        g_string_append_len(seen, buf, n);
    }
    close(p[0]);
    g_assert_true(wait_exit(pid, TEST_TIMEOUT_US, &status));
    return g_string_free(g_steal_pointer(&seen), FALSE);
}

/* connect_as_groups() with no supplementary group and nothing to say. */
static char *
connect_as(const char *path, uid_t uid, gid_t gid)
{
    return connect_as_groups(path, uid, gid, NULL, 0, NULL);
}

/*
 * A client of another uid: the kernel keeps it out of the 0700 directory
 * and the 0600 socket; with both opened up, the daemon itself refuses it
 * (SO_PEERCRED) with one error line, and goes on serving its own uid.
 */
static void
test_other_uid(Fixture *fixture, gconstpointer data)
{
    struct passwd *nobody;
    struct group *nogroup;
    VmigTestDaemon *daemon;
    g_autoptr(Conn) conn = NULL;
    g_autofree char *seen = NULL;
    g_autofree char *expected = NULL;
    g_autofree char *eacces = g_strdup_printf("ERRNO %d", EACCES);
    guint before;

    if (geteuid() != 0) {
        g_test_skip("needs root to run a client as another uid");
        return;
    }
    nobody = getpwnam("nobody");
    nogroup = getgrnam("nogroup");
    if (!nobody || !nogroup || nobody->pw_uid == 0) {
        g_test_skip("no user 'nobody' and group 'nogroup'");
        return;
    }

    daemon = daemon_start(fixture, 0);
    conn = conn_open(daemon);
    before = vmig_test_count_fds(daemon->pid);

    seen = connect_as(daemon->socket, nobody->pw_uid, nogroup->gr_gid);
    g_assert_cmpstr(seen, ==, eacces);

    g_assert_cmpint(chmod(fixture->tmpdir, 0711), ==, 0);
    g_assert_cmpint(chmod(daemon->dir, 0711), ==, 0);
    g_assert_cmpint(chmod(daemon->socket, 0666), ==, 0);
    g_free(seen);
    seen = connect_as(daemon->socket, nobody->pw_uid, nogroup->gr_gid);
    expected =
        g_strdup_printf("{\"error\":{\"class\":\"GenericError\",\"desc\":\"permission "
                        "denied: the control socket serves uid %u only, not uid %u\"}}\n",
                        (guint)geteuid(), (guint)nobody->pw_uid);
    g_assert_cmpstr(seen, ==, expected);
    g_assert_cmpint(chmod(daemon->socket, 0600), ==, 0);
    g_assert_cmpint(chmod(daemon->dir, 0700), ==, 0);
    g_assert_cmpint(chmod(fixture->tmpdir, 0700), ==, 0);

    assert_serves(conn);
    g_assert_cmpuint(vmig_test_count_fds(daemon->pid), ==, before);
    daemon_stop(daemon, SIGTERM);
}

/* ------------------------------------------------------------------------ */
/* Commands */

/* query-tunables on a domain nobody listens on: a GenericError naming the path. */
static void
test_tunables_unreachable(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);
    g_autoptr(JsonObject) reply = NULL;
    JsonObject *error;

    conn_send(conn, "{\"execute\": \"query-tunables\", \"arguments\": {\"domain\": "
                    "\"qmp:/nonexistent\"}, \"id\": 9}");
    reply = conn_read_object(conn);
    assert_id(reply, "9");
    error = json_object_get_object_member(reply, "error");
    g_assert_nonnull(error);
    g_assert_cmpstr(json_object_get_string_member(error, "class"), ==, "GenericError");
    g_assert_nonnull(
        strstr(json_object_get_string_member(error, "desc"), "'/nonexistent'"));
    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/*
 * A fake QEMU monitor (a fake is right here: no real QEMU can be made to
 * send this): it greets with 100,000 nested '[', which once crashed the
 * daemon, since json-glib recurses once per level.  Holds the connection
 * until the daemon hangs up.  @data is the listening fd.
 */
static gpointer
nested_monitor_thread(gpointer data)
{
    int listen_fd = GPOINTER_TO_INT(data);
    struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
    g_autofree char *deep = g_malloc(100000);
    g_auto(VmigFd) fd = -1;
    gsize off = 0;
    char buf[256];

    if (poll(&pfd, 1, TEST_TIMEOUT_US / 1000) != 1)
        return NULL;
    fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    memset(deep, '[', 100000);
    while (off < 100000) {
        gssize n = send(fd, deep + off, 100000 - off, MSG_NOSIGNAL);

        if (n <= 0)
            return NULL;
        off += (gsize)n;
    }
    (void)!send(fd, "\r\n", 2, MSG_NOSIGNAL);
    pfd.fd = fd;
    while (poll(&pfd, 1, TEST_TIMEOUT_US / 1000) == 1 &&
           recv(fd, buf, sizeof(buf), 0) > 0)
        ;
    return NULL;
}

/*
 * query-tunables on a monitor that greets with 100,000 nested '[': an
 * error that names the nesting, and the daemon serves on.
 */
static void
test_tunables_nested_greeting(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);
    g_autoptr(JsonObject) reply = NULL;
    g_autofree char *path = g_build_filename(fixture->tmpdir, "nested.qmp", NULL);
    g_autofree char *command = NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_auto(VmigFd) listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    GThread *thread;
    JsonObject *error;
    const char *desc;
    guint before = vmig_test_count_fds(daemon->pid);

    g_assert_cmpint(listen_fd, >=, 0);
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(listen_fd, 1), ==, 0);
    thread =
        g_thread_new("nested-monitor", nested_monitor_thread, GINT_TO_POINTER(listen_fd));

    command = g_strdup_printf("{\"execute\": \"query-tunables\", \"arguments\": "
                              "{\"domain\": \"qmp:%s\"}, \"id\": 1}",
                              path);
    conn_send(conn, command);
    reply = conn_read_object(conn);
    assert_id(reply, "1");
    error = json_object_get_object_member(reply, "error");
    g_assert_nonnull(error);
    desc = json_object_get_string_member(error, "desc");
    g_test_message("%s", desc);
    g_assert_nonnull(strstr(desc, "nesting deeper than 1024 levels"));
    g_thread_join(thread);
    assert_serves(conn);
    g_assert_cmpuint(vmig_test_count_fds(daemon->pid), ==, before);
    daemon_stop(daemon, SIGTERM);
}

/*
 * A feature name nobody knows, on the control socket: the daemon's error
 * names the argument and the feature likely meant, else lists the known
 * ones.  (virt-migrate checks first: /daemon/cli/migration-usage.)
 */
static void
test_unknown_feature(Fixture *fixture, gconstpointer data)
{
    static const struct {
        const char *command;
        const char *arguments;
        const char *desc;
    } cases[] = {
        {"migrate",
         "{\"domain\": \"qmp:/nonexistent\", \"dest\": \"unix:/nonexistent\", "
         "\"no-features\": [\"multfd\"]}",
         "no-features: unknown feature 'multfd'; did you mean 'multifd'?"},
        {"prepare-incoming",
         "{\"domain\": \"qmp:/nonexistent\", \"listen\": \"unix:/nonexistent\", "
         "\"require-features\": [\"postcopy\"]}",
         "require-features: unknown feature 'postcopy'; did you mean 'postcopy-ram'?"},
        {"migrate",
         "{\"domain\": \"qmp:/nonexistent\", \"dest\": \"unix:/nonexistent\", "
         "\"require-features\": [\"teleport\"]}",
         "require-features: unknown feature 'teleport' (known: multifd, "
         "multifd-compression, postcopy-ram, return-path, zero-copy-send)"},
    };
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autoptr(Conn) conn = conn_open(daemon);

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *command =
            g_strdup_printf("{\"execute\": \"%s\", \"arguments\": %s, \"id\": %zu}",
                            cases[i].command, cases[i].arguments, i + 1);
        g_autofree char *id = g_strdup_printf("%zu", i + 1);
        g_autoptr(JsonObject) reply = NULL;
        JsonObject *error;

        conn_send(conn, command);
        reply = conn_read_object(conn);
        assert_id(reply, id);
        error = json_object_get_object_member(reply, "error");
        g_assert_nonnull(error);
        g_assert_cmpstr(json_object_get_string_member(error, "desc"), ==, cases[i].desc);
    }
    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/* ------------------------------------------------------------------------ */
/* The CLI */

typedef struct {
    int status; /* exit status, or -1 when killed by a signal */
    char *out;
    char *err;
} CliResult;

/* Frees a CLI result. */
static void
cli_result_free(CliResult *result)
{
    g_free(result->out);
    g_free(result->err);
    g_free(result);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliResult, cli_result_free)

/*
 * Runs virt-migrate with @args (NULL-terminated) and, when @socket_env is
 * not NULL, VIRT_MIGRATE_SOCKET=@socket_env.  Bounded.
 * Returns: its status and output.
 */
static CliResult *
run_cli(Fixture *fixture, const char *socket_env, const char *const *args)
{
    static guint runs;
    g_autofree char *binary = built_program("tools", "virt-migrate");
    g_autofree char *out_path = g_strdup_printf("%s/cli-%u.out", fixture->tmpdir, runs);
    g_autofree char *err_path = g_strdup_printf("%s/cli-%u.err", fixture->tmpdir, runs);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) envp = g_get_environ();
    CliResult *result = g_new0(CliResult, 1);
    int status = 0;
    GPid pid;

    runs++;
    envp = g_environ_unsetenv(envp, "VIRT_MIGRATE_SOCKET");
    if (socket_env)
        envp = g_environ_setenv(envp, "VIRT_MIGRATE_SOCKET", socket_env, TRUE);
    g_strv_builder_add(builder, binary);
    g_strv_builder_addv(builder, (const char **)args);
    argv = g_strv_builder_end(builder);

    pid = spawn_logged(argv, envp, out_path, err_path);
    if (!wait_exit(pid, TEST_TIMEOUT_US, &status))
        g_error("virt-migrate did not exit in time");
    result->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result->out = read_file(out_path);
    result->err = read_file(err_path);
    g_test_message("virt-migrate: status %d\nstdout:\n%s\nstderr:\n%s", result->status,
                   result->out, result->err);
    return result;
}

/* version, with --daemon-socket and with $VIRT_MIGRATE_SOCKET. */
static void
test_cli_version(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    const char *const args[] = {"--daemon-socket", daemon->socket, "version", NULL};
    const char *const env_args[] = {"version", NULL};
    g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
    g_autoptr(CliResult) from_env = NULL;
    g_autofree char *expected = g_strdup_printf("virt-migrate %s\nvirt-migrated %s\n",
                                                PACKAGE_VERSION, PACKAGE_VERSION);

    g_assert_cmpint(result->status, ==, 0);
    g_assert_cmpstr(result->out, ==, expected);
    g_assert_cmpstr(result->err, ==, "");

    from_env = run_cli(fixture, daemon->socket, env_args);
    g_assert_cmpint(from_env->status, ==, 0);
    g_assert_cmpstr(from_env->out, ==, expected);
    daemon_stop(daemon, SIGTERM);
}

/* COMMAND --help, help COMMAND and --help: exit 0, usage on stdout. */
static void
test_cli_help(Fixture *fixture, gconstpointer data)
{
    const char *const args[] = {"tunables", "--help", NULL};
    const char *const help_args[] = {"help", "tunables", NULL};
    const char *const global[] = {"--help", NULL};
    g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
    g_autoptr(CliResult) again = run_cli(fixture, NULL, help_args);
    g_autoptr(CliResult) top = run_cli(fixture, NULL, global);

    g_assert_cmpint(result->status, ==, 0);
    g_assert_true(g_str_has_prefix(
        result->out, "usage: virt-migrate tunables [-c URI] DOMAIN [--json|--xml] "
                     "[--unstable]\n"));
    g_assert_nonnull(strstr(result->out, "--unstable"));
    g_assert_cmpstr(result->err, ==, "");
    g_assert_cmpint(again->status, ==, 0);
    g_assert_cmpstr(again->out, ==, result->out);
    g_assert_cmpint(top->status, ==, 0);
    g_assert_nonnull(strstr(top->out, "tunables"));
    g_assert_nonnull(strstr(top->out, "version"));
}

/* tunables without DOMAIN: exit 2, the usage line on stderr. */
static void
test_cli_missing_domain(Fixture *fixture, gconstpointer data)
{
    const char *const args[] = {"--daemon-socket", "/nonexistent", "tunables", NULL};
    g_autoptr(CliResult) result = run_cli(fixture, NULL, args);

    g_assert_cmpint(result->status, ==, 2);
    g_assert_cmpstr(result->out, ==, "");
    g_assert_true(g_str_has_prefix(result->err, "virt-migrate: error: missing DOMAIN\n"));
    g_assert_nonnull(strstr(
        result->err,
        "usage: virt-migrate tunables [-c URI] DOMAIN [--json|--xml] [--unstable]"));
}

/*
 * -c is libvirt's URI now, as in virsh: a socket's path there (the old
 * --connect SOCKET) is a usage error that points to --daemon-socket.
 */
static void
test_cli_connect_path(Fixture *fixture, gconstpointer data)
{
    const char *const args[] = {"--connect", "/run/virt-migrate/virt-migrated.sock",
                                "version", NULL};
    g_autoptr(CliResult) result = run_cli(fixture, NULL, args);

    g_assert_cmpint(result->status, ==, 2);
    g_assert_cmpstr(result->out, ==, "");
    g_assert_true(g_str_has_prefix(
        result->err, "virt-migrate: error: -c/--connect names a libvirt URI, as virsh's "
                     "does, not '/run/virt-migrate/virt-migrated.sock'; the daemon's "
                     "socket is --daemon-socket PATH\nusage: virt-migrate [-c URI] "));
}

/* Nothing at --daemon-socket: exit 1 and an error naming the path. */
static void
test_cli_no_daemon(Fixture *fixture, gconstpointer data)
{
    const char *const args[] = {"--daemon-socket", "/nonexistent", "version", NULL};
    g_autoptr(CliResult) result = run_cli(fixture, NULL, args);

    g_assert_cmpint(result->status, ==, 1);
    g_assert_cmpstr(result->out, ==, "");
    g_assert_true(g_str_has_prefix(result->err, "virt-migrate: error: cannot connect to "
                                                "'/nonexistent': "));
}

/* A socket that greets like QEMU, not like virt-migrated: refused by name. */
static void
test_cli_not_a_daemon(Fixture *fixture, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fixture->tmpdir, "other.sock", NULL);
    g_autofree char *expected = g_strdup_printf("virt-migrate: error: '%s' is not a "
                                                "virt-migrated control socket\n",
                                                path);
    g_autofree char *binary = built_program("tools", "virt-migrate");
    g_autofree char *out_path = g_build_filename(fixture->tmpdir, "cli.out", NULL);
    g_autofree char *err_path = g_build_filename(fixture->tmpdir, "cli.err", NULL);
    g_autofree char *err = NULL;
    char *argv[] = {binary, (char *)"--daemon-socket", path, (char *)"version", NULL};
    const char *hello = "{\"QMP\": {\"version\": {}}}\n";
    g_auto(VmigFd) fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_auto(VmigFd) peer = -1;
    struct sockaddr_un addr;
    int status = 0;
    GPid pid;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 4), ==, 0);

    pid = spawn_logged(argv, NULL, out_path, err_path);
    peer = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(peer, >=, 0);
    g_assert_cmpint(send(peer, hello, strlen(hello), MSG_NOSIGNAL), ==,
                    (gssize)strlen(hello));
    g_assert_true(wait_exit(pid, TEST_TIMEOUT_US, &status));
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    err = read_file(err_path);
    g_assert_cmpstr(err, ==, expected);
}

/* An unknown command: exit 2 with the usage line. */
static void
test_cli_unknown_command(Fixture *fixture, gconstpointer data)
{
    const char *const args[] = {"bogus", NULL};
    g_autoptr(CliResult) result = run_cli(fixture, NULL, args);

    g_assert_cmpint(result->status, ==, 2);
    g_assert_cmpstr(result->out, ==, "");
    g_assert_true(g_str_has_prefix(result->err,
                                   "virt-migrate: error: unknown command 'bogus'\n"
                                   "usage: virt-migrate "));
}

/* tunables on an unreachable domain: exit 1, the daemon's error. */
static void
test_cli_tunables_unreachable(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    const char *const args[] = {"--daemon-socket", daemon->socket, "tunables",
                                "qmp:/nonexistent", NULL};
    g_autoptr(CliResult) result = run_cli(fixture, NULL, args);

    g_assert_cmpint(result->status, ==, 1);
    g_assert_cmpstr(result->out, ==, "");
    g_assert_true(g_str_has_prefix(result->err, "virt-migrate: error: "));
    g_assert_nonnull(strstr(result->err, "'/nonexistent'"));
    daemon_stop(daemon, SIGTERM);
}

/*
 * tunables -c URI DOMAIN with a libvirt that is not there, and a libvirt
 * DOMAIN the daemon cannot split: libvirt's own reason, exit 1.
 */
static void
test_cli_tunables_libvirt_unreachable(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    const char *const args[] = {"--daemon-socket",
                                daemon->socket,
                                "tunables",
                                "-c",
                                "qemu+unix:///session?socket=/nonexistent/libvirt-sock",
                                "vm1",
                                NULL};
    /* -c global, before the command, as virsh takes it: the same. */
    const char *const global[] = {"--daemon-socket",
                                  daemon->socket,
                                  "-c",
                                  "qemu+unix:///session?socket=/nonexistent/libvirt-sock",
                                  "tunables",
                                  "vm1",
                                  NULL};
    const char *const bad[] = {"--daemon-socket", daemon->socket, "tunables",
                               "libvirt:qemu:///system", NULL};
    g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
    g_autoptr(CliResult) global_result = run_cli(fixture, NULL, global);
    g_autoptr(CliResult) bad_result = run_cli(fixture, NULL, bad);

    g_assert_cmpint(result->status, ==, 1);
    g_assert_cmpstr(result->out, ==, "");
    /* The domain as the user wrote it, not the daemon's libvirt:URI#NAME. */
    g_assert_nonnull(strstr(result->err,
                            "cannot read the tunables of domain 'vm1': cannot connect to "
                            "libvirt at "
                            "'qemu+unix:///session?socket=/nonexistent/libvirt-sock': "));
    g_assert_null(strstr(result->err, "libvirt:"));
    g_assert_nonnull(strstr(result->err, "/nonexistent/libvirt-sock"));
    g_assert_cmpint(global_result->status, ==, 1);
    g_assert_cmpstr(global_result->err, ==, result->err);
    g_assert_cmpint(bad_result->status, ==, 1);
    g_assert_nonnull(strstr(bad_result->err, "is not of the form libvirt:URI#NAME"));
    daemon_stop(daemon, SIGTERM);
}

/* The migration commands: what each one's usage line starts with. */
static const struct {
    const char *command;
    const char *usage;
} cli_migration_commands[] = {
    {"migrate",
     "usage: virt-migrate migrate [-c URI] DOMAIN DEST [--peer DRIVER_URI] "
     "[--tunable NAME=VALUE]... [--channels N] [--no-feature F]... "
     "[--require-feature F]... [--unstable] [--verbose] [--timeout S] [--live] "
     "[--persistent] [--undefinesource] [--prepared] [--tls] [--tls-hostname NAME]\n"},
    {"list", "usage: virt-migrate list [--all] [--json|--xml]\n"},
    {"events", "usage: virt-migrate events [--migration ID] [--count N] [--json]\n"},
    {"features", "usage: virt-migrate features MIGRATION [--xml|--json]\n"},
    {"resolve", "usage: virt-migrate resolve MIGRATION --resume-here|--discard-here\n"},
    {"set", "usage: virt-migrate set MIGRATION --tunable NAME=VALUE... [--unstable]\n"},
    {"cancel", "usage: virt-migrate cancel MIGRATION\n"},
    {"jobinfo", "usage: virt-migrate jobinfo MIGRATION [--json]\n"},
    {"postcopy", "usage: virt-migrate postcopy MIGRATION\n"},
};

/*
 * migrate, list, events, features: COMMAND --help and help COMMAND exit 0
 * with the usage and every option on stdout, and the command is in the
 * global help.  No daemon is needed.
 */
static void
test_cli_migration_help(Fixture *fixture, gconstpointer data)
{
    static const char *const options[] = {
        "--tunable NAME=VALUE", "--channels N",   "--no-feature F", "--require-feature F",
        "--unstable",           "--verbose",      "--timeout S",    "--all",
        "--migration ID",       "--count N",      "--xml",          "--json",
        "--resume-here",        "--discard-here",
    };
    const char *const global[] = {"--help", NULL};
    g_autoptr(CliResult) top = run_cli(fixture, NULL, global);
    g_autoptr(GString) all_help = g_string_new(NULL);

    g_assert_cmpint(top->status, ==, 0);
    for (gsize i = 0; i < G_N_ELEMENTS(cli_migration_commands); i++) {
        const char *name = cli_migration_commands[i].command;
        const char *const args[] = {"--daemon-socket", "/nonexistent", name, "--help",
                                    NULL};
        const char *const help_args[] = {"help", name, NULL};
        g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
        g_autoptr(CliResult) again = run_cli(fixture, NULL, help_args);
        g_autofree char *listed = g_strdup_printf("\n  %s ", name);

        g_assert_cmpint(result->status, ==, 0);
        g_assert_true(g_str_has_prefix(result->out, cli_migration_commands[i].usage));
        g_assert_nonnull(strstr(result->out, "-h, --help"));
        g_assert_cmpstr(result->err, ==, "");
        g_assert_cmpint(again->status, ==, 0);
        g_assert_cmpstr(again->out, ==, result->out);
        g_assert_nonnull(strstr(top->out, listed));
        g_string_append(all_help, result->out);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(options); i++) {
        g_autofree char *line = g_strdup_printf("    %s ", options[i]);

        g_test_message("option %s", options[i]);
        g_assert_nonnull(strstr(all_help->str, line));
    }
}

typedef struct {
    const char *const args[8]; /* after "--daemon-socket /nonexistent" */
    const char *error;         /* the first line of stderr */
} CliUsageCase;

/* Usage errors of the migration commands, found before any connection. */
static const CliUsageCase cli_usage_cases[] = {
    {{"migrate", NULL}, "virt-migrate: error: missing DOMAIN\n"},
    {{"migrate", "qmp:/x", NULL}, "virt-migrate: error: missing DEST\n"},
    {{"migrate", "qmp:/x", "unix:/y", "unix:/z", NULL},
     "virt-migrate: error: unexpected argument 'unix:/z'\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--tunable", NULL},
     "virt-migrate: error: Missing argument for --tunable\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--tunable", "max-bandwidth", NULL},
     "virt-migrate: error: --tunable wants NAME=VALUE, not 'max-bandwidth'\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--tunable", "=1", NULL},
     "virt-migrate: error: --tunable wants NAME=VALUE, not '=1'\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--channels", "-1", NULL},
     "virt-migrate: error: --channels wants 0 to 255, not -1\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--channels", "1000", NULL},
     "virt-migrate: error: --channels wants 0 to 255, not 1000\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--channels", "four", NULL}, NULL},
    {{"migrate", "qmp:/x", "unix:/y", "--timeout", "0", NULL},
     "virt-migrate: error: --timeout wants a positive number of seconds\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--no-feature", "multifd", "--require-feature",
      "multifd", NULL},
     "virt-migrate: error: feature 'multifd' cannot be both refused and required\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--no-feature", "multfd", NULL},
     "virt-migrate: error: --no-feature: unknown feature 'multfd'; did you mean "
     "'multifd'?\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--require-feature", "postcopy", NULL},
     "virt-migrate: error: --require-feature: unknown feature 'postcopy'; did you mean "
     "'postcopy-ram'?\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--no-feature", "pause-before-switchover", NULL},
     "virt-migrate: error: --no-feature: unknown feature 'pause-before-switchover' "
     "(known: multifd, multifd-compression, postcopy-ram, return-path, "
     "zero-copy-send)\n"},
    {{"incoming", "qmp:/x", "unix:/y", "--require-feature", "retrun-path", NULL},
     "virt-migrate: error: --require-feature: unknown feature 'retrun-path'; did you "
     "mean 'return-path'?\n"},
    {{"incoming", "qmp:/x", "unix:/y", "--no-feature", "zzz", NULL},
     "virt-migrate: error: --no-feature: unknown feature 'zzz' (known: "},
    {{"migrate", "qmp:/x", "/run/dst.sock", NULL},
     "virt-migrate: error: DEST is unix:PATH or tcp:HOST:PORT, not '/run/dst.sock'\n"},
    {{"migrate", "qmp:/x", "unix:/y", "--bogus", NULL}, NULL},
    {{"list", "extra", NULL}, "virt-migrate: error: unexpected argument 'extra'\n"},
    {{"list", "--json", "--xml", NULL},
     "virt-migrate: error: --json and --xml cannot be used together\n"},
    {{"events", "--count", "0", NULL},
     "virt-migrate: error: --count wants a positive number, not 0\n"},
    {{"events", "m1", NULL}, "virt-migrate: error: unexpected argument 'm1'\n"},
    {{"features", NULL}, "virt-migrate: error: missing MIGRATION\n"},
    {{"features", "m1", "--xml", "--json", NULL},
     "virt-migrate: error: --json and --xml cannot be used together\n"},
    {{"features", "m1", "m2", NULL}, "virt-migrate: error: unexpected argument 'm2'\n"},
    {{"resolve", NULL}, "virt-migrate: error: missing MIGRATION\n"},
    {{"resolve", "m1", NULL},
     "virt-migrate: error: say where the guest runs: --resume-here or --discard-here "
     "(one of them)\n"},
    {{"resolve", "m1", "--resume-here", "--discard-here", NULL},
     "virt-migrate: error: say where the guest runs: --resume-here or --discard-here "
     "(one of them)\n"},
    {{"resolve", "m1", "m2", "--resume-here", NULL},
     "virt-migrate: error: unexpected argument 'm2'\n"},
    {{"cancel", NULL}, "virt-migrate: error: missing MIGRATION\n"},
    {{"cancel", "m1", "m2", NULL}, "virt-migrate: error: unexpected argument 'm2'\n"},
    {{"jobinfo", NULL}, "virt-migrate: error: missing MIGRATION\n"},
    {{"jobinfo", "m1", "--xml", NULL}, "virt-migrate: error: Unknown option --xml\n"},
    {{"postcopy", NULL}, "virt-migrate: error: missing MIGRATION\n"},
    {{"postcopy", "m1", "m2", NULL}, "virt-migrate: error: unexpected argument 'm2'\n"},
};

/*
 * Each usage error: exit 2, nothing on stdout, the message and the
 * command's usage line on stderr.
 */
static void
test_cli_migration_usage(Fixture *fixture, gconstpointer data)
{
    for (gsize i = 0; i < G_N_ELEMENTS(cli_usage_cases); i++) {
        const CliUsageCase *c = &cli_usage_cases[i];
        g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
        g_auto(GStrv) args = NULL;
        g_autoptr(CliResult) result = NULL;
        g_autofree char *usage = NULL;

        g_strv_builder_add_many(builder, "--daemon-socket", "/nonexistent", NULL);
        g_strv_builder_addv(builder, (const char **)c->args);
        args = g_strv_builder_end(builder);
        result = run_cli(fixture, NULL, (const char *const *)args);

        g_assert_cmpint(result->status, ==, 2);
        g_assert_cmpstr(result->out, ==, "");
        if (c->error)
            g_assert_true(g_str_has_prefix(result->err, c->error));
        else
            g_assert_true(g_str_has_prefix(result->err, "virt-migrate: error: "));
        usage = g_strdup_printf("\nusage: virt-migrate %s ", c->args[0]);
        g_assert_nonnull(strstr(result->err, usage));
    }
}

/*
 * list, features and migrate against a daemon that has no migration:
 * an empty table, an unknown migration, an unreachable domain (the
 * migrate command itself fails, before anything starts).
 */
static void
test_cli_migration_none(Fixture *fixture, gconstpointer data)
{
    VmigTestDaemon *daemon = daemon_start(fixture, 0);
    g_autofree char *dest = g_build_filename(fixture->tmpdir, "dst.sock", NULL);
    g_autofree char *dest_uri = g_strdup_printf("unix:%s", dest);
    const char *const list[] = {"--daemon-socket", daemon->socket, "list", NULL};
    const char *const list_all[] = {"--daemon-socket", daemon->socket, "list", "--all",
                                    NULL};
    const char *const features[] = {"--daemon-socket", daemon->socket, "features", "m1",
                                    NULL};
    const char *const migrate[] = {"--daemon-socket",  daemon->socket, "migrate",
                                   "qmp:/nonexistent", dest_uri,       NULL};
    static const char empty_table[] = " ID   ROLE   STATE   DOMAIN\n"
                                      "----------------------------\n";

    {
        g_autoptr(CliResult) result = run_cli(fixture, NULL, list);

        g_assert_cmpint(result->status, ==, 0);
        g_assert_cmpstr(result->out, ==, empty_table);
        g_assert_cmpstr(result->err, ==, "");
    }
    {
        g_autoptr(CliResult) result = run_cli(fixture, NULL, list_all);

        g_assert_cmpint(result->status, ==, 0);
        g_assert_cmpstr(result->out, ==, empty_table);
    }
    {
        const char *const json[] = {"--daemon-socket", daemon->socket, "list", "--json",
                                    NULL};
        const char *const xml[] = {"--daemon-socket", daemon->socket, "list", "--xml",
                                   NULL};
        g_autoptr(CliResult) json_result = run_cli(fixture, NULL, json);
        g_autoptr(CliResult) xml_result = run_cli(fixture, NULL, xml);

        g_assert_cmpint(json_result->status, ==, 0);
        g_assert_cmpstr(json_result->out, ==, "[]\n");
        g_assert_cmpint(xml_result->status, ==, 0);
        g_assert_cmpstr(xml_result->out, ==,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<migrations/>\n");
    }
    {
        g_autoptr(CliResult) result = run_cli(fixture, NULL, features);

        g_assert_cmpint(result->status, ==, 1);
        g_assert_cmpstr(result->out, ==, "");
        g_assert_true(g_str_has_prefix(result->err, "virt-migrate: error: "));
        g_assert_nonnull(strstr(result->err, "m1"));
    }
    {
        g_autoptr(CliResult) result = run_cli(fixture, NULL, migrate);

        g_assert_cmpint(result->status, ==, 1);
        g_assert_cmpstr(result->out, ==, "");
        g_assert_true(g_str_has_prefix(result->err, "virt-migrate: error: "));
        g_assert_nonnull(strstr(result->err, "'/nonexistent'"));
    }
    daemon_stop(daemon, SIGTERM);
}

/*
 * Waits until the file @path holds at least @lines lines.
 * Returns: its contents (to free).
 */
static char *
wait_lines(const char *path, guint lines)
{
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;

    for (;;) {
        g_autofree char *text = read_file(path);
        guint n = 0;

        for (const char *p = text; *p; p++)
            n += *p == '\n';
        if (n >= lines)
            return g_steal_pointer(&text);
        if (g_get_monotonic_time() > deadline)
            g_error("'%s' did not get %u lines in time: '%s'", path, lines, text);
        g_usleep(10 * 1000);
    }
}

/*
 * events, against a socket that greets like virt-migrated and then sends
 * events (no migration needed): one line per event with its UTC time,
 * --migration filters, --count stops it, Ctrl-C ends it with status 0.
 */
static void
test_cli_events(Fixture *fixture, gconstpointer data)
{
    /* The greeting, and the answer to qmp_capabilities (the client's
     * first command, id 1) before the client asks. */
    static const char greeting[] =
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 1, "
        "\"major\": 0}, \"package\": \"virt-migrated 0.1.0\"}, \"capabilities\": []}}\n"
        "{\"return\": {}, \"id\": 1}\n";
    static const char events[] =
        "{\"event\": \"CHANNELS_REQUESTED\", \"data\": {\"migration\": \"m2\", "
        "\"count\": 4, \"token\": \"00112233445566778899aabbccddeeff\"}, "
        "\"timestamp\": {\"seconds\": 0, \"microseconds\": 42}}\n"
        "{\"return\": {}, \"id\": 99}\n"
        "{\"event\": \"MIGRATION_DONE\", \"data\": {\"migration\": \"m1\", "
        "\"result\": \"completed\"}, "
        "\"timestamp\": {\"seconds\": 1714564800, \"microseconds\": 123456}}\n";
    static const char *const expected[] = {
        "1970-01-01T00:00:00.000042Z CHANNELS_REQUESTED "
        "{\"migration\":\"m2\",\"count\":4,"
        "\"token\":\"00112233445566778899aabbccddeeff\"}\n",
        "2024-05-01T12:00:00.123456Z MIGRATION_DONE {\"migration\":\"m1\","
        "\"result\":\"completed\"}\n",
    };
    static const char *const variants[][4] = {
        {"events", NULL},
        {"events", "--migration", "m1", NULL},
        {"events", "--count", "1", NULL},
    };
    g_autofree char *path = g_build_filename(fixture->tmpdir, "events.sock", NULL);
    g_autofree char *binary = built_program("tools", "virt-migrate");
    g_auto(VmigFd) fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 4), ==, 0);

    for (gsize v = 0; v < G_N_ELEMENTS(variants); v++) {
        g_autofree char *out_path =
            g_strdup_printf("%s/events-%zu.out", fixture->tmpdir, v);
        g_autofree char *err_path =
            g_strdup_printf("%s/events-%zu.err", fixture->tmpdir, v);
        g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
        g_auto(GStrv) argv = NULL;
        g_auto(VmigFd) peer = -1;
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;
        g_autofree char *want = NULL;
        int status = 0;
        GPid pid;

        g_strv_builder_add_many(builder, binary, "--daemon-socket", path, NULL);
        g_strv_builder_addv(builder, (const char **)variants[v]);
        argv = g_strv_builder_end(builder);
        pid = spawn_logged(argv, NULL, out_path, err_path);
        peer = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        g_assert_cmpint(peer, >=, 0);
        g_assert_cmpint(send(peer, greeting, strlen(greeting), MSG_NOSIGNAL), ==,
                        (gssize)strlen(greeting));
        g_assert_cmpint(send(peer, events, strlen(events), MSG_NOSIGNAL), ==,
                        (gssize)strlen(events));

        if (v == 0) {
            want = g_strconcat(expected[0], expected[1], NULL);
            out = wait_lines(out_path, 2);
            /* printed: it reads events, so it catches Ctrl-C by now */
            g_assert_cmpint(kill(pid, SIGINT), ==, 0);
        } else if (v == 1) {
            want = g_strdup(expected[1]);
            out = wait_lines(out_path, 1);
            g_assert_cmpint(kill(pid, SIGINT), ==, 0);
        } else {
            want = g_strdup(expected[0]);
        }
        g_assert_true(wait_exit(pid, TEST_TIMEOUT_US, &status));
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        g_free(out);
        out = read_file(out_path);
        err = read_file(err_path);
        g_assert_cmpstr(out, ==, want);
        g_assert_cmpstr(err, ==, "");
    }
}

/* ------------------------------------------------------------------------ */

/* Adds a test with the daemon fixture. */
static void
add(const char *path, gconstpointer data, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, data, fixture_setup, func, fixture_teardown);
}

/* ------------------------------------------------------------------------ */
/* The CLI against a live QEMU 7.2 */

/* Starts a QEMU for introspection, or skips the test.  Returns: it, or NULL. */
static VmigTestQemu *
start_qemu(void)
{
    g_autoptr(GError) error = NULL;
    VmigTestQemu *qemu;

    if (!vmig_test_have_qemu()) {
        g_test_skip("qemu-system-x86_64 is not installed");
        return NULL;
    }
    qemu = vmig_test_qemu_start(NULL, &error);
    g_assert_no_error(error);
    return qemu;
}

/* Returns: @out with its first line ("Hypervisor: QEMU 7.2.x (Debian ...)") made
 * version-free, so a QEMU point release does not change the golden file. */
static char *
normalize_hypervisor(const char *out)
{
    const char *eol = strchr(out, '\n');

    g_assert_true(g_str_has_prefix(out, "Hypervisor: QEMU 7.2."));
    g_assert_nonnull(eol);
    return g_strconcat("Hypervisor: QEMU 7.2", eol, NULL);
}

/* Counts the table rows of @out whose KIND column is @kind.  Returns: the count. */
static guint
count_rows(const char *out, const char *kind, guint *unstable)
{
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    guint n = 0;

    for (guint i = 0; lines[i]; i++) {
        g_auto(GStrv) cells = g_strsplit_set(lines[i], " ", -1);
        guint c = 1;

        while (cells[0] && cells[c] && !*cells[c])
            c++;
        if (cells[0] && cells[c] && g_str_equal(cells[c], kind)) {
            n++;
            if (unstable && g_str_has_prefix(cells[0], "x-"))
                (*unstable)++;
        }
    }
    return n;
}

/*
 * virt-migrate tunables against a live QEMU 7.2: with --unstable exactly
 * the 27 members of migrate-set-parameters' argument type and the 21
 * MigrationCapability values; without, the x- ones are left out.  The
 * table matches the golden files, --json the catalog made from the
 * recorded fixture, --xml the RelaxNG schema.
 */
static void
test_cli_tunables_live(Fixture *fixture, gconstpointer data)
{
    g_autoptr(VmigTestQemu) qemu = start_qemu();
    g_autofree char *domain = NULL;
    VmigTestDaemon *daemon;
    guint unstable = 0;

    if (!qemu)
        return;
    domain = g_strdup_printf("qmp:%s", qemu->qmp_path);
    daemon = daemon_start(fixture, 0);
    {
        const char *const args[] = {
            "--daemon-socket", daemon->socket, "tunables", domain, "--unstable", NULL};
        g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
        g_autofree char *table = NULL;

        g_assert_cmpint(result->status, ==, 0);
        g_assert_cmpstr(result->err, ==, "");
        g_assert_cmpuint(count_rows(result->out, "parameter", NULL), ==, 27);
        g_assert_cmpuint(count_rows(result->out, "capability", NULL), ==, 21);
        table = normalize_hypervisor(result->out);
        vmig_test_assert_golden("cli", "tunables-unstable.txt", table, -1);
    }
    {
        const char *const args[] = {"--daemon-socket", daemon->socket, "tunables", domain,
                                    NULL};
        g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
        g_autofree char *table = NULL;

        g_assert_cmpint(result->status, ==, 0);
        g_assert_cmpuint(count_rows(result->out, "parameter", &unstable), ==, 26);
        g_assert_cmpuint(count_rows(result->out, "capability", &unstable), ==, 19);
        g_assert_cmpuint(unstable, ==, 0);
        table = normalize_hypervisor(result->out);
        vmig_test_assert_golden("cli", "tunables.txt", table, -1);
    }
    {
        /* --json is the catalog the recorded fixture gives (test-catalog's golden). */
        const char *const args[] = {
            "--daemon-socket", daemon->socket, "tunables", domain, "--json", NULL};
        g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
        g_autofree char *golden_path =
            g_test_build_filename(G_TEST_DIST, "data", "catalog", "tunables.json", NULL);
        g_autoptr(JsonNode) live = NULL;
        g_autoptr(JsonNode) golden = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonParser) parser = json_parser_new();

        g_assert_cmpint(result->status, ==, 0);
        live = json_from_string(result->out, &error);
        g_assert_no_error(error);
        g_assert_true(g_str_has_prefix(
            json_object_get_string_member(json_node_get_object(live), "hypervisor"),
            "QEMU 7.2."));
        json_object_set_string_member(json_node_get_object(live), "hypervisor",
                                      "QEMU 7.2 (fixture)");
        json_parser_load_from_file(parser, golden_path, &error);
        g_assert_no_error(error);
        golden = json_node_copy(json_parser_get_root(parser));
        g_assert_true(json_node_equal(live, golden));
    }
    {
        const char *const args[] = {"--daemon-socket", daemon->socket, "tunables", domain,
                                    "--xml",           "--unstable",   NULL};
        g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
        g_autofree char *rng =
            g_test_build_filename(G_TEST_DIST, "..", "data", "tunables.rng", NULL);
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(result->status, ==, 0);
        doc = xmlReadMemory(result->out, strlen(result->out), "tunables.xml", NULL,
                            XML_PARSE_NONET);
        g_assert_nonnull(doc);
        g_assert_true(vmig_xml_validate(doc, rng, &error));
        g_assert_no_error(error);
        g_assert_nonnull(strstr(result->out, "<capability name=\"x-colo\""));
    }
    daemon_stop(daemon, SIGTERM);
}

/*
 * A QEMU that accepts the monitor connection but never answers (stopped
 * with SIGSTOP): query-tunables fails after --qmp-timeout, and the same
 * QEMU, continued, is served again.
 */
static void
test_cli_tunables_timeout(Fixture *fixture, gconstpointer data)
{
    g_autoptr(VmigTestQemu) qemu = start_qemu();
    const char *const extra[] = {"--qmp-timeout", "1", NULL};
    g_autofree char *domain = NULL;
    VmigTestDaemon *daemon;

    if (!qemu)
        return;
    domain = g_strdup_printf("qmp:%s", qemu->qmp_path);
    daemon = daemon_spawn(fixture, 0, "run-0", extra, TRUE);
    g_assert_cmpint(vmig_test_qemu_kill(qemu, SIGSTOP), ==, 0);
    {
        const char *const args[] = {"--daemon-socket", daemon->socket, "tunables", domain,
                                    NULL};
        g_autoptr(CliResult) result = run_cli(fixture, NULL, args);
        g_autofree char *expected = g_strdup_printf(
            "virt-migrate: error: cannot read the tunables of domain '%s': QEMU did not "
            "answer within 1 s\n",
            domain);

        g_assert_cmpint(result->status, ==, 1);
        g_assert_cmpstr(result->err, ==, expected);
    }
    g_assert_cmpint(vmig_test_qemu_kill(qemu, SIGCONT), ==, 0);
    {
        const char *const args[] = {"--daemon-socket", daemon->socket, "tunables", domain,
                                    NULL};
        g_autoptr(CliResult) result = run_cli(fixture, NULL, args);

        g_assert_cmpint(result->status, ==, 0);
    }
    daemon_stop(daemon, SIGTERM);
}

/* ------------------------------------------------------------------------ */
/* A peer that never answers */

/* Runs "ip @args" (NULL-terminated).  Returns: whether it succeeded. */
static gboolean
run_ip(const char *const *args)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_autofree char *err = NULL;
    int status = 0;

    g_strv_builder_add(builder, "ip");
    g_strv_builder_addv(builder, (const char **)args);
    argv = g_strv_builder_end(builder);
    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, NULL, &err, &status, NULL) ||
        !g_spawn_check_wait_status(status, NULL)) {
        g_test_message("ip %s: %s", args[0], err ? err : "");
        return FALSE;
    }
    return TRUE;
}

/*
 * Two network namespaces joined by a veth pair: "a" (10.203.0.1) holds the
 * daemon, "b" (10.203.0.2) black-holes every reply to "a", so a connect
 * from "a" to "b" is never answered.  Names carry the test's pid.
 */
typedef struct {
    char *a;
    char *b;
} BlackHole;

static void
black_hole_remove(BlackHole *bh)
{
    if (bh->a) {
        const char *const del_a[] = {"netns", "del", bh->a, NULL};

        run_ip(del_a);
    }
    if (bh->b) {
        const char *const del_b[] = {"netns", "del", bh->b, NULL};

        run_ip(del_b);
    }
    g_clear_pointer(&bh->a, g_free);
    g_clear_pointer(&bh->b, g_free);
}

/*
 * Removes the namespaces of earlier runs that died before their cleanup
 * (an assertion aborts the test process).
 */
static void
black_hole_remove_stale(void)
{
    GDir *dir = g_dir_open("/run/netns", 0, NULL);
    const char *name;

    if (!dir)
        return;
    while ((name = g_dir_read_name(dir))) {
        guint64 pid = 0;

        if ((g_str_has_prefix(name, "vmig-bh-a-") ||
             g_str_has_prefix(name, "vmig-bh-b-")) &&
            g_ascii_string_to_unsigned(name + 10, 10, 1, G_MAXINT, &pid, NULL) &&
            kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            const char *const del[] = {"netns", "del", name, NULL};

            run_ip(del);
        }
    }
    g_dir_close(dir);
}

/* Returns: TRUE with @bh made, or FALSE (test skipped) where namespaces cannot be. */
static gboolean
black_hole_make(BlackHole *bh)
{
    g_autofree char *va = g_strdup_printf("vmbha%u", (guint)getpid() % 100000);
    g_autofree char *vb = g_strdup_printf("vmbhb%u", (guint)getpid() % 100000);
    gboolean ok;

    black_hole_remove_stale();
    bh->a = g_strdup_printf("vmig-bh-a-%u", (guint)getpid());
    bh->b = g_strdup_printf("vmig-bh-b-%u", (guint)getpid());
    {
        const char *const add_a[] = {"netns", "add", bh->a, NULL};
        const char *const add_b[] = {"netns", "add", bh->b, NULL};
        const char *const veth[] = {"link", "add",  va, "netns", bh->a, "type", "veth",
                                    "peer", "name", vb, "netns", bh->b, NULL};
        const char *const addr_a[] = {"-n",  bh->a, "addr", "add", "10.203.0.1/30",
                                      "dev", va,    NULL};
        const char *const addr_b[] = {"-n",  bh->b, "addr", "add", "10.203.0.2/30",
                                      "dev", vb,    NULL};
        const char *const up_a[] = {"-n", bh->a, "link", "set", va, "up", NULL};
        const char *const up_b[] = {"-n", bh->b, "link", "set", vb, "up", NULL};
        const char *const lo_a[] = {"-n", bh->a, "link", "set", "lo", "up", NULL};
        /* "b" answers nothing: every reply to "a" goes nowhere. */
        const char *const hole[] = {"-n",        bh->b,           "route", "add",
                                    "blackhole", "10.203.0.1/32", NULL};

        ok = geteuid() == 0 && run_ip(add_a) && run_ip(add_b) && run_ip(veth) &&
             run_ip(addr_a) && run_ip(addr_b) && run_ip(up_a) && run_ip(up_b) &&
             run_ip(lo_a) && run_ip(hole);
    }
    if (!ok) {
        black_hole_remove(bh);
        g_test_skip("cannot make network namespaces here (needs root and iproute2)");
    }
    return ok;
}

/*
 * A migration to a peer that never answers: while the source daemon dials
 * it, its control socket answers within a second (a blocking connect()
 * froze the daemon for 134 s once); `migrate --timeout 5` ends within ten
 * seconds, with a reason that names the peer.
 */
static void
test_dial_black_hole(Fixture *fixture, gconstpointer data)
{
    g_autoptr(VmigTestQemu) qemu = start_qemu();
    BlackHole bh = {NULL, NULL};
    g_autofree char *domain = NULL;
    g_autofree char *out_path = g_build_filename(fixture->tmpdir, "cli.out", NULL);
    g_autofree char *err_path = g_build_filename(fixture->tmpdir, "cli.err", NULL);
    g_autofree char *binary = built_program("tools", "virt-migrate");
    g_autofree char *err = NULL;
    g_autoptr(Conn) conn = NULL;
    VmigTestDaemon *daemon;
    GPid cli;
    gint64 start, answered, ended;
    int status = 0;

    if (!qemu || !black_hole_make(&bh))
        return;
    daemon_netns = bh.a;
    daemon = daemon_start(fixture, 0);
    daemon_netns = NULL;
    conn = conn_open(daemon);
    domain = g_strdup_printf("qmp:%s", qemu->qmp_path);
    {
        const char *const argv[] = {
            binary, "--daemon-socket",      daemon->socket, "migrate",
            domain, "tcp:10.203.0.2:49152", "--timeout",    "5",
            NULL};

        start = g_get_monotonic_time();
        cli = spawn_logged((char **)argv, NULL, out_path, err_path);
    }
    g_usleep(2 * G_USEC_PER_SEC);
    answered = g_get_monotonic_time();
    assert_serves(conn);
    answered = g_get_monotonic_time() - answered;
    g_test_message("the control socket answered in %" G_GINT64_FORMAT
                   " ms while dialling",
                   answered / 1000);
    g_assert_cmpint(answered, <, G_USEC_PER_SEC);

    g_assert_true(wait_exit(cli, 15 * G_USEC_PER_SEC, &status));
    ended = g_get_monotonic_time() - start;
    err = read_file(err_path);
    g_test_message("virt-migrate ended after %" G_GINT64_FORMAT " ms, status %d: %s",
                   ended / 1000, status, err);
    g_assert_cmpint(ended, <, 10 * G_USEC_PER_SEC);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    g_assert_nonnull(strstr(err, "'tcp:10.203.0.2:49152'"));
    g_assert_nonnull(strstr(err, "timed out after 5 s"));
    daemon_stop(daemon, SIGTERM);
    black_hole_remove(&bh);
}

/*
 * The group the --socket-group tests serve, with the user and group of a
 * client that is not in it; or NULL after skipping the test.
 * Returns: the group (libc's static storage: copy what is kept).
 */
static struct group *
socket_group_setup(uid_t *nobody_uid, gid_t *nogroup_gid)
{
    struct passwd *nobody;
    struct group *nogroup;
    struct group *users;

    if (geteuid() != 0) {
        g_test_skip("needs root to run clients of other uids and groups");
        return NULL;
    }
    nobody = getpwnam("nobody");
    nogroup = getgrnam("nogroup");
    if (!nobody || !nogroup || nobody->pw_uid == 0) {
        g_test_skip("no user 'nobody' and group 'nogroup'");
        return NULL;
    }
    *nobody_uid = nobody->pw_uid;
    *nogroup_gid = nogroup->gr_gid;
    users = getgrnam("users");
    if (!users || users->gr_gid == 0 || users->gr_gid == *nogroup_gid) {
        g_test_skip("no group 'users' to serve");
        return NULL;
    }
    return users;
}

/* Asserts that @seen is a served client's: the greeting, then the answers
 * to qmp_capabilities and query-version. */
static void
assert_served_output(const char *seen)
{
    g_auto(GStrv) lines = g_strsplit(seen, "\n", -1);

    g_assert_cmpuint(g_strv_length(lines), ==, 4);
    g_assert_true(g_str_has_prefix(lines[0], "{\"QMP\":{\"version\":"));
    g_assert_cmpstr(lines[1], ==, "{\"return\":{}}");
    g_assert_true(g_str_has_prefix(lines[2], "{\"return\":{\"qemu\":"));
    g_assert_cmpstr(lines[3], ==, "");
}

/*
 * Waits (bounded) until @path is mode 0660 and of group @gid: the daemon
 * listens before it hands the socket to its group, so a slow daemon
 * (under valgrind) may accept connections a moment before.
 */
static void
wait_socket_group(const char *path, gid_t gid)
{
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_US;
    struct stat st;

    for (;;) {
        g_assert_cmpint(lstat(path, &st), ==, 0);
        if ((st.st_mode & 07777) == 0660 && st.st_gid == gid)
            return;
        if (g_get_monotonic_time() >= deadline)
            g_error("'%s' is mode %04o, group %u, not 0660, group %u", path,
                    (guint)(st.st_mode & 07777), (guint)st.st_gid, (guint)gid);
        g_usleep(10 * 1000);
    }
}

/*
 * --socket-group: the socket is 0660 and the runtime directory 0750, both
 * of the group; a client of another uid is served when the group is its
 * primary or one of its supplementary groups; one without it is kept out
 * by the kernel, and with the modes opened up refused by the daemon with a
 * line that says who is served.
 */
static void
test_socket_group(Fixture *fixture, gconstpointer data)
{
    static const char commands[] = "{\"execute\": \"qmp_capabilities\"}\n"
                                   "{\"execute\": \"query-version\"}\n";
    uid_t nobody = 0;
    gid_t nogroup = 0;
    struct group *group = socket_group_setup(&nobody, &nogroup);
    g_autofree char *name = NULL;
    g_autofree char *seen = NULL;
    g_autofree char *expected = NULL;
    g_autofree char *eacces = g_strdup_printf("ERRNO %d", EACCES);
    g_autoptr(Conn) conn = NULL;
    VmigTestDaemon *daemon;
    struct stat st;
    gid_t gid;

    if (!group)
        return;
    gid = group->gr_gid;
    name = g_strdup(group->gr_name);
    {
        const char *const extra[] = {"--socket-group", name, NULL};

        daemon = daemon_spawn(fixture, 0, "run-0", extra, TRUE);
    }
    wait_socket_group(daemon->socket, gid);
    g_assert_cmpint(lstat(daemon->socket, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0660);
    g_assert_cmpint(st.st_uid, ==, 0);
    g_assert_cmpint(st.st_gid, ==, gid);
    g_assert_cmpint(stat(daemon->dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0750);
    g_assert_cmpint(st.st_gid, ==, gid);
    conn = conn_open(daemon);

    /* The test's own directory is no part of what is checked. */
    g_assert_cmpint(chmod(fixture->tmpdir, 0711), ==, 0);

    seen = connect_as_groups(daemon->socket, nobody, nogroup, &gid, 1, commands);
    assert_served_output(seen);
    g_free(seen);
    seen = connect_as_groups(daemon->socket, nobody, gid, NULL, 0, commands);
    assert_served_output(seen);
    g_free(seen);

    seen = connect_as_groups(daemon->socket, nobody, nogroup, &nogroup, 1, commands);
    g_assert_cmpstr(seen, ==, eacces);
    g_assert_cmpint(chmod(daemon->dir, 0751), ==, 0);
    g_assert_cmpint(chmod(daemon->socket, 0666), ==, 0);
    g_free(seen);
    /* Nothing to say: the daemon hangs up at once. */
    seen = connect_as_groups(daemon->socket, nobody, nogroup, &nogroup, 1, NULL);
    expected = g_strdup_printf(
        "{\"error\":{\"class\":\"GenericError\",\"desc\":\"permission denied: the "
        "control "
        "socket serves uid 0 and group '%s' (gid %u) only, not uid %u\"}}\n",
        name, (guint)gid, (guint)nobody);
    g_assert_cmpstr(seen, ==, expected);
    g_assert_cmpint(chmod(daemon->socket, 0660), ==, 0);
    g_assert_cmpint(chmod(daemon->dir, 0750), ==, 0);
    g_assert_cmpint(chmod(fixture->tmpdir, 0700), ==, 0);

    assert_serves(conn);
    daemon_stop(daemon, SIGTERM);
}

/*
 * socket_group in the configuration file, as a gid: the socket and the
 * directory are the group's; an unknown group stops the daemon before it
 * makes its runtime directory, naming the group (and the file's line).
 */
static void
test_socket_group_config(Fixture *fixture, gconstpointer data)
{
    uid_t nobody = 0;
    gid_t nogroup = 0;
    struct group *group = socket_group_setup(&nobody, &nogroup);
    g_autofree char *dir = g_build_filename(fixture->tmpdir, "run-0", NULL);
    g_autofree char *text = NULL;
    g_autofree char *path = NULL;
    VmigTestDaemon *daemon;
    struct stat st;
    gid_t gid;

    if (!group)
        return;
    gid = group->gr_gid;
    text = g_strdup_printf("[virt-migrated]\n" CONFIG_HERMETIC "socket_group=%u\n",
                           (guint)gid);
    path = config_write(fixture, text);
    {
        const char *const args[] = {"--config", path, "--runtime-dir", dir, NULL};

        daemon = config_daemon_spawn(fixture, "run-0", args, TRUE);
    }
    wait_socket_group(daemon->socket, gid);
    g_assert_cmpint(lstat(daemon->socket, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0660);
    g_assert_cmpint(st.st_gid, ==, gid);
    g_assert_cmpint(stat(daemon->dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0750);
    g_assert_cmpint(st.st_gid, ==, gid);
    daemon_stop(daemon, SIGTERM);
    remove_tree(dir);

    {
        const char *const args[] = {"--runtime-dir", dir, NULL};

        assert_config_fails(
            fixture,
            "[virt-migrated]\n" CONFIG_HERMETIC "socket_group=no-such-group-here\n", args,
            1, "%s:5: socket_group: unknown group 'no-such-group-here'");
    }
    {
        const char *const args[] = {"--runtime-dir", dir, "--socket-group",
                                    "no-such-group-here", NULL};

        assert_config_fails(fixture, "[virt-migrated]\n" CONFIG_HERMETIC, args, 1,
                            "--socket-group: unknown group 'no-such-group-here'");
    }
}

/*
 * The same refusal as /daemon/peer/other-uid, from a client that is not
 * ours: Debian's python3 run as nobody by setpriv(1).
 */
static void
test_other_uid_setpriv(Fixture *fixture, gconstpointer data)
{
    const char *script = "import socket, sys\n"
                         "s = socket.socket(socket.AF_UNIX)\n"
                         "s.connect(sys.argv[1])\n"
                         "sys.stdout.write(s.makefile().readline())\n";
    g_autofree char *setpriv = g_find_program_in_path("setpriv");
    g_autofree char *out_path = g_build_filename(fixture->tmpdir, "setpriv.out", NULL);
    g_autofree char *err_path = g_build_filename(fixture->tmpdir, "setpriv.err", NULL);
    g_autofree char *out = NULL;
    g_autofree char *expected = NULL;
    struct passwd *nobody = getpwnam("nobody");
    VmigTestDaemon *daemon;
    int status = 0;
    GPid pid;

    if (geteuid() != 0 || !setpriv || !nobody ||
        !g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("needs root, setpriv, user nobody and /usr/bin/python3");
        return;
    }
    daemon = daemon_start(fixture, 0);
    g_assert_cmpint(chmod(fixture->tmpdir, 0711), ==, 0);
    g_assert_cmpint(chmod(daemon->dir, 0711), ==, 0);
    g_assert_cmpint(chmod(daemon->socket, 0666), ==, 0);
    {
        char *argv[] = {setpriv,          "--reuid=nobody",   "--regid=nogroup",
                        "--clear-groups", "/usr/bin/python3", "-c",
                        (char *)script,   daemon->socket,     NULL};

        pid = spawn_logged(argv, NULL, out_path, err_path);
    }
    g_assert_true(wait_exit(pid, TEST_TIMEOUT_US, &status));
    out = read_file(out_path);
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    expected =
        g_strdup_printf("{\"error\":{\"class\":\"GenericError\",\"desc\":\"permission "
                        "denied: the control socket serves uid %u only, not uid %u\"}}\n",
                        (guint)geteuid(), (guint)nobody->pw_uid);
    g_assert_cmpstr(out, ==, expected);
    g_assert_cmpint(chmod(daemon->socket, 0600), ==, 0);
    g_assert_cmpint(chmod(daemon->dir, 0700), ==, 0);
    g_assert_cmpint(chmod(fixture->tmpdir, 0700), ==, 0);
    daemon_stop(daemon, SIGTERM);
}

/* Registers every test and runs them.  Returns: the exit status. */
int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* A daemon that closes on us must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);

    add("/daemon/life/greeting", NULL, test_greeting);
    add("/daemon/qmp/negotiation", NULL, test_qmp_negotiation);
    add("/daemon/qmp/query-commands", NULL, test_qmp_query_commands);
    add("/daemon/qmp/client-sequence", NULL, test_qmp_client_sequence);
    add("/daemon/qmp/no-events-before", NULL, test_qmp_no_events_before);
    add("/daemon/life/socket-mode", NULL, test_socket_mode);
    add("/daemon/life/sigint", NULL, test_sigint);
    add("/daemon/life/two-daemons", NULL, test_two_daemons);
    add("/daemon/life/stale-socket", NULL, test_stale_socket);
    add("/daemon/life/already-running", NULL, test_already_running);
    add("/daemon/startup/bad-bus", NULL, test_startup_bad_bus);
    add("/daemon/startup/bad-keep-finished", NULL, test_startup_bad_keep_finished);
    add("/daemon/startup/bad-limits", NULL, test_startup_bad_limits);
    add("/daemon/startup/path-too-long", NULL, test_startup_path_too_long);
    add("/daemon/startup/dir-writable", NULL, test_startup_dir_writable);
    add("/daemon/startup/not-a-socket", NULL, test_startup_not_a_socket);
    add("/daemon/config/file", NULL, test_config_file);
    add("/daemon/config/override", NULL, test_config_override);
    add("/daemon/config/range", NULL, test_config_range);
    add("/daemon/config/bad-value", NULL, test_config_bad_value);
    add("/daemon/config/syntax", NULL, test_config_syntax);
    add("/daemon/config/unknown", NULL, test_config_unknown);
    add("/daemon/config/missing", NULL, test_config_missing);

    add("/daemon/input/bad-json", &bad_json, test_bad_input);
    add("/daemon/input/bad-utf8", &bad_utf8, test_bad_input);
    add("/daemon/input/trailing-data", &bad_trailing, test_bad_input);
    add("/daemon/input/too-deep", &bad_deep, test_bad_input);
    add("/daemon/input/not-an-object", &bad_not_object, test_bad_input);
    add("/daemon/input/no-execute", &bad_no_execute, test_bad_input);
    add("/daemon/input/execute-not-a-string", &bad_execute_type, test_bad_input);
    add("/daemon/input/unexpected-member", &bad_member, test_bad_input);
    add("/daemon/input/unknown-command", &bad_unknown, test_bad_input);
    add("/daemon/input/arguments-not-an-object", &bad_arguments, test_bad_input);
    add("/daemon/input/missing-argument", &bad_missing, test_bad_input);
    add("/daemon/input/unexpected-argument", &bad_unexpected, test_bad_input);
    add("/daemon/input/argument-to-no-arguments", &bad_unexpected_none, test_bad_input);
    add("/daemon/input/ill-typed-string", &bad_type_string, test_bad_input);
    add("/daemon/input/ill-typed-null", &bad_type_null, test_bad_input);
    add("/daemon/input/ill-typed-boolean", &bad_type_bool, test_bad_input);
    add("/daemon/input/lines", NULL, test_lines);

    add("/daemon/limits/fds-refused", NULL, test_fds_refused);
    add("/daemon/limits/fds-too-many", NULL, test_fds_too_many);
    add("/daemon/limits/line-length", NULL, test_line_limit);
    add("/daemon/peer/other-uid", NULL, test_other_uid);
    add("/daemon/peer/other-uid-setpriv", NULL, test_other_uid_setpriv);
    add("/daemon/peer/socket-group", NULL, test_socket_group);
    add("/daemon/peer/socket-group-config", NULL, test_socket_group_config);

    add("/daemon/commands/tunables-unreachable", NULL, test_tunables_unreachable);
    add("/daemon/faults/qmp-nested-greeting", NULL, test_tunables_nested_greeting);
    add("/daemon/faults/dial-black-hole", NULL, test_dial_black_hole);

    add("/daemon/cli/version", NULL, test_cli_version);
    add("/daemon/cli/help", NULL, test_cli_help);
    add("/daemon/cli/missing-domain", NULL, test_cli_missing_domain);
    add("/daemon/cli/no-daemon", NULL, test_cli_no_daemon);
    add("/daemon/cli/not-a-daemon", NULL, test_cli_not_a_daemon);
    add("/daemon/cli/unknown-command", NULL, test_cli_unknown_command);
    add("/daemon/cli/tunables-unreachable", NULL, test_cli_tunables_unreachable);
    add("/daemon/control/unknown-feature", NULL, test_unknown_feature);
    add("/daemon/cli/connect-path", NULL, test_cli_connect_path);
    add("/daemon/cli/tunables-libvirt-unreachable", NULL,
        test_cli_tunables_libvirt_unreachable);
    add("/daemon/cli/migration-help", NULL, test_cli_migration_help);
    add("/daemon/cli/migration-usage", NULL, test_cli_migration_usage);
    add("/daemon/cli/migration-none", NULL, test_cli_migration_none);
    add("/daemon/cli/events", NULL, test_cli_events);
    add("/daemon/cli/tunables-live", NULL, test_cli_tunables_live);
    add("/daemon/cli/tunables-timeout", NULL, test_cli_tunables_timeout);

    return g_test_run();
}
