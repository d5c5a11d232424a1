/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdpass.h: file descriptors over unix sockets (SCM_RIGHTS)
 *
 * One sendmsg carries a non-empty payload and 0 to VMIG_FDPASS_MAX_FDS
 * descriptors.  The receiver trusts nothing: every control message is
 * walked and its level, type and length checked; received fds are always
 * close-on-exec (MSG_CMSG_CLOEXEC) and their blocking mode is set
 * explicitly.  On MSG_CTRUNC or malformed control data every fd that did
 * arrive is closed before the error is returned, so a hostile or broken
 * peer can never leak descriptors into this process.
 */
#pragma once

#include <glib.h>

/* The kernel's SCM_MAX_FD: the most fds one sendmsg can carry. */
#define VMIG_FDPASS_MAX_FDS 253

#define VMIG_FDPASS_ERROR (vmig_fdpass_error_quark())
GQuark vmig_fdpass_error_quark(void);

typedef enum {
    VMIG_FDPASS_ERROR_TOO_MANY_FDS,  /* more than VMIG_FDPASS_MAX_FDS to send */
    VMIG_FDPASS_ERROR_EMPTY_PAYLOAD, /* fds need at least one payload byte */
    VMIG_FDPASS_ERROR_CTRUNC,        /* control data truncated (MSG_CTRUNC) */
    VMIG_FDPASS_ERROR_MALFORMED,     /* bad cmsg level, type or length */
    VMIG_FDPASS_ERROR_WOULD_BLOCK,   /* non-blocking socket not ready */
    VMIG_FDPASS_ERROR_IO,            /* sendmsg/recvmsg/fcntl failed */
    VMIG_FDPASS_ERROR_NOT_SOCKET,    /* fd is not a socket */
    VMIG_FDPASS_ERROR_NOT_STREAM,    /* socket is not SOCK_STREAM */
    VMIG_FDPASS_ERROR_NOT_CONNECTED, /* stream socket has no peer */
    VMIG_FDPASS_ERROR_LAST
} VmigFdpassErrorCode;

typedef enum {
    VMIG_FDPASS_RECV_BLOCKING = 0,     /* received fds are made blocking */
    VMIG_FDPASS_RECV_NONBLOCK = 1 << 0 /* received fds are made non-blocking */
} VmigFdpassRecvFlags;

/*
 * vmig_fdpass_send:
 * @sock: a connected unix socket (borrowed)
 * @data, @len: the payload; @len must be > 0 when @nfds > 0
 * @fds, @nfds: descriptors to pass (borrowed; 0 <= @nfds <= VMIG_FDPASS_MAX_FDS)
 *
 * One sendmsg; EINTR is retried.  The fds travel with the first byte.
 * Returns: the number of payload bytes sent (may be short on a stream
 * socket: the caller sends the rest without fds), or -1 with @error set.
 */
gssize vmig_fdpass_send(int sock, const void *data, gsize len, const int *fds, gsize nfds,
                        GError **error);

/*
 * vmig_fdpass_send_all: like vmig_fdpass_send() but loops until the whole
 * payload is written (for blocking sockets).
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_fdpass_send_all(int sock, const void *data, gsize len, const int *fds,
                              gsize nfds, GError **error);

/*
 * vmig_fdpass_recv:
 * @sock: a unix socket (borrowed)
 * @buf, @len: where the payload goes
 * @max_fds: the most fds this call accepts (<= VMIG_FDPASS_MAX_FDS); more
 *           than that truncates the control data and fails the call
 * @fds_out: (out) a newly allocated array of received fds (owned by the
 *           caller, close each and g_free it), or NULL when none came
 * @nfds_out: (out) how many
 * @flags: VmigFdpassRecvFlags
 *
 * One recvmsg with MSG_CMSG_CLOEXEC; EINTR is retried.
 * Returns: bytes read (0 at end of file, with no fds), or -1 with @error
 * set and no fds left open.
 */
gssize vmig_fdpass_recv(int sock, void *buf, gsize len, gsize max_fds, int **fds_out,
                        gsize *nfds_out, VmigFdpassRecvFlags flags, GError **error);

/*
 * vmig_fdpass_check_stream_socket:
 * @fd: (borrowed)
 *
 * A migration channel must be a connected stream socket: refuses a pipe, a
 * regular file, a datagram socket, a listening or unconnected socket.
 * Returns: TRUE, or FALSE with @error naming what @fd is instead.
 */
gboolean vmig_fdpass_check_stream_socket(int fd, GError **error);

/* Close every fd of @fds (an array of @nfds) and free the array. */
void vmig_fdpass_close_all(int *fds, gsize nfds);
