/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-source.c: the source's side of the handshake
 *
 *   opener "VMGM" -> GREETING in -> REPLY out (the selection, the token)
 *   -> data channels collected (migration-channels.c) -> COMMIT out (the
 *   channels that came) once the backend configured QEMU -> READY in ->
 *   the backend starts the stream (version 2: the control conversation
 *   goes on, migration-control.c)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <string.h>

#include "driver/features.h"
#include "json/writer.h"

void
vmig_mig_source_open(VmigMigration *m)
{
    guint8 opener[VMIG_PREAMBLE_MAGIC_SIZE];

    if (m->send_domain) {
        vmig_mig_source_open_domain(m);
        return;
    }
    if (!vmig_mig_step(m, VMIG_MIG_EVENT_OPEN))
        return;
    vmig_preamble_encode_main(opener);
    m->handshake_start = g_get_monotonic_time();
    vmig_mig_send_raw(m, opener, sizeof(opener));
    vmig_mig_arm_handshake_timer(m);
}

/*
 * Applies the driver's rules between features (features.c) to the
 * selection both sides could make; what is dropped, and why, goes to the
 * record.  Returns: TRUE, or FALSE with @error (two required features
 * that cannot go together).
 */
static gboolean
resolve_conflicts(VmigMigration *m, VmigNegotiateMessage *selection, GError **error)
{
    g_autoptr(GArray) dropped = g_array_new(FALSE, FALSE, sizeof(VmigFeatureDrop));
    VmigFeatureSet set = 0;

    for (guint i = 0; i < selection->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(selection->features, i);
        const VmigFeatureInfo *info = vmig_feature_find(f->name);

        if (info)
            set |= VMIG_FEATURE_BIT(info->id);
    }
    if (!vmig_features_resolve(&set, m->required, dropped, error))
        return FALSE;
    for (guint d = 0; d < dropped->len; d++) {
        const VmigFeatureDrop *drop = &g_array_index(dropped, VmigFeatureDrop, d);
        const char *name = vmig_feature_info(drop->feature)->name;

        for (guint i = 0; i < selection->features->len; i++) {
            const VmigNegotiateFeature *f = g_ptr_array_index(selection->features, i);

            if (g_str_equal(f->name, name)) {
                vmig_mig_add_reason(m->declined, name, NULL, drop->reason);
                g_ptr_array_remove_index(selection->features, i);
                break;
            }
        }
    }
    return TRUE;
}

/* Returns: whether @feature lists algorithm @name. */
static gboolean
has_algorithm(const VmigNegotiateFeature *feature, const char *name)
{
    for (guint i = 0; feature->algorithms && i < feature->algorithms->len; i++) {
        if (g_str_equal(g_ptr_array_index(feature->algorithms, i), name))
            return TRUE;
    }
    return FALSE;
}

/* Returns: why @name was declined, as the record says, or NULL. */
static const char *
declined_reason(VmigMigration *m, const char *name)
{
    for (guint i = 0; i < json_array_get_length(m->declined); i++) {
        JsonObject *o = json_array_get_object_element(m->declined, i);

        if (g_str_equal(json_object_get_string_member(o, "name"), name))
            return json_object_get_string_member(o, "reason");
    }
    return NULL;
}

/*
 * What the user asked for by name is a requirement: a tunable that a
 * feature negotiates (features.c: multifd-compression=zstd) must be in
 * @selection with that value, or the migration is refused before it starts
 * (the old way went on without it and said so only in the record).
 * Returns: TRUE, or FALSE with @error naming the tunable and what the
 * destination (@greeting) lacks.
 */
