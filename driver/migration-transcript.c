/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-transcript.c: the record's handshake transcript (each frame
 * of the handshake and the control conversation's notable ones, with its
 * direction, size on the wire, time and decoded items; heartbeats only
 * counted) and the figures that matter for the downtime (QEMU's final
 * query-migrate against the drivers' own times)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <math.h>
#include <string.h>

/* Milliseconds since the record's time base (as progress's "milliseconds"). */
static gint64
since_start(VmigMigration *m, gint64 now)
{
    if (m->handshake_start == 0)
        m->handshake_start = now;
    return (now - m->handshake_start) / 1000;
}

/* Returns: the items of @msg as negotiate/ decoded them, the token redacted. */
static JsonObject *
items_to_json(const VmigNegotiateMessage *msg)
{
    static const guint8 no_token[VMIG_NEGOTIATE_TOKEN_SIZE];
    gboolean counted = msg->type == VMIG_NEGOTIATE_FRAME_REPLY ||
                       msg->type == VMIG_NEGOTIATE_FRAME_COMMIT;
    JsonObject *o = json_object_new();

    if (msg->versions->len > 0) {
        JsonArray *versions = json_array_new();

        for (guint i = 0; i < msg->versions->len; i++)
            json_array_add_int_element(versions,
                                       g_array_index(msg->versions, guint32, i));
        json_object_set_array_member(o, "versions", versions);
    }
    if (msg->features->len > 0) {
        JsonArray *features = json_array_new();

        for (guint i = 0; i < msg->features->len; i++)
            json_array_add_object_element(
                features, vmig_mig_feature_to_json(g_ptr_array_index(msg->features, i)));
        json_object_set_array_member(o, "features", features);
    }
    if (msg->tunable_names->len > 0) {
        JsonArray *names = json_array_new();

        for (guint i = 0; i < msg->tunable_names->len; i++)
            json_array_add_string_element(names,
                                          g_ptr_array_index(msg->tunable_names, i));
        json_object_set_array_member(o, "tunable-names", names);
    }
    if (msg->tunables->len > 0) {
        JsonObject *tunables = json_object_new();

        /* As they travel: JSON text, not parsed again. */
        for (guint i = 0; i < msg->tunables->len; i++) {
            const VmigNegotiateTunable *t = g_ptr_array_index(msg->tunables, i);

            json_object_set_string_member(tunables, t->name, t->value);
        }
        json_object_set_object_member(o, "tunables", tunables);
    }
    if (msg->hypervisor)
        json_object_set_string_member(o, "hypervisor", msg->hypervisor);
    if (msg->driver)
        json_object_set_string_member(o, "driver", msg->driver);
    if (msg->max_channels)
        json_object_set_int_member(o, "max-channels", msg->max_channels);
    if (msg->channels || counted)
        json_object_set_int_member(o, "channels", msg->channels);
    /* The token lets a stranger attach channels while the migration runs. */
    if (memcmp(msg->token, no_token, sizeof(no_token)) != 0)
        json_object_set_string_member(o, "token", "redacted");
    if (msg->code)
        json_object_set_int_member(o, "code", msg->code);
    if (msg->message)
        json_object_set_string_member(o, "message", msg->message);
    if (msg->heartbeat_ms)
        json_object_set_int_member(o, "heartbeat", msg->heartbeat_ms);
    if (msg->paused)
        json_object_set_boolean_member(o, "paused", TRUE);
    /* DOMAIN (a standing listener's): the name, and the XML by its size. */
    if (msg->domain_name)
        json_object_set_string_member(o, "domain", msg->domain_name);
    if (msg->domain_xml)
        json_object_set_int_member(o, "domain-xml-bytes",
                                   (gint64)strlen(msg->domain_xml));
    return o;
}

void
vmig_mig_transcript_add(VmigMigration *m, gboolean sent, const VmigNegotiateMessage *msg,
                        gsize bytes)
{
    gint64 now = g_get_monotonic_time();
    JsonObject *frame;

    if (!m->transcript)
        m->transcript = json_array_new();
    if (msg->type == VMIG_NEGOTIATE_FRAME_HEARTBEAT) {
        m->heartbeats[sent ? 0 : 1]++;
        m->heartbeat_bytes[sent ? 0 : 1] += bytes;
        return;
    }
    if (msg->type == VMIG_NEGOTIATE_FRAME_SWITCHOVER)
        m->switchover_at = now;
    else if (msg->type == VMIG_NEGOTIATE_FRAME_RESUMED && m->switchover_at)
        m->resumed_at = now;
    if (json_array_get_length(m->transcript) >= VMIG_MIG_TRANSCRIPT_MAX) {
        m->transcript_dropped++;
        m->dropped_bytes += bytes;
        return;
    }
    frame = json_object_new();
    json_object_set_string_member(frame, "direction", sent ? "sent" : "received");
    json_object_set_string_member(frame, "type",
                                  vmig_negotiate_frame_type_to_string(msg->type));
    json_object_set_int_member(frame, "bytes", (gint64)bytes);
    json_object_set_int_member(frame, "milliseconds", since_start(m, now));
    json_object_set_object_member(frame, "items", items_to_json(msg));
    json_array_add_object_element(m->transcript, frame);
}

/* Returns: the record's "transcript" (a new object). */
JsonObject *
vmig_mig_transcript_record(VmigMigration *m)
{
    JsonObject *o = json_object_new();
    JsonObject *beats = json_object_new();

    json_object_set_array_member(o, "frames", json_array_ref(m->transcript));
    json_object_set_int_member(beats, "sent", m->heartbeats[0]);
    json_object_set_int_member(beats, "received", m->heartbeats[1]);
    json_object_set_int_member(beats, "bytes-sent", (gint64)m->heartbeat_bytes[0]);
    json_object_set_int_member(beats, "bytes-received", (gint64)m->heartbeat_bytes[1]);
    json_object_set_object_member(o, "heartbeats", beats);
    if (m->transcript_dropped) {
        json_object_set_int_member(o, "dropped", m->transcript_dropped);
        json_object_set_int_member(o, "dropped-bytes", (gint64)m->dropped_bytes);
    }
    return o;
}

void
vmig_mig_stats_read(VmigMigration *m, const VmigBackendProgress *p)
{
    JsonObject *o = json_object_new();
    /* QEMU 7.2 reports no total of the bytes it sent, but computes its
     * final mbps from it (every channel's bytes, multifd's included) over
     * (total-time - setup-time): the total follows, and what in it is not
     * RAM is the device state (with the stream's own framing). */
    gint64 transfer_ms =
        p->total_ms > p->setup_ms && p->setup_ms >= 0 ? p->total_ms - p->setup_ms : 0;
    double bytes = p->mbps * (double)transfer_ms * 125.0 + 0.5;
    /* A monitor that says nonsense (NaN, a negative or huge rate) gives 0. */
    gint64 sent = isfinite(bytes) && bytes >= 0 && bytes < 9.2e18 ? (gint64)bytes : 0;
    gint64 ram = (gint64)MIN(p->transferred, (guint64)G_MAXINT64);

    json_object_set_int_member(o, "total-time", p->total_ms);
    json_object_set_int_member(o, "setup-time", p->setup_ms);
    json_object_set_int_member(o, "downtime", p->downtime_ms);
    json_object_set_int_member(o, "transferred", sent);
    json_object_set_int_member(o, "ram-transferred", ram);
    json_object_set_int_member(o, "ram-normal-bytes", (gint64)p->normal_bytes);
    json_object_set_int_member(o, "ram-downtime-bytes", (gint64)p->downtime_bytes);
    json_object_set_int_member(o, "multifd-bytes", (gint64)p->multifd_bytes);
    json_object_set_int_member(o, "device-state", sent > ram ? sent - ram : 0);
    g_clear_pointer(&m->qemu_stats, json_object_unref);
    m->qemu_stats = o;
}

/*
 * Returns: the record's "stats" (a new object): QEMU's figures once its
 * migration completed (source), the drivers' handshake time and the
 * switchover's round trip; NULL before the handshake is over.
 */
JsonObject *
vmig_mig_stats_record(VmigMigration *m)
{
    JsonObject *o;

    if (!m->qemu_stats && !m->handshake_end)
        return NULL;
    o = json_object_new();
    if (m->qemu_stats) {
        JsonObjectIter iter;
        const char *name;
        JsonNode *value;

        json_object_iter_init_ordered(&iter, m->qemu_stats);
        while (json_object_iter_next_ordered(&iter, &name, &value))
            json_object_set_member(o, name, json_node_copy(value));
    }
    /* The drivers' own times, in microseconds: both are often under 1 ms. */
    if (m->handshake_end)
        json_object_set_int_member(o, "handshake-us",
                                   m->handshake_end - m->handshake_start);
    if (m->switchover_at && m->resumed_at)
        json_object_set_int_member(o, "switchover-us", m->resumed_at - m->switchover_at);
    return o;
}
