/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tls.c: the tls/ library: credentials in QEMU's layout, loaded and
 * checked (tls/credentials.h), and the peer DN allow-list (tls/dn.h)
 *
 * Every certificate is made with GnuTLS (tests/tls-helper.h) in a
 * fresh temporary directory per test, in the /etc/pki/qemu layout: a CA
 * and a good server and client set, which each test then breaks.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tls/credentials.h"
#include "tls/dn.h"
#include "tests/testutil.h"
#include "tests/tls-helper.h"

/* A temporary directory with a CA and a good server and client set. */
typedef struct {
    char *dir;
    VmigTestCert *ca;
    VmigTestCert *server;
    VmigTestCert *client;
    guint fds_before;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->fds_before = vmig_test_count_fds(0);
    f->dir = g_dir_make_tmp("vmig-tls-XXXXXX", &error);
    g_assert_no_error(error);
    f->ca = vmig_test_cert_new(&vmig_test_ca_spec, NULL);
    f->server = vmig_test_cert_new(&vmig_test_server_spec, f->ca);
    f->client = vmig_test_cert_new(&vmig_test_client_spec, f->ca);
    vmig_test_write_cert(f->dir, VMIG_TLS_CA_CERT_FILE, f->ca);
    vmig_test_write_cert(f->dir, "server-cert.pem", f->server);
    vmig_test_write_key(f->dir, "server-key.pem", f->server);
    vmig_test_write_cert(f->dir, "client-cert.pem", f->client);
    vmig_test_write_key(f->dir, "client-key.pem", f->client);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    vmig_test_tls_dir_remove(f->dir);
    g_free(f->dir);
    vmig_test_cert_free(f->ca);
    vmig_test_cert_free(f->server);
    vmig_test_cert_free(f->client);
    /* Every load closes what it opened, whatever the outcome. */
    g_assert_cmpuint(vmig_test_count_fds(0), ==, f->fds_before);
}

/* Return: the full path of @name in @f's directory (to free). */
static char *
fixture_path(Fixture *f, const char *name)
{
    return g_build_filename(f->dir, name, NULL);
}

/* Removes @name from @f's directory. */
static void
fixture_remove(Fixture *f, const char *name)
{
    g_autofree char *path = fixture_path(f, name);

    g_assert_cmpint(g_unlink(path), ==, 0);
}

/* Asserts @role's credentials load from @f's directory, and their role. */
static void
assert_loads(Fixture *f, VmigTlsRole role)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTlsCredentials) creds = vmig_tls_credentials_load(f->dir, role, &error);

    g_assert_no_error(error);
    g_assert_nonnull(creds);
    g_assert_cmpint(vmig_tls_credentials_get_role(creds), ==, role);
    g_assert_cmpstr(vmig_tls_credentials_get_dir(creds), ==, f->dir);
    g_assert_nonnull(vmig_tls_credentials_get_gnutls(creds));
    g_assert_nonnull(vmig_tls_credentials_get_certificate(creds));
}

/*
 * Asserts @role's credentials are refused with @code and a message that
 * names @file (its full path).  Return: the message (to free).
 */
static char *
assert_refused(Fixture *f, VmigTlsRole role, VmigTlsErrorCode code, const char *file)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTlsCredentials) creds = vmig_tls_credentials_load(f->dir, role, &error);
    g_autofree char *path = fixture_path(f, file);
    g_autofree char *quoted = g_strdup_printf("'%s'", path);

    g_assert_null(creds);
    g_assert_error(error, VMIG_TLS_ERROR, (gint)code);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, quoted));
    return g_strdup(error->message);
}

/* Asserts @message contains @part. */
static void
assert_says(const char *message, const char *part)
{
    if (!strstr(message, part))
        g_error("'%s' does not say '%s'", message, part);
}

/* Return: @t as the loader writes dates (to free). */
static char *
date_text(time_t t)
{
    g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc((gint64)t);

    return g_date_time_format(when, "%Y-%m-%d %H:%M:%S UTC");
}

