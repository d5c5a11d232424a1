/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-fdpass.c: SCM_RIGHTS fd passing and the extra-channel preamble
 *
 * Everything runs on real kernel objects: socketpairs, memfds, pipes and
 * temporary files, the kernel's own SCM_CREDENTIALS, real signals.  Every
 * fdpass test runs in a fixture that counts the entries of /proc/self/fd
 * before and after, so a leaked descriptor fails the test that leaked it.
 *
 * Golden files live in tests/data/preamble/; VMIG_TEST_REGENERATE_OUTPUT=1
 * rewrites them from the encoder instead of comparing.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "fdpass/fd.h"
#include "fdpass/fdpass.h"
#include "fdpass/preamble.h"
#include "tests/testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers */

static guint fd_count_at_start;

/* Returns: an open, already unlinked temporary file in @dir. */
static int
make_temp_file(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "file-XXXXXX", NULL);
    int fd;

    fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(g_unlink(path), ==, 0);
    return fd;
}

/*
 * Open @n descriptors on @n different files (memfds, temporary files and
 * pipe read ends in turn), so that each has its own st_dev/st_ino.
 * Returns: a newly allocated array; free with vmig_fdpass_close_all().
 */
static int *
make_distinct_fds(const char *dir, gsize n)
{
    int *fds = g_new(int, n ? n : 1);
    gsize i;

    for (i = 0; i < n; i++) {
        int p[2];

        switch (i % 3) {
        case 0:
            fds[i] = memfd_create("vmig-test", MFD_CLOEXEC);
            g_assert_cmpint(fds[i], >=, 0);
            break;
        case 1:
            fds[i] = make_temp_file(dir);
            break;
        default:
            g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
            close(p[1]);
            fds[i] = p[0];
            break;
        }
    }
    return fds;
}

/* Returns: "dev:ino" of @fd, newly allocated. */
static char *
file_identity(int fd)
{
    struct stat st;

    g_assert_cmpint(fstat(fd, &st), ==, 0);
    return g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, (guint64)st.st_dev,
                           (guint64)st.st_ino);
}

/* Fails unless the @n fds are open on @n different files. */
static void
assert_all_distinct(const int *fds, gsize n)
{
    g_autoptr(GHashTable) seen =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gsize i;

    for (i = 0; i < n; i++)
        g_assert_true(g_hash_table_add(seen, file_identity(fds[i])));
}

/* Fails unless each @got[i] is another fd on @orig[i]'s file. */
static void
assert_same_files(const int *orig, const int *got, gsize n)
{
    gsize i;

    for (i = 0; i < n; i++) {
        g_autofree char *a = file_identity(orig[i]);
        g_autofree char *b = file_identity(got[i]);

        g_assert_cmpint(orig[i], !=, got[i]);
        g_assert_cmpstr(a, ==, b);
    }
}

/* Fails unless each fd is close-on-exec and (non)blocking per @nonblock. */
static void
assert_fd_modes(const int *fds, gsize n, gboolean nonblock)
{
    gsize i;

    for (i = 0; i < n; i++) {
        int fdfl = fcntl(fds[i], F_GETFD);
        int fl = fcntl(fds[i], F_GETFL);

        g_assert_cmpint(fdfl, >=, 0);
        g_assert_cmpint(fl, >=, 0);
        g_assert_true(fdfl & FD_CLOEXEC);
        g_assert_cmpint(!!(fl & O_NONBLOCK), ==, !!nonblock);
    }
}

/* Put @fd in non-blocking mode or take it out. */
static void
set_nonblock(int fd, gboolean on)
{
    int fl = fcntl(fd, F_GETFL);

    g_assert_cmpint(fl, >=, 0);
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    g_assert_cmpint(fcntl(fd, F_SETFL, fl), ==, 0);
}

