/*
 * virt-migrate.c: the command line of virt-migrated (DESIGN §6)
 *
 *   virt-migrate [--connect SOCKET] [--timeout SECONDS] COMMAND [ARGS]
 *
 * virsh-like: global options come before the command, the command's own
 * options anywhere after it.  Commands are rows of one table; each parses
 * its arguments with GOption, and `help COMMAND` is `COMMAND --help`.
 *
 * Exit status: 0 on success, 1 when something failed, 2 for a usage error
 * (then the usage line is printed on stderr).
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-cli"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "fdpass/fd.h"
#include "tools/client.h"
#include "tools/render.h"

#define VMIG_CLI_EXIT_OK      0
#define VMIG_CLI_EXIT_FAILURE 1
#define VMIG_CLI_EXIT_USAGE   2

/*
 * How long a migration being cancelled (Ctrl-C, --timeout) may take to
 * say it stopped, and how long the daemon may take to name a migration
 * Ctrl-C interrupted before it had.
 */
#define VMIG_CLI_CANCEL_WAIT_S 10

#define VMIG_CLI_SOCKET_ENV         "VIRT_MIGRATE_SOCKET"
#define VMIG_CLI_SOCKET_NAME        "virt-migrated.sock"
#define VMIG_CLI_SYSTEM_RUNTIME_DIR "/run/virt-migrate"

typedef struct {
    char *connect;  /* --connect, or NULL */
    int timeout_ms; /* --timeout, or -1 */
} VmigCli;

typedef struct _VmigCliCommand VmigCliCommand;

/*
 * A command: @argv[0] is its name, the rest its arguments.
 * Returns: the exit status.
 */
typedef int (*VmigCliHandler)(VmigCli *cli, const VmigCliCommand *command, int argc,
                              char **argv);

struct _VmigCliCommand {
    const char *name;
    VmigCliHandler handler;
    const char *summary;     /* one line, for the command list */
    const char *usage;       /* what follows "virt-migrate NAME " */
    const char *description; /* more help, or NULL */
};

static int vmig_cli_tunables(VmigCli *cli, const VmigCliCommand *command, int argc,
                             char **argv);
static int vmig_cli_migrate(VmigCli *cli, const VmigCliCommand *command, int argc,
                            char **argv);
static int vmig_cli_incoming(VmigCli *cli, const VmigCliCommand *command, int argc,
                             char **argv);
static int vmig_cli_features(VmigCli *cli, const VmigCliCommand *command, int argc,
                             char **argv);
static int vmig_cli_list(VmigCli *cli, const VmigCliCommand *command, int argc,
                         char **argv);
static int vmig_cli_events(VmigCli *cli, const VmigCliCommand *command, int argc,
                           char **argv);
static int vmig_cli_version(VmigCli *cli, const VmigCliCommand *command, int argc,
                            char **argv);
static int vmig_cli_help(VmigCli *cli, const VmigCliCommand *command, int argc,
                         char **argv);

static const VmigCliCommand vmig_cli_commands[] = {
    {"tunables", vmig_cli_tunables, "list the tunables a hypervisor really has",
     "[-c URI] DOMAIN [--json|--xml] [--unstable]",
     "Asks virt-migrated which migration tunables the hypervisor of DOMAIN has, with\n"
     "their kind, type, current value and whether the driver negotiates them.\n"
     "DOMAIN is a QEMU monitor socket, written qmp:/path/to/monitor.sock, or with\n"
     "-c a running libvirt domain's name or UUID on the libvirt at URI (as in\n"
     "virsh; read through libvirt's monitor passthrough)."},
    {"migrate", vmig_cli_migrate, "migrate a domain to the virt-migrated of another host",
     "[-c URI] DOMAIN DEST [--peer DRIVER_URI] [--tunable NAME=VALUE]... [--channels N] "
     "[--no-feature F]... [--require-feature F]... [--unstable] [--verbose] [--timeout S] "
     "[--live] [--persistent] [--undefinesource]",
     "Asks virt-migrated to migrate DOMAIN (qmp:/path/to/monitor.sock) to the\n"
     "virt-migrated listening at DEST (unix:PATH or tcp:HOST:PORT), prepared there\n"
     "with prepare-incoming.  The two drivers negotiate the protocol and features;\n"
     "what they chose is printed, then the command waits for the migration to end.\n"
     "Ctrl-C or --timeout cancel the migration; the source guest keeps running.\n"
     "With -c, as virsh migrate: DOMAIN is a libvirt domain on the libvirt at URI,\n"
     "DEST the destination libvirt's URI, and --peer the destination driver's\n"
     "listening address (see incoming -c); libvirt migrates peer to peer, live,\n"
     "through the two drivers."},
    {"incoming", vmig_cli_incoming, "prepare this host's driver for an incoming migration",
     "[-c URI] DOMAIN LISTEN [--xml FILE] [--no-feature F]... [--require-feature F]... "
     "[--max-channels N] [--paused]",
     "Asks virt-migrated to take an incoming migration into DOMAIN (the monitor\n"
     "socket of a QEMU started with -incoming defer, written qmp:/path) and to\n"
     "listen at LISTEN (unix:PATH or tcp:HOST:PORT) for the source's driver.\n"
     "Prints the migration's id and returns; follow it with events or features.\n"
     "--paused leaves the guest paused once migrated (default: resume it).\n"
     "With -c, DOMAIN is the name of a libvirt domain coming to the libvirt at\n"
     "URI; its tunables are those of the emulator its XML names (--xml FILE, from\n"
     "virsh dumpxml --migratable on the source), else of this libvirt's default\n"
     "emulator."},
    {"features", vmig_cli_features, "show what a migration negotiated, and why",
     "MIGRATION [--xml|--json]",
     "Prints the negotiation record of MIGRATION (an id such as m1, see list):\n"
     "each side's offer, the features chosen and declined with the reasons,\n"
     "the channels asked for and received, the tunables each side set, and the\n"
     "handshake's cost."},
    {"list", vmig_cli_list, "list the migrations", "[--all]",
     "Lists the migrations that are running; with --all, the finished ones too."},
    {"events", vmig_cli_events, "follow the events of virt-migrated",
     "[--migration ID] [--count N]",
     "Prints each event as it comes, one a line: the time (UTC), the event's name\n"
     "and its data as JSON, until interrupted or N events were printed."},
    {"version", vmig_cli_version, "show the versions of virt-migrate and virt-migrated",
     "", NULL},
    {"help", vmig_cli_help, "show the help of a command", "[COMMAND]", NULL},
};

