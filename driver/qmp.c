/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp.c: an asynchronous QMP client
 *
 * One unix socket, one GSource on the client's GMainContext.  The socket is
 * non-blocking from the start (SOCK_NONBLOCK) and so is connect(): a unix
 * stream connect either completes at once or fails at once on Linux (EAGAIN
 * when the listener's backlog is full is a CONNECT error like any other),
 * and an EINPROGRESS, should a kernel ever return one, is finished when the
 * socket becomes writable.  The source (g_source_add_unix_fd, so that one
 * source can change what it waits for) watches G_IO_IN always and G_IO_OUT
 * only while something waits to be written.
 *
 * A client makes one connection.  "closed" is emitted only for a connection
 * that was open: a connect that fails says so through its callback alone.
 *
 * Input is cut into lines on '\n' (QEMU ends them with "\r\n"; the '\r' is
 * dropped) and every line is one JSON object: the greeting, a reply
 * ({"return"} or {"error"}, carrying the "id" we sent) or an event.
 * Output is a queue of whole command lines written in call order; a line
 * that carries fds sends them with its first byte, in one sendmsg.
 *
 * Lifetime: every GTask holds a reference on the client (GTask always refs
 * its source object), so the client cannot be finalized under a pending
 * call; vmig_qmp_close() is how a caller fails pending calls now.  Dispose
 * closes whatever is still open.
 *
 * Threading: none.  Call every function from the thread that runs the
 * client's context (or while no thread runs it).  Callbacks and signals are
 * delivered on that context; vmig_qmp_close() emits "closed" synchronously.
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-qmp"

#include "driver/qmp-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass/fd.h"
#include "fdpass/fdpass.h"
#include "json/reader.h"
#include "json/writer.h"

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-qmp-error-quark, vmig_qmp_error)
/* clang-format on */

/* One name a line: keep clang-format from packing the table. */
/* clang-format off */
static const char *const vmig_qmp_state_names[] = {
    [VMIG_QMP_STATE_NEW] = "new",
    [VMIG_QMP_STATE_CONNECTING] = "connecting",
    [VMIG_QMP_STATE_GREETING] = "greeting",
    [VMIG_QMP_STATE_NEGOTIATING] = "negotiating",
    [VMIG_QMP_STATE_OPEN] = "open",
    [VMIG_QMP_STATE_CLOSED] = "closed",
};
/* clang-format on */
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_qmp_state_names) == VMIG_QMP_STATE_LAST);

G_DEFINE_FINAL_TYPE(VmigQmp, vmig_qmp, G_TYPE_OBJECT)

guint vmig_qmp_signals[SIGNAL_LAST];

/* ------------------------------------------------------------------------ */
/* Calls and queued lines */

/* Free @call, dropping its cancellable watch. */
static void
vmig_qmp_call_free(VmigQmpCall *call)
{
    if (call->cancel_source) {
        g_source_destroy(call->cancel_source);
        g_source_unref(call->cancel_source);
    }
    /* Every path returns the task before freeing the call. */
    g_warn_if_fail(call->task == NULL);
    g_clear_object(&call->task);
    g_free(call->command);
    g_free(call->id);
    g_free(call);
}

/* Close the fds of @out and free it. */
void
vmig_qmp_out_free(VmigQmpOut *out)
{
    vmig_fdpass_close_all(out->fds, out->nfds);
    g_free(out->data);
    g_free(out);
}

/*
 * Create a GTask whose callback runs on the client's context: GTask takes
 * the thread-default context at creation time.
 * Returns: (transfer full) the task.
 */
static GTask *
vmig_qmp_task_new(VmigQmp *qmp, GCancellable *cancellable, GAsyncReadyCallback callback,
                  gpointer user_data, gpointer source_tag)
{
    GTask *task;

    g_main_context_push_thread_default(qmp->context);
    task = g_task_new(qmp, cancellable, callback, user_data);
    g_main_context_pop_thread_default(qmp->context);
    g_task_set_source_tag(task, source_tag);
    return task;
}

/* ------------------------------------------------------------------------ */
/* Closing */

/*
 * The error a pending call fails with when the connection ends for
 * @reason.  Returns: (transfer full) a new error.
 */
static GError *
vmig_qmp_call_error(const VmigQmpCall *call, const GError *reason)
{
    return g_error_new(reason->domain, reason->code, "No reply to '%s': %s",
                       call->command, reason->message);
}

/*
 * Close the connection for @reason (consumed): the socket goes, queued
 * lines are dropped, every pending call and a pending connect fail, and
 * "closed" is emitted once when @notify and the connection had been open.
 * Idempotent.
 */
