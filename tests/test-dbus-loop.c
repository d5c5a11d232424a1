/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-dbus-loop.c: libdbus connections served by explicit GMainContexts
 *
 * No bus daemon: every fixture starts a DBusServer of this process on an
 * abstract unix socket, connects a private client to it, and the two ends
 * talk peer to peer.  The client is served by the fixture's context; the
 * server's end ("the peer") by the same context, or, in the threaded
 * tests, by a context of its own that a thread iterates.  The server's
 * listening socket has a small watch helper of its own (a DBusServer has
 * no dispatch queue, so it needs no more than that).
 *
 * Every handler checks that it runs from a source of the context it
 * belongs to.  Every teardown checks that no source is left on the
 * fixture's contexts, that nothing was ever attached to the global default
 * context, and that no fd leaked (the contexts' own wakeup fds included,
 * which proves dbus-loop dropped its references to them).
 */
#include <config.h>

#include <sys/ioctl.h>

#include <dbus/dbus.h>
#include <glib-unix.h>
#include <glib.h>

#include "driver/dbus-loop.h"
#include "tests/testutil.h"

/* Every wait in this file is bounded by this. */
#define TEST_TIMEOUT_MS 10000

/* Generous: only /dbus-loop/call/no-reply wants a timeout to expire. */
#define TEST_CALL_TIMEOUT_MS 20000

#define TEST_PATH      "/org/virtmigrate/Test"
#define TEST_INTERFACE "org.virtmigrate.Test"

/* Messages in a flood. */
#define FLOOD_COUNT 2000

G_DEFINE_AUTOPTR_CLEANUP_FUNC(DBusMessage, dbus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DBusPendingCall, dbus_pending_call_unref)

/* What a fixture sets up; the test data of g_test_add(). */
typedef struct {
    gboolean attach_client; /* attach the client to the fixture's context */
    gboolean attach_peer;   /* attach the peer when the server accepts it */
    gboolean threaded;      /* the server side has its own context and thread */
} Options;

typedef struct {
    const Options *options;
    GMainContext *context;        /* the client's, iterated by the test */
    GMainContext *server_context; /* the server's and the peer's */
    GThread *server_thread;       /* (nullable) iterates server_context */
    gboolean server_quit;         /* server side only */
    guint fds_before;
    guint default_probe;

    DBusServer *server;
    DBusConnection *client;
    DBusConnection *peer; /* the server's end; server side only while threaded */

    /* What the peer's filter saw: server side only while threaded. */
    gboolean peer_connected;
    guint calls;
    guint signals;
    guint flood_count;   /* signals sent */
    gboolean flood_done; /* ... and all received */
    gboolean peer_disconnected;
    guint detach_at;   /* the filter detaches the peer at this signal (0: never) */
    gboolean detached; /* ... and has done so */

    /* The flood's competing idle source. */
    guint idle_mid_flood;
    guint signals_at_idle;
    guint max_gap;
} Fixture;

/* ------------------------------------------------------------------------ */
/* Helpers */

/* The handler checks: we run from a source of @context, in its thread. */
static void
assert_on_context(GMainContext *context)
{
    GSource *source = g_main_current_source();

    g_assert_true(g_main_context_is_owner(context));
    g_assert_nonnull(source);
    g_assert_true(g_source_get_context(source) == context);
}

/* Fail the test if @err is set. */
static void
assert_no_dbus_error(DBusError *err)
{
    if (dbus_error_is_set(err))
        g_error("libdbus: %s: %s", err->name, err->message);
}

/* GSourceFunc for the timeout of iterate_until().  Returns: G_SOURCE_REMOVE. */
static gboolean
on_timeout(gpointer user_data)
{
    gboolean *timed_out = user_data;

    *timed_out = TRUE;
    return G_SOURCE_REMOVE;
}

