/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon-helper.c: start and stop virt-migrated for the test suites and the
 * benchmarks
 */
#include <config.h>

#include "tests/daemon-helper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass/fd.h"

/* How long a daemon gets to accept connections, and to obey a signal. */
#define VMIG_TEST_DAEMON_START_MS 30000u
#define VMIG_TEST_PROCESS_STOP_MS 30000u

void
vmig_test_process_child_setup(gpointer data)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != (pid_t)GPOINTER_TO_INT(data))
        _exit(127);
}

/* Returns: an fd appending to @path (created), or -1 with @error set. */
static int
vmig_test_open_log(const char *path, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    if (fd < 0) {
        int err = errno;

        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot open '%s': %s", path, g_strerror(err));
    }
    return fd;
}

gboolean
vmig_test_process_spawn(const char *const *argv, const char *const *envp,
                        const char *out_path, const char *err_path, GPid *pid,
                        GError **error)
{
    g_auto(VmigFd) out_fd = -1;
    g_auto(VmigFd) err_fd = -1;

    out_fd = vmig_test_open_log(out_path, error);
    if (out_fd < 0)
        return FALSE;
    if (!g_str_equal(out_path, err_path)) {
        err_fd = vmig_test_open_log(err_path, error);
        if (err_fd < 0)
            return FALSE;
    }
    /* SEARCH_PATH: for ip(8) and a wrapper given by name. */
    return g_spawn_async_with_pipes_and_fds(
        NULL, argv, envp, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
        vmig_test_process_child_setup, GINT_TO_POINTER(getpid()), -1, out_fd,
        err_fd >= 0 ? err_fd : out_fd, NULL, NULL, 0, pid, NULL, NULL, NULL, error);
}

gboolean
vmig_test_process_wait(GPid pid, guint timeout_ms, int *status)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        pid_t rc = waitpid(pid, status, WNOHANG);

        if (rc == pid)
            return TRUE;
        if (rc < 0 && errno != EINTR) {
            *status = -1;
            return TRUE;
        }
        if (g_get_monotonic_time() >= deadline)
            return FALSE;
        g_usleep(10 * 1000);
    }
}

int
vmig_test_process_stop(GPid pid, int signum)
{
    int status = -1;

    if (signum)
        kill(pid, signum);
    if (vmig_test_process_wait(pid, VMIG_TEST_PROCESS_STOP_MS, &status))
        return status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* Returns: TRUE if something accepts connections on the unix socket @path now. */
static gboolean
vmig_test_socket_accepts(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_auto(VmigFd) fd = -1;

    if (strlen(path) >= sizeof(addr.sun_path))
        return FALSE;
    memcpy(addr.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
}

gboolean
vmig_test_daemon_spawn(VmigTestDaemon *daemon, const char *dir, const char *log,
                       const VmigTestDaemonOptions *options, GError **error)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_autofree char *built = NULL;
    g_autofree char *ulimit = NULL;
    g_auto(GStrv) argv = NULL;

    g_return_val_if_fail(daemon->pid == 0, FALSE);

    vmig_test_daemon_clear(daemon);
    daemon->dir = g_strdup(dir);
    daemon->socket = g_build_filename(dir, "virt-migrated.sock", NULL);
    daemon->log = g_strdup(log);

    /* ip netns exec enters the namespace and execs: the pid stays the daemon's. */
    if (options->netns)
        g_strv_builder_add_many(builder, "ip", "netns", "exec", options->netns, NULL);
    /*
     * A shell sets the limit, not setrlimit() in the child: under valgrind
     * (make check-valgrind) the child runs under valgrind until it execs,
     * and valgrind refuses to change the hard limit.  The shell execs too.
     */
    if (options->fd_limit) {
        ulimit = g_strdup_printf("ulimit -n %u && exec \"$@\"", options->fd_limit);
        g_strv_builder_add_many(builder, "sh", "-c", ulimit, "sh", NULL);
    }
    if (options->wrapper && *options->wrapper) {
        g_auto(GStrv) words = NULL;

        if (!g_shell_parse_argv(options->wrapper, NULL, &words, error)) {
            g_prefix_error(error, "cannot split the wrapper '%s': ", options->wrapper);
            return FALSE;
        }
        g_strv_builder_addv(builder, (const char **)words);
    }
    if (!options->binary)
        built =
            g_test_build_filename(G_TEST_BUILT, "..", "driver", "virt-migrated", NULL);
    g_strv_builder_add_many(builder, options->binary ? options->binary : built,
                            "--runtime-dir", dir, "--bus", "none", NULL);
    if (options->verbose)
        g_strv_builder_add(builder, "--verbose");
    /* Hermetic: the host's configuration file and /etc/pki/qemu never count. */
    g_strv_builder_add(builder, "--config");
    g_strv_builder_add(builder, "/dev/null");
    g_strv_builder_add(builder, "--tls-x509-dir");
    g_strv_builder_add(builder, options->tls_dir ? options->tls_dir : "");
    if (!options->tls_dir && !options->tls_strict)
        g_strv_builder_add(builder, "--plaintext-tcp");
    if (options->extra)
        g_strv_builder_addv(builder, (const char **)options->extra);
    argv = g_strv_builder_end(builder);
    return vmig_test_process_spawn((const char *const *)argv, NULL, log, log,
                                   &daemon->pid, error);
}

gboolean
vmig_test_daemon_start(VmigTestDaemon *daemon, const char *dir, const char *log,
                       const VmigTestDaemonOptions *options, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + VMIG_TEST_DAEMON_START_MS * 1000;

    if (!vmig_test_daemon_spawn(daemon, dir, log, options, error))
        return FALSE;
    for (;;) {
        int status = 0;

        if (vmig_test_process_wait(daemon->pid, 0, &status)) {
            g_autofree char *tail = vmig_test_daemon_log_tail(daemon);

            daemon->pid = 0;
            g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                        "virt-migrated exited (wait status 0x%x) before its control "
                        "socket '%s' accepted connections: %s",
                        (guint)status, daemon->socket, tail);
            return FALSE;
        }
        if (vmig_test_socket_accepts(daemon->socket))
            return TRUE;
        if (g_get_monotonic_time() >= deadline) {
            g_autofree char *tail = vmig_test_daemon_log_tail(daemon);

            g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                        "virt-migrated (pid %d) did not accept connections on '%s' "
                        "within %u s: %s",
                        (int)daemon->pid, daemon->socket,
                        VMIG_TEST_DAEMON_START_MS / 1000, tail);
            return FALSE;
        }
        g_usleep(10 * 1000);
    }
}

int
vmig_test_daemon_stop(VmigTestDaemon *daemon, int signum)
{
    int status;

    if (daemon->pid <= 0)
        return -1;
    status = vmig_test_process_stop(daemon->pid, signum);
    daemon->pid = 0;
    return status;
}

void
vmig_test_daemon_clear(VmigTestDaemon *daemon)
{
    vmig_test_daemon_stop(daemon, SIGTERM);
    g_clear_pointer(&daemon->dir, g_free);
    g_clear_pointer(&daemon->socket, g_free);
    g_clear_pointer(&daemon->log, g_free);
}

char *
vmig_test_daemon_log_tail(const VmigTestDaemon *daemon)
{
    g_autofree char *contents = NULL;
    gsize len = 0;

    if (!g_file_get_contents(daemon->log, &contents, &len, NULL) || len == 0)
        return g_strdup("(its log is empty)");
    g_strchomp(contents);
    len = strlen(contents);
    if (len > 2000)
        return g_strdup_printf("...%s", contents + len - 2000);
    return g_steal_pointer(&contents);
}
