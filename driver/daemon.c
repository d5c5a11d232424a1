/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon.c: virt-migrated, the per-host migration driver daemon
 *
 *   virt-migrated [--config FILE] [--runtime-dir DIR] [--bus system|session|none]
 *                 [--qmp-timeout S] [--channel-timeout S] [--keep-finished S]
 *                 [--max-migrations N] [--max-pending N] [--pending-timeout S]
 *                 [--verbose] ...
 *
 * Reads its configuration file first (driver/daemon-config.h: one key per
 * option; default VMIG_DAEMON_CONFIG_FILE, which may be missing), then the
 * command line, which overrides the file option by option.
 * Serves the control socket DIR/virt-migrated.sock (driver/control.h) with
 * the command table of driver/commands.c, and the D-Bus service
 * org.virtmigrate (driver/service.h) on the chosen bus, both on one
 * GMainContext that is the thread default of the main thread.  Without a
 * reachable bus the daemon warns and serves the control socket alone.  SIGTERM and SIGINT
 * stop it cleanly: every client is disconnected and the socket file removed.
 * Under systemd (Type=notify, NOTIFY_SOCKET) it says READY=1 once the control
 * socket serves and STOPPING=1 when it starts to stop.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-daemon"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <systemd/sd-daemon.h>

#include "driver/commands.h"
#include "driver/control.h"
#include "driver/daemon-config.h"
#include "driver/listener.h"
#include "driver/migration.h"
#include "negotiate/negotiate.h"
#include "driver/pending.h"
#include "driver/service.h"
#include "driver/standing.h"
#include "fdpass/fd.h"

#define VMIG_DAEMON_SOCKET_NAME "virt-migrated.sock"
/* Seconds a QEMU monitor may take to answer before a command fails. */
#define VMIG_DAEMON_QMP_TIMEOUT 30
/* Seconds a management app may take to supply the channels asked for. */
#define VMIG_DAEMON_CHANNEL_TIMEOUT 5
/* Seconds a finished migration stays listed (and on D-Bus). */
#define VMIG_DAEMON_KEEP_FINISHED 300
/* Unfinished migrations at once (docs/limits.md). */
#define VMIG_DAEMON_MAX_MIGRATIONS 32
/* Protocol version 2's heartbeats: one a second; five silent seconds and the peer is
 * gone. */
#define VMIG_DAEMON_HEARTBEAT_INTERVAL 1
#define VMIG_DAEMON_HEARTBEAT_TIMEOUT  5
/*
 * Descriptors one migration may hold at most, on either side: the QEMU
 * monitor, the main channel, a listener, and per connection of QEMU's
 * (main + 255 multifd) a channel, QEMU's end and a bridge's two pipes:
 * 3 + 256 * 6 - 1 (the main channel is counted once).  docs/limits.md.
 */
#define VMIG_DAEMON_FDS_PER_MIGRATION (3 + 256 * 6 - 1)
/* What the daemon holds besides migrations: stdio, the control socket and
 * its clients, D-Bus, libvirt connections, the reserve. */
#define VMIG_DAEMON_FDS_BASE           64
#define VMIG_DAEMON_SYSTEM_RUNTIME_DIR "/run/virt-migrate"

/*
 * Exit statuses: startup failures and usage errors are told apart.  A bad
 * configuration file is a usage error (what was written is wrong, in the
 * file as it would be on the command line), except one that exists but
 * cannot be read: a failure.
 */
#define VMIG_DAEMON_EXIT_FAILURE 1
#define VMIG_DAEMON_EXIT_USAGE   2

typedef enum {
    VMIG_DAEMON_BUS_NONE,
    VMIG_DAEMON_BUS_SYSTEM,
    VMIG_DAEMON_BUS_SESSION,
    VMIG_DAEMON_BUS_LAST
} VmigDaemonBus;

static const char *const vmig_daemon_bus_names[] = {
    [VMIG_DAEMON_BUS_NONE] = "none",
    [VMIG_DAEMON_BUS_SYSTEM] = "system",
    [VMIG_DAEMON_BUS_SESSION] = "session",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_daemon_bus_names) == VMIG_DAEMON_BUS_LAST);

/* Set by --verbose: debug messages of every "vmig-*" log domain are shown. */
static gboolean vmig_daemon_verbose;

/* Returns: the bus called @name, or VMIG_DAEMON_BUS_LAST when there is none. */
static VmigDaemonBus
vmig_daemon_bus_from_string(const char *name)
{
    guint i;

    for (i = 0; i < VMIG_DAEMON_BUS_LAST; i++) {
        if (g_str_equal(vmig_daemon_bus_names[i], name))
            return i;
    }
    return VMIG_DAEMON_BUS_LAST;
}