/* ------------------------------------------------------------------------ */
/* Messages */

/* Prints "virt-migrate: error: MESSAGE" on stderr.  Returns: VMIG_CLI_EXIT_FAILURE. */
static int G_GNUC_PRINTF(1, 2) vmig_cli_fail(const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list ap;

    va_start(ap, format);
    message = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_printerr("virt-migrate: error: %s\n", message);
    return VMIG_CLI_EXIT_FAILURE;
}

/* Returns: the usage line of @command, or of virt-migrate itself when NULL (to free). */
static char *
vmig_cli_usage_line(const VmigCliCommand *command)
{
    if (!command)
        return g_strdup(
            "usage: virt-migrate [--connect SOCKET] [--timeout SECONDS] COMMAND "
            "[ARGS]");
    if (!*command->usage)
        return g_strdup_printf("usage: virt-migrate %s", command->name);
    return g_strdup_printf("usage: virt-migrate %s %s", command->name, command->usage);
}

/*
 * A usage error: the message, then the usage line of @command (NULL: of
 * virt-migrate), on stderr.  Returns: VMIG_CLI_EXIT_USAGE.
 */
static int G_GNUC_PRINTF(2, 3)
    vmig_cli_usage_error(const VmigCliCommand *command, const char *format, ...)
{
    g_autofree char *message = NULL;
    g_autofree char *usage = vmig_cli_usage_line(command);
    va_list ap;

    va_start(ap, format);
    message = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_printerr("virt-migrate: error: %s\n%s\nTry 'virt-migrate %s%s--help'.\n", message,
               usage, command ? command->name : "", command ? " " : "");
    return VMIG_CLI_EXIT_USAGE;
}

/* Appends the help lines of @entries (and of --help) to @out.  Returns nothing. */
static void
vmig_cli_append_options(GString *out, const GOptionEntry *entries)
{
    const GOptionEntry *e;

    g_string_append(out, "\noptions:\n");
    for (e = entries; e && e->long_name; e++) {
        g_autofree char *flag = NULL;

        if (e->flags & G_OPTION_FLAG_HIDDEN)
            continue;
        if (e->short_name)
            flag = g_strdup_printf("-%c, --%s%s%s", e->short_name, e->long_name,
                                   e->arg_description ? " " : "",
                                   e->arg_description ? e->arg_description : "");
        else
            flag = g_strdup_printf("    --%s%s%s", e->long_name,
                                   e->arg_description ? " " : "",
                                   e->arg_description ? e->arg_description : "");
        g_string_append_printf(out, "  %-24s  %s\n", flag, e->description);
    }
    g_string_append_printf(out, "  %-24s  %s\n", "-h, --help", "show this help");
}

/* Returns: the help of virt-migrate itself, for `--help` and `help` (to free). */
static char *
vmig_cli_global_help(const GOptionEntry *entries)
{
    g_autofree char *usage = vmig_cli_usage_line(NULL);
    GString *out = g_string_new(NULL);
    gsize i;

    g_string_append_printf(out, "%s\n\n", usage);
    g_string_append(out,
                    "The command line of virt-migrated, the negotiated live migration "
                    "driver.\n\ncommands:\n");
    for (i = 0; i < G_N_ELEMENTS(vmig_cli_commands); i++)
        g_string_append_printf(out, "  %-10s  %s\n", vmig_cli_commands[i].name,
                               vmig_cli_commands[i].summary);
    vmig_cli_append_options(out, entries);
    g_string_append(
        out, "\nWithout --connect, the socket is $" VMIG_CLI_SOCKET_ENV ", else\n"
             "/run/virt-migrate/" VMIG_CLI_SOCKET_NAME " for root, and\n"
             "$XDG_RUNTIME_DIR/virt-migrate/" VMIG_CLI_SOCKET_NAME " for anyone else.\n"
             "'virt-migrate help COMMAND' shows the help of a command.\n");
    return g_string_free(out, FALSE);
}

/* Returns: the help of @command (to free). */
static char *
vmig_cli_command_help(const VmigCliCommand *command, const GOptionEntry *entries)
{
    g_autofree char *usage = vmig_cli_usage_line(command);
    GString *out = g_string_new(NULL);

    g_string_append_printf(out, "%s\n\n%c%s.\n", usage,
                           g_ascii_toupper(command->summary[0]), command->summary + 1);
    if (command->description)
        g_string_append_printf(out, "\n%s\n", command->description);
    vmig_cli_append_options(out, entries);
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Common steps of the commands */

/*
 * Parses the options of @command (@entries, plus -h/--help) out of
 * @argc/@argv, leaving the command's name and its positional arguments.
 * Returns: TRUE to go on, or FALSE with *@status set (help printed: 0;
 * usage error printed: 2).
 */
static gboolean
vmig_cli_parse(const VmigCliCommand *command, const GOptionEntry *entries, int *argc,
               char ***argv, int *status)
{
    g_autoptr(GOptionContext) context = g_option_context_new(NULL);
    g_autoptr(GError) error = NULL;
    gboolean help = FALSE;
    const GOptionEntry help_entries[] = {
        {"help", 'h', 0, G_OPTION_ARG_NONE, &help, "show this help", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };

    g_option_context_set_help_enabled(context, FALSE);
    if (entries)
        g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_add_main_entries(context, help_entries, NULL);
    if (!g_option_context_parse(context, argc, argv, &error)) {
        *status = vmig_cli_usage_error(command, "%s", error->message);
        return FALSE;
    }
    if (help) {
        g_autofree char *text = vmig_cli_command_help(command, entries);

        g_print("%s", text);
        *status = VMIG_CLI_EXIT_OK;
        return FALSE;
    }
    return TRUE;
}

/*
 * The control socket: --connect, else $VIRT_MIGRATE_SOCKET, else the
 * daemon's default runtime directory (driver/daemon.c: keep in step).
 * Returns: the path (to free), or NULL with @error set.
 */
static char *
vmig_cli_socket_path(VmigCli *cli, GError **error)
{
    const char *env = g_getenv(VMIG_CLI_SOCKET_ENV);
    const char *xdg;

    if (cli->connect)
        return g_strdup(cli->connect);
    if (env && *env)
        return g_strdup(env);
    if (geteuid() == 0)
        return g_build_filename(VMIG_CLI_SYSTEM_RUNTIME_DIR, VMIG_CLI_SOCKET_NAME, NULL);
    xdg = g_getenv("XDG_RUNTIME_DIR");
    if (!xdg || !*xdg) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                            "XDG_RUNTIME_DIR is not set: give the daemon's socket with "
                            "--connect SOCKET or $" VMIG_CLI_SOCKET_ENV);
        return NULL;
    }
    return g_build_filename(xdg, "virt-migrate", VMIG_CLI_SOCKET_NAME, NULL);
}

