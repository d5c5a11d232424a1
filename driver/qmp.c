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

#include "driver/qmp.h"

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

/*
 * The longest line accepted from QEMU.  query-qmp-schema, the biggest reply
 * QEMU 7.2 sends, is about 200 KiB; this leaves room for any growth while
 * keeping a runaway peer from eating all memory.
 */
#define VMIG_QMP_MAX_LINE (64 * 1024 * 1024)

/* How much one read asks for. */
#define VMIG_QMP_READ_CHUNK (64 * 1024)

/* How much of a bad line an error message quotes. */
#define VMIG_QMP_QUOTE_MAX 80

typedef enum {
    VMIG_QMP_STATE_NEW,         /* vmig_qmp_connect_async() not called yet */
    VMIG_QMP_STATE_CONNECTING,  /* connect() in progress */
    VMIG_QMP_STATE_GREETING,    /* connected, waiting for the greeting */
    VMIG_QMP_STATE_NEGOTIATING, /* qmp_capabilities sent, waiting for its reply */
    VMIG_QMP_STATE_OPEN,        /* ready for commands */
    VMIG_QMP_STATE_CLOSED,      /* closed for good */
    VMIG_QMP_STATE_LAST
} VmigQmpState;

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

/* One command sent (or to be sent) whose reply is awaited. */
typedef struct {
    VmigQmp *qmp;           /* not a reference: the call lives in qmp->calls */
    char *id;               /* "vmig-N", the key in qmp->calls */
    char *command;          /* for messages */
    GTask *task;            /* NULL for qmp_capabilities and once cancelled */
    GSource *cancel_source; /* NULL without a cancellable */
} VmigQmpCall;

/* One line in the write queue. */
typedef struct {
    char *data; /* the JSON text and its '\n' */
    gsize len;
    gsize off; /* bytes already written */
    int *fds;  /* our duplicates, closed once sent */
    gsize nfds;
    VmigQmpCall *call; /* not a reference; NULL once the call is gone */
} VmigQmpOut;

/* The client's GSource: one unix fd, conditions changed as needed. */
typedef struct {
    GSource source;
    VmigQmp *qmp; /* not a reference: dispose destroys the source */
    gpointer tag;
} VmigQmpSource;

struct _VmigQmp {
    GObject parent_instance;

    GMainContext *context;
    VmigQmpState state;
    char *path;

    int fd;
    VmigQmpSource *source;
    GIOCondition watching;

    GByteArray *inbuf;
    gsize scanned; /* bytes of inbuf known to hold no '\n' */
    GQueue outq;   /* of VmigQmpOut */

    GHashTable *calls; /* id -> VmigQmpCall */
    guint64 next_id;

    GTask *connect_task;
    GSource *connect_cancel_source;

    JsonObject *greeting;
    char *hypervisor;
};

G_DEFINE_FINAL_TYPE(VmigQmp, vmig_qmp, G_TYPE_OBJECT)

enum { SIGNAL_EVENT, SIGNAL_CLOSED, SIGNAL_LAST };

static guint vmig_qmp_signals[SIGNAL_LAST];

static void vmig_qmp_close_with_error(VmigQmp *qmp, GError *reason, gboolean notify);

/* ------------------------------------------------------------------------ */
/* Calls and queued lines */

/* Free @call, dropping its cancellable watch.  Returns nothing. */
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

/* Close the fds of @out and free it.  Returns nothing. */
static void
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

/*
 * Quote what a peer sent for an error message: printable ASCII as it is,
 * any other byte as \xHH, cut after 80 bytes.
 * Returns: the quoted text (newly allocated).
 */
static char *
vmig_qmp_quote(const char *data, gsize len)
{
    GString *quoted = g_string_new(NULL);
    gsize i;

    for (i = 0; i < len && i < VMIG_QMP_QUOTE_MAX; i++) {
        guchar c = (guchar)data[i];

        if (c >= 0x20 && c < 0x7f && c != '\\')
            g_string_append_c(quoted, (char)c);
        else
            g_string_append_printf(quoted, "\\x%02x", c);
    }
    if (len > VMIG_QMP_QUOTE_MAX)
        g_string_append(quoted, "...");
    return g_string_free(quoted, FALSE);
}

