/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * record.c: a migration's negotiation record as an XML document
 *
 * The document mirrors the wire form (query-migration, docs/migration.md)
 * member for member, the way xml/catalog.c writes the tunables catalog:
 *
 *   <migration id="m1" role="source" state="completed" mode="uri"
 *              result="completed">
 *     <domain>qmp:/run/vm1.qmp</domain>
 *     <peer>unix:/run/vmig-dst.sock</peer>
 *     <protocol version="1"/>
 *     <hypervisor>QEMU 7.2.22 (...)</hypervisor>
 *     <peer-hypervisor>QEMU 7.2.22 (...)</peer-hypervisor>
 *     <driver>virt-migrate 0.1.0</driver>
 *     <peer-driver>virt-migrate 0.1.0</peer-driver>
 *     <offered side="source">
 *       <version>1</version>
 *       <feature name="multifd" channels="4"/>
 *       <feature name="multifd-compression">
 *         <algorithm>zstd</algorithm>
 *       </feature>
 *       <feature name="return-path" required="yes"/>
 *     </offered>
 *     <offered side="destination">...</offered>
 *     <features>
 *       <feature name="multifd" channels="2">
 *         <reason>offered by both; 2 of 4 channels supplied</reason>
 *       </feature>
 *     </features>
 *     <declined>
 *       <feature name="postcopy-ram">
 *         <reason>forbidden by the source (--no-feature)</reason>
 *       </feature>
 *     </declined>
 *     <channels requested="4" received="2"/>
 *     <tunables side="source">
 *       <tunable name="max-bandwidth">1073741824</tunable>
 *     </tunables>
 *     <tunables side="destination">...</tunables>
 *     <handshake bytes-sent="512" bytes-received="430" milliseconds="3"/>
 *     <error>...</error>
 *   </migration>
 *
 * - the scalars that say what the migration is (id, role, state, mode,
 *   result) are attributes of the root; the texts are elements;
 * - an element or attribute is there when the wire form has its member,
 *   so a record from before the handshake gives a short document, and an
 *   empty "features" (nothing chosen) an empty <features/>;
 * - a flag is an attribute set to "yes" when true and absent otherwise;
 * - the sides come in a fixed order, source first, whatever the JSON order;
 * - a tunable's value is written as xml/catalog.c writes <current>: a
 *   boolean as yes/no, a number or string as its text, an array or object
 *   as its compact JSON text, and JSON null as null="yes".
 *
 * The wire form is checked as strictly as data/record.rng checks the
 * document, so whatever this file accepts produces a valid document.
 * Members this file does not know are ignored (a newer driver may send
 * more).
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-xml"

#include "xml/record.h"
#include "xml/xml-private.h"

#include <math.h>
#include <string.h>

/* The values of the root's enumerated attributes (docs/migration.md). */
static const char *const vmig_xml_record_roles[] = {"source", "destination", NULL};
static const char *const vmig_xml_record_states[] = {
    "introspecting", "connecting", "waiting",    "negotiating", "collecting",
    "committing",    "migrating",  "switchover", "completed",   "failed",
    "cancelled",     "unknown",    "refused",    NULL,
};
static const char *const vmig_xml_record_modes[] = {"uri", "fd", NULL};
static const char *const vmig_xml_record_results[] = {"completed", "failed",  "cancelled",
                                                      "unknown",   "refused", NULL};
/* Whose switchover applied. */
static const char *const vmig_xml_record_switchovers[] = {"virt-migrate", "libvirt",
                                                          NULL};

/*
 * The attributes of <migration>, in the order they are written: each
 * one's member, whether the record must have it, and its values (NULL:
 * an identifier, letters, digits and _).
 */
static const struct {
    const char *member;
    const char *attribute;
    gboolean required;
    const char *const *values;
} vmig_xml_record_attributes[] = {
    {"migration", "id", TRUE, NULL},
    {"role", "role", TRUE, vmig_xml_record_roles},
    {"state", "state", TRUE, vmig_xml_record_states},
    {"mode", "mode", FALSE, vmig_xml_record_modes},
    {"result", "result", FALSE, vmig_xml_record_results},
};

/* The two sides, in the order their elements are written. */
static const char *const vmig_xml_record_sides[] = {"source", "destination"};

/* A count: an attribute of an element, checked against its range. */
typedef struct {
    const char *member; /* also the attribute's name */
    gint64 min;
    gint64 max;
} VmigXmlRecordCount;

/* The protocol versions of the handshake are u32 and never 0. */
#define VMIG_XML_RECORD_VERSION_MAX G_GINT64_CONSTANT(4294967295)
/* Channel counts travel as u16. */
#define VMIG_XML_RECORD_CHANNELS_MAX 65535

static const VmigXmlRecordCount vmig_xml_record_channel_counts[] = {
    {"requested", 0, VMIG_XML_RECORD_CHANNELS_MAX},
    {"received", 0, VMIG_XML_RECORD_CHANNELS_MAX},
};

static const VmigXmlRecordCount vmig_xml_record_handshake_counts[] = {
    {"bytes-sent", 0, G_MAXINT64},
    {"bytes-received", 0, G_MAXINT64},
    {"milliseconds", 0, G_MAXINT64},
};

/*
 * Sets INVALID in @error: "negotiation record: @where: message" (no
 * @where: "negotiation record: message").
 * Returns: FALSE, for the caller to return.
 */
