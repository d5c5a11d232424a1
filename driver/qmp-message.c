/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp-message.c: one line from QEMU's monitor, read: JSON (through
 * json/reader.h), then what it is (greeting, reply, event) and what it
 * carries.  Pure: no connection, no I/O, so that the client (qmp.c) and
 * fuzz/fuzz-qmp.c run the same code.  The contract is qmp.h.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-qmp"

#include "driver/qmp.h"

#include <string.h>

#include "json/reader.h"

/* How much of a bad line an error message quotes. */
#define VMIG_QMP_QUOTE_MAX 80

/*
 * Quote what a peer sent for an error message: printable ASCII as it is,
 * any other byte as \xHH, cut after 80 bytes.
 * Returns: the quoted text (newly allocated).
 */
char *
vmig_qmp_quote(const char *data, gsize len)
{
    GString *quoted = g_string_new(NULL);
    gsize i;

    for (i = 0; i < len && i < VMIG_QMP_QUOTE_MAX; i++) {
        guchar c = (guchar)data[i];

        if (c >= 0x20 && c < 0x7f && c != '\\')
            g_string_append_c(quoted, (char)c);
        else
            g_string_append_printf(quoted, "\\x%02x", c);
    }
    if (len > VMIG_QMP_QUOTE_MAX)
        g_string_append(quoted, "...");
    return g_string_free(quoted, FALSE);
}

/* Returns: the integer member @name of @object, or FALSE when it is not one. */
static gboolean
vmig_qmp_get_int(JsonObject *object, const char *name, gint64 *value)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64)
        return FALSE;
    *value = json_node_get_int(node);
    return TRUE;
}

/* Returns: the object member @name of @object (borrowed), or NULL. */
static JsonObject *
vmig_qmp_get_object(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_OBJECT(node))
        return NULL;
    return json_node_get_object(node);
}

/* Returns: the string member @name of @object (borrowed), or NULL. */
static const char *
vmig_qmp_get_string(JsonObject *object, const char *name)
{
    JsonNode *node = object ? json_object_get_member(object, name) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

char *
vmig_qmp_format_hypervisor(JsonObject *version)
{
    JsonObject *qemu = vmig_qmp_get_object(version, "qemu");
    const char *pkg = vmig_qmp_get_string(version, "package");
    g_autofree char *package = g_strstrip(g_strdup(pkg ? pkg : ""));
    gint64 major, minor, micro;

    if (!qemu || !vmig_qmp_get_int(qemu, "major", &major) ||
        !vmig_qmp_get_int(qemu, "minor", &minor) ||
        !vmig_qmp_get_int(qemu, "micro", &micro))
        return NULL;
    if (*package)
        return g_strdup_printf("QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                               ".%" G_GINT64_FORMAT " (%s)",
                               major, minor, micro, package);
    return g_strdup_printf("QEMU %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                           ".%" G_GINT64_FORMAT,
                           major, minor, micro);
}

/* One name a line: keep clang-format from packing the table. */
/* clang-format off */
static const char *const vmig_qmp_message_kind_names[] = {
    [VMIG_QMP_MESSAGE_NONE] = "none",
    [VMIG_QMP_MESSAGE_GREETING] = "greeting",
    [VMIG_QMP_MESSAGE_RETURN] = "return",
    [VMIG_QMP_MESSAGE_ERROR] = "error",
    [VMIG_QMP_MESSAGE_BAD_ERROR] = "bad-error",
    [VMIG_QMP_MESSAGE_EVENT] = "event",
};
/* clang-format on */
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_qmp_message_kind_names) == VMIG_QMP_MESSAGE_LAST);

const char *
vmig_qmp_message_kind_to_string(VmigQmpMessageKind kind)
{
    if ((guint)kind >= VMIG_QMP_MESSAGE_LAST)
        return NULL;
    return vmig_qmp_message_kind_names[kind];
}

void
vmig_qmp_message_clear(VmigQmpMessage *message)
{
    g_clear_pointer(&message->root, json_node_unref);
    g_free(message->hypervisor);
    memset(message, 0, sizeof(*message));
}

/* Sets PROTOCOL in @error: @what, then the line quoted.  Returns: FALSE. */
static gboolean
vmig_qmp_message_fail(const char *line, gsize len, const char *path, const char *what,
                      GError **error)
{
    g_autofree char *quoted = vmig_qmp_quote(line, len);

    g_set_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL,
                "QEMU sent %s on '%s': %s", what, path, quoted);
    return FALSE;
}

