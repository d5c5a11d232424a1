/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xml.c: the error domain, safe parsing, RelaxNG validation, and the one
 * place where libxml2's errors become GErrors
 *
 * libxml2 reports errors through handlers held per thread, and the
 * default ones print to stderr.  Every call into libxml2 that can fail
 * runs inside a capture (capture_begin() ... capture_end()): the thread's
 * handlers are pointed at the capture, which keeps the first error and
 * swallows the rest, and the previous handlers are put back afterwards,
 * so a caller's own handlers (and other threads) are left alone.
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-xml"

#include "xml/xml-private.h"

#include <limits.h>
#include <stdarg.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-xml-error-quark, vmig_xml_error)
/* clang-format on */

/*
 * No network, and none of NOENT (substitute entities), DTDLOAD, DTDATTR
 * or DTDVALID: without them libxml2 loads neither an external DTD nor an
 * external entity, so a document cannot make us read a file.  BIG_LINES
 * keeps line numbers in errors right past line 65535.
 */
#define VMIG_XML_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_BIG_LINES)

typedef struct {
    gboolean active;
    char *message;    /* the first error's message, without its newline */
    char *file;       /* the file it was found in, when libxml2 says */
    int line;         /* its line, or 0 when unknown */
    char *element;    /* "<parameter name='x'>" for a validation error, or NULL */
    GString *generic; /* whatever came through the unstructured channel */
    xmlStructuredErrorFunc saved_structured;
    void *saved_structured_data;
    xmlGenericErrorFunc saved_generic;
    void *saved_generic_data;
} VmigXmlCapture;

/* Describes the element @node for an error message. Returns: a new string. */
static char *
describe_element(xmlNode *node)
{
    g_autofree char *name = NULL;
    xmlChar *attr;

    attr = xmlGetNoNsProp(node, BAD_CAST "name");
    if (attr == NULL)
        return g_strdup_printf("<%s>", (const char *)node->name);
    name = g_strdup((const char *)attr);
    xmlFree(attr);
    return g_strdup_printf("<%s name='%s'>", (const char *)node->name, name);
}

/* libxml2's structured error handler: keeps the first error. Returns: nothing. */
static void
capture_structured(void *data, xmlErrorPtr err)
{
    VmigXmlCapture *capture = data;
    xmlNode *node;

    if (err == NULL || err->level < XML_ERR_ERROR || capture->message != NULL)
        return;
    capture->message = g_strdup(err->message != NULL ? err->message : "unknown error");
    /* Some messages come on two lines ("... encoding !\nBytes: 0xFF ..."). */
    g_strdelimit(g_strstrip(capture->message), "\n", ' ');
    capture->file = g_strdup(err->file);
    capture->line = err->line;
    node = err->node;
    if (node != NULL && node->type == XML_ELEMENT_NODE && node->name != NULL) {
        capture->element = describe_element(node);
        if (capture->line <= 0)
            capture->line = (int)xmlGetLineNo(node);
    }
}

/*
 * libxml2's generic error handler: a few places still print through it
 * (in pieces); keep the text, in case nothing structured arrives.
 * Returns: nothing.
 */
