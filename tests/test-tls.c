/*
 * test-tls.c: the tls/ library: credentials in QEMU's layout, loaded and
 * checked (tls/credentials.h), and the peer DN allow-list (tls/dn.h)
 *
 * Every certificate is made here with GnuTLS (ECDSA P-256: fast) in a
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

#define DAY (24 * 60 * 60)

/* What a made certificate says. */
typedef struct {
    const char *cn;
    gboolean ca;
    const char *purpose; /* an extended key usage OID, or NULL for no extension */
    unsigned int usage;  /* key usage bits, or 0 for no extension */
    gint64 start;        /* seconds from now */
    gint64 end;
} CertSpec;

typedef struct {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
} Cert;

static const CertSpec ca_spec = {"virt-migrate test CA",
                                 TRUE,
                                 NULL,
                                 GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN,
                                 -DAY,
                                 365 * DAY};
static const CertSpec server_spec = {
    "dst.example", FALSE,   GNUTLS_KP_TLS_WWW_SERVER, GNUTLS_KEY_DIGITAL_SIGNATURE,
    -DAY,          30 * DAY};
static const CertSpec client_spec = {
    "src.example", FALSE,   GNUTLS_KP_TLS_WWW_CLIENT, GNUTLS_KEY_DIGITAL_SIGNATURE,
    -DAY,          30 * DAY};

static guint serial_counter = 1;

static void
cert_free(Cert *cert)
{
    if (!cert)
        return;
    gnutls_x509_crt_deinit(cert->crt);
    gnutls_x509_privkey_deinit(cert->key);
    g_free(cert);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Cert, cert_free)

/* Return: a new key and a certificate as @spec says, signed by @issuer (NULL: itself). */
static Cert *
cert_new(const CertSpec *spec, const Cert *issuer)
{
    Cert *cert = g_new0(Cert, 1);
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
    if (!spec->ca)
        g_assert_cmpint(
            gnutls_x509_crt_set_subject_alt_name(cert->crt, GNUTLS_SAN_DNSNAME, spec->cn,
                                                 strlen(spec->cn), GNUTLS_FSAN_SET),
            ==, 0);
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

/* Writes @data (@len bytes; -1: a string) as @dir/@name, mode 0600. */
static void
write_file(const char *dir, const char *name, const void *data, gssize len)
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
    write_file(dir, name, datum->data, datum->size);
    gnutls_free(datum->data);
}