/* Fails unless nothing waits on @sock (left blocking). */
static void
assert_nothing_waiting(int sock)
{
    g_autoptr(GError) error = NULL;
    g_autofree int *fds = NULL;
    gsize nfds = 99;
    guint8 buf[16];

    set_nonblock(sock, TRUE);
    g_assert_cmpint(vmig_fdpass_recv(sock, buf, sizeof(buf), VMIG_FDPASS_MAX_FDS, &fds,
                                     &nfds, VMIG_FDPASS_RECV_BLOCKING, &error),
                    ==, -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_WOULD_BLOCK);
    g_assert_null(fds);
    g_assert_cmpuint(nfds, ==, 0);
    set_nonblock(sock, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Fixture: a connected stream socketpair, a scratch directory, a fd count */

typedef struct {
    VmigFd a;          /* the sending end */
    VmigFd b;          /* the receiving end */
    char *tmpdir;      /* empty scratch directory */
    guint fd_baseline; /* open fds before setup */
} Pair;

/* Count open fds, then open the pair and the scratch directory. */
static void
pair_setup(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    int sv[2];

    p->fd_baseline = vmig_test_count_fds(0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    p->a = sv[0];
    p->b = sv[1];
    p->tmpdir = g_dir_make_tmp("vmig-test-fdpass-XXXXXX", &error);
    g_assert_no_error(error);
}

/* Close what the test left open and check no fd leaked. */
static void
pair_teardown(Pair *p, gconstpointer data)
{
    vmig_fd_clear(&p->a);
    vmig_fd_clear(&p->b);
    g_assert_cmpint(g_rmdir(p->tmpdir), ==, 0);
    g_clear_pointer(&p->tmpdir, g_free);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, p->fd_baseline);
}

/* ------------------------------------------------------------------------ */
/* Sending and receiving */

typedef struct {
    gsize nfds;
    VmigFdpassRecvFlags flags;
} SendCase;

static const SendCase send_0 = {0, VMIG_FDPASS_RECV_BLOCKING};
static const SendCase send_1_blocking = {1, VMIG_FDPASS_RECV_BLOCKING};
static const SendCase send_1_nonblock = {1, VMIG_FDPASS_RECV_NONBLOCK};
static const SendCase send_253_blocking = {VMIG_FDPASS_MAX_FDS,
                                           VMIG_FDPASS_RECV_BLOCKING};
static const SendCase send_253_nonblock = {VMIG_FDPASS_MAX_FDS,
                                           VMIG_FDPASS_RECV_NONBLOCK};

static const char payload[] = "vmig fdpass payload";

static void
test_send_roundtrip(Pair *p, gconstpointer data)
{
    const SendCase *c = data;
    gboolean nonblock = (c->flags & VMIG_FDPASS_RECV_NONBLOCK) != 0;
    g_autoptr(GError) error = NULL;
    g_autofree int *orig = make_distinct_fds(p->tmpdir, c->nfds);
    int *got = NULL;
    gsize ngot = 99;
    guint8 buf[64];
    gsize i;

    assert_all_distinct(orig, c->nfds);
    /* Start in the other mode, so the receiver has to change it. */
    for (i = 0; i < c->nfds; i++)
        set_nonblock(orig[i], !nonblock);

    g_assert_cmpint(
        vmig_fdpass_send(p->a, payload, sizeof(payload), orig, c->nfds, &error), ==,
        sizeof(payload));
    g_assert_no_error(error);

    g_assert_cmpint(vmig_fdpass_recv(p->b, buf, sizeof(buf), VMIG_FDPASS_MAX_FDS, &got,
                                     &ngot, c->flags, &error),
                    ==, sizeof(payload));
    g_assert_no_error(error);
    g_assert_cmpmem(buf, sizeof(payload), payload, sizeof(payload));
    g_assert_cmpuint(ngot, ==, c->nfds);
    if (c->nfds == 0)
        g_assert_null(got);
    assert_same_files(orig, got, ngot);
    assert_fd_modes(got, ngot, nonblock);

    vmig_fdpass_close_all(got, ngot);
    vmig_fdpass_close_all(g_steal_pointer(&orig), c->nfds);
}

static void
test_send_too_many(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    int fds[VMIG_FDPASS_MAX_FDS + 1];
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(fds); i++)
        fds[i] = p->b;

    /* Refused before any syscall: even an invalid socket gets this error. */
    g_assert_cmpint(
        vmig_fdpass_send(-1, payload, sizeof(payload), fds, G_N_ELEMENTS(fds), &error),
        ==, -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_TOO_MANY_FDS);
    g_assert_nonnull(strstr(error->message, "254"));
    g_clear_error(&error);

    g_assert_cmpint(
        vmig_fdpass_send(p->a, payload, sizeof(payload), fds, G_N_ELEMENTS(fds), &error),
        ==, -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_TOO_MANY_FDS);
    g_clear_error(&error);

    g_assert_false(vmig_fdpass_send_all(p->a, payload, sizeof(payload), fds,
                                        G_N_ELEMENTS(fds), &error));
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_TOO_MANY_FDS);

    assert_nothing_waiting(p->b);
}

static void
test_send_empty_payload(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    int fds[1] = {p->b};

    g_assert_cmpint(vmig_fdpass_send(-1, "", 0, fds, 1, &error), ==, -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_EMPTY_PAYLOAD);
    g_clear_error(&error);

    g_assert_cmpint(vmig_fdpass_send(p->a, "", 0, fds, 1, &error), ==, -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_EMPTY_PAYLOAD);
    g_clear_error(&error);

    g_assert_false(vmig_fdpass_send_all(p->a, "", 0, fds, 1, &error));
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_EMPTY_PAYLOAD);
    g_clear_error(&error);

    /* No fds and no bytes is not an error, and sends nothing. */
    g_assert_cmpint(vmig_fdpass_send(p->a, NULL, 0, NULL, 0, &error), ==, 0);
    g_assert_no_error(error);
    g_assert_true(vmig_fdpass_send_all(p->a, NULL, 0, NULL, 0, &error));
    g_assert_no_error(error);

    assert_nothing_waiting(p->b);
}

static void
test_send_bad_fd(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    int fds[2] = {p->b, -1};

    g_assert_cmpint(vmig_fdpass_send(p->a, payload, sizeof(payload), fds, 2, &error), ==,
                    -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO);
    g_assert_nonnull(strstr(error->message, g_strerror(EBADF)));

    assert_nothing_waiting(p->b);
}

static void
test_send_epipe(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    /* Without MSG_NOSIGNAL this would kill the test with SIGPIPE. */
    vmig_fd_clear(&p->b);
    g_assert_cmpint(vmig_fdpass_send(p->a, payload, sizeof(payload), NULL, 0, &error), ==,
                    -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO);
    g_assert_nonnull(strstr(error->message, g_strerror(EPIPE)));
    g_clear_error(&error);

    g_assert_false(vmig_fdpass_send_all(p->a, payload, sizeof(payload), NULL, 0, &error));
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO);
}

static void
test_send_would_block(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *chunk = g_malloc0(65536);
    guint i;

    set_nonblock(p->a, TRUE);
    for (i = 0; i < 10000; i++) {
        if (vmig_fdpass_send(p->a, chunk, 65536, NULL, 0, &error) < 0)
            break;
    }
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_WOULD_BLOCK);
}

static void
test_send_short_write(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    const gsize len = 8 * 1024 * 1024;
    g_autofree guint8 *big = g_malloc0(len);
    g_autofree int *orig = make_distinct_fds(p->tmpdir, 2);
    struct timeval tv = {0, 50 * 1000};
    int *got = NULL;
    gsize ngot = 0;
    guint8 buf[4096];
    gssize n;

    /* A blocking stream send that times out after some bytes went returns
     * the short count: the case send_all() exists for. */
    g_assert_cmpint(setsockopt(p->a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), ==, 0);
    n = vmig_fdpass_send(p->a, big, len, orig, 2, &error);
    g_assert_no_error(error);
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(n, <, (gssize)len);

    /* The fds came with the first bytes. */
    g_assert_cmpint(vmig_fdpass_recv(p->b, buf, sizeof(buf), VMIG_FDPASS_MAX_FDS, &got,
                                     &ngot, VMIG_FDPASS_RECV_BLOCKING, &error),
                    >, 0);
    g_assert_no_error(error);
    g_assert_cmpuint(ngot, ==, 2);
    assert_same_files(orig, got, ngot);
    vmig_fdpass_close_all(got, ngot);
    vmig_fdpass_close_all(g_steal_pointer(&orig), 2);
}

