/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pending.c: connections that have not yet said what they are (the
 * contract is pending.h)
 *
 * A set keeps its connections in one queue in arrival order; they all
 * have the same timeout, so that is deadline order too, and one timer per
 * set, ready at the oldest deadline, is all the timing there is.  The pool
 * keeps the connections from listeners of every set in a second queue, so
 * that its cap can drop the daemon's oldest.  Both queues link through
 * nodes embedded in the connection: leaving either is O(1).
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-pending"

#include "driver/pending.h"
#include "driver/transport.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass/fd.h"
#include "negotiate/negotiate.h"

typedef struct _VmigPendingConn VmigPendingConn;

/* A TLS handshake in a worker, outliving its connection if that is dropped. */
typedef struct {
    VmigPendingConn *conn; /* NULL once the connection was dropped */
    GCancellable *cancellable;
} VmigPendingHandshake;

struct _VmigPendingPool {
    guint max;
    guint timeout_ms;
    guint count;   /* connections from listeners, in @capped */
    GQueue capped; /* VmigPendingConn (pool_link), oldest first */
    guint sets;
    gboolean warned; /* the cap was hit since the pool was last empty */
};

struct _VmigPendingSet {
    VmigPendingPool *pool;
    GMainContext *context;
    char *name;
    guint max;
    const VmigPendingFuncs *funcs;
    gpointer user_data;
    GQueue conns;   /* VmigPendingConn (set_link), oldest first */
    guint capped;   /* of which from listeners */
    GSource *timer; /* ready at the oldest connection's deadline */
    guint8 token[VMIG_TOKEN_SIZE];
    gboolean have_token;
    gboolean warned;     /* the cap was hit since the set last had none from listeners */
    VmigTlsContext *tls; /* (nullable) borrowed */
    gboolean tls_required;
    char *no_tls_reason;
    gint64 refused_logged_at; /* the last refusal logged (monotonic us) */
    guint refused_unlogged;   /* ... and those since, not logged */
};

struct _VmigPendingConn {
    VmigPendingSet *set;
    int fd;            /* -1 while the handshake has it */
    VmigTlsPump *pump; /* (nullable) once TLS is up: fd is its plaintext end */
    VmigPendingHandshake *handshake; /* (nullable) a TLS handshake under way */
    gboolean peeked;                 /* the first byte was looked at */
    GSource *watch;
    gint64 deadline;
    guint8 buf[VMIG_PREAMBLE_SIZE];
    gsize have;
    gboolean from_listener;
    gboolean held; /* a whole preamble, waiting for the token */
    VmigPreamble preamble;
    GList set_link;
    GList pool_link;
};

/* ------------------------------------------------------------------------ */
/* Connections */

/* Re-arms @set's timer for its oldest connection. */
static void
vmig_pending_set_rearm(VmigPendingSet *set)
{
    VmigPendingConn *oldest = g_queue_peek_head(&set->conns);

    g_source_set_ready_time(set->timer, oldest ? oldest->deadline : -1);
}

/*
 * Takes @conn out of its set and the pool and frees it; a handshake under
 * way is cancelled.  @pumpp: (out) (nullable): its TLS pump, which the
 * caller then owns (else it is freed).
 * Returns: its fd, which the caller now owns (-1 during a handshake).
 */
static int
vmig_pending_conn_take(VmigPendingConn *conn, VmigTlsPump **pumpp)
{
    VmigPendingSet *set = conn->set;
    VmigPendingPool *pool = set->pool;
    gboolean was_oldest = set->conns.head == &conn->set_link;
    int fd = conn->fd;

    g_queue_unlink(&set->conns, &conn->set_link);
    if (conn->from_listener) {
        g_queue_unlink(&pool->capped, &conn->pool_link);
        pool->count--;
        set->capped--;
        if (pool->count == 0)
            pool->warned = FALSE;
        if (set->capped == 0)
            set->warned = FALSE;
    }
    if (conn->watch) {
        g_source_destroy(conn->watch);
        g_source_unref(conn->watch);
    }
    if (conn->handshake) {
        conn->handshake->conn = NULL;
        g_cancellable_cancel(conn->handshake->cancellable);
    }
    if (pumpp)
        *pumpp = g_steal_pointer(&conn->pump);
    else
        g_clear_pointer(&conn->pump, vmig_tls_pump_free);
    g_free(conn);
    if (was_oldest)
        vmig_pending_set_rearm(set);
    return fd;
}