/* Writes @cert's certificate, PEM, as @dir/@name. */
static void
write_cert(const char *dir, const char *name, const Cert *cert)
{
    gnutls_datum_t pem = {NULL, 0};

    g_assert_cmpint(gnutls_x509_crt_export2(cert->crt, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
    write_datum(dir, name, &pem);
}

/* Writes @cert's private key, PEM, as @dir/@name. */
static void
write_key(const char *dir, const char *name, const Cert *cert)
{
    gnutls_datum_t pem = {NULL, 0};

    g_assert_cmpint(gnutls_x509_privkey_export2(cert->key, GNUTLS_X509_FMT_PEM, &pem), ==,
                    0);
    write_datum(dir, name, &pem);
}

/* Writes a CRL signed by @issuer that lists @revoked (NULL: none) as @dir/ca-crl.pem. */
static void
write_crl(const char *dir, const Cert *issuer, const Cert *revoked)
{
    gnutls_x509_crl_t crl;
    gnutls_datum_t pem = {NULL, 0};
    time_t now = time(NULL);

    g_assert_cmpint(gnutls_x509_crl_init(&crl), ==, 0);
    g_assert_cmpint(gnutls_x509_crl_set_version(crl, 2), ==, 0);
    g_assert_cmpint(gnutls_x509_crl_set_this_update(crl, now - 60), ==, 0);
    g_assert_cmpint(gnutls_x509_crl_set_next_update(crl, now + 30 * DAY), ==, 0);
    if (revoked)
        g_assert_cmpint(gnutls_x509_crl_set_crt(crl, revoked->crt, now - 60), ==, 0);
    g_assert_cmpint(
        gnutls_x509_crl_sign2(crl, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0), ==,
        0);
    g_assert_cmpint(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
    write_datum(dir, VMIG_TLS_CA_CRL_FILE, &pem);
    gnutls_x509_crl_deinit(crl);
}

/* A temporary directory with a CA and a good server and client set. */
typedef struct {
    char *dir;
    Cert *ca;
    Cert *server;
    Cert *client;
    guint fds_before;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->fds_before = vmig_test_count_fds(0);
    f->dir = g_dir_make_tmp("vmig-tls-XXXXXX", &error);
    g_assert_no_error(error);
    f->ca = cert_new(&ca_spec, NULL);
    f->server = cert_new(&server_spec, f->ca);
    f->client = cert_new(&client_spec, f->ca);
    write_cert(f->dir, VMIG_TLS_CA_CERT_FILE, f->ca);
    write_cert(f->dir, "server-cert.pem", f->server);
    write_key(f->dir, "server-key.pem", f->server);
    write_cert(f->dir, "client-cert.pem", f->client);
    write_key(f->dir, "client-key.pem", f->client);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
    const char *name;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(f->dir, name, NULL);

        if (g_file_test(path, G_FILE_TEST_IS_DIR))
            g_assert_cmpint(g_rmdir(path), ==, 0);
        else
            g_assert_cmpint(g_unlink(path), ==, 0);
    }
    g_clear_pointer(&dir, g_dir_close);
    g_assert_cmpint(g_rmdir(f->dir), ==, 0);
    g_free(f->dir);
    cert_free(f->ca);
    cert_free(f->server);
    cert_free(f->client);
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

        write_file(f->dir, "server-cert.pem", bad[i], -1);
        message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_FORMAT,
                                 "server-cert.pem");
        assert_says(message, "no PEM certificate");
    }
    {
        g_autofree char *message = NULL;

        write_key(f->dir, "server-cert.pem", f->server);
        message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_FORMAT,
                                 "server-cert.pem");
    }
    {
        g_autofree char *message = NULL;

        write_file(f->dir, VMIG_TLS_CA_CERT_FILE, "garbage\n", -1);
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

    write_file(f->dir, "server-key.pem",
               "-----BEGIN PRIVATE KEY-----\nAAAA\n"
               "-----END PRIVATE KEY-----\n",
               -1);
    message =
        assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_KEY, "server-key.pem");
    assert_says(message, "no unencrypted PEM private key");
    write_cert(f->dir, "server-key.pem", f->server);
    again = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_KEY, "server-key.pem");
}

/* The client's key beside the server's certificate, and a stranger's. */
static void
test_key_other(Fixture *f, gconstpointer data)
{
    g_autoptr(Cert) stranger = cert_new(&server_spec, f->ca);
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;
    g_autofree char *cert_path = fixture_path(f, "server-cert.pem");

    write_key(f->dir, "server-key.pem", f->client);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_KEY_MISMATCH,
                             "server-key.pem");
    assert_says(message, cert_path);
    write_key(f->dir, "server-key.pem", stranger);
    again = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_KEY_MISMATCH,
                           "server-key.pem");
}

/* A certificate from another CA (same names: only the signature differs). */
static void
test_untrusted(Fixture *f, gconstpointer data)
{
    g_autoptr(Cert) other_ca = cert_new(&ca_spec, NULL);
    g_autoptr(Cert) other = cert_new(&client_spec, other_ca);
    g_autofree char *ca_path = fixture_path(f, VMIG_TLS_CA_CERT_FILE);
    g_autofree char *message = NULL;

    write_cert(f->dir, "client-cert.pem", other);
    write_key(f->dir, "client-key.pem", other);
    message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_UNTRUSTED,
                             "client-cert.pem");
    assert_says(message, ca_path);
    assert_loads(f, VMIG_TLS_ROLE_SERVER);
}

/* Expired yesterday: the message gives the end date. */
static void
test_expired(Fixture *f, gconstpointer data)
{
    CertSpec spec = server_spec;
    g_autoptr(Cert) old = NULL;
    g_autofree char *end = NULL;
    g_autofree char *message = NULL;

    spec.start = -10 * DAY;
    spec.end = -DAY;
    old = cert_new(&spec, f->ca);
    end = date_text(gnutls_x509_crt_get_expiration_time(old->crt));
    write_cert(f->dir, "server-cert.pem", old);
    write_key(f->dir, "server-key.pem", old);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_EXPIRED,
                             "server-cert.pem");
    assert_says(message, end);
    assert_says(message, "expired");
}