static void
test_recv_eof(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    int *got = GINT_TO_POINTER(1);
    gsize ngot = 99;
    guint8 buf[16];

    vmig_fd_clear(&p->a);
    g_assert_cmpint(vmig_fdpass_recv(p->b, buf, sizeof(buf), VMIG_FDPASS_MAX_FDS, &got,
                                     &ngot, VMIG_FDPASS_RECV_BLOCKING, &error),
                    ==, 0);
    g_assert_no_error(error);
    g_assert_null(got);
    g_assert_cmpuint(ngot, ==, 0);
}

static void
test_recv_would_block(Pair *p, gconstpointer data)
{
    assert_nothing_waiting(p->b);
}

static void
test_recv_short_payload(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree int *orig = make_distinct_fds(p->tmpdir, 2);
    int *got = NULL;
    gsize ngot = 0;
    guint8 buf[64];

    /* One byte is enough to carry fds. */
    g_assert_cmpint(vmig_fdpass_send(p->a, "x", 1, orig, 1, &error), ==, 1);
    g_assert_no_error(error);
    g_assert_cmpint(vmig_fdpass_recv(p->b, buf, sizeof(buf), 1, &got, &ngot,
                                     VMIG_FDPASS_RECV_BLOCKING, &error),
                    ==, 1);
    g_assert_no_error(error);
    g_assert_cmpint(buf[0], ==, 'x');
    g_assert_cmpuint(ngot, ==, 1);
    assert_same_files(orig, got, 1);
    vmig_fdpass_close_all(g_steal_pointer(&got), ngot);

    /* A buffer shorter than the payload: the fd comes with the first part,
     * the rest follows without one. */
    g_assert_cmpint(vmig_fdpass_send(p->a, "abcdefghij", 10, orig + 1, 1, &error), ==,
                    10);
    g_assert_no_error(error);
    g_assert_cmpint(
        vmig_fdpass_recv(p->b, buf, 4, 1, &got, &ngot, VMIG_FDPASS_RECV_BLOCKING, &error),
        ==, 4);
    g_assert_no_error(error);
    g_assert_cmpmem(buf, 4, "abcd", 4);
    g_assert_cmpuint(ngot, ==, 1);
    assert_same_files(orig + 1, got, 1);
    vmig_fdpass_close_all(g_steal_pointer(&got), ngot);

    g_assert_cmpint(vmig_fdpass_recv(p->b, buf, sizeof(buf), 1, &got, &ngot,
                                     VMIG_FDPASS_RECV_BLOCKING, &error),
                    ==, 6);
    g_assert_no_error(error);
    g_assert_cmpmem(buf, 6, "efghij", 6);
    g_assert_null(got);
    g_assert_cmpuint(ngot, ==, 0);

    vmig_fdpass_close_all(g_steal_pointer(&orig), 2);
}

/*
 * Send @nfds fresh fds with one byte, close the originals, and check that a
 * receive with @max_fds fails with @code and leaves no fd behind.
 */
static void
check_refused_recv(Pair *p, gsize nfds, gsize max_fds, int code)
{
    g_autoptr(GError) error = NULL;
    guint before = vmig_test_count_fds(0);
    int *orig = make_distinct_fds(p->tmpdir, nfds);
    int *got = GINT_TO_POINTER(1);
    gsize ngot = 99;
    guint8 buf[16];

    g_assert_cmpint(vmig_fdpass_send(p->a, "!", 1, orig, nfds, &error), ==, 1);
    g_assert_no_error(error);
    /* In flight, the fds are held by the socket, not by this process. */
    vmig_fdpass_close_all(orig, nfds);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, before);

    g_assert_cmpint(vmig_fdpass_recv(p->b, buf, sizeof(buf), max_fds, &got, &ngot,
                                     VMIG_FDPASS_RECV_BLOCKING, &error),
                    ==, -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, code);
    g_test_message("refused as expected: %s", error->message);
    g_assert_null(got);
    g_assert_cmpuint(ngot, ==, 0);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, before);
}

static void
test_recv_ctrunc(Pair *p, gconstpointer data)
{
    check_refused_recv(p, 10, 2, VMIG_FDPASS_ERROR_CTRUNC);
}

static void
test_recv_ctrunc_zero(Pair *p, gconstpointer data)
{
    check_refused_recv(p, 1, 0, VMIG_FDPASS_ERROR_CTRUNC);
}

static void
test_recv_ctrunc_one_over(Pair *p, gconstpointer data)
{
    check_refused_recv(p, VMIG_FDPASS_MAX_FDS, VMIG_FDPASS_MAX_FDS - 1,
                       VMIG_FDPASS_ERROR_CTRUNC);
}

static void
test_recv_credentials(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    int one = 1;
    int *got = NULL;
    gsize ngot = 0;
    guint8 buf[16];

    /* With SO_PASSCRED the kernel attaches SCM_CREDENTIALS to every message. */
    g_assert_cmpint(setsockopt(p->b, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), ==, 0);

    check_refused_recv(p, 3, VMIG_FDPASS_MAX_FDS, VMIG_FDPASS_ERROR_MALFORMED);
    check_refused_recv(p, VMIG_FDPASS_MAX_FDS - 10, VMIG_FDPASS_MAX_FDS,
                       VMIG_FDPASS_ERROR_MALFORMED);

    /* Credentials alone are refused too, and named. */
    g_assert_cmpint(vmig_fdpass_send(p->a, "!", 1, NULL, 0, &error), ==, 1);
    g_assert_no_error(error);
    g_assert_cmpint(vmig_fdpass_recv(p->b, buf, sizeof(buf), VMIG_FDPASS_MAX_FDS, &got,
                                     &ngot, VMIG_FDPASS_RECV_BLOCKING, &error),
                    ==, -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_MALFORMED);
    g_assert_nonnull(strstr(error->message, "SCM_CREDENTIALS"));
    g_assert_null(got);
}

