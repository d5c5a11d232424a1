/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pending.h: connections that have not yet said what they are
 *
 * Every connection to a destination opens with 4 bytes that say what it
 * is ("VMGM": the main channel) or with an extra channel's preamble
 * ("VMGC", token, index: fdpass/preamble.h).  Until those bytes are read
 * and, for a channel, its token is known to be the migration's, a
 * connection has proven nothing: anyone who reaches a listener can open
 * one.  So, while pending, a connection
 *
 *   - has a deadline (the pool's timeout from when it came), whether its
 *     preamble is still being read or it waits for the token;
 *   - is watched all along: a close, or bytes after a complete preamble
 *     (no source sends any before its channel is matched), drop it at once;
 *   - is dropped as soon as it is known to be bad: an opener other than
 *     "VMGM" or "VMGC", a second main channel, a token that is not the
 *     migration's (at once when the token is known, else when it becomes
 *     known);
 *   - counts against two caps when it came from a listener: one per set
 *     (a migration's listener) and one for the whole pool (the daemon).
 *     At a cap, the oldest such connection is dropped for the new one: a
 *     real peer proves itself within a round trip, so it is never the
 *     oldest for long, while a flood only ever evicts itself.
 *
 * Connections that a management app supplied (fd mode) have the deadline
 * and the watch but do not count against the caps: the app is trusted to
 * supply no more than it means to.
 *
 * TLS (vmig_pending_set_tls()): a connection whose first byte opens a TLS
 * handshake record is this side's TLS server first.  The handshake runs
 * in a worker (tls/session.h) within the connection's deadline, counted
 * and capped as any pending connection; once it is over, the session's
 * pump gives a plaintext socket from which the opener is read as above,
 * and the pump goes with the proven connection to its owner.  A set that
 * requires TLS answers a plaintext opener with a plaintext ERROR frame
 * ("this destination requires TLS"), and a set without TLS answers a TLS
 * opener with one that says why it has none; either is then closed.
 */
#pragma once

#include <glib.h>

#include "fdpass/preamble.h"
#include "tls/session.h"

/* Defaults (docs/limits.md). */
#define VMIG_PENDING_DEFAULT_MAX        256 /* per daemon */
#define VMIG_PENDING_DEFAULT_TIMEOUT_MS 10000
/* Per set, at least; a set that takes more channels gets room for them. */
#define VMIG_PENDING_SET_MIN_MAX 64

typedef struct _VmigPendingPool VmigPendingPool;
typedef struct _VmigPendingSet VmigPendingSet;

typedef struct {
    /*
     * A connection opened with "VMGM" (only one from a listener): take
     * *@fdp as the main channel (set it to -1), or leave it to be closed.
     * Its 4 bytes have been read.  *@pumpp is its TLS pump (NULL: a
     * plaintext connection): take it (set it to NULL) or leave it to be
     * freed.
     */
    void (*main)(int *fdp, VmigTlsPump **pumpp, gpointer user_data);
    /*
     * A channel whose preamble carries the set's token: take *@fdp as
     * channel @index (set it to -1), or leave it to be closed.  Its 24
     * bytes have been read.  *@pumpp as for main.
     */
    void (*channel)(int *fdp, guint index, VmigTlsPump **pumpp, gpointer user_data);
    /*
     * (nullable) A connection was refused for @reason, a sentence: TLS
     * required and a plaintext opener came, a TLS opener and no TLS here,
     * a TLS handshake that failed (an unknown CA, a DN not allowed ...).
     * The owner may want to tell its app: the peer may be the real source
     * with the wrong credentials.  Stray connections (a wrong opener, a
     * wrong token) are only logged.
     */
    void (*refused)(const char *reason, gpointer user_data);
    /*
     * (nullable) A connection from a listener opened with "VMGD": a main
     * channel that brings its domain (the standing listener,
     * driver/standing.h).  Its 4 bytes have been read; take *@fdp and
     * *@pumpp as for main.  A set without it drops such connections.
     */
    void (*domain)(int *fdp, VmigTlsPump **pumpp, gpointer user_data);
    /*
     * (nullable) A set that serves the channels of several migrations
     * (the standing listener) instead of one token's: knows() says whether
     * some migration's REPLY named @token.  Until it does, the channel is
     * held (vmig_pending_set_retry() asks again), and dropped at its
     * deadline; once it does, routed() gets the channel, to take as
     * channel does.  vmig_pending_set_set_token() is not for such a set.
     */
    gboolean (*knows)(const guint8 token[VMIG_TOKEN_SIZE], gpointer user_data);
    void (*routed)(const guint8 token[VMIG_TOKEN_SIZE], int *fdp, guint index,
                   VmigTlsPump **pumpp, gpointer user_data);
} VmigPendingFuncs;

/*
 * vmig_pending_pool_new:
 * @max: connections from listeners pending at once, daemon-wide (>= 1)
 * @timeout_ms: how long any connection may stay pending
 * Returns: the pool (a daemon has one).
 */
VmigPendingPool *vmig_pending_pool_new(guint max, guint timeout_ms);

/* Frees the pool; every set must have been freed. */
void vmig_pending_pool_free(VmigPendingPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigPendingPool, vmig_pending_pool_free)

/* Returns: connections from listeners pending now, daemon-wide. */
guint vmig_pending_pool_count(VmigPendingPool *pool);

/*
 * vmig_pending_set_new:
 * @pool: the daemon's pool (outlives the set)
 * @context: where the connections are read
 * @name: for messages, e.g. the migration's id
 * @max: this set's cap on connections from a listener (at least
 *       VMIG_PENDING_SET_MIN_MAX is used, and at most the pool's cap)
 * @funcs: (not copied: static) what to do with proven connections
 * Returns: an empty set.  Callbacks run only from the main loop, never
 * from a vmig_pending_set_*() call, except vmig_pending_set_set_token().
 */
VmigPendingSet *vmig_pending_set_new(VmigPendingPool *pool, GMainContext *context,
                                     const char *name, guint max,
                                     const VmigPendingFuncs *funcs, gpointer user_data);

/* Closes every pending connection of the set and frees it. */
void vmig_pending_set_free(VmigPendingSet *set);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigPendingSet, vmig_pending_set_free)

