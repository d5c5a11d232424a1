/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guest-helper.c: real TCG guests for the migration suites, the demo and
 * the benchmarks
 */
#include <config.h>

#define G_LOG_DOMAIN "vmig-guest"

#include "tests/guest-helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "fdpass/fd.h"

/* Bytes per pmemsave comparison step and per pattern write. */
#define VMIG_GUEST_CHUNK     (4u << 20)
#define VMIG_GUEST_PAGE_SIZE 4096u
/* A monitor line longer than this is not QMP (query-qmp-schema is ~150 KiB). */
#define VMIG_GUEST_MAX_LINE (64u << 20)
/* Events kept for vmig_guest_monitor_wait_event(); older ones are dropped. */
#define VMIG_GUEST_MAX_EVENTS 4096u

/* clang-format off */
G_DEFINE_QUARK(vmig-guest-error-quark, vmig_guest_error)
/* clang-format on */

/* ------------------------------------------------------------------------ */
/* The pattern: splitmix64, little-endian words */

typedef struct {
    guint64 state;
} VmigGuestRng;

/* Returns: the next 64 pseudo-random bits of @rng. */
static inline guint64
vmig_guest_rng_next(VmigGuestRng *rng)
{
    guint64 z = (rng->state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * Fills @buf with the next @len bytes of the stream.  Every call but the
 * last of a stream must ask for a multiple of 8 bytes.
 */
static void
vmig_guest_rng_fill(VmigGuestRng *rng, guint8 *buf, gsize len)
{
    gsize i;

    for (i = 0; i + 8 <= len; i += 8) {
        guint64 word = GUINT64_TO_LE(vmig_guest_rng_next(rng));

        memcpy(buf + i, &word, 8);
    }
    if (i < len) {
        guint64 word = GUINT64_TO_LE(vmig_guest_rng_next(rng));

        memcpy(buf + i, &word, len - i);
    }
}

/* Returns: the object member @name of @object, or NULL if it is missing or not an object.
 */
static JsonObject *
vmig_guest_object_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

/* Returns: FALSE with @error set from errno @err about @what on @path. */
static gboolean
vmig_guest_file_error(GError **error, int err, const char *what, const char *path)
{
    g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_IO, "cannot %s '%s': %s", what,
                path, g_strerror(err));
    return FALSE;
}

/* Writes all of @buf to @fd.  Returns: 0, or -errno. */
static int
vmig_guest_write_all(int fd, const guint8 *buf, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (gsize)n;
    }
    return 0;
}

/* Reads exactly @len bytes from @fd (fewer only at end of file).  Returns: bytes read, or
 * -errno. */
static gssize
vmig_guest_read_full(int fd, guint8 *buf, gsize len)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        done += (gsize)n;
    }
    return (gssize)done;
}