/* Iterate @context until *@done, failing the test after TEST_TIMEOUT_MS. */
static void
iterate_until(GMainContext *context, const gboolean *done)
{
    gboolean timed_out = FALSE;
    GSource *timeout = g_timeout_source_new(TEST_TIMEOUT_MS);

    g_source_set_callback(timeout, on_timeout, &timed_out, NULL);
    g_source_attach(timeout, context);
    while (!*done && !timed_out)
        g_main_context_iteration(context, TRUE);
    g_source_destroy(timeout);
    g_source_unref(timeout);
    if (timed_out)
        g_error("timed out after %u ms", TEST_TIMEOUT_MS);
}

/* Run whatever is ready on @context, without blocking. */
static void
drain_context(GMainContext *context)
{
    guint i;

    for (i = 0; i < 1000 && g_main_context_pending(context); i++)
        g_main_context_iteration(context, FALSE);
}

/*
 * Attach a probe source to @context and take it off again.  GLib numbers
 * the sources of a context upwards from 1, so two probes with consecutive
 * ids prove nothing else was attached in between.
 * Returns: the probe's id.
 */
static guint
probe_context(GMainContext *context)
{
    GSource *probe = g_idle_source_new();
    guint id = g_source_attach(probe, context);

    g_source_destroy(probe);
    g_source_unref(probe);
    return id;
}

/*
 * Fail if any source is still attached to @context.  Ids are not reused
 * before they wrap around, so looking up every id below a fresh probe's
 * finds every source ever attached that is still there.
 */
static void
assert_no_sources(GMainContext *context)
{
    guint last = probe_context(context);
    guint id;

    for (id = 1; id < last; id++) {
        GSource *source = g_main_context_find_source_by_id(context, id);

        if (source != NULL)
            g_error("source %u (%s) is still attached", id,
                    g_source_get_name(source) ? g_source_get_name(source) : "unnamed");
    }
}

/* Returns: how many bytes wait unread on the socket of @connection. */
static int
unread_bytes(DBusConnection *connection)
{
    int fd = -1;
    int n = 0;

    g_assert_true(dbus_connection_get_unix_fd(connection, &fd));
    g_assert_cmpint(ioctl(fd, FIONREAD, &n), ==, 0);
    return n;
}

/* ------------------------------------------------------------------------ */
/* The server's listening socket */

/* GUnixFDSourceFunc of a server watch.  Returns: G_SOURCE_CONTINUE. */
static gboolean
on_server_watch_ready(gint fd G_GNUC_UNUSED, GIOCondition cond, gpointer user_data)
{
    DBusWatch *watch = user_data;
    unsigned int flags = 0;

    if (cond & G_IO_IN)
        flags |= DBUS_WATCH_READABLE;
    if (cond & G_IO_HUP)
        flags |= DBUS_WATCH_HANGUP;
    if (cond & (G_IO_ERR | G_IO_NVAL))
        flags |= DBUS_WATCH_ERROR;
    g_assert_true(dbus_watch_handle(watch, flags));
    return G_SOURCE_CONTINUE;
}

/* DBusFreeFunction of a server watch's data. */
static void
server_watch_source_drop(void *data)
{
    GSource *source = data;

    g_source_destroy(source);
    g_source_unref(source);
}

/* DBusAddWatchFunction of the server: poll the listening socket.  Returns: TRUE. */
static dbus_bool_t
server_watch_add(DBusWatch *watch, void *data)
{
    GMainContext *context = data;
    GSource *source;

    if (!dbus_watch_get_enabled(watch))
        return TRUE;
    g_assert_cmpuint(dbus_watch_get_flags(watch), ==, DBUS_WATCH_READABLE);
    source = g_unix_fd_source_new(dbus_watch_get_unix_fd(watch), G_IO_IN);
    g_source_set_callback(source, G_SOURCE_FUNC(on_server_watch_ready), watch, NULL);
    g_source_set_static_name(source, "test-server-watch");
    g_source_attach(source, context);
    dbus_watch_set_data(watch, source, server_watch_source_drop);
    return TRUE;
}

