/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp-io.c: the QMP client's input and output: the one I/O source, the
 * queue of command lines (fds go with a line's first byte), and the lines
 * that come in: the greeting, replies matched to their calls by id, and
 * events.  The contract is qmp.h; qmp.c describes the whole client.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-qmp"

#include "driver/qmp-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass/fd.h"
#include "fdpass/fdpass.h"
#include "json/writer.h"

/* ------------------------------------------------------------------------ */
/* The I/O source */

/* Set the conditions the source waits for from the state and queue. */
void
vmig_qmp_update_watch(VmigQmp *qmp)
{
    GIOCondition want;

    if (!qmp->source)
        return;
    if (qmp->state == VMIG_QMP_STATE_CONNECTING)
        want = G_IO_OUT;
    else if (g_queue_is_empty(&qmp->outq))
        want = G_IO_IN;
    else
        want = G_IO_IN | G_IO_OUT;
    if (want != qmp->watching) {
        g_source_modify_unix_fd(&qmp->source->source, qmp->source->tag, want);
        qmp->watching = want;
    }
}

static void vmig_qmp_handle_io(VmigQmp *qmp, GIOCondition revents);

/* GSourceFuncs.dispatch.  Returns: G_SOURCE_CONTINUE (close destroys the source). */
static gboolean
vmig_qmp_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    VmigQmpSource *qsource = (VmigQmpSource *)source;
    GIOCondition revents = g_source_query_unix_fd(source, qsource->tag);
    VmigQmp *qmp = qsource->qmp;

    /* Callbacks run from here may drop the caller's last reference. */
    g_object_ref(qmp);
    vmig_qmp_handle_io(qmp, revents);
    g_object_unref(qmp);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs vmig_qmp_source_funcs = {
    .dispatch = vmig_qmp_source_dispatch,
};

/* Attach the I/O source for qmp->fd to the client's context. */
void
vmig_qmp_attach_source(VmigQmp *qmp)
{
    GSource *source = g_source_new(&vmig_qmp_source_funcs, sizeof(VmigQmpSource));
    VmigQmpSource *qsource = (VmigQmpSource *)source;

    g_source_set_static_name(source, "vmig-qmp");
    qsource->qmp = qmp;
    qmp->watching = qmp->state == VMIG_QMP_STATE_CONNECTING ? G_IO_OUT : G_IO_IN;
    qsource->tag = g_source_add_unix_fd(source, qmp->fd, qmp->watching);
    g_source_attach(source, qmp->context);
    qmp->source = qsource;
}

/* ------------------------------------------------------------------------ */
/* Sending */

/*
 * Queue @command with @arguments for sending, with a copy of @fds, and
 * register a call for its reply (@task may be NULL).
 * Returns: the call (owned by qmp->calls), or NULL with @error set.
 */
VmigQmpCall *
vmig_qmp_queue_command(VmigQmp *qmp, const char *command, JsonObject *arguments,
                       const int *fds, gsize nfds, GError **error)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    g_autofree int *dups = NULL;
    g_autofree char *id = NULL;
    VmigQmpCall *call;
    VmigQmpOut *out;
    GString *line;
    gsize i;

    if (nfds > VMIG_FDPASS_MAX_FDS) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "Cannot pass %" G_GSIZE_FORMAT " fds with '%s' (at most %d)", nfds,
                    command, VMIG_FDPASS_MAX_FDS);
        return NULL;
    }
    if (nfds > 0) {
        dups = g_new(int, nfds);
        for (i = 0; i < nfds; i++) {
            dups[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            if (dups[i] < 0) {
                int err = errno;

                vmig_fdpass_close_all(g_steal_pointer(&dups), i);
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                            "Cannot duplicate fd %d for '%s': %s", fds[i], command,
                            g_strerror(err));
                return NULL;
            }
        }
    }

    id = g_strdup_printf("vmig-%" G_GUINT64_FORMAT, ++qmp->next_id);
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "execute");
    json_builder_add_string_value(builder, command);
    if (arguments) {
        JsonNode *node = json_node_alloc();

        json_node_init_object(node, arguments);
        json_builder_set_member_name(builder, "arguments");
        json_builder_add_value(builder, node);
    }
    json_builder_set_member_name(builder, "id");
    json_builder_add_string_value(builder, id);
    json_builder_end_object(builder);
    root = json_builder_get_root(builder);
    text = vmig_json_write(root, FALSE, NULL);

    line = g_string_new(text);
    g_debug("-> %.*s%s%s", (int)MIN(line->len, 1024), line->str,
            line->len > 1024 ? "..." : "", nfds > 0 ? " (with fds)" : "");
    g_string_append_c(line, '\n');

    call = g_new0(VmigQmpCall, 1);
    call->qmp = qmp;
    call->id = g_steal_pointer(&id);
    call->command = g_strdup(command);
    g_hash_table_insert(qmp->calls, call->id, call);

    out = g_new0(VmigQmpOut, 1);
    out->len = line->len;
    out->data = g_string_free(line, FALSE);
    out->fds = g_steal_pointer(&dups);
    out->nfds = nfds;
    out->call = call;
    g_queue_push_tail(&qmp->outq, out);
    vmig_qmp_update_watch(qmp);
    return call;
}