static void capture_generic(void *data, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
capture_generic(void *data, const char *format, ...)
{
    VmigXmlCapture *capture = data;
    va_list args;

    va_start(args, format);
    g_string_append_vprintf(capture->generic, format, args);
    va_end(args);
}

/* Points this thread's libxml2 error handlers at @capture. Returns: nothing. */
static void
capture_begin(VmigXmlCapture *capture)
{
    g_assert(!capture->active);
    capture->active = TRUE;
    if (capture->generic == NULL)
        capture->generic = g_string_new(NULL);
    capture->saved_structured = xmlStructuredError;
    capture->saved_structured_data = xmlStructuredErrorContext;
    capture->saved_generic = xmlGenericError;
    capture->saved_generic_data = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(capture, capture_structured);
    xmlSetGenericErrorFunc(capture, capture_generic);
}

/* Puts back the handlers capture_begin() replaced. Returns: nothing. */
static void
capture_end(VmigXmlCapture *capture)
{
    g_assert(capture->active);
    capture->active = FALSE;
    xmlSetStructuredErrorFunc(capture->saved_structured_data, capture->saved_structured);
    xmlSetGenericErrorFunc(capture->saved_generic_data, capture->saved_generic);
}

/*
 * Forgets what @capture holds, putting the handlers back first if need be.
 * Returns: nothing.
 */
static void
capture_clear(VmigXmlCapture *capture)
{
    if (capture->active)
        capture_end(capture);
    g_clear_pointer(&capture->message, g_free);
    g_clear_pointer(&capture->file, g_free);
    g_clear_pointer(&capture->element, g_free);
    capture->line = 0;
    if (capture->generic != NULL)
        g_string_free(g_steal_pointer(&capture->generic), TRUE);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigXmlCapture, capture_clear)

/* Returns: TRUE when @capture holds an error. */
static gboolean
capture_failed(const VmigXmlCapture *capture)
{
    return capture->message != NULL;
}

/*
 * Renders the captured error as "FILE:LINE: <element>: message" with the
 * parts that are known (@fallback when libxml2 said nothing at all).
 * Returns: a new string.
 */
static char *
capture_describe(const VmigXmlCapture *capture, const char *fallback)
{
    GString *out = g_string_new(NULL);

    if (capture->message == NULL) {
        g_autofree char *generic = NULL;

        if (capture->generic != NULL)
            generic = g_strstrip(g_strdup(capture->generic->str));
        g_string_append(out, generic != NULL && *generic ? generic : fallback);
        return g_string_free(out, FALSE);
    }
    if (capture->file != NULL && capture->line > 0)
        g_string_append_printf(out, "%s:%d: ", capture->file, capture->line);
    else if (capture->file != NULL)
        g_string_append_printf(out, "%s: ", capture->file);
    else if (capture->line > 0)
        g_string_append_printf(out, "line %d: ", capture->line);
    if (capture->element != NULL)
        g_string_append_printf(out, "%s: ", capture->element);
    g_string_append(out, capture->message);
    return g_string_free(out, FALSE);
}

/* See xml-private.h. */
xmlDoc *
vmig_xml_parse(const char *data, gsize len, const char *what, GError **error)
{
    g_auto(VmigXmlCapture) capture = {0};
    g_autoptr(xmlDoc) doc = NULL;

    g_return_val_if_fail(data != NULL || len == 0, NULL);
    g_return_val_if_fail(what != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    /* libxml2 returns NULL for an empty buffer without saying why. */
    if (len == 0) {
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_PARSE,
                    "%s: the document is empty", what);
        return NULL;
    }
    if (len > INT_MAX) {
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_PARSE,
                    "%s: the document is too large (%" G_GSIZE_FORMAT " bytes)", what,
                    len);
        return NULL;
    }

    capture_begin(&capture);
    doc = xmlReadMemory(data, (int)len, NULL, NULL, VMIG_XML_PARSE_OPTIONS);
    capture_end(&capture);

    /*
     * A namespace error (an undeclared prefix) leaves a document behind
     * with only an error reported: that is not well-formed XML either.
     */
    if (doc == NULL || capture_failed(&capture)) {
        g_autofree char *why = capture_describe(&capture, "not well-formed");

        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_PARSE, "%s: %s", what, why);
        return NULL;
    }
    return g_steal_pointer(&doc);
}

/* Returns: TRUE when XML 1.0's Char production allows @c. */
static gboolean
is_xml_char(gunichar c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* See xml-private.h. */
gboolean
vmig_xml_text_is_valid(const char *str, gunichar *bad)
{
    g_return_val_if_fail(str != NULL, FALSE);

    if (!g_utf8_validate(str, -1, NULL)) {
        if (bad != NULL)
            *bad = 0xFFFD;
        return FALSE;
    }
    for (const char *p = str; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);

        if (!is_xml_char(c)) {
            if (bad != NULL)
                *bad = c;
            return FALSE;
        }
    }
    return TRUE;
}

/* See xml.h. */
gboolean
vmig_xml_validate(xmlDoc *doc, const char *rng_path, GError **error)
{
    g_auto(VmigXmlCapture) capture = {0};
    g_autoptr(xmlRelaxNGParserCtxt) parser = NULL;
    g_autoptr(xmlRelaxNG) schema = NULL;
    g_autoptr(xmlRelaxNGValidCtxt) validator = NULL;
    g_autofree char *why = NULL;
    int rc;

    g_return_val_if_fail(doc != NULL, FALSE);
    g_return_val_if_fail(rng_path != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    capture_begin(&capture);
    parser = xmlRelaxNGNewParserCtxt(rng_path);
    if (parser != NULL) {
        xmlRelaxNGSetParserStructuredErrors(parser, capture_structured, &capture);
        schema = xmlRelaxNGParse(parser);
    }
    capture_end(&capture);
    if (schema == NULL) {
        why = capture_describe(&capture, "unusable schema");
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA,
                    "cannot load RelaxNG schema '%s': %s", rng_path, why);
        return FALSE;
    }
    /* Warnings while loading are not the document's problem. */
    capture_clear(&capture);

    capture_begin(&capture);
    validator = xmlRelaxNGNewValidCtxt(schema);
    if (validator != NULL) {
        xmlRelaxNGSetValidStructuredErrors(validator, capture_structured, &capture);
        rc = xmlRelaxNGValidateDoc(validator, doc);
    } else {
        rc = -1;
    }
    capture_end(&capture);
    if (rc != 0) {
        why = capture_describe(&capture, rc > 0 ? "invalid document" : "internal error");
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_SCHEMA,
                    "document does not match schema '%s': %s", rng_path, why);
        return FALSE;
    }
    return TRUE;
}

