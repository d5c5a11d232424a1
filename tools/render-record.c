/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * render-record.c: the daemon's migrations, events and negotiation
 * records as the CLI shows them (the contract is render.h)
 */
#include <config.h>

#include "tools/render-private.h"

#include <string.h>

#include "json/writer.h"
#include "xml/migrations.h"
#include "xml/record.h"

/* ------------------------------------------------------------------------ */
/* list */

#define VMIG_RENDER_LIST "migration list"

/* The states a migration ends in (docs/migration.md). */
static const char *const vmig_render_final_states[] = {"completed", "failed", "cancelled",
                                                       "unknown", "refused"};

/* Returns: TRUE when @state is one a migration ends in. */
static gboolean
vmig_render_state_is_final(const char *state)
{
    for (gsize i = 0; i < G_N_ELEMENTS(vmig_render_final_states); i++) {
        if (g_str_equal(state, vmig_render_final_states[i]))
            return TRUE;
    }
    return FALSE;
}

char *
vmig_render_migrations_table(JsonArray *migrations, gboolean all, GError **error)
{
    /* The members shown, in column order, under their titles. */
    static const char *const members[] = {"migration", "role", "state", "domain"};
    static const char *const titles[] = {"ID", "ROLE", "STATE", "DOMAIN"};
    g_autoptr(GPtrArray) rows =
        g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_autoptr(GString) out = g_string_new(NULL);
    g_autoptr(GString) refusals = g_string_new(NULL);
    guint i;

    G_STATIC_ASSERT(G_N_ELEMENTS(members) == G_N_ELEMENTS(titles));
    g_return_val_if_fail(migrations != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    g_ptr_array_add(rows, vmig_render_row(4, g_strdup(titles[0]), g_strdup(titles[1]),
                                          g_strdup(titles[2]), g_strdup(titles[3])));
    for (i = 0; i < json_array_get_length(migrations); i++) {
        JsonObject *migration =
            vmig_render_array_object(migrations, i, VMIG_RENDER_LIST, "migration", error);
        g_autofree char *what = g_strdup_printf("migration #%u", i + 1);
        const char *values[G_N_ELEMENTS(members)];
        char **row;

        if (!migration)
            return NULL;
        for (gsize m = 0; m < G_N_ELEMENTS(members); m++) {
            if (!vmig_render_get_string(migration, VMIG_RENDER_LIST, what, members[m],
                                        TRUE, &values[m], error))
                return NULL;
        }
        if (!all && vmig_render_state_is_final(values[2]))
            continue;
        if (g_str_equal(values[2], "refused")) {
            /* A refused attempt says why under the table. */
            const char *time = NULL, *reason = NULL;
            g_autofree char *id_text = vmig_render_text(values[0]);
            g_autofree char *time_text = NULL, *reason_text = NULL;

            if (!vmig_render_get_string(migration, VMIG_RENDER_LIST, what, "time", FALSE,
                                        &time, error) ||
                !vmig_render_get_string(migration, VMIG_RENDER_LIST, what, "error", FALSE,
                                        &reason, error))
                return NULL;
            time_text = vmig_render_text(time ? time : "?");
            reason_text = vmig_render_text(reason ? reason : "?");
            g_string_append_printf(refusals, "%s refused at %s: %s\n", id_text, time_text,
                                   reason_text);
        }
        row = g_new0(char *, G_N_ELEMENTS(members) + 1);
        for (gsize m = 0; m < G_N_ELEMENTS(members); m++) {
            g_autofree char *domain = m == 3 ? vmig_render_domain(values[m]) : NULL;

            row[m] = vmig_render_text(domain ? domain : values[m]);
        }
        g_ptr_array_add(rows, row);
    }
    vmig_render_rows(out, rows, G_N_ELEMENTS(members), " ", 3, TRUE);
    if (refusals->len) {
        g_string_append_c(out, '\n');
        g_string_append(out, refusals->str);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/*
 * Returns: the migrations of @migrations that list shows (@all: every one,
 * else those still running), as they came (a new array), or NULL with
 * INVALID in @error.
 */
static JsonArray *
vmig_render_migrations_shown(JsonArray *migrations, gboolean all, GError **error)
{
    g_autoptr(JsonArray) shown = json_array_new();

    for (guint i = 0; i < json_array_get_length(migrations); i++) {
        JsonObject *migration =
            vmig_render_array_object(migrations, i, VMIG_RENDER_LIST, "migration", error);
        g_autofree char *what = g_strdup_printf("migration #%u", i + 1);
        const char *state = NULL;

        if (!migration || !vmig_render_get_string(migration, VMIG_RENDER_LIST, what,
                                                  "state", TRUE, &state, error))
            return NULL;
        if (all || !vmig_render_state_is_final(state))
            json_array_add_element(shown,
                                   json_node_copy(json_array_get_element(migrations, i)));
    }
    return g_steal_pointer(&shown);
}

char *
vmig_render_migrations_json(JsonArray *migrations, gboolean all, GError **error)
{
    g_autoptr(JsonArray) shown = NULL;
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_ARRAY);

    g_return_val_if_fail(migrations != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    shown = vmig_render_migrations_shown(migrations, all, error);
    if (!shown)
        return NULL;
    json_node_set_array(node, shown);
    return vmig_render_json(node);
}

char *
vmig_render_migrations_xml(JsonArray *migrations, gboolean all, GError **error)
{
    g_autoptr(JsonArray) shown = NULL;

    g_return_val_if_fail(migrations != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    shown = vmig_render_migrations_shown(migrations, all, error);
    if (!shown)
        return NULL;
    return vmig_render_xml_document(vmig_xml_migrations_format(shown, error));
}

/* ------------------------------------------------------------------------ */
/* events */

#define VMIG_RENDER_EVENT "event"

char *
vmig_render_event_line(JsonObject *event, GError **error)
{
    g_autoptr(GDateTime) time = NULL;
    g_autofree char *when = NULL;
    g_autofree char *data_text = NULL;
    g_autofree char *name_text = NULL;
    JsonObject *timestamp = NULL;
    JsonNode *data = NULL;
    const char *name = NULL;
    gint64 seconds = -1;
    gint64 microseconds = -1;

    g_return_val_if_fail(event != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    if (!vmig_render_get_string(event, VMIG_RENDER_EVENT, "the event", "event", TRUE,
                                &name, error) ||
        !vmig_render_get(event, VMIG_RENDER_EVENT, "the event", "data", JSON_NODE_OBJECT,
                         G_TYPE_INVALID, FALSE, &data, error) ||
        !vmig_render_get_object(event, VMIG_RENDER_EVENT, "the event", "timestamp",
                                &timestamp, error))
        return NULL;
    if (!timestamp) {
        g_set_error_literal(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                            "invalid event: the event has no 'timestamp'");
        return NULL;
    }
    if (!vmig_render_get_count(timestamp, VMIG_RENDER_EVENT, "the timestamp", "seconds",
                               TRUE, &seconds, error) ||
        !vmig_render_get_count(timestamp, VMIG_RENDER_EVENT, "the timestamp",
                               "microseconds", TRUE, &microseconds, error))
        return NULL;
    if (microseconds >= G_USEC_PER_SEC)
        time = NULL;
    else
        time = g_date_time_new_from_unix_utc(seconds);
    if (!time) {
        g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid event: the timestamp %" G_GINT64_FORMAT
                    ".%06" G_GINT64_FORMAT " is not a time",
                    seconds, microseconds);
        return NULL;
    }
    when = g_date_time_format(time, "%Y-%m-%dT%H:%M:%S");
    data_text = data ? vmig_json_write(data, FALSE, NULL) : g_strdup("{}");
    name_text = vmig_render_text(name);
    return g_strdup_printf("%s.%06" G_GINT64_FORMAT "Z %s %s\n", when, microseconds,
                           name_text, data_text);
}

/* ------------------------------------------------------------------------ */
/* migrate */

#define VMIG_RENDER_NEGOTIATED "NEGOTIATED event"

/*
 * The feature that the extra channels serve: the channel count of a
 * NEGOTIATED event is shown next to it (docs/migration.md).
 */
#define VMIG_RENDER_CHANNELS_FEATURE "multifd"

/* Returns: "1 channel", "4 channels" or "2 of 4 channels" (to free). */
static char *
vmig_render_channels(gint64 channels, gint64 requested)
{
    if (requested >= 0 && requested != channels)
        return g_strdup_printf("%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " channels",
                               channels, requested);
    return g_strdup_printf("%" G_GINT64_FORMAT " channel%s", channels,
                           channels == 1 ? "" : "s");
}

/*
 * A protocol version as people read it: versions from 0x80000000 up are
 * experimental (negotiate.h), shown in hex with a word saying so.
 * Return: a new string.
 */
static char *
protocol_version_text(gint64 version)
{
    if (version >= 0x80000000)
        return g_strdup_printf("0x%08" G_GINT64_MODIFIER "x (experimental)", version);
    return g_strdup_printf("%" G_GINT64_FORMAT, version);
}

char *
vmig_render_negotiated(JsonObject *data, GError **error)
{
    g_autoptr(GString) out = g_string_new("Negotiated: ");
    const char *what = "the event's data";
    JsonArray *features = NULL;
    gint64 version = -1;
    gint64 channels = -1;
    gint64 requested = -1;
    gboolean shown = FALSE;
    guint n;

    g_return_val_if_fail(data != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    if (!vmig_render_get_count(data, VMIG_RENDER_NEGOTIATED, what, "version", TRUE,
                               &version, error) ||
        !vmig_render_get_array(data, VMIG_RENDER_NEGOTIATED, what, "features", &features,
                               error) ||
        !vmig_render_get_count(data, VMIG_RENDER_NEGOTIATED, what, "channels", FALSE,
                               &channels, error) ||
        !vmig_render_get_count(data, VMIG_RENDER_NEGOTIATED, what, "requested-channels",
                               FALSE, &requested, error))
        return NULL;

    {
        g_autofree char *text = protocol_version_text(version);

        g_string_append_printf(out, "protocol %s", text);
    }
    {
        /* "tls": "TLS1.3 AES-256-GCM" between the drivers (absent: plaintext). */
        const char *tls = NULL;

        if (!vmig_render_get_string(data, VMIG_RENDER_NEGOTIATED, what, "tls", FALSE,
                                    &tls, error))
            return NULL;
        if (tls) {
            g_autofree char *text = vmig_render_text(tls);

            g_string_append_printf(out, ", %s", text);
        }
    }
    n = features ? json_array_get_length(features) : 0;
    g_string_append(out, n ? ", features " : ", no features");
    for (guint i = 0; i < n; i++) {
        const char *name = vmig_render_array_string(features, i, VMIG_RENDER_NEGOTIATED,
                                                    "feature", error);
        g_autofree char *text = NULL;

        if (!name)
            return NULL;
        text = vmig_render_text(name);
        g_string_append_printf(out, "%s%s", i ? ", " : "", text);
        if (channels >= 0 && g_str_equal(name, VMIG_RENDER_CHANNELS_FEATURE)) {
            g_autofree char *count = vmig_render_channels(channels, requested);

            g_string_append_printf(out, " (%s)", count);
            shown = TRUE;
        }
    }
    /* Channels without the feature that uses them: still worth saying. */
    if (!shown && channels > 0) {
        g_autofree char *count = vmig_render_channels(channels, requested);

        g_string_append_printf(out, "; %s", count);
    }
    g_string_append_c(out, '\n');
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/* Returns: integer member @name of @data when it is one and not negative, else -1. */
static gint64
vmig_render_bytes(JsonObject *data, const char *name)
{
    JsonNode *node = json_object_get_member(data, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64 || json_node_get_int(node) < 0)
        return -1;
    return json_node_get_int(node);
}

int
vmig_render_progress_percent(JsonObject *data)
{
    gint64 transferred;
    gint64 remaining;
    gint64 total;
    double done;
    double all;

    g_return_val_if_fail(data != NULL, -1);

    transferred = vmig_render_bytes(data, "transferred");
    remaining = vmig_render_bytes(data, "remaining");
    total = vmig_render_bytes(data, "total");
    if (transferred >= 0 && remaining >= 0) {
        done = (double)transferred;
        all = (double)transferred + (double)remaining;
    } else if (total > 0 && remaining >= 0) {
        done = (double)MAX(total - remaining, 0);
        all = (double)total;
    } else if (total > 0 && transferred >= 0) {
        done = (double)MIN(transferred, total);
        all = (double)total;
    } else {
        return -1;
    }
    if (all <= 0)
        return -1;
    /* Rounded down: 100 % only once nothing remains. */
    return (int)CLAMP(done * 100 / all, 0, 100);
}

char *
vmig_render_progress(int percent)
{
    return g_strdup_printf("\rMigration: [%3d %%]", CLAMP(percent, 0, 100));
}

/* ------------------------------------------------------------------------ */
/* features */

#define VMIG_RENDER_RECORD "negotiation record"

/* Labels of the summary's "Label:  value" lines are padded to this width. */
#define VMIG_RENDER_LABEL_WIDTH 18

/* The two sides, in the order they are shown. */
static const char *const vmig_render_sides[] = {"source", "destination"};

/*
 * Appends "@label:", padded with spaces to @width columns, then @value
 * (escaped for a terminal) and a newline.
 */
static void
vmig_render_padded_field(GString *out, gsize width, const char *label, const char *value)
{
    g_autofree char *text = vmig_render_text(value);
    gsize start = out->len;

    g_string_append_printf(out, "%s:", label);
    while (out->len - start < width)
        g_string_append_c(out, ' ');
    g_string_append(out, text);
    g_string_append_c(out, '\n');
}

/* Appends "@label:  @value" in the summary's column. */
static void
vmig_render_field(GString *out, const char *label, const char *value)
{
    vmig_render_padded_field(out, VMIG_RENDER_LABEL_WIDTH, label, value);
}

/*
 * Describes FEATURE @feature (@what): its name, then in parentheses its
 * channels, its algorithms and whether it is required; *@reason gets its
 * reason, when @reason is not NULL (NULL when it has none).
 * Returns: the text (to free), or NULL with INVALID in @error.
 */
static char *
vmig_render_feature(JsonObject *feature, const char *what, const char **reason,
                    GError **error)
{
    g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) out = NULL;
    g_autofree char *name_text = NULL;
    g_autofree char *where = NULL;
    JsonArray *algorithms = NULL;
    JsonNode *required = NULL;
    const char *name = NULL;
    gint64 channels = -1;

    if (!vmig_render_get_string(feature, VMIG_RENDER_RECORD, what, "name", TRUE, &name,
                                error))
        return NULL;
    where = g_strdup_printf("feature '%s'", name);
    if (!vmig_render_get_count(feature, VMIG_RENDER_RECORD, where, "channels", FALSE,
                               &channels, error) ||
        !vmig_render_get_array(feature, VMIG_RENDER_RECORD, where, "algorithms",
                               &algorithms, error) ||
        !vmig_render_get(feature, VMIG_RENDER_RECORD, where, "required", JSON_NODE_VALUE,
                         G_TYPE_BOOLEAN, FALSE, &required, error))
        return NULL;
    if (reason && !vmig_render_get_string(feature, VMIG_RENDER_RECORD, where, "reason",
                                          FALSE, reason, error))
        return NULL;

    if (channels >= 0)
        g_ptr_array_add(notes, vmig_render_channels(channels, -1));
    for (guint i = 0; algorithms && i < json_array_get_length(algorithms); i++) {
        const char *algorithm = vmig_render_array_string(
            algorithms, i, VMIG_RENDER_RECORD, "algorithm", error);

        if (!algorithm)
            return NULL;
        g_ptr_array_add(notes, vmig_render_text(algorithm));
    }
    if (required && json_node_get_boolean(required))
        g_ptr_array_add(notes, g_strdup("required"));

    name_text = vmig_render_text(name);
    out = g_string_new(name_text);
    for (guint i = 0; i < notes->len; i++) {
        g_string_append(out, i ? ", " : " (");
        g_string_append(out, g_ptr_array_index(notes, i));
    }
    if (notes->len)
        g_string_append_c(out, ')');
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/*
 * Appends the features of @features (an array of FEATURE, @what in
 * messages), one a line, with their reasons in a column when @reasons;
 * "none" when there are none.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_feature_list(GString *out, JsonArray *features, const char *what,
                         gboolean reasons, GError **error)
{
    g_autoptr(GPtrArray) rows =
        g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);

    for (guint i = 0; i < json_array_get_length(features); i++) {
        JsonObject *feature =
            vmig_render_array_object(features, i, VMIG_RENDER_RECORD, what, error);
        const char *reason = NULL;
        char *text;

        if (!feature)
            return FALSE;
        text = vmig_render_feature(feature, what, reasons ? &reason : NULL, error);
        if (!text)
            return FALSE;
        g_ptr_array_add(rows,
                        vmig_render_row(2, text, vmig_render_text(reason ? reason : "")));
    }
    if (rows->len == 0)
        g_string_append(out, "  none\n");
    vmig_render_rows(out, rows, 2, "  ", 2, FALSE);
    return TRUE;
}

/*
 * Appends what each side offered ("offered").
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_offers(GString *out, JsonObject *offered, GError **error)
{
    for (gsize s = 0; s < G_N_ELEMENTS(vmig_render_sides); s++) {
        const char *side = vmig_render_sides[s];
        g_autofree char *what = g_strdup_printf("the offer of the %s", side);
        JsonObject *offer = NULL;
        JsonArray *versions = NULL;
        JsonArray *features = NULL;

        if (!vmig_render_get_object(offered, VMIG_RENDER_RECORD, "'offered'", side,
                                    &offer, error))
            return FALSE;
        if (!offer)
            continue;
        if (!vmig_render_get_array(offer, VMIG_RENDER_RECORD, what, "versions", &versions,
                                   error) ||
            !vmig_render_get_array(offer, VMIG_RENDER_RECORD, what, "features", &features,
                                   error))
            return FALSE;

        g_string_append_printf(out, "\nOffered by the %s", side);
        for (guint i = 0; versions && i < json_array_get_length(versions); i++) {
            JsonNode *version = json_array_get_element(versions, i);

            if (!JSON_NODE_HOLDS_VALUE(version) ||
                json_node_get_value_type(version) != G_TYPE_INT64) {
                g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                            "invalid " VMIG_RENDER_RECORD ": version #%u of %s is not an "
                            "integer",
                            i + 1, what);
                return FALSE;
            }
            g_string_append_printf(out, "%s%" G_GINT64_FORMAT,
                                   i ? ", " : " (protocol versions ",
                                   json_node_get_int(version));
        }
        if (versions && json_array_get_length(versions))
            g_string_append_c(out, ')');
        g_string_append(out, ":\n");
        if (features &&
            !vmig_render_feature_list(out, features, "offered feature", FALSE, error))
            return FALSE;
        if (!features)
            g_string_append(out, "  none\n");
    }
    return TRUE;
}

/*
 * Appends the tunables each side set ("tunables").
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_tunables(GString *out, JsonObject *tunables, GError **error)
{
    for (gsize s = 0; s < G_N_ELEMENTS(vmig_render_sides); s++) {
        const char *side = vmig_render_sides[s];
        g_autoptr(GPtrArray) rows =
            g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
        JsonObject *values = NULL;
        JsonObjectIter iter;
        const char *name;
        JsonNode *value;

        if (!vmig_render_get_object(tunables, VMIG_RENDER_RECORD, "'tunables'", side,
                                    &values, error))
            return FALSE;
        if (!values)
            continue;
        g_string_append_printf(out, "\nTunables of the %s:\n", side);
        /* The wire order, which is the order the driver set them in. */
        json_object_iter_init_ordered(&iter, values);
        while (json_object_iter_next_ordered(&iter, &name, &value))
            g_ptr_array_add(rows, vmig_render_row(2, vmig_render_text(name),
                                                  vmig_render_value(value)));
        if (rows->len == 0)
            g_string_append(out, "  none\n");
        vmig_render_rows(out, rows, 2, "  ", 2, FALSE);
    }
    return TRUE;
}

/* The plain text members of the summary's first block, under their labels. */
static const struct {
    const char *member;
    const char *label;
} vmig_render_record_texts[] = {
    {"hypervisor", "Hypervisor"},
    {"peer-hypervisor", "Peer hypervisor"},
    {"driver", "Driver"},
    {"peer-driver", "Peer driver"},
    {"peer-connection", "Peer connection"},
};

/* The members of "handshake", and what follows each one's number. */
static const struct {
    const char *member;
    const char *unit;
} vmig_render_handshake[] = {
    {"bytes-sent", "bytes sent"},
    {"bytes-received", "bytes received"},
    {"milliseconds", "ms"},
};

/* Who a record is about: the members the summary and jobinfo both show. */
typedef struct {
    const char *id;
    const char *role;
    const char *state;
    char *domain; /* as the user wrote it (vmig_render_domain), or NULL */
} VmigRenderWho;

static void
vmig_render_who_clear(VmigRenderWho *who)
{
    g_clear_pointer(&who->domain, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigRenderWho, vmig_render_who_clear)

/*
 * Reads "migration", "role", "state" (required) and "domain" of @record
 * into *@who.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_get_who(JsonObject *record, VmigRenderWho *who, GError **error)
{
    const char *what = "the record";
    const char *domain = NULL;

    *who = (VmigRenderWho){NULL};
    if (!vmig_render_get_string(record, VMIG_RENDER_RECORD, what, "migration", TRUE,
                                &who->id, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, what, "role", TRUE,
                                &who->role, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, what, "state", TRUE,
                                &who->state, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, what, "domain", FALSE,
                                &domain, error))
        return FALSE;
    who->domain = domain ? vmig_render_domain(domain) : NULL;
    return TRUE;
}

/*
 * Appends what the migration is: its id, role, state, domain, peer,
 * hypervisors and drivers, and the protocol version.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_record_head(GString *out, JsonObject *record, GError **error)
{
    const char *what = "the record";
    g_auto(VmigRenderWho) who = {NULL};
    const char *mode = NULL;
    const char *peer = NULL;
    gint64 version = -1;

    if (!vmig_render_get_who(record, &who, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, what, "mode", FALSE, &mode,
                                error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, what, "peer", FALSE, &peer,
                                error) ||
        !vmig_render_get_count(record, VMIG_RENDER_RECORD, what, "version", FALSE,
                               &version, error))
        return FALSE;

    vmig_render_field(out, "Migration", who.id);
    vmig_render_field(out, "Role", who.role);
    vmig_render_field(out, "State", who.state);
    if (who.domain)
        vmig_render_field(out, "Domain", who.domain);
    /* In fd mode the peer is "fd": say what that means. */
    if (peer && g_strcmp0(mode, "fd") == 0 && g_str_equal(peer, "fd")) {
        vmig_render_field(out, "Peer", "a socket the management app passed (fd mode)");
    } else if (peer && mode) {
        g_autofree char *text = g_strdup_printf("%s (%s mode)", peer, mode);

        vmig_render_field(out, "Peer", text);
    } else if (peer || mode) {
        vmig_render_field(out, peer ? "Peer" : "Mode", peer ? peer : mode);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(vmig_render_record_texts); i++) {
        const char *text = NULL;

        if (!vmig_render_get_string(record, VMIG_RENDER_RECORD, what,
                                    vmig_render_record_texts[i].member, FALSE, &text,
                                    error))
            return FALSE;
        if (text)
            vmig_render_field(out, vmig_render_record_texts[i].label, text);
    }
    if (version >= 0) {
        g_autofree char *number = protocol_version_text(version);
        g_autofree char *text = g_strdup_printf("version %s", number);

        vmig_render_field(out, "Protocol", text);
    } else {
        vmig_render_field(out, "Protocol", "not negotiated");
    }
    return TRUE;
}

/*
 * Appends the channels asked for and received ("channels").
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_record_channels(GString *out, JsonObject *channels, GError **error)
{
    g_autoptr(GString) text = g_string_new(NULL);
    gint64 requested = -1;
    gint64 received = -1;

    if (!vmig_render_get_count(channels, VMIG_RENDER_RECORD, "'channels'", "requested",
                               FALSE, &requested, error) ||
        !vmig_render_get_count(channels, VMIG_RENDER_RECORD, "'channels'", "received",
                               FALSE, &received, error))
        return FALSE;
    if (requested >= 0)
        g_string_append_printf(text, "%" G_GINT64_FORMAT " requested", requested);
    if (received >= 0)
        g_string_append_printf(text, "%s%" G_GINT64_FORMAT " received",
                               text->len ? ", " : "", received);
    if (requested >= 0 && received >= 0 && received < requested)
        g_string_append(text, " (fewer than requested)");
    vmig_render_field(out, "Channels", text->len ? text->str : "none");
    return TRUE;
}

static char *vmig_render_size(gint64 bytes);

/* The transcript's columns: a frame's items go under its direction. */
#define VMIG_RENDER_ITEM_INDENT 11
#define VMIG_RENDER_ITEM_WIDTH  15
/* The label column of the "Downtime and sizes" section, after its indent. */
#define VMIG_RENDER_STATS_WIDTH 18

/* Appends "  @label:" padded to the column of the sections' fields, then @value. */
static void
vmig_render_section_field(GString *out, const char *label, const char *value)
{
    g_string_append(out, "  ");
    vmig_render_padded_field(out, VMIG_RENDER_STATS_WIDTH, label, value);
}

/*
 * Describes the item @name of a frame, whose value is @node: a list of
 * words, FEATUREs, a tunable's JSON text per name, or one word or number.
 * Returns: the text (to free), or NULL with INVALID in @error.
 */
static char *
vmig_render_item(const char *name, JsonNode *node, GError **error)
{
    g_autofree char *where = g_strdup_printf("transcript item '%s'", name);
    g_autoptr(GString) text = g_string_new(NULL);

    if (g_str_equal(name, "features") && JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *features = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(features); i++) {
            JsonObject *feature =
                vmig_render_array_object(features, i, VMIG_RENDER_RECORD, where, error);
            g_autofree char *one = NULL;

            if (!feature || !(one = vmig_render_feature(feature, where, NULL, error)))
                return NULL;
            g_string_append_printf(text, "%s%s", i ? ", " : "", one);
        }
        return g_string_free(g_steal_pointer(&text), FALSE);
    }
    if (g_str_equal(name, "heartbeat") && JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_INT64)
        return g_strdup_printf("every %" G_GINT64_FORMAT " ms", json_node_get_int(node));
    if (g_str_equal(name, "tunable-names") && JSON_NODE_HOLDS_ARRAY(node))
        /* Every tunable of the destination's QEMU: --json lists them. */
        return g_strdup_printf("%u names",
                               json_array_get_length(json_node_get_array(node)));
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObjectIter iter;
        const char *member;
        JsonNode *value;

        json_object_iter_init_ordered(&iter, json_node_get_object(node));
        while (json_object_iter_next_ordered(&iter, &member, &value)) {
            g_autofree char *safe_name = vmig_render_text(member);
            g_autofree char *safe = NULL;

            if (!JSON_NODE_HOLDS_VALUE(value) ||
                json_node_get_value_type(value) != G_TYPE_STRING) {
                g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                            "invalid negotiation record: %s: '%s' is not JSON text",
                            where, member);
                return NULL;
            }
            safe = vmig_render_text(json_node_get_string(value));
            g_string_append_printf(text, "%s%s=%s", text->len ? ", " : "", safe_name,
                                   safe);
        }
        return g_string_free(g_steal_pointer(&text), FALSE);
    }
    if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(array); i++) {
            JsonNode *element = json_array_get_element(array, i);
            g_autofree char *one = NULL;

            if (!JSON_NODE_HOLDS_VALUE(element)) {
                g_set_error(
                    error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid negotiation record: %s: #%u is not a word or a number",
                    where, i + 1);
                return NULL;
            }
            one = json_node_get_value_type(element) == G_TYPE_STRING
                      ? vmig_render_text(json_node_get_string(element))
                      : g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(element));
            g_string_append_printf(text, "%s%s", i ? ", " : "", one);
        }
        return g_string_free(g_steal_pointer(&text), FALSE);
    }
    if (JSON_NODE_HOLDS_VALUE(node)) {
        GType type = json_node_get_value_type(node);

        if (type == G_TYPE_STRING)
            return vmig_render_text(json_node_get_string(node));
        if (type == G_TYPE_BOOLEAN)
            return g_strdup(json_node_get_boolean(node) ? "yes" : "no");
        if (type == G_TYPE_INT64)
            return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
    }
    g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                "invalid negotiation record: %s is not a value, a list or an object",
                where);
    return NULL;
}

