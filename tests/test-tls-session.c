/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tls-session.c: TLS sessions between two drivers (tls/session.h):
 * real GnuTLS handshakes and pumps over socket pairs and loopback TCP,
 * with credentials made by tests/tls-helper.h
 *
 * The hosts, made once per run:
 *   dst       CA's server and client certificates, CN dst.example,
 *             SANs dst.example, 127.0.0.1, ::1
 *   src       CA's, CN src.example
 *   stranger  the other CA's, CN stranger.example; its ca-cert.pem holds
 *             both CAs, so it trusts everybody and only its own
 *             certificate is refused
 * A raw GnuTLS peer (credentials made directly) stands in where the
 * loader would refuse the files: an expired certificate.
 */
#include <config.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "fdpass/fd.h"
#include "tests/testutil.h"
#include "tests/tls-helper.h"
#include "tls/session.h"

/* The longest any test waits for anything before it fails. */
#define WAIT_MS 20000

#define DST_DN      "CN=dst.example,O=Example,C=GB"
#define SRC_DN      "CN=src.example,O=Example,C=GB"
#define STRANGER_DN "CN=stranger.example,O=Example,C=GB"

static VmigTestCert *ca;
static VmigTestCert *other_ca;
static char *dst_dir;
static char *src_dir;
static char *stranger_dir;

typedef struct {
    guint fds_before;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->fds_before = vmig_test_count_fds(0);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    /* Nothing is left running: every session and pump closed its sockets. */
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
}

/* Asserts @message contains @part. */
static void
assert_says(const char *message, const char *part)
{
    if (!strstr(message, part))
        g_error("'%s' does not say '%s'", message, part);
}

/* Return: @role's credentials from @dir (asserts they load). */
static VmigTlsCredentials *
load(const char *dir, VmigTlsRole role)
{
    g_autoptr(GError) error = NULL;
    VmigTlsCredentials *creds = vmig_tls_credentials_load(dir, role, &error);

    g_assert_no_error(error);
    return creds;
}

/* Return: a context with both roles of @dir. */
static VmigTlsContext *
context_new(const char *dir, const char *const *allowed,
            VmigTlsPlaintextExplainer explainer)
{
    return vmig_tls_context_new(load(dir, VMIG_TLS_ROLE_SERVER),
                                load(dir, VMIG_TLS_ROLE_CLIENT), allowed, explainer);
}

/* Return: DER of @role's certificate in @dir. */
static GBytes *
cert_der(const char *dir, VmigTlsRole role)
{
    g_autoptr(VmigTlsCredentials) creds = load(dir, role);
    gnutls_datum_t der = {NULL, 0};
    GBytes *bytes;

    g_assert_cmpint(gnutls_x509_crt_export2(vmig_tls_credentials_get_certificate(creds),
                                            GNUTLS_X509_FMT_DER, &der),
                    ==, 0);
    bytes = g_bytes_new(der.data, der.size);
    gnutls_free(der.data);
    return bytes;
}

/* ------------------------------------------------------------------------ */
/* Waiting on the main context, bounded */

typedef gboolean (*Condition)(gpointer data);