/*
 * The log writer: with --verbose, debug messages of our own domains are
 * written although G_MESSAGES_DEBUG does not name them; everything else is
 * GLib's default handling (which honours G_MESSAGES_DEBUG).
 * Returns: whether the message was handled.
 */
static GLogWriterOutput
vmig_daemon_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                       gpointer user_data)
{
    if (vmig_daemon_verbose && (level & G_LOG_LEVEL_DEBUG)) {
        gsize i;

        for (i = 0; i < n_fields; i++) {
            if (g_str_equal(fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0 &&
                g_str_has_prefix(fields[i].value, "vmig-")) {
                if (g_log_writer_is_journald(fileno(stderr)))
                    return g_log_writer_journald(level, fields, n_fields, user_data);
                return g_log_writer_standard_streams(level, fields, n_fields, user_data);
            }
        }
    }
    return g_log_writer_default(level, fields, n_fields, user_data);
}

/*
 * The runtime directory when none is given: /run/virt-migrate for root,
 * $XDG_RUNTIME_DIR/virt-migrate for anyone else.  (tools/virt-migrate.c
 * applies the same rule to find the socket: keep the two in step.)
 * Returns: the directory (to free), or NULL with @error set.
 */
static char *
vmig_daemon_default_runtime_dir(GError **error)
{
    const char *xdg;

    if (geteuid() == 0)
        return g_strdup(VMIG_DAEMON_SYSTEM_RUNTIME_DIR);
    xdg = g_getenv("XDG_RUNTIME_DIR");
    if (!xdg || !*xdg) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                            "XDG_RUNTIME_DIR is not set: give the runtime directory with "
                            "--runtime-dir or runtime_dir in the configuration file");
        return NULL;
    }
    return g_build_filename(xdg, "virt-migrate", NULL);
}

/*
 * Makes sure @dir is a directory of ours that nobody else can write to,
 * creating it (mode 0700) when it is missing.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_daemon_prepare_runtime_dir(const char *dir, GError **error)
{
    struct stat st;

    if (stat(dir, &st) < 0) {
        int err = errno;

        if (err != ENOENT) {
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                        "cannot use the runtime directory '%s': %s", dir,
                        g_strerror(err));
            return FALSE;
        }
        if (g_mkdir_with_parents(dir, 0700) < 0 || stat(dir, &st) < 0) {
            err = errno;
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                        "cannot create the runtime directory '%s': %s", dir,
                        g_strerror(err));
            return FALSE;
        }
        g_debug("created the runtime directory '%s'", dir);
    }
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
                    "the runtime directory '%s' is not a directory", dir);
        return FALSE;
    }
    if (st.st_uid != geteuid()) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                    "the runtime directory '%s' belongs to uid %u, not to uid %u", dir,
                    (guint)st.st_uid, (guint)geteuid());
        return FALSE;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        g_set_error(
            error, G_FILE_ERROR, G_FILE_ERROR_PERM,
            "the runtime directory '%s' is writable by others (mode %04o): refusing it",
            dir, (guint)(st.st_mode & 07777));
        return FALSE;
    }
    return TRUE;
}

/*
 * Reads --socket-group: a group name, or a number taken as a gid as it is
 * (a gid needs no name).  @where says where it was set, for messages
 * (NULL: the command line).
 * Returns: TRUE with *@gid and *@name (to free) set, or FALSE with @error
 * set when no group has that name.
 */
static gboolean
vmig_daemon_resolve_group(const char *text, const char *where, gid_t *gid, char **name,
                          GError **error)
{
    struct group *entry;
    guint64 number = 0;

    if (g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT32 - 1, &number, NULL)) {
        entry = getgrgid((gid_t)number);
        *gid = (gid_t)number;
        *name = g_strdup(entry ? entry->gr_name : text);
        return TRUE;
    }
    entry = getgrnam(text);
    if (!entry) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s: unknown group '%s'",
                    where ? where : "--socket-group", text);
        return FALSE;
    }
    *gid = entry->gr_gid;
    *name = g_strdup(entry->gr_name);
    return TRUE;
}

