/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon-config.c: virt-migrated's configuration file (daemon-config.h)
 *
 * GKeyFile parses the file and unescapes its values; it neither tells the
 * line of an error nor refuses keys nobody asked for, so this file keeps
 * the file's lines too: a key's line is found by walking them (GKeyFile
 * has accepted them by then, so every line is blank, a comment, a group or
 * a key), and a syntax error's line is the last of the shortest prefix of
 * the file that GKeyFile refuses (it parses line by line, so every longer
 * prefix fails at the same line).
 */
#include <config.h>
#define G_LOG_DOMAIN "vmig-daemon"

#include "driver/daemon-config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "driver/name-match.h"
#include "fdpass/fd.h"

/* The quark name is stringified as written: keep clang-format off it. */
/* clang-format off */
G_DEFINE_QUARK(vmig-daemon-config-error-quark, vmig_daemon_config_error)
/* clang-format on */

/* A configuration file is a page of text: anything larger is a mistake. */
#define VMIG_DAEMON_CONFIG_MAX_SIZE (1024 * 1024)

/* A key: the option it sets, and what the file said. */
typedef struct {
    const GOptionEntry *entry;
    char *key;                    /* the option's long name with '_' for '-' */
    const VmigDaemonRange *range; /* integer options: its range, or NULL */
    guint line;                   /* its (last) line in the file; 0: absent */
    gint loaded_int;              /* the value it set, for int and boolean keys */
    gpointer loaded_ptr;          /* the value it set, for the others (ours) */
} VmigDaemonConfigKey;

struct _VmigDaemonConfig {
    char *path; /* the file read, NULL before */
    VmigDaemonConfigKey *keys;
    gsize n_keys;
};

gboolean
vmig_daemon_range_check(const VmigDaemonRange *range, gint64 value, const char *text,
                        GError **error)
{
    if (value >= range->min && value <= range->max)
        return TRUE;
    g_set_error(error, VMIG_DAEMON_CONFIG_ERROR, VMIG_DAEMON_CONFIG_ERROR_VALUE,
                "must be %d to %d%s, not %s", range->min, range->max, range->unit, text);
    return FALSE;
}

VmigDaemonConfig *
vmig_daemon_config_new(const GOptionEntry *entries, const char *const *not_keys,
                       const VmigDaemonRange *ranges, gsize n_ranges)
{
    VmigDaemonConfig *config = g_new0(VmigDaemonConfig, 1);
    const GOptionEntry *e;
    gsize n = 0;

    for (e = entries; e->long_name; e++)
        n++;
    config->keys = g_new0(VmigDaemonConfigKey, n);
    for (e = entries; e->long_name; e++) {
        VmigDaemonConfigKey *k;
        gsize i;

        if (not_keys && g_strv_contains(not_keys, e->long_name))
            continue;
        g_assert(e->arg == G_OPTION_ARG_NONE || e->arg == G_OPTION_ARG_INT ||
                 e->arg == G_OPTION_ARG_STRING || e->arg == G_OPTION_ARG_FILENAME ||
                 e->arg == G_OPTION_ARG_STRING_ARRAY);
        g_assert(!(e->flags & G_OPTION_FLAG_REVERSE));
        k = &config->keys[config->n_keys++];
        k->entry = e;
        k->key = g_strdelimit(g_strdup(e->long_name), "-", '_');
        for (i = 0; i < n_ranges; i++) {
            if (g_str_equal(ranges[i].option, e->long_name))
                k->range = &ranges[i];
        }
    }
    return config;
}

/* Returns: the key called @key, or NULL. */
static VmigDaemonConfigKey *
vmig_daemon_config_find(const VmigDaemonConfig *config, const char *key)
{
    gsize i;

    for (i = 0; i < config->n_keys; i++) {
        if (g_str_equal(config->keys[i].key, key))
            return &config->keys[i];
    }
    return NULL;
}

