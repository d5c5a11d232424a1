/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-qmp.c: the QMP client against a real QEMU
 *
 * Every /qmp/qemu/ test starts its own qemu-system-x86_64 (-machine none,
 * TCG) in its fixture and stops it by pid in the teardown.  The client runs
 * on a private GMainContext, and every callback and signal handler checks
 * that it runs there.  Every fixture counts /proc/self/fd before and after,
 * so a leaked descriptor fails the test that leaked it, and checks that the
 * client is finalized (no reference left behind).
 *
 * The /qmp/fake/ tests use a server in a thread of this process, and only
 * for what a real QEMU cannot be made to send: garbage instead of a
 * greeting, a reply with a wrong or missing id, a reply cut off by EOF.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "driver/qmp.h"
#include "fdpass/fd.h"
#include "tests/qemu-helper.h"
#include "tests/testutil.h"

/* Every wait in this file is bounded by this. */
#define TEST_TIMEOUT_MS 10000

/* ------------------------------------------------------------------------ */
/* Helpers */

typedef struct {
    GMainContext *context;
    VmigTestQemu *qemu;
    VmigQmp *qmp;
    guint fds_before;

    guint closed_count;
    gboolean closed;
    gboolean closing_by_hand; /* inside fixture_close(): "closed" comes synchronously */
    GError *closed_reason;
    GPtrArray *events;           /* of char *: "NAME" */
    GPtrArray *event_timestamps; /* of JsonObject * or NULL, parallel to events */

    /* The fake server, for /qmp/fake/ tests. */
    char *fake_dir;
    char *fake_path;
    int fake_listen_fd;
    GThread *fake_thread;
} Fixture;

/* The callback and signal handler checks: we run on the fixture's context. */
static void
assert_on_context(Fixture *f)
{
    GSource *source = g_main_current_source();

    g_assert_true(g_main_context_is_owner(f->context));
    g_assert_nonnull(source);
    g_assert_true(g_source_get_context(source) == f->context);
}

/* GSourceFunc for the timeout of iterate_until().  Returns: G_SOURCE_REMOVE. */
static gboolean
on_timeout(gpointer user_data)
{
    gboolean *timed_out = user_data;

    *timed_out = TRUE;
    return G_SOURCE_REMOVE;
}

/* Iterate the fixture's context until *@done, failing the test after @ms. */
static void
iterate_until_bounded(Fixture *f, const gboolean *done, guint ms)
{
    gboolean timed_out = FALSE;
    GSource *timeout = g_timeout_source_new(ms);

    g_source_set_callback(timeout, on_timeout, &timed_out, NULL);
    g_source_attach(timeout, f->context);
    while (!*done && !timed_out)
        g_main_context_iteration(f->context, TRUE);
    g_source_destroy(timeout);
    g_source_unref(timeout);
    if (timed_out)
        g_error("timed out after %u ms waiting on the QMP client", ms);
}

/* Iterate the fixture's context until *@done, failing the test after the bound. */
static void
iterate_until(Fixture *f, const gboolean *done)
{
    iterate_until_bounded(f, done, TEST_TIMEOUT_MS);
}

/* Iterate the fixture's context for @ms milliseconds. */
static void
iterate_for(Fixture *f, guint ms)
{
    gboolean done = FALSE;
    GSource *timeout = g_timeout_source_new(ms);

    g_source_set_callback(timeout, on_timeout, &done, NULL);
    g_source_attach(timeout, f->context);
    while (!done)
        g_main_context_iteration(f->context, TRUE);
    g_source_destroy(timeout);
    g_source_unref(timeout);
}

/* Run whatever is ready on the fixture's context, without blocking. */
static void
drain_context(Fixture *f)
{
    guint i;

    for (i = 0; i < 1000 && g_main_context_pending(f->context); i++)
        g_main_context_iteration(f->context, FALSE);
}

typedef struct {
    Fixture *f;
    gboolean done;
    JsonNode *ret;
    GError *error;
    guint order; /* completion order, from 1 */
} Reply;

static guint reply_counter;

/* Clear the result of @reply. */
static void
reply_clear(Reply *reply)
{
    g_clear_pointer(&reply->ret, json_node_unref);
    g_clear_error(&reply->error);
    reply->done = FALSE;
}

/* GAsyncReadyCallback of commands: store the result in the Reply. */
static void
on_reply(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Reply *reply = user_data;

    assert_on_context(reply->f);
    g_assert_false(reply->done);
    reply->ret = vmig_qmp_execute_finish(VMIG_QMP(source), result, &reply->error);
    g_assert_true((reply->ret == NULL) != (reply->error == NULL));
    reply->done = TRUE;
    reply->order = ++reply_counter;
}

/* Start @command on the fixture's client; the result goes to @reply. */
static void
start_command(Fixture *f, const char *command, JsonObject *arguments, const int *fds,
              gsize nfds, GCancellable *cancellable, Reply *reply)
{
    reply_clear(reply);
    reply->f = f;
    vmig_qmp_execute_async(f->qmp, command, arguments, fds, nfds, cancellable, on_reply,
                           reply);
}

/* Run @command to completion.  Returns: its "return" value, or NULL with @error. */
static JsonNode *
run_command(Fixture *f, const char *command, JsonObject *arguments, GError **error)
{
    Reply reply = {0};
    JsonNode *ret;

    start_command(f, command, arguments, NULL, 0, NULL, &reply);
    iterate_until(f, &reply.done);
    ret = g_steal_pointer(&reply.ret);
    if (reply.error)
        g_propagate_error(error, g_steal_pointer(&reply.error));
    return ret;
}

typedef struct {
    Fixture *f;
    gboolean done;
    gboolean ok;
    GError *error;
} ConnectResult;

/* GAsyncReadyCallback of vmig_qmp_connect_async(). */
static void
on_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ConnectResult *res = user_data;

    assert_on_context(res->f);
    res->ok = vmig_qmp_connect_finish(VMIG_QMP(source), result, &res->error);
    g_assert_true(res->ok == (res->error == NULL));
    res->done = TRUE;
}

/* "closed" handler: count it and keep the reason. */
static void
on_closed(VmigQmp *qmp, const GError *reason, gpointer user_data)
{
    Fixture *f = user_data;

    if (!f->closing_by_hand)
        assert_on_context(f);
    g_assert_nonnull(reason);
    g_assert_false(vmig_qmp_is_open(qmp));
    f->closed_count++;
    f->closed = TRUE;
    g_clear_error(&f->closed_reason);
    f->closed_reason = g_error_copy(reason);
}

