/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli-query.c: the commands that read: tunables, features, list, events,
 * version
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-cli"

#include "tools/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fdpass/fd.h"
#include "json/writer.h"
#include "tools/render.h"

/* tunables DOMAIN [--json|--xml] [--unstable].  Returns: the exit status. */
int
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
    /* As virsh's: the global -c, unless this command has its own. */
    libvirt_uri = vmig_cli_libvirt_uri(cli, g_steal_pointer(&libvirt_uri));
    if (argc < 2)
        return vmig_cli_usage_error(command, "missing DOMAIN");
    if (argc > 2)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[2]);
    if (json && xml)
        return vmig_cli_usage_error(command, "--json and --xml cannot be used together");

    domain = vmig_cli_domain(libvirt_uri, argv[1]);
    vmig_cli_set_domain(domain, argv[1]);
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

/* features MIGRATION [--xml|--json].  Returns: the exit status. */
int
vmig_cli_features(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    gboolean json = FALSE;
    gboolean xml = FALSE;
    const GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print the record as JSON", NULL},
        {"xml", 0, 0, G_OPTION_ARG_NONE, &xml, "print the record as XML", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse_migration(command, entries, &argc, &argv, &status))
        return status;
    if (json && xml)
        return vmig_cli_usage_error(command, "--json and --xml cannot be used together");

    record = vmig_cli_query_migration(cli, argv[1], &error);
    if (!record)
        return vmig_cli_fail("%s", error->message);

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

/*
 * resolve MIGRATION --resume-here|--discard-here: says where the guest of
 * a migration left unknown runs.  Returns: the exit status.
 */
int
vmig_cli_resolve(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    gboolean resume_here = FALSE;
    gboolean discard_here = FALSE;
    const GOptionEntry entries[] = {
        {"resume-here", 0, 0, G_OPTION_ARG_NONE, &resume_here,
         "the guest runs on this host: resume it here", NULL},
        {"discard-here", 0, 0, G_OPTION_ARG_NONE, &discard_here,
         "the guest runs on the other host: let go of it here", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonNode) arguments = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    const char *state;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse_migration(command, entries, &argc, &argv, &status))
        return status;
    if (resume_here == discard_here)
        return vmig_cli_usage_error(command, "say where the guest runs: --resume-here or "
                                             "--discard-here (one of them)");

    arguments = vmig_cli_migration_arguments(argv[1]);
    json_object_set_string_member(json_node_get_object(arguments), "action",
                                  resume_here ? "resume-here" : "discard-here");
    answer = vmig_cli_execute(cli, "resolve", json_node_get_object(arguments), &error);
    if (!answer)
        return vmig_cli_fail("%s", error->message);
    state = JSON_NODE_HOLDS_OBJECT(answer)
                ? vmig_cli_get_string(json_node_get_object(answer), "state")
                : NULL;
    text = g_strdup_printf(
        "Migration %s resolved: the guest %s; the migration ended %s\n", argv[1],
        resume_here ? "runs on this host" : "was let go on this host",
        state ? state : "?");
    return vmig_cli_output(text);
}

/* list [--all] [--json|--xml].  Returns: the exit status. */
int
vmig_cli_list(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    gboolean all = FALSE;
    gboolean json = FALSE;
    gboolean xml = FALSE;
    const GOptionEntry entries[] = {
        {"all", 0, 0, G_OPTION_ARG_NONE, &all,
         "include the migrations that completed, failed, were cancelled or refused",
         NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print the list as JSON", NULL},
        {"xml", 0, 0, G_OPTION_ARG_NONE, &xml, "print the list as XML", NULL},
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
    if (json && xml)
        return vmig_cli_usage_error(command, "--json and --xml cannot be used together");

    if (all) {
        g_autoptr(JsonObject) arguments = json_object_new();

        /* The attempts the daemon refused, too. */
        json_object_set_boolean_member(arguments, "all", TRUE);
        migrations = vmig_cli_execute(cli, "query-migrations", arguments, &error);
    } else {
        migrations = vmig_cli_execute(cli, "query-migrations", NULL, &error);
    }
    if (!migrations)
        return vmig_cli_fail("%s", error->message);
    if (!JSON_NODE_HOLDS_ARRAY(migrations))
        return vmig_cli_fail("virt-migrated answered query-migrations with something "
                             "that is not a list");
    if (json)
        text = vmig_render_migrations_json(json_node_get_array(migrations), all, &error);
    else if (xml)
        text = vmig_render_migrations_xml(json_node_get_array(migrations), all, &error);
    else
        text = vmig_render_migrations_table(json_node_get_array(migrations), all, &error);
    if (!text)
        return vmig_cli_fail("%s", error->message);
    return vmig_cli_output(text);
}

/* events [--migration ID] [--count N] [--json].  Returns: the exit status. */
int
vmig_cli_events(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    g_autofree char *migration = NULL;
    int count = G_MININT;
    gboolean json = FALSE;
    const GOptionEntry entries[] = {
        {"migration", 0, 0, G_OPTION_ARG_STRING, &migration,
         "only the events of migration ID", "ID"},
        {"count", 0, 0, G_OPTION_ARG_INT, &count, "stop after N events", "N"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json,
         "print each event as the daemon sent it, one JSON object a line", NULL},
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
        if (json) {
            g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
            g_autofree char *text = NULL;

            /* The daemon's own writer: the line as it was sent (driver/control.c). */
            json_node_set_object(node, event);
            text = vmig_json_write(node, FALSE, NULL);
            line = g_strconcat(text, "\n", NULL);
        } else {
            line = vmig_render_event_line(event, &error);
        }
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
int
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
