/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.c: which backend a domain has, and its tunables (the contract
 * is backend.h)
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-backend"

#include "driver/backend.h"

#include "driver/hypervisor.h"
#include "driver/libvirt.h"

const VmigBackend *
vmig_backend_for(const char *domain)
{
    return vmig_libvirt_is_domain(domain) ? &vmig_backend_libvirt : &vmig_backend_qmp;
}

void
vmig_backend_tunables_async(const char *domain, GMainContext *context, guint timeout_ms,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    if (vmig_backend_for(domain) == &vmig_backend_libvirt)
        vmig_libvirt_introspect_async(domain, context, cancellable, callback, user_data);
    else
        vmig_hypervisor_introspect_async(domain, context, timeout_ms, cancellable,
                                         callback, user_data);
}

VmigCatalog *
vmig_backend_tunables_finish(GAsyncResult *result, GError **error)
{
    if (g_task_get_source_tag(G_TASK(result)) == vmig_libvirt_introspect_async)
        return vmig_libvirt_introspect_finish(result, NULL, error);
    return vmig_hypervisor_introspect_finish(result, error);
}
