/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli-migrate.c: the commands that start a migration: migrate (and follow
 * it to its end, cancelling on Ctrl-C or --timeout), incoming
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-cli"

#include "tools/cli.h"

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fdpass/fd.h"
#include "tools/render.h"

/* One `migrate` in progress. */
typedef struct {
    VmigClient *client;
    GQueue events; /* JsonObject *: read while a reply was awaited */
    char *id;      /* the migration's, once the daemon named it */
    VmigFd sigint; /* the SIGINT signalfd, or -1 */
    gboolean verbose;
    int drawn; /* the progress on screen, or -1 */
} VmigCliMigration;

/* Frees what @m holds. */
static void
vmig_cli_migration_clear(VmigCliMigration *m)
{
    g_queue_clear_full(&m->events, (GDestroyNotify)json_object_unref);
    g_clear_pointer(&m->client, vmig_client_free);
    g_clear_pointer(&m->id, g_free);
    vmig_fd_clear(&m->sigint);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigCliMigration, vmig_cli_migration_clear)

/* The client's event callback: keeps the event for later. */
static void
vmig_cli_migration_queue(JsonObject *event, gpointer user_data)
{
    VmigCliMigration *m = user_data;

    g_queue_push_tail(&m->events, json_object_ref(event));
}

/*
 * Returns: the next event, those kept while a reply was awaited first (a
 * new reference), or NULL with @error set (TIMEOUT after @deadline,
 * INTERRUPTED on Ctrl-C).
 */
static JsonObject *
vmig_cli_migration_next(VmigCliMigration *m, gint64 deadline, GError **error)
{
    if (!g_queue_is_empty(&m->events))
        return g_queue_pop_head(&m->events);
    return vmig_client_read_event(m->client, deadline, error);
}

/* Draws the progress line with @percent, on stderr as virsh does. */
static void
vmig_cli_migration_draw(VmigCliMigration *m, int percent)
{
    g_autofree char *line = NULL;

    if (percent == m->drawn)
        return;
    line = vmig_render_progress(percent);
    fputs(line, stderr);
    fflush(stderr);
    m->drawn = percent;
}

/* Ends the progress line, if one is drawn. */
static void
vmig_cli_migration_end_line(VmigCliMigration *m)
{
    if (m->drawn < 0)
        return;
    fputs("\n", stderr);
    m->drawn = -1;
}

/*
 * The migration ended (MIGRATION_DONE with @data): says how.
 * @why: NULL, or why we cancelled it ("interrupted", "timed out after 5 s")
 * Returns: the exit status.
 */
static int
vmig_cli_migration_done(VmigCliMigration *m, JsonObject *data, const char *why)
{
    const char *result = vmig_cli_get_string(data, "result");
    const char *reason = vmig_cli_get_string(data, "error");
    g_autofree char *because = reason ? g_strdup_printf(": %s", reason) : g_strdup("");
    g_autofree char *text = NULL;

    if (g_strcmp0(result, "completed") == 0) {
        if (m->verbose) {
            vmig_cli_migration_draw(m, 100);
            vmig_cli_migration_end_line(m);
        }
        text = g_strdup_printf("Migration %s completed\n", m->id);
        return vmig_cli_output(text);
    }
    vmig_cli_migration_end_line(m);
    /* The daemon's reason for our own cancel is news only when it says more. */
    if (why && g_strcmp0(result, "cancelled") == 0 &&
        (!reason || g_str_equal(reason, "cancelled by the management app")))
        return vmig_cli_fail("%s; migration cancelled", why);
    if (why)
        return vmig_cli_fail("%s; migration %s %s%s", why, m->id,
                             result ? result : "ended", because);
    if (g_strcmp0(result, "failed") == 0)
        return vmig_cli_fail("migration %s failed%s", m->id, because);
    if (g_strcmp0(result, "cancelled") == 0)
        return vmig_cli_fail("migration %s was cancelled%s", m->id, because);
    if (g_strcmp0(result, "unknown") == 0)
        return vmig_cli_fail("migration %s ended unknown, the guest paused here%s", m->id,
                             because);
    return vmig_cli_fail("migration %s ended with result '%s'%s", m->id,
                         result ? result : "(none)", because);
}