/*
 * Opens the runtime directory @dir to group @gid: group @gid, mode 0750
 * (searchable, never writable, by the group).
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_daemon_share_runtime_dir(const char *dir, gid_t gid, const char *name,
                              GError **error)
{
    g_auto(VmigFd) fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    int err = 0;

    /* Still the directory checked as ours, not one put in its place. */
    if (fd < 0 || fstat(fd, &st) < 0)
        err = errno;
    else if (st.st_uid != geteuid())
        err = EPERM;
    else if (fchown(fd, (uid_t)-1, gid) < 0 || fchmod(fd, 0750) < 0)
        err = errno;
    if (err) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot give the runtime directory '%s' to group '%s' (gid %u): %s",
                    dir, name, (guint)gid, g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

/*
 * Raises the soft descriptor limit to the hard one (the daemon polls, it
 * never select()s), and says how far it reaches.
 * Returns: the soft limit now.
 */
static rlim_t
vmig_daemon_raise_fd_limit(guint max_migrations, guint max_pending)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)max_migrations * VMIG_DAEMON_FDS_PER_MIGRATION + max_pending +
                  VMIG_DAEMON_FDS_BASE;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;

        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            rl.rlim_cur = old;
    }
    if (rl.rlim_cur < need)
        g_message(
            "the descriptor limit is %llu: %u migrations of 255 channels need %llu "
            "(docs/limits.md); beyond it, migrations fail with 'Too many open files' "
            "while the daemon serves on",
            (unsigned long long)rl.rlim_cur, max_migrations, (unsigned long long)need);
    return rl.rlim_cur;
}

/* SIGTERM or SIGINT: leave the main loop.  Returns: G_SOURCE_CONTINUE. */
static gboolean
vmig_daemon_on_signal(gpointer user_data)
{
    g_main_loop_quit(user_data);
    return G_SOURCE_CONTINUE;
}

/* Returns: a source for @signum that quits @loop, attached to @context. */
static GSource *
vmig_daemon_watch_signal(GMainContext *context, int signum, GMainLoop *loop)
{
    GSource *source = g_unix_signal_source_new(signum);

    g_source_set_callback(source, vmig_daemon_on_signal, loop, NULL);
    g_source_attach(source, context);
    return source;
}

/* Removes and frees a signal source. */
static void
vmig_daemon_source_free(GSource *source)
{
    g_source_destroy(source);
    g_source_unref(source);
}

/* A source that is destroyed, not only unreferenced, when it goes. */
typedef GSource VmigDaemonSource;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigDaemonSource, vmig_daemon_source_free)

/*
 * Loads the TLS credentials of --tls-x509-dir @dir (NULL: the default
 * directory, if it exists; "": none).  A directory named on the command line must
 * load; the default one that is absent or broken leaves the daemon
 * without TLS (its TCP migrations then refused unless --plaintext-tcp),
 * and *@unavailable says why.  Returns: TRUE, or FALSE with @error.
 */
static gboolean
vmig_daemon_load_tls(const char *dir, const char *const *allowed_dn, VmigTlsContext **tls,
                     char **unavailable, GError **error)
{
    g_autoptr(VmigTlsCredentials) server = NULL;
    g_autoptr(VmigTlsCredentials) client = NULL;
    g_autoptr(GError) local = NULL;
    const char *path = dir ? dir : VMIG_TLS_DEFAULT_DIR;

    if (dir && !*dir) {
        *unavailable = g_strdup("--tls-x509-dir is empty: TLS is off");
        g_message("no TLS between drivers: %s", *unavailable);
        return TRUE;
    }
    if (!dir && !g_file_test(path, G_FILE_TEST_EXISTS)) {
        *unavailable = g_strdup_printf("%s does not exist", path);
        g_message("no TLS between drivers: %s", *unavailable);
        return TRUE;
    }
    if (!vmig_tls_credentials_load_both(path, &server, &client, &local)) {
        if (dir) {
            g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                       "--tls-x509-dir: ");
            return FALSE;
        }
        *unavailable = g_strdup(local->message);
        g_warning("no TLS between drivers: %s", local->message);
        return TRUE;
    }
    *tls = vmig_tls_context_new(g_steal_pointer(&server), g_steal_pointer(&client),
                                allowed_dn, vmig_mig_tls_explain_plaintext);
    g_message("TLS between drivers: credentials from %s%s", path,
              allowed_dn && allowed_dn[0] ? ", peers narrowed by --tls-allowed-dn" : "");
    return TRUE;
}

/*
 * Finds --config FILE in @argv (not changed) before the options are parsed
 * for good, so that the file can be read first.
 * Returns: TRUE with the file in *@path (NULL: not given), or FALSE with
 * @error set.
 */
