/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session.h: TLS sessions between two drivers: the handshake, in a worker
 * thread and bounded, then a pump that carries a plaintext socket's bytes
 * inside the session
 *
 * Every connection between two drivers is TLS from its first byte or
 * plaintext from its first byte (docs/tls.md).  The destination is the
 * TLS server, the source the client, and both authenticate with x509
 * (tls/credentials.h): the client checks the server's certificate against
 * the CA and, when it has one, the host name it dialled; the server
 * requires a client certificate and checks it against the CA; both check
 * the peer's DN against the allow-list (tls/dn.h).
 *
 * After its handshake and checks, the server sends the 4 bytes "VMGA"
 * (u32 0x564D4741, "accepted") inside TLS, and the client's handshake is
 * over only once it has read them.  In TLS 1.3 a client's handshake ends
 * before the server has checked the client's certificate, so without them
 * a client refused by the server would only learn it from an alert on its
 * first read, in the middle of whatever it does next.  With them, each
 * side knows at the end of vmig_tls_handshake_async() whether the other
 * accepted it, and why not.
 *
 * Then vmig_tls_pump_start() turns the session into a plaintext socket
 * (one end of a socketpair) that the daemon uses exactly as it uses a
 * plain connection: the main channel's frames, a data channel's preamble
 * and QEMU's stream go into it and come out of the peer's pump.  Two
 * threads per session move the bytes, one each way, so the encryption
 * runs off QEMU's migration thread and off the daemon's main loop.
 *
 * Thread safety: a context is read-only once made and may serve any
 * number of handshakes at once.  The handshake runs in a GTask worker
 * thread; its callback runs on the caller's thread-default context.  A
 * pump's threads never run caller code: they attach a one-shot source to
 * the pump's context when both have ended.
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "tls/credentials.h"

/* What the server sends, inside TLS, once it accepted the client. */
#define VMIG_TLS_ACCEPTED_MAGIC 0x564D4741u /* "VMGA" */

/* The first byte of a TLS handshake record (a ClientHello): how a
 * destination tells a TLS opener from a plaintext "VMGM"/"VMGC". */
#define VMIG_TLS_HANDSHAKE_BYTE 0x16

/* Errors of a session, in the VMIG_TLS_ERROR domain (after those of
 * tls/credentials.h).  Each message names the peer as the caller called
 * it ("the destination driver") and, for certificates, the certificate
 * (its DN) and why. */
typedef enum {
    VMIG_TLS_ERROR_NO_CREDENTIALS = 100, /* the context has none for this role */
    VMIG_TLS_ERROR_HANDSHAKE,            /* the handshake failed (GnuTLS's reason) */
    VMIG_TLS_ERROR_PLAINTEXT_PEER,       /* the peer answered in plaintext: it does not
                                          * speak TLS (the message says what it said) */
    VMIG_TLS_ERROR_CLOSED,          /* the peer closed the connection in the handshake */
    VMIG_TLS_ERROR_TIMEOUT,         /* no handshake within the bound */
    VMIG_TLS_ERROR_CANCELLED,       /* the caller's cancellable */
    VMIG_TLS_ERROR_CERTIFICATE,     /* this side refused the peer's certificate:
                                     * unknown CA, expired, revoked, host name ... */
    VMIG_TLS_ERROR_DN_NOT_ALLOWED,  /* ... or its DN is not in the allow-list */
    VMIG_TLS_ERROR_REFUSED_BY_PEER, /* the peer refused this side's certificate (the
                                     * TLS alert it sent says why) */
    VMIG_TLS_ERROR_IO,              /* the pump: a read, write or record failed */
} VmigTlsSessionErrorCode;

/* What a handshake settled, for the record, features and D-Bus. */
typedef struct {
    char *version; /* "TLS1.3" (gnutls_protocol_get_name()) */
    char *cipher;  /* "AES-256-GCM" (gnutls_cipher_get_name()) */
    char *
        description; /* gnutls_session_get_desc(): "(TLS1.3)-(ECDHE-...)-(AES-256-GCM)" */
    char *peer_dn;   /* the peer certificate's subject, RFC 4514 */
    GBytes *peer_cert; /* the peer's leaf certificate, DER: what "the same
                        * certificate" compares */
} VmigTlsInfo;

