/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.h: accepting connections without ever spinning
 *
 * A listener watches a listening socket on a GMainContext and hands every
 * connection it accepts (non-blocking, close-on-exec) to its callback, at
 * most VMIG_LISTENER_BATCH per wakeup so that one busy socket cannot
 * starve the rest of the loop.
 *
 * Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM),
 * the connection at the head of the queue cannot be accepted and the
 * socket stays readable: polling it again at once would spin.  The
 * listener then closes the process's one reserve descriptor, accepts that
 * connection and closes it at once (its client learns now, instead of
 * waiting for a timeout of its own), takes the reserve back, and stops
 * polling for a back-off that doubles from VMIG_LISTENER_BACKOFF_MIN_MS to
 * VMIG_LISTENER_BACKOFF_MAX_MS while the shortage lasts.  One warning is
 * logged per shortage, not one per connection.
 */
#pragma once

#include <glib.h>

/* Connections accepted per wakeup. */
#define VMIG_LISTENER_BATCH 16
/* The back-off when accepting fails for want of resources. */
#define VMIG_LISTENER_BACKOFF_MIN_MS 100
#define VMIG_LISTENER_BACKOFF_MAX_MS 1000

typedef struct _VmigListener VmigListener;

/*
 * Called on the listener's context with each accepted connection in *@fdp:
 * the callback takes it (and sets *@fdp to -1) or leaves it, and the
 * listener closes it.  The callback may free the listener.
 */
typedef void (*VmigListenerFunc)(int *fdp, gpointer user_data);

/*
 * vmig_listener_new:
 * @context: where accepting runs
 * @listen_fd: a listening stream socket (borrowed: the caller closes it
 *             after vmig_listener_free())
 * @what: names the socket in messages, e.g. "unix:/run/x.sock"
 * Returns: the listener, already watching.
 */
VmigListener *vmig_listener_new(GMainContext *context, int listen_fd, const char *what,
                                VmigListenerFunc func, gpointer user_data);

/* Stops watching and frees; the socket itself stays open. */
void vmig_listener_free(VmigListener *listener);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigListener, vmig_listener_free)

/*
 * Makes sure the process holds its reserve descriptor; the first listener
 * does it, and a daemon calls it at start, when descriptors are plentiful.
 * Returns: TRUE when the reserve is held.
 */
gboolean vmig_listener_reserve(void);