/* Returns: TRUE, or FALSE with @error set. */
gboolean
vmig_guest_write_pattern(const char *path, gsize size, guint32 seed, GError **error)
{
    g_autofree guint8 *buf = g_malloc(VMIG_GUEST_CHUNK);
    VmigGuestRng rng = {seed};
    g_auto(VmigFd) fd = -1;
    gsize done = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return vmig_guest_file_error(error, errno, "create the pattern file", path);
    while (done < size) {
        gsize len = MIN(size - done, (gsize)VMIG_GUEST_CHUNK);
        int rc;

        vmig_guest_rng_fill(&rng, buf, len);
        rc = vmig_guest_write_all(fd, buf, len);
        if (rc < 0)
            return vmig_guest_file_error(error, -rc, "write the pattern file", path);
        done += len;
    }
    if (close(vmig_fd_steal(&fd)) < 0)
        return vmig_guest_file_error(error, errno, "write the pattern file", path);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The kernel */

/* The image: one page of header and code, one page whose first word is the counter. */
#define VMIG_GUEST_KERNEL_SIZE  0x2000u
#define VMIG_GUEST_MB_MAGIC     0x1badb002u
#define VMIG_GUEST_MB_FLAGS     0x00010000u /* bit 16: the header gives the addresses */
#define VMIG_GUEST_MB_CHECKSUM  (0u - (VMIG_GUEST_MB_MAGIC + VMIG_GUEST_MB_FLAGS))
#define VMIG_GUEST_KERNEL_ENTRY (VMIG_GUEST_KERNEL_ADDR + 0x20u)

/* The four bytes of @v, little-endian, for the byte table below. */
/* clang-format off */
#define LE32(v)                                                                      \
    (guint8)((v) & 0xffu), (guint8)(((v) >> 8) & 0xffu), (guint8)(((v) >> 16) & 0xffu), \
        (guint8)(((v) >> 24) & 0xffu)
/* clang-format on */

G_STATIC_ASSERT(VMIG_GUEST_COUNTER_ADDR == VMIG_GUEST_KERNEL_ADDR + 0x1000u);
G_STATIC_ASSERT(VMIG_GUEST_DIRTY_START % 4096u == 0 && VMIG_GUEST_DIRTY_END % 4096u == 0);

/*
 * The start of the image, as QEMU's multiboot loader sees it: the header,
 * then the code QEMU enters in 32-bit protected mode (flat segments, paging
 * and interrupts off).  Addresses in the comments are where each byte
 * lands.  The loop uses no stack and no memory but the counter and the
 * dirty pages.  A short jump's byte is its target minus the address of the
 * next instruction: jb inner is 0x10002b - 0x10003b = -0x10 (0xf0), jmp
 * outer is 0x100021 - 0x100043 = -0x22 (0xde).
 */
/* clang-format off */
static const guint8 vmig_guest_kernel_head[] = {
    /* 100000: the multiboot header */
    LE32(VMIG_GUEST_MB_MAGIC),                /* magic */
    LE32(VMIG_GUEST_MB_FLAGS),                /* flags */
    LE32(VMIG_GUEST_MB_CHECKSUM),             /* checksum: the three sum to 0 */
    LE32(VMIG_GUEST_KERNEL_ADDR),             /* header_addr: where this header lands */
    LE32(VMIG_GUEST_KERNEL_ADDR),             /* load_addr: the file from its offset 0 */
    LE32(VMIG_GUEST_KERNEL_ADDR + VMIG_GUEST_KERNEL_SIZE), /* load_end_addr */
    LE32(0u),                                 /* bss_end_addr: no bss */
    LE32(VMIG_GUEST_KERNEL_ENTRY),            /* entry_addr */

    /* 100020: the entry point */
    0xfa,                                     /* 100020  cli */
    0xa1, LE32(VMIG_GUEST_COUNTER_ADDR),      /* 100021  outer: mov eax, [COUNTER] */
    0xbf, LE32(VMIG_GUEST_DIRTY_START),       /* 100026  mov edi, DIRTY_START */
    0x89, 0x07,                               /* 10002b  inner: mov [edi], eax */
    0x81, 0xc7, LE32(0x1000u),                /* 10002d  add edi, 0x1000 */
    0x81, 0xff, LE32(VMIG_GUEST_DIRTY_END),   /* 100033  cmp edi, DIRTY_END */
    0x72, 0xf0,                               /* 100039  jb inner  (-0x10) */
    0xff, 0x05, LE32(VMIG_GUEST_COUNTER_ADDR), /* 10003b  inc dword [COUNTER] */
    0xeb, 0xde,                               /* 100041  jmp outer (-0x22) */
};                                            /* 100043  end */
/* clang-format on */

/* The jumps above were computed for exactly this layout. */
G_STATIC_ASSERT(sizeof(vmig_guest_kernel_head) == 0x43);

/* Returns: TRUE, or FALSE with @error set. */
gboolean
vmig_guest_write_kernel(const char *path, GError **error)
{
    g_autofree guint8 *image = g_malloc0(VMIG_GUEST_KERNEL_SIZE);

    /*
     * A full 8 KiB file: QEMU reads the first 8 KiB of a -kernel file into
     * an uninitialised buffer and looks for a Linux header (at 0x202) and
     * the multiboot magic in all of it.
     */
    memcpy(image, vmig_guest_kernel_head, sizeof(vmig_guest_kernel_head));
    return g_file_set_contents(path, (const char *)image, VMIG_GUEST_KERNEL_SIZE, error);
}

/* ------------------------------------------------------------------------ */
/* Guests */

/* Returns: the path of @qemu's second QMP monitor, DIR/aux.qmp (newly allocated). */
char *
vmig_guest_aux_qmp_path(const VmigTestQemu *qemu)
{
    return g_build_filename(qemu->dir, "aux.qmp", NULL);
}

/* Returns: @value with every ',' doubled, as QEMU's option parser wants (newly
 * allocated). */
static char *
vmig_guest_escape_commas(const char *value)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);

    return g_strjoinv(",,", parts);
}

