/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-main.c: the main channel: the handshake's frames out (a queue
 * written as the socket takes it) and in (read exactly up to each frame's
 * end, so that in version 1 the QEMU stream that follows is never
 * swallowed), the deadline of each step of the peer, and each frame to its
 * role; in version 2, after READY, to the control conversation
 * (migration-control.c)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "fdpass/fd.h"

static void main_update_watch(VmigMigration *m);

gboolean
vmig_mig_send_frame(VmigMigration *m, const VmigNegotiateMessage *msg)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = vmig_negotiate_encode(msg, &error);

    if (!bytes) {
        vmig_mig_fail_error(m, VMIG_NEGOTIATE_CODE_INTERNAL, "cannot encode the frame",
                            error);
        return FALSE;
    }
    if (!m->main_unwritable)
        vmig_mig_transcript_add(m, TRUE, msg, g_bytes_get_size(bytes));
    vmig_mig_send_raw(m, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    return TRUE;
}

void
vmig_mig_send_raw(VmigMigration *m, const guint8 *data, gsize len)
{
    if (m->main_unwritable)
        return;
    g_byte_array_append(m->out, data, len);
    m->bytes_sent += len;
    main_update_watch(m);
}

gboolean
vmig_mig_main_flush(VmigMigration *m)
{
    while (m->out->len > 0) {
        gssize n =
            send(m->main_fd, m->out->data, m->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return TRUE;
            if (vmig_mig_v2(m) && m->main_source) {
                /* The peer closed, but what it sent before may still be
                 * unread (RESUMED, an ERROR with the reason): read on, and
                 * its end of file or reset ends @m. */
                g_debug("%s: the main channel takes no more: %s", m->id,
                        g_strerror(errno));
                m->main_unwritable = TRUE;
                g_byte_array_set_size(m->out, 0);
                main_update_watch(m);
                return TRUE;
            }
            if (vmig_mig_v2(m)) {
                vmig_mig_peer_gone(m, g_strerror(errno));
            } else {
                vmig_mig_fail(m, 0, "the main channel failed: %s", g_strerror(errno));
            }
            return FALSE;
        }
        g_byte_array_remove_range(m->out, 0, n);
    }
    /* All out: poll for reading only again, or the watch spins. */
    main_update_watch(m);
    return TRUE;
}

gboolean
vmig_mig_main_open(VmigMigration *m)
{
    if (m->main_fd < 0)
        return FALSE;
    return vmig_mig_v2(m) ? m->main_source != NULL : !m->handshake_done;
}

/* Version 2: the handshake is over; the main channel goes on as the control connection.
 */
static void
handshake_over(VmigMigration *m)
{
    vmig_mig_source_clear(&m->handshake_timer);
    m->handshake_done = TRUE;
    m->handshake_end = g_get_monotonic_time();
}

gboolean
vmig_mig_send_ready(VmigMigration *m)
{
    g_autoptr(VmigNegotiateMessage) ready =
        vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_READY);
    g_autoptr(GBytes) bytes = vmig_negotiate_encode(ready, NULL);

    if (vmig_mig_v2(m)) {
        if (!vmig_mig_send_frame(m, ready))
            return FALSE;
        handshake_over(m);
        return vmig_mig_main_flush(m);
    }
    /* The last frame: written in full before the fd becomes QEMU's. */
    if (m->out->len && !vmig_mig_main_flush(m))
        return FALSE;
    vmig_mig_main_stop(m);
    if (write(m->main_fd, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes)) !=
        (gssize)g_bytes_get_size(bytes)) {
        vmig_mig_fail(m, 0, "cannot send READY: %s", g_strerror(errno));
        return FALSE;
    }
    vmig_mig_transcript_add(m, TRUE, ready, g_bytes_get_size(bytes));
    m->bytes_sent += g_bytes_get_size(bytes);
    return TRUE;
}

/* The peer took too long for its step.  Returns: G_SOURCE_REMOVE. */
static gboolean
on_handshake_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->handshake_timer, g_source_unref);
    vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                  "the peer driver did not answer within %d s (state %s)",
                  VMIG_MIG_HANDSHAKE_TIMEOUT_MS / 1000,
                  vmig_migration_state_to_string(m->state));
    return G_SOURCE_REMOVE;
}

