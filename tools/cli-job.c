/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli-job.c: the commands that act on one running migration, as virsh's
 * job commands do on a domain's: cancel (domjobabort), jobinfo
 * (domjobinfo), postcopy (migrate-postcopy)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-cli"

#include "tools/cli.h"

#include "tools/render.h"

/*
 * Runs control command @name on migration @id, then prints
 * "Migration ID @done".  Returns: the exit status.
 */
static int
vmig_cli_job_execute(VmigCli *cli, const char *name, const char *id, const char *done)
{
    g_autoptr(JsonNode) arguments = vmig_cli_migration_arguments(id);
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    reply = vmig_cli_execute(cli, name, json_node_get_object(arguments), &error);
    if (!reply)
        return vmig_cli_fail("%s", error->message);
    text = g_strdup_printf("Migration %s %s\n", id, done);
    return vmig_cli_output(text);
}

/* cancel MIGRATION.  Returns: the exit status. */
int
vmig_cli_cancel(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse_migration(command, NULL, &argc, &argv, &status))
        return status;
    return vmig_cli_job_execute(cli, "cancel", argv[1], "cancelled");
}

/* postcopy MIGRATION.  Returns: the exit status. */
int
vmig_cli_postcopy(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse_migration(command, NULL, &argc, &argv, &status))
        return status;
    return vmig_cli_job_execute(cli, "start-postcopy", argv[1], "switched to postcopy");
}

/* jobinfo MIGRATION [--json].  Returns: the exit status. */
int
vmig_cli_jobinfo(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    gboolean json = FALSE;
    const GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &json,
         "print the job as JSON: the record's state and progress", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonNode) record = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse_migration(command, entries, &argc, &argv, &status))
        return status;

    record = vmig_cli_query_migration(cli, argv[1], &error);
    if (!record)
        return vmig_cli_fail("%s", error->message);
    if (json) {
        /* The record's members about the job, as they came. */
        static const char *const members[] = {"migration", "role",  "state",   "domain",
                                              "result",    "error", "progress"};
        JsonObject *from = json_node_get_object(record);
        g_autoptr(JsonObject) job = json_object_new();
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

        for (gsize i = 0; i < G_N_ELEMENTS(members); i++) {
            JsonNode *member = json_object_get_member(from, members[i]);

            if (member)
                json_object_set_member(job, members[i], json_node_copy(member));
        }
        json_node_set_object(node, job);
        text = vmig_render_json(node);
    } else {
        text = vmig_render_jobinfo(json_node_get_object(record), &error);
    }
    if (!text)
        return vmig_cli_fail("%s", error->message);
    return vmig_cli_output(text);
}
