/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-libvirt.c: a domain that libvirt runs (the contract is
 * backend.h; libvirt itself is reached through driver/libvirt.h)
 *
 * libvirt configures its QEMUs: the driver negotiates as for bare QEMU,
 * then the source asks libvirt for a peer-to-peer migration through a
 * unix socket it bridges (virDomainMigrateToURI3, "unix://PATH"), with
 * the negotiated features as libvirt's flags and parameters; the
 * destination connects the QEMU that its libvirt starts to the channels,
 * and completes once libvirt has the domain running.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/libvirt.h"
#include "driver/probe.h"
#include "fdpass/fd.h"
#include "xml/domain.h"

/* How long the destination libvirt may take to start QEMU listening, and
 * to finish the domain once the stream has ended. */
#define LIBVIRT_WAIT_MS 60000
#define LIBVIRT_POLL_MS 100

/* ------------------------------------------------------------------------ */
/* Introspection */

/* A libvirt domain was introspected (source) or its emulator probed (destination). */
static void
on_opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;

    m->catalog = m->role == VMIG_ROLE_SOURCE
                     ? vmig_libvirt_introspect_finish(
                           result, m->send_domain ? &m->domain_xml : NULL, &error)
                     : vmig_probe_emulator_finish(result, &error);
    if (!m->catalog) {
        vmig_mig_refuse_start(m, error);
        return;
    }
    vmig_mig_start_checked(m);
}

/* The destination libvirt named its default emulator: probe it. */
static void
on_emulator_found(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *emulator = vmig_libvirt_default_emulator_finish(result, &error);
    const VmigMigrationSettings *settings = vmig_mig_settings(m);

    if (!emulator) {
        vmig_mig_refuse_start(m, error);
        return;
    }
    vmig_probe_emulator_async(emulator, settings->context, settings->qmp_timeout_ms, NULL,
                              on_opened, vmig_mig_ref(m));
}

/*
 * Reads the catalog: through libvirt on the source; on the destination,
 * where the domain does not run yet, from the emulator its XML names.
 * Returns: TRUE, or FALSE with @error.
 */
static gboolean
introspect(VmigMigration *m, GError **error)
{
    const VmigMigrationSettings *settings = vmig_mig_settings(m);
    g_autoptr(VmigDomainInfo) info = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *name = NULL;

    if (!vmig_libvirt_parse_domain(m->domain, &uri, &name, error))
        return FALSE;
    if (m->role == VMIG_ROLE_SOURCE) {
        if (!m->libvirt_dest) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "a libvirt domain migrates to a libvirt: give libvirt-dest, the "
                        "destination libvirt's URI");
            return FALSE;
        }
        vmig_libvirt_introspect_async(m->domain, settings->context, NULL, on_opened,
                                      vmig_mig_ref(m));
        return TRUE;
    }
    if (!m->domain_xml) {
        /* No XML at hand: the emulator this libvirt would start it with. */
        vmig_libvirt_default_emulator_async(m->domain, settings->context,
                                            on_emulator_found, vmig_mig_ref(m));
        return TRUE;
    }
    info = vmig_xml_domain_parse(m->domain_xml, strlen(m->domain_xml), error);
    if (!info) {
        g_prefix_error(error, "domain-xml: ");
        return FALSE;
    }
    if (!info->emulator) {
        g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "domain-xml of '%s' names no emulator (devices/emulator)",
                    info->name);
        return FALSE;
    }
    vmig_probe_emulator_async(info->emulator, settings->context, settings->qmp_timeout_ms,
                              NULL, on_opened, vmig_mig_ref(m));
    return TRUE;
}

static void
libvirt_introspect(VmigMigration *m)
{
    g_autoptr(GError) error = NULL;

    if (!introspect(m, &error))
        vmig_mig_refuse_start(m, error);
}

/* libvirt configures its QEMUs: the source hands it the plan when it starts
 * the migration; the destination's QEMU is libvirt's. */
static void
libvirt_configure(VmigMigration *m, VmigBackendStep next)
{
    next(m);
}

/* ------------------------------------------------------------------------ */
/* The source */

/*
 * The socket libvirt migrates through ("unix://PATH"): one path on both
 * hosts (in --migration-dir, which must be the same directory name on
 * both), named after a digest of the migration's token, which both
 * drivers know and nobody else does.  The source daemon listens on it;
 * on the destination, the QEMU that libvirt starts does.
 * Returns: the path (to free).
 */
static char *
socket_path(VmigMigration *m)
{
    g_autofree char *digest =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, m->token, VMIG_TOKEN_SIZE);

    digest[16] = '\0';
    return g_strdup_printf("%s/vmig-%s.sock", vmig_mig_settings(m)->migration_dir,
                           digest);
}

