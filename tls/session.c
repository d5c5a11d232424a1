/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session.c: TLS sessions between two drivers (the contract is session.h)
 *
 * The transport under GnuTLS is ours (push, pull and pull_timeout
 * functions), for three reasons:
 *  - every wait of the handshake is bounded by one deadline: poll() before
 *    each recv() and, the socket being blocking, MSG_DONTWAIT plus poll()
 *    for each send, so a silent peer, or one that reads nothing, costs
 *    the caller's bound and no more;
 *  - the first bytes the peer sent are kept, so a failed handshake can
 *    tell a plaintext peer (its first byte is no TLS record type) from a
 *    TLS one, and show them to the explainer;
 *  - reads go through a 256 KiB read-ahead buffer: GnuTLS reads a record
 *    header, then its body, two recv() calls per 16 KiB record, where
 *    one recv() of what the socket has serves a dozen records.
 * Sends use sendmsg(MSG_NOSIGNAL): a reset peer fails them with EPIPE,
 * it never raises SIGPIPE.
 *
 * Checks: GnuTLS verifies the peer's chain against the CA and the CRL and,
 * on a client with a host name, the name (gnutls_session_set_verify_cert);
 * the DN allow-list runs in a session verify function, inside the
 * handshake, so that a client refusing the server's DN does it before its
 * Finished and the server's handshake fails too, with the alert.
 *
 * The pump: GnuTLS's manual (section "Thread safety") says a session
 * "could also be shared by two threads, one sending, the other
 * receiving", with two cautions: GNUTLS_AUTO_REAUTH cannot be used that
 * way (it is not: no flag asks for it, and TLS 1.3 has no renegotiation),
 * and the end is the sender calling gnutls_bye(GNUTLS_SHUT_WR) while the
 * receiver waits for gnutls_record_recv() to return 0, which is exactly
 * how the two directions end here.  Neither side asks for key updates.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-tls"

#include "tls/session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gnutls/x509.h>

#include "fdpass/fd.h"
#include "tls/dn.h"

/* How many of the peer's first bytes a handshake keeps for its messages. */
#define VMIG_TLS_SNIFF_SIZE 256

/* The read-ahead buffer under GnuTLS (see the top of the file). */
#define VMIG_TLS_READ_AHEAD (256 * 1024)

/* What the plain->TLS thread reads at once, and the largest record. */
#define VMIG_TLS_CHUNK  (256 * 1024)
#define VMIG_TLS_RECORD (16 * 1024)
/*
 * The system's priorities, AES-128-GCM first: GnuTLS's default order puts
 * AES-256-GCM first, which costs more per byte (14 AES rounds to 10) for a
 * margin that 128-bit keys do not need here; the peer is one of ours, so
 * both sides agree.  ChaCha20 stays for hosts without AES instructions.
 */
#define VMIG_TLS_PRIORITY_APPEND                                                         \
    "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM"

/* What the TLS->plain thread collects before one write to the plain end. */
#define VMIG_TLS_RECV_BUFFER (256 * 1024)

/* TLS record content types: change_cipher_spec, alert, handshake, application data. */
#define VMIG_TLS_CONTENT_TYPE_MIN 20
#define VMIG_TLS_CONTENT_TYPE_MAX 23

struct _VmigTlsContext {
    gint refs; /* the owner's, and one per session (GnuTLS keeps the credentials) */
    VmigTlsCredentials *creds[VMIG_TLS_ROLE_LAST];
    char **allowed_dn;
    VmigTlsPlaintextExplainer explainer;
};

struct _VmigTlsSession {
    gnutls_session_t gnutls; /* NULL until made */
    VmigFd fd;
    VmigTlsRole role;
    char *peer;
    const VmigTlsContext *ctx; /* the handshake's; not used by the pump */
    VmigTlsInfo info;

    /* The transport.  The handshake worker uses all of it; in the pump,
     * the receiving thread owns the read side and the sending thread the
     * write side, and the rest is read-only. */
    gint64 deadline;    /* monotonic time bounding every wait; 0: none (the pump) */
    gboolean timed_out; /* a wait reached the deadline */
    gboolean eof;       /* recv() returned 0 */
    int pull_errno;     /* the last failed recv() */
    int push_errno;     /* the last failed send() */
    guint8 *rbuf;       /* the read-ahead buffer */
    gsize rbuf_pos;
    gsize rbuf_len;
    gboolean sniffing; /* keep the first bytes received */
    guint8 sniff[VMIG_TLS_SNIFF_SIZE];
    gsize sniff_len;
    char *hostname;             /* client: the name the server's certificate must match */
    unsigned int verify_status; /* why the verify function refused the peer's chain */
    char *refused_dn;           /* the verify function refused this DN */
};

/* ------------------------------------------------------------------------ */
/* Info */

void
vmig_tls_info_free(VmigTlsInfo *info)
{
    if (!info)
        return;
    g_free(info->version);
    g_free(info->cipher);
    g_free(info->description);
    g_free(info->peer_dn);
    g_clear_pointer(&info->peer_cert, g_bytes_unref);
    g_free(info);
}

/* Return: a deep copy of @info. */
VmigTlsInfo *
vmig_tls_info_copy(const VmigTlsInfo *info)
{
    VmigTlsInfo *copy;

    g_return_val_if_fail(info != NULL, NULL);
    copy = g_new0(VmigTlsInfo, 1);
    copy->version = g_strdup(info->version);
    copy->cipher = g_strdup(info->cipher);
    copy->description = g_strdup(info->description);
    copy->peer_dn = g_strdup(info->peer_dn);
    copy->peer_cert = info->peer_cert ? g_bytes_ref(info->peer_cert) : NULL;
    return copy;
}

/* Return: whether @a and @b carry the same peer certificate (DER bytes). */
gboolean
vmig_tls_info_same_peer(const VmigTlsInfo *a, const VmigTlsInfo *b)
{
    g_return_val_if_fail(a != NULL && b != NULL, FALSE);
    if (!a->peer_cert || !b->peer_cert)
        return FALSE;
    return g_bytes_equal(a->peer_cert, b->peer_cert);
}

/* ------------------------------------------------------------------------ */
/* Contexts */

static gpointer
vmig_tls_global_init_once(gpointer data)
{
    return GINT_TO_POINTER(gnutls_global_init());
}

