/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon.h: what the daemon is made of, for the command handlers and the
 * D-Bus service (migrations see only their settings: migration.h)
 */
#pragma once

#include "driver/control.h"
#include "driver/migration.h"

typedef struct _VmigService VmigService;

typedef struct {
    VmigMigrationSettings settings;
    VmigControl *control;
    VmigMigrations *migrations;
    VmigService *service; /* the D-Bus service, or NULL (--bus none, no bus) */
} VmigDaemon;