static gboolean record_error(GError **error, const char *where, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean
record_error(GError **error, const char *where, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    if (where != NULL)
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID,
                    "negotiation record: %s: %s", where, message);
    else
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID,
                    "negotiation record: %s", message);
    return FALSE;
}

/* Checks @text for the record document.  Returns: TRUE, or FALSE with @error. */
static gboolean
vmig_xml_check_text_record(const char *text, const char *where, const char *what,
                           GError **error)
{
    return vmig_xml_check_text(text, "negotiation record", where, what, error);
}

/*
 * Checks that @node (@what, e.g. "'domain'" or "algorithm #2") is a
 * non-empty string XML can hold.
 * Returns: the string (borrowed), or NULL with INVALID in @error.
 */
static const char *
get_string_node(JsonNode *node, const char *what, const char *where, GError **error)
{
    const char *value;

    if (vmig_xml_json_kind(node) != VMIG_XML_JSON_STRING) {
        record_error(error, where, "%s is %s, not a string", what,
                     vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
        return NULL;
    }
    value = json_node_get_string(node);
    if (*value == '\0') {
        record_error(error, where, "%s is empty", what);
        return NULL;
    }
    if (!vmig_xml_check_text_record(value, where, what, error))
        return NULL;
    return value;
}

/*
 * Reads the string member @member of @object into *@value (NULL when
 * absent and not @required).
 * Returns: TRUE, or FALSE with INVALID in @error when it is missing but
 * @required, or not a non-empty string XML can hold.
 */
static gboolean
get_string(JsonObject *object, const char *member, gboolean required, const char *where,
           const char **value, GError **error)
{
    JsonNode *node = json_object_get_member(object, member);
    g_autofree char *what = NULL;

    *value = NULL;
    if (node == NULL) {
        if (required)
            return record_error(error, where, "'%s' is missing", member);
        return TRUE;
    }
    what = g_strdup_printf("'%s'", member);
    *value = get_string_node(node, what, where, error);
    return *value != NULL;
}

/*
 * Reads the integer member @member of @object into *@value, checking it
 * lies within [@min, @max]; *@present says whether it is there.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
get_count(JsonObject *object, const char *member, gint64 min, gint64 max,
          const char *where, gboolean *present, gint64 *value, GError **error)
{
    JsonNode *node = json_object_get_member(object, member);

    *present = node != NULL;
    *value = 0;
    if (node == NULL)
        return TRUE;
    if (vmig_xml_json_kind(node) != VMIG_XML_JSON_INT)
        return record_error(error, where, "'%s' is %s, not an integer", member,
                            vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
    *value = json_node_get_int(node);
    if (*value < min || *value > max)
        return record_error(error, where,
                            "'%s' is %" G_GINT64_FORMAT
                            ", out of range (%" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
                            ")",
                            member, *value, min, max);
    return TRUE;
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
        return record_error(error, where, "'%s' is %s, not a boolean", member,
                            vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
    *value = json_node_get_boolean(node);
    return TRUE;
}

/*
 * Checks that @node (member @member) is a JSON value of kind @kind.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
check_kind(JsonNode *node, VmigXmlJson kind, const char *member, const char *where,
           GError **error)
{
    if (vmig_xml_json_kind(node) == kind)
        return TRUE;
    return record_error(error, where, "'%s' is %s, not %s", member,
                        vmig_xml_json_kind_name(vmig_xml_json_kind(node)),
                        vmig_xml_json_kind_name(kind));
}

/* Returns: TRUE when @value is one of the NULL-terminated @values. */
static gboolean
is_one_of(const char *const *values, const char *value)
{
    for (; *values != NULL; values++) {
        if (strcmp(*values, value) == 0)
            return TRUE;
    }
    return FALSE;
}

/* Returns: TRUE when @id is a migration's id: letters, digits and _. */
static gboolean
is_identifier(const char *id)
{
    for (const char *p = id; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '_')
            return FALSE;
    }
    return TRUE;
}

/* Returns: @values, NULL-terminated, as "a, b or c" (a new string). */
static char *
join_choices(const char *const *values)
{
    GString *out = g_string_new(NULL);

    for (gsize i = 0; values[i] != NULL; i++) {
        if (i > 0)
            g_string_append(out, values[i + 1] != NULL ? ", " : " or ");
        g_string_append(out, values[i]);
    }
    return g_string_free(out, FALSE);
}

/* Sets the attribute @name of @element to the integer @value. */
static void
set_int_prop(xmlNode *element, const char *name, gint64 value)
{
    g_autofree char *text = g_strdup_printf("%" G_GINT64_FORMAT, value);

    xmlNewProp(element, BAD_CAST name, BAD_CAST text);
}

/* ---- the members --------------------------------------------------------- */

/*
 * Adds the element for member @member of the record, whose value is
 * @node, to @root.
 * Returns: TRUE, or FALSE with INVALID in @error naming the problem.
 */
typedef gboolean (*VmigXmlRecordAddFunc)(xmlNode *root, const char *member,
                                         JsonNode *node, GError **error);

