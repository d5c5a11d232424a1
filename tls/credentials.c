/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * credentials.c: loading and checking x509 credentials (the contract is
 * credentials.h)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-tls"

#include "tls/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fdpass/fd.h"

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-tls-error-quark, vmig_tls_error)
/* clang-format on */

/*
 * A credentials file is a few kilobytes; a CA bundle a few hundred.  A
 * bigger one is a mistake (a disk image, /dev/zero behind a symlink), not
 * something to read into memory.
 */
#define VMIG_TLS_MAX_FILE_SIZE (4 * 1024 * 1024)

/* Any purpose: RFC 5280's anyExtendedKeyUsage. */
#define VMIG_TLS_KP_ANY "2.5.29.37.0"

struct _VmigTlsCredentials {
    VmigTlsRole role;
    char *dir;
    gnutls_certificate_credentials_t gnutls;
    gnutls_x509_crt_t *chain; /* this host's certificate first */
    unsigned int chain_len;
};

/* What each role loads and what its certificate must be good for. */
typedef struct {
    const char *name;
    const char *cert_file;
    const char *key_file;
    const char *purpose_oid;  /* the extended key usage it needs */
    const char *purpose_name; /* ... in words */
} VmigTlsRoleInfo;

static const VmigTlsRoleInfo vmig_tls_roles[] = {
    [VMIG_TLS_ROLE_SERVER] = {"server", "server-cert.pem", "server-key.pem",
                              GNUTLS_KP_TLS_WWW_SERVER, "TLS server authentication"},
    [VMIG_TLS_ROLE_CLIENT] = {"client", "client-cert.pem", "client-key.pem",
                              GNUTLS_KP_TLS_WWW_CLIENT, "TLS client authentication"},
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_tls_roles) == VMIG_TLS_ROLE_LAST);

/* Certificates read from one file, freed together. */
typedef struct {
    gnutls_x509_crt_t *crts;
    unsigned int n;
} VmigTlsCrtList;

/* CRLs read from one file, freed together. */
typedef struct {
    gnutls_x509_crl_t *crls;
    unsigned int n;
} VmigTlsCrlList;

static void
vmig_tls_crt_list_clear(VmigTlsCrtList *list)
{
    for (unsigned int i = 0; i < list->n; i++)
        gnutls_x509_crt_deinit(list->crts[i]);
    gnutls_free(list->crts);
    list->crts = NULL;
    list->n = 0;
}

static void
vmig_tls_crl_list_clear(VmigTlsCrlList *list)
{
    for (unsigned int i = 0; i < list->n; i++)
        gnutls_x509_crl_deinit(list->crls[i]);
    gnutls_free(list->crls);
    list->crls = NULL;
    list->n = 0;
}