/* Drops @conn for @reason (a debug message). */
static void
vmig_pending_conn_drop(VmigPendingConn *conn, const char *reason)
{
    int fd;

    g_debug("%s: a connection %s; dropped", conn->set->name, reason);
    fd = vmig_pending_conn_take(conn, NULL);
    if (fd >= 0)
        close(fd);
}

/* Hands a proven @conn to its set's owner.  The callback may free the set. */
static void
vmig_pending_conn_deliver(VmigPendingConn *conn, VmigPreambleKind kind)
{
    const VmigPendingFuncs *funcs = conn->set->funcs;
    gpointer user_data = conn->set->user_data;
    guint index = conn->preamble.index;
    guint8 conn_token[VMIG_TOKEN_SIZE];
    VmigTlsPump *pump = NULL;
    int fd;

    memcpy(conn_token, conn->preamble.token, VMIG_TOKEN_SIZE);
    fd = vmig_pending_conn_take(conn, &pump);

    if (kind == VMIG_PREAMBLE_KIND_MAIN)
        funcs->main(&fd, &pump, user_data);
    else if (kind == VMIG_PREAMBLE_KIND_DOMAIN)
        funcs->domain(&fd, &pump, user_data);
    else if (funcs->routed)
        funcs->routed(conn_token, &fd, index, &pump, user_data);
    else
        funcs->channel(&fd, index, &pump, user_data);
    if (fd >= 0)
        close(fd);
    vmig_tls_pump_free(pump);
}

/* ------------------------------------------------------------------------ */
/* TLS */

char *
vmig_pending_refused_tls_text(const char *why)
{
    return g_strdup_printf("the source driver opened with TLS, and this destination "
                           "driver has no TLS credentials%s%s",
                           why ? ": " : "", why ? why : "");
}

/* Logs a refusal, at most one a second: a flood of strangers is one line. */
static void
vmig_pending_set_log_refusal(VmigPendingSet *set, const char *reason)
{
    gint64 now = g_get_monotonic_time();

    if (set->refused_logged_at && now - set->refused_logged_at < G_USEC_PER_SEC) {
        set->refused_unlogged++;
        return;
    }
    set->refused_logged_at = now;
    if (set->refused_unlogged)
        g_message("%s: a connection refused: %s (and %u more since the last one logged)",
                  set->name, reason, set->refused_unlogged);
    else
        g_message("%s: a connection refused: %s", set->name, reason);
    set->refused_unlogged = 0;
}

/*
 * Refuses @conn for @reason: what it sent so far is read (so that the
 * close is an orderly end of file, not a reset that could overtake the
 * answer), a plaintext ERROR frame with @code and @reason goes out, and
 * the connection is closed.  The owner hears of it.
 */