static void
test_recv_dgram_empty(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    g_auto(VmigFd) a = -1;
    g_auto(VmigFd) b = -1;
    g_auto(VmigFd) memfd = -1;
    struct msghdr msg;
    struct cmsghdr *cmsg;
    guint before;
    int *got = NULL;
    gsize ngot = 0;
    guint8 buf[16];
    int sv[2];

    /* A datagram can carry fds with no byte at all; our senders never do
     * that, so the receiver refuses it (and closes the fd). */
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    a = sv[0];
    b = sv[1];
    memfd = memfd_create("vmig-test", MFD_CLOEXEC);
    g_assert_cmpint(memfd, >=, 0);

    memset(&msg, 0, sizeof(msg));
    memset(&control, 0, sizeof(control));
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &memfd, sizeof(int));
    g_assert_cmpint(sendmsg(a, &msg, 0), ==, 0);
    vmig_fd_clear(&memfd);

    before = vmig_test_count_fds(0);
    g_assert_cmpint(vmig_fdpass_recv(b, buf, sizeof(buf), VMIG_FDPASS_MAX_FDS, &got,
                                     &ngot, VMIG_FDPASS_RECV_BLOCKING, &error),
                    ==, -1);
    g_assert_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_MALFORMED);
    g_assert_null(got);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, before);
}

/* Signals that interrupt blocked syscalls (installed without SA_RESTART). */
static volatile sig_atomic_t interrupts;

/* Count the signal; its only job is to interrupt a syscall. */
static void
on_sigusr1(int sig)
{
    interrupts++;
}

/* Catch SIGUSR1 without SA_RESTART; the old action goes to @old. */
static void
install_interrupter(struct sigaction *old)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    interrupts = 0;
    g_assert_cmpint(sigaction(SIGUSR1, &sa, old), ==, 0);
}

typedef struct {
    int sock;
    pthread_t victim;  /* the thread to interrupt */
    guint to_send;     /* how many SIGUSR1 to send it, one per read */
    GByteArray *bytes; /* everything read */
    GArray *fds;       /* every fd received */
    gsize fds_at;      /* payload offset where fds arrived */
    guint fd_messages; /* how many reads carried fds */
    GError *error;
} Reader;

/* Read @data (a Reader) to EOF, interrupting the sender now and then.  Returns NULL. */
static gpointer
reader_thread(gpointer data)
{
    Reader *r = data;
    g_autofree guint8 *buf = g_malloc(65536);

    for (;;) {
        int *got = NULL;
        gsize ngot = 0;
        gssize n;

        if (r->to_send > 0) {
            /* Let the sender fill the socket and block, then interrupt it:
             * its sendmsg returns short (or EINTR when nothing went yet). */
            g_usleep(20 * 1000);
            pthread_kill(r->victim, SIGUSR1);
            r->to_send--;
        }
        n = vmig_fdpass_recv(r->sock, buf, 65536, VMIG_FDPASS_MAX_FDS, &got, &ngot,
                             VMIG_FDPASS_RECV_BLOCKING, &r->error);
        if (n <= 0)
            break;
        if (ngot > 0) {
            r->fds_at = r->bytes->len;
            r->fd_messages++;
            g_array_append_vals(r->fds, got, ngot);
            g_free(got);
        }
        g_byte_array_append(r->bytes, buf, (guint)n);
    }
    return NULL;
}

static void
test_send_all_large(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    const gsize len = 4 * 1024 * 1024;
    const gsize nfds = 5;
    g_autofree guint8 *big = g_malloc(len);
    g_autofree int *orig = make_distinct_fds(p->tmpdir, nfds);
    struct sigaction old;
    Reader r = {0};
    GThread *thread;
    gsize i;

    for (i = 0; i < len; i++)
        big[i] = (guint8)(i * 31 + (i >> 13));

    install_interrupter(&old);
    r.sock = p->b;
    r.victim = pthread_self();
    r.to_send = 4;
    r.bytes = g_byte_array_new();
    r.fds = g_array_new(FALSE, FALSE, sizeof(int));
    thread = g_thread_new("fdpass-reader", reader_thread, &r);

    g_assert_true(vmig_fdpass_send_all(p->a, big, len, orig, nfds, &error));
    g_assert_no_error(error);
    g_assert_cmpint(shutdown(p->a, SHUT_WR), ==, 0);
    g_thread_join(thread);
    g_assert_cmpint(sigaction(SIGUSR1, &old, NULL), ==, 0);
    g_test_message("sender interrupted %d times", (int)interrupts);

    g_assert_no_error(r.error);
    g_assert_cmpmem(r.bytes->data, r.bytes->len, big, len);
    g_assert_cmpuint(r.fd_messages, ==, 1);
    g_assert_cmpuint(r.fds_at, ==, 0);
    g_assert_cmpuint(r.fds->len, ==, nfds);
    assert_same_files(orig, (int *)(void *)r.fds->data, nfds);
    assert_fd_modes((int *)(void *)r.fds->data, nfds, FALSE);

    vmig_fdpass_close_all((int *)(void *)g_array_free(r.fds, FALSE), nfds);
    g_byte_array_unref(r.bytes);
    vmig_fdpass_close_all(g_steal_pointer(&orig), nfds);
}

typedef struct {
    int sock;
    pthread_t victim;
    int fd; /* sent once the victim has been interrupted */
} Interrupter;

/* Interrupt the receiver blocked in recvmsg, then send a byte and a fd.  Returns NULL. */
static gpointer
interrupter_thread(gpointer data)
{
    Interrupter *it = data;
    GError *error = NULL;

    g_usleep(50 * 1000);
    pthread_kill(it->victim, SIGUSR1);
    g_usleep(50 * 1000);
    if (vmig_fdpass_send(it->sock, "i", 1, &it->fd, 1, &error) != 1)
        g_error("send from interrupter thread: %s", error->message);
    return NULL;
}

