/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migration-start.c: from a request to a running handshake: the checks,
 * the introspection (by the backend), the user's tunables, this side's
 * offer, and the listener or the dial
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-migration"

#include "driver/migration-private.h"

#include <string.h>

#include "driver/features.h"
#include "driver/libvirt.h"
#include "driver/tunables.h"
#include "fdpass/fd.h"
#include "fdpass/fdpass.h"

void
vmig_mig_start(VmigMigration *m, VmigMigrationRequest *req)
{
    g_autoptr(GError) error = NULL;
    gboolean source = m->role == VMIG_ROLE_SOURCE;

    if (m->request_fd >= 0 && m->uri) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "give either a URI or a main channel fd, not both");
    } else if (m->request_fd < 0 && !m->uri && !(m->standing && !source)) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "%s needs a URI (%s) or a main channel fd attached",
                    source ? "migrate" : "prepare-incoming", source ? "dest" : "listen");
    } else if (m->uri && !(m->address = vmig_address_parse(m->uri, &error))) {
        /* error set */
    } else if (m->request_fd >= 0 &&
               !vmig_fdpass_check_stream_socket(m->request_fd, &error)) {
        g_prefix_error(&error, "the main channel: ");
    } else if (!vmig_features_check_names(req->no_features, "no-features", &m->forbidden,
                                          &error) ||
               !vmig_features_check_names(req->require_features, "require-features",
                                          &m->required, &error)) {
        /* error set */
    } else if (m->send_domain && !vmig_libvirt_is_domain(m->domain)) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "send-domain brings a libvirt domain to the destination's standing "
                    "listener; '%s' is not one (libvirt:URI#NAME)",
                    m->domain);
    } else if (source && req->channels > 255) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "channels must be 0 to 255, not %u", req->channels);
    } else if (req->tls_hostname &&
               !(req->tls || (m->address && m->address->kind == VMIG_ADDRESS_TCP))) {
        g_set_error(&error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                    "tls-hostname is for TLS migrations: add tls");
    } else if (!vmig_mig_tls_decide(m, req->tls, &error)) {
        /* error set */
    }
    if (error) {
        vmig_mig_refuse_start(m, error);
        return;
    }
    m->backend->introspect(m);
}

/* Parses the user's NAME=VALUE tunables against the local catalog. */
static gboolean
parse_tunables(VmigMigration *m, GError **error)
{
    VmigMigTunable *channels;

    for (guint i = 0; m->tunable_args && m->tunable_args[i]; i++) {
        const VmigTunable *tunable = NULL;
        JsonNode *value = NULL;
        VmigMigTunable *a;

        if (!vmig_tunable_parse(m->catalog, m->tunable_args[i],
                                m->unstable ? VMIG_TUNABLE_PARSE_UNSTABLE : 0, &tunable,
                                &value, error))
            return FALSE;
        a = vmig_mig_find_applied(m, tunable->name);
        if (a) {
            json_node_unref(a->value);
            g_free(a->text);
        } else {
            a = g_new0(VmigMigTunable, 1);
            a->name = g_strdup(tunable->name);
            g_ptr_array_add(m->applied, a);
        }
        a->tunable = tunable;
        a->value = value;
        a->text = g_strdup(strchr(m->tunable_args[i], '=') + 1);
    }
    /* --channels wins; else multifd-channels says how many to ask for. */
    channels = vmig_mig_find_applied(m, "multifd-channels");
    if (m->requested_channels == 0 && channels) {
        gint64 n = json_node_get_int(channels->value);

        if (n < 0 || n > 255) {
            g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                        "multifd-channels must be 0 to 255, not %" G_GINT64_FORMAT, n);
            return FALSE;
        }
        m->requested_channels = n;
    }
    return TRUE;
}

/*
 * Builds this side's offer from its QEMU's catalog and the driver's policy
 * (features.c): why a feature is not offered goes to the record.
 * Returns: TRUE, or FALSE with @error (a required feature that cannot be had).
 */
