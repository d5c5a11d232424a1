/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tls-helper.c: certificates and credentials directories for the test
 * suites (the contract is tls-helper.h)
 */
#include <config.h>

#include "tests/tls-helper.h"

#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <glib/gstdio.h>

#include "fdpass/fd.h"
#include "tls/credentials.h"

const VmigTestCertSpec vmig_test_ca_spec = {
    .cn = "virt-migrate test CA",
    .ca = TRUE,
    .usage = GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN,
    .start = -VMIG_TEST_DAY,
    .end = 365 * VMIG_TEST_DAY,
};
const VmigTestCertSpec vmig_test_server_spec = {
    .cn = "dst.example",
    .purpose = GNUTLS_KP_TLS_WWW_SERVER,
    .usage = GNUTLS_KEY_DIGITAL_SIGNATURE,
    .start = -VMIG_TEST_DAY,
    .end = 30 * VMIG_TEST_DAY,
};
const VmigTestCertSpec vmig_test_client_spec = {
    .cn = "src.example",
    .purpose = GNUTLS_KP_TLS_WWW_CLIENT,
    .usage = GNUTLS_KEY_DIGITAL_SIGNATURE,
    .start = -VMIG_TEST_DAY,
    .end = 30 * VMIG_TEST_DAY,
};

static guint serial_counter = 1;

void
vmig_test_cert_free(VmigTestCert *cert)
{
    if (!cert)
        return;
    gnutls_x509_crt_deinit(cert->crt);
    gnutls_x509_privkey_deinit(cert->key);
    g_free(cert);
}

/* Adds @cert's subject alternative names as @spec says. */
static void
cert_add_names(VmigTestCert *cert, const VmigTestCertSpec *spec)
{
    unsigned int flags = GNUTLS_FSAN_SET;

    if (spec->dns_names) {
        for (gsize i = 0; spec->dns_names[i]; i++) {
            const char *name = spec->dns_names[i];

            g_assert_cmpint(gnutls_x509_crt_set_subject_alt_name(
                                cert->crt, GNUTLS_SAN_DNSNAME, name, strlen(name), flags),
                            ==, 0);
            flags = GNUTLS_FSAN_APPEND;
        }
    } else if (!spec->ca) {
        g_assert_cmpint(gnutls_x509_crt_set_subject_alt_name(cert->crt,
                                                             GNUTLS_SAN_DNSNAME, spec->cn,
                                                             strlen(spec->cn), flags),
                        ==, 0);
        flags = GNUTLS_FSAN_APPEND;
    }
    for (gsize i = 0; spec->ip_addresses && spec->ip_addresses[i]; i++) {
        guint8 addr[16];
        gsize len = 4;

        if (inet_pton(AF_INET, spec->ip_addresses[i], addr) != 1) {
            g_assert_cmpint(inet_pton(AF_INET6, spec->ip_addresses[i], addr), ==, 1);
            len = 16;
        }
        g_assert_cmpint(gnutls_x509_crt_set_subject_alt_name(
                            cert->crt, GNUTLS_SAN_IPADDRESS, addr, len, flags),
                        ==, 0);
        flags = GNUTLS_FSAN_APPEND;
    }
}