static void
vmig_tls_privkey_clear(gnutls_x509_privkey_t *key)
{
    if (*key) {
        gnutls_x509_privkey_deinit(*key);
        *key = NULL;
    }
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigTlsCrtList, vmig_tls_crt_list_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigTlsCrlList, vmig_tls_crl_list_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(gnutls_x509_privkey_t, vmig_tls_privkey_clear)

const char *
vmig_tls_role_name(VmigTlsRole role)
{
    g_return_val_if_fail(role < VMIG_TLS_ROLE_LAST, NULL);
    return vmig_tls_roles[role].name;
}

const char *
vmig_tls_role_cert_file(VmigTlsRole role)
{
    g_return_val_if_fail(role < VMIG_TLS_ROLE_LAST, NULL);
    return vmig_tls_roles[role].cert_file;
}

const char *
vmig_tls_role_key_file(VmigTlsRole role)
{
    g_return_val_if_fail(role < VMIG_TLS_ROLE_LAST, NULL);
    return vmig_tls_roles[role].key_file;
}

/*
 * Reads all of @path (a regular file) into *@contents (NUL-terminated, to
 * free).  With @optional, a file that is not there is no error: *@contents
 * stays NULL.
 * Return: TRUE, or FALSE with @error set (MISSING, UNREADABLE, FORMAT).
 */
static gboolean
vmig_tls_read_file(const char *path, gboolean optional, GBytes **contents, GError **error)
{
    g_auto(VmigFd) fd = -1;
    g_autofree char *data = NULL;
    struct stat st;
    gsize done = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT && optional)
        return TRUE;
    if (fd < 0 && errno == ENOENT) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_MISSING, "'%s' is missing",
                    path);
        return FALSE;
    }
    if (fd < 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_UNREADABLE,
                    "'%s' cannot be opened: %s", path, g_strerror(errno));
        return FALSE;
    }
    if (fstat(fd, &st) < 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_UNREADABLE,
                    "'%s' cannot be examined: %s", path, g_strerror(errno));
        return FALSE;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_UNREADABLE,
                    "'%s' is not a regular file", path);
        return FALSE;
    }
    if (st.st_size > VMIG_TLS_MAX_FILE_SIZE) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                    "'%s' is %lld bytes long, more than %d for PEM credentials", path,
                    (long long)st.st_size, VMIG_TLS_MAX_FILE_SIZE);
        return FALSE;
    }

    data = g_malloc((gsize)st.st_size + 1);
    while (done < (gsize)st.st_size) {
        ssize_t n = read(fd, data + done, (gsize)st.st_size - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_UNREADABLE,
                        "'%s' cannot be read: %s", path, g_strerror(errno));
            return FALSE;
        }
        if (n == 0)
            break; /* it shrank under us: take what is there */
        done += (gsize)n;
    }
    data[done] = '\0';
    *contents = g_bytes_new_take(g_steal_pointer(&data), done);
    return TRUE;
}

/* Return: @bytes as a GnuTLS datum (borrowed). */
static gnutls_datum_t
vmig_tls_datum(GBytes *bytes)
{
    gsize len = 0;
    gnutls_datum_t datum;

    datum.data = (unsigned char *)g_bytes_get_data(bytes, &len);
    datum.size = (unsigned int)len;
    return datum;
}

/*
 * Reads the PEM certificates in @path into @list; with @sorted, a chain
 * that must go from the leaf up.
 * Return: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_tls_read_certificates(const char *path, gboolean sorted, VmigTlsCrtList *list,
                           GError **error)
{
    g_autoptr(GBytes) contents = NULL;
    gnutls_datum_t datum;
    int ret;

    if (!vmig_tls_read_file(path, FALSE, &contents, error))
        return FALSE;
    datum = vmig_tls_datum(contents);
    ret =
        gnutls_x509_crt_list_import2(&list->crts, &list->n, &datum, GNUTLS_X509_FMT_PEM,
                                     sorted ? GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED : 0);
    if (ret == GNUTLS_E_CERTIFICATE_LIST_UNSORTED) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                    "'%s': its certificates are not a chain from the leaf up to the CA",
                    path);
        return FALSE;
    }
    if (ret < 0) {
        list->crts = NULL;
        list->n = 0;
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                    "'%s' holds no PEM certificate GnuTLS can read (%s)", path,
                    gnutls_strerror(ret));
        return FALSE;
    }
    return TRUE;
}

/*
 * Reads the PEM CRLs in @path, if it is there, into @list.
 * Return: TRUE (@list empty when there is no @path), or FALSE with @error set.
 */
static gboolean
vmig_tls_read_crls(const char *path, VmigTlsCrlList *list, GError **error)
{
    g_autoptr(GBytes) contents = NULL;
    gnutls_datum_t datum;
    int ret;

    if (!vmig_tls_read_file(path, TRUE, &contents, error))
        return FALSE;
    if (!contents)
        return TRUE;
    datum = vmig_tls_datum(contents);
    ret = gnutls_x509_crl_list_import2(&list->crls, &list->n, &datum, GNUTLS_X509_FMT_PEM,
                                       0);
    if (ret < 0) {
        list->crls = NULL;
        list->n = 0;
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                    "'%s' holds no PEM certificate revocation list GnuTLS can read (%s)",
                    path, gnutls_strerror(ret));
        return FALSE;
    }
    return TRUE;
}