static gboolean
timed_out_cb(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Iterates the default context until @cond holds; fails after @ms. */
static void
wait_until(Condition cond, gpointer data, guint ms)
{
    gboolean timed_out = FALSE;
    GSource *timeout = g_timeout_source_new(ms);

    g_source_set_callback(timeout, timed_out_cb, &timed_out, NULL);
    g_source_attach(timeout, NULL);
    while (!cond(data) && !timed_out)
        g_main_context_iteration(NULL, TRUE);
    g_source_destroy(timeout);
    g_source_unref(timeout);
    if (!cond(data))
        g_error("still waiting after %u ms", ms);
}

/* ------------------------------------------------------------------------ */
/* Handshakes */

typedef struct {
    gboolean done;
    VmigTlsSession *session;
    GError *error;
    gint64 ended;
} Result;

static void
result_clear(Result *r)
{
    g_clear_pointer(&r->session, vmig_tls_session_free);
    g_clear_error(&r->error);
    r->done = FALSE;
}

static void
handshake_done(GObject *source, GAsyncResult *res, gpointer data)
{
    Result *r = data;

    g_assert_false(r->done);
    r->session = vmig_tls_handshake_finish(res, &r->error);
    g_assert_true((r->session == NULL) != (r->error == NULL));
    r->ended = g_get_monotonic_time();
    r->done = TRUE;
    if (r->error)
        g_test_message("%s", r->error->message);
}

static gboolean
result_done(gpointer data)
{
    return ((Result *)data)->done;
}

static gboolean
both_done(gpointer data)
{
    Result *r = data;

    return r[0].done && r[1].done;
}

/* Starts a handshake of @role on *@fdp (consumed). */
static void
start(VmigTlsContext *ctx, VmigTlsRole role, int *fdp, const char *hostname,
      guint timeout_ms, GCancellable *cancellable, Result *r)
{
    int fd = *fdp;

    vmig_tls_handshake_async(ctx, role, fdp, hostname,
                             role == VMIG_TLS_ROLE_SERVER ? "the source driver"
                                                          : "the destination driver",
                             timeout_ms, cancellable, handshake_done, r);
    g_assert_cmpint(*fdp, ==, -1);
    g_assert_cmpint(fd, >=, 0);
}

/*
 * A server with @server and a client with @client (dialling @hostname)
 * shake hands; r[0] is the server's result, r[1] the client's.
 */
static void
shake(VmigTlsContext *server, VmigTlsContext *client, const char *hostname, gboolean tcp,
      Result r[2])
{
    int sv[2];

    vmig_test_connected_pair(tcp, sv);
    start(server, VMIG_TLS_ROLE_SERVER, &sv[0], NULL, WAIT_MS, NULL, &r[0]);
    start(client, VMIG_TLS_ROLE_CLIENT, &sv[1], hostname, WAIT_MS, NULL, &r[1]);
    wait_until(both_done, r, WAIT_MS + 5000);
}

/* Both ends established, with what each knows of the other. */
static void
assert_established(Result r[2])
{
    g_autoptr(GBytes) src_cert = cert_der(src_dir, VMIG_TLS_ROLE_CLIENT);
    g_autoptr(GBytes) dst_cert = cert_der(dst_dir, VMIG_TLS_ROLE_SERVER);
    const VmigTlsInfo *server;
    const VmigTlsInfo *client;

    g_assert_no_error(r[0].error);
    g_assert_no_error(r[1].error);
    server = vmig_tls_session_get_info(r[0].session);
    client = vmig_tls_session_get_info(r[1].session);
    g_assert_cmpstr(server->version, ==, "TLS1.3");
    g_assert_cmpstr(client->version, ==, "TLS1.3");
    g_assert_nonnull(server->cipher);
    g_assert_cmpstr(server->cipher, ==, client->cipher);
    assert_says(server->description, "(TLS1.3)");
    assert_says(server->description, server->cipher);
    g_assert_cmpstr(server->peer_dn, ==, SRC_DN);
    g_assert_cmpstr(client->peer_dn, ==, DST_DN);
    g_assert_true(g_bytes_equal(server->peer_cert, src_cert));
    g_assert_true(g_bytes_equal(client->peer_cert, dst_cert));
    g_assert_false(vmig_tls_info_same_peer(server, client));
}

static void
test_ok(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTlsContext) dst = context_new(dst_dir, NULL, NULL);
    g_autoptr(VmigTlsContext) src = context_new(src_dir, NULL, NULL);
    Result r[2] = {{0}};
    Result again[2] = {{0}};
    g_autoptr(VmigTlsInfo) copy = NULL;

    shake(dst, src, "dst.example", data != NULL, r);
    assert_established(r);
    g_test_message("%s", vmig_tls_session_get_info(r[0].session)->description);
    copy = vmig_tls_info_copy(vmig_tls_session_get_info(r[0].session));
    g_assert_cmpstr(copy->peer_dn, ==, SRC_DN);
    g_assert_true(vmig_tls_info_same_peer(copy, vmig_tls_session_get_info(r[0].session)));

    /* The same client again: the same certificate; the roles reversed: another. */
    shake(dst, src, NULL, FALSE, again);
    assert_established(again);
    g_assert_true(vmig_tls_info_same_peer(vmig_tls_session_get_info(r[0].session),
                                          vmig_tls_session_get_info(again[0].session)));
    result_clear(&again[0]);
    result_clear(&again[1]);
    shake(src, dst, NULL, FALSE, again);
    g_assert_no_error(again[0].error);
    g_assert_no_error(again[1].error);
    g_assert_cmpstr(vmig_tls_session_get_info(again[0].session)->peer_dn, ==, DST_DN);
    g_assert_false(vmig_tls_info_same_peer(vmig_tls_session_get_info(r[0].session),
                                           vmig_tls_session_get_info(again[0].session)));
    for (int i = 0; i < 2; i++) {
        result_clear(&r[i]);
        result_clear(&again[i]);
    }
}

/* The host name the client dialled, as a DNS SAN and as IP SANs. */
static void
test_hostname_match(Fixture *f, gconstpointer data)
{
    static const char *const names[] = {"dst.example", "127.0.0.1", "::1"};
    g_autoptr(VmigTlsContext) dst = context_new(dst_dir, NULL, NULL);
    g_autoptr(VmigTlsContext) src = context_new(src_dir, NULL, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        Result r[2] = {{0}};

        shake(dst, src, names[i], FALSE, r);
        assert_established(r);
        result_clear(&r[0]);
        result_clear(&r[1]);
    }
}

/* A name or an address the certificate does not carry. */
static void
test_hostname_mismatch(Fixture *f, gconstpointer data)
{
    static const char *const names[] = {"other.example", "10.1.2.3", "dst.example.org"};
    g_autoptr(VmigTlsContext) dst = context_new(dst_dir, NULL, NULL);
    g_autoptr(VmigTlsContext) src = context_new(src_dir, NULL, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        Result r[2] = {{0}};

        shake(dst, src, names[i], FALSE, r);
        g_assert_error(r[1].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_CERTIFICATE);
        assert_says(r[1].error->message,
                    "the destination driver's certificate " DST_DN " is not trusted: ");
        assert_says(r[1].error->message, "does not match");
        assert_says(r[1].error->message, names[i]);
        g_assert_error(r[0].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_REFUSED_BY_PEER);
        assert_says(r[0].error->message,
                    "the source driver refused this host's certificate: ");
        assert_says(r[0].error->message, "(TLS alert)");
        result_clear(&r[0]);
        result_clear(&r[1]);
    }
}

