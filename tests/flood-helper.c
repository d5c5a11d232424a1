/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * flood-helper.c: a hostile peer for the tests: floods a migration listener
 *
 *   flood-helper HOST PORT SILENT WRONG
 *
 * Opens SILENT connections that never send a byte and WRONG connections
 * that send a well-formed extra-channel preamble ("VMGC") with a random
 * token, interleaved, all at once (non-blocking connects), and keeps them
 * open.  Once every connect has finished (or 20 s have passed) it prints
 *
 *   established SILENT_OK WRONG_OK failed N
 *
 * and then obeys lines on stdin: "close-wrong" closes the WRONG ones (their
 * peer is gone), "quit" or end of file closes everything and exits.
 *
 * A separate process, so that the test itself (perhaps under valgrind,
 * whose descriptor limit is fixed at start) needs no descriptors for it.
 * Its own soft descriptor limit is raised to the hard one.
 */
#include <config.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "fdpass/preamble.h"

#define CONNECT_DEADLINE_US (20 * G_USEC_PER_SEC)

typedef struct {
    int fd;
    gboolean wrong;
    gboolean done; /* connected (and the preamble written) or failed */
    gboolean ok;
} Conn;

/* Starts a non-blocking connect to @ai.  Returns: the socket, or -1. */
static int
start_connect(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A connect finished: check it, write the preamble of a WRONG one. */
static void
finish_connect(Conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    c->done = TRUE;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
        return;
    if (c->wrong) {
        VmigPreamble pre = {.index = 0};
        guint8 bytes[VMIG_PREAMBLE_SIZE];

        for (guint i = 0; i < VMIG_TOKEN_SIZE; i++)
            pre.token[i] = g_random_int_range(0, 256);
        vmig_preamble_encode(&pre, bytes);
        if (send(c->fd, bytes, sizeof(bytes), MSG_NOSIGNAL) != (gssize)sizeof(bytes))
            return;
    }
    c->ok = TRUE;
}

int
main(int argc, char **argv)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    guint silent, wrong, n, failed = 0, silent_ok = 0, wrong_ok = 0;
    g_autofree Conn *conns = NULL;
    g_autofree struct pollfd *pfds = NULL;
    gint64 deadline;
    struct rlimit rl;
    char line[64];

    if (argc != 5) {
        fprintf(stderr, "usage: flood-helper HOST PORT SILENT WRONG\n");
        return 2;
    }
    silent = (guint)atoi(argv[3]);
    wrong = (guint)atoi(argv[4]);
    n = silent + wrong;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < n + 16) {
        fprintf(stderr, "flood-helper: %u connections need a descriptor limit of %u\n", n,
                n + 16);
        return 1;
    }
    if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0) {
        fprintf(stderr, "flood-helper: cannot resolve %s %s\n", argv[1], argv[2]);
        return 1;
    }

    conns = g_new0(Conn, n);
    pfds = g_new0(struct pollfd, n);
    for (guint i = 0, s = 0, w = 0; i < n; i++) {
        /* Interleaved: the WRONG ones spread through the SILENT ones. */
        gboolean is_wrong = w < wrong && (s >= silent || w * silent <= s * wrong);

        conns[i].wrong = is_wrong;
        if (is_wrong)
            w++;
        else
            s++;
        conns[i].fd = start_connect(ai);
        if (conns[i].fd < 0)
            conns[i].done = TRUE;
    }
    freeaddrinfo(ai);

    deadline = g_get_monotonic_time() + CONNECT_DEADLINE_US;
    for (;;) {
        guint waiting = 0;

        for (guint i = 0; i < n; i++) {
            pfds[i].fd = conns[i].done ? -1 : conns[i].fd;
            pfds[i].events = POLLOUT;
            waiting += !conns[i].done;
        }
        if (waiting == 0 || g_get_monotonic_time() > deadline)
            break;
        if (poll(pfds, n, 100) < 0 && errno != EINTR)
            break;
        for (guint i = 0; i < n; i++) {
            if (!conns[i].done && (pfds[i].revents & (POLLOUT | POLLERR | POLLHUP)))
                finish_connect(&conns[i]);
        }
    }
    for (guint i = 0; i < n; i++) {
        if (!conns[i].ok)
            failed++;
        else if (conns[i].wrong)
            wrong_ok++;
        else
            silent_ok++;
    }
    printf("established %u %u failed %u\n", silent_ok, wrong_ok, failed);
    fflush(stdout);

    while (fgets(line, sizeof(line), stdin)) {
        if (g_str_has_prefix(line, "close-wrong")) {
            for (guint i = 0; i < n; i++) {
                if (conns[i].wrong && conns[i].fd >= 0) {
                    close(conns[i].fd);
                    conns[i].fd = -1;
                }
            }
            printf("closed\n");
            fflush(stdout);
        } else if (g_str_has_prefix(line, "quit")) {
            break;
        }
    }
    for (guint i = 0; i < n; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    }
    return 0;
}