VmigTestCert *
vmig_test_cert_new(const VmigTestCertSpec *spec, const VmigTestCert *issuer)
{
    VmigTestCert *cert = g_new0(VmigTestCert, 1);
    time_t now = time(NULL);
    unsigned char serial[4];
    unsigned char id[64];
    size_t id_len = sizeof(id);

    g_assert_cmpint(gnutls_x509_privkey_init(&cert->key), ==, 0);
    g_assert_cmpint(
        gnutls_x509_privkey_generate(cert->key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
        ==, 0);
    g_assert_cmpint(gnutls_x509_crt_init(&cert->crt), ==, 0);
    g_assert_cmpint(gnutls_x509_crt_set_version(cert->crt, 3), ==, 0);
    serial[0] = 0x01; /* positive, and never all zero */
    serial[1] = (unsigned char)(serial_counter >> 16);
    serial[2] = (unsigned char)(serial_counter >> 8);
    serial[3] = (unsigned char)serial_counter;
    serial_counter++;
    g_assert_cmpint(gnutls_x509_crt_set_serial(cert->crt, serial, sizeof(serial)), ==, 0);
    g_assert_cmpint(gnutls_x509_crt_set_activation_time(cert->crt, now + spec->start), ==,
                    0);
    g_assert_cmpint(gnutls_x509_crt_set_expiration_time(cert->crt, now + spec->end), ==,
                    0);
    /* Written country first, as certtool does: RFC 4514 prints it last. */
    g_assert_cmpint(gnutls_x509_crt_set_dn_by_oid(cert->crt, GNUTLS_OID_X520_COUNTRY_NAME,
                                                  0, "GB", 2),
                    ==, 0);
    g_assert_cmpint(gnutls_x509_crt_set_dn_by_oid(
                        cert->crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "Example", 7),
                    ==, 0);
    g_assert_cmpint(gnutls_x509_crt_set_dn_by_oid(cert->crt, GNUTLS_OID_X520_COMMON_NAME,
                                                  0, spec->cn, strlen(spec->cn)),
                    ==, 0);
    g_assert_cmpint(gnutls_x509_crt_set_key(cert->crt, cert->key), ==, 0);
    g_assert_cmpint(gnutls_x509_crt_set_basic_constraints(cert->crt, spec->ca, -1), ==,
                    0);
    if (spec->usage)
        g_assert_cmpint(gnutls_x509_crt_set_key_usage(cert->crt, spec->usage), ==, 0);
    if (spec->purpose)
        g_assert_cmpint(gnutls_x509_crt_set_key_purpose_oid(cert->crt, spec->purpose, 0),
                        ==, 0);
    cert_add_names(cert, spec);
    g_assert_cmpint(gnutls_x509_crt_get_key_id(cert->crt, 0, id, &id_len), ==, 0);
    g_assert_cmpint(gnutls_x509_crt_set_subject_key_id(cert->crt, id, id_len), ==, 0);
    if (issuer) {
        id_len = sizeof(id);
        g_assert_cmpint(gnutls_x509_crt_get_key_id(issuer->crt, 0, id, &id_len), ==, 0);
        g_assert_cmpint(gnutls_x509_crt_set_authority_key_id(cert->crt, id, id_len), ==,
                        0);
    }
    g_assert_cmpint(gnutls_x509_crt_sign2(cert->crt, issuer ? issuer->crt : cert->crt,
                                          issuer ? issuer->key : cert->key,
                                          GNUTLS_DIG_SHA256, 0),
                    ==, 0);
    return cert;
}

VmigTestCert *
vmig_test_ca_new(const char *cn)
{
    VmigTestCertSpec spec = vmig_test_ca_spec;

    spec.cn = cn;
    return vmig_test_cert_new(&spec, NULL);
}

GBytes *
vmig_test_cert_der(const VmigTestCert *cert)
{
    gnutls_datum_t der = {NULL, 0};
    GBytes *bytes;

    g_assert_cmpint(gnutls_x509_crt_export2(cert->crt, GNUTLS_X509_FMT_DER, &der), ==, 0);
    bytes = g_bytes_new(der.data, der.size);
    gnutls_free(der.data);
    return bytes;
}

void
vmig_test_write_file(const char *dir, const char *name, const void *data, gssize len)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) error = NULL;

    g_file_set_contents_full(path, data, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                             &error);
    g_assert_no_error(error);
}

static void
write_datum(const char *dir, const char *name, gnutls_datum_t *datum)
{
    vmig_test_write_file(dir, name, datum->data, datum->size);
    gnutls_free(datum->data);
}

