/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge.c: one migration channel forwarded between two sockets
 *
 * Each direction is a thread of its own that moves bytes with splice(2):
 * socket -> pipe -> socket.  The pages are passed by reference, never
 * copied into user space, and the thread sleeps in the kernel while there
 * is nothing to move, so a bridge costs no main-loop wakeups at all.
 * (bench/bridge-throughput measures it against a plain socketpair; an
 * epoll loop over both directions in one thread measured the same as
 * the thread per direction, which is simpler.)
 *
 * Directions are named after the caller's convention: @fd_a is the side
 * towards the migration source, @fd_b the side towards the destination, so
 * "a to b" is "source to destination" and "b to a" is QEMU's return path.
 *
 * Stopping a thread blocked in poll(), splice() or write() takes no signal
 * and no wakeup pipe: shutdown(SHUT_RDWR) on a socket wakes every sleeper
 * on it (reads return end of file, writes fail with EPIPE).  That is how a
 * failing direction stops the other one, and how vmig_bridge_free() stops
 * both.
 *
 * Thread safety: vmig_bridge_start() and vmig_bridge_free() may be called
 * from any thread, but vmig_bridge_free() must not race with the dispatch
 * of @done: call it from the thread that iterates @context (from @done
 * itself is fine), or while nothing iterates @context.
 * vmig_bridge_get_bytes() may be called from any thread at any time.  The
 * bridge threads never run caller code: they only attach a one-shot
 * source to @context when both have ended.
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-bridge"

#include "driver/bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass/fd.h"

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-bridge-error-quark, vmig_bridge_error)
/* clang-format on */

/*
 * The pipe between the two splices.  1 MiB is the default
 * /proc/sys/fs/pipe-max-size, so unprivileged daemons get it too; when the
 * per-user pipe budget (pipe-user-pages-soft) is spent, F_SETPIPE_SZ fails
 * and the default 64 KiB pipe is kept: slower, still correct.
 */
#define VMIG_BRIDGE_PIPE_SIZE (1024 * 1024)

/* The most one splice from the source socket asks for. */
#define VMIG_BRIDGE_CHUNK (1024 * 1024)

/* The buffer for getting past urgent data (see vmig_bridge_dir_copy_once). */
#define VMIG_BRIDGE_COPY_SIZE (64 * 1024)

typedef enum {
    VMIG_BRIDGE_DIR_AB,
    VMIG_BRIDGE_DIR_BA,
    VMIG_BRIDGE_DIR_LAST
} VmigBridgeDirId;

/* Direction names in messages (see the comment at the top of the file). */
static const char *const vmig_bridge_dir_names[] = {
    [VMIG_BRIDGE_DIR_AB] = "source to destination",
    [VMIG_BRIDGE_DIR_BA] = "destination to source",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_bridge_dir_names) == VMIG_BRIDGE_DIR_LAST);

/* Short direction tags for thread names (15 bytes visible in ps). */
static const char *const vmig_bridge_dir_tags[] = {
    [VMIG_BRIDGE_DIR_AB] = "a>b",
    [VMIG_BRIDGE_DIR_BA] = "b>a",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vmig_bridge_dir_tags) == VMIG_BRIDGE_DIR_LAST);

typedef struct {
    VmigBridge *bridge;
    VmigBridgeDirId id;
    int src;         /* borrowed from the bridge */
    int dst;         /* borrowed from the bridge */
    VmigFd pipe_r;   /* owned */
    VmigFd pipe_w;   /* owned */
    GBytes *prefix;  /* (nullable) owned; read by the thread only */
    guint64 bytes;   /* delivered to dst; __atomic access only */
    GThread *thread; /* NULL until started, and after a failed start */
} VmigBridgeDir;

struct _VmigBridge {
    char *name;
    VmigFd fd_a;
    VmigFd fd_b;
    VmigBridgeDir dirs[VMIG_BRIDGE_DIR_LAST];
    GMainContext *context;
    VmigBridgeDoneFunc done;
    gpointer user_data;