/*
 * Write queued lines until the queue is empty or the socket is full; a
 * write error closes the connection.
 */
static void
vmig_qmp_flush(VmigQmp *qmp)
{
    VmigQmpOut *out;

    while ((out = g_queue_peek_head(&qmp->outq))) {
        g_autoptr(GError) error = NULL;
        gboolean first = out->off == 0;
        gssize n;

        n = vmig_fdpass_send(qmp->fd, out->data + out->off, out->len - out->off,
                             first ? out->fds : NULL, first ? out->nfds : 0, &error);
        if (n < 0) {
            if (g_error_matches(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_WOULD_BLOCK))
                break;
            vmig_qmp_close_with_error(
                qmp,
                g_error_new(VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                            "QEMU closed the monitor connection on '%s' (%s)", qmp->path,
                            error->message),
                TRUE);
            return;
        }
        if (first && n > 0) {
            /* The fds went with the first byte: our duplicates are done. */
            vmig_fdpass_close_all(g_steal_pointer(&out->fds), out->nfds);
            out->nfds = 0;
        }
        out->off += (gsize)n;
        if (out->off < out->len)
            break;
        g_queue_pop_head(&qmp->outq);
        vmig_qmp_out_free(out);
    }
    vmig_qmp_update_watch(qmp);
}

/* ------------------------------------------------------------------------ */
/* Receiving */

/*
 * Take the greeting @message: remember it, and send qmp_capabilities.
 * A failure to queue closes the connection.
 */
static void
vmig_qmp_handle_greeting(VmigQmp *qmp, VmigQmpMessage *message)
{
    g_autoptr(GError) error = NULL;

    qmp->greeting = json_object_ref(message->greeting);
    qmp->hypervisor = g_steal_pointer(&message->hypervisor);
    g_debug("greeting from %s on '%s'", qmp->hypervisor, qmp->path);

    qmp->state = VMIG_QMP_STATE_NEGOTIATING;
    if (!vmig_qmp_queue_command(qmp, "qmp_capabilities", NULL, NULL, 0, &error))
        vmig_qmp_close_with_error(qmp, g_steal_pointer(&error), TRUE);
}

/*
 * The error for an {"error": {"class": @klass, "desc": @desc}} reply to
 * @command.  Returns: (transfer full) the error.
 */
static GError *
vmig_qmp_reply_error(const char *klass, const char *desc, const char *command)
{
    return g_error_new(VMIG_QMP_ERROR,
                       g_str_equal(klass, "CommandNotFound")
                           ? VMIG_QMP_ERROR_COMMAND_NOT_FOUND
                           : VMIG_QMP_ERROR_COMMAND,
                       "QEMU refused '%s': %s", command, desc);
}

/*
 * Take the reply @message (the text of which is @line): complete the call
 * its "id" names.  A reply that matches no call closes the
 * connection.
 */