/* "event" handler: record the name and the timestamp. */
static void
on_event(VmigQmp *qmp, const char *name, JsonObject *data, JsonObject *timestamp,
         gpointer user_data)
{
    Fixture *f = user_data;

    assert_on_context(f);
    g_ptr_array_add(f->events, g_strdup(name));
    g_ptr_array_add(f->event_timestamps, timestamp ? json_object_ref(timestamp) : NULL);
}

/* Create the fixture's client and connect its signals. */
static void
fixture_new_client(Fixture *f)
{
    f->qmp = vmig_qmp_new(f->context);
    g_signal_connect(f->qmp, "closed", G_CALLBACK(on_closed), f);
    g_signal_connect(f->qmp, "event", G_CALLBACK(on_event), f);
}

/* vmig_qmp_close(): "closed" is emitted synchronously, outside the context. */
static void
fixture_close(Fixture *f)
{
    f->closing_by_hand = TRUE;
    vmig_qmp_close(f->qmp);
    f->closing_by_hand = FALSE;
}

/* Connect the fixture's client to @path.  Returns: TRUE, or FALSE with @error. */
static gboolean
fixture_connect(Fixture *f, const char *path, GError **error)
{
    ConnectResult res = {.f = f};

    vmig_qmp_connect_async(f->qmp, path, NULL, on_connected, &res);
    iterate_until(f, &res.done);
    if (res.error)
        g_propagate_error(error, res.error);
    return res.ok;
}

/* GDestroyNotify for event timestamps, which may be NULL. */
static void
timestamp_free(gpointer timestamp)
{
    if (timestamp)
        json_object_unref(timestamp);
}

/* Common setup: a private context, the fd count, the recorders. */
static void
fixture_setup_common(Fixture *f)
{
    f->fds_before = vmig_test_count_fds(0);
    f->context = g_main_context_new();
    f->events = g_ptr_array_new_with_free_func(g_free);
    f->event_timestamps = g_ptr_array_new_with_free_func(timestamp_free);
    f->fake_listen_fd = -1;
    reply_counter = 0;
}

/* Setup of /qmp/qemu/ tests: a QEMU and a connected client (or a skip). */
static void
fixture_setup_qemu(Fixture *f, gconstpointer data)
{
    const char *const *extra_args = data;
    g_autoptr(GError) error = NULL;

    fixture_setup_common(f);
    if (!vmig_test_have_qemu()) {
        g_test_skip("no QEMU: qemu-system-x86_64 (or $VMIG_TEST_QEMU) is not installed");
        return;
    }
    f->qemu = vmig_test_qemu_start(extra_args, &error);
    g_assert_no_error(error);
    fixture_new_client(f);
    fixture_connect(f, f->qemu->qmp_path, &error);
    g_assert_no_error(error);
}

/* Setup of a /qmp/qemu/ test with a second monitor, at f->fake_path, and a
 * third, FAKE_DIR/storm.sock (the test removes it). */
static void
fixture_setup_spare(Fixture *f, gconstpointer data)
{
    g_autofree char *arg = NULL;
    g_autofree char *storm = NULL;

    f->fake_dir = g_dir_make_tmp("vmig-qmp-XXXXXX", NULL);
    g_assert_nonnull(f->fake_dir);
    f->fake_path = g_build_filename(f->fake_dir, "spare.sock", NULL);
    arg = g_strdup_printf("unix:%s,server=on,wait=off", f->fake_path);
    storm = g_strdup_printf("unix:%s/storm.sock,server=on,wait=off", f->fake_dir);
    fixture_setup_qemu(f, (const char *const[]){"-qmp", arg, "-qmp", storm, NULL});
}

/* Setup of tests that need no QEMU: a client that is not connected. */
static void
fixture_setup_plain(Fixture *f, gconstpointer data)
{
    fixture_setup_common(f);
    fixture_new_client(f);
}

/* Teardown: finalize the client, stop QEMU by pid, check for leaked fds. */
static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    if (f->qmp) {
        gpointer weak = f->qmp;

        g_object_add_weak_pointer(G_OBJECT(f->qmp), &weak);
        fixture_close(f);
        /* Callbacks of failed calls may still be queued: they hold references. */
        drain_context(f);
        g_clear_object(&f->qmp);
        drain_context(f);
        g_assert_null(weak);
    }
    if (f->fake_thread)
        g_thread_join(g_steal_pointer(&f->fake_thread));
    vmig_fd_clear(&f->fake_listen_fd);
    if (f->fake_path)
        g_unlink(f->fake_path);
    if (f->fake_dir)
        g_rmdir(f->fake_dir);
    g_free(f->fake_path);
    g_free(f->fake_dir);
    g_clear_pointer(&f->qemu, vmig_test_qemu_stop);
    g_clear_error(&f->closed_reason);
    g_ptr_array_unref(f->events);
    g_ptr_array_unref(f->event_timestamps);
    drain_context(f);
    g_main_context_unref(f->context);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
}

/* Skip the rest of a test whose setup found no QEMU. */
#define REQUIRE_QEMU(f)                                                                  \
    do {                                                                                 \
        if (!(f)->qemu)                                                                  \
            return;                                                                      \
    } while (0)

/* Returns: the integer member @name of @object, failing the test if absent. */
static gint64
member_int(JsonObject *object, const char *name)
{
    g_assert_nonnull(object);
    g_assert_true(json_object_has_member(object, name));
    return json_object_get_int_member(object, name);
}

/* ------------------------------------------------------------------------ */
/* Real QEMU */

/* The greeting, the hypervisor string and query-version agree. */
static void
test_connect(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    JsonObject *greeting, *gversion, *rversion, *gqemu, *rqemu;
    const char *hypervisor;
    g_autofree char *expect = NULL;
    g_autofree char *package = NULL;

    REQUIRE_QEMU(f);
    g_assert_true(vmig_qmp_is_open(f->qmp));
    greeting = vmig_qmp_get_greeting(f->qmp);
    g_assert_nonnull(greeting);
    g_assert_true(json_object_has_member(greeting, "capabilities"));
    gversion = json_object_get_object_member(greeting, "version");

    hypervisor = vmig_qmp_get_hypervisor(f->qmp);
    g_assert_nonnull(hypervisor);
    g_test_message("hypervisor: %s", hypervisor);
    g_assert_true(g_str_has_prefix(hypervisor, "QEMU 7.2."));

    ret = run_command(f, "query-version", NULL, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(ret));
    rversion = json_node_get_object(ret);
    rqemu = json_object_get_object_member(rversion, "qemu");
    gqemu = json_object_get_object_member(gversion, "qemu");
    g_assert_cmpint(member_int(rqemu, "major"), ==, member_int(gqemu, "major"));
    g_assert_cmpint(member_int(rqemu, "minor"), ==, member_int(gqemu, "minor"));
    g_assert_cmpint(member_int(rqemu, "micro"), ==, member_int(gqemu, "micro"));
    g_assert_cmpstr(json_object_get_string_member(rversion, "package"), ==,
                    json_object_get_string_member(gversion, "package"));

    /* The hypervisor string is built from exactly those numbers and package. */
    expect = g_strdup_printf("QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                             ".%" G_GINT64_FORMAT,
                             member_int(rqemu, "major"), member_int(rqemu, "minor"),
                             member_int(rqemu, "micro"));
    g_assert_true(g_str_has_prefix(hypervisor, expect));
    package = g_strstrip(g_strdup(json_object_get_string_member(rversion, "package")));
    if (*package) {
        g_autofree char *full = g_strdup_printf("%s (%s)", expect, package);

        g_assert_cmpstr(hypervisor, ==, full);
    } else {
        g_assert_cmpstr(hypervisor, ==, expect);
    }
    g_assert_cmpuint(f->closed_count, ==, 0);
}