    GMutex lock;          /* guards the fields below */
    guint running;        /* direction threads not yet ended */
    gboolean stopping;    /* vmig_bridge_free() (or a failed start) is stopping it */
    gboolean failed;      /* a direction failed: later errors are consequences */
    GError *error;        /* the first failure; handed to done */
    GSource *done_source; /* (nullable) the one-shot source that calls done */
};

/*
 * Shut both sockets down for reading and writing, which wakes any thread
 * sleeping on them.  Errors (ENOTCONN from a peer already gone) do not
 * matter: the point is only that nothing sleeps there any more.
 */
static void
vmig_bridge_shutdown_all(VmigBridge *bridge)
{
    int saved = errno;

    shutdown(bridge->fd_a, SHUT_RDWR);
    shutdown(bridge->fd_b, SHUT_RDWR);
    errno = saved;
}

/*
 * Make one consumed fd fit to be bridged: a stream socket, urgent data
 * inline, blocking, CLOEXEC.  @what names it in messages ("a", "b").
 * Returns: TRUE, or FALSE with SETUP in @error.
 */
static gboolean
vmig_bridge_prepare_socket(const char *name, const char *what, int fd, GError **error)
{
    int type = 0;
    socklen_t len = sizeof(type);
    int flags;

    if (fd < 0) {
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: socket %s: invalid file descriptor %d", name, what, fd);
        return FALSE;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        int err = errno;
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: socket %s (fd %d): %s", name, what, fd, g_strerror(err));
        return FALSE;
    }
    if (type != SOCK_STREAM) {
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: socket %s (fd %d) is not a stream socket (type %d)", name, what,
                    fd, type);
        return FALSE;
    }
    /*
     * Urgent data stays in the stream, to be forwarded as an ordinary byte
     * (splice() cannot forward it at all; see vmig_bridge_dir_copy_once).
     */
    if (setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &(int){1}, sizeof(int)) < 0) {
        int err = errno;
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: socket %s (fd %d): cannot set SO_OOBINLINE: %s", name, what, fd,
                    g_strerror(err));
        return FALSE;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 ||
        ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)) {
        int err = errno;
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: socket %s (fd %d): cannot set blocking mode: %s", name, what, fd,
                    g_strerror(err));
        return FALSE;
    }
    flags = fcntl(fd, F_GETFD);
    if (flags < 0 ||
        (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)) {
        int err = errno;
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: socket %s (fd %d): cannot set close-on-exec: %s", name, what, fd,
                    g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

/*
 * Open the pipe of one direction and try to make it VMIG_BRIDGE_PIPE_SIZE
 * large (silently keeping the default size when not allowed).
 * Returns: TRUE, or FALSE with SETUP in @error.
 */
static gboolean
vmig_bridge_dir_open_pipe(VmigBridgeDir *dir, GError **error)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) < 0) {
        int err = errno;
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: %s: cannot create a pipe: %s", dir->bridge->name,
                    vmig_bridge_dir_names[dir->id], g_strerror(err));
        return FALSE;
    }
    dir->pipe_r = fds[0];
    dir->pipe_w = fds[1];
    if (fcntl(dir->pipe_w, F_SETPIPE_SZ, VMIG_BRIDGE_PIPE_SIZE) < 0) {
        g_debug("%s: %s: keeping the default pipe size: %s", dir->bridge->name,
                vmig_bridge_dir_names[dir->id], g_strerror(errno));
    }
    return TRUE;
}

/*
 * Record that @dir failed with @error (consumed) and shut both sockets
 * down so the other direction ends too.  Only the first failure is kept:
 * whatever fails after it is a consequence of the shutdown.
 */
static void
vmig_bridge_dir_fail(VmigBridgeDir *dir, GError *error)
{
    VmigBridge *bridge = dir->bridge;

    g_mutex_lock(&bridge->lock);
    if (!bridge->failed && !bridge->stopping) {
        bridge->failed = TRUE;
        g_debug("%s", error->message);
        bridge->error = g_steal_pointer(&error);
    }
    g_mutex_unlock(&bridge->lock);
    g_clear_error(&error);
    vmig_bridge_shutdown_all(bridge);
}

