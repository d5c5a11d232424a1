/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * standing.c: the standing listener of --listen (driver/standing.h)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-standing"

#include "driver/standing.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "driver/libvirt.h"
#include "driver/listener.h"
#include "driver/transport.h"
#include "fdpass/fd.h"
#include "negotiate/negotiate.h"

struct _VmigStanding {
    char *uri;
    char *libvirt_uri;
    GMainContext *context;
    VmigMigrations *migrations;
    guint timeout_ms;
    int listen_fd;
    VmigListener *listener;
    VmigPendingSet *pending;
    GList *incoming; /* Incoming *: read their DOMAIN frame, or wait for their start */
    GSource *retry;  /* offers the held channels again, out of the migrations' code */
};

/*
 * A main channel that opened with "VMGD" over TLS from a trusted peer:
 * its DOMAIN frame is read, within the pending timeout, never a byte
 * more; then a destination migration is started for it, which takes the
 * channel once its domain's emulator is probed.
 */
typedef struct {
    gint refs;
    VmigStanding *standing; /* NULL once the listener is gone */
    int fd;                 /* the plaintext end of @pump */
    VmigTlsPump *pump;
    char *peer; /* the peer certificate's DN, for messages */
    VmigNegotiateDecoder *decoder;
    GSource *watch;
    GSource *timer;
    char *name; /* the domain, once its frame is in */
} Incoming;

static const VmigMigrationObserver standing_observer;

char *
vmig_standing_address(const char *text, GError **error)
{
    g_autoptr(VmigAddress) address = NULL;
    g_autofree char *host = NULL;
    g_autofree char *uri = NULL;
    const char *rest = text;
    const char *port_text = NULL;
    guint16 port = VMIG_STANDING_DEFAULT_PORT;

    if (g_str_has_prefix(text, "unix:")) {
        g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                    "'%s': a standing listener takes TCP addresses (HOST[:PORT]), "
                    "since its peers are other hosts",
                    text);
        return NULL;
    }
    if (g_str_has_prefix(text, "tcp:"))
        rest = text + 4;
    if (rest[0] == '[') {
        const char *end = strchr(rest, ']');

        if (!end || (end[1] && end[1] != ':')) {
            g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                        "'%s': an IPv6 address is written [ADDRESS] or [ADDRESS]:PORT",
                        text);
            return NULL;
        }
        host = g_strndup(rest + 1, end - rest - 1);
        if (end[1] == ':')
            port_text = end + 2;
    } else {
        const char *colon = strchr(rest, ':');

        if (colon && strchr(colon + 1, ':')) {
            /* Several colons and no brackets: an IPv6 address, no port. */
            host = g_strdup(rest);
        } else if (colon) {
            host = g_strndup(rest, colon - rest);
            port_text = colon + 1;
        } else {
            host = g_strdup(rest);
        }
    }
    if (!*host) {
        g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                    "'%s' names no host", text);
        return NULL;
    }
    if (port_text && !vmig_address_parse_port(port_text, &port)) {
        g_set_error(error, VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_ADDRESS,
                    "'%s': the port '%s' is not a number from 1 to 65535", text,
                    port_text);
        return NULL;
    }
    uri = strchr(host, ':') ? g_strdup_printf("tcp:[%s]:%u", host, port)
                            : g_strdup_printf("tcp:%s:%u", host, port);
    address = vmig_address_parse(uri, error);
    if (!address)
        return NULL;
    return g_steal_pointer(&uri);
}

gboolean
vmig_standing_check(VmigTlsContext *tls, const char *tls_unavailable,
                    const char *const *allowed_dn, GError **error)
{
    if (!tls) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "--listen needs TLS between drivers (--tls-x509-dir): a standing "
                    "listener takes migrations from other hosts, and only their x509 "
                    "certificates say who they are (%s)",
                    tls_unavailable ? tls_unavailable : "no credentials");
        return FALSE;
    }
    if (!allowed_dn || !allowed_dn[0]) {
        g_set_error_literal(
            error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
            "--listen needs --tls-allowed-dn: a standing listener lets its peers start "
            "migrations into this host's libvirt, so it must name the source drivers it "
            "trusts (any certificate the CA signed is too many)");
        return FALSE;
    }
    return TRUE;
}

