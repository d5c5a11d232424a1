/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.c: the tunables catalog as an XML document
 *
 * The document mirrors the wire form (driver/catalog.h) member for member,
 * the way libvirt writes its own XML:
 *
 *   <tunables hypervisor="QEMU 7.2.22 (...)">
 *     <parameter name="max-bandwidth" type="int" unit="bytes/s" settable="yes">
 *       <current>134217728</current>
 *     </parameter>
 *     <parameter name="multifd-compression" type="enum" settable="yes"
 *                negotiated="yes" feature="multifd-compression">
 *       <value>none</value>
 *       <value>zlib</value>
 *       <value>zstd</value>
 *       <current>none</current>
 *     </parameter>
 *     <parameter name="tls-creds" type="string" nullable="yes" settable="yes">
 *       <current></current>
 *     </parameter>
 *     <capability name="x-colo" type="boolean" settable="yes" unstable="yes">
 *       <current>no</current>
 *     </capability>
 *   </tunables>
 *
 * - one element per tunable, named after its kind, in the wire order;
 * - a flag is an attribute set to "yes" when true and absent otherwise,
 *   "unit" and "feature" appear when the wire form has them;
 * - <value> lists an enum's values, and appears for enums only;
 * - <current> holds the current value when there is one: a boolean as
 *   yes/no, a number or string as its text, an array or object as its
 *   compact JSON text, and JSON null as <current null="yes"/>.
 *
 * The wire form is checked as strictly as data/tunables.rng checks the
 * document, so whatever this file accepts produces a valid document.
 * Members this file does not know are ignored (a newer driver may send
 * more).
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-xml"

#include "xml/catalog.h"
#include "xml/xml-private.h"

#include <math.h>
#include <string.h>

/* The kinds of tunable: each one's element has the kind's name. */
typedef enum {
    VMIG_XML_KIND_PARAMETER,
    VMIG_XML_KIND_CAPABILITY,
    VMIG_XML_KIND_LAST
} VmigXmlKind;

static const char *const vmig_xml_kind_names[] = {
    [VMIG_XML_KIND_PARAMETER] = "parameter",
    [VMIG_XML_KIND_CAPABILITY] = "capability",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_xml_kind_names) == VMIG_XML_KIND_LAST);

typedef enum {
    VMIG_XML_TYPE_INT,
    VMIG_XML_TYPE_NUMBER,
    VMIG_XML_TYPE_BOOLEAN,
    VMIG_XML_TYPE_STRING,
    VMIG_XML_TYPE_ENUM,
    VMIG_XML_TYPE_ARRAY,
    VMIG_XML_TYPE_OBJECT,
    VMIG_XML_TYPE_ALTERNATE,
    VMIG_XML_TYPE_ANY,
    VMIG_XML_TYPE_LAST
} VmigXmlType;

/*
 * Each type's name and the JSON values its current value may be; null
 * is also allowed when the tunable is nullable.  An alternate is "of
 * several non-null types" (driver/catalog.h); QAPI's 'any' includes null.
 */
static const struct {
    const char *name;
    guint current; /* VmigXmlJson bits */
} vmig_xml_types[] = {
    [VMIG_XML_TYPE_INT] = {"int", VMIG_XML_JSON_INT},
    [VMIG_XML_TYPE_NUMBER] = {"number", VMIG_XML_JSON_INT | VMIG_XML_JSON_DOUBLE},
    [VMIG_XML_TYPE_BOOLEAN] = {"boolean", VMIG_XML_JSON_BOOLEAN},
    [VMIG_XML_TYPE_STRING] = {"string", VMIG_XML_JSON_STRING},
    [VMIG_XML_TYPE_ENUM] = {"enum", VMIG_XML_JSON_STRING},
    [VMIG_XML_TYPE_ARRAY] = {"array", VMIG_XML_JSON_ARRAY},
    [VMIG_XML_TYPE_OBJECT] = {"object", VMIG_XML_JSON_OBJECT},
    [VMIG_XML_TYPE_ALTERNATE] = {"alternate", VMIG_XML_JSON_NOT_NULL},
    [VMIG_XML_TYPE_ANY] = {"any", VMIG_XML_JSON_NOT_NULL | VMIG_XML_JSON_NULL},
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_xml_types) == VMIG_XML_TYPE_LAST);

/* The units driver/features.c gives parameters (vmig_unit_to_string()). */
static const char *const vmig_xml_units[] = {"bytes", "bytes/s", "ms"};

/*
 * The boolean members, in the order their attributes are written (after
 * name, type and unit; before feature), and whether a capability may
 * carry them.
 */