static gboolean
vmig_daemon_find_config(char **argv, char **path, GError **error)
{
    g_auto(GStrv) args = g_strdupv(argv);
    GOptionEntry entries[] = {
        {"config", 0, 0, G_OPTION_ARG_FILENAME, path, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) options = g_option_context_new(NULL);

    g_option_context_set_help_enabled(options, FALSE);
    g_option_context_set_ignore_unknown_options(options, TRUE);
    g_option_context_add_main_entries(options, entries, NULL);
    return g_option_context_parse_strv(options, &args, error);
}

/* Parses the options, serves until SIGTERM or SIGINT.  Returns: the exit status. */
int
main(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    g_autofree char *config_again = NULL;
    g_autofree char *runtime_dir = NULL;
    g_autofree char *bus_name = NULL;
    g_autofree char *migration_dir = NULL;
    g_autofree char *socket_group = NULL;
    g_autofree char *group_name = NULL;
    g_autofree char *group_where = NULL;
    gid_t group_gid = 0;
    gboolean show_version = FALSE;
    gint qmp_timeout = VMIG_DAEMON_QMP_TIMEOUT;
    gint channel_timeout = VMIG_DAEMON_CHANNEL_TIMEOUT;
    gint keep_finished = VMIG_DAEMON_KEEP_FINISHED;
    gint max_migrations = VMIG_DAEMON_MAX_MIGRATIONS;
    gint max_pending = VMIG_PENDING_DEFAULT_MAX;
    gint pending_timeout = VMIG_PENDING_DEFAULT_TIMEOUT_MS / 1000;
    gint heartbeat_interval = VMIG_DAEMON_HEARTBEAT_INTERVAL;
    gint heartbeat_timeout = VMIG_DAEMON_HEARTBEAT_TIMEOUT;
    gint hello_timeout = VMIG_MIGRATION_HELLO_TIMEOUT_MS / 1000;
    gint legacy_hold = VMIG_MIGRATION_LEGACY_HOLD_MS / 1000;
    gint legacy_max_held = VMIG_MIGRATION_LEGACY_MAX_HELD;
    gint max_protocol = VMIG_NEGOTIATE_VERSION_2;
    g_autofree char *tls_dir = NULL;
    g_auto(GStrv) tls_allowed_dn = NULL;
    gboolean plaintext_tcp = FALSE;
    gboolean experimental_protocol = FALSE;
    g_autoptr(VmigTlsContext) tls = NULL;
    g_autofree char *tls_unavailable = NULL;
    g_autofree char *listen = NULL;
    g_autofree char *listen_uri = NULL;
    g_autofree char *libvirt_uri = NULL;
    g_autoptr(VmigStanding) standing = NULL;
    rlim_t fd_limit;
    GOptionEntry entries[] = {
        {"config", 0, 0, G_OPTION_ARG_FILENAME, &config_again,
         "The configuration file, one key for each option below, which override it "
         "(default: " VMIG_DAEMON_CONFIG_FILE ", if it exists)",
         "FILE"},
        {"runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &runtime_dir,
         "Where the control socket goes (default: /run/virt-migrate for root, "
         "$XDG_RUNTIME_DIR/virt-migrate otherwise)",
         "DIR"},
        {"socket-group", 0, 0, G_OPTION_ARG_STRING, &socket_group,
         "Also serve root and the members of GROUP (a name or a gid) on the control "
         "socket, which becomes mode 0660 in a runtime directory of mode 0750, both of "
         "that group (default: only the daemon's own user)",
         "GROUP"},
        {"migration-dir", 0, 0, G_OPTION_ARG_FILENAME, &migration_dir,
         "Where the sockets of libvirt migrations go: the same directory name on both "
         "hosts, owned by the user libvirt runs QEMU as (default: the runtime directory)",
         "DIR"},
        {"bus", 0, 0, G_OPTION_ARG_STRING, &bus_name,
         "D-Bus to serve on: system, session or none (default: system)", "BUS"},
        {"qmp-timeout", 0, 0, G_OPTION_ARG_INT, &qmp_timeout,
         "Seconds a QEMU monitor may take to answer (default: 30)", "SECONDS"},
        {"channel-timeout", 0, 0, G_OPTION_ARG_INT, &channel_timeout,
         "Seconds a management app may take to supply the channels asked for "
         "(default: 5)",
         "SECONDS"},
        {"keep-finished", 0, 0, G_OPTION_ARG_INT, &keep_finished,
         "Seconds a finished migration stays listed, for clients to read what was "
         "negotiated (default: 300)",
         "SECONDS"},
        {"max-migrations", 0, 0, G_OPTION_ARG_INT, &max_migrations,
         "Migrations that may run at once; more are refused (default: 32)", "N"},
        {"max-pending", 0, 0, G_OPTION_ARG_INT, &max_pending,
         "Connections to the daemon's migration listeners that may be open at once "
         "before they say what they are; beyond it the oldest is dropped (default: 256)",
         "N"},
        {"pending-timeout", 0, 0, G_OPTION_ARG_INT, &pending_timeout,
         "Seconds a connection may take to say what it is and prove its token "
         "(default: 10)",
         "SECONDS"},
        {"heartbeat-interval", 0, 0, G_OPTION_ARG_INT, &heartbeat_interval,
         "Seconds between two heartbeats to the peer driver (protocol version 2; "
         "default: 1)",
         "SECONDS"},
        {"heartbeat-timeout", 0, 0, G_OPTION_ARG_INT, &heartbeat_timeout,
         "Seconds of silence after which the peer driver counts as gone, at any step of "
         "a migration (protocol version 2; more than the interval; default: 5)",
         "SECONDS"},
        {"hello-timeout", 0, 0, G_OPTION_ARG_INT, &hello_timeout,
         "Seconds a source waits for the destination driver's hello on the main "
         "channel before it takes the peer for one with no driver, such as a QEMU "
         "waiting with -incoming (default: 3)",
         "SECONDS"},
        {"legacy-hold", 0, 0, G_OPTION_ARG_INT, &legacy_hold,
         "Seconds the connection to a peer with no driver is held after a migration to "
         "it was refused, so that the QEMU there keeps waiting (default: 600)",
         "SECONDS"},
        {"legacy-max-held", 0, 0, G_OPTION_ARG_INT, &legacy_max_held,
         "Such connections held at once; beyond it the oldest is closed (default: 16)",
         "N"},
        {"max-protocol", 0, 0, G_OPTION_ARG_INT, &max_protocol,
         "The newest protocol version to offer: 1 or 2 (default: 2)", "N"},
        {"experimental-protocol", 0, 0, G_OPTION_ARG_NONE, &experimental_protocol,
         "Also offer the experimental protocol versions (0x80000000 and up), which "
         "carry no compatibility promise; one is chosen only when the peer offers it "
         "too (default: stable versions only)",
         NULL},
        {"tls-x509-dir", 0, 0, G_OPTION_ARG_FILENAME, &tls_dir,
         "The x509 credentials for TLS between drivers, in QEMU's layout: ca-cert.pem, "
         "server-cert.pem, server-key.pem, client-cert.pem, client-key.pem, optional "
         "ca-crl.pem (default: " VMIG_TLS_DEFAULT_DIR ", if it exists; empty: no TLS)",
         "DIR"},
        {"tls-allowed-dn", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tls_allowed_dn,
         "A glob the peer driver's certificate subject (RFC 4514: CN=...,O=...,C=...) "
         "must match; repeatable (default: any certificate the CA signed)",
         "PATTERN"},
        {"listen", 0, 0, G_OPTION_ARG_STRING, &listen,
         "Keep a standing listener on HOST[:PORT] (default port 16520) for source "
         "drivers that bring their domain, so that one command on the source migrates "
         "it; needs TLS and --tls-allowed-dn (default: none)",
         "HOST[:PORT]"},
        {"libvirt-uri", 0, 0, G_OPTION_ARG_STRING, &libvirt_uri,
         "The libvirt that migrations coming to the standing listener go into "
         "(default: " VMIG_STANDING_DEFAULT_LIBVIRT_URI ")",
         "URI"},
        {"plaintext-tcp", 0, 0, G_OPTION_ARG_NONE, &plaintext_tcp,
         "TCP migrations without --tls are plaintext (default: TLS, refused without "
         "credentials)",
         NULL},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &vmig_daemon_verbose,
         "Log debug messages of virt-migrate's own modules", NULL},
        {"version", 0, 0, G_OPTION_ARG_NONE, &show_version, "Print the version and exit",
         NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    /* The numeric options' ranges, on the command line and in the file alike. */
    const VmigDaemonRange ranges[] = {
        {"qmp-timeout", &qmp_timeout, 1, 3600, " seconds"},
        {"channel-timeout", &channel_timeout, 1, 3600, " seconds"},
        {"keep-finished", &keep_finished, 0, 7 * 24 * 3600, " seconds"},
        {"max-migrations", &max_migrations, 1, 1024, ""},
        {"max-pending", &max_pending, 1, 65536, ""},
        {"pending-timeout", &pending_timeout, 1, 600, " seconds"},
        {"heartbeat-interval", &heartbeat_interval, 1, 60, " seconds"},
        {"heartbeat-timeout", &heartbeat_timeout, 2, 600, " seconds"},
        {"hello-timeout", &hello_timeout, 1, 60, " seconds"},
        {"legacy-hold", &legacy_hold, 1, 24 * 3600, " seconds"},
        {"legacy-max-held", &legacy_max_held, 1, 1024, ""},
        {"max-protocol", &max_protocol, VMIG_NEGOTIATE_VERSION_1,
         VMIG_NEGOTIATE_VERSION_2, ""},
    };
    /* Options that are no keys of the file. */
    const char *const not_keys[] = {"config", "version", NULL};
    g_autoptr(VmigDaemonConfig) config = NULL;
    g_autoptr(GError) config_error = NULL;
    g_autofree char *bus_where = NULL;
    g_autoptr(GOptionContext) options = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainContext) context = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autoptr(VmigDaemonSource) sigterm = NULL;
    g_autoptr(VmigDaemonSource) sigint = NULL;
    g_autoptr(VmigPendingPool) pending_pool = NULL;
    g_autoptr(VmigControl) control = NULL;
    g_autofree char *socket_path = NULL;
    VmigDaemonBus bus = VMIG_DAEMON_BUS_SYSTEM;
    VmigDaemon vmigd = {0};

    setlocale(LC_ALL, "");
    g_set_prgname("virt-migrated");
    /* Writes to a client that went away must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    options = g_option_context_new(NULL);
    g_option_context_set_summary(options,
                                 "The virt-migrate driver daemon: negotiated live "
                                 "migration for QEMU and libvirt.");
    g_option_context_add_main_entries(options, entries, NULL);
    if (!vmig_daemon_find_config(argv, &config_path, &error)) {
        g_printerr("virt-migrated: error: %s\nTry 'virt-migrated --help'.\n",
                   error->message);
        return VMIG_DAEMON_EXIT_USAGE;
    }
    /*
     * The file first, into the options' variables, which the command line
     * then overrides.  Its error waits until the command line is parsed:
     * --help and --version work whatever the file says.
     */
    config = vmig_daemon_config_new(entries, not_keys, ranges, G_N_ELEMENTS(ranges));
    vmig_daemon_config_load(config, config_path ? config_path : VMIG_DAEMON_CONFIG_FILE,
                            config_path != NULL, &config_error);
    if (!g_option_context_parse(options, &argc, &argv, &error)) {
        g_printerr("virt-migrated: error: %s\nTry 'virt-migrated --help'.\n",
                   error->message);
        return VMIG_DAEMON_EXIT_USAGE;
    }
    if (argc > 1) {
        g_printerr("virt-migrated: error: unexpected argument '%s'\n"
                   "Try 'virt-migrated --help'.\n",
                   argv[1]);
        return VMIG_DAEMON_EXIT_USAGE;
    }
    if (show_version) {
        g_print("virt-migrated %s\n", PACKAGE_VERSION);
        return EXIT_SUCCESS;
    }
    if (config_error) {
        g_printerr("virt-migrated: error: %s\n", config_error->message);
        return config_error->code == VMIG_DAEMON_CONFIG_ERROR_READ
                   ? VMIG_DAEMON_EXIT_FAILURE
                   : VMIG_DAEMON_EXIT_USAGE;
    }
    /* The file's values were checked as they were read: these are the options'. */
    for (gsize i = 0; i < G_N_ELEMENTS(ranges); i++) {
        const VmigDaemonRange *r = &ranges[i];
        g_autofree char *text = g_strdup_printf("%d", *r->value);

        if (!vmig_daemon_range_check(r, *r->value, text, &error)) {
            g_printerr("virt-migrated: error: --%s %s\nTry 'virt-migrated --help'.\n",
                       r->option, error->message);
            return VMIG_DAEMON_EXIT_USAGE;
        }
    }
    if (heartbeat_timeout <= heartbeat_interval) {
        /* Said of the file's key when the file set the timeout (or else the
         * interval), else of the options. */
        g_autofree char *timeout_where =
            vmig_daemon_config_where(config, "heartbeat-timeout");
        g_autofree char *interval_where =
            vmig_daemon_config_where(config, "heartbeat-interval");

        if (timeout_where)
            g_printerr("virt-migrated: error: %s: must be more than the heartbeat "
                       "interval (%d s), not %d\n",
                       timeout_where, heartbeat_interval, heartbeat_timeout);
        else if (interval_where)
            g_printerr("virt-migrated: error: %s: must be less than the heartbeat "
                       "timeout (%d s), not %d\n",
                       interval_where, heartbeat_timeout, heartbeat_interval);
        else
            g_printerr("virt-migrated: error: --heartbeat-timeout (%d s) must be more "
                       "than --heartbeat-interval (%d s)\nTry 'virt-migrated --help'.\n",
                       heartbeat_timeout, heartbeat_interval);
        return VMIG_DAEMON_EXIT_USAGE;
    }
    if (bus_name) {
        bus = vmig_daemon_bus_from_string(bus_name);
        if (bus == VMIG_DAEMON_BUS_LAST) {
            bus_where = vmig_daemon_config_where(config, "bus");
            if (bus_where)
                g_printerr("virt-migrated: error: %s: unknown bus '%s' (expected system, "
                           "session or none)\n",
                           bus_where, bus_name);
            else
                g_printerr(
                    "virt-migrated: error: unknown bus '%s' (expected system, session or "
                    "none)\nTry 'virt-migrated --help'.\n",
                    bus_name);
            return VMIG_DAEMON_EXIT_USAGE;
        }
    }

    if (socket_group && *socket_group) {
        group_where = vmig_daemon_config_where(config, "socket-group");
        if (!vmig_daemon_resolve_group(socket_group, group_where, &group_gid, &group_name,
                                       &error)) {
            g_printerr("virt-migrated: error: %s\n", error->message);
            return VMIG_DAEMON_EXIT_FAILURE;
        }
    }

    /* A daemon's stdout is no place for logs, debug ones included. */
    g_log_writer_default_set_use_stderr(TRUE);
    g_log_set_writer_func(vmig_daemon_log_writer, NULL, NULL);
    if (vmig_daemon_config_path(config))
        g_message("configuration from %s", vmig_daemon_config_path(config));

    if (!runtime_dir) {
        runtime_dir = vmig_daemon_default_runtime_dir(&error);
        if (!runtime_dir) {
            g_printerr("virt-migrated: error: %s\n", error->message);
            return VMIG_DAEMON_EXIT_FAILURE;
        }
    }
    if (!vmig_daemon_prepare_runtime_dir(runtime_dir, &error) ||
        (group_name &&
         !vmig_daemon_share_runtime_dir(runtime_dir, group_gid, group_name, &error))) {
        g_printerr("virt-migrated: error: %s\n", error->message);
        return VMIG_DAEMON_EXIT_FAILURE;
    }
    socket_path = g_build_filename(runtime_dir, VMIG_DAEMON_SOCKET_NAME, NULL);

    if (!vmig_daemon_load_tls(tls_dir, (const char *const *)tls_allowed_dn, &tls,
                              &tls_unavailable, &error)) {
        g_printerr("virt-migrated: error: %s\n", error->message);
        return VMIG_DAEMON_EXIT_FAILURE;
    }

    if (listen && *listen) {
        g_autofree char *where = vmig_daemon_config_where(config, "listen");

        listen_uri = vmig_standing_address(listen, &error);
        if (!listen_uri) {
            g_printerr("virt-migrated: error: %s%s%s\n", where ? where : "--listen ",
                       where ? ": " : "", error->message);
            return VMIG_DAEMON_EXIT_USAGE;
        }
        if (!vmig_standing_check(tls, tls_unavailable,
                                 (const char *const *)tls_allowed_dn, &error)) {
            g_printerr("virt-migrated: error: %s\n", error->message);
            return VMIG_DAEMON_EXIT_USAGE;
        }
    }

    fd_limit = vmig_daemon_raise_fd_limit((guint)max_migrations, (guint)max_pending);
    if ((rlim_t)max_pending > fd_limit / 4) {
        /* Unproven connections must never crowd out the migrations themselves. */
        g_message(
            "--max-pending %d is lowered to %llu, a quarter of the descriptor limit",
            max_pending, (unsigned long long)(fd_limit / 4));
        max_pending = (gint)MAX(fd_limit / 4, 1);
    }
    vmig_listener_reserve();

    context = g_main_context_new();
    g_main_context_push_thread_default(context);
    loop = g_main_loop_new(context, FALSE);
    /* Before the socket exists, so that a signal never leaves it behind. */
    sigterm = vmig_daemon_watch_signal(context, SIGTERM, loop);
    sigint = vmig_daemon_watch_signal(context, SIGINT, loop);

    pending_pool =
        vmig_pending_pool_new((guint)max_pending, (guint)pending_timeout * 1000);
    vmigd.settings = (VmigMigrationSettings){
        .context = context,
        .runtime_dir = runtime_dir,
        .migration_dir = migration_dir ? migration_dir : runtime_dir,
        .qmp_timeout_ms = (guint)qmp_timeout * 1000,
        .channel_timeout_ms = (guint)channel_timeout * 1000,
        .keep_finished_ms = (guint)keep_finished * 1000,
        .max_migrations = (guint)max_migrations,
        .pending_pool = pending_pool,
        .max_version = (guint)max_protocol,
        .experimental_protocol = experimental_protocol,
        .heartbeat_interval_ms = (guint)heartbeat_interval * 1000,
        .heartbeat_timeout_ms = (guint)heartbeat_timeout * 1000,
        .hello_timeout_ms = (guint)hello_timeout * 1000,
        .legacy_hold_ms = (guint)legacy_hold * 1000,
        .legacy_max_held = (guint)legacy_max_held,
        .tls = tls,
        .tls_unavailable = tls_unavailable,
        .plaintext_tcp = plaintext_tcp,
    };
    control = vmig_control_new(context, socket_path, group_gid, group_name, vmig_commands,
                               vmig_n_commands, &vmigd, &error);
    if (!control) {
        g_printerr("virt-migrated: error: %s\n", error->message);
        g_main_context_pop_thread_default(context);
        return VMIG_DAEMON_EXIT_FAILURE;
    }
    vmigd.control = control;
    vmigd.migrations = vmig_migrations_new(&vmigd.settings);
    vmig_migrations_observe(vmigd.migrations, &vmig_commands_observer, control);
    if (listen_uri) {
        standing = vmig_standing_new(
            context, listen_uri, tls, pending_pool, (guint)pending_timeout * 1000,
            vmigd.migrations,
            libvirt_uri && *libvirt_uri ? libvirt_uri : VMIG_STANDING_DEFAULT_LIBVIRT_URI,
            &error);
        if (!standing) {
            g_printerr("virt-migrated: error: --listen: %s\n", error->message);
            vmig_migrations_free(vmigd.migrations);
            g_clear_pointer(&control, vmig_control_free);
            g_main_context_pop_thread_default(context);
            return VMIG_DAEMON_EXIT_FAILURE;
        }
        g_message("standing listener on %s, into %s, for the peers --tls-allowed-dn "
                  "names",
                  listen_uri,
                  libvirt_uri && *libvirt_uri ? libvirt_uri
                                              : VMIG_STANDING_DEFAULT_LIBVIRT_URI);
    }
    if (bus != VMIG_DAEMON_BUS_NONE) {
        const char *dir = g_getenv(VMIG_SERVICE_INTERFACES_ENV);

        vmigd.service = vmig_service_new(
            &vmigd, bus == VMIG_DAEMON_BUS_SYSTEM ? DBUS_BUS_SYSTEM : DBUS_BUS_SESSION,
            dir && *dir ? dir : NULL, &error);
        if (vmigd.service) {
            g_message("serving " VMIG_SERVICE_NAME " on the %s bus",
                      vmig_daemon_bus_names[bus]);
        } else {
            /* The control socket is the daemon's job; D-Bus is for watching it. */
            g_warning("no D-Bus service: %s; serving the control socket only",
                      error->message);
            g_clear_error(&error);
        }
    }

    g_message("listening on %s", socket_path);
    /*
     * For Type=notify: the control socket listens (a client that connects
     * now is answered as soon as the loop runs) and D-Bus is set up or
     * given up.  Without NOTIFY_SOCKET these do nothing.
     */
    sd_notifyf(0, "READY=1\nSTATUS=serving %s%s", socket_path,
               vmigd.service ? " and " VMIG_SERVICE_NAME : "");
    g_main_loop_run(loop);
    g_message("shutting down");
    sd_notify(0, "STOPPING=1\nSTATUS=shutting down: ending running migrations");

    /* Running migrations end (and say so) while the control socket still serves. */
    /* Not g_clear_pointer(): the D-Bus service reads the list while it goes. */
    g_clear_pointer(&standing, vmig_standing_free);
    vmig_migrations_free(vmigd.migrations);
    vmigd.migrations = NULL;
    g_clear_pointer(&vmigd.service, vmig_service_free);
    vmigd.control = NULL;
    g_clear_pointer(&control, vmig_control_free);
    g_clear_pointer(&sigterm, vmig_daemon_source_free);
    g_clear_pointer(&sigint, vmig_daemon_source_free);
    g_main_context_pop_thread_default(context);
    return EXIT_SUCCESS;
}