/* Returns: the running QEMU, or NULL with @error set. */
static VmigTestQemu *
vmig_guest_start(const VmigGuestOptions *opts, gboolean destination, GError **error)
{
    static const VmigGuestOptions defaults = {0};
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
    guint ram_mib;

    if (!opts)
        opts = &defaults;
    ram_mib = opts->ram_mib ? opts->ram_mib : VMIG_GUEST_DEFAULT_RAM_MIB;

    g_ptr_array_add(args, g_strdup("-machine"));
    g_ptr_array_add(args, g_strdup("pc"));
    g_ptr_array_add(args, g_strdup("-accel"));
    g_ptr_array_add(args, g_strdup("tcg"));
    g_ptr_array_add(args, g_strdup("-nodefaults"));
    g_ptr_array_add(args, g_strdup("-display"));
    g_ptr_array_add(args, g_strdup("none"));
    g_ptr_array_add(args, g_strdup("-m"));
    g_ptr_array_add(args, g_strdup_printf("%u", ram_mib));
    g_ptr_array_add(args, g_strdup("-uuid"));
    g_ptr_array_add(args, g_strdup(opts->uuid ? opts->uuid : VMIG_GUEST_DEFAULT_UUID));
    if (opts->prealloc)
        g_ptr_array_add(args, g_strdup("-mem-prealloc"));
    if (opts->paused)
        g_ptr_array_add(args, g_strdup("-S"));
    /* QEMU runs in its own directory: relative paths are made absolute here. */
    if (opts->kernel_path) {
        g_ptr_array_add(args, g_strdup("-kernel"));
        g_ptr_array_add(args, g_canonicalize_filename(opts->kernel_path, NULL));
    }
    if (opts->pattern_path && !destination) {
        g_autofree char *absolute = g_canonicalize_filename(opts->pattern_path, NULL);
        g_autofree char *file = vmig_guest_escape_commas(absolute);

        g_ptr_array_add(args, g_strdup("-device"));
        g_ptr_array_add(args, g_strdup_printf("loader,file=%s,addr=0x%x", file,
                                              VMIG_GUEST_PATTERN_ADDR));
    }
    if (destination) {
        g_ptr_array_add(args, g_strdup("-incoming"));
        g_ptr_array_add(args, g_strdup("defer"));
    }
    g_ptr_array_add(args, g_strdup("-qmp"));
    g_ptr_array_add(args, g_strdup("unix:@DIR@/aux.qmp,server=on,wait=off"));
    g_ptr_array_add(args, NULL);

    return vmig_test_qemu_start_full((const char *const *)args->pdata, error);
}

/* Returns: the running QEMU, or NULL with @error set. */
VmigTestQemu *
vmig_guest_start_source(const VmigGuestOptions *opts, GError **error)
{
    return vmig_guest_start(opts, FALSE, error);
}

/* Returns: the waiting QEMU, or NULL with @error set. */
VmigTestQemu *
vmig_guest_start_destination(const VmigGuestOptions *opts, GError **error)
{
    return vmig_guest_start(opts, TRUE, error);
}

/* ------------------------------------------------------------------------ */
/* Monitors: JSON lines over a unix socket, every wait bounded */

struct _VmigGuestMonitor {
    int fd;          /* non-blocking */
    char *path;      /* for messages */
    GString *buffer; /* bytes read that do not end a line yet */
    GQueue events;   /* of JsonObject *: whole event messages, oldest first */
    JsonObject *greeting;
    gint64 next_id;
};

/* Returns: milliseconds left until @deadline (monotonic µs), at least 0. */
static int
vmig_guest_ms_left(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();

    if (left <= 0)
        return 0;
    return (int)MIN((left + 999) / 1000, (gint64)G_MAXINT);
}

/*
 * Waits until @fd is ready for @events or @deadline passes.
 * Returns: TRUE when ready, or FALSE with @error set.
 */
static gboolean
vmig_guest_poll(VmigGuestMonitor *monitor, short events, gint64 deadline, GError **error)
{
    for (;;) {
        struct pollfd pfd = {.fd = monitor->fd, .events = events};
        int rc = poll(&pfd, 1, vmig_guest_ms_left(deadline));

        if (rc > 0)
            return TRUE;
        if (rc == 0) {
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT,
                        "'%s' did not answer in time", monitor->path);
            return FALSE;
        }
        if (errno != EINTR)
            return vmig_guest_file_error(error, errno, "poll", monitor->path);
    }
}

