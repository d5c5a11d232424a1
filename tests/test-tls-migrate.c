/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tls-migrate.c: whole migrations between two virt-migrated daemons
 * over TLS, and the refusals (docs/tls.md)
 *
 * Every test makes its own credentials with GnuTLS (tests/tls-helper.h):
 * one CA, a source "host" CN=src.example and a destination "host"
 * CN=dst.example whose certificate also names 127.0.0.1 and ::1, and,
 * where a case says so, a stranger from another CA, an expiring
 * certificate, a DN list.  Two real TCG QEMU guests and two real daemons
 * run each case; on TCP loopback the source dials through the test's relay
 * (tests/relay-helper.h), which reads every byte that crosses and
 * reports whether all of it was TLS records.  A refused migration must
 * say why on both sides and leave the source guest running.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "tests/daemon-helper.h"
#include "tests/guest-helper.h"
#include "tests/migrate-helper.h"
#include "tests/relay-helper.h"
#include "tests/testutil.h"
#include "tests/tls-helper.h"

#define PATTERN_SIZE (64u << 20)
#define PATTERN_SEED 0x71500
#define RAM_SIZE     (256ull << 20)

/* The pattern file every test plants, written once per run. */
static char *pattern_dir;
static char *pattern_path;

/* How a side's daemon is set up. */
typedef enum {
    CREDS_GOOD,        /* the test CA's */
    CREDS_OTHER_CA,    /* another CA's (and that CA's ca-cert.pem) */
    CREDS_EXPIRING,    /* the test CA's, expiring a few seconds after the start */
    CREDS_NO_IP,       /* destination: a certificate that names dst.example only */
    CREDS_NONE,        /* no TLS: --tls-x509-dir "" and --plaintext-tcp */
    CREDS_NONE_STRICT, /* no TLS, and no --plaintext-tcp either */
} Creds;

typedef enum {
    TRANSPORT_TCP,  /* the source dials the relay, which dials the destination */
    TRANSPORT_UNIX, /* unix socket, "tls": true */
    TRANSPORT_FD,   /* socket pairs from the app, "tls": true, "tls-hostname" */
} Transport;

typedef struct {
    Transport transport;
    guint channels;
    Creds src_creds;
    Creds dst_creds;
    const char *dst_allowed_dn; /* --tls-allowed-dn on the destination */
    const char *src_allowed_dn; /* ... on the source */
    const char *tls_hostname;   /* the source's "tls-hostname" */
    /* A refusal: what the source's MIGRATION_DONE says (a part of it), and
     * what the destination's CONNECTION_REFUSED (or MIGRATION_DONE) says. */
    const char *src_says;
    const char *dst_says;
    gboolean quick_pending; /* --pending-timeout 60 (without an allowed DN) */
} Case;

typedef struct {
    char *tmpdir;
    VmigTestQemu *src_qemu;
    VmigTestQemu *dst_qemu;
    char *src_aux;
    char *dst_aux;
    VmigTestDaemon src;
    VmigTestDaemon dst;
    VmigGuestMonitor *src_ctl;
    VmigGuestMonitor *dst_ctl;
    VmigTestCert *ca;
    VmigTestCert *other_ca;
    char *src_tls;
    char *dst_tls;
    VmigRelay *relay;
    guint16 dst_port; /* TCP: where the destination listens (the relay's target) */
} Fixture;

#define SKIP_WITHOUT_QEMU(f)                                                             \
    do {                                                                                 \
        if (!(f)->src_qemu) {                                                            \
            g_test_skip("qemu-system-x86_64 is not installed");                          \
            return;                                                                      \
        }                                                                                \
    } while (0)

static const char *const dst_ips[] = {"127.0.0.1", "::1", NULL};
static const char *const dst_names[] = {"dst.example", "localhost", NULL};

/* When an expiring certificate's end is, in seconds from its making. */
#define EXPIRING_S 4

/* Writes @dir's credentials as @creds says.  Returns: the directory to give the
 * daemon, or NULL (no TLS). */
static const char *
write_creds(Fixture *f, const char *dir, gboolean destination, Creds creds)
{
    VmigTestHost host = {.cn = destination ? "dst.example" : "src.example"};

    if (creds == CREDS_NONE || creds == CREDS_NONE_STRICT)
        return NULL;
    if (destination) {
        host.dns_names = dst_names;
        host.ip_addresses = creds == CREDS_NO_IP ? NULL : dst_ips;
    }
    if (creds == CREDS_EXPIRING) {
        host.start = -VMIG_TEST_DAY;
        host.end = EXPIRING_S;
    }
    vmig_test_tls_write_host(dir, creds == CREDS_OTHER_CA ? f->other_ca : f->ca, &host);
    if (creds == CREDS_OTHER_CA && !destination) {
        /* A source that trusts the destination's CA, with a certificate
         * of another: the destination is the one to refuse. */
        g_autofree char *both = NULL;
        g_autofree char *ours = NULL;
        g_autofree char *theirs = NULL;
        g_autofree char *path = g_build_filename(dir, "ca-cert.pem", NULL);
        g_autoptr(GError) error = NULL;

        vmig_test_write_cert(dir, "ca-cert.pem", f->ca);
        g_assert_true(g_file_get_contents(path, &theirs, NULL, &error));
        vmig_test_write_cert(dir, "ca-cert.pem", f->other_ca);
        g_assert_true(g_file_get_contents(path, &ours, NULL, &error));
        both = g_strconcat(ours, theirs, NULL);
        vmig_test_write_file(dir, "ca-cert.pem", both, -1);
    }
    return dir;
}