/*
 * Reads the PEM private key in @path into *@key.
 * Return: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_tls_read_key(const char *path, gnutls_x509_privkey_t *key, GError **error)
{
    g_autoptr(GBytes) contents = NULL;
    gnutls_datum_t datum;
    int ret;

    if (!vmig_tls_read_file(path, FALSE, &contents, error))
        return FALSE;
    datum = vmig_tls_datum(contents);
    ret = gnutls_x509_privkey_init(key);
    if (ret < 0) {
        *key = NULL;
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_GNUTLS,
                    "'%s': no memory for a private key (%s)", path, gnutls_strerror(ret));
        return FALSE;
    }
    /* No password: a daemon that starts unattended cannot ask for one. */
    ret = gnutls_x509_privkey_import2(*key, &datum, GNUTLS_X509_FMT_PEM, NULL,
                                      GNUTLS_PKCS_PLAIN);
    if (ret < 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_KEY,
                    "'%s' holds no unencrypted PEM private key GnuTLS can read (%s)",
                    path, gnutls_strerror(ret));
        return FALSE;
    }
    return TRUE;
}

/* Return: @t as "2024-05-01 12:00:00 UTC" (to free). */
static char *
vmig_tls_format_time(time_t t)
{
    g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc((gint64)t);

    if (!when)
        return g_strdup_printf("%lld (seconds since 1970)", (long long)t);
    return g_date_time_format(when, "%Y-%m-%d %H:%M:%S UTC");
}

/*
 * Checks that @crt (number @index of @path's) is valid at @now.
 * Return: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_tls_check_times(const char *path, unsigned int index, gnutls_x509_crt_t crt,
                     time_t now, GError **error)
{
    time_t start = gnutls_x509_crt_get_activation_time(crt);
    time_t end = gnutls_x509_crt_get_expiration_time(crt);
    g_autofree char *start_text = NULL;
    g_autofree char *end_text = NULL;
    g_autofree char *now_text = vmig_tls_format_time(now);
    g_autofree char *which =
        index ? g_strdup_printf(" (certificate %u in the file)", index + 1)
              : g_strdup("");

    if (start == (time_t)-1 || end == (time_t)-1) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                    "'%s'%s: its validity dates cannot be read", path, which);
        return FALSE;
    }
    start_text = vmig_tls_format_time(start);
    end_text = vmig_tls_format_time(end);
    if (now > end) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_EXPIRED,
                    "'%s'%s: the certificate expired on %s (valid from %s; now %s)", path,
                    which, end_text, start_text, now_text);
        return FALSE;
    }
    if (now < start) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_NOT_YET_VALID,
                    "'%s'%s: the certificate is not valid before %s (until %s; now %s)",
                    path, which, start_text, end_text, now_text);
        return FALSE;
    }
    return TRUE;
}

/*
 * Checks that every certificate of @cas (read from @path) is a CA that may
 * sign certificates, and valid at @now.
 * Return: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_tls_check_cas(const char *path, const VmigTlsCrtList *cas, time_t now,
                   GError **error)
{
    for (unsigned int i = 0; i < cas->n; i++) {
        unsigned int usage = 0;
        unsigned int critical = 0;
        g_autofree char *which =
            cas->n > 1 ? g_strdup_printf(" (certificate %u in the file)", i + 1)
                       : g_strdup("");
        int ca =
            gnutls_x509_crt_get_basic_constraints(cas->crts[i], &critical, NULL, NULL);
        int ret;

        if (ca == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || ca == 0) {
            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_NOT_CA,
                        "'%s'%s is not a CA certificate (%s)", path, which,
                        ca == 0 ? "its basic constraints say CA:FALSE"
                                : "it has no basic constraints");
            return FALSE;
        }
        if (ca < 0) {
            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                        "'%s'%s: its basic constraints cannot be read (%s)", path, which,
                        gnutls_strerror(ca));
            return FALSE;
        }
        ret = gnutls_x509_crt_get_key_usage(cas->crts[i], &usage, &critical);
        if (ret >= 0 && !(usage & GNUTLS_KEY_KEY_CERT_SIGN)) {
            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_NOT_CA,
                        "'%s'%s: its key usage does not allow signing certificates "
                        "(certificate signing, 'cert_signing_key' to certtool)",
                        path, which);
            return FALSE;
        }
        if (ret < 0 && ret != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                        "'%s'%s: its key usage cannot be read (%s)", path, which,
                        gnutls_strerror(ret));
            return FALSE;
        }
        if (!vmig_tls_check_times(path, i, cas->crts[i], now, error))
            return FALSE;
    }
    return TRUE;
}

/*
 * Checks that the leaf @crt (of @path) may serve @info's role: no CA, key
 * usage (if present) with digital signatures, extended key usage (if
 * present) with the role's purpose or any.
 * Return: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_tls_check_purpose(const char *path, gnutls_x509_crt_t crt,
                       const VmigTlsRoleInfo *info, GError **error)
{
    unsigned int critical = 0;
    unsigned int usage = 0;
    gboolean any_purpose = FALSE;
    gboolean role_purpose = FALSE;
    int ret;

    ret = gnutls_x509_crt_get_basic_constraints(crt, &critical, NULL, NULL);
    if (ret > 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_PURPOSE,
                    "'%s' is a CA certificate, not a %s's", path, info->name);
        return FALSE;
    }

    ret = gnutls_x509_crt_get_key_usage(crt, &usage, &critical);
    if (ret >= 0 && !(usage & GNUTLS_KEY_DIGITAL_SIGNATURE)) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_PURPOSE,
                    "'%s': its key usage does not allow digital signatures, which a "
                    "TLS %s makes ('signing_key' to certtool)",
                    path, info->name);
        return FALSE;
    }
    if (ret < 0 && ret != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                    "'%s': its key usage cannot be read (%s)", path,
                    gnutls_strerror(ret));
        return FALSE;
    }

    for (unsigned int i = 0;; i++) {
        char oid[128];
        size_t size = sizeof(oid);

        ret = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &size, &critical);
        if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
            /* No extended key usage at all: any purpose (RFC 5280, 4.2.1.12). */
            if (i == 0)
                return TRUE;
            break;
        }
        if (ret == GNUTLS_E_SHORT_MEMORY_BUFFER)
            continue; /* an OID that long is neither of the two looked for */
        if (ret < 0) {
            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                        "'%s': its extended key usage cannot be read (%s)", path,
                        gnutls_strerror(ret));
            return FALSE;
        }
        any_purpose |= strcmp(oid, VMIG_TLS_KP_ANY) == 0;
        role_purpose |= strcmp(oid, info->purpose_oid) == 0;
    }
    if (!any_purpose && !role_purpose) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_PURPOSE,
                    "'%s': its extended key usage does not allow %s (%s, "
                    "'tls_www_%s' to certtool)",
                    path, info->purpose_name, info->purpose_oid, info->name);
        return FALSE;
    }
    return TRUE;
}