/* Returns: TRUE once all of @data was sent, or FALSE with @error set. */
static gboolean
vmig_guest_send_all(VmigGuestMonitor *monitor, const char *data, gsize len,
                    gint64 deadline, GError **error)
{
    while (len > 0) {
        ssize_t n = send(monitor->fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!vmig_guest_poll(monitor, POLLOUT, deadline, error))
                return FALSE;
            continue;
        }
        if (n < 0)
            return vmig_guest_file_error(error, errno, "write to", monitor->path);
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/*
 * Reads the next JSON object line.
 * Returns: the object (a new reference), or NULL with @error set.
 */
static JsonObject *
vmig_guest_read_object(VmigGuestMonitor *monitor, gint64 deadline, GError **error)
{
    for (;;) {
        char *newline = memchr(monitor->buffer->str, '\n', monitor->buffer->len);

        if (newline) {
            gsize len = (gsize)(newline - monitor->buffer->str);
            g_autofree char *line = g_strndup(monitor->buffer->str, len);
            g_autoptr(JsonParser) parser = json_parser_new();
            g_autoptr(GError) local = NULL;
            JsonNode *root;

            g_string_erase(monitor->buffer, 0, (gssize)len + 1);
            g_strstrip(line);
            if (!*line)
                continue;
            if (!json_parser_load_from_data(parser, line, -1, &local)) {
                g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                            "'%s' sent a line that is not JSON: %s", monitor->path,
                            local->message);
                return NULL;
            }
            root = json_parser_get_root(parser);
            if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                            "'%s' sent a line that is not a JSON object", monitor->path);
                return NULL;
            }
            return json_object_ref(json_node_get_object(root));
        }
        if (monitor->buffer->len > VMIG_GUEST_MAX_LINE) {
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                        "'%s' sent a line over %u bytes", monitor->path,
                        VMIG_GUEST_MAX_LINE);
            return NULL;
        }

        {
            char chunk[65536];
            ssize_t n = read(monitor->fd, chunk, sizeof(chunk));

            if (n > 0) {
                g_string_append_len(monitor->buffer, chunk, n);
            } else if (n == 0) {
                g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_IO,
                            "'%s' closed the connection", monitor->path);
                return NULL;
            } else if (errno == EAGAIN) {
                if (!vmig_guest_poll(monitor, POLLIN, deadline, error))
                    return NULL;
            } else if (errno != EINTR) {
                vmig_guest_file_error(error, errno, "read from", monitor->path);
                return NULL;
            }
        }
    }
}

/* Keeps the event message @message for later. */
static void
vmig_guest_monitor_keep_event(VmigGuestMonitor *monitor, JsonObject *message)
{
    g_queue_push_tail(&monitor->events, json_object_ref(message));
    while (monitor->events.length > VMIG_GUEST_MAX_EVENTS)
        json_object_unref(g_queue_pop_head(&monitor->events));
}

/* Closes the connection and frees @monitor; NULL is ignored. */
void
vmig_guest_monitor_close(VmigGuestMonitor *monitor)
{
    if (!monitor)
        return;
    vmig_fd_clear(&monitor->fd);
    g_queue_clear_full(&monitor->events, (GDestroyNotify)json_object_unref);
    g_clear_pointer(&monitor->greeting, json_object_unref);
    g_string_free(monitor->buffer, TRUE);
    g_free(monitor->path);
    g_free(monitor);
}