/* The server's certificate is the other CA's: the client refuses it. */
static void
test_other_ca_server(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTlsContext) stranger = context_new(stranger_dir, NULL, NULL);
    g_autoptr(VmigTlsContext) src = context_new(src_dir, NULL, NULL);
    Result r[2] = {{0}};

    shake(stranger, src, NULL, data != NULL, r);
    g_assert_error(r[1].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_CERTIFICATE);
    g_assert_cmpstr(r[1].error->message, ==,
                    "the destination driver's certificate " STRANGER_DN
                    " is not trusted: The certificate issuer is unknown.");
    g_assert_error(r[0].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_REFUSED_BY_PEER);
    g_assert_cmpstr(r[0].error->message, ==,
                    "the source driver refused this host's certificate: CA is unknown "
                    "(TLS alert)");
    result_clear(&r[0]);
    result_clear(&r[1]);
}

/* The client's certificate is the other CA's: the server refuses it, and
 * the client learns it from "VMGA" not coming: the alert instead. */
static void
test_other_ca_client(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTlsContext) dst = context_new(dst_dir, NULL, NULL);
    g_autoptr(VmigTlsContext) stranger = context_new(stranger_dir, NULL, NULL);
    Result r[2] = {{0}};

    shake(dst, stranger, "dst.example", data != NULL, r);
    g_assert_error(r[0].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_CERTIFICATE);
    g_assert_cmpstr(r[0].error->message, ==,
                    "the source driver's certificate " STRANGER_DN
                    " is not trusted: The certificate issuer is unknown.");
    g_assert_error(r[1].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_REFUSED_BY_PEER);
    g_assert_cmpstr(
        r[1].error->message, ==,
        "the destination driver refused this host's certificate: CA is unknown "
        "(TLS alert)");
    result_clear(&r[0]);
    result_clear(&r[1]);
}

/* The DN allow-list, on each side. */
static void
test_dn(Fixture *f, gconstpointer data)
{
    const char *const nobody[] = {"CN=nobody,O=Example,C=GB", NULL};
    const char *const anyone[] = {"CN=nobody,O=Example,C=GB",
                                  "CN=*.example,O=Example,C=GB", NULL};
    g_autoptr(VmigTlsContext) dst = context_new(dst_dir, NULL, NULL);
    g_autoptr(VmigTlsContext) src = context_new(src_dir, NULL, NULL);
    g_autoptr(VmigTlsContext) dst_strict = context_new(dst_dir, nobody, NULL);
    g_autoptr(VmigTlsContext) src_strict = context_new(src_dir, nobody, NULL);
    g_autoptr(VmigTlsContext) dst_glob = context_new(dst_dir, anyone, NULL);
    g_autoptr(VmigTlsContext) src_glob = context_new(src_dir, anyone, NULL);
    Result r[2] = {{0}};

    shake(dst_glob, src_glob, "dst.example", FALSE, r);
    assert_established(r);
    result_clear(&r[0]);
    result_clear(&r[1]);

    /* The server refuses the client's DN. */
    shake(dst_strict, src, "dst.example", FALSE, r);
    g_assert_error(r[0].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_DN_NOT_ALLOWED);
    assert_says(r[0].error->message,
                "the source driver's certificate " SRC_DN " is not allowed");
    g_assert_error(r[1].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_REFUSED_BY_PEER);
    g_assert_cmpstr(r[1].error->message, ==,
                    "the destination driver refused this host's certificate: "
                    "Access was denied (TLS alert)");
    result_clear(&r[0]);
    result_clear(&r[1]);

    /* The client refuses the server's DN, inside the handshake: the
     * server's handshake fails too. */
    shake(dst, src_strict, "dst.example", FALSE, r);
    g_assert_error(r[1].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_DN_NOT_ALLOWED);
    assert_says(r[1].error->message,
                "the destination driver's certificate " DST_DN " is not allowed");
    g_assert_error(r[0].error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_REFUSED_BY_PEER);
    g_assert_cmpstr(r[0].error->message, ==,
                    "the source driver refused this host's certificate: "
                    "Access was denied (TLS alert)");
    result_clear(&r[0]);
    result_clear(&r[1]);
}

/* ------------------------------------------------------------------------ */
/* A raw GnuTLS peer, for certificates the loader would refuse */

typedef struct {
    int fd; /* owned */
    gboolean server;
    gnutls_certificate_credentials_t creds;
    int handshake_ret;
    int read_ret;
    int alert;
    GThread *thread;
} RawPeer;

static gpointer
raw_peer_thread(gpointer data)
{
    RawPeer *p = data;
    gnutls_session_t s;
    guint8 buf[64];
    int ret;

    p->alert = -1;
    g_assert_cmpint(
        gnutls_init(&s, (p->server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL),
        ==, 0);
    g_assert_cmpint(gnutls_set_default_priority(s), ==, 0);
    g_assert_cmpint(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, p->creds), ==, 0);
    if (p->server)
        gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
    gnutls_transport_set_int(s, p->fd);
    gnutls_handshake_set_timeout(s, WAIT_MS);
    gnutls_record_set_timeout(s, WAIT_MS);
    do {
        ret = gnutls_handshake(s);
    } while (ret < 0 && !gnutls_error_is_fatal(ret));
    p->handshake_ret = ret;
    if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
        p->alert = gnutls_alert_get(s);
    if (ret == 0) {
        if (p->server)
            g_assert_cmpint(gnutls_record_send(s, "VMGA", 4), ==, 4);
        do {
            ret = gnutls_record_recv(s, buf, sizeof(buf));
        } while (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED);
        p->read_ret = ret;
        if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
            p->alert = gnutls_alert_get(s);
    }
    gnutls_deinit(s);
    vmig_fd_clear(&p->fd);
    return NULL;
}