static gboolean
build_offer(VmigMigration *m, GError **error)
{
    VmigNegotiateMessage *offer =
        vmig_negotiate_message_new(VMIG_NEGOTIATE_FRAME_GREETING);
    gboolean source = m->role == VMIG_ROLE_SOURCE;
    VmigMigTunable *compression = vmig_mig_find_applied(m, "multifd-compression");
    VmigFeatureOfferContext context = {
        .source = source,
        .forbidden = m->forbidden,
        .required = m->required,
        .channels = m->requested_channels,
        .compression =
            compression && !g_str_equal(json_node_get_string(compression->value), "none"),
    };

    m->local_offer = offer;
    /*
     * Newest first; version 2 only when the daemon offers it (--max-protocol);
     * the experimental version, built on version 2, only when this migration
     * or the daemon opted in (--experimental-protocol): so it is chosen only
     * when both sides did.
     */
    if (vmig_mig_settings(m)->max_version >= VMIG_NEGOTIATE_VERSION_2 &&
        (m->experimental_protocol || vmig_mig_settings(m)->experimental_protocol))
        vmig_negotiate_message_add_version(offer, VMIG_NEGOTIATE_VERSION_2_EXPERIMENTAL);
    if (vmig_mig_settings(m)->max_version >= VMIG_NEGOTIATE_VERSION_2) {
        vmig_negotiate_message_add_version(offer, VMIG_NEGOTIATE_VERSION_2);
        offer->heartbeat_ms = vmig_mig_settings(m)->heartbeat_interval_ms;
    }
    vmig_negotiate_message_add_version(offer, VMIG_NEGOTIATE_VERSION_1);
    offer->max_channels = source ? m->requested_channels : m->max_channels;
    offer->hypervisor = g_strdup(m->catalog->hypervisor);
    offer->driver = g_strdup(PACKAGE_NAME " " PACKAGE_VERSION);
    for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
        const VmigFeatureInfo *info = vmig_feature_info(f);
        const char *knob = info->capability ? info->capability : info->parameter;

        if (knob && vmig_catalog_lookup(m->catalog, knob))
            context.available |= VMIG_FEATURE_BIT(f);
    }

    for (guint f = 0; f < VMIG_FEATURE_LAST; f++) {
        const VmigFeatureInfo *info = vmig_feature_info(f);
        gboolean required = (m->required & VMIG_FEATURE_BIT(f)) != 0;
        const char *why_not = vmig_features_why_not_offered(f, &context);
        VmigNegotiateFeature *feature;

        if (info->internal)
            continue;
        if (why_not) {
            if (required) {
                g_set_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_INVALID,
                            "feature '%s' is required but %s", info->name,
                            g_str_has_prefix(why_not, "forbidden") ? "also forbidden"
                                                                   : why_not);
                return FALSE;
            }
            vmig_mig_add_reason(m->declined, info->name, NULL, why_not);
            continue;
        }
        feature = vmig_negotiate_message_add_feature(
            offer, vmig_negotiate_feature_new(info->name));
        feature->required = required;
        if (f == VMIG_FEATURE_MULTIFD)
            vmig_negotiate_feature_set_channels(feature, offer->max_channels);
        if (f == VMIG_FEATURE_MULTIFD_COMPRESSION && source) {
            vmig_negotiate_feature_add_algorithm(
                feature, json_node_get_string(compression->value));
        } else if (f == VMIG_FEATURE_MULTIFD_COMPRESSION) {
            const VmigTunable *tunable = vmig_catalog_lookup(m->catalog, info->parameter);

            for (guint i = 0; tunable->values && tunable->values[i]; i++) {
                if (!g_str_equal(tunable->values[i], "none"))
                    vmig_negotiate_feature_add_algorithm(feature, tunable->values[i]);
            }
        }
    }
    if (!source) {
        for (guint i = 0; i < m->catalog->tunables->len; i++)
            vmig_negotiate_message_add_tunable_name(
                offer, ((VmigTunable *)g_ptr_array_index(m->catalog->tunables, i))->name);
    }
    return TRUE;
}

/* The main channel is connected (URI mode), or could not be. */
static void
on_main_dialled(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(VmigMigration) m = user_data;
    g_autoptr(GError) error = NULL;
    g_auto(VmigFd) fd = vmig_transport_dial_finish(result, &error);

    m->dials--;
    if (m->finished) {
        /* Cancelled by the end, which waits for every dial's socket to go. */
        vmig_fd_clear(&fd);
        vmig_mig_end_bridges(m);
        return;
    }
    if (fd < 0) {
        vmig_mig_fail(m, 0, "%s", error->message);
        return;
    }
    vmig_mig_await_hello(m, &fd, TRUE);
}

void
vmig_mig_start_checked(VmigMigration *m)
{
    g_autoptr(GError) error = NULL;

    if (m->role == VMIG_ROLE_SOURCE)
        parse_tunables(m, &error);
    if (!error)
        build_offer(m, &error);
    if (!error && m->role == VMIG_ROLE_DESTINATION && m->uri)
        vmig_mig_channels_listen(m, &error);
    if (error) {
        vmig_mig_refuse_start(m, error);
        return;
    }

    if (m->role == VMIG_ROLE_DESTINATION) {
        const VmigMigrationSettings *settings = vmig_mig_settings(m);

        if (!vmig_mig_step(m, VMIG_MIG_EVENT_WAIT))
            return;
        vmig_pending_set_tls(m->pending, settings->tls, m->tls_required,
                             settings->tls_unavailable);
        vmig_mig_answer_start(m);
        if (m->request_fd >= 0)
            vmig_mig_tls_accept_main(m, &m->request_fd);
        return;
    }
    if (m->uri) {
        /* The dial runs in the background, cancellable by the app: the
         * command is answered now, and a failure ends in MIGRATION_DONE. */
        g_auto(VmigFd) held = -1;

        if (!vmig_mig_step(m, VMIG_MIG_EVENT_DIAL))
            return;
        vmig_mig_answer_start(m);
        /* A peer with no driver, whose connection is held since a refusal:
         * dialling again would reach no QEMU (it accepted the first one). */
        if (vmig_mig_legacy_take(m, &held)) {
            vmig_mig_source_no_driver(m, &held);
            return;
        }
        m->dials++;
        vmig_transport_dial_async(m->address, VMIG_MIG_HANDSHAKE_TIMEOUT_MS,
                                  m->cancellable, on_main_dialled, vmig_mig_ref(m));
        return;
    }
    /* fd mode: the app's connection, on which the destination speaks first. */
    if (!vmig_mig_step(m, VMIG_MIG_EVENT_DIAL))
        return;
    vmig_mig_answer_start(m);
    vmig_mig_await_hello(m, &m->request_fd, TRUE);
}