/*
 * Connects to the daemon.
 * Returns: the client, or NULL with @error set.
 */
static VmigClient *
vmig_cli_connect(VmigCli *cli, GError **error)
{
    g_autofree char *path = vmig_cli_socket_path(cli, error);

    if (!path)
        return NULL;
    return vmig_client_connect(path, cli->timeout_ms, error);
}

/*
 * Connects to the daemon and runs one command.
 * Returns: its return value (a new node), or NULL with @error set.
 */
static JsonNode *
vmig_cli_execute(VmigCli *cli, const char *command, JsonObject *arguments, GError **error)
{
    g_autoptr(VmigClient) client = vmig_cli_connect(cli, error);

    if (!client)
        return NULL;
    return vmig_client_execute(client, command, arguments, NULL, 0, error);
}

/* Writes @text to stdout.  Returns: the exit status (writing may fail). */
static int
vmig_cli_output(const char *text)
{
    if (fputs(text, stdout) == EOF || fflush(stdout) != 0)
        return vmig_cli_fail("cannot write the output: %s", g_strerror(errno));
    return VMIG_CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* The commands */

/*
 * DOMAIN as the daemon takes it: with -c URI a libvirt domain,
 * "libvirt:URI#NAME" (driver/libvirt.h), else as the user wrote it.
 * Returns: the domain (to free).
 */
static char *
vmig_cli_domain(const char *libvirt_uri, const char *name)
{
    if (libvirt_uri)
        return g_strconcat("libvirt:", libvirt_uri, "#", name, NULL);
    return g_strdup(name);
}

/* tunables DOMAIN [--json|--xml] [--unstable].  Returns: the exit status. */
static int
vmig_cli_tunables(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    gboolean json = FALSE;
    gboolean xml = FALSE;
    gboolean unstable = FALSE;
    g_autofree char *libvirt_uri = NULL;
    g_autofree char *domain = NULL;
    const GOptionEntry entries[] = {
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &libvirt_uri,
         "DOMAIN is a libvirt domain on the libvirt at URI", "URI"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print the catalog as JSON", NULL},
        {"xml", 0, 0, G_OPTION_ARG_NONE, &xml, "print the catalog as XML", NULL},
        {"unstable", 0, 0, G_OPTION_ARG_NONE, &unstable,
         "include the unstable (x-) tunables", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(JsonNode) catalog = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse(command, entries, &argc, &argv, &status))
        return status;
    if (argc < 2)
        return vmig_cli_usage_error(command, "missing DOMAIN");
    if (argc > 2)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[2]);
    if (json && xml)
        return vmig_cli_usage_error(command, "--json and --xml cannot be used together");

    domain = vmig_cli_domain(libvirt_uri, argv[1]);
    json_object_set_string_member(arguments, "domain", domain);
    json_object_set_boolean_member(arguments, "unstable", unstable);
    catalog = vmig_cli_execute(cli, "query-tunables", arguments, &error);
    if (!catalog)
        return vmig_cli_fail("%s", error->message);
    if (!JSON_NODE_HOLDS_OBJECT(catalog))
        return vmig_cli_fail(
            "virt-migrated answered query-tunables with something that is "
            "not a catalog");

    if (json)
        text = vmig_render_json(catalog);
    else if (xml)
        text = vmig_render_catalog_xml(json_node_get_object(catalog), &error);
    else
        text = vmig_render_catalog_table(json_node_get_object(catalog), &error);
    if (!text)
        return vmig_cli_fail("%s", error->message);
    return vmig_cli_output(text);
}

/* Returns: {"migration": @id}, the arguments of cancel and query-migration. */
static JsonNode *
vmig_cli_migration_arguments(const char *id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migration");
    json_builder_add_string_value(b, id);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/*
 * Blocks SIGINT and opens a signalfd for it, so that Ctrl-C becomes
 * something to poll() for (the client's interrupt fd).
 * Returns: the fd, or -1 with errno set.
 */
static int
vmig_cli_sigint_open(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Reads the pending SIGINTs off @fd, so that it polls quiet again.  Returns nothing. */
static void
vmig_cli_sigint_clear(int fd)
{
    struct signalfd_siginfo info;

    while (read(fd, &info, sizeof(info)) == sizeof(info))
        ;
}

/* Returns: the "data" of @event (borrowed), or NULL when it has none. */
static JsonObject *
vmig_cli_event_data(JsonObject *event)
{
    JsonNode *data = json_object_get_member(event, "data");

    return data && JSON_NODE_HOLDS_OBJECT(data) ? json_node_get_object(data) : NULL;
}

/* Returns: string member @name of @object (borrowed), or NULL. */
static const char *
vmig_cli_get_string(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

/* Returns: TRUE when @event concerns the migration @id. */
static gboolean
vmig_cli_event_is_for(JsonObject *event, const char *id)
{
    return g_strcmp0(vmig_cli_get_string(vmig_cli_event_data(event), "migration"), id) ==
           0;
}

/* One `migrate` in progress. */
typedef struct {
    VmigClient *client;
    GQueue events; /* JsonObject *: read while a reply was awaited */
    char *id;      /* the migration's, once the daemon named it */
    VmigFd sigint; /* the SIGINT signalfd, or -1 */
    gboolean verbose;
    int drawn; /* the progress on screen, or -1 */
} VmigCliMigration;

/* Frees what @m holds.  Returns nothing. */
static void
vmig_cli_migration_clear(VmigCliMigration *m)
{
    g_queue_clear_full(&m->events, (GDestroyNotify)json_object_unref);
    g_clear_pointer(&m->client, vmig_client_free);
    g_clear_pointer(&m->id, g_free);
    vmig_fd_clear(&m->sigint);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigCliMigration, vmig_cli_migration_clear)

/* The client's event callback: keeps the event for later.  Returns nothing. */
static void
vmig_cli_migration_queue(JsonObject *event, gpointer user_data)
{
    VmigCliMigration *m = user_data;

    g_queue_push_tail(&m->events, json_object_ref(event));
}

/*
 * Returns: the next event, those kept while a reply was awaited first (a
 * new reference), or NULL with @error set (TIMEOUT after @deadline,
 * INTERRUPTED on Ctrl-C).
 */
static JsonObject *
vmig_cli_migration_next(VmigCliMigration *m, gint64 deadline, GError **error)
{
    if (!g_queue_is_empty(&m->events))
        return g_queue_pop_head(&m->events);
    return vmig_client_read_event(m->client, deadline, error);
}

/* Draws the progress line with @percent, on stderr as virsh does.  Returns nothing. */
static void
vmig_cli_migration_draw(VmigCliMigration *m, int percent)
{
    g_autofree char *line = NULL;

    if (percent == m->drawn)
        return;
    line = vmig_render_progress(percent);
    fputs(line, stderr);
    fflush(stderr);
    m->drawn = percent;
}

/* Ends the progress line, if one is drawn.  Returns nothing. */
static void
vmig_cli_migration_end_line(VmigCliMigration *m)
{
    if (m->drawn < 0)
        return;
    fputs("\n", stderr);
    m->drawn = -1;
}

/*
 * The migration ended (MIGRATION_DONE with @data): says how.
 * @why: NULL, or why we cancelled it ("interrupted", "timed out after 5 s")
 * Returns: the exit status.
 */
static int
vmig_cli_migration_done(VmigCliMigration *m, JsonObject *data, const char *why)
{
    const char *result = vmig_cli_get_string(data, "result");
    const char *reason = vmig_cli_get_string(data, "error");
    g_autofree char *because = reason ? g_strdup_printf(": %s", reason) : g_strdup("");
    g_autofree char *text = NULL;

    if (g_strcmp0(result, "completed") == 0) {
        if (m->verbose) {
            vmig_cli_migration_draw(m, 100);
            vmig_cli_migration_end_line(m);
        }
        text = g_strdup_printf("Migration %s completed\n", m->id);
        return vmig_cli_output(text);
    }
    vmig_cli_migration_end_line(m);
    /* The daemon's reason for our own cancel is news only when it says more. */
    if (why && g_strcmp0(result, "cancelled") == 0 &&
        (!reason || g_str_equal(reason, "cancelled by the management app")))
        return vmig_cli_fail("%s; migration cancelled", why);
    if (why)
        return vmig_cli_fail("%s; migration %s %s%s", why, m->id,
                             result ? result : "ended", because);
    if (g_strcmp0(result, "failed") == 0)
        return vmig_cli_fail("migration %s failed%s", m->id, because);
    if (g_strcmp0(result, "cancelled") == 0)
        return vmig_cli_fail("migration %s was cancelled%s", m->id, because);
    return vmig_cli_fail("migration %s ended with result '%s'%s", m->id,
                         result ? result : "(none)", because);
}

/*
 * Cancels the migration (Ctrl-C, --timeout: @why) and waits, a bounded
 * time, for it to say it stopped.  A second Ctrl-C stops waiting.
 * Returns: the exit status.
 */
static int
vmig_cli_migration_cancel(VmigCliMigration *m, const char *why)
{
    gint64 deadline = g_get_monotonic_time() + VMIG_CLI_CANCEL_WAIT_S * G_USEC_PER_SEC;
    g_autoptr(JsonNode) arguments = vmig_cli_migration_arguments(m->id);
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;
    gint64 id;

    g_debug("%s: cancelling migration %s", why, m->id);
    id = vmig_client_send_command(m->client, "cancel", json_node_get_object(arguments),
                                  NULL, 0, &error);
    if (id == 0) {
        vmig_cli_migration_end_line(m);
        return vmig_cli_fail("%s; cannot cancel migration %s: %s", why, m->id,
                             error->message);
    }
    reply = vmig_client_wait_reply(m->client, id, deadline, &error);
    if (!reply && (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_COMMAND) ||
                   g_error_matches(error, VMIG_CLIENT_ERROR,
                                   VMIG_CLIENT_ERROR_COMMAND_NOT_FOUND))) {
        /* Refused, say because it just ended: its MIGRATION_DONE tells. */
        g_debug("cancel refused: %s", error->message);
        g_clear_error(&error);
    }

    while (!error) {
        g_autoptr(JsonObject) event = vmig_cli_migration_next(m, deadline, &error);

        if (!event)
            break;
        if (!vmig_cli_event_is_for(event, m->id) ||
            g_strcmp0(vmig_cli_get_string(event, "event"), "MIGRATION_DONE") != 0)
            continue;
        return vmig_cli_migration_done(m, vmig_cli_event_data(event), why);
    }

    vmig_cli_migration_end_line(m);
    if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_INTERRUPTED))
        return vmig_cli_fail(
            "%s; interrupted again: not waiting for migration %s to stop", why, m->id);
    if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT))
        return vmig_cli_fail("%s; migration %s did not stop within %d s", why, m->id,
                             VMIG_CLI_CANCEL_WAIT_S);
    return vmig_cli_fail("%s; cannot cancel migration %s: %s", why, m->id,
                         error->message);
}