/*
 * Appends the "Handshake" section: each frame kept ("transcript"), a line
 * with its time, direction, type and size, then its items; then the
 * heartbeats counted and the frames over the cap.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_transcript(GString *out, JsonObject *transcript, GError **error)
{
    const char *what = "'transcript'";
    JsonObject *beats = NULL;
    JsonArray *frames = NULL;
    gint64 dropped = -1;

    if (!vmig_render_get_array(transcript, VMIG_RENDER_RECORD, what, "frames", &frames,
                               error) ||
        !vmig_render_get_object(transcript, VMIG_RENDER_RECORD, what, "heartbeats",
                                &beats, error) ||
        !vmig_render_get_count(transcript, VMIG_RENDER_RECORD, what, "dropped", FALSE,
                               &dropped, error))
        return FALSE;
    g_string_append(out, "\nHandshake (the drivers' frames, in ms since the main channel "
                         "opened):\n");
    for (guint i = 0; frames && i < json_array_get_length(frames); i++) {
        JsonObject *frame =
            vmig_render_array_object(frames, i, VMIG_RENDER_RECORD, "frame", error);
        const char *direction = NULL, *type = NULL;
        gint64 bytes = -1, ms = -1;
        JsonObject *items = NULL;
        g_autofree char *safe_type = NULL;
        g_autofree char *safe_direction = NULL;
        g_autofree char *time = NULL;

        if (!frame ||
            !vmig_render_get_string(frame, VMIG_RENDER_RECORD, "frame", "direction", TRUE,
                                    &direction, error) ||
            !vmig_render_get_string(frame, VMIG_RENDER_RECORD, "frame", "type", TRUE,
                                    &type, error) ||
            !vmig_render_get_count(frame, VMIG_RENDER_RECORD, "frame", "bytes", TRUE,
                                   &bytes, error) ||
            !vmig_render_get_count(frame, VMIG_RENDER_RECORD, "frame", "milliseconds",
                                   TRUE, &ms, error) ||
            !vmig_render_get_object(frame, VMIG_RENDER_RECORD, "frame", "items", &items,
                                    error))
            return FALSE;
        safe_direction = vmig_render_text(direction);
        safe_type = vmig_render_text(type);
        time = g_strdup_printf("%" G_GINT64_FORMAT " ms", ms);
        g_string_append_printf(out, "  %-7s  %-8s  %-10s  %" G_GINT64_FORMAT " bytes\n",
                               time, safe_direction, safe_type, bytes);
        if (items) {
            JsonObjectIter iter;
            const char *name;
            JsonNode *value;

            json_object_iter_init_ordered(&iter, items);
            while (json_object_iter_next_ordered(&iter, &name, &value)) {
                g_autofree char *text = vmig_render_item(name, value, error);
                g_autofree char *label = NULL;

                if (!text)
                    return FALSE;
                label = vmig_render_text(name);
                g_string_append_printf(out, "%*s", VMIG_RENDER_ITEM_INDENT, "");
                vmig_render_padded_field(out, VMIG_RENDER_ITEM_WIDTH, label, text);
            }
        }
    }
    if (beats) {
        gint64 counts[4] = {-1, -1, -1, -1};
        static const char *const members[] = {"sent", "bytes-sent", "received",
                                              "bytes-received"};
        g_autofree char *text = NULL;

        for (gsize i = 0; i < G_N_ELEMENTS(members); i++)
            if (!vmig_render_get_count(beats, VMIG_RENDER_RECORD, "'heartbeats'",
                                       members[i], TRUE, &counts[i], error))
                return FALSE;
        text = g_strdup_printf("%" G_GINT64_FORMAT " sent (%" G_GINT64_FORMAT
                               " bytes), %" G_GINT64_FORMAT " received (%" G_GINT64_FORMAT
                               " bytes), not listed",
                               counts[0], counts[1], counts[2], counts[3]);
        vmig_render_section_field(out, "Heartbeats", text);
    }
    if (dropped > 0) {
        g_autofree char *text = g_strdup_printf(
            "%" G_GINT64_FORMAT " more frames, not kept (the cap)", dropped);

        vmig_render_section_field(out, "Not kept", text);
    }
    return TRUE;
}

/* Returns: @us microseconds as milliseconds, "3.665 ms" (to free). */
static char *
vmig_render_us(gint64 us)
{
    return g_strdup_printf("%" G_GINT64_FORMAT ".%03" G_GINT64_FORMAT " ms", us / 1000,
                           us % 1000);
}

