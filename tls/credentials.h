/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * credentials.h: x509 credentials for TLS between two drivers, loaded from
 * QEMU's/libvirt's directory layout and checked before any connection
 *
 * The layout (--tls-x509-dir, default /etc/pki/qemu) is QEMU's:
 *
 *     ca-cert.pem      the CA(s) that sign both sides' certificates
 *     ca-crl.pem       optional: certificates the CA revoked
 *     server-cert.pem  this host as a destination (TLS server)
 *     server-key.pem   its private key
 *     client-cert.pem  this host as a source (TLS client)
 *     client-key.pem   its private key
 *
 * GnuTLS itself would take most broken sets and fail only in the middle
 * of a migration, with the peer seeing "handshake failed".  So the loader
 * checks, for the role it loads, everything that can be checked without a
 * peer, and says which file is wrong and how: missing, unreadable, not
 * PEM, the key not the certificate's, outside its validity dates, not
 * signed by ca-cert.pem's CA (or revoked by ca-crl.pem), the wrong
 * purpose, a CA file that holds no CA.  The checks run at load time
 * against the clock of that moment: a certificate that expires later is
 * the TLS handshake's to refuse.
 *
 * No networking here: the session code takes the GnuTLS credentials
 * (vmig_tls_credentials_get_gnutls()) and the DN of a peer's certificate
 * (vmig_tls_certificate_dn(), matched with tls/dn.h).
 */
#pragma once

#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* The default --tls-x509-dir (QEMU's default too). */
#define VMIG_TLS_DEFAULT_DIR "/etc/pki/qemu"

/* The file names inside the directory. */
#define VMIG_TLS_CA_CERT_FILE "ca-cert.pem"
#define VMIG_TLS_CA_CRL_FILE  "ca-crl.pem"

#define VMIG_TLS_ERROR (vmig_tls_error_quark())
GQuark vmig_tls_error_quark(void);

/* Each message names the file (its full path) and the problem. */
typedef enum {
    VMIG_TLS_ERROR_MISSING,       /* a file the role needs is not there */
    VMIG_TLS_ERROR_UNREADABLE,    /* there, but not a readable regular file */
    VMIG_TLS_ERROR_FORMAT,        /* no PEM certificate (or CRL) GnuTLS can read */
    VMIG_TLS_ERROR_KEY,           /* no PEM private key GnuTLS can read (or encrypted) */
    VMIG_TLS_ERROR_KEY_MISMATCH,  /* the key is not the certificate's */
    VMIG_TLS_ERROR_EXPIRED,       /* a certificate past its end date */
    VMIG_TLS_ERROR_NOT_YET_VALID, /* a certificate before its start date */
    VMIG_TLS_ERROR_UNTRUSTED,     /* not signed by ca-cert.pem's CA(s) */
    VMIG_TLS_ERROR_REVOKED,       /* listed in ca-crl.pem */
    VMIG_TLS_ERROR_PURPOSE,       /* key usage or extended key usage forbid the role */
    VMIG_TLS_ERROR_NOT_CA,        /* ca-cert.pem holds a certificate that is no CA */
    VMIG_TLS_ERROR_CRL,           /* ca-crl.pem not signed by ca-cert.pem's CA(s) */
    VMIG_TLS_ERROR_GNUTLS,        /* GnuTLS failed otherwise (its message) */
    VMIG_TLS_ERROR_LAST
} VmigTlsErrorCode;

/* Which side of a connection the credentials are for. */
typedef enum {
    VMIG_TLS_ROLE_SERVER, /* the destination: server-cert.pem, server-key.pem */
    VMIG_TLS_ROLE_CLIENT, /* the source: client-cert.pem, client-key.pem */
    VMIG_TLS_ROLE_LAST
} VmigTlsRole;

typedef struct _VmigTlsCredentials VmigTlsCredentials;

/*
 * vmig_tls_role_name:
 * @role: a role
 *
 * Return: "server" or "client" (static).
 */
const char *vmig_tls_role_name(VmigTlsRole role);

/*
 * vmig_tls_role_cert_file:
 * @role: a role
 *
 * Return: the certificate's file name in the directory, "server-cert.pem"
 * or "client-cert.pem" (static).
 */
const char *vmig_tls_role_cert_file(VmigTlsRole role);

/*
 * vmig_tls_role_key_file:
 * @role: a role
 *
 * Return: the private key's file name in the directory, "server-key.pem"
 * or "client-key.pem" (static).
 */
const char *vmig_tls_role_key_file(VmigTlsRole role);