/* Returns: the connection, or NULL with @error set. */
VmigGuestMonitor *
vmig_guest_monitor_open(const char *path, guint timeout_ms, GError **error)
{
    g_autoptr(VmigGuestMonitor) monitor = g_new0(VmigGuestMonitor, 1);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(GError) local = NULL;
    struct sockaddr_un addr;

    monitor->fd = -1;
    monitor->path = g_strdup(path);
    monitor->buffer = g_string_new(NULL);
    monitor->next_id = 1;
    g_queue_init(&monitor->events);

    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_INVALID,
                    "socket path '%s' is too long", path);
        return NULL;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    monitor->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (monitor->fd < 0) {
        vmig_guest_file_error(error, errno, "create a socket for", path);
        return NULL;
    }
    /* A unix connect() completes at once or fails (EAGAIN: the backlog is full). */
    if (connect(monitor->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        vmig_guest_file_error(error, errno, "connect to", path);
        return NULL;
    }

    /* QEMU 7.2 can send an event before its greeting (tests/test-qmp.c): kept. */
    while ((monitor->greeting = vmig_guest_read_object(monitor, deadline, &local)) &&
           json_object_has_member(monitor->greeting, "event")) {
        vmig_guest_monitor_keep_event(monitor, monitor->greeting);
        g_clear_pointer(&monitor->greeting, json_object_unref);
    }
    if (!monitor->greeting) {
        if (g_error_matches(local, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT))
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT,
                        "no greeting from '%s' within %u ms (a QMP socket serves one "
                        "client at a time: is another connected?)",
                        path, timeout_ms);
        else
            g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    if (json_object_has_member(monitor->greeting, "QMP") &&
        !vmig_guest_monitor_execute(monitor, "qmp_capabilities", NULL,
                                    (guint)vmig_guest_ms_left(deadline), NULL, error))
        return NULL;
    return g_steal_pointer(&monitor);
}

/* Returns: the greeting line's object (owned by @monitor). */
JsonObject *
vmig_guest_monitor_get_greeting(VmigGuestMonitor *monitor)
{
    return monitor->greeting;
}

/* Returns: TRUE, or FALSE with @error set. */
gboolean
vmig_guest_monitor_execute(VmigGuestMonitor *monitor, const char *command,
                           JsonObject *arguments, guint timeout_ms, JsonNode **ret,
                           GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonGenerator) generator = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;
    gint64 id = monitor->next_id++;

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "execute");
    json_builder_add_string_value(builder, command);
    if (arguments) {
        JsonNode *node = json_node_alloc();

        json_node_init_object(node, arguments);
        json_builder_set_member_name(builder, "arguments");
        json_builder_add_value(builder, node);
    }
    json_builder_set_member_name(builder, "id");
    json_builder_add_int_value(builder, id);
    json_builder_end_object(builder);
    root = json_builder_get_root(builder);
    json_generator_set_root(generator, root);
    text = json_generator_to_data(generator, NULL);
    line = g_strconcat(text, "\n", NULL);

    if (!vmig_guest_send_all(monitor, line, strlen(line), deadline, error))
        return FALSE;

    for (;;) {
        g_autoptr(GError) local = NULL;
        g_autoptr(JsonObject) message = vmig_guest_read_object(monitor, deadline, &local);
        JsonNode *id_node;

        if (!message) {
            if (g_error_matches(local, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT))
                g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT,
                            "'%s' did not answer '%s' within %u ms", monitor->path,
                            command, timeout_ms);
            else
                g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        if (json_object_has_member(message, "event")) {
            vmig_guest_monitor_keep_event(monitor, message);
            continue;
        }
        id_node = json_object_get_member(message, "id");
        if (!id_node || json_node_get_value_type(id_node) != G_TYPE_INT64 ||
            json_node_get_int(id_node) != id) {
            /* The answer to an earlier command that timed out. */
            g_debug("'%s': skipping a line that does not answer id %" G_GINT64_FORMAT,
                    monitor->path, id);
            continue;
        }
        if (json_object_has_member(message, "error")) {
            JsonObject *err = vmig_guest_object_member(message, "error");
            const char *desc = err ? json_object_get_string_member_with_default(
                                         err, "desc", "(no description)")
                                   : "(no description)";
            const char *klass =
                err ? json_object_get_string_member_with_default(err, "class", "?") : "?";

            g_set_error(
                error, VMIG_GUEST_ERROR,
                g_str_equal(klass, "CommandNotFound") ? VMIG_GUEST_ERROR_COMMAND_NOT_FOUND
                                                      : VMIG_GUEST_ERROR_COMMAND,
                "'%s' failed on '%s': %s (%s)", command, monitor->path, desc, klass);
            return FALSE;
        }
        if (!json_object_has_member(message, "return")) {
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                        "'%s' answered '%s' with neither \"return\" nor \"error\"",
                        monitor->path, command);
            return FALSE;
        }
        if (ret)
            *ret = json_node_copy(json_object_get_member(message, "return"));
        return TRUE;
    }
}