/*
 * Handles one event of the migration.
 * Returns: the exit status once the migration ended, or -1 to go on.
 */
static int
vmig_cli_migration_event(VmigCliMigration *m, JsonObject *event)
{
    const char *name = vmig_cli_get_string(event, "event");
    JsonObject *data = vmig_cli_event_data(event);
    g_autoptr(GError) error = NULL;

    if (!vmig_cli_event_is_for(event, m->id))
        return -1;
    if (g_strcmp0(name, "NEGOTIATED") == 0) {
        g_autofree char *text = vmig_render_negotiated(data, &error);
        int status;

        if (!text) {
            vmig_cli_migration_end_line(m);
            g_printerr("virt-migrate: warning: %s\n", error->message);
            return -1;
        }
        status = vmig_cli_output(text);
        return status == VMIG_CLI_EXIT_OK ? -1 : status;
    }
    if (g_strcmp0(name, "MIGRATION_PROGRESS") == 0 && m->verbose) {
        int percent = vmig_render_progress_percent(data);

        /* 100 % is drawn when the migration completed, not before. */
        if (percent >= 0)
            vmig_cli_migration_draw(m, MIN(percent, 99));
        return -1;
    }
    if (g_strcmp0(name, "MIGRATION_DONE") == 0)
        return vmig_cli_migration_done(m, data, NULL);
    return -1;
}

