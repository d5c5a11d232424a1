/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-channels.c: a migration's connections besides the main
 * channel: the extra channels (asked of the app or dialled, preambles
 * written; on the destination, matched by token and index), the private
 * sockets QEMU connects to, and the bridges that join them
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "fdpass/fd.h"
#include "fdpass/fdpass.h"

/* QEMU 7.2's multifd channel header starts with this magic. */
#define MULTIFD_MAGIC 0x11223344u
/* QEMU's migration stream starts with "QEVM". */
#define QEVM_MAGIC 0x5145564Du

/* ------------------------------------------------------------------------ */
/* Which channel is which */

guint
vmig_mig_data_wanted(VmigMigration *m)
{
    return m->reply->channels + (vmig_mig_v2(m) ? 1 : 0);
}

guint
vmig_mig_data_committed(VmigMigration *m)
{
    return m->commit->channels + (vmig_mig_v2(m) ? 1 : 0);
}

int *
vmig_mig_stream_fd(VmigMigration *m)
{
    return vmig_mig_v2(m) ? &g_array_index(m->channels, int, 0) : &m->main_fd;
}

int *
vmig_mig_multifd_fd(VmigMigration *m, guint i)
{
    return &g_array_index(m->channels, int, i + (vmig_mig_v2(m) ? 1 : 0));
}

/* ------------------------------------------------------------------------ */
/* Collecting */

/* The channel timeout: the source goes on with what came, the destination fails. */
static gboolean
on_channel_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->channel_timer, g_source_unref);
    if (m->role == VMIG_ROLE_SOURCE) {
        g_debug("%s: %u of %u channels after the channel timeout", m->id, m->channels_got,
                vmig_mig_data_wanted(m));
        vmig_mig_source_commit(m);
    } else {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_CHANNELS,
                      "only %u of the %u channels the COMMIT announced arrived in time",
                      m->channels_got, m->commit ? vmig_mig_data_committed(m) : 0);
    }
    return G_SOURCE_REMOVE;
}

void
vmig_mig_channels_arm_timeout(VmigMigration *m)
{
    vmig_mig_source_clear(&m->channel_timer);
    m->channel_timer = vmig_mig_timeout(m, m->channel_timeout_ms, on_channel_timeout);
}

/* One extra channel is connected (URI mode), or could not be. */
static void
on_channel_dialled(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_auto(VmigFd) fd = vmig_transport_dial_finish(result, &error);

    m->dials--;
    if (m->finished) {
        /* Cancelled by the end, which waits for every dial's socket to go. */
        vmig_fd_clear(&fd);
        vmig_mig_end_bridges(m);
        return;
    }
    if (fd >= 0) {
        vmig_mig_await_hello(m, &fd, FALSE);
        return;
    }
    g_debug("%s: an extra channel: %s", m->id, error->message);
    if (m->dials == 0 && m->state == VMIG_MIGRATION_COLLECTING)
        vmig_mig_source_commit(m);
}

void
vmig_mig_channel_ready(VmigMigration *m, int *fdp, const GError *error)
{
    g_autoptr(GError) local = NULL;

    if (*fdp < 0) {
        g_message("migration %s: a data channel: %s", m->id, error->message);
    } else if (m->state != VMIG_MIGRATION_COLLECTING) {
        /* The channel timeout went by, and the COMMIT with it. */
        g_message("migration %s: a data channel came in state '%s', after the COMMIT: "
                  "closed",
                  m->id, vmig_migration_state_to_string(m->state));
        vmig_fd_clear(fdp);
    } else if (!vmig_mig_channels_add_plain(m, fdp, 1, &local)) {
        vmig_mig_fail_error(m, VMIG_NEGOTIATE_CODE_CHANNELS, NULL, local);
        return;
    }
    /* URI mode: what has connected when every dial is over is what we go
     * with; fd mode waits for the app until the channel timeout. */
    if (m->uri && m->dials == 0 && m->state == VMIG_MIGRATION_COLLECTING)
        vmig_mig_source_commit(m);
}

/* Asks the app for the REPLY's channels: CHANNELS_REQUESTED, with the token. */
static void
request_channels(VmigMigration *m)
{
    g_autoptr(JsonBuilder) b = vmig_mig_event_begin(m);
    g_autoptr(GString) token = g_string_new(NULL);

    for (guint i = 0; i < VMIG_TOKEN_SIZE; i++)
        g_string_append_printf(token, "%02x", m->token[i]);
    json_builder_set_member_name(b, "count");
    json_builder_add_int_value(b, vmig_mig_data_wanted(m));
    json_builder_set_member_name(b, "token");
    json_builder_add_string_value(b, token->str);
    json_builder_end_object(b);
    vmig_mig_emit(m, "CHANNELS_REQUESTED", b);
}

