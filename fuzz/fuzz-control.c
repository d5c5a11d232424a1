/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-control.c: libFuzzer target for a control-socket line
 * (driver/control.c, vmig_control_parse_request())
 *
 * The input is one line as a client sends it, checked against the
 * daemon's real command table (driver/commands.c) exactly as the server
 * checks it before calling a handler.  Then what the handlers read first:
 * the "domain" argument through the QMP or libvirt domain parser.
 *
 * Invariants (abort() on violation): the JSON reader's messages are
 * UTF-8 and what it accepts nests at most VMIG_JSON_MAX_DEPTH levels; a
 * refused line leaves a VMIG_CONTROL_ERROR with a message and a class,
 * and an echoed id only when the line was a JSON object with an "id"; an
 * accepted one is a JSON object whose command is a row of the table,
 * whose arguments satisfy that row (checked again here, independently),
 * and whose id is the line's; both domain parsers either return a value
 * or set an error.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver/commands.h"
#include "driver/control.h"
#include "driver/hypervisor.h"
#include "driver/libvirt.h"
#include "json/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Returns: how deep @node nests ('[' and '{' levels), counting no further
 * than @limit + 1 so that a value the reader should have refused cannot
 * make this walk itself too deep.
 */
static guint
depth_of(JsonNode *node, guint limit)
{
    guint deepest = 0;

    if (limit == 0)
        return JSON_NODE_HOLDS_OBJECT(node) || JSON_NODE_HOLDS_ARRAY(node) ? 1 : 0;
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        json_object_iter_init(&iter, json_node_get_object(node));
        while (json_object_iter_next(&iter, &name, &member)) {
            guint depth = depth_of(member, limit - 1); /* once: MAX() evaluates twice */

            deepest = MAX(deepest, depth);
        }
        return deepest + 1;
    }
    if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(array); i++) {
            guint depth = depth_of(json_array_get_element(array, i), limit - 1);

            deepest = MAX(deepest, depth);
        }
        return deepest + 1;
    }
    return 0;
}

/* Returns: TRUE when @node is what an argument of @type must be. */
static gboolean
arg_type_ok(JsonNode *node, VmigControlArgType type)
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

/* Aborts unless @arguments satisfy @command's row. */
static void
check_arguments(const VmigControlCommand *command, JsonObject *arguments)
{
    g_autoptr(GList) members = json_object_get_members(arguments);
    const VmigControlArg *arg;
    GList *l;

    for (arg = command->args; arg && arg->name; arg++) {
        JsonNode *node = json_object_get_member(arguments, arg->name);

        if (!node ? !arg->optional : !arg_type_ok(node, arg->type))
            abort();
    }
    for (l = members; l; l = l->next) {
        gboolean known = FALSE;

        for (arg = command->args; arg && arg->name; arg++)
            known = known || g_str_equal(arg->name, l->data);
        if (!known)
            abort();
    }
}

/*
 * Runs the domain parser the handlers run on @domain; aborts when one
 * returns neither a value nor an error.
 */
static void
parse_domain(const char *domain)
{
    g_autoptr(GError) error = NULL;

    if (vmig_libvirt_is_domain(domain)) {
        g_autofree char *uri = NULL;
        g_autofree char *name = NULL;
        g_autofree char *again = NULL;

        if (!vmig_libvirt_parse_domain(domain, &uri, &name, &error)) {
            if (!error || error->domain != VMIG_HYPERVISOR_ERROR)
                abort();
            return;
        }
        if (error || !*uri || !*name)
            abort();
        /* The URI is everything up to the first '#': it formats back. */
        again = vmig_libvirt_format_domain(uri, name);
        if (strchr(uri, '#') || !g_str_equal(again, domain))
            abort();
    } else {
        g_autofree char *path = vmig_domain_parse_qmp(domain, &error);

        if (!path == !error)
            abort();
        if (path && (path[0] != '/' || !g_str_has_suffix(domain, path)))
            abort();
        if (error && error->domain != VMIG_HYPERVISOR_ERROR)
            abort();
    }
}

/* Feed @data to the request reader.  Returns 0 (libFuzzer's convention). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_auto(VmigControlRequest) request = {NULL, NULL, NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) json_error = NULL;
    g_autoptr(JsonNode) root = NULL;
    JsonNode *id = NULL;
    const char *line = (const char *)data;
    gboolean ok;

    ok = vmig_control_parse_request(line, size, vmig_commands, vmig_n_commands, &request,
                                    &error);

    /* What the line is as JSON, read on its own, for the checks below;
     * the reader's messages are UTF-8 (json/reader.h). */
    root = vmig_json_parse(size ? line : "", (gssize)size, &json_error);
    if (!root == !json_error ||
        (json_error && (json_error->domain != VMIG_JSON_ERROR ||
                        !g_utf8_validate(json_error->message, -1, NULL))))
        abort();
    /* The bound json-glib's recursion needs held (json/reader.h). */
    if (root && depth_of(root, VMIG_JSON_MAX_DEPTH) > VMIG_JSON_MAX_DEPTH)
        abort();
    if (root && JSON_NODE_HOLDS_OBJECT(root))
        id = json_object_get_member(json_node_get_object(root), "id");

    if (!ok) {
        if (!error || error->domain != VMIG_CONTROL_ERROR || error->code < 0 ||
            error->code >= VMIG_CONTROL_ERROR_LAST || !*error->message ||
            !vmig_control_error_class(error))
            abort();
        if (request.command || request.arguments)
            abort();
        if (!id != !request.id || (id && !json_node_equal(id, request.id)))
            abort();
        if (error->code == VMIG_CONTROL_ERROR_EMPTY && root)
            abort();
        return 0;
    }

    if (error || !root || !JSON_NODE_HOLDS_OBJECT(root) || !request.arguments)
        abort();
    if (request.command < vmig_commands ||
        request.command >= vmig_commands + vmig_n_commands)
        abort();
    if (!id != !request.id || (id && !json_node_equal(id, request.id)))
        abort();
    check_arguments(request.command, request.arguments);

    if (json_object_has_member(request.arguments, "domain"))
        parse_domain(json_object_get_string_member(request.arguments, "domain"));
    return 0;
}