/* Starts the daemon of one side as the case says. */
static void
daemon_start(Fixture *f, VmigTestDaemon *d, gboolean destination, const Case *c)
{
    const char *name = destination ? "dst-host" : "src-host";
    g_autofree char *dir = g_build_filename(f->tmpdir, name, NULL);
    g_autofree char *log = g_strdup_printf("%s.log", dir);
    Creds creds = destination ? c->dst_creds : c->src_creds;
    const char *allowed = destination ? c->dst_allowed_dn : c->src_allowed_dn;
    const char *extra[] = {"--tls-allowed-dn", allowed, NULL};
    const char *const quick[] = {"--pending-timeout", "60", NULL};
    VmigTestDaemonOptions options = {
        .verbose = TRUE,
        .tls_dir =
            write_creds(f, destination ? f->dst_tls : f->src_tls, destination, creds),
        .tls_strict = creds == CREDS_NONE_STRICT,
        .extra = allowed            ? (const char *const *)extra
                 : c->quick_pending ? quick
                                    : NULL,
    };
    g_autoptr(GError) error = NULL;

    vmig_test_daemon_start(d, dir, log, &options, &error);
    g_assert_no_error(error);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    VmigGuestOptions src = {.pattern_path = pattern_path};
    VmigGuestOptions dst = {.paused = TRUE};

    f->ca = vmig_test_ca_new("migration test CA");
    f->other_ca = vmig_test_ca_new("another CA");
    f->src_tls = vmig_test_tls_dir_new();
    f->dst_tls = vmig_test_tls_dir_new();
    if (!vmig_test_have_qemu())
        return;
    f->tmpdir = g_dir_make_tmp("vmig-tls-XXXXXX", &error);
    g_assert_no_error(error);
    f->src_qemu = vmig_guest_start_source(&src, &error);
    g_assert_no_error(error);
    f->dst_qemu = vmig_guest_start_destination(&dst, &error);
    g_assert_no_error(error);
    f->src_aux = vmig_guest_aux_qmp_path(f->src_qemu);
    f->dst_aux = vmig_guest_aux_qmp_path(f->dst_qemu);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->src_ctl, vmig_guest_monitor_close);
    g_clear_pointer(&f->dst_ctl, vmig_guest_monitor_close);
    if (f->tmpdir && g_getenv("VMIG_TEST_DAEMON_LOGS")) {
        g_autofree char *s = vmig_test_daemon_log_tail(&f->src);
        g_autofree char *d = vmig_test_daemon_log_tail(&f->dst);

        g_printerr("--- source daemon ---\n%s\n--- destination daemon ---\n%s\n", s, d);
    }
    vmig_test_daemon_clear(&f->src);
    vmig_test_daemon_clear(&f->dst);
    g_clear_pointer(&f->relay, vmig_relay_free);
    g_clear_pointer(&f->src_qemu, vmig_test_qemu_stop);
    g_clear_pointer(&f->dst_qemu, vmig_test_qemu_stop);
    g_free(f->src_aux);
    g_free(f->dst_aux);
    vmig_test_tls_dir_remove(f->src_tls);
    vmig_test_tls_dir_remove(f->dst_tls);
    g_free(f->src_tls);
    g_free(f->dst_tls);
    g_clear_pointer(&f->ca, vmig_test_cert_free);
    g_clear_pointer(&f->other_ca, vmig_test_cert_free);
    if (f->tmpdir) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmpdir);

        g_assert_cmpint(system(cmd), ==, 0);
        g_free(f->tmpdir);
    }
}

/* ---- helpers ------------------------------------------------------------------- */

/* Returns: @ctl's record of migration m1 (a new reference). */
static JsonObject *
record_of(VmigGuestMonitor *ctl, VmigTestDaemon *d)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) rec = vmig_test_execute_fds(
        ctl, d, "query-migration", "{\"migration\": \"m1\"}", NULL, 0, &error);

    g_assert_no_error(error);
    return json_object_ref(json_node_get_object(rec));
}

/* The record's TLS: version 1.3, an AEAD cipher, the peer's DN. */
static void
assert_tls_record(JsonObject *rec, const char *peer_dn)
{
    JsonObject *tls;

    g_assert_true(json_object_has_member(rec, "tls"));
    tls = json_object_get_object_member(rec, "tls");
    g_assert_nonnull(tls);
    g_assert_cmpstr(json_object_get_string_member(tls, "version"), ==, "TLS1.3");
    g_assert_true(
        g_str_has_suffix(json_object_get_string_member(tls, "cipher"), "-GCM") ||
        g_str_has_prefix(json_object_get_string_member(tls, "cipher"), "CHACHA"));
    g_assert_cmpstr(json_object_get_string_member(tls, "peer-dn"), ==, peer_dn);
}

/* The guest runs on the source, and the destination QEMU still waits for a stream. */
static void
assert_guest_stayed(Fixture *f)
{
    g_autofree char *src = NULL;
    g_autofree char *dst = NULL;

    if (vmig_test_skip_if_qemu_aborted(f->src_qemu, "source"))
        return;
    src = vmig_test_guest_status_settled(f->src_aux);
    dst = vmig_test_guest_status(f->dst_aux);
    g_assert_cmpstr(src, ==, "running");
    g_assert_cmpstr(dst, !=, "running");
}

/*
 * The relay looks for what must never cross in clear: QEMU's stream header
 * ("QEVM", version 3), the drivers' frame headers (GREETING, REPLY and
 * HEARTBEAT: "VMGR", type, no flags), and 64 bytes of the guest's RAM
 * pattern.  Eight bytes at least: ciphertext is random, and over the
 * 2^28 positions of a run a 4-byte string turns up by chance one run in
 * sixteen (the openers "VMGM" and "VMGC" are checked where they would be,
 * first on their connection: the relay classifies those).
 */
static void
watch_needles(Fixture *f)
{
    static const guint8 qevm[] = {'Q', 'E', 'V', 'M', 0, 0, 0, 3};
    static const guint8 greeting[] = {'V', 'M', 'G', 'R', 0, 1, 0, 0};
    static const guint8 reply[] = {'V', 'M', 'G', 'R', 0, 2, 0, 0};
    static const guint8 heartbeat[] = {'V', 'M', 'G', 'R', 0, 9, 0, 0};
    g_autoptr(GPtrArray) needles =
        g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    g_autofree char *pattern = NULL;
    gsize len = 0;
    g_autoptr(GError) error = NULL;

    g_ptr_array_add(needles, g_bytes_new_static(qevm, sizeof(qevm)));
    g_ptr_array_add(needles, g_bytes_new_static(greeting, sizeof(greeting)));
    g_ptr_array_add(needles, g_bytes_new_static(reply, sizeof(reply)));
    g_ptr_array_add(needles, g_bytes_new_static(heartbeat, sizeof(heartbeat)));
    g_assert_true(g_file_get_contents(pattern_path, &pattern, &len, &error));
    g_assert_cmpuint(len, ==, PATTERN_SIZE);
    g_ptr_array_add(needles, g_bytes_new(pattern + (1u << 20), 64));
    vmig_relay_watch_needles(f->relay, needles);
}

