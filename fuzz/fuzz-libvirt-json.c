/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-libvirt-json.c: libFuzzer target for libvirt's monitor-passthrough
 * answers (driver/libvirt.c, vmig_libvirt_parse_monitor_reply())
 *
 * The input is the text virDomainQemuMonitorCommand() hands back: a C
 * string, so it ends at its first NUL byte.  It is read as the answer to
 * each command the driver sends through libvirt; the answer to
 * query-version also goes through the hypervisor string formatter, as
 * vmig_libvirt_introspect() does.  The same text is then read as a
 * "libvirt:URI#NAME" domain (vmig_libvirt_parse_domain()).
 *
 * Invariants (abort() on violation): an answer is accepted exactly when it
 * is a JSON object with "return" and without "error", and the object
 * handed back is that answer; a refusal is a MONITOR error that names the
 * command; an accepted domain splits at its first '#' into a non-empty
 * URI and name that format back to the text.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver/hypervisor.h"
#include "driver/libvirt.h"
#include "driver/qmp.h"
#include "json/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the driver sends through libvirt's monitor passthrough. */
static const char *const commands[] = {
    "query-version",
    "query-qmp-schema",
    "query-migrate-parameters",
    "query-migrate-capabilities",
};

/* Reads @text as libvirt's answer to @command. */
static void
read_answer(const char *command, const char *text, JsonNode *expected)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) reply = vmig_libvirt_parse_monitor_reply(command, text, &error);
    JsonObject *object = expected && JSON_NODE_HOLDS_OBJECT(expected)
                             ? json_node_get_object(expected)
                             : NULL;
    gboolean acceptable = object && json_object_has_member(object, "return") &&
                          !json_object_has_member(object, "error");

    if (!reply) {
        if (acceptable || !error || error->domain != VMIG_LIBVIRT_ERROR ||
            error->code != VMIG_LIBVIRT_ERROR_MONITOR ||
            !g_str_has_prefix(error->message, command))
            abort();
        return;
    }
    if (error || !acceptable || !json_object_equal(reply, object))
        abort();

    if (g_str_equal(command, "query-version")) {
        JsonNode *ret = json_object_get_member(reply, "return");
        g_autofree char *hypervisor = vmig_qmp_format_hypervisor(
            JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL);

        if (hypervisor && !g_str_has_prefix(hypervisor, "QEMU "))
            abort();
    }
}

/* Reads @text as a libvirt domain string. */
static void
read_domain(const char *text)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *name = NULL;
    g_autofree char *again = NULL;

    if (!vmig_libvirt_parse_domain(text, &uri, &name, &error)) {
        if (!error || error->domain != VMIG_HYPERVISOR_ERROR ||
            error->code != VMIG_HYPERVISOR_ERROR_DOMAIN || uri || name)
            abort();
        return;
    }
    if (error || !vmig_libvirt_is_domain(text) || !*uri || !*name || strchr(uri, '#'))
        abort();
    again = vmig_libvirt_format_domain(uri, name);
    if (!g_str_equal(again, text))
        abort();
}

/* Feed @data to the passthrough reader.  Returns 0 (libFuzzer's convention). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    g_autoptr(JsonNode) expected = vmig_json_parse(text, -1, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        read_answer(commands[i], text, expected);
    read_domain(text);
    return 0;
}
