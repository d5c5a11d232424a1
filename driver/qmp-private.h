/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp-private.h: the QMP client's inside, shared by qmp.c (the object,
 * connecting, closing, cancelling, the public API) and qmp-io.c (the I/O
 * source, sending, receiving).  The contract is qmp.h.
 */
#pragma once

#include "driver/qmp.h"

/*
 * The longest line accepted from QEMU.  query-qmp-schema, the biggest reply
 * QEMU 7.2 sends, is about 200 KiB; this leaves room for any growth while
 * keeping a runaway peer from eating all memory.
 */
#define VMIG_QMP_MAX_LINE (64 * 1024 * 1024)

/* How much one read asks for. */
#define VMIG_QMP_READ_CHUNK (64 * 1024)

typedef enum {
    VMIG_QMP_STATE_NEW,         /* vmig_qmp_connect_async() not called yet */
    VMIG_QMP_STATE_CONNECTING,  /* connect() in progress */
    VMIG_QMP_STATE_GREETING,    /* connected, waiting for the greeting */
    VMIG_QMP_STATE_NEGOTIATING, /* qmp_capabilities sent, waiting for its reply */
    VMIG_QMP_STATE_OPEN,        /* ready for commands */
    VMIG_QMP_STATE_CLOSED,      /* closed for good */
    VMIG_QMP_STATE_LAST
} VmigQmpState;

/* One command sent (or to be sent) whose reply is awaited. */
typedef struct {
    VmigQmp *qmp;           /* not a reference: the call lives in qmp->calls */
    char *id;               /* "vmig-N", the key in qmp->calls */
    char *command;          /* for messages */
    GTask *task;            /* NULL for qmp_capabilities and once cancelled */
    GSource *cancel_source; /* NULL without a cancellable */
} VmigQmpCall;

/* One line in the write queue. */
typedef struct {
    char *data; /* the JSON text and its '\n' */
    gsize len;
    gsize off; /* bytes already written */
    int *fds;  /* our duplicates, closed once sent */
    gsize nfds;
    VmigQmpCall *call; /* not a reference; NULL once the call is gone */
} VmigQmpOut;

/* The client's GSource: one unix fd, conditions changed as needed. */
typedef struct {
    GSource source;
    VmigQmp *qmp; /* not a reference: dispose destroys the source */
    gpointer tag;
} VmigQmpSource;

struct _VmigQmp {
    GObject parent_instance;

    GMainContext *context;
    VmigQmpState state;
    char *path;

    int fd;
    VmigQmpSource *source;
    GIOCondition watching;

    GByteArray *inbuf;
    gsize scanned; /* bytes of inbuf known to hold no '\n' */
    GQueue outq;   /* of VmigQmpOut */

    GHashTable *calls; /* id -> VmigQmpCall */
    guint64 next_id;

    GTask *connect_task;
    GSource *connect_cancel_source;

    JsonObject *greeting;
    char *hypervisor;
};

enum { SIGNAL_EVENT, SIGNAL_CLOSED, SIGNAL_LAST };

extern guint vmig_qmp_signals[SIGNAL_LAST];

/* ---- qmp.c ----------------------------------------------------------------------- */

/* Closes the connection for @reason (consumed): every pending call fails, "closed" when
 * @notify. */
void vmig_qmp_close_with_error(VmigQmp *qmp, GError *reason, gboolean notify);
/* Closes because of a protocol violation described by @fmt. */
void vmig_qmp_fail_protocol(VmigQmp *qmp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Closes the fds of @out and frees it. */
void vmig_qmp_out_free(VmigQmpOut *out);

/* ---- qmp-io.c -------------------------------------------------------------------- */

/* Sets the conditions the source waits for from the state and the queue. */
void vmig_qmp_update_watch(VmigQmp *qmp);
/* Attaches the I/O source for qmp->fd to the client's context. */
void vmig_qmp_attach_source(VmigQmp *qmp);
/*
 * Queues @command with @arguments for sending, with a copy of @fds, and
 * registers a call for its reply.
 * Returns: the call (owned by qmp->calls), or NULL with @error set.
 */
VmigQmpCall *vmig_qmp_queue_command(VmigQmp *qmp, const char *command,
                                    JsonObject *arguments, const int *fds, gsize nfds,
                                    GError **error);