void
vmig_mig_channels_collect(VmigMigration *m)
{
    if (m->uri) {
        /* URI mode: all dialled at once, each within the channel timeout;
         * what has connected by then is what we go with. */
        m->dials += vmig_mig_data_wanted(m);
        for (guint i = 0; i < vmig_mig_data_wanted(m); i++)
            vmig_transport_dial_async(m->address, m->channel_timeout_ms, m->cancellable,
                                      on_channel_dialled, vmig_mig_ref(m));
        return;
    }
    request_channels(m);
    /* Whatever has arrived when the time is up is what we go with. */
    vmig_mig_channels_arm_timeout(m);
}

/* Writes channel @index's preamble on *@fdp.  Returns: TRUE, or FALSE with @error. */
static gboolean
write_preamble(VmigMigration *m, int fd, guint index, GError **error)
{
    VmigPreamble preamble;
    guint8 bytes[VMIG_PREAMBLE_SIZE];

    memcpy(preamble.token, m->token, VMIG_TOKEN_SIZE);
    preamble.index = index;
    vmig_preamble_encode(&preamble, bytes);
    /* A fresh socket: 24 bytes go out at once, and QEMU's bridge wants it blocking. */
    if (!g_unix_set_fd_nonblocking(fd, FALSE, error))
        return FALSE;
    return vmig_fdpass_send_all(fd, bytes, sizeof(bytes), NULL, 0, error);
}

/*
 * Channels the app may still supply to @m: on the source what CHANNELS_REQUESTED
 * asked for, less what came or is on its way; on the destination what the REPLY
 * asked for (before it, the most the destination offered), less what came.
 * Return: that number; G_MAXUINT where the state refuses channels anyway.
 */
static guint
channels_room(VmigMigration *m)
{
    guint wanted;
    guint have;

    if (m->role == VMIG_ROLE_SOURCE) {
        if (!m->reply)
            return G_MAXUINT;
        wanted = vmig_mig_data_wanted(m);
        have = m->channels_got + m->dials;
    } else {
        wanted = m->reply ? vmig_mig_data_wanted(m) : m->max_channels + 1;
        have = m->channels_supplied;
    }
    return have < wanted ? wanted - have : 0;
}

/* The source: each channel waits for the destination's hello (and a TLS
 * handshake), then is added. */
static gboolean
channels_add_source(VmigMigration *m, int *fds, gsize n_fds, GError **error)
{
    gsize i;

    if (m->finished || m->state != VMIG_MIGRATION_COLLECTING) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' takes no channels in state '%s'", m->id,
                    vmig_migration_state_to_string(m->state));
        for (i = 0; i < n_fds; i++)
            vmig_fd_clear(&fds[i]);
        return FALSE;
    }
    for (i = 0; i < n_fds; i++)
        vmig_mig_await_hello(m, &fds[i], FALSE);
    return TRUE;
}

gboolean
vmig_mig_channels_add(VmigMigration *m, int *fds, gsize n_fds, guint *n_closed,
                      GError **error)
{
    guint room = channels_room(m);
    gsize kept = MIN(n_fds, (gsize)room);
    gboolean ok;
    gsize i;

    *n_closed = 0;
    /* Every fd is judged, surplus or not: a batch with a non-socket fails whole. */
    for (i = 0; i < n_fds; i++) {
        if (!vmig_fdpass_check_stream_socket(fds[i], error)) {
            g_prefix_error(error, "channel %" G_GSIZE_FORMAT ": ", i);
            for (i = 0; i < n_fds; i++)
                vmig_fd_clear(&fds[i]);
            return FALSE;
        }
    }
    if (m->role == VMIG_ROLE_SOURCE)
        ok = channels_add_source(m, fds, kept, error);
    else
        ok = vmig_mig_channels_add_plain(m, fds, kept, error);
    /* More than asked for: closed at once, not held until the migration ends. */
    for (i = kept; i < n_fds; i++)
        vmig_fd_clear(&fds[i]);
    if (!ok)
        return FALSE;
    if (m->role == VMIG_ROLE_DESTINATION)
        m->channels_supplied += kept;
    *n_closed = n_fds - kept;
    if (*n_closed > 0)
        g_message("%s: %u surplus channel(s) closed: %" G_GSIZE_FORMAT
                  " supplied, room for %u",
                  m->id, *n_closed, n_fds, room);
    return TRUE;
}

