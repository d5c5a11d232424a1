/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-record.c: the negotiation record (query-migration, D-Bus
 * properties): what each side offered, what was chosen and why, what was
 * declined and why, the tunables set on each side, the handshake's cost
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include "driver/features.h"

void
vmig_mig_add_reason(JsonArray *array, const char *name,
                    const VmigNegotiateFeature *feature, const char *reason)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "name", name);
    if (feature && feature->has_channels)
        json_object_set_int_member(o, "channels", feature->channels);
    if (feature && feature->algorithms) {
        JsonArray *algs = json_array_new();

        for (guint i = 0; i < feature->algorithms->len; i++)
            json_array_add_string_element(algs,
                                          g_ptr_array_index(feature->algorithms, i));
        json_object_set_array_member(o, "algorithms", algs);
    }
    json_object_set_string_member(o, "reason", reason);
    json_array_add_object_element(array, o);
}

/* Returns: the tunable the user set called @name on this side, or NULL. */
VmigMigTunable *
vmig_mig_find_applied(VmigMigration *m, const char *name)
{
    for (guint i = 0; i < m->applied->len; i++) {
        VmigMigTunable *a = g_ptr_array_index(m->applied, i);

        if (g_str_equal(a->name, name))
            return a;
    }
    return NULL;
}

/* Records, for the source, why each offered feature was or was not chosen. */
void
vmig_mig_record_selection(VmigMigration *m)
{
    const VmigNegotiateMessage *src = m->local_offer, *dst = m->peer_offer;

    for (guint side = 0; side < 2; side++) {
        const VmigNegotiateMessage *offer = side == 0 ? src : dst;
        const VmigNegotiateMessage *other = side == 0 ? dst : src;

        for (guint i = 0; i < offer->features->len; i++) {
            const VmigNegotiateFeature *f = g_ptr_array_index(offer->features, i);
            gboolean listed = FALSE;

            if (vmig_negotiate_message_find_feature(m->reply, f->name))
                continue;
            for (guint j = 0; j < json_array_get_length(m->declined); j++)
                listed |= g_str_equal(
                    json_object_get_string_member(
                        json_array_get_object_element(m->declined, j), "name"),
                    f->name);
            if (listed)
                continue;
            if (!vmig_negotiate_message_find_feature(other, f->name))
                vmig_mig_add_reason(m->declined, f->name, NULL,
                                    side == 0 ? "not offered by the destination"
                                              : "not offered by the source");
            else if (side == 0)
                vmig_mig_add_reason(m->declined, f->name, NULL,
                                    "offered by both, with no attribute value in common");
        }
    }
}

JsonObject *
vmig_mig_feature_to_json(const VmigNegotiateFeature *f)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "name", f->name);
    if (f->has_channels)
        json_object_set_int_member(o, "channels", f->channels);
    if (f->algorithms) {
        JsonArray *algorithms = json_array_new();

        for (guint i = 0; i < f->algorithms->len; i++)
            json_array_add_string_element(algorithms,
                                          g_ptr_array_index(f->algorithms, i));
        json_object_set_array_member(o, "algorithms", algorithms);
    }
    if (f->required)
        json_object_set_boolean_member(o, "required", TRUE);
    return o;
}

/* Returns: @offer's versions and features, as the record shows a side's offer. */
static JsonNode *
offer_to_json(const VmigNegotiateMessage *offer)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();
    JsonArray *versions = json_array_new();
    JsonArray *features = json_array_new();

    for (guint i = 0; i < offer->versions->len; i++)
        json_array_add_int_element(versions, g_array_index(offer->versions, guint32, i));
    for (guint i = 0; i < offer->features->len; i++)
        json_array_add_object_element(
            features, vmig_mig_feature_to_json(g_ptr_array_index(offer->features, i)));
    json_object_set_array_member(o, "versions", versions);
    json_object_set_array_member(o, "features", features);
    json_node_take_object(node, o);
    return node;
}