/* A text member: <MEMBER>text</MEMBER>.  Returns: TRUE, or FALSE with @error. */
static gboolean
add_text(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    g_autofree char *what = g_strdup_printf("'%s'", member);
    const char *text = get_string_node(node, what, NULL, error);

    if (text == NULL)
        return FALSE;
    /* xmlNewTextChild() escapes its content; xmlNewChild() would not. */
    xmlNewTextChild(root, NULL, BAD_CAST member, BAD_CAST text);
    return TRUE;
}

/* "switchover": <switchover by="libvirt"/>.  Returns: TRUE, or FALSE with @error. */
static gboolean
add_switchover(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    g_autofree char *what = g_strdup_printf("'%s'", member);
    const char *text = get_string_node(node, what, NULL, error);
    xmlNode *element;

    if (text == NULL)
        return FALSE;
    if (!is_one_of(vmig_xml_record_switchovers, text)) {
        g_autofree char *choices = join_choices(vmig_xml_record_switchovers);

        return record_error(error, NULL, "unknown %s '%s' (expected %s)", member, text,
                            choices);
    }
    element = xmlNewChild(root, NULL, BAD_CAST member, NULL);
    xmlNewProp(element, BAD_CAST "by", BAD_CAST text);
    return TRUE;
}

/* TLS between the drivers: not (yet) up. */
static const char *const vmig_xml_record_tls_states[] = {"none", "pending", NULL};

/*
 * "tls": "none" or "pending" as <tls state="none"/>; a session as
 * <tls state="up" version="TLS1.3" cipher="..." peer-dn="..." session="..."/>.
 * Returns: TRUE, or FALSE with @error.
 */
static gboolean
add_tls(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    static const char *const attributes[] = {"version", "cipher", "peer-dn", "session"};
    xmlNode *element;

    if (vmig_xml_json_kind(node) == VMIG_XML_JSON_STRING) {
        const char *text = get_string_node(node, "'tls'", NULL, error);

        if (text == NULL)
            return FALSE;
        if (!is_one_of(vmig_xml_record_tls_states, text)) {
            g_autofree char *choices = join_choices(vmig_xml_record_tls_states);

            return record_error(error, NULL, "unknown %s '%s' (expected %s or a session)",
                                member, text, choices);
        }
        element = xmlNewChild(root, NULL, BAD_CAST member, NULL);
        xmlNewProp(element, BAD_CAST "state", BAD_CAST text);
        return TRUE;
    }
    if (!check_kind(node, VMIG_XML_JSON_OBJECT, member, NULL, error))
        return FALSE;
    element = xmlNewChild(root, NULL, BAD_CAST member, NULL);
    xmlNewProp(element, BAD_CAST "state", BAD_CAST "up");
    for (gsize i = 0; i < G_N_ELEMENTS(attributes); i++) {
        const char *value = NULL;

        if (!get_string(json_node_get_object(node), attributes[i], TRUE, "'tls'", &value,
                        error))
            return FALSE;
        xmlNewProp(element, BAD_CAST attributes[i], BAD_CAST value);
    }
    return TRUE;
}

/*
 * "lost-guarantees": ["confirmed switchover", ...] as
 * <lost-guarantees><guarantee>confirmed switchover</guarantee>...
 * Returns: TRUE, or FALSE with @error.
 */
static gboolean
add_lost(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    xmlNode *element;
    JsonArray *array;

    if (!check_kind(node, VMIG_XML_JSON_ARRAY, member, NULL, error))
        return FALSE;
    array = json_node_get_array(node);
    element = xmlNewChild(root, NULL, BAD_CAST member, NULL);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *what = g_strdup_printf("'%s' #%u", member, i);
        const char *text =
            get_string_node(json_array_get_element(array, i), what, NULL, error);

        if (text == NULL)
            return FALSE;
        xmlNewTextChild(element, NULL, BAD_CAST "guarantee", BAD_CAST text);
    }
    return TRUE;
}

/* "version": <protocol version="1"/>.  Returns: TRUE, or FALSE with @error. */
static gboolean
add_protocol(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    gint64 version;
    xmlNode *element;

    if (!check_kind(node, VMIG_XML_JSON_INT, member, NULL, error))
        return FALSE;
    version = json_node_get_int(node);
    if (version < 1 || version > VMIG_XML_RECORD_VERSION_MAX)
        return record_error(error, NULL,
                            "'%s' is %" G_GINT64_FORMAT ", not a protocol version (1 to "
                            "%" G_GINT64_FORMAT ")",
                            member, version, VMIG_XML_RECORD_VERSION_MAX);
    element = xmlNewChild(root, NULL, BAD_CAST "protocol", NULL);
    set_int_prop(element, "version", version);
    return TRUE;
}