gboolean
vmig_mig_channels_add_plain(VmigMigration *m, int *fds, gsize n_fds, GError **error)
{
    gboolean source = m->role == VMIG_ROLE_SOURCE;
    gboolean ok = TRUE;
    gsize i;

    if (m->finished ||
        (source ? m->state != VMIG_MIGRATION_COLLECTING
                : m->state > VMIG_MIGRATION_COMMITTING || m->configuring)) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
                    "migration '%s' takes no channels in state '%s'", m->id,
                    vmig_migration_state_to_string(m->state));
        ok = FALSE;
    }
    for (i = 0; ok && i < n_fds; i++) {
        if (!vmig_fdpass_check_stream_socket(fds[i], error)) {
            g_prefix_error(error, "channel %" G_GSIZE_FORMAT ": ", i);
            ok = FALSE;
        }
    }
    if (!ok) {
        for (i = 0; i < n_fds; i++)
            vmig_fd_clear(&fds[i]);
        return FALSE;
    }

    for (i = 0; i < n_fds; i++) {
        if (!source) {
            vmig_pending_set_add(m->pending, &fds[i], FALSE);
            continue;
        }
        if (m->channels_got >= vmig_mig_data_wanted(m)) {
            vmig_fd_clear(&fds[i]); /* more than asked for */
            continue;
        }
        if (!write_preamble(m, fds[i], m->channels_got, error)) {
            g_prefix_error(error, "channel %u: ", m->channels_got);
            for (; i < n_fds; i++)
                vmig_fd_clear(&fds[i]);
            return FALSE;
        }
        g_array_append_val(m->channels, fds[i]);
        fds[i] = -1;
        m->channels_got++;
    }
    if (source && m->channels_got == vmig_mig_data_wanted(m))
        vmig_mig_source_commit(m);
    vmig_mig_notify(m);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The destination: connections until proven (driver/pending.h) */

/* A listener's connection opened with "VMGM": the main channel, if none came yet. */
static void
on_pending_main(int *fdp, VmigTlsPump **pumpp, gpointer user_data)
{
    g_autoptr(VmigMigration) m = vmig_mig_ref(user_data);

    if (m->finished || m->main_fd >= 0 || m->state != VMIG_MIGRATION_WAITING) {
        g_debug("%s: a second main channel was dropped", m->id);
        return;
    }
    vmig_mig_tls_adopt(m, pumpp, TRUE, 0);
    vmig_preamble_encode_main(m->opener);
    m->opener_have = VMIG_PREAMBLE_MAGIC_SIZE;
    m->handshake_start = g_get_monotonic_time();
    m->bytes_received += VMIG_PREAMBLE_MAGIC_SIZE;
    vmig_mig_main_start(m, fdp);
    if (!m->finished)
        vmig_mig_destination_open(m);
}

/* A channel whose preamble carries this migration's token: it goes in its slot. */
static void
on_pending_channel(int *fdp, guint index, VmigTlsPump **pumpp, gpointer user_data)
{
    g_autoptr(VmigMigration) m = vmig_mig_ref(user_data);
    int *slot;

    if (m->finished)
        return;
    if (!m->reply || index >= vmig_mig_data_wanted(m)) {
        g_debug("%s: channel index %u out of range; closed", m->id, index);
        return;
    }
    if (index < m->channels->len && g_array_index(m->channels, int, index) >= 0) {
        g_debug("%s: channel index %u came twice; the second is closed", m->id, index);
        return;
    }
    if (!vmig_mig_tls_adopt(m, pumpp, FALSE, index))
        return;
    while (m->channels->len < vmig_mig_data_wanted(m)) {
        int none = -1;

        g_array_append_val(m->channels, none);
    }
    slot = &g_array_index(m->channels, int, index);
    if (*slot >= 0) {
        g_debug("%s: channel index %u came twice; the second is closed", m->id, index);
        return;
    }
    *slot = vmig_fd_steal(fdp);
    m->channels_got++;
    vmig_mig_destination_try_configure(m);
}

