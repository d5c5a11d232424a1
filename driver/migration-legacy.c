/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-legacy.c: a source whose peer has no driver (docs/migration.md,
 * "Legacy peers")
 *
 * The source has written nothing on the main channel (the destination
 * speaks first, migration-hello.c), so the peer, most likely a QEMU
 * waiting with -incoming, is unharmed.  With "legacy" asked for, and
 * nothing asked that needs a driver at the other end, the source's QEMU
 * migrates into that very connection as version 1 does after READY: no
 * frame, no data channel, only what the source sets on its own side.
 * Otherwise the migration fails and the connection is held (parked): QEMU
 * 7.2 exits when a connection it accepted closes, so only a connection
 * kept open leaves it waiting.  A later migration to the same address
 * takes it instead of dialling.  A held connection goes after the
 * settings' legacy_hold_ms, when the peer hangs up or sends a byte, when
 * more than legacy_max_held are held (the oldest), and when the daemon
 * stops.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <errno.h>
#include <sys/socket.h>

#include "fdpass/fd.h"

/* A connection to a peer with no driver, held for a later legacy migration. */
typedef struct {
    VmigMigrations *owner;
    char *address; /* the "dest" it was dialled as: the key */
    char *by;      /* the migration whose refusal held it */
    int fd;
    gint64 expires;  /* monotonic us */
    GSource *watch;  /* the peer hangs up or speaks */
    GSource *expiry; /* its time is up */
} VmigMigParked;

static void
parked_free(VmigMigParked *p)
{
    vmig_mig_source_clear(&p->watch);
    vmig_mig_source_clear(&p->expiry);
    vmig_fd_clear(&p->fd);
    g_free(p->address);
    g_free(p->by);
    g_free(p);
}

/* Closes @p (out of its table) and logs @why. */
static void
parked_drop(VmigMigParked *p, const char *why)
{
    g_message("the connection to '%s' held since migration %s's refusal is closed: %s",
              p->address, p->by, why);
    g_queue_remove(p->owner->parked, p);
    parked_free(p);
}

/* Returns: G_SOURCE_REMOVE, @p dropped. */
static gboolean
on_parked_expired(gpointer user_data)
{
    VmigMigParked *p = user_data;

    parked_drop(p, "its time is up (the QEMU there exits, as it does on any close)");
    return G_SOURCE_REMOVE;
}

/* The peer hung up or sent bytes: no QEMU waits there any more.  Returns:
 * G_SOURCE_REMOVE, @p dropped. */
static gboolean
on_parked_event(int fd, GIOCondition condition, gpointer user_data)
{
    VmigMigParked *p = user_data;
    guint8 buf[64];
    gssize n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    g_autofree char *why = NULL;

    if (n > 0)
        why = g_strdup_printf("the peer sent %" G_GSSIZE_FORMAT
                              " bytes, which a QEMU waiting for a stream never does",
                              n);
    else if (n == 0 || (condition & G_IO_HUP))
        why = g_strdup("the peer closed it (its QEMU exited?)");
    else
        why = g_strdup_printf("it failed: %s", g_strerror(errno));
    parked_drop(p, why);
    return G_SOURCE_REMOVE;
}

/*
 * Holds *@fdp (consumed), the connection of @m to a peer with no driver,
 * for @ms_left more milliseconds.
 */
static void
park(VmigMigration *m, int *fdp, guint ms_left)
{
    VmigMigrations *ms = m->owner;
    VmigMigParked *p;

    if (*fdp < 0 || !m->uri) {
        /* fd mode: the connection is the app's, which keeps its own end. */
        vmig_fd_clear(fdp);
        return;
    }
    while (g_queue_get_length(ms->parked) >= ms->settings.legacy_max_held) {
        g_autofree char *why = g_strdup_printf("it is the oldest of the %u held at most",
                                               ms->settings.legacy_max_held);

        parked_drop(g_queue_peek_head(ms->parked), why);
    }
    p = g_new0(VmigMigParked, 1);
    p->owner = ms;
    p->address = g_strdup(m->uri);
    p->by = g_strdup(m->legacy_held_by ? m->legacy_held_by : m->id);
    p->fd = vmig_fd_steal(fdp);
    p->expires = g_get_monotonic_time() + (gint64)ms_left * 1000;
    p->watch =
        vmig_mig_watch(m, p->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_parked_event, p);
    p->expiry = g_timeout_source_new(ms_left);
    g_source_set_callback(p->expiry, on_parked_expired, p, NULL);
    g_source_attach(p->expiry, vmig_mig_settings(m)->context);
    g_queue_push_tail(ms->parked, p);
    g_message("migration %s: the connection to '%s' is held for %u s, so that the QEMU "
              "there keeps waiting",
              m->id, p->address, ms_left / 1000);
}

/* Returns: how long the connection of @m may still be held (ms). */
static guint
park_ms_left(VmigMigration *m)
{
    gint64 left;

    if (!m->legacy_expires)
        return vmig_mig_settings(m)->legacy_hold_ms;
    left = (m->legacy_expires - g_get_monotonic_time()) / 1000;
    return (guint)CLAMP(left, 1, vmig_mig_settings(m)->legacy_hold_ms);
}