static gboolean
check_asked_tunables(VmigMigration *m, const VmigNegotiateMessage *greeting,
                     const VmigNegotiateMessage *selection, GError **error)
{
    for (guint i = 0; i < m->applied->len; i++) {
        VmigMigTunable *a = g_ptr_array_index(m->applied, i);
        const VmigFeatureInfo *info = a->tunable ? a->tunable->feature : NULL;
        const char *value = JSON_NODE_HOLDS_VALUE(a->value) &&
                                    json_node_get_value_type(a->value) == G_TYPE_STRING
                                ? json_node_get_string(a->value)
                                : NULL;
        const VmigNegotiateFeature *chosen;
        const VmigNegotiateFeature *peer;
        const char *why;

        /* "none" asks for nothing (the feature's default). */
        if (!info || a->tunable->kind != VMIG_TUNABLE_KIND_PARAMETER || !value ||
            g_str_equal(value, "none"))
            continue;
        chosen = vmig_negotiate_message_find_feature(selection, info->name);
        if (chosen && chosen->algorithms && has_algorithm(chosen, value))
            continue;
        peer = vmig_negotiate_message_find_feature(greeting, info->name);
        if (!peer) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "tunable %s=%s was asked for, but the destination does not offer "
                        "%s: its QEMU cannot do it or its driver's policy forbids it",
                        a->name, value, info->name);
            return FALSE;
        }
        if (peer->algorithms && !has_algorithm(peer, value)) {
            g_autoptr(GString) offered = g_string_new(NULL);

            for (guint j = 0; j < peer->algorithms->len; j++)
                g_string_append_printf(offered, "%s%s", j ? ", " : "",
                                       (char *)g_ptr_array_index(peer->algorithms, j));
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "tunable %s=%s was asked for, but the destination QEMU cannot do "
                        "'%s' (it offers: %s)",
                        a->name, value, value, offered->len ? offered->str : "nothing");
            return FALSE;
        }
        why = declined_reason(m, info->name);
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "tunable %s=%s was asked for, but feature '%s' cannot be used: %s",
                    a->name, value, info->name, why ? why : "not negotiated");
        return FALSE;
    }
    return TRUE;
}

/* The user's tunables that the destination's QEMU has too (its GREETING lists them) go in
 * @reply. */
static void
add_peer_tunables(VmigMigration *m, VmigNegotiateMessage *reply,
                  const VmigNegotiateMessage *greeting)
{
    m->peer_tunables = json_object_new();
    for (guint i = 0; i < m->applied->len; i++) {
        VmigMigTunable *a = g_ptr_array_index(m->applied, i);
        g_autofree char *json = NULL;
        gboolean has = FALSE;

        for (guint j = 0; j < greeting->tunable_names->len; j++)
            has |= g_str_equal(g_ptr_array_index(greeting->tunable_names, j), a->name);
        /* Parameters a feature negotiates are never sent as tunables. */
        if (!has || vmig_feature_find_parameter(a->name))
            continue;
        json = vmig_json_write(a->value, FALSE, NULL);
        vmig_negotiate_message_add_tunable(reply, a->name, json);
        json_object_set_member(m->peer_tunables, a->name, json_node_copy(a->value));
    }
}

void
vmig_mig_source_greeting(VmigMigration *m, VmigNegotiateMessage *greeting)
{
    g_autoptr(GError) error = NULL;
    const VmigNegotiateFeature *multifd;
    VmigNegotiateMessage *reply;

    m->peer_offer = greeting;
    reply = vmig_negotiate_select(m->local_offer, greeting, &error);
    if (!reply) {
        vmig_mig_fail(m, vmig_negotiate_code_from_error(error), "%s", error->message);
        return;
    }
    m->reply = reply;
    m->version = g_array_index(reply->versions, guint32, 0);
    if (m->tls && !vmig_mig_v2(m)) {
        /* Version 1 hands the main channel to QEMU, whose end of a TLS
         * connection is a socket of the pump's, with no word of the end. */
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_VERSION,
                      "TLS between drivers needs protocol version 2, and version %u was "
                      "selected (--max-protocol 1 on either side?)",
                      m->version);
        return;
    }
    if (!resolve_conflicts(m, reply, &error)) {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_FEATURE, "%s", error->message);
        return;
    }
    if (!check_asked_tunables(m, greeting, reply, &error)) {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_FEATURE, "%s", error->message);
        return;
    }
    vmig_mig_record_selection(m);
    multifd = vmig_negotiate_message_find_feature(
        reply, vmig_feature_info(VMIG_FEATURE_MULTIFD)->name);
    reply->channels = multifd ? MIN(multifd->channels, greeting->max_channels) : 0;

    if (!vmig_preamble_token_generate(m->token, &error)) {
        vmig_mig_fail_error(m, VMIG_NEGOTIATE_CODE_INTERNAL, NULL, error);
        return;
    }
    memcpy(reply->token, m->token, VMIG_TOKEN_SIZE);
    reply->hypervisor = g_strdup(m->local_offer->hypervisor);
    reply->driver = g_strdup(m->local_offer->driver);
    add_peer_tunables(m, reply, greeting);
    if (vmig_mig_v2(m))
        reply->heartbeat_ms = vmig_mig_settings(m)->heartbeat_interval_ms;
    if (!vmig_mig_send_frame(m, reply))
        return;
    vmig_mig_arm_handshake_timer(m);
    if (vmig_mig_v2(m))
        vmig_mig_control_start(m);

    /* Version 2 always collects: QEMU's stream has a data channel of its own. */
    if (vmig_mig_data_wanted(m) == 0) {
        vmig_mig_source_commit(m);
        return;
    }
    if (vmig_mig_step(m, VMIG_MIG_EVENT_SELECT))
        vmig_mig_channels_collect(m);
}