/* A connection was refused before it could prove itself (TLS): the app hears why. */
static void
on_pending_refused(const char *reason, gpointer user_data)
{
    VmigMigration *m = user_data;
    g_autoptr(JsonBuilder) b = NULL;

    gint64 now = g_get_monotonic_time();

    if (m->finished)
        return;
    /* A flood of strangers makes one event a second, not one each. */
    if (m->refused_at && now - m->refused_at < G_USEC_PER_SEC) {
        m->refused_quiet++;
        return;
    }
    m->refused_at = now;
    b = vmig_mig_event_begin(m);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, reason);
    if (m->refused_quiet) {
        json_builder_set_member_name(b, "more");
        json_builder_add_int_value(b, m->refused_quiet);
        m->refused_quiet = 0;
    }
    json_builder_end_object(b);
    vmig_mig_emit(m, "CONNECTION_REFUSED", b);
}

const VmigPendingFuncs vmig_mig_pending_funcs = {
    .main = on_pending_main,
    .channel = on_pending_channel,
    .refused = on_pending_refused,
};

/*
 * Returns: TRUE if the peer of unix connection @fd may reach a prepared
 * migration: root, or the daemon's own user (a source daemon runs as one
 * of them; any other local user could spend or hijack the migration).
 */
static gboolean
unix_peer_allowed(VmigMigration *m, int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        g_message("migration %s: a connection to %s whose peer cannot be known (%s): "
                  "closed",
                  m->id, m->uri, g_strerror(errno));
        return FALSE;
    }
    if (cred.uid == 0 || cred.uid == geteuid())
        return TRUE;
    g_message("migration %s: a connection to %s from uid %u (pid %d): only root and "
              "uid %u may connect; closed",
              m->id, m->uri, (guint)cred.uid, (int)cred.pid, (guint)geteuid());
    return FALSE;
}

/* The listener accepted a connection: it must say what it is. */
static void
on_listener_connection(int *fdp, gpointer user_data)
{
    VmigMigration *m = user_data;

    if (m->address->kind == VMIG_ADDRESS_UNIX && !unix_peer_allowed(m, *fdp)) {
        vmig_fd_clear(fdp);
        return;
    }
    vmig_pending_set_add(m->pending, fdp, TRUE);
}

gboolean
vmig_mig_channels_listen(VmigMigration *m, GError **error)
{
    m->listen_fd = vmig_transport_listen(m->address, error);
    if (m->listen_fd < 0)
        return FALSE;
    if (m->address->kind == VMIG_ADDRESS_UNIX)
        m->listen_path = g_strdup(m->address->path);
    m->listener = vmig_listener_new(vmig_mig_settings(m)->context, m->listen_fd, m->uri,
                                    on_listener_connection, m);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Bridges */

/* QEMU had not completed a few seconds after the stream ended.  Returns: G_SOURCE_REMOVE.
 */
static gboolean
on_stream_end_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->stream_end_timer, g_source_unref);
    vmig_mig_fail(m, 0,
                  "the stream from the source ended, and QEMU had not completed the "
                  "migration %d s later",
                  VMIG_MIG_STREAM_END_GRACE_MS / 1000);
    return G_SOURCE_REMOVE;
}

void
vmig_mig_channels_arm_stream_end(VmigMigration *m)
{
    if (!m->stream_end_timer && !m->finished)
        m->stream_end_timer =
            vmig_mig_timeout(m, VMIG_MIG_STREAM_END_GRACE_MS, on_stream_end_timeout);
}

/* A bridged channel ended; once all of a destination's have, so has the stream. */
static void
on_bridge_done(VmigBridge *bridge, const GError *error, gpointer user_data)
{
    VmigMigration *m = user_data;

    if (error)
        g_debug("%s: bridge ended: %s", m->id, error->message);
    m->bridges_done++;
    if (m->finished)
        vmig_mig_end_bridges(m);
    else if (m->role == VMIG_ROLE_DESTINATION && m->bridges_done == m->bridges->len)
        m->backend->stream_ended(m);
}

/* Bridges *@fd_a and *@fd_b (consumed).  Returns: TRUE, or FALSE with @m failed. */
static gboolean
bridge(VmigMigration *m, int *fd_a, int *fd_b, const char *what)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = g_strdup_printf("%s/%s", m->id, what);
    VmigBridge *b =
        vmig_bridge_start(fd_a, fd_b, NULL, NULL, name, vmig_mig_settings(m)->context,
                          on_bridge_done, m, &error);

    if (!b) {
        vmig_mig_fail_error(m, 0, "cannot bridge a channel", error);
        return FALSE;
    }
    g_ptr_array_add(m->bridges, b);
    return TRUE;
}

int
vmig_mig_channels_dial_local(const char *path, GError **error)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_auto(VmigFd) fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_HYPERVISOR,
                    "cannot connect to 'unix:%s': %s", path, g_strerror(errno));
        return -1;
    }
    return vmig_fd_steal(&fd);
}