VmigTlsContext *
vmig_tls_context_new(VmigTlsCredentials *server, VmigTlsCredentials *client,
                     const char *const *allowed_dn, VmigTlsPlaintextExplainer explainer)
{
    static GOnce once = G_ONCE_INIT;
    VmigTlsContext *ctx;
    int ret;

    ret = GPOINTER_TO_INT(g_once(&once, vmig_tls_global_init_once, NULL));
    if (ret < 0)
        g_warning("gnutls_global_init: %s", gnutls_strerror(ret));
    g_return_val_if_fail(
        !server || vmig_tls_credentials_get_role(server) == VMIG_TLS_ROLE_SERVER, NULL);
    g_return_val_if_fail(
        !client || vmig_tls_credentials_get_role(client) == VMIG_TLS_ROLE_CLIENT, NULL);
    ctx = g_new0(VmigTlsContext, 1);
    ctx->refs = 1;
    ctx->creds[VMIG_TLS_ROLE_SERVER] = server;
    ctx->creds[VMIG_TLS_ROLE_CLIENT] = client;
    ctx->allowed_dn = g_strdupv((char **)allowed_dn);
    ctx->explainer = explainer;
    return ctx;
}

VmigTlsContext *
vmig_tls_context_ref(VmigTlsContext *ctx)
{
    g_atomic_int_inc(&ctx->refs);
    return ctx;
}

void
vmig_tls_context_free(VmigTlsContext *ctx)
{
    if (!ctx || !g_atomic_int_dec_and_test(&ctx->refs))
        return;
    for (int i = 0; i < VMIG_TLS_ROLE_LAST; i++)
        vmig_tls_credentials_free(ctx->creds[i]);
    g_strfreev(ctx->allowed_dn);
    g_free(ctx);
}

gboolean
vmig_tls_context_has_role(const VmigTlsContext *ctx, VmigTlsRole role)
{
    g_return_val_if_fail(ctx != NULL, FALSE);
    g_return_val_if_fail(role < VMIG_TLS_ROLE_LAST, FALSE);
    return ctx->creds[role] != NULL;
}

/* ------------------------------------------------------------------------ */
/* The transport */

/*
 * Wait for @events on @s's socket, at most @ms (-1: no limit of its own)
 * and never past the session's deadline.  A wait the deadline cut short
 * sets timed_out.
 * Return: > 0 when ready, 0 on timeout, -1 with errno on failure.
 */
static int
vmig_tls_session_wait(VmigTlsSession *s, short events, int ms)
{
    for (;;) {
        struct pollfd pfd = {.fd = s->fd, .events = events};
        gboolean by_deadline = FALSE;
        int wait = ms;
        int n;

        if (s->deadline) {
            gint64 left = s->deadline - g_get_monotonic_time();
            int left_ms = left <= 0 ? 0 : (int)MIN((left + 999) / 1000, G_MAXINT);

            if (wait < 0 || left_ms <= wait) {
                wait = left_ms;
                by_deadline = TRUE;
            }
        }
        n = poll(&pfd, 1, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && by_deadline)
            s->timed_out = TRUE;
        return n;
    }
}

/*
 * GnuTLS's pull function: serves the read-ahead buffer, refilled with one
 * recv() of up to VMIG_TLS_READ_AHEAD bytes after a poll() (bounded by the
 * deadline in the handshake; in the pump, poll() keeps the idle receiving
 * thread from being woken by every "write space" event of the sending
 * one, as in driver/bridge.c).
 * Return: bytes given, 0 at end of file, -1 with errno.
 */
static ssize_t
vmig_tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
    VmigTlsSession *s = ptr;
    gsize n;

    if (s->rbuf_pos == s->rbuf_len) {
        ssize_t got;
        int ready = vmig_tls_session_wait(s, POLLIN, -1);

        if (ready == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (ready < 0) {
            s->pull_errno = errno;
            return -1;
        }
        do {
            got = recv(s->fd, s->rbuf, VMIG_TLS_READ_AHEAD, 0);
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            s->pull_errno = errno;
            return -1;
        }
        if (got == 0) {
            s->eof = TRUE;
            return 0;
        }
        if (s->sniffing && s->sniff_len < VMIG_TLS_SNIFF_SIZE) {
            gsize keep = MIN((gsize)got, VMIG_TLS_SNIFF_SIZE - s->sniff_len);

            memcpy(s->sniff + s->sniff_len, s->rbuf, keep);
            s->sniff_len += keep;
        }
        s->rbuf_pos = 0;
        s->rbuf_len = got;
    }
    n = MIN(len, s->rbuf_len - s->rbuf_pos);
    memcpy(data, s->rbuf + s->rbuf_pos, n);
    s->rbuf_pos += n;
    return n;
}

/*
 * GnuTLS's pull_timeout function (needed with a custom pull and a
 * handshake timeout): bytes in the read-ahead buffer count as readable.
 * Return: > 0 readable, 0 on timeout, -1 with errno.
 */
static int
vmig_tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
    VmigTlsSession *s = ptr;

    if (s->rbuf_pos < s->rbuf_len)
        return 1;
    return vmig_tls_session_wait(
        s, POLLIN, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)MIN(ms, G_MAXINT));
}

/*
 * GnuTLS's vector push function: one sendmsg() for the records GnuTLS has
 * queued.  In the handshake, the socket being blocking, MSG_DONTWAIT and
 * poll() keep a peer that reads nothing within the deadline.
 * Return: bytes sent, or -1 with errno.
 */
static ssize_t
vmig_tls_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
    VmigTlsSession *s = ptr;
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
    int flags = MSG_NOSIGNAL | (s->deadline ? MSG_DONTWAIT : 0);

    G_STATIC_ASSERT(sizeof(giovec_t) == sizeof(struct iovec));
    for (;;) {
        ssize_t n = sendmsg(s->fd, &msg, flags);
        int ready;

        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (!s->deadline || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            s->push_errno = errno;
            return -1;
        }
        ready = vmig_tls_session_wait(s, POLLOUT, -1);
        if (ready == 0)
            errno = ETIMEDOUT;
        if (ready <= 0) {
            s->push_errno = errno;
            return -1;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Sessions */

void
vmig_tls_session_free(VmigTlsSession *session)
{
    if (!session)
        return;
    if (session->gnutls)
        gnutls_deinit(session->gnutls);
    vmig_fd_clear(&session->fd);
    g_free(session->peer);
    g_free(session->info.version);
    g_free(session->info.cipher);
    g_free(session->info.description);
    g_free(session->info.peer_dn);
    g_clear_pointer(&session->info.peer_cert, g_bytes_unref);
    g_free(session->rbuf);
    g_free(session->refused_dn);
    g_free(session->hostname);
    if (session->ctx)
        vmig_tls_context_free((VmigTlsContext *)session->ctx);
    g_free(session);
}

const VmigTlsInfo *
vmig_tls_session_get_info(const VmigTlsSession *session)
{
    g_return_val_if_fail(session != NULL, NULL);
    return &session->info;
}

/*
 * The peer's leaf certificate, as DER and as its DN.
 * Return: TRUE with what was asked for set, or FALSE with @error set
 * (no certificate, or one GnuTLS cannot read).
 */
static gboolean
vmig_tls_session_peer_cert(VmigTlsSession *s, GBytes **der, char **dn, GError **error)
{
    const gnutls_datum_t *certs;
    unsigned int n = 0;
    gnutls_x509_crt_t crt = NULL;
    int ret;

    certs = gnutls_certificate_get_peers(s->gnutls, &n);
    if (!certs || n == 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
                    "%s sent no certificate", s->peer);
        return FALSE;
    }
    if (dn) {
        ret = gnutls_x509_crt_init(&crt);
        if (ret >= 0)
            ret = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
        if (ret < 0) {
            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
                        "%s's certificate cannot be read: %s", s->peer,
                        gnutls_strerror(ret));
            if (crt)
                gnutls_x509_crt_deinit(crt);
            return FALSE;
        }
        *dn = vmig_tls_certificate_dn(crt, error);
        gnutls_x509_crt_deinit(crt);
        if (!*dn)
            return FALSE;
    }
    if (der)
        *der = g_bytes_new(certs[0].data, certs[0].size);
    return TRUE;
}