static JsonObject *
applied_to_json(VmigMigration *m)
{
    JsonObject *o = json_object_new();

    for (guint i = 0; i < m->applied->len; i++) {
        VmigMigTunable *a = g_ptr_array_index(m->applied, i);

        json_object_set_member(o, a->name, json_node_copy(a->value));
    }
    return o;
}

/* Returns: the negotiation record of @m (a new node). */
JsonNode *
vmig_mig_record(VmigMigration *m)
{
    gboolean source = m->role == VMIG_ROLE_SOURCE;
    const VmigNegotiateMessage *peer = source ? m->peer_offer : m->reply;
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "migration", m->id);
    json_object_set_string_member(o, "role", vmig_role_to_string(m->role));
    json_object_set_string_member(o, "state", vmig_migration_state_to_string(m->state));
    json_object_set_string_member(o, "domain", m->domain);
    /* A standing listener's migration: URI mode, at the daemon's listener. */
    json_object_set_string_member(o, "mode", m->uri || m->standing ? "uri" : "fd");
    json_object_set_string_member(o, "peer",
                                  m->uri        ? m->uri
                                  : m->standing ? m->standing
                                                : "fd");
    if (m->reply)
        json_object_set_int_member(o, "version",
                                   g_array_index(m->reply->versions, guint32, 0));
    if (m->catalog)
        json_object_set_string_member(o, "hypervisor", m->catalog->hypervisor);
    if (peer) {
        json_object_set_string_member(o, "peer-hypervisor", peer->hypervisor);
        json_object_set_string_member(o, "peer-driver", peer->driver);
    }
    json_object_set_string_member(o, "driver", PACKAGE_NAME " " PACKAGE_VERSION);
    if (m->legacy_peer) {
        g_autofree char *how =
            m->legacy_held_by
                ? g_strdup_printf("held since migration %s's refusal", m->legacy_held_by)
            : m->uri ? g_strdup("dialled")
                     : g_strdup("the management app's");

        json_object_set_string_member(o, "peer-driver", "no driver");
        json_object_set_string_member(o, "peer-connection", how);
    }
    /* A peer with no driver was offered nothing: no handshake ran. */
    if (m->local_offer && !m->legacy_peer) {
        JsonObject *offered = json_object_new();

        json_object_set_member(offered, vmig_role_to_string(m->role),
                               offer_to_json(m->local_offer));
        if (source && m->peer_offer)
            json_object_set_member(offered, "destination", offer_to_json(m->peer_offer));
        json_object_set_object_member(o, "offered", offered);
    }
    if (m->reply || m->legacy_peer) {
        json_object_set_array_member(o, "features", json_array_ref(m->chosen));
        json_object_set_array_member(o, "declined", json_array_ref(m->declined));
        {
            JsonObject *ch = json_object_new();

            json_object_set_int_member(ch, "requested",
                                       m->reply ? m->reply->channels : 0);
            json_object_set_int_member(ch, "received",
                                       m->commit ? m->commit->channels : m->channels_got);
            json_object_set_object_member(o, "channels", ch);
        }
    }
    if (m->applied) {
        JsonObject *tunables = json_object_new();

        json_object_set_object_member(tunables, vmig_role_to_string(m->role),
                                      applied_to_json(m));
        if (source && m->peer_tunables)
            json_object_set_object_member(tunables, "destination",
                                          json_object_ref(m->peer_tunables));
        json_object_set_object_member(o, "tunables", tunables);
    }
    if (m->changes && json_array_get_length(m->changes) > 0)
        json_object_set_array_member(o, "changes", json_array_ref(m->changes));
    if (m->handshake_start) {
        JsonObject *hs = json_object_new();
        gint64 end = m->handshake_end ? m->handshake_end : g_get_monotonic_time();

        json_object_set_int_member(hs, "bytes-sent", m->bytes_sent);
        json_object_set_int_member(hs, "bytes-received", m->bytes_received);
        json_object_set_int_member(hs, "milliseconds", (end - m->handshake_start) / 1000);
        json_object_set_object_member(o, "handshake", hs);
    }
    if (m->transcript)
        json_object_set_object_member(o, "transcript", vmig_mig_transcript_record(m));
    {
        JsonObject *stats = vmig_mig_stats_record(m);

        if (stats)
            json_object_set_object_member(o, "stats", stats);
    }
    if (m->progress) {
        JsonObject *progress = json_object_new();
        JsonObjectIter iter;
        const char *name;
        JsonNode *value;

        json_object_iter_init_ordered(&iter, m->progress);
        while (json_object_iter_next_ordered(&iter, &name, &value))
            json_object_set_member(progress, name, json_node_copy(value));
        /* Since the migration began, as of that reading. */
        if (m->handshake_start)
            json_object_set_int_member(progress, "milliseconds",
                                       (m->progress_at - m->handshake_start) / 1000);
        json_object_set_object_member(o, "progress", progress);
    }
    vmig_mig_tls_record(m, o);
    if (m->switchover_by)
        json_object_set_string_member(o, "switchover", m->switchover_by);
    if ((m->reply || m->legacy_peer) && !vmig_mig_v2(m)) {
        /* What version 1 cannot give: docs/protocol.md, "Version 2"; a peer
         * with no driver gives none of it either, nor a negotiation. */
        JsonArray *lost = json_array_new();

        json_array_add_string_element(lost, "confirmed switchover");
        json_array_add_string_element(lost, "heartbeats");
        json_array_add_string_element(lost, "the destination's reason on failure");
        if (m->legacy_peer)
            json_array_add_string_element(lost, "negotiated features and tunables");
        json_object_set_array_member(o, "lost-guarantees", lost);
    }
    if (m->finished) {
        json_object_set_string_member(o, "result",
                                      vmig_migration_state_to_string(m->state));
        if (m->error)
            json_object_set_string_member(o, "error", m->error);
    }
    json_node_take_object(node, o);
    return node;
}