/*
 * Sends migrate with @arguments, then follows the migration's events
 * until it ends, --timeout (@timeout seconds, NAN: none) passed or Ctrl-C.
 * Returns: the exit status.
 */
static int
vmig_cli_migration_run(VmigCli *cli, VmigCliMigration *m, JsonObject *arguments,
                       double timeout)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;
    gint64 deadline = -1;
    gint64 reply_deadline = -1;
    gboolean interrupted = FALSE;
    const char *id;
    gint64 command;

    if (!isnan(timeout))
        deadline = g_get_monotonic_time() + (gint64)(timeout * G_USEC_PER_SEC);
    if (cli->timeout_ms >= 0)
        reply_deadline = g_get_monotonic_time() + (gint64)cli->timeout_ms * 1000;

    command = vmig_client_send_command(m->client, "migrate", arguments, NULL, 0, &error);
    if (command == 0)
        return vmig_cli_fail("%s", error->message);
    for (;;) {
        gint64 grace;

        reply = vmig_client_wait_reply(m->client, command, reply_deadline, &error);
        if (reply)
            break;
        if (!g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_INTERRUPTED) ||
            interrupted) {
            if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT))
                return vmig_cli_fail("virt-migrated did not answer 'migrate' in time%s",
                                     interrupted ? "; a migration may have started" : "");
            return vmig_cli_fail("%s", error->message);
        }
        /*
         * Ctrl-C before the daemon named the migration: it may be starting
         * one all the same.  Wait (a while) for its name, to cancel it.
         */
        interrupted = TRUE;
        vmig_cli_sigint_clear(m->sigint);
        g_clear_error(&error);
        grace = g_get_monotonic_time() + VMIG_CLI_CANCEL_WAIT_S * G_USEC_PER_SEC;
        reply_deadline = reply_deadline < 0 ? grace : MIN(reply_deadline, grace);
    }

    id = JSON_NODE_HOLDS_OBJECT(reply)
             ? vmig_cli_get_string(json_node_get_object(reply), "migration")
             : NULL;
    if (!id)
        return vmig_cli_fail(
            "virt-migrated answered migrate without naming the migration");
    m->id = g_strdup(id);
    g_debug("migration %s started", m->id);
    if (interrupted)
        return vmig_cli_migration_cancel(m, "interrupted");

    for (;;) {
        g_autoptr(JsonObject) event = vmig_cli_migration_next(m, deadline, &error);
        int status;

        if (!event) {
            if (g_error_matches(error, VMIG_CLIENT_ERROR,
                                VMIG_CLIENT_ERROR_INTERRUPTED)) {
                vmig_cli_sigint_clear(m->sigint);
                return vmig_cli_migration_cancel(m, "interrupted");
            }
            if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT)) {
                g_autofree char *why = g_strdup_printf("timed out after %g s", timeout);

                return vmig_cli_migration_cancel(m, why);
            }
            vmig_cli_migration_end_line(m);
            return vmig_cli_fail("%s", error->message);
        }
        status = vmig_cli_migration_event(m, event);
        if (status >= 0)
            return status;
    }
}

/*
 * migrate DOMAIN DEST [--tunable NAME=VALUE]... [--channels N]
 * [--no-feature F]... [--require-feature F]... [--unstable] [--verbose]
 * [--timeout S].  Returns: the exit status.
 */