/* The fixture's server set loads, with the server's certificate. */
static void
test_server(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTlsCredentials) creds =
        vmig_tls_credentials_load(f->dir, VMIG_TLS_ROLE_SERVER, &error);
    g_autofree char *dn = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(creds);
    g_assert_cmpint(vmig_tls_credentials_get_role(creds), ==, VMIG_TLS_ROLE_SERVER);
    g_assert_nonnull(vmig_tls_credentials_get_gnutls(creds));
    dn = vmig_tls_certificate_dn(vmig_tls_credentials_get_certificate(creds), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(dn, ==, "CN=dst.example,O=Example,C=GB");
}

/* The fixture's client set loads, with the client's certificate. */
static void
test_client(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTlsCredentials) creds =
        vmig_tls_credentials_load(f->dir, VMIG_TLS_ROLE_CLIENT, &error);
    g_autofree char *dn = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(creds);
    g_assert_cmpint(vmig_tls_credentials_get_role(creds), ==, VMIG_TLS_ROLE_CLIENT);
    dn = vmig_tls_certificate_dn(vmig_tls_credentials_get_certificate(creds), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(dn, ==, "CN=src.example,O=Example,C=GB");
}

/* Both roles at once; a broken client set fails both and hands out nothing. */
static void
test_both(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VmigTlsCredentials) server = NULL;
    g_autoptr(VmigTlsCredentials) client = NULL;
    g_autofree char *path = fixture_path(f, "client-key.pem");

    g_assert_true(vmig_tls_credentials_load_both(f->dir, &server, &client, &error));
    g_assert_no_error(error);
    g_assert_cmpint(vmig_tls_credentials_get_role(server), ==, VMIG_TLS_ROLE_SERVER);
    g_assert_cmpint(vmig_tls_credentials_get_role(client), ==, VMIG_TLS_ROLE_CLIENT);
    g_clear_pointer(&server, vmig_tls_credentials_free);
    g_clear_pointer(&client, vmig_tls_credentials_free);

    fixture_remove(f, "client-key.pem");
    g_assert_false(vmig_tls_credentials_load_both(f->dir, &server, &client, &error));
    g_assert_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_MISSING);
    assert_says(error->message, path);
    g_assert_null(server);
    g_assert_null(client);
}

/* The role picks the files: each role's own, nothing of the other's. */
static void
test_roles(Fixture *f, gconstpointer data)
{
    g_autofree char *message = NULL;

    g_assert_cmpstr(vmig_tls_role_name(VMIG_TLS_ROLE_SERVER), ==, "server");
    g_assert_cmpstr(vmig_tls_role_name(VMIG_TLS_ROLE_CLIENT), ==, "client");
    g_assert_cmpstr(vmig_tls_role_cert_file(VMIG_TLS_ROLE_CLIENT), ==, "client-cert.pem");
    g_assert_cmpstr(vmig_tls_role_key_file(VMIG_TLS_ROLE_SERVER), ==, "server-key.pem");

    fixture_remove(f, "client-cert.pem");
    fixture_remove(f, "client-key.pem");
    assert_loads(f, VMIG_TLS_ROLE_SERVER);
    message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_MISSING,
                             "client-cert.pem");
    assert_says(message, "is missing");
}

/* No ca-cert.pem. */
static void
test_missing_ca(Fixture *f, gconstpointer data)
{
    g_autofree char *message = NULL;

    fixture_remove(f, VMIG_TLS_CA_CERT_FILE);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_MISSING,
                             VMIG_TLS_CA_CERT_FILE);
    assert_says(message, "is missing");
}

/* No server-key.pem. */
static void
test_missing_key(Fixture *f, gconstpointer data)
{
    g_autofree char *message = NULL;

    fixture_remove(f, "server-key.pem");
    message =
        assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_MISSING, "server-key.pem");
    assert_says(message, "is missing");
}