#define N_PIPELINED 20

/* Twenty commands in flight at once, each answered to its own caller, in order. */
static void
test_pipelined(Fixture *f, gconstpointer data)
{
    Reply replies[N_PIPELINED] = {{0}};
    guint i;

    REQUIRE_QEMU(f);
    for (i = 0; i < N_PIPELINED; i++)
        start_command(f, i % 2 ? "query-status" : "query-version", NULL, NULL, 0, NULL,
                      &replies[i]);
    /* All twenty are queued before the first write: one flush sends them all. */
    iterate_until(f, &replies[N_PIPELINED - 1].done);
    for (i = 0; i < N_PIPELINED; i++) {
        JsonObject *ret;

        /* Replies come in order: the last one done means all are. */
        g_assert_true(replies[i].done);
        g_assert_no_error(replies[i].error);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(replies[i].ret));
        ret = json_node_get_object(replies[i].ret);
        if (i % 2)
            g_assert_true(json_object_has_member(ret, "status"));
        else
            g_assert_true(json_object_has_member(ret, "qemu"));
        g_assert_cmpuint(replies[i].order, ==, i + 1);
        reply_clear(&replies[i]);
    }
}

/* query-qmp-schema: the biggest reply QEMU sends arrives whole. */
static void
test_schema(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *text = NULL;
    gboolean found = FALSE;
    JsonArray *array;
    gint64 start, elapsed;
    guint i;

    REQUIRE_QEMU(f);
    start = g_get_monotonic_time();
    ret = run_command(f, "query-qmp-schema", NULL, &error);
    elapsed = g_get_monotonic_time() - start;
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(ret));
    array = json_node_get_array(ret);
    text = json_to_string(ret, FALSE);
    g_test_message("query-qmp-schema: %u entries, %" G_GSIZE_FORMAT
                   " bytes, round trip %.1f ms",
                   json_array_get_length(array), strlen(text), elapsed / 1000.0);
    g_assert_cmpuint(strlen(text), >, 100 * 1024);
    g_assert_cmpuint(json_array_get_length(array), >, 500);
    for (i = 0; i < json_array_get_length(array); i++) {
        JsonObject *entry = json_array_get_object_element(array, i);

        g_assert_nonnull(entry);
        g_assert_true(json_object_has_member(entry, "name"));
        g_assert_true(json_object_has_member(entry, "meta-type"));
        if (g_str_equal(json_object_get_string_member(entry, "name"),
                        "migrate-set-parameters"))
            found = TRUE;
    }
    g_assert_true(found);
    g_assert_true(vmig_qmp_is_open(f->qmp));
}

/* An {"error"} reply: COMMAND, QEMU's desc quoted, the connection still fine. */
static void
test_error_command(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(JsonObject) args = json_object_new();

    REQUIRE_QEMU(f);
    json_object_set_string_member(args, "multifd-compression", "bogus");
    ret = run_command(f, "migrate-set-parameters", args, &error);
    g_assert_null(ret);
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_COMMAND);
    g_assert_cmpstr(error->message, ==,
                    "QEMU refused 'migrate-set-parameters': Parameter "
                    "'multifd-compression' does not accept value 'bogus'");
    g_clear_error(&error);

    ret = run_command(f, "query-status", NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ret);
    g_assert_cmpuint(f->closed_count, ==, 0);
}

/* CommandNotFound has its own code. */
static void
test_error_not_found(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    REQUIRE_QEMU(f);
    ret = run_command(f, "no-such-command", NULL, &error);
    g_assert_null(ret);
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_true(g_str_has_prefix(error->message, "QEMU refused 'no-such-command': "));
    g_assert_nonnull(strstr(error->message, "no-such-command has not been found"));
    g_assert_true(vmig_qmp_is_open(f->qmp));
}

/*
 * A 320 KiB command does not fit the socket buffer (208 KiB by default):
 * it goes out in partial writes, and the command queued behind it is sent
 * after it, whole.  QEMU 7.2 parses only about 250 KiB of JSON a second,
 * hence the size and the longer bound.
 */
