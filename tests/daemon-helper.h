/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon-helper.h: start and stop virt-migrated for the test suites and the
 * benchmarks
 *
 * A daemon runs as
 *
 *   [ip netns exec NETNS] [sh -c 'ulimit -n FD_LIMIT && exec "$@"' sh]
 *       [WRAPPER...] BINARY --runtime-dir DIR --bus none [--verbose]
 *       --tls-x509-dir TLS_DIR|"" [--plaintext-tcp] [EXTRA...]
 *
 * with its stdout and stderr appended to its log file.  Like every process
 * started here it gets SIGKILL when the process that started it dies
 * (PR_SET_PDEATHSIG), so that a failed assertion, which aborts before any
 * teardown, leaves nothing behind; and it is stopped and reaped by pid.
 * Every wait is bounded, generously enough for a daemon under valgrind.
 *
 *   VmigTestDaemonOptions options = {.verbose = TRUE};
 *   VmigTestDaemon daemon = {0};
 *
 *   if (!vmig_test_daemon_start(&daemon, dir, log, &options, &error))
 *       ... error->message quotes the end of the daemon's log ...
 *   ... connect to daemon.socket ...
 *   status = vmig_test_daemon_stop(&daemon, SIGTERM);
 *   vmig_test_daemon_clear(&daemon);
 */
#pragma once

#include <glib.h>

typedef struct {
    GPid pid;     /* 0 when not running (reaped) */
    char *dir;    /* its --runtime-dir */
    char *socket; /* DIR/virt-migrated.sock, its control socket */
    char *log;    /* its stdout and stderr */
} VmigTestDaemon;

typedef struct {
    const char *binary;       /* NULL: the built driver/virt-migrated (G_TEST_BUILT) */
    const char *const *extra; /* more options, NULL-terminated; nullable */
    gboolean verbose;         /* add --verbose */
    guint fd_limit;           /* RLIMIT_NOFILE, soft and hard; 0: inherited */
    const char *netns;        /* run in this network namespace; NULL: in ours */
    const char *wrapper;      /* a command line to run it under (shell-split); nullable */
    const char *tls_dir;      /* --tls-x509-dir; NULL: "" (no TLS) and --plaintext-tcp */
    gboolean tls_strict;      /* with tls_dir NULL: no --plaintext-tcp either */
} VmigTestDaemonOptions;

/*
 * A GSpawnChildSetupFunc: the child gets SIGKILL when its parent dies.
 * @data is GINT_TO_POINTER(getpid()) of the parent, so that a parent gone
 * before the prctl is noticed too (the child then exits 127).
 */
void vmig_test_process_child_setup(gpointer data);

/*
 * Spawns @argv (searched in PATH) with @envp (NULL: ours), stdout and
 * stderr appended to the files @out_path and @err_path (the same file when
 * equal), dying with us.
 * Returns: TRUE with the pid in *@pid (to reap), or FALSE with @error set.
 */
gboolean vmig_test_process_spawn(const char *const *argv, const char *const *envp,
                                 const char *out_path, const char *err_path, GPid *pid,
                                 GError **error);

/*
 * Waits at most @timeout_ms for @pid to exit and reaps it.
 * Returns: TRUE with its wait status in *@status (-1 if @pid was no child
 * of ours), or FALSE if it still runs at the deadline.
 */
gboolean vmig_test_process_wait(GPid pid, guint timeout_ms, int *status);

/*
 * Sends @signum (0: none, it is ending anyway) to @pid, waits for it at
 * most 30 s, then kills it, and reaps it.
 * Returns: its wait status (-1 if it was no child of ours).
 */
int vmig_test_process_stop(GPid pid, int signum);

/*
 * Spawns the daemon with @options in the runtime directory @dir, logging to
 * @log; @daemon (not running) takes the paths.
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_test_daemon_spawn(VmigTestDaemon *daemon, const char *dir, const char *log,
                                const VmigTestDaemonOptions *options, GError **error);

/*
 * vmig_test_daemon_spawn(), then waits (at most 30 s) until its control
 * socket accepts connections.  A daemon that does not get there is left to
 * vmig_test_daemon_clear().
 * Returns: TRUE, or FALSE with @error set, quoting the end of its log.
 */
gboolean vmig_test_daemon_start(VmigTestDaemon *daemon, const char *dir, const char *log,
                                const VmigTestDaemonOptions *options, GError **error);

/*
 * Stops @daemon as vmig_test_process_stop() does; it is not running after.
 * Returns: its wait status, or -1 if it was not running.
 */
int vmig_test_daemon_stop(VmigTestDaemon *daemon, int signum);

/* Stops @daemon with SIGTERM if it still runs, and frees its paths. */
void vmig_test_daemon_clear(VmigTestDaemon *daemon);

/* Returns: the last 2000 bytes of @daemon's log, or a note that it is empty (to free). */
char *vmig_test_daemon_log_tail(const VmigTestDaemon *daemon);