/*
 * Adds <feature> for the feature @node to @parent: FEATURE of
 * docs/migration.md, with a "reason" when @reasons.  Messages name it
 * "@list #@index@suffix", e.g. "offered feature #2 of the source", and
 * once its name is known "@list 'NAME'@suffix".
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_feature(xmlNode *parent, JsonNode *node, const char *list, guint index,
            const char *suffix, gboolean reasons, GError **error)
{
    g_autofree char *where = g_strdup_printf("%s #%u%s", list, index, suffix);
    JsonObject *object;
    const char *name = NULL;
    const char *reason = NULL;
    gboolean has_channels = FALSE;
    gint64 channels = 0;
    gboolean required = FALSE;
    JsonNode *algorithms;
    xmlNode *element;

    if (vmig_xml_json_kind(node) != VMIG_XML_JSON_OBJECT)
        return record_error(error, where, "expected an object, got %s",
                            vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
    object = json_node_get_object(node);
    if (!get_string(object, "name", TRUE, where, &name, error))
        return FALSE;
    g_free(where);
    where = g_strdup_printf("%s '%s'%s", list, name, suffix);

    if (!get_count(object, "channels", 0, VMIG_XML_RECORD_CHANNELS_MAX, where,
                   &has_channels, &channels, error) ||
        !get_flag(object, "required", where, &required, error))
        return FALSE;
    if (reasons && !get_string(object, "reason", FALSE, where, &reason, error))
        return FALSE;

    element = xmlNewChild(parent, NULL, BAD_CAST "feature", NULL);
    xmlNewProp(element, BAD_CAST "name", BAD_CAST name);
    if (has_channels)
        set_int_prop(element, "channels", channels);
    if (required)
        xmlNewProp(element, BAD_CAST "required", BAD_CAST "yes");

    algorithms = json_object_get_member(object, "algorithms");
    if (algorithms != NULL) {
        JsonArray *array;
        guint n;

        if (!check_kind(algorithms, VMIG_XML_JSON_ARRAY, "algorithms", where, error))
            return FALSE;
        array = json_node_get_array(algorithms);
        n = json_array_get_length(array);
        if (n == 0)
            return record_error(error, where, "'algorithms' is empty");
        for (guint i = 0; i < n; i++) {
            g_autofree char *what = g_strdup_printf("algorithm #%u", i + 1);
            const char *algorithm =
                get_string_node(json_array_get_element(array, i), what, where, error);

            if (algorithm == NULL)
                return FALSE;
            xmlNewTextChild(element, NULL, BAD_CAST "algorithm", BAD_CAST algorithm);
        }
    }
    if (reason != NULL)
        xmlNewTextChild(element, NULL, BAD_CAST "reason", BAD_CAST reason);
    return TRUE;
}

/*
 * Adds a <feature> to @parent for each element of the array @node (the
 * member @member, in @where; @list and @suffix name one element in
 * messages, see add_feature()).
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_feature_list(xmlNode *parent, JsonNode *node, const char *member, const char *where,
                 const char *list, const char *suffix, gboolean reasons, GError **error)
{
    JsonArray *array;

    if (!check_kind(node, VMIG_XML_JSON_ARRAY, member, where, error))
        return FALSE;
    array = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        if (!add_feature(parent, json_array_get_element(array, i), list, i + 1, suffix,
                         reasons, error))
            return FALSE;
    }
    return TRUE;
}

/*
 * One side's offer, {"versions": [...], "features": [...]}, as
 * <offered side="SIDE">.  Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_offer(xmlNode *root, const char *side, JsonNode *node, GError **error)
{
    g_autofree char *where = g_strdup_printf("the offer of the %s", side);
    g_autofree char *suffix = g_strdup_printf(" of the %s", side);
    JsonObject *object;
    JsonNode *versions;
    JsonNode *features;
    xmlNode *element;

    if (!check_kind(node, VMIG_XML_JSON_OBJECT, side, "'offered'", error))
        return FALSE;
    object = json_node_get_object(node);
    element = xmlNewChild(root, NULL, BAD_CAST "offered", NULL);
    xmlNewProp(element, BAD_CAST "side", BAD_CAST side);

    versions = json_object_get_member(object, "versions");
    if (versions != NULL) {
        JsonArray *array;
        guint n;

        if (!check_kind(versions, VMIG_XML_JSON_ARRAY, "versions", where, error))
            return FALSE;
        array = json_node_get_array(versions);
        n = json_array_get_length(array);
        if (n == 0)
            return record_error(error, where, "'versions' is empty");
        for (guint i = 0; i < n; i++) {
            JsonNode *version = json_array_get_element(array, i);
            g_autofree char *text = NULL;
            gint64 value;

            if (vmig_xml_json_kind(version) != VMIG_XML_JSON_INT)
                return record_error(error, where, "version #%u is %s, not an integer",
                                    i + 1,
                                    vmig_xml_json_kind_name(vmig_xml_json_kind(version)));
            value = json_node_get_int(version);
            if (value < 1 || value > VMIG_XML_RECORD_VERSION_MAX)
                return record_error(error, where,
                                    "version #%u is %" G_GINT64_FORMAT
                                    ", not a protocol version (1 to %" G_GINT64_FORMAT
                                    ")",
                                    i + 1, value, VMIG_XML_RECORD_VERSION_MAX);
            text = g_strdup_printf("%" G_GINT64_FORMAT, value);
            xmlNewChild(element, NULL, BAD_CAST "version", BAD_CAST text);
        }
    }

    features = json_object_get_member(object, "features");
    if (features != NULL && !add_feature_list(element, features, "features", where,
                                              "offered feature", suffix, FALSE, error))
        return FALSE;
    return TRUE;
}

/*
 * "offered": {"source": OFFER, "destination": OFFER}, either side
 * absent.  Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_offered(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    JsonObject *object;

    if (!check_kind(node, VMIG_XML_JSON_OBJECT, member, NULL, error))
        return FALSE;
    object = json_node_get_object(node);
    for (gsize i = 0; i < G_N_ELEMENTS(vmig_xml_record_sides); i++) {
        JsonNode *offer = json_object_get_member(object, vmig_xml_record_sides[i]);

        if (offer != NULL && !add_offer(root, vmig_xml_record_sides[i], offer, error))
            return FALSE;
    }
    return TRUE;
}

/* "features": the chosen ones, as <features>.  Returns: TRUE, or FALSE with @error. */
static gboolean
add_chosen(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    xmlNode *element = xmlNewChild(root, NULL, BAD_CAST "features", NULL);

    return add_feature_list(element, node, member, NULL, "chosen feature", "", TRUE,
                            error);
}

