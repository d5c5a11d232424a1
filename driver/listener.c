/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.c: accepting connections without ever spinning (the contract is
 * listener.h)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-listener"

#include "driver/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <unistd.h>

struct _VmigListener {
    GMainContext *context;
    int fd;
    char *what;
    VmigListenerFunc func;
    gpointer user_data;
    GSource *watch;   /* polling the socket, or NULL while backing off */
    GSource *backoff; /* re-arms the watch, or NULL */
    guint backoff_ms; /* the next pause; 0 while accepting works */
    gboolean *freed;  /* set when freed from inside the callback */
};

/*
 * The process's reserve descriptor: one slot kept free for accepting (and
 * closing) a connection when all the others are taken.  Only the thread
 * running the listeners' contexts touches it.
 */
static int vmig_listener_reserve_fd = -1;

gboolean
vmig_listener_reserve(void)
{
    if (vmig_listener_reserve_fd < 0)
        vmig_listener_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return vmig_listener_reserve_fd >= 0;
}

/*
 * Accepts the connection at the head of @fd's queue with the reserve
 * descriptor's slot and closes it.  Returns: TRUE when one was shed.
 */
static gboolean
vmig_listener_shed(int fd)
{
    int conn;

    if (vmig_listener_reserve_fd < 0)
        return FALSE;
    close(vmig_listener_reserve_fd);
    vmig_listener_reserve_fd = -1;
    conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn >= 0)
        close(conn);
    /* Another thread may take the slot first; the next shortage tries again. */
    vmig_listener_reserve();
    return conn >= 0;
}

static gboolean vmig_listener_ready(int fd, GIOCondition condition, gpointer user_data);

/* Starts polling the socket. */
static void
vmig_listener_watch(VmigListener *listener)
{
    listener->watch = g_unix_fd_source_new(listener->fd, G_IO_IN);
    g_source_set_callback(listener->watch, G_SOURCE_FUNC(vmig_listener_ready), listener,
                          NULL);
    g_source_set_static_name(listener->watch, "vmig-listener");
    g_source_attach(listener->watch, listener->context);
}

/* The back-off is over.  Returns: G_SOURCE_REMOVE. */
static gboolean
vmig_listener_resume(gpointer user_data)
{
    VmigListener *listener = user_data;

    g_clear_pointer(&listener->backoff, g_source_unref);
    vmig_listener_watch(listener);
    return G_SOURCE_REMOVE;
}

/*
 * Accepting failed for want of @err: sheds the connection that cannot be
 * taken and pauses.
 */
static void
vmig_listener_pause(VmigListener *listener, int err)
{
    gboolean shed = vmig_listener_shed(listener->fd);

    if (listener->backoff_ms == 0) {
        listener->backoff_ms = VMIG_LISTENER_BACKOFF_MIN_MS;
        g_warning("cannot accept connections on %s: %s; %s, and accepting pauses "
                  "for %u to %u ms while this lasts",
                  listener->what, g_strerror(err),
                  shed ? "the next one was closed" : "connections wait",
                  VMIG_LISTENER_BACKOFF_MIN_MS, VMIG_LISTENER_BACKOFF_MAX_MS);
    } else {
        g_debug("%s: still %s; pausing %u ms", listener->what, g_strerror(err),
                listener->backoff_ms);
    }
    g_source_destroy(listener->watch);
    g_clear_pointer(&listener->watch, g_source_unref);
    listener->backoff = g_timeout_source_new(listener->backoff_ms);
    g_source_set_callback(listener->backoff, vmig_listener_resume, listener, NULL);
    g_source_attach(listener->backoff, listener->context);
    listener->backoff_ms = MIN(listener->backoff_ms * 2, VMIG_LISTENER_BACKOFF_MAX_MS);
}

/*
 * The socket is readable: accepts a batch.  Returns: G_SOURCE_CONTINUE, or
 * G_SOURCE_REMOVE once paused or freed.
 */
static gboolean
vmig_listener_ready(int fd, GIOCondition condition, gpointer user_data)
{
    VmigListener *listener = user_data;
    gboolean freed = FALSE;
    guint i;

    for (i = 0; i < VMIG_LISTENER_BATCH; i++) {
        int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (conn < 0) {
            int err = errno;

            if (err == EINTR || err == ECONNABORTED || err == EPROTO)
                continue;
            if (err == EAGAIN || err == EWOULDBLOCK)
                break;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                vmig_listener_pause(listener, err);
                return G_SOURCE_REMOVE;
            }
            /* Not a passing shortage (EBADF, EINVAL: a bug), but never a spin. */
            g_warning("cannot accept connections on %s: %s", listener->what,
                      g_strerror(err));
            vmig_listener_pause(listener, err);
            return G_SOURCE_REMOVE;
        }
        if (listener->backoff_ms) {
            g_message("accepting connections on %s again", listener->what);
            listener->backoff_ms = 0;
        }
        listener->freed = &freed;
        listener->func(&conn, listener->user_data);
        if (conn >= 0)
            close(conn);
        if (freed)
            return G_SOURCE_REMOVE;
        listener->freed = NULL;
    }
    return G_SOURCE_CONTINUE;
}

VmigListener *
vmig_listener_new(GMainContext *context, int listen_fd, const char *what,
                  VmigListenerFunc func, gpointer user_data)
{
    VmigListener *listener = g_new0(VmigListener, 1);

    vmig_listener_reserve();
    listener->context = context;
    listener->fd = listen_fd;
    listener->what = g_strdup(what);
    listener->func = func;
    listener->user_data = user_data;
    vmig_listener_watch(listener);
    return listener;
}

void
vmig_listener_free(VmigListener *listener)
{
    if (!listener)
        return;
    if (listener->freed)
        *listener->freed = TRUE;
    if (listener->watch) {
        g_source_destroy(listener->watch);
        g_source_unref(listener->watch);
    }
    if (listener->backoff) {
        g_source_destroy(listener->backoff);
        g_source_unref(listener->backoff);
    }
    g_free(listener->what);
    g_free(listener);
}
