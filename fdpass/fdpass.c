/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdpass.c: file descriptors over unix sockets (SCM_RIGHTS)
 *
 * The receiving side is written for a peer it does not trust: the kernel
 * installs every fd it is handed into this process before recvmsg returns,
 * so whatever arrives has to be found and closed unless the whole message
 * is exactly what was asked for.
 */
#include <config.h>

#include "fdpass/fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-fdpass-error-quark, vmig_fdpass_error)
/* clang-format on */

/*
 * Room for the largest control message either side ever builds or accepts:
 * one SCM_RIGHTS header with VMIG_FDPASS_MAX_FDS ints.  The union gives the
 * buffer the alignment of struct cmsghdr, which CMSG_FIRSTHDR assumes.
 */
#define VMIG_FDPASS_CONTROL_MAX CMSG_SPACE(sizeof(int) * VMIG_FDPASS_MAX_FDS)

typedef union {
    struct cmsghdr align;
    char buf[VMIG_FDPASS_CONTROL_MAX];
} VmigFdpassControl;

/* Every fd that can be found in a control buffer of the largest size. */
#define VMIG_FDPASS_COLLECT_MAX (VMIG_FDPASS_CONTROL_MAX / sizeof(int))

/* Close every fd of @fds and free the array; errno is preserved. */
void
vmig_fdpass_close_all(int *fds, gsize nfds)
{
    int saved = errno;
    gsize i;

    if (!fds)
        return;
    for (i = 0; i < nfds; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    g_free(fds);
    errno = saved;
}

/* Close the first @n fds of @fds; errno is preserved. */
static void
vmig_fdpass_close_collected(const int *fds, gsize n)
{
    int saved = errno;
    gsize i;

    for (i = 0; i < n; i++)
        close(fds[i]);
    errno = saved;
}

/*
 * One sendmsg of @data with @fds attached as a single SCM_RIGHTS message.
 * Returns: bytes sent (possibly fewer than @len), or -1 with @error set.
 */
gssize
vmig_fdpass_send(int sock, const void *data, gsize len, const int *fds, gsize nfds,
                 GError **error)
{
    VmigFdpassControl control;
    struct iovec iov;
    struct msghdr msg;
    gssize n;

    g_return_val_if_fail(data != NULL || len == 0, -1);
    g_return_val_if_fail(fds != NULL || nfds == 0, -1);
    g_return_val_if_fail(len <= G_MAXSSIZE, -1);
    g_return_val_if_fail(error == NULL || *error == NULL, -1);

    /* Both refusals come before any syscall: nothing may reach the peer. */
    if (nfds > VMIG_FDPASS_MAX_FDS) {
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_TOO_MANY_FDS,
                    "cannot pass %" G_GSIZE_FORMAT " fds in one message on fd %d "
                    "(at most %d)",
                    nfds, sock, VMIG_FDPASS_MAX_FDS);
        return -1;
    }
    if (nfds > 0 && len == 0) {
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_EMPTY_PAYLOAD,
                    "cannot pass %" G_GSIZE_FORMAT " fds on fd %d with an empty "
                    "payload (fds travel with at least one byte)",
                    nfds, sock);
        return -1;
    }

    memset(&msg, 0, sizeof(msg));
    iov.iov_base = (void *)data;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;

    if (nfds > 0) {
        struct cmsghdr *cmsg;

        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
    }

    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);

    if (n < 0) {
        int err = errno;

        if (err == EAGAIN || err == EWOULDBLOCK) {
            g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_WOULD_BLOCK,
                        "cannot send %" G_GSIZE_FORMAT " bytes and %" G_GSIZE_FORMAT
                        " fds on fd %d now: %s",
                        len, nfds, sock, g_strerror(err));
        } else {
            g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                        "sendmsg of %" G_GSIZE_FORMAT " bytes and %" G_GSIZE_FORMAT
                        " fds on fd %d failed: %s",
                        len, nfds, sock, g_strerror(err));
        }
        return -1;
    }
    return n;
}