/* Fills the record's list of chosen features from @selection. */
void
vmig_mig_record_chosen(VmigMigration *m, const VmigNegotiateMessage *selection)
{
    g_clear_pointer(&m->chosen, json_array_unref);
    m->chosen = json_array_new();
    for (guint i = 0; i < selection->features->len; i++) {
        const VmigNegotiateFeature *f = g_ptr_array_index(selection->features, i);
        const VmigFeatureInfo *info = vmig_feature_find(f->name);
        g_autofree char *reason = NULL;

        if (info && info->id == VMIG_FEATURE_MULTIFD && m->reply && m->commit &&
            m->commit->channels < m->reply->channels)
            reason = g_strdup_printf("offered by both; %u of %u channels supplied",
                                     m->commit->channels, m->reply->channels);
        else
            reason = g_strdup(m->role == VMIG_ROLE_SOURCE ? "offered by both"
                                                          : "selected by the source");
        vmig_mig_add_reason(m->chosen, f->name, f, reason);
    }
}

void
vmig_mig_emit_negotiated(VmigMigration *m)
{
    g_autoptr(JsonBuilder) b = vmig_mig_event_begin(m);

    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, vmig_role_to_string(m->role));
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, g_array_index(m->reply->versions, guint32, 0));
    json_builder_set_member_name(b, "features");
    json_builder_begin_array(b);
    for (guint i = 0; i < m->commit->features->len; i++)
        json_builder_add_string_value(
            b, ((VmigNegotiateFeature *)g_ptr_array_index(m->commit->features, i))->name);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "channels");
    json_builder_add_int_value(b, m->commit->channels);
    json_builder_set_member_name(b, "requested-channels");
    json_builder_add_int_value(b, m->reply->channels);
    if (m->tls_info) {
        g_autofree char *tls =
            g_strdup_printf("%s %s", m->tls_info->version, m->tls_info->cipher);

        json_builder_set_member_name(b, "tls");
        json_builder_add_string_value(b, tls);
    }
    json_builder_end_object(b);
    vmig_mig_emit(m, "NEGOTIATED", b);
}
