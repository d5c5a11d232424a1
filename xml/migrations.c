/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migrations.c (xml/): query-migrations as the document of
 * data/migrations.rng (the contract is migrations.h)
 *
 *   <migrations>
 *     <migration id="m1" role="source" state="migrating">
 *       <domain>qmp:/run/vm1.qmp</domain>
 *     </migration>
 *     <migration id="m2" role="destination" state="waiting">
 *       <domain uri="qemu:///system">vm1</domain>
 *     </migration>
 *   </migrations>
 *
 * A libvirt domain ("libvirt:URI#NAME" on the wire, driver/domain-name.h) is
 * written as the user names it, NAME, with its connection in "uri".
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-xml"

#include "xml/migrations.h"
#include "xml/xml-private.h"

#include <string.h>

#include "driver/domain-name.h"

/* The members of a migration, each written as the attribute of that name. */
static const struct {
    const char *member;
    const char *attribute;
} vmig_xml_migration_attributes[] = {
    {"migration", "id"},
    {"role", "role"},
    {"state", "state"},
};

/*
 * Returns: string member @name of migration #@index (borrowed), or NULL
 * with INVALID in @error.
 */
static const char *
vmig_xml_migrations_string(JsonObject *migration, guint index, const char *name,
                           GError **error)
{
    JsonNode *node = json_object_get_member(migration, name);
    g_autofree char *where = NULL;
    g_autofree char *what = NULL;
    const char *value;

    if (!node) {
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID,
                    "migration list: migration #%u has no '%s'", index + 1, name);
        return NULL;
    }
    if (vmig_xml_json_kind(node) != VMIG_XML_JSON_STRING) {
        g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID,
                    "migration list: '%s' of migration #%u is %s, not a string", name,
                    index + 1, vmig_xml_json_kind_name(vmig_xml_json_kind(node)));
        return NULL;
    }
    value = json_node_get_string(node);
    where = g_strdup_printf("migration #%u", index + 1);
    what = g_strdup_printf("'%s'", name);
    if (!vmig_xml_check_text(value, "migration list", where, what, error))
        return NULL;
    return value;
}

xmlDoc *
vmig_xml_migrations_new(JsonArray *migrations, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    xmlNode *root;

    g_return_val_if_fail(migrations != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    doc = xmlNewDoc(BAD_CAST "1.0");
    root = xmlNewDocNode(doc, NULL, BAD_CAST "migrations", NULL);
    xmlDocSetRootElement(doc, root);
    for (guint i = 0; i < json_array_get_length(migrations); i++) {
        JsonNode *element = json_array_get_element(migrations, i);
        JsonObject *migration;
        const char *domain;
        const char *uri;
        const char *name;
        gsize uri_len;
        xmlNode *node;
        xmlNode *domain_node;

        if (!JSON_NODE_HOLDS_OBJECT(element)) {
            g_set_error(error, VMIG_XML_ERROR, VMIG_XML_ERROR_INVALID,
                        "migration list: migration #%u is not an object", i + 1);
            return NULL;
        }
        migration = json_node_get_object(element);
        node = xmlNewChild(root, NULL, BAD_CAST "migration", NULL);
        for (gsize a = 0; a < G_N_ELEMENTS(vmig_xml_migration_attributes); a++) {
            const char *value = vmig_xml_migrations_string(
                migration, i, vmig_xml_migration_attributes[a].member, error);

            if (!value)
                return NULL;
            xmlNewProp(node, BAD_CAST vmig_xml_migration_attributes[a].attribute,
                       BAD_CAST value);
        }
        domain = vmig_xml_migrations_string(migration, i, "domain", error);
        if (!domain)
            return NULL;
        if (vmig_domain_split_libvirt(domain, &uri, &uri_len, &name)) {
            g_autofree char *uri_text = g_strndup(uri, uri_len);

            domain_node = xmlNewTextChild(node, NULL, BAD_CAST "domain", BAD_CAST name);
            xmlNewProp(domain_node, BAD_CAST "uri", BAD_CAST uri_text);
        } else {
            xmlNewTextChild(node, NULL, BAD_CAST "domain", BAD_CAST domain);
        }
        /* Why a migration failed, or why the daemon refused an attempt. */
        if (json_object_has_member(migration, "error") &&
            !json_object_get_null_member(migration, "error")) {
            const char *reason = vmig_xml_migrations_string(migration, i, "error", error);

            if (!reason)
                return NULL;
            if (*reason)
                xmlNewTextChild(node, NULL, BAD_CAST "error", BAD_CAST reason);
        }
    }
    return g_steal_pointer(&doc);
}

char *
vmig_xml_migrations_format(JsonArray *migrations, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;

    g_return_val_if_fail(migrations != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    doc = vmig_xml_migrations_new(migrations, error);
    if (doc == NULL)
        return NULL;
    return vmig_xml_format(doc, error);
}