/*
 * Checks that every CRL of @crls (from @path) is signed by a CA of @cas.
 * Return: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_tls_check_crls(const char *path, const VmigTlsCrlList *crls,
                    const VmigTlsCrtList *cas, const char *ca_path, GError **error)
{
    for (unsigned int i = 0; i < crls->n; i++) {
        unsigned int status = 0;
        int ret = gnutls_x509_crl_verify(crls->crls[i], cas->crts, cas->n, 0, &status);

        if (ret < 0 || status != 0) {
            g_autofree char *which =
                crls->n > 1 ? g_strdup_printf(" (list %u in the file)", i + 1)
                            : g_strdup("");

            g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_CRL,
                        "'%s'%s is not signed by the CA in '%s'", path, which, ca_path);
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * Checks that the chain @chain (from @path) leads to a CA of @cas and is
 * not revoked by @crls.
 * Return: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_tls_check_chain(const char *path, const VmigTlsCrtList *chain,
                     const VmigTlsCrtList *cas, const char *ca_path,
                     const VmigTlsCrlList *crls, const char *crl_path, GError **error)
{
    unsigned int status = 0;
    gnutls_datum_t text = {NULL, 0};
    g_autofree char *why = NULL;
    int ret;

    ret = gnutls_x509_crt_list_verify(chain->crts, chain->n, cas->crts, cas->n,
                                      crls->crls, crls->n, 0, &status);
    if (ret < 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_GNUTLS,
                    "'%s' cannot be checked against '%s' (%s)", path, ca_path,
                    gnutls_strerror(ret));
        return FALSE;
    }
    if (status == 0)
        return TRUE;

    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >=
        0) {
        why = g_strstrip(g_strndup((const char *)text.data, text.size));
        gnutls_free(text.data);
    } else {
        why = g_strdup_printf("status 0x%x", status);
    }
    if (status & GNUTLS_CERT_REVOKED) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_REVOKED,
                    "'%s' is revoked by '%s' (%s)", path, crl_path, why);
        return FALSE;
    }
    /* The dates were checked before: what is left is the signature. */
    g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_UNTRUSTED,
                "'%s' is not signed by the CA in '%s' (%s)", path, ca_path, why);
    return FALSE;
}

