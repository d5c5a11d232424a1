/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-control.c: version 2's control conversation, from the REPLY to
 * the end of the migration (docs/protocol.md, "Version 2")
 *
 * The main channel stays the drivers' for the whole migration; QEMU's
 * stream travels on the data channels.  Both sides send HEARTBEAT every
 * interval, and a peer silent for the heartbeat timeout is gone.  The
 * switchover is confirmed, as libvirt's Finish and Confirm do it:
 *
 *   dst  QEMU loaded everything, paused      -> LOADED
 *   src  QEMU completed and LOADED came      -> SWITCHOVER (no way back)
 *   dst  SWITCHOVER: cont (unless asked not) -> RESUMED
 *   src  RESUMED                             -> completed
 *
 * Before SWITCHOVER goes, any failure leaves the guest on the source (its
 * QEMU cancels, or is resumed, by the end: backend->end).  An ERROR frame
 * is a promise: from a destination, that it did not and will not run the
 * guest; from a source, that it keeps it.  A source that sent SWITCHOVER
 * and then hears nothing (the connection lost, the peer silent, no
 * RESUMED in time) cannot know whether the destination runs the guest:
 * it keeps its own paused and ends `unknown`, for an operator to
 * `resolve`.  So does a destination that sent LOADED and then loses the
 * source without a word (no ERROR): SWITCHOVER may have been sent, and
 * the source may be gone for good (a SIGKILLed daemon cannot resume its
 * guest), so the loaded copy is kept, paused, for the operator.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <string.h>

/* The peer's name, from this side. */
static const char *
peer_name(VmigMigration *m)
{
    return m->role == VMIG_ROLE_SOURCE ? "destination" : "source";
}

/* Returns: the heartbeat timeout in ms: ours, but never under three of the peer's
 * intervals. */
static guint
heartbeat_timeout_ms(VmigMigration *m)
{
    return MAX(vmig_mig_settings(m)->heartbeat_timeout_ms, 3 * m->peer_heartbeat_ms);
}

