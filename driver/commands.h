/*
 * commands.h: the control socket's commands (the daemon's table)
 */
#pragma once

#include "driver/control.h"

typedef struct _VmigMigrations VmigMigrations;

/* What every command handler gets as user_data. */
typedef struct {
    GMainContext *context;
    VmigControl *control;
    char *runtime_dir;
    guint qmp_timeout_ms;         /* how long a QEMU monitor may take to answer */
    guint channel_timeout_ms;     /* how long announced channels may take */
    VmigMigrations *migrations;
} VmigDaemon;

/* The command table the daemon serves; vmig_n_commands rows. */
extern const VmigControlCommand vmig_commands[];
extern const gsize vmig_n_commands;
