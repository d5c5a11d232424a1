/*
 * libvirt.h: domains managed by libvirt, behind the hypervisor interface
 *
 * A libvirt DOMAIN is written "libvirt:URI#NAME": a libvirt connection URI
 * (qemu:///system, qemu+unix:///session?socket=...) and a domain name or
 * UUID.  A URI has no '#' of its own, so the first one separates them.
 * The CLI's `-c URI NAME` builds it.
 *
 * libvirt's API is synchronous, so every call runs in a GTask worker
 * thread with its own connection; results come back on the caller's
 * context.  Errors carry libvirt's own message.
 */
#pragma once

#include <gio/gio.h>

#include "driver/catalog.h"

#define VMIG_LIBVIRT_DOMAIN_PREFIX "libvirt:"

#define VMIG_LIBVIRT_ERROR (vmig_libvirt_error_quark())
GQuark vmig_libvirt_error_quark(void);

typedef enum {
    VMIG_LIBVIRT_ERROR_CONNECT,   /* the connection URI fails */
    VMIG_LIBVIRT_ERROR_NO_DOMAIN, /* no such domain */
    VMIG_LIBVIRT_ERROR_INACTIVE,  /* the domain is not running */
    VMIG_LIBVIRT_ERROR_MONITOR,   /* a monitor command failed or answered garbage */
    VMIG_LIBVIRT_ERROR_FAILED,    /* any other libvirt error */
    VMIG_LIBVIRT_ERROR_LAST
} VmigLibvirtErrorCode;

/* Returns: TRUE when @domain names a libvirt domain ("libvirt:..."). */
gboolean vmig_libvirt_is_domain(const char *domain);

/*
 * vmig_libvirt_parse_domain:
 * Splits "libvirt:URI#NAME".
 * Returns: TRUE with *@uri and *@name set (to free), or FALSE with @error
 * (VMIG_HYPERVISOR_ERROR_DOMAIN) naming what is wrong.
 */
gboolean vmig_libvirt_parse_domain(const char *domain, char **uri, char **name,
                                   GError **error);

/* Returns: "libvirt:URI#NAME" (to free). */
char *vmig_libvirt_format_domain(const char *uri, const char *name);

/*
 * vmig_libvirt_introspect_async:
 * Reads the tunables of running libvirt domain @domain through libvirt's
 * QEMU monitor passthrough (virDomainQemuMonitorCommand): query-version,
 * query-qmp-schema, query-migrate-parameters, query-migrate-capabilities.
 * Also keeps the domain's migratable XML.  The callback runs on @context.
 */
void vmig_libvirt_introspect_async(const char *domain, GMainContext *context,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);

/*
 * Returns: the catalog, with the domain's migratable XML in *@xml (to
 * free; may be NULL), or NULL with @error set.
 */
VmigCatalog *vmig_libvirt_introspect_finish(GAsyncResult *result, char **xml, GError **error);
