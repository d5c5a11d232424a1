/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testutil.c: golden files and fd counts for the test suites
 */
#include <config.h>

#include <string.h>

#include "tests/testutil.h"

/* Returns: TRUE when golden files are to be rewritten rather than compared. */
gboolean
vmig_test_regenerate(void)
{
    return g_strcmp0(g_getenv("VMIG_TEST_REGENERATE_OUTPUT"), "1") == 0;
}

/* Asserts @data equals tests/data/@dir/@name, or rewrites it. */
void
vmig_test_assert_golden(const char *dir, const char *name, const void *data, gssize len)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", dir, name, NULL);
    g_autofree char *expected = NULL;
    g_autoptr(GError) error = NULL;
    gsize expected_len = 0;

    if (len < 0)
        len = strlen(data);
    if (vmig_test_regenerate()) {
        g_file_set_contents(path, data, len, &error);
        g_assert_no_error(error);
        g_test_message("regenerated %s", path);
        return;
    }
    g_file_get_contents(path, &expected, &expected_len, &error);
    g_assert_no_error(error);
    if (memchr(data, '\0', len) == NULL && memchr(expected, '\0', expected_len) == NULL) {
        /* Text: a string comparison shows the difference readably. */
        g_autofree char *text = g_strndup(data, len);

        g_assert_cmpstr(text, ==, expected);
    }
    g_assert_cmpmem(data, len, expected, expected_len);
}

/* Returns: the number of fds @pid (0: this process) has open. */
guint
vmig_test_count_fds(GPid pid)
{
    g_autofree char *path =
        pid ? g_strdup_printf("/proc/%d/fd", (int)pid) : g_strdup("/proc/self/fd");
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) dir = g_dir_open(path, 0, &error);
    guint n = 0;

    g_assert_no_error(error);
    while (g_dir_read_name(dir))
        n++;
    if (pid == 0) {
        g_assert_cmpuint(n, >, 0);
        n--; /* the directory being read */
    }
    return n;
}
