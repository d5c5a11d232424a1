/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe.c: start a QEMU binary, read its tunables, stop it; cached per binary
 *
 * One probe is a small state machine on the caller's context:
 *
 *   spawn -> try the QMP socket (a non-blocking connect every 10 ms)
 *         -> vmig_hypervisor_introspect_async() -> SIGKILL -> reaped -> return
 *
 * Three more sources can decide the outcome first: the child watch (the
 * process exited on its own), the timeout and the caller's cancellable.
 * Whatever decides it, the task only returns once the child watch has
 * reaped the process and the introspection, if one was started, has come
 * back, so no QEMU, zombie, directory or monitor connection outlives a
 * probe.  Each source holds a reference on the task: a context destroyed
 * under a running probe frees it, and probe_free() then stops the process
 * itself.
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-probe"

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

#include "driver/hypervisor.h"
#include "driver/probe.h"
#include "fdpass/fd.h"

/* clang-format off */
G_DEFINE_QUARK(vmig-probe-error-quark, vmig_probe_error)
/* clang-format on */

/* How often the QMP socket is tried while the emulator starts. */
#define PROBE_POLL_MS 10
/*
 * How long a failed introspection waits for the emulator's exit, whose
 * status and output say more than "connection refused" or "closed".
 */
#define PROBE_EXIT_GRACE_MS 500
/* How much of the emulator's output an error quotes, in bytes. */
#define PROBE_LOG_TAIL 1000

static guint probes_started; /* atomic */

/* Returns: how many emulator processes probes have started so far. */
guint
vmig_probe_emulator_started(void)
{
    return (guint)g_atomic_int_get(&probes_started);
}

/* ---- the cache ------------------------------------------------------------- */

/*
 * Keyed by path, holding the size and mtime the catalog was read for: a
 * binary that changes replaces its entry, so the cache holds at most one
 * catalog per emulator path the daemon was ever asked about.  Probes may
 * run on several contexts in several threads, hence the lock.
 */
typedef struct {
    goffset size;
    struct timespec mtime;
    VmigCatalog *catalog;
} CacheEntry;

static GMutex cache_lock;
static GHashTable *cache; /* emulator path -> CacheEntry * */

static void
cache_entry_free(CacheEntry *entry)
{
    vmig_catalog_free(entry->catalog);
    g_free(entry);
}

/* Returns: a copy of the catalog cached for @path as @st describes it, or NULL. */
static VmigCatalog *
cache_lookup(const char *path, const struct stat *st)
{
    VmigCatalog *copy = NULL;
    CacheEntry *entry;

    g_mutex_lock(&cache_lock);
    entry = cache ? g_hash_table_lookup(cache, path) : NULL;
    if (entry && entry->size == st->st_size &&
        entry->mtime.tv_sec == st->st_mtim.tv_sec &&
        entry->mtime.tv_nsec == st->st_mtim.tv_nsec)
        copy = vmig_catalog_copy(entry->catalog);
    g_mutex_unlock(&cache_lock);
    return copy;
}

/* Keeps a copy of @catalog for @path as @st describes it. */
static void
cache_store(const char *path, const struct stat *st, const VmigCatalog *catalog)
{
    CacheEntry *entry = g_new0(CacheEntry, 1);

    entry->size = st->st_size;
    entry->mtime = st->st_mtim;
    entry->catalog = vmig_catalog_copy(catalog);
    g_mutex_lock(&cache_lock);
    if (!cache)
        cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify)cache_entry_free);
    g_hash_table_replace(cache, g_strdup(path), entry);
    g_mutex_unlock(&cache_lock);
}

/* ---- helpers ------------------------------------------------------------------ */

/* Destroys and drops the source in *@sourcep, if any. */
static void
source_clear(GSource **sourcep)
{
    GSource *source = g_steal_pointer(sourcep);

    if (source) {
        g_source_destroy(source);
        g_source_unref(source);
    }
}

/* Removes @path and everything under it, not following symlinks. */
static void
remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
            g_autofree char *child = g_build_filename(path, name, NULL);

            remove_tree(child);
        }
        if (g_rmdir(path) < 0)
            g_debug("cannot remove '%s': %s", path, g_strerror(errno));
    } else if (g_unlink(path) < 0) {
        g_debug("cannot remove '%s': %s", path, g_strerror(errno));
    }
}

/* Returns: 0 when something accepts connections on the unix socket @path, else -errno. */
static int
socket_try_connect(const char *path)
{
    g_auto(VmigFd) fd = -1;
    struct sockaddr_un addr;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return -errno;
    return 0;
}