static void
test_large_command(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *padding = g_strnfill(320 * 1024, 'p');
    Reply big = {0};
    Reply next = {0};

    REQUIRE_QEMU(f);
    json_object_set_string_member(args, "padding", padding);
    start_command(f, "no-such-command", args, NULL, 0, NULL, &big);
    start_command(f, "query-status", NULL, NULL, 0, NULL, &next);
    iterate_until_bounded(f, &next.done, 6 * TEST_TIMEOUT_MS);
    g_assert_true(big.done);
    g_assert_cmpuint(big.order, ==, 1);
    g_assert_error(big.error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_no_error(next.error);
    g_assert_true(json_object_has_member(json_node_get_object(next.ret), "status"));
    reply_clear(&big);
    reply_clear(&next);
}

/* stop and cont make QEMU 7.2 emit STOP and RESUME, even with -machine none. */
static void
test_events(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    JsonObject *timestamp;

    REQUIRE_QEMU(f);
    ret = run_command(f, "stop", NULL, &error);
    g_assert_no_error(error);
    g_clear_pointer(&ret, json_node_unref);
    ret = run_command(f, "cont", NULL, &error);
    g_assert_no_error(error);
    /* Both events come before the replies of their commands. */
    g_assert_cmpuint(f->events->len, ==, 2);
    g_assert_cmpstr(f->events->pdata[0], ==, "STOP");
    g_assert_cmpstr(f->events->pdata[1], ==, "RESUME");
    timestamp = f->event_timestamps->pdata[0];
    g_assert_nonnull(timestamp);
    g_assert_cmpint(member_int(timestamp, "seconds"), >, 0);
    g_assert_true(json_object_has_member(timestamp, "microseconds"));
}

/*
 * The event storm of test_events_before_greeting(): a thread of its own
 * stops and resumes the guest over and over through a third monitor, as
 * fast as QEMU answers, whatever the test's main loop does.
 */
typedef struct {
    char *path;
    gint stop; /* atomic */
    guint64 sent;
} Storm;

static void fake_write(int fd, const char *text, gsize len);

/* Reads lines from @fd until @n replies ("return" or "error") came.  Returns: FALSE at
 * EOF. */
static gboolean
storm_read_replies(int fd, guint n)
{
    char buf[4096];
    g_autoptr(GString) pending = g_string_new(NULL);

    while (n > 0) {
        gssize got = recv(fd, buf, sizeof(buf), 0);
        char *line;

        if (got <= 0)
            return FALSE;
        g_string_append_len(pending, buf, got);
        while ((line = memchr(pending->str, '\n', pending->len))) {
            gsize len = (gsize)(line - pending->str) + 1;

            if (g_strstr_len(pending->str, (gssize)len, "\"return\"") ||
                g_strstr_len(pending->str, (gssize)len, "\"error\""))
                n--;
            g_string_erase(pending, 0, (gssize)len);
        }
    }
    return TRUE;
}

static gpointer
storm_thread(gpointer data)
{
    Storm *storm = data;
    static const char negotiate[] = "{\"execute\": \"qmp_capabilities\"}\n";
    static const char pair[] = "{\"execute\": \"stop\"}\n{\"execute\": \"cont\"}\n";
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 10};
    g_auto(VmigFd) fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(addr.sun_path, storm->path, sizeof(addr.sun_path));
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    /* The greeting (events may come first: storm_read_replies() skips them). */
    fake_write(fd, negotiate, strlen(negotiate));
    g_assert_true(storm_read_replies(fd, 1));
    while (!g_atomic_int_get(&storm->stop)) {
        fake_write(fd, pair, strlen(pair));
        if (!storm_read_replies(fd, 2))
            break;
        storm->sent += 2;
    }
    return NULL;
}

typedef struct {
    guint early; /* events before the greeting */
} Probe;

/* "event" handler of the probing client: count the events before the greeting. */
static void
on_probe_event(VmigQmp *qmp, const char *name, JsonObject *data, JsonObject *timestamp,
               gpointer user_data)
{
    Probe *probe = user_data;

    if (!vmig_qmp_get_greeting(qmp))
        probe->early++;
}

#define EARLY_EVENT_CONNECTIONS 6000

/*
 * QEMU 7.2 sends a new client an event before its greeting when the
 * client before it had negotiated capabilities and the guest stops or
 * resumes while the I/O thread greets (2 % of a quick client's connections
 * here, one in some hundreds of this one's):
 * its monitor broadcasts to the old session until the greeting starts the
 * new one.  A client that takes the first line for the greeting fails.
 * Connect again and again to a second monitor while a thread stops and
 * resumes the guest through a third: every connection succeeds, and the
 * early events reach the "event" signal.
 */
static void
test_events_before_greeting(Fixture *f, gconstpointer data)
{
    Storm storm = {.path = g_build_filename(f->fake_dir, "storm.sock", NULL)};
    GThread *thread;
    guint early = 0, connections = 0, with_early = 0;
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    REQUIRE_QEMU(f);
    thread = g_thread_new("storm", storm_thread, &storm);
    while (connections < EARLY_EVENT_CONNECTIONS && !with_early &&
           g_get_monotonic_time() < deadline) {
        g_autoptr(VmigQmp) probe_qmp = vmig_qmp_new(f->context);
        g_autoptr(GError) error = NULL;
        Probe probe = {0};
        ConnectResult res = {.f = f};

        g_signal_connect(probe_qmp, "event", G_CALLBACK(on_probe_event), &probe);
        vmig_qmp_connect_async(probe_qmp, f->fake_path, NULL, on_connected, &res);
        iterate_until(f, &res.done);
        if (res.error)
            g_error("connection %u to the spare monitor: %s", connections + 1,
                    res.error->message);
        connections++;
        early += probe.early;
        with_early += probe.early > 0;
        vmig_qmp_close(probe_qmp);
        drain_context(f);
        /* Events while no client is there wait in QEMU for the next one. */
        g_usleep(5000);
    }
    g_atomic_int_set(&storm.stop, 1);
    g_thread_join(thread);
    g_unlink(storm.path);
    g_free(storm.path);
    g_test_message("%u connections, %u of them with %u events before the greeting "
                   "(%" G_GUINT64_FORMAT " stops and resumes)",
                   connections, with_early, early, storm.sent);
    if (!with_early)
        g_test_skip("QEMU sent no event before a greeting this time: the race was not "
                    "met");
}

/* Returns: TRUE if process @pid has an fd open on the socket with inode @ino. */
static gboolean
process_has_socket(GPid pid, ino_t ino)
{
    g_autofree char *fddir = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autofree char *want = g_strdup_printf("socket:[%lu]", (unsigned long)ino);
    g_autoptr(GDir) dir = g_dir_open(fddir, 0, NULL);
    const char *name;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(fddir, name, NULL);
        g_autofree char *target = g_file_read_link(path, NULL);

        if (target && g_str_equal(target, want))
            return TRUE;
    }
    return FALSE;
}

/* getfd passes an fd with the command; QEMU holds exactly that socket until closefd. */
static void
test_getfd(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    g_auto(VmigFd) a = -1;
    g_auto(VmigFd) b = -1;
    guint fds_before;
    struct stat st;
    int sv[2];

    REQUIRE_QEMU(f);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    a = sv[0];
    b = sv[1];
    g_assert_cmpint(fstat(a, &st), ==, 0);
    g_assert_false(process_has_socket(f->qemu->pid, st.st_ino));
    fds_before = vmig_test_count_fds(0);

    json_object_set_string_member(args, "fdname", "x");
    {
        Reply reply = {0};

        start_command(f, "getfd", args, &sv[0], 1, NULL, &reply);
        iterate_until(f, &reply.done);
        g_assert_no_error(reply.error);
        reply_clear(&reply);
    }
    /* Our duplicate is closed; QEMU has the very socket. */
    g_assert_cmpuint(vmig_test_count_fds(0), ==, fds_before);
    g_assert_true(process_has_socket(f->qemu->pid, st.st_ino));

    ret = run_command(f, "closefd", args, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ret);
    g_clear_pointer(&ret, json_node_unref);
    g_assert_false(process_has_socket(f->qemu->pid, st.st_ino));

    ret = run_command(f, "closefd", args, &error);
    g_assert_null(ret);
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_COMMAND);
    g_assert_true(g_str_has_prefix(error->message, "QEMU refused 'closefd': "));
    g_assert_nonnull(strstr(error->message, "'x'"));
    g_assert_cmpuint(vmig_test_count_fds(0), ==, fds_before);
}