void
vmig_test_write_cert(const char *dir, const char *name, const VmigTestCert *cert)
{
    gnutls_datum_t pem = {NULL, 0};

    g_assert_cmpint(gnutls_x509_crt_export2(cert->crt, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
    write_datum(dir, name, &pem);
}

void
vmig_test_write_key(const char *dir, const char *name, const VmigTestCert *cert)
{
    gnutls_datum_t pem = {NULL, 0};

    g_assert_cmpint(gnutls_x509_privkey_export2(cert->key, GNUTLS_X509_FMT_PEM, &pem), ==,
                    0);
    write_datum(dir, name, &pem);
}

void
vmig_test_write_crl(const char *dir, const VmigTestCert *issuer,
                    const VmigTestCert *revoked)
{
    gnutls_x509_crl_t crl;
    gnutls_datum_t pem = {NULL, 0};
    time_t now = time(NULL);

    g_assert_cmpint(gnutls_x509_crl_init(&crl), ==, 0);
    g_assert_cmpint(gnutls_x509_crl_set_version(crl, 2), ==, 0);
    g_assert_cmpint(gnutls_x509_crl_set_this_update(crl, now - 60), ==, 0);
    g_assert_cmpint(gnutls_x509_crl_set_next_update(crl, now + 30 * VMIG_TEST_DAY), ==,
                    0);
    if (revoked)
        g_assert_cmpint(gnutls_x509_crl_set_crt(crl, revoked->crt, now - 60), ==, 0);
    g_assert_cmpint(
        gnutls_x509_crl_sign2(crl, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0), ==,
        0);
    g_assert_cmpint(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
    write_datum(dir, VMIG_TLS_CA_CRL_FILE, &pem);
    gnutls_x509_crl_deinit(crl);
}

void
vmig_test_tls_write_host(const char *dir, const VmigTestCert *ca,
                         const VmigTestHost *host)
{
    static const VmigTestCertSpec *const specs[] = {
        [VMIG_TLS_ROLE_SERVER] = &vmig_test_server_spec,
        [VMIG_TLS_ROLE_CLIENT] = &vmig_test_client_spec,
    };
    G_STATIC_ASSERT(G_N_ELEMENTS(specs) == VMIG_TLS_ROLE_LAST);

    g_assert_nonnull(host->cn);
    vmig_test_write_cert(dir, VMIG_TLS_CA_CERT_FILE, ca);
    for (int role = 0; role < VMIG_TLS_ROLE_LAST; role++) {
        VmigTestCertSpec spec = *specs[role];
        g_autoptr(VmigTestCert) cert = NULL;

        if ((role == VMIG_TLS_ROLE_SERVER && host->no_server) ||
            (role == VMIG_TLS_ROLE_CLIENT && host->no_client))
            continue;
        spec.cn = host->cn;
        spec.dns_names = host->dns_names;
        spec.ip_addresses = host->ip_addresses;
        if (host->start || host->end) {
            spec.start = host->start;
            spec.end = host->end;
        }
        if (host->no_purpose)
            spec.purpose = NULL;
        cert = vmig_test_cert_new(&spec, ca);
        vmig_test_write_cert(dir, vmig_tls_role_cert_file(role), cert);
        vmig_test_write_key(dir, vmig_tls_role_key_file(role), cert);
    }
}

char *
vmig_test_tls_dir_new(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("vmig-tls-XXXXXX", &error);

    g_assert_no_error(error);
    return dir;
}

void
vmig_test_tls_dir_remove(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR))
            g_assert_cmpint(g_rmdir(child), ==, 0);
        else
            g_assert_cmpint(g_unlink(child), ==, 0);
    }
    g_clear_pointer(&dir, g_dir_close);
    g_assert_cmpint(g_rmdir(path), ==, 0);
}

gnutls_certificate_credentials_t
vmig_test_gnutls_credentials(const VmigTestCert *ca, const VmigTestCert *cert)
{
    gnutls_certificate_credentials_t creds;

    g_assert_cmpint(gnutls_certificate_allocate_credentials(&creds), ==, 0);
    if (ca) {
        gnutls_x509_crt_t trusted = ca->crt;

        g_assert_cmpint(gnutls_certificate_set_x509_trust(creds, &trusted, 1), ==, 1);
    }
    if (cert) {
        gnutls_x509_crt_t chain = cert->crt;

        g_assert_cmpint(gnutls_certificate_set_x509_key(creds, &chain, 1, cert->key), ==,
                        0);
    }
    return creds;
}

void
vmig_test_connected_pair(gboolean tcp, int sv[2])
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    g_auto(VmigFd) listener = -1;

    if (!tcp) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        return;
    }
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(listener, >=, 0);
    g_assert_cmpint(bind(listener, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(listener, 1), ==, 0);
    g_assert_cmpint(getsockname(listener, (struct sockaddr *)&addr, &len), ==, 0);
    sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(sv[1], >=, 0);
    g_assert_cmpint(connect(sv[1], (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    sv[0] = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(sv[0], >=, 0);
}