/* Starts a raw peer on *@fdp (consumed) with @cert signed by... whoever. */
static void
raw_peer_start(RawPeer *p, gboolean server, int *fdp, const VmigTestCert *cert)
{
    p->fd = vmig_fd_steal(fdp);
    p->server = server;
    p->creds = vmig_test_gnutls_credentials(NULL, cert);
    p->thread = g_thread_new("raw-peer", raw_peer_thread, p);
}

static void
raw_peer_join(RawPeer *p)
{
    g_thread_join(g_steal_pointer(&p->thread));
    gnutls_certificate_free_credentials(p->creds);
}

/* The peer's certificate expired yesterday: refused, and told so. */
static void
test_expired(Fixture *f, gconstpointer data)
{
    gboolean peer_is_server = GPOINTER_TO_INT(data);
    VmigTestCertSpec spec =
        peer_is_server ? vmig_test_server_spec : vmig_test_client_spec;
    g_autoptr(VmigTestCert) old = NULL;
    g_autoptr(VmigTlsContext) ctx =
        context_new(peer_is_server ? src_dir : dst_dir, NULL, NULL);
    RawPeer peer = {0};
    Result r = {0};
    int sv[2];

    spec.cn = "old.example";
    spec.start = -10 * VMIG_TEST_DAY;
    spec.end = -VMIG_TEST_DAY;
    old = vmig_test_cert_new(&spec, ca);
    vmig_test_connected_pair(FALSE, sv);
    raw_peer_start(&peer, peer_is_server, &sv[0], old);
    start(ctx, peer_is_server ? VMIG_TLS_ROLE_CLIENT : VMIG_TLS_ROLE_SERVER, &sv[1], NULL,
          WAIT_MS, NULL, &r);
    wait_until(result_done, &r, WAIT_MS + 5000);
    raw_peer_join(&peer);

    g_assert_error(r.error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_CERTIFICATE);
    assert_says(r.error->message,
                "certificate CN=old.example,O=Example,C=GB is not trusted: ");
    assert_says(r.error->message, "expired");
    if (peer_is_server) {
        /* Refused before the client's Finished: the server's handshake fails. */
        g_assert_cmpint(peer.handshake_ret, ==, GNUTLS_E_FATAL_ALERT_RECEIVED);
    } else {
        /* TLS 1.3: the client's handshake is over before the server checks. */
        g_assert_cmpint(peer.handshake_ret, ==, 0);
        g_assert_cmpint(peer.read_ret, ==, GNUTLS_E_FATAL_ALERT_RECEIVED);
    }
    g_assert_cmpint(peer.alert, ==, GNUTLS_A_CERTIFICATE_EXPIRED);
    result_clear(&r);
}

/* ------------------------------------------------------------------------ */
/* Peers that do not shake hands */

/* A plaintext driver's ERROR frame, as a fake: "VMGR", a length, text. */
static const char error_frame[] = "VMGR\0\0\0\x16plaintext connections only";

static char *
explain(const guint8 *bytes, gsize len)
{
    if (len >= 4 && memcmp(bytes, "VMGR", 4) == 0)
        return g_strdup_printf("it answered with an ERROR frame: '%.*s'", (int)(len - 8),
                               (const char *)bytes + 8);
    return NULL;
}

typedef struct {
    int fd; /* owned */
    const char *answer;
    gsize answer_len;
    GThread *thread;
} FakePeer;

/* Reads the ClientHello, answers with plaintext, closes. */
static gpointer
fake_peer_thread(gpointer data)
{
    FakePeer *p = data;
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    char buf[4096];

    g_assert_cmpint(poll(&pfd, 1, WAIT_MS), ==, 1);
    g_assert_cmpint(recv(p->fd, buf, sizeof(buf), 0), >, 0);
    g_assert_cmpint(buf[0], ==, VMIG_TLS_HANDSHAKE_BYTE);
    g_assert_cmpint(send(p->fd, p->answer, p->answer_len, MSG_NOSIGNAL), ==,
                    p->answer_len);
    vmig_fd_clear(&p->fd);
    return NULL;
}