/* Returns: TRUE, or FALSE with @error set. */
gboolean
vmig_guest_monitor_wait_event_message(VmigGuestMonitor *monitor, const char *name,
                                      guint timeout_ms, JsonObject **message,
                                      GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    GList *link;

    for (link = monitor->events.head; link; link = link->next) {
        JsonObject *kept = link->data;

        if (g_strcmp0(json_object_get_string_member_with_default(kept, "event", ""),
                      name) == 0) {
            g_queue_delete_link(&monitor->events, link);
            if (message)
                *message = kept;
            else
                json_object_unref(kept);
            return TRUE;
        }
    }

    for (;;) {
        g_autoptr(GError) local = NULL;
        g_autoptr(JsonObject) line = vmig_guest_read_object(monitor, deadline, &local);

        if (!line) {
            if (g_error_matches(local, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT))
                g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_TIMEOUT,
                            "no %s event from '%s' within %u ms", name, monitor->path,
                            timeout_ms);
            else
                g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        if (!json_object_has_member(line, "event"))
            continue; /* a late answer to a command that timed out */
        if (g_strcmp0(json_object_get_string_member_with_default(line, "event", ""),
                      name) != 0) {
            vmig_guest_monitor_keep_event(monitor, line);
            continue;
        }
        if (message)
            *message = g_steal_pointer(&line);
        return TRUE;
    }
}

/* Returns: TRUE, or FALSE with @error set. */
gboolean
vmig_guest_monitor_wait_event(VmigGuestMonitor *monitor, const char *name,
                              guint timeout_ms, JsonObject **data, GError **error)
{
    g_autoptr(JsonObject) message = NULL;
    JsonObject *obj;

    if (!vmig_guest_monitor_wait_event_message(monitor, name, timeout_ms, &message,
                                               error))
        return FALSE;
    if (data) {
        obj = vmig_guest_object_member(message, "data");
        *data = obj ? json_object_ref(obj) : NULL;
    }
    return TRUE;
}

/* Returns: TRUE, or FALSE with @error set. */
gboolean
vmig_guest_qmp(const char *qmp_path, const char *command, const char *args_json,
               JsonNode **ret, GError **error)
{
    g_autoptr(VmigGuestMonitor) monitor = NULL;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *arguments = NULL;

    if (args_json) {
        JsonNode *root;

        parser = json_parser_new();
        if (!json_parser_load_from_data(parser, args_json, -1, error))
            return FALSE;
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
            g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_INVALID,
                        "the arguments of '%s' are not a JSON object: %s", command,
                        args_json);
            return FALSE;
        }
        arguments = json_node_get_object(root);
    }
    monitor = vmig_guest_monitor_open(qmp_path, VMIG_GUEST_QMP_TIMEOUT_MS, error);
    if (!monitor)
        return FALSE;
    return vmig_guest_monitor_execute(monitor, command, arguments,
                                      VMIG_GUEST_QMP_TIMEOUT_MS, ret, error);
}

/* ------------------------------------------------------------------------ */
/* Guest memory */

/* Returns: TRUE with *@counter set, or FALSE with @error set. */
gboolean
vmig_guest_monitor_read_counter(VmigGuestMonitor *monitor, guint32 *counter,
                                GError **error)
{
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *command_line = NULL;
    const char *text;
    const char *colon;
    char *end = NULL;
    guint64 value;

    command_line = g_strdup_printf("xp /1wx 0x%x", VMIG_GUEST_COUNTER_ADDR);
    json_object_set_string_member(arguments, "command-line", command_line);
    if (!vmig_guest_monitor_execute(monitor, "human-monitor-command", arguments,
                                    VMIG_GUEST_QMP_TIMEOUT_MS, &ret, error))
        return FALSE;

    /* "0000000000101000: 0x0000abcd\r\n" */
    text = JSON_NODE_HOLDS_VALUE(ret) ? json_node_get_string(ret) : NULL;
    colon = text ? strchr(text, ':') : NULL;
    if (colon) {
        errno = 0;
        value = g_ascii_strtoull(colon + 1, &end, 16);
    }
    if (!colon || end == colon + 1 || errno != 0 || value > G_MAXUINT32) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_PROTOCOL,
                    "cannot read the counter from '%s' in the answer to '%s': '%s'",
                    monitor->path, command_line, text ? text : "(not a string)");
        return FALSE;
    }
    *counter = (guint32)value;
    return TRUE;
}