/* Everything that crossed the relay was TLS records, from the first byte. */
static void
assert_only_tls(Fixture *f, guint connections)
{
    g_auto(VmigRelayReport) report = {0};

    vmig_relay_report(f->relay, &report);
    g_test_message("relay: %u connections, %" G_GUINT64_FORMAT
                   " handshake and %" G_GUINT64_FORMAT " application data records",
                   report.counts[VMIG_RELAY_COUNT_ACCEPTED],
                   report.records[VMIG_RELAY_TLS_HANDSHAKE],
                   report.records[VMIG_RELAY_TLS_APPLICATION_DATA]);
    g_assert_cmpstr(report.violation, ==, NULL);
    g_assert_cmpstr(report.needle_hit, ==, NULL);
    g_assert_true(report.tls_only);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_MAIN], ==, 0);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_DATA], ==, 0);
    g_assert_cmpuint(report.counts[VMIG_RELAY_COUNT_OPAQUE], ==, connections);
    g_assert_cmpuint(report.opaque_tls_start, ==, connections);
    g_assert_cmpuint(report.records[VMIG_RELAY_TLS_APPLICATION_DATA], >,
                     (guint64)PATTERN_SIZE / 16640);
}

/* Prepares the destination; returns the source's "dest" (to free), or NULL in fd mode
 * (then *@fd_main is the source's end of the main channel). */
static char *
prepare(Fixture *f, const Case *c, int *src_main)
{
    g_autofree char *domain = vmig_test_domain_of(f->dst_qemu);
    g_autofree char *args = NULL;
    g_autofree char *id = NULL;
    guint16 port;

    switch (c->transport) {
    case TRANSPORT_TCP: {
        g_autoptr(GError) error = NULL;

        port = vmig_test_free_port();
        f->dst_port = port;
        args = g_strdup_printf(
            "{\"domain\": \"%s\", \"listen\": \"tcp:127.0.0.1:%u\", \"resume\": false}",
            domain, port);
        id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0);
        f->relay = vmig_relay_new(port, &error);
        g_assert_no_error(error);
        watch_needles(f);
        return g_strdup_printf("tcp:127.0.0.1:%u", vmig_relay_port(f->relay));
    }
    case TRANSPORT_UNIX: {
        g_autofree char *path = g_build_filename(f->tmpdir, "migration.sock", NULL);

        args = g_strdup_printf(
            "{\"domain\": \"%s\", \"listen\": \"unix:%s\", \"resume\": false}", domain,
            path);
        id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0);
        return g_strdup_printf("unix:%s", path);
    }
    case TRANSPORT_FD: {
        int pair[2];

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
        args = g_strdup_printf("{\"domain\": \"%s\", \"resume\": false, \"tls\": true}",
                               domain);
        id = vmig_test_execute_id(f->dst_ctl, &f->dst, "prepare-incoming", args, &pair[1],
                                  1);
        close(pair[1]);
        *src_main = pair[0];
        return NULL;
    }
    }
    g_assert_not_reached();
}

/* fd mode: answers the source's CHANNELS_REQUESTED with socket pairs for both daemons. */
static void
supply_channels(Fixture *f, guint channels)
{
    g_autoptr(JsonObject) request =
        vmig_test_wait_event(f->src_ctl, "CHANNELS_REQUESTED");
    guint n = (guint)json_object_get_int_member(request, "count");
    /* Two more than asked for, to the source: a TLS source closes them at
     * once too, before any handshake (the destination gets what was asked). */
    guint surplus = 2;
    g_autofree int *src_fds = g_new(int, n + surplus);
    g_autofree int *dst_fds = g_new(int, n + surplus);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) a = NULL;
    g_autoptr(JsonNode) b = NULL;

    g_assert_cmpuint(n, ==, channels + 1);
    for (guint i = 0; i < n + surplus; i++) {
        int pair[2];

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
        src_fds[i] = pair[0];
        dst_fds[i] = pair[1];
    }
    a = vmig_test_execute_fds(f->src_ctl, &f->src, "add-channels",
                              "{\"migration\": \"m1\"}", src_fds, n + surplus, &error);
    g_assert_no_error(error);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(a), "accepted"), ==,
                    n);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(a), "closed"), ==,
                    surplus);
    b = vmig_test_execute_fds(f->dst_ctl, &f->dst, "add-channels",
                              "{\"migration\": \"m1\"}", dst_fds, n, &error);
    g_assert_no_error(error);
    for (guint i = 0; i < n + surplus; i++) {
        close(src_fds[i]);
        close(dst_fds[i]);
    }
}

/* Starts the source's migration.  Returns: its id (to free). */
static char *
start_migration(Fixture *f, const Case *c, const char *dest, int src_main,
                const char *tunable)
{
    g_autofree char *domain = vmig_test_domain_of(f->src_qemu);
    g_autoptr(GString) args = g_string_new(NULL);
    char *id;

    g_string_printf(args,
                    "{\"domain\": \"%s\", \"channels\": %u, \"tunables\": "
                    "[\"max-bandwidth=4G\"%s%s%s]",
                    domain, c->channels, tunable ? ", \"" : "", tunable ? tunable : "",
                    tunable ? "\"" : "");
    if (dest)
        g_string_append_printf(args, ", \"dest\": \"%s\"", dest);
    if (c->transport != TRANSPORT_TCP)
        g_string_append(args, ", \"tls\": true");
    if (c->tls_hostname)
        g_string_append_printf(args, ", \"tls-hostname\": \"%s\"", c->tls_hostname);
    g_string_append(args, "}");
    id = vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args->str,
                              src_main >= 0 ? &src_main : NULL, src_main >= 0 ? 1 : 0);
    if (src_main >= 0)
        close(src_main);
    return id;
}

/* ---- migrations that work -------------------------------------------------------- */

/*
 * The guest migrates over TLS; the RAM pattern arrives intact; both
 * records name the session and the peer; on TCP, the relay saw nothing
 * but TLS records; the daemons hold no more descriptors afterwards than
 * before.
 */