/* Valid from tomorrow: the message gives the start date. */
static void
test_not_yet_valid(Fixture *f, gconstpointer data)
{
    CertSpec spec = client_spec;
    g_autoptr(Cert) young = NULL;
    g_autofree char *start = NULL;
    g_autofree char *message = NULL;

    spec.start = DAY;
    spec.end = 10 * DAY;
    young = cert_new(&spec, f->ca);
    start = date_text(gnutls_x509_crt_get_activation_time(young->crt));
    write_cert(f->dir, "client-cert.pem", young);
    write_key(f->dir, "client-key.pem", young);
    message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_NOT_YET_VALID,
                             "client-cert.pem");
    assert_says(message, start);
}

/* An expired CA is named, not the certificate it signed. */
static void
test_ca_expired(Fixture *f, gconstpointer data)
{
    CertSpec spec = ca_spec;
    g_autoptr(Cert) old_ca = NULL;
    g_autoptr(Cert) leaf = NULL;
    g_autofree char *message = NULL;

    spec.start = -10 * DAY;
    spec.end = -DAY;
    old_ca = cert_new(&spec, NULL);
    leaf = cert_new(&server_spec, old_ca);
    write_cert(f->dir, VMIG_TLS_CA_CERT_FILE, old_ca);
    write_cert(f->dir, "server-cert.pem", leaf);
    write_key(f->dir, "server-key.pem", leaf);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_EXPIRED,
                             VMIG_TLS_CA_CERT_FILE);
}

/* ca-cert.pem holding a certificate that is no CA, or cannot sign certificates. */
static void
test_ca_not_ca(Fixture *f, gconstpointer data)
{
    CertSpec spec = ca_spec;
    g_autoptr(Cert) fake = NULL;
    g_autoptr(Cert) signer = NULL;
    g_autoptr(Cert) leaf = NULL;
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;

    spec.ca = FALSE;
    fake = cert_new(&spec, NULL);
    leaf = cert_new(&server_spec, fake);
    write_cert(f->dir, VMIG_TLS_CA_CERT_FILE, fake);
    write_cert(f->dir, "server-cert.pem", leaf);
    write_key(f->dir, "server-key.pem", leaf);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_NOT_CA,
                             VMIG_TLS_CA_CERT_FILE);
    assert_says(message, "CA:FALSE");

    spec.ca = TRUE;
    spec.usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
    signer = cert_new(&spec, NULL);
    write_cert(f->dir, VMIG_TLS_CA_CERT_FILE, signer);
    again = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_NOT_CA,
                           VMIG_TLS_CA_CERT_FILE);
    assert_says(again, "signing certificates");
}

/* A server certificate only for TLS clients; it still serves as a client's. */
static void
test_purpose_client_only(Fixture *f, gconstpointer data)
{
    CertSpec spec = server_spec;
    g_autoptr(Cert) wrong = NULL;
    g_autofree char *message = NULL;

    spec.purpose = GNUTLS_KP_TLS_WWW_CLIENT;
    wrong = cert_new(&spec, f->ca);
    write_cert(f->dir, "server-cert.pem", wrong);
    write_key(f->dir, "server-key.pem", wrong);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_PURPOSE,
                             "server-cert.pem");
    assert_says(message, "TLS server authentication");
    write_cert(f->dir, "client-cert.pem", wrong);
    write_key(f->dir, "client-key.pem", wrong);
    assert_loads(f, VMIG_TLS_ROLE_CLIENT);
}

/* A client certificate only for TLS servers. */
static void
test_purpose_server_only(Fixture *f, gconstpointer data)
{
    g_autofree char *message = NULL;

    write_cert(f->dir, "client-cert.pem", f->server);
    write_key(f->dir, "client-key.pem", f->server);
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
        CertSpec spec = server_spec;
        g_autoptr(Cert) both = NULL;

        spec.purpose = purposes[i];
        both = cert_new(&spec, f->ca);
        write_cert(f->dir, "server-cert.pem", both);
        write_key(f->dir, "server-key.pem", both);
        write_cert(f->dir, "client-cert.pem", both);
        write_key(f->dir, "client-key.pem", both);
        assert_loads(f, VMIG_TLS_ROLE_SERVER);
        assert_loads(f, VMIG_TLS_ROLE_CLIENT);
    }
}