/*
 * The session verify function, called in the handshake once the peer's
 * certificate arrived.  It is all of the checks: a session verify
 * function replaces the one gnutls_session_set_verify_cert() installs
 * (found by the hostname tests: with both, no name was checked), so this
 * asks GnuTLS for what that one does: the chain against the CA and the
 * CRL, the host name the client dialled (DNS or IP SANs), and the peer's
 * key purpose.  Then the DN against the allow-list.
 * Return: 0 to go on, or GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR (with
 * verify_status set) or GNUTLS_E_CERTIFICATE_ERROR (refused_dn set) to
 * fail the handshake.
 */
static int
vmig_tls_verify_peer(gnutls_session_t gnutls)
{
    VmigTlsSession *s = gnutls_session_get_ptr(gnutls);
    gnutls_typed_vdata_st vdata[2];
    unsigned int n = 0;
    g_autofree char *dn = NULL;
    g_autoptr(GError) error = NULL;
    int ret;

    vdata[n++] = (gnutls_typed_vdata_st){
        .type = GNUTLS_DT_KEY_PURPOSE_OID,
        .data =
            (unsigned char *)(s->role == VMIG_TLS_ROLE_SERVER ? GNUTLS_KP_TLS_WWW_CLIENT
                                                              : GNUTLS_KP_TLS_WWW_SERVER),
    };
    if (s->hostname)
        vdata[n++] = (gnutls_typed_vdata_st){.type = GNUTLS_DT_DNS_HOSTNAME,
                                             .data = (unsigned char *)s->hostname};
    ret = gnutls_certificate_verify_peers(gnutls, vdata, n, &s->verify_status);
    if (ret < 0)
        return ret;
    if (s->verify_status)
        return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
    if (!vmig_tls_session_peer_cert(s, NULL, &dn, &error)) {
        g_debug("%s", error->message);
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (vmig_tls_dn_allowed(dn, (const char *const *)s->ctx->allowed_dn))
        return 0;
    s->refused_dn = g_steal_pointer(&dn);
    return GNUTLS_E_CERTIFICATE_ERROR;
}

/* The alerts that say the peer refused this side's certificate. */
static gboolean
vmig_tls_alert_is_certificate(gnutls_alert_description_t alert)
{
    switch (alert) {
    case GNUTLS_A_BAD_CERTIFICATE:
    case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
    case GNUTLS_A_CERTIFICATE_REVOKED:
    case GNUTLS_A_CERTIFICATE_EXPIRED:
    case GNUTLS_A_CERTIFICATE_UNKNOWN:
    case GNUTLS_A_UNKNOWN_CA:
    case GNUTLS_A_ACCESS_DENIED:
    case GNUTLS_A_CERTIFICATE_REQUIRED:
        return TRUE;
    default:
        return FALSE;
    }
}

/* Return: the alert that tells the peer why its certificate failed @status. */
static gnutls_alert_description_t
vmig_tls_alert_for_status(unsigned int status)
{
    if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
        return GNUTLS_A_UNKNOWN_CA;
    if (status & GNUTLS_CERT_REVOKED)
        return GNUTLS_A_CERTIFICATE_REVOKED;
    if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
        return GNUTLS_A_CERTIFICATE_EXPIRED;
    return GNUTLS_A_BAD_CERTIFICATE;
}

/*
 * Why GnuTLS did not trust the peer's certificate, in its words, without
 * its "The certificate is NOT trusted." preamble (the message says it).
 * Return: the reason (to free).
 */
static char *
vmig_tls_status_text(unsigned int status)
{
    static const char preamble[] = "The certificate is NOT trusted.";
    gnutls_datum_t out = {NULL, 0};
    char *text;
    const char *start;

    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) <
        0)
        return g_strdup_printf("verification status 0x%x", status);
    start = (const char *)out.data;
    if (g_str_has_prefix(start, preamble) && start[sizeof(preamble) - 1] != '\0')
        start += sizeof(preamble) - 1;
    text = g_strstrip(g_strdup(start));
    gnutls_free(out.data);
    return text;
}

/*
 * What the peer sent where a TLS record should have been, for messages:
 * the explainer's sentence, or the first bytes in hex.
 * Return: the text (to free).
 */
static char *
vmig_tls_session_plaintext_message(VmigTlsSession *s)
{
    g_autofree char *said = NULL;

    if (s->ctx->explainer)
        said = s->ctx->explainer(s->sniff, s->sniff_len);
    if (said)
        return g_strdup_printf("%s does not speak TLS: %s", s->peer, said);
    else {
        g_autoptr(GString) hex = g_string_new(NULL);

        for (gsize i = 0; i < MIN(s->sniff_len, (gsize)8); i++)
            g_string_append_printf(hex, "%s%02x", i ? " " : "", s->sniff[i]);
        return g_strdup_printf("%s does not speak TLS (its first bytes: %s%s)", s->peer,
                               hex->str, s->sniff_len > 8 ? " ..." : "");
    }
}

/*
 * After a failure with a plaintext peer, collect a little more of what it
 * said (GnuTLS stopped reading after what looked like a record header),
 * for the explainer: what arrives within a short wait, never past the
 * deadline.
 */