/* libvirt's migration call returned: the source's verdict. */
static void
on_migrated(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    gboolean ok = vmig_libvirt_migrate_finish(result, &error);

    m->libvirt_migrating = FALSE;
    if (m->finished)
        return;
    if (ok) {
        /* libvirt's Confirm is done: the guest runs on the destination.
         * Version 2 tells its driver so, whose libvirt may still be
         * finishing the domain. */
        m->switchover_by = g_strdup("libvirt");
        if (vmig_mig_v2(m) && vmig_mig_main_open(m)) {
            g_autoptr(VmigNegotiateMessage) frame =
                vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_SWITCHOVER);

            m->switchover = TRUE;
            if (vmig_mig_send_frame(m, frame))
                (void)vmig_mig_main_flush(m);
        }
        if (!m->finished)
            vmig_mig_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
        return;
    }
    if (m->cancel_requested) {
        vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
        return;
    }
    if (m->detail) {
        /* The destination driver went away first: that is the root cause. */
        g_autofree char *reason =
            g_strdup_printf("%s (libvirt: %s)", m->detail, error->message);

        vmig_mig_finish(m, VMIG_MIGRATION_FAILED, reason);
        return;
    }
    if (!vmig_mig_v2(m) && !m->main_bridged && m->main_fd >= 0) {
        /* No stream byte went yet: the main channel still carries frames,
         * and libvirt's reason reaches the destination's management app. */
        vmig_mig_send_error_now(m, VMIG_NEGOTIATE_CODE_HYPERVISOR, error->message);
    }
    vmig_mig_finish(m, VMIG_MIGRATION_FAILED, error->message);
}

/*
 * READY on the source: listen on the migration socket (libvirtd, or QEMU
 * itself with parallel connections, connects there; the connections are
 * classified and bridged as QEMU's are), then ask libvirt to migrate peer
 * to peer through it.
 */
static void
start_source(VmigMigration *m)
{
    g_autoptr(GError) error = NULL;
    VmigLibvirtMigration *spec;
    struct stat dir;

    m->libvirt_socket = socket_path(m);
    if (!vmig_mig_channels_listen_private(m, m->libvirt_socket, &error)) {
        vmig_mig_fail_error(m, 0, NULL, error);
        return;
    }
    m->listen_path = g_strdup(m->libvirt_socket);
    /* libvirtd and QEMU run as the migration directory's owner (a session
     * libvirt's user, or qemu): the socket is theirs to connect to. */
    if (stat(vmig_mig_settings(m)->migration_dir, &dir) == 0 && dir.st_uid != geteuid() &&
        (chown(m->libvirt_socket, dir.st_uid, dir.st_gid) < 0 ||
         chmod(m->libvirt_socket, 0600) < 0))
        g_debug("%s: cannot hand '%s' to uid %u: %s", m->id, m->libvirt_socket,
                (guint)dir.st_uid, g_strerror(errno));

    spec = g_new0(VmigLibvirtMigration, 1);
    spec->domain = g_strdup(m->domain);
    spec->dest_uri = g_strdup(m->libvirt_dest);
    spec->migrate_uri = g_strdup_printf("unix://%s", m->libvirt_socket);
    spec->capabilities = vmig_mig_capabilities(m);
    spec->parameters = vmig_mig_parameters(m);
    spec->persistent = m->persistent;
    spec->undefine_source = m->undefine_source;
    m->libvirt_migrating = TRUE;
    if (!vmig_mig_start_progress(m))
        return;
    vmig_libvirt_migrate_async(spec, vmig_mig_settings(m)->context, on_migrated,
                               vmig_mig_ref(m));
}

/* libvirt's job statistics: MIGRATION_PROGRESS, as QEMU's figures are for bare QEMU. */
static void
on_progress(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    VmigLibvirtProgress p;

    m->progress_pending = FALSE;
    if (m->finished)
        return;
    if (!vmig_libvirt_progress_finish(result, &p, &error)) {
        g_debug("%s: no job statistics: %s", m->id, error->message);
        return;
    }
    if (!p.active || p.total == 0)
        return; /* no job, or libvirt has not started QEMU's migration yet */
    vmig_mig_progress(m, &(VmigBackendProgress){
                             .status = "active",
                             .has_ram = TRUE,
                             .transferred = p.transferred,
                             .remaining = p.remaining,
                             .total = p.total,
                             .bytes_per_second = p.throughput,
                             .expected_downtime_ms = p.downtime,
                         });
}

