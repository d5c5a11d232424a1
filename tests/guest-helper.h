/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guest-helper.h: real TCG guests for the migration suites, the demo and
 * the benchmarks
 *
 * A test guest is a QEMU started through tests/qemu-helper.h with:
 *
 *   qemu-system-x86_64 -machine pc -accel tcg -nodefaults -display none
 *       -m RAM_MIB -uuid UUID [-mem-prealloc] [-S]
 *       [-kernel KERNEL]                                 (both sides)
 *       [-device loader,file=PATTERN,addr=0x1000000]     (source only)
 *       [-incoming defer]                                (destination only)
 *       -qmp unix:DIR/aux.qmp,server=on,wait=off
 *       -qmp unix:DIR/qmp.sock,server=on,wait=off        (added by qemu-helper)
 *
 * Two monitors, because a QMP socket serves one client at a time: a daemon
 * under test holds DIR/qmp.sock (qemu->qmp_path) for the whole migration,
 * and the test or benchmark watches the guest through DIR/aux.qmp
 * (vmig_guest_aux_qmp_path()).  A monitor is not a device: it changes
 * nothing in the migration stream.
 *
 * Both sides get the same machine, memory size, uuid (multifd channel
 * headers carry it) and -kernel (its option ROM is a RAM block that
 * migrates).  The pattern loader is the exception, on purpose: it is no
 * migrated device, only a file copied into guest RAM at reset, and a
 * destination that had it would hold the pattern before any byte arrived,
 * so a memory comparison would prove nothing.
 *
 * Guest physical memory map (256 MiB guest):
 *
 *   0x00009000          QEMU's multiboot info (do not use)
 *   0x00100000 (1 MiB)  the test kernel's code (vmig_guest_write_kernel())
 *   0x00101000          its counter, VMIG_GUEST_COUNTER_ADDR
 *   0x01000000 (16 MiB) the planted pattern, up to 128 MiB (to 144 MiB)
 *   0x0a000000-0x0e000000 (160-224 MiB)  pages the kernel dirties
 *
 * The QMP exchanges here are blocking and bounded (a small client of this
 * file's own, not driver/qmp.h): tests and benchmarks want one answer now,
 * and a benchmark polling query-migrate every 5 ms wants no main loop.
 * The same client speaks the daemon's control socket (docs/control.md
 * keeps QMP's conventions, greeting and capabilities negotiation too).
 *
 * "Started" (the QMP socket accepts connections) is not "ready": QEMU
 * greets from its monitor thread at once but answers commands, even
 * qmp_capabilities, only once machine init is over, and -mem-prealloc of
 * 1.5 GiB took over 5 s here once.  vmig_guest_monitor_open() waits for
 * the answer to qmp_capabilities, so a guest it opened is ready.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "tests/qemu-helper.h"

/* Where the test kernel is loaded and entered (multiboot, 32-bit protected mode). */
#define VMIG_GUEST_KERNEL_ADDR 0x00100000u
/* The kernel's pass counter: a 32-bit word, incremented after each pass. */
#define VMIG_GUEST_COUNTER_ADDR 0x00101000u
/* The pages the kernel dirties, one word per 4 KiB page per pass: [start, end). */
#define VMIG_GUEST_DIRTY_START 0x0a000000u
#define VMIG_GUEST_DIRTY_END   0x0e000000u
/* Where the pattern loader plants its file in guest RAM. */
#define VMIG_GUEST_PATTERN_ADDR 0x01000000u
/* The default guest RAM (MiB) and the uuid both sides share by default. */
#define VMIG_GUEST_DEFAULT_RAM_MIB 256u
#define VMIG_GUEST_DEFAULT_UUID    "6b1f4c1e-7a8e-4d0c-9a57-3c1d2e5f8a90"
/* The bound on one QMP command (a pmemsave of GiBs included). */
#define VMIG_GUEST_QMP_TIMEOUT_MS 120000u

#define VMIG_GUEST_ERROR (vmig_guest_error_quark())
GQuark vmig_guest_error_quark(void);

typedef enum {
    VMIG_GUEST_ERROR_IO,                /* a socket or file could not be used */
    VMIG_GUEST_ERROR_TIMEOUT,           /* no answer within the bound */
    VMIG_GUEST_ERROR_PROTOCOL,          /* the peer sent something that is not QMP */
    VMIG_GUEST_ERROR_COMMAND,           /* the peer answered {"error": ...} */
    VMIG_GUEST_ERROR_COMMAND_NOT_FOUND, /* ... of class CommandNotFound */
    VMIG_GUEST_ERROR_MISMATCH,          /* memory differs from what it should be */
    VMIG_GUEST_ERROR_INVALID,           /* a bad argument */
    VMIG_GUEST_ERROR_LAST
} VmigGuestErrorCode;

typedef struct {
    /* -m; 0: VMIG_GUEST_DEFAULT_RAM_MIB */
    guint ram_mib;
    /* -uuid; NULL: VMIG_GUEST_DEFAULT_UUID */
    const char *uuid;
    /* Nullable: a file planted at VMIG_GUEST_PATTERN_ADDR (source only). */
    const char *pattern_path;
    /* Nullable: -kernel, e.g. from vmig_guest_write_kernel() (both sides). */
    const char *kernel_path;
    /* -mem-prealloc: no first-touch page faults while migrating. */
    gboolean prealloc;
    /* -S: the CPUs wait for 'cont' (a destination stays paused once migrated). */
    gboolean paused;
} VmigGuestOptions;

/* ------------------------------------------------------------------------ */
/* Files */

/*
 * Writes @size bytes of pseudo-random data (splitmix64, seeded by @seed)
 * to @path: the same @size and @seed always give the same bytes.
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_guest_write_pattern(const char *path, gsize size, guint32 seed,
                                  GError **error);

/*
 * Writes the test kernel to @path: an 8 KiB multiboot image, loaded at
 * VMIG_GUEST_KERNEL_ADDR, that forever writes its pass counter into one
 * word of each page of [VMIG_GUEST_DIRTY_START, VMIG_GUEST_DIRTY_END) and
 * then increments the counter at VMIG_GUEST_COUNTER_ADDR.  It needs a
 * guest of at least 224 MiB.
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_guest_write_kernel(const char *path, GError **error);

/* ------------------------------------------------------------------------ */
/* Guests */

/*
 * Starts a source guest (the command line is at the top of this file).
 * @opts is nullable (every default).
 * Returns: the running QEMU (stop it with vmig_test_qemu_stop()), or NULL
 * with @error set.
 */
VmigTestQemu *vmig_guest_start_source(const VmigGuestOptions *opts, GError **error);

/*
 * Starts a destination guest: as the source, with "-incoming defer" and
 * without the pattern loader (@opts->pattern_path is ignored).
 * Returns: the waiting QEMU, or NULL with @error set.
 */
VmigTestQemu *vmig_guest_start_destination(const VmigGuestOptions *opts, GError **error);

/* Returns: the path of @qemu's second QMP monitor, DIR/aux.qmp (newly allocated). */
char *vmig_guest_aux_qmp_path(const VmigTestQemu *qemu);

/* ------------------------------------------------------------------------ */
/* Monitors */

/* A blocking connection to a QMP monitor or to a virt-migrated control socket. */
typedef struct _VmigGuestMonitor VmigGuestMonitor;

/*
 * Connects to the unix socket @path and reads the greeting (at most
 * @timeout_ms); a QMP greeting is followed by qmp_capabilities.
 * Returns: the connection, or NULL with @error set.
 */
VmigGuestMonitor *vmig_guest_monitor_open(const char *path, guint timeout_ms,
                                          GError **error);

/* Returns: the greeting line's object (owned by @monitor). */
JsonObject *vmig_guest_monitor_get_greeting(VmigGuestMonitor *monitor);

/*
 * Sends @command with @arguments (nullable; borrowed) and waits at most
 * @timeout_ms for its answer; events read meanwhile are kept for
 * vmig_guest_monitor_wait_event().  @ret (nullable) receives the "return"
 * value.
 * Returns: TRUE, or FALSE with @error set (VMIG_GUEST_ERROR_COMMAND with
 * the peer's "desc" when it answered an error, _COMMAND_NOT_FOUND when the
 * peer does not know @command).
 */
gboolean vmig_guest_monitor_execute(VmigGuestMonitor *monitor, const char *command,
                                    JsonObject *arguments, guint timeout_ms,
                                    JsonNode **ret, GError **error);

/*
 * Waits at most @timeout_ms for the event @name (one kept from earlier
 * included, oldest first).  @data (nullable) receives its "data" object (a
 * new reference; NULL if it had none).
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_guest_monitor_wait_event(VmigGuestMonitor *monitor, const char *name,
                                       guint timeout_ms, JsonObject **data,
                                       GError **error);

/*
 * Like vmig_guest_monitor_wait_event(), but @message (nullable) receives the
 * whole event line (a new reference), "timestamp" included.
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_guest_monitor_wait_event_message(VmigGuestMonitor *monitor,
                                               const char *name, guint timeout_ms,
                                               JsonObject **message, GError **error);

/* Closes the connection and frees @monitor; NULL is ignored. */
void vmig_guest_monitor_close(VmigGuestMonitor *monitor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmigGuestMonitor, vmig_guest_monitor_close)

/*
 * Runs one QMP command on a fresh connection to @qmp_path: @args_json is
 * nullable or the text of a JSON object, e.g. "{\"val\": 4096}".  Each step
 * is bounded by VMIG_GUEST_QMP_TIMEOUT_MS.  @ret (nullable) receives the
 * "return" value.
 * Returns: TRUE, or FALSE with @error set.
 */
gboolean vmig_guest_qmp(const char *qmp_path, const char *command, const char *args_json,
                        JsonNode **ret, GError **error);

/* ------------------------------------------------------------------------ */
/* Looking at guest memory
 *
 * Each of these opens its own connection to the monitor it is given, so
 * that monitor must have no other client at the time: pass the aux.qmp of
 * a guest whose qmp.sock a daemon holds, and close your own
 * VmigGuestMonitor on it first.
 */

/*
 * Reads the test kernel's counter (VMIG_GUEST_COUNTER_ADDR) through the
 * QMP monitor @qmp_path (HMP's "xp" through human-monitor-command).
 * Returns: TRUE with *@counter set, or FALSE with @error set.
 */
gboolean vmig_guest_read_counter(const char *qmp_path, guint32 *counter, GError **error);

/*
 * The same on @monitor, a connection already open (one that must keep
 * watching events, say, where a second connection would not be served).
 * Returns: TRUE with *@counter set, or FALSE with @error set.
 */
gboolean vmig_guest_monitor_read_counter(VmigGuestMonitor *monitor, guint32 *counter,
                                         GError **error);

/*
 * Saves guest physical memory [0, @ram_size) of both QEMUs with pmemsave
 * into files under @tmpdir (nullable: a private directory; the files are
 * removed either way) and compares them page by page.  Physical addresses
 * equal RAM offsets below 3.5 GiB on -machine pc, so @ram_size must not
 * exceed that.
 * Returns: TRUE when equal, or FALSE with @error set (VMIG_GUEST_ERROR_MISMATCH
 * naming the first differing offset and how many 4 KiB pages differ).
 */
gboolean vmig_guest_compare_memory(const char *src_qmp, const char *dst_qmp,
                                   guint64 ram_size, const char *tmpdir, GError **error);

/*
 * Saves @size bytes of guest physical memory from @addr (pmemsave, into a
 * file under @tmpdir, nullable as above) and compares them with the
 * pattern vmig_guest_write_pattern() makes of @size and @seed.
 * Returns: TRUE when they match, or FALSE with @error set
 * (VMIG_GUEST_ERROR_MISMATCH with the first differing offset).
 */
gboolean vmig_guest_verify_pattern(const char *qmp_path, guint64 addr, gsize size,
                                   guint32 seed, const char *tmpdir, GError **error);