/* Returns: TRUE with *@counter set, or FALSE with @error set. */
gboolean
vmig_guest_read_counter(const char *qmp_path, guint32 *counter, GError **error)
{
    g_autoptr(VmigGuestMonitor) monitor =
        vmig_guest_monitor_open(qmp_path, VMIG_GUEST_QMP_TIMEOUT_MS, error);

    return monitor && vmig_guest_monitor_read_counter(monitor, counter, error);
}

/*
 * Makes a private directory for memory dumps: under @tmpdir, or the
 * system's temporary directory when @tmpdir is NULL.
 * Returns: its path (newly allocated), or NULL with @error set.
 */
static char *
vmig_guest_make_dump_dir(const char *tmpdir, GError **error)
{
    g_autofree char *templ = NULL;

    if (!tmpdir)
        return g_dir_make_tmp("vmig-mem-XXXXXX", error);
    templ = g_build_filename(tmpdir, "vmig-mem-XXXXXX", NULL);
    if (!g_mkdtemp(templ)) {
        vmig_guest_file_error(error, errno, "create a directory like", templ);
        return NULL;
    }
    return g_steal_pointer(&templ);
}

/*
 * Saves guest physical memory [@addr, @addr + @size) of the QEMU behind
 * @qmp_path into @file (which QEMU creates), and checks its size.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_guest_pmemsave(const char *qmp_path, guint64 addr, guint64 size, const char *file,
                    GError **error)
{
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(VmigGuestMonitor) monitor = NULL;
    GStatBuf st;

    json_object_set_int_member(arguments, "val", (gint64)addr);
    json_object_set_int_member(arguments, "size", (gint64)size);
    json_object_set_string_member(arguments, "filename", file);
    monitor = vmig_guest_monitor_open(qmp_path, VMIG_GUEST_QMP_TIMEOUT_MS, error);
    if (!monitor)
        return FALSE;
    if (!vmig_guest_monitor_execute(monitor, "pmemsave", arguments,
                                    VMIG_GUEST_QMP_TIMEOUT_MS, NULL, error))
        return FALSE;
    if (g_stat(file, &st) < 0)
        return vmig_guest_file_error(error, errno, "stat the memory dump", file);
    if ((guint64)st.st_size != size) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_IO,
                    "the memory dump '%s' of '%s' holds %" G_GUINT64_FORMAT
                    " bytes, not %" G_GUINT64_FORMAT,
                    file, qmp_path, (guint64)st.st_size, size);
        return FALSE;
    }
    return TRUE;
}

/* Removes the dump directory @dir and the files named in @files. */
static void
vmig_guest_remove_dumps(const char *dir, const char *const *files)
{
    gsize i;

    for (i = 0; files[i]; i++)
        g_unlink(files[i]);
    g_rmdir(dir);
}