/* A key usage without digital signatures; a CA certificate as a server's. */
static void
test_purpose_usage(Fixture *f, gconstpointer data)
{
    CertSpec spec = server_spec;
    g_autoptr(Cert) encipher_only = NULL;
    g_autoptr(Cert) ca_leaf = NULL;
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;

    spec.usage = GNUTLS_KEY_KEY_ENCIPHERMENT;
    encipher_only = cert_new(&spec, f->ca);
    write_cert(f->dir, "server-cert.pem", encipher_only);
    write_key(f->dir, "server-key.pem", encipher_only);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_PURPOSE,
                             "server-cert.pem");
    assert_says(message, "digital signatures");

    spec = server_spec;
    spec.ca = TRUE;
    ca_leaf = cert_new(&spec, f->ca);
    write_cert(f->dir, "server-cert.pem", ca_leaf);
    write_key(f->dir, "server-key.pem", ca_leaf);
    again = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_PURPOSE,
                           "server-cert.pem");
    assert_says(again, "is a CA certificate");
}

/* A leaf and an intermediate CA in server-cert.pem, the root in ca-cert.pem. */
static void
test_chain(Fixture *f, gconstpointer data)
{
    CertSpec spec = ca_spec;
    g_autoptr(Cert) intermediate = NULL;
    g_autoptr(Cert) leaf = NULL;
    g_autoptr(GString) pem = g_string_new(NULL);
    const Cert *order[2];
    g_autofree char *message = NULL;

    spec.cn = "virt-migrate intermediate CA";
    intermediate = cert_new(&spec, f->ca);
    leaf = cert_new(&server_spec, intermediate);
    order[0] = leaf;
    order[1] = intermediate;
    for (gsize i = 0; i < G_N_ELEMENTS(order); i++) {
        gnutls_datum_t one = {NULL, 0};

        g_assert_cmpint(gnutls_x509_crt_export2(order[i]->crt, GNUTLS_X509_FMT_PEM, &one),
                        ==, 0);
        g_string_append_len(pem, (const char *)one.data, one.size);
        gnutls_free(one.data);
    }
    write_file(f->dir, "server-cert.pem", pem->str, (gssize)pem->len);
    write_key(f->dir, "server-key.pem", leaf);
    assert_loads(f, VMIG_TLS_ROLE_SERVER);

    /* Without the intermediate, the leaf leads nowhere. */
    write_cert(f->dir, "server-cert.pem", leaf);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_UNTRUSTED,
                             "server-cert.pem");
}

/* A CRL that lists the server's certificate: it is refused, the client's loads. */
static void
test_crl_revoked(Fixture *f, gconstpointer data)
{
    g_autofree char *crl_path = fixture_path(f, VMIG_TLS_CA_CRL_FILE);
    g_autofree char *message = NULL;

    write_crl(f->dir, f->ca, NULL);
    assert_loads(f, VMIG_TLS_ROLE_SERVER);
    write_crl(f->dir, f->ca, f->server);
    message = assert_refused(f, VMIG_TLS_ROLE_SERVER, VMIG_TLS_ERROR_REVOKED,
                             "server-cert.pem");
    assert_says(message, crl_path);
    assert_loads(f, VMIG_TLS_ROLE_CLIENT);
}

/* A CRL file that is no CRL, or signed by another CA. */
static void
test_crl_bad(Fixture *f, gconstpointer data)
{
    g_autoptr(Cert) other_ca = cert_new(&ca_spec, NULL);
    g_autofree char *message = NULL;
    g_autofree char *again = NULL;

    write_file(f->dir, VMIG_TLS_CA_CRL_FILE, "not a CRL\n", -1);
    message = assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_FORMAT,
                             VMIG_TLS_CA_CRL_FILE);
    assert_says(message, "revocation list");
    write_crl(f->dir, other_ca, f->client);
    again =
        assert_refused(f, VMIG_TLS_ROLE_CLIENT, VMIG_TLS_ERROR_CRL, VMIG_TLS_CA_CRL_FILE);
}

/* The DN in RFC 4514's order, with a special character escaped. */
static void
test_dn_certificate(void)
{
    g_autoptr(Cert) ca = cert_new(&ca_spec, NULL);
    CertSpec spec = server_spec;
    g_autoptr(Cert) odd = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *ca_dn = vmig_tls_certificate_dn(ca->crt, &error);
    g_autofree char *odd_dn = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(ca_dn, ==, "CN=virt-migrate test CA,O=Example,C=GB");
    spec.cn = "a,b+c";
    odd = cert_new(&spec, ca);
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