void
vmig_qmp_close_with_error(VmigQmp *qmp, GError *reason, gboolean notify)
{
    g_autoptr(GError) owned_reason = reason;
    g_autoptr(GPtrArray) calls =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmig_qmp_call_free);
    g_autoptr(GTask) connect_task = NULL;
    GHashTableIter iter;
    gpointer value;
    VmigQmpOut *out;
    gboolean was_open;
    guint i;

    if (qmp->state == VMIG_QMP_STATE_CLOSED)
        return;

    g_debug("closing QMP connection on '%s' (state %s): %s",
            qmp->path ? qmp->path : "(none)", vmig_qmp_state_names[qmp->state],
            owned_reason->message);
    was_open = qmp->state == VMIG_QMP_STATE_OPEN;
    qmp->state = VMIG_QMP_STATE_CLOSED;

    /* Everything is taken apart before any callback can run. */
    g_object_ref(qmp);
    if (qmp->source) {
        g_source_destroy(&qmp->source->source);
        g_source_unref(&qmp->source->source);
        qmp->source = NULL;
    }
    vmig_fd_clear(&qmp->fd);
    g_byte_array_set_size(qmp->inbuf, 0);
    qmp->scanned = 0;
    while ((out = g_queue_pop_head(&qmp->outq)))
        vmig_qmp_out_free(out);

    g_hash_table_iter_init(&iter, qmp->calls);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        g_hash_table_iter_steal(&iter);
        g_ptr_array_add(calls, value);
    }
    if (qmp->connect_cancel_source) {
        g_source_destroy(qmp->connect_cancel_source);
        g_clear_pointer(&qmp->connect_cancel_source, g_source_unref);
    }
    connect_task = g_steal_pointer(&qmp->connect_task);

    for (i = 0; i < calls->len; i++) {
        VmigQmpCall *call = calls->pdata[i];

        if (call->task) {
            g_autoptr(GTask) task = g_steal_pointer(&call->task);

            g_task_return_error(task, vmig_qmp_call_error(call, owned_reason));
        }
    }
    if (connect_task)
        g_task_return_error(connect_task, g_error_copy(owned_reason));

    if (notify && was_open)
        g_signal_emit(qmp, vmig_qmp_signals[SIGNAL_CLOSED], 0, owned_reason);
    g_object_unref(qmp);
}

/* Close because of a protocol violation described by @fmt. */
void
vmig_qmp_fail_protocol(VmigQmp *qmp, const char *fmt, ...)
{
    va_list ap;
    GError *reason;

    va_start(ap, fmt);
    reason = g_error_new_valist(VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL, fmt, ap);
    va_end(ap);
    vmig_qmp_close_with_error(qmp, reason, TRUE);
}

/* ------------------------------------------------------------------------ */
/* Cancellation */

/* GCancellableSourceFunc for a pending call.  Returns: G_SOURCE_REMOVE. */
static gboolean
vmig_qmp_call_cancelled(GCancellable *cancellable, gpointer user_data)
{
    VmigQmpCall *call = user_data;
    VmigQmp *qmp = call->qmp;
    g_autoptr(GTask) task = g_steal_pointer(&call->task);
    GList *link;

    g_debug("call %s ('%s') cancelled", call->id, call->command);
    g_clear_pointer(&call->cancel_source, g_source_unref);

    /* Not a byte sent yet: the command never goes out, no reply will come. */
    for (link = qmp->outq.head; link; link = link->next) {
        VmigQmpOut *out = link->data;

        if (out->call == call) {
            if (out->off == 0) {
                g_queue_delete_link(&qmp->outq, link);
                vmig_qmp_out_free(out);
                g_hash_table_remove(qmp->calls, call->id);
                vmig_qmp_update_watch(qmp);
            }
            break;
        }
    }
    /* Otherwise the call stays known, so that its reply is recognised. */
    if (task)
        g_task_return_error_if_cancelled(task);
    return G_SOURCE_REMOVE;
}

/* GCancellableSourceFunc for a pending connect.  Returns: G_SOURCE_REMOVE. */
static gboolean
vmig_qmp_connect_cancelled(GCancellable *cancellable, gpointer user_data)
{
    VmigQmp *qmp = user_data;
    g_autoptr(GError) error = NULL;

    g_clear_pointer(&qmp->connect_cancel_source, g_source_unref);
    g_cancellable_set_error_if_cancelled(cancellable, &error);
    vmig_qmp_close_with_error(qmp, g_steal_pointer(&error), TRUE);
    return G_SOURCE_REMOVE;
}