/*
 * Send all of @data, @fds with the first chunk only.
 * Returns: TRUE, or FALSE with @error set (then an unknown prefix of the
 * payload, and the fds when any byte went, may already have been sent).
 */
gboolean
vmig_fdpass_send_all(int sock, const void *data, gsize len, const int *fds, gsize nfds,
                     GError **error)
{
    const guint8 *p = data;
    gsize done = 0;

    g_return_val_if_fail(data != NULL || len == 0, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    /* Refusals (too many fds, fds without payload) come from the first send. */
    do {
        gboolean first = done == 0;
        gssize n;

        n = vmig_fdpass_send(sock, p + done, len - done, first ? fds : NULL,
                             first ? nfds : 0, error);
        if (n < 0) {
            if (done > 0)
                g_prefix_error(error,
                               "after %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes: ",
                               done, len);
            return FALSE;
        }
        if (n == 0 && len > 0) {
            /* A stream socket never does this; looping would never end. */
            g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                        "sendmsg on fd %d wrote nothing after %" G_GSIZE_FORMAT
                        " of %" G_GSIZE_FORMAT " bytes",
                        sock, done, len);
            return FALSE;
        }
        done += (gsize)n;
    } while (done < len);

    return TRUE;
}

/* Name a control message type for messages.  Returns a static string. */
static const char *
vmig_fdpass_cmsg_name(int level, int type)
{
    if (level != SOL_SOCKET)
        return "non-socket-level control message";
    switch (type) {
    case SCM_RIGHTS:
        return "SCM_RIGHTS";
#ifdef SCM_CREDENTIALS
    case SCM_CREDENTIALS:
        return "SCM_CREDENTIALS";
#endif
#ifdef SCM_SECURITY
    case SCM_SECURITY:
        return "SCM_SECURITY";
#endif
#ifdef SCM_PIDFD
    case SCM_PIDFD:
        return "SCM_PIDFD";
#endif
    default:
        return "unknown socket-level control message";
    }
}

