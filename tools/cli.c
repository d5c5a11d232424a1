/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.c: what virt-migrate's commands share (the contract is cli.h)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-cli"

#include "tools/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "driver/domain-name.h"
#include "driver/features.h"
#include "fdpass/fd.h"
#include "json/writer.h"
#include "tools/render.h"

/* ------------------------------------------------------------------------ */
/* Messages */

/* The command's domain, as the daemon names it and as the user wrote it. */
static char *vmig_cli_wire_domain;
static char *vmig_cli_user_domain;

/*
 * The command's domain: @wire_domain as the daemon names it, @domain as
 * the user wrote it; vmig_cli_fail shows the second for the first.
 */
void
vmig_cli_set_domain(const char *wire_domain, const char *domain)
{
    g_free(vmig_cli_wire_domain);
    g_free(vmig_cli_user_domain);
    vmig_cli_wire_domain = g_strdup(wire_domain);
    vmig_cli_user_domain = g_strdup(domain);
}

/*
 * Prints "virt-migrate: error: MESSAGE" on stderr, MESSAGE in the user's
 * words (vmig_render_user_words, with the domain of vmig_cli_set_domain).
 * Returns: VMIG_CLI_EXIT_FAILURE.
 */
int G_GNUC_PRINTF(1, 2) vmig_cli_fail(const char *format, ...)
{
    g_autofree char *message = NULL;
    g_autofree char *words = NULL;
    va_list ap;

    va_start(ap, format);
    message = g_strdup_vprintf(format, ap);
    va_end(ap);
    words = vmig_render_user_words(message, vmig_cli_wire_domain, vmig_cli_user_domain);
    g_printerr("virt-migrate: error: %s\n", words);
    return VMIG_CLI_EXIT_FAILURE;
}

/* Returns: the usage line of @command, or of virt-migrate itself when NULL (to free). */
char *
vmig_cli_usage_line(const VmigCliCommand *command)
{
    if (!command)
        return g_strdup(
            "usage: virt-migrate [-c URI] [--daemon-socket PATH] [--timeout SECONDS] "
            "COMMAND [ARGS]");
    if (!*command->usage)
        return g_strdup_printf("usage: virt-migrate %s", command->name);
    return g_strdup_printf("usage: virt-migrate %s %s", command->name, command->usage);
}

/*
 * A usage error: the message, then the usage line of @command (NULL: of
 * virt-migrate), on stderr.  Returns: VMIG_CLI_EXIT_USAGE.
 */
int G_GNUC_PRINTF(2, 3)
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

/* Appends the help lines of @entries (and of --help) to @out. */
void
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
gboolean
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

gboolean
vmig_cli_parse_migration(const VmigCliCommand *command, const GOptionEntry *entries,
                         int *argc, char ***argv, int *status)
{
    if (!vmig_cli_parse(command, entries, argc, argv, status))
        return FALSE;
    if (*argc < 2) {
        *status = vmig_cli_usage_error(command, "missing MIGRATION");
        return FALSE;
    }
    if (*argc > 2) {
        *status = vmig_cli_usage_error(command, "unexpected argument '%s'", (*argv)[2]);
        return FALSE;
    }
    return TRUE;
}

JsonNode *
vmig_cli_query_migration(VmigCli *cli, const char *id, GError **error)
{
    g_autoptr(JsonNode) arguments = vmig_cli_migration_arguments(id);
    g_autoptr(JsonNode) record =
        vmig_cli_execute(cli, "query-migration", json_node_get_object(arguments), error);

    if (record && !JSON_NODE_HOLDS_OBJECT(record)) {
        g_set_error_literal(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_PROTOCOL,
                            "virt-migrated answered query-migration with something that "
                            "is not a negotiation record");
        return NULL;
    }
    return g_steal_pointer(&record);
}

/*
 * The control socket: --daemon-socket, else $VIRT_MIGRATE_SOCKET, else the
 * daemon's default runtime directory (driver/daemon.c: keep in step).
 * Returns: the path (to free), or NULL with @error set.
 */
static char *
vmig_cli_socket_path(VmigCli *cli, GError **error)
{
    const char *env = g_getenv(VMIG_CLI_SOCKET_ENV);
    const char *xdg;

    if (cli->socket)
        return g_strdup(cli->socket);
    if (env && *env)
        return g_strdup(env);
    if (geteuid() == 0)
        return g_build_filename(VMIG_CLI_SYSTEM_RUNTIME_DIR, VMIG_CLI_SOCKET_NAME, NULL);
    xdg = g_getenv("XDG_RUNTIME_DIR");
    if (!xdg || !*xdg) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                            "XDG_RUNTIME_DIR is not set: give the daemon's socket with "
                            "--daemon-socket PATH or $" VMIG_CLI_SOCKET_ENV);
        return NULL;
    }
    return g_build_filename(xdg, "virt-migrate", VMIG_CLI_SOCKET_NAME, NULL);
}