/* Returns: (transfer full) a cancellable source on the client's context. */
static GSource *
vmig_qmp_watch_cancellable(VmigQmp *qmp, GCancellable *cancellable,
                           GCancellableSourceFunc func, gpointer data)
{
    GSource *source = g_cancellable_source_new(cancellable);

    g_source_set_static_name(source, "vmig-qmp-cancel");
    g_source_set_callback(source, G_SOURCE_FUNC(func), data, NULL);
    g_source_attach(source, qmp->context);
    return source;
}

/* ------------------------------------------------------------------------ */
/* GObject */

/* GObjectClass.dispose: close without a "closed" signal. */
static void
vmig_qmp_dispose(GObject *object)
{
    VmigQmp *qmp = VMIG_QMP(object);

    if (qmp->state != VMIG_QMP_STATE_CLOSED)
        vmig_qmp_close_with_error(qmp,
                                  g_error_new(VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                                              "The QMP client for '%s' was freed",
                                              qmp->path ? qmp->path : "(unconnected)"),
                                  FALSE);
    G_OBJECT_CLASS(vmig_qmp_parent_class)->dispose(object);
}

/* GObjectClass.finalize. */
static void
vmig_qmp_finalize(GObject *object)
{
    VmigQmp *qmp = VMIG_QMP(object);

    g_hash_table_unref(qmp->calls);
    g_byte_array_unref(qmp->inbuf);
    g_clear_pointer(&qmp->greeting, json_object_unref);
    g_free(qmp->hypervisor);
    g_free(qmp->path);
    g_main_context_unref(qmp->context);
    G_OBJECT_CLASS(vmig_qmp_parent_class)->finalize(object);
}

/* Class initialisation: signals. */
static void
vmig_qmp_class_init(VmigQmpClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = vmig_qmp_dispose;
    object_class->finalize = vmig_qmp_finalize;

    vmig_qmp_signals[SIGNAL_EVENT] =
        g_signal_new("event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 3, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                     JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE,
                     JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE);
    vmig_qmp_signals[SIGNAL_CLOSED] =
        g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}

/* Instance initialisation. */
static void
vmig_qmp_init(VmigQmp *qmp)
{
    qmp->fd = -1;
    qmp->state = VMIG_QMP_STATE_NEW;
    qmp->inbuf = g_byte_array_new();
    g_queue_init(&qmp->outq);
    qmp->calls = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify)vmig_qmp_call_free);
}

/* ------------------------------------------------------------------------ */
/* Public API */

/* Returns: a new client whose I/O and callbacks run on @context (NULL: the default). */
VmigQmp *
vmig_qmp_new(GMainContext *context)
{
    VmigQmp *qmp = g_object_new(VMIG_TYPE_QMP, NULL);

    qmp->context = g_main_context_ref(context ? context : g_main_context_default());
    return qmp;
}

/*
 * Start connecting to @path: the rest (greeting, qmp_capabilities) happens
 * on the client's context; the callback has the result.
 */
void
vmig_qmp_connect_async(VmigQmp *qmp, const char *path, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_auto(VmigFd) fd = -1;
    struct sockaddr_un addr;
    int rc;

    g_return_if_fail(VMIG_IS_QMP(qmp));
    g_return_if_fail(path != NULL);
    g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

    task =
        vmig_qmp_task_new(qmp, cancellable, callback, user_data, vmig_qmp_connect_async);
    if (qmp->state != VMIG_QMP_STATE_NEW) {
        g_task_return_new_error(task, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT,
                                "Cannot connect to the QMP socket '%s': this client was "
                                "already used for '%s'",
                                path, qmp->path);
        return;
    }
    qmp->path = g_strdup(path);
    if (g_task_return_error_if_cancelled(task)) {
        qmp->state = VMIG_QMP_STATE_CLOSED;
        return;
    }

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        qmp->state = VMIG_QMP_STATE_CLOSED;
        g_task_return_new_error(task, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT,
                                "Cannot connect to the QMP socket '%s': the path is "
                                "longer than %" G_GSIZE_FORMAT " bytes",
                                path, sizeof(addr.sun_path) - 1);
        return;
    }
    memcpy(addr.sun_path, path, strlen(path));

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int err = errno;

        qmp->state = VMIG_QMP_STATE_CLOSED;
        g_task_return_new_error(task, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT,
                                "Cannot create a socket for '%s': %s", path,
                                g_strerror(err));
        return;
    }
    do {
        rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        int err = errno;

        qmp->state = VMIG_QMP_STATE_CLOSED;
        g_task_return_new_error(task, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT,
                                "Cannot connect to the QMP socket '%s': %s", path,
                                g_strerror(err));
        return;
    }
    g_debug("connecting to '%s'%s", path, rc < 0 ? " (in progress)" : "");

    qmp->fd = vmig_fd_steal(&fd);
    qmp->state = rc < 0 ? VMIG_QMP_STATE_CONNECTING : VMIG_QMP_STATE_GREETING;
    vmig_qmp_attach_source(qmp);
    qmp->connect_task = g_steal_pointer(&task);
    if (cancellable)
        qmp->connect_cancel_source =
            vmig_qmp_watch_cancellable(qmp, cancellable, vmig_qmp_connect_cancelled, qmp);
}