static int
vmig_cli_migrate(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    g_auto(GStrv) tunables = NULL;
    g_auto(GStrv) no_features = NULL;
    g_auto(GStrv) require_features = NULL;
    int channels = G_MININT;
    gboolean unstable = FALSE;
    gboolean verbose = FALSE;
    double timeout = NAN;
    g_autofree char *libvirt_uri = NULL;
    g_autofree char *peer = NULL;
    g_autofree char *domain = NULL;
    gboolean live = FALSE;
    gboolean persistent = FALSE;
    gboolean undefine_source = FALSE;
    const GOptionEntry entries[] = {
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &libvirt_uri,
         "DOMAIN is a libvirt domain on the libvirt at URI; DEST a libvirt URI", "URI"},
        {"peer", 0, 0, G_OPTION_ARG_STRING, &peer,
         "with -c: the destination driver's address (unix:PATH or tcp:HOST:PORT)",
         "DRIVER_URI"},
        {"live", 0, 0, G_OPTION_ARG_NONE, &live, "with -c: live migration (always)", NULL},
        {"persistent", 0, 0, G_OPTION_ARG_NONE, &persistent,
         "with -c: define the domain on the destination", NULL},
        {"undefinesource", 0, 0, G_OPTION_ARG_NONE, &undefine_source,
         "with -c: undefine the domain on the source", NULL},
        {"tunable", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tunables,
         "set a tunable of the source (repeatable)", "NAME=VALUE"},
        {"channels", 0, 0, G_OPTION_ARG_INT, &channels,
         "ask for N extra (multifd) channels", "N"},
        {"no-feature", 0, 0, G_OPTION_ARG_STRING_ARRAY, &no_features,
         "refuse feature F (repeatable)", "F"},
        {"require-feature", 0, 0, G_OPTION_ARG_STRING_ARRAY, &require_features,
         "fail unless feature F is negotiated (repeatable)", "F"},
        {"unstable", 0, 0, G_OPTION_ARG_NONE, &unstable, "allow unstable (x-) tunables",
         NULL},
        {"verbose", 0, 0, G_OPTION_ARG_NONE, &verbose, "show the progress", NULL},
        {"timeout", 0, 0, G_OPTION_ARG_DOUBLE, &timeout,
         "cancel the migration if it is not done after S seconds", "S"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_auto(VmigCliMigration) m = {.sigint = -1, .drawn = -1};
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) arguments = NULL;
    g_autoptr(GError) error = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse(command, entries, &argc, &argv, &status))
        return status;
    if (argc < 2)
        return vmig_cli_usage_error(command, "missing DOMAIN");
    if (argc < 3)
        return vmig_cli_usage_error(command, "missing DEST");
    if (argc > 3)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[3]);
    if (libvirt_uri && !peer)
        return vmig_cli_usage_error(command,
                                    "with -c, --peer names the destination driver");
    if (!libvirt_uri && (peer || persistent || undefine_source))
        return vmig_cli_usage_error(command,
                                    "--peer, --persistent and --undefinesource go with -c");
    if (!libvirt_uri && !g_str_has_prefix(argv[2], "unix:") &&
        !g_str_has_prefix(argv[2], "tcp:"))
        return vmig_cli_usage_error(
            command, "DEST is unix:PATH or tcp:HOST:PORT, not '%s'", argv[2]);
    if (peer && !g_str_has_prefix(peer, "unix:") && !g_str_has_prefix(peer, "tcp:"))
        return vmig_cli_usage_error(
            command, "--peer is unix:PATH or tcp:HOST:PORT, not '%s'", peer);
    for (char **t = tunables; t && *t; t++) {
        const char *eq = strchr(*t, '=');

        if (!eq || eq == *t)
            return vmig_cli_usage_error(command, "--tunable wants NAME=VALUE, not '%s'",
                                        *t);
    }
    if (channels != G_MININT && channels < 0)
        return vmig_cli_usage_error(command, "--channels wants 0 or more, not %d",
                                    channels);
    if (!isnan(timeout) && !(timeout > 0 && timeout <= G_MAXINT))
        return vmig_cli_usage_error(command,
                                    "--timeout wants a positive number of seconds");
    for (char **f = no_features; f && *f; f++) {
        if (require_features &&
            g_strv_contains((const char *const *)require_features, *f))
            return vmig_cli_usage_error(
                command, "feature '%s' cannot be both refused and required", *f);
    }

    domain = vmig_cli_domain(libvirt_uri, argv[1]);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "domain");
    json_builder_add_string_value(b, domain);
    json_builder_set_member_name(b, "dest");
    json_builder_add_string_value(b, libvirt_uri ? peer : argv[2]);
    if (libvirt_uri) {
        json_builder_set_member_name(b, "libvirt-dest");
        json_builder_add_string_value(b, argv[2]);
        json_builder_set_member_name(b, "persistent");
        json_builder_add_boolean_value(b, persistent);
        json_builder_set_member_name(b, "undefine-source");
        json_builder_add_boolean_value(b, undefine_source);
    }
    if (channels != G_MININT) {
        json_builder_set_member_name(b, "channels");
        json_builder_add_int_value(b, channels);
    }
    if (tunables) {
        json_builder_set_member_name(b, "tunables");
        json_builder_begin_array(b);
        for (char **t = tunables; *t; t++)
            json_builder_add_string_value(b, *t);
        json_builder_end_array(b);
    }
    if (unstable) {
        json_builder_set_member_name(b, "unstable");
        json_builder_add_boolean_value(b, TRUE);
    }
    if (no_features) {
        json_builder_set_member_name(b, "no-features");
        json_builder_begin_array(b);
        for (char **f = no_features; *f; f++)
            json_builder_add_string_value(b, *f);
        json_builder_end_array(b);
    }
    if (require_features) {
        json_builder_set_member_name(b, "require-features");
        json_builder_begin_array(b);
        for (char **f = require_features; *f; f++)
            json_builder_add_string_value(b, *f);
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    arguments = json_builder_get_root(b);

    m.verbose = verbose;
    m.client = vmig_cli_connect(cli, &error);
    if (!m.client)
        return vmig_cli_fail("%s", error->message);
    m.sigint = vmig_cli_sigint_open();
    if (m.sigint < 0)
        return vmig_cli_fail("cannot catch Ctrl-C: %s", g_strerror(errno));
    vmig_client_set_interrupt_fd(m.client, m.sigint);
    vmig_client_set_event_func(m.client, vmig_cli_migration_queue, &m);
    return vmig_cli_migration_run(cli, &m, json_node_get_object(arguments), timeout);
}

/* Returns: a JSON array of the strings in @strv (NULL: empty), a new node. */
static JsonNode *
vmig_cli_strv_node(char **strv)
{
    JsonArray *array = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; strv && strv[i]; i++)
        json_array_add_string_element(array, strv[i]);
    json_node_take_array(node, array);
    return node;
}