/* DBusRemoveWatchFunction of the server. */
static void
server_watch_remove(DBusWatch *watch, void *data G_GNUC_UNUSED)
{
    dbus_watch_set_data(watch, NULL, NULL);
}

/* DBusWatchToggledFunction of the server. */
static void
server_watch_toggled(DBusWatch *watch, void *data)
{
    server_watch_remove(watch, data);
    server_watch_add(watch, data);
}

/* ------------------------------------------------------------------------ */
/* The peer */

/* Reply to an Echo call with its own argument. */
static void
peer_echo(DBusConnection *connection, DBusMessage *message)
{
    DBusError err = DBUS_ERROR_INIT;
    g_autoptr(DBusMessage) reply = dbus_message_new_method_return(message);
    const char *text = NULL;

    g_assert_nonnull(reply);
    dbus_message_get_args(message, &err, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID);
    assert_no_dbus_error(&err);
    g_assert_true(
        dbus_message_append_args(reply, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID));
    g_assert_true(dbus_connection_send(connection, reply, NULL));
}

/* Count a Flood signal, checking the order. */
static void
peer_flood(Fixture *f, DBusConnection *connection, DBusMessage *message)
{
    DBusError err = DBUS_ERROR_INIT;
    dbus_uint32_t index = G_MAXUINT32;

    dbus_message_get_args(message, &err, DBUS_TYPE_UINT32, &index, DBUS_TYPE_INVALID);
    assert_no_dbus_error(&err);
    g_assert_cmpuint(index, ==, f->signals);
    f->signals++;
    if (f->signals == f->flood_count)
        f->flood_done = TRUE;
    if (f->signals == f->detach_at) {
        vmig_dbus_loop_detach(connection);
        f->detached = TRUE;
    }
}