static void
test_recv_interrupted(Pair *p, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_auto(VmigFd) memfd = memfd_create("vmig-test", MFD_CLOEXEC);
    Interrupter it;
    struct sigaction old;
    GThread *thread;
    int *got = NULL;
    gsize ngot = 0;
    guint8 buf[16];
    gssize n;

    g_assert_cmpint(memfd, >=, 0);
    install_interrupter(&old);
    it.sock = p->a;
    it.victim = pthread_self();
    it.fd = memfd;
    thread = g_thread_new("fdpass-interrupter", interrupter_thread, &it);

    n = vmig_fdpass_recv(p->b, buf, sizeof(buf), 1, &got, &ngot,
                         VMIG_FDPASS_RECV_NONBLOCK, &error);
    g_thread_join(thread);
    g_assert_cmpint(sigaction(SIGUSR1, &old, NULL), ==, 0);

    g_assert_no_error(error);
    g_assert_cmpint(n, ==, 1);
    g_assert_cmpint(interrupts, ==, 1);
    g_assert_cmpuint(ngot, ==, 1);
    assert_same_files(&it.fd, got, 1);
    assert_fd_modes(got, 1, TRUE);
    vmig_fdpass_close_all(got, ngot);
}

static void
test_close_all(Pair *p, gconstpointer data)
{
    guint before = vmig_test_count_fds(0);
    int *fds = make_distinct_fds(p->tmpdir, 4);

    vmig_fdpass_close_all(NULL, 0);
    /* An entry already closed and marked -1 is skipped. */
    g_assert_cmpint(close(fds[2]), ==, 0);
    fds[2] = -1;
    g_assert_cmpuint(vmig_test_count_fds(0), ==, before + 3);
    errno = EXDEV;
    vmig_fdpass_close_all(fds, 4);
    g_assert_cmpint(errno, ==, EXDEV);
    g_assert_cmpuint(vmig_test_count_fds(0), ==, before);
}

/* ------------------------------------------------------------------------ */
/* check_stream_socket */

/*
 * Fails unless check_stream_socket(@fd) refuses with @code and a message
 * that holds @word.
 */
static void
assert_check_refuses(int fd, int code, const char *word)
{
    g_autoptr(GError) error = NULL;

    g_assert_false(vmig_fdpass_check_stream_socket(fd, &error));
    g_assert_error(error, VMIG_FDPASS_ERROR, code);
    g_test_message("fd %d refused: %s", fd, error->message);
    if (word && !strstr(error->message, word))
        g_error("message '%s' does not mention '%s'", error->message, word);
}

/* Fails unless check_stream_socket(@fd) accepts @fd. */
static void
assert_check_accepts(int fd)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(vmig_fdpass_check_stream_socket(fd, &error));
    g_assert_no_error(error);
}

static void
test_check_socketpair(Pair *p, gconstpointer data)
{
    assert_check_accepts(p->a);
    assert_check_accepts(p->b);
}