/* QEMU is configured for the COMMIT: send it. */
static void
commit_configured(VmigMigration *m)
{
    if (!vmig_mig_send_frame(m, m->commit))
        return;
    m->commit_sent = TRUE;
    vmig_mig_arm_handshake_timer(m);
    vmig_mig_emit_negotiated(m);
}

void
vmig_mig_source_commit(VmigMigration *m)
{
    VmigNegotiateMessage *commit;

    if (m->commit || m->finished)
        return;
    vmig_mig_source_clear(&m->channel_timer);
    if (vmig_mig_v2(m) && m->channels_got == 0) {
        vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_CHANNELS,
                      "no data channel came within the channel timeout (%u ms): protocol "
                      "version 2 carries QEMU's stream on a channel of its own",
                      m->channel_timeout_ms);
        return;
    }
    if (!vmig_mig_step(m, VMIG_MIG_EVENT_COMMIT))
        return;
    commit = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_COMMIT);
    /* The multifd channels: version 2's data channel 0 is QEMU's main stream. */
    commit->channels = vmig_mig_v2(m) ? m->channels_got - 1 : m->channels_got;
    for (guint i = 0; i < m->reply->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(m->reply->features, i);
        const VmigFeatureInfo *info = vmig_feature_find(f->name);
        gboolean multifd = info && info->id == VMIG_FEATURE_MULTIFD;
        VmigNegotiateFeature *copy;

        if ((multifd || (info && info->id == VMIG_FEATURE_MULTIFD_COMPRESSION)) &&
            commit->channels == 0) {
            if (m->reply->channels > 0)
                vmig_mig_add_reason(m->declined, f->name, NULL,
                                    "no extra channel was supplied in time");
            continue;
        }
        copy = vmig_negotiate_message_add_feature(commit, vmig_negotiate_feature_copy(f));
        if (multifd)
            vmig_negotiate_feature_set_channels(copy, commit->channels);
        /* What the destination sets because of the COMMIT, for the record. */
        if (multifd && m->peer_tunables)
            json_object_set_int_member(m->peer_tunables, "multifd-channels",
                                       commit->channels);
        else if (info && info->id == VMIG_FEATURE_MULTIFD_COMPRESSION &&
                 m->peer_tunables && f->algorithms && f->algorithms->len)
            json_object_set_string_member(m->peer_tunables, info->parameter,
                                          g_ptr_array_index(f->algorithms, 0));
    }
    m->commit = commit;
    vmig_mig_record_chosen(m, commit);
    vmig_mig_apply_commit(m);
    m->backend->configure(m, commit_configured);
}

void
vmig_mig_source_ready(VmigMigration *m)
{
    if (vmig_mig_v2(m))
        vmig_mig_main_handshake_over(m);
    else
        vmig_mig_main_stop(m);
    m->backend->start_source(m);
}