/*
 * Write all @len bytes of @data to @fd (blocking, SIGPIPE blocked).
 * Returns: 0, or the errno of the write that failed.
 */
static int
vmig_bridge_write_all(int fd, const guint8 *data, gsize len)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += n;
    }
    return 0;
}

/*
 * Write the prefix of @dir, if any, fully to its destination socket.
 * Returns: TRUE, or FALSE with SETUP in @error.
 */
static gboolean
vmig_bridge_dir_write_prefix(VmigBridgeDir *dir, GError **error)
{
    const guint8 *data;
    gsize len = 0;
    int err;

    if (!dir->prefix)
        return TRUE;
    data = g_bytes_get_data(dir->prefix, &len);
    err = vmig_bridge_write_all(dir->dst, data, len);
    if (err) {
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: %s: writing the first %" G_GSIZE_FORMAT " bytes failed: %s",
                    dir->bridge->name, vmig_bridge_dir_names[dir->id], len,
                    g_strerror(err));
        return FALSE;
    }
    __atomic_add_fetch(&dir->bytes, (guint64)len, __ATOMIC_RELAXED);
    return TRUE;
}

/*
 * Move what the source of @dir has through user space, once.  Needed for
 * urgent (MSG_OOB) data only: splice() stops in front of it and returns
 * nothing (0 for TCP, as at end of file!), while the socket polls readable
 * (SO_OOBINLINE, set at start, keeps the byte in the stream), so without
 * this a peer sending one urgent byte would truncate the channel, stall it
 * or make the thread spin.  recv() reads past it.
 * Returns: bytes moved (> 0), 0 at end of file or when nothing was there
 * (*@eof says which), or -1 with FORWARD in @error.
 */
static gssize
vmig_bridge_dir_copy_once(VmigBridgeDir *dir, gboolean *eof, GError **error)
{
    g_autofree guint8 *buf = g_malloc(VMIG_BRIDGE_COPY_SIZE);
    ssize_t n;
    int err;

    *eof = FALSE;
    do {
        n = recv(dir->src, buf, VMIG_BRIDGE_COPY_SIZE, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n == 0) {
        *eof = TRUE;
        return 0;
    }
    err = n < 0 ? errno : vmig_bridge_write_all(dir->dst, buf, n);
    if (err) {
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_FORWARD,
                    "%s: %s: %s failed: %s", dir->bridge->name,
                    vmig_bridge_dir_names[dir->id], n < 0 ? "recv" : "write",
                    g_strerror(err));
        return -1;
    }
    g_debug("%s: %s: copied %zd bytes around urgent data", dir->bridge->name,
            vmig_bridge_dir_names[dir->id], n);
    __atomic_add_fetch(&dir->bytes, (guint64)n, __ATOMIC_RELAXED);
    return n;
}

/*
 * Wait until the source socket of @dir is readable (data, end of file,
 * shutdown or error: the splice that follows tells which).
 *
 * Why not simply block in splice(): a thread asleep in a socket read sits
 * on the socket's one wait queue, which every "write space" event wakes as
 * well, key or no key.  The direction that idles (QEMU's return path, most
 * of the time) would then wake up for every buffer the busy direction
 * sends out on the same socket, only to find nothing and sleep again:
 * measured, a third more context switches per GiB.  poll() registers with
 * an event mask, so only readability wakes it.
 * Returns: TRUE, or FALSE with FORWARD in @error.
 */