/* "declined": as <declined>.  Returns: TRUE, or FALSE with @error. */
static gboolean
add_declined(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    xmlNode *element = xmlNewChild(root, NULL, BAD_CAST "declined", NULL);

    return add_feature_list(element, node, member, NULL, "declined feature", "", TRUE,
                            error);
}

/*
 * An object of counts (@n of them) as the attributes of an empty element
 * named after @member.  Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_counts(xmlNode *root, const char *member, JsonNode *node,
           const VmigXmlRecordCount *counts, gsize n, GError **error)
{
    g_autofree char *where = g_strdup_printf("'%s'", member);
    JsonObject *object;
    xmlNode *element;

    if (!check_kind(node, VMIG_XML_JSON_OBJECT, member, NULL, error))
        return FALSE;
    object = json_node_get_object(node);
    element = xmlNewChild(root, NULL, BAD_CAST member, NULL);
    for (gsize i = 0; i < n; i++) {
        gboolean present = FALSE;
        gint64 value = 0;

        if (!get_count(object, counts[i].member, counts[i].min, counts[i].max, where,
                       &present, &value, error))
            return FALSE;
        if (present)
            set_int_prop(element, counts[i].member, value);
    }
    return TRUE;
}

/* "channels": <channels requested= received=/>.  Returns: TRUE, or FALSE with @error. */
static gboolean
add_channels(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    return add_counts(root, member, node, vmig_xml_record_channel_counts,
                      G_N_ELEMENTS(vmig_xml_record_channel_counts), error);
}

/* "handshake": <handshake bytes-sent= .../>.  Returns: TRUE, or FALSE with @error. */
static gboolean
add_handshake(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    return add_counts(root, member, node, vmig_xml_record_handshake_counts,
                      G_N_ELEMENTS(vmig_xml_record_handshake_counts), error);
}

static const VmigXmlRecordCount vmig_xml_record_stats_counts[] = {
    {"total-time", 0, G_MAXINT64},         {"setup-time", 0, G_MAXINT64},
    {"downtime", 0, G_MAXINT64},           {"transferred", 0, G_MAXINT64},
    {"ram-transferred", 0, G_MAXINT64},    {"ram-normal-bytes", 0, G_MAXINT64},
    {"ram-downtime-bytes", 0, G_MAXINT64}, {"multifd-bytes", 0, G_MAXINT64},
    {"device-state", 0, G_MAXINT64},       {"handshake-us", 0, G_MAXINT64},
    {"switchover-us", 0, G_MAXINT64},
};

/* "stats": <stats total-time= .../>.  Returns: TRUE, or FALSE with @error. */
static gboolean
add_stats(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    return add_counts(root, member, node, vmig_xml_record_stats_counts,
                      G_N_ELEMENTS(vmig_xml_record_stats_counts), error);
}

/* The frame types of docs/protocol.md, as the transcript names them. */
static const char *const vmig_xml_record_frame_types[] = {
    "GREETING",   "REPLY",   "COMMIT",    "READY",  "ERROR", "LOADED",
    "SWITCHOVER", "RESUMED", "HEARTBEAT", "DOMAIN", NULL,
};
static const char *const vmig_xml_record_directions[] = {"sent", "received", NULL};

/* How a frame's item is written. */
typedef enum {
    VMIG_XML_ITEM_TEXT,     /* a string: <NAME>text</NAME> */
    VMIG_XML_ITEM_NUMBER,   /* an integer: <NAME>42</NAME> */
    VMIG_XML_ITEM_FLAG,     /* true: <NAME/> */
    VMIG_XML_ITEM_NUMBERS,  /* integers: <ELEMENT>42</ELEMENT>... */
    VMIG_XML_ITEM_TEXTS,    /* strings: <ELEMENT>text</ELEMENT>... */
    VMIG_XML_ITEM_FEATURES, /* FEATUREs: <feature>... */
    VMIG_XML_ITEM_TUNABLES, /* {name: JSON text}: <tunable name=>text</tunable>... */
    VMIG_XML_ITEM_LAST
} VmigXmlItemKind;