static void
test_plaintext(Fixture *f, gconstpointer data)
{
    static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    g_autoptr(VmigTlsContext) explained = context_new(src_dir, NULL, explain);
    g_autoptr(VmigTlsContext) plain = context_new(src_dir, NULL, NULL);
    const struct {
        VmigTlsContext *ctx;
        const char *answer;
        gsize len;
        const char *message;
    } cases[] = {
        {explained, error_frame, sizeof(error_frame) - 1,
         "the destination driver does not speak TLS: it answered with an ERROR frame: "
         "'plaintext connections only'"},
        {plain, error_frame, sizeof(error_frame) - 1,
         "the destination driver does not speak TLS (its first bytes: 56 4d 47 52 00 00 "
         "00 "
         "16 ...)"},
        {explained, http, sizeof(http) - 1,
         "the destination driver does not speak TLS (its first bytes: 48 54 54 50 2f 31 "
         "2e "
         "31 ...)"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        FakePeer peer = {.answer = cases[i].answer, .answer_len = cases[i].len};
        Result r = {0};
        int sv[2];

        vmig_test_connected_pair(FALSE, sv);
        peer.fd = sv[0];
        peer.thread = g_thread_new("fake-peer", fake_peer_thread, &peer);
        start(cases[i].ctx, VMIG_TLS_ROLE_CLIENT, &sv[1], "dst.example", WAIT_MS, NULL,
              &r);
        wait_until(result_done, &r, WAIT_MS + 5000);
        g_thread_join(peer.thread);
        g_assert_error(r.error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_PLAINTEXT_PEER);
        g_assert_cmpstr(r.error->message, ==, cases[i].message);
        result_clear(&r);
    }
}

/* The peer closes at once, before any byte: each role. */
static void
test_closed(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTlsContext) ctx = context_new(dst_dir, NULL, NULL);

    for (int role = 0; role < VMIG_TLS_ROLE_LAST; role++) {
        Result r = {0};
        int sv[2];

        vmig_test_connected_pair(data != NULL, sv);
        close(sv[0]);
        start(ctx, role, &sv[1], NULL, WAIT_MS, NULL, &r);
        wait_until(result_done, &r, WAIT_MS + 5000);
        g_assert_error(r.error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_CLOSED);
        /* A client's ClientHello may meet EPIPE, which the message adds. */
        assert_says(r.error->message,
                    role == VMIG_TLS_ROLE_SERVER
                        ? "the source driver closed the connection "
                          "during the TLS handshake"
                        : "the destination driver closed the connection "
                          "during the TLS handshake");
        result_clear(&r);
    }
}

/* A peer that says nothing: TIMEOUT after the bound, not before, not much after. */
static void
test_timeout(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTlsContext) ctx = context_new(dst_dir, NULL, NULL);
    const guint bound = 300;

    for (int role = 0; role < VMIG_TLS_ROLE_LAST; role++) {
        Result r = {0};
        g_auto(VmigFd) silent = -1;
        gint64 begun;
        gint64 took_ms;
        int sv[2];

        vmig_test_connected_pair(FALSE, sv);
        silent = sv[0];
        begun = g_get_monotonic_time();
        start(ctx, role, &sv[1], NULL, bound, NULL, &r);
        wait_until(result_done, &r, WAIT_MS);
        took_ms = (r.ended - begun) / 1000;
        g_test_message("%s: timed out after %" G_GINT64_FORMAT " ms",
                       vmig_tls_role_name(role), took_ms);
        g_assert_error(r.error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_TIMEOUT);
        assert_says(r.error->message, "did not complete the TLS handshake within 300 ms");
        g_assert_cmpint(took_ms, >=, bound - 10);
        g_assert_cmpint(took_ms, <, bound + (RUNNING_ON_VALGRIND ? 5000 : 1000));
        result_clear(&r);
    }
}

static gboolean
cancel_cb(gpointer data)
{
    g_cancellable_cancel(data);
    return G_SOURCE_REMOVE;
}

/* Cancelled while waiting for a silent peer, and cancelled before it began. */
static void
test_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTlsContext) ctx = context_new(src_dir, NULL, NULL);

    for (int early = 0; early < 2; early++) {
        g_autoptr(GCancellable) cancellable = g_cancellable_new();
        g_auto(VmigFd) silent = -1;
        Result r = {0};
        gint64 begun = g_get_monotonic_time();
        int sv[2];

        vmig_test_connected_pair(FALSE, sv);
        silent = sv[0];
        if (early)
            g_cancellable_cancel(cancellable);
        else
            g_timeout_add(100, cancel_cb, cancellable);
        start(ctx, VMIG_TLS_ROLE_CLIENT, &sv[1], NULL, WAIT_MS, cancellable, &r);
        wait_until(result_done, &r, WAIT_MS);
        g_assert_error(r.error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_CANCELLED);
        assert_says(r.error->message, "the destination driver");
        g_assert_cmpint((r.ended - begun) / 1000, <, WAIT_MS / 4);
        result_clear(&r);
    }
}

/* A context without the role's credentials: NO_CREDENTIALS, the socket closed. */
static void
test_no_credentials(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTlsContext) client_only =
        vmig_tls_context_new(NULL, load(src_dir, VMIG_TLS_ROLE_CLIENT), NULL, NULL);
    g_autoptr(VmigTlsContext) server_only =
        vmig_tls_context_new(load(dst_dir, VMIG_TLS_ROLE_SERVER), NULL, NULL, NULL);
    Result r = {0};
    int sv[2];

    g_assert_false(vmig_tls_context_has_role(client_only, VMIG_TLS_ROLE_SERVER));
    g_assert_true(vmig_tls_context_has_role(client_only, VMIG_TLS_ROLE_CLIENT));
    g_assert_true(vmig_tls_context_has_role(server_only, VMIG_TLS_ROLE_SERVER));
    vmig_test_connected_pair(FALSE, sv);
    start(client_only, VMIG_TLS_ROLE_SERVER, &sv[0], NULL, WAIT_MS, NULL, &r);
    wait_until(result_done, &r, WAIT_MS);
    g_assert_error(r.error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_NO_CREDENTIALS);
    assert_says(r.error->message, "server");
    result_clear(&r);
    start(server_only, VMIG_TLS_ROLE_CLIENT, &sv[1], NULL, WAIT_MS, NULL, &r);
    wait_until(result_done, &r, WAIT_MS);
    g_assert_error(r.error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_NO_CREDENTIALS);
    assert_says(r.error->message, "client");
    result_clear(&r);
}