static gboolean
vmig_bridge_dir_wait_readable(VmigBridgeDir *dir, GError **error)
{
    struct pollfd pfd = {.fd = dir->src, .events = POLLIN | POLLRDHUP};

    while (poll(&pfd, 1, -1) < 0) {
        int err = errno;

        if (err == EINTR)
            continue;
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_FORWARD,
                    "%s: %s: poll failed: %s", dir->bridge->name,
                    vmig_bridge_dir_names[dir->id], g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

/*
 * Splice all @len bytes in the pipe of @dir into its destination socket.
 * SPLICE_F_MORE goes with them only after a large read (half a chunk or
 * more): more is then almost certainly queued behind it, while a small
 * read means the source is idle and TCP must not hold the tail back (the
 * return path carries small request/response messages).  A read rarely
 * fills the pipe to the byte: pipe slots hold a page each and run out
 * first when the socket's buffers are not full pages.
 * Returns: TRUE, or FALSE with FORWARD in @error.
 */
static gboolean
vmig_bridge_dir_drain(VmigBridgeDir *dir, gsize len, GError **error)
{
    unsigned int flags = SPLICE_F_MOVE;

    if (len >= VMIG_BRIDGE_CHUNK / 2)
        flags |= SPLICE_F_MORE;
    while (len > 0) {
        ssize_t n = splice(dir->pipe_r, NULL, dir->dst, NULL, len, flags);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* 0 cannot happen with bytes in the pipe; do not spin on it. */
            int err = n < 0 ? errno : EIO;
            g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_FORWARD,
                        "%s: %s: splice failed: %s", dir->bridge->name,
                        vmig_bridge_dir_names[dir->id], g_strerror(err));
            return FALSE;
        }
        len -= n;
        __atomic_add_fetch(&dir->bytes, (guint64)n, __ATOMIC_RELAXED);
    }
    return TRUE;
}

/*
 * Forward everything from the source socket of @dir to its destination
 * until end of file.  Each round moves what the source has (up to a
 * chunk) into the pipe without waiting, then drains the pipe completely
 * with a blocking splice, so the pipe is empty whenever the source is read
 * (SPLICE_F_NONBLOCK cannot fail for want of pipe space).  When the source
 * has nothing, the thread waits in poll() (see above).  A splice that
 * moves nothing although the socket is readable, or that returns 0, which
 * TCP also does in front of urgent data, is checked with recv() by
 * vmig_bridge_dir_copy_once() before it counts as end of file.
 * Returns: TRUE at end of file, or FALSE with FORWARD in @error.
 */
static gboolean
vmig_bridge_dir_forward(VmigBridgeDir *dir, GError **error)
{
    gboolean polled = FALSE; /* poll() said readable, and no splice since */

    for (;;) {
        ssize_t n = splice(dir->src, NULL, dir->pipe_w, NULL, VMIG_BRIDGE_CHUNK,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN) {
            int err = errno;
            g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_FORWARD,
                        "%s: %s: splice failed: %s", dir->bridge->name,
                        vmig_bridge_dir_names[dir->id], g_strerror(err));
            return FALSE;
        }
        if (n > 0) {
            polled = FALSE;
            if (!vmig_bridge_dir_drain(dir, n, error))
                return FALSE;
            continue;
        }
        if (n == 0 || polled) {
            gboolean eof;
            gssize copied = vmig_bridge_dir_copy_once(dir, &eof, error);

            polled = FALSE;
            if (copied < 0)
                return FALSE;
            if (eof)
                return TRUE;
            if (copied > 0)
                continue;
        }
        if (!vmig_bridge_dir_wait_readable(dir, error))
            return FALSE;
        polled = TRUE;
    }
}

/*
 * The one-shot source callback on the owner's context: calls done.  The
 * bridge may be freed by done, so nothing touches it afterwards.
 * Returns: G_SOURCE_REMOVE.
 */
static gboolean
vmig_bridge_done_dispatch(gpointer user_data)
{
    VmigBridge *bridge = user_data;

    bridge->done(bridge, bridge->error, bridge->user_data);
    return G_SOURCE_REMOVE;
}

/*
 * Note that a direction thread has ended; the last one to end schedules
 * done on the owner's context, unless the bridge is being stopped.
 */
static void
vmig_bridge_dir_ended(VmigBridgeDir *dir)
{
    VmigBridge *bridge = dir->bridge;

    g_mutex_lock(&bridge->lock);
    g_assert(bridge->running > 0);
    bridge->running--;
    if (bridge->running == 0 && !bridge->stopping) {
        GSource *source = g_idle_source_new();

        g_source_set_priority(source, G_PRIORITY_DEFAULT);
        g_source_set_static_name(source, "vmig-bridge-done");
        g_source_set_callback(source, vmig_bridge_done_dispatch, bridge, NULL);
        bridge->done_source = source;
        g_source_attach(source, bridge->context);
    }
    g_mutex_unlock(&bridge->lock);
}

