/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-tls.c: TLS between the two drivers of a migration (docs/tls.md)
 *
 * Which connections are TLS is decided once, when the migration starts
 * (vmig_mig_tls_decide()): every connection of a migration is TLS, or
 * every one is plaintext, from its first byte.  The source is the TLS
 * client of each connection it dials or was given: the handshake runs in
 * a worker (tls/session.h), then a pump gives a plaintext socket that the
 * rest of the migration uses as it uses a plain connection (frames,
 * preambles, QEMU's stream).  The destination is the server: its pending
 * set (driver/pending.h) does the handshake before the opener, and hands
 * each proven connection over with its pump.  A data channel's peer
 * certificate must be the control connection's, on both sides.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "fdpass/fd.h"
#include "fdpass/fdpass.h"

/* How long a pump may take to send what was written before its end. */
#define TLS_FLUSH_MS 1000

gboolean
vmig_mig_tls_decide(VmigMigration *m, gboolean asked, GError **error)
{
    const VmigMigrationSettings *settings = vmig_mig_settings(m);
    gboolean tcp = m->address && m->address->kind == VMIG_ADDRESS_TCP;
    const char *why;

    /* Secure by default: TCP is TLS unless the daemon was told otherwise;
     * --tls asks for it on any transport. */
    m->tls_required = asked || (tcp && !settings->plaintext_tcp);
    if (m->role == VMIG_ROLE_SOURCE)
        m->tls = m->tls_required;
    if (!m->tls_required || settings->tls)
        return TRUE;
    why = asked
              ? "TLS was asked for (--tls)"
              : "a TCP migration uses TLS unless virt-migrated runs with --plaintext-tcp";
    g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                "%s, and this daemon has no TLS credentials: %s; docs/tls.md says how to "
                "create them",
                why,
                settings->tls_unavailable ? settings->tls_unavailable : "none loaded");
    return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Pumps */

/* A pump ended both ways (the peer closed, or a failure). */
static void
on_pump_done(VmigTlsPump *pump, const GError *error, gpointer user_data)
{
    VmigMigration *m = user_data;

    if (error)
        g_debug("%s: a TLS connection ended: %s", m->id, error->message);
}

/* Keeps @pump (consumed) as one of @m's. */
static VmigTlsPump *
keep_pump(VmigMigration *m, VmigTlsPump *pump)
{
    vmig_tls_pump_set_done(pump, vmig_mig_settings(m)->context, on_pump_done, m);
    g_ptr_array_add(m->pumps, pump);
    return pump;
}

/*
 * Starts the pump of @session (consumed), named for the control connection
 * (@main) or a data channel, and keeps it.  Returns: the pump, with its
 * plaintext end in *@plain, or NULL with @m failed.
 */
static VmigTlsPump *
start_pump(VmigMigration *m, VmigTlsSession *session, gboolean main, int *plain)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = main ? g_strdup_printf("%s/tls-main", m->id)
                                 : g_strdup_printf("%s/tls%u", m->id, m->pumps->len);
    g_autofree char *what = NULL;
    VmigTlsPump *pump = vmig_tls_pump_start(
        session, plain, name, vmig_mig_settings(m)->context, NULL, NULL, &error);

    if (!pump) {
        what = g_strdup_printf("TLS with the %s driver",
                               m->role == VMIG_ROLE_SOURCE ? "destination" : "source");
        vmig_mig_fail_error(m, 0, what, error);
        return NULL;
    }
    return keep_pump(m, pump);
}

/* @pump (one of @m's) carries the control connection: its session is the migration's. */
static void
adopt_main_pump(VmigMigration *m, VmigTlsPump *pump)
{
    m->main_pump = pump;
    m->tls = TRUE;
    m->tls_info = vmig_tls_info_copy(vmig_tls_pump_get_info(pump));
    g_message("migration %s: TLS with the %s driver: %s, peer %s", m->id,
              m->role == VMIG_ROLE_SOURCE ? "destination" : "source",
              m->tls_info->description, m->tls_info->peer_dn);
}

void
vmig_mig_tls_stop_data(VmigMigration *m)
{
    for (guint i = m->pumps->len; i-- > 0;) {
        if (g_ptr_array_index(m->pumps, i) != m->main_pump)
            g_ptr_array_remove_index(m->pumps, i);
    }
}

