/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp-record.c: record the QMP fixture from a running QEMU
 *
 *   qmp-record QMP_SOCKET OUTDIR
 *
 * Connects with the project's QMP client, runs the introspection commands
 * the driver uses and writes each command's "return" value, pretty-printed
 * (2-space indent, trailing newline), to OUTDIR/COMMAND.json.  The output is
 * a function of the QEMU build only, so re-recording the same QEMU gives the
 * same bytes.  scripts/record-qmp-fixture.sh starts a QEMU and runs this.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "driver/qmp.h"

/* The whole recording must finish within this. */
#define RECORD_TIMEOUT_S 30

static const char *const record_commands[] = {
    "query-version",
    "query-qmp-schema",
    "query-migrate-parameters",
    "query-migrate-capabilities",
};

typedef struct {
    GMainLoop *loop;
    VmigQmp *qmp;
    const char *outdir;
    guint next;    /* index in record_commands of the command in flight */
    GError *error; /* the first failure */
    gboolean timed_out;
} Recorder;

static void record_next(Recorder *rec);

/* Returns: @node as pretty-printed JSON text with a trailing newline. */
static char *
record_format(JsonNode *node)
{
    g_autoptr(JsonGenerator) generator = json_generator_new();
    g_autoptr(GString) text = g_string_new(NULL);

    json_generator_set_pretty(generator, TRUE);
    json_generator_set_indent(generator, 2);
    json_generator_set_indent_char(generator, ' ');
    json_generator_set_root(generator, node);
    json_generator_to_gstring(generator, text);
    g_string_append_c(text, '\n');
    return g_string_free(g_steal_pointer(&text), FALSE);
}

/* GAsyncReadyCallback of one command: write its file, run the next. */
static void
record_on_reply(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Recorder *rec = user_data;
    const char *command = record_commands[rec->next];
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *text = NULL;
    g_autofree char *name = NULL;
    g_autofree char *path = NULL;

    ret = vmig_qmp_execute_finish(VMIG_QMP(source), result, &rec->error);
    if (!ret) {
        g_main_loop_quit(rec->loop);
        return;
    }
    text = record_format(ret);
    name = g_strdup_printf("%s.json", command);
    path = g_build_filename(rec->outdir, name, NULL);
    if (!g_file_set_contents(path, text, -1, &rec->error)) {
        g_main_loop_quit(rec->loop);
        return;
    }
    printf("%s\n", path);
    rec->next++;
    record_next(rec);
}

/* Run the next command, or stop the loop when all are done. */
static void
record_next(Recorder *rec)
{
    if (rec->next >= G_N_ELEMENTS(record_commands)) {
        g_main_loop_quit(rec->loop);
        return;
    }
    vmig_qmp_execute_async(rec->qmp, record_commands[rec->next], NULL, NULL, 0, NULL,
                           record_on_reply, rec);
}

/* GAsyncReadyCallback of the connect: start recording. */
static void
record_on_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Recorder *rec = user_data;

    if (!vmig_qmp_connect_finish(VMIG_QMP(source), result, &rec->error)) {
        g_main_loop_quit(rec->loop);
        return;
    }
    record_next(rec);
}

/* GSourceFunc: the recording took too long.  Returns: G_SOURCE_REMOVE. */
static gboolean
record_on_timeout(gpointer user_data)
{
    Recorder *rec = user_data;

    rec->timed_out = TRUE;
    g_main_loop_quit(rec->loop);
    return G_SOURCE_REMOVE;
}

int
main(int argc, char **argv)
{
    g_autoptr(GMainLoop) loop = NULL;
    g_autoptr(VmigQmp) qmp = NULL;
    Recorder rec = {0};
    guint timeout;

    if (argc != 3) {
        fprintf(stderr, "usage: %s QMP_SOCKET OUTDIR\n", argv[0]);
        return 2;
    }
    if (g_mkdir_with_parents(argv[2], 0755) < 0) {
        fprintf(stderr, "%s: cannot create '%s': %s\n", argv[0], argv[2],
                g_strerror(errno));
        return 1;
    }

    loop = g_main_loop_new(NULL, FALSE);
    qmp = vmig_qmp_new(NULL);
    rec.loop = loop;
    rec.qmp = qmp;
    rec.outdir = argv[2];

    timeout = g_timeout_add_seconds(RECORD_TIMEOUT_S, record_on_timeout, &rec);
    vmig_qmp_connect_async(qmp, argv[1], NULL, record_on_connected, &rec);
    g_main_loop_run(loop);
    if (!rec.timed_out)
        g_source_remove(timeout);

    if (rec.timed_out) {
        fprintf(stderr, "%s: no answer from QEMU on '%s' within %d s\n", argv[0], argv[1],
                RECORD_TIMEOUT_S);
        return 1;
    }
    if (rec.error) {
        fprintf(stderr, "%s: %s\n", argv[0], rec.error->message);
        g_clear_error(&rec.error);
        return 1;
    }
    printf("recorded %s\n", vmig_qmp_get_hypervisor(qmp));
    vmig_qmp_close(qmp);
    return 0;
}
