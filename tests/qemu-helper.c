/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qemu-helper.c: start and stop a real QEMU for the test suites
 */
#include <config.h>

#include "tests/qemu-helper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "fdpass/fd.h"

/* How long QEMU gets to open its QMP socket, and to obey SIGTERM. */
#define VMIG_TEST_QEMU_START_MS 10000
#define VMIG_TEST_QEMU_TERM_MS  5000

/* Returns: the QEMU binary to run: $VMIG_TEST_QEMU or qemu-system-x86_64. */
static const char *
vmig_test_qemu_binary(void)
{
    const char *env = g_getenv("VMIG_TEST_QEMU");

    return env && *env ? env : "qemu-system-x86_64";
}

/* Returns: TRUE if the QEMU binary the helper would run can be found. */
gboolean
vmig_test_have_qemu(void)
{
    g_autofree char *path = g_find_program_in_path(vmig_test_qemu_binary());

    return path != NULL;
}

/*
 * Runs in the child between fork and exec: die with the parent, so that a
 * test aborted by a failed assertion leaves no QEMU behind.
 */
static void
vmig_test_qemu_child_setup(gpointer user_data)
{
    pid_t parent = (pid_t)GPOINTER_TO_INT(user_data);

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The parent may have gone before prctl: then go too. */
    if (getppid() != parent)
        _exit(127);
}

/* Remove @path and, if it is a directory, everything under it. */
static void
vmig_test_remove_tree(const char *path)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;
    struct stat st;

    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        dir = g_dir_open(path, 0, NULL);
        while (dir && (name = g_dir_read_name(dir))) {
            g_autofree char *child = g_build_filename(path, name, NULL);

            vmig_test_remove_tree(child);
        }
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

/* Returns: the last lines of QEMU's log (or a note that it is empty). */
static char *
vmig_test_qemu_log_tail(VmigTestQemu *qemu)
{
    g_autofree char *contents = NULL;
    gsize len = 0;

    if (!g_file_get_contents(qemu->log_path, &contents, &len, NULL) || len == 0)
        return g_strdup("(QEMU's log is empty)");
    g_strchomp(contents);
    if (len > 2000)
        return g_strdup_printf("...%s", contents + len - 2000);
    return g_steal_pointer(&contents);
}

char *
vmig_test_qemu_assertion(VmigTestQemu *qemu)
{
    g_autofree char *contents = NULL;
    g_auto(GStrv) lines = NULL;

    if (!qemu || !vmig_test_qemu_wait(qemu, 0))
        return NULL;
    if (!WIFSIGNALED(qemu->exit_status) || WTERMSIG(qemu->exit_status) != SIGABRT)
        return NULL;
    if (!g_file_get_contents(qemu->log_path, &contents, NULL, NULL))
        return NULL;
    lines = g_strsplit(contents, "\n", -1);
    for (char **l = lines; *l; l++)
        if (strstr(*l, "Assertion `"))
            return g_strdup(*l);
    return NULL;
}

gboolean
vmig_test_skip_if_qemu_aborted(VmigTestQemu *qemu, const char *which)
{
    g_autofree char *assertion = vmig_test_qemu_assertion(qemu);
    g_autofree char *message = NULL;

    if (!assertion)
        return FALSE;
    message = g_strdup_printf("the %s QEMU aborted on its own assertion, so where the "
                              "guest runs says nothing of the driver: %s",
                              which, assertion);
    g_test_message("%s", message);
    g_test_skip(message);
    return TRUE;
}

/* Returns: TRUE if something accepts connections on the unix socket @path. */
static gboolean
vmig_test_socket_accepts(const char *path)
{
    g_auto(VmigFd) fd = -1;
    struct sockaddr_un addr;

    if (strlen(path) >= sizeof(addr.sun_path))
        return FALSE;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return FALSE;
    return connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
}

/* Returns: TRUE once reaped (also if it was already), FALSE on timeout. */
gboolean
vmig_test_qemu_wait(VmigTestQemu *qemu, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    g_return_val_if_fail(qemu != NULL, FALSE);

    while (qemu->pid > 0) {
        int status;
        pid_t rc = waitpid(qemu->pid, &status, WNOHANG);

        if (rc == qemu->pid || (rc < 0 && errno == ECHILD)) {
            qemu->exit_status = rc == qemu->pid ? status : -1;
            qemu->pid = 0;
            break;
        }
        if (rc < 0 && errno != EINTR)
            return FALSE;
        if (g_get_monotonic_time() >= deadline)
            return FALSE;
        g_usleep(5000);
    }
    return TRUE;
}

/* Returns: 0, or -errno from kill(). */
int
vmig_test_qemu_kill(VmigTestQemu *qemu, int signum)
{
    g_return_val_if_fail(qemu != NULL, -EINVAL);

    if (qemu->pid <= 0)
        return 0;
    return kill(qemu->pid, signum) < 0 ? -errno : 0;
}