void
vmig_mig_send_error(VmigMigration *m, VmigNegotiateCode code, const char *message)
{
    g_autoptr(VmigNegotiateMessage) err = NULL;
    g_autoptr(GBytes) bytes = NULL;

    if (!vmig_mig_main_open(m) || code == 0)
        return;
    err = vmig_negotiate_message_new_error(code, message);
    bytes = vmig_negotiate_encode(err, NULL);
    /* Best effort, never blocking: what is queued first, then the ERROR. */
    if (!m->main_unwritable)
        vmig_mig_transcript_add(m, TRUE, err, g_bytes_get_size(bytes));
    vmig_mig_send_raw(m, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    (void)vmig_mig_main_flush(m);
}

/* ------------------------------------------------------------------------ */
/* Heartbeats */

/* Sends a HEARTBEAT; ends @m if the peer has been silent too long.  Returns:
 * G_SOURCE_CONTINUE, or G_SOURCE_REMOVE once @m finished. */
static gboolean
on_heartbeat(gpointer user_data)
{
    VmigMigration *m = user_data;
    g_autoptr(VmigNegotiateMessage) beat = NULL;

    if (m->finished || !vmig_mig_main_open(m)) {
        g_clear_pointer(&m->heartbeat_timer, g_source_unref);
        return G_SOURCE_REMOVE;
    }
    if (g_get_monotonic_time() - m->last_heard > (gint64)heartbeat_timeout_ms(m) * 1000) {
        g_clear_pointer(&m->heartbeat_timer, g_source_unref);
        vmig_mig_peer_silent(m);
        return G_SOURCE_REMOVE;
    }
    beat = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_HEARTBEAT);
    if (!vmig_mig_send_frame(m, beat)) {
        g_clear_pointer(&m->heartbeat_timer, g_source_unref);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

void
vmig_mig_control_start(VmigMigration *m)
{
    const VmigNegotiateMessage *peer =
        m->role == VMIG_ROLE_SOURCE ? m->peer_offer : m->reply;

    m->peer_heartbeat_ms = peer ? peer->heartbeat_ms : 0;
    m->last_heard = g_get_monotonic_time();
    if (!m->heartbeat_timer)
        m->heartbeat_timer = vmig_mig_timeout(
            m, vmig_mig_settings(m)->heartbeat_interval_ms, on_heartbeat);
}

/* ------------------------------------------------------------------------ */
/* The reasons of an end */

/*
 * Ends @m for @reason, QEMU's detail appended.  A source that sent
 * SWITCHOVER without word of the outcome ends unknown: vmig_mig_finish()
 * sees to that, for every path to the end.
 */
static void
end_for(VmigMigration *m, const char *reason)
{
    g_autofree char *full = m->detail
                                ? g_strdup_printf("%s (%s QEMU: %s)", reason,
                                                  vmig_role_to_string(m->role), m->detail)
                                : g_strdup(reason);

    if (m->cancel_requested) {
        /* What followed the app's cancel is its echo, not its cause. */
        g_debug("%s: after the cancel: %s", m->id, full);
        vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
        return;
    }
    vmig_mig_finish(m, VMIG_MIGRATION_FAILED, full);
}

/*
 * Returns: TRUE when the loss of the peer driver (@reason) is left to
 * libvirt: its own Perform/Finish/Confirm decides where the guest ends,
 * and its verdict ends @m (the reason is kept for it).
 */
static gboolean
left_to_libvirt(VmigMigration *m, const char *reason)
{
    if (m->backend != &vmig_backend_libvirt || m->role != VMIG_ROLE_SOURCE ||
        !m->libvirt_migrating)
        return FALSE;
    g_message("migration %s: %s; libvirt's migration decides the end", m->id, reason);
    g_free(m->detail);
    m->detail = g_strdup(reason);
    vmig_mig_source_clear(&m->main_source);
    vmig_mig_source_clear(&m->heartbeat_timer);
    return TRUE;
}

/* Returns: where @m is, in the peer's loss's words ("mid-stream", ...). */
static const char *
step_words(VmigMigration *m)
{
    if (m->state == VMIG_MIGRATION_WAITING || m->state == VMIG_MIGRATION_CONNECTING)
        return "before the handshake began";
    if (m->state == VMIG_MIGRATION_NEGOTIATING)
        return "during the handshake";
    if (m->state == VMIG_MIGRATION_COLLECTING)
        return "while the channels were collected";
    if (m->state == VMIG_MIGRATION_COMMITTING)
        return "before the stream began";
    if (m->state == VMIG_MIGRATION_MIGRATING)
        return m->hypervisor_completed ? "once the stream had ended" : "mid-stream";
    if (m->state == VMIG_MIGRATION_SWITCHOVER)
        return "during the switchover";
    return NULL;
}

/*
 * Destination: the source was lost between LOADED and SWITCHOVER without
 * a word: it may have sent SWITCHOVER.  The loaded guest stays paused,
 * `unknown`, for an operator.
 */
static void
lost_after_loaded(VmigMigration *m, const char *reason)
{
    g_autofree char *full = g_strdup_printf(
        "%s; whether the source gave the guest up is unknown: it stays paused here "
        "until an operator runs 'virt-migrate resolve %s --resume-here' on the side "
        "that is to run it (and --discard-here on the other)",
        reason, m->id);

    vmig_mig_finish(m, VMIG_MIGRATION_UNKNOWN, full);
}

/*
 * The peer driver is lost: @how ("went away", "went silent") for @why.
 * What that means depends on the step: nothing once the guest runs on the
 * destination, `unknown` where the guest may have changed sides, else a
 * failure that leaves it on the source.
 */
static void
peer_lost(VmigMigration *m, const char *how, const char *why)
{
    g_autofree char *reason = NULL;
    const char *step = step_words(m);
    gboolean silent = g_str_equal(how, "went silent");

    if (m->finished)
        return;
    if ((m->role == VMIG_ROLE_DESTINATION && m->switchover) ||
        (m->role == VMIG_ROLE_SOURCE && m->resumed)) {
        /* The guest is the destination's, and running (postcopy: the
         * source QEMU still sends it the rest, and says when it is done):
         * the peer has nothing more to say. */
        vmig_mig_source_clear(&m->main_source);
        vmig_mig_source_clear(&m->heartbeat_timer);
        return;
    }
    if (m->role == VMIG_ROLE_DESTINATION && m->loaded) {
        reason = g_strdup_printf(
            "the source driver %s after LOADED was sent, before SWITCHOVER came: %s", how,
            why);
        lost_after_loaded(m, reason);
        return;
    }
    if (step)
        reason = g_strdup_printf("the %s driver %s %s: %s", peer_name(m), how, step, why);
    else
        reason = g_strdup_printf("the %s driver %s (state %s): %s", peer_name(m), how,
                                 vmig_migration_state_to_string(m->state), why);
    if (left_to_libvirt(m, reason))
        return;
    /* A silent peer may still be there: tell it, so that it gives up too. */
    if (silent)
        vmig_mig_send_error(m, VMIG_NEGOTIATE_CODE_TIMEOUT, reason);
    end_for(m, reason);
}

void
vmig_mig_peer_gone(VmigMigration *m, const char *why)
{
    /* Through TLS, the end of file may have been a TLS failure: its
     * reason (an alert, a bad record) says more. */
    g_autofree char *tls = vmig_mig_tls_main_failure(m);

    peer_lost(m, "went away", tls ? tls : why);
}

void
vmig_mig_peer_silent(VmigMigration *m)
{
    g_autofree char *why = g_strdup_printf(
        "nothing heard for %u s (the heartbeat timeout)", heartbeat_timeout_ms(m) / 1000);

    peer_lost(m, "went silent", why);
}

/* The peer's word did not come after QEMU failed: QEMU's reason stands.
 * Returns: G_SOURCE_REMOVE. */
static gboolean
on_reason_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;
    g_autofree char *reason = NULL;

    g_clear_pointer(&m->reason_timer, g_source_unref);
    reason = g_strdup_printf("the %s QEMU's migration failed: %s",
                             vmig_role_to_string(m->role), m->detail);
    g_clear_pointer(&m->detail, g_free);
    vmig_mig_send_error(m, VMIG_NEGOTIATE_CODE_HYPERVISOR, reason);
    end_for(m, reason);
    return G_SOURCE_REMOVE;
}

void
vmig_mig_hypervisor_failed(VmigMigration *m, const char *detail)
{
    if (m->finished || m->reason_timer)
        return;
    if (m->cancel_requested) {
        vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
        return;
    }
    if (!vmig_mig_v2(m) || !vmig_mig_main_open(m)) {
        vmig_mig_finish(m, VMIG_MIGRATION_FAILED, detail);
        return;
    }
    /* A stream breaks on both sides at once: the driver that knows why
     * (its QEMU died, its app cancelled, it is stopping) says so within
     * moments, or its connection closes.  Either is the root cause. */
    g_free(m->detail);
    m->detail = g_strdup(detail);
    m->reason_timer = vmig_mig_timeout(m, VMIG_MIG_REASON_GRACE_MS, on_reason_timeout);
}

/* ------------------------------------------------------------------------ */
/* The switchover */

/* A wait of the switchover took too long.  Returns: G_SOURCE_REMOVE. */
static gboolean
on_switchover_timeout(gpointer user_data)
{
    VmigMigration *m = user_data;
    g_autofree char *reason = NULL;
    const char *what = m->role == VMIG_ROLE_SOURCE
                           ? (m->switchover ? "RESUMED" : "LOADED")
                           : "SWITCHOVER";

    g_clear_pointer(&m->switchover_timer, g_source_unref);
    reason = g_strdup_printf("no %s from the %s driver within %d s", what, peer_name(m),
                             VMIG_MIG_SWITCHOVER_TIMEOUT_MS / 1000);
    vmig_mig_send_error(m, VMIG_NEGOTIATE_CODE_TIMEOUT, reason);
    end_for(m, reason);
    return G_SOURCE_REMOVE;
}

static void
arm_switchover_timer(VmigMigration *m)
{
    vmig_mig_source_clear(&m->switchover_timer);
    m->switchover_timer =
        vmig_mig_timeout(m, VMIG_MIG_SWITCHOVER_TIMEOUT_MS, on_switchover_timeout);
}

/*
 * SWITCHOVER went (source) or came (destination): the state says so, and
 * the wait for its confirmation is bounded.  Returns: FALSE when @m failed.
 */
static gboolean
enter_switchover(VmigMigration *m)
{
    if (!m->switchover_by)
        m->switchover_by = g_strdup("virt-migrate");
    if (m->state == VMIG_MIGRATION_MIGRATING &&
        !vmig_mig_step(m, VMIG_MIG_EVENT_SWITCHOVER))
        return FALSE;
    arm_switchover_timer(m);
    return TRUE;
}

/* Source: sends SWITCHOVER; from then on it never resumes its guest by itself. */
static void
source_switchover(VmigMigration *m)
{
    g_autoptr(VmigNegotiateMessage) frame =
        vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_SWITCHOVER);

    /* Set first: from the moment it may have gone, it counts as gone. */
    m->switchover = TRUE;
    if (!vmig_mig_send_frame(m, frame) || !enter_switchover(m))
        return;
    (void)vmig_mig_main_flush(m);
}