/* Returns: what wait status @status says, as the subject of a sentence (new string). */
static char *
describe_status(int status)
{
    if (WIFEXITED(status))
        return g_strdup_printf("it exited with status %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return g_strdup_printf("it was killed by signal %d (%s)", WTERMSIG(status),
                               g_strsignal(WTERMSIG(status)));
    return g_strdup_printf("it ended with wait status 0x%x", (guint)status);
}

/*
 * Returns: "its output ends: '...'" quoting the last lines of the log at
 * @path, or a note that it is empty (new string).
 */
static char *
describe_log(const char *path)
{
    g_autofree char *contents = NULL;
    g_autofree char *text = NULL;
    const char *start;
    gsize len = 0;

    if (!g_file_get_contents(path, &contents, &len, NULL))
        return g_strdup("its output is lost");
    start = contents;
    if (len > PROBE_LOG_TAIL) {
        /* Whole lines read better than a cut one. */
        const char *tail = contents + len - PROBE_LOG_TAIL;
        const char *newline = memchr(tail, '\n', PROBE_LOG_TAIL);

        start = newline && newline[1] ? newline + 1 : tail;
    }
    text = g_utf8_make_valid(start, -1);
    g_strstrip(text);
    if (!*text)
        return g_strdup("it printed nothing");
    return g_strdup_printf("its output %s: '%s'", start == contents ? "was" : "ends",
                           text);
}

/* ---- one probe ------------------------------------------------------------------ */

typedef struct {
    char *emulator;
    struct stat st; /* the binary when the probe started: the cache key */
    GMainContext *context;
    guint timeout_ms;
    gint64 started_us;

    char *dir; /* private: the emulator's cwd, socket and log */
    char *socket_path;
    char *log_path;

    GPid pid; /* the emulator; 0 before spawning and once reaped */
    GSource *child_watch;
    GSource *poll; /* trying the QMP socket */
    GSource *timeout;
    GSource *cancel; /* the caller's cancellable, seen on @context */
    GSource *grace;  /* introspection failed: waiting for an exit to explain it */
    GError *failed;  /* why it failed, if no exit comes */
    GCancellable *introspect_cancellable;
    gboolean answering; /* the QMP socket accepted: it is being asked */
    gboolean introspecting;

    gboolean done;        /* the outcome is known: what is left is cleaning up */
    VmigCatalog *catalog; /* the outcome: a catalog, */
    GError *error;        /* or an error */
} Probe;

/*
 * SIGKILLs the emulator's process group: a wrapper script that does not
 * exec QEMU dies with its QEMU.  Only while the leader is not reaped, so
 * that its pid cannot belong to anyone else yet.
 */
static void
probe_kill(const Probe *probe)
{
    g_assert(probe->pid > 0);
    if (kill(-probe->pid, SIGKILL) < 0 && kill(probe->pid, SIGKILL) < 0)
        g_debug("emulator '%s': cannot kill pid %d: %s", probe->emulator, (int)probe->pid,
                g_strerror(errno));
}

static void
probe_free(Probe *probe)
{
    source_clear(&probe->child_watch);
    source_clear(&probe->poll);
    source_clear(&probe->timeout);
    source_clear(&probe->cancel);
    source_clear(&probe->grace);
    if (probe->pid > 0) {
        int status;

        /* Only when the context was destroyed under a running probe: no
         * child watch will reap the process now.  SIGKILL cannot be
         * caught, so this wait is short. */
        probe_kill(probe);
        while (waitpid(probe->pid, &status, 0) < 0 && errno == EINTR)
            ;
        g_spawn_close_pid(probe->pid);
    }
    if (probe->dir)
        remove_tree(probe->dir);
    g_clear_object(&probe->introspect_cancellable);
    g_clear_pointer(&probe->context, g_main_context_unref);
    g_clear_pointer(&probe->catalog, vmig_catalog_free);
    g_clear_error(&probe->error);
    g_clear_error(&probe->failed);
    g_free(probe->emulator);
    g_free(probe->dir);
    g_free(probe->socket_path);
    g_free(probe->log_path);
    g_free(probe);
}

/* Returns: a new error: "emulator '...' cannot be probed: " and @format's message. */
static GError *probe_error_new(const Probe *probe, VmigProbeErrorCode code,
                               const char *format, ...) G_GNUC_PRINTF(3, 4);

static GError *
probe_error_new(const Probe *probe, VmigProbeErrorCode code, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    return g_error_new(VMIG_PROBE_ERROR, code, "emulator '%s' cannot be probed: %s",
                       probe->emulator, message);
}

/*
 * Completes the task once its outcome is known and nothing of the probe
 * runs any more: process reaped, introspection back.
 */