/* A key file nobody may read (root reads it all the same). */
static void
test_unreadable_mode(Fixture *f, gconstpointer data)
{
    g_autofree char *path = fixture_path(f, "server-key.pem");
    g_autofree char *message = NULL;

    if (geteuid() == 0) {
        g_test_skip("root reads files whatever their mode");
        return;
    }
    g_assert_cmpint(g_chmod(path, 0), ==, 0);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_UNREADABLE,
                             "server-key.pem");
    assert_says(message, g_strerror(EACCES));
}

/* A directory where the certificate should be (unreadable for root too). */
static void
test_unreadable_directory(Fixture *f, gconstpointer data)
{
    g_autofree char *path = fixture_path(f, "server-cert.pem");
    g_autofree char *message = NULL;

    fixture_remove(f, "server-cert.pem");
    g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_UNREADABLE,
                             "server-cert.pem");
    assert_says(message, "not a regular file");
}

/* Not PEM, PEM that is no certificate, a key where a certificate goes. */
static void
test_format(Fixture *f, gconstpointer data)
{
    static const char *const bad[] = {
        "",
        "hello, world\n",
        "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\naGVsbG8sIHdvcmxkCg==\n-----END CERTIFICATE-----\n",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *message = NULL;

        vmig_test_write_file(f->dir, "server-cert.pem", bad[i], -1);
        message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_FORMAT,
                                 "server-cert.pem");
        assert_says(message, "no PEM certificate");
    }
    {
        g_autofree char *message = NULL;

        vmig_test_write_key(f->dir, "server-cert.pem", f->server);
        message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_FORMAT,
                                 "server-cert.pem");
    }
    {
        g_autofree char *message = NULL;

        vmig_test_write_file(f->dir, VMIG_TLS_CA_CERT_FILE, "garbage\n", -1);
        message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_FORMAT,
                                 VMIG_TLS_CA_CERT_FILE);
    }
}

/* A key file with no key in it: garbage, or a certificate. */
static void
test_key_garbage(Fixture *f, gconstpointer data)
{
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;

    vmig_test_write_file(f->dir, "server-key.pem",
                         "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                         "-----END PRIVATE KEY-----\n",
                         -1);
    message =
        assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_KEY, "server-key.pem");
    assert_says(message, "no unencrypted PEM private key");
    vmig_test_write_cert(f->dir, "server-key.pem", f->server);
    again = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_KEY, "server-key.pem");
}

/* The client's key beside the server's certificate, and a stranger's. */
static void
test_key_other(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTestCert) stranger = vmig_test_cert_new(&vmig_test_server_spec, f->ca);
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;
    g_autofree char *cert_path = fixture_path(f, "server-cert.pem");

    vmig_test_write_key(f->dir, "server-key.pem", f->client);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_KEY_MISMATCH,
                             "server-key.pem");
    assert_says(message, cert_path);
    vmig_test_write_key(f->dir, "server-key.pem", stranger);
    again = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_KEY_MISMATCH,
                           "server-key.pem");
}

/* A certificate from another CA (same names: only the signature differs). */
static void
test_untrusted(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTestCert) other_ca = vmig_test_cert_new(&vmig_test_ca_spec, NULL);
    g_autoptr(VmigTestCert) other = vmig_test_cert_new(&vmig_test_client_spec, other_ca);
    g_autofree char *ca_path = fixture_path(f, VMIG_TLS_CA_CERT_FILE);
    g_autofree char *message = NULL;

    vmig_test_write_cert(f->dir, "client-cert.pem", other);
    vmig_test_write_key(f->dir, "client-key.pem", other);
    message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_UNTRUSTED,
                             "client-cert.pem");
    assert_says(message, ca_path);
    assert_loads(f, VMIG_TLS_ROLE_SERVER);
}