void
vmig_mig_tls_release(VmigMigration *m)
{
    gint64 deadline = g_get_monotonic_time() + TLS_FLUSH_MS * 1000;

    /* The control connection's last frame, and what a completed
     * migration's channels still carry, go out first: one bound for all. */
    while (m->pumps->len > 0) {
        VmigTlsPump *pump = g_ptr_array_steal_index(m->pumps, m->pumps->len - 1);
        gint64 left = MAX(deadline - g_get_monotonic_time(), 0) / 1000;

        if (pump == m->main_pump || m->state == VMIG_MIGRATION_COMPLETED)
            vmig_tls_pump_close(pump, (guint)left);
        else
            vmig_tls_pump_free(pump);
    }
    m->main_pump = NULL;
}

char *
vmig_mig_tls_main_failure(VmigMigration *m)
{
    g_autoptr(GError) error = NULL;

    if (!m->main_pump || !(error = vmig_tls_pump_dup_error(m->main_pump)))
        return NULL;
    return g_strdup(error->message);
}

/* ------------------------------------------------------------------------ */
/* The source: the client of every connection */

static void
on_client_handshake(GObject *source, GAsyncResult *result, gpointer user_data)
{
    gboolean main;
    g_autoptr(VmigMigration) m = vmig_mig_connecting_end(user_data, &main);
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTlsSession) session = vmig_tls_handshake_finish(result, &error);
    VmigTlsPump *pump;
    int plain = -1;
    if (m->finished) {
        /* Cancelled by the end, which waits for every handshake's socket to go. */
        g_clear_pointer(&session, vmig_tls_session_free);
        vmig_mig_end_bridges(m);
        return;
    }
    if (!session) {
        if (main) {
            vmig_mig_fail(m, 0, "TLS with the destination driver: %s", error->message);
            return;
        }
        /* A data channel: like one that could not be dialled (the channel
         * timeout settles how many are enough). */
        g_prefix_error(&error, "TLS with the destination driver: ");
    } else if (!main && !vmig_tls_info_same_peer(vmig_tls_session_get_info(session),
                                                 m->tls_info)) {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_CHANNELS,
                      "a data channel's destination certificate (%s) is not the control "
                      "connection's (%s)",
                      vmig_tls_session_get_info(session)->peer_dn, m->tls_info->peer_dn);
        return;
    } else {
        pump = start_pump(m, g_steal_pointer(&session), main, &plain);
        if (!pump)
            return;
        if (main) {
            adopt_main_pump(m, pump);
            vmig_mig_main_start(m, &plain);
            if (!m->finished)
                vmig_mig_source_open(m);
            return;
        }
    }
    vmig_mig_channel_ready(m, &plain, error);
}

void
vmig_mig_tls_connect(VmigMigration *m, int *fdp, gboolean main)
{
    const char *hostname = m->tls_hostname;

    if (!hostname && m->address && m->address->kind == VMIG_ADDRESS_TCP)
        hostname = m->address->host;
    vmig_tls_handshake_async(vmig_mig_settings(m)->tls, VMIG_TLS_ROLE_CLIENT, fdp,
                             hostname, "the destination driver",
                             main ? VMIG_MIG_HANDSHAKE_TIMEOUT_MS : m->channel_timeout_ms,
                             m->cancellable, on_client_handshake,
                             vmig_mig_connecting_new(m, main));
}

/* ------------------------------------------------------------------------ */
/* The destination: connections proven by the pending set */

