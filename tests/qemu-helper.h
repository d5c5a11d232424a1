/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qemu-helper.h: start and stop a real QEMU for the test suites
 *
 * Each QEMU gets a fresh temporary directory holding its QMP socket
 * (DIR/qmp.sock) and its stderr (DIR/qemu.log).  It is started with
 * PR_SET_PDEATHSIG, so it dies with the test process even when an assertion
 * aborts before any teardown runs, and it is stopped and reaped by pid.
 *
 *   if (!vmig_test_have_qemu()) {
 *       g_test_skip("qemu-system-x86_64 is not installed");
 *       return;
 *   }
 *   g_autoptr(VmigTestQemu) qemu = vmig_test_qemu_start(NULL, &error);
 *   ... connect to qemu->qmp_path ...
 *
 * The binary is qemu-system-x86_64 from PATH, or $VMIG_TEST_QEMU.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct {
    GPid pid;        /* the QEMU process; 0 once reaped */
    char *dir;       /* the temporary directory (removed by stop) */
    char *qmp_path;  /* DIR/qmp.sock, accepting connections once started */
    char *log_path;  /* DIR/qemu.log: QEMU's stdout and stderr */
    int exit_status; /* the wait status once reaped (see vmig_test_qemu_wait) */
} VmigTestQemu;

/* Returns: TRUE if the QEMU binary the helper would run can be found. */
gboolean vmig_test_have_qemu(void);

/*
 * Starts QEMU with "-machine none -nodefaults -display none", then
 * @extra_args (NULL-terminated, nullable), then the QMP socket option, and
 * waits (at most 10 s) until the QMP socket accepts connections.
 * Returns: the running QEMU, or NULL with @error set (its log quoted).
 */
VmigTestQemu *vmig_test_qemu_start(const char *const *extra_args, GError **error);

/*
 * Like vmig_test_qemu_start() but @args (NULL-terminated, nullable) replace
 * every argument after the binary except the QMP socket option, which is
 * always added.  In each argument "@DIR@" is replaced by the temporary
 * directory, e.g. "-incoming", "unix:@DIR@/migrate.sock".
 * Returns: the running QEMU, or NULL with @error set.
 */
VmigTestQemu *vmig_test_qemu_start_full(const char *const *args, GError **error);

/* Sends @signum to QEMU (no-op once reaped).  Returns: 0, or -errno from kill(). */
int vmig_test_qemu_kill(VmigTestQemu *qemu, int signum);

/*
 * Waits at most @timeout_ms for QEMU to exit and reaps it; the wait status
 * goes to qemu->exit_status.
 * Returns: TRUE once reaped (also if it was already), FALSE on timeout.
 */
gboolean vmig_test_qemu_wait(VmigTestQemu *qemu, guint timeout_ms);

/*
 * Returns: (to free) the line of QEMU's own assertion failure that ended
 * @qemu (it is reaped here if it has exited: SIGABRT, and its log holds
 * "Assertion `"), or NULL when it runs or ended any other way.
 */
char *vmig_test_qemu_assertion(VmigTestQemu *qemu);

/*
 * A fault test cannot judge the driver once QEMU itself aborted: QEMU 7.2
 * sometimes fails its own assertion while it cleans up a multifd
 * migration whose channels broke (util/yank.c: "yank_unregister_instance:
 * Assertion `QLIST_EMPTY(&entry->yankfns)' failed"), a QEMU bug that no
 * driver can prevent when the connection or the peer dies.  If @qemu
 * ended so, marks the test skipped, naming the assertion.
 * Returns: whether it did (the test then returns).
 */
gboolean vmig_test_skip_if_qemu_aborted(VmigTestQemu *qemu, const char *which);

/*
 * Stops QEMU (SIGTERM, then SIGKILL after 5 s), reaps it by pid, removes
 * the directory and frees @qemu.  NULL is ignored.
 */
void vmig_test_qemu_stop(VmigTestQemu *qemu);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigTestQemu, vmig_test_qemu_stop)
