/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-destination.c: the destination's side of the handshake
 *
 *   opener "VMGM" in -> GREETING out -> REPLY in (checked; the token) ->
 *   extra channels matched by token (migration-channels.c) -> COMMIT in ->
 *   every announced channel in -> the backend configures QEMU and starts
 *   it, which sends READY
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <string.h>

#include "json/reader.h"

void
vmig_mig_destination_open(VmigMigration *m)
{
    if (!vmig_mig_step(m, VMIG_MIG_EVENT_OPEN))
        return;
    if (vmig_mig_send_frame(m, m->local_offer))
        vmig_mig_arm_handshake_timer(m);
}

void
vmig_mig_destination_reply(VmigMigration *m, VmigNegotiateMessage *reply)
{
    g_autoptr(GError) error = NULL;

    if (!vmig_negotiate_check_reply(m->local_offer, reply, &error)) {
        vmig_negotiate_message_free(reply);
        vmig_mig_fail(m, vmig_negotiate_code_from_error(error), "%s", error->message);
        return;
    }
    m->reply = reply;
    m->version = g_array_index(reply->versions, guint32, 0);
    memcpy(m->token, reply->token, VMIG_TOKEN_SIZE);
    if (vmig_mig_v2(m))
        vmig_mig_control_start(m);

    /* The tunables the source asks for: each must exist here and parse. */
    for (guint i = 0; i < reply->tunables->len; i++) {
        const VmigNegotiateTunable *t = g_ptr_array_index(reply->tunables, i);
        const VmigTunable *tunable = vmig_catalog_lookup(m->catalog, t->name);
        g_autoptr(JsonNode) value = vmig_json_parse(t->value, -1, NULL);
        VmigMigTunable *a;

        if (!tunable || !value || tunable->feature) {
            vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                          "the source asks to set tunable '%s' to '%s', which this "
                          "destination cannot",
                          t->name, t->value);
            return;
        }
        a = g_new0(VmigMigTunable, 1);
        a->tunable = tunable;
        a->name = g_strdup(t->name);
        a->value = g_steal_pointer(&value);
        a->text = g_strdup(t->value);
        g_ptr_array_add(m->applied, a);
    }
    for (guint i = 0; i < m->local_offer->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(m->local_offer->features, i);

        if (!vmig_negotiate_message_find_feature(reply, f->name))
            vmig_mig_add_reason(m->declined, f->name, NULL, "not selected by the source");
    }
    if (!vmig_mig_step(m, VMIG_MIG_EVENT_SELECT))
        return;
    vmig_mig_arm_handshake_timer(m);
    /* Channels that came before their REPLY are matched now (the last
     * step: a matched channel may complete the set and go on). */
    vmig_pending_set_set_token(m->pending, m->token);
}

void
vmig_mig_destination_commit(VmigMigration *m, VmigNegotiateMessage *commit)
{
    g_autoptr(GError) error = NULL;

    if (!vmig_negotiate_check_commit(m->local_offer, m->reply, commit, &error)) {
        vmig_negotiate_message_free(commit);
        vmig_mig_fail(m, vmig_negotiate_code_from_error(error), "%s", error->message);
        return;
    }
    m->commit = commit;
    vmig_mig_record_chosen(m, commit);
    if (!vmig_mig_step(m, VMIG_MIG_EVENT_COMMIT))
        return;
    vmig_mig_emit_negotiated(m);
    vmig_mig_source_clear(&m->handshake_timer);
    if (m->channels_got < vmig_mig_data_committed(m))
        vmig_mig_channels_arm_timeout(m);
    vmig_mig_destination_try_configure(m);
}

/* QEMU is configured: the backend has it take the stream, and READY goes out. */
static void
configured(VmigMigration *m)
{
    m->backend->start_destination(m);
}

void
vmig_mig_destination_try_configure(VmigMigration *m)
{
    if (m->finished || !m->commit || m->state != VMIG_MIGRATION_COMMITTING ||
        m->configuring)
        return;
    for (guint i = 0; i < vmig_mig_data_committed(m); i++) {
        if (i >= m->channels->len || g_array_index(m->channels, int, i) < 0)
            return;
    }
    m->configuring = TRUE;
    vmig_mig_source_clear(&m->channel_timer);
    vmig_mig_apply_commit(m);
    m->backend->configure(m, configured);
}