/* A frame's items, in the order their elements are written. */
static const struct {
    const char *member;
    const char *element; /* of each element of a list */
    VmigXmlItemKind kind;
} vmig_xml_record_items[] = {
    {"versions", "version", VMIG_XML_ITEM_NUMBERS},
    {"features", "feature", VMIG_XML_ITEM_FEATURES},
    {"tunable-names", "tunable-name", VMIG_XML_ITEM_TEXTS},
    {"tunables", "tunable", VMIG_XML_ITEM_TUNABLES},
    {"hypervisor", NULL, VMIG_XML_ITEM_TEXT},
    {"driver", NULL, VMIG_XML_ITEM_TEXT},
    {"max-channels", NULL, VMIG_XML_ITEM_NUMBER},
    {"channels", NULL, VMIG_XML_ITEM_NUMBER},
    {"token", NULL, VMIG_XML_ITEM_TEXT},
    {"code", NULL, VMIG_XML_ITEM_NUMBER},
    {"message", NULL, VMIG_XML_ITEM_TEXT},
    {"heartbeat", NULL, VMIG_XML_ITEM_NUMBER},
    {"paused", NULL, VMIG_XML_ITEM_FLAG},
    {"domain", NULL, VMIG_XML_ITEM_TEXT},
    {"domain-xml-bytes", NULL, VMIG_XML_ITEM_NUMBER},
};

/*
 * Adds the item @member (@node) of a frame to @frame, written as @kind.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_item(xmlNode *frame, const char *member, const char *element, VmigXmlItemKind kind,
         JsonNode *node, const char *where, GError **error)
{
    g_autofree char *text = NULL;

    switch (kind) {
    case VMIG_XML_ITEM_TEXT: {
        g_autofree char *what = g_strdup_printf("'%s'", member);
        const char *value = get_string_node(node, what, where, error);

        if (!value)
            return FALSE;
        xmlNewTextChild(frame, NULL, BAD_CAST member, BAD_CAST value);
        return TRUE;
    }
    case VMIG_XML_ITEM_NUMBER:
        if (vmig_xml_json_kind(node) != VMIG_XML_JSON_INT || json_node_get_int(node) < 0)
            return record_error(error, where, "'%s' is not a count", member);
        text = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
        xmlNewTextChild(frame, NULL, BAD_CAST member, BAD_CAST text);
        return TRUE;
    case VMIG_XML_ITEM_FLAG:
        if (!check_kind(node, VMIG_XML_JSON_BOOLEAN, member, where, error))
            return FALSE;
        if (json_node_get_boolean(node))
            xmlNewChild(frame, NULL, BAD_CAST member, NULL);
        return TRUE;
    case VMIG_XML_ITEM_NUMBERS:
    case VMIG_XML_ITEM_TEXTS: {
        JsonArray *array;

        if (!check_kind(node, VMIG_XML_JSON_ARRAY, member, where, error))
            return FALSE;
        array = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(array); i++) {
            JsonNode *one = json_array_get_element(array, i);
            g_autofree char *what = g_strdup_printf("'%s' #%u", member, i + 1);
            g_autofree char *number = NULL;
            const char *value;

            if (kind == VMIG_XML_ITEM_NUMBERS) {
                if (vmig_xml_json_kind(one) != VMIG_XML_JSON_INT ||
                    json_node_get_int(one) < 1 ||
                    json_node_get_int(one) > VMIG_XML_RECORD_VERSION_MAX)
                    return record_error(error, where, "%s is not a protocol version",
                                        what);
                value = number =
                    g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(one));
            } else if (!(value = get_string_node(one, what, where, error))) {
                return FALSE;
            }
            xmlNewTextChild(frame, NULL, BAD_CAST element, BAD_CAST value);
        }
        return TRUE;
    }
    case VMIG_XML_ITEM_FEATURES: {
        g_autofree char *suffix = g_strdup_printf(" of %s", where);

        return add_feature_list(frame, node, member, where, "feature", suffix, FALSE,
                                error);
    }
    case VMIG_XML_ITEM_TUNABLES: {
        JsonObjectIter iter;
        const char *name;
        JsonNode *value;

        if (!check_kind(node, VMIG_XML_JSON_OBJECT, member, where, error))
            return FALSE;
        json_object_iter_init_ordered(&iter, json_node_get_object(node));
        while (json_object_iter_next_ordered(&iter, &name, &value)) {
            g_autofree char *what = g_strdup_printf("tunable '%s'", name);
            const char *json = get_string_node(value, what, where, error);
            xmlNode *tunable;

            if (!json)
                return FALSE;
            tunable = xmlNewTextChild(frame, NULL, BAD_CAST element, BAD_CAST json);
            xmlNewProp(tunable, BAD_CAST "name", BAD_CAST name);
        }
        return TRUE;
    }
    case VMIG_XML_ITEM_LAST:
        break;
    }
    g_assert_not_reached();
}

/*
 * Adds <frame> for element #@index of the transcript's frames.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_frame(xmlNode *parent, JsonNode *node, guint index, GError **error)
{
    g_autofree char *where = g_strdup_printf("transcript frame #%u", index);
    const char *direction = NULL, *type = NULL;
    gboolean present = FALSE;
    gint64 bytes = 0, ms = 0;
    JsonObject *object, *items = NULL;
    JsonNode *items_node;
    xmlNode *frame;

    if (vmig_xml_json_kind(node) != VMIG_XML_JSON_OBJECT)
        return record_error(error, where, "expected an object, got %s",
                            vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
    object = json_node_get_object(node);
    if (!get_string(object, "direction", TRUE, where, &direction, error) ||
        !get_string(object, "type", TRUE, where, &type, error) ||
        !get_count(object, "bytes", 12, G_MAXINT64, where, &present, &bytes, error))
        return FALSE;
    if (!present)
        return record_error(error, where, "'bytes' is missing");
    if (!get_count(object, "milliseconds", 0, G_MAXINT64, where, &present, &ms, error))
        return FALSE;
    if (!present)
        return record_error(error, where, "'milliseconds' is missing");
    if (!is_one_of(vmig_xml_record_directions, direction))
        return record_error(error, where,
                            "unknown direction '%s' (expected sent or received)",
                            direction);
    if (!is_one_of(vmig_xml_record_frame_types, type)) {
        g_autofree char *choices = join_choices(vmig_xml_record_frame_types);

        return record_error(error, where, "unknown frame type '%s' (expected %s)", type,
                            choices);
    }
    items_node = json_object_get_member(object, "items");
    if (items_node) {
        if (!check_kind(items_node, VMIG_XML_JSON_OBJECT, "items", where, error))
            return FALSE;
        items = json_node_get_object(items_node);
    }

    frame = xmlNewChild(parent, NULL, BAD_CAST "frame", NULL);
    xmlNewProp(frame, BAD_CAST "direction", BAD_CAST direction);
    xmlNewProp(frame, BAD_CAST "type", BAD_CAST type);
    set_int_prop(frame, "bytes", bytes);
    set_int_prop(frame, "milliseconds", ms);
    g_free(where);
    where = g_strdup_printf("transcript frame #%u (%s)", index, type);
    /* Items this document does not know are left out, as unknown tags are. */
    for (gsize i = 0; items && i < G_N_ELEMENTS(vmig_xml_record_items); i++) {
        JsonNode *item = json_object_get_member(items, vmig_xml_record_items[i].member);

        if (item && !add_item(frame, vmig_xml_record_items[i].member,
                              vmig_xml_record_items[i].element,
                              vmig_xml_record_items[i].kind, item, where, error))
            return FALSE;
    }
    return TRUE;
}

