/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service.h: the D-Bus service of virt-migrated (DESIGN.md section 6)
 *
 * The name org.virtmigrate on the system or session bus, served with
 * libdbus on the daemon's GMainContext (driver/dbus-loop.h):
 * /org/virtmigrate/Driver (org.virtmigrate.Driver1) and one object per
 * migration, /org/virtmigrate/migration/ID (org.virtmigrate.Migration1).
 * The migrations themselves live in driver/migration.c, which tells the
 * service when a migration changes, emits an event, or is forgotten; the
 * service reads everything it publishes from the migration's record, so
 * D-Bus and the control socket always say the same.  The interfaces are
 * data/org.virtmigrate.*.xml, compiled in and answered to Introspect;
 * /org/virtmigrate is their ObjectManager.  Methods that act or dial
 * sockets are authorized through polkit (driver/service-authz.c).
 */
#pragma once

#include <dbus/dbus.h>
#include <json-glib/json-glib.h>

#include "driver/daemon.h"

#define VMIG_SERVICE_ERROR (vmig_service_error_quark())
GQuark vmig_service_error_quark(void);

typedef enum {
    VMIG_SERVICE_ERROR_BUS,        /* no bus to connect to, or the name is taken */
    VMIG_SERVICE_ERROR_INTERFACES, /* the introspection XML cannot be read */
    VMIG_SERVICE_ERROR_LAST
} VmigServiceErrorCode;

#define VMIG_SERVICE_NAME            "org.virtmigrate"
#define VMIG_SERVICE_DRIVER_PATH     "/org/virtmigrate/Driver"
#define VMIG_SERVICE_MIGRATION_PATH  "/org/virtmigrate/migration"
#define VMIG_SERVICE_DRIVER_IFACE    "org.virtmigrate.Driver1"
#define VMIG_SERVICE_MIGRATION_IFACE "org.virtmigrate.Migration1"
/* Where the introspection XML is installed; VIRT_MIGRATE_INTERFACES_DIR overrides. */
#define VMIG_SERVICE_INTERFACES_ENV "VIRT_MIGRATE_INTERFACES_DIR"

/*
 * vmig_service_new:
 * Connects to @bus (DBUS_BUS_SYSTEM or DBUS_BUS_SESSION), registers the
 * objects and takes the name org.virtmigrate (not queued: a second daemon
 * on the same bus is an error).  @interfaces_dir holds the XML files;
 * NULL: the copies compiled into the daemon (data/virt-migrated.gresource.xml).
 * Returns: the service, or NULL with @error set.
 */
VmigService *vmig_service_new(VmigDaemon *daemon, DBusBusType bus,
                              const char *interfaces_dir, GError **error);

/* Releases the name and closes the connection. */
void vmig_service_free(VmigService *service);