static void
vmig_tls_session_sniff_more(VmigTlsSession *s)
{
    gint64 until = g_get_monotonic_time() + 100 * 1000;

    if (s->deadline && s->deadline < until)
        until = s->deadline;
    while (s->sniff_len < VMIG_TLS_SNIFF_SIZE && !s->eof) {
        gint64 left = until - g_get_monotonic_time();
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)((left + 999) / 1000)) <= 0)
            break;
        n = recv(s->fd, s->sniff + s->sniff_len, VMIG_TLS_SNIFF_SIZE - s->sniff_len,
                 MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        s->sniff_len += n;
    }
}

/*
 * Turn the failure @ret of the handshake (or of the "VMGA" exchange) into
 * the session error, and tell the peer with an alert when this side is
 * the one that refused.  @what: "the TLS handshake" for messages.
 * Return: the error.
 */
static GError *
vmig_tls_session_error(VmigTlsSession *s, int ret, GCancellable *cancellable,
                       guint timeout_ms)
{
    const char *peer = s->peer;

    if (g_cancellable_is_cancelled(cancellable))
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_CANCELLED,
                           "the TLS handshake with %s was cancelled", peer);
    if (s->timed_out || ret == GNUTLS_E_TIMEDOUT)
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_TIMEOUT,
                           "%s did not complete the TLS handshake within %u ms", peer,
                           timeout_ms);
    if (s->sniff_len > 0 && (s->sniff[0] < VMIG_TLS_CONTENT_TYPE_MIN ||
                             s->sniff[0] > VMIG_TLS_CONTENT_TYPE_MAX)) {
        g_autofree char *message = NULL;

        vmig_tls_session_sniff_more(s);
        message = vmig_tls_session_plaintext_message(s);
        return g_error_new_literal(VMIG_TLS_ERROR, VMIG_TLS_ERROR_PLAINTEXT_PEER,
                                   message);
    }
    if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED || ret == GNUTLS_E_WARNING_ALERT_RECEIVED) {
        gnutls_alert_description_t alert = gnutls_alert_get(s->gnutls);
        const char *name = gnutls_alert_get_name(alert);

        if (!name)
            name = "unknown alert";
        if (vmig_tls_alert_is_certificate(alert))
            return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_REFUSED_BY_PEER,
                               "%s refused this host's certificate: %s (TLS alert)", peer,
                               name);
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
                           "the TLS handshake with %s failed: %s (TLS alert)", peer,
                           name);
    }
    if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        unsigned int status = s->verify_status;
        g_autofree char *dn = NULL;
        g_autofree char *why = vmig_tls_status_text(status);

        if (!vmig_tls_session_peer_cert(s, NULL, &dn, NULL))
            dn = g_strdup("(unreadable)");
        gnutls_alert_send(s->gnutls, GNUTLS_AL_FATAL, vmig_tls_alert_for_status(status));
        if ((status & GNUTLS_CERT_UNEXPECTED_OWNER) && s->hostname)
            return g_error_new(
                VMIG_TLS_ERROR, VMIG_TLS_ERROR_CERTIFICATE,
                "%s's certificate %s is not trusted: %s (the name dialled: "
                "'%s')",
                peer, dn, why, s->hostname);
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_CERTIFICATE,
                           "%s's certificate %s is not trusted: %s", peer, dn, why);
    }
    if (ret == GNUTLS_E_CERTIFICATE_ERROR && s->refused_dn) {
        gnutls_alert_send(s->gnutls, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_DN_NOT_ALLOWED,
                           "%s's certificate %s is not allowed: its DN matches no "
                           "pattern of the allowed DN list",
                           peer, s->refused_dn);
    }
    if (ret == GNUTLS_E_NO_CERTIFICATE_FOUND) {
        gnutls_alert_send_appropriate(s->gnutls, ret);
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_CERTIFICATE,
                           "%s sent no certificate", peer);
    }
    if (s->eof || ret == GNUTLS_E_PREMATURE_TERMINATION)
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_CLOSED,
                           "%s closed the connection during the TLS handshake", peer);
    if (ret == GNUTLS_E_PULL_ERROR &&
        (s->pull_errno == ECONNRESET || s->pull_errno == EPIPE))
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_CLOSED,
                           "%s closed the connection during the TLS handshake: %s", peer,
                           g_strerror(s->pull_errno));
    if (ret == GNUTLS_E_PUSH_ERROR &&
        (s->push_errno == ECONNRESET || s->push_errno == EPIPE))
        return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_CLOSED,
                           "%s closed the connection during the TLS handshake: %s", peer,
                           g_strerror(s->push_errno));
    gnutls_alert_send_appropriate(s->gnutls, ret);
    if (ret == GNUTLS_E_PULL_ERROR || ret == GNUTLS_E_PUSH_ERROR)
        return g_error_new(
            VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
            "the TLS handshake with %s failed: %s (%s)", peer, gnutls_strerror(ret),
            g_strerror(ret == GNUTLS_E_PULL_ERROR ? s->pull_errno : s->push_errno));
    return g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
                       "the TLS handshake with %s failed: %s", peer,
                       gnutls_strerror(ret));
}

/*
 * Make the GnuTLS session of @s for its role: credentials, priorities,
 * our transport, the checks.
 * Return: 0, or a GnuTLS error code.
 */
static int
vmig_tls_session_setup(VmigTlsSession *s, guint timeout_ms)
{
    VmigTlsCredentials *creds = s->ctx->creds[s->role];
    int ret;

    ret = gnutls_init(&s->gnutls,
                      (s->role == VMIG_TLS_ROLE_SERVER ? GNUTLS_SERVER : GNUTLS_CLIENT) |
                          GNUTLS_NO_TICKETS);
    if (ret < 0) {
        s->gnutls = NULL;
        return ret;
    }
    gnutls_session_set_ptr(s->gnutls, s);
    ret =
        gnutls_set_default_priority_append(s->gnutls, VMIG_TLS_PRIORITY_APPEND, NULL, 0);
    if (ret < 0)
        return ret;
    ret = gnutls_credentials_set(s->gnutls, GNUTLS_CRD_CERTIFICATE,
                                 vmig_tls_credentials_get_gnutls(creds));
    if (ret < 0)
        return ret;
    gnutls_transport_set_ptr(s->gnutls, s);
    gnutls_transport_set_pull_function(s->gnutls, vmig_tls_pull);
    gnutls_transport_set_pull_timeout_function(s->gnutls, vmig_tls_pull_timeout);
    gnutls_transport_set_vec_push_function(s->gnutls, vmig_tls_push);
    gnutls_handshake_set_timeout(s->gnutls, timeout_ms ? timeout_ms : 1);
    if (s->role == VMIG_TLS_ROLE_SERVER) {
        gnutls_certificate_server_set_request(s->gnutls, GNUTLS_CERT_REQUIRE);
        /* No CA names in the certificate request: a GnuTLS client picks its
         * certificate by them and, holding one from another CA, would send
         * none, and the server could only say "certificate required"
         * instead of whose certificate it refuses and why. */
        gnutls_certificate_send_x509_rdn_sequence(s->gnutls, 1);
    }
    if (s->hostname && !g_hostname_is_ip_address(s->hostname)) {
        ret = gnutls_server_name_set(s->gnutls, GNUTLS_NAME_DNS, s->hostname,
                                     strlen(s->hostname));
        if (ret < 0)
            return ret;
    }
    /* In place of gnutls_session_set_verify_cert(): see vmig_tls_verify_peer(). */
    gnutls_session_set_verify_function(s->gnutls, vmig_tls_verify_peer);
    return 0;
}

