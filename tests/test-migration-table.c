/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-migration-table.c: a migration's transition table
 * (driver/migration-private.h): every (state, event) pair, walked
 *
 * The table is the one place a change of state is decided; this walk
 * pins it: the pairs it takes and where they lead, and for every other
 * pair a refusal that names both the event and the state.
 */
#include <config.h>

#include <string.h>

#include "driver/migration-private.h"
#include "tests/testutil.h"

/* The pairs the table takes, and where each leads: the contract, written out. */
static const struct {
    VmigMigrationState from;
    VmigMigEvent event;
    VmigMigrationState to;
} expected[] = {
    {VMIG_MIGRATION_INTROSPECTING, VMIG_MIG_EVENT_DIAL, VMIG_MIGRATION_CONNECTING},
    {VMIG_MIGRATION_INTROSPECTING, VMIG_MIG_EVENT_WAIT, VMIG_MIGRATION_WAITING},
    {VMIG_MIGRATION_INTROSPECTING, VMIG_MIG_EVENT_OPEN, VMIG_MIGRATION_NEGOTIATING},
    {VMIG_MIGRATION_CONNECTING, VMIG_MIG_EVENT_OPEN, VMIG_MIGRATION_NEGOTIATING},
    {VMIG_MIGRATION_CONNECTING, VMIG_MIG_EVENT_LEGACY, VMIG_MIGRATION_COMMITTING},
    {VMIG_MIGRATION_WAITING, VMIG_MIG_EVENT_OPEN, VMIG_MIGRATION_NEGOTIATING},
    {VMIG_MIGRATION_NEGOTIATING, VMIG_MIG_EVENT_SELECT, VMIG_MIGRATION_COLLECTING},
    {VMIG_MIGRATION_NEGOTIATING, VMIG_MIG_EVENT_COMMIT, VMIG_MIGRATION_COMMITTING},
    {VMIG_MIGRATION_COLLECTING, VMIG_MIG_EVENT_COMMIT, VMIG_MIGRATION_COMMITTING},
    {VMIG_MIGRATION_COMMITTING, VMIG_MIG_EVENT_STREAM, VMIG_MIGRATION_MIGRATING},
    {VMIG_MIGRATION_MIGRATING, VMIG_MIG_EVENT_COMPLETE, VMIG_MIGRATION_COMPLETED},
    /* version 2: the confirmed switchover, and its loss */
    {VMIG_MIGRATION_MIGRATING, VMIG_MIG_EVENT_SWITCHOVER, VMIG_MIGRATION_SWITCHOVER},
    {VMIG_MIGRATION_SWITCHOVER, VMIG_MIG_EVENT_COMPLETE, VMIG_MIGRATION_COMPLETED},
    {VMIG_MIGRATION_SWITCHOVER, VMIG_MIG_EVENT_LOST, VMIG_MIGRATION_UNKNOWN},
    /* unknown waits for an operator: resolved to where the guest runs */
    {VMIG_MIGRATION_UNKNOWN, VMIG_MIG_EVENT_RESOLVE, VMIG_MIGRATION_COMPLETED},
    {VMIG_MIGRATION_UNKNOWN, VMIG_MIG_EVENT_FAIL, VMIG_MIGRATION_FAILED},
};

/* Returns: TRUE for a state a migration ends in (unknown: until resolved). */
static gboolean
is_final(VmigMigrationState state)
{
    return state == VMIG_MIGRATION_COMPLETED || state == VMIG_MIGRATION_FAILED ||
           state == VMIG_MIGRATION_CANCELLED || state == VMIG_MIGRATION_UNKNOWN;
}

/* Returns: where @event leads from @from by the list above, or VMIG_MIGRATION_LAST:
 * nowhere. */
static VmigMigrationState
expected_to(VmigMigrationState from, VmigMigEvent event)
{
    if (!is_final(from) && event == VMIG_MIG_EVENT_FAIL)
        return VMIG_MIGRATION_FAILED;
    if (!is_final(from) && event == VMIG_MIG_EVENT_CANCEL)
        return VMIG_MIGRATION_CANCELLED;
    for (gsize i = 0; i < G_N_ELEMENTS(expected); i++) {
        if (expected[i].from == from && expected[i].event == event)
            return expected[i].to;
    }
    return VMIG_MIGRATION_LAST;
}

/* Every pair: taken where listed, refused with both names everywhere else. */
static void
test_walk(void)
{
    guint taken = 0, refused = 0;

    for (guint s = 0; s < VMIG_MIGRATION_LAST; s++) {
        for (guint e = 0; e < VMIG_MIG_EVENT_LAST; e++) {
            g_autoptr(GError) error = NULL;
            VmigMigrationState want = expected_to(s, e);
            VmigMigrationState to = VMIG_MIGRATION_LAST;
            gboolean ok = vmig_mig_transition(s, e, &to, &error);

            if (want != VMIG_MIGRATION_LAST) {
                g_assert_no_error(error);
                g_assert_true(ok);
                g_assert_cmpstr(vmig_migration_state_to_string(to), ==,
                                vmig_migration_state_to_string(want));
                taken++;
            } else {
                g_autofree char *message = g_strdup_printf(
                    "event '%s' is not taken in state '%s'", vmig_mig_event_to_string(e),
                    vmig_migration_state_to_string(s));

                g_assert_false(ok);
                g_assert_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE);
                g_assert_cmpstr(error->message, ==, message);
                g_assert_cmpint(to, ==, VMIG_MIGRATION_LAST);
                refused++;
            }
        }
    }
    g_test_message("%u pairs taken, %u refused", taken, refused);
    g_assert_cmpuint(taken + refused, ==, VMIG_MIGRATION_LAST * VMIG_MIG_EVENT_LAST);
}

/* A migration that ended takes nothing more, not even a failure. */
static void
test_final(void)
{
    static const VmigMigrationState finals[] = {
        VMIG_MIGRATION_COMPLETED,
        VMIG_MIGRATION_FAILED,
        VMIG_MIGRATION_CANCELLED,
    };

    for (gsize i = 0; i < G_N_ELEMENTS(finals); i++) {
        for (guint e = 0; e < VMIG_MIG_EVENT_LAST; e++) {
            g_autoptr(GError) error = NULL;
            VmigMigrationState to;

            g_assert_false(vmig_mig_transition(finals[i], e, &to, &error));
            g_assert_error(error, VMIG_MIGRATION_ERROR, VMIG_MIGRATION_ERROR_STATE);
        }
    }
}

/* Every state and event has a name; values out of range are refused, not read past. */
static void
test_names(void)
{
    g_autoptr(GError) error = NULL;
    VmigMigrationState to;

    for (guint s = 0; s < VMIG_MIGRATION_LAST; s++)
        g_assert_nonnull(vmig_migration_state_to_string(s));
    for (guint e = 0; e < VMIG_MIG_EVENT_LAST; e++)
        g_assert_nonnull(vmig_mig_event_to_string(e));
    g_assert_null(vmig_mig_event_to_string(VMIG_MIG_EVENT_LAST));
    g_assert_false(
        vmig_mig_transition(VMIG_MIGRATION_LAST, VMIG_MIG_EVENT_FAIL, &to, &error));
    g_assert_cmpstr(error->message, ==, "event 'fail' is not taken in state '?'");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/table/walk", test_walk);
    g_test_add_func("/migration/table/final", test_final);
    g_test_add_func("/migration/table/names", test_names);
    return g_test_run();
}