void
vmig_mig_arm_handshake_timer(VmigMigration *m)
{
    vmig_mig_source_clear(&m->handshake_timer);
    if (!m->handshake_done && !m->finished)
        m->handshake_timer =
            vmig_mig_timeout(m, VMIG_MIG_HANDSHAKE_TIMEOUT_MS, on_handshake_timeout);
}

/* Dispatches a frame (@msg consumed) by role and by what came before. */
static void
frame_received(VmigMigration *m, VmigNegotiateMessage *msg)
{
    VmigNegotiateFrameType expected;

    if (vmig_mig_v2(m) && msg->type == VMIG_NEGOTIATE_FRAME_HEARTBEAT) {
        vmig_negotiate_message_free(msg);
        return;
    }
    if (vmig_mig_v2(m) && m->handshake_done) {
        vmig_mig_control_frame(m, msg);
        return;
    }
    if (msg->type == VMIG_NEGOTIATE_FRAME_ERROR) {
        /* The peer refused: its reason is ours, word for word. */
        g_autofree char *reason = g_strdup(msg->message);

        vmig_negotiate_message_free(msg);
        m->peer_gave_up = TRUE;
        vmig_mig_finish(m, VMIG_MIGRATION_FAILED, reason);
        return;
    }
    if (m->role == VMIG_ROLE_SOURCE)
        expected = !m->peer_offer   ? VMIG_NEGOTIATE_FRAME_GREETING
                   : m->commit_sent ? VMIG_NEGOTIATE_FRAME_READY
                                    : VMIG_NEGOTIATE_FRAME_LAST;
    else
        expected = !m->reply    ? VMIG_NEGOTIATE_FRAME_REPLY
                   : !m->commit ? VMIG_NEGOTIATE_FRAME_COMMIT
                                : VMIG_NEGOTIATE_FRAME_LAST;
    if (msg->type != expected) {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                      "unexpected %s frame from the peer driver (state %s)",
                      vmig_negotiate_frame_type_to_string(msg->type),
                      vmig_migration_state_to_string(m->state));
        vmig_negotiate_message_free(msg);
        return;
    }
    switch (msg->type) {
    case VMIG_NEGOTIATE_FRAME_GREETING:
        vmig_mig_source_greeting(m, msg);
        break;
    case VMIG_NEGOTIATE_FRAME_REPLY:
        vmig_mig_destination_reply(m, msg);
        break;
    case VMIG_NEGOTIATE_FRAME_COMMIT:
        vmig_mig_destination_commit(m, msg);
        break;
    case VMIG_NEGOTIATE_FRAME_READY:
        vmig_negotiate_message_free(msg);
        vmig_mig_source_ready(m);
        break;
    default:
        vmig_negotiate_message_free(msg);
        g_assert_not_reached();
    }
}

/*
 * The destination reads the opener: 4 bytes, "VMGM".
 * Returns: G_SOURCE_CONTINUE, or G_SOURCE_REMOVE once @m failed.
 */