/*
 * The handshake proper, the checks and the "VMGA" exchange, on the worker
 * thread.
 * Return: 0, or the GnuTLS error code of what failed.
 */
static int
vmig_tls_session_run(VmigTlsSession *s)
{
    static const guint8 magic[4] = {
        VMIG_TLS_ACCEPTED_MAGIC >> 24, (VMIG_TLS_ACCEPTED_MAGIC >> 16) & 0xff,
        (VMIG_TLS_ACCEPTED_MAGIC >> 8) & 0xff, VMIG_TLS_ACCEPTED_MAGIC & 0xff};
    guint8 got[sizeof(magic)];
    gsize have = 0;
    int ret;

    do {
        ret = gnutls_handshake(s->gnutls);
    } while (ret < 0 && !gnutls_error_is_fatal(ret) && !s->timed_out);
    if (ret < 0)
        return ret;

    if (s->role == VMIG_TLS_ROLE_SERVER) {
        do {
            ret = gnutls_record_send(s->gnutls, magic, sizeof(magic));
        } while ((ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) && !s->timed_out);
        return ret < 0 ? ret : 0;
    }
    while (have < sizeof(got)) {
        ssize_t n = gnutls_record_recv(s->gnutls, got + have, sizeof(got) - have);

        if (n == 0)
            return GNUTLS_E_PREMATURE_TERMINATION;
        if (n < 0 && (gnutls_error_is_fatal(n) || s->timed_out))
            return n;
        if (n > 0)
            have += n;
    }
    if (memcmp(got, magic, sizeof(magic)) != 0)
        return GNUTLS_E_UNEXPECTED_PACKET;
    return 0;
}

/* Fill @s's info from its established GnuTLS session. */
static gboolean
vmig_tls_session_fill_info(VmigTlsSession *s, GError **error)
{
    char *desc;

    s->info.version =
        g_strdup(gnutls_protocol_get_name(gnutls_protocol_get_version(s->gnutls)));
    s->info.cipher = g_strdup(gnutls_cipher_get_name(gnutls_cipher_get(s->gnutls)));
    desc = gnutls_session_get_desc(s->gnutls);
    s->info.description = g_strdup(desc);
    gnutls_free(desc);
    return vmig_tls_session_peer_cert(s, &s->info.peer_cert, &s->info.peer_dn, error);
}

/* A cancelled handshake: shutdown(2) wakes the worker wherever it waits. */
static void
vmig_tls_session_cancelled(GCancellable *cancellable, gpointer user_data)
{
    VmigTlsSession *s = user_data;
    int saved = errno;

    shutdown(s->fd, SHUT_RDWR);
    errno = saved;
}

typedef struct {
    VmigTlsSession *session; /* owns the socket until handed out */
    guint timeout_ms;
    GCancellable *cancellable;
} VmigTlsHandshakeJob;

static void
vmig_tls_handshake_job_free(VmigTlsHandshakeJob *job)
{
    vmig_tls_session_free(job->session);
    g_clear_object(&job->cancellable);
    g_free(job);
}

/*
 * Make the socket of @s blocking and close-on-exec.
 * Return: TRUE, or FALSE with HANDSHAKE in @error.
 */
