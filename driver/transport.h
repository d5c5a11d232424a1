/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transport.h: the connections between two drivers: addresses, listening
 * and dialling, never blocking the main loop
 *
 * An address is written as QEMU and libvirt write migration URIs:
 *
 *   unix:PATH          a unix stream socket
 *   tcp:HOST:PORT      HOST a name or an IPv4 address
 *   tcp:[V6]:PORT      an IPv6 address, in brackets
 *
 * Listening sockets are non-blocking and close-on-exec, with a backlog of
 * SOMAXCONN (a flood waits in the kernel's queue, not in the daemon).
 * Dialling resolves and connects asynchronously (GIO's GSocketClient) with
 * a deadline that covers both: a peer that never answers costs a timer,
 * not a frozen daemon.
 */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#define VMIG_TRANSPORT_ERROR (vmig_transport_error_quark())
GQuark vmig_transport_error_quark(void);

typedef enum {
    VMIG_TRANSPORT_ERROR_ADDRESS, /* not an address we understand */
    VMIG_TRANSPORT_ERROR_LISTEN,  /* cannot listen there */
    VMIG_TRANSPORT_ERROR_CONNECT, /* the peer refused, or is unreachable */
    VMIG_TRANSPORT_ERROR_TIMEOUT, /* no answer before the deadline */
    VMIG_TRANSPORT_ERROR_PEER,    /* the peer is no virt-migrate driver */
    VMIG_TRANSPORT_ERROR_LAST
} VmigTransportErrorCode;

typedef enum { VMIG_ADDRESS_UNIX, VMIG_ADDRESS_TCP, VMIG_ADDRESS_LAST } VmigAddressKind;

typedef struct {
    VmigAddressKind kind;
    char *path;   /* unix */
    char *host;   /* tcp: a name or an address, IPv6 without brackets */
    guint16 port; /* tcp */
} VmigAddress;

/*
 * vmig_address_parse:
 * Returns: the address @uri names (to free), or NULL with
 * VMIG_TRANSPORT_ERROR_ADDRESS in @error, saying what is wrong with it.
 */
VmigAddress *vmig_address_parse(const char *uri, GError **error);

void vmig_address_free(VmigAddress *address);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigAddress, vmig_address_free)

/* Returns: @address as a URI, IPv6 hosts in brackets (to free). */
char *vmig_address_to_string(const VmigAddress *address);

/* Reads "PORT" (1 to 65535, decimal) into *@port.  Returns: TRUE, or FALSE. */
gboolean vmig_address_parse_port(const char *text, guint16 *port);

/*
 * vmig_transport_listen:
 * Listens on @address; a stale unix socket file there is replaced,
 * anything else at that path is left alone and refused.
 * Returns: the listening socket (non-blocking, close-on-exec), or -1 with
 * @error set.
 */
int vmig_transport_listen(const VmigAddress *address, GError **error);

/*
 * vmig_transport_listen_owned:
 * @gid: the file's group, or (gid_t)-1 to keep this process's
 * @mode: the file's permissions, 0600 or 0660
 * Listens on unix socket @path, owned by this process's euid (the control
 * socket): a stale socket file there is replaced; a live one (some server
 * answers), or a file that is not a socket, is refused.  The file appears
 * only once the socket listens, with @gid and @mode already set, so a
 * client that sees it can always connect, and never sees it otherwise
 * owned.
 * Returns: the socket (non-blocking, close-on-exec) with the file's
 * device and inode in *@dev and *@ino (to recognise it when removing it),
 * or -1 with @error set.
 */
int vmig_transport_listen_owned(const char *path, gid_t gid, mode_t mode, dev_t *dev,
                                ino_t *ino, GError **error);

/*
 * vmig_transport_dial_async:
 * Connects to @address, resolving its host first, within @timeout_ms
 * (0: no deadline of our own).  The callback runs on the thread-default
 * main context of the caller.
 */
void vmig_transport_dial_async(const VmigAddress *address, guint timeout_ms,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);

/*
 * Returns: the connected socket (close-on-exec; the caller owns it and
 * sets its blocking mode), or -1 with @error set: CONNECT or TIMEOUT
 * naming the address, or G_IO_ERROR_CANCELLED.
 */
int vmig_transport_dial_finish(GAsyncResult *result, GError **error);

/*
 * The destination's hello (fdpass/preamble.h): on every connection
 * between two drivers the destination writes 4 bytes first, and the
 * source writes nothing before it has read them.
 */

/*
 * vmig_transport_send_hello:
 * Writes the hello on @fd, a connection just accepted or supplied (its 4
 * bytes fit at once: never blocks).
 * Returns: TRUE, or FALSE with @error set (the peer is gone).
 */
gboolean vmig_transport_send_hello(int fd, GError **error);

/*
 * vmig_transport_await_hello_async:
 * @fdp: a connection to the destination, consumed (set to -1)
 * @what: the peer, for messages ("tcp:host:port")
 * Reads the hello on *@fdp within @timeout_ms, and not a byte beyond it.
 * The callback runs on the thread-default main context of the caller.
 */
void vmig_transport_await_hello_async(int *fdp, const char *what, guint timeout_ms,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);

/*
 * vmig_transport_await_hello_finish:
 * @greeted: (out): TRUE when the hello came; FALSE when nothing at all
 *     came within the time: the socket is returned with nothing read or
 *     written, the peer (maybe a QEMU waiting for a migration stream) as
 *     it was
 * Returns: the socket, or -1 with @error set: PEER when other bytes came
 * (quoted) or the peer closed first, G_IO_ERROR_CANCELLED.
 */
int vmig_transport_await_hello_finish(GAsyncResult *result, gboolean *greeted,
                                      GError **error);
