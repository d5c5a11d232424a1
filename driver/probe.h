/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe.h: the tunables of a QEMU binary that is not running yet
 *
 * The destination of a migration has no QEMU for the domain until the
 * migration starts, yet its daemon must know what the emulator the domain
 * XML names can do.  As libvirt probes a binary's capabilities, the probe
 * starts the binary with no machine, asks it over QMP and stops it; the
 * answer is kept per binary, so each binary is started once until it
 * changes.
 *
 *   vmig_probe_emulator_async("/usr/bin/qemu-system-x86_64", context, 10000,
 *                             NULL, on_probed, data);
 *   ... VmigCatalog *catalog = vmig_probe_emulator_finish(result, &error);
 */
#pragma once

#include <gio/gio.h>

#include "driver/catalog.h"

#define VMIG_PROBE_ERROR (vmig_probe_error_quark())
GQuark vmig_probe_error_quark(void);

/* Cancellation is reported as G_IO_ERROR_CANCELLED, not with these codes. */
typedef enum {
    VMIG_PROBE_ERROR_EMULATOR, /* the path is not absolute, missing, not executable */
    VMIG_PROBE_ERROR_START,    /* it could not be started, or exited before answering */
    VMIG_PROBE_ERROR_TIMEOUT,  /* no QMP socket, or no answers, within the time given */
    VMIG_PROBE_ERROR_QUERY,    /* it answered, but not with a catalog */
    VMIG_PROBE_ERROR_LAST
} VmigProbeErrorCode;

/*
 * vmig_probe_emulator_async:
 * Starts @emulator (an absolute path) with -machine none -nodefaults
 * -no-user-config -display none -S and a QMP socket in a private temporary
 * directory (also its working directory, and where its stdout and stderr
 * go), reads its catalog through vmig_hypervisor_introspect_async(), and
 * stops it: SIGKILL to its process group (a wrapper script's children
 * die too), reaped, directory removed.  The callback only runs
 * once all of that is done, also after a failure, a timeout or a
 * cancellation, so no process or zombie outlives the call.
 *
 * The result is cached per binary: the path, size and mtime of
 * stat(@emulator); a later call for the same binary answers from the cache
 * (a copy) without starting anything.  Concurrent probes of one binary
 * each start a process.
 *
 * @timeout_ms bounds the whole probe (start and answers).  Everything runs
 * on @context, where the callback runs too; the caller must keep iterating
 * it until then.  The process dies with the thread that calls this
 * (PR_SET_PDEATHSIG), so call it from a thread that outlives the probe.
 */
void vmig_probe_emulator_async(const char *emulator, GMainContext *context,
                               guint timeout_ms, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);

/* Returns: the catalog (new), or NULL with @error naming the emulator and the cause. */
VmigCatalog *vmig_probe_emulator_finish(GAsyncResult *result, GError **error);

/* Returns: how many emulator processes probes have started (for tests and logs). */
guint vmig_probe_emulator_started(void);