/*
 * vmig_pending_set_add:
 * @fdp: a connected stream socket, consumed (set to -1)
 * @from_listener: TRUE: accepted from a listener (may be the main channel;
 *                 counts against the caps); FALSE: supplied by the app
 *                 (a channel only)
 */
void vmig_pending_set_add(VmigPendingSet *set, int *fdp, gboolean from_listener);

/*
 * vmig_pending_set_set_token:
 * The token is known (the REPLY named it): every held channel is matched
 * now, in arrival order: the callback gets those that carry it, the rest
 * are dropped; later channels are matched as their preambles complete.
 * The callback may free the set.
 */
void vmig_pending_set_set_token(VmigPendingSet *set, const guint8 token[VMIG_TOKEN_SIZE]);

/*
 * vmig_pending_set_retry:
 * A set with knows(): offers every held channel again, after a migration
 * learnt its token.  The callbacks may not free the set.
 */
void vmig_pending_set_retry(VmigPendingSet *set);

/* A destination's words when it refuses a plaintext opener because it
 * requires TLS (here and for an fd-mode main channel, migration-tls.c). */
#define VMIG_PENDING_REFUSED_PLAINTEXT                                                   \
    "this destination requires TLS, and the source driver opened in plaintext"

/*
 * vmig_pending_refused_tls_text:
 * @why: (nullable): why this side has no TLS
 * Returns: a destination's words when it refuses a TLS opener because it
 * has no TLS (to free).
 */
char *vmig_pending_refused_tls_text(const char *why);

/*
 * vmig_pending_set_tls:
 * @tls: (nullable): serves connections that open with a TLS handshake
 *     (borrowed: outlives the set); NULL: this side has no TLS
 * @required: plaintext openers are refused
 * @no_tls_reason: (nullable): when @tls is NULL, why (for the refusal of
 *     a TLS opener); copied
 * How the set treats TLS openers; without a call, it has no TLS.
 */
void vmig_pending_set_tls(VmigPendingSet *set, VmigTlsContext *tls, gboolean required,
                          const char *no_tls_reason);

/* Returns: connections pending in the set, from listeners and apps. */
guint vmig_pending_set_count(VmigPendingSet *set);