/* Returns: the key of option @option, or NULL. */
static VmigDaemonConfigKey *
vmig_daemon_config_find_option(const VmigDaemonConfig *config, const char *option)
{
    gsize i;

    for (i = 0; i < config->n_keys; i++) {
        if (g_str_equal(config->keys[i].entry->long_name, option))
            return &config->keys[i];
    }
    return NULL;
}

/*
 * A key @key was meant to be: the same with '_' for '-' (the option's
 * spelling), or one at most two edits away.
 * Returns: that key's name (borrowed), or NULL.
 */
static const char *
vmig_daemon_config_suggest(const VmigDaemonConfig *config, const char *key)
{
    g_autofree char *underscored = g_strdelimit(g_ascii_strdown(key, -1), "-", '_');
    VmigNameMatch match;

    vmig_name_match_init(&match, underscored, 2);
    for (gsize i = 0; i < config->n_keys; i++)
        vmig_name_match_try(&match, config->keys[i].key);
    return vmig_name_match_best(&match);
}

/*
 * Reads the whole file @path into *@text (NUL-terminated) and *@len.
 * Returns: 0, or -errno (EFBIG: over VMIG_DAEMON_CONFIG_MAX_SIZE).
 */
static int
vmig_daemon_config_read(const char *path, char **text, gsize *len)
{
    g_autoptr(GString) buf = g_string_new(NULL);
    g_auto(VmigFd) fd = -1;

    /* O_NONBLOCK: a FIFO put there by mistake must not hang the daemon. */
    fd = g_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        if (buf->len + n > VMIG_DAEMON_CONFIG_MAX_SIZE)
            return -EFBIG;
        g_string_append_len(buf, chunk, n);
    }
    *len = buf->len;
    *text = g_string_free(g_steal_pointer(&buf), FALSE);
    return 0;
}

/*
 * Finds the line of GKeyFile's complaint about @text: the last line of the
 * shortest prefix it refuses.  @ends[i] is the offset just past line i + 1
 * (@n_lines of them; the whole text fails).
 * Returns: the line, from 1.
 */
