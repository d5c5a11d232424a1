/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migrate-helper.h: a management app's side of two daemons under test:
 * commands on their control sockets (with fds), their events, and the
 * run status of the guests (test-migrate.c, test-faults.c)
 *
 * Every call asserts what it needs and waits at most VMIG_TEST_WAIT_MS.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "tests/daemon-helper.h"
#include "tests/guest-helper.h"

/* The bound of every wait here. */
#define VMIG_TEST_WAIT_MS 60000u

/*
 * Runs @command with @args (JSON text, nullable) on control socket @ctl;
 * with fds, over a connection of its own to @d (one line and its fds in
 * one sendmsg).  Returns: the "return" value (a new node), or NULL with
 * @error set.
 */
JsonNode *vmig_test_execute_fds(VmigGuestMonitor *ctl, VmigTestDaemon *d,
                                const char *command, const char *args, const int *fds,
                                gsize n_fds, GError **error);

/* Runs a command that answers {"migration": ID}.  Returns: the id (to free). */
char *vmig_test_execute_id(VmigGuestMonitor *ctl, VmigTestDaemon *d, const char *command,
                           const char *args, const int *fds, gsize n_fds);

/* Returns: the data of the next event @name on @ctl (a new reference). */
JsonObject *vmig_test_wait_event(VmigGuestMonitor *ctl, const char *name);

/* Waits for MIGRATION_DONE on @ctl and checks its result.  Returns: its error (to
 * free). */
char *vmig_test_wait_done(VmigGuestMonitor *ctl, const char *result);

/* Returns: the run status of the guest behind monitor @qmp (to free). */
char *vmig_test_guest_status(const char *qmp);

/*
 * Returns: the run status of the guest behind @qmp once it has left
 * finish-migrate (to free).
 */
char *vmig_test_guest_status_settled(const char *qmp);

/* Returns: TRUE while @status is that of a QEMU migration under way. */
gboolean vmig_test_migration_running(const char *status);

/*
 * Returns: the migration status of @qemu through its spare monitor @aux
 * ("" before any), or "gone" once its process ended (to free).
 */
char *vmig_test_migration_status(VmigTestQemu *qemu, const char *aux);

/*
 * Waits (at most @seconds) while @qemu's own migration is under way: a
 * migration cancelled with its channels cut or frozen can take QEMU 7.2
 * long to end, and QEMU resumes the guest only then.
 * Returns: the last status (to free): "gone" once QEMU ended, one that
 * vmig_test_migration_running() still takes when the time ran out.
 */
char *vmig_test_migration_settle(VmigTestQemu *qemu, const char *aux, guint seconds);

/*
 * Reads the destination driver's hello from @fd (a connection to its
 * listener, or an end it was given) within 10 s, and asserts it is "VMGH":
 * a test that plays the source reads it before it writes.
 */
void vmig_test_expect_hello(int fd);

/* Opens daemon @d's control socket (its greeting read). */
VmigGuestMonitor *vmig_test_control_open(VmigTestDaemon *d);

/* Returns: "qmp:" and @qemu's monitor path, the daemon's name for it (to free). */
char *vmig_test_domain_of(VmigTestQemu *qemu);

/* Returns: a TCP port on 127.0.0.1 that was free a moment ago. */
guint16 vmig_test_free_port(void);