/*
 * Appends the "Downtime" section ("stats"): QEMU's times and sizes at
 * completion, the device state against RAM, and the drivers' share.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_stats(GString *out, JsonObject *stats, GError **error)
{
    static const char *const members[] = {
        "total-time",      "setup-time",       "downtime",           "transferred",
        "ram-transferred", "ram-normal-bytes", "ram-downtime-bytes", "multifd-bytes",
        "device-state",    "handshake-us",     "switchover-us",
    };
    enum {
        TOTAL,
        SETUP,
        DOWNTIME,
        SENT,
        RAM,
        NORMAL,
        RAM_DOWN,
        MULTIFD,
        DEVICE,
        HS,
        SW,
        N
    };
    gint64 v[N];

    G_STATIC_ASSERT(G_N_ELEMENTS(members) == N);
    for (gsize i = 0; i < N; i++)
        if (!vmig_render_get_count(stats, VMIG_RENDER_RECORD, "'stats'", members[i],
                                   FALSE, &v[i], error))
            return FALSE;
    g_string_append(out, "\nDowntime and sizes:\n");
    if (v[TOTAL] >= 0) {
        g_autofree char *text = g_strdup_printf("%" G_GINT64_FORMAT " ms", v[TOTAL]);

        vmig_render_section_field(out, "Total time", text);
    }
    if (v[SETUP] >= 0) {
        g_autofree char *text = g_strdup_printf("%" G_GINT64_FORMAT " ms", v[SETUP]);

        vmig_render_section_field(out, "Setup time", text);
    }
    if (v[DOWNTIME] >= 0) {
        g_autofree char *text = g_strdup_printf("%" G_GINT64_FORMAT " ms", v[DOWNTIME]);

        vmig_render_section_field(out, "Downtime", text);
    }
    if (v[SENT] >= 0) {
        g_autofree char *size = vmig_render_size(v[SENT]);

        vmig_render_section_field(out, "Transferred", size);
    }
    if (v[RAM] >= 0) {
        g_autofree char *size = vmig_render_size(v[RAM]);
        g_autoptr(GString) text = g_string_new(size);

        if (v[NORMAL] >= 0) {
            g_autofree char *part = vmig_render_size(v[NORMAL]);

            g_string_append_printf(text, ", %s of it whole pages", part);
        }
        if (v[MULTIFD] > 0) {
            g_autofree char *part = vmig_render_size(v[MULTIFD]);

            g_string_append_printf(text, ", %s over multifd", part);
        }
        vmig_render_section_field(out, "RAM", text->str);
    }
    if (v[RAM_DOWN] >= 0) {
        g_autofree char *size = vmig_render_size(v[RAM_DOWN]);

        vmig_render_section_field(out, "RAM in downtime", size);
    }
    if (v[DEVICE] >= 0) {
        g_autofree char *size = vmig_render_size(v[DEVICE]);
        g_autofree char *text = NULL;

        if (v[SENT] > 0)
            text = g_strdup_printf("%s (estimated: transferred - RAM; %.1f %%)", size,
                                   100.0 * (double)v[DEVICE] / (double)v[SENT]);
        else
            text = g_strdup_printf("%s (estimated: transferred - RAM)", size);
        vmig_render_section_field(out, "Device state", text);
    }
    if (v[HS] >= 0) {
        g_autofree char *time = vmig_render_us(v[HS]);
        g_autofree char *text = NULL;

        /* QEMU's total time starts after the handshake: the whole is both. */
        if (v[TOTAL] >= 0) {
            /* In doubles: the figures are anyone's JSON, and may be huge. */
            double whole = (double)v[HS] + (double)v[TOTAL] * 1000.0;

            text = g_strdup_printf("%s, %.1f %% of the migration (%.0f ms with QEMU's "
                                   "total time)",
                                   time, whole > 0 ? 100.0 * (double)v[HS] / whole : 0.0,
                                   whole / 1000.0);
        } else {
            text = g_strdup(time);
        }
        vmig_render_section_field(out, "Handshake time", text);
    }
    if (v[SW] >= 0) {
        g_autofree char *time = vmig_render_us(v[SW]);
        g_autofree char *text = NULL;

        /* After QEMU's downtime: the guest waits for this round trip too. */
        if (v[DOWNTIME] >= 0) {
            double pause = (double)v[DOWNTIME] * 1000.0 + (double)v[SW];

            text = g_strdup_printf(
                "%s (SWITCHOVER..RESUMED), %.1f %% of the guest's pause "
                "(QEMU's %" G_GINT64_FORMAT " ms downtime and this)",
                time, pause > 0 ? 100.0 * (double)v[SW] / pause : 0.0, v[DOWNTIME]);
        } else {
            text = g_strdup_printf("%s (SWITCHOVER..RESUMED)", time);
        }
        vmig_render_section_field(out, "Switchover", text);
    }
    return TRUE;
}