/* See xml-private.h. */
char *
vmig_xml_format(xmlDoc *doc, GError **error)
{
    g_auto(VmigXmlCapture) capture = {0};
    xmlChar *buf = NULL;
    int size = 0;
    char *text;

    g_return_val_if_fail(doc != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    capture_begin(&capture);
    xmlDocDumpFormatMemoryEnc(doc, &buf, &size, "UTF-8", 1);
    capture_end(&capture);
    if (buf == NULL || capture_failed(&capture)) {
        g_autofree char *why = capture_describe(&capture, "out of memory");

        xmlFree(buf);
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID,
                    "cannot serialize the document: %s", why);
        return NULL;
    }
    /* xmlFree() and g_free() need not be the same allocator. */
    text = g_strndup((const char *)buf, size);
    xmlFree(buf);
    return text;
}

/* Returns: what @node is, as one VmigXmlJson bit (0 for a value of no JSON type). */
guint
vmig_xml_json_kind(JsonNode *node)
{
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_NULL:
        return VMIG_XML_JSON_NULL;
    case JSON_NODE_ARRAY:
        return VMIG_XML_JSON_ARRAY;
    case JSON_NODE_OBJECT:
        return VMIG_XML_JSON_OBJECT;
    case JSON_NODE_VALUE:
        break;
    }
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        return VMIG_XML_JSON_INT;
    case G_TYPE_DOUBLE:
        return VMIG_XML_JSON_DOUBLE;
    case G_TYPE_BOOLEAN:
        return VMIG_XML_JSON_BOOLEAN;
    case G_TYPE_STRING:
        return VMIG_XML_JSON_STRING;
    default:
        return 0;
    }
}

/* Returns: how an error message names a JSON value of kind @kind. */
const char *
vmig_xml_json_kind_name(guint kind)
{
    switch (kind) {
    case VMIG_XML_JSON_NULL:
        return "null";
    case VMIG_XML_JSON_INT:
        return "an integer";
    case VMIG_XML_JSON_DOUBLE:
        return "a number";
    case VMIG_XML_JSON_BOOLEAN:
        return "a boolean";
    case VMIG_XML_JSON_STRING:
        return "a string";
    case VMIG_XML_JSON_ARRAY:
        return "an array";
    case VMIG_XML_JSON_OBJECT:
        return "an object";
    default:
        return "a value of no JSON type";
    }
}

/* Returns: TRUE when @text can go into a document, else FALSE with INVALID in @error. */
gboolean
vmig_xml_check_text(const char *text, const char *document, const char *where,
                    const char *what, GError **error)
{
    g_autofree char *problem = NULL;
    gunichar bad = 0;

    if (vmig_xml_text_is_valid(text, &bad))
        return TRUE;
    if (bad == 0xFFFD) /* a character XML can hold: the bytes are not UTF-8 */
        problem = g_strdup_printf("%s is not UTF-8", what);
    else
        problem =
            g_strdup_printf("%s holds U+%04X, which XML cannot represent", what, bad);
    if (where)
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID, "%s: %s: %s", document,
                    where, problem);
    else
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID, "%s: %s", document,
                    problem);
    return FALSE;
}

/* Returns: @value in as few digits as read back the same (a new string). */
char *
vmig_xml_format_double(double value)
{
    static const char *const formats[] = {"%.15g", "%.16g", "%.17g"};
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    for (gsize i = 0; i < G_N_ELEMENTS(formats); i++) {
        g_ascii_formatd(buf, sizeof(buf), formats[i], value);
        if (g_ascii_strtod(buf, NULL) == value)
            break;
    }
    return g_strdup(buf);
}
