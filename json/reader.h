/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reader.h: JSON from outside bytes, with the bounds every reader needs
 *
 * json-glib's parser recurses once per nesting level, so a line of a
 * hundred thousand '[' overflows the stack, and it silently ignores a
 * second value after the first ('{} {}').  Every reader of JSON that
 * comes from outside the daemon — control-socket clients, QEMU monitors,
 * libvirt's monitor passthrough, the daemon's answers to the CLI — goes
 * through vmig_json_parse(), which refuses both before json-glib sees the
 * text.  The bound is QEMU's own (its JSON lexer stops at 1024 levels).
 * json-glib also reads escapes JSON does not have, and reads them into
 * strings that are not what they say: "\a" is "a", "\0" and "\u0000" cut
 * the string short, "\udc0-" and half a surrogate pair ("\ud800x") become
 * bytes that are not UTF-8, which the daemon would then pass on to every
 * client.  Every escape is checked too, as QEMU's parser checks them.  And
 * json-glib wraps integers past 64 bits round (2^64 + 1 reads as 1) and
 * reads numbers past a double as infinity (written back as "inf.0", not
 * JSON): both are refused.  It takes comments and 'single-quoted strings'
 * too, inside which a quote or a bracket would hide from the depth bound:
 * outside strings, only JSON's own characters are taken.
 */
#pragma once

#include <json-glib/json-glib.h>

/* Nesting levels ('[' or '{') a document may have; QEMU's limit too. */
#define VMIG_JSON_MAX_DEPTH 1024

#define VMIG_JSON_ERROR (vmig_json_error_quark())
GQuark vmig_json_error_quark(void);

typedef enum {
    VMIG_JSON_ERROR_SYNTAX,    /* json-glib refused it (its message) */
    VMIG_JSON_ERROR_DEPTH,     /* nested deeper than VMIG_JSON_MAX_DEPTH */
    VMIG_JSON_ERROR_TRAILING,  /* something after the first value */
    VMIG_JSON_ERROR_NUL,       /* a NUL byte, or a \u0000 escape */
    VMIG_JSON_ERROR_EMPTY,     /* nothing but white space */
    VMIG_JSON_ERROR_ESCAPE,    /* an escape JSON does not have, half a surrogate pair */
    VMIG_JSON_ERROR_NUMBER,    /* an integer past 64 bits, a number past a double */
    VMIG_JSON_ERROR_CHARACTER, /* outside strings, one JSON does not have */
    VMIG_JSON_ERROR_LAST
} VmigJsonErrorCode;

/*
 * vmig_json_parse:
 * @text: the bytes, not necessarily NUL-terminated
 * @len: their length, or -1 when @text is NUL-terminated
 *
 * Parses exactly one JSON value (white space around it allowed), nested
 * at most VMIG_JSON_MAX_DEPTH levels.  Messages name the problem and are
 * valid UTF-8; only json-glib's own (SYNTAX) quote a token of @text, made
 * valid UTF-8: the caller knows how much of the rest is fit to show.
 * Returns: the value (a new node), or NULL with @error set.
 */
JsonNode *vmig_json_parse(const char *text, gssize len, GError **error);