/*
 * The thread of one direction: SIGPIPE blocked (a reset peer must fail a
 * splice with EPIPE, not kill the daemon), prefix, then the byte stream;
 * at end of file the peer's writing side is shut down so the half-close
 * travels through.
 * Returns: NULL.
 */
static gpointer
vmig_bridge_dir_thread(gpointer user_data)
{
    VmigBridgeDir *dir = user_data;
    g_autoptr(GError) error = NULL;
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (vmig_bridge_dir_write_prefix(dir, &error) &&
        vmig_bridge_dir_forward(dir, &error)) {
        g_debug("%s: %s: end of file after %" G_GUINT64_FORMAT " bytes",
                dir->bridge->name, vmig_bridge_dir_names[dir->id],
                vmig_bridge_get_bytes(dir->bridge, dir->id == VMIG_BRIDGE_DIR_AB));
        shutdown(dir->dst, SHUT_WR);
    } else {
        vmig_bridge_dir_fail(dir, g_steal_pointer(&error));
    }
    vmig_bridge_dir_ended(dir);
    return NULL;
}

/*
 * The counters move when a splice into the destination socket returns,
 * so they may lag what the peer already received by up to a pipe (1 MiB).
 * Returns: bytes forwarded so far from a to b (@a_to_b) or b to a; any thread.
 */
guint64
vmig_bridge_get_bytes(VmigBridge *bridge, gboolean a_to_b)
{
    VmigBridgeDir *dir;

    g_return_val_if_fail(bridge != NULL, 0);
    dir = &bridge->dirs[a_to_b ? VMIG_BRIDGE_DIR_AB : VMIG_BRIDGE_DIR_BA];
    return __atomic_load_n(&dir->bytes, __ATOMIC_RELAXED);
}

/*
 * Start the direction threads.  When the second cannot start, the first
 * is stopped and joined again.
 * Returns: TRUE, or FALSE with SETUP in @error.
 */