static void
probe_maybe_complete(GTask *task)
{
    Probe *probe = g_task_get_task_data(task);

    if (!probe->done || probe->pid > 0 || probe->introspecting)
        return;
    if (probe->dir) {
        remove_tree(probe->dir);
        g_clear_pointer(&probe->dir, g_free);
    }
    g_debug("emulator '%s': probe %s in %.1f ms", probe->emulator,
            probe->catalog ? "done" : "failed",
            (g_get_monotonic_time() - probe->started_us) / 1000.0);
    if (probe->catalog)
        g_task_return_pointer(task, g_steal_pointer(&probe->catalog),
                              (GDestroyNotify)vmig_catalog_free);
    else
        g_task_return_error(task, g_steal_pointer(&probe->error));
}

/*
 * Records the outcome, @catalog or @error (both consumed), unless one is
 * already known, and stops whatever still runs.
 */
static void
probe_end(GTask *task, VmigCatalog *catalog, GError *error)
{
    Probe *probe = g_task_get_task_data(task);

    if (probe->done) {
        g_clear_pointer(&catalog, vmig_catalog_free);
        g_clear_error(&error);
        probe_maybe_complete(task);
        return;
    }
    probe->done = TRUE;
    probe->catalog = catalog;
    probe->error = error;
    source_clear(&probe->poll);
    source_clear(&probe->timeout);
    source_clear(&probe->cancel);
    source_clear(&probe->grace);
    if (probe->introspecting)
        g_cancellable_cancel(probe->introspect_cancellable);
    /* The child watch reaps it; a zombie not reaped yet takes the signal harmlessly. */
    if (probe->pid > 0)
        probe_kill(probe);
    probe_maybe_complete(task);
}

static void
on_child_exit(GPid pid, gint status, gpointer user_data)
{
    GTask *task = user_data;
    Probe *probe = g_task_get_task_data(task);

    g_spawn_close_pid(pid);
    probe->pid = 0;
    source_clear(&probe->child_watch);
    g_debug("emulator '%s': pid %d reaped (wait status 0x%x)", probe->emulator, (int)pid,
            (guint)status);
    if (!probe->done) {
        g_autofree char *how = describe_status(status);
        g_autofree char *log = describe_log(probe->log_path);

        probe_end(task, NULL,
                  probe_error_new(probe, VMIG_PROBE_ERROR_START, "%s %s; %s", how,
                                  probe->answering
                                      ? "while answering over QMP"
                                      : "before its QMP socket accepted connections",
                                  log));
        return;
    }
    probe_maybe_complete(task);
}

static gboolean
on_grace_over(gpointer user_data)
{
    GTask *task = user_data;
    Probe *probe = g_task_get_task_data(task);

    probe_end(
        task, NULL,
        probe_error_new(probe, VMIG_PROBE_ERROR_QUERY, "%s", probe->failed->message));
    return G_SOURCE_REMOVE;
}

/* Attaches @source to the probe's context; @func gets a task ref.  Returns: @source. */
static GSource *
probe_attach(GTask *task, GSource *source, GSourceFunc func)
{
    Probe *probe = g_task_get_task_data(task);

    g_source_set_callback(source, func, g_object_ref(task), g_object_unref);
    g_source_attach(source, probe->context);
    return source;
}

static void
on_introspected(GObject *source G_GNUC_UNUSED, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Probe *probe = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    VmigCatalog *catalog = vmig_hypervisor_introspect_finish(result, &error);

    probe->introspecting = FALSE;
    if (!catalog && !probe->done && probe->pid > 0) {
        /* A monitor that refuses or closes is most likely an emulator that
         * exits (its socket may have accepted just before): let
         * on_child_exit() tell how, with its output. */
        probe->failed = g_steal_pointer(&error);
        probe->grace =
            probe_attach(task, g_timeout_source_new(PROBE_EXIT_GRACE_MS), on_grace_over);
        return;
    }
    if (!catalog) {
        probe_end(task, NULL,
                  probe_error_new(probe, VMIG_PROBE_ERROR_QUERY, "%s", error->message));
        return;
    }
    g_debug("emulator '%s': %u tunables after %.1f ms", probe->emulator,
            catalog->tunables->len,
            (g_get_monotonic_time() - probe->started_us) / 1000.0);
    cache_store(probe->emulator, &probe->st, catalog);
    probe_end(task, catalog, NULL);
}