static const struct {
    const char *member;
    gboolean capability;
} vmig_xml_flags[] = {
    {"nullable", FALSE},  {"settable", TRUE},   {"unstable", TRUE},
    {"deprecated", TRUE}, {"negotiated", TRUE},
};

/* Returns: @name's index in @names (of @n), or -1. */
static int
lookup_name(const char *const *names, gsize n, const char *name)
{
    for (gsize i = 0; i < n; i++) {
        if (g_strcmp0(names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

/* Returns: the type called @name, or VMIG_XML_TYPE_LAST. */
static VmigXmlType
type_from_string(const char *name)
{
    for (int i = 0; i < VMIG_XML_TYPE_LAST; i++) {
        if (strcmp(vmig_xml_types[i].name, name) == 0)
            return i;
    }
    return VMIG_XML_TYPE_LAST;
}

/*
 * Sets INVALID in @error: "tunables catalog: @where: message".
 * Returns: FALSE, for the caller to return.
 */
static gboolean catalog_error(GError **error, const char *where, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean
catalog_error(GError **error, const char *where, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    if (where != NULL)
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID,
                    "tunables catalog: %s: %s", where, message);
    else
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID, "tunables catalog: %s",
                    message);
    return FALSE;
}

/* Checks @text for the catalog document.  Returns: TRUE, or FALSE with @error. */
static gboolean
vmig_xml_check_text_catalog(const char *text, const char *where, const char *what,
                            GError **error)
{
    return vmig_xml_check_text(text, "tunables catalog", where, what, error);
}

/*
 * Reads the optional string member @member of @object into *@value
 * (NULL when absent).  The wire form omits what it lacks, so an empty
 * string is refused.
 * Returns: TRUE, or FALSE with INVALID in @error when it is not a
 * non-empty string XML can hold.
 */
static gboolean
get_string(JsonObject *object, const char *member, const char *where, const char **value,
           GError **error)
{
    JsonNode *node = json_object_get_member(object, member);
    g_autofree char *what = g_strdup_printf("'%s'", member);

    *value = NULL;
    if (node == NULL)
        return TRUE;
    if (vmig_xml_json_kind(node) != VMIG_XML_JSON_STRING)
        return catalog_error(error, where, "'%s' is %s, not a string", member,
                             vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
    *value = json_node_get_string(node);
    if (**value == '\0')
        return catalog_error(error, where, "'%s' is empty", member);
    return vmig_xml_check_text_catalog(*value, where, what, error);
}

/*
 * Reads the optional boolean member @member of @object into *@value
 * (FALSE when absent).
 * Returns: TRUE, or FALSE with INVALID in @error when it is not a boolean.
 */
static gboolean
get_flag(JsonObject *object, const char *member, const char *where, gboolean *value,
         GError **error)
{
    JsonNode *node = json_object_get_member(object, member);

    *value = FALSE;
    if (node == NULL)
        return TRUE;
    if (vmig_xml_json_kind(node) != VMIG_XML_JSON_BOOLEAN)
        return catalog_error(error, where, "'%s' is %s, not a boolean", member,
                             vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
    *value = json_node_get_boolean(node);
    return TRUE;
}

/* Returns: the text of <current> for @node (not null), as a new string. */
static char *
current_text(JsonNode *node)
{
    switch (vmig_xml_json_kind(node)) {
    case VMIG_XML_JSON_INT:
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
    case VMIG_XML_JSON_DOUBLE:
        return vmig_xml_format_double(json_node_get_double(node));
    case VMIG_XML_JSON_BOOLEAN:
        return g_strdup(json_node_get_boolean(node) ? "yes" : "no");
    case VMIG_XML_JSON_STRING:
        return g_strdup(json_node_get_string(node));
    default:
        return json_to_string(node, FALSE);
    }
}

/*
 * Adds <current> for the current value @node of a tunable of type @type
 * to @element.
 * Returns: TRUE, or FALSE with INVALID in @error when the value does not
 * fit the type (or XML).
 */
static gboolean
add_current(xmlNode *element, JsonNode *node, VmigXmlType type, gboolean nullable,
            const char *where, GError **error)
{
    guint kind = vmig_xml_json_kind(node);
    guint allowed = vmig_xml_types[type].current | (nullable ? VMIG_XML_JSON_NULL : 0);
    g_autofree char *text = NULL;
    xmlNode *current;

    if (kind == VMIG_XML_JSON_NULL && (allowed & kind) == 0)
        return catalog_error(error, where, "'current' is null, but it is not nullable");
    if ((allowed & kind) == 0)
        return catalog_error(error, where, "'current' is %s, which type '%s' cannot hold",
                             vmig_xml_json_kind_name(kind), vmig_xml_types[type].name);
    if (kind == VMIG_XML_JSON_NULL) {
        current = xmlNewChild(element, NULL, BAD_CAST "current", NULL);
        xmlNewProp(current, BAD_CAST "null", BAD_CAST "yes");
        return TRUE;
    }
    if (kind == VMIG_XML_JSON_DOUBLE && !isfinite(json_node_get_double(node)))
        return catalog_error(error, where, "'current' is not a finite number");

    text = current_text(node);
    if (!vmig_xml_check_text_catalog(text, where, "'current'", error))
        return FALSE;
    /* xmlNewTextChild() escapes its content; xmlNewChild() would not. */
    xmlNewTextChild(element, NULL, BAD_CAST "current", BAD_CAST text);
    return TRUE;
}

/*
 * Adds an enum's <value> elements from @values (the "values" member) to
 * @element.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_values(xmlNode *element, JsonNode *values, const char *where, GError **error)
{
    JsonArray *array;
    guint n;

    if (vmig_xml_json_kind(values) != VMIG_XML_JSON_ARRAY)
        return catalog_error(error, where, "'values' is %s, not an array",
                             vmig_xml_json_kind_name(vmig_xml_json_kind(values)));
    array = json_node_get_array(values);
    n = json_array_get_length(array);
    if (n == 0)
        return catalog_error(error, where, "'values' is empty");
    for (guint i = 0; i < n; i++) {
        JsonNode *value = json_array_get_element(array, i);
        g_autofree char *what = g_strdup_printf("value #%u", i + 1);

        if (vmig_xml_json_kind(value) != VMIG_XML_JSON_STRING)
            return catalog_error(error, where, "%s is %s, not a string", what,
                                 vmig_xml_json_kind_name(vmig_xml_json_kind(value)));
        if (!vmig_xml_check_text_catalog(json_node_get_string(value), where, what, error))
            return FALSE;
        xmlNewTextChild(element, NULL, BAD_CAST "value",
                        BAD_CAST json_node_get_string(value));
    }
    return TRUE;
}

/*
 * Adds the element for the tunable @node (number @index, from 1, in the
 * wire form) to @root.
 * Returns: TRUE, or FALSE with INVALID in @error naming the problem.
 */
static gboolean
add_tunable(xmlNode *root, JsonNode *node, guint index, GError **error)
{
    g_autofree char *where = g_strdup_printf("tunable #%u", index);
    JsonObject *object;
    const char *name = NULL;
    const char *kind_name = NULL;
    const char *type_name = NULL;
    const char *unit = NULL;
    const char *feature = NULL;
    gboolean flags[G_N_ELEMENTS(vmig_xml_flags)];
    gboolean nullable = FALSE;
    JsonNode *values;
    JsonNode *current;
    VmigXmlType type;
    int kind;
    xmlNode *element;

    if (vmig_xml_json_kind(node) != VMIG_XML_JSON_OBJECT)
        return catalog_error(error, where, "expected an object, got %s",
                             vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
    object = json_node_get_object(node);

    if (!json_object_has_member(object, "name"))
        return catalog_error(error, where, "'name' is missing");
    if (!get_string(object, "name", where, &name, error))
        return FALSE;
    g_free(where);
    where = g_strdup_printf("tunable '%s'", name);

    if (!get_string(object, "kind", where, &kind_name, error))
        return FALSE;
    if (kind_name == NULL)
        return catalog_error(error, where, "'kind' is missing");
    kind = lookup_name(vmig_xml_kind_names, VMIG_XML_KIND_LAST, kind_name);
    if (kind < 0)
        return catalog_error(error, where,
                             "unknown kind '%s' (expected parameter or capability)",
                             kind_name);

    if (!get_string(object, "type", where, &type_name, error))
        return FALSE;
    if (type_name == NULL)
        return catalog_error(error, where, "'type' is missing");
    type = type_from_string(type_name);
    if (type == VMIG_XML_TYPE_LAST)
        return catalog_error(error, where, "unknown type '%s'", type_name);
    if (kind == VMIG_XML_KIND_CAPABILITY && type != VMIG_XML_TYPE_BOOLEAN)
        return catalog_error(error, where, "a capability has type 'boolean', not '%s'",
                             type_name);

    for (gsize i = 0; i < G_N_ELEMENTS(vmig_xml_flags); i++) {
        if (!get_flag(object, vmig_xml_flags[i].member, where, &flags[i], error))
            return FALSE;
        if (flags[i] && kind == VMIG_XML_KIND_CAPABILITY && !vmig_xml_flags[i].capability)
            return catalog_error(error, where, "a capability cannot be '%s'",
                                 vmig_xml_flags[i].member);
        if (strcmp(vmig_xml_flags[i].member, "nullable") == 0)
            nullable = flags[i];
    }

    if (!get_string(object, "unit", where, &unit, error))
        return FALSE;
    if (unit != NULL && kind == VMIG_XML_KIND_CAPABILITY)
        return catalog_error(error, where, "a capability has no unit");
    if (unit != NULL &&
        lookup_name(vmig_xml_units, G_N_ELEMENTS(vmig_xml_units), unit) < 0)
        return catalog_error(error, where,
                             "unknown unit '%s' (expected bytes, bytes/s or ms)", unit);

    if (!get_string(object, "feature", where, &feature, error))
        return FALSE;

    values = json_object_get_member(object, "values");
    if (type == VMIG_XML_TYPE_ENUM && values == NULL)
        return catalog_error(error, where, "an enum needs 'values'");
    if (type != VMIG_XML_TYPE_ENUM && values != NULL)
        return catalog_error(error, where, "'values' belong to enums, not to type '%s'",
                             type_name);

    element = xmlNewChild(root, NULL, BAD_CAST vmig_xml_kind_names[kind], NULL);
    xmlNewProp(element, BAD_CAST "name", BAD_CAST name);
    xmlNewProp(element, BAD_CAST "type", BAD_CAST vmig_xml_types[type].name);
    if (unit != NULL)
        xmlNewProp(element, BAD_CAST "unit", BAD_CAST unit);
    for (gsize i = 0; i < G_N_ELEMENTS(vmig_xml_flags); i++) {
        if (flags[i])
            xmlNewProp(element, BAD_CAST vmig_xml_flags[i].member, BAD_CAST "yes");
    }
    if (feature != NULL)
        xmlNewProp(element, BAD_CAST "feature", BAD_CAST feature);

    if (values != NULL && !add_values(element, values, where, error))
        return FALSE;

    current = json_object_get_member(object, "current");
    if (current != NULL && !add_current(element, current, type, nullable, where, error))
        return FALSE;
    return TRUE;
}

/* See catalog.h. */
xmlDoc *
vmig_xml_catalog_new(JsonObject *catalog, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    const char *hypervisor = NULL;
    JsonNode *node;
    JsonNode *tunables;
    JsonArray *array;
    xmlNode *root;

    g_return_val_if_fail(catalog != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    /*
     * The hypervisor only labels the document: an empty or null one is
     * left out rather than refused, so the tunables can still be shown.
     */
    node = json_object_get_member(catalog, "hypervisor");
    if (node != NULL && vmig_xml_json_kind(node) == VMIG_XML_JSON_STRING &&
        *json_node_get_string(node) == '\0')
        node = NULL;
    if (node != NULL && vmig_xml_json_kind(node) != VMIG_XML_JSON_NULL &&
        !get_string(catalog, "hypervisor", NULL, &hypervisor, error))
        return NULL;
    tunables = json_object_get_member(catalog, "tunables");
    if (tunables == NULL) {
        catalog_error(error, NULL, "'tunables' is missing");
        return NULL;
    }
    if (vmig_xml_json_kind(tunables) != VMIG_XML_JSON_ARRAY) {
        catalog_error(error, NULL, "'tunables' is %s, not an array",
                      vmig_xml_json_kind_name(vmig_xml_json_kind(tunables)));
        return NULL;
    }
    array = json_node_get_array(tunables);

    doc = xmlNewDoc(BAD_CAST "1.0");
    root = xmlNewDocNode(doc, NULL, BAD_CAST "tunables", NULL);
    xmlDocSetRootElement(doc, root);
    if (hypervisor != NULL)
        xmlNewProp(root, BAD_CAST "hypervisor", BAD_CAST hypervisor);

    for (guint i = 0; i < json_array_get_length(array); i++) {
        if (!add_tunable(root, json_array_get_element(array, i), i + 1, error))
            return NULL;
    }
    return g_steal_pointer(&doc);
}

/* See catalog.h. */
char *
vmig_xml_catalog_format(JsonObject *catalog, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;

    g_return_val_if_fail(catalog != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    doc = vmig_xml_catalog_new(catalog, error);
    if (doc == NULL)
        return NULL;
    return vmig_xml_format(doc, error);
}