/* Expired yesterday: the message gives the end date. */
static void
test_expired(Fixture *f, gconstpointer data)
{
    VmigTestCertSpec spec = vmig_test_server_spec;
    g_autoptr(VmigTestCert) old = NULL;
    g_autofree char *end = NULL;
    g_autofree char *message = NULL;

    spec.start = -10 * VMIG_TEST_DAY;
    spec.end = -VMIG_TEST_DAY;
    old = vmig_test_cert_new(&spec, f->ca);
    end = date_text(gnutls_x509_crt_get_expiration_time(old->crt));
    vmig_test_write_cert(f->dir, "server-cert.pem", old);
    vmig_test_write_key(f->dir, "server-key.pem", old);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_EXPIRED,
                             "server-cert.pem");
    assert_says(message, end);
    assert_says(message, "expired");
}

/* Valid from tomorrow: the message gives the start date. */
static void
test_not_yet_valid(Fixture *f, gconstpointer data)
{
    VmigTestCertSpec spec = vmig_test_client_spec;
    g_autoptr(VmigTestCert) young = NULL;
    g_autofree char *start = NULL;
    g_autofree char *message = NULL;

    spec.start = VMIG_TEST_DAY;
    spec.end = 10 * VMIG_TEST_DAY;
    young = vmig_test_cert_new(&spec, f->ca);
    start = date_text(gnutls_x509_crt_get_activation_time(young->crt));
    vmig_test_write_cert(f->dir, "client-cert.pem", young);
    vmig_test_write_key(f->dir, "client-key.pem", young);
    message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_NOT_YET_VALID,
                             "client-cert.pem");
    assert_says(message, start);
}

/* An expired CA is named, not the certificate it signed. */
static void
test_ca_expired(Fixture *f, gconstpointer data)
{
    VmigTestCertSpec spec = vmig_test_ca_spec;
    g_autoptr(VmigTestCert) old_ca = NULL;
    g_autoptr(VmigTestCert) leaf = NULL;
    g_autofree char *message = NULL;

    spec.start = -10 * VMIG_TEST_DAY;
    spec.end = -VMIG_TEST_DAY;
    old_ca = vmig_test_cert_new(&spec, NULL);
    leaf = vmig_test_cert_new(&vmig_test_server_spec, old_ca);
    vmig_test_write_cert(f->dir, VMIG_TLS_CA_CERT_FILE, old_ca);
    vmig_test_write_cert(f->dir, "server-cert.pem", leaf);
    vmig_test_write_key(f->dir, "server-key.pem", leaf);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_EXPIRED,
                             VMIG_TLS_CA_CERT_FILE);
}

/* ca-cert.pem holding a certificate that is no CA, or cannot sign certificates. */
static void
test_ca_not_ca(Fixture *f, gconstpointer data)
{
    VmigTestCertSpec spec = vmig_test_ca_spec;
    g_autoptr(VmigTestCert) fake = NULL;
    g_autoptr(VmigTestCert) signer = NULL;
    g_autoptr(VmigTestCert) leaf = NULL;
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;

    spec.ca = FALSE;
    fake = vmig_test_cert_new(&spec, NULL);
    leaf = vmig_test_cert_new(&vmig_test_server_spec, fake);
    vmig_test_write_cert(f->dir, VMIG_TLS_CA_CERT_FILE, fake);
    vmig_test_write_cert(f->dir, "server-cert.pem", leaf);
    vmig_test_write_key(f->dir, "server-key.pem", leaf);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_NOT_CA,
                             VMIG_TLS_CA_CERT_FILE);
    assert_says(message, "CA:FALSE");

    spec.ca = TRUE;
    spec.usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
    signer = vmig_test_cert_new(&spec, NULL);
    vmig_test_write_cert(f->dir, VMIG_TLS_CA_CERT_FILE, signer);
    again = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_NOT_CA,
                           VMIG_TLS_CA_CERT_FILE);
    assert_says(again, "signing certificates");
}