/* incoming DOMAIN LISTEN [...].  Returns: the exit status. */
static int
vmig_cli_incoming(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    g_auto(GStrv) no_features = NULL;
    g_auto(GStrv) require_features = NULL;
    gint max_channels = -1;
    gboolean paused = FALSE;
    g_autofree char *libvirt_uri = NULL;
    g_autofree char *xml_file = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *domain = NULL;
    const GOptionEntry entries[] = {
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &libvirt_uri,
         "DOMAIN is a libvirt domain coming to the libvirt at URI", "URI"},
        {"xml", 0, 0, G_OPTION_ARG_FILENAME, &xml_file,
         "with -c: the domain's XML (it names the emulator)", "FILE"},
        {"no-feature", 0, 0, G_OPTION_ARG_STRING_ARRAY, &no_features,
         "refuse feature F (repeatable)", "F"},
        {"require-feature", 0, 0, G_OPTION_ARG_STRING_ARRAY, &require_features,
         "insist on feature F (repeatable)", "F"},
        {"max-channels", 0, 0, G_OPTION_ARG_INT, &max_channels,
         "take at most N extra channels (default 16)", "N"},
        {"paused", 0, 0, G_OPTION_ARG_NONE, &paused,
         "leave the guest paused once migrated", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse(command, entries, &argc, &argv, &status))
        return status;
    if (argc < 3)
        return vmig_cli_usage_error(command, argc < 2 ? "missing DOMAIN" : "missing LISTEN");
    if (argc > 3)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[3]);
    if (!g_str_has_prefix(argv[2], "unix:") && !g_str_has_prefix(argv[2], "tcp:"))
        return vmig_cli_usage_error(command, "LISTEN must be unix:PATH or tcp:HOST:PORT, not '%s'",
                                    argv[2]);
    if (max_channels != -1 && (max_channels < 0 || max_channels > 255))
        return vmig_cli_usage_error(command, "--max-channels must be 0 to 255");
    if (xml_file && !libvirt_uri)
        return vmig_cli_usage_error(command, "--xml goes with -c");
    if (xml_file && !g_file_get_contents(xml_file, &xml, NULL, &error))
        return vmig_cli_fail("%s", error->message);

    domain = vmig_cli_domain(libvirt_uri, argv[1]);
    json_object_set_string_member(arguments, "domain", domain);
    if (xml)
        json_object_set_string_member(arguments, "domain-xml", xml);
    json_object_set_string_member(arguments, "listen", argv[2]);
    json_object_set_boolean_member(arguments, "resume", !paused);
    if (max_channels >= 0)
        json_object_set_int_member(arguments, "max-channels", max_channels);
    if (no_features)
        json_object_set_member(arguments, "no-features", vmig_cli_strv_node(no_features));
    if (require_features)
        json_object_set_member(arguments, "require-features",
                               vmig_cli_strv_node(require_features));
    reply = vmig_cli_execute(cli, "prepare-incoming", arguments, &error);
    if (!reply)
        return vmig_cli_fail("%s", error->message);
    g_print("Migration %s waits for its source at %s\n",
            json_object_get_string_member(json_node_get_object(reply), "migration"), argv[2]);
    return VMIG_CLI_EXIT_OK;
}

/* features MIGRATION [--xml|--json].  Returns: the exit status. */
static int
vmig_cli_features(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    gboolean json = FALSE;
    gboolean xml = FALSE;
    const GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print the record as JSON", NULL},
        {"xml", 0, 0, G_OPTION_ARG_NONE, &xml, "print the record as XML", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonNode) arguments = NULL;
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse(command, entries, &argc, &argv, &status))
        return status;
    if (argc < 2)
        return vmig_cli_usage_error(command, "missing MIGRATION");
    if (argc > 2)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[2]);
    if (json && xml)
        return vmig_cli_usage_error(command, "--json and --xml cannot be used together");

    arguments = vmig_cli_migration_arguments(argv[1]);
    record =
        vmig_cli_execute(cli, "query-migration", json_node_get_object(arguments), &error);
    if (!record)
        return vmig_cli_fail("%s", error->message);
    if (!JSON_NODE_HOLDS_OBJECT(record))
        return vmig_cli_fail("virt-migrated answered query-migration with something that "
                             "is not a negotiation record");

    if (json)
        text = vmig_render_json(record);
    else if (xml)
        text = vmig_render_record_xml(json_node_get_object(record), &error);
    else
        text = vmig_render_record_summary(json_node_get_object(record), &error);
    if (!text)
        return vmig_cli_fail("%s", error->message);
    return vmig_cli_output(text);
}

/* list [--all].  Returns: the exit status. */
static int
vmig_cli_list(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    gboolean all = FALSE;
    const GOptionEntry entries[] = {
        {"all", 0, 0, G_OPTION_ARG_NONE, &all,
         "include the migrations that completed, failed or were cancelled", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonNode) migrations = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse(command, entries, &argc, &argv, &status))
        return status;
    if (argc > 1)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[1]);

    migrations = vmig_cli_execute(cli, "query-migrations", NULL, &error);
    if (!migrations)
        return vmig_cli_fail("%s", error->message);
    if (!JSON_NODE_HOLDS_ARRAY(migrations))
        return vmig_cli_fail("virt-migrated answered query-migrations with something "
                             "that is not a list");
    text = vmig_render_migrations_table(json_node_get_array(migrations), all, &error);
    if (!text)
        return vmig_cli_fail("%s", error->message);
    return vmig_cli_output(text);
}