static void
vmig_qmp_handle_reply(VmigQmp *qmp, VmigQmpMessage *message, const char *line)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GTask) task = NULL;
    gsize len = message->len;
    const char *id = message->id;
    VmigQmpCall *call = NULL;
    gboolean capabilities;
    GList *link;

    if (id)
        call = g_hash_table_lookup(qmp->calls, id);
    if (!call) {
        g_autofree char *quoted = vmig_qmp_quote(line, len);

        if (!message->has_id)
            vmig_qmp_fail_protocol(qmp, "QEMU sent a reply without an id on '%s': %s",
                                   qmp->path, quoted);
        else
            vmig_qmp_fail_protocol(qmp,
                                   "QEMU sent a reply with an unknown id on '%s': %s",
                                   qmp->path, quoted);
        return;
    }

    if (message->kind == VMIG_QMP_MESSAGE_BAD_ERROR) {
        g_autofree char *quoted = vmig_qmp_quote(line, len);

        vmig_qmp_fail_protocol(qmp, "QEMU sent a malformed error reply on '%s': %s",
                               qmp->path, quoted);
        return;
    }
    if (message->kind == VMIG_QMP_MESSAGE_ERROR)
        error = vmig_qmp_reply_error(message->error_class, message->error_desc,
                                     call->command);

    /* The call is done with: take it out before anything can run. */
    for (link = qmp->outq.head; link; link = link->next) {
        VmigQmpOut *out = link->data;

        /* Only a peer answering before the whole line went can get here. */
        if (out->call == call)
            out->call = NULL;
    }
    capabilities = qmp->state == VMIG_QMP_STATE_NEGOTIATING && !call->task &&
                   g_str_equal(call->command, "qmp_capabilities");
    task = g_steal_pointer(&call->task);
    /* @id points into the message, not into the call: still valid below. */
    g_hash_table_remove(qmp->calls, id);

    if (capabilities) {
        if (error) {
            vmig_qmp_close_with_error(qmp, g_steal_pointer(&error), TRUE);
            return;
        }
        qmp->state = VMIG_QMP_STATE_OPEN;
        if (qmp->connect_cancel_source) {
            g_source_destroy(qmp->connect_cancel_source);
            g_clear_pointer(&qmp->connect_cancel_source, g_source_unref);
        }
        g_debug("QMP connection on '%s' is open", qmp->path);
        if (qmp->connect_task) {
            g_autoptr(GTask) connect_task = g_steal_pointer(&qmp->connect_task);

            g_task_return_boolean(connect_task, TRUE);
        }
        return;
    }
    if (!task) {
        /* Cancelled: the caller has had its answer already. */
        g_debug("ignoring the reply to cancelled call %s", id);
        return;
    }
    if (error)
        g_task_return_error(task, g_steal_pointer(&error));
    else
        g_task_return_pointer(task, json_node_copy(message->ret),
                              (GDestroyNotify)json_node_unref);
}

/* Take one complete line (without its '\n'). */
static void
vmig_qmp_handle_line(VmigQmp *qmp, const char *line, gsize len)
{
    g_auto(VmigQmpMessage) message = {0};
    GError *error = NULL;

    if (!vmig_qmp_message_parse(line, len, qmp->state == VMIG_QMP_STATE_GREETING,
                                qmp->path, &message, &error)) {
        vmig_qmp_close_with_error(qmp, error, TRUE);
        return;
    }
    switch (message.kind) {
    case VMIG_QMP_MESSAGE_NONE:
        return;
    case VMIG_QMP_MESSAGE_GREETING:
        vmig_qmp_handle_greeting(qmp, &message);
        return;
    case VMIG_QMP_MESSAGE_EVENT:
        if (qmp->state == VMIG_QMP_STATE_GREETING)
            g_debug("'%s': the event %s came before the greeting", qmp->path,
                    message.event);
        g_signal_emit(qmp, vmig_qmp_signals[SIGNAL_EVENT], 0, message.event, message.data,
                      message.timestamp);
        return;
    case VMIG_QMP_MESSAGE_RETURN:
    case VMIG_QMP_MESSAGE_ERROR:
    case VMIG_QMP_MESSAGE_BAD_ERROR:
        vmig_qmp_handle_reply(qmp, &message, line);
        return;
    case VMIG_QMP_MESSAGE_LAST:
        break;
    }
    g_assert_not_reached();
}

/*
 * Read what the socket has and handle every complete line; end of file, a
 * read error or an overlong line closes the connection.
 */