/*
 * Checks that @key is the private key of @crt's public key.
 * Return: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_tls_check_key(const char *key_path, gnutls_x509_privkey_t key, const char *crt_path,
                   gnutls_x509_crt_t crt, GError **error)
{
    unsigned char crt_id[64];
    unsigned char key_id[64];
    size_t crt_len = sizeof(crt_id);
    size_t key_len = sizeof(key_id);
    int ret;

    ret = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_len);
    if (ret < 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_FORMAT,
                    "'%s': its public key cannot be read (%s)", crt_path,
                    gnutls_strerror(ret));
        return FALSE;
    }
    ret = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, key_id, &key_len);
    if (ret < 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_KEY,
                    "'%s': its public part cannot be computed (%s)", key_path,
                    gnutls_strerror(ret));
        return FALSE;
    }
    if (crt_len != key_len || memcmp(crt_id, key_id, crt_len) != 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_KEY_MISMATCH,
                    "'%s' is not the private key of the certificate in '%s'", key_path,
                    crt_path);
        return FALSE;
    }
    return TRUE;
}

/*
 * Hands copies of everything to GnuTLS credentials (GnuTLS copies what
 * these functions take).
 * Return: TRUE with @creds->gnutls set, or FALSE with @error set.
 */
static gboolean
vmig_tls_make_gnutls(VmigTlsCredentials *creds, const VmigTlsCrtList *cas,
                     const VmigTlsCrlList *crls, const VmigTlsCrtList *chain,
                     gnutls_x509_privkey_t key, GError **error)
{
    int ret = gnutls_certificate_allocate_credentials(&creds->gnutls);

    if (ret < 0) {
        creds->gnutls = NULL;
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_GNUTLS,
                    "no GnuTLS credentials (%s)", gnutls_strerror(ret));
        return FALSE;
    }
    ret = gnutls_certificate_set_x509_trust(creds->gnutls, cas->crts, (int)cas->n);
    if (ret >= 0 && crls->n > 0)
        ret = gnutls_certificate_set_x509_crl(creds->gnutls, crls->crls, (int)crls->n);
    if (ret >= 0)
        ret = gnutls_certificate_set_x509_key(creds->gnutls, chain->crts, (int)chain->n,
                                              key);
    if (ret < 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_GNUTLS,
                    "GnuTLS refuses the credentials in '%s' (%s)", creds->dir,
                    gnutls_strerror(ret));
        return FALSE;
    }
    return TRUE;
}

