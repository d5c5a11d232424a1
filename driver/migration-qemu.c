/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-qemu.c: what the hypervisor is to be set to, and what it says
 * while it migrates: the capabilities and parameters of this side (one
 * loop over the feature table, plus the user's tunables), and progress
 * readings turned into MIGRATION_PROGRESS.  Both backends use them: the
 * QMP one sets them itself, the libvirt one hands them to libvirt.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include "driver/features.h"

void
vmig_mig_apply_negotiated(VmigMigration *m, const char *name, JsonNode *value)
{
    VmigMigTunable *a = vmig_mig_find_applied(m, name);
    const VmigTunable *t = vmig_catalog_lookup(m->catalog, name);

    if (!t) {
        json_node_unref(value);
        return;
    }
    if (!a) {
        a = g_new0(VmigMigTunable, 1);
        a->name = g_strdup(name);
        g_ptr_array_add(m->applied, a);
    } else {
        json_node_unref(a->value);
    }
    a->tunable = t;
    a->value = value;
}

void
vmig_mig_apply_commit(VmigMigration *m)
{
    const VmigNegotiateFeature *multifd = vmig_negotiate_message_find_feature(
        m->commit, vmig_feature_info(VMIG_FEATURE_MULTIFD)->name);
    const VmigFeatureInfo *compression_info =
        vmig_feature_info(VMIG_FEATURE_MULTIFD_COMPRESSION);
    const VmigNegotiateFeature *compression =
        vmig_negotiate_message_find_feature(m->commit, compression_info->name);

    if (multifd)
        vmig_mig_apply_negotiated(
            m, "multifd-channels",
            json_node_init_int(json_node_alloc(), m->commit->channels));
    if (compression && compression->algorithms && compression->algorithms->len)
        vmig_mig_apply_negotiated(
            m, compression_info->parameter,
            json_node_init_string(json_node_alloc(),
                                  g_ptr_array_index(compression->algorithms, 0)));
    else if (vmig_mig_find_applied(m, compression_info->parameter))
        vmig_mig_apply_negotiated(m, compression_info->parameter,
                                  json_node_init_string(json_node_alloc(), "none"));
}

JsonObject *
vmig_mig_capabilities(VmigMigration *m)
{
    VmigSide side =
        m->role == VMIG_ROLE_SOURCE ? VMIG_SIDE_SOURCE : VMIG_SIDE_DESTINATION;
    JsonObject *caps = json_object_new();

    /* One loop over the feature table: what the COMMIT switched on, on this side. */
    for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
        const VmigFeatureInfo *info = vmig_feature_info(f);

        if (info->capability && (info->side & side) && m->commit &&
            vmig_negotiate_message_find_feature(m->commit, info->name))
            json_object_set_boolean_member(caps, info->capability, TRUE);
    }
    /* Then the user's workload capabilities (xbzrle, auto-converge, ...). */
    for (guint i = 0; i < m->applied->len; i++) {
        VmigMigTunable *a = g_ptr_array_index(m->applied, i);

        if (a->tunable->kind == VMIG_TUNABLE_KIND_CAPABILITY)
            json_object_set_member(caps, a->name, json_node_copy(a->value));
    }
    return caps;
}

JsonObject *
vmig_mig_parameters(VmigMigration *m)
{
    JsonObject *o = json_object_new();

    for (guint i = 0; i < m->applied->len; i++) {
        VmigMigTunable *a = g_ptr_array_index(m->applied, i);

        if (a->tunable->kind == VMIG_TUNABLE_KIND_PARAMETER)
            json_object_set_member(o, a->name, json_node_copy(a->value));
    }
    return o;
}

void
vmig_mig_progress(VmigMigration *m, const VmigBackendProgress *progress)
{
    g_autoptr(JsonBuilder) b = NULL;
    JsonObject *figures;
    JsonObjectIter iter;
    const char *name;
    JsonNode *value;

    if (m->role == VMIG_ROLE_SOURCE && progress->has_final)
        vmig_mig_stats_read(m, progress);
    if (m->finished || m->role != VMIG_ROLE_SOURCE || !progress->has_ram)
        return;
    figures = json_object_new();
    json_object_set_string_member(figures, "status", progress->status);
    json_object_set_int_member(figures, "transferred",
                               (gint64)MIN(progress->transferred, (guint64)G_MAXINT64));
    json_object_set_int_member(figures, "remaining",
                               (gint64)MIN(progress->remaining, (guint64)G_MAXINT64));
    json_object_set_int_member(figures, "total",
                               (gint64)MIN(progress->total, (guint64)G_MAXINT64));
    json_object_set_int_member(
        figures, "throughput",
        (gint64)MIN(progress->bytes_per_second, (guint64)G_MAXINT64));
    json_object_set_int_member(figures, "expected-downtime",
                               progress->expected_downtime_ms);
    /* Kept for the record's "progress" (virt-migrate jobinfo). */
    g_clear_pointer(&m->progress, json_object_unref);
    m->progress = figures;
    m->progress_at = g_get_monotonic_time();

    b = vmig_mig_event_begin(m);
    json_object_iter_init_ordered(&iter, figures);
    while (json_object_iter_next_ordered(&iter, &name, &value)) {
        json_builder_set_member_name(b, name);
        json_builder_add_value(b, json_node_copy(value));
    }
    json_builder_end_object(b);
    vmig_mig_emit(m, "MIGRATION_PROGRESS", b);
}

/* Reads the progress, unless a reading is still on its way.  Returns: G_SOURCE_CONTINUE.
 */
static gboolean
on_progress_timer(gpointer user_data)
{
    VmigMigration *m = user_data;

    vmig_mig_poll(m);
    return G_SOURCE_CONTINUE;
}

void
vmig_mig_poll(VmigMigration *m)
{
    if (m->progress_pending || m->finished)
        return;
    m->progress_pending = TRUE;
    m->backend->poll(m);
}

gboolean
vmig_mig_start_progress(VmigMigration *m)
{
    if (!vmig_mig_step(m, VMIG_MIG_EVENT_STREAM))
        return FALSE;
    m->progress_timer =
        vmig_mig_timeout(m, VMIG_MIG_PROGRESS_INTERVAL_MS, on_progress_timer);
    return TRUE;
}
