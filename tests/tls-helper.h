/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tls-helper.h: x509 certificates made with GnuTLS for the test suites,
 * and credentials directories in QEMU's layout (tls/credentials.h)
 *
 * Keys are ECDSA P-256 (fast to make).  Every function asserts: a test
 * that cannot make its certificates fails where it tried.
 *
 * Two hosts that trust one CA, and a stranger from another CA:
 *
 *     g_autoptr(VmigTestCert) ca = vmig_test_ca_new("test CA");
 *     g_autoptr(VmigTestCert) other_ca = vmig_test_ca_new("other CA");
 *     g_autofree char *src = vmig_test_tls_dir_new();
 *     g_autofree char *dst = vmig_test_tls_dir_new();
 *     g_autofree char *stranger = vmig_test_tls_dir_new();
 *     const char *const dst_ips[] = {"127.0.0.1", "::1", NULL};
 *
 *     vmig_test_tls_write_host(src, ca, &(VmigTestHost){.cn = "src.example"});
 *     vmig_test_tls_write_host(dst, ca, &(VmigTestHost){.cn = "dst.example",
 *                                                      .ip_addresses = dst_ips});
 *     vmig_test_tls_write_host(stranger, other_ca, &(VmigTestHost){.cn = "x"});
 *     ...
 *     vmig_test_tls_dir_remove(src);
 *
 * Each directory then holds ca-cert.pem, server-cert.pem, server-key.pem,
 * client-cert.pem and client-key.pem, which vmig_tls_credentials_load()
 * accepts for both roles; subjects are "CN=<cn>,O=Example,C=GB".
 */
#pragma once

#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define VMIG_TEST_DAY (24 * 60 * 60)

/* What a made certificate says. */
typedef struct {
    const char *cn;                  /* subject CN (O=Example, C=GB are added) */
    gboolean ca;                     /* basic constraints CA:TRUE */
    const char *purpose;             /* an extended key usage OID, or NULL: none */
    unsigned int usage;              /* key usage bits, or 0: no extension */
    gint64 start;                    /* validity, in seconds from now */
    gint64 end;                      /* */
    const char *const *dns_names;    /* (nullable) DNS SANs; NULL: the CN (no CA) */
    const char *const *ip_addresses; /* (nullable) IP SANs, "127.0.0.1", "::1" */
} VmigTestCertSpec;

/* A private key and its certificate. */
typedef struct {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
} VmigTestCert;

/* Ready-made specs: a CA valid from yesterday for a year, a server and a
 * client certificate valid from yesterday for 30 days, with their TLS
 * purpose and digital signatures. */
extern const VmigTestCertSpec vmig_test_ca_spec;
extern const VmigTestCertSpec vmig_test_server_spec;
extern const VmigTestCertSpec vmig_test_client_spec;

/* Return: a new key and a certificate as @spec says, signed by @issuer
 * (NULL: self-signed).  Serial numbers are unique within the process. */
VmigTestCert *vmig_test_cert_new(const VmigTestCertSpec *spec,
                                 const VmigTestCert *issuer);
/* Return: a self-signed CA (vmig_test_ca_spec) called @cn. */
VmigTestCert *vmig_test_ca_new(const char *cn);
void vmig_test_cert_free(VmigTestCert *cert);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigTestCert, vmig_test_cert_free)

/* Return: @cert's certificate in DER (what VmigTlsInfo.peer_cert holds). */
GBytes *vmig_test_cert_der(const VmigTestCert *cert);

/* Writes @data (@len bytes; -1: a string) as @dir/@name, mode 0600. */
void vmig_test_write_file(const char *dir, const char *name, const void *data,
                          gssize len);
/* Writes @cert's certificate, PEM, as @dir/@name. */
void vmig_test_write_cert(const char *dir, const char *name, const VmigTestCert *cert);
/* Writes @cert's private key, PEM, as @dir/@name. */
void vmig_test_write_key(const char *dir, const char *name, const VmigTestCert *cert);
/* Writes a CRL signed by @issuer that lists @revoked (NULL: none) as
 * @dir/ca-crl.pem. */
void vmig_test_write_crl(const char *dir, const VmigTestCert *issuer,
                         const VmigTestCert *revoked);

/* A host's credentials directory: what vmig_test_tls_write_host() writes. */
typedef struct {
    const char *cn;                  /* the subject CN of both certificates */
    const char *const *dns_names;    /* (nullable) DNS SANs; NULL: the CN */
    const char *const *ip_addresses; /* (nullable) IP SANs */
    gint64 start;                    /* validity in seconds from now; both 0: */
    gint64 end;                      /* from yesterday for 30 days */
    gboolean no_server;              /* leave server-cert.pem/server-key.pem out */
    gboolean no_client;              /* leave client-cert.pem/client-key.pem out */
    gboolean no_purpose;             /* no extended key usage (good for both roles) */
} VmigTestHost;

/*
 * vmig_test_tls_write_host:
 * @dir: an existing directory
 * @ca: the CA that signs the host's certificates (written as ca-cert.pem)
 * @host: what the certificates say
 *
 * Writes a complete credentials directory for one host: ca-cert.pem, and
 * a server and a client certificate with their keys (each with its TLS
 * purpose, unless @host->no_purpose), both for the same subject and
 * names.  Files already there are replaced.
 */
void vmig_test_tls_write_host(const char *dir, const VmigTestCert *ca,
                              const VmigTestHost *host);

/* Return: a new empty temporary directory (to free; remove it with
 * vmig_test_tls_dir_remove()). */
char *vmig_test_tls_dir_new(void);
/* Removes @dir and everything in it (files and empty subdirectories). */
void vmig_test_tls_dir_remove(const char *dir);

/*
 * vmig_test_gnutls_credentials:
 * @ca: (nullable): the trusted CA
 * @cert: (nullable): this side's certificate and key
 *
 * GnuTLS credentials made directly, without vmig_tls_credentials_load()
 * and its checks: for a raw peer with an expired certificate, say.
 * Return: the credentials (gnutls_certificate_free_credentials()).
 */
gnutls_certificate_credentials_t vmig_test_gnutls_credentials(const VmigTestCert *ca,
                                                              const VmigTestCert *cert);

/*
 * vmig_test_connected_pair:
 * @tcp: a loopback TCP connection; FALSE: a unix socketpair
 * @sv: (out): the two connected ends (close-on-exec, blocking), [0] the
 *     accepted one
 * Asserts on failure.
 */
void vmig_test_connected_pair(gboolean tcp, int sv[2]);