/* Stops reading @in and closes its connection; the pump has @flush_ms to send. */
static void
incoming_close(Incoming *in, guint flush_ms)
{
    if (in->watch) {
        g_source_destroy(in->watch);
        g_clear_pointer(&in->watch, g_source_unref);
    }
    if (in->timer) {
        g_source_destroy(in->timer);
        g_clear_pointer(&in->timer, g_source_unref);
    }
    if (in->fd >= 0)
        shutdown(in->fd, SHUT_WR);
    vmig_fd_clear(&in->fd);
    /* Frees the pump too. */
    vmig_tls_pump_close(g_steal_pointer(&in->pump), flush_ms);
}

static void
incoming_unref(Incoming *in)
{
    if (!g_atomic_int_dec_and_test(&in->refs))
        return;
    incoming_close(in, 0);
    g_clear_pointer(&in->decoder, vmig_negotiate_decoder_free);
    g_free(in->peer);
    g_free(in->name);
    g_free(in);
}

/* @in is done with, one way or the other: out of the listener's list. */
static void
incoming_forget(Incoming *in)
{
    if (in->standing) {
        in->standing->incoming = g_list_remove(in->standing->incoming, in);
        in->standing = NULL;
        incoming_unref(in);
    }
}

/*
 * Refuses @in: the source hears @reason in an ERROR frame (its DOMAIN
 * came, so it reads frames), this daemon's log says it too.
 */
static void
incoming_refuse(Incoming *in, VmigNegotiateCode code, const char *reason)
{
    g_autoptr(VmigNegotiateMessage) error =
        vmig_negotiate_message_new_error(code, reason);
    g_autoptr(GBytes) frame = NULL;

    g_message("standing listener: the migration of domain '%s' from %s is refused: %s",
              in->name ? in->name : "(none)", in->peer, reason);
    frame = vmig_negotiate_encode(error, NULL);
    if (frame && in->fd >= 0 &&
        send(in->fd, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame),
             MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        g_debug("standing listener: the refusal to %s was not sent: %s", in->peer,
                g_strerror(errno));
    /* A local thread moves those bytes into the TLS socket's buffer. */
    incoming_close(in, 1000);
    incoming_forget(in);
}

/* The destination migration started (its emulator probed), or was refused. */
static void
on_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Incoming *in = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *id = vmig_migration_start_finish(result, &error);

    if (!in->standing) {
        /* The listener went first: the daemon stops, and fails the migration
         * (which waits for a main channel that will not come) as it goes. */
        incoming_unref(in);
        return;
    }
    if (!id) {
        g_autofree char *reason = g_strdup_printf(
            "the destination cannot take domain '%s': %s", in->name, error->message);

        incoming_refuse(in, VMIG_NEGOTIATE_CODE_HYPERVISOR, reason);
        incoming_unref(in);
        return;
    }
    g_message("standing listener: migration %s takes domain '%s' from %s", id, in->name,
              in->peer);
    if (!vmig_migration_adopt_main(in->standing->migrations, id, &in->fd, &in->pump,
                                   &error)) {
        g_message("standing listener: %s; cancelled", error->message);
        (void)vmig_migration_cancel(in->standing->migrations, id, NULL);
    }
    incoming_close(in, 0);
    incoming_forget(in);
    incoming_unref(in);
}

/* The DOMAIN frame is in: start a destination migration for it. */
static void
incoming_start(Incoming *in, VmigNegotiateMessage *msg)
{
    VmigStanding *standing = in->standing;
    g_autoptr(VmigMigrationRequest) req = g_new0(VmigMigrationRequest, 1);

    in->name = g_strdup(msg->domain_name);
    req->main_fd = -1;
    req->domain = vmig_libvirt_format_domain(standing->libvirt_uri, msg->domain_name);
    req->domain_xml = g_strdup(msg->domain_xml);
    req->resume = TRUE;
    req->tls = TRUE;
    req->standing = g_strdup(standing->uri);
    g_atomic_int_inc(&in->refs);
    vmig_migration_start_async(standing->migrations, VMIG_ROLE_DESTINATION,
                               g_steal_pointer(&req), on_started, in);
}

