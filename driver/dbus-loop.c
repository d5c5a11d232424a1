/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dbus-loop.c: a libdbus connection served by a GLib main context
 *
 * Three kinds of GSource, all attached to the caller's context:
 *
 *  - one per DBusWatch: a source with the watch's fd added by
 *    g_source_add_unix_fd().  A disabled watch has its fd removed from the
 *    source rather than polled for no events: poll() reports POLLHUP even
 *    for events 0, and a disabled watch on a hung-up socket would spin.
 *  - one per DBusTimeout: a source with a ready time, re-armed by
 *    "toggled" (libdbus signals a changed interval that way) and after
 *    every expiry, since libdbus expects a timeout to repeat until it
 *    removes or disables it.
 *  - one dispatch source, made ready (ready time 0) when the dispatch
 *    status becomes DATA_REMAINS and by the wakeup-main function.  It
 *    dispatches at most VMIG_DBUS_LOOP_BATCH messages and then goes back
 *    to the main loop, so a flood of messages cannot starve the context's
 *    other sources.  It runs at G_PRIORITY_DEFAULT like the watches: at an
 *    idle priority, any busy default-priority source elsewhere in the
 *    context would hold back D-Bus dispatch, while libdbus kept reading
 *    into an ever longer queue.
 *
 * The state hangs off the connection in a data slot, so the connection
 * finds it again in vmig_dbus_loop_detach() and frees it when it is
 * finalized.  libdbus calls the add/remove/toggled functions with the
 * connection lock held, so they never call back into the connection: they
 * only touch the GSources.
 *
 * Nothing here holds a reference to the connection (the connection owns
 * the state: that would be a cycle) except while calling into libdbus,
 * when a message handler might drop the last reference from outside.
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-dbus"

#include "driver/dbus-loop.h"

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-dbus-loop-error-quark, vmig_dbus_loop_error)
/* clang-format on */

/* The most messages one dispatch of the dispatch source delivers. */
#define VMIG_DBUS_LOOP_BATCH 64

/* How long to wait before dispatching again when libdbus was out of memory. */
#define VMIG_DBUS_LOOP_NO_MEMORY_RETRY_US (100 * G_TIME_SPAN_MILLISECOND)

typedef struct {
    GMainContext *context; /* owned reference */
    GSource *dispatch;     /* owned reference, attached */
    GPtrArray *sources;    /* of GSource *: watches and timeouts, attached */
} VmigDBusLoop;

typedef struct {
    GSource source;
    DBusConnection *connection; /* borrowed: outlives the source */
} VmigDBusLoopDispatch;

typedef struct {
    GSource source;
    DBusConnection *connection; /* borrowed: outlives the source */
    DBusWatch *watch;           /* borrowed: libdbus removes it before freeing it */
    gpointer tag;               /* (nullable) the polled fd; NULL while disabled */
} VmigDBusLoopWatch;

typedef struct {
    GSource source;
    DBusConnection *connection; /* borrowed: outlives the source */
    DBusTimeout *timeout;       /* borrowed: libdbus removes it before freeing it */
} VmigDBusLoopTimeout;

/*
 * One slot for every attached connection.  Each attached connection holds
 * one reference on it (dbus_connection_allocate_data_slot() counts them),
 * dropped when its state is freed, so the slot is released when the last
 * connection goes.  -1 while no connection is attached.
 */
static dbus_int32_t vmig_dbus_loop_slot = -1;

/* Returns: the state of @connection, or NULL if it is not attached. */
static VmigDBusLoop *
vmig_dbus_loop_get(DBusConnection *connection)
{
    if (vmig_dbus_loop_slot < 0)
        return NULL;
    return dbus_connection_get_data(connection, vmig_dbus_loop_slot);
}

/*
 * Makes the dispatch source of @connection run if messages are queued.
 * libdbus reports a change of dispatch status, not the status, so this is
 * how attach catches messages queued earlier, and how handling a watch or
 * a timeout makes sure it did not leave data behind unnoticed.
 */