static void
libvirt_poll(VmigMigration *m)
{
    if (m->role != VMIG_ROLE_SOURCE || !m->libvirt_migrating) {
        m->progress_pending = FALSE;
        return;
    }
    vmig_libvirt_progress_async(m->domain, vmig_mig_settings(m)->context, on_progress,
                                vmig_mig_ref(m));
}

/* ------------------------------------------------------------------------ */
/* The destination */

/* The destination domain's state, asked once the streams have ended. */
static gboolean on_check(gpointer user_data);

static void
on_checked(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;

    if (m->finished)
        return;
    if (vmig_libvirt_check_running_finish(result, &error)) {
        if (!m->switchover_by)
            m->switchover_by = g_strdup("libvirt");
        vmig_mig_finish(m, VMIG_MIGRATION_COMPLETED, NULL);
    } else if (g_error_matches(error, VMIG_LIBVIRT_ERROR, VMIG_LIBVIRT_ERROR_INACTIVE) &&
               g_get_monotonic_time() < m->libvirt_deadline) {
        /* Still being finished by libvirt: ask again. */
        m->libvirt_timer = vmig_mig_timeout(m, LIBVIRT_POLL_MS, on_check);
    } else {
        vmig_mig_fail(m, 0, "the destination libvirt did not bring the domain up: %s",
                      error->message);
    }
}

static gboolean
on_check(gpointer user_data)
{
    VmigMigration *m = user_data;

    g_clear_pointer(&m->libvirt_timer, g_source_unref);
    vmig_libvirt_check_running_async(m->domain, vmig_mig_settings(m)->context, on_checked,
                                     vmig_mig_ref(m));
    return G_SOURCE_REMOVE;
}

/* libvirt finishes the domain after the stream: watch for it. */
static void
libvirt_stream_ended(VmigMigration *m)
{
    if (m->libvirt_timer)
        return;
    m->libvirt_deadline = g_get_monotonic_time() + (gint64)LIBVIRT_WAIT_MS * 1000;
    m->libvirt_timer = vmig_mig_timeout(m, 0, on_check);
}

/*
 * After READY: the QEMU that the destination libvirt starts listens on
 * the migration socket; connect the main channel to it as soon as it
 * does, then every extra channel.
 * Returns: G_SOURCE_REMOVE (it re-arms itself while QEMU is not there).
 */
static gboolean
on_dial(gpointer user_data)
{
    VmigMigration *m = user_data;
    g_autoptr(GError) error = NULL;
    g_auto(VmigFd) conn = -1;

    g_clear_pointer(&m->libvirt_timer, g_source_unref);
    conn = vmig_mig_channels_dial_local(m->libvirt_socket, &error);
    if (conn < 0) {
        if (g_get_monotonic_time() < m->libvirt_deadline) {
            m->libvirt_timer = vmig_mig_timeout(m, LIBVIRT_POLL_MS, on_dial);
            return G_SOURCE_REMOVE;
        }
        vmig_mig_fail_error(m, 0, "the destination libvirt's QEMU never listened", error);
        return G_SOURCE_REMOVE;
    }
    vmig_mig_source_clear(&m->libvirt_main_watch);
    if (vmig_mig_channels_bridge_to_qemu(m, m->libvirt_socket, &conn))
        vmig_mig_step(m, VMIG_MIG_EVENT_STREAM);
    return G_SOURCE_REMOVE;
}

/* Ends the main channel's watch with @m failed for @reason.  Returns: G_SOURCE_REMOVE. */
static gboolean
main_watch_fail(VmigMigration *m, const char *reason)
{
    g_clear_pointer(&m->libvirt_main_watch, g_source_unref);
    vmig_mig_finish(m, VMIG_MIGRATION_FAILED, reason);
    return G_SOURCE_REMOVE;
}

/*
 * The destination's main channel between READY and the stream: the source
 * driver may still say, with an ERROR frame, that libvirt refused (its
 * reason becomes ours), or close it.  The first stream bytes end the
 * watch: they stay in the socket for the bridge.
 * Returns: whether to keep watching.
 */