static void
vmig_pending_conn_refuse(VmigPendingConn *conn, VmigNegotiateCode code,
                         const char *reason)
{
    VmigPendingSet *set = conn->set;
    const VmigPendingFuncs *funcs = set->funcs;
    gpointer user_data = set->user_data;
    g_autoptr(VmigNegotiateMessage) err = vmig_negotiate_message_new_error(code, reason);
    g_autoptr(GBytes) bytes = vmig_negotiate_encode(err, NULL);
    g_autofree char *copy = g_strdup(reason);
    guint8 buf[4096];
    int fd = vmig_pending_conn_take(conn, NULL);

    for (guint i = 0; i < 16 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
        ;
    if (bytes)
        (void)!send(fd, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    close(fd);
    vmig_pending_set_log_refusal(set, copy);
    if (funcs->refused)
        funcs->refused(copy, user_data);
}

static gboolean vmig_pending_conn_ready(int fd, GIOCondition condition,
                                        gpointer user_data);

/* Watches @conn's fd for its next bytes. */
static void
vmig_pending_conn_watch(VmigPendingConn *conn)
{
    conn->watch = g_unix_fd_source_new(conn->fd, G_IO_IN);
    g_source_set_callback(conn->watch, G_SOURCE_FUNC(vmig_pending_conn_ready), conn,
                          NULL);
    g_source_set_static_name(conn->watch, "vmig-pending");
    g_source_attach(conn->watch, conn->set->context);
}

/* The TLS handshake of a connection is over: its opener comes through the pump. */
static void
vmig_pending_on_handshake(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VmigPendingHandshake *op = user_data;
    VmigPendingConn *conn = op->conn;
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTlsSession) session = vmig_tls_handshake_finish(result, &error);
    VmigPendingSet *set;
    g_autofree char *name = NULL;
    int plain = -1;

    g_object_unref(op->cancellable);
    g_free(op);
    if (!conn)
        return; /* dropped meanwhile */
    conn->handshake = NULL;
    set = conn->set;
    if (!session) {
        const VmigPendingFuncs *funcs = set->funcs;
        gpointer set_user_data = set->user_data;

        vmig_pending_set_log_refusal(set, error->message);
        vmig_pending_conn_take(conn, NULL);
        if (funcs->refused)
            funcs->refused(error->message, set_user_data);
        return;
    }
    name = g_strdup_printf("%s/tls", set->name);
    conn->pump = vmig_tls_pump_start(g_steal_pointer(&session), &plain, name,
                                     set->context, NULL, NULL, &error);
    if (!conn->pump || !g_unix_set_fd_nonblocking(plain, TRUE, &error)) {
        if (plain >= 0)
            close(plain);
        g_warning("%s: a TLS connection: %s", set->name, error->message);
        vmig_pending_conn_take(conn, NULL);
        return;
    }
    conn->fd = plain;
    vmig_pending_conn_watch(conn);
}

/* @conn opened with a TLS handshake record: be its server, within its deadline. */
static void
vmig_pending_conn_start_tls(VmigPendingConn *conn)
{
    VmigPendingSet *set = conn->set;
    VmigPendingHandshake *op;
    gint64 left = (conn->deadline - g_get_monotonic_time()) / 1000;
    int fd;

    if (!set->tls) {
        g_autofree char *reason = vmig_pending_refused_tls_text(set->no_tls_reason);

        vmig_pending_conn_refuse(conn, VMIG_NEGOTIATE_CODE_TLS, reason);
        return;
    }
    g_source_destroy(conn->watch);
    g_clear_pointer(&conn->watch, g_source_unref);
    op = g_new0(VmigPendingHandshake, 1);
    op->conn = conn;
    op->cancellable = g_cancellable_new();
    conn->handshake = op;
    fd = conn->fd;
    conn->fd = -1;
    vmig_tls_handshake_async(set->tls, VMIG_TLS_ROLE_SERVER, &fd, NULL,
                             "the source driver", (guint)CLAMP(left, 1, G_MAXUINT),
                             op->cancellable, vmig_pending_on_handshake, op);
}

/*
 * A held channel's socket became readable: the peer closed it, or sent
 * bytes no source sends before its channel is matched.  Either way it
 * goes.  Returns: G_SOURCE_CONTINUE, or G_SOURCE_REMOVE once dropped.
 */
static gboolean
vmig_pending_conn_check_held(VmigPendingConn *conn)
{
    guint8 byte;
    gssize n = recv(conn->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
    vmig_pending_conn_drop(conn, n == 0  ? "closed while its token was awaited"
                                 : n > 0 ? "sent data before its channel was matched"
                                         : g_strerror(errno));
    return G_SOURCE_REMOVE;
}

/* A whole preamble is in: match it, or hold it until the token is known. */
static gboolean
vmig_pending_conn_preamble(VmigPendingConn *conn)
{
    VmigPendingSet *set = conn->set;
    g_autoptr(GError) error = NULL;

    if (!vmig_preamble_decode(conn->buf, conn->have, &conn->preamble, &error)) {
        vmig_pending_conn_drop(conn, error->message);
        return G_SOURCE_REMOVE;
    }
    if (set->funcs->knows) {
        if (set->funcs->knows(conn->preamble.token, set->user_data)) {
            vmig_pending_conn_deliver(conn, VMIG_PREAMBLE_KIND_CHANNEL);
            return G_SOURCE_REMOVE;
        }
        conn->held = TRUE;
        g_debug("%s: channel %u held until a migration's REPLY names its token",
                set->name, conn->preamble.index);
        return G_SOURCE_CONTINUE;
    }
    if (!set->have_token) {
        conn->held = TRUE;
        g_debug("%s: channel %u held until the REPLY names its token", set->name,
                conn->preamble.index);
        return G_SOURCE_CONTINUE; /* now watching for a close */
    }
    if (!vmig_preamble_token_equal(conn->preamble.token, set->token)) {
        vmig_pending_conn_drop(conn, "carried a wrong token");
        return G_SOURCE_REMOVE;
    }
    vmig_pending_conn_deliver(conn, VMIG_PREAMBLE_KIND_CHANNEL);
    return G_SOURCE_REMOVE;
}

/*
 * Reads exactly the opener, then the rest of a preamble, never a byte
 * more.  Returns: G_SOURCE_CONTINUE while the connection stays pending.
 */
static gboolean
vmig_pending_conn_ready(int fd, GIOCondition condition, gpointer user_data)
{
    VmigPendingConn *conn = user_data;
    gsize want;
    gssize n;

    if (conn->held)
        return vmig_pending_conn_check_held(conn);
    if (!conn->pump && !conn->peeked) {
        guint8 first;

        n = recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return G_SOURCE_CONTINUE;
        if (n <= 0) {
            vmig_pending_conn_drop(conn, n == 0 ? "closed before it said what it is"
                                                : g_strerror(errno));
            return G_SOURCE_REMOVE;
        }
        conn->peeked = TRUE;
        if (first == VMIG_TLS_HANDSHAKE_BYTE) {
            vmig_pending_conn_start_tls(conn);
            return G_SOURCE_REMOVE;
        }
        if (conn->set->tls_required) {
            vmig_pending_conn_refuse(conn, VMIG_NEGOTIATE_CODE_TLS,
                                     VMIG_PENDING_REFUSED_PLAINTEXT);
            return G_SOURCE_REMOVE;
        }
    }
    want = conn->have < VMIG_PREAMBLE_MAGIC_SIZE ? VMIG_PREAMBLE_MAGIC_SIZE - conn->have
                                                 : VMIG_PREAMBLE_SIZE - conn->have;
    n = recv(fd, conn->buf + conn->have, want, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        vmig_pending_conn_drop(conn, n == 0 ? "closed before it said what it is"
                                            : g_strerror(errno));
        return G_SOURCE_REMOVE;
    }
    conn->have += (gsize)n;
    if (conn->have == VMIG_PREAMBLE_MAGIC_SIZE) {
        VmigPreambleKind kind = vmig_preamble_classify(conn->buf);
        char reason[64];

        if (kind == VMIG_PREAMBLE_KIND_CHANNEL)
            return G_SOURCE_CONTINUE;
        if (kind == VMIG_PREAMBLE_KIND_MAIN && conn->from_listener) {
            vmig_pending_conn_deliver(conn, kind);
            return G_SOURCE_REMOVE;
        }
        if (kind == VMIG_PREAMBLE_KIND_DOMAIN && conn->from_listener &&
            conn->set->funcs->domain) {
            vmig_pending_conn_deliver(conn, kind);
            return G_SOURCE_REMOVE;
        }
        if (kind == VMIG_PREAMBLE_KIND_MAIN)
            g_strlcpy(reason, "supplied as a channel opened as a main channel",
                      sizeof(reason));
        else if (kind == VMIG_PREAMBLE_KIND_DOMAIN)
            g_strlcpy(reason, "opened with \"VMGD\" where no domain is taken",
                      sizeof(reason));
        else
            g_snprintf(reason, sizeof(reason), "opened with %02x%02x%02x%02x",
                       conn->buf[0], conn->buf[1], conn->buf[2], conn->buf[3]);
        vmig_pending_conn_drop(conn, reason);
        return G_SOURCE_REMOVE;
    }
    if (conn->have == VMIG_PREAMBLE_SIZE)
        return vmig_pending_conn_preamble(conn);
    return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* Sets */

/* Drops every connection of @set whose deadline has passed.  Returns: G_SOURCE_CONTINUE.
 */
static gboolean
vmig_pending_set_expire(gpointer user_data)
{
    VmigPendingSet *set = user_data;
    gint64 now = g_source_get_time(set->timer);
    VmigPendingConn *oldest;

    while ((oldest = g_queue_peek_head(&set->conns)) && oldest->deadline <= now)
        vmig_pending_conn_drop(oldest, oldest->held ? "waited for its token too long"
                                                    : "said nothing useful in time");
    vmig_pending_set_rearm(set);
    return G_SOURCE_CONTINUE;
}

/* A timer's dispatch: its ready time is all it has.  Returns: the callback's answer. */
static gboolean
vmig_pending_timer_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    return callback(user_data);
}

static GSourceFuncs vmig_pending_timer_funcs = {
    .dispatch = vmig_pending_timer_dispatch,
};

VmigPendingSet *
vmig_pending_set_new(VmigPendingPool *pool, GMainContext *context, const char *name,
                     guint max, const VmigPendingFuncs *funcs, gpointer user_data)
{
    VmigPendingSet *set = g_new0(VmigPendingSet, 1);

    set->pool = pool;
    set->context = context;
    set->name = g_strdup(name);
    set->max = MIN(MAX(max, VMIG_PENDING_SET_MIN_MAX), pool->max);
    set->funcs = funcs;
    set->user_data = user_data;
    g_queue_init(&set->conns);
    set->timer = g_source_new(&vmig_pending_timer_funcs, sizeof(GSource));
    g_source_set_callback(set->timer, vmig_pending_set_expire, set, NULL);
    g_source_set_static_name(set->timer, "vmig-pending-timer");
    g_source_set_ready_time(set->timer, -1);
    g_source_attach(set->timer, context);
    pool->sets++;
    return set;
}

void
vmig_pending_set_free(VmigPendingSet *set)
{
    VmigPendingConn *conn;

    if (!set)
        return;
    while ((conn = g_queue_peek_head(&set->conns))) {
        int fd = vmig_pending_conn_take(conn, NULL);

        if (fd >= 0)
            close(fd);
    }
    g_free(set->no_tls_reason);
    g_source_destroy(set->timer);
    g_source_unref(set->timer);
    set->pool->sets--;
    g_free(set->name);
    g_free(set);
}

/* Drops the oldest connection from a listener of @set. */
static void
vmig_pending_set_evict(VmigPendingSet *set)
{
    GList *l;

    if (!set->warned) {
        set->warned = TRUE;
        g_warning("%s: %u connections on its listener have not said what they are; "
                  "the oldest are dropped for new ones",
                  set->name, set->capped);
    }
    for (l = set->conns.head; l; l = l->next) {
        VmigPendingConn *conn = l->data;

        if (conn->from_listener) {
            vmig_pending_conn_drop(conn, "was the oldest at the listener's cap");
            return;
        }
    }
}

/* Drops the daemon's oldest connection from a listener. */
static void
vmig_pending_pool_evict(VmigPendingPool *pool)
{
    VmigPendingConn *oldest = g_queue_peek_head(&pool->capped);

    if (!pool->warned) {
        pool->warned = TRUE;
        g_warning("%u connections to this daemon have not said what they are; the oldest "
                  "are dropped for new ones",
                  pool->count);
    }
    vmig_pending_conn_drop(oldest, "was the daemon's oldest at its cap");
}

void
vmig_pending_set_add(VmigPendingSet *set, int *fdp, gboolean from_listener)
{
    VmigPendingPool *pool = set->pool;
    g_autoptr(GError) error = NULL;
    VmigPendingConn *conn;

    if (!g_unix_set_fd_nonblocking(*fdp, TRUE, NULL)) {
        /* Read without blocking, or not at all. */
        g_debug("%s: a connection cannot be made non-blocking (%s); dropped", set->name,
                g_strerror(errno));
        vmig_fd_clear(fdp);
        return;
    }
    /* The destination speaks first: a driver is here (fdpass/preamble.h). */
    if (!vmig_transport_send_hello(*fdp, &error)) {
        g_debug("%s: a connection: %s; dropped", set->name, error->message);
        vmig_fd_clear(fdp);
        return;
    }
    if (from_listener) {
        if (set->capped >= set->max)
            vmig_pending_set_evict(set);
        else if (pool->count >= pool->max)
            vmig_pending_pool_evict(pool);
    }
    conn = g_new0(VmigPendingConn, 1);
    conn->set = set;
    conn->fd = *fdp;
    *fdp = -1;
    conn->from_listener = from_listener;
    conn->deadline = g_get_monotonic_time() + (gint64)pool->timeout_ms * 1000;
    conn->set_link.data = conn;
    conn->pool_link.data = conn;
    g_queue_push_tail_link(&set->conns, &conn->set_link);
    if (from_listener) {
        g_queue_push_tail_link(&pool->capped, &conn->pool_link);
        pool->count++;
        set->capped++;
    }
    vmig_pending_conn_watch(conn);
    if (set->conns.head == &conn->set_link)
        vmig_pending_set_rearm(set);
}

/* A held channel that carried the token, out of its set, on its way to the owner. */
typedef struct {
    guint index;
    int fd;
    VmigTlsPump *pump;
} VmigPendingMatch;

void
vmig_pending_set_set_token(VmigPendingSet *set, const guint8 token[VMIG_TOKEN_SIZE])
{
    const VmigPendingFuncs *funcs = set->funcs;
    gpointer user_data = set->user_data;
    g_autoptr(GArray) matched = g_array_new(FALSE, FALSE, sizeof(VmigPendingMatch));
    GList *l, *next;

    memcpy(set->token, token, VMIG_TOKEN_SIZE);
    set->have_token = TRUE;
    /* Every held channel leaves the set before any callback runs, which may free it. */
    for (l = set->conns.head; l; l = next) {
        VmigPendingConn *conn = l->data;

        next = l->next;
        if (!conn->held)
            continue;
        if (vmig_preamble_token_equal(conn->preamble.token, token)) {
            VmigPendingMatch match = {conn->preamble.index, -1, NULL};

            match.fd = vmig_pending_conn_take(conn, &match.pump);
            g_array_append_val(matched, match);
        } else {
            vmig_pending_conn_drop(conn, "carried a wrong token");
        }
    }
    for (guint i = 0; i < matched->len; i++) {
        VmigPendingMatch *match = &g_array_index(matched, VmigPendingMatch, i);

        funcs->channel(&match->fd, match->index, &match->pump, user_data);
        if (match->fd >= 0)
            close(match->fd);
        vmig_tls_pump_free(match->pump);
    }
}

void
vmig_pending_set_tls(VmigPendingSet *set, VmigTlsContext *tls, gboolean required,
                     const char *no_tls_reason)
{
    set->tls = tls;
    set->tls_required = required;
    g_free(set->no_tls_reason);
    set->no_tls_reason = g_strdup(no_tls_reason);
}

guint
vmig_pending_set_count(VmigPendingSet *set)
{
    return set->conns.length;
}

/* ------------------------------------------------------------------------ */
/* The pool */

VmigPendingPool *
vmig_pending_pool_new(guint max, guint timeout_ms)
{
    VmigPendingPool *pool = g_new0(VmigPendingPool, 1);

    pool->max = MAX(max, 1);
    pool->timeout_ms = timeout_ms;
    g_queue_init(&pool->capped);
    return pool;
}

void
vmig_pending_pool_free(VmigPendingPool *pool)
{
    if (!pool)
        return;
    g_warn_if_fail(pool->sets == 0);
    g_free(pool);
}

guint
vmig_pending_pool_count(VmigPendingPool *pool)
{
    return pool->count;
}

void
vmig_pending_set_retry(VmigPendingSet *set)
{
    const VmigPendingFuncs *funcs = set->funcs;
    g_autoptr(GPtrArray) known = g_ptr_array_new();
    GList *l;

    g_return_if_fail(funcs->knows != NULL);
    for (l = set->conns.head; l; l = l->next) {
        VmigPendingConn *conn = l->data;

        if (conn->held && funcs->knows(conn->preamble.token, set->user_data))
            g_ptr_array_add(known, conn);
    }
    for (guint i = 0; i < known->len; i++)
        vmig_pending_conn_deliver(g_ptr_array_index(known, i),
                                  VMIG_PREAMBLE_KIND_CHANNEL);
}