/*
 * Cancels the migration (Ctrl-C, --timeout: @why) and waits, a bounded
 * time, for it to say it stopped.  A second Ctrl-C stops waiting.
 * Returns: the exit status.
 */
static int
vmig_cli_migration_cancel(VmigCliMigration *m, const char *why)
{
    gint64 deadline = g_get_monotonic_time() + VMIG_CLI_CANCEL_WAIT_S * G_USEC_PER_SEC;
    g_autoptr(JsonNode) arguments = vmig_cli_migration_arguments(m->id);
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;
    gint64 id;

    g_debug("%s: cancelling migration %s", why, m->id);
    id = vmig_client_send_command(m->client, "cancel", json_node_get_object(arguments),
                                  NULL, 0, &error);
    if (id == 0) {
        vmig_cli_migration_end_line(m);
        return vmig_cli_fail("%s; cannot cancel migration %s: %s", why, m->id,
                             error->message);
    }
    reply = vmig_client_wait_reply(m->client, id, deadline, &error);
    if (!reply && (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_COMMAND) ||
                   g_error_matches(error, VMIG_CLIENT_ERROR,
                                   VMIG_CLIENT_ERROR_COMMAND_NOT_FOUND))) {
        /* Refused, say because it just ended: its MIGRATION_DONE tells. */
        g_debug("cancel refused: %s", error->message);
        g_clear_error(&error);
    }

    while (!error) {
        g_autoptr(JsonObject) event = vmig_cli_migration_next(m, deadline, &error);

        if (!event)
            break;
        if (!vmig_cli_event_is_for(event, m->id) ||
            g_strcmp0(vmig_cli_get_string(event, "event"), "MIGRATION_DONE") != 0)
            continue;
        return vmig_cli_migration_done(m, vmig_cli_event_data(event), why);
    }

    vmig_cli_migration_end_line(m);
    if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_INTERRUPTED))
        return vmig_cli_fail(
            "%s; interrupted again: not waiting for migration %s to stop", why, m->id);
    if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT))
        return vmig_cli_fail("%s; migration %s did not stop within %d s", why, m->id,
                             VMIG_CLI_CANCEL_WAIT_S);
    return vmig_cli_fail("%s; cannot cancel migration %s: %s", why, m->id,
                         error->message);
}

/*
 * Handles one event of the migration.
 * Returns: the exit status once the migration ended, or -1 to go on.
 */
static int
vmig_cli_migration_event(VmigCliMigration *m, JsonObject *event)
{
    const char *name = vmig_cli_get_string(event, "event");
    JsonObject *data = vmig_cli_event_data(event);
    g_autoptr(GError) error = NULL;

    if (!vmig_cli_event_is_for(event, m->id))
        return -1;
    if (g_strcmp0(name, "NEGOTIATED") == 0) {
        g_autofree char *text = vmig_render_negotiated(data, &error);
        int status;

        if (!text) {
            vmig_cli_migration_end_line(m);
            g_printerr("virt-migrate: warning: %s\n", error->message);
            return -1;
        }
        status = vmig_cli_output(text);
        return status == VMIG_CLI_EXIT_OK ? -1 : status;
    }
    if (g_strcmp0(name, "MIGRATION_PROGRESS") == 0 && m->verbose) {
        int percent = vmig_render_progress_percent(data);

        /* 100 % is drawn when the migration completed, not before. */
        if (percent >= 0)
            vmig_cli_migration_draw(m, MIN(percent, 99));
        return -1;
    }
    if (g_strcmp0(name, "MIGRATION_DONE") == 0)
        return vmig_cli_migration_done(m, data, NULL);
    return -1;
}

/*
 * Sends migrate with @arguments, then follows the migration's events
 * until it ends, --timeout (@timeout seconds, NAN: none) passed or Ctrl-C.
 * Returns: the exit status.
 */