/* Returns: TRUE when equal, or FALSE with @error set. */
gboolean
vmig_guest_compare_memory(const char *src_qmp, const char *dst_qmp, guint64 ram_size,
                          const char *tmpdir, GError **error)
{
    g_autofree char *dir = NULL;
    g_autofree char *src_file = NULL;
    g_autofree char *dst_file = NULL;
    g_autofree guint8 *src_buf = NULL;
    g_autofree guint8 *dst_buf = NULL;
    g_auto(VmigFd) src_fd = -1;
    g_auto(VmigFd) dst_fd = -1;
    guint64 offset = 0;
    guint64 first_diff = G_MAXUINT64;
    guint64 pages_differing = 0;
    gboolean ok = FALSE;

    if (ram_size == 0 || ram_size % VMIG_GUEST_PAGE_SIZE != 0 ||
        ram_size > G_GUINT64_CONSTANT(0xe0000000)) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_INVALID,
                    "cannot compare %" G_GUINT64_FORMAT
                    " bytes of RAM: want a multiple of "
                    "4 KiB, at most 3.5 GiB",
                    ram_size);
        return FALSE;
    }
    dir = vmig_guest_make_dump_dir(tmpdir, error);
    if (!dir)
        return FALSE;
    src_file = g_build_filename(dir, "source.mem", NULL);
    dst_file = g_build_filename(dir, "destination.mem", NULL);

    if (!vmig_guest_pmemsave(src_qmp, 0, ram_size, src_file, error) ||
        !vmig_guest_pmemsave(dst_qmp, 0, ram_size, dst_file, error))
        goto out;

    src_fd = open(src_file, O_RDONLY | O_CLOEXEC);
    if (src_fd < 0) {
        vmig_guest_file_error(error, errno, "open", src_file);
        goto out;
    }
    dst_fd = open(dst_file, O_RDONLY | O_CLOEXEC);
    if (dst_fd < 0) {
        vmig_guest_file_error(error, errno, "open", dst_file);
        goto out;
    }
    src_buf = g_malloc(VMIG_GUEST_CHUNK);
    dst_buf = g_malloc(VMIG_GUEST_CHUNK);
    while (offset < ram_size) {
        gsize len = (gsize)MIN(ram_size - offset, (guint64)VMIG_GUEST_CHUNK);
        gssize got_src = vmig_guest_read_full(src_fd, src_buf, len);
        gssize got_dst = vmig_guest_read_full(dst_fd, dst_buf, len);
        gsize page;

        if (got_src != (gssize)len || got_dst != (gssize)len) {
            g_set_error(
                error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_IO,
                "cannot read the memory dumps in '%s' at offset 0x%" G_GINT64_MODIFIER
                "x",
                dir, offset);
            goto out;
        }
        if (memcmp(src_buf, dst_buf, len) != 0) {
            for (page = 0; page < len; page += VMIG_GUEST_PAGE_SIZE) {
                gsize i;

                if (memcmp(src_buf + page, dst_buf + page, VMIG_GUEST_PAGE_SIZE) == 0)
                    continue;
                pages_differing++;
                if (first_diff != G_MAXUINT64)
                    continue;
                for (i = page; src_buf[i] == dst_buf[i]; i++)
                    ;
                first_diff = offset + i;
            }
        }
        offset += len;
    }
    if (pages_differing > 0) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_MISMATCH,
                    "guest memory of '%s' and '%s' differs: %" G_GUINT64_FORMAT
                    " of %" G_GUINT64_FORMAT " pages, the first at 0x%" G_GINT64_MODIFIER
                    "x",
                    src_qmp, dst_qmp, pages_differing, ram_size / VMIG_GUEST_PAGE_SIZE,
                    first_diff);
        goto out;
    }
    ok = TRUE;

out:
    vmig_guest_remove_dumps(dir, (const char *const[]){src_file, dst_file, NULL});
    return ok;
}

/* Returns: TRUE when they match, or FALSE with @error set. */
gboolean
vmig_guest_verify_pattern(const char *qmp_path, guint64 addr, gsize size, guint32 seed,
                          const char *tmpdir, GError **error)
{
    g_autofree char *dir = NULL;
    g_autofree char *file = NULL;
    g_autofree guint8 *want = NULL;
    g_autofree guint8 *got = NULL;
    g_auto(VmigFd) fd = -1;
    VmigGuestRng rng = {seed};
    gsize offset = 0;
    gboolean ok = FALSE;

    if (size == 0) {
        g_set_error(error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_INVALID,
                    "cannot verify an empty pattern");
        return FALSE;
    }
    dir = vmig_guest_make_dump_dir(tmpdir, error);
    if (!dir)
        return FALSE;
    file = g_build_filename(dir, "pattern.mem", NULL);
    if (!vmig_guest_pmemsave(qmp_path, addr, size, file, error))
        goto out;
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vmig_guest_file_error(error, errno, "open", file);
        goto out;
    }
    want = g_malloc(VMIG_GUEST_CHUNK);
    got = g_malloc(VMIG_GUEST_CHUNK);
    while (offset < size) {
        gsize len = MIN(size - offset, (gsize)VMIG_GUEST_CHUNK);
        gsize i;

        vmig_guest_rng_fill(&rng, want, len);
        if (vmig_guest_read_full(fd, got, len) != (gssize)len) {
            vmig_guest_file_error(error, EIO, "read", file);
            goto out;
        }
        if (memcmp(want, got, len) != 0) {
            for (i = 0; want[i] == got[i]; i++)
                ;
            g_set_error(
                error, VMIG_GUEST_ERROR, VMIG_GUEST_ERROR_MISMATCH,
                "guest memory of '%s' does not hold the pattern (seed %u): the first "
                "difference is at 0x%" G_GINT64_MODIFIER
                "x (pattern offset 0x%" G_GSIZE_MODIFIER "x)",
                qmp_path, seed, addr + offset + i, offset + i);
            goto out;
        }
        offset += len;
    }
    ok = TRUE;

out:
    vmig_guest_remove_dumps(dir, (const char *const[]){file, NULL});
    return ok;
}