void vmig_tls_info_free(VmigTlsInfo *info);
VmigTlsInfo *vmig_tls_info_copy(const VmigTlsInfo *info);
/* Returns: whether @a and @b carry the same peer certificate (DER bytes). */
gboolean vmig_tls_info_same_peer(const VmigTlsInfo *a, const VmigTlsInfo *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigTlsInfo, vmig_tls_info_free)

/* ------------------------------------------------------------------------ */
/* Contexts */

typedef struct _VmigTlsContext VmigTlsContext;

/*
 * Explains the bytes a client read where it expected the server's TLS
 * handshake (a plaintext driver's ERROR frame, say).  Returns: a
 * sentence (g_free()), or NULL when the bytes mean nothing to it.
 */
typedef char *(*VmigTlsPlaintextExplainer)(const guint8 *bytes, gsize len);

/*
 * vmig_tls_context_new:
 * @server: (nullable) (transfer full): credentials for the server role
 * @client: (nullable) (transfer full): credentials for the client role
 * @allowed_dn: (nullable): glob patterns the peer's DN must match
 *     (tls/dn.h; NULL or empty: any certificate the CA signed); copied
 * @explainer: (nullable): see VmigTlsPlaintextExplainer
 *
 * Calls gnutls_global_init() once per process (GnuTLS 3.6 also does it
 * itself).  Sessions use the system's default priorities
 * (gnutls_set_default_priority(): TLS 1.3 first, then 1.2).
 *
 * Return: the context (vmig_tls_context_free()).
 */
VmigTlsContext *vmig_tls_context_new(VmigTlsCredentials *server,
                                     VmigTlsCredentials *client,
                                     const char *const *allowed_dn,
                                     VmigTlsPlaintextExplainer explainer);
/* A reference more; every session holds one, so that the credentials
 * outlive the sessions that use them, whoever frees last. */
VmigTlsContext *vmig_tls_context_ref(VmigTlsContext *ctx);
/* Drops a reference; the last frees the context and its credentials. */
void vmig_tls_context_free(VmigTlsContext *ctx);
/* Returns: whether @ctx has credentials for @role. */
gboolean vmig_tls_context_has_role(const VmigTlsContext *ctx, VmigTlsRole role);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigTlsContext, vmig_tls_context_free)

/* ------------------------------------------------------------------------ */
/* The handshake */

typedef struct _VmigTlsSession VmigTlsSession;

/*
 * vmig_tls_handshake_async:
 * @ctx: the context (the session holds a reference)
 * @role: SERVER (the destination) or CLIENT (the source)
 * @fdp: (transfer full): a connected stream socket; *@fdp is set to -1.
 *     Nothing may have been read from it (a server's first byte may have
 *     been peeked with MSG_PEEK) nor written to it.
 * @hostname: (nullable): client only: the name (or IP address) the
 *     server's certificate must match, as gnutls_session_set_verify_cert()
 *     checks it, and the SNI when it is a name; NULL: the CA and the DN
 *     list only (a unix socket, fd mode without tls-hostname)
 * @peer: how messages call the peer: "the destination driver"
 * @timeout_ms: the bound of the whole handshake, "VMGA" included
 * @cancellable: (nullable): cancelling wakes the worker (shutdown(2) of
 *     the socket) and ends the handshake with CANCELLED
 * @callback: called on the caller's thread-default main context
 *
 * The worker does the handshake on the socket (blocking, bounded by
 * @timeout_ms), the checks (the peer's certificate verified against the
 * CA, the CRL and @hostname, then the DN against the allow-list) and the
 * "VMGA" exchange.  A server that refuses the client's certificate sends
 * a fatal alert saying why (an unknown CA, a bad certificate, access
 * denied for a DN not in the list) before it closes.  A client that
 * reads bytes that are not a TLS record where the server's answer should
 * be fails with PLAINTEXT_PEER: "the destination driver does not speak
 * TLS" and, with an explainer, what it said.
 */
void vmig_tls_handshake_async(VmigTlsContext *ctx, VmigTlsRole role, int *fdp,
                              const char *hostname, const char *peer, guint timeout_ms,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);

/*
 * vmig_tls_handshake_finish:
 * Return: the established session (vmig_tls_session_free(), or give it
 * to vmig_tls_pump_start()), or NULL with a VMIG_TLS_ERROR in @error (the
 * socket closed).
 */