static guint
vmig_daemon_config_syntax_line(const char *text, const gsize *ends, guint n_lines)
{
    guint lo = 1, hi = n_lines;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        g_autoptr(GKeyFile) probe = g_key_file_new();

        if (g_key_file_load_from_data(probe, text, ends[mid - 1], G_KEY_FILE_NONE, NULL))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Walks the lines of a file GKeyFile has accepted: every group must be
 * ours and every key one of the options'; notes each key's last line.
 * Returns: TRUE, or FALSE with @error set.
 */
static gboolean
vmig_daemon_config_scan(VmigDaemonConfig *config, char **lines, GError **error)
{
    guint i;

    for (i = 0; lines[i]; i++) {
        const char *p = lines[i];
        const char *end;

        while (g_ascii_isspace(*p))
            p++;
        if (!*p || *p == '#')
            continue;
        if (*p == '[') {
            g_autofree char *group = NULL;

            end = strchr(p, ']');
            group = g_strndup(p + 1, end ? (gsize)(end - p - 1) : strlen(p + 1));
            if (!g_str_equal(group, VMIG_DAEMON_CONFIG_GROUP)) {
                g_set_error(error, VMIG_DAEMON_CONFIG_ERROR,
                            VMIG_DAEMON_CONFIG_ERROR_UNKNOWN,
                            "%s:%u: [%s]: unknown group (the keys go in "
                            "[" VMIG_DAEMON_CONFIG_GROUP "])",
                            config->path, i + 1, group);
                return FALSE;
            }
        } else {
            g_autofree char *key = NULL;
            VmigDaemonConfigKey *k;

            end = strchr(p, '=');
            key = g_strchomp(g_strndup(p, end ? (gsize)(end - p) : strlen(p)));
            k = vmig_daemon_config_find(config, key);
            if (!k) {
                const char *hint = vmig_daemon_config_suggest(config, key);

                g_set_error(
                    error, VMIG_DAEMON_CONFIG_ERROR, VMIG_DAEMON_CONFIG_ERROR_UNKNOWN,
                    "%s:%u: %s: unknown key%s%s%s", config->path, i + 1, key,
                    hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
                return FALSE;
            }
            k->line = i + 1;
        }
    }
    return TRUE;
}

/*
 * A string GKeyFile cannot unescape or that is not UTF-8 (its own message
 * repeats the key and says neither).
 * Returns: FALSE, with @error set.
 */
static gboolean
vmig_daemon_config_bad_string(const char *raw, GError **error)
{
    /* Bytes that are not UTF-8 are shown in octal, everything else as written. */
    g_autofree char *shown =
        g_utf8_validate(raw, -1, NULL) ? g_strdup(raw) : g_strescape(raw, "\\\"");

    g_set_error(error, VMIG_DAEMON_CONFIG_ERROR, VMIG_DAEMON_CONFIG_ERROR_VALUE,
                "'%s' is not a valid string: UTF-8, with the escapes \\s \\t \\n "
                "\\r \\\\ (and \\; in a list)",
                shown);
    return FALSE;
}

/*
 * Reads key @k from @file into its option's variable.
 * Returns: TRUE, or FALSE with @error set to the reason alone.
 */
static gboolean
vmig_daemon_config_read_key(VmigDaemonConfigKey *k, GKeyFile *file, GError **error)
{
    const char *group = VMIG_DAEMON_CONFIG_GROUP;
    g_autoptr(GError) local = NULL;
    g_autofree char *raw = g_key_file_get_value(file, group, k->key, NULL);

    switch (k->entry->arg) {
    case G_OPTION_ARG_NONE: {
        gboolean value = g_key_file_get_boolean(file, group, k->key, &local);

        if (local) {
            g_set_error(error, VMIG_DAEMON_CONFIG_ERROR, VMIG_DAEMON_CONFIG_ERROR_VALUE,
                        "'%s' is not a boolean (true or false)", g_strstrip(raw));
            return FALSE;
        }
        *(gboolean *)k->entry->arg_data = value;
        k->loaded_int = value;
        return TRUE;
    }
    case G_OPTION_ARG_INT: {
        const char *text = g_strstrip(raw);
        gint64 value = 0;

        if (!g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &value, &local)) {
            if (!g_error_matches(local, G_NUMBER_PARSER_ERROR,
                                 G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)) {
                g_set_error(error, VMIG_DAEMON_CONFIG_ERROR,
                            VMIG_DAEMON_CONFIG_ERROR_VALUE, "'%s' is not a number", text);
                return FALSE;
            }
            value = text[0] == '-' ? G_MININT64 : G_MAXINT64;
        }
        if (k->range && !vmig_daemon_range_check(k->range, value, text, error))
            return FALSE;
        if (value < G_MININT || value > G_MAXINT) {
            g_set_error(error, VMIG_DAEMON_CONFIG_ERROR, VMIG_DAEMON_CONFIG_ERROR_VALUE,
                        "%s is out of range", text);
            return FALSE;
        }
        *(gint *)k->entry->arg_data = (gint)value;
        k->loaded_int = (gint)value;
        return TRUE;
    }
    case G_OPTION_ARG_STRING:
    case G_OPTION_ARG_FILENAME: {
        char *value = g_key_file_get_string(file, group, k->key, &local);

        if (!value)
            return vmig_daemon_config_bad_string(raw, error);
        *(char **)k->entry->arg_data = value;
        k->loaded_ptr = value;
        return TRUE;
    }
    case G_OPTION_ARG_STRING_ARRAY: {
        char **value = g_key_file_get_string_list(file, group, k->key, NULL, &local);

        if (!value)
            return vmig_daemon_config_bad_string(raw, error);
        *(char ***)k->entry->arg_data = value;
        k->loaded_ptr = value;
        return TRUE;
    }
    default:
        g_assert_not_reached();
    }
}

gboolean
vmig_daemon_config_load(VmigDaemonConfig *config, const char *path, gboolean must_exist,
                        GError **error)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autofree gsize *ends = NULL;
    g_autoptr(GKeyFile) file = g_key_file_new();
    g_autoptr(GError) local = NULL;
    gsize len = 0;
    guint n_lines, i;
    int ret;

    g_return_val_if_fail(!config->path, FALSE);

    ret = vmig_daemon_config_read(path, &text, &len);
    if (ret == -ENOENT && !must_exist)
        return TRUE;
    if (ret < 0) {
        g_set_error(error, VMIG_DAEMON_CONFIG_ERROR,
                    ret == -ENOENT ? VMIG_DAEMON_CONFIG_ERROR_MISSING
                                   : VMIG_DAEMON_CONFIG_ERROR_READ,
                    "%s: cannot read the configuration file: %s", path,
                    ret == -EFBIG ? "larger than 1 MiB" : g_strerror(-ret));
        return FALSE;
    }
    config->path = g_strdup(path);

    lines = g_strsplit(text, "\n", -1);
    n_lines = g_strv_length(lines);
    ends = g_new(gsize, n_lines);
    for (i = 0; i < n_lines; i++)
        ends[i] = MIN((i ? ends[i - 1] : 0) + strlen(lines[i]) + 1, len);

    if (!g_key_file_load_from_data(file, text, len, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, VMIG_DAEMON_CONFIG_ERROR, VMIG_DAEMON_CONFIG_ERROR_SYNTAX,
                    "%s:%u: %s", path,
                    vmig_daemon_config_syntax_line(text, ends, n_lines), local->message);
        return FALSE;
    }
    if (!vmig_daemon_config_scan(config, lines, error))
        return FALSE;

    /* In the file's order, so that the first bad value is the one reported. */
    for (i = 1; i <= n_lines; i++) {
        gsize j;

        for (j = 0; j < config->n_keys; j++) {
            VmigDaemonConfigKey *k = &config->keys[j];

            if (k->line == i && !vmig_daemon_config_read_key(k, file, &local)) {
                k->line = 0;
                g_set_error(error, VMIG_DAEMON_CONFIG_ERROR, local->code, "%s:%u: %s: %s",
                            path, i, k->key, local->message);
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* Returns: @k's line when its variable still holds what the file set, else 0. */
static guint
vmig_daemon_config_key_line(const VmigDaemonConfigKey *k)
{
    if (!k->line)
        return 0;
    if (k->entry->arg == G_OPTION_ARG_NONE || k->entry->arg == G_OPTION_ARG_INT)
        return *(gint *)k->entry->arg_data == k->loaded_int ? k->line : 0;
    return *(gpointer *)k->entry->arg_data == k->loaded_ptr ? k->line : 0;
}

const char *
vmig_daemon_config_path(const VmigDaemonConfig *config)
{
    return config->path;
}

char *
vmig_daemon_config_where(const VmigDaemonConfig *config, const char *option)
{
    const VmigDaemonConfigKey *k = vmig_daemon_config_find_option(config, option);
    guint line = k ? vmig_daemon_config_key_line(k) : 0;

    if (!line)
        return NULL;
    return g_strdup_printf("%s:%u: %s", config->path, line, k->key);
}

void
vmig_daemon_config_free(VmigDaemonConfig *config)
{
    gsize i;

    if (!config)
        return;
    for (i = 0; i < config->n_keys; i++) {
        VmigDaemonConfigKey *k = &config->keys[i];

        if (k->loaded_ptr && *(gpointer *)k->entry->arg_data != k->loaded_ptr) {
            if (k->entry->arg == G_OPTION_ARG_STRING_ARRAY)
                g_strfreev(k->loaded_ptr);
            else
                g_free(k->loaded_ptr);
        }
        g_free(k->key);
    }
    g_free(config->keys);
    g_free(config->path);
    g_free(config);
}
