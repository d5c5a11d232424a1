/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli-set.c: `virt-migrate set`, a tunable of a running migration (the
 * generic virsh migrate-setspeed and migrate-setmaxdowntime)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-cli"

#include <string.h>

#include "tools/cli.h"

/*
 * set MIGRATION --tunable NAME=VALUE... [--unstable]: asks the daemon to
 * apply the tunables to the running migration.  Returns: the exit status.
 */
int
vmig_cli_set(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    g_auto(GStrv) tunables = NULL;
    gboolean unstable = FALSE;
    const GOptionEntry entries[] = {
        {"tunable", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tunables,
         "the tunable to change (repeatable)", "NAME=VALUE"},
        {"unstable", 0, 0, G_OPTION_ARG_NONE, &unstable, "allow unstable (x-) tunables",
         NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonNode) arguments = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    JsonArray *list;
    JsonObject *set = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse_migration(command, entries, &argc, &argv, &status))
        return status;
    if (!tunables)
        return vmig_cli_usage_error(command, "nothing to set: give --tunable NAME=VALUE");
    if (!vmig_cli_check_tunables(command, tunables, &status))
        return status;

    arguments = vmig_cli_migration_arguments(argv[1]);
    list = json_array_new();
    for (char **t = tunables; *t; t++)
        json_array_add_string_element(list, *t);
    json_object_set_array_member(json_node_get_object(arguments), "tunables", list);
    if (unstable)
        json_object_set_boolean_member(json_node_get_object(arguments), "unstable", TRUE);
    answer =
        vmig_cli_execute(cli, "set-tunables", json_node_get_object(arguments), &error);
    if (!answer)
        return vmig_cli_fail("%s", error->message);
    if (JSON_NODE_HOLDS_OBJECT(answer) &&
        json_object_has_member(json_node_get_object(answer), "tunables")) {
        JsonNode *node = json_object_get_member(json_node_get_object(answer), "tunables");

        if (JSON_NODE_HOLDS_OBJECT(node))
            set = json_node_get_object(node);
    }
    if (!set)
        return vmig_cli_fail("virt-migrated answered set-tunables without the tunables "
                             "it set");
    {
        g_autoptr(GList) names = json_object_get_members(set);

        for (GList *l = names; l; l = l->next) {
            g_autofree char *value =
                json_to_string(json_object_get_member(set, l->data), FALSE);

            g_string_append_printf(out, "Migration %s: %s set to %s\n", argv[1],
                                   (const char *)l->data, value);
        }
    }
    return vmig_cli_output(out->str);
}
