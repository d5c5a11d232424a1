/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * virt-migrate.c: the command line of virt-migrated (DESIGN §6)
 *
 *   virt-migrate [-c URI] [--daemon-socket PATH] [--timeout SECONDS] COMMAND [ARGS]
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

#include <locale.h>
#include <stdio.h>

#include "tools/cli.h"

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
     "[--no-feature F]... [--require-feature F]... [--unstable] [--verbose] [--timeout "
     "S] "
     "[--live] [--persistent] [--undefinesource] [--prepared] [--tls] [--tls-hostname "
     "NAME]",
     "Asks virt-migrated to migrate DOMAIN (qmp:/path/to/monitor.sock) to the\n"
     "virt-migrated listening at DEST (unix:PATH or tcp:HOST:PORT), prepared there\n"
     "with prepare-incoming.  The two drivers negotiate the protocol and features;\n"
     "what they chose is printed, then the command waits for the migration to end.\n"
     "Ctrl-C or --timeout cancel the migration; the source guest keeps running.\n"
     "With -c, as virsh migrate: DOMAIN is a libvirt domain on the libvirt at URI,\n"
     "DEST the destination libvirt's URI, and --peer the destination driver:\n"
     "HOST[:PORT], its standing listener (virt-migrated --listen), which takes the\n"
     "domain's XML from the source and prepares itself, or unix:PATH (or a TCP\n"
     "address with --prepared), a listener prepared with incoming -c; libvirt\n"
     "migrates peer to peer, live, through the two drivers.\n"
     "Over tcp: the drivers speak TLS (docs/tls.md); --tls asks for it on any\n"
     "transport, --tls-hostname names the host the destination's certificate\n"
     "must match."},
    {"incoming", vmig_cli_incoming,
     "prepare this host's driver for an incoming migration",
     "[-c URI] DOMAIN LISTEN [--xml FILE] [--no-feature F]... [--require-feature F]... "
     "[--max-channels N] [--paused] [--tls]",
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
    {"resolve", vmig_cli_resolve, "say where the guest of an unknown migration runs",
     "MIGRATION --resume-here|--discard-here",
     "A migration whose switchover was sent but never confirmed (the drivers'\n"
     "connection was lost between SWITCHOVER and RESUMED) ends in state unknown:\n"
     "the guest is paused on this side and may run on the other.  Look there\n"
     "first (virt-migrate list --all, or the guest itself), then run this on one\n"
     "side: --resume-here resumes the guest on this host; --discard-here lets go\n"
     "of it here (a source keeps its paused copy, a destination QEMU quits).\n"
     "The migration then ends completed or failed, with MIGRATION_DONE again."},
    {"set", vmig_cli_set, "change a tunable of a running migration",
     "MIGRATION --tunable NAME=VALUE... [--unstable]",
     "Changes tunables of MIGRATION (an id such as m1, see list) while its stream\n"
     "runs, on the source's virt-migrated: the parameters QEMU applies to a\n"
     "running migration (max-bandwidth, downtime-limit, max-postcopy-bandwidth,\n"
     "xbzrle-cache-size and auto-converge's throttle settings), as virsh\n"
     "migrate-setspeed and migrate-setmaxdowntime do.  Values are written as for\n"
     "migrate --tunable.  The migration's record (features) lists each change; at\n"
     "its end QEMU is put back as it was before the migration."},
    {"cancel", vmig_cli_cancel, "cancel a running migration (virsh domjobabort)",
     "MIGRATION",
     "Cancels MIGRATION (an id such as m1, see list).  On the source, QEMU's\n"
     "migration is cancelled and the guest keeps running there; the migration\n"
     "ends cancelled, with MIGRATION_DONE.  A migration in its switchover (the\n"
     "guest changing sides) cannot be cancelled."},
    {"jobinfo", vmig_cli_jobinfo, "show a migration's progress (virsh domjobinfo)",
     "MIGRATION [--json]",
     "Prints the job of MIGRATION as virsh domjobinfo does: its type and state,\n"
     "then the last progress reading of the source (read every 250 ms): time\n"
     "elapsed, data processed, remaining and total, bandwidth and the expected\n"
     "downtime.  A destination has no figures."},
    {"postcopy", vmig_cli_postcopy,
     "switch a migration to postcopy (virsh migrate-postcopy)", "MIGRATION",
     "Switches MIGRATION, running on this (the source) side, to postcopy: the\n"
     "guest runs on the destination from then on, and pages it has not got yet\n"
     "are fetched as it touches them.  Only a migration that negotiated\n"
     "postcopy-ram (migrate --require-feature postcopy-ram) can."},
    {"list", vmig_cli_list, "list the migrations", "[--all] [--json|--xml]",
     "Lists the migrations that are running; with --all, the finished ones too.\n"
     "--json prints them as the daemon does, --xml as the document of\n"
     "migrations.rng."},
    {"events", vmig_cli_events, "follow the events of virt-migrated",
     "[--migration ID] [--count N] [--json]",
     "Prints each event as it comes, one a line: the time (UTC), the event's name\n"
     "and its data as JSON, until interrupted or N events were printed.  With\n"
     "--json, each line is the event's JSON object as the daemon sent it, and\n"
     "nothing else is printed on stdout."},
    {"version", vmig_cli_version, "show the versions of virt-migrate and virt-migrated",
     "", NULL},
    {"help", vmig_cli_help, "show the help of a command", "[COMMAND]", NULL},
};

/* ------------------------------------------------------------------------ */
/* The commands */

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
        out, "\nWith -c URI, DOMAIN is a libvirt domain's name on the libvirt at URI.\n"
             "Without --daemon-socket, the socket is $" VMIG_CLI_SOCKET_ENV ", else\n"
             "/run/virt-migrate/" VMIG_CLI_SOCKET_NAME " for root, and\n"
             "$XDG_RUNTIME_DIR/virt-migrate/" VMIG_CLI_SOCKET_NAME " for anyone else.\n"
             "'virt-migrate help COMMAND' shows the help of a command.\n");
    return g_string_free(out, FALSE);
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
    {"connect", 'c', 0, G_OPTION_ARG_STRING, &vmig_cli.libvirt_uri,
     "the libvirt connection DOMAIN names belong to (as virsh's -c)", "URI"},
    {"daemon-socket", 0, 0, G_OPTION_ARG_FILENAME, &vmig_cli.socket,
     "the control socket of virt-migrated", "PATH"},
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
    /* A libvirt URI never starts with '/': that is the old --connect SOCKET. */
    if (vmig_cli.libvirt_uri && vmig_cli.libvirt_uri[0] == '/')
        return vmig_cli_usage_error(
            NULL,
            "-c/--connect names a libvirt URI, as virsh's does, not "
            "'%s'; the daemon's socket is --daemon-socket PATH",
            vmig_cli.libvirt_uri);
    if (argc < 2)
        return vmig_cli_usage_error(NULL, "no command given");

    command = vmig_cli_lookup(argv[1]);
    if (!command)
        return vmig_cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    status = command->handler(&vmig_cli, command, argc - 1, argv + 1);
    vmig_cli_set_domain(NULL, NULL);
    g_free(vmig_cli.socket);
    g_free(vmig_cli.libvirt_uri);
    return status;
}