/* DBusHandleMessageFunction: the peer's filter.  Returns: whether it handled @message. */
static DBusHandlerResult
on_peer_message(DBusConnection *connection, DBusMessage *message, void *user_data)
{
    Fixture *f = user_data;

    assert_on_context(f->server_context);
    if (dbus_message_is_signal(message, DBUS_INTERFACE_LOCAL, "Disconnected")) {
        f->peer_disconnected = TRUE;
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
    }
    if (dbus_message_is_method_call(message, TEST_INTERFACE, "Echo")) {
        f->calls++;
        peer_echo(connection, message);
        return DBUS_HANDLER_RESULT_HANDLED;
    }
    if (dbus_message_is_method_call(message, TEST_INTERFACE, "Ignore")) {
        /* Handled without a reply: the caller's timeout has to run out. */
        f->calls++;
        return DBUS_HANDLER_RESULT_HANDLED;
    }
    if (dbus_message_is_signal(message, TEST_INTERFACE, "Flood")) {
        peer_flood(f, connection, message);
        return DBUS_HANDLER_RESULT_HANDLED;
    }
    return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

/* DBusNewConnectionFunction: keep the peer, attach it if asked. */
static void
on_new_connection(DBusServer *server G_GNUC_UNUSED, DBusConnection *connection,
                  void *data)
{
    Fixture *f = data;
    g_autoptr(GError) error = NULL;

    assert_on_context(f->server_context);
    g_assert_null(f->peer);
    f->peer = dbus_connection_ref(connection);
    dbus_connection_set_exit_on_disconnect(connection, FALSE);
    g_assert_true(dbus_connection_add_filter(connection, on_peer_message, f, NULL));
    if (f->options->attach_peer) {
        vmig_dbus_loop_attach(connection, f->server_context, &error);
        g_assert_no_error(error);
    }
    f->peer_connected = TRUE;
}

/* ------------------------------------------------------------------------ */
/* Fixture */

/* GThreadFunc of the threaded tests' server side.  Returns: NULL. */
static gpointer
server_thread(gpointer data)
{
    Fixture *f = data;

    while (!f->server_quit)
        g_main_context_iteration(f->server_context, TRUE);
    return NULL;
}

/*
 * Close the peer and the server, on the server side (in the threaded
 * tests, a source of the server's context).
 * Returns: G_SOURCE_REMOVE.
 */
static gboolean
server_shutdown(gpointer data)
{
    Fixture *f = data;

    if (f->peer != NULL) {
        dbus_connection_close(f->peer);
        vmig_dbus_loop_detach(f->peer);
        g_clear_pointer(&f->peer, dbus_connection_unref);
    }
    dbus_server_disconnect(f->server);
    g_clear_pointer(&f->server, dbus_server_unref);
    f->server_quit = TRUE;
    return G_SOURCE_REMOVE;
}

/*
 * A server, a client connected to it and (unless threaded) the server's
 * end of it, attached as the Options say.
 */
static void
fixture_setup(Fixture *f, gconstpointer data)
{
    DBusError err = DBUS_ERROR_INIT;
    g_autoptr(GError) error = NULL;
    char *address;

    f->options = data;
    /* The first probe creates the default context, whose wakeup fd stays. */
    f->default_probe = probe_context(NULL);
    f->fds_before = vmig_test_count_fds(0);
    f->context = g_main_context_new();
    if (f->options->threaded)
        f->server_context = g_main_context_new();
    else
        f->server_context = g_main_context_ref(f->context);

    f->server = dbus_server_listen("unix:tmpdir=/tmp", &err);
    assert_no_dbus_error(&err);
    g_assert_true(
        dbus_server_set_watch_functions(f->server, server_watch_add, server_watch_remove,
                                        server_watch_toggled, f->server_context, NULL));
    dbus_server_set_new_connection_function(f->server, on_new_connection, f, NULL);

    address = dbus_server_get_address(f->server);
    f->client = dbus_connection_open_private(address, &err);
    dbus_free(address);
    assert_no_dbus_error(&err);
    dbus_connection_set_exit_on_disconnect(f->client, FALSE);
    if (f->options->attach_client) {
        vmig_dbus_loop_attach(f->client, f->context, &error);
        g_assert_no_error(error);
    }

    if (f->options->threaded)
        f->server_thread = g_thread_new("test-server", server_thread, f);
    else
        iterate_until(f->context, &f->peer_connected);
}

/* Close everything and check that nothing is left behind. */
static void
fixture_teardown(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    if (f->client != NULL) {
        dbus_connection_close(f->client);
        vmig_dbus_loop_detach(f->client);
        g_clear_pointer(&f->client, dbus_connection_unref);
    }
    if (f->server_thread != NULL) {
        GSource *source = g_idle_source_new();

        g_source_set_callback(source, server_shutdown, f, NULL);
        g_source_attach(source, f->server_context);
        g_source_unref(source);
        g_thread_join(f->server_thread);
    } else {
        server_shutdown(f);
    }

    assert_no_sources(f->context);
    assert_no_sources(f->server_context);
    g_main_context_unref(f->server_context);
    g_main_context_unref(f->context);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);

    g_assert_false(g_main_context_pending(NULL));
    g_assert_cmpuint(probe_context(NULL), ==, f->default_probe + 1);
}

/* ------------------------------------------------------------------------ */
/* Calls */

typedef struct {
    GMainContext *context;
    gboolean done;
    DBusMessage *reply;
} Pending;

/* DBusPendingCallNotifyFunction: keep the reply. */
static void
on_notify(DBusPendingCall *pending, void *user_data)
{
    Pending *p = user_data;

    assert_on_context(p->context);
    g_assert_false(p->done);
    p->reply = dbus_pending_call_steal_reply(pending);
    g_assert_nonnull(p->reply);
    p->done = TRUE;
}