/* Returns: TRUE once the monitor is ready for commands, or FALSE with @error. */
gboolean
vmig_qmp_connect_finish(VmigQmp *qmp, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(VMIG_IS_QMP(qmp), FALSE);
    g_return_val_if_fail(g_task_is_valid(result, qmp), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == vmig_qmp_connect_async,
                         FALSE);

    return g_task_propagate_boolean(G_TASK(result), error);
}

/*
 * Queue @command for sending; its reply (or failure) goes to @callback on
 * the client's context.
 */
void
vmig_qmp_execute_async(VmigQmp *qmp, const char *command, JsonObject *arguments,
                       const int *fds, gsize nfds, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    VmigQmpCall *call;

    g_return_if_fail(VMIG_IS_QMP(qmp));
    g_return_if_fail(command != NULL);
    g_return_if_fail(fds != NULL || nfds == 0);
    g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

    task =
        vmig_qmp_task_new(qmp, cancellable, callback, user_data, vmig_qmp_execute_async);
    g_task_set_task_data(task, g_strdup(command), g_free);

    if (qmp->state != VMIG_QMP_STATE_OPEN) {
        if (!qmp->path)
            g_task_return_new_error(task, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                                    "Cannot send '%s': the QMP client is not connected",
                                    command);
        else
            g_task_return_new_error(
                task, VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                "Cannot send '%s': the QMP connection to '%s' is %s", command, qmp->path,
                qmp->state == VMIG_QMP_STATE_CLOSED ? "closed" : "not open yet");
        return;
    }
    if (g_task_return_error_if_cancelled(task))
        return;

    call = vmig_qmp_queue_command(qmp, command, arguments, fds, nfds, &error);
    if (!call) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    call->task = g_steal_pointer(&task);
    if (cancellable)
        call->cancel_source =
            vmig_qmp_watch_cancellable(qmp, cancellable, vmig_qmp_call_cancelled, call);
}

/* Returns: the reply's "return" value (owned by the caller), or NULL with @error. */
JsonNode *
vmig_qmp_execute_finish(VmigQmp *qmp, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(VMIG_IS_QMP(qmp), NULL);
    g_return_val_if_fail(g_task_is_valid(result, qmp), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == vmig_qmp_execute_async,
                         NULL);

    return g_task_propagate_pointer(G_TASK(result), error);
}

/* Returns: the greeting's "QMP" object (owned by @qmp), NULL before connecting. */
JsonObject *
vmig_qmp_get_greeting(VmigQmp *qmp)
{
    g_return_val_if_fail(VMIG_IS_QMP(qmp), NULL);

    return qmp->greeting;
}

/* Returns: "QEMU X.Y.Z (package)" (owned by @qmp), or NULL before connecting. */
const char *
vmig_qmp_get_hypervisor(VmigQmp *qmp)
{
    g_return_val_if_fail(VMIG_IS_QMP(qmp), NULL);

    return qmp->hypervisor;
}

/* Returns: the pid of the process at the other end (SO_PEERCRED), or 0. */
GPid
vmig_qmp_get_peer_pid(VmigQmp *qmp)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    g_return_val_if_fail(VMIG_IS_QMP(qmp), 0);
    if (qmp->fd < 0 || getsockopt(qmp->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return 0;
    return cred.pid;
}

/* Returns: TRUE while connected and not closed. */
gboolean
vmig_qmp_is_open(VmigQmp *qmp)
{
    g_return_val_if_fail(VMIG_IS_QMP(qmp), FALSE);

    return qmp->state == VMIG_QMP_STATE_OPEN;
}

/*
 * Close the connection: pending calls fail with VMIG_QMP_ERROR_CLOSED and
 * "closed" is emitted.  Idempotent.
 */
void
vmig_qmp_close(VmigQmp *qmp)
{
    g_return_if_fail(VMIG_IS_QMP(qmp));

    if (qmp->state == VMIG_QMP_STATE_CLOSED)
        return;
    vmig_qmp_close_with_error(qmp,
                              g_error_new(VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                                          "The QMP connection to '%s' was closed",
                                          qmp->path ? qmp->path : "(unconnected)"),
                              TRUE);
}
