/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dbus-loop.h: a libdbus connection served by a GLib main context
 *
 * libdbus does no I/O of its own in the background: it tells a main loop
 * which file descriptors to poll (watches), which timers to run (timeouts,
 * e.g. for the reply to a method call) and when queued messages wait to be
 * dispatched.  This module is that main loop integration for an explicit
 * GMainContext, so a connection can be served by a worker thread's context
 * rather than the global default one.
 *
 * Thread safety: a connection must only be used, attached and detached
 * from the thread that iterates its context.
 */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

#define VMIG_DBUS_LOOP_ERROR (vmig_dbus_loop_error_quark())
GQuark vmig_dbus_loop_error_quark(void);

typedef enum {
    VMIG_DBUS_LOOP_ERROR_NO_MEMORY, /* libdbus could not allocate */
    VMIG_DBUS_LOOP_ERROR_LAST
} VmigDBusLoopErrorCode;

/*
 * Makes @context serve @connection: its watches become unix-fd sources,
 * its timeouts GLib timeout sources, and queued messages are dispatched
 * from a source of @context whenever the dispatch status says
 * DBUS_DISPATCH_DATA_REMAINS (also woken by the wakeup-main function).
 * Everything is attached to @context (never the global default one).
 * The connection keeps the state in a data slot, so one attach per
 * connection; attaching twice is a programming error (g_return_val_if_fail).
 * Returns: TRUE, or FALSE with @error set (libdbus out of memory).
 */
gboolean vmig_dbus_loop_attach(DBusConnection *connection, GMainContext *context,
                               GError **error);

/*
 * Undoes vmig_dbus_loop_attach(): every source is destroyed and the
 * connection's watch/timeout/dispatch functions are reset. Safe to call
 * on a connection that was never attached, and from a message handler of
 * the connection itself. Call it before the last unref of the connection
 * (after dbus_connection_close for private ones).
 */
void vmig_dbus_loop_detach(DBusConnection *connection);