/* Start calling @method(@text) on the client.  Returns: the pending call. */
static DBusPendingCall *
call_start(Fixture *f, const char *method, const char *text, int timeout_ms, Pending *p)
{
    g_autoptr(DBusMessage) message =
        dbus_message_new_method_call(NULL, TEST_PATH, TEST_INTERFACE, method);
    DBusPendingCall *pending = NULL;

    p->context = f->context;
    g_assert_nonnull(message);
    g_assert_true(
        dbus_message_append_args(message, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID));
    g_assert_true(
        dbus_connection_send_with_reply(f->client, message, &pending, timeout_ms));
    g_assert_nonnull(pending);
    g_assert_true(dbus_pending_call_set_notify(pending, on_notify, p, NULL));
    return pending;
}

/* Wait for the reply to @pending.  Returns: the reply (perhaps an error). */
static DBusMessage *
call_finish(Fixture *f, DBusPendingCall *pending, Pending *p)
{
    iterate_until(f->context, &p->done);
    g_assert_true(dbus_pending_call_get_completed(pending));
    return g_steal_pointer(&p->reply);
}

/* Call @method(@text) on the client.  Returns: the reply (perhaps an error). */
static DBusMessage *
call(Fixture *f, const char *method, const char *text, int timeout_ms)
{
    Pending p = {0};
    g_autoptr(DBusPendingCall) pending = call_start(f, method, text, timeout_ms, &p);

    return call_finish(f, pending, &p);
}

/* Check that @reply is an Echo reply of @expected. */
static void
assert_echo(DBusMessage *reply, const char *expected)
{
    DBusError err = DBUS_ERROR_INIT;
    const char *text = NULL;

    if (dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR)
        g_error("error reply %s", dbus_message_get_error_name(reply));
    g_assert_cmpint(dbus_message_get_type(reply), ==, DBUS_MESSAGE_TYPE_METHOD_RETURN);
    dbus_message_get_args(reply, &err, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID);
    assert_no_dbus_error(&err);
    g_assert_cmpstr(text, ==, expected);
}

/* A call and its reply (the pending call has a libdbus timeout). */
static void
test_call_reply(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(DBusMessage) reply = call(f, "Echo", "hello", TEST_CALL_TIMEOUT_MS);

    assert_echo(reply, "hello");
    g_assert_cmpuint(f->calls, ==, 1);
}

/* Calls to a peer served by a context of its own, in a thread of its own. */
static void
test_call_threads(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    guint i;

    for (i = 0; i < 20; i++) {
        g_autofree char *text = g_strdup_printf("hello %u", i);
        g_autoptr(DBusMessage) reply = call(f, "Echo", text, TEST_CALL_TIMEOUT_MS);

        assert_echo(reply, text);
    }
}

/* A call never answered: the timeout source completes it with NoReply. */
static void
test_call_no_reply(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(DBusMessage) reply = call(f, "Ignore", "anyone there?", 100);

    g_assert_cmpint(dbus_message_get_type(reply), ==, DBUS_MESSAGE_TYPE_ERROR);
    g_assert_cmpstr(dbus_message_get_error_name(reply), ==, DBUS_ERROR_NO_REPLY);
}

/* ------------------------------------------------------------------------ */
/* Floods */

/* GSourceFunc competing with a flood: see how far it got.  Returns: G_SOURCE_CONTINUE. */
static gboolean
on_flood_idle(gpointer user_data)
{
    Fixture *f = user_data;

    assert_on_context(f->context);
    if (f->signals > 0 && f->signals < FLOOD_COUNT)
        f->idle_mid_flood++;
    f->max_gap = MAX(f->max_gap, f->signals - f->signals_at_idle);
    f->signals_at_idle = f->signals;
    return G_SOURCE_CONTINUE;
}

