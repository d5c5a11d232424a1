/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * render.h: how the CLI prints what the daemon answers
 *
 * The tunables catalog arrives in its wire form (driver/catalog.h) and is
 * printed as an aligned table, as pretty JSON or as the XML document of
 * xml/catalog.h.  Migrations (docs/migration.md) are printed as a table
 * (query-migrations), as a summary of their negotiation record
 * (query-migration), and event by event.  Every function returns text
 * ending with a newline, unless it says otherwise.
 *
 * These functions only format: none does I/O, so each can be tested on
 * its own against golden text.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#define VMIG_RENDER_ERROR (vmig_render_error_quark())
GQuark vmig_render_error_quark(void);

typedef enum {
    VMIG_RENDER_ERROR_INVALID, /* the input does not have the expected form */
    VMIG_RENDER_ERROR_LAST
} VmigRenderErrorCode;

/*
 * vmig_render_catalog_table:
 * The catalog as a table, one row per tunable, in the wire form's order:
 *
 *   Hypervisor: QEMU 7.2.22 (...)
 *
 *   NAME                 KIND        TYPE                     CURRENT    NEGOTIATED
 *   ---------------------------------------------------------------------------------
 *   max-bandwidth        parameter   int (bytes/s)            134217728
 *   multifd-compression  parameter   enum: none|zlib|zstd     none       yes
 * (multifd-compression)
 *
 * TYPE is the type with, for an enum, its values; "|null" when JSON null
 * is a value too; the unit and "not settable" in parentheses.  CURRENT is
 * the current value as plain text (an empty string as "", no value as -).
 * Returns: the text (to free), or NULL with INVALID in @error.
 */
char *vmig_render_catalog_table(JsonObject *catalog, GError **error);

/* Returns: @node as pretty JSON, indented by 2 spaces (to free). */
char *vmig_render_json(JsonNode *node);

/*
 * Returns: the catalog's XML document (xml/catalog.h) as text (to free),
 * or NULL with @error set.
 */
char *vmig_render_catalog_xml(JsonObject *catalog, GError **error);

/* Returns: @node, a JSON scalar, as plain text for a table cell (to free). */
char *vmig_render_value(JsonNode *node);

/*
 * vmig_render_migrations_table:
 * @migrations: what query-migrations returns
 * @all: FALSE: only the migrations still running (not completed, failed
 *       or cancelled); TRUE: every one
 * The migrations as a table, virsh list style, in the daemon's order:
 *
 *    ID   ROLE          STATE       DOMAIN
 *   ------------------------------------------------
 *    m1   source        migrating   qmp:/run/vm1.qmp
 *    m2   destination   waiting     qmp:/run/vm2.qmp
 *
 * Returns: the text (to free), or NULL with INVALID in @error.
 */
char *vmig_render_migrations_table(JsonArray *migrations, gboolean all, GError **error);

/*
 * The migrations list shows (@all as for the table), as the daemon sent
 * them, as pretty JSON (an array).
 * Returns: the text (to free), or NULL with INVALID in @error.
 */
char *vmig_render_migrations_json(JsonArray *migrations, gboolean all, GError **error);

/*
 * The migrations list shows (@all as for the table) as the XML document
 * of xml/migrations.h (data/migrations.rng).
 * Returns: the text (to free), or NULL with @error set.
 */
char *vmig_render_migrations_xml(JsonArray *migrations, gboolean all, GError **error);

/*
 * vmig_render_event_line:
 * @event: an event line, {"event": NAME, "data": {...}, "timestamp":
 *         {"seconds": S, "microseconds": U}}
 * One line for `virt-migrate events`: the timestamp in ISO 8601 UTC with
 * microseconds, the event's name and its data as compact JSON:
 *
 *   2024-05-01T12:00:00.123456Z MIGRATION_DONE {"migration":"m1","result":"completed"}
 *
 * Returns: the line (to free), or NULL with INVALID in @error.
 */
char *vmig_render_event_line(JsonObject *event, GError **error);

/*
 * vmig_render_negotiated:
 * @data: the data of a NEGOTIATED event
 * What `virt-migrate migrate` prints once the handshake is over:
 *
 *   Negotiated: protocol 1, features multifd (2 of 4 channels), return-path
 *
 * Returns: the line (to free), or NULL with INVALID in @error.
 */
char *vmig_render_negotiated(JsonObject *data, GError **error);

/*
 * vmig_render_progress_percent:
 * @data: the data of a MIGRATION_PROGRESS event
 * How far the migration is: transferred / (transferred + remaining), or
 * from total when one of those is missing; rounded down, so 100 means
 * nothing remains.
 * Returns: 0 to 100, or -1 when @data does not say.
 */
int vmig_render_progress_percent(JsonObject *data);

/*
 * Returns: the progress line of @percent (0 to 100), as virsh migrate
 * --verbose draws it: "\rMigration: [ 42 %]", without a newline (to free).
 */
char *vmig_render_progress(int percent);

/*
 * vmig_render_record_summary:
 * @record: what query-migration returns (docs/migration.md)
 * The negotiation record for people, in the order things happened: what
 * the migration is and who took part, each side's offer, the features
 * chosen and declined with why, channels asked for and received, the
 * tunables each side set, what the handshake cost, and how it ended.
 * Members the record does not have yet are left out.
 * Returns: the text (to free), or NULL with INVALID in @error.
 */
char *vmig_render_record_summary(JsonObject *record, GError **error);

/*
 * Returns: the record's XML document (xml/record.h) as text (to free),
 * or NULL with @error set.
 */
char *vmig_render_record_xml(JsonObject *record, GError **error);

/*
 * vmig_render_domain:
 * A domain as the user wrote it: a libvirt domain, "libvirt:URI#NAME" on
 * the wire, is NAME (as virsh shows it, the URI given with -c); a QEMU
 * monitor, "qmp:PATH", stays as it is.
 * Returns: the text (to free).
 */
char *vmig_render_domain(const char *domain);

/*
 * vmig_render_jobinfo:
 * @record: what query-migration returns (docs/migration.md)
 * The migration's job as virsh domjobinfo shows one: its id, domain, job
 * type (Unbounded while it runs, else its result), operation and state,
 * then the last progress reading's figures, sizes in binary units:
 *
 *   Migration:         m1
 *   Job type:          Unbounded
 *   Operation:         Outgoing migration
 *   State:             migrating
 *   Time elapsed:      1204 ms
 *   Data processed:    36.008 MiB
 *   ...
 *
 * Returns: the text (to free), or NULL with INVALID in @error.
 */
char *vmig_render_jobinfo(JsonObject *record, GError **error);

/*
 * @message, a daemon's, in the user's words: an argument of the control
 * command is named by the option that sets it ("no-features: ..." and
 * "Parameter 'require-features' ..." become "--no-feature: ..." and
 * "option --require-feature ..."), and the domain @wire_domain as the user
 * wrote it, @domain (both NULL: left as they are).
 * Returns: the message (to free).
 */
char *vmig_render_user_words(const char *message, const char *wire_domain,
                             const char *domain);