static gboolean
vmig_tls_session_prepare_socket(VmigTlsSession *s, GError **error)
{
    int flags = fcntl(s->fd, F_GETFL);

    if (flags < 0 ||
        ((flags & O_NONBLOCK) && fcntl(s->fd, F_SETFL, flags & ~O_NONBLOCK) < 0) ||
        fcntl(s->fd, F_SETFD, FD_CLOEXEC) < 0) {
        int err = errno;

        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
                    "the connection to %s (fd %d): %s", s->peer, s->fd, g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

/* The worker thread: the whole handshake, bounded by the job's timeout. */
static void
vmig_tls_handshake_thread(GTask *task, gpointer source, gpointer data,
                          GCancellable *unused)
{
    VmigTlsHandshakeJob *job = data;
    VmigTlsSession *s = job->session;
    g_autoptr(GError) error = NULL;
    gulong handler = 0;
    int ret;

    s->deadline = g_get_monotonic_time() + (gint64)job->timeout_ms * 1000;
    if (!s->deadline)
        s->deadline = 1; /* 0 means none */
    if (!vmig_tls_session_prepare_socket(s, &error)) {
        g_clear_pointer(&job->session, vmig_tls_session_free);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (job->cancellable)
        handler = g_cancellable_connect(job->cancellable,
                                        G_CALLBACK(vmig_tls_session_cancelled), s, NULL);
    ret = vmig_tls_session_setup(s, job->timeout_ms);
    if (ret < 0) {
        error = g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
                            "the TLS session with %s: %s", s->peer, gnutls_strerror(ret));
    } else {
        ret = vmig_tls_session_run(s);
        if (ret < 0)
            error = vmig_tls_session_error(s, ret, job->cancellable, job->timeout_ms);
    }
    /* After this, the handler cannot run any more (it waits for one running). */
    g_cancellable_disconnect(job->cancellable, handler);
    if (!error && g_cancellable_is_cancelled(job->cancellable))
        error = g_error_new(VMIG_TLS_ERROR, VMIG_TLS_ERROR_CANCELLED,
                            "the TLS handshake with %s was cancelled", s->peer);
    if (!error)
        vmig_tls_session_fill_info(s, &error);
    if (error) {
        g_debug("%s", error->message);
        /* Closed now, not when the last reference to the task goes, which
         * may be this thread's, after the callback ran. */
        g_clear_pointer(&job->session, vmig_tls_session_free);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    /* From here on the pump's threads wait as long as it takes. */
    s->deadline = 0;
    s->sniffing = FALSE;
    g_debug("TLS with %s: %s, peer %s", s->peer, s->info.description, s->info.peer_dn);
    g_task_return_pointer(task, g_steal_pointer(&job->session),
                          (GDestroyNotify)vmig_tls_session_free);
}

/* The handshake's own thread: the job, then the task's last reference here. */
static gpointer
vmig_tls_handshake_thread_main(gpointer data)
{
    GTask *task = data;

    vmig_tls_handshake_thread(task, NULL, g_task_get_task_data(task), NULL);
    g_object_unref(task);
    return NULL;
}

void
vmig_tls_handshake_async(VmigTlsContext *ctx, VmigTlsRole role, int *fdp,
                         const char *hostname, const char *peer, guint timeout_ms,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    VmigTlsHandshakeJob *job;
    VmigTlsSession *s;
    GThread *thread;

    g_return_if_fail(ctx != NULL);
    g_return_if_fail(role < VMIG_TLS_ROLE_LAST);
    g_return_if_fail(fdp != NULL);
    g_return_if_fail(peer != NULL);

    s = g_new0(VmigTlsSession, 1);
    s->fd = vmig_fd_steal(fdp);
    s->role = role;
    s->peer = g_strdup(peer);
    s->ctx = vmig_tls_context_ref(ctx);
    s->sniffing = TRUE;
    s->hostname = role == VMIG_TLS_ROLE_CLIENT ? g_strdup(hostname) : NULL;
    job = g_new0(VmigTlsHandshakeJob, 1);
    job->session = s;
    job->timeout_ms = timeout_ms;
    job->cancellable = cancellable ? g_object_ref(cancellable) : NULL;

    /* The task's own cancellable stays NULL: a cancelled handshake ends
     * with VMIG_TLS_ERROR_CANCELLED, not GIO's error, and only once the
     * worker has stopped using the socket. */
    task = g_task_new(NULL, NULL, callback, user_data);
    g_task_set_source_tag(task, vmig_tls_handshake_async);
    g_task_set_name(task, "vmig-tls-handshake");
    g_task_set_task_data(task, job, (GDestroyNotify)vmig_tls_handshake_job_free);
    if (s->fd < 0) {
        g_task_return_new_error(task, VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
                                "no connection to %s (invalid file descriptor)", peer);
        return;
    }
    if (!ctx->creds[role]) {
        g_clear_pointer(&job->session, vmig_tls_session_free);
        g_task_return_new_error(
            task, VMIG_TLS_ERROR, VMIG_TLS_ERROR_NO_CREDENTIALS,
            "no TLS credentials for the %s role, needed to talk to %s",
            vmig_tls_role_name(role), peer);
        return;
    }
    s->rbuf = g_malloc(VMIG_TLS_READ_AHEAD);
    /*
     * A thread of its own, not GTask's pool: the pool runs a few jobs at
     * once, and strangers that open a TLS handshake and then say nothing
     * (each bounded by its deadline, their number by the destination's
     * pending caps) would otherwise keep the real source's handshake
     * queued behind them.
     */
    thread = g_thread_try_new("vmig-tls-hs", vmig_tls_handshake_thread_main,
                              g_object_ref(task), &error);
    if (!thread) {
        g_object_unref(task); /* the thread's reference */
        g_clear_pointer(&job->session, vmig_tls_session_free);
        g_task_return_new_error(task, VMIG_TLS_ERROR, VMIG_TLS_ERROR_HANDSHAKE,
                                "cannot start a thread for the TLS handshake with %s: %s",
                                peer, error->message);
        return;
    }
    g_thread_unref(thread); /* detached: it ends with the handshake */
}

VmigTlsSession *
vmig_tls_handshake_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(
        g_task_get_source_tag(G_TASK(result)) == vmig_tls_handshake_async, NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ------------------------------------------------------------------------ */
/* The pump */

typedef enum {
    VMIG_TLS_DIR_OUT, /* plain -> TLS */
    VMIG_TLS_DIR_IN,  /* TLS -> plain */
    VMIG_TLS_DIR_LAST
} VmigTlsDirId;

/* Short direction tags for thread names (15 bytes visible in ps). */
static const char *const vmig_tls_dir_tags[] = {
    [VMIG_TLS_DIR_OUT] = "tls>",
    [VMIG_TLS_DIR_IN] = "tls<",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_tls_dir_tags) == VMIG_TLS_DIR_LAST);

struct _VmigTlsPump {
    char *name;
    VmigTlsSession *session;
    VmigFd plain; /* the pump's end of the socketpair */
    GMainContext *context;
    VmigTlsPumpDoneFunc done;
    gpointer user_data;
    GThread *threads[VMIG_TLS_DIR_LAST];
    guint64 bytes[VMIG_TLS_DIR_LAST]; /* plaintext bytes; __atomic access only */

    GMutex lock;      /* guards the fields below */
    GCond ended_cond; /* a thread ended (vmig_tls_pump_close() waits) */
    guint running;    /* threads not yet ended */
    gboolean ended[VMIG_TLS_DIR_LAST];
    gboolean stopping;    /* vmig_tls_pump_free() is stopping it */
    GError *error;        /* the first failure; handed to done */
    GSource *done_source; /* (nullable) the one-shot source that calls done */
};

/* Wake every thread sleeping on either socket (errors do not matter). */
static void
vmig_tls_pump_shutdown_all(VmigTlsPump *pump)
{
    int saved = errno;

    shutdown(pump->session->fd, SHUT_RDWR);
    shutdown(pump->plain, SHUT_RDWR);
    errno = saved;
}

/*
 * Record a failure of direction @dir (the first one only: later ones are
 * its consequences) and shut both sockets down so the other direction
 * ends too.
 */
static void G_GNUC_PRINTF(3, 4)
    vmig_tls_pump_fail(VmigTlsPump *pump, VmigTlsDirId dir, const char *format, ...)
{
    g_autofree char *what = NULL;
    va_list args;

    va_start(args, format);
    what = g_strdup_vprintf(format, args);
    va_end(args);
    g_mutex_lock(&pump->lock);
    if (!pump->error && !pump->stopping) {
        pump->error = g_error_new(
            VMIG_TLS_ERROR, VMIG_TLS_ERROR_IO, "%s: %s %s failed: %s", pump->name,
            dir == VMIG_TLS_DIR_OUT ? "sending to" : "receiving from",
            pump->session->peer, what);
        g_debug("%s", pump->error->message);
    }
    g_mutex_unlock(&pump->lock);
    vmig_tls_pump_shutdown_all(pump);
}

/* Return: the text of GnuTLS error @ret, with the transport's errno when it failed. */
static char *
vmig_tls_pump_gnutls_text(VmigTlsPump *pump, int ret)
{
    VmigTlsSession *s = pump->session;

    if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED || ret == GNUTLS_E_WARNING_ALERT_RECEIVED) {
        const char *name = gnutls_alert_get_name(gnutls_alert_get(s->gnutls));

        return g_strdup_printf("%s (TLS alert)", name ? name : "unknown alert");
    }
    if (ret == GNUTLS_E_PUSH_ERROR && s->push_errno)
        return g_strdup_printf("%s (%s)", gnutls_strerror(ret),
                               g_strerror(s->push_errno));
    if (ret == GNUTLS_E_PULL_ERROR && s->pull_errno)
        return g_strdup_printf("%s (%s)", gnutls_strerror(ret),
                               g_strerror(s->pull_errno));
    return g_strdup(gnutls_strerror(ret));
}

/*
 * Write all @len bytes to the plain end (MSG_NOSIGNAL: a caller that
 * closed its end fails the write with EPIPE).
 * Return: 0, or the errno of the write that failed.
 */
static int
vmig_tls_pump_write_plain(VmigTlsPump *pump, const guint8 *data, gsize len)
{
    while (len > 0) {
        ssize_t n = send(pump->plain, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        data += n;
        len -= n;
        __atomic_add_fetch(&pump->bytes[VMIG_TLS_DIR_IN], (guint64)n, __ATOMIC_RELAXED);
    }
    return 0;
}

/*
 * Send @len bytes as records of up to 16 KiB, one sendmsg() each.
 * gnutls_record_cork()/uncork(GNUTLS_RECORD_WAIT) around the loop was
 * measured (bench/tls-pump-throughput, GnuTLS 3.7.9): the same number of
 * sendmsg() calls, one per record (uncork pushes them one by one), and no
 * difference in throughput, so the records go out as they are made.
 * Return: 0, or a GnuTLS error code.
 */
static int
vmig_tls_pump_send(VmigTlsPump *pump, const guint8 *data, gsize len)
{
    gnutls_session_t gnutls = pump->session->gnutls;
    gsize off = 0;

    while (off < len) {
        ssize_t ret =
            gnutls_record_send(gnutls, data + off, MIN(len - off, VMIG_TLS_RECORD));

        if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
            continue;
        if (ret < 0)
            return ret;
        off += ret;
        __atomic_add_fetch(&pump->bytes[VMIG_TLS_DIR_OUT], (guint64)ret,
                           __ATOMIC_RELAXED);
    }
    return 0;
}

/*
 * Plain -> TLS until end of file on the plain end, then close_notify and
 * shutdown(SHUT_WR) of the connection.
 */
static void
vmig_tls_pump_out(VmigTlsPump *pump)
{
    g_autofree guint8 *buf = g_malloc(VMIG_TLS_CHUNK);
    int ret;

    for (;;) {
        struct pollfd pfd = {.fd = pump->plain, .events = POLLIN};
        ssize_t n;

        /* poll() first: see vmig_tls_pull() */
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
            vmig_tls_pump_fail(pump, VMIG_TLS_DIR_OUT, "poll: %s", g_strerror(errno));
            return;
        }
        do {
            n = recv(pump->plain, buf, VMIG_TLS_CHUNK, MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n < 0) {
            vmig_tls_pump_fail(pump, VMIG_TLS_DIR_OUT, "reading the plaintext socket: %s",
                               g_strerror(errno));
            return;
        }
        if (n == 0)
            break;
        ret = vmig_tls_pump_send(pump, buf, n);
        if (ret < 0) {
            g_autofree char *text = vmig_tls_pump_gnutls_text(pump, ret);

            vmig_tls_pump_fail(pump, VMIG_TLS_DIR_OUT, "%s", text);
            return;
        }
    }
    do {
        ret = gnutls_bye(pump->session->gnutls, GNUTLS_SHUT_WR);
    } while (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED);
    if (ret < 0) {
        g_autofree char *text = vmig_tls_pump_gnutls_text(pump, ret);

        vmig_tls_pump_fail(pump, VMIG_TLS_DIR_OUT, "close_notify: %s", text);
        return;
    }
    shutdown(pump->session->fd, SHUT_WR);
}

/*
 * TLS -> plain until the peer's close_notify, then shutdown(SHUT_WR) of
 * the plain end.  Records already received (in GnuTLS or in the
 * read-ahead buffer) are decrypted into one buffer before one write.
 */
static void
vmig_tls_pump_in(VmigTlsPump *pump)
{
    VmigTlsSession *s = pump->session;
    g_autofree guint8 *buf = g_malloc(VMIG_TLS_RECV_BUFFER);
    gsize len = 0;

    for (;;) {
        ssize_t n = gnutls_record_recv(s->gnutls, buf + len, VMIG_TLS_RECV_BUFFER - len);
        int err;

        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED ||
            n == GNUTLS_E_WARNING_ALERT_RECEIVED || n == GNUTLS_E_REHANDSHAKE)
            continue;
        if (n < 0) {
            g_autofree char *text = vmig_tls_pump_gnutls_text(pump, n);

            vmig_tls_pump_fail(pump, VMIG_TLS_DIR_IN, "%s", text);
            return;
        }
        len += n;
        /* More to collect without waiting?  Then collect it first. */
        if (n > 0 && VMIG_TLS_RECV_BUFFER - len >= VMIG_TLS_RECORD &&
            (gnutls_record_check_pending(s->gnutls) > 0 || s->rbuf_pos < s->rbuf_len))
            continue;
        err = vmig_tls_pump_write_plain(pump, buf, len);
        if (err) {
            vmig_tls_pump_fail(pump, VMIG_TLS_DIR_IN, "writing the plaintext socket: %s",
                               g_strerror(err));
            return;
        }
        len = 0;
        if (n == 0)
            break;
    }
    shutdown(pump->plain, SHUT_WR);
}

static gboolean
vmig_tls_pump_done_dispatch(gpointer user_data)
{
    VmigTlsPump *pump = user_data;

    pump->done(pump, pump->error, pump->user_data);
    return G_SOURCE_REMOVE;
}

/* Schedules done on the pump's context; called with the lock held. */
static void
vmig_tls_pump_schedule_done(VmigTlsPump *pump)
{
    GSource *source = g_idle_source_new();

    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_static_name(source, "vmig-tls-pump-done");
    g_source_set_callback(source, vmig_tls_pump_done_dispatch, pump, NULL);
    pump->done_source = source;
    g_source_attach(source, pump->context);
}

/* The last thread to end schedules done, unless the pump is being freed. */
static void
vmig_tls_pump_ended(VmigTlsPump *pump, VmigTlsDirId id)
{
    g_mutex_lock(&pump->lock);
    g_assert(pump->running > 0);
    pump->running--;
    pump->ended[id] = TRUE;
    g_cond_broadcast(&pump->ended_cond);
    if (pump->running == 0 && !pump->stopping && pump->done)
        vmig_tls_pump_schedule_done(pump);
    g_mutex_unlock(&pump->lock);
}

void
vmig_tls_pump_set_done(VmigTlsPump *pump, GMainContext *context, VmigTlsPumpDoneFunc done,
                       gpointer user_data)
{
    g_return_if_fail(pump != NULL);
    g_mutex_lock(&pump->lock);
    if (pump->done_source) {
        /* Scheduled for the old owner, not dispatched yet: the new one hears it. */
        g_source_destroy(pump->done_source);
        g_clear_pointer(&pump->done_source, g_source_unref);
    }
    g_main_context_unref(pump->context);
    pump->context =
        context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
    pump->done = done;
    pump->user_data = user_data;
    if (pump->running == 0 && !pump->stopping && pump->done)
        vmig_tls_pump_schedule_done(pump);
    g_mutex_unlock(&pump->lock);
}

void
vmig_tls_pump_close(VmigTlsPump *pump, guint flush_ms)
{
    gint64 deadline;

    if (!pump)
        return;
    deadline = g_get_monotonic_time() + (gint64)flush_ms * 1000;
    g_mutex_lock(&pump->lock);
    while (!pump->ended[VMIG_TLS_DIR_OUT] &&
           g_cond_wait_until(&pump->ended_cond, &pump->lock, deadline))
        ;
    if (!pump->ended[VMIG_TLS_DIR_OUT])
        g_debug("%s: what was written did not go out within %u ms", pump->name, flush_ms);
    g_mutex_unlock(&pump->lock);
    vmig_tls_pump_free(pump);
}

typedef struct {
    VmigTlsPump *pump;
    VmigTlsDirId id;
} VmigTlsPumpThread;

static gpointer
vmig_tls_pump_thread(gpointer data)
{
    VmigTlsPump *pump = ((VmigTlsPumpThread *)data)->pump;
    VmigTlsDirId id = ((VmigTlsPumpThread *)data)->id;
    sigset_t set;

    g_free(data);
    /* Every send is MSG_NOSIGNAL; this is for anything GnuTLS might do. */
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (id == VMIG_TLS_DIR_OUT)
        vmig_tls_pump_out(pump);
    else
        vmig_tls_pump_in(pump);
    g_debug("%s: %s ended after %" G_GUINT64_FORMAT " bytes", pump->name,
            vmig_tls_dir_tags[id], vmig_tls_pump_get_bytes(pump, id == VMIG_TLS_DIR_OUT));
    vmig_tls_pump_ended(pump, id);
    return NULL;
}

VmigTlsPump *
vmig_tls_pump_start(VmigTlsSession *session, int *plain_fd, const char *name,
                    GMainContext *context, VmigTlsPumpDoneFunc done, gpointer user_data,
                    GError **error)
{
    g_autoptr(VmigTlsPump) pump = NULL;
    int sv[2];

    g_return_val_if_fail(session != NULL && session->gnutls != NULL, NULL);
    g_return_val_if_fail(plain_fd != NULL, NULL);
    g_return_val_if_fail(name != NULL, NULL);

    pump = g_new0(VmigTlsPump, 1);
    pump->name = g_strdup(name);
    pump->session = session;
    pump->plain = -1;
    pump->context =
        context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
    pump->done = done;
    pump->user_data = user_data;
    g_mutex_init(&pump->lock);
    g_cond_init(&pump->ended_cond);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        int err = errno;

        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_IO,
                    "%s: cannot create a socket pair: %s", name, g_strerror(err));
        return NULL;
    }
    pump->plain = sv[0];
    for (int i = 0; i < VMIG_TLS_DIR_LAST; i++) {
        g_autofree char *thread_name =
            g_strdup_printf("%s %s", name, vmig_tls_dir_tags[i]);
        g_autoptr(GError) local = NULL;
        VmigTlsPumpThread *arg = g_new0(VmigTlsPumpThread, 1);

        arg->pump = pump;
        arg->id = i;
        g_mutex_lock(&pump->lock);
        pump->running++;
        g_mutex_unlock(&pump->lock);
        pump->threads[i] =
            g_thread_try_new(thread_name, vmig_tls_pump_thread, arg, &local);
        if (!pump->threads[i]) {
            g_free(arg);
            close(sv[1]);
            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_IO,
                        "%s: cannot start a thread: %s", name, local->message);
            g_mutex_lock(&pump->lock);
            pump->stopping = TRUE;
            pump->running--;
            g_mutex_unlock(&pump->lock);
            return NULL;
        }
    }
    *plain_fd = sv[1];
    return g_steal_pointer(&pump);
}