static void
test_migrate(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autofree char *dest = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) src_rec = NULL;
    g_autoptr(JsonObject) dst_rec = NULL;
    g_autoptr(GError) error = NULL;
    int src_main = -1;
    guint src_fds, dst_fds;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, FALSE, c);
    daemon_start(f, &f->dst, TRUE, c);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    src_fds = vmig_test_count_fds(f->src.pid);
    dst_fds = vmig_test_count_fds(f->dst.pid);

    dest = prepare(f, c, &src_main);
    id = start_migration(f, c, dest, src_main, NULL);
    g_assert_cmpstr(id, ==, "m1");
    if (c->transport == TRANSPORT_FD)
        supply_channels(f, c->channels);
    err = vmig_test_wait_done(f->src_ctl, "completed");
    g_free(err);
    err = vmig_test_wait_done(f->dst_ctl, "completed");

    g_assert_true(vmig_guest_verify_pattern(f->dst_aux, VMIG_GUEST_PATTERN_ADDR,
                                            PATTERN_SIZE, PATTERN_SEED, f->tmpdir,
                                            &error));
    g_assert_no_error(error);
    src_rec = record_of(f->src_ctl, &f->src);
    dst_rec = record_of(f->dst_ctl, &f->dst);
    assert_tls_record(src_rec, "CN=dst.example,O=Example,C=GB");
    assert_tls_record(dst_rec, "CN=src.example,O=Example,C=GB");
    g_assert_cmpint(json_object_get_int_member(
                        json_object_get_object_member(src_rec, "channels"), "received"),
                    ==, c->channels);
    /* The control connection, QEMU's stream and each multifd channel. */
    if (f->relay)
        assert_only_tls(f, c->channels + 2);

    /* Nothing held once it is over (bounded: the ends may still be closing). */
    for (guint i = 0; i < 100 && (vmig_test_count_fds(f->src.pid) > src_fds ||
                                  vmig_test_count_fds(f->dst.pid) > dst_fds);
         i++)
        g_usleep(50 * 1000);
    g_assert_cmpuint(vmig_test_count_fds(f->src.pid), <=, src_fds);
    g_assert_cmpuint(vmig_test_count_fds(f->dst.pid), <=, dst_fds);
}

/* Runs virt-migrate with @args against daemon @d.  Returns: its stdout (to free). */
static char *
cli(VmigTestDaemon *d, const char *const *args)
{
    g_autofree char *binary =
        g_test_build_filename(G_TEST_BUILT, "..", "tools", "virt-migrate", NULL);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_strv_builder_add_many(builder, binary, "--daemon-socket", d->socket, NULL);
    g_strv_builder_addv(builder, (const char **)args);
    argv = g_strv_builder_end(builder);
    /* The CLI bounds its own waits (a migration: the daemon's MIGRATION_DONE). */
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &error));
    g_assert_no_error(error);
    g_test_message("virt-migrate %s: %s%s", args[0], out, err);
    g_assert_true(g_spawn_check_wait_status(status, &error));
    return g_steal_pointer(&out);
}

/*
 * The command line: incoming --tls and migrate --tls over a unix socket,
 * then features shows the session.
 */
static void
test_cli(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autofree char *src_domain = NULL;
    g_autofree char *dst_domain = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) dst_rec = NULL;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, FALSE, c);
    daemon_start(f, &f->dst, TRUE, c);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dst_domain = vmig_test_domain_of(f->dst_qemu);
    uri = g_strdup_printf("unix:%s/cli.sock", f->tmpdir);
    {
        const char *const args[] = {"incoming", dst_domain, uri,
                                    "--tls",    "--paused", NULL};

        g_free(cli(&f->dst, args));
    }
    {
        const char *const args[] = {"migrate",   src_domain,         uri, "--tls",
                                    "--tunable", "max-bandwidth=4G", NULL};

        out = cli(&f->src, args);
        g_assert_nonnull(strstr(out, "Negotiated: protocol 2, TLS1.3 "));
        g_clear_pointer(&out, g_free);
    }
    err = vmig_test_wait_done(f->dst_ctl, "completed");
    {
        const char *const args[] = {"features", "m1", NULL};

        out = cli(&f->src, args);
    }
    g_assert_nonnull(strstr(out, "TLS1.3"));
    g_assert_nonnull(strstr(out, "peer CN=dst.example,O=Example,C=GB"));
    /* The transcript and the downtime's figures, as a user reads them. */
    g_test_message("virt-migrate features m1:\n%s", out);
    g_assert_nonnull(strstr(out, "\nHandshake (the drivers' frames"));
    g_assert_nonnull(strstr(out, "received  GREETING"));
    g_assert_nonnull(strstr(out, "sent      REPLY"));
    g_assert_nonnull(strstr(out, "token:         redacted\n"));
    g_assert_nonnull(strstr(out, "\nDowntime and sizes:\n"));
    g_assert_nonnull(strstr(out, "  Device state:     "));
    dst_rec = record_of(f->dst_ctl, &f->dst);
    assert_tls_record(dst_rec, "CN=src.example,O=Example,C=GB");
}

/* ---- refusals -------------------------------------------------------------------- */

/*
 * The migration is refused before any guest byte: the source says why
 * (@c->src_says), the destination says why (@c->dst_says: its
 * CONNECTION_REFUSED event, or its MIGRATION_DONE when it failed), and the
 * guest runs on the source.
 */
static void
test_refused(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autofree char *dest = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    int src_main = -1;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, FALSE, c);
    daemon_start(f, &f->dst, TRUE, c);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    if (c->src_creds == CREDS_EXPIRING || c->dst_creds == CREDS_EXPIRING)
        g_usleep((EXPIRING_S + 1) * G_USEC_PER_SEC); /* now it has expired */

    dest = prepare(f, c, &src_main);
    id = start_migration(f, c, dest, src_main, NULL);
    err = vmig_test_wait_done(f->src_ctl, "failed");
    g_test_message("source: %s", err);
    g_assert_nonnull(strstr(err, c->src_says));
    g_clear_pointer(&err, g_free);
    {
        g_autoptr(JsonObject) refused =
            vmig_test_wait_event(f->dst_ctl, "CONNECTION_REFUSED");
        const char *reason = json_object_get_string_member(refused, "reason");

        g_test_message("destination: %s", reason);
        g_assert_nonnull(strstr(reason, c->dst_says));
    }
    assert_guest_stayed(f);
}