/* Send @count Flood signals from the client, numbered from 0. */
static void
send_flood(Fixture *f, guint count)
{
    dbus_uint32_t i;

    f->flood_count = count;
    for (i = 0; i < count; i++) {
        g_autoptr(DBusMessage) message =
            dbus_message_new_signal(TEST_PATH, TEST_INTERFACE, "Flood");

        g_assert_nonnull(message);
        g_assert_true(
            dbus_message_append_args(message, DBUS_TYPE_UINT32, &i, DBUS_TYPE_INVALID));
        g_assert_true(dbus_connection_send(f->client, message, NULL));
    }
}

/*
 * Move everything the client has to send into the peer's incoming queue,
 * with the blocking libdbus API on the peer's side: the peer must not be
 * attached.
 */
static void
fill_peer_queue(Fixture *f)
{
    gint64 deadline = g_get_monotonic_time() + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

    while (dbus_connection_has_messages_to_send(f->client) || unread_bytes(f->peer) > 0) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(f->context, FALSE);
        g_assert_true(dbus_connection_read_write(f->peer, 10));
    }
    g_assert_cmpint(dbus_connection_get_dispatch_status(f->peer), ==,
                    DBUS_DISPATCH_DATA_REMAINS);
}

/*
 * FLOOD_COUNT signals one way all arrive, in order, once; an idle source
 * of the same priority keeps running meanwhile.  Without attach_peer, the
 * whole flood is queued on the peer before it is attached, so it has to
 * be dispatched in batches (and attach has to notice the queue).
 */
static void
test_flood(Fixture *f, gconstpointer data)
{
    const Options *options = data;
    g_autoptr(GError) error = NULL;
    GSource *idle;

    send_flood(f, FLOOD_COUNT);
    if (!options->attach_peer)
        fill_peer_queue(f);

    idle = g_idle_source_new();
    g_source_set_priority(idle, G_PRIORITY_DEFAULT);
    g_source_set_callback(idle, on_flood_idle, f, NULL);
    g_source_attach(idle, f->context);
    if (!options->attach_peer) {
        vmig_dbus_loop_attach(f->peer, f->server_context, &error);
        g_assert_no_error(error);
    }
    iterate_until(f->context, &f->flood_done);
    g_source_destroy(idle);
    g_source_unref(idle);
    f->max_gap = MAX(f->max_gap, f->signals - f->signals_at_idle);

    drain_context(f->context);
    g_assert_cmpuint(f->signals, ==, FLOOD_COUNT);
    g_test_message("idle ran %u times during the flood, at most %u signals apart",
                   f->idle_mid_flood, f->max_gap);
    g_assert_cmpuint(f->idle_mid_flood, >=, 2);
    g_assert_cmpuint(f->max_gap, <, FLOOD_COUNT / 2);
}

/* ------------------------------------------------------------------------ */
/* Disconnection, detach and attach */

/* The client goes: the peer sees Disconnected; detaching it afterwards is clean. */
static void
test_disconnect(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(DBusMessage) reply = call(f, "Echo", "bye", TEST_CALL_TIMEOUT_MS);

    assert_echo(reply, "bye");
    dbus_connection_close(f->client);
    vmig_dbus_loop_detach(f->client);
    g_clear_pointer(&f->client, dbus_connection_unref);

    iterate_until(f->context, &f->peer_disconnected);
    g_assert_false(dbus_connection_get_is_connected(f->peer));
    vmig_dbus_loop_detach(f->peer);
    vmig_dbus_loop_detach(f->peer);
}

/* Detach and attach again, also with a call started while detached. */
static void
test_reattach(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(DBusMessage) reply = NULL;
    g_autoptr(DBusPendingCall) pending = NULL;
    Pending p = {0};

    vmig_dbus_loop_detach(f->client);
    vmig_dbus_loop_attach(f->client, f->context, &error);
    g_assert_no_error(error);
    reply = call(f, "Echo", "again", TEST_CALL_TIMEOUT_MS);
    assert_echo(reply, "again");
    g_clear_pointer(&reply, dbus_message_unref);

    /* The call's timeout and write watch exist before the attach. */
    vmig_dbus_loop_detach(f->client);
    pending = call_start(f, "Echo", "while detached", TEST_CALL_TIMEOUT_MS, &p);
    vmig_dbus_loop_attach(f->client, f->context, &error);
    g_assert_no_error(error);
    reply = call_finish(f, pending, &p);
    assert_echo(reply, "while detached");
    g_assert_cmpuint(f->calls, ==, 2);
}

