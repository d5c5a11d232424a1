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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "tools/client.h"
#include "tools/render.h"

#define VMIG_CLI_EXIT_OK      0
#define VMIG_CLI_EXIT_FAILURE 1
#define VMIG_CLI_EXIT_USAGE   2

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
static int vmig_cli_version(VmigCli *cli, const VmigCliCommand *command, int argc,
                            char **argv);
static int vmig_cli_help(VmigCli *cli, const VmigCliCommand *command, int argc,
                         char **argv);

static const VmigCliCommand vmig_cli_commands[] = {
    {"tunables", vmig_cli_tunables, "list the tunables a hypervisor really has",
     "DOMAIN [--json|--xml] [--unstable]",
     "Asks virt-migrated which migration tunables the hypervisor of DOMAIN has, with\n"
     "their kind, type, current value and whether the driver negotiates them.\n"
     "DOMAIN is a QEMU monitor socket, written qmp:/path/to/monitor.sock."},
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
 * Connects to the daemon and runs one command.
 * Returns: its return value (a new node), or NULL with @error set.
 */
static JsonNode *
vmig_cli_execute(VmigCli *cli, const char *command, JsonObject *arguments, GError **error)
{
    g_autoptr(VmigClient) client = NULL;
    g_autofree char *path = vmig_cli_socket_path(cli, error);

    if (!path)
        return NULL;
    client = vmig_client_connect(path, cli->timeout_ms, error);
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

/* tunables DOMAIN [--json|--xml] [--unstable].  Returns: the exit status. */
static int
vmig_cli_tunables(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    gboolean json = FALSE;
    gboolean xml = FALSE;
    gboolean unstable = FALSE;
    const GOptionEntry entries[] = {
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

    json_object_set_string_member(arguments, "domain", argv[1]);
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