static int
vmig_cli_migration_run(VmigCli *cli, VmigCliMigration *m, JsonObject *arguments,
                       double timeout)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;
    gint64 deadline = -1;
    gint64 reply_deadline = -1;
    gboolean interrupted = FALSE;
    const char *id;
    gint64 command;

    if (!isnan(timeout))
        deadline = g_get_monotonic_time() + (gint64)(timeout * G_USEC_PER_SEC);
    if (cli->timeout_ms >= 0)
        reply_deadline = g_get_monotonic_time() + (gint64)cli->timeout_ms * 1000;

    command = vmig_client_send_command(m->client, "migrate", arguments, NULL, 0, &error);
    if (command == 0)
        return vmig_cli_fail("%s", error->message);
    for (;;) {
        gint64 grace;

        reply = vmig_client_wait_reply(m->client, command, reply_deadline, &error);
        if (reply)
            break;
        if (!g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_INTERRUPTED) ||
            interrupted) {
            if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT))
                return vmig_cli_fail("virt-migrated did not answer 'migrate' in time%s",
                                     interrupted ? "; a migration may have started" : "");
            return vmig_cli_fail("%s", error->message);
        }
        /*
         * Ctrl-C before the daemon named the migration: it may be starting
         * one all the same.  Wait (a while) for its name, to cancel it.
         */
        interrupted = TRUE;
        vmig_cli_sigint_clear(m->sigint);
        g_clear_error(&error);
        grace = g_get_monotonic_time() + VMIG_CLI_CANCEL_WAIT_S * G_USEC_PER_SEC;
        reply_deadline = reply_deadline < 0 ? grace : MIN(reply_deadline, grace);
    }

    id = JSON_NODE_HOLDS_OBJECT(reply)
             ? vmig_cli_get_string(json_node_get_object(reply), "migration")
             : NULL;
    if (!id)
        return vmig_cli_fail(
            "virt-migrated answered migrate without naming the migration");
    m->id = g_strdup(id);
    g_debug("migration %s started", m->id);
    if (interrupted)
        return vmig_cli_migration_cancel(m, "interrupted");

    for (;;) {
        g_autoptr(JsonObject) event = vmig_cli_migration_next(m, deadline, &error);
        int status;

        if (!event) {
            if (g_error_matches(error, VMIG_CLIENT_ERROR,
                                VMIG_CLIENT_ERROR_INTERRUPTED)) {
                vmig_cli_sigint_clear(m->sigint);
                return vmig_cli_migration_cancel(m, "interrupted");
            }
            if (g_error_matches(error, VMIG_CLIENT_ERROR, VMIG_CLIENT_ERROR_TIMEOUT)) {
                g_autofree char *why = g_strdup_printf("timed out after %g s", timeout);

                return vmig_cli_migration_cancel(m, why);
            }
            vmig_cli_migration_end_line(m);
            return vmig_cli_fail("%s", error->message);
        }
        status = vmig_cli_migration_event(m, event);
        if (status >= 0)
            return status;
    }
}

/*
 * migrate DOMAIN DEST [--tunable NAME=VALUE]... [--channels N]
 * [--no-feature F]... [--require-feature F]... [--unstable] [--verbose]
 * [--timeout S].  Returns: the exit status.
 */
