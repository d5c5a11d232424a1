/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hypervisor.h: reaching a QEMU through its monitor and reading its tunables
 *
 * A "qmp:/path/to/monitor.sock" DOMAIN names a running QEMU.  (libvirt
 * domains are driver/libvirt.h's; driver/backend.h picks between the two.)
 */
#pragma once

#include <gio/gio.h>

#include "driver/catalog.h"
#include "driver/qmp.h"

#define VMIG_HYPERVISOR_ERROR (vmig_hypervisor_error_quark())
GQuark vmig_hypervisor_error_quark(void);

typedef enum {
    VMIG_HYPERVISOR_ERROR_DOMAIN, /* a DOMAIN string that names nothing we can reach */
    VMIG_HYPERVISOR_ERROR_LAST
} VmigHypervisorErrorCode;

/*
 * vmig_domain_parse_qmp:
 * Returns: the monitor path of a "qmp:PATH" domain (new string), or NULL
 * with DOMAIN in @error naming what is wrong with @domain.
 */
char *vmig_domain_parse_qmp(const char *domain, GError **error);

/*
 * vmig_hypervisor_introspect_async:
 * Connects to @domain's QEMU and builds its catalog: query-qmp-schema,
 * query-migrate-parameters and query-migrate-capabilities, sent together.
 * A QEMU that has not answered within @timeout_ms (a stopped process, a
 * socket that never greets) fails the call.  The callback runs on @context.
 */
void vmig_hypervisor_introspect_async(const char *domain, GMainContext *context,
                                      guint timeout_ms, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);

/* Returns: the catalog, or NULL with @error naming the domain and the cause. */
VmigCatalog *vmig_hypervisor_introspect_finish(GAsyncResult *result, GError **error);

/*
 * vmig_hypervisor_open_async:
 * Like vmig_hypervisor_introspect_async(), but the monitor connection is
 * kept for the caller, who drives the migration through it.
 */
void vmig_hypervisor_open_async(const char *domain, GMainContext *context,
                                guint timeout_ms, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);

/*
 * Returns: the catalog, with the connected client in @qmp_out (the
 * caller's to close and unref), or NULL with @error set.
 */
VmigCatalog *vmig_hypervisor_open_finish(GAsyncResult *result, VmigQmp **qmp_out,
                                         GError **error);