static gboolean
on_poll(gpointer user_data)
{
    GTask *task = user_data;
    Probe *probe = g_task_get_task_data(task);
    g_autofree char *domain = NULL;
    int rc = socket_try_connect(probe->socket_path);

    /* Not there yet, bound but not listening yet, or busy: try again. */
    if (rc == -ENOENT || rc == -ECONNREFUSED || rc == -EAGAIN || rc == -EINTR)
        return G_SOURCE_CONTINUE;
    if (rc < 0) {
        probe_end(task, NULL,
                  probe_error_new(probe, VMIG_PROBE_ERROR_START,
                                  "its QMP socket '%s' cannot be reached: %s",
                                  probe->socket_path, g_strerror(-rc)));
        return G_SOURCE_REMOVE;
    }
    source_clear(&probe->poll);
    g_debug("emulator '%s': QMP socket accepts after %.1f ms", probe->emulator,
            (g_get_monotonic_time() - probe->started_us) / 1000.0);

    probe->answering = TRUE;
    probe->introspecting = TRUE;
    domain = g_strconcat("qmp:", probe->socket_path, NULL);
    /* Our own timeout started first with the same length, so it is the one
     * that fires; the introspection's is only a backstop. */
    vmig_hypervisor_introspect_async(domain, probe->context, probe->timeout_ms,
                                     probe->introspect_cancellable, on_introspected,
                                     g_object_ref(task));
    return G_SOURCE_REMOVE;
}

static gboolean
on_timeout(gpointer user_data)
{
    GTask *task = user_data;
    Probe *probe = g_task_get_task_data(task);

    probe_end(task, NULL,
              probe_error_new(probe, VMIG_PROBE_ERROR_TIMEOUT, "%s within %u ms (pid %d)",
                              probe->answering
                                  ? "it did not answer over QMP"
                                  : "its QMP socket did not accept connections",
                              probe->timeout_ms, (int)probe->pid));
    return G_SOURCE_REMOVE;
}

static gboolean
on_cancelled(GCancellable *cancellable, gpointer user_data)
{
    GTask *task = user_data;
    Probe *probe = g_task_get_task_data(task);
    GError *error = NULL;

    g_cancellable_set_error_if_cancelled(cancellable, &error);
    g_prefix_error(&error, "emulator '%s' cannot be probed: ", probe->emulator);
    probe_end(task, NULL, error);
    return G_SOURCE_REMOVE;
}

/* Returns: TRUE when the emulator looks runnable (probe->st set), else FALSE, @error. */
static gboolean
probe_check_emulator(Probe *probe, GError **error)
{
    if (!g_path_is_absolute(probe->emulator)) {
        g_propagate_error(error, probe_error_new(probe, VMIG_PROBE_ERROR_EMULATOR,
                                                 "the path is not absolute"));
        return FALSE;
    }
    if (stat(probe->emulator, &probe->st) < 0) {
        int err = errno;

        g_propagate_error(error, probe_error_new(probe, VMIG_PROBE_ERROR_EMULATOR, "%s",
                                                 g_strerror(err)));
        return FALSE;
    }
    if (!S_ISREG(probe->st.st_mode)) {
        g_propagate_error(error, probe_error_new(probe, VMIG_PROBE_ERROR_EMULATOR,
                                                 "it is not a regular file"));
        return FALSE;
    }
    if (access(probe->emulator, X_OK) < 0) {
        int err = errno;

        g_propagate_error(error,
                          probe_error_new(probe, VMIG_PROBE_ERROR_EMULATOR,
                                          "it is not executable (%s)", g_strerror(err)));
        return FALSE;
    }
    return TRUE;
}

/*
 * Runs in the child between fork and exec, so only async-signal-safe
 * calls: a process group of its own, for probe_kill(); die with the parent
 * (a crashed daemon leaves no QEMU behind), and go at once if the parent
 * went before prctl took effect.
 */
static void
probe_child_setup(gpointer user_data)
{
    pid_t parent = (pid_t)GPOINTER_TO_INT(user_data);

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
}