/*
 * Appends what the handshake cost, how it ended and why.
 * Returns: TRUE, or FALSE with INVALID in @error.
 */
static gboolean
vmig_render_record_end(GString *out, JsonObject *record, GError **error)
{
    JsonObject *handshake = NULL;
    JsonArray *lost = NULL;
    const char *switchover = NULL;
    const char *result = NULL;
    const char *reason = NULL;

    if (!vmig_render_get_object(record, VMIG_RENDER_RECORD, "the record", "handshake",
                                &handshake, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, "the record", "result", FALSE,
                                &result, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, "the record", "error", FALSE,
                                &reason, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, "the record", "switchover",
                                FALSE, &switchover, error) ||
        !vmig_render_get_array(record, VMIG_RENDER_RECORD, "the record",
                               "lost-guarantees", &lost, error))
        return FALSE;
    JsonNode *tls = json_object_get_member(record, "tls");

    if (!handshake && !result && !reason && !switchover && !lost && !tls)
        return TRUE;

    g_string_append_c(out, '\n');
    if (tls && JSON_NODE_HOLDS_OBJECT(tls)) {
        /* TLS1.3, AES-256-GCM, peer CN=dst.example,O=Example,C=GB */
        JsonObject *session = json_node_get_object(tls);
        const char *version = NULL, *cipher = NULL, *peer = NULL;
        g_autofree char *text = NULL;
        g_autofree char *safe = NULL;

        if (!vmig_render_get_string(session, VMIG_RENDER_RECORD, "'tls'", "version", TRUE,
                                    &version, error) ||
            !vmig_render_get_string(session, VMIG_RENDER_RECORD, "'tls'", "cipher", TRUE,
                                    &cipher, error) ||
            !vmig_render_get_string(session, VMIG_RENDER_RECORD, "'tls'", "peer-dn", TRUE,
                                    &peer, error))
            return FALSE;
        text = g_strdup_printf("%s, %s, peer %s", version, cipher, peer);
        safe = vmig_render_text(text);
        vmig_render_field(out, "TLS", safe);
    } else if (tls && JSON_NODE_HOLDS_VALUE(tls) &&
               json_node_get_value_type(tls) == G_TYPE_STRING) {
        g_autofree char *safe = vmig_render_text(json_node_get_string(tls));

        vmig_render_field(out, "TLS", safe);
    } else if (tls) {
        g_set_error(error, VMIG_RENDER_ERROR, VMIG_RENDER_ERROR_INVALID,
                    "invalid record: 'tls' is neither a session nor a word");
        return FALSE;
    }
    if (handshake) {
        g_autoptr(GString) text = g_string_new(NULL);

        for (gsize i = 0; i < G_N_ELEMENTS(vmig_render_handshake); i++) {
            gint64 value = -1;

            if (!vmig_render_get_count(handshake, VMIG_RENDER_RECORD, "'handshake'",
                                       vmig_render_handshake[i].member, FALSE, &value,
                                       error))
                return FALSE;
            if (value < 0)
                continue;
            if (text->len)
                g_string_append(text, ", ");
            g_string_append_printf(text, "%" G_GINT64_FORMAT " %s", value,
                                   vmig_render_handshake[i].unit);
        }
        vmig_render_field(out, "Handshake", text->len ? text->str : "-");
    }
    if (switchover) {
        g_autofree char *text = vmig_render_text(switchover);

        vmig_render_field(out, "Switchover", text);
    }
    if (lost) {
        g_autoptr(GString) text = g_string_new(NULL);

        for (guint i = 0; i < json_array_get_length(lost); i++) {
            const char *name = vmig_render_array_string(lost, i, VMIG_RENDER_RECORD,
                                                        "lost guarantee", error);
            g_autofree char *safe = NULL;

            if (!name)
                return FALSE;
            safe = vmig_render_text(name);
            g_string_append_printf(text, "%s%s", i ? ", " : "", safe);
        }
        vmig_render_field(out, "Not guaranteed", text->len ? text->str : "-");
    }
    if (result)
        vmig_render_field(out, "Result", result);
    if (reason)
        vmig_render_field(out, "Error", reason);
    return TRUE;
}