static gboolean
on_main_io(int fd, GIOCondition condition, gpointer user_data)
{
    VmigMigration *m = user_data;
    guint8 head[4];
    gssize n = recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (!m->libvirt_frame && n > 0 && n < (gssize)sizeof(head) && !(condition & G_IO_HUP))
        return G_SOURCE_CONTINUE;
    if (!m->libvirt_frame && n == (gssize)sizeof(head) &&
        (((guint32)head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) !=
            VMIG_NEGOTIATE_MAGIC) {
        g_clear_pointer(&m->libvirt_main_watch, g_source_unref);
        return G_SOURCE_REMOVE; /* the stream */
    }
    if (n > 0) {
        guint8 buf[4096];
        gsize want = MIN(sizeof(buf), vmig_negotiate_decoder_wanted(m->decoder));
        g_autoptr(GError) error = NULL;
        g_autoptr(VmigNegotiateMessage) msg = NULL;
        gsize consumed = 0;

        m->libvirt_frame = TRUE;
        n = recv(fd, buf, want, MSG_DONTWAIT);
        if (n > 0 && vmig_negotiate_decoder_feed(m->decoder, buf, n, &consumed, &msg,
                                                 &error) != VMIG_NEGOTIATE_STATUS_FRAME) {
            if (!error)
                return G_SOURCE_CONTINUE; /* the rest of the frame is on its way */
            return main_watch_fail(m, error->message);
        }
        if (msg)
            return main_watch_fail(m, msg->type == VMIG_NEGOTIATE_FRAME_ERROR
                                          ? msg->message
                                          : "an unexpected frame after READY");
    }
    return main_watch_fail(m,
                           "the source driver closed the main channel before libvirt's "
                           "stream");
}

/* Configured: READY, then wait for libvirt's QEMU and for the source's word. */
static void
start_destination(VmigMigration *m)
{
    m->libvirt_socket = socket_path(m);
    if (!vmig_mig_send_ready(m))
        return;
    /* Version 2 keeps its main channel for the control conversation. */
    if (!vmig_mig_v2(m))
        m->libvirt_main_watch =
            vmig_mig_watch(m, m->main_fd, G_IO_IN | G_IO_HUP, on_main_io, m);
    m->libvirt_deadline = g_get_monotonic_time() + (gint64)LIBVIRT_WAIT_MS * 1000;
    m->libvirt_timer = vmig_mig_timeout(m, 0, on_dial);
}

/* ------------------------------------------------------------------------ */
/* The end */

static void
libvirt_cancel(VmigMigration *m)
{
    if (m->role == VMIG_ROLE_SOURCE && m->libvirt_migrating) {
        /* libvirt's call returns once its job is aborted; that is the end. */
        vmig_libvirt_abort(m->domain);
        return;
    }
    vmig_mig_finish(m, VMIG_MIGRATION_CANCELLED, "cancelled by the management app");
}

static void
libvirt_postcopy(VmigMigration *m, GTask *task)
{
    g_task_return_new_error(
        task, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
        "migration '%s' of a libvirt domain: switch it to postcopy with "
        "virsh migrate-postcopy",
        m->id);
    g_object_unref(task);
}

/*
 * Destination, version 2: the source's libvirt confirmed; the destination
 * libvirt resumes the domain itself, and its running ends the migration
 * (on_checked()), within LIBVIRT_WAIT_MS.
 */
static void
libvirt_resume(VmigMigration *m, VmigBackendStep done)
{
    vmig_mig_source_clear(&m->switchover_timer);
    g_free(m->switchover_by);
    m->switchover_by = g_strdup("libvirt");
    if (!m->libvirt_timer)
        libvirt_stream_ended(m);
}

/* libvirt's own switchover never leaves a migration unknown. */
static void
libvirt_resolve(VmigMigration *m)
{
    g_autoptr(GError) error = g_error_new(
        VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE,
        "migration '%s' of a libvirt domain: libvirt's own switchover applies; "
        "see virsh domstate on both hosts",
        m->id);

    vmig_mig_resolved(m, error);
}

static void
libvirt_release(VmigMigration *m)
{
    vmig_mig_source_clear(&m->libvirt_timer);
    vmig_mig_source_clear(&m->libvirt_main_watch);
    if (m->state != VMIG_MIGRATION_COMPLETED && m->libvirt_migrating) {
        /* libvirt's migration call returns once the job is aborted; the
         * source guest keeps running. */
        vmig_libvirt_abort(m->domain);
        m->libvirt_migrating = FALSE;
    }
}

/* libvirt puts its QEMUs back itself at the end of its job (qemuMigrationParamsReset). */
static void
libvirt_end(VmigMigration *m, VmigBackendStep done)
{
    libvirt_release(m);
    done(m);
}

const VmigBackend vmig_backend_libvirt = {
    .name = "libvirt",
    .introspect = libvirt_introspect,
    .configure = libvirt_configure,
    .start_source = start_source,
    .start_destination = start_destination,
    .poll = libvirt_poll,
    .stream_ended = libvirt_stream_ended,
    .cancel = libvirt_cancel,
    .resume = libvirt_resume,
    .resolve = libvirt_resolve,
    .postcopy = libvirt_postcopy,
    .end = libvirt_end,
    .release = libvirt_release,
};