VmigTlsCredentials *
vmig_tls_credentials_load(const char *dir, VmigTlsRole role, GError **error)
{
    const VmigTlsRoleInfo *info;
    g_autoptr(VmigTlsCredentials) creds = NULL;
    g_autofree char *ca_path = NULL;
    g_autofree char *crl_path = NULL;
    g_autofree char *cert_path = NULL;
    g_autofree char *key_path = NULL;
    g_auto(VmigTlsCrtList) cas = {NULL, 0};
    g_auto(VmigTlsCrlList) crls = {NULL, 0};
    g_auto(VmigTlsCrtList) chain = {NULL, 0};
    g_auto(gnutls_x509_privkey_t) key = NULL;
    time_t now = time(NULL);

    g_return_val_if_fail(dir != NULL, NULL);
    g_return_val_if_fail(role < VMIG_TLS_ROLE_LAST, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    info = &vmig_tls_roles[role];
    ca_path = g_build_filename(dir, VMIG_TLS_CA_CERT_FILE, NULL);
    crl_path = g_build_filename(dir, VMIG_TLS_CA_CRL_FILE, NULL);
    cert_path = g_build_filename(dir, info->cert_file, NULL);
    key_path = g_build_filename(dir, info->key_file, NULL);

    /* Every file read first: a missing file is the likeliest mistake. */
    if (!vmig_tls_read_certificates(ca_path, FALSE, &cas, error) ||
        !vmig_tls_read_certificates(cert_path, TRUE, &chain, error) ||
        !vmig_tls_read_key(key_path, &key, error) ||
        !vmig_tls_read_crls(crl_path, &crls, error))
        return NULL;

    if (!vmig_tls_check_cas(ca_path, &cas, now, error))
        return NULL;
    for (unsigned int i = 0; i < chain.n; i++) {
        if (!vmig_tls_check_times(cert_path, i, chain.crts[i], now, error))
            return NULL;
    }
    if (!vmig_tls_check_key(key_path, key, cert_path, chain.crts[0], error) ||
        !vmig_tls_check_purpose(cert_path, chain.crts[0], info, error) ||
        !vmig_tls_check_crls(crl_path, &crls, &cas, ca_path, error) ||
        !vmig_tls_check_chain(cert_path, &chain, &cas, ca_path, &crls, crl_path, error))
        return NULL;

    creds = g_new0(VmigTlsCredentials, 1);
    creds->role = role;
    creds->dir = g_strdup(dir);
    if (!vmig_tls_make_gnutls(creds, &cas, &crls, &chain, key, error))
        return NULL;
    creds->chain = g_steal_pointer(&chain.crts);
    creds->chain_len = chain.n;
    chain.n = 0;
    g_debug("%s credentials loaded from '%s'", info->name, dir);
    return g_steal_pointer(&creds);
}

gboolean
vmig_tls_credentials_load_both(const char *dir, VmigTlsCredentials **server,
                               VmigTlsCredentials **client, GError **error)
{
    g_autoptr(VmigTlsCredentials) s = NULL;
    g_autoptr(VmigTlsCredentials) c = NULL;

    g_return_val_if_fail(server != NULL && client != NULL, FALSE);

    s = vmig_tls_credentials_load(dir, VMIG_TLS_ROLE_SERVER, error);
    if (!s)
        return FALSE;
    c = vmig_tls_credentials_load(dir, VMIG_TLS_ROLE_CLIENT, error);
    if (!c)
        return FALSE;
    *server = g_steal_pointer(&s);
    *client = g_steal_pointer(&c);
    return TRUE;
}

void
vmig_tls_credentials_free(VmigTlsCredentials *creds)
{
    if (!creds)
        return;
    if (creds->gnutls)
        gnutls_certificate_free_credentials(creds->gnutls);
    for (unsigned int i = 0; i < creds->chain_len; i++)
        gnutls_x509_crt_deinit(creds->chain[i]);
    gnutls_free(creds->chain);
    g_free(creds->dir);
    g_free(creds);
}

VmigTlsRole
vmig_tls_credentials_get_role(const VmigTlsCredentials *creds)
{
    return creds->role;
}

const char *
vmig_tls_credentials_get_dir(const VmigTlsCredentials *creds)
{
    return creds->dir;
}

gnutls_certificate_credentials_t
vmig_tls_credentials_get_gnutls(const VmigTlsCredentials *creds)
{
    return creds->gnutls;
}

gnutls_x509_crt_t
vmig_tls_credentials_get_certificate(const VmigTlsCredentials *creds)
{
    return creds->chain[0];
}

char *
vmig_tls_certificate_dn(gnutls_x509_crt_t crt, GError **error)
{
    gnutls_datum_t dn = {NULL, 0};
    char *text;
    int ret;

    g_return_val_if_fail(crt != NULL, NULL);

    ret = gnutls_x509_crt_get_dn3(crt, &dn, 0);
    if (ret < 0) {
        g_set_error(error, VMIG_TLS_ERROR, VMIG_TLS_ERROR_GNUTLS,
                    "the certificate's subject cannot be read (%s)",
                    gnutls_strerror(ret));
        return NULL;
    }
    text = g_strndup((const char *)dn.data, dn.size);
    gnutls_free(dn.data);
    return text;
}
