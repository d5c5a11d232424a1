/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli.h: what virt-migrate's commands share: the command table's row,
 * messages and exit statuses, option parsing, the connection to the
 * daemon, and reading events.  virt-migrate.c holds the table and main(),
 * cli-query.c the commands that read (tunables, features, list, events,
 * version), cli-migrate.c those that start a migration (migrate,
 * incoming), cli-job.c those that act on one (cancel, jobinfo, postcopy).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "tools/client.h"

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
    char *socket;      /* --daemon-socket, or NULL */
    char *libvirt_uri; /* -c/--connect, or NULL */
    int timeout_ms;    /* --timeout, or -1 */
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

/* ---- cli.c ------------------------------------------------------------------------- */

/*
 * Prints "virt-migrate: error: MESSAGE" on stderr, MESSAGE in the user's
 * words (vmig_render_user_words, with the domain of vmig_cli_set_domain).
 * Returns: VMIG_CLI_EXIT_FAILURE.
 */
int vmig_cli_fail(const char *format, ...) G_GNUC_PRINTF(1, 2);

/*
 * The command's domain: @wire_domain as the daemon names it, @domain as
 * the user wrote it; vmig_cli_fail shows the second for the first.
 */
void vmig_cli_set_domain(const char *wire_domain, const char *domain);

/* Returns: the usage line of @command, or of virt-migrate itself when NULL (to free). */
char *vmig_cli_usage_line(const VmigCliCommand *command);

/*
 * A usage error: the message, then the usage line of @command (NULL: of
 * virt-migrate), on stderr.  Returns: VMIG_CLI_EXIT_USAGE.
 */
int vmig_cli_usage_error(const VmigCliCommand *command, const char *format, ...)
    G_GNUC_PRINTF(2, 3);

/* Appends the help lines of @entries (and of --help) to @out. */
void vmig_cli_append_options(GString *out, const GOptionEntry *entries);

/*
 * Parses the options of @command (@entries, plus -h/--help) out of
 * @argc/@argv, leaving the command's name and its positional arguments.
 * Returns: TRUE to go on, or FALSE with *@status set (help printed: 0;
 * usage error printed: 2).
 */
gboolean vmig_cli_parse(const VmigCliCommand *command, const GOptionEntry *entries,
                        int *argc, char ***argv, int *status);

/*
 * vmig_cli_parse() for a command whose one positional argument is
 * MIGRATION, then left in (*@argv)[1].  Returns: TRUE to go on, or FALSE
 * with *@status set (help printed, or the usage error: MIGRATION missing,
 * an argument too many).
 */
gboolean vmig_cli_parse_migration(const VmigCliCommand *command,
                                  const GOptionEntry *entries, int *argc, char ***argv,
                                  int *status);

/*
 * Asks the daemon for migration @id's record (query-migration).
 * Returns: the record (an object node), or NULL with @error set.
 */
JsonNode *vmig_cli_query_migration(VmigCli *cli, const char *id, GError **error);

/*
 * Connects to the daemon.
 * Returns: the client, or NULL with @error set.
 */
VmigClient *vmig_cli_connect(VmigCli *cli, GError **error);

/*
 * Connects to the daemon and runs one command.
 * Returns: its return value (a new node), or NULL with @error set.
 */
JsonNode *vmig_cli_execute(VmigCli *cli, const char *command, JsonObject *arguments,
                           GError **error);

/* Writes @text to stdout.  Returns: the exit status (writing may fail). */
int vmig_cli_output(const char *text);

/*
 * DOMAIN as the daemon takes it: with -c URI a libvirt domain,
 * "libvirt:URI#NAME" (driver/domain-name.h), else as the user wrote it.
 * Returns: the domain (to free).
 */
char *vmig_cli_domain(const char *libvirt_uri, const char *name);

/*
 * The libvirt URI of a command: its own -c (@command_uri, taken), else
 * the global -c.  Returns: the URI (to free), or NULL.
 */
char *vmig_cli_libvirt_uri(VmigCli *cli, char *command_uri);

/*
 * Checks the feature names of --no-feature (@no_features) and
 * --require-feature (@require_features) before any daemon is asked.
 * Returns: TRUE, or FALSE with the usage error of @command printed (a name
 * nobody knows, with the one likely meant) and *@status set.
 */
gboolean vmig_cli_check_features(const VmigCliCommand *command, GStrv no_features,
                                 GStrv require_features, int *status);

/*
 * Checks each --tunable of @tunables (nullable) is NAME=VALUE, a NAME
 * given, before any daemon is asked.
 * Returns: TRUE, or FALSE with the usage error of @command printed and
 * *@status set.
 */
gboolean vmig_cli_check_tunables(const VmigCliCommand *command, GStrv tunables,
                                 int *status);

/* Returns: {"migration": @id}, the arguments of cancel and query-migration. */
JsonNode *vmig_cli_migration_arguments(const char *id);

/*
 * Blocks SIGINT and opens a signalfd for it, so that Ctrl-C becomes
 * something to poll() for (the client's interrupt fd).
 * Returns: the fd, or -1 with errno set.
 */
int vmig_cli_sigint_open(void);

/* Reads the pending SIGINTs off @fd, so that it polls quiet again. */
void vmig_cli_sigint_clear(int fd);

/* Returns: the "data" of @event (borrowed), or NULL when it has none. */
JsonObject *vmig_cli_event_data(JsonObject *event);

/* Returns: string member @name of @object (borrowed), or NULL. */
const char *vmig_cli_get_string(JsonObject *object, const char *name);

/* Returns: TRUE when @event concerns the migration @id. */
gboolean vmig_cli_event_is_for(JsonObject *event, const char *id);

/* ---- the commands: each returns its exit status ------------------------------------ */

int vmig_cli_tunables(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_migrate(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_incoming(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_features(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_list(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_events(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_version(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_resolve(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_set(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_cancel(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_jobinfo(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
int vmig_cli_postcopy(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv);