/* QEMU's own TLS parameters are the driver's: refused, pointing to --tls. */
static void
test_tunable(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autofree char *domain = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autoptr(JsonNode) got = NULL;
    g_autofree char *args = NULL;
    JsonArray *tunables;
    guint managed = 0;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, FALSE, c);
    f->src_ctl = vmig_test_control_open(&f->src);
    domain = vmig_test_domain_of(f->src_qemu);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"unix:%s/nowhere.sock\", "
                           "\"tunables\": [\"tls-creds=tls0\"]}",
                           domain, f->tmpdir);
    got = vmig_test_execute_fds(f->src_ctl, &f->src, "migrate", args, NULL, 0, &error);
    g_assert_null(got);
    g_assert_nonnull(error);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "'tls-creds' is managed by the driver"));
    g_assert_nonnull(strstr(error->message, "--tls"));
    g_clear_error(&error);

    /* tunables lists them as managed, not settable. */
    g_clear_pointer(&args, g_free);
    args = g_strdup_printf("{\"domain\": \"%s\"}", domain);
    list = vmig_test_execute_fds(f->src_ctl, &f->src, "query-tunables", args, NULL, 0,
                                 &error);
    g_assert_no_error(error);
    tunables = json_object_get_array_member(json_node_get_object(list), "tunables");
    for (guint i = 0; i < json_array_get_length(tunables); i++) {
        JsonObject *t = json_array_get_object_element(tunables, i);
        const char *name = json_object_get_string_member(t, "name");

        if (!g_str_has_prefix(name, "tls-"))
            continue;
        g_assert_cmpstr(json_object_get_string_member_with_default(t, "managed", ""), ==,
                        "--tls");
        g_assert_false(json_object_get_boolean_member(t, "settable"));
        managed++;
    }
    g_assert_cmpuint(managed, ==, 3);
}

/*
 * A daemon without credentials refuses TCP migrations, either way, with
 * a message that says how to get them; unix sockets work as ever.
 */
static void
test_no_credentials(Fixture *f, gconstpointer data)
{
    const Case *c = data;
    g_autofree char *src_domain = NULL;
    g_autofree char *dst_domain = NULL;
    g_autofree char *args = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) got = NULL;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, FALSE, c);
    daemon_start(f, &f->dst, TRUE, c);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    src_domain = vmig_test_domain_of(f->src_qemu);
    dst_domain = vmig_test_domain_of(f->dst_qemu);

    args = g_strdup_printf("{\"domain\": \"%s\", \"listen\": \"tcp:127.0.0.1:%u\"}",
                           dst_domain, vmig_test_free_port());
    got = vmig_test_execute_fds(f->dst_ctl, &f->dst, "prepare-incoming", args, NULL, 0,
                                &error);
    g_assert_null(got);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "no TLS credentials"));
    g_assert_nonnull(strstr(error->message, "docs/tls.md"));
    g_assert_nonnull(strstr(error->message, "--plaintext-tcp"));
    g_clear_error(&error);
    g_clear_pointer(&args, g_free);

    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"tcp:127.0.0.1:%u\"}",
                           src_domain, vmig_test_free_port());
    got = vmig_test_execute_fds(f->src_ctl, &f->src, "migrate", args, NULL, 0, &error);
    g_assert_null(got);
    g_assert_nonnull(strstr(error->message, "no TLS credentials"));
    g_clear_error(&error);
    g_clear_pointer(&args, g_free);

    /* --tls over a unix socket: refused too. */
    args = g_strdup_printf(
        "{\"domain\": \"%s\", \"dest\": \"unix:%s/x.sock\", \"tls\": true}", src_domain,
        f->tmpdir);
    got = vmig_test_execute_fds(f->src_ctl, &f->src, "migrate", args, NULL, 0, &error);
    g_assert_null(got);
    g_assert_nonnull(strstr(error->message, "TLS was asked for"));
    assert_guest_stayed(f);
}

/* ---- faults mid-stream ------------------------------------------------------------ */

typedef enum {
    FAULT_KILL_DST, /* the destination daemon, SIGKILL */
    FAULT_KILL_SRC, /* the source daemon, SIGKILL */
    FAULT_TERM_DST, /* the destination daemon, SIGTERM */
    FAULT_CUT,      /* every connection reset (the relay) */
    FAULT_FREEZE,   /* a silent partition (the relay) */
} Fault;

static const Case fault_case = {.transport = TRANSPORT_TCP, .channels = 2};

/* Waits (bounded) until the source has sent @bytes of the stream. */
static void
wait_streaming(Fixture *f, gint64 bytes)
{
    for (;;) {
        g_autoptr(JsonObject) progress =
            vmig_test_wait_event(f->src_ctl, "MIGRATION_PROGRESS");

        if (json_object_get_int_member(progress, "transferred") >= bytes)
            return;
    }
}

/*
 * In the middle of a TLS stream (a slow one: 16 MiB/s), a daemon dies or
 * the network fails: the survivors end failed with a reason within the
 * heartbeat timeout and a margin, the guest runs on the source, and a
 * surviving daemon holds the descriptors it held before (the pumps and
 * their threads are gone).
 */