/* Stop QEMU, reap it, remove its directory and free @qemu. */
void
vmig_test_qemu_stop(VmigTestQemu *qemu)
{
    if (!qemu)
        return;

    if (qemu->pid > 0) {
        vmig_test_qemu_kill(qemu, SIGTERM);
        /* A stopped QEMU only handles SIGTERM once continued. */
        vmig_test_qemu_kill(qemu, SIGCONT);
        if (!vmig_test_qemu_wait(qemu, VMIG_TEST_QEMU_TERM_MS)) {
            int status = 0;

            vmig_test_qemu_kill(qemu, SIGKILL);
            while (waitpid(qemu->pid, &status, 0) < 0 && errno == EINTR)
                ;
            qemu->exit_status = status;
            qemu->pid = 0;
        }
    }
    if (qemu->dir)
        vmig_test_remove_tree(qemu->dir);
    g_free(qemu->dir);
    g_free(qemu->qmp_path);
    g_free(qemu->log_path);
    g_free(qemu);
}

/* Returns: @arg with every "@DIR@" replaced by @dir (newly allocated). */
static char *
vmig_test_expand_arg(const char *arg, const char *dir)
{
    g_auto(GStrv) parts = g_strsplit(arg, "@DIR@", -1);

    return g_strjoinv(dir, parts);
}

/* Returns: the running QEMU, or NULL with @error set. */
VmigTestQemu *
vmig_test_qemu_start_full(const char *const *args, GError **error)
{
    g_autoptr(VmigTestQemu) qemu = g_new0(VmigTestQemu, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *qmp_arg = NULL;
    g_auto(VmigFd) log_fd = -1;
    gint64 deadline;
    gsize i;

    qemu->dir = g_dir_make_tmp("vmig-qemu-XXXXXX", error);
    if (!qemu->dir)
        return NULL;
    qemu->qmp_path = g_build_filename(qemu->dir, "qmp.sock", NULL);
    qemu->log_path = g_build_filename(qemu->dir, "qemu.log", NULL);

    log_fd = open(qemu->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        int err = errno;

        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot create QEMU's log '%s': %s", qemu->log_path, g_strerror(err));
        return NULL;
    }

    g_ptr_array_add(argv, g_strdup(vmig_test_qemu_binary()));
    for (i = 0; args && args[i]; i++)
        g_ptr_array_add(argv, vmig_test_expand_arg(args[i], qemu->dir));
    qmp_arg = g_strdup_printf("unix:%s,server=on,wait=off", qemu->qmp_path);
    g_ptr_array_add(argv, g_strdup("-qmp"));
    g_ptr_array_add(argv, g_steal_pointer(&qmp_arg));
    g_ptr_array_add(argv, NULL);

    if (!g_spawn_async_with_fds(qemu->dir, (char **)argv->pdata, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                vmig_test_qemu_child_setup, GINT_TO_POINTER(getpid()),
                                &qemu->pid, -1, log_fd, log_fd, error))
        return NULL;

    deadline = g_get_monotonic_time() + VMIG_TEST_QEMU_START_MS * 1000;
    for (;;) {
        if (vmig_test_qemu_wait(qemu, 0) && qemu->pid == 0) {
            g_autofree char *log = vmig_test_qemu_log_tail(qemu);

            g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                        "QEMU exited (wait status 0x%x) before its QMP socket '%s' "
                        "accepted connections: %s",
                        (guint)qemu->exit_status, qemu->qmp_path, log);
            return NULL;
        }
        if (vmig_test_socket_accepts(qemu->qmp_path))
            break;
        if (g_get_monotonic_time() >= deadline) {
            g_autofree char *log = vmig_test_qemu_log_tail(qemu);

            g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                        "QEMU (pid %d) did not open its QMP socket '%s' within %d ms: %s",
                        (int)qemu->pid, qemu->qmp_path, VMIG_TEST_QEMU_START_MS, log);
            return NULL;
        }
        g_usleep(10000);
    }
    return g_steal_pointer(&qemu);
}

/* Returns: the running QEMU, or NULL with @error set. */
VmigTestQemu *
vmig_test_qemu_start(const char *const *extra_args, GError **error)
{
    static const char *const machine[] = {"-machine", "none", "-nodefaults", "-display",
                                          "none"};
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(machine); i++)
        g_ptr_array_add(args, (gpointer)machine[i]);
    for (i = 0; extra_args && extra_args[i]; i++)
        g_ptr_array_add(args, (gpointer)extra_args[i]);
    g_ptr_array_add(args, NULL);
    return vmig_test_qemu_start_full((const char *const *)args->pdata, error);
}