static gboolean
read_opener(VmigMigration *m, const guint8 *buf, gsize n)
{
    memcpy(m->opener + m->opener_have, buf, n);
    m->opener_have += n;
    if (m->opener_have < VMIG_PREAMBLE_MAGIC_SIZE)
        return G_SOURCE_CONTINUE;
    if (vmig_preamble_classify(m->opener) != VMIG_PREAMBLE_KIND_MAIN) {
        vmig_mig_fail(
            m, 0,
            "the main channel does not open with \"VMGM\" (got %02x %02x %02x %02x)",
            m->opener[0], m->opener[1], m->opener[2], m->opener[3]);
        return G_SOURCE_REMOVE;
    }
    vmig_mig_destination_open(m);
    return m->finished ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* Reads from the main channel, never past the end of a frame. */
static gboolean
on_main_io(int fd, GIOCondition condition, gpointer user_data)
{
    g_autoptr(VmigMigration) m = vmig_mig_ref(user_data);
    g_autoptr(GError) error = NULL;
    VmigNegotiateMessage *msg = NULL;
    VmigNegotiateStatus status;
    gsize consumed = 0;
    guint8 buf[4096];
    gboolean opener;
    gsize want;
    gssize n;

    if ((condition & G_IO_OUT) && !vmig_mig_main_flush(m))
        return G_SOURCE_REMOVE;
    if (m->finished || m->main_fd < 0)
        return G_SOURCE_REMOVE;
    if (!(condition & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
        return G_SOURCE_CONTINUE;

    opener =
        m->role == VMIG_ROLE_DESTINATION && m->opener_have < VMIG_PREAMBLE_MAGIC_SIZE;
    want = opener ? VMIG_PREAMBLE_MAGIC_SIZE - m->opener_have
                  : MIN(sizeof(buf), vmig_negotiate_decoder_wanted(m->decoder));
    n = recv(fd, buf, want, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return G_SOURCE_CONTINUE;
        /* Closed for frames first: the end must not write to it again. */
        vmig_mig_source_clear(&m->main_source);
        vmig_mig_peer_gone(m, g_strerror(errno));
        return G_SOURCE_REMOVE;
    }
    if (n == 0) {
        vmig_mig_source_clear(&m->main_source);
        if (!vmig_negotiate_decoder_finish(m->decoder, &error))
            vmig_mig_fail(m, 0, "the peer driver closed the main channel mid-frame: %s",
                          error->message);
        else
            vmig_mig_peer_gone(m, "connection closed");
        return G_SOURCE_REMOVE;
    }
    m->bytes_received += n;
    m->last_heard = g_get_monotonic_time();
    if (m->handshake_start == 0)
        m->handshake_start = g_get_monotonic_time();
    if (opener)
        return read_opener(m, buf, n);
    m->frame_bytes_in += n;

    status = vmig_negotiate_decoder_feed(m->decoder, buf, n, &consumed, &msg, &error);
    if (status == VMIG_NEGOTIATE_STATUS_ERROR) {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                      "malformed frame from the peer driver: %s", error->message);
        return G_SOURCE_REMOVE;
    }
    if (status == VMIG_NEGOTIATE_STATUS_FRAME) {
        /* Read exactly up to the frame's end: these are its bytes. */
        vmig_mig_transcript_add(m, FALSE, msg, m->frame_bytes_in);
        m->frame_bytes_in = 0;
        frame_received(m, msg);
    }
    if (m->finished || m->main_fd < 0 || m->main_source == NULL)
        return G_SOURCE_REMOVE;
    return G_SOURCE_CONTINUE;
}

void
vmig_mig_main_handshake_over(VmigMigration *m)
{
    handshake_over(m);
}

/* Polls for writing too while the queue holds bytes. */
static void
main_update_watch(VmigMigration *m)
{
    if (m->main_source)
        g_source_modify_unix_fd(m->main_source, m->main_tag,
                                G_IO_IN | (m->out->len ? G_IO_OUT : 0));
}

/* The main source's dispatch: on_main_io() with the conditions that fired. */
static gboolean
main_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    VmigMigration *m = user_data;

    return on_main_io(m->main_fd, g_source_query_unix_fd(source, m->main_tag), m);
}

static GSourceFuncs main_source_funcs = {
    .dispatch = main_source_dispatch,
};

/* Never called: the dispatch calls on_main_io() itself.  Returns: G_SOURCE_CONTINUE. */
static gboolean
main_source_callback(gpointer user_data)
{
    return G_SOURCE_CONTINUE;
}

void
vmig_mig_main_start(VmigMigration *m, int *fdp)
{
    g_autoptr(GError) error = NULL;

    m->main_fd = vmig_fd_steal(fdp);
    if (!g_unix_set_fd_nonblocking(m->main_fd, TRUE, &error)) {
        vmig_mig_fail_error(m, 0, "the main channel", error);
        return;
    }
    if (!m->decoder)
        m->decoder = vmig_negotiate_decoder_new();
    m->main_source = g_source_new(&main_source_funcs, sizeof(GSource));
    m->main_tag = g_source_add_unix_fd(m->main_source, m->main_fd, G_IO_IN);
    g_source_set_callback(m->main_source, main_source_callback, m, NULL);
    g_source_attach(m->main_source, vmig_mig_settings(m)->context);
}

void
vmig_mig_main_stop(VmigMigration *m)
{
    vmig_mig_source_clear(&m->main_source);
    vmig_mig_source_clear(&m->handshake_timer);
    m->handshake_done = TRUE;
    m->handshake_end = g_get_monotonic_time();
    /* QEMU (or a bridge) blocks on it from here on. */
    if (!g_unix_set_fd_nonblocking(m->main_fd, FALSE, NULL))
        g_debug("%s: the main channel stays non-blocking: %s", m->id, g_strerror(errno));
}