int
vmig_cli_migrate(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    g_auto(GStrv) tunables = NULL;
    g_auto(GStrv) no_features = NULL;
    g_auto(GStrv) require_features = NULL;
    int channels = G_MININT;
    gboolean unstable = FALSE;
    gboolean verbose = FALSE;
    double timeout = NAN;
    g_autofree char *libvirt_uri = NULL;
    g_autofree char *peer = NULL;
    g_autofree char *domain = NULL;
    gboolean live = FALSE;
    gboolean persistent = FALSE;
    gboolean undefine_source = FALSE;
    gboolean tls = FALSE;
    gboolean prepared = FALSE;
    gboolean send_domain = FALSE;
    g_autofree char *tls_hostname = NULL;
    gboolean experimental = FALSE;
    gboolean allow_legacy = FALSE;
    const GOptionEntry entries[] = {
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &libvirt_uri,
         "DOMAIN is a libvirt domain on the libvirt at URI; DEST a libvirt URI", "URI"},
        {"peer", 0, 0, G_OPTION_ARG_STRING, &peer,
         "with -c: the destination driver: HOST[:PORT] or tcp:HOST[:PORT], its standing "
         "listener (default port 16520), or unix:PATH, a listener prepared with incoming",
         "DRIVER_URI"},
        {"prepared", 0, 0, G_OPTION_ARG_NONE, &prepared,
         "with -c: --peer is a TCP listener prepared with incoming, not a standing one",
         NULL},
        {"live", 0, 0, G_OPTION_ARG_NONE, &live, "with -c: live migration (always)",
         NULL},
        {"persistent", 0, 0, G_OPTION_ARG_NONE, &persistent,
         "with -c: define the domain on the destination", NULL},
        {"undefinesource", 0, 0, G_OPTION_ARG_NONE, &undefine_source,
         "with -c: undefine the domain on the source", NULL},
        {"tls", 0, 0, G_OPTION_ARG_NONE, &tls,
         "require TLS between the drivers, on any transport (TCP uses it anyway)", NULL},
        {"tls-hostname", 0, 0, G_OPTION_ARG_STRING, &tls_hostname,
         "the name the destination's certificate must match (default: DEST's host)",
         "NAME"},
        {"experimental-protocol", 0, 0, G_OPTION_ARG_NONE, &experimental,
         "also offer the experimental protocol versions (no compatibility promise)",
         NULL},
        {"allow-legacy", 0, 0, G_OPTION_ARG_NONE, &allow_legacy,
         "if no driver answers at DEST (a QEMU waiting with -incoming), migrate to it "
         "plainly, without negotiation",
         NULL},
        {"tunable", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tunables,
         "set a tunable of the source (repeatable)", "NAME=VALUE"},
        {"channels", 0, 0, G_OPTION_ARG_INT, &channels,
         "ask for N extra (multifd) channels", "N"},
        {"no-feature", 0, 0, G_OPTION_ARG_STRING_ARRAY, &no_features,
         "refuse feature F (repeatable)", "F"},
        {"require-feature", 0, 0, G_OPTION_ARG_STRING_ARRAY, &require_features,
         "fail unless feature F is negotiated (repeatable)", "F"},
        {"unstable", 0, 0, G_OPTION_ARG_NONE, &unstable, "allow unstable (x-) tunables",
         NULL},
        {"verbose", 0, 0, G_OPTION_ARG_NONE, &verbose, "show the progress", NULL},
        {"timeout", 0, 0, G_OPTION_ARG_DOUBLE, &timeout,
         "cancel the migration if it is not done after S seconds", "S"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_auto(VmigCliMigration) m = {.sigint = -1, .drawn = -1};
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) arguments = NULL;
    g_autoptr(GError) error = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse(command, entries, &argc, &argv, &status))
        return status;
    /* As virsh's: the global -c, unless this command has its own. */
    libvirt_uri = vmig_cli_libvirt_uri(cli, g_steal_pointer(&libvirt_uri));
    if (argc < 2)
        return vmig_cli_usage_error(command, "missing DOMAIN");
    if (argc < 3)
        return vmig_cli_usage_error(command, "missing DEST");
    if (argc > 3)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[3]);
    if (libvirt_uri && !peer)
        return vmig_cli_usage_error(command,
                                    "with -c, --peer names the destination driver");
    if (!libvirt_uri && (peer || persistent || undefine_source || prepared))
        return vmig_cli_usage_error(
            command, "--peer, --prepared, --persistent and --undefinesource go with -c");
    /* A standing listener takes the domain's XML from us; a unix socket is
     * always a listener prepared with incoming. */
    send_domain = peer && !prepared && !g_str_has_prefix(peer, "unix:");
    if (!libvirt_uri && !g_str_has_prefix(argv[2], "unix:") &&
        !g_str_has_prefix(argv[2], "tcp:"))
        return vmig_cli_usage_error(
            command, "DEST is unix:PATH or tcp:HOST:PORT, not '%s'", argv[2]);
    if (peer && !send_domain && !g_str_has_prefix(peer, "unix:") &&
        !g_str_has_prefix(peer, "tcp:"))
        return vmig_cli_usage_error(
            command, "--peer is unix:PATH or tcp:HOST:PORT with --prepared, not '%s'",
            peer);
    if (peer && !*peer)
        return vmig_cli_usage_error(command, "--peer names no driver");
    if (!vmig_cli_check_tunables(command, tunables, &status))
        return status;
    /* The drivers' limit (a u16 on the wire, 255 by the protocol): said
     * here, before any daemon is asked. */
    if (channels != G_MININT && (channels < 0 || channels > 255))
        return vmig_cli_usage_error(command, "--channels wants 0 to 255, not %d",
                                    channels);
    if (!isnan(timeout) && !(timeout > 0 && timeout <= G_MAXINT))
        return vmig_cli_usage_error(command,
                                    "--timeout wants a positive number of seconds");
    if (!vmig_cli_check_features(command, no_features, require_features, &status))
        return status;
    for (char **f = no_features; f && *f; f++) {
        if (require_features &&
            g_strv_contains((const char *const *)require_features, *f))
            return vmig_cli_usage_error(
                command, "feature '%s' cannot be both refused and required", *f);
    }

    domain = vmig_cli_domain(libvirt_uri, argv[1]);
    vmig_cli_set_domain(domain, argv[1]);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "domain");
    json_builder_add_string_value(b, domain);
    json_builder_set_member_name(b, "dest");
    json_builder_add_string_value(b, libvirt_uri ? peer : argv[2]);
    if (libvirt_uri) {
        json_builder_set_member_name(b, "libvirt-dest");
        json_builder_add_string_value(b, argv[2]);
        json_builder_set_member_name(b, "persistent");
        json_builder_add_boolean_value(b, persistent);
        json_builder_set_member_name(b, "undefine-source");
        json_builder_add_boolean_value(b, undefine_source);
        if (send_domain) {
            json_builder_set_member_name(b, "send-domain");
            json_builder_add_boolean_value(b, TRUE);
        }
    }
    if (channels != G_MININT) {
        json_builder_set_member_name(b, "channels");
        json_builder_add_int_value(b, channels);
    }
    if (tls || tls_hostname) {
        json_builder_set_member_name(b, "tls");
        json_builder_add_boolean_value(b, TRUE);
    }
    if (tls_hostname) {
        json_builder_set_member_name(b, "tls-hostname");
        json_builder_add_string_value(b, tls_hostname);
    }
    if (experimental) {
        json_builder_set_member_name(b, "experimental-protocol");
        json_builder_add_boolean_value(b, TRUE);
    }
    if (allow_legacy) {
        json_builder_set_member_name(b, "legacy");
        json_builder_add_boolean_value(b, TRUE);
    }
    if (tunables) {
        json_builder_set_member_name(b, "tunables");
        json_builder_begin_array(b);
        for (char **t = tunables; *t; t++)
            json_builder_add_string_value(b, *t);
        json_builder_end_array(b);
    }
    if (unstable) {
        json_builder_set_member_name(b, "unstable");
        json_builder_add_boolean_value(b, TRUE);
    }
    if (no_features) {
        json_builder_set_member_name(b, "no-features");
        json_builder_begin_array(b);
        for (char **f = no_features; *f; f++)
            json_builder_add_string_value(b, *f);
        json_builder_end_array(b);
    }
    if (require_features) {
        json_builder_set_member_name(b, "require-features");
        json_builder_begin_array(b);
        for (char **f = require_features; *f; f++)
            json_builder_add_string_value(b, *f);
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    arguments = json_builder_get_root(b);

    m.verbose = verbose;
    m.client = vmig_cli_connect(cli, &error);
    if (!m.client)
        return vmig_cli_fail("%s", error->message);
    m.sigint = vmig_cli_sigint_open();
    if (m.sigint < 0)
        return vmig_cli_fail("cannot catch Ctrl-C: %s", g_strerror(errno));
    vmig_client_set_interrupt_fd(m.client, m.sigint);
    vmig_client_set_event_func(m.client, vmig_cli_migration_queue, &m);
    return vmig_cli_migration_run(cli, &m, json_node_get_object(arguments), timeout);
}