static gboolean
vmig_bridge_start_threads(VmigBridge *bridge, GError **error)
{
    int i;

    bridge->running = VMIG_BRIDGE_DIR_LAST;
    for (i = 0; i < VMIG_BRIDGE_DIR_LAST; i++) {
        VmigBridgeDir *dir = &bridge->dirs[i];
        g_autofree char *thread_name =
            g_strdup_printf("%s %s", bridge->name, vmig_bridge_dir_tags[i]);
        g_autoptr(GError) local = NULL;

        dir->thread = g_thread_try_new(thread_name, vmig_bridge_dir_thread, dir, &local);
        if (!dir->thread) {
            g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                        "%s: %s: cannot start a thread: %s", bridge->name,
                        vmig_bridge_dir_names[i], local->message);
            g_mutex_lock(&bridge->lock);
            bridge->stopping = TRUE;
            bridge->running -= VMIG_BRIDGE_DIR_LAST - i;
            g_mutex_unlock(&bridge->lock);
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * See bridge.h.  A NULL @context means the thread-default context of the
 * caller.  The byte counters include the prefixes: they count what was
 * delivered to each socket.
 * Returns: the running bridge, or NULL with SETUP in @error (fds closed).
 */
VmigBridge *
vmig_bridge_start(int *fd_a, int *fd_b, GBytes *prefix_ab, GBytes *prefix_ba,
                  const char *name, GMainContext *context, VmigBridgeDoneFunc done,
                  gpointer user_data, GError **error)
{
    g_autoptr(VmigBridge) bridge = NULL;
    int i;

    g_return_val_if_fail(fd_a != NULL && fd_b != NULL, NULL);
    g_return_val_if_fail(name != NULL, NULL);
    g_return_val_if_fail(done != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    bridge = g_new0(VmigBridge, 1);
    bridge->name = g_strdup(name);
    bridge->fd_a = vmig_fd_steal(fd_a);
    bridge->fd_b = vmig_fd_steal(fd_b);
    bridge->context =
        context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
    bridge->done = done;
    bridge->user_data = user_data;
    g_mutex_init(&bridge->lock);
    for (i = 0; i < VMIG_BRIDGE_DIR_LAST; i++) {
        VmigBridgeDir *dir = &bridge->dirs[i];

        dir->bridge = bridge;
        dir->id = i;
        dir->pipe_r = -1;
        dir->pipe_w = -1;
    }
    bridge->dirs[VMIG_BRIDGE_DIR_AB].src = bridge->fd_a;
    bridge->dirs[VMIG_BRIDGE_DIR_AB].dst = bridge->fd_b;
    bridge->dirs[VMIG_BRIDGE_DIR_BA].src = bridge->fd_b;
    bridge->dirs[VMIG_BRIDGE_DIR_BA].dst = bridge->fd_a;
    if (prefix_ab && g_bytes_get_size(prefix_ab) > 0)
        bridge->dirs[VMIG_BRIDGE_DIR_AB].prefix = g_bytes_ref(prefix_ab);
    if (prefix_ba && g_bytes_get_size(prefix_ba) > 0)
        bridge->dirs[VMIG_BRIDGE_DIR_BA].prefix = g_bytes_ref(prefix_ba);

    if (!vmig_bridge_prepare_socket(name, "a", bridge->fd_a, error) ||
        !vmig_bridge_prepare_socket(name, "b", bridge->fd_b, error))
        return NULL;
    if (bridge->fd_a == bridge->fd_b) {
        g_set_error(error, VMIG_BRIDGE_ERROR, VMIG_BRIDGE_ERROR_SETUP,
                    "%s: both sides are the same socket (fd %d)", name, bridge->fd_a);
        bridge->fd_b = -1; /* closed once, as fd_a */
        return NULL;
    }
    for (i = 0; i < VMIG_BRIDGE_DIR_LAST; i++) {
        if (!vmig_bridge_dir_open_pipe(&bridge->dirs[i], error))
            return NULL;
    }
    if (!vmig_bridge_start_threads(bridge, error))
        return NULL;
    g_debug("%s: bridging fd %d and fd %d", name, bridge->fd_a, bridge->fd_b);
    return g_steal_pointer(&bridge);
}

/*
 * See bridge.h: stops both threads (shutdown wakes them), joins them,
 * drops a done call not yet dispatched, closes everything.
 */
void
vmig_bridge_free(VmigBridge *bridge)
{
    gboolean running;
    int i;

    if (!bridge)
        return;

    g_mutex_lock(&bridge->lock);
    bridge->stopping = TRUE;
    running = bridge->running > 0;
    g_mutex_unlock(&bridge->lock);

    if (running) {
        g_debug("%s: stopping", bridge->name);
        vmig_bridge_shutdown_all(bridge);
    }
    for (i = 0; i < VMIG_BRIDGE_DIR_LAST; i++) {
        VmigBridgeDir *dir = &bridge->dirs[i];

        if (dir->thread)
            g_thread_join(g_steal_pointer(&dir->thread));
    }
    /* The threads are gone: nothing else touches the fields below. */
    if (bridge->done_source) {
        g_source_destroy(bridge->done_source);
        g_clear_pointer(&bridge->done_source, g_source_unref);
    }
    for (i = 0; i < VMIG_BRIDGE_DIR_LAST; i++) {
        VmigBridgeDir *dir = &bridge->dirs[i];

        vmig_fd_clear(&dir->pipe_r);
        vmig_fd_clear(&dir->pipe_w);
        g_clear_pointer(&dir->prefix, g_bytes_unref);
    }
    vmig_fd_clear(&bridge->fd_a);
    vmig_fd_clear(&bridge->fd_b);
    g_clear_error(&bridge->error);
    g_clear_pointer(&bridge->context, g_main_context_unref);
    g_mutex_clear(&bridge->lock);
    g_free(bridge->name);
    g_free(bridge);
}