/* A server certificate only for TLS clients; it still serves as a client's. */
static void
test_purpose_client_only(Fixture *f, gconstpointer data)
{
    VmigTestCertSpec spec = vmig_test_server_spec;
    g_autoptr(VmigTestCert) wrong = NULL;
    g_autofree char *message = NULL;

    spec.purpose = GNUTLS_KP_TLS_WWW_CLIENT;
    wrong = vmig_test_cert_new(&spec, f->ca);
    vmig_test_write_cert(f->dir, "server-cert.pem", wrong);
    vmig_test_write_key(f->dir, "server-key.pem", wrong);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_PURPOSE,
                             "server-cert.pem");
    assert_says(message, "TLS server authentication");
    vmig_test_write_cert(f->dir, "client-cert.pem", wrong);
    vmig_test_write_key(f->dir, "client-key.pem", wrong);
    assert_loads(f, VMIG_TLS_ROLE_CLIENT);
}

/* A client certificate only for TLS servers. */
static void
test_purpose_server_only(Fixture *f, gconstpointer data)
{
    g_autofree char *message = NULL;

    vmig_test_write_cert(f->dir, "client-cert.pem", f->server);
    vmig_test_write_key(f->dir, "client-key.pem", f->server);
    message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_PURPOSE,
                             "client-cert.pem");
    assert_says(message, "TLS client authentication");
}

/* No extended key usage, or "any purpose": good for both roles. */
static void
test_purpose_absent(Fixture *f, gconstpointer data)
{
    const char *purposes[] = {NULL, "2.5.29.37.0"};

    for (gsize i = 0; i < G_N_ELEMENTS(purposes); i++) {
        VmigTestCertSpec spec = vmig_test_server_spec;
        g_autoptr(VmigTestCert) both = NULL;

        spec.purpose = purposes[i];
        both = vmig_test_cert_new(&spec, f->ca);
        vmig_test_write_cert(f->dir, "server-cert.pem", both);
        vmig_test_write_key(f->dir, "server-key.pem", both);
        vmig_test_write_cert(f->dir, "client-cert.pem", both);
        vmig_test_write_key(f->dir, "client-key.pem", both);
        assert_loads(f, VMIG_TLS_ROLE_SERVER);
        assert_loads(f, VMIG_TLS_ROLE_CLIENT);
    }
}

/* A key usage without digital signatures; a CA certificate as a server's. */
static void
test_purpose_usage(Fixture *f, gconstpointer data)
{
    VmigTestCertSpec spec = vmig_test_server_spec;
    g_autoptr(VmigTestCert) encipher_only = NULL;
    g_autoptr(VmigTestCert) ca_leaf = NULL;
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;

    spec.usage = GNUTLS_KEY_KEY_ENCIPHERMENT;
    encipher_only = vmig_test_cert_new(&spec, f->ca);
    vmig_test_write_cert(f->dir, "server-cert.pem", encipher_only);
    vmig_test_write_key(f->dir, "server-key.pem", encipher_only);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_PURPOSE,
                             "server-cert.pem");
    assert_says(message, "digital signatures");

    spec = vmig_test_server_spec;
    spec.ca = TRUE;
    ca_leaf = vmig_test_cert_new(&spec, f->ca);
    vmig_test_write_cert(f->dir, "server-cert.pem", ca_leaf);
    vmig_test_write_key(f->dir, "server-key.pem", ca_leaf);
    again = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_PURPOSE,
                           "server-cert.pem");
    assert_says(again, "is a CA certificate");
}