/* Reads @in's DOMAIN frame.  Returns: G_SOURCE_CONTINUE until it is in. */
static gboolean
on_incoming_readable(int fd, GIOCondition condition, gpointer user_data)
{
    Incoming *in = user_data;
    g_autoptr(VmigNegotiateMessage) msg = NULL;
    g_autoptr(GError) error = NULL;
    guint8 buf[4096];
    gsize consumed = 0;
    gssize n;

    n = recv(fd, buf, MIN(sizeof(buf), vmig_negotiate_decoder_wanted(in->decoder)),
             MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        g_message("standing listener: %s closed before its DOMAIN frame came (%s)",
                  in->peer, n == 0 ? "end of file" : g_strerror(errno));
        g_clear_pointer(&in->watch, g_source_unref);
        incoming_close(in, 0);
        incoming_forget(in);
        return G_SOURCE_REMOVE;
    }
    switch (vmig_negotiate_decoder_feed(in->decoder, buf, n, &consumed, &msg, &error)) {
    case VMIG_NEGOTIATE_STATUS_NEED_MORE:
        return G_SOURCE_CONTINUE;
    case VMIG_NEGOTIATE_STATUS_ERROR: {
        g_autofree char *reason =
            g_strdup_printf("a malformed DOMAIN frame: %s", error->message);

        g_clear_pointer(&in->watch, g_source_unref);
        incoming_refuse(in, VMIG_NEGOTIATE_CODE_PROTOCOL, reason);
        return G_SOURCE_REMOVE;
    }
    case VMIG_NEGOTIATE_STATUS_FRAME:
    default:
        break;
    }
    g_clear_pointer(&in->watch, g_source_unref);
    if (in->timer) {
        g_source_destroy(in->timer);
        g_clear_pointer(&in->timer, g_source_unref);
    }
    if (msg->type == VMIG_NEGOTIATE_FRAME_ERROR) {
        /* The source gave up before it started (a domain too big to send). */
        g_message("standing listener: the source %s gave up: %s", in->peer, msg->message);
        incoming_close(in, 0);
        incoming_forget(in);
        return G_SOURCE_REMOVE;
    }
    if (msg->type != VMIG_NEGOTIATE_FRAME_DOMAIN) {
        g_autofree char *reason =
            g_strdup_printf("a connection that opens with \"VMGD\" sends a DOMAIN frame "
                            "first, not %s",
                            vmig_negotiate_frame_type_to_string(msg->type));

        incoming_refuse(in, VMIG_NEGOTIATE_CODE_PROTOCOL, reason);
        return G_SOURCE_REMOVE;
    }
    incoming_start(in, msg);
    return G_SOURCE_REMOVE;
}

/* The DOMAIN frame did not come in time.  Returns: G_SOURCE_REMOVE. */
static gboolean
on_incoming_timeout(gpointer user_data)
{
    Incoming *in = user_data;

    g_clear_pointer(&in->timer, g_source_unref);
    incoming_refuse(in, VMIG_NEGOTIATE_CODE_TIMEOUT, "no DOMAIN frame came in time");
    return G_SOURCE_REMOVE;
}

/* A connection that opened with "VMGD" over TLS from a trusted peer. */
static void
on_domain(int *fdp, VmigTlsPump **pumpp, gpointer user_data)
{
    VmigStanding *standing = user_data;
    Incoming *in;

    if (!*pumpp) {
        /* The set requires TLS: a plaintext opener never gets here. */
        return;
    }
    in = g_new0(Incoming, 1);
    in->refs = 1;
    in->standing = standing;
    in->fd = vmig_fd_steal(fdp);
    in->pump = g_steal_pointer(pumpp);
    in->peer = g_strdup(vmig_tls_pump_get_info(in->pump)->peer_dn);
    in->decoder = vmig_negotiate_decoder_new();
    standing->incoming = g_list_prepend(standing->incoming, in);
    if (!g_unix_set_fd_nonblocking(in->fd, TRUE, NULL)) {
        incoming_refuse(in, VMIG_NEGOTIATE_CODE_INTERNAL, g_strerror(errno));
        return;
    }
    in->watch = g_unix_fd_source_new(in->fd, G_IO_IN);
    g_source_set_callback(in->watch, (GSourceFunc)(void (*)(void))on_incoming_readable,
                          in, NULL);
    g_source_attach(in->watch, standing->context);
    in->timer = g_timeout_source_new(standing->timeout_ms);
    g_source_set_callback(in->timer, on_incoming_timeout, in, NULL);
    g_source_attach(in->timer, standing->context);
}

