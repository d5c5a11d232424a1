/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testutil.h: what every test suite needs: golden files and fd counts
 */
#pragma once

#include <glib.h>

/* Returns: TRUE when VMIG_TEST_REGENERATE_OUTPUT=1: golden files are rewritten. */
gboolean vmig_test_regenerate(void);

/*
 * Compares @data (@len bytes; -1: a NUL-terminated string) with the golden
 * file tests/data/@dir/@name, or rewrites that file when regenerating.
 */
void vmig_test_assert_golden(const char *dir, const char *name, const void *data,
                             gssize len);

/*
 * Returns: how many fds process @pid has open, from /proc/PID/fd; with
 * @pid 0, this process (not counting the fd used to look).
 */
guint vmig_test_count_fds(GPid pid);