/* ------------------------------------------------------------------------ */
/* The I/O source */

/* Set the conditions the source waits for from the state and queue.  Returns nothing. */
static void
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

/* Attach the I/O source for qmp->fd to the client's context.  Returns nothing. */
static void
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
 * Idempotent.  Returns nothing.
 */
static void
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

/* Close because of a protocol violation described by @fmt.  Returns nothing. */
G_GNUC_PRINTF(2, 3)
static void
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
/* Sending */

/*
 * Queue @command with @arguments for sending, with a copy of @fds, and
 * register a call for its reply (@task may be NULL).
 * Returns: the call (owned by qmp->calls), or NULL with @error set.
 */
static VmigQmpCall *
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
 * write error closes the connection.  Returns nothing.
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

/* Returns: the integer member @name of @object, or FALSE when it is not one. */
static gboolean
vmig_qmp_get_int(JsonObject *object, const char *name, gint64 *value)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64)
        return FALSE;
    *value = json_node_get_int(node);
    return TRUE;
}

/* Returns: the object member @name of @object (borrowed), or NULL. */
static JsonObject *
vmig_qmp_get_object(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_OBJECT(node))
        return NULL;
    return json_node_get_object(node);
}

/* Returns: the string member @name of @object (borrowed), or NULL. */
static const char *
vmig_qmp_get_string(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

char *
vmig_qmp_format_hypervisor(JsonObject *version)
{
    JsonObject *qemu = vmig_qmp_get_object(version, "qemu");
    const char *pkg = vmig_qmp_get_string(version, "package");
    g_autofree char *package = g_strstrip(g_strdup(pkg ? pkg : ""));
    gint64 major, minor, micro;

    if (!qemu || !vmig_qmp_get_int(qemu, "major", &major) ||
        !vmig_qmp_get_int(qemu, "minor", &minor) || !vmig_qmp_get_int(qemu, "micro", &micro))
        return NULL;
    if (*package)
        return g_strdup_printf("QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                               ".%" G_GINT64_FORMAT " (%s)",
                               major, minor, micro, package);
    return g_strdup_printf("QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
                           major, minor, micro);
}

/* One name a line: keep clang-format from packing the table. */
/* clang-format off */
static const char *const vmig_qmp_message_kind_names[] = {
    [VMIG_QMP_MESSAGE_NONE] = "none",
    [VMIG_QMP_MESSAGE_GREETING] = "greeting",
    [VMIG_QMP_MESSAGE_RETURN] = "return",
    [VMIG_QMP_MESSAGE_ERROR] = "error",
    [VMIG_QMP_MESSAGE_BAD_ERROR] = "bad-error",
    [VMIG_QMP_MESSAGE_EVENT] = "event",
};
/* clang-format on */
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_qmp_message_kind_names) == VMIG_QMP_MESSAGE_LAST);

const char *
vmig_qmp_message_kind_to_string(VmigQmpMessageKind kind)
{
    if ((guint)kind >= VMIG_QMP_MESSAGE_LAST)
        return NULL;
    return vmig_qmp_message_kind_names[kind];
}

void
vmig_qmp_message_clear(VmigQmpMessage *message)
{
    g_clear_pointer(&message->root, json_node_unref);
    g_free(message->hypervisor);
    memset(message, 0, sizeof(*message));
}

/* Sets PROTOCOL in @error: @what, then the line quoted.  Returns: FALSE. */
static gboolean
vmig_qmp_message_fail(const char *line, gsize len, const char *path, const char *what,
                      GError **error)
{
    g_autofree char *quoted = vmig_qmp_quote(line, len);

    g_set_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL,
                "QEMU sent %s on '%s': %s", what, path, quoted);
    return FALSE;
}

