/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-qmp.c: libFuzzer target for one line from a QEMU monitor
 * (driver/qmp.c, vmig_qmp_message_parse())
 *
 * Each input is read twice, as the client reads it: once while the
 * greeting is awaited, once after (replies and events).
 *
 * Invariants (abort() on violation): a refused line leaves a PROTOCOL
 * error and @message untouched; an accepted one has a kind in range with
 * exactly the members that kind promises; a greeting's hypervisor string
 * is vmig_qmp_format_hypervisor() of its version; every id, "return",
 * error class and desc, event name, data and timestamp is the line's own
 * member; and the message re-serialises to JSON that reads back equal.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver/qmp.h"
#include "json/reader.h"
#include "json/writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns: member @name of @object when it is a string, else NULL. */
static const char *
get_string(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

/* Returns: member @name of @object when it is an object, else NULL. */
static JsonObject *
get_object(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

/*
 * Aborts unless @root, written out as the daemon writes JSON, reads back
 * as an equal value.
 */
static void
check_round_trip(JsonNode *root)
{
    g_autofree char *text = vmig_json_write(root, FALSE, NULL);
    g_autoptr(JsonNode) again = vmig_json_parse(text, -1, NULL);

    if (!again || !json_node_equal(root, again))
        abort();
}

/* Aborts unless @m is a well-formed classification of a line of @size bytes. */
static void
check_message(const VmigQmpMessage *m, gboolean greeting, size_t size)
{
    JsonObject *object;

    if ((guint)m->kind >= VMIG_QMP_MESSAGE_LAST ||
        !vmig_qmp_message_kind_to_string(m->kind))
        abort();
    if (m->len > size || m->len + 1 < size)
        abort();
    if (m->kind == VMIG_QMP_MESSAGE_NONE) {
        if (m->len != 0 || m->root)
            abort();
        return;
    }
    if (!m->root || !JSON_NODE_HOLDS_OBJECT(m->root))
        abort();
    object = json_node_get_object(m->root);
    /* Awaiting the greeting, a line is the greeting or an event (QEMU 7.2
     * can send one first); after it, never a greeting. */
    if (greeting
            ? m->kind != VMIG_QMP_MESSAGE_GREETING && m->kind != VMIG_QMP_MESSAGE_EVENT
            : m->kind == VMIG_QMP_MESSAGE_GREETING)
        abort();

    if (m->kind == VMIG_QMP_MESSAGE_GREETING) {
        g_autofree char *again = NULL;

        if (m->greeting != get_object(object, "QMP") || !m->greeting || !m->hypervisor)
            abort();
        again = vmig_qmp_format_hypervisor(get_object(m->greeting, "version"));
        if (!again || !g_str_equal(again, m->hypervisor) ||
            !g_str_has_prefix(m->hypervisor, "QEMU "))
            abort();
    } else if (m->greeting || m->hypervisor) {
        abort();
    }

    if (m->kind == VMIG_QMP_MESSAGE_EVENT) {
        if (!m->event || m->event != get_string(object, "event") ||
            m->data != get_object(object, "data") ||
            m->timestamp != get_object(object, "timestamp"))
            abort();
    } else if (m->event || m->data || m->timestamp) {
        abort();
    }

    if (m->kind == VMIG_QMP_MESSAGE_RETURN || m->kind == VMIG_QMP_MESSAGE_ERROR ||
        m->kind == VMIG_QMP_MESSAGE_BAD_ERROR) {
        if (m->has_id != json_object_has_member(object, "id") ||
            m->id != get_string(object, "id"))
            abort();
    } else if (m->has_id || m->id) {
        abort();
    }

    if ((m->kind == VMIG_QMP_MESSAGE_RETURN) !=
            (m->ret != NULL && m->ret == json_object_get_member(object, "return")) ||
        (m->kind == VMIG_QMP_MESSAGE_ERROR) != (m->error_class != NULL) ||
        !m->error_class != !m->error_desc)
        abort();
    if (m->kind == VMIG_QMP_MESSAGE_ERROR) {
        JsonObject *err = get_object(object, "error");

        if (m->error_class != get_string(err, "class") ||
            m->error_desc != get_string(err, "desc"))
            abort();
    }

    check_round_trip(m->root);
}

/* Reads @data as the client would in state @greeting. */
static void
run(const char *line, size_t size, gboolean greeting)
{
    VmigQmpMessage m;
    g_autoptr(GError) error = NULL;

    /* A canary: a refused line must leave it as it was. */
    memset(&m, 0, sizeof(m));
    m.kind = VMIG_QMP_MESSAGE_LAST;

    if (!vmig_qmp_message_parse(line, size, greeting, "/fuzz/qmp.sock", &m, &error)) {
        if (!error || error->domain != VMIG_QMP_ERROR ||
            error->code != VMIG_QMP_ERROR_PROTOCOL ||
            !g_str_has_prefix(error->message, "QEMU sent ") ||
            !g_utf8_validate(error->message, -1, NULL))
            abort();
        if (m.kind != VMIG_QMP_MESSAGE_LAST || m.root || m.hypervisor)
            abort();
        return;
    }
    if (error)
        abort();
    check_message(&m, greeting, size);
    vmig_qmp_message_clear(&m);
    if (m.root || m.hypervisor || m.kind != VMIG_QMP_MESSAGE_NONE)
        abort();
}

/* Feed @data to the line classifier.  Returns 0 (libFuzzer's convention). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = size ? (const char *)data : "";

    run(line, size, TRUE);
    run(line, size, FALSE);
    return 0;
}
