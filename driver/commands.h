/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * commands.h: the control socket's commands (the daemon's table)
 */
#pragma once

#include "driver/daemon.h"

/* The observer that turns migrations' events into control-socket events. */
extern const VmigMigrationObserver vmig_commands_observer;

/* The command table the daemon serves; vmig_n_commands rows. */
extern const VmigControlCommand vmig_commands[];
extern const gsize vmig_n_commands;