/* A leaf and an intermediate CA in server-cert.pem, the root in ca-cert.pem. */
static void
test_chain(Fixture *f, gconstpointer data)
{
    VmigTestCertSpec spec = vmig_test_ca_spec;
    g_autoptr(VmigTestCert) intermediate = NULL;
    g_autoptr(VmigTestCert) leaf = NULL;
    g_autoptr(GString) pem = g_string_new(NULL);
    const VmigTestCert *order[2];
    g_autofree char *message = NULL;

    spec.cn = "virt-migrate intermediate CA";
    intermediate = vmig_test_cert_new(&spec, f->ca);
    leaf = vmig_test_cert_new(&vmig_test_server_spec, intermediate);
    order[0] = leaf;
    order[1] = intermediate;
    for (gsize i = 0; i < G_N_ELEMENTS(order); i++) {
        gnutls_datum_t one = {NULL, 0};

        g_assert_cmpint(gnutls_x509_crt_export2(order[i]->crt, GNUTLS_X509_FMT_PEM, &one),
                        ==, 0);
        g_string_append_len(pem, (const char *)one.data, one.size);
        gnutls_free(one.data);
    }
    vmig_test_write_file(f->dir, "server-cert.pem", pem->str, (gssize)pem->len);
    vmig_test_write_key(f->dir, "server-key.pem", leaf);
    assert_loads(f, VMIG_TLS_ROLE_SERVER);

    /* Without the intermediate, the leaf leads nowhere. */
    vmig_test_write_cert(f->dir, "server-cert.pem", leaf);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_UNTRUSTED,
                             "server-cert.pem");
}

/* A CRL that lists the server's certificate: it is refused, the client's loads. */
static void
test_crl_revoked(Fixture *f, gconstpointer data)
{
    g_autofree char *crl_path = fixture_path(f, VMIG_TLS_CA_CRL_FILE);
    g_autofree char *message = NULL;

    vmig_test_write_crl(f->dir, f->ca, NULL);
    assert_loads(f, VMIG_TLS_ROLE_SERVER);
    vmig_test_write_crl(f->dir, f->ca, f->server);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_REVOKED,
                             "server-cert.pem");
    assert_says(message, crl_path);
    assert_loads(f, VMIG_TLS_ROLE_CLIENT);
}

/* A CRL file that is no CRL, or signed by another CA. */
static void
test_crl_bad(Fixture *f, gconstpointer data)
{
    g_autoptr(VmigTestCert) other_ca = vmig_test_cert_new(&vmig_test_ca_spec, NULL);
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;

    vmig_test_write_file(f->dir, VMIG_TLS_CA_CRL_FILE, "not a CRL\n", -1);
    message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_FORMAT,
                             VMIG_TLS_CA_CRL_FILE);
    assert_says(message, "revocation list");
    vmig_test_write_crl(f->dir, other_ca, f->client);
    again =
        assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_CRL, VMIG_TLS_CA_CRL_FILE);
}

