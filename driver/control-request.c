/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * control-request.c: one line from a control-socket client, read and
 * checked: JSON (through json/reader.h), QMP's shape, the command, its
 * arguments against the command's table.  Pure: no client, no I/O, so
 * that the daemon and fuzz/fuzz-control.c run the same code.  The
 * contract is control.h.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-control"

#include "driver/control.h"

#include <string.h>

#include "json/reader.h"

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-control-error-quark, vmig_control_error)
/* clang-format on */

/* The QMP class each error code answers with. */
static const char *const vmig_control_error_classes[] = {
    [VMIG_CONTROL_ERROR_EMPTY] = VMIG_CONTROL_CLASS_GENERIC,
    [VMIG_CONTROL_ERROR_GENERIC] = VMIG_CONTROL_CLASS_GENERIC,
    [VMIG_CONTROL_ERROR_NOT_FOUND] = VMIG_CONTROL_CLASS_NOT_FOUND,
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_control_error_classes) == VMIG_CONTROL_ERROR_LAST);

/* The article and name of each argument type, for "expects ..." errors. */
static const char *const vmig_control_arg_type_names[] = {
    [VMIG_CONTROL_ARG_STRING] = "a string", [VMIG_CONTROL_ARG_INT] = "an integer",
    [VMIG_CONTROL_ARG_BOOL] = "a boolean",  [VMIG_CONTROL_ARG_OBJECT] = "an object",
    [VMIG_CONTROL_ARG_ARRAY] = "an array",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_control_arg_type_names) == VMIG_CONTROL_ARG_LAST);

/* Returns: the row of @commands called @name, or NULL. */
static const VmigControlCommand *
vmig_control_lookup(const VmigControlCommand *commands, gsize n_commands,
                    const char *name)
{
    gsize i;

    for (i = 0; i < n_commands; i++) {
        if (g_str_equal(commands[i].name, name))
            return &commands[i];
    }
    return NULL;
}

/* Returns: TRUE when @node has the JSON type @type asks for. */
static gboolean
vmig_control_arg_type_ok(JsonNode *node, VmigControlArgType type)
{
    switch (type) {
    case VMIG_CONTROL_ARG_STRING:
        return JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_STRING;
    case VMIG_CONTROL_ARG_INT:
        return JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_INT64;
    case VMIG_CONTROL_ARG_BOOL:
        return JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_BOOLEAN;
    case VMIG_CONTROL_ARG_OBJECT:
        return JSON_NODE_HOLDS_OBJECT(node);
    case VMIG_CONTROL_ARG_ARRAY:
        return JSON_NODE_HOLDS_ARRAY(node);
    case VMIG_CONTROL_ARG_LAST:
        break;
    }
    return FALSE;
}

/*
 * Checks @arguments against @command's row, in the row's order (missing or
 * ill-typed), then for members the row does not have (unexpected).
 * Returns: NULL when they are fine, else the error text (to free).
 */
static char *
vmig_control_check_arguments(const VmigControlCommand *command, JsonObject *arguments)
{
    const VmigControlArg *arg;
    g_autoptr(GList) members = NULL;
    GList *l;

    for (arg = command->args; arg && arg->name; arg++) {
        JsonNode *node = json_object_get_member(arguments, arg->name);

        if (!node) {
            if (!arg->optional)
                return g_strdup_printf("Parameter '%s' is missing", arg->name);
            continue;
        }
        if ((guint)arg->type >= VMIG_CONTROL_ARG_LAST)
            return g_strdup_printf(
                "Parameter '%s' has no valid type in the command table", arg->name);
        if (!vmig_control_arg_type_ok(node, arg->type))
            return g_strdup_printf("Parameter '%s' expects %s", arg->name,
                                   vmig_control_arg_type_names[arg->type]);
    }

    members = json_object_get_members(arguments);
    for (l = members; l; l = l->next) {
        const char *name = l->data;
        gboolean known = FALSE;

        for (arg = command->args; arg && arg->name; arg++) {
            if (g_str_equal(arg->name, name)) {
                known = TRUE;
                break;
            }
        }
        if (!known)
            return g_strdup_printf("Parameter '%s' is unexpected", name);
    }
    return NULL;
}

const char *
vmig_control_error_class(const GError *error)
{
    g_return_val_if_fail(error != NULL, VMIG_CONTROL_CLASS_GENERIC);

    if (error->domain != VMIG_CONTROL_ERROR || error->code < 0 ||
        error->code >= VMIG_CONTROL_ERROR_LAST)
        return VMIG_CONTROL_CLASS_GENERIC;
    return vmig_control_error_classes[error->code];
}

void
vmig_control_request_clear(VmigControlRequest *request)
{
    g_clear_pointer(&request->arguments, json_object_unref);
    g_clear_pointer(&request->id, json_node_unref);
    request->command = NULL;
}

gboolean
vmig_control_parse_request(const char *line, gsize len,
                           const VmigControlCommand *commands, gsize n_commands,
                           VmigControlRequest *request, GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonObject) arguments = NULL;
    g_autoptr(GList) members = NULL;
    g_autofree char *problem = NULL;
    const VmigControlCommand *command;
    const char *name;
    JsonObject *object;
    JsonNode *id;
    JsonNode *node;
    GList *l;

    g_return_val_if_fail(line != NULL || len == 0, FALSE);
    g_return_val_if_fail(commands != NULL || n_commands == 0, FALSE);
    g_return_val_if_fail(request != NULL, FALSE);
    g_return_val_if_fail(request->arguments == NULL && request->id == NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    root = vmig_json_parse(line ? line : "", (gssize)len, &local);
    if (!root) {
        if (g_error_matches(local, VMIG_JSON_ERROR, VMIG_JSON_ERROR_EMPTY))
            g_set_error_literal(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_EMPTY,
                                "an empty line");
        else
            g_set_error(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_GENERIC,
                        "invalid JSON: %s", local->message);
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_GENERIC,
                            "QMP input must be a JSON object");
        return FALSE;
    }
    object = json_node_get_object(root);
    id = json_object_get_member(object, "id");
    /* From here on every error echoes the id. */
    request->id = id ? json_node_copy(id) : NULL;

    members = json_object_get_members(object);
    for (l = members; l; l = l->next) {
        name = l->data;
        if (!g_str_equal(name, "execute") && !g_str_equal(name, "arguments") &&
            !g_str_equal(name, "id")) {
            g_set_error(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_GENERIC,
                        "QMP input member '%s' is unexpected", name);
            return FALSE;
        }
    }

    node = json_object_get_member(object, "execute");
    if (!node) {
        g_set_error_literal(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_GENERIC,
                            "Expected 'execute' in QMP input");
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error_literal(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_GENERIC,
                            "QMP input member 'execute' must be a string");
        return FALSE;
    }
    name = json_node_get_string(node);

    node = json_object_get_member(object, "arguments");
    if (node && !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error_literal(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_GENERIC,
                            "QMP input member 'arguments' must be an object");
        return FALSE;
    }
    arguments = node ? json_object_ref(json_node_get_object(node)) : json_object_new();

    command = vmig_control_lookup(commands, n_commands, name);
    if (!command) {
        g_set_error(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_NOT_FOUND,
                    "The command %s has not been found", name);
        return FALSE;
    }

    problem = vmig_control_check_arguments(command, arguments);
    if (problem) {
        g_set_error_literal(error, VMIG_CONTROL_ERROR, VMIG_CONTROL_ERROR_GENERIC,
                            problem);
        return FALSE;
    }

    request->command = command;
    request->arguments = g_steal_pointer(&arguments);
    return TRUE;
}