VmigTlsSession *vmig_tls_handshake_finish(GAsyncResult *result, GError **error);

/* Returns: what the handshake settled (owned by @session). */
const VmigTlsInfo *vmig_tls_session_get_info(const VmigTlsSession *session);

/* Closes the socket and frees the session (no close_notify). */
void vmig_tls_session_free(VmigTlsSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigTlsSession, vmig_tls_session_free)

/* ------------------------------------------------------------------------ */
/* The pump */

typedef struct _VmigTlsPump VmigTlsPump;

/*
 * Called on the pump's context once both directions have ended (never
 * from vmig_tls_pump_free()), with the first failure or NULL after an
 * orderly end both ways.  The pump may be freed from the callback.
 */
typedef void (*VmigTlsPumpDoneFunc)(VmigTlsPump *pump, const GError *error,
                                    gpointer user_data);

/*
 * vmig_tls_pump_start:
 * @session: (transfer full): an established session
 * @plain_fd: (out): the caller's end of the plaintext socketpair
 *     (AF_UNIX, SOCK_STREAM, close-on-exec, blocking)
 * @name: for messages and thread names ("m1/data0")
 * @context: (nullable): where @done runs (NULL: the thread-default one)
 * @done: (nullable): see VmigTlsPumpDoneFunc
 *
 * Bytes written into *@plain_fd go out as TLS records (full 16 KiB
 * records when they come fast), and what the peer sends comes out of it.
 * Ends, each way: end of file on the plaintext side sends close_notify
 * and shuts the socket down for writing; the peer's close_notify shuts
 * the plaintext side down for writing (so a half-close travels through,
 * as through driver/bridge.h).  A failure (a bad record, an alert, the
 * peer closing without close_notify, a reset) is recorded, shuts both
 * sockets down and ends both directions.
 *
 * Return: the running pump, or NULL with @error (the session freed).
 */
VmigTlsPump *vmig_tls_pump_start(VmigTlsSession *session, int *plain_fd, const char *name,
                                 GMainContext *context, VmigTlsPumpDoneFunc done,
                                 gpointer user_data, GError **error);

/* Returns: what the handshake settled (owned by @pump). */
const VmigTlsInfo *vmig_tls_pump_get_info(const VmigTlsPump *pump);

/*
 * Returns: a copy of the first failure so far, or NULL (any thread).  A
 * plaintext reader that met end of file asks this to tell an orderly end
 * from a TLS failure (an alert from the peer, say).
 */
GError *vmig_tls_pump_dup_error(VmigTlsPump *pump);

/* Returns: plaintext bytes sent (@out) or received so far (any thread). */
guint64 vmig_tls_pump_get_bytes(VmigTlsPump *pump, gboolean out);

/*
 * Stops both threads (shutdown(2) of both sockets), joins them, drops a
 * done call not yet dispatched, frees the session and closes its socket
 * and the pump's end of the socketpair.  Call it from the thread that
 * iterates the pump's context, or while nothing iterates it.
 */
void vmig_tls_pump_free(VmigTlsPump *pump);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigTlsPump, vmig_tls_pump_free)

/*
 * vmig_tls_pump_set_done:
 * Sets (or replaces) where and what the done callback is, for a pump
 * that changes hands (a pending connection's pump, given to its
 * migration).  If both directions have already ended, @done is scheduled
 * at once.  Call it from the thread that iterates the old context.
 */
void vmig_tls_pump_set_done(VmigTlsPump *pump, GMainContext *context,
                            VmigTlsPumpDoneFunc done, gpointer user_data);

/*
 * vmig_tls_pump_close:
 * @flush_ms: how long the plaintext -> TLS direction may take to send
 *     what was written before the caller closed its end
 * For a caller that closed (or shut down for writing) its plaintext end
 * after writing a last message: waits up to @flush_ms for the pump to
 * have sent it and close_notify, then frees the pump as
 * vmig_tls_pump_free() does.  The wait is on a local thread moving bytes
 * already written into a socket's buffer: on a live connection it is
 * over at once, and the bound covers a peer that stopped reading.
 */
void vmig_tls_pump_close(VmigTlsPump *pump, guint flush_ms);