/* Detaching a connection that was never attached does nothing. */
static void
test_detach_never_attached(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(DBusMessage) reply = NULL;

    vmig_dbus_loop_detach(f->client);
    vmig_dbus_loop_detach(f->client);
    vmig_dbus_loop_attach(f->client, f->context, &error);
    g_assert_no_error(error);
    reply = call(f, "Echo", "first", TEST_CALL_TIMEOUT_MS);
    assert_echo(reply, "first");
}

/* A handler detaches its own connection: dispatch stops until attached again. */
static void
test_detach_in_handler(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(GError) error = NULL;

    f->detach_at = 5;
    send_flood(f, 10);
    iterate_until(f->context, &f->detached);
    drain_context(f->context);
    g_assert_cmpuint(f->signals, ==, 5);

    vmig_dbus_loop_attach(f->peer, f->server_context, &error);
    g_assert_no_error(error);
    iterate_until(f->context, &f->flood_done);
    drain_context(f->context);
    g_assert_cmpuint(f->signals, ==, 10);
}

/* Attaching an attached connection is a programming error, and harmless. */
static void
test_attach_twice(Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(DBusMessage) reply = NULL;
    g_autoptr(GMainContext) other = g_main_context_new();

    g_test_expect_message("vmig-dbus", G_LOG_LEVEL_CRITICAL,
                          "*assertion*vmig_dbus_loop_get*failed*");
    g_assert_false(vmig_dbus_loop_attach(f->client, f->context, &error));
    g_test_assert_expected_messages();
    g_assert_no_error(error);

    g_test_expect_message("vmig-dbus", G_LOG_LEVEL_CRITICAL,
                          "*assertion*vmig_dbus_loop_get*failed*");
    g_assert_false(vmig_dbus_loop_attach(f->client, other, &error));
    g_test_assert_expected_messages();
    g_assert_no_error(error);

    reply = call(f, "Echo", "still here", TEST_CALL_TIMEOUT_MS);
    assert_echo(reply, "still here");
    assert_no_sources(other);
}

int
main(int argc, char **argv)
{
    static const Options both = {.attach_client = TRUE, .attach_peer = TRUE};
    static const Options client_only = {.attach_client = TRUE};
    static const Options peer_only = {.attach_peer = TRUE};
    static const Options threaded = {
        .attach_client = TRUE, .attach_peer = TRUE, .threaded = TRUE};
    int ret;

    g_test_init(&argc, &argv, NULL);

#define ADD(path, options, fn)                                                           \
    g_test_add(path, Fixture, &(options), fixture_setup, fn, fixture_teardown)
    ADD("/dbus-loop/detach/never-attached", peer_only, test_detach_never_attached);
    ADD("/dbus-loop/call/reply", both, test_call_reply);
    ADD("/dbus-loop/call/threads", threaded, test_call_threads);
    ADD("/dbus-loop/call/no-reply", both, test_call_no_reply);
    ADD("/dbus-loop/flood/live", both, test_flood);
    ADD("/dbus-loop/flood/queued", client_only, test_flood);
    ADD("/dbus-loop/disconnect", both, test_disconnect);
    ADD("/dbus-loop/attach/again", both, test_reattach);
    ADD("/dbus-loop/attach/twice", both, test_attach_twice);
    ADD("/dbus-loop/detach/in-handler", both, test_detach_in_handler);
#undef ADD

    ret = g_test_run();
    /* libdbus keeps caches until told: free them so valgrind sees only real leaks. */
    dbus_shutdown();
    return ret;
}