static void
vmig_qmp_read(VmigQmp *qmp)
{
    GByteArray *buf = qmp->inbuf;
    gsize old = buf->len;
    gsize start = 0;
    gssize n;

    g_byte_array_set_size(buf, old + VMIG_QMP_READ_CHUNK);
    do {
        n = recv(qmp->fd, buf->data + old, VMIG_QMP_READ_CHUNK, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int err = errno;

        g_byte_array_set_size(buf, old);
        if (err == EAGAIN || err == EWOULDBLOCK)
            return;
        vmig_qmp_close_with_error(
            qmp,
            g_error_new(VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                        "QEMU closed the monitor connection on '%s' (%s)", qmp->path,
                        g_strerror(err)),
            TRUE);
        return;
    }
    g_byte_array_set_size(buf, old + (gsize)n);
    if (n == 0) {
        if (old > 0)
            vmig_qmp_close_with_error(
                qmp,
                g_error_new(VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                            "QEMU closed the monitor connection on '%s' in the middle "
                            "of a message (%" G_GSIZE_FORMAT " bytes unfinished)",
                            qmp->path, old),
                TRUE);
        else
            vmig_qmp_close_with_error(
                qmp,
                g_error_new(VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                            "QEMU closed the monitor connection on '%s'", qmp->path),
                TRUE);
        return;
    }

    /* Lines are handled in place; the buffer is compacted once at the end. */
    for (;;) {
        const guint8 *nl =
            memchr(buf->data + qmp->scanned, '\n', buf->len - qmp->scanned);
        g_autofree char *line = NULL;
        gsize len;

        if (!nl) {
            qmp->scanned = buf->len;
            break;
        }
        len = (gsize)(nl - buf->data) - start;
        if (len > VMIG_QMP_MAX_LINE) {
            vmig_qmp_fail_protocol(qmp,
                                   "QEMU sent a line longer than %d MiB on '%s' "
                                   "(%" G_GSIZE_FORMAT " bytes)",
                                   VMIG_QMP_MAX_LINE / (1024 * 1024), qmp->path, len);
            return;
        }
        /* A copy: handling the line may run callbacks that close the client. */
        line = g_malloc(len + 1);
        memcpy(line, buf->data + start, len);
        line[len] = '\0';
        start += len + 1;
        qmp->scanned = start;
        vmig_qmp_handle_line(qmp, line, len);
        if (qmp->state == VMIG_QMP_STATE_CLOSED)
            return;
    }
    if (qmp->scanned - start > VMIG_QMP_MAX_LINE) {
        vmig_qmp_fail_protocol(qmp,
                               "QEMU sent a line longer than %d MiB on '%s' "
                               "(%" G_GSIZE_FORMAT " bytes and no end of line)",
                               VMIG_QMP_MAX_LINE / (1024 * 1024), qmp->path,
                               qmp->scanned - start);
        return;
    }
    if (start > 0) {
        g_byte_array_remove_range(buf, 0, (guint)start);
        qmp->scanned -= start;
    }
}

/*
 * Finish a connect() that returned EINPROGRESS.  A failure
 * fails the connect and closes.
 */
static void
vmig_qmp_finish_connect(VmigQmp *qmp)
{
    int err = 0;
    socklen_t errlen = sizeof(err);

    if (getsockopt(qmp->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
        err = errno;
    if (err != 0) {
        vmig_qmp_close_with_error(qmp,
                                  g_error_new(VMIG_QMP_ERROR, VMIG_QMP_ERROR_CONNECT,
                                              "Cannot connect to the QMP socket '%s': %s",
                                              qmp->path, g_strerror(err)),
                                  TRUE);
        return;
    }
    qmp->state = VMIG_QMP_STATE_GREETING;
    vmig_qmp_update_watch(qmp);
}

/* Handle what the source reported in @revents. */
static void
vmig_qmp_handle_io(VmigQmp *qmp, GIOCondition revents)
{
    if (qmp->state == VMIG_QMP_STATE_CONNECTING) {
        if (revents & (G_IO_OUT | G_IO_ERR | G_IO_HUP))
            vmig_qmp_finish_connect(qmp);
        return;
    }
    /* Input first: a reply that came before a hangup is still delivered. */
    if (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR))
        vmig_qmp_read(qmp);
    if (qmp->state != VMIG_QMP_STATE_CLOSED && (revents & G_IO_OUT))
        vmig_qmp_flush(qmp);
    if (qmp->state != VMIG_QMP_STATE_CLOSED && (revents & G_IO_NVAL))
        vmig_qmp_close_with_error(
            qmp,
            g_error_new(VMIG_QMP_ERROR, VMIG_QMP_ERROR_CLOSED,
                        "The monitor socket for '%s' became invalid", qmp->path),
            TRUE);
}