static const VmigXmlRecordCount vmig_xml_record_heartbeat_counts[] = {
    {"sent", 0, G_MAXINT64},
    {"received", 0, G_MAXINT64},
    {"bytes-sent", 0, G_MAXINT64},
    {"bytes-received", 0, G_MAXINT64},
};

/*
 * "transcript": <transcript dropped=?> <frame .../>... <heartbeats .../>.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_transcript(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    const char *where = "'transcript'";
    JsonObject *object;
    JsonNode *frames, *beats;
    gboolean present = FALSE;
    gint64 dropped = 0, dropped_bytes = 0;
    xmlNode *element;

    if (!check_kind(node, VMIG_XML_JSON_OBJECT, member, NULL, error))
        return FALSE;
    object = json_node_get_object(node);
    if (!get_count(object, "dropped", 0, G_MAXINT64, where, &present, &dropped, error) ||
        !get_count(object, "dropped-bytes", 0, G_MAXINT64, where, &present,
                   &dropped_bytes, error))
        return FALSE;
    element = xmlNewChild(root, NULL, BAD_CAST member, NULL);
    if (dropped > 0) {
        set_int_prop(element, "dropped", dropped);
        set_int_prop(element, "dropped-bytes", dropped_bytes);
    }
    frames = json_object_get_member(object, "frames");
    if (!frames)
        return record_error(error, where, "'frames' is missing");
    if (!check_kind(frames, VMIG_XML_JSON_ARRAY, "frames", where, error))
        return FALSE;
    for (guint i = 0; i < json_array_get_length(json_node_get_array(frames)); i++)
        if (!add_frame(element, json_array_get_element(json_node_get_array(frames), i),
                       i + 1, error))
            return FALSE;
    beats = json_object_get_member(object, "heartbeats");
    if (beats &&
        !add_counts(element, "heartbeats", beats, vmig_xml_record_heartbeat_counts,
                    G_N_ELEMENTS(vmig_xml_record_heartbeat_counts), error))
        return FALSE;
    return TRUE;
}

/*
 * Adds <tunable name="@name"> for the value @node to @parent.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_tunable(xmlNode *parent, const char *name, JsonNode *node, const char *where,
            GError **error)
{
    g_autofree char *what = NULL;
    g_autofree char *text = NULL;
    xmlNode *element;

    if (*name == '\0')
        return record_error(error, where, "a tunable has an empty name");
    if (!vmig_xml_check_text_record(name, where, "a tunable's name", error))
        return FALSE;
    what = g_strdup_printf("the value of '%s'", name);

    switch (vmig_xml_json_kind(node)) {
    case VMIG_XML_JSON_NULL:
        element = xmlNewChild(parent, NULL, BAD_CAST "tunable", NULL);
        xmlNewProp(element, BAD_CAST "name", BAD_CAST name);
        xmlNewProp(element, BAD_CAST "null", BAD_CAST "yes");
        return TRUE;
    case VMIG_XML_JSON_INT:
        text = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
        break;
    case VMIG_XML_JSON_DOUBLE:
        if (!isfinite(json_node_get_double(node)))
            return record_error(error, where, "%s is not a finite number", what);
        text = vmig_xml_format_double(json_node_get_double(node));
        break;
    case VMIG_XML_JSON_BOOLEAN:
        text = g_strdup(json_node_get_boolean(node) ? "yes" : "no");
        break;
    case VMIG_XML_JSON_STRING:
        text = g_strdup(json_node_get_string(node));
        break;
    case VMIG_XML_JSON_ARRAY:
    case VMIG_XML_JSON_OBJECT:
        text = json_to_string(node, FALSE);
        break;
    default:
        return record_error(error, where, "%s is %s", what,
                            vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
    }
    if (!vmig_xml_check_text_record(text, where, what, error))
        return FALSE;
    element = xmlNewTextChild(parent, NULL, BAD_CAST "tunable", BAD_CAST text);
    xmlNewProp(element, BAD_CAST "name", BAD_CAST name);
    return TRUE;
}

/*
 * "tunables": {"source": {NAME: VALUE, ...}, "destination": {...}}, as
 * <tunables side="SIDE">, either side absent.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
add_tunables(xmlNode *root, const char *member, JsonNode *node, GError **error)
{
    JsonObject *object;

    if (!check_kind(node, VMIG_XML_JSON_OBJECT, member, NULL, error))
        return FALSE;
    object = json_node_get_object(node);
    for (gsize i = 0; i < G_N_ELEMENTS(vmig_xml_record_sides); i++) {
        const char *side = vmig_xml_record_sides[i];
        JsonNode *values = json_object_get_member(object, side);
        g_autofree char *where = NULL;
        JsonObjectIter iter;
        const char *name;
        JsonNode *value;
        xmlNode *element;

        if (values == NULL)
            continue;
        where = g_strdup_printf("the tunables of the %s", side);
        if (!check_kind(values, VMIG_XML_JSON_OBJECT, side, "'tunables'", error))
            return FALSE;
        element = xmlNewChild(root, NULL, BAD_CAST "tunables", NULL);
        xmlNewProp(element, BAD_CAST "side", BAD_CAST side);
        /* The wire order, which is the order the driver set them in. */
        json_object_iter_init_ordered(&iter, json_node_get_object(values));
        while (json_object_iter_next_ordered(&iter, &name, &value)) {
            if (!add_tunable(element, name, value, where, error))
                return FALSE;
        }
    }
    return TRUE;
}

