/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-hello.c: the source waits for the destination driver's hello
 * on each of its connections before it writes a byte (fdpass/preamble.h)
 *
 * A connection whose peer says nothing at all is no driver's: on the main
 * channel that is a QEMU waiting for a migration stream, most likely, and
 * the source has written nothing that could harm it.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include "fdpass/fd.h"

VmigMigConnecting *
vmig_mig_connecting_new(VmigMigration *m, gboolean main)
{
    VmigMigConnecting *c = g_new0(VmigMigConnecting, 1);

    c->m = vmig_mig_ref(m);
    c->main = main;
    m->dials++;
    return c;
}

VmigMigration *
vmig_mig_connecting_end(VmigMigConnecting *c, gboolean *main)
{
    VmigMigration *m = c->m;

    *main = c->main;
    g_free(c);
    m->dials--;
    return m;
}

const char *
vmig_mig_peer_name(VmigMigration *m)
{
    return m->uri ? m->uri : "the management app's connection";
}

static void
on_hello(GObject *source, GAsyncResult *result, gpointer user_data)
{
    gboolean main;
    g_autoptr(VmigMigration) m = vmig_mig_connecting_end(user_data, &main);
    g_autoptr(GError) error = NULL;
    gboolean greeted;
    g_auto(VmigFd) fd = vmig_transport_await_hello_finish(result, &greeted, &error);
    if (m->finished) {
        /* Cancelled by the end, which waits for every connection's socket to go. */
        vmig_fd_clear(&fd);
        vmig_mig_end_bridges(m);
        return;
    }
    if (fd >= 0 && !greeted) {
        if (main) {
            vmig_mig_source_no_driver(m, &fd);
            return;
        }
        vmig_fd_clear(&fd);
        error = g_error_new(VMIG_TRANSPORT_ERROR, VMIG_TRANSPORT_ERROR_TIMEOUT,
                            "'%s' sent no driver's hello within %u ms",
                            vmig_mig_peer_name(m), m->channel_timeout_ms);
    }
    if (!main && fd >= 0 && m->tls) {
        vmig_mig_tls_connect(m, &fd, FALSE);
        return;
    }
    if (!main) {
        vmig_mig_channel_ready(m, &fd, error);
        return;
    }
    if (fd < 0) {
        vmig_mig_fail(m, 0, "%s", error->message);
        return;
    }
    if (m->tls) {
        vmig_mig_tls_connect(m, &fd, TRUE);
        return;
    }
    vmig_mig_main_start(m, &fd);
    vmig_mig_source_open(m);
}

void
vmig_mig_await_hello(VmigMigration *m, int *fdp, gboolean main)
{
    vmig_transport_await_hello_async(
        fdp, vmig_mig_peer_name(m),
        main ? vmig_mig_settings(m)->hello_timeout_ms : m->channel_timeout_ms,
        m->cancellable, on_hello, vmig_mig_connecting_new(m, main));
}