gboolean
vmig_mig_tls_adopt(VmigMigration *m, VmigTlsPump **pumpp, gboolean main, guint index)
{
    VmigTlsPump *pump = *pumpp;

    if (main) {
        if (pump)
            adopt_main_pump(m, keep_pump(m, g_steal_pointer(pumpp)));
        return TRUE;
    }
    /* Every connection as the control connection: TLS or not, and the
     * same peer certificate. */
    if (!pump != !m->main_pump) {
        g_message("migration %s: data channel %u came %s while the control connection "
                  "is %s; closed",
                  m->id, index, pump ? "in TLS" : "in plaintext",
                  m->main_pump ? "TLS" : "plaintext");
        return FALSE;
    }
    if (pump && !vmig_tls_info_same_peer(vmig_tls_pump_get_info(pump), m->tls_info)) {
        g_message("migration %s: data channel %u's certificate (%s) is not the control "
                  "connection's (%s); closed",
                  m->id, index, vmig_tls_pump_get_info(pump)->peer_dn,
                  m->tls_info->peer_dn);
        return FALSE;
    }
    if (pump)
        keep_pump(m, g_steal_pointer(pumpp));
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The record */

void
vmig_mig_tls_record(VmigMigration *m, JsonObject *o)
{
    JsonObject *tls;

    if (!m->tls_info) {
        /* "pending": TLS was decided on, and no session is up yet. */
        json_object_set_string_member(o, "tls", m->tls ? "pending" : "none");
        return;
    }
    tls = json_object_new();
    json_object_set_string_member(tls, "version", m->tls_info->version);
    json_object_set_string_member(tls, "cipher", m->tls_info->cipher);
    json_object_set_string_member(tls, "peer-dn", m->tls_info->peer_dn);
    json_object_set_string_member(tls, "session", m->tls_info->description);
    json_object_set_object_member(o, "tls", tls);
}

char *
vmig_mig_tls_explain_plaintext(const guint8 *bytes, gsize len)
{
    g_autoptr(VmigNegotiateDecoder) decoder = vmig_negotiate_decoder_new();
    g_autoptr(VmigNegotiateMessage) msg = NULL;
    gsize consumed = 0;

    /* A driver answers a wrong opener with an ERROR frame. */
    if (vmig_negotiate_decoder_feed(decoder, bytes, len, &consumed, &msg, NULL) !=
            VMIG_NEGOTIATE_STATUS_FRAME ||
        msg->type != VMIG_NEGOTIATE_FRAME_ERROR)
        return NULL;
    return g_strdup_printf("it answered in plaintext: %s",
                           msg->message ? msg->message : "(an ERROR without a message)");
}

/* ------------------------------------------------------------------------ */
/* The destination, fd mode: the app's main channel */

static void
on_server_handshake(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTlsSession) session = vmig_tls_handshake_finish(result, &error);
    VmigTlsPump *pump;
    int plain = -1;

    m->dials--;
    if (m->finished) {
        g_clear_pointer(&session, vmig_tls_session_free);
        vmig_mig_end_bridges(m);
        return;
    }
    if (!session) {
        vmig_mig_fail(m, 0, "TLS with the source driver: %s", error->message);
        return;
    }
    pump = start_pump(m, g_steal_pointer(&session), TRUE, &plain);
    if (!pump)
        return;
    adopt_main_pump(m, pump);
    vmig_mig_main_start(m, &plain);
}

/* The app's main channel said its first byte (peeked). */
static gboolean
on_main_first_byte(int fd, GIOCondition condition, gpointer user_data)
{
    VmigMigration *m = user_data;
    const VmigMigrationSettings *settings = vmig_mig_settings(m);
    g_auto(VmigFd) conn = -1;
    guint8 first = 0;
    gssize n = recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    g_clear_pointer(&m->handshake_timer, g_source_unref);
    conn = vmig_fd_steal(&m->request_fd);
    if (n > 0 && first == VMIG_TLS_HANDSHAKE_BYTE) {
        if (!settings->tls) {
            g_autofree char *reason =
                vmig_pending_refused_tls_text(settings->tls_unavailable);

            vmig_mig_main_start(m, &conn); /* for the ERROR frame, in plaintext */
            vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_TLS, "%s", reason);
            return G_SOURCE_REMOVE;
        }
        m->dials++;
        vmig_tls_handshake_async(settings->tls, VMIG_TLS_ROLE_SERVER, &conn, NULL,
                                 "the source driver", VMIG_MIG_HANDSHAKE_TIMEOUT_MS,
                                 m->cancellable, on_server_handshake, vmig_mig_ref(m));
        return G_SOURCE_REMOVE;
    }
    if (n > 0 && m->tls_required) {
        vmig_mig_main_start(m, &conn);
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_TLS, "%s", VMIG_PENDING_REFUSED_PLAINTEXT);
        return G_SOURCE_REMOVE;
    }
    /* Plaintext, or the end of file the main channel reports itself. */
    vmig_mig_main_start(m, &conn);
    return G_SOURCE_REMOVE;
}

void
vmig_mig_tls_accept_main(VmigMigration *m, int *fdp)
{
    g_autoptr(GError) error = NULL;

    /* The destination speaks first (fdpass/preamble.h). */
    if (!vmig_transport_send_hello(*fdp, &error)) {
        vmig_fd_clear(fdp);
        vmig_mig_fail_error(m, 0, "the main channel", error);
        return;
    }
    if (!vmig_mig_settings(m)->tls && !m->tls_required) {
        vmig_mig_main_start(m, fdp);
        return;
    }
    m->request_fd = vmig_fd_steal(fdp);
    if (!g_unix_set_fd_nonblocking(m->request_fd, TRUE, &error)) {
        vmig_mig_fail_error(m, 0, "the main channel", error);
        return;
    }
    /* The watch rides on handshake_timer's slot: stop() clears it. */
    m->handshake_timer = vmig_mig_watch(m, m->request_fd, G_IO_IN, on_main_first_byte, m);
}