gboolean
vmig_mig_legacy_take(VmigMigration *m, int *fdp)
{
    for (GList *l = m->owner->parked->head; l && m->uri; l = l->next) {
        VmigMigParked *p = l->data;

        if (!g_str_equal(p->address, m->uri))
            continue;
        g_message("migration %s takes the connection to '%s' held since migration %s's "
                  "refusal, instead of dialling",
                  m->id, p->address, p->by);
        *fdp = vmig_fd_steal(&p->fd);
        g_free(m->legacy_held_by);
        m->legacy_held_by = g_strdup(p->by);
        m->legacy_expires = p->expires;
        g_queue_delete_link(m->owner->parked, l);
        parked_free(p);
        return TRUE;
    }
    return FALSE;
}

void
vmig_mig_legacy_release(VmigMigration *m)
{
    /* QEMU never took it (a failure or a cancel while configuring): the
     * peer still waits, as after a refusal. */
    if (m->legacy_peer && m->main_fd >= 0)
        park(m, &m->main_fd, park_ms_left(m));
}

void
vmig_mig_legacy_drop_all(VmigMigrations *ms)
{
    VmigMigParked *p;

    while ((p = g_queue_peek_head(ms->parked)))
        parked_drop(p, "the daemon is shutting down");
}

/*
 * Returns: why @m cannot migrate to a peer with no driver (to free), or
 * NULL when it can: what needs a driver at the other end was asked for.
 */
static char *
legacy_refusal(VmigMigration *m)
{
    g_autoptr(GString) names = g_string_new(NULL);

    if (m->tls)
        return g_strdup(
            "TLS is required for this migration, and a peer with no driver cannot "
            "give it (a plaintext migration over TCP needs the daemon's "
            "--plaintext-tcp)");
    if (m->backend != &vmig_backend_qmp)
        return g_strdup_printf(
            "domain '%s' is run by %s, which migrates to a plain QEMU itself (virsh "
            "migrate)",
            m->domain, m->backend->name);
    for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
        if (m->required & VMIG_FEATURE_BIT(f))
            g_string_append_printf(names, "%s%s", names->len ? ", " : "",
                                   vmig_feature_info(f)->name);
    }
    if (names->len)
        return g_strdup_printf(
            "features were required (%s), and only drivers on both sides negotiate them",
            names->str);
    for (guint i = 0; i < m->applied->len; i++) {
        VmigMigTunable *a = g_ptr_array_index(m->applied, i);

        if (!vmig_mig_source_only(a->name))
            g_string_append_printf(names, "%s%s", names->len ? ", " : "", a->name);
    }
    if (names->len)
        return g_strdup_printf("tunables that the destination QEMU must match were "
                               "asked for (%s); only those QEMU applies on the source "
                               "alone can be set, such as max-bandwidth, downtime-limit "
                               "and auto-converge",
                               names->str);
    /* After the tunables: multifd-channels also asks for channels. */
    if (m->requested_channels > 0)
        return g_strdup_printf("%u extra channels were asked for (multifd needs both "
                               "sides set alike)",
                               m->requested_channels);
    return NULL;
}

/* Returns: what becomes of the connection of a refused @m, for messages (to free). */
static char *
held_for(VmigMigration *m, guint ms_left)
{
    if (!m->uri)
        return g_strdup("the connection is the management app's");
    return g_strdup_printf("the connection is held for %u s, so that the QEMU there "
                           "keeps waiting",
                           MAX(ms_left / 1000, 1));
}

/* The source's QEMU is configured: it takes the connection. */
static void
legacy_configured(VmigMigration *m)
{
    m->backend->start_source(m);
}

/* Fills the record of a migration to a peer with no driver: nothing negotiated. */
static void
legacy_record(VmigMigration *m)
{
    g_clear_pointer(&m->declined, json_array_unref);
    m->declined = json_array_new();
    for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
        const VmigFeatureInfo *info = vmig_feature_info(f);

        if (!info->internal)
            vmig_mig_add_reason(m->declined, info->name, NULL,
                                "the destination has no driver");
    }
}

void
vmig_mig_source_no_driver(VmigMigration *m, int *fdp)
{
    g_autofree char *why = NULL;
    guint ms_left = park_ms_left(m);
    g_autofree char *fate = held_for(m, ms_left);
    const char *held = m->legacy_held_by ? " (a connection held since a refusal)" : "";

    if (!m->legacy) {
        park(m, fdp, ms_left);
        vmig_mig_fail(m, 0,
                      "no virt-migrate driver answered at '%s'%s within %u ms: a QEMU "
                      "waiting for a migration stream? `virt-migrate migrate "
                      "--allow-legacy` (control: \"legacy\": true) migrates to it "
                      "without a driver; %s",
                      vmig_mig_peer_name(m), held, vmig_mig_settings(m)->hello_timeout_ms,
                      fate);
        return;
    }
    why = legacy_refusal(m);
    if (why) {
        park(m, fdp, ms_left);
        vmig_mig_fail(
            m, 0,
            "no virt-migrate driver answered at '%s'%s, and a migration without "
            "one (legacy) cannot be done: %s; %s",
            vmig_mig_peer_name(m), held, why, fate);
        return;
    }
    g_message("migration %s: no driver at '%s'%s: migrating to it without one (legacy)",
              m->id, vmig_mig_peer_name(m), held);
    m->legacy_peer = TRUE;
    m->main_fd = vmig_fd_steal(fdp);
    legacy_record(m);
    if (!vmig_mig_step(m, VMIG_MIG_EVENT_LEGACY))
        return;
    m->backend->configure(m, legacy_configured);
}