/*
 * A connection that opened with "VMGM" over TLS from a trusted peer: such
 * a main channel belongs to a migration an app prepared, with a listener
 * of its own; the standing listener takes only sources that bring their
 * domain.
 */
static void
on_main(int *fdp, VmigTlsPump **pumpp, gpointer user_data)
{
    VmigStanding *standing = user_data;

    g_message("standing listener %s: a main channel opened with \"VMGM\", but this "
              "listener takes only sources that bring their domain (\"VMGD\"); closed",
              standing->uri);
}

static gboolean
on_knows(const guint8 token[VMIG_TOKEN_SIZE], gpointer user_data)
{
    VmigStanding *standing = user_data;

    return vmig_migration_knows_token(standing->migrations, token);
}

static void
on_routed(const guint8 token[VMIG_TOKEN_SIZE], int *fdp, guint index, VmigTlsPump **pumpp,
          gpointer user_data)
{
    VmigStanding *standing = user_data;

    vmig_migration_route_channel(standing->migrations, token, fdp, index, pumpp);
}

static const VmigPendingFuncs standing_funcs = {
    .main = on_main,
    /* No .channel: a set with routed() hands every channel to it. */
    /* The pending set logs refusals; no app waits on this listener. */
    .refused = NULL,
    .domain = on_domain,
    .knows = on_knows,
    .routed = on_routed,
};

/* Returns: G_SOURCE_REMOVE. */
static gboolean
on_retry(gpointer user_data)
{
    VmigStanding *standing = user_data;

    g_clear_pointer(&standing->retry, g_source_unref);
    vmig_pending_set_retry(standing->pending);
    return G_SOURCE_REMOVE;
}

/*
 * A migration changed: one may have learnt the token a held channel
 * carries.  The channels are offered from the main loop, not from inside
 * the migration's own step.
 */
static void
on_migration_changed(const char *id, gpointer user_data)
{
    VmigStanding *standing = user_data;

    if (standing->retry || vmig_pending_set_count(standing->pending) == 0)
        return;
    standing->retry = g_idle_source_new();
    g_source_set_callback(standing->retry, on_retry, standing, NULL);
    g_source_attach(standing->retry, standing->context);
}

static const VmigMigrationObserver standing_observer = {
    .changed = on_migration_changed,
};

static void
on_connection(int *fdp, gpointer user_data)
{
    VmigStanding *standing = user_data;

    vmig_pending_set_add(standing->pending, fdp, TRUE);
}

VmigStanding *
vmig_standing_new(GMainContext *context, const char *uri, VmigTlsContext *tls,
                  VmigPendingPool *pool, guint timeout_ms, VmigMigrations *migrations,
                  const char *libvirt_uri, GError **error)
{
    g_autoptr(VmigAddress) address = vmig_address_parse(uri, error);
    VmigStanding *standing;
    int fd;

    if (!address)
        return NULL;
    fd = vmig_transport_listen(address, error);
    if (fd < 0)
        return NULL;
    standing = g_new0(VmigStanding, 1);
    standing->uri = g_strdup(uri);
    standing->libvirt_uri = g_strdup(libvirt_uri);
    standing->context = context;
    standing->migrations = migrations;
    standing->timeout_ms = timeout_ms;
    standing->listen_fd = fd;
    standing->pending = vmig_pending_set_new(pool, context, "the standing listener", 0,
                                             &standing_funcs, standing);
    vmig_pending_set_tls(standing->pending, tls, TRUE, NULL);
    vmig_migrations_observe(migrations, &standing_observer, standing);
    standing->listener = vmig_listener_new(context, fd, uri, on_connection, standing);
    return standing;
}

void
vmig_standing_free(VmigStanding *standing)
{
    if (!standing)
        return;
    vmig_migrations_unobserve(standing->migrations, &standing_observer, standing);
    if (standing->retry) {
        g_source_destroy(standing->retry);
        g_clear_pointer(&standing->retry, g_source_unref);
    }
    g_clear_pointer(&standing->listener, vmig_listener_free);
    g_clear_pointer(&standing->pending, vmig_pending_set_free);
    while (standing->incoming) {
        Incoming *in = standing->incoming->data;

        incoming_close(in, 0);
        incoming_forget(in);
    }
    vmig_fd_clear(&standing->listen_fd);
    g_free(standing->libvirt_uri);
    g_free(standing->uri);
    g_free(standing);
}