/* QEMU killed while a command waits: CLOSED, "closed" once, then fail at once. */
static void
test_killed(Fixture *f, gconstpointer data)
{
    Reply reply = {0};
    Reply late = {0};

    REQUIRE_QEMU(f);
    g_assert_cmpint(vmig_test_qemu_kill(f->qemu, SIGSTOP), ==, 0);
    start_command(f, "query-status", NULL, NULL, 0, NULL, &reply);
    iterate_for(f, 100);
    g_assert_false(reply.done);
    g_assert_cmpint(vmig_test_qemu_kill(f->qemu, SIGKILL), ==, 0);
    g_assert_true(vmig_test_qemu_wait(f->qemu, TEST_TIMEOUT_MS));

    iterate_until(f, &reply.done);
    g_assert_error(reply.error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED);
    g_test_message("pending call: %s", reply.error->message);
    g_assert_nonnull(strstr(reply.error->message, "QEMU closed the monitor connection"));
    g_assert_nonnull(strstr(reply.error->message, "'query-status'"));
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_error(f->closed_reason, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED);
    g_assert_false(vmig_qmp_is_open(f->qmp));

    start_command(f, "query-status", NULL, NULL, 0, NULL, &late);
    iterate_until(f, &late.done);
    g_assert_error(late.error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED);
    g_assert_nonnull(strstr(late.error->message, "is closed"));

    fixture_close(f);
    drain_context(f);
    g_assert_cmpuint(f->closed_count, ==, 1);
    reply_clear(&reply);
    reply_clear(&late);
}

/* "quit": QEMU answers, then closes; the client notices. */
static void
test_quit(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    REQUIRE_QEMU(f);
    ret = run_command(f, "quit", NULL, &error);
    g_assert_no_error(error);
    iterate_until(f, &f->closed);
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_error(f->closed_reason, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED);
    g_assert_true(vmig_test_qemu_wait(f->qemu, TEST_TIMEOUT_MS));
    g_assert_true(WIFEXITED(f->qemu->exit_status));
}

/* vmig_qmp_close() with calls pending: each fails with CLOSED, "closed" once. */
static void
test_close_pending(Fixture *f, gconstpointer data)
{
    Reply replies[3] = {{0}};
    guint i;

    REQUIRE_QEMU(f);
    g_assert_cmpint(vmig_test_qemu_kill(f->qemu, SIGSTOP), ==, 0);
    for (i = 0; i < G_N_ELEMENTS(replies); i++)
        start_command(f, "query-status", NULL, NULL, 0, NULL, &replies[i]);
    iterate_for(f, 50);
    fixture_close(f);
    g_assert_cmpuint(f->closed_count, ==, 1);
    fixture_close(f);
    for (i = 0; i < G_N_ELEMENTS(replies); i++) {
        iterate_until(f, &replies[i].done);
        g_assert_error(replies[i].error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED);
        reply_clear(&replies[i]);
    }
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_false(vmig_qmp_is_open(f->qmp));
}

/*
 * Dropping the last caller reference with a call pending: the call holds
 * the client alive, completes, and then the client is finalized.
 */
static void
test_unref_pending(Fixture *f, gconstpointer data)
{
    Reply reply = {0};
    gpointer weak;

    REQUIRE_QEMU(f);
    g_assert_cmpint(vmig_test_qemu_kill(f->qemu, SIGSTOP), ==, 0);
    start_command(f, "query-status", NULL, NULL, 0, NULL, &reply);
    weak = f->qmp;
    g_object_add_weak_pointer(G_OBJECT(f->qmp), &weak);
    g_clear_object(&f->qmp);
    g_assert_nonnull(weak);

    iterate_for(f, 50);
    g_assert_false(reply.done);
    g_assert_cmpint(vmig_test_qemu_kill(f->qemu, SIGCONT), ==, 0);
    iterate_until(f, &reply.done);
    g_assert_no_error(reply.error);
    drain_context(f);
    g_assert_null(weak);
    reply_clear(&reply);
}

/* Cancel a call from another thread after @user_data's cancellable waited. */
static gpointer
cancel_thread(gpointer user_data)
{
    GCancellable *cancellable = user_data;

    g_usleep(20000);
    g_cancellable_cancel(cancellable);
    return NULL;
}