/* Returns: TRUE with the emulator running in its directory, or FALSE with @error. */
static gboolean
probe_spawn(Probe *probe, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *qmp_arg = NULL;
    g_auto(GStrv) parts = NULL;
    g_auto(VmigFd) log_fd = -1;
    struct sockaddr_un addr;

    tmp = g_dir_make_tmp("vmig-probe-XXXXXX", &local);
    if (!tmp) {
        g_propagate_error(
            error, probe_error_new(probe, VMIG_PROBE_ERROR_START, "%s", local->message));
        return FALSE;
    }
    /* The emulator runs in it: a relative $TMPDIR would mean something else there. */
    probe->dir = g_canonicalize_filename(tmp, NULL);
    probe->socket_path = g_build_filename(probe->dir, "qmp.sock", NULL);
    probe->log_path = g_build_filename(probe->dir, "emulator.log", NULL);
    if (strlen(probe->socket_path) >= sizeof(addr.sun_path)) {
        g_propagate_error(error,
                          probe_error_new(probe, VMIG_PROBE_ERROR_START,
                                          "the socket path '%s' is longer than %zu "
                                          "bytes (set TMPDIR)",
                                          probe->socket_path, sizeof(addr.sun_path) - 1));
        return FALSE;
    }

    log_fd = open(probe->log_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        int err = errno;

        g_propagate_error(error, probe_error_new(probe, VMIG_PROBE_ERROR_START,
                                                 "cannot create '%s': %s",
                                                 probe->log_path, g_strerror(err)));
        return FALSE;
    }

    /* QEMU's option syntax: a ',' in a value is written ',,'. */
    parts = g_strsplit(probe->socket_path, ",", -1);
    {
        g_autofree char *escaped = g_strjoinv(",,", parts);

        qmp_arg = g_strdup_printf("unix:%s,server=on,wait=off", escaped);
    }
    {
        /* -no-user-config: a host's /etc/qemu must not change what a binary reports. */
        const char *argv[] = {
            probe->emulator,
            "-machine",
            "none",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-S",
            "-qmp",
            qmp_arg,
            NULL,
        };

        if (!g_spawn_async_with_fds(probe->dir, (char **)argv, NULL,
                                    G_SPAWN_DO_NOT_REAP_CHILD |
                                        G_SPAWN_STDIN_FROM_DEV_NULL,
                                    probe_child_setup, GINT_TO_POINTER(getpid()),
                                    &probe->pid, -1, log_fd, log_fd, &local)) {
            g_propagate_error(error, probe_error_new(probe, VMIG_PROBE_ERROR_START, "%s",
                                                     local->message));
            return FALSE;
        }
    }
    g_atomic_int_inc(&probes_started);
    return TRUE;
}

/* Starts probing @emulator; the callback runs on @context. */
void
vmig_probe_emulator_async(const char *emulator, GMainContext *context, guint timeout_ms,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    VmigCatalog *cached;
    Probe *probe;

    g_return_if_fail(emulator != NULL);
    g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

    if (!context)
        context = g_main_context_default();
    g_main_context_push_thread_default(context);
    task = g_task_new(NULL, cancellable, callback, user_data);
    g_main_context_pop_thread_default(context);
    g_task_set_source_tag(task, vmig_probe_emulator_async);
    /* A cancelled probe says so itself, naming the emulator. */
    g_task_set_check_cancellable(task, FALSE);

    probe = g_new0(Probe, 1);
    probe->emulator = g_strdup(emulator);
    probe->context = g_main_context_ref(context);
    probe->timeout_ms = timeout_ms;
    probe->started_us = g_get_monotonic_time();
    g_task_set_task_data(task, probe, (GDestroyNotify)probe_free);

    if (!probe_check_emulator(probe, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    cached = cache_lookup(emulator, &probe->st);
    if (cached) {
        g_debug("emulator '%s': from the cache", emulator);
        g_task_return_pointer(task, cached, (GDestroyNotify)vmig_catalog_free);
        return;
    }
    if (g_cancellable_set_error_if_cancelled(cancellable, &error)) {
        g_prefix_error(&error, "emulator '%s' cannot be probed: ", emulator);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (!probe_spawn(probe, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_debug("emulator '%s': probing as pid %d", emulator, (int)probe->pid);

    /* Right after spawning: the watch is what reaps the pid (G_SPAWN_DO_NOT_REAP_CHILD
     * keeps a child that exits before then a zombie, and the watch looks for
     * one when created), so nothing else may wait for it. */
    probe->child_watch = g_child_watch_source_new(probe->pid);
    probe_attach(task, probe->child_watch, G_SOURCE_FUNC(on_child_exit));
    probe->introspect_cancellable = g_cancellable_new();
    probe->poll = probe_attach(task, g_timeout_source_new(PROBE_POLL_MS), on_poll);
    probe->timeout = probe_attach(task, g_timeout_source_new(timeout_ms), on_timeout);
    if (cancellable)
        probe->cancel = probe_attach(task, g_cancellable_source_new(cancellable),
                                     G_SOURCE_FUNC(on_cancelled));
}

/* Returns: the catalog (new), or NULL with @error set. */
VmigCatalog *
vmig_probe_emulator_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(
        g_task_get_source_tag(G_TASK(result)) == vmig_probe_emulator_async, NULL);

    return g_task_propagate_pointer(G_TASK(result), error);
}