gboolean
vmig_qmp_message_parse(const char *line, gsize len, gboolean greeting, const char *path,
                       VmigQmpMessage *message, GError **error)
{
    g_auto(VmigQmpMessage) m = {0};
    g_autoptr(GError) local = NULL;
    JsonObject *object;
    JsonObject *err;
    JsonNode *caps;

    g_return_val_if_fail(line != NULL || len == 0, FALSE);
    g_return_val_if_fail(message != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    if (!path)
        path = "(none)";
    if (len > 0 && line[len - 1] == '\r')
        len--;
    m.kind = VMIG_QMP_MESSAGE_NONE;
    m.len = len;
    if (len == 0) {
        *message = m;
        memset(&m, 0, sizeof(m));
        return TRUE;
    }
    if (g_utf8_validate(line, (gssize)MIN(len, 1024), NULL)) {
        g_debug("<- %.*s", (int)MIN(len, 1024), line);
    } else {
        g_autofree char *quoted = vmig_qmp_quote(line, len);

        g_debug("<- %s", quoted);
    }

    m.root = vmig_json_parse(line, (gssize)len, &local);
    if (!m.root) {
        g_autofree char *quoted = vmig_qmp_quote(line, len);

        g_set_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL,
                    "QEMU sent something that is not JSON on '%s' (%s): %s", path,
                    local->message, quoted);
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_OBJECT(m.root))
        return vmig_qmp_message_fail(line, len, path, "JSON that is not an object",
                                     error);
    object = json_node_get_object(m.root);

    /*
     * QEMU 7.2 can send an event before the greeting: its monitor still
     * broadcasts to the session of the client before us until its I/O
     * thread has greeted us (seen in 2 % of connections made while the
     * guest stops and resumes, tests/test-qmp.c).  That event is real.
     */
    if (greeting && !json_object_has_member(object, "event")) {
        m.greeting = vmig_qmp_get_object(object, "QMP");
        caps = m.greeting ? json_object_get_member(m.greeting, "capabilities") : NULL;
        m.hypervisor =
            vmig_qmp_format_hypervisor(vmig_qmp_get_object(m.greeting, "version"));
        if (!m.hypervisor || !caps || !JSON_NODE_HOLDS_ARRAY(caps)) {
            g_autofree char *quoted = vmig_qmp_quote(line, len);

            g_set_error(error, VMIG_QMP_ERROR, VMIG_QMP_ERROR_PROTOCOL,
                        "QEMU sent no QMP greeting on '%s' but: %s", path, quoted);
            return FALSE;
        }
        m.kind = VMIG_QMP_MESSAGE_GREETING;
    } else if (json_object_has_member(object, "event")) {
        m.event = vmig_qmp_get_string(object, "event");
        if (!m.event)
            return vmig_qmp_message_fail(line, len, path, "an event without a name",
                                         error);
        m.data = vmig_qmp_get_object(object, "data");
        m.timestamp = vmig_qmp_get_object(object, "timestamp");
        m.kind = VMIG_QMP_MESSAGE_EVENT;
    } else if (json_object_has_member(object, "return") ||
               json_object_has_member(object, "error")) {
        m.has_id = json_object_has_member(object, "id");
        m.id = vmig_qmp_get_string(object, "id");
        m.ret = json_object_get_member(object, "return");
        if (m.ret) {
            m.kind = VMIG_QMP_MESSAGE_RETURN;
        } else {
            err = vmig_qmp_get_object(object, "error");
            m.error_class = vmig_qmp_get_string(err, "class");
            m.error_desc = vmig_qmp_get_string(err, "desc");
            m.kind = VMIG_QMP_MESSAGE_ERROR;
            if (!m.error_class || !m.error_desc) {
                m.error_class = NULL;
                m.error_desc = NULL;
                m.kind = VMIG_QMP_MESSAGE_BAD_ERROR;
            }
        }
    } else {
        return vmig_qmp_message_fail(line, len, path, "an unexpected message", error);
    }
    /* Handed over whole: @message is untouched on failure. */
    *message = m;
    memset(&m, 0, sizeof(m));
    return TRUE;
}