/*
 * Give @fd exactly the blocking mode @nonblock says and make sure it is
 * close-on-exec.  Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_fdpass_set_fd_mode(int fd, gboolean nonblock, GError **error)
{
    int fl;
    int want;
    int fdfl;

    fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        int err = errno;
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                    "fcntl(F_GETFL) on received fd %d failed: %s", fd, g_strerror(err));
        return FALSE;
    }
    want = nonblock ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (want != fl && fcntl(fd, F_SETFL, want) < 0) {
        int err = errno;
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                    "fcntl(F_SETFL, %s) on received fd %d failed: %s",
                    nonblock ? "O_NONBLOCK" : "~O_NONBLOCK", fd, g_strerror(err));
        return FALSE;
    }

    /* MSG_CMSG_CLOEXEC should have done this; a kernel that ignored it must
     * not leave an fd that a later exec would leak. */
    fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0) {
        int err = errno;
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                    "fcntl(F_GETFD) on received fd %d failed: %s", fd, g_strerror(err));
        return FALSE;
    }
    if (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) {
        int err = errno;
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                    "fcntl(F_SETFD, FD_CLOEXEC) on received fd %d failed: %s", fd,
                    g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

/*
 * One recvmsg; every control message is checked and every fd that arrived
 * is closed unless the call succeeds.
 * Returns: bytes read (0 at end of file), or -1 with @error set.
 */
gssize
vmig_fdpass_recv(int sock, void *buf, gsize len, gsize max_fds, int **fds_out,
                 gsize *nfds_out, VmigFdpassRecvFlags flags, GError **error)
{
    VmigFdpassControl control;
    int collected[VMIG_FDPASS_COLLECT_MAX];
    gsize ncollected = 0;
    gboolean malformed = FALSE;
    int bad_level = 0;
    int bad_type = 0;
    gsize bad_len = 0;
    struct iovec iov;
    struct msghdr msg;
    struct cmsghdr *cmsg;
    gssize n;
    gsize i;

    g_return_val_if_fail(fds_out != NULL, -1);
    g_return_val_if_fail(nfds_out != NULL, -1);
    *fds_out = NULL;
    *nfds_out = 0;
    g_return_val_if_fail(buf != NULL, -1);
    g_return_val_if_fail(len > 0 && len <= G_MAXSSIZE, -1);
    g_return_val_if_fail(max_fds <= VMIG_FDPASS_MAX_FDS, -1);
    g_return_val_if_fail(error == NULL || *error == NULL, -1);

    memset(&control, 0, sizeof(control));
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = buf;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    /* Even max_fds == 0 gets a (header-only) buffer: fds sent anyway then
     * show up as MSG_CTRUNC and are refused, not silently dropped. */
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * max_fds);

    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);

    if (n < 0) {
        int err = errno;

        if (err == EAGAIN || err == EWOULDBLOCK) {
            g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_WOULD_BLOCK,
                        "nothing to receive on fd %d now: %s", sock, g_strerror(err));
        } else {
            g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                        "recvmsg on fd %d failed: %s", sock, g_strerror(err));
        }
        return -1;
    }

    /* Collect every fd from every SCM_RIGHTS message before judging anything,
     * so that every error path below can close all of them. */
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        const char *end = (const char *)msg.msg_control + msg.msg_controllen;
        gsize datalen;

        if (cmsg->cmsg_len < CMSG_LEN(0) ||
            cmsg->cmsg_len > (gsize)(end - (const char *)cmsg)) {
            /* A header whose length lies: nothing after it can be trusted. */
            if (!malformed) {
                malformed = TRUE;
                bad_level = cmsg->cmsg_level;
                bad_type = cmsg->cmsg_type;
                bad_len = cmsg->cmsg_len;
            }
            break;
        }
        datalen = cmsg->cmsg_len - CMSG_LEN(0);

        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
            /* The kernel only writes whole ints here; if it ever did not,
             * the whole ones are still fds it installed and must be closed. */
            gsize count = datalen / sizeof(int);

            /* Never true: all cmsgs together fit in the buffer collected[]
             * was sized for.  It keeps the copy in bounds regardless. */
            if (count > VMIG_FDPASS_COLLECT_MAX - ncollected)
                count = VMIG_FDPASS_COLLECT_MAX - ncollected;
            memcpy(collected + ncollected, CMSG_DATA(cmsg), count * sizeof(int));
            ncollected += count;
            if (datalen % sizeof(int) == 0)
                continue;
        }
        if (!malformed) {
            malformed = TRUE;
            bad_level = cmsg->cmsg_level;
            bad_type = cmsg->cmsg_type;
            bad_len = cmsg->cmsg_len;
        }
    }

    if (msg.msg_flags & MSG_CTRUNC) {
        vmig_fdpass_close_collected(collected, ncollected);
        g_set_error(
            error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_CTRUNC,
            "control data truncated on fd %d: the peer sent more than %" G_GSIZE_FORMAT
            " fds or other control data (%" G_GSIZE_FORMAT
            " fds that did arrive were closed)",
            sock, max_fds, ncollected);
        return -1;
    }
    if (malformed) {
        vmig_fdpass_close_collected(collected, ncollected);
        if (bad_level == SOL_SOCKET && bad_type == SCM_RIGHTS) {
            g_set_error(
                error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_MALFORMED,
                "malformed SCM_RIGHTS control message on fd %d: length %" G_GSIZE_FORMAT
                " is not a header plus whole fds (%" G_GSIZE_FORMAT
                " fds that arrived were closed)",
                sock, bad_len, ncollected);
        } else {
            g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_MALFORMED,
                        "unexpected control message on fd %d: %s (level %d, type %d, "
                        "length %" G_GSIZE_FORMAT
                        "); only SCM_RIGHTS is accepted (%" G_GSIZE_FORMAT
                        " fds that arrived were closed)",
                        sock, vmig_fdpass_cmsg_name(bad_level, bad_type), bad_level,
                        bad_type, bad_len, ncollected);
        }
        return -1;
    }
    if (ncollected > max_fds) {
        /* Cannot happen with the buffer sized as above; refuse it all anyway. */
        vmig_fdpass_close_collected(collected, ncollected);
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_CTRUNC,
                    "received %" G_GSIZE_FORMAT
                    " fds on fd %d but at most %" G_GSIZE_FORMAT
                    " were accepted (all closed)",
                    ncollected, sock, max_fds);
        return -1;
    }
    if (n == 0 && ncollected > 0) {
        /* Only possible on a datagram socket; our senders never do it. */
        vmig_fdpass_close_collected(collected, ncollected);
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_MALFORMED,
                    "received %" G_GSIZE_FORMAT " fds on fd %d with an empty "
                    "payload (all closed)",
                    ncollected, sock);
        return -1;
    }

    for (i = 0; i < ncollected; i++) {
        if (!vmig_fdpass_set_fd_mode(collected[i],
                                     (flags & VMIG_FDPASS_RECV_NONBLOCK) != 0, error)) {
            vmig_fdpass_close_collected(collected, ncollected);
            return -1;
        }
    }

    if (ncollected > 0) {
        *fds_out = g_memdup2(collected, ncollected * sizeof(int));
        *nfds_out = ncollected;
    }
    return n;
}