/* Source: SWITCHOVER goes once its QEMU completed and LOADED came. */
static void
source_try_switchover(VmigMigration *m)
{
    if (!m->finished && !m->switchover && m->hypervisor_completed && m->loaded)
        source_switchover(m);
}

void
vmig_mig_control_postcopy(VmigMigration *m)
{
    if (!vmig_mig_v2(m) || m->switchover || m->finished)
        return;
    /* Postcopy's nature: once it runs, the destination's guest is the
     * real one; the destination resumes as soon as it can. */
    source_switchover(m);
}

/* Source: done once its QEMU completed (and its last progress went out:
 * apps see the final figures before MIGRATION_DONE) and RESUMED came. */
static void
source_try_complete(VmigMigration *m)
{
    if (m->finished || !m->resumed || !m->hypervisor_completed || !m->progress_final)
        return;
    vmig_mig_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
}

/* Destination: RESUMED goes once its guest runs (or stays paused, as asked). */
static void
destination_resumed(VmigMigration *m)
{
    g_autoptr(VmigNegotiateMessage) frame =
        vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_RESUMED);

    if (m->finished)
        return;
    /* Set first: the guest is this side's now, whatever the connection does. */
    m->resumed = TRUE;
    vmig_mig_source_clear(&m->switchover_timer);
    frame->paused = !m->resume;
    /* Whether RESUMED reaches the source or not, the guest is this side's:
     * a source that misses it ends unknown, and its operator looks here. */
    if (vmig_mig_send_frame(m, frame))
        (void)vmig_mig_main_flush(m);
    if (!m->finished && m->hypervisor_completed)
        vmig_mig_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
}