/*
 * Connects to the daemon.
 * Returns: the client, or NULL with @error set.
 */
VmigClient *
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
JsonNode *
vmig_cli_execute(VmigCli *cli, const char *command, JsonObject *arguments, GError **error)
{
    g_autoptr(VmigClient) client = vmig_cli_connect(cli, error);

    if (!client)
        return NULL;
    return vmig_client_execute(client, command, arguments, NULL, 0, error);
}

/* Writes @text to stdout.  Returns: the exit status (writing may fail). */
int
vmig_cli_output(const char *text)
{
    if (fputs(text, stdout) == EOF || fflush(stdout) != 0)
        return vmig_cli_fail("cannot write the output: %s", g_strerror(errno));
    return VMIG_CLI_EXIT_OK;
}

/*
 * DOMAIN as the daemon takes it: with -c URI a libvirt domain,
 * "libvirt:URI#NAME" (driver/domain-name.h), else as the user wrote it.
 * Returns: the domain (to free).
 */
char *
vmig_cli_domain(const char *libvirt_uri, const char *name)
{
    if (libvirt_uri)
        return vmig_domain_format_libvirt(libvirt_uri, name);
    return g_strdup(name);
}

/*
 * The libvirt URI of a command: its own -c (@command_uri, taken), else
 * the global -c.  Returns: the URI (to free), or NULL.
 */
char *
vmig_cli_libvirt_uri(VmigCli *cli, char *command_uri)
{
    if (command_uri)
        return command_uri;
    return g_strdup(cli->libvirt_uri);
}

/*
 * Checks the feature names of --no-feature (@no_features) and
 * --require-feature (@require_features) before any daemon is asked.
 * Returns: TRUE, or FALSE with the usage error of @command printed (a name
 * nobody knows, with the one likely meant) and *@status set.
 */
gboolean
vmig_cli_check_features(const VmigCliCommand *command, GStrv no_features,
                        GStrv require_features, int *status)
{
    g_autoptr(GError) error = NULL;
    VmigFeatureSet set;

    /* driver/features.c's table, the daemon's own check. */
    if (!vmig_features_check_names(no_features, "--no-feature", &set, &error) ||
        !vmig_features_check_names(require_features, "--require-feature", &set, &error)) {
        *status = vmig_cli_usage_error(command, "%s", error->message);
        return FALSE;
    }
    return TRUE;
}

/*
 * Checks each --tunable (@tunables, NULL-terminated or NULL) is NAME=VALUE
 * with a NAME before any daemon is asked; what NAME and VALUE mean is the
 * daemon's to judge.
 * Returns: TRUE, or FALSE with the usage error of @command printed and
 * *@status set.
 */
gboolean
vmig_cli_check_tunables(const VmigCliCommand *command, GStrv tunables, int *status)
{
    for (char **t = tunables; t && *t; t++) {
        const char *eq = strchr(*t, '=');

        if (!eq || eq == *t) {
            *status =
                vmig_cli_usage_error(command, "--tunable wants NAME=VALUE, not '%s'", *t);
            return FALSE;
        }
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Events and migrations */

/* Returns: {"migration": @id}, the arguments of cancel and query-migration. */
JsonNode *
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
int
vmig_cli_sigint_open(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Reads the pending SIGINTs off @fd, so that it polls quiet again. */
void
vmig_cli_sigint_clear(int fd)
{
    struct signalfd_siginfo info;

    while (read(fd, &info, sizeof(info)) == sizeof(info))
        ;
}

/* Returns: the "data" of @event (borrowed), or NULL when it has none. */
JsonObject *
vmig_cli_event_data(JsonObject *event)
{
    JsonNode *data = json_object_get_member(event, "data");

    return data && JSON_NODE_HOLDS_OBJECT(data) ? json_node_get_object(data) : NULL;
}

/* Returns: string member @name of @object (borrowed), or NULL. */
const char *
vmig_cli_get_string(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

/* Returns: TRUE when @event concerns the migration @id. */
gboolean
vmig_cli_event_is_for(JsonObject *event, const char *id)
{
    return g_strcmp0(vmig_cli_get_string(vmig_cli_event_data(event), "migration"), id) ==
           0;
}