/* The DN in RFC 4514's order, with a special character escaped. */
static void
test_dn_certificate(void)
{
    g_autoptr(VmigTestCert) ca = vmig_test_cert_new(&vmig_test_ca_spec, NULL);
    VmigTestCertSpec spec = vmig_test_server_spec;
    g_autoptr(VmigTestCert) odd = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *ca_dn = vmig_tls_certificate_dn(ca->crt, &error);
    g_autofree char *odd_dn = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(ca_dn, ==, "CN=virt-migrate test CA,O=Example,C=GB");
    spec.cn = "a,b+c";
    odd = vmig_test_cert_new(&spec, ca);
    odd_dn = vmig_tls_certificate_dn(odd->crt, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(odd_dn, ==, "CN=a\\,b\\+c,O=Example,C=GB");
}

static const char dn[] = "CN=src.example,O=Example,C=GB";

static void
test_dn_exact(void)
{
    const char *const yes[] = {"CN=src.example,O=Example,C=GB", NULL};
    const char *const no[] = {"CN=src.example,O=Example", "cn=src.example,O=Example,C=GB",
                              "C=GB,O=Example,CN=src.example", NULL};

    g_assert_true(vmig_tls_dn_allowed(dn, yes));
    for (gsize i = 0; no[i]; i++) {
        const char *const one[] = {no[i], NULL};

        g_assert_false(vmig_tls_dn_allowed(dn, one));
    }
}

static void
test_dn_glob(void)
{
    const char *const star[] = {"CN=*,O=Example,C=GB", NULL};
    const char *const question[] = {"CN=src.exampl?,O=Example,C=GB", NULL};
    const char *const all[] = {"*", NULL};
    const char *const other_org[] = {"CN=*,O=Other,C=GB", NULL};

    g_assert_true(vmig_tls_dn_allowed(dn, star));
    g_assert_true(vmig_tls_dn_allowed("CN=dst.example,O=Example,C=GB", star));
    /* '*' spans attributes (dn.h says so). */
    g_assert_true(vmig_tls_dn_allowed("CN=a,OU=b,O=Example,C=GB", star));
    g_assert_true(vmig_tls_dn_allowed(dn, question));
    g_assert_false(vmig_tls_dn_allowed("CN=src.example.org,O=Example,C=GB", question));
    g_assert_true(vmig_tls_dn_allowed(dn, all));
    g_assert_false(vmig_tls_dn_allowed(dn, other_org));
    g_assert_false(vmig_tls_dn_allowed("CN=src.example,O=Example,C=GBX", star));
}

static void
test_dn_several(void)
{
    const char *const patterns[] = {"CN=dst.example,O=Example,C=GB",
                                    "CN=*.example,O=Example,C=GB", NULL};

    g_assert_true(vmig_tls_dn_allowed(dn, patterns));
    g_assert_true(vmig_tls_dn_allowed("CN=dst.example,O=Example,C=GB", patterns));
    g_assert_false(vmig_tls_dn_allowed("CN=src.example.org,O=Example,C=GB", patterns));
}

static void
test_dn_none(void)
{
    const char *const patterns[] = {"CN=dst.example,O=Example,C=GB", "CN=*,O=Other,C=GB",
                                    "", NULL};

    g_assert_false(vmig_tls_dn_allowed(dn, patterns));
    /* An empty pattern is a pattern, not "any": it matches the empty DN only. */
    g_assert_false(vmig_tls_dn_allowed("CN=x", patterns + 2));
    g_assert_true(vmig_tls_dn_allowed("", patterns + 2));
}

static void
test_dn_empty(void)
{
    const char *const empty[] = {NULL};

    g_assert_true(vmig_tls_dn_allowed(dn, NULL));
    g_assert_true(vmig_tls_dn_allowed(dn, empty));
}

#define ADD(path, func)                                                                  \
    g_test_add("/tls/credentials/" path, Fixture, NULL, fixture_setup, func,             \
               fixture_teardown)

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("server", test_server);
    ADD("client", test_client);
    ADD("both", test_both);
    ADD("roles", test_roles);
    ADD("missing/ca", test_missing_ca);
    ADD("missing/key", test_missing_key);
    ADD("unreadable/mode", test_unreadable_mode);
    ADD("unreadable/directory", test_unreadable_directory);
    ADD("format", test_format);
    ADD("key/garbage", test_key_garbage);
    ADD("key/other", test_key_other);
    ADD("untrusted", test_untrusted);
    ADD("expired", test_expired);
    ADD("not-yet-valid", test_not_yet_valid);
    ADD("ca/expired", test_ca_expired);
    ADD("ca/not-ca", test_ca_not_ca);
    ADD("purpose/client-only", test_purpose_client_only);
    ADD("purpose/server-only", test_purpose_server_only);
    ADD("purpose/absent", test_purpose_absent);
    ADD("purpose/key-usage", test_purpose_usage);
    ADD("chain", test_chain);
    ADD("crl/revoked", test_crl_revoked);
    ADD("crl/bad", test_crl_bad);
    g_test_add_func("/tls/dn/certificate", test_dn_certificate);
    g_test_add_func("/tls/dn/allowed/exact", test_dn_exact);
    g_test_add_func("/tls/dn/allowed/glob", test_dn_glob);
    g_test_add_func("/tls/dn/allowed/several", test_dn_several);
    g_test_add_func("/tls/dn/allowed/none", test_dn_none);
    g_test_add_func("/tls/dn/allowed/empty", test_dn_empty);
    return g_test_run();
}