char *
vmig_render_record_summary(JsonObject *record, GError **error)
{
    g_autoptr(GString) out = g_string_new(NULL);
    JsonObject *offered = NULL;
    JsonArray *chosen = NULL;
    JsonArray *declined = NULL;
    JsonObject *channels = NULL;
    JsonObject *tunables = NULL;
    JsonObject *transcript = NULL;
    JsonObject *stats = NULL;
    const char *what = "the record";

    g_return_val_if_fail(record != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    if (!vmig_render_get_object(record, VMIG_RENDER_RECORD, what, "offered", &offered,
                                error) ||
        !vmig_render_get_array(record, VMIG_RENDER_RECORD, what, "features", &chosen,
                               error) ||
        !vmig_render_get_array(record, VMIG_RENDER_RECORD, what, "declined", &declined,
                               error) ||
        !vmig_render_get_object(record, VMIG_RENDER_RECORD, what, "channels", &channels,
                                error) ||
        !vmig_render_get_object(record, VMIG_RENDER_RECORD, what, "tunables", &tunables,
                                error) ||
        !vmig_render_get_object(record, VMIG_RENDER_RECORD, what, "transcript",
                                &transcript, error) ||
        !vmig_render_get_object(record, VMIG_RENDER_RECORD, what, "stats", &stats, error))
        return NULL;

    if (!vmig_render_record_head(out, record, error))
        return NULL;
    if (offered && !vmig_render_offers(out, offered, error))
        return NULL;
    if (chosen) {
        g_string_append(out, "\nChosen features:\n");
        if (!vmig_render_feature_list(out, chosen, "chosen feature", TRUE, error))
            return NULL;
    }
    if (declined) {
        g_string_append(out, "\nDeclined features:\n");
        if (!vmig_render_feature_list(out, declined, "declined feature", TRUE, error))
            return NULL;
    }
    if (channels) {
        g_string_append_c(out, '\n');
        if (!vmig_render_record_channels(out, channels, error))
            return NULL;
    }
    if (tunables && !vmig_render_tunables(out, tunables, error))
        return NULL;
    if (transcript && !vmig_render_transcript(out, transcript, error))
        return NULL;
    if (stats && !vmig_render_stats(out, stats, error))
        return NULL;
    if (!vmig_render_record_end(out, record, error))
        return NULL;
    return g_string_free(g_steal_pointer(&out), FALSE);
}

char *
vmig_render_record_xml(JsonObject *record, GError **error)
{
    g_return_val_if_fail(record != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    return vmig_render_xml_document(vmig_xml_record_format(record, error));
}

/* ------------------------------------------------------------------------ */
/* jobinfo */

/* The labels' column of jobinfo: "Expected downtime:" and a space. */
#define VMIG_RENDER_JOB_LABEL_WIDTH 19

/* Appends "@label:" padded to the jobinfo column, then @value. */
static void
vmig_render_job_field(GString *out, const char *label, const char *value)
{
    vmig_render_padded_field(out, VMIG_RENDER_JOB_LABEL_WIDTH, label, value);
}

/* Returns: @bytes in the largest binary unit it fills, "1.500 GiB" (to free). */
static char *
vmig_render_size(gint64 bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = (double)bytes;
    gsize unit = 0;

    if (bytes < 1024)
        return g_strdup_printf("%" G_GINT64_FORMAT " B", bytes);
    while (value >= 1024 && unit + 1 < G_N_ELEMENTS(units)) {
        value /= 1024;
        unit++;
    }
    return g_strdup_printf("%.3f %s", value, units[unit]);
}

char *
vmig_render_jobinfo(JsonObject *record, GError **error)
{
    /* The figures of "progress", in virsh domjobinfo's order and words. */
    static const struct {
        const char *member;
        const char *label;
        const char *unit; /* NULL: a size in bytes */
    } figures[] = {
        {"milliseconds", "Time elapsed", "ms"},
        {"transferred", "Data processed", NULL},
        {"remaining", "Data remaining", NULL},
        {"total", "Data total", NULL},
        {"throughput", "Memory bandwidth", "/s"},
        {"expected-downtime", "Expected downtime", "ms"},
    };
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *job_type = NULL;
    JsonObject *progress = NULL;
    const char *what = "the record";
    g_auto(VmigRenderWho) who = {NULL};
    const char *result = NULL;
    const char *reason = NULL;

    g_return_val_if_fail(record != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    if (!vmig_render_get_who(record, &who, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, what, "result", FALSE,
                                &result, error) ||
        !vmig_render_get_string(record, VMIG_RENDER_RECORD, what, "error", FALSE, &reason,
                                error) ||
        !vmig_render_get_object(record, VMIG_RENDER_RECORD, what, "progress", &progress,
                                error))
        return NULL;

    /* virsh's job types: a running migration's is unbounded. */
    if (result)
        job_type = g_strdup_printf("%c%s", g_ascii_toupper(result[0]), result + 1);
    else
        job_type = g_strdup("Unbounded");
    vmig_render_job_field(out, "Migration", who.id);
    if (who.domain)
        vmig_render_job_field(out, "Domain", who.domain);
    vmig_render_job_field(out, "Job type", job_type);
    vmig_render_job_field(out, "Operation",
                          g_str_equal(who.role, "source") ? "Outgoing migration"
                                                          : "Incoming migration");
    vmig_render_job_field(out, "State", who.state);
    for (gsize i = 0; progress && i < G_N_ELEMENTS(figures); i++) {
        g_autofree char *text = NULL;
        gint64 value = -1;

        if (!vmig_render_get_count(progress, VMIG_RENDER_RECORD, "'progress'",
                                   figures[i].member, FALSE, &value, error))
            return NULL;
        if (value < 0)
            continue;
        if (!figures[i].unit)
            text = vmig_render_size(value);
        else if (g_str_equal(figures[i].unit, "/s")) {
            g_autofree char *size = vmig_render_size(value);

            text = g_strconcat(size, "/s", NULL);
        } else
            text = g_strdup_printf("%" G_GINT64_FORMAT " %s", value, figures[i].unit);
        vmig_render_job_field(out, figures[i].label, text);
    }
    if (reason)
        vmig_render_job_field(out, "Error", reason);
    return g_string_free(g_steal_pointer(&out), FALSE);
}