/* ------------------------------------------------------------------------ */
/* Pumps */

typedef struct {
    gboolean done;
    GError *error;
} PumpEnd;

static void
pump_done(VmigTlsPump *pump, const GError *error, gpointer data)
{
    PumpEnd *end = data;

    g_assert_false(end->done);
    end->done = TRUE;
    end->error = error ? g_error_copy(error) : NULL;
}

static gboolean
pump_ended(gpointer data)
{
    return ((PumpEnd *)data)->done;
}

static gboolean
pumps_ended(gpointer data)
{
    PumpEnd *ends = data;

    return ends[0].done && ends[1].done;
}

/* Two pumps over an established pair: [0] the server's, [1] the client's. */
typedef struct {
    VmigTlsContext *dst;
    VmigTlsContext *src;
    VmigTlsPump *pumps[2];
    int plain[2];
    PumpEnd ends[2];
} PumpPair;

static void
pump_pair_start(PumpPair *p, gboolean tcp)
{
    Result r[2] = {{0}};

    p->dst = context_new(dst_dir, NULL, NULL);
    p->src = context_new(src_dir, NULL, NULL);
    shake(p->dst, p->src, "dst.example", tcp, r);
    g_assert_no_error(r[0].error);
    g_assert_no_error(r[1].error);
    for (int i = 0; i < 2; i++) {
        g_autoptr(GError) error = NULL;

        p->pumps[i] = vmig_tls_pump_start(g_steal_pointer(&r[i].session), &p->plain[i],
                                          i == 0 ? "test/server" : "test/client", NULL,
                                          pump_done, &p->ends[i], &error);
        g_assert_no_error(error);
        g_assert_nonnull(p->pumps[i]);
        g_assert_cmpint(p->plain[i], >=, 0);
    }
    g_assert_cmpstr(vmig_tls_pump_get_info(p->pumps[0])->peer_dn, ==, SRC_DN);
}

static void
pump_pair_free(PumpPair *p)
{
    for (int i = 0; i < 2; i++) {
        g_clear_pointer(&p->pumps[i], vmig_tls_pump_free);
        vmig_fd_clear(&p->plain[i]);
        g_clear_error(&p->ends[i].error);
    }
    g_clear_pointer(&p->dst, vmig_tls_context_free);
    g_clear_pointer(&p->src, vmig_tls_context_free);
}

/* A stream of pseudo-random bytes written to fd, or read and checked. */
typedef struct {
    int fd; /* borrowed */
    guint64 total;
    guint32 seed;
    guint64 moved;
    char *digest;
    int err;
} Stream;

static void
fill(guint8 *buf, gsize len, guint32 *state)
{
    guint32 x = *state;

    for (gsize i = 0; i + 4 <= len; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(buf + i, &x, 4);
    }
    *state = x;
}

#define STREAM_BUF (1024 * 1024)

static gpointer
writer_thread(gpointer data)
{
    Stream *s = data;
    g_autofree guint8 *buf = g_malloc(STREAM_BUF);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    guint32 state = s->seed;

    while (s->moved < s->total) {
        gsize len = MIN((guint64)STREAM_BUF, s->total - s->moved);
        gsize off = 0;

        fill(buf, len, &state);
        g_checksum_update(sum, buf, len);
        while (off < len) {
            ssize_t n = send(s->fd, buf + off, len - off, MSG_NOSIGNAL);

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                s->err = n < 0 ? errno : EIO;
                return NULL;
            }
            off += n;
        }
        s->moved += len;
    }
    shutdown(s->fd, SHUT_WR);
    s->digest = g_strdup(g_checksum_get_string(sum));
    return NULL;
}

static gpointer
reader_thread(gpointer data)
{
    Stream *s = data;
    g_autofree guint8 *buf = g_malloc(STREAM_BUF);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

    for (;;) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        ssize_t n;

        if (poll(&pfd, 1, WAIT_MS) != 1) {
            s->err = ETIMEDOUT;
            return NULL;
        }
        n = recv(s->fd, buf, STREAM_BUF, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s->err = errno;
            return NULL;
        }
        if (n == 0)
            break;
        g_checksum_update(sum, buf, n);
        s->moved += n;
    }
    s->digest = g_strdup(g_checksum_get_string(sum));
    return NULL;
}

