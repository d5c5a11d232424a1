/*
 * commands.h: the control socket's commands (the daemon's table)
 */
#pragma once

#include "driver/control.h"

typedef struct _VmigMigrations VmigMigrations;
typedef struct _VmigService VmigService;
typedef struct _VmigPendingPool VmigPendingPool;

/* What every command handler gets as user_data. */
typedef struct {
    GMainContext *context;
    VmigControl *control;
    char *runtime_dir;
    char *migration_dir;          /* where libvirt migration sockets go (same path on both hosts) */
    guint qmp_timeout_ms;         /* how long a QEMU monitor may take to answer */
    guint channel_timeout_ms;     /* how long announced channels may take */
    guint keep_finished_ms;       /* how long a finished migration stays listed */
    guint max_migrations;         /* unfinished migrations at once */
    VmigPendingPool *pending_pool;/* connections not yet proven, daemon-wide (pending.h) */
    VmigMigrations *migrations;
    VmigService *service;         /* the D-Bus service, or NULL (--bus none, no bus) */
} VmigDaemon;

/* The command table the daemon serves; vmig_n_commands rows. */
extern const VmigControlCommand vmig_commands[];
extern const gsize vmig_n_commands;