static void
test_check_unix_connected(Pair *p, gconstpointer data)
{
    g_autofree char *path = g_build_filename(p->tmpdir, "sock", NULL);
    g_auto(VmigFd) listener = -1;
    g_auto(VmigFd) client = -1;
    g_auto(VmigFd) server = -1;
    struct sockaddr_un addr;

    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);

    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(listener, >=, 0);
    g_assert_cmpint(bind(listener, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    /* Bound but not yet listening: still not a channel. */
    assert_check_refuses(listener, VMIG_FDPASS_ERROR_NOT_CONNECTED, "not connected");
    g_assert_cmpint(listen(listener, 1), ==, 0);

    client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(client, >=, 0);
    g_assert_cmpint(connect(client, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(server, >=, 0);

    assert_check_accepts(client);
    assert_check_accepts(server);
    assert_check_refuses(listener, VMIG_FDPASS_ERROR_NOT_CONNECTED, "listening socket");

    g_assert_cmpint(g_unlink(path), ==, 0);
}

static void
test_check_unconnected(Pair *p, gconstpointer data)
{
    g_auto(VmigFd) fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    assert_check_refuses(fd, VMIG_FDPASS_ERROR_NOT_CONNECTED, "not connected");
}

static void
test_check_pipe(Pair *p, gconstpointer data)
{
    g_auto(VmigFd) r = -1;
    g_auto(VmigFd) w = -1;
    int fds[2];

    g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
    r = fds[0];
    w = fds[1];
    assert_check_refuses(r, VMIG_FDPASS_ERROR_NOT_SOCKET, "is a pipe, not a socket");
    assert_check_refuses(w, VMIG_FDPASS_ERROR_NOT_SOCKET, "pipe");
}

static void
test_check_regular_file(Pair *p, gconstpointer data)
{
    g_auto(VmigFd) fd = make_temp_file(p->tmpdir);

    assert_check_refuses(fd, VMIG_FDPASS_ERROR_NOT_SOCKET, "a regular file");
}

static void
test_check_other_files(Pair *p, gconstpointer data)
{
    g_auto(VmigFd) null = open("/dev/null", O_RDWR | O_CLOEXEC);
    g_auto(VmigFd) dir = open(p->tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    g_assert_cmpint(null, >=, 0);
    g_assert_cmpint(dir, >=, 0);
    assert_check_refuses(null, VMIG_FDPASS_ERROR_NOT_SOCKET, "a character device");
    assert_check_refuses(dir, VMIG_FDPASS_ERROR_NOT_SOCKET, "a directory");
}

static void
test_check_dgram(Pair *p, gconstpointer data)
{
    g_auto(VmigFd) a = -1;
    g_auto(VmigFd) b = -1;
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    a = sv[0];
    b = sv[1];
    assert_check_refuses(a, VMIG_FDPASS_ERROR_NOT_STREAM, "SOCK_DGRAM");
    assert_check_refuses(b, VMIG_FDPASS_ERROR_NOT_STREAM, "SOCK_DGRAM");
}

static void
test_check_seqpacket(Pair *p, gconstpointer data)
{
    g_auto(VmigFd) a = -1;
    g_auto(VmigFd) b = -1;
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    a = sv[0];
    b = sv[1];
    assert_check_refuses(a, VMIG_FDPASS_ERROR_NOT_STREAM, "SOCK_SEQPACKET");
}

static void
test_check_bad_fd(Pair *p, gconstpointer data)
{
    int closed = dup(p->a);

    g_assert_cmpint(closed, >=, 0);
    g_assert_cmpint(close(closed), ==, 0);
    assert_check_refuses(-1, VMIG_FDPASS_ERROR_IO, g_strerror(EBADF));
    assert_check_refuses(closed, VMIG_FDPASS_ERROR_IO, g_strerror(EBADF));
}

/* ------------------------------------------------------------------------ */
/* Preamble */

/* Fill @token with 00 01 02 ... 0f, the golden files' token. */
static void
fill_counting_token(guint8 token[VMIG_TOKEN_SIZE])
{
    guint i;

    for (i = 0; i < VMIG_TOKEN_SIZE; i++)
        token[i] = (guint8)i;
}

typedef struct {
    const char *name;
    VmigPreambleKind kind;
    guint16 index;
} GoldenCase;

static const GoldenCase golden_main = {"main.bin", VMIG_PREAMBLE_KIND_MAIN, 0};
static const GoldenCase golden_channel_0 = {"channel-0.bin", VMIG_PREAMBLE_KIND_CHANNEL,
                                            0};
static const GoldenCase golden_channel_3 = {"channel-3.bin", VMIG_PREAMBLE_KIND_CHANNEL,
                                            3};

static void
test_preamble_golden(gconstpointer data)
{
    const GoldenCase *c = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autofree char *contents = NULL;
    guint8 expected[VMIG_PREAMBLE_SIZE];
    gsize expected_len;
    gsize len = 0;

    if (c->kind == VMIG_PREAMBLE_KIND_MAIN) {
        vmig_preamble_encode_main(expected);
        expected_len = VMIG_PREAMBLE_MAGIC_SIZE;
    } else {
        VmigPreamble pre;

        fill_counting_token(pre.token);
        pre.index = c->index;
        vmig_preamble_encode(&pre, expected);
        expected_len = VMIG_PREAMBLE_SIZE;
    }

    path = g_test_build_filename(G_TEST_DIST, "data", "preamble", c->name, NULL);
    if (vmig_test_regenerate()) {
        g_assert_true(g_file_set_contents(path, (const char *)expected,
                                          (gssize)expected_len, &error));
        g_assert_no_error(error);
        g_test_message("regenerated %s", path);
        return;
    }

    g_assert_true(g_file_get_contents(path, &contents, &len, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(len, ==, expected_len);
    g_assert_cmpint(vmig_preamble_classify((const guint8 *)contents), ==, c->kind);

    if (c->kind == VMIG_PREAMBLE_KIND_MAIN) {
        guint8 again[VMIG_PREAMBLE_MAGIC_SIZE];

        g_assert_cmpmem(contents, len, "VMGM", 4);
        vmig_preamble_encode_main(again);
        g_assert_cmpmem(again, sizeof(again), contents, len);
    } else {
        guint8 token[VMIG_TOKEN_SIZE];
        guint8 again[VMIG_PREAMBLE_SIZE];
        VmigPreamble pre;

        g_assert_cmpmem(contents, 4, "VMGC", 4);
        g_assert_true(vmig_preamble_decode((const guint8 *)contents, len, &pre, &error));
        g_assert_no_error(error);
        fill_counting_token(token);
        g_assert_cmpmem(pre.token, VMIG_TOKEN_SIZE, token, VMIG_TOKEN_SIZE);
        g_assert_cmpuint(pre.index, ==, c->index);
        vmig_preamble_encode(&pre, again);
        g_assert_cmpmem(again, sizeof(again), contents, len);
    }
}

static void
test_preamble_classify(void)
{
    static const struct {
        const char bytes[5];
        VmigPreambleKind kind;
    } cases[] = {
        {"VMGM", VMIG_PREAMBLE_KIND_MAIN},
        {"VMGC", VMIG_PREAMBLE_KIND_CHANNEL},
        {"VMGD", VMIG_PREAMBLE_KIND_DOMAIN},
        {"VMGR", VMIG_PREAMBLE_KIND_UNKNOWN}, /* a handshake frame, not an opener */
        {"vmgm", VMIG_PREAMBLE_KIND_UNKNOWN},
        {"MGMV", VMIG_PREAMBLE_KIND_UNKNOWN},
        {"CGMV", VMIG_PREAMBLE_KIND_UNKNOWN},
        {"GET ", VMIG_PREAMBLE_KIND_UNKNOWN},
        {"\0\0\0\0", VMIG_PREAMBLE_KIND_UNKNOWN},
        {"\xff\xff\xff\xff", VMIG_PREAMBLE_KIND_UNKNOWN},
    };
    guint8 main_opener[VMIG_PREAMBLE_MAGIC_SIZE];
    guint8 channel[VMIG_PREAMBLE_SIZE];
    VmigPreamble pre = {{0}, 7};
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++)
        g_assert_cmpint(vmig_preamble_classify((const guint8 *)cases[i].bytes), ==,
                        cases[i].kind);

    vmig_preamble_encode_main(main_opener);
    g_assert_cmpint(vmig_preamble_classify(main_opener), ==, VMIG_PREAMBLE_KIND_MAIN);
    vmig_preamble_encode(&pre, channel);
    g_assert_cmpint(vmig_preamble_classify(channel), ==, VMIG_PREAMBLE_KIND_CHANNEL);
}

static void
test_preamble_kind_to_string(void)
{
    g_assert_cmpstr(vmig_preamble_kind_to_string(VMIG_PREAMBLE_KIND_UNKNOWN), ==,
                    "unknown");
    g_assert_cmpstr(vmig_preamble_kind_to_string(VMIG_PREAMBLE_KIND_MAIN), ==, "main");
    g_assert_cmpstr(vmig_preamble_kind_to_string(VMIG_PREAMBLE_KIND_CHANNEL), ==,
                    "channel");
    g_assert_cmpstr(vmig_preamble_kind_to_string(VMIG_PREAMBLE_KIND_DOMAIN), ==,
                    "domain");
    g_assert_null(vmig_preamble_kind_to_string(VMIG_PREAMBLE_KIND_LAST));
}

static void
test_preamble_decode_short(void)
{
    guint8 buf[VMIG_PREAMBLE_SIZE];
    VmigPreamble pre = {{0}, 0};
    gsize len;

    fill_counting_token(pre.token);
    pre.index = 9;
    vmig_preamble_encode(&pre, buf);

    for (len = 0; len < VMIG_PREAMBLE_SIZE; len++) {
        g_autoptr(GError) error = NULL;
        VmigPreamble out = {{0xaa}, 0xaaaa};

        g_assert_false(vmig_preamble_decode(buf, len, &out, &error));
        g_assert_error(error, VMIG_PREAMBLE_ERROR, VMIG_PREAMBLE_ERROR_SHORT);
        g_assert_cmpuint(out.index, ==, 0xaaaa);
    }

    {
        g_autoptr(GError) error = NULL;
        VmigPreamble out;

        g_assert_false(vmig_preamble_decode(NULL, 0, &out, &error));
        g_assert_error(error, VMIG_PREAMBLE_ERROR, VMIG_PREAMBLE_ERROR_SHORT);
    }
}

static void
test_preamble_decode_bad_magic(void)
{
    g_autoptr(GError) error = NULL;
    guint8 buf[VMIG_PREAMBLE_SIZE];
    VmigPreamble pre = {{0}, 1};
    VmigPreamble out = {{0}, 0xaaaa};
    gsize i;

    vmig_preamble_encode(&pre, buf);
    for (i = 0; i < VMIG_PREAMBLE_MAGIC_SIZE; i++) {
        buf[i] ^= 0x20;
        g_assert_false(vmig_preamble_decode(buf, sizeof(buf), &out, &error));
        g_assert_error(error, VMIG_PREAMBLE_ERROR, VMIG_PREAMBLE_ERROR_BAD_MAGIC);
        g_assert_cmpuint(out.index, ==, 0xaaaa);
        g_clear_error(&error);
        buf[i] ^= 0x20;
    }

    /* The main channel's opener is not a channel preamble either. */
    vmig_preamble_encode_main(buf);
    g_assert_false(vmig_preamble_decode(buf, sizeof(buf), &out, &error));
    g_assert_error(error, VMIG_PREAMBLE_ERROR, VMIG_PREAMBLE_ERROR_BAD_MAGIC);
    g_assert_nonnull(strstr(error->message, "0x564d474d"));
    g_assert_nonnull(strstr(error->message, "VMGM"));
}

static void
test_preamble_decode_reserved(void)
{
    g_autoptr(GError) error = NULL;
    guint8 buf[VMIG_PREAMBLE_SIZE];
    guint8 again[VMIG_PREAMBLE_SIZE];
    VmigPreamble pre;
    VmigPreamble out;

    fill_counting_token(pre.token);
    pre.index = 0x1234;
    vmig_preamble_encode(&pre, buf);
    g_assert_cmpint(buf[22], ==, 0);
    g_assert_cmpint(buf[23], ==, 0);

    buf[22] = 0xff;
    buf[23] = 0x01;
    g_assert_true(vmig_preamble_decode(buf, sizeof(buf), &out, &error));
    g_assert_no_error(error);
    g_assert_cmpmem(out.token, VMIG_TOKEN_SIZE, pre.token, VMIG_TOKEN_SIZE);
    g_assert_cmpuint(out.index, ==, 0x1234);

    vmig_preamble_encode(&out, again);
    g_assert_cmpmem(again, 22, buf, 22);
    g_assert_cmpint(again[22], ==, 0);
    g_assert_cmpint(again[23], ==, 0);
}

static void
test_preamble_decode_longer(void)
{
    g_autoptr(GError) error = NULL;
    guint8 buf[VMIG_PREAMBLE_SIZE + 8];
    VmigPreamble pre;
    VmigPreamble out;

    /* Bytes after the preamble belong to the stream that follows. */
    memset(buf, 0xee, sizeof(buf));
    fill_counting_token(pre.token);
    pre.index = 42;
    vmig_preamble_encode(&pre, buf);
    g_assert_true(vmig_preamble_decode(buf, sizeof(buf), &out, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(out.index, ==, 42);
}

static void
test_preamble_index_big_endian(void)
{
    static const guint16 indexes[] = {0x0102, 0x0001, 0x0100, 0xfffe, 0xffff};
    guint8 buf[VMIG_PREAMBLE_SIZE];
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(indexes); i++) {
        g_autoptr(GError) error = NULL;
        VmigPreamble pre = {{0}, indexes[i]};
        VmigPreamble out;

        vmig_preamble_encode(&pre, buf);
        g_assert_cmpint(buf[20], ==, indexes[i] >> 8);
        g_assert_cmpint(buf[21], ==, indexes[i] & 0xff);
        g_assert_true(vmig_preamble_decode(buf, sizeof(buf), &out, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(out.index, ==, indexes[i]);
    }

    {
        static const guint8 expected[VMIG_PREAMBLE_SIZE] = {
            'V', 'M', 'G', 'C', 0,  1,  2,  3,  4,    5,    6, 7,
            8,   9,   10,  11,  12, 13, 14, 15, 0x01, 0x02, 0, 0,
        };
        VmigPreamble pre;

        fill_counting_token(pre.token);
        pre.index = 0x0102;
        vmig_preamble_encode(&pre, buf);
        g_assert_cmpmem(buf, sizeof(buf), expected, sizeof(expected));
    }
}

static void
test_preamble_token_equal(void)
{
    guint8 a[VMIG_TOKEN_SIZE];
    guint8 b[VMIG_TOKEN_SIZE];

    fill_counting_token(a);
    fill_counting_token(b);
    g_assert_true(vmig_preamble_token_equal(a, b));
    g_assert_true(vmig_preamble_token_equal(a, a));
}

static void
test_preamble_token_differ_first(void)
{
    guint8 a[VMIG_TOKEN_SIZE];
    guint8 b[VMIG_TOKEN_SIZE];

    fill_counting_token(a);
    fill_counting_token(b);
    b[0] ^= 0x80;
    g_assert_false(vmig_preamble_token_equal(a, b));
    g_assert_false(vmig_preamble_token_equal(b, a));
}

static void
test_preamble_token_differ_last(void)
{
    guint8 a[VMIG_TOKEN_SIZE];
    guint8 b[VMIG_TOKEN_SIZE];

    fill_counting_token(a);
    fill_counting_token(b);
    b[VMIG_TOKEN_SIZE - 1] ^= 0x01;
    g_assert_false(vmig_preamble_token_equal(a, b));
    g_assert_false(vmig_preamble_token_equal(b, a));
}

static void
test_preamble_token_differ_each_bit(void)
{
    guint8 a[VMIG_TOKEN_SIZE];
    guint8 b[VMIG_TOKEN_SIZE];
    guint bit;

    fill_counting_token(a);
    for (bit = 0; bit < VMIG_TOKEN_SIZE * 8; bit++) {
        memcpy(b, a, sizeof(b));
        b[bit / 8] ^= (guint8)(1u << (bit % 8));
        g_assert_false(vmig_preamble_token_equal(a, b));
    }
}

static void
test_preamble_token_generate(void)
{
    g_autoptr(GError) error = NULL;
    static const guint8 zero[VMIG_TOKEN_SIZE];
    guint8 a[VMIG_TOKEN_SIZE];
    guint8 b[VMIG_TOKEN_SIZE];

    g_assert_true(vmig_preamble_token_generate(a, &error));
    g_assert_no_error(error);
    g_assert_true(vmig_preamble_token_generate(b, &error));
    g_assert_no_error(error);
    /* 2^-128 chances of a false failure. */
    g_assert_false(vmig_preamble_token_equal(a, b));
    g_assert_false(vmig_preamble_token_equal(a, zero));
    g_assert_false(vmig_preamble_token_equal(b, zero));
}

/* ------------------------------------------------------------------------ */

static void
test_no_leaks(void)
{
    g_assert_cmpuint(vmig_test_count_fds(0), ==, fd_count_at_start);
}

/* Register a test of the Pair fixture. */
static void
add_pair_test(const char *path, gconstpointer data, void (*func)(Pair *, gconstpointer))
{
    g_test_add(path, Pair, data, pair_setup, func, pair_teardown);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    add_pair_test("/fdpass/send/0", &send_0, test_send_roundtrip);
    add_pair_test("/fdpass/send/1/blocking", &send_1_blocking, test_send_roundtrip);
    add_pair_test("/fdpass/send/1/nonblock", &send_1_nonblock, test_send_roundtrip);
    add_pair_test("/fdpass/send/253/blocking", &send_253_blocking, test_send_roundtrip);
    add_pair_test("/fdpass/send/253/nonblock", &send_253_nonblock, test_send_roundtrip);
    add_pair_test("/fdpass/send/254-too-many", NULL, test_send_too_many);
    add_pair_test("/fdpass/send/empty-payload", NULL, test_send_empty_payload);
    add_pair_test("/fdpass/send/bad-fd", NULL, test_send_bad_fd);
    add_pair_test("/fdpass/send/epipe", NULL, test_send_epipe);
    add_pair_test("/fdpass/send/would-block", NULL, test_send_would_block);
    add_pair_test("/fdpass/send/short-write", NULL, test_send_short_write);
    add_pair_test("/fdpass/send-all/large", NULL, test_send_all_large);
    add_pair_test("/fdpass/recv/eof", NULL, test_recv_eof);
    add_pair_test("/fdpass/recv/would-block", NULL, test_recv_would_block);
    add_pair_test("/fdpass/recv/short-payload", NULL, test_recv_short_payload);
    add_pair_test("/fdpass/recv/interrupted", NULL, test_recv_interrupted);
    add_pair_test("/fdpass/recv/ctrunc", NULL, test_recv_ctrunc);
    add_pair_test("/fdpass/recv/ctrunc-max-0", NULL, test_recv_ctrunc_zero);
    add_pair_test("/fdpass/recv/ctrunc-one-over", NULL, test_recv_ctrunc_one_over);
    add_pair_test("/fdpass/recv/credentials", NULL, test_recv_credentials);
    add_pair_test("/fdpass/recv/dgram-fds-without-bytes", NULL, test_recv_dgram_empty);
    add_pair_test("/fdpass/close-all/all", NULL, test_close_all);
    add_pair_test("/fdpass/check/socketpair", NULL, test_check_socketpair);
    add_pair_test("/fdpass/check/unix-connected", NULL, test_check_unix_connected);
    add_pair_test("/fdpass/check/unconnected", NULL, test_check_unconnected);
    add_pair_test("/fdpass/check/pipe", NULL, test_check_pipe);
    add_pair_test("/fdpass/check/regular-file", NULL, test_check_regular_file);
    add_pair_test("/fdpass/check/other-files", NULL, test_check_other_files);
    add_pair_test("/fdpass/check/dgram", NULL, test_check_dgram);
    add_pair_test("/fdpass/check/seqpacket", NULL, test_check_seqpacket);
    add_pair_test("/fdpass/check/bad-fd", NULL, test_check_bad_fd);

    g_test_add_data_func("/preamble/golden/main", &golden_main, test_preamble_golden);
    g_test_add_data_func("/preamble/golden/channel-0", &golden_channel_0,
                         test_preamble_golden);
    g_test_add_data_func("/preamble/golden/channel-3", &golden_channel_3,
                         test_preamble_golden);
    g_test_add_func("/preamble/classify/all", test_preamble_classify);
    g_test_add_func("/preamble/kind/to-string", test_preamble_kind_to_string);
    g_test_add_func("/preamble/decode/short", test_preamble_decode_short);
    g_test_add_func("/preamble/decode/bad-magic", test_preamble_decode_bad_magic);
    g_test_add_func("/preamble/decode/reserved-ignored", test_preamble_decode_reserved);
    g_test_add_func("/preamble/decode/longer-input", test_preamble_decode_longer);
    g_test_add_func("/preamble/encode/index-big-endian", test_preamble_index_big_endian);
    g_test_add_func("/preamble/token/equal", test_preamble_token_equal);
    g_test_add_func("/preamble/token/differ-first", test_preamble_token_differ_first);
    g_test_add_func("/preamble/token/differ-last", test_preamble_token_differ_last);
    g_test_add_func("/preamble/token/differ-each-bit",
                    test_preamble_token_differ_each_bit);
    g_test_add_func("/preamble/token/generate", test_preamble_token_generate);

    /* GTest runs a suite's own tests before its child suites, so the final
     * check lives in a suite of its own, registered last. */
    g_test_add_func("/leaks/fds", test_no_leaks);

    fd_count_at_start = vmig_test_count_fds(0);
    return g_test_run();
}