/* 64 MiB each way at once (less under valgrind), checked, then an orderly end. */
static void
test_pump_bulk(Fixture *f, gconstpointer data)
{
    guint64 total = (RUNNING_ON_VALGRIND ? 4 : 64) * 1024 * 1024 + 12345;
    PumpPair p = {0};
    Stream out[2];
    Stream in[2];
    GThread *threads[4];

    pump_pair_start(&p, data != NULL);
    for (int i = 0; i < 2; i++) {
        out[i] = (Stream){.fd = p.plain[i], .total = total, .seed = 0x9e3779b9u + i};
        in[i] = (Stream){.fd = p.plain[i]};
    }
    threads[0] = g_thread_new("w0", writer_thread, &out[0]);
    threads[1] = g_thread_new("w1", writer_thread, &out[1]);
    threads[2] = g_thread_new("r0", reader_thread, &in[0]);
    threads[3] = g_thread_new("r1", reader_thread, &in[1]);
    for (int i = 0; i < 4; i++)
        g_thread_join(threads[i]);
    wait_until(pumps_ended, p.ends, WAIT_MS);
    for (int i = 0; i < 2; i++) {
        g_assert_cmpint(out[i].err, ==, 0);
        g_assert_cmpint(in[i].err, ==, 0);
        g_assert_cmpuint(in[i].moved, ==, total);
        g_assert_no_error(p.ends[i].error);
        g_assert_cmpuint(vmig_tls_pump_get_bytes(p.pumps[i], TRUE), ==, total);
        g_assert_cmpuint(vmig_tls_pump_get_bytes(p.pumps[i], FALSE), ==, total);
        g_assert_null(vmig_tls_pump_dup_error(p.pumps[i]));
    }
    g_assert_cmpstr(in[0].digest, ==, out[1].digest);
    g_assert_cmpstr(in[1].digest, ==, out[0].digest);
    for (int i = 0; i < 2; i++) {
        g_free(in[i].digest);
        g_free(out[i].digest);
    }
    pump_pair_free(&p);
}

/* Reads exactly @len bytes from @fd (bounded) and returns them as a string. */
static char *
read_exactly(int fd, gsize len)
{
    char *buf = g_malloc0(len + 1);
    gsize have = 0;

    while (have < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        g_assert_cmpint(poll(&pfd, 1, WAIT_MS), ==, 1);
        n = recv(fd, buf + have, len - have, 0);
        g_assert_cmpint(n, >, 0);
        have += n;
    }
    return buf;
}

/* Asserts end of file on @fd within the bound. */
static void
assert_eof(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char c;

    g_assert_cmpint(poll(&pfd, 1, WAIT_MS), ==, 1);
    g_assert_cmpint(recv(fd, &c, 1, 0), ==, 0);
}

/* A half-close travels each way; the other direction goes on until its own. */
static void
test_pump_half_close(Fixture *f, gconstpointer data)
{
    PumpPair p = {0};
    g_autofree char *hello = NULL;
    g_autofree char *world = NULL;

    pump_pair_start(&p, data != NULL);
    g_assert_cmpint(send(p.plain[1], "hello", 5, MSG_NOSIGNAL), ==, 5);
    g_assert_cmpint(shutdown(p.plain[1], SHUT_WR), ==, 0);
    hello = read_exactly(p.plain[0], 5);
    g_assert_cmpstr(hello, ==, "hello");
    assert_eof(p.plain[0]);
    /* The server's way is still open. */
    g_assert_false(p.ends[0].done || p.ends[1].done);
    g_assert_cmpint(send(p.plain[0], "world", 5, MSG_NOSIGNAL), ==, 5);
    world = read_exactly(p.plain[1], 5);
    g_assert_cmpstr(world, ==, "world");
    g_assert_cmpint(shutdown(p.plain[0], SHUT_WR), ==, 0);
    assert_eof(p.plain[1]);
    wait_until(pumps_ended, p.ends, WAIT_MS);
    g_assert_no_error(p.ends[0].error);
    g_assert_no_error(p.ends[1].error);
    g_assert_cmpuint(vmig_tls_pump_get_bytes(p.pumps[1], TRUE), ==, 5);
    g_assert_cmpuint(vmig_tls_pump_get_bytes(p.pumps[1], FALSE), ==, 5);
    pump_pair_free(&p);
}

/* The peer goes away without close_notify: an error, not an end of file. */
static void
test_pump_no_close_notify(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTlsContext) dst = context_new(dst_dir, NULL, NULL);
    g_autoptr(VmigTlsContext) src = context_new(src_dir, NULL, NULL);
    g_autoptr(VmigTlsPump) pump = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) dup = NULL;
    g_auto(VmigFd) plain = -1;
    PumpEnd end = {0};
    Result r[2] = {{0}};

    shake(dst, src, "dst.example", data != NULL, r);
    g_assert_no_error(r[0].error);
    g_assert_no_error(r[1].error);
    pump = vmig_tls_pump_start(g_steal_pointer(&r[1].session), &plain, "test/client",
                               NULL, pump_done, &end, &error);
    g_assert_no_error(error);
    /* The server's session closes its socket without close_notify. */
    result_clear(&r[0]);
    assert_eof(plain);
    wait_until(pump_ended, &end, WAIT_MS);
    g_assert_error(end.error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_IO);
    assert_says(end.error->message, "test/client: receiving from the destination driver");
    dup = vmig_tls_pump_dup_error(pump);
    g_assert_error(dup, VMIG_TLS_ERROR, VMIG_TLS_ERROR_IO);
    g_assert_cmpstr(dup->message, ==, end.error->message);
    g_clear_error(&end.error);
}