static void
test_fault(Fixture *f, gconstpointer data)
{
    Fault fault = GPOINTER_TO_INT(data);
    gboolean src_alive = fault != FAULT_KILL_SRC;
    gboolean dst_alive = fault != FAULT_KILL_DST && fault != FAULT_TERM_DST;
    g_autofree char *dest = NULL;
    g_autofree char *id = NULL;
    guint src_fds, dst_fds;
    gint64 start;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, FALSE, &fault_case);
    daemon_start(f, &f->dst, TRUE, &fault_case);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    src_fds = vmig_test_count_fds(f->src.pid);
    dst_fds = vmig_test_count_fds(f->dst.pid);
    dest = prepare(f, &fault_case, NULL);
    id = start_migration(f, &fault_case, dest, -1, "max-bandwidth=16M");
    wait_streaming(f, 8 << 20);

    start = g_get_monotonic_time();
    switch (fault) {
    case FAULT_KILL_DST:
        g_clear_pointer(&f->dst_ctl, vmig_guest_monitor_close);
        vmig_test_daemon_stop(&f->dst, SIGKILL);
        vmig_relay_cut(f->relay); /* a dead host's connections end at once */
        break;
    case FAULT_KILL_SRC:
        g_clear_pointer(&f->src_ctl, vmig_guest_monitor_close);
        vmig_test_daemon_stop(&f->src, SIGKILL);
        vmig_relay_cut(f->relay);
        break;
    case FAULT_TERM_DST:
        g_clear_pointer(&f->dst_ctl, vmig_guest_monitor_close);
        g_assert_cmpint(vmig_test_daemon_stop(&f->dst, SIGTERM), ==, 0);
        break;
    case FAULT_CUT:
        vmig_relay_cut(f->relay);
        break;
    case FAULT_FREEZE:
        vmig_relay_freeze(f->relay);
        break;
    }
    if (src_alive) {
        g_autofree char *err = vmig_test_wait_done(f->src_ctl, "failed");

        g_test_message("source after %" G_GINT64_FORMAT " ms: %s",
                       (g_get_monotonic_time() - start) / 1000, err);
        if (fault == FAULT_TERM_DST)
            g_assert_nonnull(strstr(err, "destination driver is shutting down"));
        if (fault == FAULT_FREEZE)
            g_assert_nonnull(strstr(err, "silent"));
    }
    if (dst_alive) {
        g_autofree char *err = vmig_test_wait_done(f->dst_ctl, "failed");

        g_test_message("destination after %" G_GINT64_FORMAT " ms: %s",
                       (g_get_monotonic_time() - start) / 1000, err);
    }
    /* The heartbeat timeout (5 s), the peer's reason (3 s), and a margin. */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 15 * G_USEC_PER_SEC);
    /* Give the source QEMU's own migration time (20 s at most) to settle
     * before judging: QEMU 7.2 may abort while it cancels a multifd
     * migration whose channels broke, and under a slow build its cancel
     * can stay "cancelling" for long (the guest runs meanwhile). */
    {
        g_autofree char *settled =
            vmig_test_migration_settle(f->src_qemu, f->src_aux, 20);

        if (g_str_equal(settled, "gone") &&
            vmig_test_skip_if_qemu_aborted(f->src_qemu, "source"))
            return;
        if (vmig_test_migration_running(settled))
            g_test_message("the source QEMU's migration is still '%s' 20 s after the end",
                           settled);
    }
    {
        g_autofree char *status = vmig_test_guest_status_settled(f->src_aux);

        g_assert_cmpstr(status, ==, "running");
    }
    for (gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;;) {
        gboolean src_back = !src_alive || vmig_test_count_fds(f->src.pid) <= src_fds;
        gboolean dst_back = !dst_alive || vmig_test_count_fds(f->dst.pid) <= dst_fds;

        if (src_back && dst_back)
            break;
        if (g_get_monotonic_time() > deadline) {
            g_error("descriptors held after the end: source %u (before: %u), "
                    "destination %u (before: %u)",
                    src_alive ? vmig_test_count_fds(f->src.pid) : 0, src_fds,
                    dst_alive ? vmig_test_count_fds(f->dst.pid) : 0, dst_fds);
        }
        g_usleep(50 * 1000);
    }
}

/*
 * Strangers that open a TLS handshake and then say nothing (one byte,
 * 0x16) hold a handshake each on the destination, until the pending
 * timeout (60 s here): the real source's migration goes through while
 * they all still wait (its handshake did not queue behind theirs), and
 * once they are gone the destination holds what it held before.
 */
static const Case flood_case = {
    .transport = TRANSPORT_TCP, .channels = 2, .quick_pending = TRUE};

static void
test_flood(Fixture *f, gconstpointer data)
{
    const guint strangers = 150;
    g_autofree int *fds = g_new(int, strangers);
    g_autofree char *dest = NULL;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    guint dst_fds;
    gint64 start;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, FALSE, &flood_case);
    daemon_start(f, &f->dst, TRUE, &flood_case);
    f->src_ctl = vmig_test_control_open(&f->src);
    f->dst_ctl = vmig_test_control_open(&f->dst);
    dest = prepare(f, &flood_case, NULL);
    dst_fds = vmig_test_count_fds(f->dst.pid);
    for (guint i = 0; i < strangers; i++) {
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons(f->dst_port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        guint8 hello = 0x16;

        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fds[i], >=, 0);
        g_assert_cmpint(connect(fds[i], (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
        g_assert_cmpint(send(fds[i], &hello, 1, MSG_NOSIGNAL), ==, 1);
    }
    /* The destination holds as many as its listener's cap (64: each
     * newcomer evicts the oldest), each in a handshake of its own. */
    for (gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
         vmig_test_count_fds(f->dst.pid) < dst_fds + 64;) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20 * 1000);
    }
    start = g_get_monotonic_time();
    id = start_migration(f, &flood_case, dest, -1, NULL);
    err = vmig_test_wait_done(f->src_ctl, "completed");
    g_clear_pointer(&err, g_free);
    err = vmig_test_wait_done(f->dst_ctl, "completed");
    g_test_message("the migration took %" G_GINT64_FORMAT " ms beside %u stalled TLS "
                   "handshakes",
                   (g_get_monotonic_time() - start) / 1000, strangers);
    /* Measured: 0.5-0.7 s; 15 s when handshakes ran in GTask's thread pool
     * (a few threads, grown slowly while the strangers held them). */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
    for (guint i = 0; i < strangers; i++)
        close(fds[i]);
    for (gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
         vmig_test_count_fds(f->dst.pid) > dst_fds;) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50 * 1000);
    }
}

/*
 * A credentials directory named on the command line must load: the daemon
 * refuses to start, naming the file and the problem.
 */
static void
test_broken_dir(void)
{
    g_autoptr(VmigTestCert) ca = vmig_test_ca_new("migration test CA");
    g_autofree char *creds = vmig_test_tls_dir_new();
    g_autofree char *run = vmig_test_tls_dir_new();
    g_autofree char *key = g_build_filename(creds, "server-key.pem", NULL);
    g_autofree char *log_path = g_build_filename(run, "daemon.log", NULL);
    g_autofree char *log = NULL;
    g_autoptr(GError) error = NULL;
    VmigTestDaemon d = {0};
    VmigTestDaemonOptions options = {.tls_dir = creds};
    int status = 0;

    vmig_test_tls_write_host(creds, ca, &(VmigTestHost){.cn = "dst.example"});
    g_assert_cmpint(g_unlink(key), ==, 0);
    g_assert_true(vmig_test_daemon_spawn(&d, run, log_path, &options, &error));
    g_assert_no_error(error);
    g_assert_true(vmig_test_process_wait(d.pid, 30000, &status));
    d.pid = 0;
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    g_assert_true(g_file_get_contents(log_path, &log, NULL, &error));
    g_test_message("%s", log);
    g_assert_nonnull(strstr(log, "--tls-x509-dir"));
    g_assert_nonnull(strstr(log, key));
    vmig_test_daemon_clear(&d);
    vmig_test_tls_dir_remove(creds);
    vmig_test_tls_dir_remove(run);
}