static void
vmig_dbus_loop_kick(DBusConnection *connection)
{
    VmigDBusLoop *loop = vmig_dbus_loop_get(connection);

    if (loop == NULL)
        return;
    if (dbus_connection_get_dispatch_status(connection) == DBUS_DISPATCH_DATA_REMAINS)
        g_source_set_ready_time(loop->dispatch, 0);
}

/* ------------------------------------------------------------------------ */
/* Dispatch */

/* GSourceFuncs.dispatch of the dispatch source.  Returns: G_SOURCE_CONTINUE. */
static gboolean
vmig_dbus_loop_dispatch_dispatch(GSource *source, GSourceFunc callback G_GNUC_UNUSED,
                                 gpointer user_data G_GNUC_UNUSED)
{
    VmigDBusLoopDispatch *self = (VmigDBusLoopDispatch *)source;
    DBusConnection *connection = dbus_connection_ref(self->connection);
    DBusDispatchStatus status = DBUS_DISPATCH_COMPLETE;
    guint n;

    g_source_set_ready_time(source, -1);
    for (n = 0; n < VMIG_DBUS_LOOP_BATCH; n++) {
        status = dbus_connection_dispatch(connection);
        /*
         * A handler may have detached the connection: then this source is
         * destroyed and the state is gone; what is left to dispatch is for
         * whoever attaches next.
         */
        if (status != DBUS_DISPATCH_DATA_REMAINS || g_source_is_destroyed(source))
            break;
    }
    if (!g_source_is_destroyed(source)) {
        /*
         * The status function armed this source again for every message
         * queued meanwhile; what counts is the status now.
         */
        if (status == DBUS_DISPATCH_DATA_REMAINS)
            g_source_set_ready_time(source, 0);
        else if (status == DBUS_DISPATCH_NEED_MEMORY)
            g_source_set_ready_time(source, g_source_get_time(source) +
                                                VMIG_DBUS_LOOP_NO_MEMORY_RETRY_US);
        else
            g_source_set_ready_time(source, -1);
    }
    dbus_connection_unref(connection);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs vmig_dbus_loop_dispatch_funcs = {
    .dispatch = vmig_dbus_loop_dispatch_dispatch,
};

/* DBusDispatchStatusFunction: only takes note, as libdbus demands. */
static void
vmig_dbus_loop_on_dispatch_status(DBusConnection *connection G_GNUC_UNUSED,
                                  DBusDispatchStatus status, void *data)
{
    VmigDBusLoop *loop = data;

    if (status == DBUS_DISPATCH_DATA_REMAINS)
        g_source_set_ready_time(loop->dispatch, 0);
}

/*
 * DBusWakeupMainFunction: libdbus wants the main loop to look again (it
 * may come from another thread; g_source_set_ready_time() wakes the
 * context up).  The dispatch source checks the status when it runs.
 */
static void
vmig_dbus_loop_on_wakeup(void *data)
{
    VmigDBusLoop *loop = data;

    g_source_set_ready_time(loop->dispatch, 0);
}

/* ------------------------------------------------------------------------ */
/* Watches */

/* GSourceFuncs.dispatch of a watch source.  Returns: G_SOURCE_CONTINUE. */
static gboolean
vmig_dbus_loop_watch_dispatch(GSource *source, GSourceFunc callback G_GNUC_UNUSED,
                              gpointer user_data G_GNUC_UNUSED)
{
    VmigDBusLoopWatch *self = (VmigDBusLoopWatch *)source;
    DBusConnection *connection;
    GIOCondition cond;
    unsigned int flags = 0;

    /* Another source dispatched before this one may have disabled the watch. */
    if (self->tag == NULL)
        return G_SOURCE_CONTINUE;
    cond = g_source_query_unix_fd(source, self->tag);
    if (cond & G_IO_IN)
        flags |= DBUS_WATCH_READABLE;
    if (cond & G_IO_OUT)
        flags |= DBUS_WATCH_WRITABLE;
    if (cond & G_IO_HUP)
        flags |= DBUS_WATCH_HANGUP;
    if (cond & (G_IO_ERR | G_IO_NVAL))
        flags |= DBUS_WATCH_ERROR;
    if (flags == 0)
        return G_SOURCE_CONTINUE;

    /* Neither self nor self->watch may survive dbus_watch_handle(). */
    connection = dbus_connection_ref(self->connection);
    if (!dbus_watch_handle(self->watch, flags))
        g_debug("out of memory handling a watch: the fd stays ready");
    vmig_dbus_loop_kick(connection);
    dbus_connection_unref(connection);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs vmig_dbus_loop_watch_funcs = {
    .dispatch = vmig_dbus_loop_watch_dispatch,
};

/* Poll the fd of @self for what its watch wants, or not at all. */
static void
vmig_dbus_loop_watch_update(VmigDBusLoopWatch *self)
{
    unsigned int flags = dbus_watch_get_flags(self->watch);
    int fd = dbus_watch_get_unix_fd(self->watch);
    GIOCondition cond = G_IO_HUP | G_IO_ERR;

    if (flags & DBUS_WATCH_READABLE)
        cond |= G_IO_IN;
    if (flags & DBUS_WATCH_WRITABLE)
        cond |= G_IO_OUT;

    if (!dbus_watch_get_enabled(self->watch) || fd < 0) {
        if (self->tag != NULL)
            g_source_remove_unix_fd(&self->source, self->tag);
        self->tag = NULL;
    } else if (self->tag == NULL) {
        self->tag = g_source_add_unix_fd(&self->source, fd, cond);
    } else {
        g_source_modify_unix_fd(&self->source, self->tag, cond);
    }
}

/* DBusAddWatchFunction.  Returns: TRUE (GLib aborts when out of memory). */
static dbus_bool_t
vmig_dbus_loop_watch_add(DBusWatch *watch, void *data)
{
    VmigDBusLoop *loop = data;
    VmigDBusLoopDispatch *dispatch = (VmigDBusLoopDispatch *)loop->dispatch;
    GSource *source =
        g_source_new(&vmig_dbus_loop_watch_funcs, sizeof(VmigDBusLoopWatch));
    VmigDBusLoopWatch *self = (VmigDBusLoopWatch *)source;

    self->connection = dispatch->connection;
    self->watch = watch;
    g_source_set_static_name(source, "vmig-dbus-watch");
    vmig_dbus_loop_watch_update(self);
    g_source_attach(source, loop->context);
    g_ptr_array_add(loop->sources, source);
    dbus_watch_set_data(watch, source, NULL);
    return TRUE;
}

/* DBusRemoveWatchFunction. */
static void
vmig_dbus_loop_watch_remove(DBusWatch *watch, void *data)
{
    VmigDBusLoop *loop = data;
    GSource *source = dbus_watch_get_data(watch);

    if (source == NULL)
        return;
    dbus_watch_set_data(watch, NULL, NULL);
    g_ptr_array_remove_fast(loop->sources, source);
}

/* DBusWatchToggledFunction. */
static void
vmig_dbus_loop_watch_toggled(DBusWatch *watch, void *data G_GNUC_UNUSED)
{
    VmigDBusLoopWatch *self = dbus_watch_get_data(watch);

    if (self != NULL)
        vmig_dbus_loop_watch_update(self);
}

/* ------------------------------------------------------------------------ */
/* Timeouts */

/* Start the timer of @self afresh, or stop it if disabled. */
static void
vmig_dbus_loop_timeout_update(VmigDBusLoopTimeout *self)
{
    gint64 ready = -1;

    if (dbus_timeout_get_enabled(self->timeout))
        ready = g_get_monotonic_time() +
                dbus_timeout_get_interval(self->timeout) * G_TIME_SPAN_MILLISECOND;
    g_source_set_ready_time(&self->source, ready);
}

/* GSourceFuncs.dispatch of a timeout source.  Returns: G_SOURCE_CONTINUE. */
static gboolean
vmig_dbus_loop_timeout_dispatch(GSource *source, GSourceFunc callback G_GNUC_UNUSED,
                                gpointer user_data G_GNUC_UNUSED)
{
    VmigDBusLoopTimeout *self = (VmigDBusLoopTimeout *)source;
    DBusConnection *connection;

    /*
     * Re-arm first: the handler may disable or remove the timeout, which
     * must win over the re-arming.
     */
    g_source_set_ready_time(source, g_source_get_time(source) +
                                        dbus_timeout_get_interval(self->timeout) *
                                            G_TIME_SPAN_MILLISECOND);
    /* Neither self nor self->timeout may survive dbus_timeout_handle(). */
    connection = dbus_connection_ref(self->connection);
    if (!dbus_timeout_handle(self->timeout))
        g_debug("out of memory handling a timeout: it will fire again");
    vmig_dbus_loop_kick(connection);
    dbus_connection_unref(connection);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs vmig_dbus_loop_timeout_funcs = {
    .dispatch = vmig_dbus_loop_timeout_dispatch,
};

/* DBusAddTimeoutFunction.  Returns: TRUE (GLib aborts when out of memory). */
static dbus_bool_t
vmig_dbus_loop_timeout_add(DBusTimeout *timeout, void *data)
{
    VmigDBusLoop *loop = data;
    VmigDBusLoopDispatch *dispatch = (VmigDBusLoopDispatch *)loop->dispatch;
    GSource *source =
        g_source_new(&vmig_dbus_loop_timeout_funcs, sizeof(VmigDBusLoopTimeout));
    VmigDBusLoopTimeout *self = (VmigDBusLoopTimeout *)source;

    self->connection = dispatch->connection;
    self->timeout = timeout;
    g_source_set_static_name(source, "vmig-dbus-timeout");
    vmig_dbus_loop_timeout_update(self);
    g_source_attach(source, loop->context);
    g_ptr_array_add(loop->sources, source);
    dbus_timeout_set_data(timeout, source, NULL);
    return TRUE;
}

/* DBusRemoveTimeoutFunction. */
static void
vmig_dbus_loop_timeout_remove(DBusTimeout *timeout, void *data)
{
    VmigDBusLoop *loop = data;
    GSource *source = dbus_timeout_get_data(timeout);

    if (source == NULL)
        return;
    dbus_timeout_set_data(timeout, NULL, NULL);
    g_ptr_array_remove_fast(loop->sources, source);
}

/* DBusTimeoutToggledFunction. */
static void
vmig_dbus_loop_timeout_toggled(DBusTimeout *timeout, void *data G_GNUC_UNUSED)
{
    VmigDBusLoopTimeout *self = dbus_timeout_get_data(timeout);

    if (self != NULL)
        vmig_dbus_loop_timeout_update(self);
}

/* ------------------------------------------------------------------------ */
/* Attach and detach */

/* GDestroyNotify of the sources: take @data off its context and drop it. */
static void
vmig_dbus_loop_source_drop(gpointer data)
{
    GSource *source = data;

    g_source_destroy(source);
    g_source_unref(source);
}

/*
 * Free function of the data slot: runs on detach and when the connection is
 * finalized, in both cases after libdbus has removed the watches and
 * timeouts, so only the dispatch source is normally left.  The connection
 * may be half finalized here: do not call into it.
 */
static void
vmig_dbus_loop_free(gpointer data)
{
    VmigDBusLoop *loop = data;

    g_ptr_array_unref(loop->sources);
    vmig_dbus_loop_source_drop(loop->dispatch);
    g_main_context_unref(loop->context);
    g_free(loop);
    dbus_connection_free_data_slot(&vmig_dbus_loop_slot);
}

/*
 * The state for @connection on @context, with its dispatch source attached;
 * it holds a reference on the data slot, which the caller has allocated.
 * Returns: the new state (free with vmig_dbus_loop_free()).
 */
static VmigDBusLoop *
vmig_dbus_loop_new(DBusConnection *connection, GMainContext *context)
{
    VmigDBusLoop *loop = g_new0(VmigDBusLoop, 1);
    VmigDBusLoopDispatch *dispatch;

    loop->context = g_main_context_ref(context);
    loop->sources = g_ptr_array_new_with_free_func(vmig_dbus_loop_source_drop);
    loop->dispatch = g_source_new(&vmig_dbus_loop_dispatch_funcs, sizeof(*dispatch));
    dispatch = (VmigDBusLoopDispatch *)loop->dispatch;
    dispatch->connection = connection;
    g_source_set_static_name(loop->dispatch, "vmig-dbus-dispatch");
    g_source_attach(loop->dispatch, context);
    return loop;
}

/* Set @error for a failed libdbus allocation while @what.  Returns: FALSE. */
static gboolean
vmig_dbus_loop_no_memory(GError **error, const char *what)
{
    g_set_error(error, VMIG_DBUS_LOOP_ERROR, VMIG_DBUS_LOOP_ERROR_NO_MEMORY,
                "libdbus is out of memory %s", what);
    return FALSE;
}

/*
 * Serve @connection from @context (see dbus-loop.h).  The slot is set
 * first, so the remove functions run against a complete state if setting
 * the functions fails half-way.
 * Returns: TRUE, or FALSE with NO_MEMORY in @error.
 */
gboolean
vmig_dbus_loop_attach(DBusConnection *connection, GMainContext *context, GError **error)
{
    VmigDBusLoop *loop;

    g_return_val_if_fail(connection != NULL, FALSE);
    g_return_val_if_fail(context != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    g_return_val_if_fail(vmig_dbus_loop_get(connection) == NULL, FALSE);

    if (!dbus_connection_allocate_data_slot(&vmig_dbus_loop_slot))
        return vmig_dbus_loop_no_memory(error, "allocating a data slot");
    loop = vmig_dbus_loop_new(connection, context);
    if (!dbus_connection_set_data(connection, vmig_dbus_loop_slot, loop,
                                  vmig_dbus_loop_free)) {
        vmig_dbus_loop_free(loop);
        return vmig_dbus_loop_no_memory(error, "attaching to a connection");
    }

    /* Setting the functions calls the add functions for the existing watches. */
    if (!dbus_connection_set_watch_functions(connection, vmig_dbus_loop_watch_add,
                                             vmig_dbus_loop_watch_remove,
                                             vmig_dbus_loop_watch_toggled, loop, NULL) ||
        !dbus_connection_set_timeout_functions(
            connection, vmig_dbus_loop_timeout_add, vmig_dbus_loop_timeout_remove,
            vmig_dbus_loop_timeout_toggled, loop, NULL)) {
        vmig_dbus_loop_detach(connection);
        return vmig_dbus_loop_no_memory(error, "adding watches and timeouts");
    }
    dbus_connection_set_dispatch_status_function(
        connection, vmig_dbus_loop_on_dispatch_status, loop, NULL);
    dbus_connection_set_wakeup_main_function(connection, vmig_dbus_loop_on_wakeup, loop,
                                             NULL);
    vmig_dbus_loop_kick(connection);
    return TRUE;
}

/*
 * Stop serving @connection; nothing if it is not attached.  The functions
 * are reset before the slot is cleared, because libdbus calls the remove
 * functions with the state as their data.
 */
void
vmig_dbus_loop_detach(DBusConnection *connection)
{
    g_return_if_fail(connection != NULL);

    if (vmig_dbus_loop_get(connection) == NULL)
        return;
    /* Resetting calls the remove functions, which destroy the watch and timeout sources.
     */
    dbus_connection_set_watch_functions(connection, NULL, NULL, NULL, NULL, NULL);
    dbus_connection_set_timeout_functions(connection, NULL, NULL, NULL, NULL, NULL);
    dbus_connection_set_dispatch_status_function(connection, NULL, NULL, NULL);
    dbus_connection_set_wakeup_main_function(connection, NULL, NULL, NULL);
    /* Clearing the slot frees the state (vmig_dbus_loop_free()). */
    dbus_connection_set_data(connection, vmig_dbus_loop_slot, NULL, NULL);
}