/* Freed while bytes are in flight and nobody reads: no hang, no done call. */
static void
test_pump_free_running(Fixture *f, gconstpointer data)
{
    PumpPair p = {0};
    g_autofree guint8 *buf = g_malloc0(1024 * 1024);
    gint64 begun;

    pump_pair_start(&p, data != NULL);
    /* Fill every buffer on the way: the writes stop when all are full. */
    for (;;) {
        struct pollfd pfd = {.fd = p.plain[1], .events = POLLOUT};

        if (poll(&pfd, 1, 200) == 0)
            break;
        g_assert_cmpint(send(p.plain[1], buf, 1024 * 1024, MSG_NOSIGNAL | MSG_DONTWAIT),
                        >, 0);
    }
    g_assert_cmpuint(vmig_tls_pump_get_bytes(p.pumps[1], TRUE), >, 0);
    begun = g_get_monotonic_time();
    for (int i = 0; i < 2; i++)
        g_clear_pointer(&p.pumps[i], vmig_tls_pump_free);
    g_assert_cmpint(g_get_monotonic_time() - begun, <, 5 * G_USEC_PER_SEC);
    /* Nothing is dispatched after the free. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_false(p.ends[0].done);
    g_assert_false(p.ends[1].done);
    pump_pair_free(&p);
}

/* ------------------------------------------------------------------------ */

static void
make_hosts(void)
{
    const char *const dst_ips[] = {"127.0.0.1", "::1", NULL};
    g_autoptr(GString) both = g_string_new(NULL);

    ca = vmig_test_ca_new("virt-migrate test CA");
    other_ca = vmig_test_ca_new("virt-migrate other CA");
    dst_dir = vmig_test_tls_dir_new();
    src_dir = vmig_test_tls_dir_new();
    stranger_dir = vmig_test_tls_dir_new();
    vmig_test_tls_write_host(
        dst_dir, ca, &(VmigTestHost){.cn = "dst.example", .ip_addresses = dst_ips});
    vmig_test_tls_write_host(src_dir, ca, &(VmigTestHost){.cn = "src.example"});
    vmig_test_tls_write_host(stranger_dir, other_ca,
                             &(VmigTestHost){.cn = "stranger.example"});
    for (int i = 0; i < 2; i++) {
        gnutls_datum_t pem = {NULL, 0};

        g_assert_cmpint(
            gnutls_x509_crt_export2((i ? other_ca : ca)->crt, GNUTLS_X509_FMT_PEM, &pem),
            ==, 0);
        g_string_append_len(both, (const char *)pem.data, pem.size);
        gnutls_free(pem.data);
    }
    vmig_test_write_file(stranger_dir, VMIG_TLS_CA_CERT_FILE, both->str, both->len);
}

static void
remove_hosts(void)
{
    vmig_test_tls_dir_remove(dst_dir);
    vmig_test_tls_dir_remove(src_dir);
    vmig_test_tls_dir_remove(stranger_dir);
    g_clear_pointer(&dst_dir, g_free);
    g_clear_pointer(&src_dir, g_free);
    g_clear_pointer(&stranger_dir, g_free);
    g_clear_pointer(&ca, vmig_test_cert_free);
    g_clear_pointer(&other_ca, vmig_test_cert_free);
}

static void
warm_up_done(GObject *source, GAsyncResult *res, gpointer data)
{
    *(gboolean *)data = TRUE;
}

static gboolean
flag_set(gpointer data)
{
    return *(gboolean *)data;
}

/*
 * Before the first fd count: the default context's wakeup fd, and what
 * GTask's class makes on its first use (GLib's worker context).  The
 * handshakes run in threads of their own, not in GTask's pool, so no
 * pool thread is started here either (valgrind would count its cached
 * thread storage as possibly lost).
 */
static void
warm_up(void)
{
    g_autoptr(GTask) task = NULL;
    gboolean done = FALSE;

    g_main_context_wakeup(g_main_context_default());
    task = g_task_new(NULL, NULL, warm_up_done, &done);
    g_task_return_boolean(task, TRUE);
    g_clear_object(&task);
    wait_until(flag_set, &done, WAIT_MS);
}

#define ADD(path, data, func)                                                            \
    g_test_add("/tls/" path, Fixture, data, fixture_setup, func, fixture_teardown)

int
main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    warm_up();
    make_hosts();
    ADD("session/ok", NULL, test_ok);
    ADD("session/ok-tcp", "tcp", test_ok);
    ADD("session/hostname/match", NULL, test_hostname_match);
    ADD("session/hostname/mismatch", NULL, test_hostname_mismatch);
    ADD("session/other-ca/server", NULL, test_other_ca_server);
    ADD("session/other-ca/server-tcp", "tcp", test_other_ca_server);
    ADD("session/other-ca/client", NULL, test_other_ca_client);
    ADD("session/other-ca/client-tcp", "tcp", test_other_ca_client);
    ADD("session/expired/server", GINT_TO_POINTER(TRUE), test_expired);
    ADD("session/expired/client", GINT_TO_POINTER(FALSE), test_expired);
    ADD("session/dn", NULL, test_dn);
    ADD("session/plaintext", NULL, test_plaintext);
    ADD("session/closed", NULL, test_closed);
    ADD("session/closed-tcp", "tcp", test_closed);
    ADD("session/timeout", NULL, test_timeout);
    ADD("session/cancel", NULL, test_cancel);
    ADD("session/no-credentials", NULL, test_no_credentials);
    ADD("pump/bulk", NULL, test_pump_bulk);
    ADD("pump/bulk-tcp", "tcp", test_pump_bulk);
    ADD("pump/half-close", NULL, test_pump_half_close);
    ADD("pump/half-close-tcp", "tcp", test_pump_half_close);
    ADD("pump/no-close-notify", NULL, test_pump_no_close_notify);
    ADD("pump/no-close-notify-tcp", "tcp", test_pump_no_close_notify);
    ADD("pump/free-running", NULL, test_pump_free_running);
    ret = g_test_run();
    remove_hosts();
    return ret;
}