const VmigTlsInfo *
vmig_tls_pump_get_info(const VmigTlsPump *pump)
{
    g_return_val_if_fail(pump != NULL, NULL);
    return &pump->session->info;
}

GError *
vmig_tls_pump_dup_error(VmigTlsPump *pump)
{
    GError *copy = NULL;

    g_return_val_if_fail(pump != NULL, NULL);
    g_mutex_lock(&pump->lock);
    if (pump->error)
        copy = g_error_copy(pump->error);
    g_mutex_unlock(&pump->lock);
    return copy;
}

guint64
vmig_tls_pump_get_bytes(VmigTlsPump *pump, gboolean out)
{
    g_return_val_if_fail(pump != NULL, 0);
    return __atomic_load_n(&pump->bytes[out ? VMIG_TLS_DIR_OUT : VMIG_TLS_DIR_IN],
                           __ATOMIC_RELAXED);
}

void
vmig_tls_pump_free(VmigTlsPump *pump)
{
    gboolean running;

    if (!pump)
        return;
    g_mutex_lock(&pump->lock);
    pump->stopping = TRUE;
    running = pump->running > 0;
    g_mutex_unlock(&pump->lock);
    if (running)
        vmig_tls_pump_shutdown_all(pump);
    for (int i = 0; i < VMIG_TLS_DIR_LAST; i++) {
        if (pump->threads[i])
            g_thread_join(g_steal_pointer(&pump->threads[i]));
    }
    /* The threads are gone: nothing else touches the fields below. */
    if (pump->done_source) {
        g_source_destroy(pump->done_source);
        g_clear_pointer(&pump->done_source, g_source_unref);
    }
    vmig_tls_session_free(pump->session);
    vmig_fd_clear(&pump->plain);
    g_clear_error(&pump->error);
    g_clear_pointer(&pump->context, g_main_context_unref);
    g_cond_clear(&pump->ended_cond);
    g_mutex_clear(&pump->lock);
    g_free(pump->name);
    g_free(pump);
}
