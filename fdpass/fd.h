/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd.h: an owned file descriptor that closes itself
 *
 * GLib 2.74 has no g_autofd, so the project defines one fd type with an
 * auto-cleanup.  Conventions (STYLE.md): an 'int fd' argument is borrowed;
 * an 'int *fdp' argument is consumed and set to -1.
 *
 *     g_auto(VmigFd) fd = -1;
 *     fd = socket(...);
 *     ...
 *     return vmig_fd_steal(&fd);
 */
#pragma once

#include <errno.h>
#include <unistd.h>
#include <glib.h>

typedef int VmigFd;

/* Close *fdp if it is open and set it to -1; errno is preserved. */
static inline void
vmig_fd_clear(VmigFd *fdp)
{
    if (*fdp >= 0) {
        int saved = errno;
        close(*fdp);
        *fdp = -1;
        errno = saved;
    }
}

/* Hand an owned fd to someone else: returns it and leaves -1 behind. */
static inline int
vmig_fd_steal(VmigFd *fdp)
{
    int fd = *fdp;
    *fdp = -1;
    return fd;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmigFd, vmig_fd_clear)
