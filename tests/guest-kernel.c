/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guest-kernel.c: writes the test guest's files, for the demo and by hand
 *
 *   tests/guest-kernel OUT                           the kernel that dirties memory
 *   tests/guest-kernel --pattern OUT SIZE_MIB [--seed N]   a pattern to plant
 *
 * Then, for instance:
 *
 *   qemu-system-x86_64 -machine pc -accel tcg -nodefaults -display none -m 256 \
 *       -kernel OUT -qmp unix:/tmp/vm.qmp,server=on,wait=off
 *
 * and "xp /1wx 0x101000" in the monitor shows the counter going up (see
 * tests/guest-helper.h for the memory map).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "tests/guest-helper.h"

/* The largest pattern -device loader can plant from one file: 2 GiB - 4 KiB. */
#define GUEST_KERNEL_MAX_PATTERN_MIB 2047u

int
main(int argc, char **argv)
{
    gboolean pattern = FALSE;
    gboolean counter_address = FALSE;
    gint seed = 1;
    GOptionEntry entries[] = {
        {"counter-address", 0, 0, G_OPTION_ARG_NONE, &counter_address,
         "Print the guest physical address of the kernel's pass counter and exit", NULL},
        {"pattern", 0, 0, G_OPTION_ARG_NONE, &pattern,
         "Write a pseudo-random pattern of SIZE_MIB MiB instead of the kernel", NULL},
        {"seed", 0, 0, G_OPTION_ARG_INT, &seed, "The pattern's seed (default 1)", "N"},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) context =
        g_option_context_new("OUT | --pattern OUT SIZE_MIB");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_set_summary(
        context,
        "Writes the test guest's multiboot kernel (it dirties pages 160-224 MiB and\n"
        "counts its passes at 0x101000), or a pattern for -device loader.");
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        fprintf(stderr, "guest-kernel: %s\n", error->message);
        return 2;
    }

    if (counter_address) {
        printf("%u\n", VMIG_GUEST_COUNTER_ADDR);
        return 0;
    }
    if (!pattern) {
        if (argc != 2) {
            fprintf(stderr,
                    "usage: guest-kernel OUT | --pattern OUT SIZE_MIB [--seed N]\n");
            return 2;
        }
        if (!vmig_guest_write_kernel(argv[1], &error)) {
            fprintf(stderr, "guest-kernel: %s\n", error->message);
            return 1;
        }
        return 0;
    }

    if (argc != 3) {
        fprintf(stderr, "usage: guest-kernel --pattern OUT SIZE_MIB [--seed N]\n");
        return 2;
    }
    {
        guint64 mib = 0;

        if (!g_ascii_string_to_unsigned(argv[2], 10, 1, GUEST_KERNEL_MAX_PATTERN_MIB,
                                        &mib, &error)) {
            fprintf(stderr,
                    "guest-kernel: SIZE_MIB: %s (a loader file holds at most 2 GiB "
                    "- 4 KiB)\n",
                    error->message);
            return 2;
        }
        if (seed < 0) {
            fprintf(stderr, "guest-kernel: --seed must not be negative\n");
            return 2;
        }
        if (!vmig_guest_write_pattern(argv[1], (gsize)mib << 20, (guint32)seed, &error)) {
            fprintf(stderr, "guest-kernel: %s\n", error->message);
            return 1;
        }
    }
    return 0;
}
