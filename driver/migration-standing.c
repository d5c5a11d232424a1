/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-standing.c: migrations that meet at a standing listener
 * (driver/standing.h): the source brings its domain ("VMGD" and a DOMAIN
 * frame, docs/protocol.md); the destination migration that the listener
 * starts for it takes its main channel, and its data channels by token
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <string.h>

#include "driver/libvirt.h"

/* ------------------------------------------------------------------------ */
/* The source */

void
vmig_mig_source_open_domain(VmigMigration *m)
{
    g_autoptr(VmigNegotiateMessage) frame =
        vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_DOMAIN);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;
    g_autofree char *uri = NULL;
    guint8 opener[VMIG_PREAMBLE_MAGIC_SIZE];

    if (!vmig_mig_step(m, VMIG_MIG_EVENT_OPEN))
        return;
    vmig_preamble_encode_domain(opener);
    m->handshake_start = g_get_monotonic_time();
    vmig_mig_send_raw(m, opener, sizeof(opener));
    vmig_mig_arm_handshake_timer(m);
    if (!vmig_libvirt_parse_domain(m->domain, &uri, &frame->domain_name, &error)) {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_INTERNAL, "%s", error->message);
        return;
    }
    frame->domain_xml = g_strdup(m->domain_xml);
    if (!frame->domain_xml) {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_INTERNAL,
                      "no migratable XML of domain '%s' to send", frame->domain_name);
        return;
    }
    bytes = vmig_negotiate_encode(frame, &error);
    if (!bytes) {
        /* The destination hears why, in an ERROR frame where the DOMAIN was due. */
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                      "the migratable XML of domain '%s' (%zu bytes) does not fit a "
                      "DOMAIN frame (%s): prepare the destination with 'incoming --xml' "
                      "instead",
                      frame->domain_name, strlen(frame->domain_xml), error->message);
        return;
    }
    vmig_mig_send_raw(m, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    vmig_mig_transcript_add(m, TRUE, frame, g_bytes_get_size(bytes));
}

/* ------------------------------------------------------------------------ */
/* The destination */

gboolean
vmig_migration_adopt_main(VmigMigrations *ms, const char *id, int *fdp,
                          VmigTlsPump **pumpp, GError **error)
{
    VmigMigration *m = g_hash_table_lookup(ms->by_id, id);

    if (!m || !m->standing || m->role != VMIG_ROLE_DESTINATION || m->finished ||
        m->main_fd >= 0 || m->state != VMIG_MIGRATION_WAITING) {
        g_set_error(
            error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
            "migration '%s' is not waiting for a standing listener's main channel", id);
        return FALSE;
    }
    vmig_mig_pending_funcs.main(fdp, pumpp, m);
    return TRUE;
}

/* Returns: the standing destination migration whose REPLY named @token, or NULL. */
static VmigMigration *
find_token(VmigMigrations *ms, const guint8 token[VMIG_TOKEN_SIZE])
{
    for (guint i = 0; i < ms->order->len; i++) {
        VmigMigration *m = g_ptr_array_index(ms->order, i);

        if (m->standing && m->role == VMIG_ROLE_DESTINATION && !m->finished && m->reply &&
            memcmp(m->token, token, VMIG_TOKEN_SIZE) == 0)
            return m;
    }
    return NULL;
}

gboolean
vmig_migration_knows_token(VmigMigrations *ms, const guint8 token[VMIG_TOKEN_SIZE])
{
    return find_token(ms, token) != NULL;
}

void
vmig_migration_route_channel(VmigMigrations *ms, const guint8 token[VMIG_TOKEN_SIZE],
                             int *fdp, guint index, VmigTlsPump **pumpp)
{
    VmigMigration *m = find_token(ms, token);

    if (m)
        vmig_mig_pending_funcs.channel(fdp, index, pumpp, m);
}