gboolean
vmig_mig_channels_bridge_to_qemu(VmigMigration *m, const char *path, int *main_conn)
{
    g_autoptr(GError) error = NULL;

    if (!bridge(m, vmig_mig_stream_fd(m), main_conn, "main"))
        return FALSE;
    for (guint i = 0; i < m->commit->channels; i++) {
        int *chan = vmig_mig_multifd_fd(m, i);
        g_autofree char *what = g_strdup_printf("multifd%u", i);
        g_auto(VmigFd) conn = vmig_mig_channels_dial_local(path, &error);

        if (conn < 0) {
            vmig_mig_fail_error(m, 0, "cannot reach the destination QEMU", error);
            return FALSE;
        }
        if (!bridge(m, chan, &conn, what))
            return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The source's private socket: QEMU's connections, told apart by their first bytes */

typedef struct {
    VmigMigration *m;
    int fd;
    GSource *source;
} Outgoing;

static void
outgoing_free(Outgoing *o)
{
    vmig_mig_source_clear(&o->source);
    vmig_fd_clear(&o->fd);
    g_free(o);
}

/*
 * Classifies one of QEMU's connections by its first four bytes (peeked,
 * so they stay in the socket for the bridge) and bridges it onto its
 * channel.  Returns: whether to keep waiting for them.
 */
static gboolean
on_outgoing_io(int fd, GIOCondition condition, gpointer user_data)
{
    Outgoing *o = user_data;
    VmigMigration *m = o->m;
    guint8 magic[4];
    gssize n = recv(fd, magic, sizeof(magic), MSG_PEEK | MSG_DONTWAIT);
    g_auto(VmigFd) qemu_fd = -1;
    guint32 value;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n > 0 && n < 4)
        return G_SOURCE_CONTINUE; /* the rest is on its way */
    g_clear_pointer(&o->source, g_source_unref);
    qemu_fd = vmig_fd_steal(&o->fd);
    g_ptr_array_remove(m->outgoing, o);
    if (n <= 0)
        return G_SOURCE_REMOVE;
    value = ((guint32)magic[0] << 24) | (magic[1] << 16) | (magic[2] << 8) | magic[3];
    if (value == QEVM_MAGIC && !m->main_bridged) {
        m->main_bridged = TRUE;
        bridge(m, &qemu_fd, vmig_mig_stream_fd(m), "main");
    } else if (value == MULTIFD_MAGIC && m->multifd_bridged < m->commit->channels) {
        int *chan = vmig_mig_multifd_fd(m, m->multifd_bridged);
        g_autofree char *what = g_strdup_printf("multifd%u", m->multifd_bridged);

        m->multifd_bridged++;
        bridge(m, &qemu_fd, chan, what);
    } else {
        g_debug("%s: unexpected connection from QEMU (magic %08x); closed", m->id, value);
    }
    if (m->main_bridged && m->multifd_bridged == m->commit->channels)
        g_clear_pointer(&m->listener, vmig_listener_free);
    return G_SOURCE_REMOVE;
}

/* QEMU connected to the private socket: wait for its first bytes. */
static void
on_private_connection(int *fdp, gpointer user_data)
{
    VmigMigration *m = user_data;
    Outgoing *o;

    /* QEMU opens the main connection and one per channel, each saying at
     * once what it is: more waiting than that is not QEMU at work. */
    if (m->outgoing->len > m->commit->channels) {
        g_debug("%s: more connections to the private socket than QEMU opens; the oldest "
                "is closed",
                m->id);
        g_ptr_array_remove_index(m->outgoing, 0);
    }
    o = g_new0(Outgoing, 1);
    o->m = m;
    o->fd = vmig_fd_steal(fdp);
    o->source = vmig_mig_watch(m, o->fd, G_IO_IN, on_outgoing_io, o);
    g_ptr_array_add(m->outgoing, o);
}

gboolean
vmig_mig_channels_listen_private(VmigMigration *m, const char *path, GError **error)
{
    VmigAddress address = {.kind = VMIG_ADDRESS_UNIX, .path = (char *)path};
    g_autofree char *uri = vmig_address_to_string(&address);

    m->listen_fd = vmig_transport_listen(&address, error);
    if (m->listen_fd < 0)
        return FALSE;
    m->outgoing = g_ptr_array_new_with_free_func((GDestroyNotify)outgoing_free);
    m->listener = vmig_listener_new(vmig_mig_settings(m)->context, m->listen_fd, uri,
                                    on_private_connection, m);
    return TRUE;
}
