/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * standing.c: the standing listener of --listen (driver/standing.h)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-standing"

#include "driver/standing.h"

#include <string.h>
#include <unistd.h>

#include "driver/listener.h"
#include "driver/transport.h"
#include "fdpass/fd.h"

struct _VmigStanding {
    char *uri;
    char *libvirt_uri;
    int listen_fd;
    VmigListener *listener;
    VmigPendingSet *pending;
};

/* Returns: TRUE when @port is a whole decimal number from 1 to 65535, in *@out. */
static gboolean
parse_port(const char *text, guint *out)
{
    guint64 value;

    if (!g_ascii_string_to_unsigned(text, 10, 1, G_MAXUINT16, &value, NULL))
        return FALSE;
    *out = (guint)value;
    return TRUE;
}

char *
vmig_standing_address(const char *text, GError **error)
{
    g_autoptr(VmigAddress) address = NULL;
    g_autofree char *host = NULL;
    g_autofree char *uri = NULL;
    const char *rest = text;
    const char *port_text = NULL;
    guint port = VMIG_STANDING_DEFAULT_PORT;

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
    if (port_text && !parse_port(port_text, &port)) {
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

/*
 * A connection that opened with "VMGM" over TLS from a trusted peer: such
 * a main channel belongs to a migration an app prepared, with a listener
 * of its own; none is prepared on the standing listener.
 */
static void
on_main(int *fdp, VmigTlsPump **pumpp, gpointer user_data)
{
    VmigStanding *standing = user_data;

    g_message("standing listener %s: a main channel (\"VMGM\") came, but no migration "
              "is prepared on this listener; closed",
              standing->uri);
}

/* A channel whose token no migration of this listener knows: closed. */
static void
on_channel(int *fdp, guint index, VmigTlsPump **pumpp, gpointer user_data)
{
    VmigStanding *standing = user_data;

    g_message("standing listener %s: channel %u of no migration of this listener; closed",
              standing->uri, index);
}

static const VmigPendingFuncs standing_funcs = {
    .main = on_main,
    .channel = on_channel,
    /* The pending set logs refusals; no app waits on this listener. */
    .refused = NULL,
};

static void
on_connection(int *fdp, gpointer user_data)
{
    VmigStanding *standing = user_data;

    vmig_pending_set_add(standing->pending, fdp, TRUE);
}

VmigStanding *
vmig_standing_new(GMainContext *context, const char *uri, VmigTlsContext *tls,
                  VmigPendingPool *pool, const char *libvirt_uri, GError **error)
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
    standing->listen_fd = fd;
    standing->pending = vmig_pending_set_new(pool, context, "the standing listener", 0,
                                             &standing_funcs, standing);
    vmig_pending_set_tls(standing->pending, tls, TRUE, NULL);
    standing->listener = vmig_listener_new(context, fd, uri, on_connection, standing);
    return standing;
}

void
vmig_standing_free(VmigStanding *standing)
{
    if (!standing)
        return;
    g_clear_pointer(&standing->listener, vmig_listener_free);
    g_clear_pointer(&standing->pending, vmig_pending_set_free);
    vmig_fd_clear(&standing->listen_fd);
    g_free(standing->libvirt_uri);
    g_free(standing->uri);
    g_free(standing);
}