void
vmig_mig_hypervisor_completed(VmigMigration *m)
{
    g_autoptr(VmigNegotiateMessage) frame = NULL;

    if (m->finished)
        return;
    if (m->hypervisor_completed) {
        /* Said again, with the last progress reading this time. */
        if (m->role == VMIG_ROLE_SOURCE && m->switchover)
            source_try_complete(m);
        return;
    }
    if (!vmig_mig_v2(m)) {
        vmig_mig_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
        return;
    }
    m->hypervisor_completed = TRUE;
    if (m->role == VMIG_ROLE_SOURCE) {
        if (m->switchover) {
            source_try_complete(m); /* postcopy: RESUMED may be in */
            return;
        }
        if (!m->loaded)
            arm_switchover_timer(m);
        source_try_switchover(m);
        return;
    }
    if (m->resumed) {
        /* postcopy: the guest ran here before the stream ended */
        vmig_mig_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
        return;
    }
    frame = vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_LOADED);
    if (!vmig_mig_send_frame(m, frame))
        return;
    (void)vmig_mig_main_flush(m);
    m->loaded = TRUE;
    if (m->state == VMIG_MIGRATION_MIGRATING &&
        !vmig_mig_step(m, VMIG_MIG_EVENT_SWITCHOVER))
        return;
    if (!m->switchover)
        arm_switchover_timer(m);
}

/* Destination: the source gave the guest up. */
static void
destination_switchover(VmigMigration *m)
{
    if (m->switchover)
        return;
    m->switchover = TRUE;
    if (!enter_switchover(m))
        return;
    m->backend->resume(m, destination_resumed);
}

void
vmig_mig_control_frame(VmigMigration *m, VmigNegotiateMessage *msg)
{
    g_autoptr(VmigNegotiateMessage) frame = msg;
    gboolean source = m->role == VMIG_ROLE_SOURCE;

    switch (msg->type) {
    case VMIG_NEGOTIATE_FRAME_HEARTBEAT:
        return;
    case VMIG_NEGOTIATE_FRAME_ERROR: {
        g_autofree char *reason = g_strdup(msg->message);

        if (!source && m->switchover) {
            /* The guest is this side's: the source cannot take it back. */
            g_message("migration %s: the source driver reports, after SWITCHOVER: %s",
                      m->id, reason);
            return;
        }
        /* A promise: the peer gives up (and, a destination, never resumes). */
        m->peer_gave_up = TRUE;
        vmig_mig_source_clear(&m->reason_timer);
        end_for(m, reason);
        return;
    }
    case VMIG_NEGOTIATE_FRAME_LOADED:
        if (source && !m->loaded && !m->switchover) {
            m->loaded = TRUE;
            source_try_switchover(m);
            return;
        }
        break;
    case VMIG_NEGOTIATE_FRAME_RESUMED:
        if (source && m->switchover && !m->resumed) {
            m->resumed = TRUE;
            vmig_mig_source_clear(&m->switchover_timer);
            if (msg->paused)
                g_message("migration %s: the destination keeps the guest paused, as its "
                          "app asked",
                          m->id);
            source_try_complete(m);
            return;
        }
        break;
    case VMIG_NEGOTIATE_FRAME_SWITCHOVER:
        if (!source && !m->switchover &&
            (m->state == VMIG_MIGRATION_MIGRATING ||
             m->state == VMIG_MIGRATION_SWITCHOVER)) {
            destination_switchover(m);
            return;
        }
        break;
    default:
        break;
    }
    vmig_mig_fail(m, VMIG_NEGOTIATE_CODE_PROTOCOL,
                  "unexpected %s frame from the %s driver (state %s)",
                  vmig_negotiate_frame_type_to_string(msg->type), peer_name(m),
                  vmig_migration_state_to_string(m->state));
}