/*
 * The child elements of <migration>, in the order they are written: each
 * one's member, whether the record must have it, and how it is written.
 */
static const struct {
    const char *member;
    gboolean required;
    VmigXmlRecordAddFunc add;
} vmig_xml_record_members[] = {
    {"domain", TRUE, add_text},
    {"peer", FALSE, add_text},
    {"version", FALSE, add_protocol},
    {"hypervisor", FALSE, add_text},
    {"peer-hypervisor", FALSE, add_text},
    {"driver", FALSE, add_text},
    {"peer-driver", FALSE, add_text},
    {"peer-connection", FALSE, add_text},
    {"offered", FALSE, add_offered},
    {"features", FALSE, add_chosen},
    {"declined", FALSE, add_declined},
    {"channels", FALSE, add_channels},
    {"tunables", FALSE, add_tunables},
    {"handshake", FALSE, add_handshake},
    {"transcript", FALSE, add_transcript},
    {"stats", FALSE, add_stats},
    {"tls", FALSE, add_tls},
    {"switchover", FALSE, add_switchover},
    {"lost-guarantees", FALSE, add_lost},
    {"error", FALSE, add_text},
};

/*
 * Sets the attributes of <migration> from @record.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
set_attributes(xmlNode *root, JsonObject *record, GError **error)
{
    for (gsize i = 0; i < G_N_ELEMENTS(vmig_xml_record_attributes); i++) {
        const char *member = vmig_xml_record_attributes[i].member;
        const char *const *values = vmig_xml_record_attributes[i].values;
        const char *value = NULL;

        if (!get_string(record, member, vmig_xml_record_attributes[i].required, NULL,
                        &value, error))
            return FALSE;
        if (value == NULL)
            continue;
        if (values == NULL && !is_identifier(value))
            return record_error(error, NULL,
                                "'%s' is '%s', not a migration's name (letters, digits "
                                "and _)",
                                member, value);
        if (values != NULL && !is_one_of(values, value)) {
            g_autofree char *choices = join_choices(values);

            return record_error(error, NULL, "unknown %s '%s' (expected %s)", member,
                                value, choices);
        }
        xmlNewProp(root, BAD_CAST vmig_xml_record_attributes[i].attribute,
                   BAD_CAST value);
    }
    return TRUE;
}

/* See record.h. */
xmlDoc *
vmig_xml_record_new(JsonObject *record, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    xmlNode *root;

    g_return_val_if_fail(record != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    doc = xmlNewDoc(BAD_CAST "1.0");
    root = xmlNewDocNode(doc, NULL, BAD_CAST "migration", NULL);
    xmlDocSetRootElement(doc, root);
    if (!set_attributes(root, record, error))
        return NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(vmig_xml_record_members); i++) {
        const char *member = vmig_xml_record_members[i].member;
        JsonNode *node = json_object_get_member(record, member);

        if (node == NULL) {
            if (vmig_xml_record_members[i].required) {
                record_error(error, NULL, "'%s' is missing", member);
                return NULL;
            }
            continue;
        }
        if (!vmig_xml_record_members[i].add(root, member, node, error))
            return NULL;
    }
    return g_steal_pointer(&doc);
}

/* See record.h. */
char *
vmig_xml_record_format(JsonObject *record, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;

    g_return_val_if_fail(record != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    doc = vmig_xml_record_new(record, error);
    if (doc == NULL)
        return NULL;
    return vmig_xml_format(doc, error);
}
