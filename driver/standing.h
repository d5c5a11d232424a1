/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * standing.h: a destination that is always ready (docs/libvirt.md,
 * "One command")
 *
 * With --listen, the daemon keeps one listener of its own, beside those
 * of prepared migrations, for sources that bring their domain with them
 * instead of having an app prepare the destination first.  Anyone who can
 * reach it could start a migration into this host's libvirt, so it is
 * served over TLS only (mutual x509), to the peers --tls-allowed-dn names
 * only: the daemon refuses to start one without both
 * (vmig_standing_check()).  Its connections go through a pending set
 * (driver/pending.h) like any listener's: bounded in number and time, a
 * plaintext opener answered with a plaintext ERROR frame that says TLS is
 * required, a certificate the CA did not sign or a DN not in the list
 * refused during the TLS handshake, with the reason logged here and sent
 * to the peer as a TLS alert.
 *
 * A trusted connection that opens with "VMGD" sends a DOMAIN frame (the
 * domain's name and migratable XML, docs/protocol.md) within the pending
 * timeout.  The listener then starts a destination migration of that
 * domain into --libvirt-uri, as prepare-incoming with "domain-xml" does
 * (the emulator the XML names is probed); once it waits, it takes the
 * connection as its main channel and greets, and the conversation goes on
 * as after "VMGM".  Its data channels come to the listener too ("VMGC"):
 * each is held until a migration started here has the token it carries
 * (the REPLY), then handed to it.  A DOMAIN that does not parse, or names
 * an emulator that cannot be probed, is refused with an ERROR frame that
 * says why, before any guest byte; the log says it too.
 */
#pragma once

#include <glib.h>

#include "driver/migration.h"
#include "driver/pending.h"
#include "tls/session.h"

/*
 * The standing listener's port when --listen names none.  16509 and 16514
 * are libvirtd's (TCP and TLS), 49152-49215 is the range QEMU and libvirt
 * take migration ports from, and Linux hands out ephemeral ports from
 * 32768: 16520 is none of these, next to libvirtd's own ports.
 */
#define VMIG_STANDING_DEFAULT_PORT 16520

/* The destination libvirt's URI when --libvirt-uri is not given. */
#define VMIG_STANDING_DEFAULT_LIBVIRT_URI "qemu:///system"

typedef struct _VmigStanding VmigStanding;

/*
 * vmig_standing_address:
 * @text: HOST, HOST:PORT, [V6]:PORT, tcp:HOST or tcp:HOST:PORT (without a
 *        port: VMIG_STANDING_DEFAULT_PORT)
 * Returns: the address as a transport URI, tcp:HOST:PORT (to free), or
 * NULL with @error saying what is wrong with @text.
 */
char *vmig_standing_address(const char *text, GError **error);

/*
 * vmig_standing_check:
 * @tls: (nullable): the daemon's TLS context
 * @tls_unavailable: (nullable): when @tls is NULL, why
 * @allowed_dn: (nullable): --tls-allowed-dn
 * Returns: TRUE when a standing listener may run with these, or FALSE
 * with @error saying what is missing and why it is needed.
 */
gboolean vmig_standing_check(VmigTlsContext *tls, const char *tls_unavailable,
                             const char *const *allowed_dn, GError **error);

/*
 * vmig_standing_new:
 * @context: where it accepts and reads
 * @uri: where to listen (vmig_standing_address())
 * @tls: the daemon's TLS context (borrowed: outlives the listener), whose
 *       DN list the peers must match
 * @pool: the daemon's pending pool (outlives the listener)
 * @timeout_ms: how long a source may take to send its DOMAIN frame
 * @migrations: where the migrations start (outlives the listener)
 * @libvirt_uri: the destination libvirt's URI (copied)
 * Returns: the listener, listening, or NULL with @error set.
 */
VmigStanding *vmig_standing_new(GMainContext *context, const char *uri,
                                VmigTlsContext *tls, VmigPendingPool *pool,
                                guint timeout_ms, VmigMigrations *migrations,
                                const char *libvirt_uri, GError **error);

/* Closes the listener and every connection still pending on it. */
void vmig_standing_free(VmigStanding *standing);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigStanding, vmig_standing_free)
