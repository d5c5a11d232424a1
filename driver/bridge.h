/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge.h: one migration channel forwarded between two sockets
 *
 * A bridge joins two connected stream sockets and forwards bytes in both
 * directions (the main channel carries QEMU's return path back to the
 * source) with splice(2) through a pipe: the bytes never enter user space.
 * Each direction runs in a thread of its own, blocked in splice(); when a
 * direction reaches end of file it shuts down writing on the other socket,
 * so a half-close travels through.  When both directions have ended, or
 * one has failed, @done runs once on the owner's GMainContext.
 */
#pragma once

#include <glib.h>

#define VMIG_BRIDGE_ERROR (vmig_bridge_error_quark())
GQuark vmig_bridge_error_quark(void);

typedef enum {
    VMIG_BRIDGE_ERROR_SETUP,   /* pipe, thread or prefix write failed */
    VMIG_BRIDGE_ERROR_FORWARD, /* splice failed (reset, broken pipe, ...) */
    VMIG_BRIDGE_ERROR_LAST
} VmigBridgeErrorCode;

typedef struct _VmigBridge VmigBridge;

/*
 * Called once on the context given to vmig_bridge_start(): @error is NULL
 * when both directions reached end of file, else says which direction
 * failed and why.  The bridge stays valid until vmig_bridge_free().
 */
typedef void (*VmigBridgeDoneFunc)(VmigBridge *bridge, const GError *error,
                                   gpointer user_data);

/*
 * vmig_bridge_start:
 * @fd_a, @fd_b: connected stream sockets, consumed (set to -1), blocking
 *               mode is set by the bridge
 * @prefix_ab, @prefix_ba: (nullable) bytes already read from a (from b)
 *               that must reach b (a) before anything else
 * @name: for messages and thread names, e.g. "m1/main"
 * @context: where @done runs
 * Returns: the running bridge, or NULL with SETUP in @error (the fds are
 * closed either way).
 */
VmigBridge *vmig_bridge_start(int *fd_a, int *fd_b, GBytes *prefix_ab, GBytes *prefix_ba,
                              const char *name, GMainContext *context,
                              VmigBridgeDoneFunc done, gpointer user_data,
                              GError **error);

/* Returns: bytes forwarded so far from a to b (@a_to_b) or b to a; any thread. */
guint64 vmig_bridge_get_bytes(VmigBridge *bridge, gboolean a_to_b);

/*
 * Stops forwarding if it still runs (both sockets shut down, threads
 * joined; @done is not called after this), closes everything, frees.
 */
void vmig_bridge_free(VmigBridge *bridge);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigBridge, vmig_bridge_free)