/* Returns: a JSON array of the strings in @strv (NULL: empty), a new node. */
static JsonNode *
vmig_cli_strv_node(char **strv)
{
    JsonArray *array = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; strv && strv[i]; i++)
        json_array_add_string_element(array, strv[i]);
    json_node_take_array(node, array);
    return node;
}

/* incoming DOMAIN LISTEN [...].  Returns: the exit status. */
int
vmig_cli_incoming(VmigCli *cli, const VmigCliCommand *command, int argc, char **argv)
{
    g_auto(GStrv) no_features = NULL;
    g_auto(GStrv) require_features = NULL;
    gint max_channels = -1;
    gboolean paused = FALSE;
    gboolean tls = FALSE;
    gboolean experimental = FALSE;
    g_autofree char *libvirt_uri = NULL;
    g_autofree char *xml_file = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *domain = NULL;
    const GOptionEntry entries[] = {
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &libvirt_uri,
         "DOMAIN is a libvirt domain coming to the libvirt at URI", "URI"},
        {"xml", 0, 0, G_OPTION_ARG_FILENAME, &xml_file,
         "with -c: the domain's XML (it names the emulator)", "FILE"},
        {"no-feature", 0, 0, G_OPTION_ARG_STRING_ARRAY, &no_features,
         "refuse feature F (repeatable)", "F"},
        {"require-feature", 0, 0, G_OPTION_ARG_STRING_ARRAY, &require_features,
         "insist on feature F (repeatable)", "F"},
        {"max-channels", 0, 0, G_OPTION_ARG_INT, &max_channels,
         "take at most N extra channels (default 16)", "N"},
        {"paused", 0, 0, G_OPTION_ARG_NONE, &paused,
         "leave the guest paused once migrated", NULL},
        {"tls", 0, 0, G_OPTION_ARG_NONE, &tls,
         "accept only TLS from the source driver, on any transport (TCP requires it "
         "anyway)",
         NULL},
        {"experimental-protocol", 0, 0, G_OPTION_ARG_NONE, &experimental,
         "also offer the experimental protocol versions (no compatibility promise)",
         NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;
    int status = VMIG_CLI_EXIT_OK;

    if (!vmig_cli_parse(command, entries, &argc, &argv, &status))
        return status;
    /* As virsh's: the global -c, unless this command has its own. */
    libvirt_uri = vmig_cli_libvirt_uri(cli, g_steal_pointer(&libvirt_uri));
    if (argc < 3)
        return vmig_cli_usage_error(command,
                                    argc < 2 ? "missing DOMAIN" : "missing LISTEN");
    if (argc > 3)
        return vmig_cli_usage_error(command, "unexpected argument '%s'", argv[3]);
    if (!g_str_has_prefix(argv[2], "unix:") && !g_str_has_prefix(argv[2], "tcp:"))
        return vmig_cli_usage_error(
            command, "LISTEN must be unix:PATH or tcp:HOST:PORT, not '%s'", argv[2]);
    if (max_channels != -1 && (max_channels < 0 || max_channels > 255))
        return vmig_cli_usage_error(command, "--max-channels must be 0 to 255");
    if (xml_file && !libvirt_uri)
        return vmig_cli_usage_error(command, "--xml goes with -c");
    if (!vmig_cli_check_features(command, no_features, require_features, &status))
        return status;
    if (xml_file && !g_file_get_contents(xml_file, &xml, NULL, &error))
        return vmig_cli_fail("%s", error->message);

    domain = vmig_cli_domain(libvirt_uri, argv[1]);
    vmig_cli_set_domain(domain, argv[1]);
    json_object_set_string_member(arguments, "domain", domain);
    if (xml)
        json_object_set_string_member(arguments, "domain-xml", xml);
    json_object_set_string_member(arguments, "listen", argv[2]);
    json_object_set_boolean_member(arguments, "resume", !paused);
    if (tls)
        json_object_set_boolean_member(arguments, "tls", TRUE);
    if (experimental)
        json_object_set_boolean_member(arguments, "experimental-protocol", TRUE);
    if (max_channels >= 0)
        json_object_set_int_member(arguments, "max-channels", max_channels);
    if (no_features)
        json_object_set_member(arguments, "no-features", vmig_cli_strv_node(no_features));
    if (require_features)
        json_object_set_member(arguments, "require-features",
                               vmig_cli_strv_node(require_features));
    reply = vmig_cli_execute(cli, "prepare-incoming", arguments, &error);
    if (!reply)
        return vmig_cli_fail("%s", error->message);
    g_print("Migration %s waits for its source at %s\n",
            json_object_get_string_member(json_node_get_object(reply), "migration"),
            argv[2]);
    return VMIG_CLI_EXIT_OK;
}