/* Cancelled calls: before sending, after sending (reply ignored), from a thread. */
static void
test_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GCancellable) pre = g_cancellable_new();
    g_autoptr(GCancellable) queued = g_cancellable_new();
    g_autoptr(GCancellable) sent = g_cancellable_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    Reply reply = {0};
    GThread *thread;

    REQUIRE_QEMU(f);

    /* Already cancelled: nothing is sent. */
    g_cancellable_cancel(pre);
    start_command(f, "query-status", NULL, NULL, 0, pre, &reply);
    iterate_until(f, &reply.done);
    g_assert_error(reply.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

    /* Cancelled while still queued: dropped from the queue. */
    start_command(f, "query-status", NULL, NULL, 0, queued, &reply);
    g_cancellable_cancel(queued);
    iterate_until(f, &reply.done);
    g_assert_error(reply.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

    /* Cancelled from another thread while QEMU sits on it. */
    g_assert_cmpint(vmig_test_qemu_kill(f->qemu, SIGSTOP), ==, 0);
    start_command(f, "query-status", NULL, NULL, 0, sent, &reply);
    iterate_for(f, 50);
    thread = g_thread_new("cancel", cancel_thread, sent);
    /*
     * The main loop dispatches the cancellation once the thread's
     * g_cancellable_cancel() has returned: GLib 2.74 leaks the
     * GCancellableSource when its last reference goes while another
     * thread is still inside g_cancellable_cancel() (its dispose then
     * resurrects the source for a handler that already ran), which ASan
     * saw in one run of two on a loaded host.
     */
    g_thread_join(thread);
    iterate_until(f, &reply.done);
    g_assert_error(reply.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    reply_clear(&reply);

    /* Its reply arrives later and is not a protocol error. */
    g_assert_cmpint(vmig_test_qemu_kill(f->qemu, SIGCONT), ==, 0);
    ret = run_command(f, "query-version", NULL, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(ret));
    g_assert_true(json_object_has_member(json_node_get_object(ret), "qemu"));
    g_assert_true(vmig_qmp_is_open(f->qmp));
    g_assert_cmpuint(f->closed_count, ==, 0);
}

/* Cancelling the connect while waiting for a greeting that never comes. */
static void
test_connect_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    ConnectResult res = {.f = f};
    struct sockaddr_un addr;

    /* A listener that never accepts: connect() succeeds, no greeting comes. */
    f->fake_dir = g_dir_make_tmp("vmig-qmp-XXXXXX", NULL);
    g_assert_nonnull(f->fake_dir);
    f->fake_path = g_build_filename(f->fake_dir, "silent.sock", NULL);
    f->fake_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    g_strlcpy(addr.sun_path, f->fake_path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(f->fake_listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==,
                    0);
    g_assert_cmpint(listen(f->fake_listen_fd, 4), ==, 0);

    vmig_qmp_connect_async(f->qmp, f->fake_path, cancellable, on_connected, &res);
    iterate_for(f, 50);
    g_assert_false(res.done);
    g_cancellable_cancel(cancellable);
    iterate_until(f, &res.done);
    g_assert_error(res.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error(&res.error);
    g_assert_false(vmig_qmp_is_open(f->qmp));
    /* It never opened: no "closed". */
    g_assert_cmpuint(f->closed_count, ==, 0);
}

/* The client works on the global default context too. */
static void
test_default_context(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    /* This test drives the default context instead of a private one. */
    REQUIRE_QEMU(f);
    g_clear_object(&f->qmp);
    g_main_context_unref(f->context);
    f->context = g_main_context_ref(g_main_context_default());

    fixture_new_client(f);
    fixture_connect(f, f->qemu->qmp_path, &error);
    g_assert_no_error(error);
    ret = run_command(f, "query-status", NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ret);
}

/*
 * Nothing is dispatched on the default context while the client works on
 * a private one (assert_on_context() checks the other half everywhere).
 */
static void
test_private_context(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    GMainContext *global = g_main_context_default();

    REQUIRE_QEMU(f);
    g_assert_false(g_main_context_pending(global));
    ret = run_command(f, "stop", NULL, &error);
    g_assert_no_error(error);
    g_clear_pointer(&ret, json_node_unref);
    ret = run_command(f, "query-version", NULL, &error);
    g_assert_no_error(error);
    g_assert_false(g_main_context_pending(global));
    g_assert_cmpuint(f->events->len, ==, 1);
}

/* ------------------------------------------------------------------------ */
/* Without QEMU */

/* Nothing listens at the path: CONNECT, naming the path. */
static void
test_connect_nothing(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = g_dir_make_tmp("vmig-qmp-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "absent.sock", NULL);
    g_autofree char *bound = g_build_filename(dir, "bound.sock", NULL);
    g_autoptr(GError) error = NULL;
    g_autofree char *quoted = NULL;
    struct sockaddr_un addr;
    g_auto(VmigFd) fd = -1;

    g_assert_false(fixture_connect(f, path, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT);
    quoted = g_strdup_printf("'%s'", path);
    g_assert_nonnull(strstr(error->message, quoted));
    g_test_message("%s", error->message);
    g_clear_error(&error);
    g_assert_false(vmig_qmp_is_open(f->qmp));
    g_assert_cmpuint(f->closed_count, ==, 0);

    /* A socket that exists but does not listen: refused. */
    g_clear_object(&f->qmp);
    fixture_new_client(f);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    g_strlcpy(addr.sun_path, bound, sizeof(addr.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_false(fixture_connect(f, bound, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT);
    g_assert_nonnull(strstr(error->message, bound));
    g_clear_error(&error);
    g_unlink(bound);

    /* A path too long for sun_path. */
    g_clear_object(&f->qmp);
    fixture_new_client(f);
    {
        g_autofree char *name = g_strnfill(200, 'x');
        g_autofree char *longpath = g_build_filename(dir, name, NULL);

        g_assert_false(fixture_connect(f, longpath, &error));
        g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT);
        g_assert_nonnull(strstr(error->message, "longer than"));
        g_clear_error(&error);
    }
    g_rmdir(dir);
}

/* Commands before connecting fail with CLOSED; a client connects only once. */
static void
test_not_connected(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = g_dir_make_tmp("vmig-qmp-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "absent.sock", NULL);
    g_autoptr(GError) error = NULL;
    Reply reply = {0};

    g_assert_null(vmig_qmp_get_greeting(f->qmp));
    g_assert_null(vmig_qmp_get_hypervisor(f->qmp));
    g_assert_false(vmig_qmp_is_open(f->qmp));
    start_command(f, "query-status", NULL, NULL, 0, NULL, &reply);
    g_assert_false(reply.done);
    iterate_until(f, &reply.done);
    g_assert_error(reply.error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED);
    g_assert_nonnull(strstr(reply.error->message, "'query-status'"));
    reply_clear(&reply);

    g_assert_false(fixture_connect(f, path, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT);
    g_clear_error(&error);
    g_assert_false(fixture_connect(f, path, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT);
    g_assert_nonnull(strstr(error->message, "already used"));
    g_rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* A fake server, only for faults a real QEMU cannot produce */

typedef enum {
    FAKE_GARBAGE_GREETING, /* not JSON instead of the greeting */
    FAKE_NOT_A_GREETING,   /* JSON, but no "QMP" object */
    FAKE_UNKNOWN_ID,       /* qmp_capabilities answered with an id we never sent */
    FAKE_NO_ID,            /* a command answered without an id */
    FAKE_GARBAGE_REPLY,    /* a command answered with binary garbage */
    FAKE_MIDLINE_EOF,      /* a command answered by half a line, then EOF */
    FAKE_HUGE_LINE,        /* a line longer than the client accepts */
    FAKE_NESTED_GREETING,  /* a greeting of 100,000 nested '[' */
    FAKE_NESTED_REPLY,     /* a reply whose "return" nests 100,000 levels */
} FakeScript;

/* json-glib recursed once per level: this many overflowed the daemon's stack. */
#define FAKE_NESTING 100000

typedef struct {
    int listen_fd;
    FakeScript script;
} FakeServer;

static const char fake_greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"  \"}, \"capabilities\": [\"oob\"]}}\r\n";

/* Returns: TRUE once @fd is readable (or hung up), FALSE after the bound. */
static gboolean
fake_wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    return poll(&pfd, 1, TEST_TIMEOUT_MS) == 1;
}

/* Write all of @text to @fd; a peer gone early is fine. */
static void
fake_write(int fd, const char *text, gsize len)
{
    while (len > 0) {
        gssize n = send(fd, text, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        len -= (gsize)n;
    }
}

/* Write the string @text to @fd. */
static void
fake_send(int fd, const char *text)
{
    fake_write(fd, text, strlen(text));
}

/* Returns: the next line from @fd (without '\n'), or NULL at EOF or timeout. */
static char *
fake_read_line(int fd)
{
    g_autoptr(GString) line = g_string_new(NULL);

    for (;;) {
        char c;
        gssize n;

        if (!fake_wait_readable(fd))
            return NULL;
        n = recv(fd, &c, 1, 0);
        if (n <= 0)
            return NULL;
        if (c == '\n')
            return g_string_free(g_steal_pointer(&line), FALSE);
        g_string_append_c(line, c);
    }
}

/* Returns: the "id" of the command @line, or NULL. */
static char *
fake_command_id(const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *object;

    if (!line || !json_parser_load_from_data(parser, line, -1, NULL))
        return NULL;
    object = json_node_get_object(json_parser_get_root(parser));
    return g_strdup(json_object_get_string_member_with_default(object, "id", NULL));
}

/* Read the qmp_capabilities command from @fd and answer it. */
static void
fake_negotiate(int fd)
{
    g_autofree char *line = fake_read_line(fd);
    g_autofree char *id = fake_command_id(line);
    g_autofree char *reply = NULL;

    g_assert_nonnull(line);
    g_assert_nonnull(strstr(line, "\"qmp_capabilities\""));
    g_assert_nonnull(id);
    reply = g_strdup_printf("{\"return\": {}, \"id\": \"%s\"}\r\n", id);
    fake_send(fd, reply);
}

/* The fake server's thread: one connection, one script. */
static gpointer
fake_server_thread(gpointer user_data)
{
    g_autofree FakeServer *server = user_data;
    g_auto(VmigFd) fd = -1;
    g_autofree char *line = NULL;

    if (!fake_wait_readable(server->listen_fd))
        return NULL;
    fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;

    switch (server->script) {
    case FAKE_GARBAGE_GREETING:
        fake_send(fd, "Hello, I am not QEMU\r\n");
        break;
    case FAKE_NOT_A_GREETING:
        fake_send(fd, "{\"return\": {}}\r\n");
        break;
    case FAKE_UNKNOWN_ID:
        fake_send(fd, fake_greeting);
        line = fake_read_line(fd);
        fake_send(fd, "{\"return\": {}, \"id\": \"not-ours\"}\r\n");
        break;
    case FAKE_NO_ID:
        fake_send(fd, fake_greeting);
        fake_negotiate(fd);
        line = fake_read_line(fd);
        fake_send(fd, "{\"return\": {}}\r\n");
        break;
    case FAKE_GARBAGE_REPLY:
        fake_send(fd, fake_greeting);
        fake_negotiate(fd);
        line = fake_read_line(fd);
        fake_send(fd, "\x01\x02\xff garbage }{\r\n");
        break;
    case FAKE_MIDLINE_EOF:
        fake_send(fd, fake_greeting);
        fake_negotiate(fd);
        line = fake_read_line(fd);
        /* Close at once: the half line is all the client gets. */
        fake_send(fd, "{\"return\": {\"status\": \"runn");
        return NULL;
    case FAKE_NESTED_GREETING:
    case FAKE_NESTED_REPLY: {
        g_autofree char *deep = g_malloc(FAKE_NESTING + 1);

        memset(deep, '[', FAKE_NESTING);
        deep[FAKE_NESTING] = '\0';
        if (server->script == FAKE_NESTED_REPLY) {
            fake_send(fd, fake_greeting);
            fake_negotiate(fd);
            line = fake_read_line(fd);
            fake_send(fd, "{\"return\": ");
        }
        fake_send(fd, deep);
        fake_send(fd, "\r\n");
        break;
    }
    case FAKE_HUGE_LINE: {
        gsize chunk = 1024 * 1024;
        g_autofree char *spaces = g_malloc(chunk);
        guint i;

        memset(spaces, ' ', chunk);
        fake_send(fd, fake_greeting);
        fake_negotiate(fd);
        line = fake_read_line(fd);
        fake_send(fd, "{\"return\": ");
        /* 65 MiB of spaces without an end of line; stops once the client hangs up. */
        for (i = 0; i < 65; i++)
            fake_write(fd, spaces, chunk);
        break;
    }
    }
    /* Hold the connection until the client hangs up. */
    while (fake_wait_readable(fd)) {
        char buf[4096];

        if (recv(fd, buf, sizeof(buf), 0) <= 0)
            break;
    }
    return NULL;
}

/* Start a fake server for @script on a fresh socket path. */
static void
fake_start(Fixture *f, FakeScript script)
{
    FakeServer *server = g_new0(FakeServer, 1);
    struct sockaddr_un addr;

    f->fake_dir = g_dir_make_tmp("vmig-qmp-XXXXXX", NULL);
    g_assert_nonnull(f->fake_dir);
    f->fake_path = g_build_filename(f->fake_dir, "fake.sock", NULL);
    f->fake_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(f->fake_listen_fd, >=, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    g_strlcpy(addr.sun_path, f->fake_path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(f->fake_listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==,
                    0);
    g_assert_cmpint(listen(f->fake_listen_fd, 4), ==, 0);

    server->listen_fd = f->fake_listen_fd;
    server->script = script;
    f->fake_thread = g_thread_new("fake-qmp", fake_server_thread, server);
}

/* Garbage instead of a greeting: the connect fails with PROTOCOL. */
static void
test_fake_garbage_greeting(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    fake_start(f, FAKE_GARBAGE_GREETING);
    g_assert_false(fixture_connect(f, f->fake_path, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "QEMU sent something that is not JSON"));
    g_assert_nonnull(strstr(error->message, "Hello, I am not QEMU"));
    g_assert_false(vmig_qmp_is_open(f->qmp));
    g_assert_cmpuint(f->closed_count, ==, 0);
}

/* JSON but not a greeting: PROTOCOL. */
static void
test_fake_not_a_greeting(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    fake_start(f, FAKE_NOT_A_GREETING);
    g_assert_false(fixture_connect(f, f->fake_path, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(error->message, "no QMP greeting"));
    g_assert_null(vmig_qmp_get_hypervisor(f->qmp));
}

/* qmp_capabilities answered with an id we never sent: PROTOCOL. */
static void
test_fake_unknown_id(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    fake_start(f, FAKE_UNKNOWN_ID);
    g_assert_false(fixture_connect(f, f->fake_path, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(error->message, "unknown id"));
    g_assert_nonnull(strstr(error->message, "not-ours"));
    /* An empty package leaves no parentheses. */
    g_assert_cmpstr(vmig_qmp_get_hypervisor(f->qmp), ==, "QEMU 7.2.0");
}

/* Connect to the fake server and run one command that it answers badly. */
static void
fake_run_bad_reply(Fixture *f, FakeScript script, VmigQmpErrorCode code,
                   const char *message_part)
{
    g_autoptr(GError) error = NULL;
    Reply reply = {0};

    fake_start(f, script);
    g_assert_true(fixture_connect(f, f->fake_path, &error));
    g_assert_no_error(error);
    start_command(f, "query-status", NULL, NULL, 0, NULL, &reply);
    iterate_until(f, &reply.done);
    g_assert_error(reply.error, VMIG_QMP_ERROR, (gint)code);
    g_test_message("%s", reply.error->message);
    g_assert_nonnull(strstr(reply.error->message, message_part));
    g_assert_nonnull(strstr(reply.error->message, "'query-status'"));
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_error(f->closed_reason, VMIG_QMP_ERROR, (gint)code);
    g_assert_false(vmig_qmp_is_open(f->qmp));
    reply_clear(&reply);

    start_command(f, "query-status", NULL, NULL, 0, NULL, &reply);
    iterate_until(f, &reply.done);
    g_assert_error(reply.error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED);
    reply_clear(&reply);
    g_assert_cmpuint(f->closed_count, ==, 1);
}

/* A reply without an id: PROTOCOL for the pending call. */
static void
test_fake_no_id(Fixture *f, gconstpointer data)
{
    fake_run_bad_reply(f, FAKE_NO_ID, VMIG_QMP_ERROR_PROTOCOL, "without an id");
}

/* Garbage as a reply: PROTOCOL, quoting it escaped. */
static void
test_fake_garbage_reply(Fixture *f, gconstpointer data)
{
    fake_run_bad_reply(f, FAKE_GARBAGE_REPLY, VMIG_QMP_ERROR_PROTOCOL,
                       "QEMU sent something that is not JSON");
}

/* Half a reply, then EOF: CLOSED. */
static void
test_fake_midline_eof(Fixture *f, gconstpointer data)
{
    fake_run_bad_reply(f, FAKE_MIDLINE_EOF, VMIG_QMP_ERROR_CLOSED,
                       "in the middle of a message");
}

/* A line over 64 MiB: PROTOCOL, before the client buffers more. */
static void
test_fake_huge_line(Fixture *f, gconstpointer data)
{
    fake_run_bad_reply(f, FAKE_HUGE_LINE, VMIG_QMP_ERROR_PROTOCOL, "longer than 64 MiB");
}

/*
 * A greeting nested 100,000 levels deep (it crashed the daemon: json-glib
 * recurses per level): PROTOCOL, naming the nesting, and no crash.
 */
static void
test_fake_nested_greeting(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    fake_start(f, FAKE_NESTED_GREETING);
    g_assert_false(fixture_connect(f, f->fake_path, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "nesting deeper than 1024 levels"));
    g_assert_false(vmig_qmp_is_open(f->qmp));
}

/* The same nesting in a reply: PROTOCOL for the call, the connection closed. */
static void
test_fake_nested_reply(Fixture *f, gconstpointer data)
{
    fake_run_bad_reply(f, FAKE_NESTED_REPLY, VMIG_QMP_ERROR_PROTOCOL,
                       "nesting deeper than 1024 levels");
}

/* ------------------------------------------------------------------------ */

/* The line QEMU 7.2 can send before its greeting (test_events_before_greeting()
 * meets it by chance): awaiting the greeting, an event is an event; anything
 * else that is not the greeting is refused. */
static void
test_parse_event_before_greeting(void)
{
    static const char event[] = "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
                                "\"event\": \"RESUME\"}";
    static const char reply[] = "{\"return\": {}}";
    g_auto(VmigQmpMessage) message = {0};
    g_autoptr(GError) error = NULL;

    g_assert_true(
        vmig_qmp_message_parse(event, strlen(event), TRUE, "mon.sock", &message, &error));
    g_assert_no_error(error);
    g_assert_cmpint(message.kind, ==, VMIG_QMP_MESSAGE_EVENT);
    g_assert_cmpstr(message.event, ==, "RESUME");
    g_assert_null(message.greeting);
    g_assert_false(
        vmig_qmp_message_parse(reply, strlen(reply), TRUE, "mon.sock", &message, &error));
    g_assert_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(error->message, "no QMP greeting"));
}

/* Register a test that runs against a real QEMU. */
static void
add_qemu_test(const char *path, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, NULL, fixture_setup_qemu, func, fixture_teardown);
}

/* Register a test that needs no QEMU. */
static void
add_plain_test(const char *path, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, NULL, fixture_setup_plain, func, fixture_teardown);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    /*
     * Created once here, so that the fd counts of the tests do not see them:
     * the default context's wakeup fd, and GTask's class initialisation,
     * which starts GLib's worker thread and its context.
     */
    (void)g_main_context_default();
    g_type_ensure(G_TYPE_TASK);
    g_type_ensure(VMIG_TYPE_QMP);

    add_qemu_test("/qmp/qemu/connect", test_connect);
    add_qemu_test("/qmp/qemu/pipelined", test_pipelined);
    add_qemu_test("/qmp/qemu/schema", test_schema);
    add_qemu_test("/qmp/qemu/large-command", test_large_command);
    add_qemu_test("/qmp/qemu/error/command", test_error_command);
    add_qemu_test("/qmp/qemu/error/not-found", test_error_not_found);
    add_qemu_test("/qmp/qemu/events", test_events);
    g_test_add("/qmp/qemu/events-before-greeting", Fixture, NULL, fixture_setup_spare,
               test_events_before_greeting, fixture_teardown);
    add_qemu_test("/qmp/qemu/getfd", test_getfd);
    add_qemu_test("/qmp/qemu/killed", test_killed);
    add_qemu_test("/qmp/qemu/quit", test_quit);
    add_qemu_test("/qmp/qemu/close-pending", test_close_pending);
    add_qemu_test("/qmp/qemu/unref-pending", test_unref_pending);
    add_qemu_test("/qmp/qemu/cancel", test_cancel);
    add_qemu_test("/qmp/qemu/context/private", test_private_context);
    add_qemu_test("/qmp/qemu/context/default", test_default_context);
    add_plain_test("/qmp/connect/nothing-listening", test_connect_nothing);
    add_plain_test("/qmp/connect/cancel", test_connect_cancel);
    add_plain_test("/qmp/not-connected", test_not_connected);
    g_test_add_func("/qmp/parse/event-before-greeting", test_parse_event_before_greeting);
    add_plain_test("/qmp/fake/garbage-greeting", test_fake_garbage_greeting);
    add_plain_test("/qmp/fake/not-a-greeting", test_fake_not_a_greeting);
    add_plain_test("/qmp/fake/unknown-id", test_fake_unknown_id);
    add_plain_test("/qmp/fake/no-id", test_fake_no_id);
    add_plain_test("/qmp/fake/garbage-reply", test_fake_garbage_reply);
    add_plain_test("/qmp/fake/midline-eof", test_fake_midline_eof);
    add_plain_test("/qmp/fake/huge-line", test_fake_huge_line);
    add_plain_test("/qmp/fake/nested-greeting", test_fake_nested_greeting);
    add_plain_test("/qmp/fake/nested-reply", test_fake_nested_reply);

    return g_test_run();
}
