/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon-config.h: virt-migrated's configuration file
 *
 * A GKeyFile with one group, [virt-migrated], and one key for every option
 * of the daemon's GOptionEntry table: the option's long name with '_' for
 * '-' (--qmp-timeout: qmp_timeout).  An option without an argument is a
 * boolean key, a repeatable one a ';'-separated list.  The file is read
 * into the options' own variables before the command line is parsed, so
 * an option given there overrides its key, one by one.
 *
 * Every error names the file, and where it can the line and the key:
 *
 *   /etc/virt-migrate/virt-migrated.conf:12: qmp_timeout: 'abc' is not a number
 *
 * docs/config.md.
 */
#pragma once

#include <glib.h>

#define VMIG_DAEMON_CONFIG_GROUP "virt-migrated"

#define VMIG_DAEMON_CONFIG_ERROR (vmig_daemon_config_error_quark())
GQuark vmig_daemon_config_error_quark(void);

typedef enum {
    VMIG_DAEMON_CONFIG_ERROR_MISSING, /* a file that must exist does not */
    VMIG_DAEMON_CONFIG_ERROR_READ,    /* it exists but cannot be read */
    VMIG_DAEMON_CONFIG_ERROR_SYNTAX,  /* GKeyFile refuses it */
    VMIG_DAEMON_CONFIG_ERROR_UNKNOWN, /* a group or key that is no option's */
    VMIG_DAEMON_CONFIG_ERROR_VALUE,   /* a value of the wrong type or range */
    VMIG_DAEMON_CONFIG_ERROR_LAST
} VmigDaemonConfigError;

/* A numeric option and the values it takes. */
typedef struct {
    const char *option; /* its long name: "qmp-timeout" */
    const gint *value;
    gint min;
    gint max;
    const char *unit; /* said after the range: " seconds" or "" */
} VmigDaemonRange;

/*
 * Checks @value (written @text by the user) against @range.
 * Returns: TRUE, or FALSE with @error set to "must be MIN to MAX UNIT, not TEXT"
 * (VMIG_DAEMON_CONFIG_ERROR_VALUE); the caller says whose value it is.
 */
gboolean vmig_daemon_range_check(const VmigDaemonRange *range, gint64 value,
                                 const char *text, GError **error);

typedef struct _VmigDaemonConfig VmigDaemonConfig;

/*
 * A configuration for the options @entries (the daemon's table, borrowed:
 * it and the variables it points to must outlive the configuration), except
 * those whose long names are in @not_keys (--version, --config).  Integer
 * options named in @ranges (@n_ranges of them, borrowed) are checked against
 * their range.  Every option must take no argument, an int, a string, a
 * filename or a string array; the variables of the last three must be NULL
 * (the file's values are stored there without freeing anything).
 * Returns: the configuration, nothing read yet (to free).
 */
VmigDaemonConfig *vmig_daemon_config_new(const GOptionEntry *entries,
                                         const char *const *not_keys,
                                         const VmigDaemonRange *ranges, gsize n_ranges);

/*
 * Reads the file @path into the options' variables (at most once).  A
 * missing file is no error unless @must_exist.  The values of the keys
 * that come before a bad one may have been set.
 * Returns: TRUE, or FALSE with @error (VMIG_DAEMON_CONFIG_ERROR) set, its
 * message starting with "PATH:" or "PATH:LINE: KEY:".
 */
gboolean vmig_daemon_config_load(VmigDaemonConfig *config, const char *path,
                                 gboolean must_exist, GError **error);

/* Returns: the file read (borrowed), or NULL when there was none. */
const char *vmig_daemon_config_path(const VmigDaemonConfig *config);

/*
 * Where the current value of @option comes from, for messages about a
 * combination of values.
 * Returns: "PATH:LINE: KEY" when the file set it and the command line did
 * not change it since, else NULL (to free).
 */
char *vmig_daemon_config_where(const VmigDaemonConfig *config, const char *option);

/*
 * Frees @config and the strings it read that the command line replaced
 * (GOption does not free what a variable held before); those still in
 * their variables belong to the variables' owners.
 */
void vmig_daemon_config_free(VmigDaemonConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigDaemonConfig, vmig_daemon_config_free)