/* Describe a non-socket file type for messages.  Returns a static string. */
static const char *
vmig_fdpass_describe_mode(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "a pipe";
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "an unknown kind of file";
}

/* Name a socket type for messages.  Returns a static string. */
static const char *
vmig_fdpass_socket_type_name(int type)
{
    switch (type) {
    case SOCK_STREAM:
        return "SOCK_STREAM";
    case SOCK_DGRAM:
        return "SOCK_DGRAM";
    case SOCK_SEQPACKET:
        return "SOCK_SEQPACKET";
    case SOCK_RAW:
        return "SOCK_RAW";
    case SOCK_RDM:
        return "SOCK_RDM";
    default:
        return "an unknown socket type";
    }
}

/*
 * Check that @fd is a connected SOCK_STREAM socket.
 * Returns: TRUE, or FALSE with @error saying what @fd is instead.
 */
gboolean
vmig_fdpass_check_stream_socket(int fd, GError **error)
{
    struct stat st;
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof(peer);
    int type = 0;
    int listening = 0;
    socklen_t optlen;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    if (fstat(fd, &st) < 0) {
        int err = errno;
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                    "cannot check fd %d: fstat failed: %s", fd, g_strerror(err));
        return FALSE;
    }
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_NOT_SOCKET,
                    "fd %d is %s, not a socket", fd,
                    vmig_fdpass_describe_mode(st.st_mode));
        return FALSE;
    }

    optlen = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) < 0) {
        int err = errno;
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                    "cannot check fd %d: getsockopt(SO_TYPE) failed: %s", fd,
                    g_strerror(err));
        return FALSE;
    }
    if (type != SOCK_STREAM) {
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_NOT_STREAM,
                    "fd %d is a %s socket (type %d), not SOCK_STREAM", fd,
                    vmig_fdpass_socket_type_name(type), type);
        return FALSE;
    }

    optlen = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) < 0) {
        int err = errno;
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                    "cannot check fd %d: getsockopt(SO_ACCEPTCONN) failed: %s", fd,
                    g_strerror(err));
        return FALSE;
    }
    if (listening) {
        g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_NOT_CONNECTED,
                    "fd %d is a listening socket, not a connected one", fd);
        return FALSE;
    }

    if (getpeername(fd, (struct sockaddr *)&peer, &peerlen) < 0) {
        int err = errno;

        if (err == ENOTCONN) {
            g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_NOT_CONNECTED,
                        "fd %d is a stream socket with no peer (not connected)", fd);
        } else {
            g_set_error(error, VMIG_FDPASS_ERROR, VMIG_FDPASS_ERROR_IO,
                        "cannot check fd %d: getpeername failed: %s", fd,
                        g_strerror(err));
        }
        return FALSE;
    }
    return TRUE;
}