/* events [--migration ID] [--count N].  Returns: the exit status. */
static int
vmig_cli_events(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    g_autofree char *migration = NULL;
    int count = G_MININT;
    const GOptionEntry entries[] = {
        {"migration", 0, 0, G_OPTION_ARG_STRING, &migration,
         "only the events of migration ID", "ID"},
        {"count", 0, 0, G_OPTION_ARG_INT, &count, "stop after N events", "N"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(VmigClient) client = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(VmigFd) sigint = -1;
    int status = VMIG_CLI_EXIT_OK;
    int printed = 0;

    if (!vmig_cli_parse(command, entries, &argc, &argv, &status))
        return status;
    if (argc > 1)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[1]);
    if (count != G_MININT && count <= 0)
        return vmig_cli_usage_error(command, "--count wants a positive number, not %d",
                                    count);

    client = vmig_cli_connect(cli, &error);
    if (!client)
        return vmig_cli_fail("%s", error->message);
    /* Ctrl-C is how this command normally ends: exit 0, quietly. */
    sigint = vmig_cli_sigint_open();
    if (sigint < 0)
        return vmig_cli_fail("cannot catch Ctrl-C: %s", g_strerror(errno));
    vmig_client_set_interrupt_fd(client, sigint);

    while (count == G_MININT || printed < count) {
        g_autoptr(JsonObject) event = vmig_client_read_event(client, -1, &error);
        g_autofree char *line = NULL;

        if (!event) {
            if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_INTERRUPTED))
                return VMIG_CLI_EXIT_OK;
            return vmig_cli_fail("%s", error->message);
        }
        if (migration && !vmig_cli_event_is_for(event, migration))
            continue;
        line = vmig_render_event_line(event, &error);
        if (!line)
            return vmig_cli_fail("%s", error->message);
        status = vmig_cli_output(line);
        if (status != VMIG_CLI_EXIT_OK)
            return status;
        printed++;
    }
    return VMIG_CLI_EXIT_OK;
}

/* version.  Returns: the exit status. */
static int
vmig_cli_version(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    int status = VMIG_CLI_EXIT_OK;
    JsonNode *version;

    if (!vmig_cli_parse(command, NULL, &argc, &argv, &status))
        return status;
    if (argc > 1)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[1]);

    reply = vmig_cli_execute(cli, "query-version", NULL, &error);
    if (!reply)
        return vmig_cli_fail("%s", error->message);
    version = JSON_NODE_HOLDS_OBJECT(reply)
                  ? json_object_get_member(json_node_get_object(reply), "version")
                  : NULL;
    if (!version || !JSON_NODE_HOLDS_VALUE(version) ||
        json_node_get_value_type(version) != G_TYPE_STRING)
        return vmig_cli_fail("virt-migrated answered query-version without a version");

    text = g_strdup_printf("virt-migrate %s\nvirt-migrated %s\n", PACKAGE_VERSION,
                           json_node_get_string(version));
    return vmig_cli_output(text);
}

/* Returns: the command called @name, or NULL. */
static const VmigCliCommand *
vmig_cli_lookup(const char *name)
{
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(vmig_cli_commands); i++) {
        if (g_str_equal(vmig_cli_commands[i].name, name))
            return &vmig_cli_commands[i];
    }
    return NULL;
}

/* The global options; help needs them too. */
static VmigCli vmig_cli;
static gboolean vmig_cli_show_help;
static gboolean vmig_cli_show_version;
static double vmig_cli_timeout = -1;
static const GOptionEntry vmig_cli_entries[] = {
    {"connect", 0, 0, G_OPTION_ARG_FILENAME, &vmig_cli.connect,
     "the daemon's control socket", "SOCKET"},
    {"timeout", 0, 0, G_OPTION_ARG_DOUBLE, &vmig_cli_timeout,
     "give up when the daemon does not answer in time", "SECONDS"},
    {"version", 'V', 0, G_OPTION_ARG_NONE, &vmig_cli_show_version,
     "print the version of virt-migrate and exit", NULL},
    {"help", 'h', G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &vmig_cli_show_help, "", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* help [COMMAND].  Returns: the exit status. */
static int
vmig_cli_help(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    const VmigCliCommand *topic;
    int status = VMIG_CLI_EXIT_OK;
    char *help_argv[] = {NULL, (char *)"--help", NULL};

    if (!vmig_cli_parse(command, NULL, &argc, &argv, &status))
        return status;
    if (argc > 2)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[2]);
    if (argc < 2) {
        g_autofree char *text = vmig_cli_global_help(vmig_cli_entries);

        return vmig_cli_output(text);
    }
    topic = vmig_cli_lookup(argv[1]);
    if (!topic)
        return vmig_cli_usage_error(command, "unknown command '%s'", argv[1]);
    /* A command's help is what its own --help prints. */
    help_argv[0] = (char *)topic->name;
    return topic->handler(cli, topic, 2, help_argv);
}

/* Parses the global options and runs one command.  Returns: the exit status. */
int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    const VmigCliCommand *command;
    int status;

    setlocale(LC_ALL, "");
    g_set_prgname("virt-migrate");
    vmig_cli.timeout_ms = -1;

    context = g_option_context_new(NULL);
    g_option_context_set_help_enabled(context, FALSE);
    /* Options after the command are the command's. */
    g_option_context_set_strict_posix(context, TRUE);
    g_option_context_add_main_entries(context, vmig_cli_entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error))
        return vmig_cli_usage_error(NULL, "%s", error->message);

    if (vmig_cli_show_help) {
        g_autofree char *text = vmig_cli_global_help(vmig_cli_entries);

        return vmig_cli_output(text);
    }
    if (vmig_cli_show_version) {
        g_print("virt-migrate %s\n", PACKAGE_VERSION);
        return VMIG_CLI_EXIT_OK;
    }
    if (vmig_cli_timeout != -1) {
        if (!(vmig_cli_timeout > 0 && vmig_cli_timeout <= G_MAXINT / 1000))
            return vmig_cli_usage_error(NULL,
                                        "--timeout wants a positive number of seconds");
        vmig_cli.timeout_ms = (int)(vmig_cli_timeout * 1000 + 0.5);
        if (vmig_cli.timeout_ms == 0)
            vmig_cli.timeout_ms = 1;
    }
    if (argc < 2)
        return vmig_cli_usage_error(NULL, "no command given");

    command = vmig_cli_lookup(argv[1]);
    if (!command)
        return vmig_cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    status = command->handler(&vmig_cli, command, argc - 1, argv + 1);
    g_free(vmig_cli.connect);
    return status;
}