/*
 * vmig_tls_credentials_load:
 * @dir: the credentials directory (QEMU's layout, see above)
 * @role: which certificate and key to load
 * @error: return location for a VMIG_TLS_ERROR
 *
 * Reads ca-cert.pem, the role's certificate and key and, when it exists,
 * ca-crl.pem, and checks, in this order, stopping at the first problem:
 *  - each file is there (MISSING; ca-crl.pem may be absent) and is a
 *    readable regular file (UNREADABLE);
 *  - ca-cert.pem holds one or more PEM certificates, the role's
 *    certificate file one or more (the leaf first, then any intermediate
 *    CAs), ca-crl.pem one or more PEM CRLs (FORMAT); the key file a PEM
 *    private key, not encrypted (KEY);
 *  - every certificate in ca-cert.pem is a CA (basic constraints CA:TRUE)
 *    and, if it has a key usage extension, may sign certificates (NOT_CA);
 *  - every certificate read is valid now (EXPIRED, NOT_YET_VALID: the
 *    message gives the dates, in UTC);
 *  - the key is the leaf certificate's (KEY_MISMATCH);
 *  - the leaf is no CA, its key usage, if present, allows digital
 *    signatures (every TLS 1.2 ECDHE and TLS 1.3 handshake signs) and its
 *    extended key usage, if present, allows TLS server authentication
 *    (server) or TLS client authentication (client) or any purpose
 *    (PURPOSE);
 *  - each CRL is signed by a CA of ca-cert.pem (CRL);
 *  - the chain is signed by a CA of ca-cert.pem (UNTRUSTED) and not
 *    revoked by ca-crl.pem (REVOKED).
 *
 * Return: the credentials (free with vmig_tls_credentials_free()), or
 * NULL with @error set.
 */
VmigTlsCredentials *vmig_tls_credentials_load(const char *dir, VmigTlsRole role,
                                              GError **error);

/*
 * vmig_tls_credentials_load_both:
 * @dir: the credentials directory
 * @server: (out): the server credentials
 * @client: (out): the client credentials
 * @error: return location for a VMIG_TLS_ERROR
 *
 * Loads both roles from @dir, as a daemon that is a migration's source
 * and another's destination needs: vmig_tls_credentials_load() for each.
 * They stay two credentials: GnuTLS would pick a client certificate out
 * of one shared set by the CA the server names, and both are the same
 * CA's.  The server's are loaded first, so a problem with them is the one
 * reported.
 *
 * Return: TRUE with *@server and *@client set, or FALSE with @error set
 * and both left untouched.
 */
gboolean vmig_tls_credentials_load_both(const char *dir, VmigTlsCredentials **server,
                                        VmigTlsCredentials **client, GError **error);

/*
 * vmig_tls_credentials_free:
 * @creds: (nullable): credentials from vmig_tls_credentials_load()
 *
 * Frees @creds and the GnuTLS credentials in it: no session may still use
 * them.
 */
void vmig_tls_credentials_free(VmigTlsCredentials *creds);

/*
 * vmig_tls_credentials_get_role:
 * @creds: the credentials
 *
 * Return: the role they were loaded for.
 */
VmigTlsRole vmig_tls_credentials_get_role(const VmigTlsCredentials *creds);

/*
 * vmig_tls_credentials_get_dir:
 * @creds: the credentials
 *
 * Return: the directory they were loaded from (owned by @creds).
 */
const char *vmig_tls_credentials_get_dir(const VmigTlsCredentials *creds);

/*
 * vmig_tls_credentials_get_gnutls:
 * @creds: the credentials
 *
 * The CA(s) as trust anchors, the CRLs, the certificate chain and its key,
 * for gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, ...).
 * Return: the GnuTLS credentials, owned by @creds (they live as long).
 */
gnutls_certificate_credentials_t
vmig_tls_credentials_get_gnutls(const VmigTlsCredentials *creds);

/*
 * vmig_tls_credentials_get_certificate:
 * @creds: the credentials
 *
 * Return: this host's own (leaf) certificate, owned by @creds.
 */
gnutls_x509_crt_t vmig_tls_credentials_get_certificate(const VmigTlsCredentials *creds);

/*
 * vmig_tls_certificate_dn:
 * @crt: a certificate (borrowed)
 * @error: return location for a VMIG_TLS_ERROR_GNUTLS
 *
 * The subject's distinguished name as an RFC 4514 string, the most
 * specific attribute first: "CN=dst.example,O=Example,C=GB" (GnuTLS's
 * gnutls_x509_crt_get_dn3() without flags).  This is the string
 * vmig_tls_dn_allowed() matches.  Beware: QEMU's and libvirt's allow-lists
 * match GnuTLS's older order, country first ("C=GB,O=Example,CN=..."),
 * which gnutls_x509_crt_get_dn() and, in GnuTLS 3.7, even
 * gnutls_x509_crt_get_dn2() still write; their patterns must be reversed
 * to be used here.  Values are UTF-8;
 * ',', '+', '"', '\\', '<', '>', ';' in them are escaped with '\\'.
 *
 * Return: the DN (free with g_free()), or NULL with @error set.
 */
char *vmig_tls_certificate_dn(gnutls_x509_crt_t crt, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigTlsCredentials, vmig_tls_credentials_free)