gboolean
vmig_qmp_message_parse(const char *line, gsize len, gboolean greeting, const char *path,
                       VmigQmpMessage *message, GError **error)
{
    g_auto(VmigQmpMessage) m = {0};
    g_autoptr(GError) local = NULL;
    JsonObject *object;
    JsonObject *err;
    JsonNode *caps;

    g_return_val_if_fail(line != NULL || len == 0, FALSE);
    g_return_val_if_fail(message != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    if (!path)
        path = "(none)";
    if (len > 0 && line[len - 1] == '\r')
        len--;
    m.kind = VMIG_QMP_MESSAGE_NONE;
    m.len = len;
    if (len == 0) {
        *message = m;
        memset(&m, 0, sizeof(m));
        return TRUE;
    }
    if (g_utf8_validate(line, (gssize)MIN(len, 1024), NULL)) {
        g_debug("<- %.*s", (int)MIN(len, 1024), line);
    } else {
        g_autofree char *quoted = vmig_qmp_quote(line, len);

        g_debug("<- %s", quoted);
    }

    m.root = vmig_json_parse(line, (gssize)len, &local);
    if (!m.root) {
        g_autofree char *quoted = vmig_qmp_quote(line, len);

        g_set_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL,
                    "QEMU sent something that is not JSON on '%s' (%s): %s", path,
                    local->message, quoted);
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_OBJECT(m.root))
        return vmig_qmp_message_fail(line, len, path, "JSON that is not an object",
                                     error);
    object = json_node_get_object(m.root);

    if (greeting) {
        m.greeting = vmig_qmp_get_object(object, "QMP");
        caps = m.greeting ? json_object_get_member(m.greeting, "capabilities") : NULL;
        m.hypervisor =
            vmig_qmp_format_hypervisor(vmig_qmp_get_object(m.greeting, "version"));
        if (!m.hypervisor || !caps || !JSON_NODE_HOLDS_ARRAY(caps)) {
            g_autofree char *quoted = vmig_qmp_quote(line, len);

            g_set_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL,
                        "QEMU sent no QMP greeting on '%s' but: %s", path, quoted);
            return FALSE;
        }
        m.kind = VMIG_QMP_MESSAGE_GREETING;
    } else if (json_object_has_member(object, "event")) {
        m.event = vmig_qmp_get_string(object, "event");
        if (!m.event)
            return vmig_qmp_message_fail(line, len, path, "an event without a name",
                                         error);
        m.data = vmig_qmp_get_object(object, "data");
        m.timestamp = vmig_qmp_get_object(object, "timestamp");
        m.kind = VMIG_QMP_MESSAGE_EVENT;
    } else if (json_object_has_member(object, "return") ||
               json_object_has_member(object, "error")) {
        m.has_id = json_object_has_member(object, "id");
        m.id = vmig_qmp_get_string(object, "id");
        m.ret = json_object_get_member(object, "return");
        if (m.ret) {
            m.kind = VMIG_QMP_MESSAGE_RETURN;
        } else {
            err = vmig_qmp_get_object(object, "error");
            m.error_class = vmig_qmp_get_string(err, "class");
            m.error_desc = vmig_qmp_get_string(err, "desc");
            m.kind = VMIG_QMP_MESSAGE_ERROR;
            if (!m.error_class || !m.error_desc) {
                m.error_class = NULL;
                m.error_desc = NULL;
                m.kind = VMIG_QMP_MESSAGE_BAD_ERROR;
            }
        }
    } else {
        return vmig_qmp_message_fail(line, len, path, "an unexpected message", error);
    }
    /* Handed over whole: @message is untouched on failure. */
    *message = m;
    memset(&m, 0, sizeof(m));
    return TRUE;
}

/*
 * Take the greeting @message: remember it, and send qmp_capabilities.
 * Returns nothing (a failure to queue closes the connection).
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
 * its "id" names.  Returns nothing (a reply that matches no call closes the
 * connection).
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

/* Take one complete line (without its '\n').  Returns nothing. */
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
 * read error or an overlong line closes the connection.  Returns nothing.
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
 * Finish a connect() that returned EINPROGRESS.  Returns nothing (a failure
 * fails the connect and closes).
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

/* Handle what the source reported in @revents.  Returns nothing. */
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

/* GObjectClass.dispose: close without a "closed" signal.  Returns nothing. */
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

/* GObjectClass.finalize.  Returns nothing. */
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

/* Class initialisation: signals.  Returns nothing. */
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

/* Instance initialisation.  Returns nothing. */
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
 * on the client's context.  Returns nothing; the callback has the result.
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
 * the client's context.  Returns nothing.
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
 * "closed" is emitted.  Idempotent.  Returns nothing.
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