/* Runs the daemon with @extra until it exits.  Returns: its exit status; its log in
 * *@log. */
static int
standing_refused_start(const char *tls_dir, const char *const *extra, char **log)
{
    g_autofree char *run = vmig_test_tls_dir_new();
    g_autofree char *log_path = g_build_filename(run, "daemon.log", NULL);
    g_autoptr(GError) error = NULL;
    VmigTestDaemon d = {0};
    VmigTestDaemonOptions options = {.tls_dir = tls_dir, .extra = extra};
    int status = 0;

    g_assert_true(vmig_test_daemon_spawn(&d, run, log_path, &options, &error));
    g_assert_no_error(error);
    g_assert_true(vmig_test_process_wait(d.pid, 30000, &status));
    d.pid = 0;
    g_assert_true(g_file_get_contents(log_path, log, NULL, &error));
    g_test_message("%s", *log);
    vmig_test_daemon_clear(&d);
    vmig_test_tls_dir_remove(run);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/*
 * A standing listener (--listen) takes migrations from other hosts into
 * this host's libvirt: the daemon refuses to start one without TLS or
 * without --tls-allowed-dn, saying why; with both, a plaintext opener is
 * answered with a plaintext ERROR frame saying TLS is required.
 */
static void
test_standing_trust(void)
{
    g_autoptr(VmigTestCert) ca = vmig_test_ca_new("migration test CA");
    g_autofree char *creds = vmig_test_tls_dir_new();
    g_autofree char *run = vmig_test_tls_dir_new();
    g_autofree char *log_path = g_build_filename(run, "daemon.log", NULL);
    g_autofree char *log = NULL;
    g_autofree char *listen = g_strdup_printf("127.0.0.1:%u", vmig_test_free_port());
    g_autoptr(GError) error = NULL;
    const char *const no_dn[] = {"--listen", listen, NULL};
    const char *const bad_port[] = {"--listen", "127.0.0.1:65536", "--tls-allowed-dn",
                                    "CN=src.example,*", NULL};
    const char *const good[] = {"--listen", listen, "--tls-allowed-dn",
                                "CN=src.example,*", NULL};
    VmigTestDaemonOptions options = {.tls_dir = creds, .extra = good};
    VmigTestDaemon d = {0};
    struct sockaddr_in sin = {.sin_family = AF_INET};
    guint8 reply[512];
    gsize got = 0;
    int fd;

    vmig_test_tls_write_host(creds, ca, &(VmigTestHost){.cn = "dst.example"});

    g_assert_cmpint(standing_refused_start(NULL, no_dn, &log), ==, 2);
    g_assert_nonnull(strstr(log, "--listen needs TLS between drivers"));
    g_clear_pointer(&log, g_free);
    g_assert_cmpint(standing_refused_start(creds, no_dn, &log), ==, 2);
    g_assert_nonnull(strstr(log, "--listen needs --tls-allowed-dn"));
    g_clear_pointer(&log, g_free);
    g_assert_cmpint(standing_refused_start(creds, bad_port, &log), ==, 2);
    g_assert_nonnull(strstr(log, "the port '65536' is not a number from 1 to 65535"));
    g_clear_pointer(&log, g_free);

    g_assert_true(vmig_test_daemon_start(&d, run, log_path, &options, &error));
    g_assert_no_error(error);
    sin.sin_port = htons((guint16)atoi(strchr(listen, ':') + 1));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    vmig_test_expect_hello(fd);
    g_assert_cmpint(write(fd, "VMGM", 4), ==, 4);
    for (;;) {
        ssize_t n = read(fd, reply + got, sizeof(reply) - 1 - got);

        g_assert_cmpint(n, >=, 0);
        if (n == 0 || got + n == sizeof(reply) - 1) {
            got += n;
            break;
        }
        got += n;
    }
    close(fd);
    reply[got] = 0;
    /* A VMGR ERROR frame whose MESSAGE says why. */
    g_assert_cmpuint(got, >, 12);
    g_assert_cmpmem(reply, 4, "VMGR", 4);
    g_assert_nonnull(memmem(reply, got, "requires TLS", strlen("requires TLS")));
    g_assert_cmpint(vmig_test_daemon_stop(&d, SIGTERM), ==, 0);
    g_assert_true(g_file_get_contents(log_path, &log, NULL, &error));
    g_assert_nonnull(strstr(log, "standing listener on tcp:127.0.0.1:"));
    vmig_test_daemon_clear(&d);
    vmig_test_tls_dir_remove(creds);
    vmig_test_tls_dir_remove(run);
}

/* ---- the cases ------------------------------------------------------------------- */

static const Case tcp_4 = {.transport = TRANSPORT_TCP, .channels = 4};
static const Case tcp_1 = {.transport = TRANSPORT_TCP, .channels = 0};
static const Case unix_2 = {.transport = TRANSPORT_UNIX, .channels = 2};
static const Case fd_2 = {
    .transport = TRANSPORT_FD, .channels = 2, .tls_hostname = "dst.example"};
static const Case dst_dn = {
    .transport = TRANSPORT_TCP,
    .channels = 2,
    .dst_allowed_dn = "CN=src.example,O=Example,C=GB",
    .src_allowed_dn = "CN=dst.*,O=Example,C=GB",
};

static const Case refused[] = {
    {.transport = TRANSPORT_TCP,
     .dst_creds = CREDS_OTHER_CA,
     .src_says = "is not trusted",
     .dst_says = "refused"},
    {.transport = TRANSPORT_TCP,
     .src_creds = CREDS_OTHER_CA,
     .src_says = "refused this host's certificate",
     .dst_says = "is not trusted"},
    {.transport = TRANSPORT_TCP,
     .dst_creds = CREDS_EXPIRING,
     .src_says = "expired",
     .dst_says = "refused"},
    {.transport = TRANSPORT_TCP,
     .dst_allowed_dn = "CN=someone-else,O=Example,C=GB",
     .src_says = "refused this host's certificate",
     .dst_says = "not allowed"},
    {.transport = TRANSPORT_TCP,
     .dst_creds = CREDS_NO_IP,
     .src_says = "does not match",
     .dst_says = "refused"},
    {.transport = TRANSPORT_TCP,
     .src_creds = CREDS_NONE,
     .src_says = "this destination requires TLS",
     .dst_says = "this destination requires TLS"},
    {.transport = TRANSPORT_TCP,
     .dst_creds = CREDS_NONE,
     .src_says = "does not speak TLS",
     .dst_says = "has no TLS credentials"},
};
static const char *const refused_names[] = {
    "other-ca-destination",  "other-ca-source",   "expired",
    "dn-not-allowed",        "hostname-mismatch", "plaintext-source",
    "plaintext-destination",
};
G_STATIC_ASSERT(G_N_ELEMENTS(refused) == G_N_ELEMENTS(refused_names));

/*
 * A peer with no driver over TCP, from a daemon with credentials and no
 * --plaintext-tcp: TLS is required, which a plain QEMU waiting with
 * -incoming cannot give, so even with "legacy" the migration is refused,
 * naming TLS, and the QEMU there still waits (its connection held).
 */
static void
test_legacy_tls(Fixture *f, gconstpointer data)
{
    g_autofree char *uri = g_strdup_printf("tcp:127.0.0.1:%u", vmig_test_free_port());
    g_autofree char *incoming = g_strdup_printf("{\"uri\": \"%s\"}", uri);
    g_autofree char *src_domain = NULL;
    g_autofree char *args = NULL;
    g_autofree char *err = NULL;
    g_autofree char *status = NULL;
    g_autoptr(GError) error = NULL;
    guint base;

    SKIP_WITHOUT_QEMU(f);
    daemon_start(f, &f->src, FALSE, data);
    f->src_ctl = vmig_test_control_open(&f->src);
    base = vmig_test_count_fds(f->src.pid);
    g_assert_true(vmig_guest_qmp(f->dst_aux, "migrate-incoming", incoming, NULL, &error));
    g_assert_no_error(error);
    src_domain = vmig_test_domain_of(f->src_qemu);
    args = g_strdup_printf("{\"domain\": \"%s\", \"dest\": \"%s\", \"legacy\": true}",
                           src_domain, uri);
    g_free(vmig_test_execute_id(f->src_ctl, &f->src, "migrate", args, NULL, 0));
    err = vmig_test_wait_done(f->src_ctl, "failed");
    g_test_message("the source says: %s", err);
    g_assert_nonnull(strstr(err, "TLS is required for this migration, and a peer with no "
                                 "driver cannot give it"));
    g_assert_nonnull(strstr(err, "--plaintext-tcp"));
    g_assert_cmpint(kill(f->dst_qemu->pid, 0), ==, 0);
    status = vmig_test_guest_status(f->dst_aux);
    g_assert_cmpstr(status, ==, "inmigrate");
    g_clear_pointer(&status, g_free);
    status = vmig_test_guest_status(f->src_aux);
    g_assert_cmpstr(status, ==, "running");
    /* The held connection is the daemon's only new fd. */
    g_assert_cmpuint(vmig_test_count_fds(f->src.pid), ==, base + 1);
}

static const Case no_creds = {.src_creds = CREDS_NONE_STRICT,
                              .dst_creds = CREDS_NONE_STRICT};
static const Case good = {0};

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int status;

    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    pattern_dir = g_dir_make_tmp("vmig-pattern-XXXXXX", &error);
    g_assert_no_error(error);
    pattern_path = g_build_filename(pattern_dir, "pattern.bin", NULL);
    g_assert_true(
        vmig_guest_write_pattern(pattern_path, PATTERN_SIZE, PATTERN_SEED, &error));

    g_test_add("/tls/tcp/4-channels", Fixture, &tcp_4, fixture_setup, test_migrate,
               fixture_teardown);
    g_test_add("/tls/tcp/1-channel", Fixture, &tcp_1, fixture_setup, test_migrate,
               fixture_teardown);
    g_test_add("/tls/tcp/allowed-dn", Fixture, &dst_dn, fixture_setup, test_migrate,
               fixture_teardown);
    g_test_add("/tls/unix/2-channels", Fixture, &unix_2, fixture_setup, test_migrate,
               fixture_teardown);
    g_test_add("/tls/fd/2-channels", Fixture, &fd_2, fixture_setup, test_migrate,
               fixture_teardown);
    g_test_add("/tls/cli/unix", Fixture, &good, fixture_setup, test_cli,
               fixture_teardown);
    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autofree char *path = g_strdup_printf("/tls/refused/%s", refused_names[i]);

        g_test_add(path, Fixture, &refused[i], fixture_setup, test_refused,
                   fixture_teardown);
    }
    g_test_add("/tls/refused/tunable", Fixture, &good, fixture_setup, test_tunable,
               fixture_teardown);
    g_test_add("/tls/refused/legacy-peer", Fixture, &good, fixture_setup, test_legacy_tls,
               fixture_teardown);
    g_test_add_func("/tls/daemon/broken-dir", test_broken_dir);
    g_test_add_func("/tls/standing/trust", test_standing_trust);
    g_test_add("/tls/faults/stalled-handshakes", Fixture, NULL, fixture_setup, test_flood,
               fixture_teardown);
    {
        static const char *const names[] = {"kill-destination", "kill-source",
                                            "sigterm-destination", "cut", "freeze"};

        for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
            g_autofree char *path =
                g_strdup_printf("/tls/faults/mid-stream/%s", names[i]);

            g_test_add(path, Fixture, GINT_TO_POINTER(i), fixture_setup, test_fault,
                       fixture_teardown);
        }
    }
    g_test_add("/tls/no-credentials", Fixture, &no_creds, fixture_setup,
               test_no_credentials, fixture_teardown);

    status = g_test_run();
    g_unlink(pattern_path);
    g_rmdir(pattern_dir);
    g_free(pattern_path);
    g_free(pattern_dir);
    return status;
}
