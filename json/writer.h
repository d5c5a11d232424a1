/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer.h: JSON text for readers outside the process
 *
 * json-glib 1.6 escapes every control character in a string as RFC 8259
 * asks, but one: U+001F, which it writes raw.  And it writes a double
 * whose shortest form has an exponent but no '.' as "1e+20.0".  Strict
 * readers then refuse the whole text: Python's json module (management
 * apps), jq (the CLI's --json output), QEMU (which answers such a command
 * with an error that carries no id, and the QMP client drops the
 * connection); json-glib itself refuses the second.  Every writer
 * of JSON that leaves the process goes through vmig_json_write(): the
 * daemon's control lines, its commands to QEMU and through libvirt, the
 * handshake's tunable values, D-Bus properties, the CLI's commands and
 * output.
 */
#pragma once

#include <json-glib/json-glib.h>

/*
 * vmig_json_write:
 * @node: the value
 * @pretty: FALSE: on one line, with no white space; TRUE: indented by two
 *          spaces, for people (no final newline either way)
 * @length: (out) (optional): the text's length
 * Returns: the JSON text of @node (NUL-terminated, to free).
 */
char *vmig_json_write(JsonNode *node, gboolean pretty, gsize *length);
